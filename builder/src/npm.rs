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
const NODE_CJS: &str = include_str!("npm/node.cjs");
const NODE_INLINE_JS: &str = include_str!("npm/node-inline.js");
const WORKERD_JS: &str = include_str!("npm/workerd.js");
const BROWSER_JS: &str = include_str!("npm/browser.js");
const BROWSER_INLINE_JS: &str = include_str!("npm/browser-inline.js");
const INIT_JS: &str = include_str!("npm/init.js");
const INDEX_D_TS: &str = include_str!("npm/index.d.ts");
const INIT_D_TS: &str = include_str!("npm/init.d.ts");
const WASM_D_TS: &str = include_str!("npm/wasm.d.ts");
const README: &str = include_str!("npm/README.md");

/// The baked module's file name inside the package.
pub const WASM_FILE: &str = "dfabake_matcher_bg.wasm";

/// Name, version and metadata of the package, and how it carries the module.
#[derive(Clone, Debug)]
pub struct NpmOptions {
    /// `package.json` `name` (`--npm-name`).
    pub name: String,
    /// `package.json` `version` (`--npm-version`).
    pub version: String,
    /// `package.json` `license`, an SPDX expression (`--npm-license`).
    pub license: Option<String>,
    /// `package.json` `repository`: a URL or `[host:]owner/repo` (`--npm-repository`).
    pub repository: Option<String>,
    /// `package.json` `keywords` (`--npm-keywords`).
    pub keywords: Vec<String>,
    /// Also carry the module as base64 in JS (`--npm-inline-wasm`), so that
    /// bundlers need no loader and no copy of the `.wasm`.
    pub inline_wasm: bool,
}

impl Default for NpmOptions {
    fn default() -> NpmOptions {
        NpmOptions {
            name: "dfabake-rules".into(),
            version: "0.1.0".into(),
            license: None,
            repository: None,
            keywords: Vec::new(),
            inline_wasm: false,
        }
    }
}

impl NpmOptions {
    /// Checks every option as npm would, before anything is compiled; the
    /// error names the flag.
    pub fn check(&self) -> Result<(), String> {
        check_name(&self.name)?;
        check_version(&self.version)?;
        if let Some(license) = &self.license {
            if license.trim().is_empty() || license.chars().any(char::is_control) {
                return Err(format!(
                    "--npm-license: {license:?} is not a license (an SPDX expression such as MIT or \"Apache-2.0 OR MIT\", or UNLICENSED)"
                ));
            }
        }
        if let Some(repository) = &self.repository {
            repository_json(repository)?;
        }
        for keyword in &self.keywords {
            if keyword.trim().is_empty() || keyword.chars().any(char::is_control) {
                return Err(format!(
                    "--npm-keywords: {keyword:?} is not a keyword (comma-separated words, none empty)"
                ));
            }
        }
        Ok(())
    }
}

/// Checks a package name against npm's rules (those of
/// validate-npm-package-name for new packages): 1 to 214 characters,
/// lowercase, URL-safe, no leading `.` or `_`, none of `~'!()*`, not a
/// reserved name, optionally `@scope/name`.
pub fn check_name(name: &str) -> Result<(), String> {
    let refuse = |why: &str| {
        Err(format!(
            "--npm-name: {name:?} is not a valid npm package name: {why}"
        ))
    };
    if name.is_empty() {
        return refuse("it is empty");
    }
    if name.len() > 214 {
        return refuse(&format!(
            "it is {} characters long; npm allows at most 214",
            name.len()
        ));
    }
    if name.trim() != name {
        return refuse("it has leading or trailing spaces");
    }
    if name.starts_with('.') || name.starts_with('_') {
        return refuse("it starts with '.' or '_'");
    }
    if ["node_modules", "favicon.ico"].contains(&name.to_ascii_lowercase().as_str()) {
        return refuse("that name is reserved");
    }
    if name.chars().any(|c| c.is_uppercase()) {
        return refuse("it has uppercase letters");
    }
    let parts: Vec<&str> = match name.strip_prefix('@') {
        Some(scoped) => match scoped.split_once('/') {
            Some((scope, pkg)) if !scope.is_empty() && !pkg.is_empty() => vec![scope, pkg],
            _ => return refuse("a scoped name is @scope/name"),
        },
        None => vec![name],
    };
    if parts[parts.len() - 1].contains(['~', '\'', '!', '(', ')', '*']) {
        return refuse("it has one of the characters ~'!()*");
    }
    // What encodeURIComponent leaves as is (the test npm applies).
    let url_safe = |p: &str| {
        p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b))
    };
    if let Some(bad) = parts.iter().find(|p| !url_safe(p)) {
        let c = bad
            .chars()
            .find(|&c| !url_safe(&c.to_string()))
            .unwrap_or('?');
        return refuse(&format!(
            "{c:?} is not URL-safe (letters, digits, - . _ only)"
        ));
    }
    Ok(())
}

