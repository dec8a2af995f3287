#!/usr/bin/env bash
# fp16 with dynamic loss scaling, as transformers' Trainer (torch.amp.GradScaler) does it: started
# at a loss scale so large that the fp16 gradients overflow, the first steps are skipped (logged
# "skipped", the scale halved each time, the weights untouched), then training goes on with a
# scale that fits and the loss falls.
#   fp16_loss_scale.sh WORK_DIR TRAINER [trainer flags...]
set -euo pipefail
work="$1"
"$(dirname "$0")/loss_falls.sh" "$@" --precision fp16 --loss-scale 1e9
awk -F'"loss_scale":' '{ split($2, a, /[,}]/); scale[NR] = a[1] + 0; skipped[NR] = ($0 ~ /"skipped":true/) }
     END { n = NR; skips = 0
           for (i = 1; i <= n; i++) {
             if (skipped[i]) skips++
             if (i > 1 && skipped[i - 1] && scale[i] != scale[i - 1] / 2) { print "FAIL: step " i " scale " scale[i] " after a skip at " scale[i - 1]; exit 1 }
             if (i > 1 && !skipped[i - 1] && scale[i] != scale[i - 1]) { print "FAIL: the scale changed at step " i " without a skip"; exit 1 }
           }
           printf "%d of %d steps skipped (scale 1e9 -> %g), the rest trained\n", skips, n, scale[n]
           if (skips < 1) { print "FAIL: no step was skipped at a scale of 1e9"; exit 1 }
           if (skipped[n]) { print "FAIL: still skipping at the end"; exit 1 }
           print "1 passed, 0 failed" }' "$work/log.jsonl"
