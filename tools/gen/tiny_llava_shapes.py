#!/usr/bin/env python3
"""Writes example_data/models/tiny-llava-shapes: the tiny model the main job fine-tunes. A
LLaVA-1.5 (LlavaForConditionalGeneration: CLIP tower + GELU projector + Llama) of about 0.9 M
parameters, random init (seed 2026), in Hugging Face format with a Llama-2-style
sentencepiece BPE tokenizer learned on the shapes conversations, the CLIP image processor
(56x56 crops, 16 image tokens) and the llava-1.5 chat template. Made with transformers; the
files are committed, so this only reruns when they change.

    python tools/gen/tiny_llava_shapes.py [OUT_DIR]     (default example_data/models/tiny-llava-shapes)
"""
import json
import pathlib
import sys

import torch

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "reference"))

from families import common  # noqa: E402  (the tokenizer builder of the reference harness)


def main() -> int:
    from transformers import (CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlamaTokenizer, LlavaConfig,
                              LlavaForConditionalGeneration, LlavaProcessor)

    out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "example_data" / "models" / "tiny-llava-shapes")
    texts = []
    for split in ("train", "eval"):
        for s in json.loads((ROOT / "example_data" / "shapes" / f"{split}.json").read_text()):
            texts += [t["value"].replace("<image>\n", "") for t in s["conversations"]]
    common.CORPUS = sorted(set(texts)) * 4 + common.CORPUS
    tok = common.llama_sentencepiece_bpe(extra_special=["<image>", "<pad>"], vocab_size=400)
    tokenizer = LlamaTokenizer(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                               pad_token="<pad>", add_bos_token=True, add_eos_token=False,
                               model_max_length=256, padding_side="left")
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": 56}, crop_size={"height": 56, "width": 56}, do_center_crop=True, resample=3,
        image_mean=[0.48145466, 0.4578275, 0.40821073], image_std=[0.26862954, 0.26130258, 0.27577711])
    template = (ROOT / "tests" / "reference" / "templates" / "llava-1.5.jinja").read_text()
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=14,
                               vision_feature_select_strategy="default", num_additional_image_tokens=1,
                               chat_template=template)

    vision = CLIPVisionConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                              image_size=56, patch_size=14, projection_dim=64, hidden_act="quick_gelu")
    text = LlamaConfig(vocab_size=len(tokenizer), hidden_size=128, intermediate_size=256, num_hidden_layers=4,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                       rms_norm_eps=1e-5, pad_token_id=tokenizer.pad_token_id, bos_token_id=1, eos_token_id=2,
                       tie_word_embeddings=False)
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
                         projector_hidden_act="gelu", vision_feature_layer=-2, vision_feature_select_strategy="default",
                         image_seq_length=16, tie_word_embeddings=False)
    torch.manual_seed(2026)
    model = LlavaForConditionalGeneration(config).eval()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    processor.save_pretrained(out)
    params = sum(p.numel() for p in model.parameters())
    print(f"wrote {out}: {params / 1e6:.2f} M parameters, vocabulary {len(tokenizer)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