/// Checks a version is valid semver 2.0 (`MAJOR.MINOR.PATCH[-pre][+build]`),
/// as npm requires.
pub fn check_version(version: &str) -> Result<(), String> {
    semver::Version::parse(version).map(|_| ()).map_err(|e| {
        format!("--npm-version: {version:?} is not a valid semver version (MAJOR.MINOR.PATCH[-pre][+build]): {e}")
    })
}

/// `package.json`'s `repository`: a URL becomes `{type: "git", url}` (the
/// `git+` form npm normalizes https URLs to); `[host:]owner/repo` shorthands
/// stay strings, as npm accepts them.
fn repository_json(repository: &str) -> Result<serde_json::Value, String> {
    let refuse = || {
        Err(format!(
            "--npm-repository: {repository:?} is not a repository: give a URL \
             (https://host/owner/repo, git+ssh://…) or owner/repo, github:owner/repo, gitlab:owner/repo"
        ))
    };
    if repository
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return refuse();
    }
    let url_schemes = [
        "https://",
        "http://",
        "git://",
        "git+https://",
        "git+http://",
        "git+ssh://",
        "ssh://",
    ];
    if let Some(scheme) = url_schemes.iter().find(|s| repository.starts_with(**s)) {
        if repository.len() == scheme.len() {
            return refuse();
        }
        let url = match repository
            .strip_prefix("https://")
            .or(repository.strip_prefix("http://"))
        {
            Some(_) => format!("git+{repository}"),
            None => repository.to_string(),
        };
        return Ok(serde_json::json!({ "type": "git", "url": url }));
    }
    let path = match repository.split_once(':') {
        Some((host, path)) if ["github", "gitlab", "bitbucket", "gist"].contains(&host) => path,
        Some(_) => return refuse(),
        None => repository,
    };
    let segment_ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    };
    match path.split_once('/') {
        Some((owner, repo)) if segment_ok(owner) && segment_ok(repo) => {
            Ok(serde_json::json!(repository))
        }
        _ => refuse(),
    }
}

