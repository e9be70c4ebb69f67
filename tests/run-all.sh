#!/usr/bin/env bash
# Runs every test: the committed template modules against a rebuild of
# matcher-wasm/ (scripts/regen-templates.sh --check), Rust unit, doc,
# differential, CLI and server tests (release build, so wasmtime is compiled
# once), then the npm package in Node and in workerd, then the Python package
# (a wheel in a fresh virtualenv, pytest). Expects the setup of .ci/setup.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/regen-templates.sh --check
# Builds the tests run use the default shard cache: keep it in target/, not $HOME.
export XDG_CACHE_HOME="$PWD/target/test-cache"
cargo build --release --workspace
cargo test --release --workspace
bash tests/npm/run.sh
DFABAKE_NO_BUILD=1 bash tests/python/run.sh
