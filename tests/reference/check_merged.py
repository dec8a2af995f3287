#!/usr/bin/env python3
"""`lmms merge-lora` output against peft: the merged model (loaded by transformers) gives the
same logits as base + adapter (loaded by peft), and tokenizer files came along.

    python tests/reference/check_merged.py ADAPTER_DIR MERGED_DIR
"""
import json
import pathlib
import sys

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM


def main() -> int:
    adapter, merged = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    base_path = json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"]
    ids = torch.arange(3, 40).reshape(1, -1)
    with torch.no_grad():
        peft_model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32), str(adapter)).eval()
        want = peft_model(input_ids=ids).logits
        got = AutoModelForCausalLM.from_pretrained(str(merged), dtype=torch.float32).eval()(input_ids=ids).logits
    diff = (want - got).abs().max().item()
    print(f"max |logits(merged, transformers) - logits(base + adapter, peft)| = {diff:.3g}")
    failures = 0
    if diff > 1e-4:
        print("FAIL: merged logits differ")
        failures += 1
    if not (merged / "tokenizer.json").exists():
        print("FAIL: tokenizer.json was not copied")
        failures += 1
    print(f"{2 - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
