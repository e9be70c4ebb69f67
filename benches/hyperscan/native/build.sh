#!/usr/bin/env bash
# Builds the native Hyperscan baseline (hs_bench.c, linked with Debian's
# libhs 5.4) into target/hs-bench. Installs libhyperscan-dev with apt-get
# only when /usr/include/hs/hs.h is missing; skips the compile when the binary
# is newer than the source. Prints the binary's path on the last line.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/../../.."
src="$here/hs_bench.c"
bin=target/hs-bench
if [ ! -f /usr/include/hs/hs.h ]; then
  echo "no /usr/include/hs/hs.h: installing Debian's libhyperscan-dev" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq libhyperscan-dev >&2
fi
if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ]; then
  mkdir -p target
  cc -O2 -std=c11 -Wall -Wextra -o "$bin.tmp" "$src" -lhs >&2
  mv -f "$bin.tmp" "$bin"
fi
echo "$PWD/$bin"
