#!/usr/bin/env bash
# The demo: build the workspace, bake examples/rules.jsonl into a matcher
# module, and answer examples/inputs.txt through dfabake-host in all modes.
set -euo pipefail
cd "$(dirname "$0")/.."
# A Rust toolchain is all it needs: the template modules are committed
# (builder/templates/), so neither the wasm target nor wasm-bindgen.
cargo build --release -p dfabake -p dfabake-host
./target/release/dfabake build --patterns examples/rules.jsonl --out out/example
for mode in any all first; do
  echo "-- dfabake-host match --mode $mode"
  ./target/release/dfabake-host match --module out/example/matcher.wasm --mode "$mode" - < examples/inputs.txt
done
