#!/usr/bin/env bash
# scripts/setup.sh: install everything lmms needs on Debian 12 and build it.
#
#   bash scripts/setup.sh            Debian packages, the Python oracle venv, configure, build
#
# Idempotent: packages already present are not reinstalled, the venv is reused while
# scripts/requirements.txt is unchanged, and the build is incremental (ccache), so a second
# run takes seconds. Environment:
#   LMMS_VENV   where the Python venv lives (default ~/.cache/lmms/venv, shared by clones)
#   LMMS_BUILD  build directory (default build)
#   LMMS_JOBS   parallel compile jobs (default: number of cores)
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${LMMS_VENV:-$HOME/.cache/lmms/venv}"
BUILD="${LMMS_BUILD:-build}"
JOBS="${LMMS_JOBS:-$(nproc)}"
say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# ---- 1. Debian packages ------------------------------------------------------------------
PACKAGES=(g++ cmake ninja-build ccache pkg-config git python3 python3-venv
          libboost-dev nlohmann-json3-dev libstb-dev librange-v3-dev catch2
          libavformat-dev libavcodec-dev libswscale-dev libavutil-dev libpcre2-dev libicu-dev libjpeg62-turbo-dev libdeflate-dev
          clang libclang-rt-14-dev)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  say "Debian packages present"
fi

# ---- 2. Python venv (torch, transformers, peft, ...): the test oracle and libtorch source ---
REQ_HASH=$(sha256sum scripts/requirements.txt | cut -c1-16)
if [[ ! -x "$VENV/bin/python" ]] || [[ "$(cat "$VENV/.lmms-requirements" 2>/dev/null)" != "$REQ_HASH" ]]; then
  say "creating the Python venv in $VENV (torch is large: several minutes on first run)"
  [[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -r scripts/requirements.txt
  echo "$REQ_HASH" > "$VENV/.lmms-requirements"
else
  say "Python venv up to date ($VENV)"
fi
TORCH_PREFIX=$("$VENV/bin/python" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')

# ---- 3. configure and build ----------------------------------------------------------------
say "configuring $BUILD against the libtorch in $TORCH_PREFIX"
mkdir -p "$BUILD"
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" -DLMMS_PYTHON="$VENV/bin/python" > "$BUILD/configure.log" 2>&1 \
  || { cat "$BUILD/configure.log"; exit 1; }
say "building ($JOBS jobs)"
cmake --build "$BUILD" -j "$JOBS"
say "done: build/bin/lmms, build/bin/<recipe>; tests: bash scripts/test.sh"
