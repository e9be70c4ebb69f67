// Test and benchmark endpoints over the npm package, run in real workerd by
// tests/npm/run.sh and benches/npm/bench.mjs (the example Worker itself is
// examples/worker/worker.mjs).
//
// POST /match?mode=any|all|first   body: inputs, one a line
//   -> {bytes: [answer per line, Uint8Array input], strings: [[line, answer], ...] for valid UTF-8 lines}
// POST /bench?mode=...&n=N         body: inputs, one a line
//   -> runs N matches cycling over the inputs; timed from outside (workerd
//      freezes clocks during a request), against n=0.
import { isMatch, matches, first } from "dfabake-rules";

const modes = { any: isMatch, all: matches, first };

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

export default {
  async fetch(request) {
    const url = new URL(request.url);
    const fn = modes[url.searchParams.get("mode") ?? "all"];
    if (!fn) return new Response("unknown mode", { status: 400 });
    const inputs = lines(new Uint8Array(await request.arrayBuffer()));
    if (url.pathname === "/match") {
      const decoder = new TextDecoder("utf-8", { fatal: true });
      const strings = [];
      inputs.forEach((b, i) => {
        let s;
        try { s = decoder.decode(b); } catch { return; }
        strings.push([i, fn(s)]);
      });
      return Response.json({ bytes: inputs.map((b) => fn(b)), strings });
    }
    if (url.pathname === "/bench") {
      const n = Number(url.searchParams.get("n") ?? 0);
      const strs = inputs.map((b) => new TextDecoder().decode(b));
      let sink = 0;
      for (let i = 0; i < n; i++) {
        const r = fn(strs[i % strs.length]);
        if (r) sink++;
      }
      return Response.json({ n, sink });
    }
    return new Response("not found", { status: 404 });
  },
};
