"""Qwen-VL-Chat (Qwen/Qwen-VL-Chat, config model_type "qwen", remote code QWenLMHeadModel) for the
reference harness. The checkpoint is remote code, not part of transformers; this module is a
faithful PyTorch re-implementation written from the model's published equations (not a copy of
Qwen's code), with the checkpoint's parameter names:

- the language model `transformer.*`: `wte`; blocks `h.N` (pre-norm: x += c_proj(attn(ln_1(x)));
  x += mlp(ln_2(x))) with Qwen's RMSNorm (x * rsqrt(mean(x^2) + eps) in float32, times weight),
  `attn.c_attn` (hidden -> 3 * hidden with bias, q, k, v in that order), rotary embeddings on the
  whole head (inv_freq = 1 / base^(2i / head_dim), cat(freqs, freqs), rotate_half = cat(-x2, x1),
  in float32), causal softmax attention scaled by 1 / sqrt(head_dim) with padded keys masked,
  `attn.c_proj` (no bias), the MLP c_proj(w1(x) * silu(w2(x))) of width intermediate_size // 2;
  `ln_f`; an untied `lm_head`. Positions are 0..T-1 whatever the padding (right padding). Dynamic
  NTK and log-n attention scaling only act beyond seq_length (2048) and are not implemented:
  longer sequences are refused;
- the vision tower `transformer.visual.*` (VisionTransformer): a patchifying `conv1` (no bias),
  a learned `positional_embedding` (256, width) resized bicubically to the patch grid (get_abs_pos),
  `ln_pre`, residual attention blocks `transformer.resblocks.N` whose `attn.in_proj` output is laid
  out per head as [q | k | v] (head_dim each), exact-GELU MLP `c_fc` / `c_proj`; the resampler
  `attn_pool` (n_queries learned queries with the fixed 2D sin-cos `pos_embed`, `kv_proj`, `ln_q`,
  `ln_kv`, and torch.nn.MultiheadAttention(output_dim, output_dim // 128) in (L, N, E) layout);
  `ln_post` and `x @ proj`. LayerNorms have eps 1e-6;
- images in the token stream: the Qwen-VL tokenizer writes `<img>` + the path's UTF-8 bytes as
  byte ids + `<imgpad>` up to 256 + `</img>`; the 256 embeddings between `<img>` and `</img>` are
  replaced by that image's features (spans in row-major order). `pixel_values` (n_images, 3, 448,
  448) are passed explicitly; without them the images are read from the paths in the ids as the
  remote code does (`pixel_values_from_ids`);
- the image transform: PIL resize to 448 x 448 bicubic (torchvision's Resize on a PIL image),
  ToTensor + Normalize(OpenAI CLIP mean / std) as torchvision computes them.

Importing this module registers "qwen" with AutoConfig and AutoModelForCausalLM.
"""
from __future__ import annotations

import base64
import math
import pathlib
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F
from huggingface_hub.dataclasses import strict
from PIL import Image
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM, GenerationMixin, PreTrainedConfig, PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import CausalLMOutputWithPast

OPENAI_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
# Qwen's tokenizer: the split regex and the special tokens after the mergeable ranks, in this order
PAT_STR = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
           r"|\s*[\r\n]+|\s+(?!\S)|\s+")
SPECIAL_TOKENS = (["<|endoftext|>", "<|im_start|>", "<|im_end|>"] + [f"<|extra_{i}|>" for i in range(205)]
                  + ["<ref>", "</ref>", "<box>", "</box>", "<quad>", "</quad>", "<img>", "</img>", "<imgpad>"])
# Qwen-VL-Chat's tower (the hub's config.json "visual")
QWEN_VL_VISUAL = {"heads": 16, "image_size": 448, "image_start_id": 151857, "layers": 48, "mlp_ratio": 4.9231,
                  "output_dim": 4096, "patch_size": 14, "width": 1664}


