#!/usr/bin/env bash
# scripts/demo.sh: the README's first command until the main job lands (issue: the main job
# on an embedded default). Sets everything up, then runs the newest end-to-end example:
#   1. the reference harness makes tiny random models in Hugging Face format with
#      transformers (config, safetensors weights, tokenizer, processor, chat template);
#   2. examples/train_llava fine-tunes the tiny LLaVA-1.5 on the shipped shapes pictures
#      (example_data/shapes): LoRA on the language model plus the projector in full;
#   3. Python `peft` loads the adapter on the transformers model and gets the same logits.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
VENV="${LMMS_VENV:-$HOME/.cache/lmms/venv}"
BUILD="${LMMS_BUILD:-build}"
"$VENV/bin/python" tests/reference/make_references.py --out "$BUILD/reference" 2>&1 | grep -v -i "warn\|torchvision" || true
echo
echo "== LoRA + projector fine-tune of the tiny LLaVA-1.5 on example_data/shapes (images + conversations)"
rm -rf "$BUILD/demo-llava"
"$BUILD/bin/train_llava" --model "$BUILD/reference/models/tiny-llava" \
    --data example_data/shapes/train.json --eval-data example_data/shapes/eval.json \
    --image-folder example_data/shapes/images --output "$BUILD/demo-llava" \
    --lora 8 --train-projector --epochs 3 --batch-size 8 --lr 5e-3 --check-logits | grep -v "^step [0-9]*/"
echo
echo "== the adapter in Python peft on transformers' LlavaForConditionalGeneration"
"$VENV/bin/python" tests/reference/check_peft_adapter.py "$BUILD/demo-llava" 2>&1 | grep -E "logits|passed"
echo
"$BUILD/bin/lmms" version
