//! The template modules the binary embeds are committed build artifacts
//! (`builder/templates/`, see its `GENERATED.md`), so that building `dfabake`
//! needs no wasm toolchain. These tests keep them from going stale silently:
//! `SOURCES.sha256` records what they were built from, and a change to any of
//! it without a regeneration fails here, before a release could bake an old
//! matcher. (That the committed bytes are exactly what those sources build to
//! is checked by `scripts/regen-templates.sh --check`, which needs the wasm
//! toolchain; this check needs none, so it runs in every `cargo test`.)
//!
//! `scripts/regen-templates.sh` rewrites `SOURCES.sha256` by running this
//! file with `DFABAKE_WRITE_TEMPLATE_SOURCES=1`: the one definition of what
//! counts as a source is here.

use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};

const REGENERATE: &str = "run scripts/regen-templates.sh and commit builder/templates/";

/// The features the templates are built with (the script's `--features`),
/// plus the crate's defaults, which both builds keep.
const TEMPLATE_FEATURES: [&str; 3] = ["default", "abi", "bindgen"];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn templates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("templates")
}

/// Outside the workspace (a packaged `dfabake` crate) the sources are not at
/// hand and there is nothing to compare.
fn in_workspace() -> bool {
    workspace().join("matcher-wasm/Cargo.toml").is_file()
}

fn read_text(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    // A checkout with CRLF line endings builds the same module.
    text.replace("\r\n", "\n")
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Comments and blank lines of a TOML excerpt change nothing built.
fn significant(lines: &[&str]) -> String {
    lines
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The lines of each `[section]` of a TOML file, by header.
fn toml_sections(text: &str) -> BTreeMap<String, Vec<&str>> {
    let mut sections: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') && !trimmed.starts_with("[[") {
            current = trimmed.to_string();
            sections.entry(current.clone()).or_default();
        } else {
            sections.entry(current.clone()).or_default().push(line);
        }
    }
    sections
}

/// The key of a `key = ...` or `key.field = ...` line.
fn toml_key(line: &str) -> Option<&str> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let end = line.find(['=', '.', ' '])?;
    Some(&line[..end])
}

struct MatcherManifest {
    /// Dependencies the template builds compile (optional ones only when a
    /// template feature enables them).
    built_deps: BTreeSet<String>,
    /// Those of them declared `workspace = true`.
    workspace_deps: BTreeSet<String>,
}

fn matcher_manifest(ws: &Path) -> MatcherManifest {
    let text = read_text(&ws.join("matcher-wasm/Cargo.toml"));
    let sections = toml_sections(&text);
    let mut features: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for line in sections.get("[features]").into_iter().flatten() {
        let Some(name) = toml_key(line) else { continue };
        let items = line[line.find('[').unwrap_or(line.len())..]
            .split(',')
            .filter_map(|item| {
                let item = item.trim_matches(|c: char| c == '[' || c == ']' || c.is_whitespace());
                (!item.is_empty()).then(|| item.trim_matches('"').to_string())
            })
            .collect();
        features.insert(name, items);
    }
    let mut enabled_deps = BTreeSet::new();
    let mut queue: VecDeque<String> = TEMPLATE_FEATURES.iter().map(|f| f.to_string()).collect();
    let mut seen = BTreeSet::new();
    while let Some(feature) = queue.pop_front() {
        if !seen.insert(feature.clone()) {
            continue;
        }
        for item in features.get(feature.as_str()).into_iter().flatten() {
            if let Some(dep) = item.strip_prefix("dep:") {
                enabled_deps.insert(dep.to_string());
            } else if !item.contains('/') {
                queue.push_back(item.clone());
            }
        }
    }
    let mut built_deps = BTreeSet::new();
    let mut workspace_deps = BTreeSet::new();
    for line in sections.get("[dependencies]").into_iter().flatten() {
        let Some(name) = toml_key(line) else { continue };
        let optional = line.contains("optional = true");
        if !optional || enabled_deps.contains(name) {
            built_deps.insert(name.to_string());
            if line.contains("workspace") {
                workspace_deps.insert(name.to_string());
            }
        }
    }
    assert!(
        built_deps.contains("regex-automata"),
        "matcher-wasm/Cargo.toml: found no [dependencies] (parsed {built_deps:?})"
    );
    MatcherManifest {
        built_deps,
        workspace_deps,
    }
}

