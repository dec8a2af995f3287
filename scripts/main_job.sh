#!/usr/bin/env bash
# scripts/main_job.sh: the main job on the embedded default (what `scripts/demo.sh` runs after
# set-up). Fine-tunes the tiny LLaVA-1.5 shipped in example_data/models/tiny-llava-shapes (made
# by tools/gen/tiny_llava_shapes.py, random init) on the shipped shapes data, and asks it the
# held-out questions with `lmms generate` before and after: accuracy goes from ~0 to ~1.
#
#   bash scripts/main_job.sh [OUTPUT_DIR]        (default build/main-job; needs a built tree)
#
# The shipped recipe recipes/llava/1.5_full.cpp: full fine-tuning of the language model and the
# projector (vision tower frozen), 40 epochs of 96 samples, about half a minute on 2 cores.
# Nothing here needs Python.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${LMMS_BUILD:-build}"
OUT="${1:-$BUILD/main-job}"
MODEL=example_data/models/tiny-llava-shapes
DATA=example_data/shapes
for bin in "$BUILD/bin/lmms" "$BUILD/bin/llava_1.5_full"; do
  [[ -x "$bin" ]] || { echo "main_job: $bin is missing; run bash scripts/setup.sh first" >&2; exit 1; }
done
rm -rf "$OUT" && mkdir -p "$OUT"

ask() {  # ask MODEL_DIR NAME: greedy answers to the eval questions, accuracy on stderr
  "$BUILD/bin/lmms" generate --model "$1" --data "$DATA/eval.json" --image-folder "$DATA/images" \
      --max-new-tokens 8 --batch-size 8 > "$OUT/answers-$2.jsonl" 2> "$OUT/accuracy-$2.txt"
  cat "$OUT/accuracy-$2.txt"
}

echo "== before: the untrained model answers the 24 held-out questions ($DATA/eval.json)"
ask "$MODEL" before
head -n 2 "$OUT/answers-before.jsonl"
echo
echo "== fine-tuning $MODEL on $DATA/train.json (96 pictures + conversations): recipes/llava/1.5_full.cpp"
"$BUILD/bin/llava_1.5_full" --model.path="$MODEL" --data.file="$DATA/train.json" --data.eval_file="$DATA/eval.json" \
    --data.image_folder="$DATA/images" --train.output_dir="$OUT/run"
echo
echo "== after: the fine-tuned model answers the same questions"
ask "$OUT/run/model" after
head -n 2 "$OUT/answers-after.jsonl"
echo
echo "accuracy before: $(cut -d' ' -f2 "$OUT/accuracy-before.txt"), after: $(cut -d' ' -f2 "$OUT/accuracy-after.txt")"
echo "loss curve:      $OUT/run/loss.svg"
echo "recipe:          $OUT/run/resolved_recipe.json   (--config it to reproduce the run)"
echo "trained model:   $OUT/run/model   (Hugging Face format: LlavaForConditionalGeneration.from_pretrained)"
echo "answers:         $OUT/answers-before.jsonl, $OUT/answers-after.jsonl"
