#!/usr/bin/env bash
# `make bench`: every bench/bench_*.py in turn with its defaults; each prints its own
# ratios against its named baseline. Exits non-zero if any benchmark fails.
set -uo pipefail
cd "$(dirname "$0")/.."
failed=()
for bench in bench/bench_*.py; do
  echo "==> $bench"
  .venv/bin/python "$bench" || failed+=("$bench")
  echo
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "failed: ${failed[*]}" >&2
  exit 1
fi