struct LockPackage {
    name: String,
    version: String,
    deps: Vec<(String, Option<String>)>,
    text: String,
}

fn lock_packages(text: &str) -> Vec<LockPackage> {
    let mut packages = Vec::new();
    for block in text.split("[[package]]").skip(1) {
        let field = |key: &str| {
            block
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{key} = ")))
                .map(|v| v.trim_matches('"').to_string())
        };
        let mut deps = Vec::new();
        if let Some(start) = block.find("dependencies = [") {
            let list = &block[start..];
            let list = &list[..list.find(']').unwrap_or(list.len())];
            for entry in list.lines().skip(1) {
                let entry = entry.trim().trim_end_matches(',').trim_matches('"');
                let mut words = entry.split_whitespace();
                if let Some(name) = words.next() {
                    deps.push((name.to_string(), words.next().map(str::to_string)));
                }
            }
        }
        packages.push(LockPackage {
            name: field("name").expect("Cargo.lock: a package without a name"),
            version: field("version").expect("Cargo.lock: a package without a version"),
            deps,
            text: block.trim().to_string(),
        });
    }
    packages
}

/// `SOURCES.sha256` as it should read now: one `SHA-256  what` line per
/// source, in a fixed order.
fn sources_manifest(ws: &Path) -> String {
    let mut out = String::from(
        "# What builder/templates/ was built from (see GENERATED.md). Written by\n\
         # scripts/regen-templates.sh, checked by builder/tests/template_sources.rs.\n",
    );
    let mut line = |content: &str, what: &str| {
        out.push_str(&format!("{}  {what}\n", sha256_hex(content.as_bytes())));
    };

    let mut files = vec![PathBuf::from("matcher-wasm/Cargo.toml")];
    let mut dirs = vec![PathBuf::from("matcher-wasm/src")];
    while let Some(dir) = dirs.pop() {
        let entries = fs::read_dir(ws.join(&dir))
            .unwrap_or_else(|e| panic!("list {}: {e}", ws.join(&dir).display()));
        for entry in entries {
            let entry = entry.unwrap();
            let rel = dir.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                dirs.push(rel);
            } else {
                files.push(rel);
            }
        }
    }
    let mut files: Vec<String> = files
        .iter()
        .map(|p| p.to_string_lossy().replace('\\', "/"))
        .collect();
    files.sort();
    for file in &files {
        line(&read_text(&ws.join(file)), file);
    }

    let matcher = matcher_manifest(ws);
    let workspace_toml = read_text(&ws.join("Cargo.toml"));
    let sections = toml_sections(&workspace_toml);
    // `template` inherits `release`.
    for profile in ["[profile.release]", "[profile.template]"] {
        let lines = sections
            .get(profile)
            .unwrap_or_else(|| panic!("Cargo.toml: no {profile} section"));
        line(&significant(lines), &format!("Cargo.toml {profile}"));
    }
    let workspace_deps = sections
        .get("[workspace.dependencies]")
        .expect("Cargo.toml: no [workspace.dependencies]");
    for dep in &matcher.workspace_deps {
        let lines: Vec<&str> = workspace_deps
            .iter()
            .copied()
            .filter(|l| toml_key(l) == Some(dep.as_str()))
            .collect();
        assert!(
            !lines.is_empty(),
            "Cargo.toml [workspace.dependencies] has no {dep}, which matcher-wasm uses"
        );
        line(
            &significant(&lines),
            &format!("Cargo.toml [workspace.dependencies] {dep}"),
        );
    }

    // Every Cargo.lock package the template builds can reach: a bump of any
    // of them may change the modules.
    let lock = read_text(&ws.join("Cargo.lock"));
    let packages = lock_packages(&lock);
    let find = |name: &str, version: Option<&str>| -> Vec<usize> {
        packages
            .iter()
            .enumerate()
            .filter(|(_, p)| p.name == name && version.is_none_or(|v| p.version == v))
            .map(|(i, _)| i)
            .collect()
    };
    let root = find("dfabake-matcher", None);
    assert_eq!(
        root.len(),
        1,
        "Cargo.lock: no single dfabake-matcher package"
    );
    let mut reached = BTreeSet::new();
    let mut queue = VecDeque::new();
    for (name, version) in &packages[root[0]].deps {
        if matcher.built_deps.contains(name) {
            queue.extend(find(name, version.as_deref()));
        }
    }
    while let Some(i) = queue.pop_front() {
        if reached.insert((packages[i].name.clone(), packages[i].version.clone(), i)) {
            for (name, version) in &packages[i].deps {
                queue.extend(find(name, version.as_deref()));
            }
        }
    }
    for (name, version, i) in reached {
        line(&packages[i].text, &format!("Cargo.lock {name} {version}"));
    }
    out
}