/// Rewrites one of the package's ES modules as CommonJS, for `require()`.
/// Knows only the statement forms the package's modules use (wasm-bindgen's
/// glue and ours); anything else is an error, found by the tests, not a
/// silently broken file.
pub fn to_commonjs(esm: &str) -> Result<String, String> {
    let cjs_spec = |spec: &str| -> Result<String, String> {
        match spec.strip_suffix(".js") {
            Some(stem) if spec.starts_with("./") => Ok(format!("{stem}.cjs")),
            _ if spec.starts_with("node:") => Ok(spec.to_string()),
            _ => Err(format!("to_commonjs: cannot require {spec:?}")),
        }
    };
    let quoted = |s: &str| -> Result<String, String> {
        let s = s.trim().trim_end_matches(';').trim();
        s.strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .map(str::to_string)
            .ok_or_else(|| format!("to_commonjs: expected a quoted specifier, found {s:?}"))
    };
    // `a, b as c` -> [(local, exported)]
    let names = |list: &str| -> Vec<(String, String)> {
        list.split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| match n.split_once(" as ") {
                Some((local, exported)) => (local.trim().to_string(), exported.trim().to_string()),
                None => (n.to_string(), n.to_string()),
            })
            .collect()
    };
    let mut out = String::from("\"use strict\";\n");
    let mut exported: Vec<(String, String)> = Vec::new(); // (exported name, expression)
    let mut reexports = 0;
    for line in esm.lines() {
        let line = line.replace(
            "new URL('dfabake_matcher_bg.wasm', import.meta.url)",
            "require(\"node:fs\").readFileSync(require(\"node:path\").join(__dirname, \"dfabake_matcher_bg.wasm\"))",
        );
        let line = line.replace(
            "new URL(\"./dfabake_matcher_bg.wasm\", import.meta.url)",
            "require(\"node:fs\").readFileSync(require(\"node:path\").join(__dirname, \"dfabake_matcher_bg.wasm\"))",
        );
        if line.contains("import.meta") {
            return Err(format!("to_commonjs: import.meta in {line:?}"));
        }
        if let Some(rest) = line.strip_prefix("import ") {
            let (what, spec) = rest
                .rsplit_once(" from ")
                .ok_or_else(|| format!("to_commonjs: unknown import {line:?}"))?;
            let required = format!("require(\"{}\")", cjs_spec(&quoted(spec)?)?);
            let what = what.trim();
            if let Some(ns) = what.strip_prefix("* as ") {
                out += &format!("const {} = {required};\n", ns.trim());
            } else if let Some(list) = what.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
                let fields: Vec<String> = names(list)
                    .into_iter()
                    .map(|(imported, local)| {
                        if imported == local {
                            local
                        } else {
                            format!("{imported}: {local}")
                        }
                    })
                    .collect();
                out += &format!("const {{ {} }} = {required};\n", fields.join(", "));
            } else {
                out += &format!("const {what} = {required}.default;\n");
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("export ") {
            let decl = |rest: &str, exported_as: Option<&str>| -> Option<(String, String)> {
                for kw in ["async function ", "function ", "const "] {
                    if let Some(after) = rest.strip_prefix(kw) {
                        let name: String = after
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '$')
                            .collect();
                        let exported = exported_as.unwrap_or(&name).to_string();
                        return Some((exported, name));
                    }
                }
                None
            };
            if let Some(def) = rest.strip_prefix("default ") {
                let (exp, name) = decl(def, Some("default"))
                    .ok_or_else(|| format!("to_commonjs: unknown export {line:?}"))?;
                out += def;
                out.push('\n');
                exported.push((exp, name));
            } else if let Some((exp, name)) = decl(rest, None) {
                out += rest;
                out.push('\n');
                exported.push((exp, name));
            } else if let Some(list) = rest.strip_prefix('{') {
                let (list, from) = list
                    .split_once('}')
                    .ok_or_else(|| format!("to_commonjs: unknown export {line:?}"))?;
                let from = from.trim().trim_end_matches(';').trim();
                let prefix = match from.strip_prefix("from ") {
                    Some(spec) => {
                        let var = format!("__reexport{reexports}");
                        reexports += 1;
                        out += &format!(
                            "const {var} = require(\"{}\");\n",
                            cjs_spec(&quoted(spec)?)?
                        );
                        format!("{var}.")
                    }
                    None if from.is_empty() => String::new(),
                    None => return Err(format!("to_commonjs: unknown export {line:?}")),
                };
                for (local, exp) in names(list) {
                    exported.push((exp, format!("{prefix}{local}")));
                }
            } else {
                return Err(format!("to_commonjs: unknown export {line:?}"));
            }
            continue;
        }
        out += &line;
        out.push('\n');
    }
    for (name, expr) in exported {
        out += &format!("exports.{name} = {expr};\n");
    }
    Ok(out)
}

