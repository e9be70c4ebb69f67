//! The database format and the manifest's description of a build, pinned by
//! hash: the bytes `dfabake build` bakes for fixed rule sets, and what its
//! manifest says about their rules and shards, must not change unless the
//! format (or the compiler's choices) change on purpose.
//!
//! What is hashed is the database (the baked data segment: the format
//! contract), not the whole module, whose code changes with every edit of
//! the matcher. Three sets: the README's example, a crawler list (every
//! third pattern of crawler-user-agents 1.60.0, MIT, in `tests/data/`), and
//! `dfabake-synth` output of both profiles; with the default options and
//! with sparse DFAs (and, for the small sets, no prefilter).
//!
//! After an intended change, run with `DFABAKE_GOLDEN_PRINT=1` and paste the
//! printed table over [`EXPECTED`].

use std::path::Path;
use std::process::Command;

use dfabake_matcher::module::find_database;
use dfabake_tests::{binary, workspace};
use sha2::{Digest, Sha256};

/// Per build: name, database SHA-256, description SHA-256, key-shape SHA-256.
const EXPECTED: &[(&str, &str, &str, &str)] = &[
    (
        "example",
        "9da01ec3ff9fec9b730bc9cae04dc169e16994c55a954042b6f2e683a6f44242",
        "6d10de79fb63068bd89a2c5487ea360b802a9494742b0fae812bdf24b3378f6d",
        "2b997daea0e52c37a1d98ce99ed9a1bd20df516b7aaa5685a263b5f67aee347f",
    ),
    (
        "crawlers",
        "567870b38cb8812d4c466a8e0ecf1804bb52ac9d13e4a7c6fd54c7689d8c3d2f",
        "f89952cb39fd84b03dabc95edbee9481720976156e22f2ebc059259ee29250b4",
        "40ba68fe65ddbc7afde88d375d575a87b2409e53f27d20cadcf3227b51c7f828",
    ),
    (
        "synth",
        "05b557912d2fdc1b56cc8dbc4ef09e71e1d5d1e49746ec26b1fa93be093427ba",
        "7b005b3da1fe87e53e251f4c46a00f4690932f26cb871fae637304e432abcbf6",
        "6802807bb1f0c356f97a7e2c9ba7b1368e2cd3fab7a452060e4f0ce9d5156af9",
    ),
    (
        "synth-uap",
        "82d13fc41b96bad66befd89ed1b5d209ac3760f175a32b7f944b1b15c850ad3d",
        "74ef97c44915806788ffcf4918b32233799e9fdcbe9b4a37938db8e662cbe6ce",
        "2e3f868c7ed2fb818bcdb49d6b1b753d555546e9663f1c176849dfa7fb5ad4c0",
    ),
    (
        "example-sparse-no-prefilter",
        "0ad4c8137befc8c0745920ee49792997b7532750220bba7270b224887e7d6182",
        "f82841083eea56c5713e6216e03a7f357afb7097847254c143282cfeabda81f5",
        "4daeb49cd5cd6ee2c139d0c9b6fcfd06beaf35adc2334b3c7aadddea60ed8518",
    ),
    (
        "crawlers-sparse-no-prefilter",
        "513b849d640e2420c1b54e2928045dbb03312d107ff26d366fb020932bb2a14e",
        "f719b1ead61825af7c6a5353ce9617b4afe7cb35f37f0c27cb194ab6ebfdf902",
        "6abed8a60f1d70ab7c34533c7ab38b225d8dc49867571aab2a517eac961813f0",
    ),
    (
        "synth-sparse",
        "ce0cb2721fe92f3ef6b08b6006bd4ef803001d82104d81b670ff23ca5a0cbcf0",
        "bf2c66f75cdff23c99f1cef4d333098444be88ac4d58184d8206c70016cb843e",
        "6802807bb1f0c356f97a7e2c9ba7b1368e2cd3fab7a452060e4f0ce9d5156af9",
    ),
    (
        "synth-uap-sparse",
        "7e08c801794c000b1a80bf2d57c3a1849d558646e5dbfc596b4788e47e02fc46",
        "e5563cf4f3eafce3ca59627dbc50163c367ff02c49a3402b66bd07f4281c86f9",
        "2e3f868c7ed2fb818bcdb49d6b1b753d555546e9663f1c176849dfa7fb5ad4c0",
    ),
];

/// The manifest's top-level sections that describe rules and shards.
const DESCRIPTION: &[&str] = &[
    "approximate_rules",
    "database",
    "rule_paths",
    "rules",
    "shards",
    "skipped",
];

