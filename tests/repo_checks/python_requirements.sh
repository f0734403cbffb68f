#!/bin/sh
# The Python reference scripts (tools/dequantize_reference.py, scripts/reference/*.py,
# scripts/plot_diagnostics.py, scripts/make_random_packed.py) must end with one line naming a missing package and exit status 2,
# not with a traceback. Every package they import is shadowed by a stub on PYTHONPATH whose import
# fails, so the outcome does not depend on what this machine has installed: each script must then
# name the first package it imports. Exit status 77 (ctest: skipped) when python3 is missing.
set -u
root=${1:?usage: python_requirements.sh REPOSITORY_ROOT}
command -v python3 >/dev/null 2>&1 || { echo "python3 not found: skipped"; exit 77; }

stubs=$(mktemp -d)
trap 'rm -rf "$stubs"' EXIT
for pkg in numpy torch transformers safetensors matplotlib; do
  mkdir "$stubs/$pkg"
  printf 'raise ModuleNotFoundError("no module named %s (hidden by the test)", name="%s")\n' "$pkg" "$pkg" \
    >"$stubs/$pkg/__init__.py"
done

failures=0
# check SCRIPT PACKAGE: SCRIPT, run with the stubs, prints exactly the expected line and exits 2.
check() {
  [ -f "$root/$1" ] || { echo "FAIL $1: no such script"; failures=$((failures + 1)); return; }
  err=$(cd "$stubs" && PYTHONPATH="$stubs" PYTHONDONTWRITEBYTECODE=1 python3 -s "$root/$1" --help 2>&1 >/dev/null)
  rc=$?
  want="$(basename "$1"): needs the Python package '$2' (pip install $2)"
  if [ "$rc" -eq 2 ] && [ "$err" = "$want" ]; then
    echo "ok   $1: $err"
  else
    printf 'FAIL %s: exit status %s, stderr:\n%s\nexpected exit status 2 and: %s\n' "$1" "$rc" "$err" "$want"
    failures=$((failures + 1))
  fi
}

check tools/dequantize_reference.py torch
check scripts/reference/capture_fixtures.py numpy
check scripts/reference/hf_ppl.py numpy
check scripts/reference/hf_zeroshot.py torch
check scripts/reference/make_random_llama.py torch
check scripts/reference/make_family_fixtures.py torch
check scripts/plot_diagnostics.py matplotlib
check scripts/reference/hf_generate_bench.py torch
check scripts/make_random_packed.py numpy

# A reference script added later must be listed above (and check its imports the same way).
for f in "$root"/scripts/reference/*.py; do
  name=scripts/reference/$(basename "$f")
  grep -q "^check $name " "$0" || { echo "FAIL $name: not covered by $(basename "$0")"; failures=$((failures + 1)); }
done
[ "$failures" -eq 0 ]
