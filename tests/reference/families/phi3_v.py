"""Phi-3-Vision (microsoft/Phi-3-vision-128k-instruct, model_type "phi3_v": remote code, here
re-implemented from transformers' parts in families/phi3_v_model.py: CLIP tower, 2 x 2 merged HD
crops with learnable separators, MLP projector, transformers' Phi3ForCausalLM with longrope),
tiny and random, as models/tiny-phi3-v (the hub's layout: model.vision_embed_tokens.*,
config.json with rope_scaling {"type": "su"}, tokenizer_config.json with the chat template,
preprocessor_config.json of Phi3VImageProcessor, num_crops 4). The tokenizer is the phi3-v
test tokenizer (families/tokenizers.py).

Reference outputs (outputs/tiny-phi3-v.safetensors), for each case C of
  single  one image (120 x 50: 1 x 2 crops, 457 tokens of id -1) after a few text tokens, labels
          on the later half (never on image ids); longer than original_max_position_embeddings
          (64): long_factor
  multi   text, image 1 (40 x 90, ids -1), text, image 2 (64 x 64, ids -2), text
  text    20 text tokens, no image: short_factor
  batch   `single` and `text` right-padded with <|endoftext|> (attention mask 0, labels -100)
the tensors
  C.input_ids, C.attention_mask, C.labels, C.pixel_values (N, num_crops + 1, 3, 336, 336) and
  C.image_sizes (N, 2) (not for text), C.logits, C.loss, C.grad.<param name> (every parameter
  with a gradient: not the last CLIP layer nor its post_layernorm, which layer_idx -2 skips)
and gen.new_ids: 8 greedy tokens from the `single` prompt (no cache: the whole sequence each step).

Phi3VImageProcessor on pictures of many shapes (images/phi3_v/<w>x<h>.png), num_crops 16 and 4:
  pixels.c<num_crops>.<w>x<h>.pixel_values   (1 + hc * wc, 3, 336, 336): the real crops, global first
  pixels.c<num_crops>.<w>x<h>.image_size     (2,) padded HD (height, width)
  pixels.c<num_crops>.<w>x<h>.num_img_tokens ()

The data pipeline: images/phi3_v/samples.json (a LLaVA-style dataset: a wide image over two turns,
two images in one user turn with text between, text only with a system prompt, a system prompt and
an image in turn 1 and another in turn 2, numbered 1 and 2 as lmms does) rendered in lmms's phi3-v
format (families/chat.py, mask_question_tokens True), each id -k expanded to num_img_tokens of
image k (num_crops 4): data.<k>.input_ids, .labels, .attention_mask (1, L), .pixel_values (all the
sample's real crops back to back) and .image_sizes (N, 2), k = 0..3.
"""
from __future__ import annotations

import json
import pathlib

import numpy as np
import torch
from PIL import Image

from families.common import save_outputs, shapes_image

SEED = 3131
VOCAB = 768  # the phi3-v test tokenizer has 740 tokens; padded as the hub pads 32011 to 32064
IGNORE = -100
NUM_CROPS = 4
C16_SIZES = {"337x335", "7x500"}
PIXEL_SIZES = [(64, 64), (120, 50), (40, 90), (1, 1), (1, 300), (300, 1), (337, 335), (1000, 20), (7, 500), (336, 336)]
TEMPLATES = pathlib.Path(__file__).resolve().parent.parent / "templates"


def tiny_config(vocab: int, bos: int, eos: int, pad: int, seed: int):
    """The tiny architecture (the shapes model of tools/gen uses it too)."""
    from families.phi3_v_model import EMBD_LAYER, Phi3VConfig

    g = torch.Generator().manual_seed(seed)
    factors = [[round(float(x), 3) for x in torch.empty(8).uniform_(1.0, 4.0, generator=g)] for _ in range(2)]
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4, image_size=336,
                  patch_size=14, hidden_act="quick_gelu", layer_norm_eps=1e-5, num_channels=3, projection_dim=32,
                  model_type="clip_vision_model")
    return Phi3VConfig(
        vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=2, rms_norm_eps=1e-5, hidden_act="silu", max_position_embeddings=4096,
        original_max_position_embeddings=64, sliding_window=4096, rope_theta=10000.0,
        rope_scaling={"type": "su", "short_factor": factors[0], "long_factor": factors[1]},
        bos_token_id=bos, eos_token_id=eos, pad_token_id=pad, tie_word_embeddings=False,
        img_processor={"name": "clip_vision_model", "model_name": "openai/clip-vit-large-patch14-336",
                       "image_dim_out": 32, "num_img_tokens": 144, "layer_idx": -2, "type_feature": "patch",
                       "vision_config": vision},
        embd_layer=dict(EMBD_LAYER))


