// The package verifies its database once at load: a module damaged after the
// build (one payload byte changed, as a bad copy or an edit would) makes the
// import throw a clear error instead of answering with altered payloads;
// `initSync({ module, verify: false })` opts out. Run by tests/npm/run.sh;
// env: PKG_DIR (the installed examples package, whose rule 1 has the
// payload {"kind":"search","owner":"Google"}).
import { test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { createRequire } from "node:module";

const PKG_DIR = process.env.PKG_DIR;
const WASM = "dfabake_matcher_bg.wasm";
const UA = "Mozilla/5.0 (compatible; Googlebot/2.1)";
const work = mkdtempSync(join(tmpdir(), "dfabake-npm-verify-"));
process.on("exit", () => rmSync(work, { recursive: true, force: true }));

/** A fresh copy of the package (its own module instance), its .wasm edited by `edit`. */
function copy(name, edit = (b) => b) {
  const dir = join(work, name);
  cpSync(PKG_DIR, dir, { recursive: true });
  const wasm = edit(readFileSync(join(dir, WASM)));
  writeFileSync(join(dir, WASM), wasm);
  return { dir, wasm, url: (f) => pathToFileURL(join(dir, f)).href };
}

/** Google → Goog1e in the payload: the checksum no longer matches. */
function damaged(bytes) {
  const at = bytes.indexOf(Buffer.from('"owner":"Google"'));
  assert.ok(at >= 0, "the payload is in the module");
  const out = Buffer.from(bytes);
  out[at + 13] = "1".charCodeAt(0);
  return out;
}

test("an intact package verifies at import and answers", async () => {
  const pkg = copy("intact");
  const t = performance.now();
  const { first } = await import(pkg.url("node.js"));
  console.log(`# import with verification: ${(performance.now() - t).toFixed(2)} ms`);
  assert.equal(first(UA).payload.owner, "Google");
});

test("a damaged module makes the import throw, naming the problem", async () => {
  const pkg = copy("damaged-import", damaged);
  await assert.rejects(import(pkg.url("node.js")), (e) => {
    assert.match(e.message, /^dfabake: the baked database failed verification: database checksum mismatch/);
    return true;
  });
});

test("initSync verifies by default, and the package then refuses every call", async () => {
  const pkg = copy("damaged-init", damaged);
  const { initSync, isMatch, matches } = await import(pkg.url("init.js"));
  assert.throws(() => initSync({ module: pkg.wasm }), /failed verification: database checksum mismatch/);
  assert.throws(() => isMatch(UA), /failed verification/);
  assert.throws(() => matches(UA), /failed verification/);
});

test("init() verifies by default too", async () => {
  const pkg = copy("damaged-async", damaged);
  const { default: init } = await import(pkg.url("init.js"));
  await assert.rejects(init({ module_or_path: pkg.wasm }), /failed verification/);
});

test("verify: false opts out: the damaged payload comes back as is", async () => {
  const pkg = copy("opt-out", damaged);
  const { initSync, first, verify } = await import(pkg.url("init.js"));
  initSync({ module: pkg.wasm, verify: false });
  assert.equal(first(UA).payload.owner, "Goog1e");
  // An explicit check still finds it, and from then on the package refuses.
  assert.throws(() => verify(), /checksum mismatch/);
  assert.throws(() => first(UA), /failed verification/);
});

test("require() verifies too: a damaged module makes the CommonJS entry throw", () => {
  const pkg = copy("damaged-require", damaged);
  const require = createRequire(pkg.url("package.json"));
  assert.throws(() => require(join(pkg.dir, "node.cjs")), /^Error: dfabake: the baked database failed verification: database checksum mismatch/);
  const intact = copy("intact-require");
  assert.equal(createRequire(intact.url("package.json"))(join(intact.dir, "node.cjs")).first(UA).payload.owner, "Google");
});

test("before initialization every call throws a clear error, and init() then serves them", async () => {
  const pkg = copy("uninitialized");
  const api = await import(pkg.url("browser.js"));
  assert.equal(api.isInitialized(), false);
  const calls = [() => api.isMatch(UA), () => api.matches(UA), () => api.first(UA), () => api.ruleCount(), () => api.verify(),
    () => api.isMatch(undefined)];
  for (const call of calls) {
    assert.throws(call, (e) => {
      assert.equal(e.code, "DFABAKE_NOT_INITIALIZED");
      assert.match(e.message, /^dfabake: dfabake-rules is not initialized: `await init\(\)`/);
      return true;
    });
  }
  const pending = api.init({ module_or_path: pkg.wasm });
  assert.throws(() => api.isMatch(UA), /dfabake-rules is still initializing: `await init\(\)` before matching/);
  const matcher = await pending;
  assert.equal(api.isInitialized(), true);
  assert.equal(matcher.first(UA).payload.owner, "Google");
  assert.equal(api.isMatch(undefined), false);
  // Later inits are no-ops.
  assert.strictEqual(await api.init(), matcher);
  assert.strictEqual(api.initSync({ module: new Uint8Array(0) }), matcher);
});

test("initSync without a module says what it needs", async () => {
  const pkg = copy("no-module");
  const { initSync } = await import(pkg.url("init.js"));
  assert.throws(() => initSync({}), /initSync\(\{ module \}\) needs a WebAssembly.Module or the bytes of dfabake_matcher_bg.wasm/);
});

// Each call hands the module a fresh input buffer; with inputs of varied
// sizes over 32 KiB (whole pages), freed runs of pages must merge and be
// reused, or the memory grows at every call (3.5 GB after 50,000 calls of
// 33–333 KB, then an out-of-memory trap).
test("inputs of varied sizes do not grow the module's memory call after call", () => {
  const pkg = copy("memory");
  return import(pkg.url("dfabake_matcher.js")).then((glue) => {
    const wasm = glue.initSync({ module: readFileSync(join(pkg.dir, WASM)) });
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const ua = Buffer.from(UA);
    for (let i = 0; i < 3000; i++) {
      const input = new Uint8Array(33000 + Math.floor(next() * 300000));
      input.set(ua, input.length - ua.length);
      assert.equal(glue.is_match(input), true);
    }
    const mib = wasm.memory.buffer.byteLength / 2 ** 20;
    assert.ok(mib < 64, `${mib.toFixed(1)} MiB of memory after 3,000 inputs of 33–333 KB`);
  });
});
