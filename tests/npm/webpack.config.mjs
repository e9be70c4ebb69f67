// webpack 5 build of the test app for the browser, as an ES module: the
// package's `new URL("./dfabake_matcher_bg.wasm", import.meta.url)` becomes an
// emitted asset next to the bundle.
import { resolve } from "node:path";
export default {
  mode: "production",
  target: "web",
  entry: resolve(process.env.APP),
  experiments: { outputModule: true },
  output: { path: resolve("dist/webpack"), filename: "app.mjs", module: true, library: { type: "module" }, clean: true },
  performance: { hints: false },
  stats: "errors-warnings",
};
