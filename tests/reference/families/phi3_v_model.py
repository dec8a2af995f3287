"""Phi-3-Vision (microsoft/Phi-3-vision-128k-instruct, model_type "phi3_v") for the reference
harness. The checkpoint is remote code, not part of transformers, so this module re-implements
it from transformers' parts and the published equations (written here from the model's
description, not copied from Microsoft's code):

- the language model is transformers' Phi3ForCausalLM (fused qkv_proj / gate_up_proj, RMSNorm,
  longrope ("su") rotary embeddings: short_factor while max(position_ids) + 1 <=
  original_max_position_embeddings, long_factor beyond, cos / sin times
  sqrt(1 + ln(max_pos / orig_max) / ln(orig_max)));
- `model.vision_embed_tokens` (Phi3ImageEmbedding): a CLIPVisionModel `img_processor`, the
  learnable separators `glb_GN` (1, 1, 4C) and `sub_GN` (1, 1, 1, 4C), and the projector
  `img_projection` = Linear(4C, H), GELU, Linear(H, H). Image features are the CLIP hidden
  states of layer `layer_idx` (-2) without CLS, merged 2 x 2 into 4C channels, laid out as the
  HD crops with a sub_GN at the end of every row, then glb_GN, then the global view with its
  row separators; projected, they replace the embeddings of the negative ids in row-major order;
- Phi3VImageProcessor (HD transform: transpose tall pictures, largest scale with
  scale * ceil(scale / ratio) <= num_crops, bilinear resize to scale * 336 wide, white padding of
  the height to a multiple of 336 centred; ToTensor + Normalize; a bicubic 336 x 336 global view;
  336 crops row-major; zero crops up to num_crops + 1) with PIL + torch, no torchvision;
- Phi3VProcessor's text path: the prompt split at <|image_k|> tags, every chunk tokenized with
  BOS, the tag of image k replaced by num_img_tokens[k - 1] copies of -k.

The hub's config.json has no vision tower configuration (CLIP ViT-L/14-336 is meant); lmms reads
`img_processor.vision_config` (a CLIPVisionConfig dict) when present, so a tiny model can state
its tower. Config files are written as the hub writes them: `rope_scaling` {"type": "su",
"short_factor", "long_factor"} and `rope_theta` at the top level.

Importing this module registers "phi3_v" with AutoConfig and AutoModelForCausalLM.
"""
from __future__ import annotations

import math
import re

import numpy as np
import torch
from huggingface_hub.dataclasses import strict
from PIL import Image, ImageOps
from torch import nn
from transformers import (AutoConfig, AutoModelForCausalLM, CLIPVisionConfig, CLIPVisionModel, Phi3Config,
                          Phi3ForCausalLM)
from transformers.models.phi3.modeling_phi3 import Phi3Model

OPENAI_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
CROP = 336
IMAGE_TAG = r"<\|image_\d+\|>"
# CLIP ViT-L/14-336 (openai/clip-vit-large-patch14-336), the tower of the real checkpoint
CLIP_L14_336 = dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                    image_size=336, patch_size=14, hidden_act="quick_gelu", layer_norm_eps=1e-5, num_channels=3,
                    projection_dim=768)
EMBD_LAYER = {"embedding_cls": "image", "hd_transform_order": "sub_glb", "projection_cls": "mlp",
              "use_hd_transform": True, "with_learnable_separator": True}


@strict
class Phi3VConfig(Phi3Config):
    model_type = "phi3_v"

    img_processor: dict | None = None
    embd_layer: dict | None = None

    def convert_rope_params_to_dict(self, default_theta: int | float = 10_000.0, ignore_keys: set | None = None,
                                    **kwargs):
        # the hub's {"type": "su", ...}: longrope (transformers maps "su" only after it has looked
        # for the longrope keys, and then misses original_max_position_embeddings)
        scaling = kwargs.get("rope_scaling")
        if isinstance(scaling, dict) and scaling.get("type", scaling.get("rope_type")) in ("su", "longrope"):
            scaling = {k: v for k, v in scaling.items() if k not in ("type", "rope_type")}
            kwargs["rope_scaling"] = {**scaling, "rope_type": "longrope"}
        return super().convert_rope_params_to_dict(default_theta=default_theta, ignore_keys=ignore_keys, **kwargs)

    def to_dict(self) -> dict:
        """As the hub writes Phi-3 configs: rope_theta and rope_scaling, no rope_parameters."""
        out = super().to_dict()
        rope = out.pop("rope_parameters", None) or {}
        out["rope_theta"] = rope.get("rope_theta", 10000.0)
        if rope.get("rope_type") == "longrope":
            out["rope_scaling"] = {"type": "su", "short_factor": list(rope["short_factor"]),
                                   "long_factor": list(rope["long_factor"])}
        else:
            out["rope_scaling"] = None
        return out