/// Standard base64 with padding (what `atob` decodes).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `package.json`. Written by hand: key order matters in `exports`
/// (conditions are tried in order, `default` last), and serde_json's maps
/// sort their keys.
fn package_json(opts: &NpmOptions, rules: usize, checksum: &str) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap();
    let description = format!(
        "{rules} regex rules compiled ahead of time into DFAs, baked into WebAssembly (dfabake)"
    );
    let mut meta = String::new();
    if let Some(license) = &opts.license {
        meta += &format!("  \"license\": {},\n", q(license));
    }
    if let Some(repository) = &opts.repository {
        let value = repository_json(repository).expect("checked before the build");
        meta += &format!("  \"repository\": {},\n", value);
    }
    if !opts.keywords.is_empty() {
        meta += &format!(
            "  \"keywords\": {},\n",
            serde_json::to_string(&opts.keywords).unwrap()
        );
    }
    let inline_files = if opts.inline_wasm {
        "\n    \"wasm_inline.js\",\n    \"wasm_inline.cjs\","
    } else {
        ""
    };
    format!(
        r#"{{
  "name": {name},
  "version": {version},
  "description": {description},
{meta}  "type": "module",
  "main": "./node.cjs",
  "module": "./browser.js",
  "types": "./index.d.cts",
  "exports": {{
    ".": {{
      "workerd": {{ "types": "./index.d.ts", "default": "./workerd.js" }},
      "worker": {{ "types": "./index.d.ts", "default": "./workerd.js" }},
      "deno": {{ "types": "./index.d.ts", "default": "./node.js" }},
      "node": {{
        "import": {{ "types": "./index.d.ts", "default": "./node.js" }},
        "require": {{ "types": "./index.d.cts", "default": "./node.cjs" }}
      }},
      "browser": {{ "types": "./index.d.ts", "default": "./browser.js" }},
      "import": {{ "types": "./index.d.ts", "default": "./browser.js" }},
      "require": {{ "types": "./index.d.cts", "default": "./node.cjs" }},
      "default": {{ "types": "./index.d.ts", "default": "./browser.js" }}
    }},
    "./init": {{
      "browser": {{ "types": "./init.d.ts", "default": "./init.js" }},
      "import": {{ "types": "./init.d.ts", "default": "./init.js" }},
      "require": {{ "types": "./init.d.cts", "default": "./init.cjs" }},
      "default": {{ "types": "./init.d.ts", "default": "./init.js" }}
    }},
    "./{wasm}": {{
      "import": {{ "types": "./{wasm}.d.ts", "default": "./{wasm}" }},
      "require": {{ "types": "./{wasm}.d.cts", "default": "./{wasm}" }},
      "default": {{ "types": "./{wasm}.d.ts", "default": "./{wasm}" }}
    }},
    "./package.json": "./package.json"
  }},
  "files": [
    "api.js",
    "api.cjs",
    "node.js",
    "node.cjs",
    "workerd.js",
    "browser.js",
    "init.js",
    "init.cjs",
    "dfabake_matcher.js",
    "dfabake_matcher.cjs",{inline_files}
    "{wasm}",
    "{wasm}.d.ts",
    "{wasm}.d.cts",
    "index.d.ts",
    "index.d.cts",
    "init.d.ts",
    "init.d.cts",
    "README.md"
  ],
  "sideEffects": [
    "./node.js",
    "./node.cjs",
    "./workerd.js",
    "./browser.js"
  ],
  "engines": {{
    "node": ">=18"
  }},
  "dfabake": {{
    "rules": {rules},
    "database_checksum": {checksum},
    "inline_wasm": {inline},
    "generator": {generator}
  }}
}}
"#,
        name = q(&opts.name),
        version = q(&opts.version),
        description = q(&description),
        wasm = WASM_FILE,
        checksum = q(checksum),
        inline = opts.inline_wasm,
        generator = q(&format!("dfabake {}", env!("CARGO_PKG_VERSION"))),
    )
}

