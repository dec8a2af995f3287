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


def configs():
    from transformers import LlamaConfig, Qwen2Config
    return {
        "llama": LlamaConfig(vocab_size=320, hidden_size=64, intermediate_size=160, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                             rms_norm_eps=1e-5, tie_word_embeddings=False, rope_theta=10000.0),
        "qwen2": Qwen2Config(vocab_size=320, hidden_size=64, intermediate_size=160, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                             rms_norm_eps=1e-6, tie_word_embeddings=True, rope_theta=1000000.0),
    }


def make(out: pathlib.Path) -> dict:
    from transformers import AutoModelForCausalLM
    summary = {}
    for name, config in configs().items():
        torch.manual_seed(SEED)
        model = AutoModelForCausalLM.from_config(config, attn_implementation="sdpa").to(torch.float32)
        with torch.no_grad():
            for p in model.parameters():  # wider than the default init, so logits spread out
                p.normal_(0.0, 0.1) if p.dim() >= 2 else p.add_(torch.randn_like(p) * 0.1)
        model.train()  # no dropout in these models; train mode as in fine-tuning
        d = out / "models" / f"tiny-{name}"
        model.save_pretrained(d)
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
        save_outputs(out / "outputs" / f"tiny-{name}.safetensors", tensors, {"seed": str(SEED)})
        summary[name] = {"parameters": sum(p.numel() for p in model.parameters()), "loss": result.loss.item()}
    return summary
