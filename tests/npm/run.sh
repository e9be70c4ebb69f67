#!/usr/bin/env bash
# End-to-end test of the npm package `dfabake build` writes to OUT/npm:
#  1. bake examples/rules.jsonl, answer a generated corpus with
#     `dfabake-host match --mode any|all|first`;
#  2. `npm pack` OUT/npm, install the tarball into a fresh project, and check
#     with Node's test runner that the package gives the same answers, and
#     that a damaged copy of it is refused at load (unless `verify: false`);
#  3. `tsc --noEmit` a consumer file against the package's types;
#  4. run the example Worker and a test Worker in real workerd on 127.0.0.1
#     and check their answers over HTTP.
# Prints `N passed, M failed` last; exits non-zero on any failure.
# Env: DFABAKE_NO_BUILD=1 skips `cargo build --release`; KEEP=1 keeps the temp dir.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/tests/npm"
PASSED=0
FAILED=0
WPID=
WORK=$(mktemp -d "${TMPDIR:-/tmp}/dfabake-npm-test.XXXXXX")

cleanup() {
  if [ -n "$WPID" ]; then
    kill "$WPID" 2>/dev/null
    wait "$WPID" 2>/dev/null
  fi
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

pass() { PASSED=$((PASSED + 1)); echo "ok   - $1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL - $1"; }
finish() {
  echo "$PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ]
  exit $?
}
# Runs a step; a failure is counted and later steps that need it are skipped.
step() {
  local name=$1; shift
  if "$@" >"$WORK/step.log" 2>&1; then pass "$name"; else cat "$WORK/step.log"; fail "$name"; return 1; fi
}
# Runs a `node --test` file and counts its tests.
node_tests() {
  local name=$1; shift
  node --test --test-reporter=tap "$@" >"$WORK/tap.log" 2>&1
  local rc=$?
  grep -E 'checked, [0-9]+ mismatches|with verification' "$WORK/tap.log" | sed -e 's/^[# \\]*//' -e "s/^/  [$name] /"
  local p f
  p=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$WORK/tap.log" | tail -1)
  f=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$WORK/tap.log" | tail -1)
  p=${p:-0}; f=${f:-0}
  if [ "$rc" -ne 0 ] || [ "$f" -ne 0 ] || [ "$p" -eq 0 ]; then
    cat "$WORK/tap.log"
    [ "$f" -eq 0 ] && f=1
  fi
  PASSED=$((PASSED + p)); FAILED=$((FAILED + f))
  echo "$name: $p passed, $f failed"
}

cd "$ROOT" || exit 2
if [ "${DFABAKE_NO_BUILD:-0}" != 1 ]; then
  step "cargo build --release" cargo build --release --quiet || finish
fi
DFABAKE="$ROOT/target/release/dfabake"
HOST="$ROOT/target/release/dfabake-host"
WORKERD="$HERE/node_modules/@cloudflare/workerd-linux-64/bin/workerd"
TSC="$HERE/node_modules/.bin/tsc"
if [ ! -x "$WORKERD" ] || [ ! -x "$TSC" ]; then
  step "npm ci (tests/npm)" npm ci --prefix "$HERE" --no-audit --no-fund || finish
fi

# 1. Bake, and the host's answers.
node "$HERE/gen-corpus.mjs" 2000 >"$WORK/corpus.txt"
step "dfabake build (matcher.wasm + npm/)" "$DFABAKE" build --patterns examples/rules.jsonl --out "$WORK/out" \
  --npm-name dfabake-rules --npm-version 0.1.0 || finish
for mode in any all first; do
  step "dfabake-host match --mode $mode" \
    sh -c "'$HOST' match --module '$WORK/out/matcher.wasm' --mode $mode - <'$WORK/corpus.txt' >'$WORK/host-$mode.jsonl'" || finish
done
echo "  corpus: $(wc -l <"$WORK/corpus.txt") lines"

# 2. npm pack, install into a fresh project, compare in Node.
step "npm pack" npm pack "$WORK/out/npm" --pack-destination "$WORK" || finish
TARBALL=$(ls "$WORK"/dfabake-rules-0.1.0.tgz)
mkdir -p "$WORK/proj"
printf '{ "name": "consumer", "private": true, "type": "module" }\n' >"$WORK/proj/package.json"
step "npm install the tarball in a fresh project" \
  npm install --prefix "$WORK/proj" --no-audit --no-fund --offline "$TARBALL" || finish
cp "$HERE/compare.test.mjs" "$HERE/consumer.ts" "$HERE/tsconfig.consumer.json" "$WORK/proj/"
export CORPUS="$WORK/corpus.txt" HOST_ANY="$WORK/host-any.jsonl" HOST_ALL="$WORK/host-all.jsonl" \
  HOST_FIRST="$WORK/host-first.jsonl" PKG=dfabake-rules
(cd "$WORK/proj" && node_tests "node" compare.test.mjs; echo "$PASSED $FAILED" >"$WORK/counts")
read -r PASSED FAILED <"$WORK/counts"
# 2a. Verification at load: a damaged module is refused, `verify: false` opts out.
cp "$HERE/verify.test.mjs" "$WORK/proj/"
(cd "$WORK/proj" && PKG_DIR="$WORK/proj/node_modules/dfabake-rules" node_tests "node, verification at load" verify.test.mjs
 echo "$PASSED $FAILED" >"$WORK/counts")
read -r PASSED FAILED <"$WORK/counts"

# 2b. The same differential check on a real rule list: crawler-user-agents
#     (1,500 rules, 47 shards), with its own sample user agents as corpus.
CUA="$HERE/node_modules/crawler-user-agents/crawler-user-agents.json"
if [ -f "$CUA" ]; then
  node -e '
    const fs = require("fs"); const a = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
    fs.writeFileSync(process.argv[2], a.map((r, i) => JSON.stringify({ id: i + 1, pattern: r.pattern, payload: { url: r.url ?? null } })).join("\n") + "\n");
    const lines = a.flatMap((r) => r.instances ?? []).filter((l) => !/[\r\n]/.test(l));
    fs.writeFileSync(process.argv[3], lines.join("\n") + "\n");' "$CUA" "$WORK/crawler.jsonl" "$WORK/crawler-corpus.txt"
  cat "$WORK/corpus.txt" >>"$WORK/crawler-corpus.txt"
  if step "dfabake build crawler-user-agents (--npm-name crawler-rules)" "$DFABAKE" build --patterns "$WORK/crawler.jsonl" \
      --out "$WORK/out-crawler" --npm-name crawler-rules --npm-version 1.0.0 --quiet; then
    for mode in any all first; do
      "$HOST" match --module "$WORK/out-crawler/matcher.wasm" --mode $mode - <"$WORK/crawler-corpus.txt" >"$WORK/crawler-$mode.jsonl"
    done
    npm pack "$WORK/out-crawler/npm" --pack-destination "$WORK" >/dev/null 2>&1
    step "npm install crawler-rules" npm install --prefix "$WORK/proj" --no-audit --no-fund --offline "$WORK/crawler-rules-1.0.0.tgz"
    echo "  crawler corpus: $(wc -l <"$WORK/crawler-corpus.txt") lines"
    (cd "$WORK/proj" && CORPUS="$WORK/crawler-corpus.txt" HOST_ANY="$WORK/crawler-any.jsonl" HOST_ALL="$WORK/crawler-all.jsonl" \
      HOST_FIRST="$WORK/crawler-first.jsonl" PKG=crawler-rules node_tests "node, crawler-user-agents" compare.test.mjs
     echo "$PASSED $FAILED" >"$WORK/counts")
    read -r PASSED FAILED <"$WORK/counts"
  fi
else
  echo "  (crawler-user-agents not installed: npm ci --prefix tests/npm)"
fi

# 3. Types.
step "tsc --noEmit on a consumer file" "$TSC" -p "$WORK/proj/tsconfig.consumer.json"

# 4. Real workerd.
cp "$ROOT/examples/worker/worker.mjs" "$ROOT/tests/workerd/test-worker.mjs" "$WORK/proj/"
read -r EXAMPLE_PORT TEST_PORT < <(node -e '
  const net = require("net"); const ports = [];
  const next = () => { const s = net.createServer(); s.listen(0, "127.0.0.1", () => {
    ports.push(s.address().port); s.close(() => ports.length < 2 ? next() : console.log(ports.join(" "))); }); };
  next();')
sed -e "s/@EXAMPLE_PORT@/$EXAMPLE_PORT/" -e "s/@TEST_PORT@/$TEST_PORT/" \
  "$ROOT/tests/workerd/config.capnp.in" >"$WORK/proj/config.capnp"
"$WORKERD" serve "$WORK/proj/config.capnp" >"$WORK/workerd.log" 2>&1 &
WPID=$!
ready=0
for _ in $(seq 100); do
  if curl -s -o /dev/null "http://127.0.0.1:$EXAMPLE_PORT/" && curl -s -o /dev/null "http://127.0.0.1:$TEST_PORT/"; then
    ready=1; break
  fi
  kill -0 "$WPID" 2>/dev/null || break
  sleep 0.1
done
if [ "$ready" = 1 ]; then
  pass "workerd serve (pid $WPID) listening on 127.0.0.1:$EXAMPLE_PORT and :$TEST_PORT"
  EXAMPLE_URL="http://127.0.0.1:$EXAMPLE_PORT" TEST_URL="http://127.0.0.1:$TEST_PORT" \
    node_tests "workerd" "$ROOT/tests/workerd/workerd.test.mjs"
  sample=$(curl -s -A "Mozilla/5.0 (compatible; Googlebot/2.1)" "http://127.0.0.1:$EXAMPLE_PORT/")
  echo "  example worker: $sample"
else
  cat "$WORK/workerd.log"
  fail "workerd serve"
fi
kill "$WPID" 2>/dev/null
wait "$WPID" 2>/dev/null
if kill -0 "$WPID" 2>/dev/null; then fail "workerd stopped by PID"; else pass "workerd stopped by PID $WPID"; fi
WPID=
finish
