#!/usr/bin/env bash
# scripts/test.sh: set up (idempotent), then run every test with ctest.
#   bash scripts/test.sh              all tests
#   bash scripts/test.sh -L unit      only the fast ones without Python (any ctest args work)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cd "${LMMS_BUILD:-build}"
exec ctest --output-on-failure "$@"
