// Compiled with `tsc --noEmit` against the installed package's types.
import { isMatch, matches, first, ruleCount, verify, type Match, type FirstMatch, type Json } from "dfabake-rules";
import init, { initSync } from "dfabake-rules/init";

const ua: string = "Mozilla/5.0 (compatible; Googlebot/2.1)";
const hit: boolean = isMatch(ua) || isMatch(new TextEncoder().encode(ua));
const all: Match[] = matches(ua);
const ids: Array<number | string> = all.map((m) => m.id);
const payload: Json = all.length > 0 ? all[0].payload : null;
const f: FirstMatch | null = first(new Uint8Array([0x63, 0x75, 0x72, 0x6c]));
if (f !== null) {
  const span: [number, number] = [f.start, f.end];
  const groups: Array<[number, number] | null> = f.captures;
  console.log(span, groups);
}
const n: number = ruleCount();
verify();
void init;
void initSync;
// Verification at load can be skipped explicitly.
const unverified: Parameters<typeof initSync>[0] = { module: new Uint8Array(0), verify: false };
const lazy: Parameters<typeof init>[0] = { verify: false };
void unverified;
void lazy;
console.log(hit, ids, payload, n);

// @ts-expect-error: inputs are strings or Uint8Arrays only
matches(42);
