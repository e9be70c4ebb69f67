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
const OVERRIDE_PLAIN: &str =
    "point it at a plain-ABI module built from matcher-wasm (features abi), or unset it";
const OVERRIDE_NPM: &str = "point it at a directory holding wasm-bindgen's --target web output \
     (--out-name dfabake_matcher), or unset it";

/// Copies one template file into `OUT_DIR`, refusing what cannot be one
/// (a missing file, or a Git LFS pointer where a wasm module belongs).
fn copy_template(from: &Path, to: &Path, what: &str, remedy: &str) {
    println!("cargo:rerun-if-changed={}", from.display());
    let bytes = fs::read(from)
        .unwrap_or_else(|e| panic!("{what}: cannot read {}: {e}; {remedy}", from.display()));
    if from.extension().is_some_and(|e| e == "wasm") && !bytes.starts_with(b"\0asm") {
        panic!(
            "{what}: {} is not a wasm module (no \\0asm header); {remedy}",
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

    let (plain, plain_what, plain_remedy) = match env::var_os("DFABAKE_TEMPLATE_WASM") {
        Some(path) => (PathBuf::from(path), "DFABAKE_TEMPLATE_WASM", OVERRIDE_PLAIN),
        None => (
            committed.join("template.wasm"),
            "the committed plain-ABI template",
            REGENERATE,
        ),
    };
    copy_template(
        &plain,
        &out_dir.join("template.wasm"),
        plain_what,
        plain_remedy,
    );

    let (npm, npm_what, npm_remedy) = match env::var_os("DFABAKE_NPM_TEMPLATE_DIR") {
        Some(dir) => (PathBuf::from(dir), "DFABAKE_NPM_TEMPLATE_DIR", OVERRIDE_NPM),
        None => (
            committed.join("npm"),
            "the committed npm template",
            REGENERATE,
        ),
    };
    let npm_out = out_dir.join("npm");
    fs::create_dir_all(&npm_out).unwrap();
    for file in ["dfabake_matcher_bg.wasm", "dfabake_matcher.js"] {
        copy_template(&npm.join(file), &npm_out.join(file), npm_what, npm_remedy);
    }
}
