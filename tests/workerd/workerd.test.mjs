// The package in real workerd answers as `dfabake-host match`: the test
// Worker over the whole corpus (bytes and strings, all three modes), and the
// example Worker over HTTP with inputs as User-Agent headers.
// env: EXAMPLE_URL, TEST_URL, CORPUS, HOST_ANY, HOST_ALL, HOST_FIRST.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

const corpus = readFileSync(process.env.CORPUS);
const host = (file) => readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l).matches);
const expected = {
  any: host(process.env.HOST_ANY).map((m) => m.length > 0),
  all: host(process.env.HOST_ALL),
  first: host(process.env.HOST_FIRST).map((m) => m[0] ?? null),
};

for (const mode of ["any", "all", "first"]) {
  test(`workerd test worker, mode ${mode}`, async () => {
    const res = await fetch(`${process.env.TEST_URL}/match?mode=${mode}`, { method: "POST", body: corpus });
    assert.equal(res.status, 200);
    const { bytes, strings } = await res.json();
    const want = expected[mode];
    assert.equal(bytes.length, want.length);
    let mismatches = 0;
    const check = (i, got, kind) => {
      try { assert.deepStrictEqual(got, want[i]); } catch {
        if (mismatches++ < 10) console.error(`${mode} (${kind}) line ${i + 1}: ${JSON.stringify(got)} != ${JSON.stringify(want[i])}`);
      }
    };
    bytes.forEach((got, i) => check(i, got, "bytes"));
    for (const [i, got] of strings) check(i, got, "string");
    console.log(`# workerd ${mode}: ${bytes.length + strings.length} inputs checked, ${mismatches} mismatches`);
    assert.equal(mismatches, 0);
  });
}

test("example worker classifies the User-Agent header", async () => {
  const text = corpus.toString("utf8").split("\n");
  // Header values: printable ASCII, no surrounding whitespace (fetch trims it).
  const idx = text.map((l, i) => i).filter((i) =>
    /^[\x21-\x7e][\x20-\x7e]*$/.test(text[i]) && text[i] === text[i].trim()).slice(0, 300);
  assert.ok(idx.length >= 100, `only ${idx.length} header-safe lines`);
  let mismatches = 0;
  for (const i of idx) {
    const res = await fetch(process.env.EXAMPLE_URL, { headers: { "user-agent": text[i] } });
    const body = await res.json();
    try {
      assert.equal(body.userAgent, text[i]);
      assert.equal(body.matched, expected.any[i]);
      assert.deepStrictEqual(body.matches, expected.all[i]);
      assert.deepStrictEqual(body.first, expected.first[i]);
    } catch (e) {
      if (mismatches++ < 10) console.error(`example worker, line ${i + 1}: ${e.message}`);
    }
  }
  console.log(`# example worker: ${idx.length} user agents checked, ${mismatches} mismatches`);
  assert.equal(mismatches, 0);
});
