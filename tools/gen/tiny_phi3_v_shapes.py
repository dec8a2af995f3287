#!/usr/bin/env python3
"""Writes example_data/models/tiny-phi3-v-shapes: a tiny Phi-3-Vision (model_type phi3_v: CLIP
tower, 2 x 2 merged HD crops with learnable separators, MLP projector, Phi-3 with longrope) of
the reference harness's tiny architecture (tests/reference/families/phi3_v.py, re-implemented in
families/phi3_v_model.py as the checkpoint is remote code), random init (seed 2026), in the hub's
layout: config.json with rope_scaling {"type": "su"}, tokenizer.json of the phi3-v kind (Phi-3's
added-token flags) learned on the shapes conversations, tokenizer_config.json with the Phi-3-V
chat template, preprocessor_config.json of Phi3VImageProcessor with num_crops 4 (a 64 x 64
picture becomes 2 x 2 crops of 336 px and a global view: 757 image tokens). The files are
committed; this only reruns when they change.

    python tools/gen/tiny_phi3_v_shapes.py [OUT_DIR]
"""
import json
import pathlib
import sys

import torch

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "reference"))

from families import common  # noqa: E402  (the reference harness's builders)
from families import tokenizers as tokenizer_kinds  # noqa: E402
from families.phi3_v import save_preprocessor_config, save_tokenizer, tiny_config  # noqa: E402
from families.phi3_v_model import Phi3VForCausalLM  # noqa: E402


def main() -> int:
    out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "example_data" / "models" / "tiny-phi3-v-shapes")
    texts = []
    for split in ("train", "eval"):
        for s in json.loads((ROOT / "example_data" / "shapes" / f"{split}.json").read_text()):
            texts += [t["value"].replace("<image>\n", "") for t in s["conversations"]]
    common.CORPUS = sorted(set(texts)) * 4 + common.CORPUS
    tok = tokenizer_kinds.phi3_v_tokenizer(vocab_size=400)
    size = tok.get_vocab_size(True)
    vocab = (size + 63) // 64 * 64  # padded as the hub pads 32011 tokens to 32064 rows
    ids = {t: tok.token_to_id(t) for t in ("<s>", "<|endoftext|>", "<|end|>")}
    config = tiny_config(vocab, ids["<s>"], ids["<|endoftext|>"], ids["<|endoftext|>"], seed=2026)
    torch.manual_seed(2026)
    model = Phi3VForCausalLM(config).eval()
    with torch.no_grad():  # the separators start random (zeros in Microsoft's init, before training)
        model.model.vision_embed_tokens.glb_GN.normal_(0.0, config.initializer_range)
        model.model.vision_embed_tokens.sub_GN.normal_(0.0, config.initializer_range)
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.generation_config.eos_token_id = ids["<|endoftext|>"]
    model.generation_config.bos_token_id = ids["<s>"]
    model.save_pretrained(out)
    save_tokenizer(tok, out)
    save_preprocessor_config(out, 4)
    params = sum(p.numel() for p in model.parameters())
    print(f"wrote {out}: {params / 1e6:.2f} M parameters, vocabulary {size} (embedding rows {vocab})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
