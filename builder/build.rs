//! Hands the binary the two template matcher modules it carries:
//!
//! * the plain-ABI module: `template.wasm`;
//! * the `wasm-bindgen` module and its glue (`--target web`):
//!   `npm/dfabake_matcher_bg.wasm` and `npm/dfabake_matcher.js`, for the npm
//!   package.
//!
//! By default these are the committed files in `builder/templates/`
//! (generated from `matcher-wasm/` by `scripts/regen-templates.sh`; see its
//! `GENERATED.md`), so that building `dfabake` needs neither the wasm32 target
//! nor the `wasm-bindgen` CLI. Overrides for other prebuilt artifacts:
//! * `DFABAKE_TEMPLATE_WASM=/path/to/template.wasm`;
//! * `DFABAKE_NPM_TEMPLATE_DIR=/dir` holding `dfabake_matcher_bg.wasm` and
//!   `dfabake_matcher.js` (the output of `wasm-bindgen --target web`).
//!
//! Whether the committed files are current is checked by a test
//! (`tests/template_sources.rs`) and by `scripts/regen-templates.sh --check`,
//! not here: a build from a packaged crate has no `matcher-wasm/` to compare.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

const REGENERATE: &str = "run scripts/regen-templates.sh and commit builder/templates/";

/// Copies one template file into `OUT_DIR`, refusing what cannot be one
/// (a missing file, or a Git LFS pointer where a wasm module belongs).
fn copy_template(from: &Path, to: &Path, what: &str) {
    println!("cargo:rerun-if-changed={}", from.display());
    let bytes = fs::read(from).unwrap_or_else(|e| {
        panic!("{what}: cannot read {}: {e}; {REGENERATE}", from.display())
    });
    if from.extension().is_some_and(|e| e == "wasm") && !bytes.starts_with(b"\0asm") {
        panic!(
            "{what}: {} is not a wasm module (no \\0asm header); {REGENERATE}",
            from.display()
        );
    }
    fs::write(to, bytes).unwrap_or_else(|e| panic!("write {}: {e}", to.display()));
}

fn main() {
    println!("cargo:rerun-if-env-changed=DFABAKE_TEMPLATE_WASM");
    println!("cargo:rerun-if-env-changed=DFABAKE_NPM_TEMPLATE_DIR");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    let committed = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap()).join("templates");

    let (plain, plain_what) = match env::var_os("DFABAKE_TEMPLATE_WASM") {
        Some(path) => (PathBuf::from(path), "DFABAKE_TEMPLATE_WASM"),
        None => (committed.join("template.wasm"), "the committed plain-ABI template"),
    };
    copy_template(&plain, &out_dir.join("template.wasm"), plain_what);

    let (npm, npm_what) = match env::var_os("DFABAKE_NPM_TEMPLATE_DIR") {
        Some(dir) => (PathBuf::from(dir), "DFABAKE_NPM_TEMPLATE_DIR"),
        None => (committed.join("npm"), "the committed npm template"),
    };
    let npm_out = out_dir.join("npm");
    fs::create_dir_all(&npm_out).unwrap();
    for file in ["dfabake_matcher_bg.wasm", "dfabake_matcher.js"] {
        copy_template(&npm.join(file), &npm_out.join(file), npm_what);
    }
}