/// Lines of those sections that vary between identical builds.
const VOLATILE: &[&str] = &["\"build_seconds\":", "\"cached\":"];

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The manifest's description sections as written (pretty-printed, one
/// top-level key at two spaces' indent), without their volatile lines.
fn description(manifest: &str) -> String {
    let mut keep = false;
    let mut out = String::new();
    for line in manifest.lines() {
        if let Some(key) = line.strip_prefix("  \"").and_then(|l| l.split('"').next()) {
            keep = DESCRIPTION.contains(&key);
        }
        if keep && !VOLATILE.iter().any(|v| line.contains(v)) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Every key of the manifest, in order, with its depth: its shape, which a
/// typed manifest must keep.
fn key_shape(manifest: &str) -> String {
    let mut out = String::new();
    for line in manifest.lines() {
        let trimmed = line.trim_start();
        if let Some(key) = trimmed
            .strip_prefix('"')
            .and_then(|l| l.split_once("\":"))
            .map(|(k, _)| k)
        {
            out.push_str(&format!("{} {key}\n", line.len() - trimmed.len()));
        }
    }
    out
}

fn build(rules: &Path, out: &Path, extra: &[&str]) -> (String, String, String) {
    run(Command::new(binary("dfabake"))
        // One thread: with more, shards of one rule's branches are ordered
        // as their builds finish, so the bytes vary between runs.
        .args(["build", "--no-cache", "--threads", "1", "-q", "--out"])
        .arg(out)
        .arg("--patterns")
        .arg(rules)
        .args(extra));
    let module = std::fs::read(out.join("matcher.wasm")).unwrap();
    let db = find_database(&module).expect("a baked database");
    let npm = std::fs::read(out.join("npm/dfabake_matcher_bg.wasm")).unwrap();
    assert_eq!(
        find_database(&npm).unwrap(),
        db,
        "the npm module holds the same database"
    );
    let manifest = std::fs::read_to_string(out.join("manifest.json")).unwrap();
    (
        sha256_hex(db),
        sha256_hex(description(&manifest).as_bytes()),
        sha256_hex(key_shape(&manifest).as_bytes()),
    )
}

#[test]
fn baked_databases_and_manifest_descriptions_are_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let synth = |name: &str, args: &[&str]| {
        let path = tmp.path().join(name);
        run(Command::new(binary("dfabake-synth"))
            .args(args)
            .arg("--out-rules")
            .arg(&path));
        path
    };
    let example = workspace().join("examples/rules.jsonl");
    let crawlers = workspace().join("tests/data/crawlers.jsonl");
    let simple = synth("synth.jsonl", &["--rules", "300", "--seed", "7"]);
    let uap = synth(
        "synth-uap.jsonl",
        &["--rules", "150", "--seed", "7", "--profile", "uap"],
    );
    // Without the prefilter the synthetic sets' DFAs take tens of seconds.
    let (sparse, bare): (&[&str], &[&str]) =
        (&["--dfa", "sparse"], &["--dfa", "sparse", "--no-prefilter"]);
    let builds: [(&str, &Path, &[&str]); 8] = [
        ("example", &example, &[]),
        ("crawlers", &crawlers, &[]),
        ("synth", &simple, &[]),
        ("synth-uap", &uap, &[]),
        ("example-sparse-no-prefilter", &example, bare),
        ("crawlers-sparse-no-prefilter", &crawlers, bare),
        ("synth-sparse", &simple, sparse),
        ("synth-uap-sparse", &uap, sparse),
    ];
    let mut got = Vec::new();
    for (name, rules, extra) in builds {
        let (db, desc, shape) = build(rules, &tmp.path().join(name), extra);
        got.push((name, db, desc, shape));
    }
    let table: String = got
        .iter()
        .map(|(n, d, m, s)| format!("    (\"{n}\", \"{d}\", \"{m}\", \"{s}\"),\n"))
        .collect();
    if std::env::var_os("DFABAKE_GOLDEN_PRINT").is_some() {
        eprintln!("const EXPECTED: &[(&str, &str, &str, &str)] = &[\n{table}];");
    }
    let expected: Vec<_> = EXPECTED
        .iter()
        .map(|&(n, d, m, s)| (n, d.to_string(), m.to_string(), s.to_string()))
        .collect();
    assert!(
        got == expected,
        "baked databases or manifest descriptions changed; now:\n{table}"
    );
}

/// The template module exports exactly the functions of the ABI contract
/// (`#[no_mangle]` names are literals in `abi.rs`, so nothing else ties
/// them to it), each with the signature hosts call it with.
#[test]
fn the_template_exports_the_abi_contract() {
    use dfabake_matcher::abi_contract::{export, ABI_VERSION};
    let engine = wasmtime::Engine::default();
    let module = wasmtime::Module::new(&engine, dfabake::bake::TEMPLATE).unwrap();
    let mut functions: Vec<&str> = module
        .exports()
        .filter(|e| matches!(e.ty(), wasmtime::ExternType::Func(_)))
        .map(|e| e.name())
        .collect();
    functions.sort();
    let mut expected = export::FUNCTIONS.to_vec();
    expected.sort();
    assert_eq!(functions, expected);
    let mut store = wasmtime::Store::new(&engine, ());
    let instance = wasmtime::Instance::new(&mut store, &module, &[]).unwrap();
    let version = instance
        .get_typed_func::<(), u32>(&mut store, export::ABI_VERSION)
        .unwrap();
    assert_eq!(version.call(&mut store, ()).unwrap(), ABI_VERSION);
    assert!(instance.get_memory(&mut store, export::MEMORY).is_some());
    for name in [export::VERIFY, export::INIT] {
        instance
            .get_typed_func::<(), i32>(&mut store, name)
            .unwrap();
    }
    for name in [
        export::RULE_COUNT,
        export::OUTPUT_PTR,
        export::OUTPUT_LEN,
        export::OUTPUT_SLOT,
    ] {
        instance
            .get_typed_func::<(), u32>(&mut store, name)
            .unwrap();
    }
    instance
        .get_typed_func::<u32, u32>(&mut store, export::INPUT)
        .unwrap();
    instance
        .get_typed_func::<(u32, u32), i32>(&mut store, export::MATCH)
        .unwrap();
}
