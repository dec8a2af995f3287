#!/usr/bin/env bash
# Trains with the given trainer flags and checks that the model really learns: the mean loss
# of the last 5 steps is below that of the first 5, and every step has a grad norm above 0.
#   loss_falls.sh WORK_DIR TRAINER [trainer flags...]
set -euo pipefail
work="$1"; shift
trainer="$1"; shift
rm -rf "$work"
"$trainer" "$@" --output "$work" > "$work.out" 2>&1 || { cat "$work.out"; exit 1; }
grep -E "training on|loss .* ->" "$work.out"
awk -F'"loss":' '{ split($2, a, ","); loss[NR] = a[1] }
     /"grad_norm":0[,}]/ { zero++ }
     END { n = NR; if (n < 10) { print "FAIL: only " n " steps"; exit 1 }
           for (i = 1; i <= 5; i++) { first += loss[i]; last += loss[n - 5 + i] }
           printf "first 5 steps mean loss %.4f, last 5 %.4f\n", first / 5, last / 5
           if (zero > 0) { print "FAIL: " zero " steps with grad norm 0"; exit 1 }
           if (last >= first) { print "FAIL: the loss did not fall"; exit 1 }
           print "1 passed, 0 failed" }' "$work/log.jsonl"
