#!/usr/bin/env bash
# Issue 5 figures: load test of `dfabake-host serve` on the crawler-user-agents
# set (instance reuse vs instance per request, same run), and cold start
# (cold vs warm native-code cache vs a regex-crate host compiling at start).
# Bounded: fixed request counts, 30 s cap per load run, loopback only.
# HOST_BIN=PATH measures another dfabake-host binary (e.g. a copy of an older
# build, to compare two side by side); the default is the one built here.
set -euo pipefail
cd "$(dirname "$0")/.."
bash benches/fetch-data.sh
data=target/bench-data
cargo build --release -p dfabake -p dfabake-host -p dfabake-benches
host=${HOST_BIN:-./target/release/dfabake-host}
echo "== host binary: $host"
./target/release/dfabake build --quiet --patterns "$data/crawler.jsonl" --out "$data/crawler-out"
module="$data/crawler-out/matcher.wasm"
cache=$(mktemp -d)
trap 'kill $srv 2>/dev/null || true; rm -rf "$cache"' EXIT

run_load() { # label, extra serve flags...
  local label=$1; shift
  rm -f "$cache/addr"
  "$host" serve --module "$module" --listen 127.0.0.1:0 --workers 2 \
    --cache-dir "$cache" "$@" > "$cache/addr" 2>/dev/null &
  srv=$!
  until grep -q listening "$cache/addr" 2>/dev/null; do sleep 0.05; done
  local addr; addr=$(sed 's|listening on http://||' "$cache/addr")
  ./target/release/dfabake-load load "$addr" "$data/crawler-inputs.txt" --connections 4 --requests 20000 --max-seconds 30 >/dev/null # warm-up
  echo "$label (mode all): $(./target/release/dfabake-load load "$addr" "$data/crawler-inputs.txt" --connections 4 --requests 100000 --max-seconds 30)"
  echo "$label (mode first): $(./target/release/dfabake-load load "$addr" "$data/crawler-inputs.txt" --connections 4 --requests 100000 --max-seconds 30 --mode first)"
  kill $srv; wait $srv 2>/dev/null || true
}
echo "== load: 4 keep-alive connections, 100,000 single-input requests (crawler-user-agents, 1,500 rules)"
run_load "reuse instances"
run_load "instance per request" --instance-per-request

echo "== cold start: process start -> first answered POST /match (median of 7)"
cold_cmd() { echo "$host" serve --module "$module" --listen 127.0.0.1:0 --workers 2 "$@"; }
echo "dfabake-host, no cache (Cranelift compile): $(./target/release/dfabake-load coldstart --runs 7 -- $(cold_cmd --no-cache))"
"$host" compile --module "$module" --cache-dir "$cache/warm" >/dev/null
echo "dfabake-host, warm native-code cache: $(./target/release/dfabake-load coldstart --runs 7 -- $(cold_cmd --cache-dir "$cache/warm"))"
echo "regex crate, RegexSet compiled at start: $(./target/release/dfabake-load coldstart --runs 7 -- ./target/release/regex-baseline-server "$data/crawler.jsonl" 127.0.0.1:0)"