@strict
class QWenConfig(PreTrainedConfig):
    model_type = "qwen"
    keys_to_ignore_at_inference = ["past_key_values"]

    vocab_size: int = 151936
    hidden_size: int = 4096
    intermediate_size: int = 22016
    num_attention_heads: int = 32
    num_hidden_layers: int = 32
    kv_channels: int = 128
    layer_norm_epsilon: float = 1e-6
    rotary_emb_base: int | float = 10000
    rotary_pct: float = 1.0
    seq_length: int = 2048
    max_position_embeddings: int = 8192
    no_bias: bool = True
    use_dynamic_ntk: bool = True
    use_logn_attn: bool = True
    use_flash_attn: bool | str = False
    scale_attn_weights: bool = True
    emb_dropout_prob: float = 0.0
    attn_dropout_prob: float = 0.0
    initializer_range: float = 0.02
    use_cache: bool = True
    tokenizer_type: str = "QWenTokenizer"
    tie_word_embeddings: bool = False
    visual: dict | None = None

    def to_diff_dict(self) -> dict:
        """Every Qwen field written (as the hub's config.json has them), not only those off the defaults."""
        out = super().to_diff_dict()
        full = self.to_dict()
        out.update({k: full[k] for k in QWenConfig.__annotations__ if k in full})
        return dict(sorted(out.items()))


def visual_config(config: QWenConfig) -> dict:
    v = dict(QWEN_VL_VISUAL)
    v.update(config.visual or {})
    v.setdefault("n_queries", 256)
    return v


# ---- language model ----------------------------------------------------------------------------

class QWenRMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        out = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return out.type_as(x) * self.weight


