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
