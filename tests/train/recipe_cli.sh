#!/usr/bin/env bash
# A recipe binary's command line: --help lists every field, all problems are reported together,
# --dry-run prints the resolved recipe, --config of that file reproduces it exactly (flags win),
# and a config from a binary with other compiled choices is refused by name.
#   recipe_cli.sh LORA_RECIPE_BIN FULL_RECIPE_BIN WORK_DIR
set -uo pipefail
lora="$1" full="$2" work="$3"
rm -rf "$work" && mkdir -p "$work"
failures=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; failures=$((failures + 1)); fi; }

"$lora" --help > "$work/help.txt"
check "--help lists fields with values and docs" "grep -q -- '--train.lr .*0.002 .*peak learning rate' '$work/help.txt' && grep -q -- '--llm.rank' '$work/help.txt'"

"$lora" --train.lr=fast --train.nope=1 --train.schedule=cosin --llm.rank=0 --data.sampler=sorted stray > "$work/bad.out" 2>&1
code=$?
cat "$work/bad.out"
check "bad flags exit with 2" "[ $code -eq 2 ]"
check "all six problems reported together" "grep -q '6 problems' '$work/bad.out' && grep -q \"data.sampler must be random, group_by_length or no_text_only, got 'sorted'\" '$work/bad.out' && grep -q \"'fast' is not a number\" '$work/bad.out' && grep -q 'train.nope: no such field' '$work/bad.out' && grep -q \"got 'cosin'\" '$work/bad.out' && grep -q 'llm.rank must be at least 1' '$work/bad.out' && grep -q \"'stray': not an option\" '$work/bad.out'"
"$lora" --projector.rank=4 > "$work/kind.out" 2>&1
check "a field of a policy without fields is explained" "grep -q 'projector policy is full, which has no fields' '$work/kind.out'"

"$lora" --dry-run --train.lr=1e-3 --llm.rank=16 --data.max_length=512 > "$work/resolved.json"
check "--dry-run applies overrides" "grep -q '\"lr\": 0.001' '$work/resolved.json' && grep -q '\"rank\": 16' '$work/resolved.json' && grep -q '\"max_length\": 512' '$work/resolved.json'"
check "the resolved recipe names versions and the source" "grep -q '\"lmms_version\"' '$work/resolved.json' && grep -q '\"libtorch_version\"' '$work/resolved.json' && grep -q 'recipes/llava/1.5_lora.cpp' '$work/resolved.json'"
"$lora" --dry-run --config "$work/resolved.json" > "$work/again.json"
check "--config reproduces the resolved recipe exactly" "cmp -s '$work/resolved.json' '$work/again.json'"
"$lora" --dry-run --config "$work/resolved.json" --train.epochs=7 > "$work/flag.json"
check "flags win over --config" "grep -q '\"epochs\": 7' '$work/flag.json' && grep -q '\"rank\": 16' '$work/flag.json'"
"$full" --dry-run --config "$work/resolved.json" > "$work/other.out" 2>&1
check "a config with other compiled policies is refused" "grep -q 'policy kinds are types' '$work/other.out'"

# the samplers train (the shipped data from the repository root, where the recipe's paths point)
for sampler in group_by_length no_text_only; do
  (cd "$(dirname "$0")/../.." && "$lora" --train.max_steps=3 --train.batch_size=2 --data.sampler=$sampler --data.prefetch=0 \
     --train.output_dir="$work/$sampler" > "$work/$sampler.out" 2>&1)
  check "data.sampler=$sampler trains" "[ \$(grep -c '\"loss\"' '$work/$sampler/log.jsonl') -eq 3 ] && grep -q '\"sampler\": \"$sampler\"' '$work/$sampler/resolved_recipe.json'"
done

echo "$((11 - failures)) passed, $failures failed"
[ $failures -eq 0 ]
