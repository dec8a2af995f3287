#!/usr/bin/env bash
# Generation and scoring end to end for a family: train its shipped LoRA recipe for 60 steps, then
#   - `lmms generate` (KV cache; M-RoPE deltas for Qwen2-VL) one prompt at a time and in left-padded batches
#     of 5 gives the same answers, and transformers + peft generate() gives them too;
#   - `lmms score` on the eval file gives the trainer's final eval loss.
#   generate_check.sh SOURCE_DIR RECIPE_BIN LMMS WORK_DIR PYTHON MODEL_DIR
# (MODEL_DIR: the recipe's default model, relative to SOURCE_DIR)
set -euo pipefail
src="$1" recipe="$2" lmms="$3" work="$4" python="$5" model="$6"
cd "$src"
rm -rf "$work"
"$recipe" --train.max_steps=60 --train.output_dir="$work" --train.log_every=20 > "$work.out" 2>&1 || { cat "$work.out"; exit 1; }
data=example_data/shapes/eval.json images=example_data/shapes/images
"$lmms" generate --model "$model" --adapter "$work/adapter" --data "$data" --image-folder "$images" --max-new-tokens 8 > "$work/one.jsonl"
"$lmms" generate --model "$model" --adapter "$work/adapter" --data "$data" --image-folder "$images" --max-new-tokens 8 \
  --batch-size 5 > "$work/batched.jsonl"
head -n 3 "$work/one.jsonl"
cmp "$work/one.jsonl" "$work/batched.jsonl" || { echo "FAIL: batched answers differ"; exit 1; }
echo "batches of 5 (left-padded) give the same answers as one prompt at a time"
"$python" "$src/tests/reference/check_generate.py" "$work/one.jsonl" "$model" "$data" "$images" 8 "$work/adapter"
score=$("$lmms" score --model "$model" --adapter "$work/adapter" --data "$data" --image-folder "$images" | tail -n 1)
eval_line=$(grep eval_loss "$work/log.jsonl" | tail -n 1)
echo "lmms score: $score"
echo "trainer:    $eval_line"
awk -v s="$score" -v e="$eval_line" 'BEGIN {
  sub(/.*"mean_loss":/, "", s); sub(/[,}].*/, "", s)
  sub(/.*"eval_loss":/, "", e); sub(/[,}].*/, "", e)
  d = s - e; if (d < 0) d = -d
  printf "|score - eval_loss| = %.3g\n", d
  if (d > 1e-6) { print "FAIL: they differ"; exit 1 } }'
