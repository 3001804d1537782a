#!/usr/bin/env bash
# Runs the whole test suite with bun and ends with the line "N passed, N failed[, N skipped]"
# (CI recognises that line; bun's own summary is not). Keeps bun's exit code.
set -u
cd "$(dirname "$0")/.."
report_dir=$(mktemp -d)
report="$report_dir/junit.xml"
# bun 1.4.4 does not read the timeout from bunfig.toml (tests and hooks kept its 5 s default): pass it here.
bun test --timeout 60000 --reporter=junit --reporter-outfile="$report" "$@"
rc=$?
if [ -f "$report" ]; then
  # The first <testsuites ...> element carries the totals.
  head=$(grep -m1 -o '<testsuites[^>]*>' "$report")
  num() { printf '%s' "$head" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*' || echo 0; }
  tests=$(num tests); failures=$(num failures); errors=$(num errors); skipped=$(num skipped)
  failed=$((failures + errors))
  passed=$((tests - failed - skipped))
  # A run that errored outside any test (e.g. a file that fails to load) must not read as green.
  if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "0 passed, 1 failed"
  [ "$rc" -eq 0 ] && rc=1
fi
rm -rf "$report_dir"
exit "$rc"
