#!/bin/sh
# No std::filesystem in the library, the CLI or the public headers (tests may use it). PyTorch's
# libtorch.so exports its own, incompatible copies of libstdc++'s std::filesystem functions, and the
# dynamic linker binds our calls to them: on PyTorch 2.11's LibTorch every `ob1q quantize` crashed
#   #0 0x0000000000000000 in ?? ()
#   #1 std::filesystem::remove_all(...) () from .../torch/lib/libtorch.so
#   #2 ob1q::remove_tree(std::string const&)
# Debian's LibTorch does not show it, so only this check catches a new use here. Use the POSIX
# helpers of include/ob1q/common/paths.hpp instead.
# With a second argument, the ob1q binary: it must not import any std::filesystem symbol either
# (a third-party header can bring one in: CLI11 did, until tools/ob1q/cli.hpp turned it off).
set -u
root=${1:?usage: no_std_filesystem.sh REPOSITORY_ROOT [OB1Q_BINARY]}
binary=${2:-}
cd "$root" || exit 1
export LC_ALL=C

failures=0
hits=$(grep -rnE 'std::(experimental::)?filesystem|<(experimental/)?filesystem>' src tools include || true)
if [ -n "$hits" ]; then
  echo "FAIL std::filesystem in src/, tools/ or include/ (it crashes on PyTorch's LibTorch; use ob1q/common/paths.hpp):"
  echo "$hits"
  failures=1
fi
if [ -n "$binary" ] && command -v nm >/dev/null 2>&1; then
  imports=$(nm -DC --undefined-only "$binary" | grep 'std::\(experimental::\)\?filesystem' || true)
  if [ -n "$imports" ]; then
    echo "FAIL $binary imports std::filesystem symbols (from a header it includes?):"
    echo "$imports"
    failures=1
  fi
fi
[ "$failures" -eq 0 ] && echo "OK no std::filesystem in src/, tools/, include/${binary:+ or $binary}"
exit "$failures"