/// Every file of the package but the module, by name.
fn package_files(
    opts: &NpmOptions,
    module: &[u8],
    rules: usize,
    checksum: &str,
) -> Result<Vec<(String, Vec<u8>)>, String> {
    let named = |text: &str| text.replace("{{NAME}}", &opts.name);
    let mut files: Vec<(String, String)> = vec![
        ("package.json".into(), package_json(opts, rules, checksum)),
        ("dfabake_matcher.js".into(), GLUE_JS.to_string()),
        ("dfabake_matcher.cjs".into(), to_commonjs(GLUE_JS)?),
        ("api.js".into(), named(API_JS)),
        ("api.cjs".into(), to_commonjs(&named(API_JS))?),
        ("workerd.js".into(), WORKERD_JS.to_string()),
        ("init.js".into(), INIT_JS.to_string()),
        ("init.cjs".into(), to_commonjs(INIT_JS)?),
        ("index.d.ts".into(), INDEX_D_TS.to_string()),
        ("index.d.cts".into(), INDEX_D_TS.to_string()),
        ("init.d.ts".into(), INIT_D_TS.to_string()),
        (
            "init.d.cts".into(),
            INIT_D_TS.replace("./index.js", "./index.cjs"),
        ),
        (format!("{WASM_FILE}.d.ts"), WASM_D_TS.to_string()),
        (format!("{WASM_FILE}.d.cts"), WASM_D_TS.to_string()),
    ];
    if opts.inline_wasm {
        let encoded = base64(module);
        let inline_js = format!(
            "// {WASM_FILE} as base64 (dfabake build --npm-inline-wasm). Generated by dfabake; do not edit.\nexport const wasmBase64 = \"{encoded}\";\n"
        );
        files.extend([
            ("node.js".into(), named(NODE_INLINE_JS)),
            ("node.cjs".into(), to_commonjs(&named(NODE_INLINE_JS))?),
            ("browser.js".into(), BROWSER_INLINE_JS.to_string()),
            ("wasm_inline.cjs".into(), to_commonjs(&inline_js)?),
            ("wasm_inline.js".into(), inline_js),
        ]);
    } else {
        files.extend([
            ("node.js".into(), named(NODE_JS)),
            ("node.cjs".into(), named(NODE_CJS)),
            ("browser.js".into(), BROWSER_JS.to_string()),
        ]);
    }
    let readme = README
        .replace("{{NAME}}", &opts.name)
        .replace("{{RULES}}", &rules.to_string())
        .replace("{{CHECKSUM}}", checksum)
        .replace("{{DFABAKE_VERSION}}", env!("CARGO_PKG_VERSION"));
    files.push(("README.md".into(), readme));
    Ok(files
        .into_iter()
        .map(|(n, t)| (n, t.into_bytes()))
        .collect())
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
    opts.check().map_err(BuildError::BadOption)?;
    let module = bake_package_module(database)?;
    stage_package(staging, opts, &module, rules, checksum, verify)?;
    Ok(NpmReport {
        module,
        dir: PACKAGE_DIR,
        module_file: format!("{PACKAGE_DIR}/{WASM_FILE}"),
    })
}

/// The package's directory in `OUT`.
pub const PACKAGE_DIR: &str = "npm";

/// `database` baked into the npm template: the module
/// [`stage_package`] writes.
pub fn bake_package_module(database: &[u8]) -> Result<Vec<u8>, BuildError> {
    bake(NPM_TEMPLATE, database).map_err(|e| BuildError::Verify(format!("npm module: {e}")))
}

