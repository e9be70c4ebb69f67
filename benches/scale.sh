#!/usr/bin/env bash
# The issue-6 figures in BENCHMARKS.md ("Real rule sets at edge size"), in one
# run: crawler-user-agents (1,500 rules, its 2,118 `instances`) and a seeded
# synthetic set of 10,000 rules (`dfabake-synth --seed 7`, 2,000 inputs).
# For each: bake and rebake by the real CLI, module size, per-input `all` and
# `first` in wasmtime, the `regex` crate compiled at start, and Hyperscan
# (PyPI wheel, serialized database loaded). Writes target/scale-benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
data=target/bench-data
bash benches/fetch-data.sh
cargo build --release -p dfabake -p dfabake-benches
python3 - "$data" <<'PY'
import json, sys
d = sys.argv[1]
rules = json.load(open(f"{d}/package/crawler-user-agents.json"))
with open(f"{d}/crawler-url.jsonl", "w") as f:
    for i, r in enumerate(rules):
        f.write(json.dumps({"id": i + 1, "pattern": r["pattern"], "payload": {"url": r.get("url")}}) + "\n")
PY
./target/release/dfabake-synth --rules 10000 --seed 7 --inputs 2000 \
  --out-rules "$data/synth10k.jsonl" --out-inputs "$data/synth10k.txt"
py=$(bash benches/hyperscan/setup.sh | tail -1)
for set in crawler-url synth10k; do
  inputs="$data/crawler-inputs.txt"; [ "$set" = synth10k ] && inputs="$data/synth10k.txt"
  "$py" benches/hyperscan/bench.py "$data/$set.jsonl" "$inputs" --json "$data/hs-$set.json" >&2
done
./target/release/dfabake-scale --dfabake target/release/dfabake --out target/scale-benchmarks.md \
  crawler-user-agents-1.60.0 "$data/crawler-url.jsonl" "$data/crawler-inputs.txt" "$data/hs-crawler-url.json" \
  synthetic-10k-seed-7 "$data/synth10k.jsonl" "$data/synth10k.txt" "$data/hs-synth10k.json"
