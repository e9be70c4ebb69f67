#!/usr/bin/env bash
# Fetches the crawler-user-agents npm package (1,500 patterns and their
# `instances`) into target/bench-data/package/ once; prints nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
data=target/bench-data
mkdir -p "$data"
if [ ! -f "$data/package/crawler-user-agents.json" ]; then
  (cd "$data" && npm pack --silent crawler-user-agents@1.60.0 >/dev/null && tar xzf crawler-user-agents-1.60.0.tgz)
fi
# The crawler list as dfabake JSON Lines (ids 1..N in file order, no
# payload) and its `instances` as inputs, one a line.
if [ ! -f "$data/crawler-inputs.txt" ] || [ "$data/package/crawler-user-agents.json" -nt "$data/crawler-inputs.txt" ]; then
python3 - "$data" <<'PY'
import json, sys
d = sys.argv[1]
rules = json.load(open(f"{d}/package/crawler-user-agents.json"))
with open(f"{d}/crawler.jsonl", "w") as f:
    for i, r in enumerate(rules):
        f.write(json.dumps({"id": i + 1, "pattern": r["pattern"]}) + "\n")
with open(f"{d}/crawler-inputs.txt", "w") as f:
    for r in rules:
        for s in r.get("instances", []):
            f.write(s.replace("\n", " ") + "\n")
PY
fi
# uap-core (the ua-parser project's regexes.yaml, 1,179 ordered rules in
# three sections) as dfabake JSON Lines: target/bench-data/uap*.jsonl.
if [ ! -f "$data/uap.jsonl" ]; then
  (cd "$data" && npm pack --silent uap-core@0.18.0 >/dev/null && mkdir -p uap-core && tar xzf uap-core-0.18.0.tgz -C uap-core)
  python3 benches/uap-to-jsonl.py "$data/uap-core/package/regexes.yaml" "$data"
fi
