#!/usr/bin/env python3
"""Training throughput of lmms against the Python stack, side by side, on the same LLaVA-shaped
model (about 110 M parameters, random init) and the same data (example_data/shapes).

    ~/.cache/lmms/venv/bin/python bench/llava_train_bench.py [--steps 8] [--mode lora|full|both]

Three systems, each in its own process, each measured with /usr/bin/time for peak memory:
  lmms           build/bin/train_llava (dynamic padding per batch)
  lmms-finetune  transformers Trainer + peft, every sequence padded to model_max_length (1024),
                 as lmms-finetune's collators do
  torch loop     a tuned plain PyTorch loop: the same model and optimizer, dynamic padding
Same freezing everywhere: LoRA (r 8, alpha 16, dropout 0.05) on every Linear of the language
model, or the language model + projector in full; the vision tower frozen. fp32, AdamW, batch 4,
2 threads. Figures: real (non-pad) tokens per second and step time over the steps after the
first two (data loading included), peak resident memory, grad norm (must be above 0).
Writes a Markdown table on stdout (docs/performance.md keeps the latest).
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import re
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHAPES = ROOT / "example_data" / "shapes"
TOKENIZER_FROM = ROOT / "example_data" / "models" / "tiny-llava-shapes"


def make_model(out: pathlib.Path) -> None:
    """A LLaVA-1.5-shaped model: CLIP ViT (hidden 384, 6 layers, 224 px, 256 image tokens),
    GELU projector, Llama (hidden 768, 8 layers, 32000 vocabulary); random init."""
    import torch
    from transformers import (AutoProcessor, CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlavaConfig,
                              LlavaForConditionalGeneration, LlavaProcessor)
    if (out / "model.safetensors").exists():
        return
    small = AutoProcessor.from_pretrained(TOKENIZER_FROM)
    image_processor = CLIPImageProcessor(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224},
                                         do_center_crop=True, resample=3,
                                         image_mean=[0.48145466, 0.4578275, 0.40821073],
                                         image_std=[0.26862954, 0.26130258, 0.27577711])
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=small.tokenizer, patch_size=14,
                               vision_feature_select_strategy="default", num_additional_image_tokens=1,
                               chat_template=small.chat_template)
    vision = CLIPVisionConfig(hidden_size=384, intermediate_size=1536, num_hidden_layers=6, num_attention_heads=6,
                              image_size=224, patch_size=14, projection_dim=384, hidden_act="quick_gelu")
    text = LlamaConfig(vocab_size=32000, hidden_size=768, intermediate_size=2048, num_hidden_layers=8,
                       num_attention_heads=12, num_key_value_heads=12, max_position_embeddings=2048,
                       rms_norm_eps=1e-5, pad_token_id=small.tokenizer.pad_token_id, bos_token_id=1, eos_token_id=2,
                       tie_word_embeddings=False)
    config = LlavaConfig(vision_config=vision, text_config=text,
                         image_token_index=small.tokenizer.convert_tokens_to_ids("<image>"),
                         projector_hidden_act="gelu", vision_feature_layer=-2,
                         vision_feature_select_strategy="default", image_seq_length=256, tie_word_embeddings=False)
    torch.manual_seed(0)
    LlavaForConditionalGeneration(config).save_pretrained(out)
    processor.save_pretrained(out)


# ---- the Python side -----------------------------------------------------------------------
def python_run(system: str, mode: str, model_dir: pathlib.Path, steps: int, batch: int, max_length: int) -> dict:
    import torch
    from PIL import Image
    from transformers import AutoProcessor, LlavaForConditionalGeneration
    torch.set_num_threads(2)
    torch.manual_seed(0)
    processor = AutoProcessor.from_pretrained(model_dir)
    model = LlavaForConditionalGeneration.from_pretrained(model_dir, dtype=torch.float32)
    for p in model.model.vision_tower.parameters():
        p.requires_grad_(False)
    if mode == "lora":
        from peft import LoraConfig, get_peft_model
        targets = sorted(n for n, m in model.named_modules()
                         if isinstance(m, torch.nn.Linear) and "language_model" in n and "lm_head" not in n)
        model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05, target_modules=targets))
    pad = processor.tokenizer.pad_token_id
    image_id = model.config.image_token_id if hasattr(model.config, "image_token_id") else model.config.image_token_index
    samples = json.loads((SHAPES / "train.json").read_text())

    def collate(items, pad_to=None):
        texts, images = [], []
        for s in items:
            msgs = []
            for i, t in enumerate(s["conversations"]):
                if i % 2 == 0:
                    content = [{"type": "image"}] * t["value"].count("<image>") + \
                              [{"type": "text", "text": t["value"].replace("<image>", "").strip()}]
                    msgs.append({"role": "user", "content": content})
                else:
                    msgs.append({"role": "assistant", "content": [{"type": "text", "text": t["value"]}]})
            texts.append(processor.apply_chat_template(msgs, tokenize=False) + "</s>")
            images.append(Image.open(SHAPES / "images" / s["image"]).convert("RGB"))
        kw = {"padding": "max_length", "max_length": pad_to, "truncation": True} if pad_to else {"padding": True}
        processor.tokenizer.padding_side = "right"
        b = processor(text=texts, images=images, return_tensors="pt", add_special_tokens=False, **kw)
        labels = b["input_ids"].clone()
        labels[(labels == pad) | (labels == image_id)] = -100
        b["labels"] = labels
        return b

    real_tokens: list[int] = []
    step_ends: list[float] = []
    norms: list[float] = []
    order = [samples[i % len(samples)] for i in range(steps * batch)]
    if system == "lmms-finetune":
        from transformers import Trainer, TrainerCallback, TrainingArguments

        class Data(torch.utils.data.Dataset):
            def __len__(self):
                return len(order)

            def __getitem__(self, i):
                return order[i]

        def collator(items):
            b = collate(items, pad_to=max_length)
            real_tokens.append(int(b["attention_mask"].sum()))
            return b

        class Clock(TrainerCallback):
            def on_step_end(self, args, state, control, **kw):
                step_ends.append(time.perf_counter())

            def on_log(self, args, state, control, logs=None, **kw):
                if logs and "grad_norm" in logs:
                    norms.append(float(logs["grad_norm"]))

        args = TrainingArguments(output_dir="/tmp/lmms-bench-hf", per_device_train_batch_size=batch, max_steps=steps,
                                 learning_rate=2e-4, logging_steps=1, report_to=[], use_cpu=True, save_strategy="no",
                                 dataloader_num_workers=0, remove_unused_columns=False, disable_tqdm=True,
                                 lr_scheduler_type="cosine", warmup_steps=0.03, max_grad_norm=1.0)
        trainer = Trainer(model=model, args=args, train_dataset=Data(), data_collator=collator, callbacks=[Clock()])
        step_ends.append(time.perf_counter())
        trainer.train()
        step_ends = step_ends[:1] + step_ends[-steps:]
    else:  # a tuned plain loop: dynamic padding, fused AdamW step, set_to_none
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=2e-4)
        model.train()
        step_ends.append(time.perf_counter())
        for k in range(steps):
            b = collate(order[k * batch:(k + 1) * batch])
            real_tokens.append(int(b["attention_mask"].sum()))
            loss = model(**b).loss
            loss.backward()
            norms.append(float(torch.nn.utils.clip_grad_norm_(params, 1.0)))
            opt.step()
            opt.zero_grad(set_to_none=True)
            step_ends.append(time.perf_counter())
    times = [b - a for a, b in zip(step_ends, step_ends[1:])]
    return {"step_times": times, "real_tokens": real_tokens, "grad_norms": norms}


# ---- the driver ----------------------------------------------------------------------------
def timed(cmd: list[str], env=None) -> tuple[str, float]:
    """Runs cmd under /usr/bin/time; returns its stdout and peak RSS in MiB."""
    r = subprocess.run(["/usr/bin/time", "-f", "LMMS_BENCH_MAXRSS_KB=%M"] + cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.stderr.write(r.stdout[-3000:] + r.stderr[-3000:])
        raise SystemExit(f"failed: {' '.join(cmd)}")
    rss = int(re.search(r"LMMS_BENCH_MAXRSS_KB=(\d+)", r.stderr).group(1)) / 1024
    return r.stdout, rss


def summarize(name: str, times: list[float], tokens: list[int], norms: list[float], rss: float, skip: int) -> dict:
    t, n = times[skip:], tokens[skip:]
    return {"system": name, "tokens_per_s": sum(n) / sum(t), "step_s": sum(t) / len(t), "real_tokens_per_step": sum(n) / len(n),
            "rss_mib": rss, "grad_norm_min": min(norms), "grad_norm_max": max(norms)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--mode", choices=["lora", "full", "both"], default="both")
    ap.add_argument("--max-length", type=int, default=1024, help="lmms-finetune's model_max_length")
    ap.add_argument("--build", default=str(ROOT / "build"))
    ap.add_argument("--run", choices=["lmms-finetune", "torch-loop"], help=argparse.SUPPRESS)
    ap.add_argument("--model-dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.run:  # a child process: one Python system
        r = python_run(args.run, args.mode, pathlib.Path(args.model_dir), args.steps, args.batch_size, args.max_length)
        print("LMMS_BENCH_RESULT " + json.dumps(r))
        return 0

    model_dir = pathlib.Path(args.build) / "bench" / "llava-110m"
    make_model(model_dir)
    env = dict(os.environ, OMP_NUM_THREADS="2")
    skip = 2
    rows = []
    for mode in (["lora", "full"] if args.mode == "both" else [args.mode]):
        out = pathlib.Path(args.build) / "bench" / f"lmms-{mode}"
        cmd = [str(pathlib.Path(args.build) / "bin" / "train_llava"), "--model", str(model_dir), "--data", str(SHAPES / "train.json"),
               "--image-folder", str(SHAPES / "images"), "--output", str(out), "--max-steps", str(args.steps),
               "--batch-size", str(args.batch_size), "--lr", "2e-4", "--progress-every", "1000"]
        if mode == "lora":
            cmd += ["--lora", "8", "--alpha", "16"]
        _, rss = timed(cmd, env)
        log = [json.loads(l) for l in (out / "log.jsonl").read_text().splitlines() if '"loss"' in l]
        lmms = summarize("lmms", [l["tokens"] / l["tokens_per_second"] for l in log], [l["tokens"] for l in log],
                         [l["grad_norm"] for l in log], rss, skip)
        found = {"lmms": lmms}
        for system in ["lmms-finetune", "torch-loop"]:
            stdout, rss = timed([sys.executable, __file__, "--run", system, "--mode", mode, "--model-dir", str(model_dir),
                                 "--steps", str(args.steps), "--batch-size", str(args.batch_size),
                                 "--max-length", str(args.max_length)], env)
            r = json.loads(stdout.split("LMMS_BENCH_RESULT ", 1)[1])
            found[system] = summarize(system, r["step_times"], r["real_tokens"], r["grad_norms"], rss, skip)
        for s in found.values():
            s["mode"] = mode
            rows.append(s)
        print(f"# {mode}: " + ", ".join(f"{k} {v['tokens_per_s']:.0f} tok/s" for k, v in found.items()), file=sys.stderr)

    import torch
    import transformers
    print(f"model: LLaVA-1.5-shaped, {model_dir}; data: example_data/shapes/train.json; batch {args.batch_size}; "
          f"{args.steps} steps, the first {skip} not timed; fp32; 2 threads")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; torch {torch.__version__}, transformers {transformers.__version__}")
    print()
    print("| mode | system | real tokens/s | step time (s) | real tokens / step | peak RSS (MiB) | grad norm | lmms speed-up | lmms memory ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        base = next(x for x in rows if x["mode"] == r["mode"] and x["system"] == "lmms")
        speed = "" if r["system"] == "lmms" else f"{base['tokens_per_s'] / r['tokens_per_s']:.2f}x"
        mem = "" if r["system"] == "lmms" else f"{base['rss_mib'] / r['rss_mib']:.2f}x"
        print(f"| {r['mode']} | {r['system']} | {r['tokens_per_s']:.0f} | {r['step_s']:.2f} | {r['real_tokens_per_step']:.0f} | "
              f"{r['rss_mib']:.0f} | {r['grad_norm_min']:.3g}-{r['grad_norm_max']:.3g} | {speed} | {mem} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
