#!/usr/bin/env bash
# Produces the figures in BENCHMARKS.md: fetches the crawler-user-agents npm
# package (its 1,500 patterns and their `instances`) and runs dfabake-bench on
# the examples set and on it, side by side, in one run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash benches/fetch-data.sh
data=target/bench-data
cargo build --release -p dfabake-benches
./target/release/dfabake-bench \
  examples examples/rules.jsonl examples/inputs.txt \
  crawler-user-agents "$data/package/crawler-user-agents.json" -
