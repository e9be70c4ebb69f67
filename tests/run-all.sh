#!/usr/bin/env bash
# Runs every test: Rust unit, doc, differential and CLI tests (release build,
# so wasmtime is compiled once). Expects the setup of .ci/setup.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --workspace
cargo test --release --workspace
