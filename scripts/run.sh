#!/usr/bin/env bash
# Sets up, builds and runs the main job on the embedded default: perplexity of
# $OB1Q_MODEL (else ../shared/models/llama-s, else the demo model the project builds) on
# WikiText-2 from $OB1Q_DATA (else ../shared/data, else the demo text). Extra arguments go to
# `ob1q eval`, e.g. scripts/run.sh --ppl wikitext2,ptb,c4 --json results.json
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
TARGET=ob1q scripts/build.sh >/dev/null
build=${BUILD_DIR:-build}
if [ -z "${OB1Q_MODEL:-}" ] && [ ! -d ../shared/models/llama-s ] && [ ! -f demo/model/config.json ]; then
  "$build/ob1q" demo --out demo --overwrite
fi
exec "$build/ob1q" eval "$@"
