"""Qwen-VL-Chat (Qwen/Qwen-VL-Chat, model_type "qwen", remote code QWenLMHeadModel, re-implemented in
families/qwen_vl_model.py): a tiny random model and its outputs.

Writes, under out/:
  models/tiny-qwen-vl/        config.json (the hub's fields, "visual" with the tiny tower),
                              model.safetensors, generation_config.json, qwen.tiktoken (the tiny
                              Qwen-VL vocabulary of the tokenizers family), tokenizer_config.json
  images/qwen_vl/             the pictures the cases name (single.png, multi_a.png, multi_b.png),
                              <w>x<h>.png, the data pipeline's pictures and samples.json
  outputs/tiny-qwen-vl.safetensors:
    <case>.input_ids / .attention_mask / .labels / .pixel_values (n_images, 3, 448, 448; absent
    without images) / .logits / .loss / .grad.<parameter> for the cases single (text, one image,
    text), multi (two images of different sizes with text between), text (text only) and batch
    (single and text right-padded with <|endoftext|>). Each case is text encoded by Qwen-VL's
    tokenizer (qwen_vl_encode), so its image spans are real: <img>, the bytes of a path relative
    to `out` ("images/qwen_vl/single.png"), <imgpad> up to 256, </img>; labels on the later half
    of each row, never in an image span (<img> to </img>);
    gen.new_ids: 8 greedy tokens from single (no cache);
    pixels.<w>x<h>.pixel_values (3, 448, 448): the image transform of images/qwen_vl/<w>x<h>.png;
    data.<k>.input_ids / .labels / .attention_mask (1, L) / .pixel_values (the sample's images in
    order) / .logits (the model's on them), k = 0..3: images/qwen_vl/samples.json rendered in lmms's qwen-vl format
    (families/chat.py qwen_vl_reference, mask_question_tokens True) with the image paths
    os.path.join(str(out / "images" / "qwen_vl"), file), each sample alone (no padding). The
    labels are checked against lmms-finetune-v2 section 4.6 by check_labels below, written apart
    from the renderer.
  The metadata has "image_folder" (the folder string joined into the data paths) and
  "case_image_root" (what the case paths are relative to: the out directory).

Needs the tokenizers family (out/text/qwen-vl/qwen.tiktoken).
"""
from __future__ import annotations

import json
import os
import pathlib
import shutil

import numpy as np
import torch
from PIL import Image

from families.common import save_outputs, shapes_image

SEED = 66  # picked for a greedy continuation of 4 distinct tokens with clear margins (>= 0.02)
IGNORE = -100
PIXEL_SIZES = [(64, 64), (120, 50), (40, 90), (1, 1), (1000, 20), (448, 448), (449, 447)]


def vocab_rows(enc) -> int:
    """Embedding rows: the ranks and the specials, rounded up to a multiple of 64."""
    return (enc.n_vocab + 63) // 64 * 64


def tiny_config(vocab: int, image_start_id: int):
    """The tiny architecture (the shapes model of tools/gen uses it too)."""
    from families.qwen_vl_model import QWenConfig
    return QWenConfig(
        vocab_size=vocab, hidden_size=128, intermediate_size=256, num_hidden_layers=3, num_attention_heads=4,
        kv_channels=32, layer_norm_epsilon=1e-6, rotary_emb_base=10000, rotary_pct=1.0, seq_length=2048,
        max_position_embeddings=2048, no_bias=True, use_dynamic_ntk=True, use_logn_attn=True,
        tie_word_embeddings=False,
        visual={"heads": 2, "image_size": 448, "image_start_id": image_start_id, "layers": 2, "mlp_ratio": 2.0,
                "n_queries": 256, "output_dim": 128, "patch_size": 14, "width": 32})


