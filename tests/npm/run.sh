#!/usr/bin/env bash
# End-to-end test of the npm package `dfabake build` writes to OUT/npm:
#  1. bake examples/rules.jsonl twice (the default package, and one built with
#     --npm-inline-wasm), answer a generated corpus with
#     `dfabake-host match --mode any|all|first`; bad --npm-* values are refused;
#  2. `npm pack` both, install the tarballs into a fresh project, and check
#     that the package gives the same answers through import and require()
#     in Node 18 and 22, Bun and Deno (their own test runners), and that a
#     damaged copy of it is refused at load (unless `verify: false`);
#  3. publint and arethetypeswrong on both tarballs; `tsc --noEmit` on .mts
#     and .cts consumers (module node16 and nodenext);
#  4. esbuild bundles (browser, Node ESM and CommonJS, Worker) run in Node 18
#     and 22, Deno and workerd, answering as the unbundled package;
#  5. run the example Worker and a test Worker in real workerd on 127.0.0.1
#     and check their answers over HTTP.
# Every tool comes from tests/npm/package.json (npm ci): Node 18 and 22,
# Bun, Deno, esbuild, webpack, Vite, publint, attw, TypeScript, workerd.
# Prints `N passed, M failed` last; exits non-zero on any failure.
# Env: DFABAKE_NO_BUILD=1 skips `cargo build --release`; DFABAKE_BIN=path runs another
# dfabake binary (an older one, to see which tests fail on it); KEEP=1 keeps the temp dir.
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
# Runs a `node --test` file and counts its tests (NODE_BIN: which node).
node_tests() {
  local name=$1; shift
  "${NODE_BIN:-node}" --test --test-reporter=tap "$@" >"$WORK/tap.log" 2>&1
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

# Runs a test file with `bun test` or `deno test` and counts its tests.
runtime_tests() {
  local name=$1 runtime=$2; shift 2
  local rc p f
  if [ "$runtime" = bun ]; then
    "$BUN" test "$@" >"$WORK/rt.log" 2>&1; rc=$?
    p=$(sed -n 's/^ *\([0-9]*\) pass$/\1/p' "$WORK/rt.log" | tail -1)
    f=$(sed -n 's/^ *\([0-9]*\) fail$/\1/p' "$WORK/rt.log" | tail -1)
  else
    NO_COLOR=1 DENO_DIR="$WORK/deno-dir" DENO_NO_UPDATE_CHECK=1 "$DENO" test -A "$@" >"$WORK/rt.log" 2>&1; rc=$?
    p=$(sed -n 's/^[A-Z]* | \([0-9]*\) passed.*/\1/ip' "$WORK/rt.log" | tail -1)
    f=$(sed -n 's/^[A-Z]* | [0-9]* passed[^|]*| \([0-9]*\) failed.*/\1/ip' "$WORK/rt.log" | tail -1)
  fi
  p=${p:-0}; f=${f:-0}
  if [ "$rc" -ne 0 ] || [ "$f" -ne 0 ] || [ "$p" -eq 0 ]; then
    cat "$WORK/rt.log"
    [ "$f" -eq 0 ] && f=1
  fi
  PASSED=$((PASSED + p)); FAILED=$((FAILED + f))
  echo "$name: $p passed, $f failed"
}
# Checks a bundle's {beforeInit, answers} JSON (file $2) against the
# unbundled package's ($WORK/reference.json): same answers, and beforeInit
# matching the regex $3.
same_answers() {
  node -e '
    const fs = require("fs");
    const got = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
    const want = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
    if (!new RegExp(process.argv[3]).test(got.beforeInit)) { console.error("beforeInit: " + got.beforeInit); process.exit(1); }
    if (JSON.stringify(got.answers) !== JSON.stringify(want.answers)) {
      console.error("answers differ:\n" + JSON.stringify(got.answers) + "\n" + JSON.stringify(want.answers)); process.exit(1);
    }' "$1" "$WORK/reference.json" "$2"
}
bundle_runs() {
  local out=$1 before=$2; shift 2
  "$@" >"$out" && same_answers "$out" "$before"
}
# Frees two loopback ports for workerd.
two_ports() {
  node -e '
    const net = require("net"); const ports = [];
    const next = () => { const s = net.createServer(); s.listen(0, "127.0.0.1", () => {
      ports.push(s.address().port); s.close(() => ports.length < 2 ? next() : console.log(ports.join(" "))); }); };
    next();'
}
# Waits until workerd ($WPID) answers on both ports.
workerd_ready() {
  for _ in $(seq 100); do
    if curl -s -o /dev/null "http://127.0.0.1:$1/" && curl -s -o /dev/null "http://127.0.0.1:$2/"; then return 0; fi
    kill -0 "$WPID" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
stop_workerd() {
  kill "$WPID" 2>/dev/null
  wait "$WPID" 2>/dev/null
  if kill -0 "$WPID" 2>/dev/null; then fail "workerd stopped by PID"; else pass "workerd stopped by PID $WPID"; fi
  WPID=
}

cd "$ROOT" || exit 2
if [ "${DFABAKE_NO_BUILD:-0}" != 1 ]; then
  step "cargo build --release" cargo build --release --quiet || finish
fi
DFABAKE="${DFABAKE_BIN:-$ROOT/target/release/dfabake}"
HOST="$ROOT/target/release/dfabake-host"
NM="$HERE/node_modules"
WORKERD="$NM/@cloudflare/workerd-linux-64/bin/workerd"
TSC="$NM/.bin/tsc"
NODE18="$NM/node18/bin/node"
NODE22="$NM/node22/bin/node"
BUN="$NM/.bin/bun"
DENO="$NM/.bin/deno"
ESBUILD="$NM/.bin/esbuild"
if [ ! -x "$WORKERD" ] || [ ! -x "$TSC" ] || [ ! -x "$NODE18" ] || [ ! -x "$NODE22" ] || [ ! -e "$BUN" ] \
  || [ ! -e "$DENO" ] || [ ! -e "$ESBUILD" ] || [ ! -e "$NM/.bin/publint" ] || [ ! -e "$NM/.bin/attw" ] \
  || [ ! -e "$NM/.bin/webpack" ] || [ ! -e "$NM/.bin/vite" ]; then
  step "npm ci (tests/npm)" npm ci --prefix "$HERE" --no-audit --no-fund || finish
fi

# 1. Bake, and the host's answers.
node "$HERE/gen-corpus.mjs" 2000 >"$WORK/corpus.txt"
step "dfabake build (matcher.wasm + npm/)" "$DFABAKE" build --patterns examples/rules.jsonl --out "$WORK/out" \
  --npm-name dfabake-rules --npm-version 0.1.0 --npm-license MIT --npm-repository https://github.com/acme/rules \
  --npm-keywords user-agent,bot || finish
step "dfabake build --npm-inline-wasm" "$DFABAKE" build --patterns examples/rules.jsonl --out "$WORK/out-inline" \
  --npm-name dfabake-rules-inline --npm-version 1.0.0-rc.1 --npm-inline-wasm --quiet || finish
step "package.json has --npm-license, --npm-repository, --npm-keywords" node -e '
  const p = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const ok = p.license === "MIT" && p.repository.type === "git" && p.repository.url === "git+https://github.com/acme/rules"
    && JSON.stringify(p.keywords) === JSON.stringify(["user-agent", "bot"]);
  if (!ok) { console.error(p); process.exit(1); }' "$WORK/out/npm/package.json"
# Refused as npm refuses them, before anything is compiled, naming the flag.
refused() {
  local flag=$1 value=$2 why=$3
  if "$DFABAKE" build --patterns examples/rules.jsonl --out "$WORK/refused" "$flag" "$value" >"$WORK/refused.log" 2>&1; then
    echo "accepted $flag $value"; return 1
  fi
  grep -qF -- "$flag: " "$WORK/refused.log" && grep -qF -- "$why" "$WORK/refused.log" && [ ! -e "$WORK/refused" ] \
    || { cat "$WORK/refused.log"; return 1; }
}
refused_all() {
  local v
  for v in node_modules favicon.ico .hidden _private Upper "a b" "a?b" "café" "@scope" "it's" "$(printf 'a%.0s' $(seq 215))"; do
    refused --npm-name "$v" "is not a valid npm package name" || return 1
  done
  for v in 1.0.0- 1.0 v1.0.0 01.0.0 1.0.0+; do refused --npm-version "$v" "is not a valid semver version" || return 1; done
  refused --npm-repository ftp://host/x "is not a repository" &&
    refused --npm-keywords "a,,b" "is not a keyword" &&
    refused --npm-license " " "is not a license"
}
step "bad --npm-* values refused, naming the flag (npm's name rules, semver)" refused_all
for mode in any all first; do
  step "dfabake-host match --mode $mode" \
    sh -c "'$HOST' match --module '$WORK/out/matcher.wasm' --mode $mode - <'$WORK/corpus.txt' >'$WORK/host-$mode.jsonl'" || finish
done
echo "  corpus: $(wc -l <"$WORK/corpus.txt") lines"

# 2. npm pack, install into a fresh project, compare in Node 18/20/22 (import
#    and require()), Bun and Deno.
step "npm pack" npm pack "$WORK/out/npm" "$WORK/out-inline/npm" --pack-destination "$WORK" || finish
TARBALL=$(ls "$WORK"/dfabake-rules-0.1.0.tgz)
TARBALL_INLINE=$(ls "$WORK"/dfabake-rules-inline-1.0.0-rc.1.tgz)
mkdir -p "$WORK/proj"
printf '{ "name": "consumer", "private": true, "type": "module" }\n' >"$WORK/proj/package.json"
step "npm install the tarballs in a fresh project" \
  npm install --prefix "$WORK/proj" --no-audit --no-fund --offline "$TARBALL" "$TARBALL_INLINE" || finish
cp "$HERE/compare.test.mjs" "$HERE/consumer.mts" "$HERE/consumer.cts" "$HERE/tsconfig.consumer.json" \
  "$HERE/tsconfig.node16.json" "$HERE/run-bundle.mjs" "$HERE/webpack.config.mjs" "$HERE/vite.config.mjs" "$WORK/proj/"
export CORPUS="$WORK/corpus.txt" HOST_ANY="$WORK/host-any.jsonl" HOST_ALL="$WORK/host-all.jsonl" \
  HOST_FIRST="$WORK/host-first.jsonl" PKG=dfabake-rules
(
  cd "$WORK/proj" || exit 1
  node_tests "node $(node --version)" compare.test.mjs
  for v in 18 22; do
    bin=$NM/node$v/bin/node
    NODE_BIN=$bin node_tests "node $($bin --version), import" compare.test.mjs
    LOAD=require NODE_BIN=$bin node_tests "node $($bin --version), require()" compare.test.mjs
    LOAD=require PKG=dfabake-rules-inline NODE_BIN=$bin node_tests "node $($bin --version), require(), --npm-inline-wasm" compare.test.mjs
  done
  PKG=dfabake-rules-inline NODE_BIN=$NODE22 node_tests "node 22, import, --npm-inline-wasm" compare.test.mjs
  runtime_tests "bun $("$BUN" --version), import" bun ./compare.test.mjs
  LOAD=require runtime_tests "bun, require()" bun ./compare.test.mjs
  PKG=dfabake-rules-inline runtime_tests "bun, import, --npm-inline-wasm" bun ./compare.test.mjs
  runtime_tests "$("$DENO" --version | head -1), import" deno compare.test.mjs
  PKG=dfabake-rules-inline runtime_tests "deno, import, --npm-inline-wasm" deno compare.test.mjs
  echo "$PASSED $FAILED" >"$WORK/counts"
)
read -r PASSED FAILED <"$WORK/counts"
# 2a. Verification at load: a damaged module is refused, `verify: false` opts
#     out; no call reaches the module before initialization.
cp "$HERE/verify.test.mjs" "$WORK/proj/"
(cd "$WORK/proj" && PKG_DIR="$WORK/proj/node_modules/dfabake-rules" node_tests "node, verification at load" verify.test.mjs
 PKG_DIR="$WORK/proj/node_modules/dfabake-rules" NODE_BIN=$NODE18 node_tests "node 18, verification at load" verify.test.mjs
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

# 3. Package lint and types.
for t in "$TARBALL" "$TARBALL_INLINE"; do
  step "publint $(basename "$t")" "$NM/.bin/publint" run --strict "$t"
  step "attw (arethetypeswrong) $(basename "$t")" "$NM/.bin/attw" --format ascii "$t"
done
step "tsc --noEmit on .mts and .cts consumers (module nodenext, DOM lib)" "$TSC" -p "$WORK/proj/tsconfig.consumer.json"
step "tsc --noEmit on .mts and .cts consumers (module node16, no DOM lib)" "$TSC" -p "$WORK/proj/tsconfig.node16.json"

# 4. esbuild bundles of tests/npm/bundle-app.mjs, run in Node, Deno and workerd
#    (the Workers in step 5). The reference: the same app unbundled in Node.
(
  cd "$WORK/proj" || exit 1
  for p in dfabake-rules dfabake-rules-inline; do sed "s/@PKG@/$p/" "$HERE/bundle-app.mjs" >"app-$p.mjs"; done
  node run-bundle.mjs app-dfabake-rules.mjs >"$WORK/reference.json"
  esb() { "$ESBUILD" --bundle --log-level=warning "$@"; }
  AT_IMPORT='^initialized at import$'
  NOT_INIT='^DFABAKE_NOT_INITIALIZED: dfabake: dfabake-rules is not initialized: `await init\(\)`'
  # --npm-inline-wasm: no loader, no copy, every platform.
  if step "esbuild --platform=browser --format=esm (--npm-inline-wasm)" \
      esb app-dfabake-rules-inline.mjs --platform=browser --format=esm --outfile=dist/browser.mjs; then
    step "  browser bundle runs in Deno, initialized at import" bundle_runs "$WORK/b1.json" "$AT_IMPORT" \
      env DENO_DIR="$WORK/deno-dir" DENO_NO_UPDATE_CHECK=1 "$DENO" run -A run-bundle.mjs dist/browser.mjs
    step "  browser bundle runs in Node 18" bundle_runs "$WORK/b2.json" "$AT_IMPORT" "$NODE18" run-bundle.mjs dist/browser.mjs
  fi
  if step "esbuild --platform=node --format=esm (--npm-inline-wasm)" \
      esb app-dfabake-rules-inline.mjs --platform=node --format=esm --outfile=dist/node.mjs; then
    step "  Node ESM bundle runs in Node 22" bundle_runs "$WORK/b3.json" "$AT_IMPORT" "$NODE22" run-bundle.mjs dist/node.mjs
    step "  Node ESM bundle runs in Deno" bundle_runs "$WORK/b4.json" "$AT_IMPORT" \
      env DENO_DIR="$WORK/deno-dir" DENO_NO_UPDATE_CHECK=1 "$DENO" run -A run-bundle.mjs dist/node.mjs
  fi
  if step "esbuild --platform=node --format=cjs (--npm-inline-wasm)" \
      esb app-dfabake-rules-inline.mjs --platform=node --format=cjs --outfile=dist/node.cjs; then
    step "  Node CommonJS bundle runs in Node 18 (require)" bundle_runs "$WORK/b5.json" "$AT_IMPORT" "$NODE18" run-bundle.mjs dist/node.cjs
  fi
  step "esbuild Worker bundle --conditions=workerd --loader:.wasm=copy (--npm-inline-wasm)" \
    esb app-dfabake-rules-inline.mjs --format=esm --conditions=workerd,worker --loader:.wasm=copy \
    --asset-names='[name]' --outfile=dist/worker-inline/worker.js
  # The default package: Workers get the .wasm emitted by the copy loader; a
  # browser bundle needs `await init()` and says so before it.
  step "esbuild Worker bundle --conditions=workerd --loader:.wasm=copy" \
    esb app-dfabake-rules.mjs --format=esm --conditions=workerd,worker --loader:.wasm=copy \
    --asset-names='[name]' --outfile=dist/worker/worker.js
  if step "esbuild --platform=browser --format=esm" esb app-dfabake-rules.mjs --platform=browser --format=esm --outfile=dist/browser-file.mjs; then
    step "  browser bundle in Deno: calls before init() throw DFABAKE_NOT_INITIALIZED, then init() serves them" \
      bundle_runs "$WORK/b6.json" "$NOT_INIT" env DENO_DIR="$WORK/deno-dir" DENO_NO_UPDATE_CHECK=1 "$DENO" run -A \
      run-bundle.mjs dist/browser-file.mjs node_modules/dfabake-rules/dfabake_matcher_bg.wasm
  fi
  # webpack 5 and Vite follow browser.js's `new URL("./dfabake_matcher_bg.wasm",
  # import.meta.url)`: the bundle carries the module, and `await init()` loads it.
  if step "webpack (target web, ES module output)" env APP=app-dfabake-rules.mjs "$NM/.bin/webpack" --config webpack.config.mjs; then
    step "  webpack bundle runs in Deno: await init() loads the .wasm webpack emitted" bundle_runs "$WORK/b8.json" "$NOT_INIT" \
      env DENO_DIR="$WORK/deno-dir" DENO_NO_UPDATE_CHECK=1 "$DENO" run -A run-bundle.mjs dist/webpack/app.mjs
  fi
  if step "vite build (library mode)" env APP=app-dfabake-rules.mjs "$NM/.bin/vite" build --config vite.config.mjs; then
    step "  Vite bundle runs in Deno: await init() loads the module Vite carried" bundle_runs "$WORK/b9.json" "$NOT_INIT" \
      env DENO_DIR="$WORK/deno-dir" DENO_NO_UPDATE_CHECK=1 "$DENO" run -A run-bundle.mjs dist/vite/app.js
    step "  Vite bundle runs in Node 22" bundle_runs "$WORK/b10.json" "$NOT_INIT" "$NODE22" run-bundle.mjs dist/vite/app.js
  fi
  if step "esbuild --platform=node --format=cjs" esb app-dfabake-rules.mjs --platform=node --format=cjs --outfile=dist/node-file.cjs; then
    step "  Node bundle without its .wasm fails at load, pointing to --npm-inline-wasm" sh -c \
      "! '$NODE18' run-bundle.mjs dist/node-file.cjs 2>'$WORK/b7.log' && grep -q 'cannot read dfabake-rules.s dfabake_matcher_bg.wasm next to its code.*--npm-inline-wasm' '$WORK/b7.log'"
  fi
  echo "$PASSED $FAILED" >"$WORK/counts"
)
read -r PASSED FAILED <"$WORK/counts"

# 5. Real workerd.
cp "$ROOT/examples/worker/worker.mjs" "$ROOT/tests/workerd/test-worker.mjs" "$WORK/proj/"
read -r EXAMPLE_PORT TEST_PORT < <(two_ports)
sed -e "s/@EXAMPLE_PORT@/$EXAMPLE_PORT/" -e "s/@TEST_PORT@/$TEST_PORT/" \
  "$ROOT/tests/workerd/config.capnp.in" >"$WORK/proj/config.capnp"
"$WORKERD" serve "$WORK/proj/config.capnp" >"$WORK/workerd.log" 2>&1 &
WPID=$!
if workerd_ready "$EXAMPLE_PORT" "$TEST_PORT"; then
  pass "workerd serve (pid $WPID) listening on 127.0.0.1:$EXAMPLE_PORT and :$TEST_PORT"
  EXAMPLE_URL="http://127.0.0.1:$EXAMPLE_PORT" TEST_URL="http://127.0.0.1:$TEST_PORT" \
    node_tests "workerd" "$ROOT/tests/workerd/workerd.test.mjs"
  sample=$(curl -s -A "Mozilla/5.0 (compatible; Googlebot/2.1)" "http://127.0.0.1:$EXAMPLE_PORT/")
  echo "  example worker: $sample"
else
  cat "$WORK/workerd.log"
  fail "workerd serve"
fi
stop_workerd

# The esbuild Worker bundles of step 4, each with the .wasm esbuild emitted.
read -r FILE_PORT INLINE_PORT < <(two_ports)
sed -e "s/@FILE_PORT@/$FILE_PORT/" -e "s/@INLINE_PORT@/$INLINE_PORT/" \
  "$ROOT/tests/workerd/bundles.capnp.in" >"$WORK/proj/bundles.capnp"
"$WORKERD" serve "$WORK/proj/bundles.capnp" >"$WORK/workerd-bundles.log" 2>&1 &
WPID=$!
if workerd_ready "$FILE_PORT" "$INLINE_PORT"; then
  pass "workerd serve (pid $WPID) of the esbuild Worker bundles"
  step "  Worker bundle runs in workerd" bundle_runs "$WORK/w1.json" '^initialized at import$' \
    curl -sf "http://127.0.0.1:$FILE_PORT/"
  step "  Worker bundle (--npm-inline-wasm) runs in workerd" bundle_runs "$WORK/w2.json" '^initialized at import$' \
    curl -sf "http://127.0.0.1:$INLINE_PORT/"
else
  cat "$WORK/workerd-bundles.log"
  fail "workerd serve (esbuild Worker bundles)"
fi
stop_workerd
finish
