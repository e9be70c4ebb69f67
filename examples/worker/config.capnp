# workerd config for the example Worker. Paths are relative to this file:
# put it next to worker.mjs in a project where the package is installed as
# node_modules/dfabake-rules, then `workerd serve config.capnp`.
# (With Wrangler none of this is needed: it bundles the package through its
# `workerd` export condition.)
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [ (name = "main", worker = .mainWorker) ],
  sockets = [ (name = "http", address = "127.0.0.1:8787", http = (), service = "main") ],
);

const mainWorker :Workerd.Worker = (
  modules = [
    (name = "worker.mjs", esModule = embed "worker.mjs"),
    # The package, under the names its modules import each other by.
    (name = "dfabake-rules", esModule = embed "node_modules/dfabake-rules/workerd.js"),
    (name = "api.js", esModule = embed "node_modules/dfabake-rules/api.js"),
    (name = "dfabake_matcher.js", esModule = embed "node_modules/dfabake-rules/dfabake_matcher.js"),
    (name = "dfabake_matcher_bg.wasm", wasm = embed "node_modules/dfabake-rules/dfabake_matcher_bg.wasm"),
  ],
  compatibilityDate = "2024-09-23",
);
