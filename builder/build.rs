//! Builds the template matcher module (`dfabake-matcher` for
//! `wasm32-unknown-unknown`, plain ABI) so the builder binary can carry it:
//! baking then needs no Rust toolchain.
//!
//! Set `DFABAKE_TEMPLATE_WASM=/path/to/template.wasm` to use a prebuilt one.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=DFABAKE_TEMPLATE_WASM");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    let dest = out_dir.join("template.wasm");
    if let Some(prebuilt) = env::var_os("DFABAKE_TEMPLATE_WASM") {
        println!("cargo:rerun-if-changed={}", Path::new(&prebuilt).display());
        std::fs::copy(&prebuilt, &dest).expect("copy DFABAKE_TEMPLATE_WASM");
        return;
    }
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest_dir.parent().unwrap();
    for p in ["matcher-wasm/src", "matcher-wasm/Cargo.toml", "Cargo.lock", "Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", workspace.join(p).display());
    }
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
        "abi",
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
    let status = cmd.status().expect("run cargo to build the template module");
    if !status.success() {
        panic!(
            "building the wasm template failed; is the target installed? \
             (rustup target add wasm32-unknown-unknown)"
        );
    }
    let built = target_dir.join("wasm32-unknown-unknown/template/dfabake_matcher.wasm");
    std::fs::copy(&built, &dest).expect("copy the built template module");
}