def vision_config_of(config: Phi3VConfig) -> CLIPVisionConfig:
    ip = config.img_processor or {}
    fields = ip.get("vision_config") or CLIP_L14_336
    return CLIPVisionConfig(**{k: v for k, v in fields.items() if k not in ("model_type", "transformers_version")})


class CLIPVisionTower(nn.Module):
    """transformers 4's CLIPVisionModel layout (what the hub checkpoint's names have): the tower
    under `vision_model` (transformers 5's CLIPVisionModel has dropped that level)."""

    def __init__(self, config: CLIPVisionConfig):
        super().__init__()
        self.vision_model = CLIPVisionModel(config)

    @property
    def config(self) -> CLIPVisionConfig:
        return self.vision_model.config

    def forward(self, pixel_values: torch.Tensor, **kwargs):
        return self.vision_model(pixel_values, **kwargs)


class Phi3ImageEmbedding(nn.Module):
    """model.vision_embed_tokens. Holds no reference to the token embedding (it is passed to
    forward), so the state dict has no duplicate of model.embed_tokens."""

    def __init__(self, config: Phi3VConfig):
        super().__init__()
        ip = config.img_processor or {}
        if ip.get("type_feature", "patch") != "patch":
            raise NotImplementedError("only type_feature 'patch' (Phi-3-Vision's)")
        layer = config.embd_layer or EMBD_LAYER
        if not (layer.get("use_hd_transform", True) and layer.get("with_learnable_separator", True)
                and layer.get("hd_transform_order", "sub_glb") == "sub_glb"):
            raise NotImplementedError("only Phi-3-Vision's HD transform with learnable separators, sub_glb order")
        self.img_processor = CLIPVisionTower(vision_config_of(config))
        c = ip.get("image_dim_out", self.img_processor.config.hidden_size)
        self.image_dim_out = c
        self.layer_idx = ip.get("layer_idx", -2)
        self.glb_GN = nn.Parameter(torch.zeros(1, 1, 4 * c))
        self.sub_GN = nn.Parameter(torch.zeros(1, 1, 1, 4 * c))
        h = config.hidden_size
        self.img_projection = nn.Sequential(nn.Linear(4 * c, h), nn.GELU(), nn.Linear(h, h))

    @staticmethod
    def reshape_2x2(x: torch.Tensor, hc: int, wc: int) -> torch.Tensor:
        """(n * hc * wc, L, C) -> (n, hc * m, wc * m, 4C): 2 x 2 neighbours merged, crops tiled."""
        n_all, length, c = x.shape
        g = int(math.isqrt(length))
        m = g // 2
        n = n_all // (hc * wc)
        x = x.reshape(n_all, g, g, c).reshape(n_all, m, 2, m, 2, c).permute(0, 1, 3, 2, 4, 5).reshape(n_all, -1, 4 * c)
        return x.reshape(n, hc, wc, m, m, 4 * c).permute(0, 1, 3, 2, 4, 5).reshape(n, hc * m, wc * m, 4 * c)

    def add_newline(self, x: torch.Tensor) -> torch.Tensor:
        """(n, h, w, 4C) -> (n, h * (w + 1), 4C): sub_GN after every row."""
        n, h = x.shape[:2]
        return torch.cat([x, self.sub_GN.expand(n, h, -1, -1)], dim=2).reshape(n, -1, x.shape[-1])

    def image_features(self, pixel_values: torch.Tensor, image_sizes: torch.Tensor) -> torch.Tensor:
        """(N, crops, 3, 336, 336), (N, 2) padded HD (height, width) -> (tokens of all images, H)."""
        n, crops = pixel_values.shape[:2]
        dtype = self.glb_GN.dtype  # (img_projection may be wrapped by peft's modules_to_save)
        out = self.img_processor(pixel_values.flatten(0, 1).to(dtype), output_hidden_states=True)
        feats = out.hidden_states[self.layer_idx][:, 1:]
        feats = feats.reshape(n, crops, feats.shape[1], feats.shape[2])
        glb = self.add_newline(self.reshape_2x2(feats[:, 0], 1, 1))
        pieces = []
        for i in range(n):
            hc, wc = int(image_sizes[i][0]) // CROP, int(image_sizes[i][1]) // CROP
            sub = self.add_newline(self.reshape_2x2(feats[i, 1:1 + hc * wc], hc, wc))
            pieces += [sub[0], self.glb_GN[0], glb[i]]
        return self.img_projection(torch.cat(pieces))

    def forward(self, input_ids: torch.Tensor, embed_tokens: nn.Module, pixel_values: torch.Tensor | None = None,
                image_sizes: torch.Tensor | None = None) -> torch.Tensor:
        positions = torch.nonzero(input_ids < 0, as_tuple=True)  # row-major
        embeds = embed_tokens(input_ids.clamp(min=0))
        if pixel_values is None or positions[0].numel() == 0:
            return embeds
        proj = self.image_features(pixel_values, image_sizes)
        if proj.shape[0] != positions[0].numel():
            raise ValueError(f"{positions[0].numel()} image positions in input_ids, {proj.shape[0]} image features")
        return embeds.index_put(positions, proj.to(embeds.dtype))


