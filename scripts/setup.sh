#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages ob1q builds against, if missing. Idempotent; says what it does.
# With a LibTorch from elsewhere (e.g. PyTorch's), set CMAKE_PREFIX_PATH and libtorch-dev is skipped.
set -euo pipefail
# libopenblas0-pthread: Debian's libtorch calls the generic libblas.so.3, which is the (very slow)
# reference BLAS unless an optimised one is installed.
pkgs=(cmake ninja-build g++ pkg-config ccache zlib1g-dev libsentencepiece-dev nlohmann-json3-dev
      libcli11-dev libspdlog-dev libgtest-dev libbz2-dev)
if [ -z "${CMAKE_PREFIX_PATH:-}" ]; then pkgs+=(libtorch-dev libopenblas0-pthread); fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all build dependencies present"
  exit 0
fi
echo "setup: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
