//! The npm package around a baked database: the `wasm-bindgen` flavour of the
//! matcher (built with the workspace, carried by this binary like the plain
//! template) baked with the same database, plus ESM entry points for Node and
//! workerd, types and a README. Written as `OUT/npm/` in the build's staging
//! directory, so it is replaced atomically with `matcher.wasm`.

use crate::bake::bake;
use crate::error::BuildError;
use crate::output::Staging;

/// The wasm-bindgen template module (`--target web`), not yet baked.
pub const NPM_TEMPLATE: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/npm/dfabake_matcher_bg.wasm"));
/// The wasm-bindgen glue for [`NPM_TEMPLATE`].
pub const GLUE_JS: &str = include_str!(concat!(env!("OUT_DIR"), "/npm/dfabake_matcher.js"));

const API_JS: &str = include_str!("npm/api.js");
const NODE_JS: &str = include_str!("npm/node.js");
const WORKERD_JS: &str = include_str!("npm/workerd.js");
const INIT_JS: &str = include_str!("npm/init.js");
const INDEX_D_TS: &str = include_str!("npm/index.d.ts");
const INIT_D_TS: &str = include_str!("npm/init.d.ts");
const README: &str = include_str!("npm/README.md");

/// The baked module's file name inside the package.
pub const WASM_FILE: &str = "dfabake_matcher_bg.wasm";

/// Name and version of the package.
#[derive(Clone, Debug)]
pub struct NpmOptions {
    /// `package.json` `name` (`--npm-name`).
    pub name: String,
    /// `package.json` `version` (`--npm-version`).
    pub version: String,
}

impl Default for NpmOptions {
    fn default() -> NpmOptions {
        NpmOptions {
            name: "dfabake-rules".into(),
            version: "0.1.0".into(),
        }
    }
}

/// Checks a package name against npm's rules (lowercase, URL-safe, at most
/// 214 characters, optionally `@scope/`).
pub fn check_name(name: &str) -> Result<(), String> {
    let ok_part = |p: &str| {
        !p.is_empty()
            && !p.starts_with('.')
            && !p.starts_with('_')
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._~".contains(&b))
    };
    let valid = name.len() <= 214
        && match name.strip_prefix('@') {
            Some(scoped) => {
                matches!(scoped.split_once('/'), Some((s, n)) if ok_part(s) && ok_part(n))
            }
            None => ok_part(name),
        };
    if valid {
        Ok(())
    } else {
        Err(format!("invalid npm package name {name:?} (lowercase letters, digits, - . _ ~, optional @scope/)"))
    }
}

/// Checks a version is `MAJOR.MINOR.PATCH` with an optional `-pre`/`+build`.
pub fn check_version(version: &str) -> Result<(), String> {
    let core = version.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    let valid = parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p.len() == 1 || !p.starts_with('0'))
        })
        && version[core.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-+.".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "invalid npm package version {version:?} (semver: MAJOR.MINOR.PATCH)"
        ))
    }
}

/// `package.json`. Written by hand: key order matters in `exports`
/// (conditions are tried in order, `default` last), and serde_json's maps
/// sort their keys.
fn package_json(opts: &NpmOptions, rules: usize, checksum: &str) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap();
    let description = format!(
        "{rules} regex rules compiled ahead of time into DFAs, baked into WebAssembly (dfabake)"
    );
    format!(
        r#"{{
  "name": {name},
  "version": {version},
  "description": {description},
  "type": "module",
  "main": "./node.js",
  "types": "./index.d.ts",
  "exports": {{
    ".": {{
      "types": "./index.d.ts",
      "workerd": "./workerd.js",
      "worker": "./workerd.js",
      "node": "./node.js",
      "default": "./init.js"
    }},
    "./init": {{
      "types": "./init.d.ts",
      "default": "./init.js"
    }},
    "./{wasm}": "./{wasm}",
    "./package.json": "./package.json"
  }},
  "files": [
    "api.js",
    "node.js",
    "workerd.js",
    "init.js",
    "dfabake_matcher.js",
    "{wasm}",
    "index.d.ts",
    "init.d.ts",
    "README.md"
  ],
  "sideEffects": [
    "./node.js",
    "./workerd.js"
  ],
  "engines": {{
    "node": ">=18"
  }},
  "dfabake": {{
    "rules": {rules},
    "database_checksum": {checksum},
    "generator": {generator}
  }}
}}
"#,
        name = q(&opts.name),
        version = q(&opts.version),
        description = q(&description),
        wasm = WASM_FILE,
        checksum = q(checksum),
        generator = q(&format!("dfabake {}", env!("CARGO_PKG_VERSION"))),
    )
}

/// What [`write_package`] baked, for the manifest.
pub struct NpmReport {
    /// The baked package module.
    pub module: Vec<u8>,
    /// The package's directory in `OUT` (the manifest's `npm.dir`).
    pub dir: &'static str,
    /// The module's path in `OUT` (the manifest's `npm.module.file`).
    pub module_file: String,
}

