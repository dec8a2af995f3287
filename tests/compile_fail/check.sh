#!/usr/bin/env bash
# Compiles a snippet that must NOT compile and checks that the first error line carries the
# expected `lmms:` sentence (the snippet's "// expect:" line), not a template dump.
#   check.sh CXX INCLUDE_DIR SNIPPET.cpp
set -uo pipefail
cxx="$1" include="$2" snippet="$3"
expect=$(sed -n 's|^// expect: ||p' "$snippet" | head -n 1)
[[ -n "$expect" ]] || { echo "FAIL: $snippet has no '// expect:' line"; exit 1; }
if "$cxx" -std=c++20 -fsyntax-only -I "$include" "$snippet" 2> err.txt; then
  echo "FAIL: $snippet compiled; it should fail with: $expect"; exit 1
fi
first=$(grep -m1 "error:" err.txt)
echo "first error: ${first#*error: }"
if [[ "$first" != *"$expect"* ]]; then
  echo "FAIL: the first error line does not say: $expect"; sed -n 1,30p err.txt; exit 1
fi
echo "1 passed, 0 failed"
