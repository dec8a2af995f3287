#!/usr/bin/env python3
"""The reference harness: tiny random models of the exact Hugging Face architectures, saved
in HF format with tokenizer and processor files, and the outputs `transformers` computes on
them (token ids, pixel values, logits, loss, gradients), saved as safetensors.

    python tests/reference/make_references.py --out build/reference [--family llava]

Writes, under --out:
  safetensors/written_by_python.safetensors   deterministic tensors of every dtype
  models/<name>/                               tiny HF model directories (config, weights,
                                               tokenizer, processor, chat template)
  models/<name>-sharded/                       the same weights in several shards + index
  outputs/<name>.safetensors                   reference inputs and outputs for the C++ tests
  manifest.json                                what was made, with versions and seeds

Deterministic: fixed seeds, CPU, float32. A stamp file makes a second run with the same
script and library versions return at once. Nothing is downloaded: tokenizers are trained
here with the `tokenizers` library to the specification of each family's real tokenizer.
Each family lives in tests/reference/families/<family>.py and exposes make(out_dir).
"""
from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import pathlib
import sys

import torch

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

FAMILIES = ["tokenizers", "chat", "llm", "nf4", "images", "videos", "llava", "qwen2_vl", "llava_next", "mllama", "phi3_v",
            "qwen_vl"]  # in dependency order; each issue that adds a family adds it here
# made only on request (--family): none at present
PENDING: list[str] = []


def pattern_tensors() -> dict[str, torch.Tensor]:
    """Must stay identical to pattern_tensors() in tests/unit/io/safetensors_torch_test.cpp."""
    out: dict[str, torch.Tensor] = {}
    types = [("f64", torch.float64), ("f32", torch.float32), ("f16", torch.float16),
             ("bf16", torch.bfloat16), ("i64", torch.int64), ("i32", torch.int32),
             ("i16", torch.int16), ("i8", torch.int8), ("u8", torch.uint8), ("bool", torch.bool)]
    for name, dtype in types:
        base = (torch.arange(60, dtype=torch.float64) - 30.0) * 0.37
        if dtype == torch.bool:
            t = torch.arange(60, dtype=torch.int64).remainder(3) == 0
        elif dtype.is_floating_point:
            t = base.to(dtype)
        else:
            t = (torch.arange(60, dtype=torch.int64) * 7 - 100).to(dtype)
        out[f"pattern.{name}"] = t.reshape(3, 4, 5)
    special = torch.tensor([0.0, -0.0, 1.0 / 3.0, 65504.0, 1e-8], dtype=torch.float64).to(torch.float32)
    out["special.f32"] = special
    out["special.bf16"] = special.to(torch.bfloat16)
    out["scalar"] = torch.tensor(2.5, dtype=torch.float64).to(torch.float32).reshape(())
    out["empty"] = torch.zeros(0, 3, dtype=torch.float32)
    return out


def stamp_of(families: list[str]) -> str:
    from importlib.metadata import version
    h = hashlib.sha256()
    for p in sorted(HERE.rglob("*.py")) + sorted(HERE.rglob("*.jinja")):
        h.update(p.read_bytes())
    # every oracle package whose behaviour the references capture
    pinned = ["torch", "transformers", "tokenizers", "safetensors", "pillow", "peft", "bitsandbytes", "tiktoken", "numpy"]
    h.update((" ".join(f"{p}={version(p)}" for p in pinned) + f" {families}").encode())
    return h.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, type=pathlib.Path)
    parser.add_argument("--family", action="append", choices=FAMILIES + PENDING,
                        help="make only these families (default: all)")
    parser.add_argument("--force", action="store_true", help="remake even if the stamp matches")
    args = parser.parse_args()
    families = args.family or FAMILIES
    out: pathlib.Path = args.out
    stamp_file = out / "stamp.txt"
    stamp = stamp_of(families)
    if not args.force and stamp_file.exists() and stamp_file.read_text() == stamp:
        print(f"reference files in {out} are up to date")
        return 0

    torch.set_num_threads(max(1, torch.get_num_threads()))
    from safetensors.torch import save_file

    (out / "safetensors").mkdir(parents=True, exist_ok=True)
    save_file(pattern_tensors(), str(out / "safetensors" / "written_by_python.safetensors"),
              metadata={"format": "pt", "writer": "python"})

    manifest: dict = {"torch": torch.__version__, "families": {}}
    for family in families:
        module = importlib.import_module(f"families.{family}")
        manifest["families"][family] = module.make(out)
        print(f"made reference files for {family}")

    import transformers
    manifest["transformers"] = transformers.__version__
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    stamp_file.write_text(stamp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
