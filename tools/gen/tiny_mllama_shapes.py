#!/usr/bin/env python3
"""Writes example_data/models/tiny-llama-3.2-vision-shapes: a tiny Llama-3.2-Vision
(MllamaForConditionalGeneration: tiled vision encoder with local and gated global layers, projector,
Llama-3 with llama3 rope scaling and two gated cross-attention layers) of about 1 M parameters,
random init (seed 2026), in Hugging Face format, with a Llama-3-style byte-level BPE tokenizer
(Llama-3's split regex and special tokens, <|image|> among them) learned on the shapes
conversations and MllamaImageProcessorPil with 56 px tiles (a 64 x 64 picture becomes 2 x 2
tiles). The files are committed; this only reruns when they change.

    python tools/gen/tiny_mllama_shapes.py [OUT_DIR]
"""
import json
import pathlib
import sys

import torch

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "reference"))

from families import tokenizers as tokenizer_kinds  # noqa: E402  (the reference harness's builders)

SPECIAL = tokenizer_kinds.LLAMA3_SPECIAL + ["<|finetune_right_pad_id|>"]


def main() -> int:
    from transformers import (MllamaConfig, MllamaForConditionalGeneration, MllamaImageProcessorPil,
                              PreTrainedTokenizerFast)

    out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "example_data" / "models" / "tiny-llama-3.2-vision-shapes")
    texts = []
    for split in ("train", "eval"):
        for s in json.loads((ROOT / "example_data" / "shapes" / f"{split}.json").read_text()):
            texts += [t["value"].replace("<image>\n", "") for t in s["conversations"]]
    texts = sorted(set(texts)) * 8 + ["system user assistant Cutting Knowledge Date: December 2023 Today Date: 26 Jul 2024"] * 8
    tokenizer_kinds.train_text = lambda seed=7: texts
    tok = tokenizer_kinds.byte_level_tokenizer(tokenizer_kinds.LLAMA3_PATTERN, SPECIAL, 700, ignore_merges=True,
                                               nfc=False, bos="<|begin_of_text|>", trim_offsets=False)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>",
                                        pad_token="<|finetune_right_pad_id|>", model_max_length=512, padding_side="right")
    image_processor = MllamaImageProcessorPil(size={"height": 56, "width": 56}, max_image_tiles=4)

    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL}
    vocab = len(tokenizer)
    vision = dict(hidden_size=64, hidden_act="gelu", num_hidden_layers=3, num_global_layers=2, attention_heads=4,
                  intermediate_size=128, vision_output_dim=64 * 3, image_size=56, patch_size=14, norm_eps=1e-5,
                  max_num_tiles=4, intermediate_layers_indices=[0, 2])
    text = dict(vocab_size=vocab, hidden_size=128, intermediate_size=256, num_hidden_layers=5, num_attention_heads=4,
                num_key_value_heads=2, rms_norm_eps=1e-5, max_position_embeddings=512, cross_attention_layers=[1, 3],
                rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                                 "high_freq_factor": 4.0, "original_max_position_embeddings": 128},
                bos_token_id=ids["<|begin_of_text|>"], eos_token_id=ids["<|eot_id|>"],
                pad_token_id=ids["<|finetune_right_pad_id|>"], tie_word_embeddings=False)
    config = MllamaConfig(vision_config=vision, text_config=text, image_token_index=ids["<|image|>"])
    torch.manual_seed(2026)
    model = MllamaForConditionalGeneration(config).eval()
    with torch.no_grad():  # open the gates (zero at init, as Meta's before training) so images matter from step one
        for name, p in model.named_parameters():
            if "gate" in name and p.dim() == 1:
                p.fill_(0.5)
    model.generation_config.pad_token_id = ids["<|finetune_right_pad_id|>"]
    model.generation_config.eos_token_id = ids["<|eot_id|>"]
    model.generation_config.bos_token_id = ids["<|begin_of_text|>"]
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    image_processor.save_pretrained(out)
    params = sum(p.numel() for p in model.parameters())
    print(f"wrote {out}: {params / 1e6:.2f} M parameters, vocabulary {vocab}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
