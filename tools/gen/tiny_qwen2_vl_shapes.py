#!/usr/bin/env python3
"""Writes example_data/models/tiny-qwen2-vl-shapes: a tiny Qwen2-VL (Qwen2VLForConditionalGeneration:
the Qwen2-VL vision transformer + patch merger + Qwen2 with M-RoPE) of about 0.9 M parameters,
random init (seed 2026), in Hugging Face format with a Qwen2-style byte-level BPE tokenizer
(Qwen2's split regex and special tokens) learned on the shapes conversations, the Qwen2-VL
image processor (min_pixels 84*84: a 64x64 picture becomes 6x6 patches, 9 LLM tokens) and the
official Qwen2-VL chat template. The files are committed; this only reruns when they change.

    python tools/gen/tiny_qwen2_vl_shapes.py [--qwen2.5] [OUT_DIR]

With --qwen2.5, example_data/models/tiny-qwen2.5-vl-shapes: the same with Qwen2.5-VL's tower
(RMSNorm + SwiGLU blocks, window attention in 56-pixel windows except block 1 and 3).
"""
import json
import pathlib
import sys

import torch

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "reference"))

from families import tokenizers as tokenizer_kinds  # noqa: E402  (the reference harness's builders)


def main() -> int:
    from transformers import (Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2TokenizerFast, Qwen2VLConfig,
                              Qwen2VLForConditionalGeneration, Qwen2VLImageProcessorPil)

    args = [a for a in sys.argv[1:] if a != "--qwen2.5"]
    qwen2_5 = "--qwen2.5" in sys.argv[1:]
    name = "tiny-qwen2.5-vl-shapes" if qwen2_5 else "tiny-qwen2-vl-shapes"
    out = pathlib.Path(args[0] if args else ROOT / "example_data" / "models" / name)
    texts = []
    for split in ("train", "eval"):
        for s in json.loads((ROOT / "example_data" / "shapes" / f"{split}.json").read_text()):
            texts += [t["value"].replace("<image>\n", "") for t in s["conversations"]]
    texts = sorted(set(texts)) * 8 + ["system user assistant You are a helpful assistant."] * 8
    tokenizer_kinds.train_text = lambda seed=7: texts
    tok = tokenizer_kinds.byte_level_tokenizer(tokenizer_kinds.QWEN2_PATTERN, tokenizer_kinds.QWEN2_SPECIAL, 700,
                                               ignore_merges=False, nfc=True, bos=None, trim_offsets=False)
    tokenizer = Qwen2TokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   unk_token=None, bos_token=None, model_max_length=512, padding_side="right")
    tokenizer.chat_template = (ROOT / "tests" / "reference" / "templates" / "qwen2-vl.jinja").read_text()
    image_processor = Qwen2VLImageProcessorPil(min_pixels=84 * 84, max_pixels=28 * 28 * 16)

    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in
           ("<|endoftext|>", "<|im_end|>", "<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")}
    if qwen2_5:
        vision = dict(depth=4, hidden_size=64, intermediate_size=128, out_hidden_size=128, hidden_act="silu",
                      num_heads=4, in_channels=3, patch_size=14, spatial_merge_size=2, temporal_patch_size=2,
                      window_size=56, fullatt_block_indexes=[1, 3], tokens_per_second=2)
        config_class, model_class = Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration
    else:
        vision = dict(depth=2, embed_dim=64, hidden_size=128, hidden_act="quick_gelu", mlp_ratio=2, num_heads=4,
                      in_channels=3, patch_size=14, spatial_merge_size=2, temporal_patch_size=2)
        config_class, model_class = Qwen2VLConfig, Qwen2VLForConditionalGeneration
    text = dict(vocab_size=len(tokenizer), hidden_size=128, intermediate_size=256, num_hidden_layers=4,
                num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-6, max_position_embeddings=512,
                rope_parameters={"rope_type": "default", "mrope_section": [4, 6, 6], "rope_theta": 1000000.0},
                bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"])
    config = config_class(vision_config=vision, text_config=text, image_token_id=ids["<|image_pad|>"],
                           video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
                           vision_end_token_id=ids["<|vision_end|>"], tie_word_embeddings=False)
    torch.manual_seed(2026)
    model = model_class(config).eval()
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    image_processor.save_pretrained(out)
    params = sum(p.numel() for p in model.parameters())
    print(f"wrote {out}: {params / 1e6:.2f} M parameters, vocabulary {len(tokenizer)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
