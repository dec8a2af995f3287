#!/usr/bin/env bash
# `lmms score` on a trained model must give the trainer's last eval loss on the same file.
#   score_matches_eval.sh LMMS RUN_DIR DATA_FILE IMAGE_FOLDER
set -euo pipefail
lmms="$1" run="$2" data="$3" images="$4"
score=$("$lmms" score --model "$run/model" --data "$data" --image-folder "$images" | tail -n 1)
eval_line=$(grep eval_loss "$run/log.jsonl" | tail -n 1)
echo "lmms score: $score"
echo "trainer:    $eval_line"
awk -v s="$score" -v e="$eval_line" 'BEGIN {
  sub(/.*"mean_loss":/, "", s); sub(/[,}].*/, "", s)
  sub(/.*"eval_loss":/, "", e); sub(/[,}].*/, "", e)
  d = s - e; if (d < 0) d = -d
  printf "|score - eval_loss| = %.3g\n", d
  if (d > 1e-6) { print "FAIL: they differ"; exit 1 }
  print "1 passed, 0 failed" }'
