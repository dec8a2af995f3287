#!/usr/bin/env bash
# scripts/demo.sh: the README's first command until the main job lands (issue: the main job
# on an embedded default). Sets everything up, then runs the newest end-to-end example:
#   1. the reference harness makes a tiny random LLaVA-1.5 in Hugging Face format with
#      transformers (config, safetensors weights, tokenizer, processor, chat template),
#      plus a sharded copy;
#   2. lmms reads both with its own safetensors and config.json readers and loads every
#      tensor into libtorch (examples/inspect_checkpoint.cpp);
#   3. `lmms inspect` lists the shards as one checkpoint;
#   4. a LoRA fine-tune of a tiny Llama with the training engine, whose adapter Python `peft`
#      then loads with the same logits.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
VENV="${LMMS_VENV:-$HOME/.cache/lmms/venv}"
BUILD="${LMMS_BUILD:-build}"
"$VENV/bin/python" tests/reference/make_references.py --out "$BUILD/reference" 2>&1 | grep -v -i "warn\|torchvision" || true
echo
echo "== examples/inspect_checkpoint on the tiny LLaVA made by transformers"
"$BUILD/bin/inspect_checkpoint" "$BUILD/reference/models/tiny-llava"
echo
echo "== the same weights saved in shards: lmms inspect $BUILD/reference/models/tiny-llava-sharded"
"$BUILD/bin/lmms" inspect "$BUILD/reference/models/tiny-llava-sharded" | tail -n 4
echo
echo "== a LoRA fine-tune of the tiny Llama on tests/data/text_chat.json, saved as a PEFT adapter"
rm -rf "$BUILD/demo-lora"
"$BUILD/bin/train_text_lm" --model "$BUILD/reference/models/tiny-llama" --chat llava \
    --data tests/data/text_chat.json --output "$BUILD/demo-lora" --lora 8 --epochs 3 --check-logits | tail -n 4
"$VENV/bin/python" tests/reference/check_peft_adapter.py "$BUILD/demo-lora" 2>&1 | grep -E "logits|passed"
echo
"$BUILD/bin/lmms" version
