// The app that tests/npm/run.sh bundles with esbuild (for browsers, Node and
// Workers) and runs in Node, Deno and workerd; run.sh replaces @PKG@ with the
// package's name. Its answers are compared with those of this same file run
// unbundled in Node, where the package is checked against dfabake-host.
import { isMatch, matches, first, init, isInitialized } from "@PKG@";

const INPUTS = [
  "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
  "curl/8.5.0",
  "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
  "python-requests/2.31.0 bingbot/2.0",
  new Uint8Array([0x63, 0x75, 0x72, 0x6c, 0x2f, 0x37, 0xff]),
  null,
  undefined,
];

/** What a call before initialization does: "answers" or the error's code and message. */
export function beforeInit() {
  if (isInitialized()) return "initialized at import";
  try {
    isMatch("curl/8.5.0");
    return "answered";
  } catch (e) {
    return `${e.code}: ${e.message}`;
  }
}

/** Initializes (from `source` if given; a no-op where import did it) and answers every input. */
export async function answers(source) {
  await init(source === undefined ? undefined : { module_or_path: source });
  return INPUTS.map((input) => [isMatch(input), matches(input), first(input)]);
}

export default {
  async fetch() {
    return Response.json({ beforeInit: beforeInit(), answers: await answers() });
  },
};
