#!/usr/bin/env python3
"""Loads an adapter written by lmms with `peft` on its base model (and a full model written by
lmms with `transformers`) and checks the logits equal the ones lmms computed. Multimodal
models (a config with vision_config) load as AutoModelForImageTextToText and get the
pixel_values lmms saved next to the logits.

    python tests/reference/check_peft_adapter.py RUN_DIR [--tolerance T]
        (RUN_DIR/adapter or RUN_DIR/model, RUN_DIR/check_logits.safetensors; T: max abs logits
        difference allowed, 1e-5 by default)

A QLoRA run (RUN_DIR/resolved_recipe.json with a qlora policy) loads its base as QLoRA users
do in Python: transformers with BitsAndBytesConfig(nf4, double quantization, float32 compute),
the language model's Linear layers quantized by bitsandbytes (the vision tower, projector and
lm_head kept in float, as lmms keeps them), then the peft adapter on top.
"""
import json
import pathlib
import sys

import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoModelForImageTextToText


def model_class(path: str):
    config = json.loads((pathlib.Path(path) / "config.json").read_text())
    return AutoModelForImageTextToText if "vision_config" in config else AutoModelForCausalLM


def is_qlora(run: pathlib.Path) -> bool:
    recipe = run / "resolved_recipe.json"
    return recipe.exists() and "qlora" in json.loads(recipe.read_text()).get("policies", {}).values()


def nf4_config():
    from transformers import BitsAndBytesConfig
    # patterns match module names from the start (as regexes) or as suffixes
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=torch.float32,
                              llm_int8_skip_modules=[r".*vision_tower", r".*vision_model", r".*multi_modal_projector", r".*visual",
                                                     "lm_head"])


def main() -> int:
    run = pathlib.Path(sys.argv[1])
    tolerance = float(sys.argv[sys.argv.index("--tolerance") + 1]) if "--tolerance" in sys.argv else 1e-5
    check = load_file(str(run / "check_logits.safetensors"))
    inputs = {k: v for k, v in check.items()
              if k in ("input_ids", "pixel_values", "image_grid_thw", "pixel_values_videos", "video_grid_thw",
                       "aspect_ratio_ids", "aspect_ratio_mask", "cross_attention_mask")}  # the last three: Mllama
    if "image_grid_thw" in inputs or "video_grid_thw" in inputs:  # Qwen2-VL: M-RoPE needs the token types
        base_dir = (json.loads((run / "adapter" / "adapter_config.json").read_text())["base_model_name_or_path"]
                    if (run / "adapter").exists() else str(run / "model"))
        config = json.loads((pathlib.Path(base_dir) / "config.json").read_text())
        inputs["mm_token_type_ids"] = ((inputs["input_ids"] == config["image_token_id"]).long()
                                       + 2 * (inputs["input_ids"] == config["video_token_id"]).long())
    if "image_tiles" in check:  # LLaVA-NeXT / OneVision: lmms's tiles back to back -> (images, max tiles, 3, S, S)
        tiles = [int(t) for t in check["image_tiles"]]
        parts = list(torch.split(check["pixel_values"], tiles))
        inputs["pixel_values"] = torch.stack([torch.cat([p, p.new_zeros(max(tiles) - len(p), *p.shape[1:])]) for p in parts])
        inputs["image_sizes"] = check["image_sizes"]
        if max(tiles) == 1 and len(tiles) > 1:  # OneVision's multi-image sample: one tile per image
            inputs["batch_num_images"] = torch.tensor([len(tiles)])
    if (run / "adapter").exists():
        from peft import PeftModel
        config = json.loads((run / "adapter" / "adapter_config.json").read_text())
        extra = {"quantization_config": nf4_config(), "device_map": "cpu"} if is_qlora(run) else {}
        base = model_class(config["base_model_name_or_path"]).from_pretrained(config["base_model_name_or_path"],
                                                                             dtype=torch.float32, **extra)
        model = PeftModel.from_pretrained(base, str(run / "adapter"))
        kind = "peft adapter on a bitsandbytes NF4 base" if extra else "peft adapter"
        if extra:
            quantized = sum(type(m).__name__ == "Linear4bit" for m in base.modules())
            print(f"bitsandbytes quantized {quantized} Linear layers of the language model")
            if quantized == 0:
                print("FAIL: nothing was quantized")
                return 1
        # the adapter must really change the model
        with torch.no_grad(), model.disable_adapter():
            base_logits = model(**inputs).logits
    else:
        model = model_class(str(run / "model")).from_pretrained(str(run / "model"), dtype=torch.float32)
        kind = "full model"
        base_logits = None
    model.eval()
    with torch.no_grad():
        logits = model(**inputs).logits
    diff = (logits - check["logits"]).abs().max().item()
    print(f"{kind}: max |logits(python) - logits(lmms)| = {diff:.3g}")
    failures = 0
    if diff > tolerance:
        print("FAIL: logits differ")
        failures += 1
    if base_logits is not None:
        change = (base_logits - check["logits"]).abs().max().item()
        print(f"the adapter changes the logits by up to {change:.3g}")
        if change < 1e-3:
            print("FAIL: the adapter has no effect")
            failures += 1
    checks = 2 if base_logits is not None else 1
    print(f"{checks - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