def save_tokenizer(tok, model_dir: pathlib.Path) -> None:
    """tokenizer.json + tokenizer_config.json as the hub has them (the chat template inside)."""
    from transformers import PreTrainedTokenizerFast
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="<|endoftext|>",
                                        pad_token="<|endoftext|>", unk_token="<unk>", model_max_length=4096,
                                        padding_side="right")
    tokenizer.save_pretrained(model_dir)
    (model_dir / "chat_template.jinja").unlink(missing_ok=True)
    config_file = model_dir / "tokenizer_config.json"
    config = json.loads(config_file.read_text())
    # the hub's JSON string: its \n escapes are newlines in the template
    config["chat_template"] = (TEMPLATES / "phi3-v.jinja").read_text().replace("\\n", "\n")
    config.update(add_bos_token=True, add_eos_token=False)
    config_file.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")


def save_preprocessor_config(model_dir: pathlib.Path, num_crops: int) -> None:
    from families.phi3_v_model import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD
    config = {"image_processor_type": "Phi3VImageProcessor", "num_crops": num_crops, "image_mean": OPENAI_CLIP_MEAN,
              "image_std": OPENAI_CLIP_STD, "do_convert_rgb": True, "processor_class": "Phi3VProcessor"}
    (model_dir / "preprocessor_config.json").write_text(json.dumps(config, indent=2) + "\n")


def build_model(tok):
    from families.phi3_v_model import Phi3VForCausalLM
    pad = tok.token_to_id("<|endoftext|>")
    config = tiny_config(VOCAB, tok.token_to_id("<s>"), pad, pad, SEED)
    torch.manual_seed(SEED)
    model = Phi3VForCausalLM(config)
    with torch.no_grad():  # widen the init; random separators and biases so every path matters
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                p.normal_(0.0, 0.08)
            elif name.endswith(".bias"):
                p.uniform_(-0.05, 0.05)
    return model.eval().to(torch.float32)


def picture(w: int, h: int, seed: int) -> Image.Image:
    """shapes_image, and for sides under 2 pixels (where it has no room for its box) a gradient."""
    if w >= 2 and h >= 2:
        return shapes_image(w, h, seed)
    if w == 1 and h == 1:
        return Image.new("RGB", (1, 1), (200, 40, 120))
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 // max(1, w - 1), y * 255 // max(1, h - 1), (x * 7 + y * 13 + seed) % 256], -1)
    return Image.fromarray(img.astype(np.uint8), "RGB")


def make_pixels(out: pathlib.Path) -> dict[str, torch.Tensor]:
    from families.phi3_v_model import image_crops
    folder = out / "images" / "phi3_v"
    folder.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    for i, (w, h) in enumerate(PIXEL_SIZES):
        name = f"{w}x{h}"
        picture(w, h, 100 + i).save(folder / f"{name}.png")
        img = Image.open(folder / f"{name}.png").convert("RGB")
        # every size at 4 crops; at 16 (17 crops of 1.35 MB each) two sizes keep the file small
        for num_crops in (16, 4) if name in C16_SIZES else (4,):
            crops, size, tokens = image_crops(img, num_crops)
            key = f"pixels.c{num_crops}.{name}."
            tensors[key + "pixel_values"] = crops
            tensors[key + "image_size"] = torch.tensor(size, dtype=torch.long)
            tensors[key + "num_img_tokens"] = torch.tensor(tokens, dtype=torch.long)
    return tensors


def make_pipeline(out: pathlib.Path, tok) -> dict[str, torch.Tensor]:
    from families.chat import phi3_v_reference
    from families.phi3_v_model import image_crops

    folder = out / "images" / "phi3_v"
    folder.mkdir(parents=True, exist_ok=True)
    pictures = {"wide.png": shapes_image(120, 50, 11), "tall.png": shapes_image(40, 90, 12),
                "square.png": shapes_image(64, 64, 13), "large.png": shapes_image(300, 200, 14),
                "strip.png": shapes_image(200, 30, 15)}
    for name, img in pictures.items():
        img.save(folder / name)
    samples = [
        {"image": "wide.png", "conversations": ["<image>\nWhat is in the picture?", "A box on a gradient.",
                                                "Which colour is the box?", "Red."]},
        {"image": ["tall.png", "square.png"], "conversations": ["First <image> then <image>\nwhich is taller?", "The first."]},
        {"system_prompt": "Answer briefly.", "conversations": ["Count to three.", "1, 2, 3."]},
        {"system_prompt": "You look at pictures.", "image": ["large.png", "strip.png"],
         "conversations": ["<image>\nDescribe.", "A large gradient.", "And this one? <image>", "A thin strip."]},
    ]
    dataset = []
    for s in samples:
        entry = {k: v for k, v in s.items() if k != "conversations"}
        entry["conversations"] = [{"from": "human" if i % 2 == 0 else "gpt", "value": t}
                                  for i, t in enumerate(s["conversations"])]
        dataset.append(entry)
    (folder / "samples.json").write_text(json.dumps(dataset, indent=1))

    tensors: dict[str, torch.Tensor] = {}
    for k, s in enumerate(samples):
        rendered = phi3_v_reference(tok, {"system_prompt": s.get("system_prompt"), "conversations": s["conversations"]},
                                    True)
        files = [s["image"]] if isinstance(s.get("image"), str) else s.get("image", [])
        processed = [image_crops(Image.open(folder / f).convert("RGB"), NUM_CROPS) for f in files]
        ids, labels = [], []
        for t, l in zip(rendered["input_ids"], rendered["labels"]):
            n = processed[-t - 1][2] if t < 0 else 1
            ids += [t] * n
            labels += [l] * n
        c = f"data.{k}."
        tensors[c + "input_ids"] = torch.tensor([ids])
        tensors[c + "labels"] = torch.tensor([labels])
        tensors[c + "attention_mask"] = torch.ones(1, len(ids), dtype=torch.long)
        if processed:
            tensors[c + "pixel_values"] = torch.cat([p[0] for p in processed])
            tensors[c + "image_sizes"] = torch.tensor([p[1] for p in processed], dtype=torch.long)
    return tensors


