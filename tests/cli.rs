//! The real binaries, end to end: `dfabake build` and `dfabake-host match`,
//! including every way a build or a module can be bad.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use dfabake::manifest::Manifest;
use dfabake::rules::{load_file, FileFormat, RuleId};
use dfabake_matcher::Mode;
use dfabake_tests::{
    binary, ids, parse_first, read_manifest, stderr_on_a_terminal, workspace, Oracle,
};
use serde_json::Value;

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("spawn");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "a binary panicked: {stderr}");
    out
}

fn dfabake(args: &[&str]) -> Output {
    run(Command::new(binary("dfabake")).args(args))
}

fn build(patterns: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "build",
        "--patterns",
        patterns.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    dfabake(&args)
}

fn host_match(module: &Path, mode: &str, stdin: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new(binary("dfabake-host"))
        .args([
            "match",
            "--module",
            module.to_str().unwrap(),
            "--mode",
            mode,
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The host may refuse the module and exit before reading its input.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    out
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn lines(o: &Output) -> Vec<Value> {
    String::from_utf8(o.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn example_rules_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let rules_path = workspace().join("examples/rules.jsonl");
    let o = build(&rules_path, &out, &["--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let manifest = read_manifest(&out);
    let rules = load_file(&rules_path, FileFormat::Auto).unwrap();
    assert_eq!(manifest.generator, "dfabake");
    assert_eq!(manifest.rules, rules.len());
    let wasm = fs::read(out.join("matcher.wasm")).unwrap();
    assert_eq!(manifest.module.bytes, wasm.len());

    let oracle = Oracle::new(&rules);
    let inputs = fs::read(workspace().join("examples/inputs.txt")).unwrap();
    let module = out.join("matcher.wasm");
    for mode in ["any", "all", "first"] {
        let o = host_match(&module, mode, &inputs);
        assert!(o.status.success(), "{}", stderr(&o));
        let got = lines(&o);
        let want: Vec<&[u8]> = inputs
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(got.len(), want.len());
        for (line, hay) in got.iter().zip(want) {
            assert_eq!(line["input"], String::from_utf8_lossy(hay).as_ref());
            let m = &line["matches"];
            match Mode::from_name(mode).unwrap() {
                Mode::All => assert_eq!(ids(m), oracle.all(hay)),
                Mode::Any => assert_eq!(ids(m).len(), usize::from(!oracle.all(hay).is_empty())),
                Mode::First => assert_eq!(parse_first(m), oracle.first(hay)),
            }
        }
    }
    // Payloads come back as JSON values, ids as written (number or string).
    let o = host_match(&module, "all", b"HeadlessChrome Googlebot/2.1\n");
    let m = &lines(&o)[0]["matches"];
    assert_eq!(m[0]["id"], 1);
    assert_eq!(m[0]["payload"]["owner"], "Google");
    assert_eq!(m[1]["id"], "headless");
}

/// The prefilter tests every other input position when its literals allow
/// (`dfabake inspect` says which), and either way finds literals at every
/// offset: long names at stride 2; with many literals of three bytes, each
/// of which stride 2 would list under 256 keys, at stride 1.
#[test]
fn literals_are_found_at_every_offset_at_either_stride() {
    let dir = tempfile::tempdir().unwrap();
    // (pattern, a text it matches)
    let long: Vec<(String, String)> = (0..40)
        .map(|i| match i % 3 {
            0 => (format!("Crawl{i}Bot"), format!("Crawl{i}Bot")),
            1 => (format!("(?i)spider{i}/\\d+"), format!("SPIDER{i}/42")),
            _ if i % 2 == 0 => (format!("fetch{i}er|feed{i}r"), format!("fetch{i}er")),
            _ => (format!("fetch{i}er|feed{i}r"), format!("feed{i}r")),
        })
        .collect();
    let short: Vec<(String, String)> = (0..80u8)
        .map(|i| {
            let t = format!("q{}{}", (b'a' + i / 26) as char, (b'a' + i % 26) as char);
            (t.clone(), t)
        })
        .collect();
    for (name, rules, stride) in [("long", &long, 2), ("short", &short, 1)] {
        let pats = dir.path().join(format!("{name}.jsonl"));
        let rows: Vec<String> = rules
            .iter()
            .enumerate()
            .map(|(i, (p, _))| serde_json::json!({"id": i, "pattern": p}).to_string())
            .collect();
        fs::write(&pats, rows.join("\n")).unwrap();
        let out = dir.path().join(name);
        let o = build(&pats, &out, &["--quiet"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let module = out.join("matcher.wasm");
        let o = dfabake(&["inspect", module.to_str().unwrap()]);
        let inspected: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(inspected["prefilter_stride"], stride, "{name}");
        let oracle = Oracle::new(&load_file(&pats, FileFormat::Auto).unwrap());
        // Each rule's text after 0-3 bytes, alone and before another's.
        let mut inputs = Vec::new();
        for (i, (_, t)) in rules.iter().enumerate() {
            let other = &rules[(i + 7) % rules.len()].1;
            for pad in ["", "x", "xy", "xyz"] {
                inputs.push(format!("{pad}{t}"));
                inputs.push(format!("{pad}{t} and {other}"));
            }
        }
        let o = host_match(&module, "all", (inputs.join("\n") + "\n").as_bytes());
        assert!(o.status.success(), "{}", stderr(&o));
        let got = lines(&o);
        assert_eq!(got.len(), inputs.len());
        for (line, hay) in got.iter().zip(&inputs) {
            let want = oracle.all(hay.as_bytes());
            assert!(!want.is_empty(), "{name}: {hay:?} must match");
            assert_eq!(ids(&line["matches"]), want, "{name}: {hay:?}");
        }
    }
}

#[test]
fn positional_inputs_and_invalid_utf8_on_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let pats = dir.path().join("p.txt");
    fs::write(&pats, "foo\n\n(?-u:\\xFF)bar\n").unwrap();
    let out = dir.path().join("o");
    assert!(build(&pats, &out, &[]).status.success());
    let module = out.join("matcher.wasm");
    let o = run(Command::new(binary("dfabake-host")).args([
        "match",
        "--module",
        module.to_str().unwrap(),
        "xfoo",
        "nothing",
    ]));
    assert!(o.status.success());
    let got = lines(&o);
    // Plain text: the id is the line number (line 2 is blank and skipped).
    assert_eq!(ids(&got[0]["matches"]), vec![Value::from(1)]);
    assert!(ids(&got[1]["matches"]).is_empty());
    let o = host_match(&module, "first", b"\xFFbar\r\n\xC3\n");
    let got = lines(&o);
    assert_eq!(got[0]["matches"][0]["id"], 3);
    assert_eq!(got[0]["matches"][0]["start"], 0);
    assert_eq!(got[0]["matches"][0]["end"], 4);
    assert!(ids(&got[1]["matches"]).is_empty());
    // The same bytes as arguments: inputs, not a usage error.
    use std::os::unix::ffi::OsStrExt;
    let o = run(Command::new(binary("dfabake-host"))
        .args([
            "match",
            "--module",
            module.to_str().unwrap(),
            "--mode",
            "first",
        ])
        .arg(std::ffi::OsStr::from_bytes(b"\xFFbar"))
        .arg(std::ffi::OsStr::from_bytes(b"\xC3")));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got = lines(&o);
    assert_eq!(got[0]["matches"][0]["id"], 3);
    assert_eq!(got[0]["matches"][0]["end"], 4);
    assert!(ids(&got[1]["matches"]).is_empty());
}

#[test]
fn bad_rows_are_all_listed_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let pats = dir.path().join("rules.jsonl");
    fs::write(
        &pats,
        [
            r#"{"id": 1, "pattern": "ok"}"#,
            r#"{"id": 2, "pattern": "foo(?=bar)"}"#,
            r#"{"id": "three", "pattern": "(a)\\1"}"#,
            r#"{"id": 4, "pattern": "(abc"}"#,
            r#"{"id": 5, "pattern": ""}"#,
            r#"{"id": 1, "pattern": "dup"}"#,
            r#"{"id": 7, "pattern": "x", "flags": "iq"}"#,
            r#"{"id": 8, "patern": "typo"}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = build(&pats, &out, &[]);
    assert!(!o.status.success());
    let err = stderr(&o);
    // JSON errors are reported first (nothing else can be checked without rules).
    assert!(
        err.contains("line 8") && err.contains("unknown field `patern`"),
        "{err}"
    );
    assert!(!out.exists(), "nothing may be written on failure");
    let deep = dir.path().join("new/deeper/out");
    assert!(!build(&pats, &deep, &[]).status.success());
    assert!(
        !dir.path().join("new").exists(),
        "parents made for the output are removed again"
    );
    assert!(
        fs::read_dir(dir.path()).unwrap().count() == 1,
        "no temp dirs left behind"
    );

    let text = fs::read_to_string(&pats).unwrap();
    let without_typo: Vec<&str> = text.lines().take(7).collect();
    fs::write(&pats, without_typo.join("\n")).unwrap();
    let o = build(&pats, &out, &[]);
    assert!(!o.status.success());
    let err = stderr(&o);
    for needle in [
        "6 invalid rules",
        "rule id 2 (line 2), position 4 (byte 3): look-around",
        "rule id \"three\" (line 3), position 4 (byte 3): backreferences are not supported",
        "rule id 4 (line 4), position 1 (byte 0): unclosed group",
        "rule id 5 (line 5): empty pattern",
        "rule id 1 (line 6): duplicate id 1 (first used at line 1)",
        "rule id 7 (line 7): unknown flag 'q'",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
    assert!(!out.exists());

    let o = build(&pats, &out, &["--on-invalid", "skip", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let manifest = read_manifest(&out);
    assert_eq!(manifest.rules, 1);
    let skipped: Vec<Option<RuleId>> = manifest.skipped.iter().map(|s| s.id.clone()).collect();
    let int = |n| Some(RuleId::Int(n));
    assert_eq!(
        skipped,
        vec![
            int(2),
            Some(RuleId::Str("three".into())),
            int(4),
            int(5),
            int(1),
            int(7)
        ]
    );
    assert_eq!(manifest.skipped[0].position.map(|p| p.offset), Some(3));
}

#[test]
fn empty_rule_sets_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pats = dir.path().join("empty.txt");
    fs::write(&pats, "\n  \n").unwrap();
    let o = build(&pats, &dir.path().join("out"), &[]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("no rules in"), "{}", stderr(&o));
    fs::write(&pats, "(\n").unwrap();
    let o = build(&pats, &dir.path().join("out"), &["--on-invalid", "skip"]);
    assert!(stderr(&o).contains("all 1 were skipped"), "{}", stderr(&o));
    assert!(!dir.path().join("out").exists());
}

#[test]
fn a_rule_too_big_for_any_dfa_is_answered_by_its_exact_engine_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let pats = dir.path().join("r.jsonl");
    // 3,000 alternatives, too many to decompose: no repeat to widen, so no
    // approximate DFA either; nothing is refused, the exact engine answers.
    let words: Vec<String> = (0..3000)
        .map(|i| format!("w{i}q{}", i * 7919 % 3001))
        .collect();
    let rules = [
        serde_json::json!({"id": 10, "pattern": "abc"}),
        serde_json::json!({"id": 12, "pattern": words.join("|")}),
    ];
    let text: Vec<String> = rules.iter().map(|r| r.to_string()).collect();
    fs::write(&pats, text.join("\n")).unwrap();
    let out = dir.path().join("out");
    let o = build(
        &pats,
        &out,
        &["--max-rule-dfa-bytes", "200000", "--quiet", "--no-cache"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let manifest = read_manifest(&out);
    let exact = &manifest.rule_paths.exact_only;
    assert_eq!(exact.ids, vec![RuleId::Int(12)], "{exact:?}");
    let why = &exact.why[0].reason;
    assert!(why.contains("200000 bytes (--max-rule-dfa-bytes)"), "{why}");
    let kinds: Vec<&str> = manifest.shards.iter().map(|s| s.kind).collect();
    assert!(kinds.contains(&"exact"), "{kinds:?}");
    let loaded = load_file(&pats, FileFormat::Auto).unwrap();
    let oracle = Oracle::new(&loaded);
    let inputs: Vec<String> = vec![
        format!("x {} y", words[2999]),
        format!("abc {}", words[17]),
        "w1q7920".into(),
        "w1q792".into(),
        "abc".into(),
        String::new(),
    ];
    let stdin: String = inputs.iter().map(|i| format!("{i}\n")).collect();
    for mode in ["all", "first"] {
        let o = host_match(&out.join("matcher.wasm"), mode, stdin.as_bytes());
        for (line, hay) in lines(&o).iter().zip(&inputs) {
            match mode {
                "all" => assert_eq!(ids(&line["matches"]), oracle.all(hay.as_bytes()), "{hay}"),
                _ => assert_eq!(
                    parse_first(&line["matches"]),
                    oracle.first(hay.as_bytes()),
                    "{hay}"
                ),
            }
        }
    }
}

/// An approximate shard says where its DFA needs no confirmation: the
/// manifest and `dfabake inspect` list the same run bounds, each widened
/// class with its repetition's maximum.
#[test]
fn approximate_shards_report_their_run_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let pats = dir.path().join("r.jsonl");
    fs::write(
        &pats,
        "{\"id\": 1, \"pattern\": \"^.{0,40}?x([a-z]{1,30})y\"}\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = build(
        &pats,
        &out,
        &["--max-rule-dfa-bytes", "30000", "--quiet", "--no-cache"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let manifest: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let approximate: Vec<&serde_json::Value> = manifest["shards"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["approximate"] == true)
        .collect();
    assert_eq!(approximate.len(), 1, "{manifest}");
    let bounds = &approximate[0]["run_bounds"];
    let mut most: Vec<u64> = bounds
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["longest_run"].as_u64().unwrap())
        .collect();
    most.sort();
    assert_eq!(most, [30, 40], "{bounds}");
    assert!(
        bounds
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["bytes"] == "(?-u:[a-z])"),
        "{bounds}"
    );
    let o = dfabake(&["inspect", out.join("matcher.wasm").to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let inspected: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let shards = inspected["shards"].as_array().unwrap();
    let from_module: Vec<&serde_json::Value> =
        shards.iter().filter(|s| s["approximate"] == true).collect();
    assert_eq!(from_module[0]["run_bounds"], *bounds);
}

/// Rules without a 3-byte literal say how they run: gated ones under
/// `rule_paths.gated` with their shard's `gate` (the same in the manifest
/// and from `dfabake inspect`), the one whose pairs would be too common
/// under `always`; and the module answers on inputs with and without a
/// gate's pair.
#[test]
fn gated_rules_report_their_gates() {
    let dir = tempfile::tempdir().unwrap();
    let pats = dir.path().join("r.jsonl");
    fs::write(
        &pats,
        concat!(
            "{\"id\": \"lg\", \"pattern\": \"(?:; {0,2}|^)((?:GT\\\\-[BIiNPS]\\\\d{4}|I9\\\\d{2}0))\"}\n",
            "{\"id\": \"caps\", \"pattern\": \"^[A-Z]{2,}$\"}\n",
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = build(&pats, &out, &["--quiet", "--no-cache"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let manifest: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let paths = &manifest["rule_paths"];
    assert_eq!(paths["gated"]["ids"], serde_json::json!(["lg"]), "{paths}");
    assert_eq!(
        paths["always"]["ids"],
        serde_json::json!(["caps"]),
        "{paths}"
    );
    let gates: Vec<&serde_json::Value> = manifest["shards"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s.get("gate"))
        .collect();
    assert_eq!(gates, [&serde_json::json!(["GT", "I9"])], "{manifest}");
    let o = dfabake(&["inspect", out.join("matcher.wasm").to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let inspected: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let from_module: Vec<&serde_json::Value> = inspected["shards"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s.get("gate"))
        .collect();
    assert_eq!(from_module, gates);
    let o = host_match(
        &out.join("matcher.wasm"),
        "all",
        b"Linux; GT-I9300\nI9100\ngt-i9300\nABC\n",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let got: Vec<Vec<String>> = lines(&o)
        .iter()
        .map(|l| {
            l["matches"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_str().unwrap().to_string())
                .collect()
        })
        .collect();
    assert_eq!(got, [vec!["lg"], vec!["lg"], vec![], vec!["caps"]]);
}

#[test]
fn a_rule_too_big_for_a_dfa_is_answered_by_a_widened_dfa_and_confirmed() {
    let dir = tempfile::tempdir().unwrap();
    let pats = dir.path().join("r.jsonl");
    fs::write(
        &pats,
        "{\"id\": 10, \"pattern\": \"abc\"}\n{\"id\": 11, \"pattern\": \"\\\\w{1,40}x\\\\w{20}\"}\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    // The exact DFA of rule 11 exceeds 400 kB while being built; its widened
    // form `\w*x\w*` needs 330 kB.
    let o = build(
        &pats,
        &out,
        &["--max-rule-dfa-bytes", "400000", "--quiet", "--no-cache"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let manifest = read_manifest(&out);
    assert_eq!(manifest.approximate_rules, vec![RuleId::Int(11)]);
    let approx: Vec<_> = manifest
        .shards
        .iter()
        .filter(|s| s.flags.approximate)
        .collect();
    assert_eq!(approx.len(), 1);
    let rules = load_file(&pats, FileFormat::Auto).unwrap();
    let oracle = Oracle::new(&rules);
    let inputs: Vec<String> = vec![
        format!("a{}x{}", "b".repeat(3), "c".repeat(20)), // matches 11
        format!("a{}x{}", "b".repeat(3), "c".repeat(19)), // widened DFA says yes, exact says no
        format!("{}x{} abc", "é".repeat(2), "ж".repeat(20)), // Unicode \w
        "x".repeat(30),
        "abc".into(),
        String::new(),
    ];
    let stdin: String = inputs.iter().map(|i| format!("{i}\n")).collect();
    for mode in ["all", "first", "any"] {
        let o = host_match(&out.join("matcher.wasm"), mode, stdin.as_bytes());
        for (line, hay) in lines(&o).iter().zip(&inputs) {
            let want = oracle.all(hay.as_bytes());
            match mode {
                "all" => assert_eq!(ids(&line["matches"]), want, "{hay}"),
                "first" => assert_eq!(
                    parse_first(&line["matches"]),
                    oracle.first(hay.as_bytes()),
                    "{hay}"
                ),
                _ => assert_eq!(ids(&line["matches"]).is_empty(), want.is_empty(), "{hay}"),
            }
        }
    }
}

#[test]
fn a_failed_build_keeps_the_previous_output_and_foreign_dirs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pats = dir.path().join("p.txt");
    fs::write(&pats, "good\n").unwrap();
    let out = dir.path().join("out");
    assert!(build(&pats, &out, &[]).status.success());
    let before = fs::read(out.join("matcher.wasm")).unwrap();
    fs::write(&pats, "good\n(bad\n").unwrap();
    assert!(!build(&pats, &out, &[]).status.success());
    assert_eq!(fs::read(out.join("matcher.wasm")).unwrap(), before);
    // Rebuilding over a previous output replaces it.
    fs::write(&pats, "better\n").unwrap();
    assert!(build(&pats, &out, &[]).status.success());
    assert_ne!(fs::read(out.join("matcher.wasm")).unwrap(), before);

    let foreign = dir.path().join("precious");
    fs::create_dir(&foreign).unwrap();
    fs::write(foreign.join("thesis.tex"), "do not delete").unwrap();
    let o = build(&pats, &foreign, &[]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("not a dfabake output directory"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        fs::read_to_string(foreign.join("thesis.tex")).unwrap(),
        "do not delete"
    );
}

#[test]
fn damaged_modules_are_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let pats = dir.path().join("p.txt");
    fs::write(&pats, "Googlebot\nbingbot\n").unwrap();
    let out = dir.path().join("out");
    assert!(build(&pats, &out, &[]).status.success());
    let good = fs::read(out.join("matcher.wasm")).unwrap();
    let db = dfabake_matcher::module::find_database(&good).unwrap();
    let db_at = db.as_ptr() as usize - good.as_ptr() as usize;

    let mut flipped = good.clone();
    flipped[db_at + db.len() - 100] ^= 0x40; // inside a DFA
    let mut header = good.clone();
    header[db_at + 20] ^= 1; // rule count
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("flipped", flipped, "checksum mismatch"),
        ("header", header, "checksum mismatch"),
        ("truncated", good[..good.len() - 1000].to_vec(), ""),
        ("cut-in-half", good[..good.len() / 2].to_vec(), ""),
        (
            "template",
            dfabake::bake::TEMPLATE.to_vec(),
            "no baked database",
        ),
        ("not-wasm", b"hello".to_vec(), "not a valid wasm module"),
        ("empty", Vec::new(), "not a valid wasm module"),
    ];
    for (name, bytes, needle) in cases {
        let path = dir.path().join(format!("{name}.wasm"));
        fs::write(&path, &bytes).unwrap();
        let o = host_match(&path, "all", b"Googlebot\n");
        assert_eq!(o.status.code(), Some(1), "{name}: {}", stderr(&o));
        assert!(o.stdout.is_empty(), "{name}: no answers from a bad module");
        let err = stderr(&o);
        assert!(
            err.starts_with("dfabake-host: error: loading"),
            "{name}: {err}"
        );
        assert!(err.contains(needle), "{name}: want {needle:?} in {err}");
        let o = dfabake(&["inspect", path.to_str().unwrap()]);
        assert!(!o.status.success(), "{name}: inspect must refuse it too");
    }
    let o = host_match(&out.join("matcher.wasm"), "all", b"Googlebot\n");
    assert!(o.status.success());
}

#[test]
fn rebuild_after_one_change_recompiles_only_its_shard() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("shards");
    let pats = dir.path().join("r.txt");
    let rules: Vec<String> = (0..300)
        .map(|i| format!("agent{i}/[0-9]+(\\.[0-9]+)?"))
        .collect();
    fs::write(&pats, rules.join("\n")).unwrap();
    let out = dir.path().join("out");
    let manifest = |extra: &[&str]| -> Manifest {
        let mut args = vec!["--cache", cache.to_str().unwrap(), "--quiet"];
        args.extend_from_slice(extra);
        let o = build(&pats, &out, &args);
        assert!(o.status.success(), "{}", stderr(&o));
        read_manifest(&out)
    };
    let rebuilt = |m: &Manifest| m.shards.iter().filter(|s| !s.cached).count();
    let first = manifest(&[]);
    let shards = first.shards.len();
    assert!(shards > 5, "want many shards, got {shards}");
    assert_eq!(rebuilt(&first), shards);
    assert_eq!(
        rebuilt(&manifest(&[])),
        0,
        "unchanged rules: everything from the cache"
    );

    // Change one rule in the middle and insert one: only nearby shards change.
    let mut changed = rules.clone();
    changed[150] = "agent150/beta".into();
    changed.insert(40, "inserted/[a-z]+".into());
    fs::write(&pats, changed.join("\n")).unwrap();
    let m = manifest(&[]);
    assert!(
        rebuilt(&m) <= 4,
        "{} of {} shards rebuilt",
        rebuilt(&m),
        shards
    );
    let o = host_match(
        &out.join("matcher.wasm"),
        "all",
        b"agent150/beta inserted/x agent7/1.5\n",
    );
    let got: Vec<Value> = ids(&lines(&o)[0]["matches"]);
    // Plain text ids are line numbers: inserted = 41, agent7 = 8, agent150 = 152.
    assert_eq!(got, vec![Value::from(8), 41.into(), 152.into()]);

    // A damaged cache entry is rebuilt, never baked.
    for entry in fs::read_dir(&cache)
        .unwrap()
        .flat_map(|d| fs::read_dir(d.unwrap().path()).unwrap())
    {
        let path = entry.unwrap().path();
        let mut bytes = fs::read(&path).unwrap();
        if let Some(b) = bytes.get_mut(100) {
            *b ^= 0xFF;
            fs::write(&path, bytes).unwrap();
        }
    }
    let m = manifest(&["--on-invalid", "fail"]);
    assert_eq!(
        rebuilt(&m),
        m.shards.len(),
        "every damaged entry is rebuilt"
    );
    let o = host_match(
        &out.join("matcher.wasm"),
        "all",
        b"agent150/beta inserted/x agent7/1.5\n",
    );
    assert_eq!(
        ids(&lines(&o)[0]["matches"]),
        vec![Value::from(8), 41.into(), 152.into()]
    );
}

/// `rules` UA-parser-shaped rules from `dfabake-synth --profile uap`, in
/// `dir/rules.jsonl`.
fn uap_shaped_rules(dir: &Path, rules: usize, seed: u64) -> PathBuf {
    let pats = dir.join("rules.jsonl");
    let synth = run(Command::new(binary("dfabake-synth")).args([
        "--profile",
        "uap",
        "--rules",
        &rules.to_string(),
        "--seed",
        &seed.to_string(),
        "--out-rules",
        pats.to_str().unwrap(),
    ]));
    assert!(synth.status.success(), "{}", stderr(&synth));
    pats
}

/// The cache's exact programs (of rules and of branches of decomposed
/// rules) are taken only when intact and written for their key: damaged,
/// swapped or planted ones are compiled again, the module is the one a
/// cold build bakes, and the entries are written right again.
#[test]
fn bad_program_cache_entries_are_compiled_again() {
    use sha2::{Digest, Sha256};
    let dir = tempfile::tempdir().unwrap();
    let pats = uap_shaped_rules(dir.path(), 120, 5);
    let cache = dir.path().join("cache");
    let out = dir.path().join("out");
    let bake = |extra: &[&str]| {
        let o = build(&pats, &out, &[&["--quiet"][..], extra].concat());
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(o.stderr.is_empty(), "no warning: {}", stderr(&o));
        fs::read(out.join("matcher.wasm")).unwrap()
    };
    let cold = bake(&["--no-cache"]);
    assert!(bake(&["--cache", cache.to_str().unwrap()]) == cold);
    let mut programs: Vec<std::path::PathBuf> = fs::read_dir(&cache)
        .unwrap()
        .flat_map(|d| fs::read_dir(d.unwrap().path()).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "exact"))
        .collect();
    programs.sort();
    // Big programs only (small ones compile faster than they are read).
    assert!(programs.len() > 20, "{} program entries", programs.len());
    let written: Vec<Vec<u8>> = programs.iter().map(|p| fs::read(p).unwrap()).collect();
    for (i, path) in programs.iter().enumerate() {
        let key = path.file_stem().unwrap().to_str().unwrap();
        let bytes = match i % 4 {
            // Damaged.
            0 => {
                let mut b = written[i].clone();
                let last = b.len() - 1;
                b[last] ^= 0x55;
                b
            }
            // Another key's entry, intact.
            1 => written[(i + 1) % written.len()].clone(),
            // Hashed right for its key, but no program.
            2 => {
                let junk = vec![0xAB; 64];
                let sum = Sha256::new()
                    .chain_update(key.as_bytes())
                    .chain_update(&junk)
                    .finalize();
                [&sum[..], &junk].concat()
            }
            // Truncated.
            _ => written[i][..written[i].len() / 2].to_vec(),
        };
        fs::write(path, bytes).unwrap();
    }
    assert!(
        bake(&["--cache", cache.to_str().unwrap()]) == cold,
        "bad entries must not reach the module"
    );
    for (path, bytes) in programs.iter().zip(&written) {
        assert!(
            fs::read(path).unwrap() == *bytes,
            "{} written again",
            path.display()
        );
    }
}

// ---------------------------------------------------------------------------
// The output commit: kills at every step, leftovers of older builds, files
// the user put in DIR, `--out .` and builds run from inside DIR.

/// Names in `dir`, sorted (hidden ones included: leftovers are hidden).
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Starts `dfabake build` paused at `point` (the builder's test hook), waits
/// until it is there, and kills it with SIGKILL.
fn kill_build_at(point: &str, pats: &Path, out: &Path) {
    let flag = pats.with_extension(format!("{point}.flag"));
    let _ = fs::remove_file(&flag);
    let mut child = Command::new(binary("dfabake"))
        .args(["build", "--quiet", "--no-cache", "--patterns"])
        .arg(pats)
        .arg("--out")
        .arg(out)
        .env(
            "DFABAKE_TEST_PAUSE",
            format!("{point}:{}", flag.to_str().unwrap()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = std::time::Instant::now();
    while !flag.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            panic!("the build ended ({status}) before pausing at {point}: {err}");
        }
        assert!(
            t.elapsed() < std::time::Duration::from_secs(120),
            "the build never reached {point}"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed: {status}");
}

/// `out` is a complete dfabake output: its manifest names the module it
/// holds (same SHA-256), and the module verifies and answers.
fn assert_complete(out: &Path) -> Vec<u8> {
    let manifest = read_manifest(out);
    let o = dfabake(&["inspect", out.join("matcher.wasm").to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["module"]["sha256"], manifest.module.sha256.as_str());
    assert!(out.join("npm/package.json").is_file());
    fs::read(out.join("matcher.wasm")).unwrap()
}

#[test]
fn a_build_killed_before_its_commit_keeps_the_old_output_and_leaks_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pats = dir.path().join("p.txt");
    fs::write(&pats, "old\n").unwrap();
    let out = dir.path().join("out");
    assert!(build(&pats, &out, &["--quiet"]).status.success());
    let old = assert_complete(&out);

    fs::write(&pats, "new\n").unwrap();
    kill_build_at("before-commit", &pats, &out);
    assert_eq!(assert_complete(&out), old, "the old output, untouched");

    // The next build succeeds and removes what the killed one left.
    let o = build(&pats, &out, &["--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_ne!(assert_complete(&out), old);
    assert_eq!(names(dir.path()), ["out", "p.before-commit.flag", "p.txt"]);
}

#[test]
fn a_build_killed_in_the_middle_of_its_commit_leaves_a_complete_output() {
    let dir = tempfile::tempdir().unwrap();
    let pats = dir.path().join("p.txt");
    fs::write(&pats, "old\n").unwrap();
    let out = dir.path().join("out");
    assert!(build(&pats, &out, &["--quiet"]).status.success());
    let old = assert_complete(&out);

    // Between the commit's filesystem steps (two renames before; now the
    // exchange and the removal of the old tree).
    fs::write(&pats, "new\n").unwrap();
    kill_build_at("mid-commit", &pats, &out);
    assert!(
        out.is_dir(),
        "the output directory is gone: {:?}",
        names(dir.path())
    );
    let after_kill = assert_complete(&out);

    // Every later build works and cleans up (before: `Directory not empty`).
    for round in 0..2 {
        fs::write(&pats, format!("round{round}\n")).unwrap();
        let o = build(&pats, &out, &["--quiet"]);
        assert!(o.status.success(), "round {round}: {}", stderr(&o));
        let now = assert_complete(&out);
        assert_ne!(now, old);
        assert_ne!(now, after_kill);
        assert_eq!(names(dir.path()), ["out", "p.mid-commit.flag", "p.txt"]);
    }
}

#[test]
fn a_build_killed_while_compiling_leaks_no_staging_directory() {
    let dir = tempfile::tempdir().unwrap();
    let pats = dir.path().join("p.txt");
    fs::write(&pats, "one\n").unwrap();
    let out = dir.path().join("out");
    kill_build_at("staged", &pats, &out);
    assert!(!out.exists());
    assert!(
        names(dir.path()).iter().any(|n| n.starts_with(".out.")),
        "the killed build had staged something: {:?}",
        names(dir.path())
    );
    let o = build(&pats, &out, &["--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_complete(&out);
    assert_eq!(names(dir.path()), ["out", "p.staged.flag", "p.txt"]);

    // And over an existing output.
    kill_build_at("staged", &pats, &out);
    let o = build(&pats, &out, &["--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(names(dir.path()), ["out", "p.staged.flag", "p.txt"]);
}

#[test]
fn the_half_done_commit_of_an_older_dfabake_is_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let pats = dir.path().join("p.txt");
    fs::write(&pats, "old\n").unwrap();
    let out = dir.path().join("out");
    assert!(build(&pats, &out, &["--quiet"]).status.success());
    let old = assert_complete(&out);
    // What dfabake before 0.1 left when killed between its two renames.
    let aside = dir.path().join(".out.old");
    fs::rename(&out, &aside).unwrap();

    // Even a build that fails puts the old output back first.
    fs::write(&pats, "(bad\n").unwrap();
    assert!(!build(&pats, &out, &[]).status.success());
    assert_eq!(assert_complete(&out), old);
    assert_eq!(names(dir.path()), ["out", "p.txt"]);

    fs::rename(&out, &aside).unwrap();
    for round in 0..2 {
        fs::write(&pats, format!("round{round}\n")).unwrap();
        let o = build(&pats, &out, &["--quiet"]);
        assert!(o.status.success(), "round {round}: {}", stderr(&o));
        assert_ne!(assert_complete(&out), old);
        assert_eq!(names(dir.path()), ["out", "p.txt"], "round {round}");
    }

    // Killed while removing the old tree: both exist; the leftover goes.
    fs::create_dir(&aside).unwrap();
    fs::write(aside.join("matcher.wasm"), b"half removed").unwrap();
    let o = build(&pats, &out, &["--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(names(dir.path()), ["out", "p.txt"]);
}

#[test]
fn a_rebuild_refuses_to_delete_files_dfabake_did_not_write() {
    let dir = tempfile::tempdir().unwrap();
    let pats = dir.path().join("p.txt");
    fs::write(&pats, "old\n").unwrap();
    let out = dir.path().join("out");
    assert!(build(&pats, &out, &["--quiet"]).status.success());
    let old = assert_complete(&out);

    fs::write(&pats, "new\n").unwrap();
    for user_file in ["notes.txt", "npm/extra.js", "keep/"] {
        let path = out.join(user_file);
        if user_file.ends_with('/') {
            fs::create_dir(&path).unwrap();
        } else {
            fs::write(&path, "mine").unwrap();
        }
        let o = build(&pats, &out, &[]);
        assert!(!o.status.success(), "{user_file}: replaced");
        let err = stderr(&o);
        assert!(
            err.contains("dfabake did not write")
                && err.contains(user_file.trim_end_matches('/'))
                && err.contains("--force"),
            "{user_file}: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(path.exists(), "{user_file} deleted");
        assert_eq!(assert_complete(&out), old, "{user_file}: output changed");
        assert_eq!(names(dir.path()), ["out", "p.txt"]);
        if user_file.ends_with('/') {
            fs::remove_dir(&path).unwrap();
        } else {
            fs::remove_file(&path).unwrap();
        }
    }
    // A dfabake output with nothing else in it is replaced, and --force
    // replaces one with other files too.
    fs::write(out.join("notes.txt"), "mine").unwrap();
    let o = build(&pats, &out, &["--quiet", "--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!out.join("notes.txt").exists());
    assert_ne!(assert_complete(&out), old);
    let o = build(&pats, &out, &["--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(names(dir.path()), ["out", "p.txt"]);
}

#[test]
fn out_dot_and_builds_from_inside_the_output_directory() {
    let dir = tempfile::tempdir().unwrap();
    let pats = dir.path().join("p.txt");
    fs::write(&pats, "one\n").unwrap();
    let out = dir.path().join("out");
    fs::create_dir(&out).unwrap();
    let in_out = |args: &[&str]| {
        run(Command::new(binary("dfabake"))
            .args(["build", "--patterns", pats.to_str().unwrap()])
            .args(args)
            .current_dir(&out))
    };

    // `--out .` in an empty directory, then over its own output.
    for (round, rule) in ["one", "two"].iter().enumerate() {
        fs::write(&pats, format!("{rule}\n")).unwrap();
        let o = in_out(&["--out", "."]);
        assert!(o.status.success(), "round {round}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains(
                out.canonicalize()
                    .unwrap()
                    .join("matcher.wasm")
                    .to_str()
                    .unwrap()
            ),
            "the message names where the output is: {err}"
        );
        if round > 0 {
            assert!(
                err.contains("cd ."),
                "says how to see the new output: {err}"
            );
        }
        assert_complete(&out);
        assert_eq!(names(dir.path()), ["out", "p.txt"]);
        assert_eq!(names(&out), ["manifest.json", "matcher.wasm", "npm"]);
    }
    let o = host_match(&out.join("matcher.wasm"), "all", b"two\n");
    assert_eq!(ids(&lines(&o)[0]["matches"]), vec![Value::from(1)]);

    // From inside, by a relative path through `..` and by an absolute one.
    for target in ["../out", out.to_str().unwrap()] {
        fs::write(&pats, format!("{}\n", target.len())).unwrap();
        let o = in_out(&["--out", target, "--quiet"]);
        assert!(o.status.success(), "{target}: {}", stderr(&o));
        assert_complete(&out);
        assert_eq!(names(dir.path()), ["out", "p.txt"]);
        let o = host_match(
            &out.join("matcher.wasm"),
            "all",
            format!("{}\n", target.len()).as_bytes(),
        );
        assert_eq!(ids(&lines(&o)[0]["matches"]), vec![Value::from(1)]);
    }

    // A user's file in the directory the build runs in is not deleted.
    fs::write(out.join("notes.txt"), "mine").unwrap();
    let o = in_out(&["--out", "."]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("notes.txt"), "{}", stderr(&o));
    assert_eq!(fs::read_to_string(out.join("notes.txt")).unwrap(), "mine");

    // The root directory can never be an output, even with --force.
    let o = in_out(&["--out", "/", "--force"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--out /: "), "{}", stderr(&o));
}

#[test]
fn mysql_timeout_is_documented_with_its_default() {
    let o = dfabake(&["build", "--help"]);
    assert!(o.status.success());
    let help = String::from_utf8_lossy(&o.stdout).replace('\n', " ");
    let at = help
        .find("--mysql-timeout <SECONDS>")
        .expect("--mysql-timeout in --help");
    let rest = &help[at..];
    let default = rest[rest.find("[default: ").unwrap() + 10..]
        .split(']')
        .next()
        .unwrap();
    let secs: u64 = default.parse().unwrap();
    assert!((1..=30).contains(&secs), "default {secs} s");
}

#[path = "craft.rs"]
mod craft;

/// The example rules baked into a module, and where they were written.
fn baked_examples(dir: &Path) -> (std::path::PathBuf, Vec<u8>) {
    let out = dir.join("good");
    let o = build(
        &workspace().join("examples/rules.jsonl"),
        &out,
        &["--quiet"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let module = out.join("matcher.wasm");
    let bytes = fs::read(&module).unwrap();
    (module, bytes)
}

/// Every way of loading `bytes` refuses it, naming `needle`: the host's
/// load (`dfabake-host match`) and `dfabake inspect`.
fn assert_refused(dir: &Path, name: &str, bytes: &[u8], needle: &str) {
    let path = dir.join(format!("{name}.wasm"));
    fs::write(&path, bytes).unwrap();
    let o = host_match(&path, "all", b"Mozilla/5.0 (compatible; Googlebot/2.1)\n");
    assert_eq!(
        o.status.code(),
        Some(1),
        "{name}: the host loaded it and answered {}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(o.stdout.is_empty(), "{name}: no answers from a bad module");
    let err = stderr(&o);
    assert!(
        err.starts_with("dfabake-host: error: loading"),
        "{name}: {err}"
    );
    assert!(err.contains(needle), "{name}: want {needle:?} in {err}");
    let o = dfabake(&["inspect", path.to_str().unwrap()]);
    assert!(!o.status.success(), "{name}: inspect accepted it");
    assert!(
        stderr(&o).contains(needle),
        "{name}: want {needle:?} in {}",
        stderr(&o)
    );
}

/// Issue 12, failure 6: a database edited by someone who recomputes the
/// checksum is refused by the host, by `dfabake inspect` and by the module's
/// own `dfabake_verify` when its ids or payloads are not JSON (they are
/// spliced into the output verbatim), when a prefiltered rule lost its
/// literals, or when a shard has flag bits this matcher does not know.
#[test]
fn tampered_databases_with_a_recomputed_checksum_are_refused() {
    use craft::{patch_database, raw_match, rule_strings, shard_flags_at, wasm_verify};
    let dir = tempfile::tempdir().unwrap();
    let (_, good) = baked_examples(dir.path());
    assert_eq!(wasm_verify(&good), Ok(()));
    let googlebot = b"Mozilla/5.0 (compatible; Googlebot/2.1)";
    let answer: Value = serde_json::from_str(&raw_match(&good, 1, googlebot).unwrap()).unwrap();
    assert_eq!(answer[0]["id"], 1);

    let bad_id = patch_database(&good, |db| {
        let [id, ..] = rule_strings(db, 0);
        assert_eq!(&db[id.clone()], b"1");
        db[id.start] = b'x';
    });
    let bad_payload = patch_database(&good, |db| {
        let [_, payload, ..] = rule_strings(db, 0);
        assert_eq!(db[payload.end - 1], b'}');
        db[payload.end - 1] = b' ';
    });
    let no_prefilter = patch_database(&good, |db| db[60..64].fill(0));
    let unknown_flag = patch_database(&good, |db| {
        let at = shard_flags_at(db, 0);
        db[at + 1] |= 0x10; // bit 12: no SHARD_* flag
    });
    // What an instance that trusted them would answer: output that is not
    // JSON, and a rule that silently stopped matching.
    for bad in [&bad_id, &bad_payload] {
        let out = raw_match(bad, 1, googlebot).unwrap();
        assert!(serde_json::from_str::<Value>(&out).is_err(), "{out}");
    }
    assert_eq!(raw_match(&no_prefilter, 1, googlebot).unwrap(), "[]");

    for (name, bytes, needle) in [
        ("bad-id", &bad_id, "rule id is not a JSON integer or string"),
        ("bad-payload", &bad_payload, "rule payload is not JSON"),
        ("no-prefilter", &no_prefilter, "no prefilter literal"),
        (
            "unknown-shard-flag",
            &unknown_flag,
            "unknown shard flag bits",
        ),
    ] {
        assert_refused(dir.path(), name, bytes, needle);
        match wasm_verify(bytes) {
            Ok(()) => panic!("{name}: dfabake_verify accepted it"),
            Err(e) => assert!(e.contains(needle), "{name}: want {needle:?} in {e}"),
        }
    }
}

/// Issue 12, failure 6: a second data segment written over the database
/// (here over a rule's payload) leaves the segment the verifier reads
/// intact, while every instance reads the overwritten bytes. The module is
/// real (wasmtime compiles and runs it, and answers the planted payload);
/// the host and `dfabake inspect` refuse it.
#[test]
fn a_data_segment_overlapping_the_database_is_refused() {
    use craft::{add_data_segment, database_place, raw_match, rule_strings};
    let dir = tempfile::tempdir().unwrap();
    let (_, good) = baked_examples(dir.path());
    let (range, address) = database_place(&good);
    let db = &good[range];
    let [_, payload, ..] = rule_strings(db, 0);
    assert_eq!(
        &db[payload.clone()],
        br#"{"kind":"search","owner":"Google"}"#
    );
    let planted = br#"{"kind":"search","owner":"Evil!!"}"#;
    let bad = add_data_segment(&good, address + payload.start as u32, planted);
    let googlebot = b"Mozilla/5.0 (compatible; Googlebot/2.1)";
    let out: Value = serde_json::from_str(&raw_match(&bad, 1, googlebot).unwrap()).unwrap();
    assert_eq!(
        out[0]["payload"]["owner"], "Evil!!",
        "the instance reads the planted bytes"
    );
    assert_refused(
        dir.path(),
        "overlapping-segment",
        &bad,
        "overlaps the database",
    );

    // A segment that rewrites the locator (pointing the instance at bytes
    // nobody verified) overlaps another segment: refused as well.
    let bad = add_data_segment(&good, craft::locator_address(&good) + 16, &[0; 8]);
    assert!(
        raw_match(&bad, 1, googlebot).is_err(),
        "the instance lost its database"
    );
    assert_refused(dir.path(), "locator-rewritten", &bad, "overlaps");
}

/// `dfabake inspect` names the template a module was baked from, and
/// refuses one that has more than its template plus the database: a data
/// segment planted where the template has none (overlapping nothing, so
/// a host's layout check, which cannot know the template, lets it pass).
#[test]
fn inspect_compares_a_module_with_its_template() {
    let dir = tempfile::tempdir().unwrap();
    let (module, good) = baked_examples(dir.path());
    let npm = module.parent().unwrap().join("npm/dfabake_matcher_bg.wasm");
    for (path, want) in [(&module, "plain"), (&npm, "npm")] {
        let o = dfabake(&["inspect", path.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["module"]["template"], want);
    }
    let l = dfabake_matcher::layout::read(&good).unwrap();
    let data_end = l.segments[..l.segments.len() - 1]
        .iter()
        .map(|s| s.address as usize + s.bytes.len())
        .max()
        .unwrap();
    let planted = craft::insert_data_segment(&good, 2, data_end as u32 + 8, b"planted");
    let path = dir.path().join("planted.wasm");
    fs::write(&path, &planted).unwrap();
    let o = dfabake(&["inspect", path.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("not baked from this builder's template: 3 data segments besides the database; the template has 2"),
        "{}",
        stderr(&o)
    );
}

/// `dfabake inspect … | head`: a reader that stops early ends the output
/// quietly (exit 0), instead of a panic on the broken pipe (issue 15).
#[test]
fn inspect_into_a_pipe_closed_early_exits_quietly() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    // Enough rules that the summary overflows a pipe's buffer.
    let patterns: String = (0..3000).map(|i| format!("agent{i}bot/\\d+\n")).collect();
    let rules = dir.path().join("rules.txt");
    fs::write(&rules, patterns).unwrap();
    let out = dir.path().join("out");
    let o = build(&rules, &out, &["--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut child = Command::new(binary("dfabake"))
        .args(["inspect", out.join("matcher.wasm").to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut head = [0u8; 100];
    child.stdout.take().unwrap().read_exact(&mut head).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}: {}", o.status, stderr(&o));
    assert_eq!(stderr(&o), "");
}

/// The database does not depend on which compile thread finishes first: the
/// same rules bake to the same bytes with one thread or several, from a cold
/// shard cache or a warm one.
#[test]
fn bakes_are_reproducible_whatever_the_threads_and_cache() {
    let dir = tempfile::tempdir().unwrap();
    let pats = uap_shaped_rules(dir.path(), 300, 11);
    let cache = dir.path().join("cache");
    let bake = |name: &str, extra: &[&str]| {
        let out = dir.path().join(name);
        let o = build(&pats, &out, extra);
        assert!(o.status.success(), "{}", stderr(&o));
        fs::read(out.join("matcher.wasm")).unwrap()
    };
    let cache_arg = ["--cache", cache.to_str().unwrap()];
    let one = bake("one", &[&["--threads", "1"][..], &cache_arg].concat());
    for (name, extra) in [
        ("two-warm", [&["--threads", "2"][..], &cache_arg].concat()),
        ("four-cold", vec!["--threads", "4", "--no-cache"]),
        ("four-warm", [&["--threads", "4"][..], &cache_arg].concat()),
    ] {
        assert!(
            bake(name, &extra) == one,
            "{name}: other bytes than with one thread"
        );
    }
}

/// Runs `dfabake` with its stderr on a pseudo-terminal.
fn dfabake_on_a_terminal(args: &[&str]) -> (std::process::ExitStatus, String) {
    stderr_on_a_terminal(Command::new(binary("dfabake")).args(args))
}

/// A `--patterns` build long enough to be worth watching: a progress bar on
/// a terminal (issue 15: 52 s of silence), and nothing of it when stderr is
/// a file or a pipe, or with --quiet.
#[test]
fn a_patterns_build_shows_progress_on_a_terminal_only() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.txt");
    let patterns: String = (0..1500)
        .map(|i| format!("(?i)agent{i}[a-z]+bot/\\d+\n"))
        .collect();
    fs::write(&rules, patterns).unwrap();
    let out = dir.path().join("out");
    let args = [
        "build",
        "--patterns",
        rules.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--no-cache",
    ];
    let (status, drawn) = dfabake_on_a_terminal(&args);
    assert!(status.success(), "{drawn}");
    for step in ["checking rules", "compiling DFAs", "/1,500"] {
        assert!(
            drawn.contains(step),
            "no {step:?} drawn on the terminal:\n{drawn}"
        );
    }
    assert!(drawn.contains("baked 1500 rules"), "{drawn}");

    // Not a terminal: the summary alone, no bar, no escape sequences.
    let o = dfabake(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.starts_with("baked 1500 rules") && err.lines().count() == 1,
        "{err:?}"
    );
    assert!(!err.contains('\x1b'), "{err:?}");

    let mut quiet = args.to_vec();
    quiet.push("--quiet");
    let (status, drawn) = dfabake_on_a_terminal(&quiet);
    assert!(status.success());
    assert_eq!(drawn, "", "--quiet draws nothing");
}

/// Every byte-size flag of both CLIs reads sizes with units, 1024-based,
/// through one parser; a bad size is a usage error that says why.
#[test]
fn byte_size_flags_take_units() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.txt");
    fs::write(&rules, "foo\nbar\\d+\n").unwrap();
    let out = dir.path().join("out");
    let o = build(
        &rules,
        &out,
        &[
            "--quiet",
            "--max-dfa-bytes",
            "32M",
            "--max-rule-dfa-bytes",
            "512k",
            "--max-database-bytes",
            "1GiB",
            "--sparse-above",
            "100KB",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let manifest: Value =
        serde_json::from_slice(&fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let config = &manifest["build"]["config"];
    assert_eq!(config["max_dfa_bytes"], 32 << 20);
    assert_eq!(config["max_rule_dfa_bytes"], 512 << 10);
    assert_eq!(config["max_database_bytes"], 1 << 30);
    assert_eq!(config["sparse_above"], 100 << 10);
    // Plain bytes still work.
    let o = build(&rules, &out, &["--quiet", "--max-dfa-bytes", "4194304"]);
    assert!(o.status.success(), "{}", stderr(&o));

    for (flag, value, why) in [
        ("--max-dfa-bytes", "32Q", "unknown unit \"Q\""),
        (
            "--max-database-bytes",
            "1.5G",
            "fractions are not supported",
        ),
        ("--sparse-above", "-1", "negative"),
    ] {
        let o = build(&rules, &out, &[&format!("{flag}={value}")]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains(flag) && err.contains(why), "{err}");
    }

    // The host's flags: a body over --max-body-bytes 1k is refused (413).
    let module = out.join("matcher.wasm");
    let mut server = Command::new(binary("dfabake-host"))
        .args([
            "serve",
            "--module",
            module.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .args(["--max-body-bytes", "1k", "--max-response-bytes", "1MiB"])
        .args([
            "--memory-limit-bytes",
            "64M",
            "--no-cache",
            "--workers",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .expect(&line)
        .to_string();
    let post = |body: &[u8]| -> String {
        use std::io::{Read, Write};
        let mut c = std::net::TcpStream::connect(&addr).unwrap();
        write!(
            c,
            "POST /match HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .unwrap();
        let _ = c.write_all(body);
        let mut answer = String::new();
        let _ = c.read_to_string(&mut answer);
        answer
    };
    let small = post(&[b'f'; 1024]);
    let big = post(&[b'f'; 1025]);
    server.kill().unwrap();
    server.wait().unwrap();
    assert!(small.starts_with("HTTP/1.1 200"), "{small}");
    assert!(big.starts_with("HTTP/1.1 413"), "{big}");
    for flag in [
        "--max-body-bytes",
        "--max-response-bytes",
        "--max-pending-response-bytes",
        "--memory-limit-bytes",
    ] {
        let o = run(Command::new(binary("dfabake-host")).args([
            "serve",
            "--module",
            module.to_str().unwrap(),
            flag,
            "12 parsecs",
        ]));
        assert_eq!(o.status.code(), Some(2));
        assert!(
            stderr(&o).contains("invalid size \"12 parsecs\": unknown unit"),
            "{}",
            stderr(&o)
        );
    }
}

/// `completions SHELL` prints a script for each shell clap_complete knows,
/// for both CLIs; bash's really completes subcommands and flags.
#[test]
fn shell_completions_for_both_clis() {
    for (bin, subcommand, flag) in [
        ("dfabake", "inspect", "--max-dfa-bytes"),
        ("dfabake-host", "serve", "--max-body-bytes"),
    ] {
        for (shell, marker) in [
            ("bash", format!("complete -F _{} ", bin.replace('-', "__"))),
            ("zsh", format!("#compdef {bin}")),
            ("fish", format!("complete -c {bin} ")),
            ("elvish", format!("edit:completion:arg-completer[{bin}]")),
            (
                "powershell",
                format!("Register-ArgumentCompleter -Native -CommandName '{bin}'"),
            ),
        ] {
            let o = run(Command::new(binary(bin)).args(["completions", shell]));
            assert!(
                o.status.success(),
                "{bin} completions {shell}: {}",
                stderr(&o)
            );
            let script = String::from_utf8(o.stdout).unwrap();
            assert!(script.contains(&marker), "{bin} {shell}: no {marker:?}");
            // fish writes long flags without their dashes.
            assert!(
                script.contains(subcommand) && script.contains(flag.trim_start_matches('-')),
                "{bin} {shell}"
            );
        }
        let o = run(Command::new(binary(bin)).args(["completions", "tcsh"]));
        assert_eq!(o.status.code(), Some(2));
        assert!(
            stderr(&o).contains("possible values: bash, elvish, fish, powershell, zsh"),
            "{}",
            stderr(&o)
        );
    }
    // Loaded into bash, the script completes `dfabake bu` and `dfabake build --max-df`.
    let complete = |words: &str| -> String {
        let script = format!(
            "source <('{}' completions bash)\nCOMP_WORDS=({words})\nCOMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))\n\
             COMP_LINE=\"{words}\"\nCOMP_POINT=${{#COMP_LINE}}\n_dfabake dfabake \"${{COMP_WORDS[-1]}}\" \"${{COMP_WORDS[-2]}}\"\n\
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            binary("dfabake").display()
        );
        let o = run(Command::new("bash").args(["--norc", "-c", &script]));
        assert!(o.status.success(), "{}", stderr(&o));
        String::from_utf8(o.stdout).unwrap()
    };
    assert_eq!(complete("dfabake bu").trim(), "build");
    let flags = complete("dfabake build --max-df");
    assert_eq!(flags.trim(), "--max-dfa-bytes", "{flags}");
}

/// The builder's default shard cache lies inside the host's default
/// native-code cache: under a permissive umask (002) the builder still
/// creates both private, so the host keeps using its cache.
#[test]
fn the_default_shard_cache_keeps_the_host_cache_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.txt");
    fs::write(&rules, "foo\n").unwrap();
    let out = dir.path().join("out");
    let xdg = dir.path().join("xdg");
    let o = run(Command::new("sh")
        .args(["-c", "umask 002 && exec \"$0\" \"$@\""])
        .arg(binary("dfabake"))
        .args(["build", "--quiet", "--patterns"])
        .arg(&rules)
        .arg("--out")
        .arg(&out)
        .env("XDG_CACHE_HOME", &xdg));
    assert!(o.status.success(), "{}", stderr(&o));
    for d in [xdg.join("dfabake"), xdg.join("dfabake/shards")] {
        let mode = fs::metadata(&d).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", d.display());
    }
    for _ in 0..2 {
        let o = run(Command::new(binary("dfabake-host"))
            .args(["match", "-v", "--module"])
            .arg(out.join("matcher.wasm"))
            .arg("foo")
            .env("XDG_CACHE_HOME", &xdg));
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(!stderr(&o).contains("not used"), "{}", stderr(&o));
    }
    let o = run(Command::new(binary("dfabake-host"))
        .args(["match", "-v", "--module"])
        .arg(out.join("matcher.wasm"))
        .arg("foo")
        .env("XDG_CACHE_HOME", &xdg));
    assert!(
        stderr(&o).contains("native code from cache"),
        "{}",
        stderr(&o)
    );
}

/// Every command that writes to stdout ends quietly (exit 0, nothing on
/// stderr) when its reader is gone (`| head`), in both CLIs.
#[test]
fn stdout_commands_exit_quietly_into_a_closed_pipe() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.txt");
    fs::write(&rules, "foo\n").unwrap();
    let out = dir.path().join("out");
    assert!(build(&rules, &out, &["--quiet"]).status.success());
    let module = out.join("matcher.wasm");
    let module = module.to_str().unwrap();
    let cache = dir.path().join("cache");
    let cache = cache.to_str().unwrap();
    let many_inputs: Vec<u8> = b"foo bar\n".repeat(200_000);
    // (binary, arguments, stdin)
    type Case<'a> = (&'a str, Vec<&'a str>, Option<&'a [u8]>);
    let cases: Vec<Case> = vec![
        ("dfabake", vec!["completions", "bash"], None),
        ("dfabake", vec!["inspect", module], None),
        ("dfabake-host", vec!["completions", "zsh"], None),
        (
            "dfabake-host",
            vec!["compile", "--module", module, "--cache-dir", cache],
            None,
        ),
        (
            "dfabake-host",
            vec!["match", "--module", module, "--no-cache", "-"],
            Some(&many_inputs),
        ),
        (
            "dfabake-host",
            vec!["match", "--module", module, "--no-cache", "foo", "bar"],
            None,
        ),
    ];
    for (bin, args, stdin) in cases {
        let mut child = Command::new(binary(bin))
            .args(&args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader leaves before the first byte is written.
        drop(child.stdout.take());
        if let Some(input) = stdin {
            // The child may stop reading as soon as its output is refused.
            let _ = child.stdin.take().unwrap().write_all(input);
        }
        let o = child.wait_with_output().unwrap();
        assert!(
            o.status.success(),
            "{bin} {args:?}: {}: {}",
            o.status,
            stderr(&o)
        );
        assert_eq!(stderr(&o), "", "{bin} {args:?}");
    }
}

/// Rules files as editors and generators leave them: a byte order mark is
/// not part of the first rule; a JSON array element nested past the
/// parser's depth limit is a row error, not a crash; a pattern of more than
/// 4 MiB is refused before it is parsed (gigabytes otherwise); and an
/// error in a long pattern shows the pattern around its position only.
#[test]
fn bom_deep_elements_huge_and_long_patterns_are_row_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    for (name, text) in [
        ("bom.txt", "\u{FEFF}abc\ndef\n".to_string()),
        (
            "bom.jsonl",
            "\u{FEFF}{\"id\": 1, \"pattern\": \"abc\"}\n".to_string(),
        ),
        (
            "bom.json",
            "\u{FEFF}[{\"id\": 1, \"pattern\": \"abc\"}]".to_string(),
        ),
    ] {
        let pats = dir.path().join(name);
        fs::write(&pats, text).unwrap();
        let o = build(&pats, &out, &["--force"]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        let got = lines(&host_match(&out.join("matcher.wasm"), "first", b"xabcx\n"));
        assert_eq!(got[0]["matches"][0]["id"], 1, "{name}");
        assert_eq!(got[0]["matches"][0]["start"], 1, "{name}");
    }

    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let pats = dir.path().join("deep.json");
    fs::write(
        &pats,
        format!("[{{\"id\": 1, \"pattern\": \"a\", \"payload\": {deep}}},\n {{\"id\": 2, \"pattern\": \"b\"}}]"),
    )
    .unwrap();
    let o = build(&pats, &out, &["--force"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("element 1, line 1: not valid JSON: recursion limit exceeded"),
        "{}",
        stderr(&o)
    );
    let o = build(&pats, &out, &["--force", "--on-invalid", "skip"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("baked 1 rules (1 skipped)"),
        "{}",
        stderr(&o)
    );

    let pats = dir.path().join("huge.txt");
    fs::write(&pats, "a".repeat((4 << 20) + 1)).unwrap();
    let o = build(&pats, &out, &["--force"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("rule id 1 (line 1): the pattern is 4194305 bytes long; patterns of more than 4194304 bytes are refused"),
        "{}",
        &stderr(&o)[..stderr(&o).len().min(500)]
    );

    let pats = dir.path().join("long.txt");
    fs::write(&pats, format!("{}(", "a".repeat(100_000))).unwrap();
    let o = build(&pats, &out, &["--force"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("position 100001 (byte 100000): unclosed group"),
        "{}",
        &err[..err.len().min(500)]
    );
    assert!(err.len() < 1000, "{} bytes of stderr", err.len());
    // The caret still points at the position.
    let shown: Vec<&str> = err
        .lines()
        .skip_while(|l| !l.contains("unclosed group"))
        .skip(1)
        .take(2)
        .collect();
    assert_eq!(
        shown[1].chars().count(),
        shown[0].chars().count(),
        "{shown:?}"
    );
    assert!(
        shown[0].trim_start().starts_with('…') && shown[0].ends_with('('),
        "{shown:?}"
    );
}

/// `--out` given as a symbolic link to a directory (`current ->
/// releases/7`): the directory it leads to is replaced and the link stays.
/// A link that leads nowhere, or to a file, is refused.
#[test]
fn out_through_a_symlink_replaces_its_directory_and_keeps_the_link() {
    let dir = tempfile::tempdir().unwrap();
    let pats = dir.path().join("p.txt");
    fs::write(&pats, "foo\n").unwrap();
    let target = dir.path().join("releases-7");
    assert!(build(&pats, &target, &[]).status.success());
    let link = dir.path().join("current");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    fs::write(&pats, "foo\nbar\n").unwrap();
    let o = build(&pats, &link, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fs::read_link(&link).unwrap(), target);
    let manifest: Value =
        serde_json::from_slice(&fs::read(target.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["rules"], 2);
    let got = lines(&host_match(&link.join("matcher.wasm"), "all", b"bar\n"));
    assert_eq!(ids(&got[0]["matches"]), vec![Value::from(2)]);
    // Nothing but the two and the rules file is left beside them.
    let mut names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["current", "p.txt", "releases-7"]);

    for (name, to) in [
        ("dangling", dir.path().join("nowhere")),
        ("to-file", pats.clone()),
    ] {
        let link = dir.path().join(name);
        std::os::unix::fs::symlink(&to, &link).unwrap();
        let o = build(&pats, &link, &[]);
        assert!(!o.status.success(), "{name}");
        assert!(
            stderr(&o).contains("a symbolic link that does not lead to a directory"),
            "{name}: {}",
            stderr(&o)
        );
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
    }
}

/// An id that is neither an integer nor a string is named, with what an
/// id may be.
#[test]
fn ids_of_other_types_say_what_an_id_may_be() {
    let dir = tempfile::tempdir().unwrap();
    let pats = dir.path().join("rules.jsonl");
    fs::write(
        &pats,
        [
            r#"{"id": 1.5, "pattern": "a"}"#,
            r#"{"id": true, "pattern": "b"}"#,
            r#"{"id": 18446744073709551615, "pattern": "c"}"#,
            r#"{"id": -3, "pattern": "d"}"#,
            r#"{"id": "e", "pattern": "e"}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = build(&pats, &out, &[]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    let expected = "expected an id: an integer (64-bit signed) or a string";
    for needle in [
        format!("line 1: invalid rule: invalid type: floating point `1.5`, {expected}"),
        format!("line 2: invalid rule: invalid type: boolean `true`, {expected}"),
        format!("line 3: invalid rule: invalid value: integer `18446744073709551615`, {expected}"),
    ] {
        assert!(err.contains(&needle), "missing {needle:?} in:\n{err}");
    }
    assert!(err.contains("3 invalid rules"), "{err}");
    assert!(!err.contains("variant"), "{err}");
}

/// One malformed JSON line no longer hides the other bad rules: all are
/// listed in file order; under `--on-invalid skip` the malformed lines are
/// skipped (and listed) like invalid patterns.
#[test]
fn malformed_lines_are_reported_with_every_other_bad_rule_and_skippable() {
    let dir = tempfile::tempdir().unwrap();
    let pats = dir.path().join("rules.jsonl");
    fs::write(
        &pats,
        [
            r#"{"id": 1, "pattern": "ok"}"#,
            r#"{"id": 2, "pattern": "(abc"}"#,
            r#"{"id": 3, "pattern": "x",}"#,
            r#"{"id": 4, "patern": "typo"}"#,
            r#"{"id": 1, "pattern": "dup"}"#,
            r#"["not", "a", "rule"]"#,
            r#"{"id": 7, "pattern": "fine"}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = build(&pats, &out, &[]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    let needles = [
        "5 invalid rules",
        "rule id 2 (line 2), position 1 (byte 0): unclosed group",
        "line 3: not valid JSON: trailing comma (column 26)",
        "rule id 4 (line 4): invalid rule: unknown field `patern`",
        "rule id 1 (line 5): duplicate id 1 (first used at line 1)",
        "line 6: a JSON array, but JSON Lines hold one rule object a line",
    ];
    let mut at = 0;
    for needle in needles {
        let found = err[at..]
            .find(needle)
            .unwrap_or_else(|| panic!("missing (or out of order) {needle:?} in:\n{err}"));
        at += found + needle.len();
    }
    assert!(!out.exists());

    let o = build(&pats, &out, &["--on-invalid", "skip"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("skipped: line 3: not valid JSON"), "{err}");
    assert!(err.contains("baked 2 rules (5 skipped)"), "{err}");
    let manifest: Value =
        serde_json::from_slice(&fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["rules"], 2);
    let skipped: Vec<(Value, Value)> = manifest["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["id"].clone(), s["origin"].clone()))
        .collect();
    let line = |n: u32| Value::from(format!("line {n}"));
    assert_eq!(
        skipped,
        vec![
            (2.into(), line(2)),
            (Value::Null, line(3)),
            (4.into(), line(4)),
            (1.into(), line(5)),
            (Value::Null, line(6)),
        ]
    );
}

/// A patterns file holding one JSON array of rules (on one line or
/// pretty-printed) is read as rules, not as one text pattern; a text file
/// starting with a class (`[Bb]ot`) stays text.
#[test]
fn json_array_files_are_read_as_rules() {
    let dir = tempfile::tempdir().unwrap();
    let one_line = dir.path().join("rules.txt");
    fs::write(&one_line, r#"[{"id": 1, "pattern": "foo"}, {"id": "b", "pattern": "bar", "flags": "i", "payload": {"k": 1}}]"#).unwrap();
    let pretty = dir.path().join("rules.json");
    fs::write(
        &pretty,
        "[\n  {\"id\": 1, \"pattern\": \"foo\"},\n  {\n    \"id\": \"b\",\n    \"pattern\": \"bar\",\n    \"flags\": \"i\",\n    \"payload\": {\"k\": 1}\n  }\n]\n",
    )
    .unwrap();
    for (file, extra) in [
        (&one_line, &[][..]),
        (&pretty, &[][..]),
        (&one_line, &["--format", "json"][..]),
    ] {
        let out = dir.path().join("out");
        let mut args = vec!["--quiet"];
        args.extend_from_slice(extra);
        let o = build(file, &out, &args);
        assert!(o.status.success(), "{}", stderr(&o));
        let o = host_match(&out.join("matcher.wasm"), "all", b"foo BAR\n");
        let got = &lines(&o)[0]["matches"];
        assert_eq!(
            ids(got),
            vec![Value::from(1), "b".into()],
            "{}",
            file.display()
        );
        assert_eq!(got[1]["payload"]["k"], 1);
    }
    // Bad elements are named by element and line.
    fs::write(&pretty, "[\n  {\"id\": 1, \"pattern\": \"foo\"},\n  {\"id\": 2, \"pattern\": \"(x\"},\n  {\"id\": 3}\n]\n").unwrap();
    let o = build(&pretty, &dir.path().join("bad"), &[]);
    let err = stderr(&o);
    assert!(
        err.contains("rule id 2 (element 2, line 3), position 1 (byte 0): unclosed group"),
        "{err}"
    );
    assert!(
        err.contains("rule id 3 (element 3, line 4): invalid rule: missing field `pattern`"),
        "{err}"
    );
    // A broken array is one clear error, with a hint for text files.
    fs::write(&one_line, "[{\"id\": 1, \"pattern\": \"foo\"},\n").unwrap();
    let o = build(&one_line, &dir.path().join("bad"), &[]);
    let err = stderr(&o);
    assert!(
        err.contains("not a valid JSON array of rules") && err.contains("--format text"),
        "{err}"
    );
    // JSON Lines forced on an array file says what it is.
    fs::write(&one_line, r#"[{"id": 1, "pattern": "foo"}]"#).unwrap();
    let o = build(&one_line, &dir.path().join("bad"), &["--format", "jsonl"]);
    assert!(
        stderr(&o).contains("a JSON array, but JSON Lines hold one rule object a line"),
        "{}",
        stderr(&o)
    );
    // Text starting with a class is still text.
    let text = dir.path().join("classes.txt");
    fs::write(&text, "[Bb]ot\n[{]x\n").unwrap();
    let out = dir.path().join("text-out");
    let o = build(&text, &out, &["--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let got = lines(&host_match(&out.join("matcher.wasm"), "all", b"Bot\n"));
    assert_eq!(ids(&got[0]["matches"]), vec![Value::from(1)]);
}

/// `dfabake-host` given the npm package's module names the plain one
/// instead of wasmtime's "gc types are disallowed".
#[test]
fn the_host_names_matcher_wasm_when_given_the_npm_module() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.txt");
    fs::write(&rules, "foo\n").unwrap();
    let out = dir.path().join("out");
    assert!(build(&rules, &out, &["--quiet"]).status.success());
    let npm_module = fs::read_dir(out.join("npm"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "wasm"))
        .expect("a .wasm in OUT/npm");
    let plain = out.join("matcher.wasm");
    let o = host_match(&npm_module, "all", b"foo\n");
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("this is the npm flavour"), "{err}");
    assert!(err.contains(&format!("use {}", plain.display())), "{err}");
    assert!(!err.contains("gc types"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    // Copied elsewhere, it still says what to use.
    let copy = dir.path().join("module.wasm");
    fs::copy(&npm_module, &copy).unwrap();
    let o = run(Command::new(binary("dfabake-host")).args([
        "compile",
        "--module",
        copy.to_str().unwrap(),
        "--cache-dir",
        dir.path().join("cache").to_str().unwrap(),
    ]));
    assert!(
        stderr(&o).contains("npm flavour") && stderr(&o).contains("OUT/matcher.wasm"),
        "{}",
        stderr(&o)
    );
}

/// The manifest travels with the module: the shard cache's path is written
/// in `~/` form when it is under the home directory (the default cache
/// always is, without `XDG_CACHE_HOME`), not as the user's absolute path.
#[test]
fn the_manifest_writes_a_cache_under_home_in_tilde_form() {
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("out");
    let rules = workspace().join("examples/rules.jsonl");
    let build_at_home = |extra: &[&str]| {
        let mut cmd = Command::new(binary("dfabake"));
        cmd.env("HOME", home.path()).env_remove("XDG_CACHE_HOME");
        cmd.args([
            "build",
            "--quiet",
            "--patterns",
            rules.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        let o = run(cmd.args(extra));
        assert!(o.status.success(), "{}", stderr(&o));
    };
    build_at_home(&[]);
    let manifest = read_manifest(&out);
    let cache = manifest.build.config.cache_dir.expect("the default cache");
    assert_eq!(cache, Path::new("~/.cache/dfabake/shards"));
    let text = fs::read_to_string(out.join("manifest.json")).unwrap();
    assert!(!text.contains(home.path().to_str().unwrap()), "{text}");
    assert!(
        home.path().join(".cache/dfabake/shards").is_dir(),
        "the cache itself is where it was"
    );

    // Elsewhere, the path as given.
    let elsewhere = tempfile::tempdir().unwrap();
    build_at_home(&["--cache", elsewhere.path().to_str().unwrap()]);
    assert_eq!(
        read_manifest(&out).build.config.cache_dir.as_deref(),
        Some(elsewhere.path())
    );
}
