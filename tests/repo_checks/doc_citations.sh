#!/bin/sh
# Every section citation resolves. Code, help strings, presets, scripts and README.md cite
# docs/methods.md as "§N"; the other documents write "methods.md §N" (docs/results.md's bare "§N"
# and any "results.md §N" mean docs/results.md's own "## N." sections). The dotted numbers of the
# project's earlier specification are refused everywhere except in the translation table of
# docs/methods.md's last section.
set -u
root=${1:?usage: doc_citations.sh REPOSITORY_ROOT}
cd "$root" || exit 1
export LC_ALL=C

methods_sections=$(grep -E '^## §[0-9]+ ' docs/methods.md | sed -E 's/^## §([0-9]+) .*/\1/')
results_sections=$(grep -E '^## [0-9]+\. ' docs/results.md | sed -E 's/^## ([0-9]+)\. .*/\1/')
[ -n "$methods_sections" ] || { echo "FAIL docs/methods.md: no '## §N' headings"; exit 1; }
last=$(echo "$methods_sections" | tail -n 1)

failures=0
# scan FILE DEFAULT: DEFAULT (methods|results) is what a bare "§N" in FILE refers to. Lines are
# joined first so that a citation broken across two lines is still seen whole.
scan() {
  text=$(tr '\n' ' ' <"$1")
  if [ "$1" = docs/methods.md ]; then text=${text%%"## §$last "*}; fi  # the translation table
  matches=$(printf '%s' "$text" | grep -oE '((methods|results)\.md\)? )?§[0-9]+(\.[0-9]+)*' || true)
  for m in $(printf '%s' "$matches" | tr ' ' '_'); do
    case $m in
      results.md*) target=results ;;
      methods.md*) target=methods ;;
      *) target=$2 ;;
    esac
    num=${m##*§}
    case $num in
      *.*) echo "FAIL $1: cites §$num, a number of the earlier specification; cite docs/methods.md §N" \
             "(its §$last translates)"; failures=$((failures + 1)); continue ;;
    esac
    if [ "$target" = methods ]; then known=$methods_sections; else known=$results_sections; fi
    echo "$known" | grep -qx "$num" || {
      echo "FAIL $1: cites $target.md §$num, which docs/$target.md does not have"; failures=$((failures + 1)); }
  done
}

for f in $(find src include tools scripts configs tests -path tests/fixtures -prune -o -path tests/repo_checks -prune \
             -o -type f \( -name '*.cpp' -o -name '*.hpp' -o -name '*.py' -o -name '*.sh' -o -name '*.json' \
             -o -name '*.txt' \) -print | sort) README.md; do
  scan "$f" methods
done
for f in docs/*.md; do
  if [ "$f" = docs/results.md ]; then scan "$f" results; else scan "$f" methods; fi
done
[ "$failures" -eq 0 ] && echo "ok: every citation names an existing section (docs/methods.md §1-§$last)"
[ "$failures" -eq 0 ]