def make(out: pathlib.Path) -> dict:
    from tokenizers import Tokenizer

    from families.phi3_v_model import greedy, image_processor

    tok = Tokenizer.from_file(str(out / "text" / "phi3-v" / "tokenizer.json"))
    pad = tok.token_to_id("<|endoftext|>")
    model = build_model(tok)
    model_dir = out / "models" / "tiny-phi3-v"
    model.save_pretrained(model_dir)
    save_tokenizer(tok, model_dir)
    save_preprocessor_config(model_dir, NUM_CROPS)

    gen = torch.Generator().manual_seed(SEED)
    wide, tall, square = shapes_image(120, 50, 1), shapes_image(40, 90, 2), shapes_image(64, 64, 3)
    feats = {name: image_processor([img], NUM_CROPS) for name, img in (("wide", wide), ("tall", tall), ("square", square))}

    def sample_ids(pieces: list) -> list[int]:
        """pieces: ints (that many random text ids) and (k, image): image k's run of -k."""
        ids: list[int] = []
        for p in pieces:
            if isinstance(p, tuple):
                ids += [-p[0]] * feats[p[1]]["num_img_tokens"][0]
            else:
                ids += torch.randint(3, 600, (p,), generator=gen).tolist()
        return ids

    samples = {
        "single": (sample_ids([5, (1, "wide"), 12, 9]), ["wide"]),
        "multi": (sample_ids([4, (1, "tall"), 7, (2, "square"), 10]), ["tall", "square"]),
        "text": (sample_ids([20]), []),
    }

    def labels_for(ids: list[int]) -> list[int]:
        half = len(ids) // 2
        return [IGNORE if (i < half or t < 0) else t for i, t in enumerate(ids)]

    def batch_of(names: list[str]) -> dict:
        rows = [samples[n][0] for n in names]
        images = [img for n in names for img in samples[n][1]]
        length = max(len(r) for r in rows)
        b = {"input_ids": torch.tensor([r + [pad] * (length - len(r)) for r in rows]),
             "attention_mask": torch.tensor([[1] * len(r) + [0] * (length - len(r)) for r in rows]),
             "labels": torch.tensor([labels_for(r) + [IGNORE] * (length - len(r)) for r in rows])}
        if images:
            b["pixel_values"] = torch.cat([feats[i]["pixel_values"] for i in images])
            b["image_sizes"] = torch.cat([feats[i]["image_sizes"] for i in images])
        return b

    cases = {"single": ["single"], "multi": ["multi"], "text": ["text"], "batch": ["single", "text"]}
    tensors: dict[str, torch.Tensor] = {}
    for case, names in cases.items():
        batch = batch_of(names)
        model.zero_grad()
        result = model(**batch, use_cache=False)
        result.loss.backward()
        for k, v in batch.items():
            tensors[f"{case}.{k}"] = v
        tensors[f"{case}.logits"] = result.logits.detach()
        tensors[f"{case}.loss"] = result.loss.detach().reshape(())
        for name, p in model.named_parameters():
            if p.grad is not None:
                tensors[f"{case}.grad.{name}"] = p.grad.clone()

    batch = batch_of(["single"])
    tensors["gen.new_ids"] = greedy(model, {k: v for k, v in batch.items() if k != "labels"}, 8)
    tensors.update(make_pixels(out))
    tensors.update(make_pipeline(out, tok))
    save_outputs(out / "outputs" / "tiny-phi3-v.safetensors", tensors, {"seed": str(SEED)})
    return {"model": "models/tiny-phi3-v", "outputs": "outputs/tiny-phi3-v.safetensors", "cases": list(cases),
            "parameters": sum(p.numel() for p in model.parameters())}
