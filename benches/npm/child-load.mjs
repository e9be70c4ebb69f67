// One fresh-process load measurement for benches/npm/bench.mjs; prints JSON.
// node child-load.mjs package NPM_DIR INPUT MODE          (the baked package, step by step)
// node child-load.mjs import NPM_DIR INPUT MODE           (`import` of node.js: what users see)
// node child-load.mjs regex WASM PATTERNS_FILE INPUT MODE (compile-at-start baseline)
// MODE: any (the first answer is isMatch / RegexSet::is_match) or first
// (first / RegexSet::matches then Regex::captures).
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { join } from "node:path";

const [kind, where, a, b, c] = process.argv.slice(2);
const mode = kind === "regex" ? c : b;
if (mode !== "any" && mode !== "first") throw new Error(`bad mode ${mode}`);
const now = () => performance.now();
const out = {};
if (kind === "package") {
  const api = await import(pathToFileURL(join(where, "api.js")));
  const t0 = now();
  const bytes = readFileSync(join(where, "dfabake_matcher_bg.wasm"));
  const t1 = now();
  const module = new WebAssembly.Module(bytes);
  const t2 = now();
  // Instantiation alone, as the glue does it: verification is timed elsewhere.
  api.initSync({ module, verify: false });
  const t3 = now();
  const r = mode === "any" ? api.isMatch(a) : api.first(a) !== null;
  const t4 = now();
  Object.assign(out, { read: t1 - t0, compile: t2 - t1, instantiate: t3 - t2, first: t4 - t3, total: t4 - t0, matched: r });
} else if (kind === "import") {
  const t0 = now();
  const api = await import(pathToFileURL(join(where, "node.js")));
  const r = mode === "any" ? api.isMatch(a) : api.first(a) !== null;
  const t1 = now();
  Object.assign(out, { total: t1 - t0, matched: r });
} else if (kind === "regex") {
  const patterns = readFileSync(a);
  const t0 = now();
  const bytes = readFileSync(where);
  const t1 = now();
  const module = new WebAssembly.Module(bytes);
  const t2 = now();
  const { exports: x } = new WebAssembly.Instance(module, {});
  const t3 = now();
  let p = x.input(patterns.length);
  new Uint8Array(x.memory.buffer, p, patterns.length).set(patterns);
  if (x.compile(patterns.length) !== 0) throw new Error("regex: a pattern failed to compile");
  const t4 = now();
  const input = new TextEncoder().encode(b);
  p = x.input(input.length);
  new Uint8Array(x.memory.buffer, p, input.length).set(input);
  const r = mode === "any" ? x.is_match(input.length) === 1 : x.first(input.length) >= 0;
  const t5 = now();
  Object.assign(out, { read: t1 - t0, compile: t2 - t1, instantiate: t3 - t2, rules: t4 - t3, first: t5 - t4, total: t5 - t0, matched: r });
} else {
  throw new Error(`unknown kind ${kind}`);
}
console.log(JSON.stringify(out));