#[test]
fn committed_templates_were_built_from_the_current_sources() {
    if !in_workspace() {
        eprintln!("not in the dfabake workspace: no matcher-wasm sources to compare");
        return;
    }
    let path = templates_dir().join("SOURCES.sha256");
    let expected = sources_manifest(&workspace());
    if std::env::var_os("DFABAKE_WRITE_TEMPLATE_SOURCES").is_some() {
        let tmp = path.with_extension("sha256.tmp");
        fs::write(&tmp, &expected).unwrap();
        fs::rename(&tmp, &path).unwrap();
        return;
    }
    let recorded = fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {}: {e}; {REGENERATE}", path.display()))
        .replace("\r\n", "\n");
    if recorded == expected {
        return;
    }
    let entries = |text: &str| -> BTreeMap<String, String> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once("  "))
            .map(|(hash, what)| (what.to_string(), hash.to_string()))
            .collect()
    };
    let (old, new) = (entries(&recorded), entries(&expected));
    let mut changes = Vec::new();
    for (what, hash) in &new {
        match old.get(what) {
            None => changes.push(format!("  new:     {what}")),
            Some(h) if h != hash => changes.push(format!("  changed: {what}")),
            _ => {}
        }
    }
    for what in old.keys().filter(|w| !new.contains_key(*w)) {
        changes.push(format!("  gone:    {what}"));
    }
    panic!(
        "the committed template modules (builder/templates/) were built from other sources \
         than these:\n{}\n{REGENERATE}",
        changes.join("\n")
    );
}

#[test]
fn committed_templates_are_the_files_generated_md_lists() {
    let dir = templates_dir();
    let generated = read_text(&dir.join("GENERATED.md"));
    let mut listed = 0;
    for line in generated.lines() {
        let Some((hash, file)) = line.split_once("  ") else {
            continue;
        };
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        let bytes = fs::read(dir.join(file))
            .unwrap_or_else(|e| panic!("read builder/templates/{file}: {e}; {REGENERATE}"));
        assert_eq!(
            sha256_hex(&bytes),
            hash,
            "builder/templates/{file} is not the file GENERATED.md records; {REGENERATE}"
        );
        listed += 1;
    }
    assert_eq!(
        listed, 3,
        "GENERATED.md should list the three generated files"
    );
    let plain = fs::read(dir.join("template.wasm")).unwrap();
    assert!(
        plain.starts_with(b"\0asm"),
        "template.wasm is not a wasm module (a Git LFS pointer?)"
    );
}
