#!/usr/bin/env python3
"""Checks that safetensors files written by lmms (tests/unit/io/safetensors_torch_test.cpp
writes them into DIR) load in Python `safetensors` with tensors identical, byte for byte, to
the ones Python computes itself, single files and sharded directories alike.

    python tests/reference/check_lmms_safetensors.py build/tests/scratch/written_by_lmms
"""
import json
import pathlib
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from make_references import pattern_tensors  # noqa: E402


def same_bytes(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    return a.contiguous().view(-1).view(torch.uint8).equal(b.contiguous().view(-1).view(torch.uint8)) \
        if a.numel() else True


def main() -> int:
    d = pathlib.Path(sys.argv[1])
    expected = pattern_tensors()
    failures = []

    single = load_file(str(d / "single.safetensors"))
    with safe_open(str(d / "single.safetensors"), "pt") as f:
        meta = f.metadata()
    if meta.get("format") != "pt" or meta.get("writer") != "lmms":
        failures.append(f"single.safetensors metadata is {meta}")

    index = json.loads((d / "sharded" / "model.safetensors.index.json").read_text())
    sharded: dict[str, torch.Tensor] = {}
    for shard in sorted(set(index["weight_map"].values())):
        sharded.update(load_file(str(d / "sharded" / shard)))
    if index["metadata"]["total_size"] != sum(t.numel() * t.element_size() for t in expected.values()):
        failures.append("index total_size does not match the tensors")

    for label, got in (("single", single), ("sharded", sharded)):
        if set(got) != set(expected):
            failures.append(f"{label}: names differ: {sorted(set(got) ^ set(expected))}")
            continue
        for name, want in expected.items():
            if not same_bytes(got[name], want):
                failures.append(f"{label}: tensor {name} differs")

    t = load_file(str(d / "transposed.safetensors"))["t"]
    if not torch.equal(t, torch.arange(12, dtype=torch.float32).reshape(3, 4).t()):
        failures.append("transposed.safetensors: wrong values")

    for f in failures:
        print("FAIL:", f)
    print(f"{len(expected) * 2 + 1 - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
