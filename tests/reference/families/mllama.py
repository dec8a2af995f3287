"""Llama-3.2-Vision (MllamaForConditionalGeneration: tiled vision encoder with aspect-ratio and
gated positional embeddings, a local and a gated global transformer, intermediate-layer features,
projector, and a Llama-3 language model with gated cross-attention layers and llama3 rope
scaling), tiny and random, as models/tiny-mllama (transformers 5's own save_pretrained layout).

Pixels come from MllamaImageProcessorPil (tiles of 56 x 56, up to 4 per image) on synthetic
pictures; the cross-attention mask from transformers' own processing_mllama functions
(get_cross_attention_token_mask + convert_sparse_cross_attention_mask_to_dense), which are what
MllamaProcessor calls. Token ids are drawn at random (the model does not care which tokenizer made
them) with the image token <|image|> = vocab_size where the images are.

Reference outputs (outputs/tiny-mllama.safetensors), for each case C of
  single  one image (2 tiles) after a few text tokens, labels on the later half
  multi   text, image A (2 tiles), text, image B (1 tile), text; tokens before A attend to no image
          (transformers' full-text-row mask), tokens after B see only B
  text    no image: the cross-attention layers are skipped
  batch   `single` and `multi` right-padded into one batch (the first row's second image slot is
          padding: aspect ratio id 0, mask 0)
the tensors
  C.input_ids, C.attention_mask, C.labels, C.pixel_values, C.aspect_ratio_ids,
  C.aspect_ratio_mask, C.cross_attention_mask, C.num_tiles (B, images; 0 where none)
  C.logits, C.loss, C.grad.<param name>
and gen.*: greedy generate() of 8 new tokens from the `single` prompt.

The data pipeline: images/mllama/samples.json (a LLaVA-style dataset: one wide image over two
turns, two images with text between, text only with a system prompt, an image larger than the
4-tile canvas) with its pictures as PNG, rendered in lmms's Llama-3.2-Vision format
(families/chat.py, the Llama-3 test tokenizer) and processed by MllamaImageProcessorPil and
processing_mllama's mask functions, one sample per batch and samples 0 and 1 right-padded
together: data.<k>.input_ids, .labels, .attention_mask, .pixel_values, .aspect_ratio_ids,
.aspect_ratio_mask, .cross_attention_mask (k = 0..3, and "pair").
"""
from __future__ import annotations

import pathlib

import torch

from families.common import save_outputs, shapes_image

SEED = 4242
VOCAB = 300
IMAGE_TOKEN = VOCAB  # as the hub's 128256: the first of the 8 extra embedding rows
PAD = 299
IGNORE = -100
TILE = 56


def build_model():
    from transformers import MllamaConfig, MllamaForConditionalGeneration

    vision = dict(hidden_size=32, hidden_act="gelu", num_hidden_layers=3, num_global_layers=2, attention_heads=4,
                  intermediate_size=64, vision_output_dim=32 * 3, image_size=TILE, patch_size=14, norm_eps=1e-5,
                  max_num_tiles=4, intermediate_layers_indices=[0, 2])
    text = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=5, num_attention_heads=4,
                num_key_value_heads=2, rms_norm_eps=1e-5, max_position_embeddings=512, cross_attention_layers=[1, 3],
                rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                                 "high_freq_factor": 4.0, "original_max_position_embeddings": 64},
                bos_token_id=1, eos_token_id=2, pad_token_id=PAD, tie_word_embeddings=False)
    config = MllamaConfig(vision_config=vision, text_config=text, image_token_index=IMAGE_TOKEN)
    torch.manual_seed(SEED)
    model = MllamaForConditionalGeneration(config)
    with torch.no_grad():  # widen the init; open the gates (zero at init) so every path matters
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                p.normal_(0.0, 0.08)
            elif "gate" in name:
                p.uniform_(0.3, 1.2)
    return model.eval().to(torch.float32)


