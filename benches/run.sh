#!/usr/bin/env bash
# Produces the figures in BENCHMARKS.md: fetches the crawler-user-agents npm
# package (its 1,500 patterns and their `instances`) and runs dfabake-bench on
# the examples set and on it, side by side, in one run.
set -euo pipefail
cd "$(dirname "$0")/.."
data=target/bench-data
mkdir -p "$data"
if [ ! -f "$data/package/crawler-user-agents.json" ]; then
  (cd "$data" && npm pack --silent crawler-user-agents@1.60.0 >/dev/null && tar xzf crawler-user-agents-1.60.0.tgz)
fi
cargo build --release -p dfabake-benches
./target/release/dfabake-bench \
  examples examples/rules.jsonl examples/inputs.txt \
  crawler-user-agents "$data/package/crawler-user-agents.json" -
