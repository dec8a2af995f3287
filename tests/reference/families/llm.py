"""Tiny decoder-only LLMs (LlamaForCausalLM, Qwen2ForCausalLM), the language models inside
the LLaVA and Qwen2-VL families, with logits, loss and the gradient of every parameter on a
padded batch.

Writes models/tiny-<name>/ (HF format) and outputs/tiny-<name>.safetensors with
input_ids, attention_mask, labels, logits, loss and grad.<parameter name>.
"""
from __future__ import annotations

import pathlib

import torch

from families.common import save_outputs

SEED = 4321


def configs(vocab: dict[str, int]):
    from transformers import LlamaConfig, Qwen2Config
    return {
        "llama": LlamaConfig(vocab_size=vocab["llama"], bos_token_id=1, eos_token_id=2, hidden_size=64, intermediate_size=160, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                             rms_norm_eps=1e-5, tie_word_embeddings=False, rope_theta=10000.0),
        "qwen2": Qwen2Config(vocab_size=vocab["qwen2"], hidden_size=64, intermediate_size=160, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                             rms_norm_eps=1e-6, tie_word_embeddings=True, rope_theta=1000000.0),
    }


def make(out: pathlib.Path) -> dict:
    import shutil
    from tokenizers import Tokenizer
    from transformers import AutoModelForCausalLM
    # each model ships with the tokenizer of its family (made by families/tokenizers.py)
    kinds = {"llama": "llama2", "qwen2": "qwen2"}
    vocab = {name: Tokenizer.from_file(str(out / "text" / kind / "tokenizer.json")).get_vocab_size(True)
             for name, kind in kinds.items()}
    summary = {}
    for name, config in configs(vocab).items():
        torch.manual_seed(SEED)
        model = AutoModelForCausalLM.from_config(config, attn_implementation="sdpa").to(torch.float32)
        with torch.no_grad():
            for p in model.parameters():  # wider than the default init, so logits spread out
                p.normal_(0.0, 0.1) if p.dim() >= 2 else p.add_(torch.randn_like(p) * 0.1)
        model.train()  # no dropout in these models; train mode as in fine-tuning
        d = out / "models" / f"tiny-{name}"
        model.save_pretrained(d)
        shutil.copy(out / "text" / kinds[name] / "tokenizer.json", d / "tokenizer.json")
        g = torch.Generator().manual_seed(SEED)
        input_ids = torch.randint(0, config.vocab_size, (2, 12), generator=g)
        attention_mask = torch.ones_like(input_ids)
        attention_mask[1, 9:] = 0  # right padding on the second sample
        labels = input_ids.clone()
        labels[:, :3] = -100
        labels[attention_mask == 0] = -100
        model.zero_grad()
        result = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
        result.loss.backward()
        tensors = {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels,
                   "logits": result.logits, "loss": result.loss.detach().reshape(())}
        for pname, p in model.named_parameters():
            tensors[f"grad.{pname}"] = p.grad
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):  # Trainer --bf16 on CPU
            tensors["logits_bf16_autocast"] = model(input_ids=input_ids, attention_mask=attention_mask).logits.float()
        save_outputs(out / "outputs" / f"tiny-{name}.safetensors", tensors, {"seed": str(SEED)})
        summary[name] = {"parameters": sum(p.numel() for p in model.parameters()), "loss": result.loss.item()}

    # transformers' learning-rate schedules, step by step, for the trainer's schedule test
    import json
    from transformers import get_constant_schedule_with_warmup, get_cosine_schedule_with_warmup, get_linear_schedule_with_warmup
    schedules = {}
    for name, make_schedule in (("cosine", get_cosine_schedule_with_warmup), ("linear", get_linear_schedule_with_warmup),
                                ("constant", get_constant_schedule_with_warmup)):
        opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        total, warmup = 37, 4
        sched = make_schedule(opt, warmup, total) if name != "constant" else make_schedule(opt, warmup)
        factors = []
        for _ in range(total):
            factors.append(opt.param_groups[0]["lr"])  # the lr the update of this step uses
            opt.step()
            sched.step()
        schedules[name] = {"total": total, "warmup": warmup, "factors": factors}
    (out / "outputs" / "schedules.json").write_text(json.dumps(schedules, indent=1))
    return summary