def sample_ids(gen: torch.Generator, pieces: list) -> list[int]:
    """pieces: ints (that many random text tokens) and "I" (one image token)."""
    ids: list[int] = []
    for p in pieces:
        if p == "I":
            ids.append(IMAGE_TOKEN)
        else:
            ids += torch.randint(3, VOCAB - 1, (p,), generator=gen).tolist()
    return ids


def make_pipeline(out: pathlib.Path, processor) -> dict[str, torch.Tensor]:
    import json

    from tokenizers import Tokenizer
    from transformers.models.mllama.processing_mllama import (convert_sparse_cross_attention_mask_to_dense,
                                                              get_cross_attention_token_mask)

    from families.chat import llama3_vision_reference

    folder = out / "images" / "mllama"
    folder.mkdir(parents=True, exist_ok=True)
    pictures = {"wide.png": shapes_image(120, 50, 11), "tall.png": shapes_image(40, 90, 12),
                "square.png": shapes_image(64, 64, 13), "large.png": shapes_image(300, 200, 14)}
    for name, img in pictures.items():
        img.save(folder / name)
    samples = [
        {"image": "wide.png", "conversations": ["<image>\nWhat is in the picture?", "A box on a gradient.",
                                                "Which colour is the box?", "Red."]},
        {"image": ["tall.png", "square.png"], "conversations": ["First <image> then <image>\nwhich is taller?", "The first."]},
        {"system_prompt": "Answer briefly.", "conversations": ["Count to three.", "1, 2, 3."]},
        {"image": "large.png", "conversations": ["<image>\nDescribe.", "A large gradient."]},
    ]
    dataset = []
    for s in samples:
        entry = {k: v for k, v in s.items() if k != "conversations"}
        entry["conversations"] = [{"from": "human" if i % 2 == 0 else "gpt", "value": t}
                                  for i, t in enumerate(s["conversations"])]
        dataset.append(entry)
    (folder / "samples.json").write_text(json.dumps(dataset, indent=1))

    tok = Tokenizer.from_file(str(out / "text" / "llama3" / "tokenizer.json"))
    image_id = tok.token_to_id("<|image|>")
    pad = tok.token_to_id("<|end_of_text|>")
    rendered = [llama3_vision_reference(tok, {"system_prompt": s.get("system_prompt"),
                                              "conversations": s["conversations"]}, True) for s in samples]
    images = [[pictures[f] for f in ([s["image"]] if isinstance(s.get("image"), str) else s.get("image", []))]
              for s in samples]
    tensors: dict[str, torch.Tensor] = {}
    for key, rows in [("0", [0]), ("1", [1]), ("2", [2]), ("3", [3]), ("pair", [0, 1])]:
        ids = [rendered[r]["input_ids"] for r in rows]
        labels = [rendered[r]["labels"] for r in rows]
        length = max(len(i) for i in ids)
        c = f"data.{key}."
        tensors[c + "input_ids"] = torch.tensor([i + [pad] * (length - len(i)) for i in ids])
        tensors[c + "labels"] = torch.tensor([l + [IGNORE] * (length - len(l)) for l in labels])
        tensors[c + "attention_mask"] = torch.tensor([[1] * len(i) + [0] * (length - len(i)) for i in ids])
        if any(images[r] for r in rows):
            feats = processor([images[r] for r in rows], return_tensors="pt")
            for k in ("pixel_values", "aspect_ratio_ids", "aspect_ratio_mask"):
                tensors[c + k] = feats[k]
            padded = [i + [pad] * (length - len(i)) for i in ids]
            tensors[c + "cross_attention_mask"] = torch.from_numpy(convert_sparse_cross_attention_mask_to_dense(
                [get_cross_attention_token_mask(i, image_id) for i in padded], num_tiles=feats["num_tiles"],
                max_num_tiles=4, length=length))
    return tensors


