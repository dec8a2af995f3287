#!/usr/bin/env python3
"""Writes example_data/models/tiny-qwen-vl-shapes: a tiny Qwen-VL-Chat (model_type qwen: the
VisionTransformer with its cross-attention resampler to 256 queries, Qwen's LLM with fused c_attn)
of the reference harness's tiny architecture (tests/reference/families/qwen_vl.py, re-implemented
in families/qwen_vl_model.py as the checkpoint is remote code), random init (seed 2026), in the
hub's layout: config.json with "visual", model.safetensors, generation_config.json, qwen.tiktoken
(a Qwen-VL tiktoken vocabulary: the 256 single bytes first, then the merges of a Qwen2-style BPE
learned on the shapes conversations; Qwen-VL's special tokens follow the ranks) and
tokenizer_config.json (QWenTokenizer). Images reach the model as paths inside <img>...</img>
(byte ids), so the vocabulary needs no image tokens beyond the specials. The files are committed;
this only reruns when they change.

    python tools/gen/tiny_qwen_vl_shapes.py [OUT_DIR]
"""
import base64
import json
import pathlib
import sys

import torch

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "reference"))

from families import tokenizers as tokenizer_kinds  # noqa: E402  (the reference harness's builders)
from families.qwen_vl import save_tokenizer, set_generation_config, tiny_config, vocab_rows  # noqa: E402
from families.qwen_vl_model import QWenLMHeadModel, load_tiktoken  # noqa: E402


def main() -> int:
    out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "example_data" / "models" / "tiny-qwen-vl-shapes")
    texts = []
    for split in ("train", "eval"):
        for s in json.loads((ROOT / "example_data" / "shapes" / f"{split}.json").read_text()):
            texts += [t["value"].replace("<image>\n", "").replace("<image>", "") for t in s["conversations"]]
    texts = sorted(set(texts)) * 8 + ["system user assistant Picture 1: 2: 3:"] * 8
    tokenizer_kinds.train_text = lambda seed=7: texts
    bpe = tokenizer_kinds.byte_level_tokenizer(tokenizer_kinds.QWEN2_PATTERN, tokenizer_kinds.QWEN2_SPECIAL, 700,
                                               ignore_merges=False, nfc=True, bos=None, trim_offsets=False)
    _, ranks = tokenizer_kinds.qwen_vl_tiktoken(bpe)
    out.mkdir(parents=True, exist_ok=True)
    tiktoken_file = out / "qwen.tiktoken"
    tiktoken_file.write_text("".join(f"{base64.b64encode(t).decode()} {r}\n" for t, r in ranks.items()))
    enc = load_tiktoken(tiktoken_file)
    config = tiny_config(vocab_rows(enc), enc.encode_single_token("<img>"))
    torch.manual_seed(2026)
    model = QWenLMHeadModel(config).eval()
    set_generation_config(model, enc)
    model.save_pretrained(out)
    save_tokenizer(tiktoken_file, out)
    params = sum(p.numel() for p in model.parameters())
    print(f"wrote {out}: {params / 1e6:.2f} M parameters, vocabulary {enc.n_vocab} ({len(ranks)} ranks + "
          f"{enc.n_vocab - len(ranks)} specials; embedding rows {config.vocab_size}), <img> = {config.visual['image_start_id']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