class Phi3VModel(Phi3Model):
    config_class = Phi3VConfig

    def __init__(self, config: Phi3VConfig):
        super().__init__(config)
        self.vision_embed_tokens = Phi3ImageEmbedding(config)
        self.post_init()


class Phi3VForCausalLM(Phi3ForCausalLM):
    config_class = Phi3VConfig
    _no_split_modules = ["Phi3DecoderLayer", "Phi3ImageEmbedding"]

    def __init__(self, config: Phi3VConfig):
        super(Phi3ForCausalLM, self).__init__(config)
        self.model = Phi3VModel(config)
        self.vocab_size = config.vocab_size
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def forward(self, input_ids: torch.LongTensor | None = None, attention_mask: torch.Tensor | None = None,
                pixel_values: torch.Tensor | None = None, image_sizes: torch.Tensor | None = None,
                labels: torch.LongTensor | None = None, inputs_embeds: torch.Tensor | None = None, **kwargs):
        if inputs_embeds is None:
            inputs_embeds = self.model.vision_embed_tokens(input_ids, self.model.embed_tokens, pixel_values, image_sizes)
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        return super().forward(input_ids=None, attention_mask=attention_mask, inputs_embeds=inputs_embeds,
                               labels=labels, **kwargs)


AutoConfig.register("phi3_v", Phi3VConfig, exist_ok=True)
AutoModelForCausalLM.register(Phi3VConfig, Phi3VForCausalLM, exist_ok=True)


# ---- Phi3VImageProcessor ----------------------------------------------------------------------

def hd_transform(img: Image.Image, num_crops: int) -> Image.Image:
    """The HD transform: a picture of (scale * 336) x (multiple of 336) pixels (width x height)
    for wide pictures, transposed for tall ones."""
    w, h = img.size
    trans = w < h
    if trans:
        img = img.transpose(Image.Transpose.TRANSPOSE)
        w, h = img.size
    ratio = w / h
    scale = 1
    while scale * math.ceil(scale / ratio) <= num_crops:
        scale += 1
    scale -= 1
    new_w = int(scale * CROP)
    new_h = int(new_w / ratio)
    img = img.resize((new_w, new_h), Image.Resampling.BILINEAR)  # torchvision's resize of a PIL image
    target = int(math.ceil(new_h / CROP) * CROP)
    top = int((target - new_h) / 2)
    img = ImageOps.expand(img, border=(0, top, 0, target - new_h - top), fill=(255, 255, 255))  # torchvision's pad
    if trans:
        img = img.transpose(Image.Transpose.TRANSPOSE)
    return img


def to_normalized_tensor(img: Image.Image) -> torch.Tensor:
    """torchvision ToTensor + Normalize(OPENAI_CLIP_MEAN, OPENAI_CLIP_STD): (3, H, W) float32."""
    t = torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1).float().div(255)
    mean = torch.tensor(OPENAI_CLIP_MEAN, dtype=torch.float32)
    std = torch.tensor(OPENAI_CLIP_STD, dtype=torch.float32)
    return (t - mean[:, None, None]) / std[:, None, None]


def num_image_tokens(height: int, width: int) -> int:
    hc, wc = height // CROP, width // CROP
    return (hc * wc + 1) * 144 + 1 + (hc + 1) * 12


