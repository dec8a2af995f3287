"""The rest of the LLaVA family, tiny and random, each with the processor transformers ships
for it (PIL backends) and lmms-finetune's chat template:

  tiny-llava-next        LlavaNextForConditionalGeneration: CLIP + Llama, anyres tiles with
                         unpadding and image_newline (LLaVA-1.6 Vicuna; llama2 tokenizer,
                         "USER: ... ASSISTANT:" with BOS / EOS)
  tiny-llava-interleave  LlavaForConditionalGeneration with a SigLIP tower + Qwen2 (one tile
                         per image, feature strategy "full"; chatml-style interleave template)
  tiny-llava-next-video  LlavaNextVideoForConditionalGeneration: tiny-llava-next's shape, videos
                         as frames average-pooled 2x2 before the projector (the llava-next-video
                         template, BOS / EOS)
  tiny-llava-onevision   LlavaOnevisionForConditionalGeneration: SigLIP + Qwen2, anyres_max_9
                         (the cap is reached by the `large` image), one padded tile per image
                         in multi-image samples

Reference outputs (outputs/tiny-<kind>.safetensors), for each case C of
  single  one image, system prompt, two turns     multi  two images in two user turns
  text    no image                                large  one 200x150 image
  batch   `single` and `text` right-padded together
the tensors C.input_ids, C.attention_mask, C.labels (the chat template's assistant mask, image
tokens expanded with the processor's per-image counts), C.pixel_values (the tiles of every
image back to back, as lmms lays them out), C.image_sizes, C.image_tiles (anyres kinds),
C.logits, C.loss, C.logits_bf16_autocast, C.grad.<param> (every gradient); gen.*: greedy
generate() of 10 new tokens from the `single` prompt.

The non-batch cases are also written as a LLaVA-style dataset (images/llava-next/samples.json
with the pictures) so the C++ test runs lmms's own pipeline and compares ids, labels, pixels.
"""
from __future__ import annotations

import json
import pathlib

import torch
from tokenizers import Tokenizer, processors
from transformers.utils.chat_template_utils import render_jinja_template

from families.chat import hf_messages, template_reference
from families.common import save_outputs, shapes_image

TEMPLATES = pathlib.Path(__file__).resolve().parent.parent / "templates"
SEED = 4321
IGNORE = -100
TILE, PATCH = 28, 14
NEXT_PINPOINTS = [[28, 56], [56, 28], [56, 56], [84, 28], [28, 84]]  # llava-1.6's, scaled 336 -> 28
OV_PINPOINTS = [[28 * i, 28 * j] for i in range(1, 7) for j in range(1, 7)]  # OneVision's 384*(1..6), scaled

KINDS = {
    # kind: (tokenizer, template, BOS/EOS + last-token label)
    "llava-next": ("llama2", "llava-1.5.jinja", True),
    "llava-next-video": ("llama2", "llava-next-video.jinja", True),
    "llava-interleave": ("qwen2-llava", "llava-interleave.lmms-finetune.jinja", False),
    "llava-onevision": ("qwen2-llava", "llava-onevision.lmms-finetune.jinja", False),
}


