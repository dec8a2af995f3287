#!/usr/bin/env bash
# Exact resume: a run killed with SIGKILL at a random step and resumed writes the same
# per-step loss, lr and grad norm as an uninterrupted run, and never leaves a half-written
# checkpoint-* directory.
#   kill_and_resume.sh TRAINER MODEL_DIR DATA WORK_DIR
#
# Up to 3 attempts, each a fresh pair of runs compared exactly. About one process in 30 on a
# loaded 2-core machine computes a step with different rounding (loss apart in the 7th digit),
# with no kill or resume involved: seen between two uninterrupted runs, with one intra-op thread
# and without the prefetch thread too (docs/training.md, "Reproducibility"). A resume bug shows on
# every attempt; that rounding on one in hundreds.
set -euo pipefail
trainer="$1" model="$2" data="$3" work="$4"
args=(--model "$model" --chat llava --data "$data" --eval-data "$data" --eval-steps 10 --lora 4 --lora-dropout 0.1 --epochs 20 --batch-size 4
      --grad-accum 2 --save-steps 1 --seed 7)
fields() { sed -E 's/.*"epoch":([^,]*).*"grad_norm":([^,]*).*"loss":([^,]*).*"lr":([^,]*).*"step":([^,}]*).*/\5 \1 \3 \4 \2/' "$1"; }

attempt() {
  rm -rf "$work" && mkdir -p "$work"
  # (set -e does not reach inside `if attempt`: each command that must succeed says so)
  "$trainer" "${args[@]}" --output "$work/uninterrupted" > "$work/uninterrupted.out" ||
    { echo "FAIL: the uninterrupted run failed"; exit 1; }

  kill_at=$(( (RANDOM % 60) + 5 ))
  "$trainer" "${args[@]}" --output "$work/killed" > "$work/killed.out" 2>&1 &
  pid=$!
  while [[ ! -f "$work/killed/log.jsonl" ]] || (( $(wc -l < "$work/killed/log.jsonl") < kill_at )); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.005
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  lines=$(wc -l < "$work/killed/log.jsonl" 2>/dev/null || echo 0)
  echo "killed after $lines logged steps (target $kill_at)"
  for d in "$work"/killed/checkpoint-*; do
    for f in trainable.safetensors optimizer.safetensors trainer_state.json; do
      [[ -f "$d/$f" ]] || { echo "FAIL: $d lacks $f (half-written checkpoint)"; exit 1; }
    done
  done
  "$trainer" "${args[@]}" --output "$work/killed" --resume > "$work/resumed.out" ||
    { echo "FAIL: the resumed run failed"; exit 1; }
  grep -m1 "resuming from" "$work/resumed.out" || echo "(the run had finished before the kill)"
  if diff <(fields "$work/uninterrupted/log.jsonl") <(fields "$work/killed/log.jsonl") > "$work/diff.txt"; then
    echo "identical: $(wc -l < "$work/uninterrupted/log.jsonl") log lines (step, epoch, loss, lr, grad_norm, eval_loss)"
    return 0
  fi
  echo "the resumed run differs from the uninterrupted one (< uninterrupted, > killed and resumed):"
  head -5 "$work/diff.txt"
  return 1
}

for try in 1 2 3; do
  if attempt; then echo "1 passed, 0 failed"; exit 0; fi
  echo "(attempt $try of 3 differed)"
done
echo "FAIL: 3 attempts, each resumed run differs from its uninterrupted run"
echo "0 passed, 1 failed"
exit 1
