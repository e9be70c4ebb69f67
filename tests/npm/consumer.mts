// Type-checked with `tsc --noEmit` against the installed package's types, as an
// ES module (TypeScript module node16 and nodenext; with and without the DOM lib).
import { isMatch, matches, first, ruleCount, verify, init, initSync, isInitialized } from "dfabake-rules";
import type { Match, FirstMatch, Json, Matcher, InitOptions } from "dfabake-rules";
import initExplicit, { initSync as initSyncExplicit } from "dfabake-rules/init";
import wasmModule from "dfabake-rules/dfabake_matcher_bg.wasm";

const ua: string = "Mozilla/5.0 (compatible; Googlebot/2.1)";
const hit: boolean = isMatch(ua) || isMatch(new Uint8Array([0x63, 0x75, 0x72, 0x6c]));
const all: Match[] = matches(ua);
const ids: Array<number | string> = all.map((m) => m.id);
const payload: Json = all.length > 0 ? all[0].payload : null;
const f: FirstMatch | null = first(new Uint8Array([0x63, 0x75, 0x72, 0x6c]));
if (f !== null) {
  const span: [number, number] = [f.start, f.end];
  const groups: Array<[number, number] | null> = f.captures;
  void [span, groups];
}
const n: number = ruleCount();
verify();
// A missing header is a valid input (isbot-style): no match.
const header: string | null | undefined = undefined;
const missing: boolean = isMatch(header) || isMatch(null) || first(undefined) !== null || matches(null).length > 0;
// init() resolves to the API, and is a no-op where import initialized.
const ready: boolean = isInitialized();
const matcher: Matcher = await init();
const again: boolean = matcher.isMatch(ua);
const fromExplicit: Promise<Matcher> = initExplicit({ verify: false });
const synced: Matcher = initSyncExplicit({ module: new Uint8Array(0), verify: false });
const options: InitOptions = { module_or_path: "https://example.invalid/x.wasm", verify: false };
void initSync;
void wasmModule;
export const used = [hit, ids, payload, n, missing, ready, again, fromExplicit, synced, options];

// @ts-expect-error: inputs are strings, Uint8Arrays, null or undefined only
matches(42);
// @ts-expect-error: initSync needs the module
initSync({});
