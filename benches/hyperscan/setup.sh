#!/usr/bin/env bash
# Creates target/hyperscan-venv with the `hyperscan` Python binding from PyPI
# (its wheel bundles libhs). Idempotent: does nothing when the venv already
# imports hyperscan. Installs Debian's python3-venv itself when `python3 -m venv`
# lacks ensurepip. Prints the venv's python path on the last line.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=target/hyperscan-venv
py="$venv/bin/python"
if [ -x "$py" ] && "$py" -c 'import hyperscan' 2>/dev/null; then
  echo "$PWD/$py"
  exit 0
fi
rm -rf "$venv"
mkdir -p target
if ! python3 -m venv "$venv" >/dev/null 2>&1; then
  rm -rf "$venv"
  echo "python3 -m venv failed (no ensurepip?): installing Debian's python3-venv" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq python3-venv >&2
  /usr/bin/python3 -m venv "$venv"
fi
"$py" -m pip install --quiet --disable-pip-version-check 'hyperscan>=0.7,<1'
"$py" -c 'import hyperscan' 
echo "$PWD/$py"
