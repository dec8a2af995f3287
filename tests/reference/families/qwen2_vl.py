"""Qwen2-VL (Qwen2VLForConditionalGeneration: the Qwen2-VL vision transformer with 2D rotary
and patch merger + Qwen2 with M-RoPE), tiny and random, with the qwen2 tokenizer of the
tokenizers family, Qwen2VLImageProcessorPil and the official chat template (see Processor:
Qwen2VLProcessor itself needs torchvision for its video processor).

The same for Qwen2.5-VL (Qwen2_5_VLForConditionalGeneration: RMSNorm + SwiGLU vision blocks,
window attention with full-attention blocks, absolute-time video positions) as tiny-qwen2.5-vl.

Reference outputs (outputs/tiny-<kind>.safetensors), for each case C of
  single  one image, system prompt, two turns
  multi   two images in two different user turns (media in any turn)
  text    no media
  large   one image larger than max_pixels (smart_resize's downscale path)
  video   a 4-frame video (pixel_values_videos built as Qwen2VLVideoProcessor lays them out;
          it needs torchvision, not installed, so the frames are patchified here: video_patches)
  mixed   an image and a video in one turn
  batch   `single` and `text` right-padded into one batch (M-RoPE with an attention mask)
  packed  `single`, `text` and `multi` packed into one row (position_ids of 4 rows, no mask;
          attention_mask here holds lmms's sample numbers 1, 2, 3)
the tensors
  C.input_ids, C.attention_mask, C.labels, C.position_ids (3, B, T; get_rope_index)
  C.pixel_values, C.image_grid_thw, C.pixel_values_videos, C.video_grid_thw (where present)
  C.logits, C.loss, C.logits_bf16_autocast, C.grad.<param name> (every gradient)
and gen.*: greedy generate() of 10 new tokens from the `single` prompt.

The `single`, `multi`, `text` and `large` cases are also written as a LLaVA-style dataset
(images/qwen2-vl/samples.json, the pictures as PNG beside it), so the C++ test runs lmms's own
data pipeline on them and compares ids, labels, pixel_values and image_grid_thw.
"""
from __future__ import annotations

import json
import pathlib

import torch

from families.common import save_outputs, shapes_image

TEMPLATES = pathlib.Path(__file__).resolve().parent.parent / "templates"
SEED = 2468
IGNORE = -100
MIN_PIXELS, MAX_PIXELS = 56 * 56, 28 * 28 * 12


