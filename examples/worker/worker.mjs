// A Cloudflare Worker that classifies the request's User-Agent with the
// npm package dfabake builds (`dfabake build --patterns rules.jsonl --out OUT`
// writes it to OUT/npm; here it is installed as "dfabake-rules").
//
// The package's `workerd` export condition imports its .wasm as the
// WebAssembly.Module the platform provides and instantiates it once per
// isolate at import time; every call below is synchronous.
import { isMatch, matches, first } from "dfabake-rules";

export default {
  async fetch(request) {
    const ua = request.headers.get("user-agent") ?? "";
    const hit = first(ua);
    return Response.json({
      userAgent: ua,
      matched: isMatch(ua),
      // The highest-priority rule, with byte offsets and capture groups.
      first: hit,
      // Every matching rule, in priority order.
      matches: matches(ua),
    });
  },
};