/// Bakes `database` into the npm template and stages `npm/` (every file of
/// the package). `verify` checks the baked module like the plain one.
pub fn write_package(
    staging: &Staging,
    opts: &NpmOptions,
    database: &[u8],
    rules: usize,
    checksum: &str,
    verify: impl FnOnce(&[u8]) -> Result<(), String>,
) -> Result<NpmReport, BuildError> {
    check_name(&opts.name).map_err(BuildError::BadOption)?;
    check_version(&opts.version).map_err(BuildError::BadOption)?;
    let module =
        bake(NPM_TEMPLATE, database).map_err(|e| BuildError::Verify(format!("npm module: {e}")))?;
    verify(&module).map_err(|e| BuildError::Verify(format!("npm module: {e}")))?;

    let package_json = package_json(opts, rules, checksum);
    let readme = README
        .replace("{{NAME}}", &opts.name)
        .replace("{{RULES}}", &rules.to_string())
        .replace("{{CHECKSUM}}", checksum)
        .replace("{{DFABAKE_VERSION}}", env!("CARGO_PKG_VERSION"));
    let files: [(&str, &[u8]); 10] = [
        ("package.json", package_json.as_bytes()),
        ("dfabake_matcher.js", GLUE_JS.as_bytes()),
        (WASM_FILE, &module),
        ("api.js", API_JS.as_bytes()),
        ("node.js", NODE_JS.as_bytes()),
        ("workerd.js", WORKERD_JS.as_bytes()),
        ("init.js", INIT_JS.as_bytes()),
        ("index.d.ts", INDEX_D_TS.as_bytes()),
        ("init.d.ts", INIT_D_TS.as_bytes()),
        ("README.md", readme.as_bytes()),
    ];
    for (name, bytes) in files {
        staging.write(&format!("npm/{name}"), bytes)?;
    }
    Ok(NpmReport {
        module,
        dir: "npm",
        module_file: format!("npm/{WASM_FILE}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_json_keeps_condition_order() {
        let opts = NpmOptions {
            name: "@acme/rules".into(),
            version: "1.2.3".into(),
        };
        let text = package_json(&opts, 7, "xxh3:0123456789abcdef");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["name"], "@acme/rules");
        assert_eq!(v["type"], "module");
        let dot = &text[text.find("\".\": {").unwrap()..];
        let pos = |k: &str| dot.find(&format!("\"{k}\"")).unwrap();
        assert!(
            pos("types") < pos("workerd")
                && pos("workerd") < pos("node")
                && pos("node") < pos("default")
        );
    }

    #[test]
    fn names_and_versions() {
        for ok in ["dfabake-rules", "@acme/ua-rules", "a.b_c~d"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Upper", ".dot", "@scope", "@/x", "sp ace", "a/b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        for ok in ["0.1.0", "1.22.333", "1.0.0-rc.1", "1.0.0+build.5"] {
            assert!(check_version(ok).is_ok(), "{ok}");
        }
        for bad in ["1.0", "01.0.0", "1.0.0.0", "v1.0.0", "1.0.x"] {
            assert!(check_version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn build_writes_the_package_with_the_same_database() {
        use crate::build::{build, BuildOptions, Source};
        use crate::rules::{RuleId, RuleSpec};
        use dfabake_matcher::module::find_database;

        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let rules = vec![
            RuleSpec::new(RuleId::Int(1), "Googlebot/"),
            RuleSpec::new(RuleId::Str("c".into()), "curl/[0-9.]+"),
        ];
        let mut opts = BuildOptions::new(
            Source::Rules {
                name: "test".into(),
                rules,
            },
            out.clone(),
        );
        opts.npm = Some(NpmOptions {
            name: "@acme/ua".into(),
            version: "2.0.0-rc.1".into(),
        });
        let report = build(&opts).unwrap();
        for f in [
            "package.json",
            "dfabake_matcher.js",
            WASM_FILE,
            "api.js",
            "node.js",
            "workerd.js",
            "init.js",
            "index.d.ts",
            "init.d.ts",
            "README.md",
        ] {
            assert!(out.join("npm").join(f).is_file(), "{f}");
        }
        let pkg: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("npm/package.json")).unwrap()).unwrap();
        assert_eq!(pkg["name"], "@acme/ua");
        assert_eq!(pkg["version"], "2.0.0-rc.1");
        assert_eq!(pkg["dfabake"]["rules"], 2);
        let plain = std::fs::read(out.join("matcher.wasm")).unwrap();
        let npm = std::fs::read(out.join("npm").join(WASM_FILE)).unwrap();
        assert_eq!(find_database(&plain).unwrap(), find_database(&npm).unwrap());
        let entry = report.manifest.npm.as_ref().unwrap();
        assert_eq!(entry.module.bytes, npm.len());
        assert_eq!(entry.name, "@acme/ua");

        // Without a package: no npm/ and no manifest entry.
        opts.npm = None;
        let report = build(&opts).unwrap();
        assert!(!out.join("npm").exists());
        assert!(report.manifest.npm.is_none());
    }

    #[test]
    fn template_has_one_locator_and_the_glue_matches() {
        let mut locators = 0;
        dfabake_matcher::module::for_each_data_segment(NPM_TEMPLATE, |s| {
            locators += dfabake_matcher::module::find_marker(s.bytes).is_some() as usize
        })
        .unwrap();
        assert_eq!(locators, 1);
        assert!(GLUE_JS.contains("export { initSync, __wbg_init as default }"));
        assert!(GLUE_JS.contains("matches_str"));
    }
}
