#!/usr/bin/env bash
# Builds tests/package/user_project twice, as a user would: against an installed lmms
# (find_package) and against a checkout (add_subdirectory); runs each trainer.
#   check_user_project.sh LMMS_SOURCE_DIR LMMS_BUILD_DIR TORCH_CMAKE_PREFIX WORK_DIR
set -euo pipefail
src="$1" build="$2" torch_prefix="$3" work="$4"
rm -rf "$work" && mkdir -p "$work"
cmake --install "$build" --prefix "$work/install" > "$work/install.log"

cmake -S "$src/tests/package/user_project" -B "$work/installed" -G Ninja \
      -DCMAKE_PREFIX_PATH="$work/install;$torch_prefix" -DLMMS_CUSTOM_MODEL_DIR="$src/examples/custom_model" \
      > "$work/installed.log"
cmake --build "$work/installed" > "$work/installed-build.log"
"$work/installed/bin/my_trainer" "$work/out-installed"

cmake -S "$src/tests/package/user_project" -B "$work/subdir" -G Ninja \
      -DLMMS_SOURCE_DIR="$src" -DCMAKE_PREFIX_PATH="$torch_prefix" -DLMMS_CUSTOM_MODEL_DIR="$src/examples/custom_model" \
      > "$work/subdir.log"
cmake --build "$work/subdir" --target my_trainer my_llava_lora clip_qwen2_lora > "$work/subdir-build.log"
"$work/subdir/bin/my_trainer" "$work/out-subdir"
# the DSL recipe: --dry-run prints the resolved recipe with the override applied
for build in installed subdir; do
  "$work/$build/bin/my_llava_lora" --dry-run --train.lr=5e-5 > "$work/$build-dry-run.json"
  grep -q '"lr": 5e-05' "$work/$build-dry-run.json" && grep -q '"model_type": "llava-1.5"' "$work/$build-dry-run.json" \
    && echo "user DSL recipe ($build): --dry-run ok"
  # the user-defined model (examples/custom_model): its traits resolve like a shipped model's
  "$work/$build/bin/clip_qwen2_lora" --dry-run > "$work/$build-custom.json"
  grep -q '"model_type": "clip-qwen2"' "$work/$build-custom.json" && grep -q '"collator": "clip-qwen2"' "$work/$build-custom.json" \
    && echo "user-defined model ($build): --dry-run ok"
done
