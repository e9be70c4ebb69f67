// Type-checked with `tsc --noEmit` against the installed package's types, as a
// CommonJS module (TypeScript module node16 and nodenext): imports here compile
// to require(), which resolves to the package's CommonJS entry and its .d.cts.
import { isMatch, matches, first, ruleCount, init, type Match, type FirstMatch } from "dfabake-rules";
import explicit = require("dfabake-rules/init");

const ua = "Mozilla/5.0 (compatible; Googlebot/2.1)";
const hit: boolean = isMatch(ua) || isMatch(undefined);
const all: Match[] = matches(ua);
const f: FirstMatch | null = first(null);
const n: number = ruleCount();
const ready: Promise<unknown> = init();
const sync: typeof explicit.initSync = explicit.initSync;
export const used = [hit, all, f, n, ready, sync, explicit.default];

// @ts-expect-error: inputs are strings, Uint8Arrays, null or undefined only
isMatch(42);
