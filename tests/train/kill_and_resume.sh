#!/usr/bin/env bash
# Exact resume: a run killed with SIGKILL at a random step and resumed writes the same
# per-step loss, lr and grad norm as an uninterrupted run, and never leaves a half-written
# checkpoint-* directory.
#   kill_and_resume.sh TRAINER MODEL_DIR DATA WORK_DIR
set -euo pipefail
trainer="$1" model="$2" data="$3" work="$4"
rm -rf "$work" && mkdir -p "$work"
args=(--model "$model" --chat llava --data "$data" --eval-data "$data" --eval-steps 10 --lora 4 --lora-dropout 0.1 --epochs 20 --batch-size 4
      --grad-accum 2 --save-steps 1 --seed 7)
fields() { sed -E 's/.*"epoch":([^,]*).*"grad_norm":([^,]*).*"loss":([^,]*).*"lr":([^,]*).*"step":([^,}]*).*/\5 \1 \3 \4 \2/' "$1"; }

"$trainer" "${args[@]}" --output "$work/uninterrupted" > "$work/uninterrupted.out"

kill_at=$(( (RANDOM % 60) + 5 ))
"$trainer" "${args[@]}" --output "$work/killed" > "$work/killed.out" 2>&1 &
pid=$!
while [[ ! -f "$work/killed/log.jsonl" ]] || (( $(wc -l < "$work/killed/log.jsonl") < kill_at )); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.005
done
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
lines=$(wc -l < "$work/killed/log.jsonl")
echo "killed after $lines logged steps (target $kill_at)"
for d in "$work"/killed/checkpoint-*; do
  for f in trainable.safetensors optimizer.safetensors trainer_state.json; do
    [[ -f "$d/$f" ]] || { echo "FAIL: $d lacks $f (half-written checkpoint)"; exit 1; }
  done
done
"$trainer" "${args[@]}" --output "$work/killed" --resume > "$work/resumed.out"
grep -m1 "resuming from" "$work/resumed.out" || echo "(the run had finished before the kill)"
if diff <(fields "$work/uninterrupted/log.jsonl") <(fields "$work/killed/log.jsonl") > "$work/diff.txt"; then
  echo "identical: $(wc -l < "$work/uninterrupted/log.jsonl") log lines (step, epoch, loss, lr, grad_norm, eval_loss)"
  echo "1 passed, 0 failed"
else
  echo "FAIL: the resumed run differs from the uninterrupted one:"; head -5 "$work/diff.txt"
  echo "0 passed, 1 failed"; exit 1
fi