def image_crops(img: Image.Image, num_crops: int) -> tuple[torch.Tensor, list[int], int]:
    """One picture -> (its real crops: 1 + hc * wc, 3, 336, 336; the global view first), the
    padded HD size [height, width], num_img_tokens."""
    t = to_normalized_tensor(hd_transform(img.convert("RGB"), num_crops))
    h, w = t.shape[1:]
    glb = torch.nn.functional.interpolate(t[None], size=(CROP, CROP), mode="bicubic", align_corners=False)
    crops = t.reshape(1, 3, h // CROP, CROP, w // CROP, CROP).permute(0, 2, 4, 1, 3, 5).reshape(-1, 3, CROP, CROP)
    return torch.cat([glb, crops]), [h, w], num_image_tokens(h, w)


def image_processor(images: list[Image.Image], num_crops: int = 16) -> dict:
    """Phi3VImageProcessor: pixel_values (N, num_crops + 1, 3, 336, 336) (zero crops after the
    real ones), image_sizes (N, 2) padded HD (height, width), num_img_tokens (list)."""
    rows, sizes, tokens = [], [], []
    for img in images:
        crops, size, n = image_crops(img, num_crops)
        if crops.shape[0] > num_crops + 1:
            raise ValueError(f"{crops.shape[0]} crops > num_crops + 1")
        rows.append(torch.cat([crops, crops.new_zeros(num_crops + 1 - crops.shape[0], 3, CROP, CROP)]))
        sizes.append(size)
        tokens.append(n)
    return {"pixel_values": torch.stack(rows), "image_sizes": torch.tensor(sizes, dtype=torch.long),
            "num_img_tokens": tokens}


# ---- Phi3VProcessor ---------------------------------------------------------------------------

def encode(tokenizer, text: str, add_special_tokens: bool = True) -> list[int]:
    """Token ids from a `tokenizers.Tokenizer` or a transformers tokenizer."""
    if hasattr(tokenizer, "encode_batch"):  # tokenizers.Tokenizer
        return tokenizer.encode(text, add_special_tokens=add_special_tokens).ids
    return tokenizer(text, add_special_tokens=add_special_tokens)["input_ids"]


def processor_inputs(tokenizer, prompt: str, images: list[Image.Image], num_crops: int = 16) -> dict:
    """Phi3VProcessor(prompt, images): input_ids (1, L) with -k for image k, attention_mask,
    pixel_values and image_sizes (when there are images)."""
    chunks = re.split(IMAGE_TAG, prompt)
    tags = [int(t) for t in re.findall(r"<\|image_(\d+)\|>", prompt)]
    unique = sorted(set(tags))
    if unique != list(range(1, len(unique) + 1)) or len(unique) != len(images):
        raise ValueError(f"image tags {tags} do not number the {len(images)} images 1, 2, ...")
    out: dict = {}
    counts: list[int] = []
    if images:
        feats = image_processor(images, num_crops)
        out = {"pixel_values": feats["pixel_values"], "image_sizes": feats["image_sizes"]}
        counts = feats["num_img_tokens"]
    ids: list[int] = []
    for j, chunk in enumerate(chunks):
        ids += encode(tokenizer, chunk, True)
        if j < len(tags):
            ids += [-tags[j]] * counts[tags[j] - 1]
    out["input_ids"] = torch.tensor([ids], dtype=torch.long)
    out["attention_mask"] = torch.ones_like(out["input_ids"])
    return out


@torch.no_grad()
def greedy(model, inputs: dict, n: int, stop_ids: tuple[int, ...] | set[int] = ()) -> torch.Tensor:
    """Greedy decoding without a cache (the whole sequence with its pixels every step): the new
    ids (B, <= n). Stops early when every row has produced one of stop_ids (kept in the output).
    For unpadded batches (a right-padded row would continue after its padding)."""
    ids = inputs["input_ids"]
    mask = inputs.get("attention_mask", torch.ones_like(ids))
    extra = {k: inputs[k] for k in ("pixel_values", "image_sizes") if k in inputs}
    new = []
    done = torch.zeros(ids.shape[0], dtype=torch.bool)
    for _ in range(n):
        logits = model(input_ids=ids, attention_mask=mask, use_cache=False, **extra).logits[:, -1]
        nxt = logits.argmax(-1)
        new.append(nxt)
        ids = torch.cat([ids, nxt[:, None]], dim=1)
        mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], dim=1)
        done |= torch.tensor([int(t) in stop_ids for t in nxt])
        if stop_ids and bool(done.all()):
            break
    return torch.stack(new, dim=1)
