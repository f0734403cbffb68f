#!/usr/bin/env bash
# Sets up (missing packages), builds and runs the whole test suite. Used by .ci/run.
# Tests that need ../shared (real models and data) skip with a message when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh "$@"
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j "${JOBS:-$(nproc)}"
