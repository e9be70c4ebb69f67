// Runs a bundle of bundle-app.mjs (ESM, or CommonJS when it ends in .cjs) in
// Node or Deno and prints {beforeInit, answers} as JSON. A second argument
// names a .wasm file to initialize from, for entry points that cannot load
// theirs by themselves.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const args = typeof Deno === "object" ? Deno.args : process.argv.slice(2);
const bundle = resolve(args[0]);
const app = bundle.endsWith(".cjs") ? createRequire(import.meta.url)(bundle) : await import(pathToFileURL(bundle).href);
const before = app.beforeInit();
const source = args[1] ? readFileSync(args[1]) : undefined;
console.log(JSON.stringify({ beforeInit: before, answers: await app.answers(source) }));
