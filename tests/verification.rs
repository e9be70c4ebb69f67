//! What verification refuses, and fuzzing of everything that reads bytes a
//! module file can carry (issue 12): database parsing, locating the
//! database in a module, checking a module's layout, decoding exact
//! programs, and the JSON check of ids and payloads.
//!
//! The fuzzing runs on stable Rust with proptest, in a fixed budget of
//! cases (seconds in release), from real inputs: databases and modules
//! baked by the builder, mutated by bit flips, truncations, splices and
//! random values in length and offset fields, mostly with the checksum
//! recomputed afterwards (as an attacker would), so that the checks behind
//! the checksum are what is exercised. The properties: nothing panics or
//! hangs (a watchdog aborts the run if one case takes over a minute); a
//! database that passes `Database::from_bytes` answers `any`, `all` and
//! `first` on every input, always with valid JSON; a module that passes the
//! layout check has its database exactly where `find_database` finds it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use dfabake::compile::{compile, Config};
use dfabake::rules::{load_file, FileFormat, RuleId, RuleSpec};
use dfabake_matcher::exact::{compile as compile_program, ExactCache, ExactEngine};
use dfabake_matcher::format::{seal, AlignedBytes, Database, DfaKind, Header};
use dfabake_matcher::json::{check as check_json, JsonKind};
use dfabake_matcher::module::{find_database, Locator, LOCATOR_LEN, LOCATOR_MARKER, PAGE};
use dfabake_matcher::wire::{write_sleb, write_uleb};
use dfabake_matcher::{layout, Matcher, Mode};
use dfabake_tests::workspace;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::Config as PtConfig;
use serde_json::Value;

#[path = "craft.rs"]
mod craft;

// ---------------------------------------------------------------------------
// Inputs: real databases and modules, compiled once.

struct Sample {
    name: &'static str,
    database: Vec<u8>,
    module: Vec<u8>,
}

