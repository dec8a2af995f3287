#!/usr/bin/env python3
"""`lmms merge-lora` output against peft: the merged model (loaded by transformers) gives the
same logits as base + adapter (loaded by peft), and tokenizer files came along. For a
multimodal base (a config with vision_config) the input includes an image.

    python tests/reference/check_merged.py ADAPTER_DIR MERGED_DIR
"""
import json
import pathlib
import sys

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoModelForImageTextToText, AutoProcessor


def inputs_for(base_path: str) -> tuple[type, dict]:
    config = json.loads((pathlib.Path(base_path) / "config.json").read_text())
    if "vision_config" not in config:
        return AutoModelForCausalLM, {"input_ids": torch.arange(3, 40).reshape(1, -1)}
    from PIL import Image
    processor = AutoProcessor.from_pretrained(base_path)
    image = Image.new("RGB", (60, 48), (200, 40, 40))
    text = processor.apply_chat_template([{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Colour?"}]}],
                                         add_generation_prompt=True, tokenize=False)
    batch = processor(text=[text], images=[image], return_tensors="pt")
    return AutoModelForImageTextToText, {"input_ids": batch["input_ids"], "pixel_values": batch["pixel_values"]}


def main() -> int:
    adapter, merged = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    base_path = json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"]
    cls, inputs = inputs_for(base_path)
    with torch.no_grad():
        peft_model = PeftModel.from_pretrained(cls.from_pretrained(base_path, dtype=torch.float32), str(adapter)).eval()
        want = peft_model(**inputs).logits
        got = cls.from_pretrained(str(merged), dtype=torch.float32).eval()(**inputs).logits
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
