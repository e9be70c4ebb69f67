#!/usr/bin/env bash
# Issue 11 figures (BENCHMARKS.md, "Real UA-parser lists"), side by side in
# one run: uap-core 0.18.0's regexes.yaml (1,175 ordered rules) whole and by
# section, and the crawler list, on crawler-user-agents' 2,118 `instances`;
# the UA-parser-shaped synthetic set (`dfabake-synth --profile uap`, 1,200
# rules) and the 10k synthetic set on their own generated inputs. For each set: a cold default bake by the real CLI
# (wall time, peak RSS), a rebake after one changed row (warm shard cache),
# module size raw and gzip, exact-only units, how many inputs pay the slow
# paths (always-run and gated shards, exact confirmations; a second table), per-input `all` and `first` in
# wasmtime (compiled plain, as any embedding may, and with epoch checks at
# loop back-edges, as dfabake-host compiles it for call timeouts) and
# natively (`dfabake-quick`), and native Hyperscan (C API,
# Debian's libhs: `hs-bench`) on the same rules and inputs, the three of
# them in turn three times and each reported as its median (the machine
# moves between a slow and a fast state for minutes at a time: a ratio of
# two figures measured minutes apart can be off by 1.5x); the `regex`
# crate compiled at start (`regex-baseline`: `RegexSet::matches` for `all`,
# then the winner's `Regex::captures` for `first`); and start-up
# (`benches/startup.py`): a fresh `dfabake-host match --mode first` with a
# warm native-code cache (compiled, settled 3 s, loaded once), process
# start to first answer, against a fresh
# Python that compiles the same rules with `re` and answers the same input
# (median of 7 each).
set -euo pipefail
cd "$(dirname "$0")/.."
data=target/bench-data
bash benches/fetch-data.sh
cargo build --release -p dfabake -p dfabake-host -p dfabake-benches >&2
hsb=$(bash benches/hyperscan/native/build.sh | tail -1)
./target/release/dfabake-synth --profile uap --rules 1200 --seed 7 --inputs 2000 \
  --out-rules "$data/synth-uap.jsonl" --out-inputs "$data/synth-uap.txt"
./target/release/dfabake-synth --rules 10000 --seed 7 --inputs 2000 \
  --out-rules "$data/synth10k.jsonl" --out-inputs "$data/synth10k.txt"
out=target/uap-benchmarks.md
paths=$(mktemp)
{
  echo
  echo "| set | slow paths: who pays them (\`dfabake-quick --native-paths\`) |"
  echo "|---|---|"
} > "$paths"
{
  echo "| set | rules | bake wall | peak RSS | rebake | module raw / gzip | exact-only | \`all\` wasm | \`first\` wasm | \`all\` / \`first\` wasm as dfabake-host runs it | \`all\` / \`first\` native | Hyperscan native \`all\` | \`regex\` crate compiled at start: \`all\` / \`first\` | start → first answer: host (warm cache) / Python \`re\` |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
} > "$out"
for set in uap uap-browser uap-os uap-device crawler synth-uap synth10k; do
  rules=$data/$set.jsonl
  case $set in synth*) inputs=$data/$set.txt ;; *) inputs=$data/crawler-inputs.txt ;; esac
  dir=$(mktemp -d)
  cache=$dir/cache
  /usr/bin/time -f "%e %M" -o "$dir/time" ./target/release/dfabake build --patterns "$rules" --out "$dir/out" --cache "$cache" --quiet
  read -r wall rss < "$dir/time"
  # One changed row: the last rule's pattern gets a suffix.
  python3 - "$rules" "$dir/changed.jsonl" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
r = json.loads(lines[-1]); r["pattern"] += "(?:zz)?"; lines[-1] = json.dumps(r)
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
PY
  /usr/bin/time -f "%e" -o "$dir/time2" ./target/release/dfabake build --patterns "$dir/changed.jsonl" --out "$dir/out2" --cache "$cache" --quiet
  rebake=$(cat "$dir/time2")
  read -r raw gz exact < <(python3 -c "
import json; m = json.load(open('$dir/out/manifest.json'))
print(m['module']['bytes'], m['module']['gzip_bytes'], m['rule_paths']['exact_only']['count'])")
  field() { sed -E "s/.*$1 ([0-9.]+) µs.*/\\1/" <<<"$2"; }
  median() { printf '%s\n' "$@" | sort -g | sed -n 2p; }
  alls=() firsts=() natives=() native_firsts=() alls_i=() firsts_i=() hss=()
  for round in 1 2 3; do
    q=$(./target/release/dfabake-quick "$dir/out/matcher.wasm" "$inputs" | tail -1)
    alls+=("$(field "wasm all" "$q")") firsts+=("$(field "µs, first" "$q")") natives+=("$(field "native all" "$q")")
    native_firsts+=("$(field "native first" "$q")")
    # As dfabake-host compiles the module: with epoch checks (call timeouts).
    qi=$(DFABAKE_QUICK_INTERRUPTIBLE=1 ./target/release/dfabake-quick "$dir/out/matcher.wasm" "$inputs" | tail -1)
    alls_i+=("$(field "wasm all" "$qi")") firsts_i+=("$(field "µs, first" "$qi")")
    "$hsb" "$rules" "$inputs" --json "$dir/hs.json" 2>/dev/null
    hss+=("$(python3 -c "import json; print(json.load(open('$dir/hs.json'))['all_ns'] / 1000)")")
  done
  all=$(median "${alls[@]}") first=$(median "${firsts[@]}") native=$(median "${natives[@]}")
  native_first=$(median "${native_firsts[@]}")
  all_i=$(median "${alls_i[@]}") first_i=$(median "${firsts_i[@]}")
  hs="$(printf '%.2f' "$(median "${hss[@]}")") µs ($(python3 -c "import json; print(len(json.load(open('$dir/hs.json'))['rejected']))") rules rejected)"
  # The regex crate compiled at start, as a server without dfabake runs
  # these rules (its own median of three passes).
  ./target/release/regex-baseline "$rules" "$inputs" --json "$dir/re.json" >/dev/null
  re=$(python3 -c "import json; r = json.load(open('$dir/re.json')); print('%.2f / %.2f µs' % (r['all_ns'] / 1000, r['first_ns'] / 1000))")
  read -r start_host start_re < <(python3 benches/startup.py ./target/release/dfabake-host \
    "$dir/out/matcher.wasm" "$dir/hostcache" "$rules" "$(head -1 "$inputs")")
  n=$(wc -l < "$rules")
  # How many inputs pay the slow paths (always-run and gated shards,
  # exact confirmations), natively: the same decisions the module makes.
  echo "| $set | $(./target/release/dfabake-quick "$dir/out/matcher.wasm" "$inputs" --native-paths) |" >> "$paths"
  echo "| $set | $n | ${wall} s | $((rss / 1024)) MB | ${rebake} s | $((raw / 1000)) kB / $((gz / 1000)) kB | $exact | ${all} µs | ${first} µs | ${all_i} / ${first_i} µs | ${native} / ${native_first} µs | $hs | $re | ${start_host} / ${start_re} ms |" >> "$out"
  rm -rf "$dir"
done
cat "$paths" >> "$out"
rm -f "$paths"
cat "$out"
