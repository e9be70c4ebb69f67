// Vite (library mode) build of the test app for the browser: the package's
// `new URL("./dfabake_matcher_bg.wasm", import.meta.url)` is emitted with it.
export default {
  logLevel: "warn",
  build: {
    outDir: "dist/vite",
    emptyOutDir: true,
    target: "es2022",
    assetsInlineLimit: 0,
    lib: { entry: process.env.APP, formats: ["es"], fileName: "app" },
  },
};
