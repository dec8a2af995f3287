#!/usr/bin/env bash
# The runtime pins MKL's code path before MKL starts (include/lmms/core/reproducible_blas.hpp):
# a one-step run with MKL_VERBOSE=1 shows every MKL call on the AVX-512 branch (CNR:AVX512) on
# an Intel CPU with AVX-512, on no branch (CNR:OFF) elsewhere, and on the user's branch when the
# user set MKL_CBWR.
#   mkl_branch.sh TRAINER MODEL_DIR DATA WORK_DIR
set -euo pipefail
trainer="$1" model="$2" data="$3" work="$4"
rm -rf "$work" && mkdir -p "$work"
branches() {  # the CNR field of every MKL call of a one-step run, counted
  env "$@" MKL_VERBOSE=1 "$trainer" --model "$model" --chat llava --data "$data" --lora 4 --max-steps 1 \
    --output "$work/run" > "$work/verbose.out" 2>&1 || { echo "FAIL: the run failed"; tail -5 "$work/verbose.out"; exit 1; }
  rm -rf "$work/run"
  grep -o "CNR:[A-Z0-9_,]*" "$work/verbose.out" | sort | uniq -c | tr -s ' ' | tr '\n' ';'
}
expected=OFF
if grep -q GenuineIntel /proc/cpuinfo &&
   [[ $(grep -m1 '^flags' /proc/cpuinfo | grep -ow -E 'avx512f|avx512cd|avx512bw|avx512dq|avx512vl' | sort -u | wc -l) == 5 ]]; then
  expected=AVX512
fi
default=$(branches X=1)
if [[ -z "$default" ]]; then
  echo "this libtorch makes no MKL calls (no MKL, or a BLAS of its own): nothing to pin"
  echo "1 passed, 0 failed"; exit 0
fi
user=$(branches MKL_CBWR=AUTO)
echo "default: $default  with MKL_CBWR=AUTO: $user  (expected CNR:$expected, then CNR:AUTO)"
if [[ "$default" =~ ^\ ?[0-9]+\ CNR:$expected\;$ && "$user" =~ ^\ ?[0-9]+\ CNR:AUTO\;$ ]]; then
  echo "1 passed, 0 failed"
else
  echo "FAIL: MKL's branch is not the pinned one, or the user's MKL_CBWR did not win"
  echo "0 passed, 1 failed"; exit 1
fi