def build(kind: str, out: pathlib.Path):
    from transformers import (CLIPVisionConfig, LlamaConfig, LlamaTokenizer, LlavaConfig, LlavaForConditionalGeneration,
                              LlavaNextConfig, LlavaNextForConditionalGeneration, LlavaNextImageProcessorPil,
                              LlavaNextProcessor, LlavaNextVideoConfig, LlavaNextVideoForConditionalGeneration,
                              LlavaOnevisionConfig, LlavaOnevisionForConditionalGeneration,
                              LlavaOnevisionImageProcessorPil, LlavaOnevisionProcessor, LlavaProcessor, Qwen2Config,
                              Qwen2TokenizerFast, SiglipImageProcessorPil, SiglipVisionConfig)

    tok_kind, template_file, _ = KINDS[kind]
    tok = Tokenizer.from_file(str(out / "text" / tok_kind / "tokenizer.json"))
    template = (TEMPLATES / template_file).read_text()
    if kind in ("llava-next", "llava-next-video"):
        tokenizer = LlamaTokenizer(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>", add_bos_token=True, add_eos_token=False, model_max_length=4096)
        image_processor = LlavaNextImageProcessorPil(
            size={"shortest_edge": TILE}, crop_size={"height": TILE, "width": TILE}, image_grid_pinpoints=NEXT_PINPOINTS)
        processor = LlavaNextProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=PATCH,
                                       vision_feature_select_strategy="default", num_additional_image_tokens=1,
                                       chat_template=template)
        vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                                  image_size=TILE, patch_size=PATCH, projection_dim=32, hidden_act="quick_gelu")
        text = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096, rms_norm_eps=1e-5,
                           pad_token_id=tokenizer.pad_token_id, bos_token_id=1, eos_token_id=2, tie_word_embeddings=False)
        common = dict(vision_config=vision, text_config=text, image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
                      vision_feature_layer=-2, vision_feature_select_strategy="default",
                      image_grid_pinpoints=NEXT_PINPOINTS, tie_word_embeddings=False)
        if kind == "llava-next":
            config, cls = LlavaNextConfig(**common), LlavaNextForConditionalGeneration
        else:  # the video processor needs torchvision: images go through LlavaNextProcessor (same counting)
            config = LlavaNextVideoConfig(**common, video_token_index=tokenizer.convert_tokens_to_ids("<video>"),
                                          spatial_pool_mode="average", spatial_pool_stride=2)
            cls = LlavaNextVideoForConditionalGeneration
    else:
        tokenizer = Qwen2TokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                       unk_token=None, bos_token=None, model_max_length=4096)
        vision = SiglipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                                    image_size=TILE, patch_size=PATCH, vision_use_head=False)
        text = Qwen2Config(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                           rms_norm_eps=1e-6, tie_word_embeddings=True)
        image_id = tokenizer.convert_tokens_to_ids("<image>")
        if kind == "llava-interleave":
            image_processor = SiglipImageProcessorPil(size={"height": TILE, "width": TILE})
            processor = LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=PATCH,
                                       vision_feature_select_strategy="full", num_additional_image_tokens=0,
                                       chat_template=template)
            config = LlavaConfig(vision_config=vision, text_config=text, image_token_index=image_id,
                                 vision_feature_layer=-1, vision_feature_select_strategy="full",
                                 image_seq_length=(TILE // PATCH) ** 2, tie_word_embeddings=True)
            cls = LlavaForConditionalGeneration
        else:
            image_processor = LlavaOnevisionImageProcessorPil(
                size={"height": TILE, "width": TILE}, image_grid_pinpoints=OV_PINPOINTS,
                image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
            # LlavaOnevisionProcessor's constructor insists on its video processor, which needs
            # torchvision (not installed): the object is made without it, with the attributes its
            # token counting (replace_image_token / _get_number_of_features) reads
            processor = LlavaOnevisionProcessor.__new__(LlavaOnevisionProcessor)
            processor.image_processor, processor.tokenizer, processor.chat_template = image_processor, tokenizer, template
            processor.num_image_tokens = (TILE // PATCH) ** 2
            processor.vision_feature_select_strategy, processor.vision_aspect_ratio = "full", "anyres_max_9"
            processor.image_token, processor.image_token_id = "<image>", image_id
            processor.video_token = "<video>"
            config = LlavaOnevisionConfig(vision_config=vision, text_config=text, image_token_index=image_id,
                                          video_token_index=tokenizer.convert_tokens_to_ids("<video>"),
                                          vision_feature_layer=-1, vision_feature_select_strategy="full",
                                          vision_aspect_ratio="anyres_max_9", image_grid_pinpoints=OV_PINPOINTS,
                                          tie_word_embeddings=True)
            cls = LlavaOnevisionForConditionalGeneration
    torch.manual_seed(SEED)
    model = cls(config)
    with torch.no_grad():  # widen N(0, 0.02) so logits are not all near zero
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                p.normal_(0.0, 0.08)
            elif "image_newline" in name or "bias" in name:
                p.normal_(0.0, 0.1)
    return processor, model.eval().to(torch.float32), tok


def reference_tokenizer(tok: Tokenizer, special: bool) -> Tokenizer:
    if special:  # lmms-finetune's add_eos_token + add_special_tokens: "<s> $A </s>"
        tok = Tokenizer.from_str(tok.to_str())
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A </s>", special_tokens=[("<s>", tok.token_to_id("<s>")), ("</s>", tok.token_to_id("</s>"))])
    return tok


def vision_inputs(kind: str, processor, images: list) -> tuple[dict, dict, list[int]]:
    """(inputs for the HF model, the same in lmms's layout, <image> tokens per image)."""
    if not images:
        return {}, {}, []
    ip = processor.image_processor
    image_id = processor.tokenizer.convert_tokens_to_ids("<image>")
    if kind == "llava-interleave":
        feats = ip(images, return_tensors="pt")
        n = processor(text=["<image>"], images=images[:1], return_tensors="pt")["input_ids"].eq(image_id).sum().item()
        return {"pixel_values": feats["pixel_values"]}, {"pixel_values": feats["pixel_values"]}, [n] * len(images)
    if kind in ("llava-next", "llava-next-video"):
        feats = ip(images, return_tensors="pt")
        counts = [processor(text=["<image>"], images=[im], return_tensors="pt")["input_ids"].eq(image_id).sum().item()
                  for im in images]
        from transformers.models.llava_next.modeling_llava_next import image_size_to_num_patches
        tiles = [image_size_to_num_patches(s.tolist(), NEXT_PINPOINTS, TILE) for s in feats["image_sizes"]]
        hf = {"pixel_values": feats["pixel_values"], "image_sizes": feats["image_sizes"]}
    else:  # onevision: one sample, its images nested (multi-image samples are not tiled)
        feats = ip([images], return_tensors="pt")
        counts = [len(processor.replace_image_token(dict(feats), k)) // len("<image>") for k in range(len(images))]
        from transformers.models.llava_onevision.modeling_llava_onevision import image_size_to_num_patches
        tiles = [image_size_to_num_patches(s.tolist(), OV_PINPOINTS, TILE) if len(images) == 1 else 1
                 for s in feats["image_sizes"]]
        hf = {"pixel_values": feats["pixel_values"], "image_sizes": feats["image_sizes"],
              "batch_num_images": torch.tensor([len(images)])}
    pv = torch.cat([feats["pixel_values"][i, :t] for i, t in enumerate(tiles)])
    return hf, {"pixel_values": pv, "image_sizes": feats["image_sizes"], "image_tiles": torch.tensor(tiles)}, counts


def expand(ids: list[int], labels: list[int], image_id: int, counts: list[int]) -> tuple[list[int], list[int]]:
    out_ids, out_labels, k = [], [], 0
    for i, l in zip(ids, labels):
        if i == image_id:
            out_ids += [i] * counts[k]
            out_labels += [IGNORE] * counts[k]
            k += 1
        else:
            out_ids.append(i)
            out_labels.append(l)
    assert k == len(counts), "placeholder count differs from the image count"
    return out_ids, out_labels


def make(out: pathlib.Path) -> dict:
    image_dir = out / "images" / "llava-next"
    image_dir.mkdir(parents=True, exist_ok=True)
    pictures = {"a.png": shapes_image(80, 64, seed=7), "b.png": shapes_image(64, 64, seed=3),
                "c.png": shapes_image(50, 90, seed=4), "large.png": shapes_image(200, 150, seed=9)}
    for name, im in pictures.items():
        im.save(image_dir / name)
    cases = {
        "single": {"system_prompt": "You describe pictures.", "image": ["a.png"],
                   "conversations": ["<image>\nWhat is in the picture?", "A red square on a gradient.",
                                     "Where is it?", "Near the top left."]},
        "multi": {"system_prompt": None, "image": ["b.png", "c.png"],
                  "conversations": ["<image>\nWhat is this?", "A square.", "And <image> this one?",
                                    "Another square, smaller."]},
        "text": {"system_prompt": None, "image": [], "conversations": ["Say hi.", "Hi there."]},
        "large": {"system_prompt": None, "image": ["large.png"], "conversations": ["<image>\nDescribe.",
                                                                                   "A gradient with a box."]},
    }
    dataset = []
    for case, s in cases.items():
        conv = [{"from": "human" if i % 2 == 0 else "gpt", "value": t} for i, t in enumerate(s["conversations"])]
        row = {"id": case, "image": s["image"], "conversations": conv}
        if s["system_prompt"]:
            row["system_prompt"] = s["system_prompt"]
        dataset.append(row)
    (image_dir / "samples.json").write_text(json.dumps(dataset, ensure_ascii=False, indent=1))
    return {kind: make_one(out, kind, cases, pictures) for kind in KINDS}


def make_one(out: pathlib.Path, kind: str, cases: dict, pictures: dict) -> dict:
    processor, model, tok = build(kind, out)
    _, template_file, special = KINDS[kind]
    template = (TEMPLATES / template_file).read_text()
    ref_tok = reference_tokenizer(tok, special)
    image_id = model.config.image_token_id
    pad_id = processor.tokenizer.pad_token_id
    model_dir = out / "models" / f"tiny-{kind}"
    model.save_pretrained(model_dir)
    if kind == "llava-onevision":
        processor.tokenizer.save_pretrained(model_dir)
        processor.image_processor.save_pretrained(model_dir)
        (model_dir / "chat_template.jinja").write_text(processor.chat_template)
    else:
        processor.save_pretrained(model_dir)

    tensors: dict[str, torch.Tensor] = {}
    summary = {}
    params = dict(model.named_parameters())

    def run(case: str, ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor, hf: dict, lm: dict) -> None:
        model.zero_grad()
        result = model(input_ids=ids, attention_mask=mask, labels=labels, **hf)
        result.loss.backward()
        tensors.update({f"{case}.input_ids": ids, f"{case}.attention_mask": mask, f"{case}.labels": labels,
                        f"{case}.logits": result.logits, f"{case}.loss": result.loss.reshape(())})
        tensors.update({f"{case}.{k}": v.clone() for k, v in lm.items()})
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            tensors[f"{case}.logits_bf16_autocast"] = model(input_ids=ids, attention_mask=mask, **hf).logits.float()
        for name, p in params.items():
            if p.grad is not None:
                tensors[f"{case}.grad.{name}"] = p.grad.clone()
        summary[case] = {"tokens": int(ids.shape[1]), "loss": result.loss.item()}

    rows = {}
    for case, sample in cases.items():
        ref = template_reference(ref_tok, template, special, sample, True)
        images = [pictures[n] for n in sample["image"]]
        hf, lm, counts = vision_inputs(kind, processor, images)
        ids, labels = expand(ref["input_ids"], ref["labels"], image_id, counts)
        rows[case] = (ids, labels, hf, lm)
        run(case, torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long), torch.tensor([labels]), hf, lm)

    if kind == "llava-next-video":
        # a video file: 8 frames sampled and decoded as lmms-finetune does with PyAV, each through
        # the CLIP steps (shortest edge, center crop, rescale, normalize) as
        # LlavaNextVideoVideoProcessor does (with PIL's resize: the real one needs torchvision)
        from transformers import CLIPImageProcessor

        from families.videos import sample as sample_video
        decoded, _, _ = sample_video(out / "videos" / "moving.mp4", 8)
        ip = processor.image_processor
        clip = CLIPImageProcessor(size={"shortest_edge": TILE}, crop_size={"height": TILE, "width": TILE},
                                  do_center_crop=True, resample=3, image_mean=ip.image_mean, image_std=ip.image_std)
        videos = clip([f for f in decoded], return_tensors="pt")["pixel_values"][None]  # (1, 8, 3, S, S)
        video_id = model.config.video_token_id
        video_sample = {"system_prompt": None, "image": ["b.png"],
                        "conversations": ["<video>\nWhat moves?", "The red box.", "And <image> here?", "A square."]}
        ref = template_reference(ref_tok, template, special, video_sample, True)
        hf, lm, counts = vision_inputs(kind, processor, [pictures["b.png"]])
        n_video = (TILE // PATCH) ** 2 // 4 * 8  # LlavaNextVideoProcessor.replace_video_token
        ids, labels = expand(ref["input_ids"], ref["labels"], image_id, counts)
        ids, labels = expand(ids, labels, video_id, [n_video])
        run("videofile", torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long), torch.tensor([labels]),
            {**hf, "pixel_values_videos": videos}, {**lm, "pixel_values_videos": videos})

    if kind == "llava-onevision":
        # a video file (videos family): 8 frames sampled and decoded as lmms-finetune does with
        # PyAV, each squashed to one tile as LlavaOnevisionVideoProcessor does (with PIL's resize:
        # the real one needs torchvision), and an image in a later turn
        import numpy as np
        from PIL import Image

        from families.videos import sample as sample_video
        decoded, _, _ = sample_video(out / "videos" / "moving.mp4", 8)
        ip = processor.image_processor
        mean, std = np.array(ip.image_mean, np.float32), np.array(ip.image_std, np.float32)
        frames = []
        for f in decoded:
            x = np.asarray(Image.fromarray(f).resize((TILE, TILE), resample=3), np.float64) * ip.rescale_factor
            frames.append(((x.astype(np.float32) - mean) / std).transpose(2, 0, 1))
        videos = torch.from_numpy(np.stack(frames))[None]  # (1, 8, 3, S, S)
        video_id = model.config.video_token_id
        video_sample = {"system_prompt": None, "image": ["b.png"],
                        "conversations": ["<video>\nWhat moves?", "The red box.", "And <image> here?", "A square."]}
        ref = template_reference(ref_tok, template, special, video_sample, True)
        hf, lm, counts = vision_inputs(kind, processor, [pictures["b.png"]])
        n_video = len(processor.replace_video_token({"pixel_values_videos": videos}, 0)) // len("<video>")
        ids, labels = expand(ref["input_ids"], ref["labels"], image_id, counts)
        ids, labels = expand(ids, labels, video_id, [n_video])
        run("videofile", torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long), torch.tensor([labels]),
            {**hf, "pixel_values_videos": videos}, {**lm, "pixel_values_videos": videos})
        (out / "images" / "llava-next" / "samples_video.json").write_text(json.dumps([{
            "id": "videofile", "image": ["b.png"], "video": "moving.mp4",
            "conversations": [{"from": "human" if i % 2 == 0 else "gpt", "value": t}
                              for i, t in enumerate(video_sample["conversations"])]}], indent=1))

    # `single` and `text` right-padded into one batch
    (ids_a, lab_a, hf, lm), (ids_b, lab_b, _, _) = rows["single"], rows["text"]
    n = max(len(ids_a), len(ids_b))
    ids = torch.tensor([ids_a + [pad_id] * (n - len(ids_a)), ids_b + [pad_id] * (n - len(ids_b))])
    mask = torch.tensor([[1] * len(ids_a) + [0] * (n - len(ids_a)), [1] * len(ids_b) + [0] * (n - len(ids_b))])
    labels = torch.tensor([lab_a + [IGNORE] * (n - len(lab_a)), lab_b + [IGNORE] * (n - len(lab_b))])
    run("batch", ids, mask, labels, hf, lm)

    # greedy generation from the `single` prompt (first user turn + the assistant header)
    sample = {"system_prompt": cases["single"]["system_prompt"], "conversations": cases["single"]["conversations"][:1]}
    rendered, _ = render_jinja_template(conversations=[hf_messages(sample)], chat_template=template,
                                        add_generation_prompt=True)
    prompt_ids = tok.encode(rendered[0], add_special_tokens=special).ids  # BOS (no EOS) for llava
    hf, lm, counts = vision_inputs(kind, processor, [pictures["a.png"]])
    ids, _ = expand(prompt_ids, prompt_ids, image_id, counts)
    ids = torch.tensor([ids])
    with torch.no_grad():
        generated = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                   max_new_tokens=10, min_new_tokens=10, **hf)
    tensors |= {"gen.input_ids": ids, "gen.new_ids": generated[:, ids.shape[1]:]}
    tensors |= {f"gen.{k}": v.clone() for k, v in lm.items()}

    save_outputs(out / "outputs" / f"tiny-{kind}.safetensors", tensors, {"seed": str(SEED)})
    return {"model": str(model_dir.relative_to(out)), "parameters": sum(p.numel() for p in model.parameters()),
            "cases": summary}