def make(out: pathlib.Path) -> dict:
    from transformers import MllamaImageProcessorPil
    from transformers.models.mllama.processing_mllama import (convert_sparse_cross_attention_mask_to_dense,
                                                              get_cross_attention_token_mask)

    model = build_model()
    model_dir = out / "models" / "tiny-mllama"
    model.save_pretrained(model_dir)
    processor = MllamaImageProcessorPil(size={"height": TILE, "width": TILE}, max_image_tiles=4)
    processor.save_pretrained(model_dir)

    gen = torch.Generator().manual_seed(SEED)
    wide, tall, square = shapes_image(120, 50, 1), shapes_image(40, 90, 2), shapes_image(64, 64, 3)
    samples = {
        "single": (sample_ids(gen, [1, "I", 12, 9]), [wide]),
        "multi": (sample_ids(gen, [4, "I", 7, "I", 10]), [tall, square]),
        "text": (sample_ids(gen, [1, 15]), []),
    }

    def labels_for(ids: list[int]) -> list[int]:
        half = len(ids) // 2
        return [IGNORE if (i < half or t == IMAGE_TOKEN) else t for i, t in enumerate(ids)]

    def batch_of(names: list[str]) -> dict:
        rows = [samples[n][0] for n in names]
        images = [samples[n][1] for n in names]
        length = max(len(r) for r in rows)
        b = {"input_ids": torch.tensor([r + [PAD] * (length - len(r)) for r in rows]),
             "attention_mask": torch.tensor([[1] * len(r) + [0] * (length - len(r)) for r in rows]),
             "labels": torch.tensor([labels_for(r) + [IGNORE] * (length - len(r)) for r in rows])}
        if any(images):
            feats = processor(images, return_tensors="pt")
            b["pixel_values"] = feats["pixel_values"]
            b["aspect_ratio_ids"] = feats["aspect_ratio_ids"]
            b["aspect_ratio_mask"] = feats["aspect_ratio_mask"]
            num_tiles = feats["num_tiles"]
            token_masks = [get_cross_attention_token_mask(r, IMAGE_TOKEN) for r in rows]
            b["cross_attention_mask"] = torch.from_numpy(convert_sparse_cross_attention_mask_to_dense(
                token_masks, num_tiles=num_tiles, max_num_tiles=4, length=length))
            width = b["aspect_ratio_ids"].shape[1]
            b["num_tiles"] = torch.tensor([list(n) + [0] * (width - len(n)) for n in num_tiles])
        return b

    cases = {"single": ["single"], "multi": ["multi"], "text": ["text"], "batch": ["single", "multi"]}
    tensors: dict[str, torch.Tensor] = {}
    for case, names in cases.items():
        batch = batch_of(names)
        model.zero_grad()
        inputs = {k: v for k, v in batch.items() if k not in ("labels", "num_tiles")}
        result = model(**inputs, labels=batch["labels"], use_cache=False)
        result.loss.backward()
        for k, v in batch.items():
            tensors[f"{case}.{k}"] = v
        tensors[f"{case}.logits"] = result.logits.detach()
        tensors[f"{case}.loss"] = result.loss.detach().reshape(())
        for name, p in model.named_parameters():
            if p.grad is not None:
                tensors[f"{case}.grad.{name}"] = p.grad.clone()

    batch = batch_of(["single"])
    inputs = {k: v for k, v in batch.items() if k not in ("labels", "num_tiles")}
    with torch.no_grad():
        generated = model.generate(**inputs, do_sample=False, max_new_tokens=8, min_new_tokens=8, pad_token_id=PAD)
    tensors["gen.new_ids"] = generated[:, batch["input_ids"].shape[1]:]
    tensors.update(make_pipeline(out, processor))
    save_outputs(out / "outputs" / "tiny-mllama.safetensors", tensors, {"seed": str(SEED)})
    return {"model": "models/tiny-mllama", "outputs": "outputs/tiny-mllama.safetensors",
            "cases": list(cases), "parameters": sum(p.numel() for p in model.parameters())}
