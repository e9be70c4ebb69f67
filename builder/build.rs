//! Builds the two template matcher modules the builder binary carries, so
//! that baking needs no Rust toolchain:
//!
//! * the plain-ABI module (`dfabake-matcher` for `wasm32-unknown-unknown`
//!   with the `abi` feature): `template.wasm`;
//! * the `wasm-bindgen` module (feature `bindgen`) run through the
//!   `wasm-bindgen` CLI (`--target web`): `npm/dfabake_matcher_bg.wasm` and
//!   its glue `npm/dfabake_matcher.js`, for the npm package.
//!
//! Overrides for prebuilt artifacts:
//! * `DFABAKE_TEMPLATE_WASM=/path/to/template.wasm`;
//! * `DFABAKE_NPM_TEMPLATE_DIR=/dir` holding `dfabake_matcher_bg.wasm` and
//!   `dfabake_matcher.js` (the output of `wasm-bindgen --target web`);
//! * `WASM_BINDGEN=/path/to/wasm-bindgen` for the CLI (default: on `PATH`).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The wasm-bindgen version pinned in matcher-wasm/Cargo.toml; the CLI must
/// be exactly this version.
const WASM_BINDGEN_VERSION: &str = "0.2.130";

fn build_template(workspace: &Path, features: &str) -> PathBuf {
    // A target directory of its own: the outer cargo holds the lock on ours.
    let target_dir = workspace.join("target").join("template-build");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace).args([
        "build",
        "--package",
        "dfabake-matcher",
        "--lib",
        "--target",
        "wasm32-unknown-unknown",
        "--profile",
        "template",
        "--features",
        features,
        "--target-dir",
    ]);
    cmd.arg(&target_dir);
    // The outer build's settings (its target, flags, profile overrides) are
    // not the template's.
    for (key, _) in env::vars_os() {
        let key = key.to_string_lossy();
        if (key.starts_with("CARGO_") && key != "CARGO_HOME" && key != "CARGO_NET_OFFLINE")
            || key == "RUSTFLAGS"
            || key == "RUSTC_WORKSPACE_WRAPPER"
        {
            cmd.env_remove(key.as_ref());
        }
    }
    let status = cmd
        .status()
        .expect("run cargo to build the template module");
    if !status.success() {
        panic!(
            "building the wasm template (features {features}) failed; is the target installed? \
             (rustup target add wasm32-unknown-unknown)"
        );
    }
    // Both flavours share the artifact name: callers copy it before the next build.
    target_dir.join("wasm32-unknown-unknown/template/dfabake_matcher.wasm")
}

fn run_wasm_bindgen(input: &Path, out: &Path) {
    let bin = env::var_os("WASM_BINDGEN").unwrap_or_else(|| "wasm-bindgen".into());
    let install = format!("cargo install wasm-bindgen-cli --version {WASM_BINDGEN_VERSION}");
    let version = Command::new(&bin).arg("--version").output();
    let version = match version {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        _ => panic!(
            "the wasm-bindgen CLI ({}) was not found; the npm package template needs \
             wasm-bindgen {WASM_BINDGEN_VERSION} exactly. Install it with:\n    {install}\n\
             (or set WASM_BINDGEN=/path/to/wasm-bindgen, or DFABAKE_NPM_TEMPLATE_DIR to a prebuilt template)",
            Path::new(&bin).display()
        ),
    };
    if version.split_whitespace().nth(1) != Some(WASM_BINDGEN_VERSION) {
        panic!(
            "the wasm-bindgen CLI is `{version}`, but matcher-wasm pins wasm-bindgen \
             {WASM_BINDGEN_VERSION} and the two must agree exactly. Install it with:\n    {install}"
        );
    }
    let _ = std::fs::remove_dir_all(out);
    let status = Command::new(&bin)
        .arg(input)
        .args([
            "--target",
            "web",
            "--no-typescript",
            "--out-name",
            "dfabake_matcher",
            "--out-dir",
        ])
        .arg(out)
        .status()
        .expect("run wasm-bindgen");
    if !status.success() {
        panic!("wasm-bindgen failed on {}", input.display());
    }
}

fn main() {
    println!("cargo:rerun-if-env-changed=DFABAKE_TEMPLATE_WASM");
    println!("cargo:rerun-if-env-changed=DFABAKE_NPM_TEMPLATE_DIR");
    println!("cargo:rerun-if-env-changed=WASM_BINDGEN");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest_dir.parent().unwrap();
    let prebuilt_plain = env::var_os("DFABAKE_TEMPLATE_WASM");
    let prebuilt_npm = env::var_os("DFABAKE_NPM_TEMPLATE_DIR");
    if prebuilt_plain.is_none() || prebuilt_npm.is_none() {
        for p in [
            "matcher-wasm/src",
            "matcher-wasm/Cargo.toml",
            "Cargo.lock",
            "Cargo.toml",
        ] {
            println!("cargo:rerun-if-changed={}", workspace.join(p).display());
        }
    }

    let dest = out_dir.join("template.wasm");
    if let Some(prebuilt) = prebuilt_plain {
        println!("cargo:rerun-if-changed={}", Path::new(&prebuilt).display());
        std::fs::copy(&prebuilt, &dest).expect("copy DFABAKE_TEMPLATE_WASM");
    } else {
        let built = build_template(workspace, "abi");
        std::fs::copy(&built, &dest).expect("copy the built template module");
    }

    let npm_dir = out_dir.join("npm");
    if let Some(prebuilt) = prebuilt_npm {
        let prebuilt = PathBuf::from(prebuilt);
        std::fs::create_dir_all(&npm_dir).unwrap();
        for f in ["dfabake_matcher_bg.wasm", "dfabake_matcher.js"] {
            println!("cargo:rerun-if-changed={}", prebuilt.join(f).display());
            std::fs::copy(prebuilt.join(f), npm_dir.join(f))
                .unwrap_or_else(|e| panic!("copy {f} from DFABAKE_NPM_TEMPLATE_DIR: {e}"));
        }
    } else {
        let built = build_template(workspace, "bindgen");
        let raw = out_dir.join("dfabake_matcher_bindgen_raw.wasm");
        std::fs::copy(&built, &raw).expect("copy the built bindgen template module");
        run_wasm_bindgen(&raw, &npm_dir);
    }
}