class RotaryEmbedding(nn.Module):
    """transformer.rotary_emb: no parameters or stored buffers; cos / sin for positions 0..T-1."""

    def __init__(self, dim: int, base: float):
        super().__init__()
        self.dim = dim
        self.base = base

    def forward(self, length: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        inv_freq = 1.0 / (self.base ** (torch.arange(0, self.dim, 2, device=device).float() / self.dim))
        freqs = torch.outer(torch.arange(length, device=device).float(), inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos(), emb.sin()


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary(t: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """t (B, T, heads, head_dim); cos / sin (T, rot_dim): the first rot_dim channels rotated in float32."""
    rot = cos.shape[-1]
    tr, tp = t[..., :rot].float(), t[..., rot:].float()
    cos, sin = cos[None, :, None, :], sin[None, :, None, :]
    tr = tr * cos + rotate_half(tr) * sin
    return torch.cat((tr, tp), dim=-1).type_as(t)


class QWenAttention(nn.Module):
    def __init__(self, config: QWenConfig):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_dim = config.kv_channels
        self.projection_size = config.kv_channels * config.num_attention_heads
        self.scale_attn_weights = config.scale_attn_weights
        self.c_attn = nn.Linear(config.hidden_size, 3 * self.projection_size)
        self.c_proj = nn.Linear(self.projection_size, config.hidden_size, bias=not config.no_bias)

    def forward(self, x: torch.Tensor, rotary: tuple[torch.Tensor, torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
        """x (B, T, H); mask (B, 1, T, T) True where a query may attend to a key."""
        b, t, _ = x.shape
        q, k, v = self.c_attn(x).split(self.projection_size, dim=2)
        q = q.reshape(b, t, self.num_heads, self.head_dim)
        k = k.reshape(b, t, self.num_heads, self.head_dim)
        v = v.reshape(b, t, self.num_heads, self.head_dim)
        q, k = apply_rotary(q, *rotary), apply_rotary(k, *rotary)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        scores = torch.matmul(q, k.transpose(-1, -2))
        if self.scale_attn_weights:
            scores = scores / math.sqrt(self.head_dim)
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
        probs = F.softmax(scores, dim=-1).type(v.dtype)
        out = torch.matmul(probs, v).transpose(1, 2).reshape(b, t, self.projection_size)
        return self.c_proj(out)


class QWenMLP(nn.Module):
    def __init__(self, config: QWenConfig):
        super().__init__()
        inner = config.intermediate_size // 2
        self.w1 = nn.Linear(config.hidden_size, inner, bias=not config.no_bias)
        self.w2 = nn.Linear(config.hidden_size, inner, bias=not config.no_bias)
        self.c_proj = nn.Linear(inner, config.hidden_size, bias=not config.no_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(self.w1(x) * F.silu(self.w2(x)))


class QWenBlock(nn.Module):
    def __init__(self, config: QWenConfig):
        super().__init__()
        self.ln_1 = QWenRMSNorm(config.hidden_size, config.layer_norm_epsilon)
        self.attn = QWenAttention(config)
        self.ln_2 = QWenRMSNorm(config.hidden_size, config.layer_norm_epsilon)
        self.mlp = QWenMLP(config)

    def forward(self, x, rotary, mask):
        x = x + self.attn(self.ln_1(x), rotary, mask)
        return x + self.mlp(self.ln_2(x))


# ---- vision tower ------------------------------------------------------------------------------

def get_abs_pos(abs_pos: torch.Tensor, tgt_size: int) -> torch.Tensor:
    """(S, D) position embeddings of a sqrt(S) square grid -> (tgt_size, D), resized bicubically."""
    src = int(math.sqrt(abs_pos.size(0)))
    tgt = int(math.sqrt(tgt_size))
    if src == tgt:
        return abs_pos
    grid = abs_pos.float().reshape(1, src, src, -1).permute(0, 3, 1, 2)
    out = F.interpolate(grid, size=(tgt, tgt), mode="bicubic", align_corners=False)
    return out.permute(0, 2, 3, 1).flatten(0, 2).to(dtype=abs_pos.dtype)


def sincos_1d(dim: int, pos: np.ndarray) -> np.ndarray:
    omega = np.arange(dim // 2, dtype=np.float32)
    omega /= dim / 2.0
    omega = 1.0 / 10000 ** omega
    out = np.einsum("m,d->md", pos.reshape(-1), omega)
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)


def sincos_2d(dim: int, grid_size: int) -> torch.Tensor:
    """The 2D sin-cos embedding (MAE's) of a grid_size^2 grid, row-major: the first dim / 2 channels
    are [sin | cos] of the column index, the last dim / 2 of the row index."""
    gh = np.arange(grid_size, dtype=np.float32)
    gw = np.arange(grid_size, dtype=np.float32)
    grid = np.stack(np.meshgrid(gw, gh), axis=0).reshape(2, 1, grid_size, grid_size)
    emb = np.concatenate([sincos_1d(dim // 2, grid[0]), sincos_1d(dim // 2, grid[1])], axis=1)
    return torch.from_numpy(emb).float()


class VisualAttention(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.head_dim = width // heads
        self.in_proj = nn.Linear(width, 3 * width)
        self.out_proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, L, width)."""
        n, length, width = x.shape
        mixed = self.in_proj(x).view(n, length, self.heads, 3 * self.head_dim)
        q, k, v = mixed.split(self.head_dim, dim=-1)  # per head: [q | k | v]
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # (N, heads, L, hd)
        scores = torch.matmul(q / math.sqrt(self.head_dim), k.transpose(-2, -1))
        out = torch.matmul(scores.softmax(dim=-1), v)
        return self.out_proj(out.transpose(1, 2).reshape(n, length, width))


class VisualAttentionBlock(nn.Module):
    def __init__(self, width: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width, eps=1e-6)
        self.ln_2 = nn.LayerNorm(width, eps=1e-6)
        self.attn = VisualAttention(width, heads)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential(OrderedDict([("c_fc", nn.Linear(width, hidden)), ("gelu", nn.GELU()),
                                              ("c_proj", nn.Linear(hidden, width))]))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class TransformerBlock(nn.Module):
    def __init__(self, width: int, layers: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.resblocks = nn.ModuleList([VisualAttentionBlock(width, heads, mlp_ratio) for _ in range(layers)])

    def forward(self, x):
        for block in self.resblocks:
            x = block(x)
        return x


class Resampler(nn.Module):
    def __init__(self, grid_size: int, embed_dim: int, num_heads: int, kv_dim: int):
        super().__init__()
        self.grid_size = grid_size
        self.num_queries = grid_size ** 2
        self.embed_dim = embed_dim
        # fixed (not trained) but stored in the checkpoint; filled by _init_weights
        self.pos_embed = nn.Parameter(torch.empty(self.num_queries, embed_dim), requires_grad=False)
        self.query = nn.Parameter(torch.empty(self.num_queries, embed_dim))
        self.kv_proj = nn.Linear(kv_dim, embed_dim, bias=False) if kv_dim != embed_dim else nn.Identity()
        self.attn = nn.MultiheadAttention(embed_dim, num_heads)
        self.ln_q = nn.LayerNorm(embed_dim, eps=1e-6)
        self.ln_kv = nn.LayerNorm(embed_dim, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, L, kv_dim) -> (N, num_queries, embed_dim)."""
        pos = get_abs_pos(self.pos_embed, x.size(1))
        x = self.ln_kv(self.kv_proj(x)).permute(1, 0, 2)  # (L, N, E)
        n = x.shape[1]
        q = self.ln_q(self.query)
        query = q.unsqueeze(1).repeat(1, n, 1) + self.pos_embed.unsqueeze(1)
        out = self.attn(query, x + pos.unsqueeze(1), x)[0]  # need_weights True, as called by the remote code
        return out.permute(1, 0, 2)


class VisionTransformer(nn.Module):
    def __init__(self, image_size: int, patch_size: int, width: int, layers: int, heads: int, mlp_ratio: float,
                 n_queries: int = 256, output_dim: int = 512, **kwargs):
        super().__init__()
        self.image_size = image_size
        self.grid_size = image_size // patch_size
        self.output_dim = output_dim
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch_size, stride=patch_size, bias=False)
        self.positional_embedding = nn.Parameter(torch.empty(256, width))
        self.ln_pre = nn.LayerNorm(width, eps=1e-6)
        self.transformer = TransformerBlock(width, layers, heads, mlp_ratio)
        self.attn_pool = Resampler(int(math.sqrt(n_queries)), output_dim, output_dim // 128, width)
        self.ln_post = nn.LayerNorm(output_dim, eps=1e-6)
        self.proj = nn.Parameter(torch.empty(output_dim, output_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, 3, S, S) -> (N, n_queries, output_dim)."""
        x = x.to(dtype=self.conv1.weight.dtype, device=self.conv1.weight.device)
        x = self.conv1(x)
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
        x = x + get_abs_pos(self.positional_embedding, x.size(1))
        x = self.ln_pre(x)
        x = self.transformer(x)
        x = self.attn_pool(x)
        x = self.ln_post(x)
        return x @ self.proj


# ---- images ------------------------------------------------------------------------------------

def image_transform(img: Image.Image, image_size: int = 448) -> torch.Tensor:
    """Resize((S, S), BICUBIC) of a PIL image, ToTensor, Normalize(OpenAI CLIP): (3, S, S) float32."""
    img = img.convert("RGB").resize((image_size, image_size), Image.Resampling.BICUBIC)
    t = torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1).float().div(255)
    mean = torch.tensor(OPENAI_CLIP_MEAN, dtype=torch.float32)
    std = torch.tensor(OPENAI_CLIP_STD, dtype=torch.float32)
    return (t - mean[:, None, None]) / std[:, None, None]


def image_spans(input_ids: torch.Tensor, image_start_id: int) -> list[tuple[int, int, int]]:
    """(row, position of <img>, position of </img>) of every image, row-major."""
    bos = torch.where(input_ids == image_start_id)
    eos = torch.where(input_ids == image_start_id + 1)
    if bos[0].numel() != eos[0].numel() or not bool((bos[0] == eos[0]).all()):
        raise ValueError("unmatched <img> / </img> in input_ids")
    return [(int(i), int(a), int(b)) for i, a, b in zip(bos[0], bos[1], eos[1])]


def image_paths_from_ids(input_ids: torch.Tensor, image_start_id: int) -> list[str]:
    """What the remote code reads: each span's ids from <img> + 1 to </img> - 1 (the last id before
    </img> is left out), cut at the first <imgpad>, as bytes, decoded as UTF-8 (so a path needs at
    least 2 pads: at most 254 bytes)."""
    paths = []
    for i, a, b in image_spans(input_ids, image_start_id):
        ids = input_ids[i][a + 1:b - 1].tolist()
        ids = ids[:ids.index(image_start_id + 2)]
        paths.append(bytes(ids).decode("utf-8"))
    return paths


def pixel_values_from_ids(input_ids: torch.Tensor, image_start_id: int, image_size: int = 448) -> torch.Tensor | None:
    """The images named in the ids' spans, opened (relative paths from the current directory) and
    transformed: (n_images, 3, S, S), or None without images."""
    paths = image_paths_from_ids(input_ids, image_start_id)
    if not paths:
        return None
    return torch.stack([image_transform(Image.open(p), image_size) for p in paths])


# ---- the model ---------------------------------------------------------------------------------

class QWenPreTrainedModel(PreTrainedModel):
    config_class = QWenConfig
    base_model_prefix = "transformer"
    supports_gradient_checkpointing = False
    _no_split_modules = ["QWenBlock", "VisualAttentionBlock"]

    def _init_weights(self, module):
        """Qwen's init: normal(initializer_range) for Linear / Embedding, c_proj scaled by
        1 / sqrt(2 * layers), norms 1 / 0; the tower's position embedding, projection and queries
        as the tower initializes them; the resampler's pos_embed is the 2D sin-cos table."""
        super()._init_weights(module)
        std = self.config.initializer_range
        if isinstance(module, (QWenAttention, QWenMLP)):
            init.normal_(module.c_proj.weight, mean=0.0, std=std / math.sqrt(2 * self.config.num_hidden_layers))
        elif isinstance(module, QWenRMSNorm):
            init.ones_(module.weight)
        elif isinstance(module, VisionTransformer):
            width = module.positional_embedding.shape[1]
            init.normal_(module.positional_embedding, mean=0.0, std=width ** -0.5)
            init.normal_(module.proj, mean=0.0, std=module.output_dim ** -0.5)
        elif isinstance(module, Resampler):
            init.trunc_normal_(module.query, std=0.02)
            init.copy_(module.pos_embed, sincos_2d(module.embed_dim, module.grid_size))


class QWenModel(QWenPreTrainedModel):
    def __init__(self, config: QWenConfig):
        super().__init__(config)
        self.embed_dim = config.hidden_size
        self.wte = nn.Embedding(config.vocab_size, config.hidden_size)
        self.drop = nn.Dropout(config.emb_dropout_prob)
        rot = int(config.kv_channels * config.rotary_pct)
        self.rotary_emb = RotaryEmbedding(rot, config.rotary_emb_base)
        self.h = nn.ModuleList([QWenBlock(config) for _ in range(config.num_hidden_layers)])
        self.ln_f = QWenRMSNorm(config.hidden_size, config.layer_norm_epsilon)
        self.visual = VisionTransformer(**visual_config(config))
        self.post_init()

    def get_input_embeddings(self):
        return self.wte

    def set_input_embeddings(self, value):
        self.wte = value

    def forward(self, input_ids: torch.LongTensor | None = None, attention_mask: torch.Tensor | None = None,
                pixel_values: torch.Tensor | None = None, inputs_embeds: torch.Tensor | None = None,
                prompt_length: int | None = None) -> torch.Tensor:
        """prompt_length: images are looked for in the first prompt_length ids only (a cached
        generate reads the images of the prompt alone; the no-cache loop of `greedy` uses it)."""
        visual = visual_config(self.config)
        start = visual["image_start_id"]
        if inputs_embeds is None:
            inputs_embeds = self.wte(input_ids)
        spans = image_spans(input_ids[:, :prompt_length], start) if input_ids is not None else []
        hidden = self.drop(inputs_embeds)
        if spans:
            if pixel_values is None:  # as the remote code: the images named in the ids
                pixel_values = pixel_values_from_ids(input_ids[:, :prompt_length], start, visual["image_size"])
            if pixel_values.shape[0] != len(spans):
                raise ValueError(f"{len(spans)} image spans in input_ids, {pixel_values.shape[0]} images")
            images = self.visual(pixel_values)
            hidden = hidden.clone()
            for k, (i, a, b) in enumerate(spans):
                if b - a - 1 != images.shape[1]:
                    raise ValueError(f"image span of {b - a - 1} tokens, {images.shape[1]} image features")
                hidden[i, a + 1:b] = images[k].to(hidden.dtype)
        elif self.training:  # the remote code's text-only training step: a zero image, times 0
            fake = self.visual(torch.zeros(1, 3, 224, 224))
            hidden = hidden + fake.mean() * 0
        b, t = hidden.shape[:2]
        if t > self.config.seq_length:
            raise ValueError(f"{t} tokens > seq_length {self.config.seq_length} (dynamic NTK / log-n not implemented)")
        causal = torch.tril(torch.ones(t, t, dtype=torch.bool, device=hidden.device))
        mask = causal[None, None].expand(b, 1, t, t)
        if attention_mask is not None:
            mask = mask & attention_mask.to(torch.bool)[:, None, None, :]
        rotary = self.rotary_emb(t, hidden.device)
        for block in self.h:
            hidden = block(hidden, rotary, mask)
        return self.ln_f(hidden)


class QWenLMHeadModel(QWenPreTrainedModel, GenerationMixin):
    _no_split_modules = ["QWenBlock", "VisualAttentionBlock"]

    def __init__(self, config: QWenConfig):
        super().__init__(config)
        self.transformer = QWenModel(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        model = super().from_pretrained(*args, **kwargs)
        # transformers 5's loader makes new Parameters (requires_grad True); the sin-cos table is fixed
        model.transformer.visual.attn_pool.pos_embed.requires_grad_(False)
        return model

    def get_input_embeddings(self):
        return self.transformer.wte

    def set_input_embeddings(self, value):
        self.transformer.wte = value

    def get_output_embeddings(self):
        return self.lm_head

    def set_output_embeddings(self, value):
        self.lm_head = value

    def forward(self, input_ids: torch.LongTensor | None = None, attention_mask: torch.Tensor | None = None,
                pixel_values: torch.Tensor | None = None, labels: torch.LongTensor | None = None,
                inputs_embeds: torch.Tensor | None = None, prompt_length: int | None = None,
                **kwargs) -> CausalLMOutputWithPast:
        hidden = self.transformer(input_ids, attention_mask, pixel_values, inputs_embeds, prompt_length)
        logits = self.lm_head(hidden)
        loss = None
        if labels is not None:
            shift_logits = logits[..., :-1, :].contiguous()
            shift_labels = labels[..., 1:].contiguous().to(logits.device)
            loss = F.cross_entropy(shift_logits.view(-1, shift_logits.size(-1)), shift_labels.view(-1), ignore_index=-100)
        return CausalLMOutputWithPast(loss=loss, logits=logits)


AutoConfig.register("qwen", QWenConfig, exist_ok=True)
AutoModelForCausalLM.register(QWenConfig, QWenLMHeadModel, exist_ok=True)


# ---- tokenizer ---------------------------------------------------------------------------------

def load_tiktoken(path: str | pathlib.Path):
    """Qwen's tokenizer from a qwen.tiktoken file (base64 token, rank per line): the tiktoken
    Encoding with Qwen's regex and its special tokens numbered after the ranks."""
    import tiktoken
    ranks = {}
    for line in pathlib.Path(path).read_text().splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return tiktoken.Encoding("qwen-vl", pat_str=PAT_STR, mergeable_ranks=ranks,
                             special_tokens={t: len(ranks) + i for i, t in enumerate(SPECIAL_TOKENS)})


def decode(enc, ids, skip_special_tokens: bool = True) -> str:
    """QWenTokenizer.decode: with skip_special_tokens only the ids below <|endoftext|>; bytes to
    UTF-8 with replacement characters."""
    ids = [int(i) for i in ids]
    if skip_special_tokens:
        eod = enc.encode_single_token("<|endoftext|>")
        ids = [i for i in ids if i < eod]
    return enc.decode(ids, errors="replace")


@torch.no_grad()
def greedy(model, inputs: dict, n: int, stop_ids: tuple[int, ...] | set[int] = ()) -> torch.Tensor:
    """Greedy decoding without a cache (the whole sequence with its pixels every step): the new
    ids (B, <= n). Stops early when every row has produced one of stop_ids (kept in the output).
    For unpadded batches. Images come from the prompt only, as in a cached generate."""
    ids = inputs["input_ids"]
    prompt_length = ids.shape[1]
    mask = inputs.get("attention_mask", torch.ones_like(ids))
    pixels = inputs.get("pixel_values")
    new = []
    done = torch.zeros(ids.shape[0], dtype=torch.bool)
    for _ in range(n):
        logits = model(input_ids=ids, attention_mask=mask, pixel_values=pixels, prompt_length=prompt_length).logits[:, -1]
        nxt = logits.argmax(-1)
        new.append(nxt)
        ids = torch.cat([ids, nxt[:, None]], dim=1)
        mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], dim=1)
        done |= torch.tensor([int(t) in stop_ids for t in nxt])
        if stop_ids and bool(done.all()):
            break
    return torch.stack(new, dim=1)