def save_tokenizer(tiktoken_file: pathlib.Path, model_dir: pathlib.Path) -> None:
    """qwen.tiktoken and tokenizer_config.json as the hub has them (QWenTokenizer, remote code)."""
    model_dir.mkdir(parents=True, exist_ok=True)
    if tiktoken_file.resolve() != (model_dir / "qwen.tiktoken").resolve():
        shutil.copyfile(tiktoken_file, model_dir / "qwen.tiktoken")
    config = {"model_max_length": 8192, "tokenizer_class": "QWenTokenizer",
              "auto_map": {"AutoTokenizer": ["tokenization_qwen.QWenTokenizer", None]}}
    (model_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")


def set_generation_config(model, enc) -> None:
    eod = enc.encode_single_token("<|endoftext|>")
    model.generation_config.pad_token_id = eod
    model.generation_config.eos_token_id = eod


def build_model(enc):
    from families.qwen_vl_model import QWenLMHeadModel
    config = tiny_config(vocab_rows(enc), enc.encode_single_token("<img>"))
    torch.manual_seed(SEED)
    model = QWenLMHeadModel(config)
    with torch.no_grad():  # widen the init; random biases and norm weights so every path matters
        for name, p in model.named_parameters():
            if name.endswith("attn_pool.pos_embed"):
                continue  # the fixed sin-cos table
            if p.dim() >= 2:
                p.normal_(0.0, 0.08)
            elif name.endswith(".bias"):
                p.uniform_(-0.05, 0.05)
            else:  # LayerNorm / RMSNorm weights
                p.uniform_(0.8, 1.2)
    set_generation_config(model, enc)
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
    from families.qwen_vl_model import image_transform
    folder = out / "images" / "qwen_vl"
    folder.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    for i, (w, h) in enumerate(PIXEL_SIZES):
        name = f"{w}x{h}"
        picture(w, h, 200 + i).save(folder / f"{name}.png")
        tensors[f"pixels.{name}.pixel_values"] = image_transform(Image.open(folder / f"{name}.png"))
    return tensors


def check_labels(enc, ids: list[int], labels: list[int], system: bool) -> None:
    """lmms-finetune-v2 section 4.6, from the ids alone: chatml turns <|im_start|>role\\n...<|im_end|>\\n;
    system and user turns: <|im_start|>, <|im_end|> and the final \\n labelled, the rest -100;
    assistant turns: <|im_start|> labelled, the role and its \\n -100, then the content, <|im_end|>
    and \\n labelled. Every id is in a turn; a system turn only first and only when given."""
    im_start, im_end = enc.encode_single_token("<|im_start|>"), enc.encode_single_token("<|im_end|>")
    nl = enc.encode("\n")
    assert len(nl) == 1 and len(ids) == len(labels)
    nl = nl[0]
    starts = [i for i, t in enumerate(ids) if t == im_start]
    assert starts and starts[0] == 0, "the ids start with a turn"
    roles = []
    for n, a in enumerate(starts):
        b = starts[n + 1] if n + 1 < len(starts) else len(ids)
        turn, lab = ids[a:b], labels[a:b]
        assert turn[-2:] == [im_end, nl] and im_end not in turn[:-2], "a turn ends with <|im_end|>\\n"
        head = turn.index(nl)  # the role's newline
        role = enc.decode(turn[1:head])
        roles.append(role)
        if role in ("system", "user"):
            want = [im_start] + [IGNORE] * (len(turn) - 3) + [im_end, nl]
        elif role == "assistant":
            want = [im_start] + [IGNORE] * head + turn[head + 1:]
        else:
            raise AssertionError(f"unknown role {role!r}")
        assert lab == want, f"labels of the {role} turn {n}: {lab} != {want}"
    body = roles[1:] if system else roles
    assert (roles[0] == "system") == system
    assert body == ["user", "assistant"] * (len(body) // 2) and len(body) % 2 == 0, roles


def make_pipeline(out: pathlib.Path, enc) -> dict[str, torch.Tensor]:
    from families.chat import qwen_vl_reference
    from families.qwen_vl_model import image_paths_from_ids, pixel_values_from_ids

    folder = out / "images" / "qwen_vl"
    folder.mkdir(parents=True, exist_ok=True)
    pictures = {"wide.png": shapes_image(120, 50, 21), "tall.png": shapes_image(40, 90, 22),
                "square.png": shapes_image(64, 64, 23), "large.png": shapes_image(300, 200, 24),
                "strip.png": shapes_image(200, 30, 25)}
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

    start = enc.encode_single_token("<img>")
    tensors: dict[str, torch.Tensor] = {}
    for k, s in enumerate(samples):
        files = [s["image"]] if isinstance(s.get("image"), str) else s.get("image", [])
        paths = [os.path.join(str(folder), f) for f in files]  # what lmms writes: image_folder / file
        assert all(len(p.encode()) <= 254 for p in paths), "Qwen-VL reads at most 254 bytes of a path"
        rendered = qwen_vl_reference(enc, {"system_prompt": s.get("system_prompt"), "conversations": s["conversations"]},
                                     paths, True)
        ids, labels = rendered["input_ids"], rendered["labels"]
        check_labels(enc, ids, labels, s.get("system_prompt") is not None)
        for j, p in enumerate(paths):
            assert f"Picture {j + 1}: <img>{p}</img>\n" in rendered["text"]
        c = f"data.{k}."
        tensors[c + "input_ids"] = torch.tensor([ids])
        tensors[c + "labels"] = torch.tensor([labels])
        tensors[c + "attention_mask"] = torch.ones(1, len(ids), dtype=torch.long)
        assert image_paths_from_ids(tensors[c + "input_ids"], start) == paths
        if paths:
            tensors[c + "pixel_values"] = pixel_values_from_ids(tensors[c + "input_ids"], start)
    return tensors


def make(out: pathlib.Path) -> dict:
    from families.qwen_vl_model import greedy, image_transform, load_tiktoken, pixel_values_from_ids
    from families.tokenizers import qwen_vl_encode

    tiktoken_file = out / "text" / "qwen-vl" / "qwen.tiktoken"
    enc = load_tiktoken(tiktoken_file)
    pad = enc.encode_single_token("<|endoftext|>")
    start = enc.encode_single_token("<img>")
    model = build_model(enc)
    model_dir = out / "models" / "tiny-qwen-vl"
    model.save_pretrained(model_dir)
    save_tokenizer(tiktoken_file, model_dir)

    folder = out / "images" / "qwen_vl"
    folder.mkdir(parents=True, exist_ok=True)
    files = {"single.png": shapes_image(120, 50, 1), "multi_a.png": shapes_image(40, 90, 2),
             "multi_b.png": shapes_image(64, 64, 3)}
    for name, img in files.items():
        img.save(folder / name)
    rel = {name: f"images/qwen_vl/{name}" for name in files}  # relative to `out`
    texts = {
        "single": f"Look at this. Picture 1: <img>{rel['single.png']}</img>\nWhat colour is the box in the picture? "
                  "The box is red and sits on a gradient.",
        "multi": f"Two pictures: Picture 1: <img>{rel['multi_a.png']}</img>\nis tall, and Picture 2: "
                 f"<img>{rel['multi_b.png']}</img>\nis square. Which one is taller? The first one is taller.",
        "text": "Count to five: one, two, three, four, five. Done counting 12345!",
    }
    images = {"single": ["single.png"], "multi": ["multi_a.png", "multi_b.png"], "text": []}
    pixels = {name: image_transform(Image.open(folder / name)) for name in files}
    rows = {name: qwen_vl_encode(enc, text) for name, text in texts.items()}

    def labels_for(ids: list[int]) -> list[int]:
        in_image, out_labels = False, []
        half = len(ids) // 2
        for i, t in enumerate(ids):
            if t == start:
                in_image = True
            out_labels.append(IGNORE if (i < half or in_image) else t)
            if t == start + 1:
                in_image = False
        return out_labels

    def batch_of(names: list[str]) -> dict:
        length = max(len(rows[n]) for n in names)
        b = {"input_ids": torch.tensor([rows[n] + [pad] * (length - len(rows[n])) for n in names]),
             "attention_mask": torch.tensor([[1] * len(rows[n]) + [0] * (length - len(rows[n])) for n in names]),
             "labels": torch.tensor([labels_for(rows[n]) + [IGNORE] * (length - len(rows[n])) for n in names])}
        imgs = [pixels[f] for n in names for f in images[n]]
        if imgs:
            b["pixel_values"] = torch.stack(imgs)
        return b

    cases = {"single": ["single"], "multi": ["multi"], "text": ["text"], "batch": ["single", "text"]}
    tensors: dict[str, torch.Tensor] = {}
    cwd = os.getcwd()
    for case, names in cases.items():
        batch = batch_of(names)
        if "pixel_values" in batch:  # the paths in the ids name the same pictures (relative to `out`)
            os.chdir(out)
            try:
                assert torch.equal(pixel_values_from_ids(batch["input_ids"], start), batch["pixel_values"])
            finally:
                os.chdir(cwd)
        model.zero_grad()
        result = model(**batch)
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
    tensors.update(make_pipeline(out, enc))
    with torch.no_grad():  # the pipeline's samples (multi-turn, system prompts, images in two turns) through the model
        for k in range(4):
            c = f"data.{k}."
            batch = {name: tensors[c + name] for name in ("input_ids", "attention_mask", "pixel_values") if c + name in tensors}
            tensors[c + "logits"] = model(**batch).logits
    save_outputs(out / "outputs" / "tiny-qwen-vl.safetensors", tensors,
                 {"seed": str(SEED), "image_folder": str(folder), "case_image_root": str(out)})
    return {"model": "models/tiny-qwen-vl", "outputs": "outputs/tiny-qwen-vl.safetensors", "cases": list(cases),
            "parameters": sum(p.numel() for p in model.parameters()),
            "tokens": {t: enc.encode_single_token(t) for t in
                       ("<img>", "</img>", "<imgpad>", "<|im_start|>", "<|im_end|>", "<|endoftext|>")}}