class Processor:
    """Qwen2VLProcessor's image path without its video processor (which needs torchvision, not
    installed): the tokenizer, Qwen2VLImageProcessorPil, and its placeholder expansion (each
    <|image_pad|> / <|video_pad|> -> grid_thw.prod() / merge_size**2 copies, as
    Qwen2VLProcessor.replace_image_token) with mm_token_type_ids (text 0, image 1, video 2)."""

    def __init__(self, out: pathlib.Path):
        from tokenizers import Tokenizer
        from transformers import Qwen2TokenizerFast, Qwen2VLImageProcessorPil

        tok = Tokenizer.from_file(str(out / "text" / "qwen2" / "tokenizer.json"))
        self.tokenizer = Qwen2TokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                            unk_token=None, bos_token=None, model_max_length=4096, padding_side="right")
        self.tokenizer.chat_template = (TEMPLATES / "qwen2-vl.jinja").read_text()
        self.image_processor = Qwen2VLImageProcessorPil(min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS)

    def save_pretrained(self, path: pathlib.Path) -> None:
        self.tokenizer.save_pretrained(path)
        self.image_processor.save_pretrained(path)

    def __call__(self, text: list[str], images=None, padding=False, return_tensors="pt", videos_thw=None) -> dict:
        image_id = self.tokenizer.convert_tokens_to_ids("<|image_pad|>")
        video_id = self.tokenizer.convert_tokens_to_ids("<|video_pad|>")
        merge = self.image_processor.merge_size ** 2
        out = {}
        image_counts, video_counts = [], []
        if images:
            feats = self.image_processor(images, return_tensors="pt")
            out["pixel_values"], out["image_grid_thw"] = feats["pixel_values"], feats["image_grid_thw"]
            image_counts = [int(g.prod()) // merge for g in feats["image_grid_thw"]]
        if videos_thw is not None:
            video_counts = [int(g.prod()) // merge for g in videos_thw]
        rows = []
        for t in text:
            ids = self.tokenizer(t, add_special_tokens=False)["input_ids"]
            row = []
            for i in ids:
                if i == image_id:
                    row += [image_id] * image_counts.pop(0)
                elif i == video_id:
                    row += [video_id] * video_counts.pop(0)
                else:
                    row.append(i)
            rows.append(row)
        assert not image_counts and not video_counts, "more media than placeholders"
        length = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id
        if not padding:
            assert len(rows) == 1
        out["input_ids"] = torch.tensor([r + [pad] * (length - len(r)) for r in rows])
        out["attention_mask"] = torch.tensor([[1] * len(r) + [0] * (length - len(r)) for r in rows])
        types = torch.zeros_like(out["input_ids"])
        types[(out["input_ids"] == image_id) & (out["attention_mask"] == 1)] = 1
        types[(out["input_ids"] == video_id) & (out["attention_mask"] == 1)] = 2
        out["mm_token_type_ids"] = types
        return out


def build_processor(out: pathlib.Path) -> Processor:
    return Processor(out)


def build_model(kind: str, vocab_size: int, tok):
    from transformers import (Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2VLConfig,
                              Qwen2VLForConditionalGeneration)

    if kind == "qwen2-vl":
        vision = dict(depth=2, embed_dim=32, hidden_size=64, hidden_act="quick_gelu", mlp_ratio=2, num_heads=4,
                      in_channels=3, patch_size=14, spatial_merge_size=2, temporal_patch_size=2)
        config_class, model_class = Qwen2VLConfig, Qwen2VLForConditionalGeneration
    else:  # Qwen2.5-VL: RMSNorm + SwiGLU blocks, window attention (windows of 2x2 merged tokens) but
        # in blocks 1 and 3, absolute-time video positions (tokens_per_second)
        vision = dict(depth=4, hidden_size=32, intermediate_size=48, out_hidden_size=64, hidden_act="silu", num_heads=4,
                      in_channels=3, patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=56,
                      fullatt_block_indexes=[1, 3], tokens_per_second=2)
        config_class, model_class = Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration
    text = dict(vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-6, max_position_embeddings=4096,
                rope_parameters={"rope_type": "default", "mrope_section": [2, 3, 3], "rope_theta": 1000000.0},
                bos_token_id=tok.convert_tokens_to_ids("<|endoftext|>"),
                eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"),
                pad_token_id=tok.convert_tokens_to_ids("<|endoftext|>"))
    config = config_class(vision_config=vision, text_config=text,
                           image_token_id=tok.convert_tokens_to_ids("<|image_pad|>"),
                           video_token_id=tok.convert_tokens_to_ids("<|video_pad|>"),
                           vision_start_token_id=tok.convert_tokens_to_ids("<|vision_start|>"),
                           vision_end_token_id=tok.convert_tokens_to_ids("<|vision_end|>"),
                           tie_word_embeddings=False)
    torch.manual_seed(SEED)
    model = model_class(config)
    with torch.no_grad():  # widen N(0, 0.02) a little so logits are not all near zero
        for p in model.parameters():
            if p.dim() >= 2:
                p.normal_(0.0, 0.08)
    return model.eval().to(torch.float32)


def render(sample: dict) -> tuple[str, list[tuple[str, bool]]]:
    """lmms's Qwen2-VL rendering (families/chat.py checks it against the official template):
    chatml segments, assistant segments supervised, media where their placeholders are."""
    system = sample.get("system_prompt") or "You are a helpful assistant."
    segments = [(f"<|im_start|>system\n{system}<|im_end|>\n", False)]
    conv = sample["conversations"]
    for i in range(0, len(conv), 2):
        user = conv[i].replace("<image>\n", "<image>").replace("<video>\n", "<video>")
        user = user.replace("<image>", "<|vision_start|><|image_pad|><|vision_end|>")
        user = user.replace("<video>", "<|vision_start|><|video_pad|><|vision_end|>")
        segments.append((f"<|im_start|>user\n{user}<|im_end|>\n", False))
        segments.append((f"<|im_start|>assistant\n{conv[i + 1]}<|im_end|>\n", True))
    return "".join(s for s, _ in segments), segments


def labels_for(tokenizer, segments, input_ids: torch.Tensor, media_ids: set[int]) -> torch.Tensor:
    """Labels of the expanded sequence: each segment's tokens (supervised or -100), media pads -100."""
    ids, labels = [], []
    for text, supervised in segments:
        seg = tokenizer(text, add_special_tokens=False)["input_ids"]
        ids += seg
        labels += seg if supervised else [IGNORE] * len(seg)
    out = []
    expanded = input_ids[0].tolist()
    j = 0
    for i, t in enumerate(ids):
        if t in media_ids:
            while j < len(expanded) and expanded[j] == t:
                out.append(IGNORE)
                j += 1
        else:
            assert expanded[j] == t, "expansion changed a text token"
            out.append(labels[i])
            j += 1
    assert j == len(expanded)
    return torch.tensor([out])


def video_patches(frames: list, processor) -> tuple[torch.Tensor, torch.Tensor]:
    """pixel_values_videos and video_grid_thw laid out as Qwen2VLVideoProcessor lays them out for
    frames of one size (its _preprocess reshape and permute: temporal_patch_size frames per patch,
    merge-block order), each frame resized and normalized as the PIL image processor does an image
    (the video processor itself resizes with torchvision, which is not PIL-exact)."""
    import numpy as np
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    ip = processor.image_processor
    p, m, tp = ip.patch_size, ip.merge_size, ip.temporal_patch_size
    w0, h0 = frames[0].size
    h, w = smart_resize(h0, w0, factor=p * m, min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS)
    mean, std = np.array(ip.image_mean, np.float32), np.array(ip.image_std, np.float32)
    arr = []
    for f in frames:  # per frame what the PIL image processor does: rescale in float64, normalize in float32
        x = (np.asarray(f.resize((w, h), resample=3), np.float64) * ip.rescale_factor).astype(np.float32)
        arr.append(((x - mean) / std).transpose(2, 0, 1))
    v = np.stack(arr)  # (T, C, H, W)
    if v.shape[0] % tp:
        v = np.concatenate([v, np.repeat(v[-1:], tp - v.shape[0] % tp, 0)])
    c = v.shape[1]
    gt, gh, gw = v.shape[0] // tp, h // p, w // p
    v = v.reshape(gt, tp, c, gh // m, m, p, gw // m, m, p).transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)
    return torch.from_numpy(np.ascontiguousarray(v.reshape(gt * gh * gw, c * tp * p * p))), torch.tensor([[gt, gh, gw]])


def make(out: pathlib.Path) -> dict:
    return {kind: make_one(out, kind) for kind in ("qwen2-vl", "qwen2.5-vl")}


def make_one(out: pathlib.Path, kind: str) -> dict:
    processor = build_processor(out)
    tokenizer = processor.tokenizer
    model = build_model(kind, len(tokenizer), tokenizer)
    image_id, video_id = model.config.image_token_id, model.config.video_token_id
    qwen2_5 = kind == "qwen2.5-vl"

    model_dir = out / "models" / f"tiny-{kind}"
    model.save_pretrained(model_dir)
    processor.save_pretrained(model_dir)

    image_dir = out / "images" / "qwen2-vl"
    image_dir.mkdir(parents=True, exist_ok=True)
    pictures = {"a.png": shapes_image(80, 64, seed=7), "b.png": shapes_image(64, 64, seed=3),
                "c.png": shapes_image(50, 90, seed=4), "large.png": shapes_image(200, 150, seed=9)}
    for name, im in pictures.items():
        im.save(image_dir / name)
    frames = [shapes_image(90, 60, seed=20 + k) for k in range(4)]
    for k, f in enumerate(frames):  # for lmms's video processor test
        f.save(image_dir / f"frame_{k}.png")

    cases = {
        "single": ({"system_prompt": "You describe pictures.",
                    "conversations": ["<image>\nWhat is in the picture?", "A red square on a gradient.",
                                      "Where is it?", "Near the top left."]}, ["a.png"], False),
        "multi": ({"conversations": ["<image>\nWhat is this?", "A square.", "And <image> this one?",
                                     "Another square, smaller."]}, ["b.png", "c.png"], False),
        "text": ({"conversations": ["Say hi.", "Hi there."]}, [], False),
        "large": ({"conversations": ["<image>\nDescribe.", "A gradient with a box."]}, ["large.png"], False),
        "video": ({"conversations": ["<video>\nWhat moves?", "The box."]}, [], True),
        "mixed": ({"conversations": ["<image>\n<video>\nIs the picture in the video?", "No."]}, ["a.png"], True),
    }
    tensors: dict[str, torch.Tensor] = {}
    summary, samples = {}, {}
    params = dict(model.named_parameters())

    def run(case: str, batch: dict, labels: torch.Tensor) -> None:
        model.zero_grad()
        result = model(**batch, labels=labels)
        result.loss.backward()
        extra = {"second_per_grid_ts": batch.get("second_per_grid_ts")} if qwen2_5 else {}
        position_ids, _ = model.model.get_rope_index(
            batch["input_ids"], batch["mm_token_type_ids"], batch.get("image_grid_thw"), batch.get("video_grid_thw"),
            attention_mask=batch["attention_mask"], **extra)
        tensors.update({f"{case}.{k}": v for k, v in batch.items() if k != "mm_token_type_ids"})
        tensors.update({f"{case}.labels": labels, f"{case}.position_ids": position_ids,
                        f"{case}.logits": result.logits, f"{case}.loss": result.loss.reshape(())})
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            tensors[f"{case}.logits_bf16_autocast"] = model(**batch).logits.float()
        for name, p in params.items():
            if p.grad is not None:
                tensors[f"{case}.grad.{name}"] = p.grad.clone()
        summary[case] = {"tokens": int(batch["input_ids"].shape[1]), "loss": result.loss.item()}

    for case, (sample, images, has_video) in cases.items():
        text, segments = render(sample)
        ims = [pictures[n] for n in images]
        pv, thw = video_patches(frames, processor) if has_video else (None, None)
        batch = processor(text=[text], images=ims or None, videos_thw=thw)
        if has_video:
            batch["pixel_values_videos"], batch["video_grid_thw"] = pv, thw
            if qwen2_5:  # 2 frames per temporal patch at 1 fps: 2 s per grid step
                batch["second_per_grid_ts"] = torch.tensor([2.0])
        labels = labels_for(tokenizer, segments, batch["input_ids"], {image_id, video_id})
        run(case, batch, labels)
        if not has_video:
            samples[case] = {**sample, "image": images}

    # a video file (videos family), sampled and decoded as lmms-finetune does with PyAV: lmms's
    # data pipeline on images/qwen2-vl/samples_video.json must give this batch
    from PIL import Image

    from families.videos import sample as sample_video
    decoded, _, _ = sample_video(out / "videos" / "moving.mp4", 8)
    video_sample = {"conversations": ["<video>\nWhat moves?", "The red box.", "And <image> here?", "A square."]}
    text, segments = render(video_sample)
    pv, thw = video_patches([Image.fromarray(f) for f in decoded], processor)
    batch = processor(text=[text], images=[pictures["b.png"]], videos_thw=thw)
    batch["pixel_values_videos"], batch["video_grid_thw"] = pv, thw
    labels = labels_for(tokenizer, segments, batch["input_ids"], {image_id, video_id})
    run("videofile", batch, labels)
    (image_dir / "samples_video.json").write_text(json.dumps([{
        "id": "videofile", "image": ["b.png"], "video": "moving.mp4",
        "conversations": [{"from": "human" if i % 2 == 0 else "gpt", "value": t}
                          for i, t in enumerate(video_sample["conversations"])]}], indent=1))

    # a right-padded batch of two samples: M-RoPE positions with an attention mask
    texts = [render(cases["single"][0])[0], render(cases["text"][0])[0]]
    batch = processor(text=texts, images=[pictures["a.png"]], padding=True)
    labels = batch["input_ids"].clone()
    labels[batch["attention_mask"] == 0] = IGNORE
    labels[labels == image_id] = IGNORE
    run("batch", batch, labels)

    # packing: `single`, `text` and `multi` in one row; transformers takes position_ids of 4 rows
    # (text positions restarting per sample, then each sample's own get_rope_index) and no
    # attention mask, and keeps attention inside each sample; lmms reads the sample numbers
    # (1, 2, 3) from attention_mask
    parts = []
    for case in ("single", "text", "multi"):
        sample, images, _ = cases[case]
        text, segments = render(sample)
        b = processor(text=[text], images=[pictures[n] for n in images] or None)
        b["labels"] = labels_for(tokenizer, segments, b["input_ids"], {image_id, video_id})
        b["position_ids"], _ = model.model.get_rope_index(b["input_ids"], b["mm_token_type_ids"], b.get("image_grid_thw"),
                                                          None, attention_mask=b["attention_mask"])
        parts.append(b)
    ids = torch.cat([b["input_ids"] for b in parts], 1)
    labels = torch.cat([b["labels"] for b in parts], 1)
    rope = torch.cat([b["position_ids"] for b in parts], 2)
    text_pos = torch.cat([torch.arange(b["input_ids"].shape[1]) for b in parts]).view(1, 1, -1)
    segments = torch.cat([torch.full_like(b["input_ids"], k + 1) for k, b in enumerate(parts)], 1)
    pv = torch.cat([b["pixel_values"] for b in parts if "pixel_values" in b])
    thw = torch.cat([b["image_grid_thw"] for b in parts if "image_grid_thw" in b])
    model.zero_grad()
    # use_cache=False: with a cache transformers does not look for packed sequences
    result = model(input_ids=ids, position_ids=torch.cat([text_pos, rope], 0), pixel_values=pv, image_grid_thw=thw,
                   labels=labels, use_cache=False)
    result.loss.backward()
    tensors.update({"packed.input_ids": ids, "packed.attention_mask": segments, "packed.labels": labels,
                    "packed.position_ids": rope, "packed.pixel_values": pv, "packed.image_grid_thw": thw,
                    "packed.logits": result.logits, "packed.loss": result.loss.reshape(())})
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        tensors["packed.logits_bf16_autocast"] = model(input_ids=ids, position_ids=torch.cat([text_pos, rope], 0),
                                                       pixel_values=pv, image_grid_thw=thw, use_cache=False).logits.float()
    for name, p in params.items():
        if p.grad is not None:
            tensors[f"packed.grad.{name}"] = p.grad.clone()
    # the same rows one by one must give the same logits (packing changes nothing per sample)
    offset = 0
    for b in parts:
        n = b["input_ids"].shape[1]
        with torch.no_grad():
            alone = model(**{k: v for k, v in b.items() if k not in ("labels", "position_ids")}).logits
        assert (alone - result.logits[:, offset:offset + n]).abs().max() < 1e-4, "packing changed a sample's logits"
        offset += n
    summary["packed"] = {"tokens": int(ids.shape[1]), "loss": result.loss.item()}

    # greedy generation from the single prompt (first user turn + assistant header)
    prompt = render({"system_prompt": "You describe pictures.", "conversations": ["<image>\nWhat is in the picture?", ""]})[0]
    prompt = prompt[: prompt.rindex("<|im_start|>assistant\n") + len("<|im_start|>assistant\n")]
    batch = processor(text=[prompt], images=[pictures["a.png"]])
    with torch.no_grad():
        generated = model.generate(**batch, do_sample=False, max_new_tokens=10, min_new_tokens=10)
    tensors |= {"gen.input_ids": batch["input_ids"], "gen.pixel_values": batch["pixel_values"],
                "gen.image_grid_thw": batch["image_grid_thw"], "gen.new_ids": generated[:, batch["input_ids"].shape[1]:]}

    save_outputs(out / "outputs" / f"tiny-{kind}.safetensors", tensors, {"seed": str(SEED)})
    # the same samples as a LLaVA-style dataset file, for lmms's own data pipeline
    dataset = []
    for case, s in samples.items():
        conv = [{"from": "human" if i % 2 == 0 else "gpt", "value": t} for i, t in enumerate(s["conversations"])]
        row = {"id": case, "image": s["image"], "conversations": conv}
        if s.get("system_prompt"):
            row["system_prompt"] = s["system_prompt"]
        dataset.append(row)
    (image_dir / "samples.json").write_text(json.dumps(dataset, ensure_ascii=False, indent=1))
    return {"model": str(model_dir.relative_to(out)), "parameters": sum(p.numel() for p in model.parameters()),
            "cases": summary}
