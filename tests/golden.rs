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
        "cd6d609271fb66879eceb2bff3f95b6de298f176bf35ef649f07d824e5fdfef9",
        "7eb14db7bbd219834b93d58c0d65496c9768ebee4b6832635c3a89a18724808a",
        "6cf4886cadbca6eb155c71e560feb535f5851c6f7e3d53658f49033aa51b8a6b",
    ),
    (
        "crawlers",
        "e50457d1812bec977cc86d21e084d2d30d2116c77e5a24f8466699295f4e167b",
        "d7b43d9a8edf9e04f6b4bdc6f47d0ee3a195eefca97c75fd2432aaa7721d26bc",
        "de6270bebf5e7c6d1e131e7365451f40cdd655d16096c5e825cf02cde64c16e9",
    ),
    (
        "synth",
        "95c8856329d331a916769973cb62187efa8da6633f98bd3e9694e4c7fb665b28",
        "c360a11eec63da6b14614903f2106f4699756f747212dc262745ca41447848e5",
        "6213bbf270a26fb43f90e37db6a65a649785f7b693e9f247678a116630dd39c1",
    ),
    (
        "synth-uap",
        "15c685c1d37e54c420d8db5d188f1f7eef586bd7c4cff90e07cd1f4915c8c9e1",
        "7f04f1a1697f326b19a554cc48221fbcf524f102697ae461abf5f766042c9d8e",
        "8189c9661d949c3f6c35a0354297012730766d0c6a84f11ffda2f1fca77a543f",
    ),
    (
        "example-sparse-no-prefilter",
        "011f801b9bd9b7cc037b5127a381a630f1c9d24703bb3691ef4df81289ee0658",
        "e27e7bd90230a4dc70558d71eeba3aed8272c3cb7ffc527cd58332ec8e4066ef",
        "7d778f250d21257419a5fdc412a8b8a5999bf038e70d4525faf2d03108d87c1a",
    ),
    (
        "crawlers-sparse-no-prefilter",
        "3bff04db1adfb2c9f4b1c705bb0ff498f7fc80fbd198778d775f97a06d1f331b",
        "510cc19d40282190eb0e51fe86c2a5ca4a7966cb68e326e99011704ed5bac82f",
        "ca2b292f5861981e246cd41f0c17c79045caf0ddf836c6ec344986576d095a25",
    ),
    (
        "synth-sparse",
        "a9b85d4efcdfe05381d4870d1358244e73ed7f9ed81a805e09f94b18338aed9c",
        "0ced2c64d355aaaa9948cde52baa9d0bcb30d01dca3c8c901434f8b58bb93ef8",
        "6213bbf270a26fb43f90e37db6a65a649785f7b693e9f247678a116630dd39c1",
    ),
    (
        "synth-uap-sparse",
        "4c8a83f1bb694851d07c65c383dd9a47cfd5e5e87f0d065a3acdc0bdbcc812e5",
        "33af138f4a075f6e1942136e26175af5a60c68b668218deea4867884c0594617",
        "8189c9661d949c3f6c35a0354297012730766d0c6a84f11ffda2f1fca77a543f",
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
