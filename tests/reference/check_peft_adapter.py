#!/usr/bin/env python3
"""Loads an adapter written by lmms with `peft` on its base model (and a full model written by
lmms with `transformers`) and checks the logits equal the ones lmms computed. Multimodal
models (a config with vision_config) load as AutoModelForImageTextToText and get the
pixel_values lmms saved next to the logits; Phi-3-Vision (model_type phi3_v, remote code on the
hub) loads as the harness's re-implementation (families/phi3_v_model.py) and gets pixel_values
(images, num_crops + 1, 3, 336, 336) and image_sizes; Qwen-VL-Chat (model_type qwen, remote code)
loads as families/qwen_vl_model.py and gets pixel_values (images, 3, 448, 448) in the order of
the ids' image spans.

    python tests/reference/check_peft_adapter.py RUN_DIR [--tolerance T]
        (RUN_DIR/adapter or RUN_DIR/model, RUN_DIR/check_logits.safetensors; T: max abs logits
        difference allowed, 1e-5 by default)

A QLoRA run (RUN_DIR/resolved_recipe.json with a qlora policy) loads its base as QLoRA users
do in Python: transformers with BitsAndBytesConfig(nf4, double quantization, float32 compute),
the language model's Linear layers quantized by bitsandbytes (the vision tower, projector and
lm_head kept in float, as lmms keeps them). The logits compared are those of the float model
with each quantized weight replaced by bitsandbytes' dequantization of its NF4 codes, with the
peft adapter on top (bitsandbytes' own CPU 4-bit forward is printed too: its fallback gemm is
off by up to 3e-3 for some shapes, Phi-3-V's fused projections among them).
"""
import json
import pathlib
import sys

import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoModelForImageTextToText


def model_class(path: str):
    config = json.loads((pathlib.Path(path) / "config.json").read_text())
    if config.get("model_type") == "phi3_v":
        from families.phi3_v_model import Phi3VForCausalLM
        return Phi3VForCausalLM
    if config.get("model_type") == "qwen":
        from families.qwen_vl_model import QWenLMHeadModel
        return QWenLMHeadModel
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
                                                     r".*vision_embed_tokens", "lm_head"])


def main() -> int:
    run = pathlib.Path(sys.argv[1])
    tolerance = float(sys.argv[sys.argv.index("--tolerance") + 1]) if "--tolerance" in sys.argv else 1e-5
    check = load_file(str(run / "check_logits.safetensors"))
    inputs = {k: v for k, v in check.items()
              if k in ("input_ids", "pixel_values", "image_grid_thw", "pixel_values_videos", "video_grid_thw",
                       "aspect_ratio_ids", "aspect_ratio_mask", "cross_attention_mask")}  # the last three: Mllama
    base_dir = (json.loads((run / "adapter" / "adapter_config.json").read_text())["base_model_name_or_path"]
                if (run / "adapter").exists() else str(run / "model"))
    model_type = json.loads((pathlib.Path(base_dir) / "config.json").read_text()).get("model_type")
    if model_type == "phi3_v" and "image_sizes" in check:
        inputs["image_sizes"] = check["image_sizes"]  # pixel_values are already (images, num_crops + 1, 3, 336, 336)
    if "image_grid_thw" in inputs or "video_grid_thw" in inputs:  # Qwen2-VL: M-RoPE needs the token types
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
        kind = "peft adapter"
        if extra:
            quantized = [n for n, m in base.named_modules() if type(m).__name__ == "Linear4bit"]
            print(f"bitsandbytes quantized {len(quantized)} Linear layers of the language model")
            if not quantized:
                print("FAIL: nothing was quantized")
                return 1
            # bitsandbytes' own CPU forward (its fallback 4-bit gemm) is not exact for every shape;
            # the check is on its NF4 codes: the float model with each quantized weight replaced by
            # bitsandbytes' dequantization of it, then the adapter
            # (dequantized first: its CPU forward repacks the stored weights)
            import bitsandbytes as bnb
            dequantized = {n: bnb.functional.dequantize_4bit(m.weight.data, m.weight.quant_state).float().clone()
                           for n, m in base.named_modules() if n in quantized}
            with torch.no_grad():
                bnb_logits = PeftModel.from_pretrained(base, str(run / "adapter")).eval()(**inputs).logits
            print(f"(bitsandbytes' own 4-bit forward: max |logits - logits(lmms)| = "
                  f"{(bnb_logits - check['logits']).abs().max().item():.3g})")
            base = model_class(config["base_model_name_or_path"]).from_pretrained(config["base_model_name_or_path"],
                                                                                 dtype=torch.float32)
            modules = dict(base.named_modules())
            with torch.no_grad():
                for n, w in dequantized.items():
                    modules[n].weight.copy_(w.reshape(modules[n].weight.shape))
            kind = "peft adapter on bitsandbytes' NF4 weights"
        model = PeftModel.from_pretrained(base, str(run / "adapter"))
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
