#!/usr/bin/env bash
# Issue 14 figures (BENCHMARKS.md, "Python"), side by side in one run: the
# dfabake Python package against `re` compiled at start, re2.Set and
# hyperscan, on the crawler list and the 10k synthetic set (benches/python/bench.py).
#   bash benches/python/bench.sh [bench.py options, e.g. --starts 15]
# Venv target/python-bench/venv (google-re2, hyperscan from PyPI; the dfabake
# wheel rebuilt from ./python every run); results in target/python-bench/.
set -euo pipefail
cd "$(dirname "$0")/../.."
export XDG_CACHE_HOME="${XDG_CACHE_HOME:-$PWD/target/test-cache}"
data=target/bench-data
work=target/python-bench
bash benches/fetch-data.sh
cargo build --release --quiet -p dfabake -p dfabake-benches
if [ ! -f "$data/synth10k.jsonl" ]; then
  ./target/release/dfabake-synth --rules 10000 --seed 7 --inputs 2000 \
    --out-rules "$data/synth10k.jsonl" --out-inputs "$data/synth10k.txt"
fi
venv=$work/venv
py=$venv/bin/python
if ! "$py" -c 'import re2, hyperscan' 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$py" -m pip install --quiet --disable-pip-version-check google-re2 'hyperscan>=0.7,<1'
fi
rm -rf "$work/wheels"
"$py" -m pip wheel --quiet --disable-pip-version-check --no-deps --wheel-dir "$work/wheels" ./python
"$py" -m pip install --quiet --disable-pip-version-check --force-reinstall "$work"/wheels/dfabake-*.whl
sets=()
for set in crawler synth10k; do
  inputs=$data/crawler-inputs.txt; [ "$set" = synth10k ] && inputs=$data/synth10k.txt
  ./target/release/dfabake build --patterns "$data/$set.jsonl" --out "$work/$set/out" --quiet
  sets+=(--set "$set" "$data/$set.jsonl" "$inputs" "$work/$set/out/matcher.wasm")
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores" >&2
"$py" benches/python/bench.py "${sets[@]}" --work "$work" --json "$work/results.json" --md "$work/results.md" "$@"
