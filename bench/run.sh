#!/usr/bin/env bash
# `make bench`: every benchmark, each comparing side by side in one run.
# Results: bench/results/*.json and the tables in docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
for suite in modules stack backup converge migrate; do
  entry="bench/$suite/run.py"
  [ -f "$entry" ] || { echo "bench $suite: not present"; continue; }
  echo "== bench $suite"
  python "$entry" || { echo "bench $suite failed" >&2; status=1; }
done
exit $status
