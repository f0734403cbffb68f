#!/usr/bin/env bash
# Configures and builds ob1q (Release, Ninja, ccache when present) into ${BUILD_DIR:-build}.
# TARGET=ob1q builds the CLI only. Extra arguments go to cmake, e.g. on a PyTorch machine:
#   scripts/build.sh -DCMAKE_PREFIX_PATH=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
cmake -S . -B "$build" -G Ninja "$@" >/dev/null
cmake --build "$build" -j "${JOBS:-$(nproc)}" ${TARGET:+--target "$TARGET"}
