"""LLaVA-1.5 (LlavaForConditionalGeneration: CLIP vision tower + 2-layer GELU projector +
Llama), tiny and random, with the llava-1.5-hf tokenizer specification, CLIP image
processor and chat template.

Reference outputs (outputs/tiny-llava.safetensors), for each case C of
single (one image, system prompt, two turns), multi (two images) and text (no image):
  C.input_ids, C.attention_mask, C.labels, C.pixel_values   the processor's batch (labels: image tokens -100)
  C.logits, C.loss                                           float32 forward with labels
  C.logits_bf16_autocast                                     forward under torch.autocast(cpu, bfloat16)
  C.grad.<param name>                                        every gradient transformers computes
and gen.input_ids, gen.pixel_values, gen.new_ids: greedy generate() of 12 new tokens; genb.*: a
left-padded batch of 3 prompts (one, two and no images), greedy, 8 new tokens each.
"""
from __future__ import annotations

import pathlib

import torch

from families.common import llama_sentencepiece_bpe, save_outputs, shapes_image

TEMPLATES = pathlib.Path(__file__).resolve().parent.parent / "templates"
SEED = 1234


def build_processor():
    from transformers import CLIPImageProcessor, LlamaTokenizer, LlavaProcessor

    tok = llama_sentencepiece_bpe(extra_special=["<image>", "<pad>"])
    tokenizer = LlamaTokenizer(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                               pad_token="<pad>", add_bos_token=True, add_eos_token=False,
                               model_max_length=1024, padding_side="left")
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": 56}, crop_size={"height": 56, "width": 56}, do_center_crop=True,
        resample=3, image_mean=[0.48145466, 0.4578275, 0.40821073], image_std=[0.26862954, 0.26130258, 0.27577711])
    return LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=14,
                          vision_feature_select_strategy="default", num_additional_image_tokens=1,
                          chat_template=(TEMPLATES / "llava-1.5.jinja").read_text())


def build_model(vocab_size: int, image_token_id: int, pad_token_id: int):
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                              image_size=56, patch_size=14, projection_dim=32, hidden_act="quick_gelu")
    text = LlamaConfig(vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                       rms_norm_eps=1e-5, pad_token_id=pad_token_id, bos_token_id=1, eos_token_id=2,
                       tie_word_embeddings=False)
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_index=image_token_id,
                         projector_hidden_act="gelu", vision_feature_layer=-2,
                         vision_feature_select_strategy="default", image_seq_length=16,
                         tie_word_embeddings=False)
    torch.manual_seed(SEED)
    model = LlavaForConditionalGeneration(config)
    # Random init is N(0, 0.02); widen it a little so logits are not all near zero.
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                p.normal_(0.0, 0.08)
    return model.eval().to(torch.float32)


def make(out: pathlib.Path) -> dict:
    processor = build_processor()
    tokenizer = processor.tokenizer
    image_token_id = tokenizer.convert_tokens_to_ids("<image>")
    pad_token_id = tokenizer.convert_tokens_to_ids("<pad>")
    model = build_model(len(tokenizer), image_token_id, pad_token_id)

    model_dir = out / "models" / "tiny-llava"
    model.save_pretrained(model_dir)
    processor.save_pretrained(model_dir)
    sharded_dir = out / "models" / "tiny-llava-sharded"
    model.save_pretrained(sharded_dir, max_shard_size="200KB")
    processor.save_pretrained(sharded_dir)

    cases = {
        # one image, system prompt, two turns
        "single": ([
            {"role": "system", "content": [{"type": "text", "text": "You describe pictures."}]},
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is in the picture?"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "A red square on a gradient."}]},
            {"role": "user", "content": [{"type": "text", "text": "Where is it?"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "Near the top left."}]},
        ], [shapes_image(80, 64, seed=7)]),
        # two images in one turn
        "multi": ([
            {"role": "user", "content": [{"type": "image"}, {"type": "image"}, {"type": "text", "text": "Same?"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "No, the colours differ."}]},
        ], [shapes_image(64, 64, seed=3), shapes_image(50, 90, seed=4)]),
        # text only (lmms-finetune's LLaVA collator fails on these)
        "text": ([
            {"role": "user", "content": [{"type": "text", "text": "Say hi."}]},
            {"role": "assistant", "content": [{"type": "text", "text": "Hi there."}]},
        ], []),
    }
    tensors = {}
    summary = {}
    params = dict(model.named_parameters())
    for case, (messages, images) in cases.items():
        text = processor.apply_chat_template(messages, tokenize=False)
        batch = processor(text=[text], images=images or None, return_tensors="pt")
        labels = batch["input_ids"].clone()
        labels[labels == image_token_id] = -100
        model.zero_grad()
        result = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                       pixel_values=batch.get("pixel_values"), labels=labels)
        result.loss.backward()
        tensors |= {f"{case}.input_ids": batch["input_ids"], f"{case}.attention_mask": batch["attention_mask"],
                    f"{case}.labels": labels, f"{case}.logits": result.logits,
                    f"{case}.loss": result.loss.reshape(())}
        if images:
            tensors[f"{case}.pixel_values"] = batch["pixel_values"]
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):  # Trainer --bf16 on CPU
            tensors[f"{case}.logits_bf16_autocast"] = model(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                pixel_values=batch.get("pixel_values")).logits.float()
        # every gradient HF computes (the last CLIP layer and post_layernorm get none: layer -2 is read)
        for name, p in params.items():
            if p.grad is not None:
                tensors[f"{case}.grad.{name}"] = p.grad.clone()
        summary[case] = {"tokens": int(batch["input_ids"].shape[1]), "loss": result.loss.item()}
    # greedy generation (12 new tokens, no early stop) from a prompt with an image
    prompt = processor.apply_chat_template(cases["single"][0][:2], add_generation_prompt=True, tokenize=False)
    batch = processor(text=[prompt], images=cases["single"][1], return_tensors="pt")
    with torch.no_grad():
        generated = model.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                   pixel_values=batch["pixel_values"], do_sample=False, max_new_tokens=12,
                                   min_new_tokens=12)
    tensors |= {"gen.input_ids": batch["input_ids"], "gen.pixel_values": batch["pixel_values"],
                "gen.new_ids": generated[:, batch["input_ids"].shape[1]:]}
    # batched greedy generation with left padding: prompts of different lengths, one text-only
    prompts = [prompt,
               processor.apply_chat_template([cases["multi"][0][0]], add_generation_prompt=True, tokenize=False),
               processor.apply_chat_template([cases["text"][0][0]], add_generation_prompt=True, tokenize=False)]
    images = [cases["single"][1], cases["multi"][1], []]
    processor.tokenizer.padding_side = "left"
    batch = processor(text=prompts, images=[im for ims in images for im in ims], padding=True, return_tensors="pt")
    with torch.no_grad():
        generated = model.generate(**batch, do_sample=False, max_new_tokens=8, min_new_tokens=8)
    tensors |= {"genb.input_ids": batch["input_ids"], "genb.attention_mask": batch["attention_mask"],
                "genb.pixel_values": batch["pixel_values"], "genb.new_ids": generated[:, batch["input_ids"].shape[1]:]}
    save_outputs(out / "outputs" / "tiny-llava.safetensors", tensors, {"seed": str(SEED)})
    return {"model": str(model_dir.relative_to(out)), "sharded": str(sharded_dir.relative_to(out)),
            "parameters": sum(p.numel() for p in model.parameters()), "cases": summary}