/// A rule set reaching every kind of shard: prefiltered, anchored,
/// after-literal, always-on, Unicode `\b`, approximate (confirmed),
/// exact-only, decomposed into branches, pure literals; nested payloads.
fn mixed_rules() -> Vec<RuleSpec> {
    let rows: &[(i64, &str, &str, Option<&str>)] = &[
        (
            1,
            r"Googlebot/(\d+)\.(\d+)",
            "i",
            Some(r#"{"k":[1,[2,{"x":null}],true,-1.5e3]}"#),
        ),
        (2, "bingbot", "i", Some(r#""just a string""#)),
        (3, r"\d{3}-\d{4}", "", None),
        (4, r"\bcrawl(?:er|ing)?\b", "", Some("42")),
        (5, r"^Mozilla/5\.0 \((?P<platform>[^;)]+)", "", None),
        (
            6,
            r"(?:alpha(?-u:\w){1,40}omega|beta[a-z]{2,30}\d|[g-h]\d{3})",
            "",
            None,
        ),
        (7, r"x[a-f0-9]{20,40}y", "", None),
        (8, r"(?:q(?-u:\w){1,9}){6}z\d{2,40}k", "", None),
        (9, "Яндекс|YandexBot", "i", None),
        (10, r"(a|b)*c(d?)e", "", None),
        (11, r"(?m)^end$", "", None),
        (-12, r"name/\d+|other/\d+", "", Some("[]")),
        (13, r"x(?:a|ab|abc)*?[^x]{0,2}y[a-z]*z", "", None),
    ];
    rows.iter()
        .map(|&(id, pattern, flags, payload)| {
            let id = if id == 2 {
                RuleId::Str("two".into())
            } else {
                RuleId::Int(id)
            };
            let mut r = RuleSpec::new(id, pattern);
            r.flags = flags.into();
            r.payload = payload.map(|p| serde_json::from_str(p).unwrap());
            r
        })
        .collect()
}

fn samples() -> &'static [Sample] {
    static SAMPLES: OnceLock<Vec<Sample>> = OnceLock::new();
    SAMPLES.get_or_init(|| {
        let examples =
            load_file(&workspace().join("examples/rules.jsonl"), FileFormat::Auto).unwrap();
        let small = Config {
            max_rule_dfa_bytes: 3000,
            max_dfa_bytes: 6000,
            cache_dir: None,
            ..Config::default()
        };
        let sets: [(&str, Vec<RuleSpec>, Config); 3] = [
            (
                "examples",
                examples,
                Config {
                    cache_dir: None,
                    ..Config::default()
                },
            ),
            ("mixed", mixed_rules(), small.clone()),
            (
                "mixed-sparse",
                mixed_rules(),
                Config {
                    dfa_kind: DfaKind::Sparse,
                    ..small
                },
            ),
        ];
        sets.into_iter()
            .map(|(name, rules, cfg)| {
                let compiled = compile(&rules, &cfg, name).unwrap();
                if name == "mixed" {
                    // The mixed set is only worth fuzzing if it reaches these.
                    assert!(!compiled.paths.decomposed.is_empty(), "a decomposed rule");
                    assert!(!compiled.paths.exact_only.is_empty(), "an exact-only rule");
                    assert!(!compiled.approximate.is_empty(), "an approximate rule");
                    assert!(
                        !compiled.paths.always.is_empty() && !compiled.paths.literal.is_empty()
                    );
                }
                let module =
                    dfabake::bake::bake(dfabake::bake::TEMPLATE, &compiled.database).unwrap();
                Sample {
                    name,
                    database: compiled.database,
                    module,
                }
            })
            .collect()
    })
}

const INPUTS: &[&[u8]] = &[
    b"",
    b"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    b"Mozilla/5.0 (X11; Linux) bingbot crawler 555-1234 name/7 other/8",
    b"alphaXXomega betaabc1 g123 x0123456789abcdef0123456789y qa1qa2qa3qa4qa5qa6z12k",
    "Яндекс end\nend ababcde crawling \u{e9}crawl".as_bytes(),
    b"\xff\xfe invalid utf-8 Googlebot/9.9 \x80",
    b"curl/8.0 wget/1 HeadlessChrome Puppeteer spider scraper",
];

// ---------------------------------------------------------------------------
// A watchdog: a case that hangs aborts the run with its description instead
// of stalling CI.

static STARTED: OnceLock<Instant> = OnceLock::new();
static PROGRESS: AtomicU64 = AtomicU64::new(0);
static CASE: Mutex<String> = Mutex::new(String::new());
const HANG: Duration = Duration::from_secs(60);

fn case(description: impl FnOnce() -> String) {
    let start = *STARTED.get_or_init(|| {
        std::thread::spawn(|| loop {
            std::thread::sleep(Duration::from_secs(1));
            let last = Duration::from_millis(PROGRESS.load(Ordering::Relaxed));
            let now = STARTED.get().unwrap().elapsed();
            if now.saturating_sub(last) > HANG {
                eprintln!(
                    "a fuzz case ran for over {HANG:?}: {}",
                    CASE.lock().unwrap()
                );
                std::process::abort();
            }
        });
        Instant::now()
    });
    PROGRESS.store(start.elapsed().as_millis() as u64, Ordering::Relaxed);
    *CASE.lock().unwrap() = description();
}

// ---------------------------------------------------------------------------
// Mutations.

/// One edit of a byte string.
#[derive(Clone, Debug)]
enum Edit {
    /// Flip a bit anywhere.
    Flip(Index, u8),
    /// Flip a bit in the first 4 KiB (header, tables, strings).
    FlipHead(Index, u8),
    /// Write a u32 into a header field (offsets 12..64).
    Header(usize, u32),
    /// Write a u32 at a 4-aligned offset anywhere.
    Word(Index, u32),
    /// Copy `len` bytes from one place over another.
    Splice(Index, Index, usize),
    /// Cut the bytes short.
    Truncate(Index),
    /// Insert or remove a byte (shifts everything after it).
    Insert(Index, u8),
    Remove(Index),
}

fn interesting_u32() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0u32),
        Just(1),
        Just(u32::MAX),
        Just(0x8000_0000),
        0u32..64,
        0u32..0x10000,
        any::<u32>(),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => (any::<Index>(), 0u8..8).prop_map(|(i, b)| Edit::Flip(i, b)),
        3 => (any::<Index>(), 0u8..8).prop_map(|(i, b)| Edit::FlipHead(i, b)),
        3 => (3usize..16, interesting_u32()).prop_map(|(f, v)| Edit::Header(f * 4, v)),
        3 => (any::<Index>(), interesting_u32()).prop_map(|(i, v)| Edit::Word(i, v)),
        1 => (any::<Index>(), any::<Index>(), 1usize..64).prop_map(|(a, b, n)| Edit::Splice(a, b, n)),
        1 => any::<Index>().prop_map(Edit::Truncate),
        1 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
        1 => any::<Index>().prop_map(Edit::Remove),
    ]
}

