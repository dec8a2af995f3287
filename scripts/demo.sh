#!/usr/bin/env bash
# scripts/demo.sh: the README's first command. Sets up a fresh Debian 12 machine and builds
# (scripts/setup.sh, idempotent), then runs the main job (scripts/main_job.sh): the tiny
# LLaVA-1.5 shipped in example_data answers 24 held-out questions about pictures, is
# fine-tuned on the shipped shapes data, and answers them again.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo
bash scripts/main_job.sh
echo
"${LMMS_BUILD:-build}/bin/lmms" version
