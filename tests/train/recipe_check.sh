#!/usr/bin/env bash
# Runs a shipped recipe for a few steps on the shipped data (from the repository root, where
# its default paths point), then checks: the loss falls, every grad norm is above 0, the
# resolved recipe was written, and Python loads the output (peft adapter or transformers
# model) with the logits lmms computed (PYTHON "none": no such check).
#   recipe_check.sh SOURCE_DIR RECIPE_BIN WORK_DIR PYTHON [TOLERANCE [EXTRA RECIPE FLAGS...]]
set -euo pipefail
src="$1" bin="$2" work="$3" python="$4" tolerance="${5:-1e-5}"
shift $(( $# < 5 ? $# : 5 ))
cd "$src"
rm -rf "$work"
"$bin" --train.max_steps=12 --train.output_dir="$work" --train.check_logits=true --train.log_every=4 "$@" > "$work.out" 2>&1 \
  || { cat "$work.out"; exit 1; }
grep -E "^lmms|training on|loss .* ->" "$work.out"
test -s "$work/resolved_recipe.json" || { echo "FAIL: no resolved_recipe.json"; exit 1; }
awk -F'"loss":' '/"loss"/ { split($2, a, ","); loss[++n] = a[1] }
     /"grad_norm":0[,}]/ { zero++ }
     END { for (i = 1; i <= 3; i++) { first += loss[i]; last += loss[n - 3 + i] }
           printf "first 3 steps mean loss %.4f, last 3 %.4f\n", first / 3, last / 3
           if (zero > 0) { print "FAIL: " zero " steps with grad norm 0"; exit 1 }
           if (last >= first) { print "FAIL: the loss did not fall"; exit 1 } }' "$work/log.jsonl"
if [ "$python" = none ]; then  # a model transformers has no class for (examples/custom_model)
  echo "no transformers class for this model: its output is not loaded in Python"
else
  "$python" "$src/tests/reference/check_peft_adapter.py" "$work" --tolerance "$tolerance"
fi