/// [`write_package`] for a module [`bake_package_module`] baked already
/// (a build sizes it while the package is written).
pub fn stage_package(
    staging: &Staging,
    opts: &NpmOptions,
    module: &[u8],
    rules: usize,
    checksum: &str,
    verify: impl FnOnce(&[u8]) -> Result<(), String>,
) -> Result<(), BuildError> {
    opts.check().map_err(BuildError::BadOption)?;
    verify(module).map_err(|e| BuildError::Verify(format!("npm module: {e}")))?;
    let files = package_files(opts, module, rules, checksum)
        .map_err(|e| BuildError::Verify(format!("npm package: {e}")))?;
    staging.write(&format!("{PACKAGE_DIR}/{WASM_FILE}"), module)?;
    for (name, bytes) in &files {
        staging.write(&format!("{PACKAGE_DIR}/{name}"), bytes)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_json_keeps_condition_order() {
        let opts = NpmOptions {
            name: "@acme/rules".into(),
            version: "1.2.3".into(),
            license: Some("MIT".into()),
            repository: Some("https://github.com/acme/rules".into()),
            keywords: vec!["bot".into(), "user-agent".into()],
            inline_wasm: false,
        };
        let text = package_json(&opts, 7, "xxh3:0123456789abcdef");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["name"], "@acme/rules");
        assert_eq!(v["type"], "module");
        assert_eq!(v["license"], "MIT");
        assert_eq!(v["repository"]["url"], "git+https://github.com/acme/rules");
        assert_eq!(v["keywords"], serde_json::json!(["bot", "user-agent"]));
        let dot = &text[text.find("\".\": {").unwrap()..];
        let pos = |k: &str| dot.find(&format!("\"{k}\"")).unwrap();
        let line = |start: &str| dot.find(&format!("\n      \"{start}\"")).unwrap();
        assert!(
            pos("workerd") < line("node")
                && line("node") < line("browser")
                && line("browser") < line("import")
                && line("import") < line("require")
                && line("require") < line("default")
        );
    }

    #[test]
    fn names_and_versions() {
        for ok in [
            "dfabake-rules",
            "@acme/ua-rules",
            "a.b_c-d",
            "x",
            &"a".repeat(214),
        ] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        let long = "a".repeat(215);
        for bad in [
            "",
            "Upper",
            ".dot",
            "_under",
            "node_modules",
            "favicon.ico",
            "@scope",
            "@/x",
            "sp ace",
            "a/b",
            "a~b",
            "it's",
            "caf\u{e9}",
            " lead",
            "a?b",
            "a#b",
            &long,
        ] {
            let err = check_name(bad).unwrap_err();
            assert!(err.starts_with("--npm-name: "), "{err}");
        }
        for ok in ["0.1.0", "1.22.333", "1.0.0-rc.1", "1.0.0+build.5"] {
            assert!(check_version(ok).is_ok(), "{ok}");
        }
        for bad in [
            "1.0", "01.0.0", "1.0.0.0", "v1.0.0", "1.0.x", "1.0.0-", "1.0.0+", "1.0.0-01",
        ] {
            let err = check_version(bad).unwrap_err();
            assert!(err.starts_with("--npm-version: "), "{err}");
        }
        for ok in [
            "github:acme/rules",
            "acme/rules",
            "git+ssh://git@host/acme/rules.git",
            "https://host/x",
        ] {
            assert!(repository_json(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "acme",
            "ftp://x/y",
            "foo:acme/rules",
            "https://",
            "a b/c",
        ] {
            assert!(
                repository_json(bad)
                    .unwrap_err()
                    .starts_with("--npm-repository: "),
                "{bad}"
            );
        }
        let opts = |keywords: &[&str], license: Option<&str>| NpmOptions {
            keywords: keywords.iter().map(|k| k.to_string()).collect(),
            license: license.map(str::to_string),
            ..NpmOptions::default()
        };
        assert!(opts(&["a", ""], None)
            .check()
            .unwrap_err()
            .starts_with("--npm-keywords: "));
        assert!(opts(&[], Some(" "))
            .check()
            .unwrap_err()
            .starts_with("--npm-license: "));
        assert!(opts(&["bot"], Some("MIT")).check().is_ok());
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
            ..NpmOptions::default()
        });
        let report = build(&opts).unwrap();
        for f in [
            "package.json",
            "dfabake_matcher.js",
            WASM_FILE,
            "api.js",
            "api.cjs",
            "node.js",
            "node.cjs",
            "workerd.js",
            "browser.js",
            "init.js",
            "init.cjs",
            "dfabake_matcher.cjs",
            "index.d.ts",
            "index.d.cts",
            "init.d.ts",
            "init.d.cts",
            "dfabake_matcher_bg.wasm.d.ts",
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

    #[test]
    fn commonjs_versions_have_no_module_syntax_left() {
        for (name, esm) in [
            ("glue", GLUE_JS),
            ("api", API_JS),
            ("init", INIT_JS),
            ("node-inline", NODE_INLINE_JS),
        ] {
            let cjs = to_commonjs(esm).unwrap_or_else(|e| panic!("{name}: {e}"));
            for line in cjs.lines() {
                assert!(
                    !line.starts_with("import ")
                        && !line.starts_with("export ")
                        && !line.contains("import.meta"),
                    "{name}: {line}"
                );
            }
            assert!(cjs.contains("exports."), "{name}");
        }
        let glue = to_commonjs(GLUE_JS).unwrap();
        assert!(
            glue.contains("exports.default = __wbg_init;")
                && glue.contains("exports.initSync = initSync;")
        );
        let init = to_commonjs(INIT_JS).unwrap();
        assert!(
            init.contains("exports.default = init;")
                && init.contains("exports.isMatch = __reexport0.isMatch;")
        );
        assert!(to_commonjs("import x from \"./a.wasm\";").is_err());
        assert!(to_commonjs("export class A {}").is_err());
    }

    #[test]
    fn base64_matches_the_standard_alphabet() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(&[0xfb, 0xff, 0xbf]), "+/+/");
    }
}
