#!/usr/bin/env bash
# Tests of the Python package (python/):
#  1. a fresh virtualenv under target/python-test/, with pytest, gunicorn and
#     mypy from PyPI;
#  2. `pip wheel ./python`: the PEP 517 build (`pip install ./python` runs the
#     same maturin backend), then the wheel installed into the virtualenv;
#  3. pytest on tests/python: answers against `dfabake-host match` (all three
#     modes, str and bytes, Python's `re` for character offsets), corrupted and
#     truncated modules, threads, fork, a gunicorn prefork server over
#     127.0.0.1, the type stubs. Memory figures of the server are printed last.
# Env: DFABAKE_NO_BUILD=1 skips `cargo build --release` of the CLIs.
# target/python-test/ is made anew by each run and left for inspection.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
export XDG_CACHE_HOME="${XDG_CACHE_HOME:-$ROOT/target/test-cache}"
WORK="$ROOT/target/python-test"
VENV="$WORK/venv"
PY="$VENV/bin/python"

if [ "${DFABAKE_NO_BUILD:-0}" != 1 ]; then
  echo "== cargo build --release (dfabake, dfabake-host, dfabake-synth)"
  cargo build --release --quiet -p dfabake -p dfabake-host -p dfabake-benches --bins
fi

echo "== fresh virtualenv $VENV"
rm -rf "$WORK"
mkdir -p "$WORK/wheels"
python3 -m venv "$VENV"
pip_q() { "$PY" -m pip --disable-pip-version-check --quiet "$@"; }
pip_q install 'pytest>=8' 'gunicorn>=27,<28' 'mypy>=1.10'

echo "== pip wheel ./python (PEP 517, maturin)"
start=$(date +%s)
pip_q wheel --no-deps --wheel-dir "$WORK/wheels" ./python
WHEEL=$(ls "$WORK"/wheels/dfabake-*.whl)
echo "   $(basename "$WHEEL") ($(( $(date +%s) - start )) s)"
pip_q install "$WHEEL"

echo "== pytest tests/python"
export DFABAKE_PY_REPORT="$WORK/report.txt"
: >"$DFABAKE_PY_REPORT"
# From the repository root: `import dfabake` must find the installed wheel
# (python/dfabake is not on sys.path; test_api checks where it came from).
set +e
"$PY" -m pytest tests/python -p no:cacheprovider -q
rc=$?
set -e
if [ -s "$DFABAKE_PY_REPORT" ]; then
  echo "== report"
  cat "$DFABAKE_PY_REPORT"
fi
exit $rc