fn apply(bytes: &mut Vec<u8>, e: &Edit) {
    let n = bytes.len();
    if n == 0 {
        return;
    }
    match *e {
        Edit::Flip(ref i, b) => bytes[i.index(n)] ^= 1 << b,
        Edit::FlipHead(ref i, b) => bytes[i.index(n.min(4096))] ^= 1 << b,
        Edit::Header(at, v) => {
            if at + 4 <= n {
                bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
            }
        }
        Edit::Word(ref i, v) => {
            let at = i.index(n) & !3;
            if at + 4 <= n {
                bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
            }
        }
        Edit::Splice(ref from, ref to, len) => {
            let (from, to) = (from.index(n), to.index(n));
            let len = len.min(n - from).min(n - to);
            bytes.copy_within(from..from + len, to);
        }
        Edit::Truncate(ref i) => bytes.truncate(i.index(n)),
        Edit::Insert(ref i, b) => bytes.insert(i.index(n + 1), b),
        Edit::Remove(ref i) => {
            bytes.remove(i.index(n));
        }
    }
}

fn fix_checksum(db: &mut [u8]) {
    if db.len() >= Header::LEN {
        seal(db);
    }
}

/// Every mode on every input, as the module would answer: must not panic,
/// and must be valid JSON (ids and payloads are spliced in verbatim).
fn answers_are_json(db: Database<'_>) -> Result<(), TestCaseError> {
    let m = Matcher::new(db);
    let mut cache = m.create_cache();
    let (mut scratch, mut out) = (Vec::new(), Vec::new());
    for hay in INPUTS {
        // A tampered database may answer wrongly; it must answer.
        let _ = (m.matches(&mut cache, hay), m.find_any(&mut cache, hay));
        if let Some(f) = m.first(&mut cache, hay) {
            prop_assert!(f.start <= f.end && f.end <= hay.len());
        }
        for mode in [Mode::Any, Mode::All, Mode::First] {
            dfabake_matcher::json::write_matches(&m, &mut cache, mode, hay, &mut scratch, &mut out);
            if let Err(e) = serde_json::from_slice::<Value>(&out) {
                return Err(TestCaseError::fail(format!(
                    "{mode:?} answered {:?}: {e}",
                    String::from_utf8_lossy(&out)
                )));
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Fuzzing.

/// `cases` cases per property (the CI budget: all of them take seconds),
/// times `DFABAKE_FUZZ_SCALE` when set, for longer runs by hand.
fn config(cases: u32) -> PtConfig {
    let scale = std::env::var("DFABAKE_FUZZ_SCALE")
        .ok()
        .and_then(|s| s.parse::<u32>().ok());
    PtConfig {
        cases: cases.saturating_mul(scale.unwrap_or(1)),
        failure_persistence: None,
        ..PtConfig::default()
    }
}

proptest! {
    #![proptest_config(config(6000))]

    /// Mutated real databases: `from_bytes` errors or yields a database
    /// whose answers are sound; the per-instance unchecked reader never
    /// panics on damaged tables.
    #[test]
    fn mutated_databases(
        which in any::<Index>(),
        edits in proptest::collection::vec(edit(), 1..4),
        fix in prop::bool::weighted(0.9),
    ) {
        let sample = &samples()[which.index(samples().len())];
        case(|| format!("database {}: {edits:?} (checksum fixed: {fix})", sample.name));
        let mut db = sample.database.clone();
        for e in &edits {
            apply(&mut db, e);
        }
        if fix {
            fix_checksum(&mut db);
        }
        let aligned = AlignedBytes::copy_from(&db);
        let parsed = Database::from_bytes(aligned.as_bytes());
        if std::env::var_os("FUZZ_STATS").is_some() {
            eprintln!("database {}: {}", sample.name, parsed.as_ref().map_or_else(|e| e.to_string(), |_| "ok".into()));
        }
        if let Ok(parsed) = parsed {
            answers_are_json(parsed)?;
        }
        // SAFETY: only the tables are read (bounds-checked), never searched.
        if let Ok(unchecked) = unsafe { Database::from_bytes_unchecked(aligned.as_bytes()) } {
            for i in 0..unchecked.rule_count() {
                let _ = (unchecked.rule(i), unchecked.rule_json(i));
            }
            for s in unchecked.shards() {
                let _ = (s.rules().count(), s.unit_program(), s.min_rule());
            }
        }
    }
}

proptest! {
    #![proptest_config(config(2500))]

    /// Mutated real modules: locating the database and checking the layout
    /// never panic, and a module whose layout passes has its database where
    /// `find_database` finds it (the bytes a host then verifies).
    #[test]
    fn mutated_modules(
        which in any::<Index>(),
        edits in proptest::collection::vec(edit(), 1..4),
        at_data in any::<Index>(),
    ) {
        let sample = &samples()[which.index(samples().len())];
        case(|| format!("module {}: {edits:?}", sample.name));
        let (range, _) = craft::database_place(&sample.module);
        // Edits land in the first 4 KiB of the database's segment header
        // and the sections before it as often as anywhere.
        let mut wasm = sample.module.clone();
        let focus = range.start.saturating_sub(at_data.index(4096));
        let mut tail = wasm.split_off(focus);
        for e in &edits {
            apply(&mut tail, e);
        }
        wasm.extend_from_slice(&tail);
        module_properties(&wasm)?;
    }

    /// Modules made of random data segments around a locator and a
    /// database: overlapping, zero-length, out of order, above or below the
    /// database, with locators pointing anywhere.
    #[test]
    fn generated_modules(
        segments in proptest::collection::vec(segment(), 0..6),
        pages in prop_oneof![3 => Just(None), 1 => (0u64..40).prop_map(Some)],
        db_page in 1u32..30,
        db_len in prop_oneof![3 => Just(None), 1 => (0u32..200_000).prop_map(Some)],
        locator_in in any::<Index>(),
        data_count in any::<bool>(),
    ) {
        case(|| format!("generated: {segments:?} pages {pages:?} db page {db_page}"));
        let db = &samples()[0].database;
        let address = db_page * PAGE as u32;
        let len = db_len.unwrap_or(db.len() as u32);
        // Mostly the memory baking gives it: up to the database's end.
        let pages = pages.unwrap_or(u64::from(db_page) + (db.len() as u64).div_ceil(PAGE as u64));
        let mut segs: Vec<(u32, Vec<u8>)> = segments.clone();
        let mut locator = vec![0; LOCATOR_LEN];
        Locator { address, len }.write_to(&mut locator);
        let at = locator_in.index(segs.len() + 1);
        segs.insert(at, (1024 + 64 * at as u32, locator));
        segs.push((address, db.clone()));
        let wasm = module_with(pages, &segs, data_count);
        module_properties(&wasm)?;
    }

    /// Mutated exact programs decode to an error or to an engine that
    /// answers (backtracker and Pike VM) without panicking.
    #[test]
    fn mutated_exact_programs(
        which in any::<Index>(),
        other in any::<Index>(),
        edits in proptest::collection::vec(edit(), 1..4),
        long in prop::bool::weighted(0.1),
    ) {
        let programs = programs();
        let (name, program) = &programs[which.index(programs.len())];
        case(|| format!("program of {name:?}: {edits:?}"));
        let mut p = program.clone();
        for e in &edits {
            match e {
                // Splices come from another rule's program half the time.
                Edit::Splice(from, to, n) if from.index(2) == 1 && !p.is_empty() => {
                    let src = &programs[other.index(programs.len())].1;
                    let (a, b) = (from.index(src.len()), to.index(p.len()));
                    let n = (*n).min(src.len() - a).min(p.len() - b);
                    p[b..b + n].copy_from_slice(&src[a..a + n]);
                }
                e => apply(&mut p, e),
            }
        }
        if let Ok(engine) = ExactEngine::from_program(&p) {
            let mut cache = ExactCache::new();
            for hay in INPUTS {
                let found = engine.is_match(&mut cache, hay);
                let caps = engine.captures(&mut cache, hay);
                prop_assert_eq!(found, caps.is_some());
            }
            if long {
                // Too long for the backtracker: the Pike VM answers.
                let hay = INPUTS.concat().repeat(200);
                let found = engine.is_match(&mut cache, &hay);
                prop_assert_eq!(found, engine.captures(&mut cache, &hay).is_some());
            }
        }
    }
}

proptest! {
    #![proptest_config(config(5000))]

    /// The JSON check agrees with serde_json (the parser the builder reads
    /// rules with) on random near-JSON text.
    #[test]
    fn json_check_agrees_with_serde_json(
        text in "[ \\[\\]{}\",:0-9.eE+\\-\\\\/abfnrtlsux\u{e9}\t]{0,24}",
    ) {
        // serde_json refuses lone surrogates in \u escapes; the check, like
        // JSON.parse, does not (its unit tests cover \u).
        let text = text.replace("\\u", "\\n");
        let ours = check_json(text.as_bytes());
        let theirs = serde_json::from_str::<Value>(&text);
        prop_assert_eq!(ours.is_some(), theirs.is_ok(), "{:?}: {:?} vs {:?}", text, ours, theirs);
        if let (Some(kind), Ok(v)) = (ours, theirs) {
            prop_assert_eq!(kind == JsonKind::String, v.is_string());
            if kind == JsonKind::Integer {
                prop_assert!(v.is_number() && !text.contains(['.', 'e', 'E']));
            }
        }
    }

    /// And on real JSON values, as serde_json writes them.
    #[test]
    fn json_values_pass_the_check(v in json_value()) {
        let text = v.to_string();
        prop_assert!(check_json(text.as_bytes()).is_some(), "{}", text);
        let pretty = serde_json::to_string_pretty(&v).unwrap();
        prop_assert!(check_json(pretty.as_bytes()).is_some(), "{}", pretty);
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(6, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            proptest::collection::btree_map(".{0,6}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Exact programs of the mixed rules and of a few more shapes.
fn programs() -> &'static [(String, Vec<u8>)] {
    static PROGRAMS: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    PROGRAMS.get_or_init(|| {
        let mut patterns: Vec<String> = mixed_rules().iter().map(|r| r.inline_pattern()).collect();
        patterns.extend(
            [
                r"(?i)\bk\w+\b",
                r"a*?b+?",
                r"(?s).{0,3}$",
                r"^(?:(x)|(y))*$",
                r"[^\x00-\x7f]+",
                r"(?-u:\xff)",
            ]
            .map(String::from),
        );
        patterns
            .into_iter()
            .map(|p| {
                let program = compile_program(&p).unwrap();
                (p, program)
            })
            .collect()
    })
}

/// A data segment of a generated module: where and what.
fn segment() -> impl Strategy<Value = (u32, Vec<u8>)> {
    (
        prop_oneof![
            0u32..0x1000,
            (1u32..30).prop_map(|p| p * PAGE as u32),
            (1u32..30, 0u32..0x100).prop_map(|(p, d)| p * PAGE as u32 + d),
            Just(u32::MAX - 3),
        ],
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..64),
            Just(dfabake_matcher::format::MAGIC.to_vec()),
            Just(LOCATOR_MARKER.to_vec()),
        ],
    )
}

/// A module with one memory of `pages` pages and these active segments.
fn module_with(pages: u64, segments: &[(u32, Vec<u8>)], data_count: bool) -> Vec<u8> {
    let mut out = b"\0asm\x01\0\0\0".to_vec();
    let section = |out: &mut Vec<u8>, id: u8, body: &[u8]| {
        out.push(id);
        write_uleb(out, body.len() as u64);
        out.extend_from_slice(body);
    };
    let mut memory = vec![1, 0];
    write_uleb(&mut memory, pages);
    section(&mut out, 5, &memory);
    if data_count {
        let mut count = Vec::new();
        write_uleb(&mut count, segments.len() as u64);
        section(&mut out, 12, &count);
    }
    let mut data = Vec::new();
    write_uleb(&mut data, segments.len() as u64);
    for (address, bytes) in segments {
        data.extend_from_slice(&[0, 0x41]);
        write_sleb(&mut data, i64::from(*address as i32));
        data.push(0x0b);
        write_uleb(&mut data, bytes.len() as u64);
        data.extend_from_slice(bytes);
    }
    section(&mut out, 11, &data);
    out
}

fn module_properties(wasm: &[u8]) -> Result<(), TestCaseError> {
    let found = find_database(wasm);
    if let Ok(baked) = layout::check(wasm) {
        if std::env::var_os("FUZZ_STATS").is_some() {
            eprintln!("layout ok: {} segments", baked.segments);
        }
        prop_assert_eq!(found.map(|d| d.as_ptr()), Ok(baked.database.as_ptr()));
        // The database is alone on its pages above every other segment,
        // and no two segments overlap.
        let l = layout::read(wasm).unwrap();
        for (i, a) in l.segments.iter().enumerate() {
            for b in &l.segments[..i] {
                let (a0, a1) = (
                    u64::from(a.address),
                    u64::from(a.address) + a.bytes.len() as u64,
                );
                let (b0, b1) = (
                    u64::from(b.address),
                    u64::from(b.address) + b.bytes.len() as u64,
                );
                prop_assert!(
                    a0 == a1 || b0 == b1 || a1 <= b0 || b1 <= a0,
                    "overlap passed"
                );
            }
        }
        let address = u64::from(baked.database_address);
        prop_assert!(l
            .segments
            .iter()
            .rev()
            .skip(1)
            .all(|s| u64::from(s.address) + s.bytes.len() as u64 <= address));
        let _ = layout::check_baked_from(wasm, dfabake::bake::TEMPLATE);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// What the layout check refuses, on real modules (the host refuses them by
// the same check; see also tests/cli.rs).

fn examples_module() -> &'static [u8] {
    &samples()[0].module
}

#[test]
fn baked_modules_pass_the_layout_checks() {
    for s in samples() {
        let baked = layout::check_baked_from(&s.module, dfabake::bake::TEMPLATE).unwrap();
        assert_eq!(baked.database, &s.database[..]);
        assert_eq!(baked.segments, 3);
        let npm = dfabake::bake::bake(dfabake::npm::NPM_TEMPLATE, &s.database).unwrap();
        layout::check_baked_from(&npm, dfabake::npm::NPM_TEMPLATE).unwrap();
        // Each module is only its own template's.
        let e = layout::check_baked_from(&npm, dfabake::bake::TEMPLATE).unwrap_err();
        assert!(
            e.to_string()
                .contains("not baked from this builder's template"),
            "{e}"
        );
    }
}

#[test]
fn layout_refusals() {
    let good = examples_module();
    let (range, address) = craft::database_place(good);
    let data_end = {
        let l = layout::read(good).unwrap();
        l.segments[..l.segments.len() - 1]
            .iter()
            .map(|s| s.address as usize + s.bytes.len())
            .max()
            .unwrap()
    };
    let refused = |name: &str, wasm: &[u8], needle: &str| {
        let e = layout::check(wasm).map(|_| ()).unwrap_err().to_string();
        assert!(e.contains(needle), "{name}: want {needle:?} in {e}");
    };
    // Over the database, its first byte, its last byte; after it (it wins)
    // or before it.
    for at in [address, address + 100, address + range.len() as u32 - 1] {
        refused(
            "over the database",
            &craft::add_data_segment(good, at, b"x"),
            "overlaps the database",
        );
        refused(
            "under the database",
            &craft::insert_data_segment(good, 0, at, b"x"),
            "overlaps",
        );
    }
    // Over the locator, or over the bytes before the database.
    let locator = craft::locator_address(good);
    refused(
        "over the locator",
        &craft::insert_data_segment(good, 2, locator + 16, &[0; 8]),
        "overlaps",
    );
    refused(
        "straddling",
        &craft::insert_data_segment(good, 2, address - 4, &[0; 8]),
        "overlaps the database",
    );
    // A second locator, planted where nothing else is (here in the stack's
    // pages), even split between two segments that touch: the native check
    // could read a different one than the instance's static.
    let mut fake = vec![0; LOCATOR_LEN];
    Locator {
        address,
        len: range.len() as u32,
    }
    .write_to(&mut fake);
    refused(
        "second locator",
        &craft::insert_data_segment(good, 0, 0x1000, &fake),
        "holds 2 dfabake locators",
    );
    let split = craft::insert_data_segment(good, 0, 0x1000, &fake[..7]);
    let split = craft::insert_data_segment(&split, 1, 0x1007, &fake[7..]);
    refused("split locator", &split, "holds 2 dfabake locators");
    // Bytes after the database's declared length, unverified.
    let mut longer = samples()[0].database.clone();
    longer.extend_from_slice(&[0; 64]);
    let longer = dfabake::bake::bake(dfabake::bake::TEMPLATE, &longer).unwrap();
    refused(
        "longer",
        &longer,
        &format!("its header says {}", range.len()),
    );
    // A zero-length segment there writes nothing; after the database it is
    // no longer the last segment, though.
    refused(
        "empty",
        &craft::add_data_segment(good, address, b""),
        "not the last data segment",
    );
    // Above the database, past the initial memory.
    let above = craft::add_data_segment(
        good,
        address + range.len().next_multiple_of(PAGE) as u32,
        b"x",
    );
    refused("above", &above, "not the last data segment");
    // The memory's initial size grown by a page (room for anything).
    let mut grown = good.to_vec();
    let at = craft::section_at(&grown, 5).unwrap();
    assert_eq!(
        grown[at..at + 4],
        [5, 3, 1, 0],
        "one memory, no maximum, one-byte initial size"
    );
    grown[at + 4] += 1;
    refused("memory", &grown, "does not end with the database's pages");
    // A start function.
    let mut start = good.to_vec();
    let elements = craft::section_at(&start, 9).unwrap();
    start.splice(elements..elements, [8u8, 1, 0]);
    refused("start", &start, "start function");

    // A segment that overlaps nothing (planted where the template has zero
    // bytes, say a static the program reads) passes the host's check, which
    // cannot know the template; against its template the builder and
    // `dfabake inspect` count the segments.
    let planted = craft::insert_data_segment(good, 2, data_end as u32 + 8, b"planted");
    layout::check(&planted).unwrap();
    let e = layout::check_baked_from(&planted, dfabake::bake::TEMPLATE)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("3 data segments besides the database; the template has 2"),
        "{e}"
    );
}

/// The matcher trusts its locator static only with its marker intact: a
/// module whose static lost it (so that a host, finding locators by their
/// marker, would read another one) has no database at run time.
#[test]
fn an_instance_ignores_a_locator_without_its_marker() {
    let good = examples_module();
    assert!(craft::raw_match(good, 1, b"Googlebot/2.1").is_ok());
    let at = good.windows(16).position(|w| w == LOCATOR_MARKER).unwrap();
    let mut bad = good.to_vec();
    bad[at] ^= 0x20;
    let e = craft::raw_match(&bad, 1, b"Googlebot/2.1").unwrap_err();
    assert!(e.contains("truncated"), "{e}");
    assert!(layout::check(&bad).is_err());
}

#[test]
fn header_flags_and_unknown_program_flags_are_refused() {
    let db = &samples()[0].database;
    let mut bad = db.clone();
    bad[28] = 1;
    fix_checksum(&mut bad);
    let e = Database::from_bytes(AlignedBytes::copy_from(&bad).as_bytes()).unwrap_err();
    assert!(e.to_string().contains("unknown header flag bits"), "{e}");

    // The exact program's flags: bit 0 (utf8) and bit 1 (a tail follows).
    let program = compile_program("abc").unwrap();
    let mut bad = program.clone();
    bad[4] |= 4;
    let e = ExactEngine::from_program(&bad).unwrap_err();
    assert!(e.to_string().contains("unknown flag bits"), "{e}");
    // A tail flag with no tail after the states.
    let mut bad = program.clone();
    bad[4] |= 2;
    let e = ExactEngine::from_program(&bad).unwrap_err();
    assert!(e.to_string().contains("truncated"), "{e}");
    // A tail after an unanchored rule is refused.
    let tailed = compile_program(r"^.{0,9}?(b)c").unwrap();
    assert!(ExactEngine::from_program(&tailed).unwrap().tail().is_some());
    let plain = compile_program("(b)c").unwrap();
    let mut bad = plain.clone();
    bad[4] |= 2;
    bad.extend_from_slice(&[9, 0]);
    bad.extend_from_slice(&compile_program("(b)c").unwrap());
    let e = ExactEngine::from_program(&bad).unwrap_err();
    assert!(e.to_string().contains("tail program"), "{e}");
}
