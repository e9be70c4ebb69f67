// The installed package answers exactly as `dfabake-host match` on a shared
// corpus, in all three modes, for string and Uint8Array inputs.
// Run by tests/npm/run.sh from a fresh project where the packed package is
// installed; env: CORPUS (one input a line), HOST_ANY, HOST_ALL, HOST_FIRST
// (the host's JSON-lines outputs for that corpus), PKG (the package name),
// LOAD=require to load it with require() (its CommonJS entry) instead of import.
// Runs under Node's test runner (Node 18 and 22), `bun test` and `deno test`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const name = process.env.PKG ?? "dfabake-rules";
const pkg = process.env.LOAD === "require"
  ? createRequire(`${process.cwd()}/`)(name)
  : await import(name);
const { isMatch, matches, first, ruleCount, verify } = pkg;

function lines(buf) {
  const out = [];
  let start = 0;
  for (let i = 0; i < buf.length; i++) {
    if (buf[i] === 0x0a) {
      let end = i;
      if (end > start && buf[end - 1] === 0x0d) end--;
      out.push(buf.subarray(start, end));
      start = i + 1;
    }
  }
  if (start < buf.length) out.push(buf.subarray(start));
  return out;
}

const corpus = lines(readFileSync(process.env.CORPUS));
const decoder = new TextDecoder("utf-8", { fatal: true });
const asString = corpus.map((b) => {
  try { return decoder.decode(b); } catch { return null; }
});
const host = (file) => readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l).matches);
const hostAny = host(process.env.HOST_ANY);
const hostAll = host(process.env.HOST_ALL);
const hostFirst = host(process.env.HOST_FIRST);

function compare(mode, ours, expected) {
  assert.equal(expected.length, corpus.length, `host ${mode} answered ${expected.length} lines`);
  let mismatches = 0, checked = 0;
  for (let i = 0; i < corpus.length; i++) {
    const inputs = [corpus[i]];
    if (asString[i] !== null) inputs.push(asString[i]);
    for (const input of inputs) {
      checked++;
      const got = ours(input);
      try {
        assert.deepStrictEqual(got, expected[i]);
      } catch {
        if (mismatches++ < 10) {
          console.error(`${mode} mismatch on line ${i + 1} (${typeof input === "string" ? "string" : "bytes"}): ${JSON.stringify(asString[i])}\n` +
            `  package: ${JSON.stringify(got)}\n  host:    ${JSON.stringify(expected[i])}`);
        }
      }
    }
  }
  console.log(`# ${mode}: ${checked} inputs checked, ${mismatches} mismatches`);
  assert.equal(mismatches, 0, `${mismatches} ${mode} mismatches`);
}

test("the database verifies and has rules", () => {
  verify();
  assert.ok(ruleCount() > 0);
});

test("mode any: isMatch", () => {
  compare("any", isMatch, hostAny.map((m) => m.length > 0));
});

test("mode all: matches", () => {
  compare("all", matches, hostAll);
});

test("mode first: first", () => {
  compare("first", first, hostFirst.map((m) => m[0] ?? null));
});

test("results are fresh plain objects", () => {
  const input = corpus.find((_, i) => hostFirst[i].length > 0 && hostFirst[i][0].payload !== null);
  assert.ok(input, "the corpus has a line whose first match has a payload");
  const a = first(input), b = first(input);
  assert.notStrictEqual(a.payload, b.payload);
  assert.equal(Object.getPrototypeOf(a), Object.prototype);
  assert.ok(Array.isArray(a.captures));
});

test(`loaded through ${process.env.LOAD === "require" ? "require() (CommonJS)" : "import (ESM)"}`, () => {
  assert.equal(typeof pkg.isMatch, "function");
  assert.equal(pkg.isInitialized(), true);
});

test("the .wasm subpath resolves to the module file", () => {
  const path = createRequire(`${process.cwd()}/`).resolve(`${name}/dfabake_matcher_bg.wasm`);
  assert.deepStrictEqual([...readFileSync(path).subarray(0, 4)], [0x00, 0x61, 0x73, 0x6d]);
});

test("bad inputs throw TypeError", () => {
  for (const bad of [42, {}, [1, 2], new ArrayBuffer(2)]) {
    assert.throws(() => matches(bad), TypeError);
    assert.throws(() => isMatch(bad), TypeError);
  }
});

test("a missing input (null, undefined) matches nothing and does not throw", () => {
  for (const missing of [undefined, null]) {
    assert.equal(isMatch(missing), false);
    assert.deepStrictEqual(matches(missing), []);
    assert.equal(first(missing), null);
  }
});
