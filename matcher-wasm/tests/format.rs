//! The database format refuses damaged bytes: every single-bit flip and every
//! truncation is detected by the checked reader, and the unchecked reader
//! (used per instance, after a checked verification) never panics on a
//! damaged header or table.

use dfabake_matcher::exact::compile;
use dfabake_matcher::format::{
    seal, AlignedBytes, Database, DatabaseWriter, DfaKind, FormatError, Header, RuleEntry,
    ShardFlags, ShardRecord,
};
use dfabake_matcher::{Matcher, Mode};
use regex_automata::dfa::{dense, StartKind};
use regex_automata::MatchKind;

fn dfa(patterns: &[&str]) -> Vec<u8> {
    let d = dense::Builder::new()
        .configure(
            dense::Config::new()
                .match_kind(MatchKind::All)
                .start_kind(StartKind::Unanchored),
        )
        .build_many(patterns)
        .unwrap();
    let mut buf = vec![0; d.write_to_len()];
    d.write_to_little_endian(&mut buf).unwrap();
    buf
}

fn sample() -> Vec<u8> {
    let mut w = DatabaseWriter::new();
    w.push_rule(RuleEntry {
        id_json: "1",
        payload_json: Some("{\"k\":1}"),
        pattern: "(?-u)ab+c",
        exact: &compile("(?-u)ab+c").unwrap(),
    });
    w.push_rule(RuleEntry {
        id_json: "\"two\"",
        payload_json: None,
        pattern: "(?-u)xyz",
        exact: &compile("(?-u)xyz").unwrap(),
    });
    w.push_rule(RuleEntry {
        id_json: "3",
        payload_json: None,
        pattern: "(?-u)q",
        exact: &compile("(?-u)q").unwrap(),
    });
    w.push_shard(
        DfaKind::Dense,
        ShardFlags::default(),
        dfa(&["(?-u)ab+c", "(?-u)q"]),
        vec![0, 2],
    );
    w.push_shard(
        DfaKind::Dense,
        ShardFlags::default(),
        dfa(&["(?-u)xyz"]),
        vec![1],
    );
    w.finish()
}

#[test]
fn a_written_database_reads_back_and_matches() {
    let bytes = AlignedBytes::copy_from(&sample());
    let db = Database::from_bytes(bytes.as_bytes()).unwrap();
    assert_eq!(db.rule_count(), 3);
    assert_eq!(db.rule(1).id_json(), "\"two\"");
    assert_eq!(db.rule(0).payload_json(), Some("{\"k\":1}"));
    assert_eq!(db.shards().len(), 2);
    let m = Matcher::new(db);
    let mut cache = m.create_cache();
    assert_eq!(m.matches(&mut cache, b"--xyz--abbc-q"), vec![0, 1, 2]);
    // Exact DFAs: nothing to confirm.
    assert_eq!(cache.exact_confirmations(), 0);
    let f = m.first(&mut m.create_cache(), b"xyz abbbc").unwrap();
    assert_eq!((f.rule, f.start, f.end), (0, 4, 9));
    assert!(!m.is_match(&mut m.create_cache(), b"nothing"));
    let mut out = Vec::new();
    dfabake_matcher::json::write_matches(
        &m,
        &mut m.create_cache(),
        Mode::All,
        b"xyz q",
        &mut Vec::new(),
        &mut out,
    );
    assert_eq!(
        out,
        b"[{\"id\":\"two\",\"payload\":null},{\"id\":3,\"payload\":null}]"
    );
}

#[test]
fn every_bit_flip_is_detected() {
    let good = sample();
    for i in 0..good.len() {
        for bit in [0, 3, 7] {
            let mut bad = good.clone();
            bad[i] ^= 1 << bit;
            let aligned = AlignedBytes::copy_from(&bad);
            assert!(
                Database::from_bytes(aligned.as_bytes()).is_err(),
                "flip of bit {bit} at byte {i} undetected"
            );
        }
    }
}

#[test]
fn every_truncation_is_detected() {
    let good = sample();
    for len in 0..good.len() {
        let aligned = AlignedBytes::copy_from(&good[..len]);
        let err = Database::from_bytes(aligned.as_bytes()).unwrap_err();
        assert!(
            matches!(
                err,
                FormatError::Truncated { .. } | FormatError::ChecksumMismatch { .. }
            ),
            "len {len}: {err:?}"
        );
    }
}

#[test]
fn unchecked_reading_of_damaged_tables_never_panics() {
    let good = sample();
    // Header, rule table, shard table and rule lists: everything before the
    // strings. (DFA bytes are what `from_bytes_unchecked` trusts.)
    let tables_end = Header::read(&good).unwrap().strings.at as usize;
    for i in 0..tables_end {
        for v in [0x00, 0xFF, 0x80, 0x01] {
            let mut bad = good.clone();
            bad[i] = v;
            let aligned = AlignedBytes::copy_from(&bad);
            // SAFETY: not sound in general; here the DFA bytes are intact and
            // only the bounds-checked structure is damaged.
            let _ = unsafe { Database::from_bytes_unchecked(aligned.as_bytes()) };
        }
    }
}

#[test]
fn misaligned_bytes_are_refused() {
    let good = sample();
    let mut shifted = vec![0u8; good.len() + 1];
    shifted[1..].copy_from_slice(&good);
    let aligned = AlignedBytes::copy_from(&shifted);
    assert_eq!(
        Database::from_bytes(&aligned.as_bytes()[1..]).unwrap_err(),
        FormatError::Misaligned
    );
}

fn anchored_dfa(patterns: &[&str], kind: StartKind) -> Vec<u8> {
    let d = dense::Builder::new()
        .configure(
            dense::Config::new()
                .match_kind(MatchKind::All)
                .start_kind(kind),
        )
        .build_many(patterns)
        .unwrap();
    let mut buf = vec![0; d.write_to_len()];
    d.write_to_little_endian(&mut buf).unwrap();
    buf
}

/// A database of two anchored rules, `abc\d` and `\bxyz!` (literals `abc`
/// and `xyz`), each shard with `flags` and a DFA with start states `kind`.
fn anchored_sample(flags: ShardFlags, kind: StartKind) -> Vec<u8> {
    use dfabake_matcher::prefilter::{Literal, Target};
    let mut w = DatabaseWriter::new();
    for (i, (pattern, lit)) in [(r"(?-u)abc\d", "abc"), (r"(?-u)\bxyz!", "xyz")]
        .into_iter()
        .enumerate()
    {
        w.push_rule(RuleEntry {
            id_json: ["1", "2"][i],
            payload_json: None,
            pattern,
            exact: &compile(pattern).unwrap(),
        });
        let s = w.push_shard(
            DfaKind::Dense,
            flags,
            anchored_dfa(&[pattern], kind),
            vec![i as u32],
        );
        w.push_literal(
            Literal {
                bytes: lit.into(),
                case_insensitive: false,
            },
            Target::Shard(s),
        );
    }
    w.finish()
}

#[test]
fn anchored_shards_run_at_every_literal_occurrence() {
    let flags = ShardFlags {
        triggered: true,
        anchored: true,
        ..ShardFlags::default()
    };
    let bytes = AlignedBytes::copy_from(&anchored_sample(flags, StartKind::Anchored));
    let db = Database::from_bytes(bytes.as_bytes()).unwrap();
    assert!(db.shards().iter().all(|s| s.flags().anchored));
    let m = Matcher::new(db);
    // The second occurrence matches where the first does not.
    assert_eq!(m.matches(&mut m.create_cache(), b"abcx abc7"), vec![0]);
    assert_eq!(m.find_any(&mut m.create_cache(), b"abcx abc7"), Some(0));
    assert_eq!(m.matches(&mut m.create_cache(), b"abcx"), Vec::<u32>::new());
    // `\b` sees the byte before the occurrence.
    assert_eq!(m.matches(&mut m.create_cache(), b"axyz! xyz!"), vec![1]);
    assert_eq!(
        m.matches(&mut m.create_cache(), b"axyz!"),
        Vec::<u32>::new()
    );
    assert_eq!(m.matches(&mut m.create_cache(), b"xyz!abc0"), vec![0, 1]);
    assert!(!m.is_match(&mut m.create_cache(), b"axyz! abc"));
}

#[test]
fn after_literal_shards_run_where_the_literal_ends_and_share_dfa_bytes() {
    use dfabake_matcher::prefilter::{Literal, Target};
    let build = |share: bool| {
        let mut w = DatabaseWriter::new();
        let flags = ShardFlags {
            triggered: true,
            anchored: true,
            after_literal: true,
            ..ShardFlags::default()
        };
        // `abc\d` and `wxyz\d`: both DFAs are `\d` (for the size
        // comparison only, the second one is `\d\d` when not shared).
        for (i, lit) in ["abc", "wxyz"].into_iter().enumerate() {
            w.push_rule(RuleEntry {
                id_json: ["1", "2"][i],
                payload_json: None,
                pattern: "x",
                exact: &compile("x").unwrap(),
            });
            let rest: &[&str] = if share || i == 0 {
                &[r"(?-u)\d"]
            } else {
                &[r"(?-u)\d\d"]
            };
            let s = w.push_shard(
                DfaKind::Dense,
                flags,
                anchored_dfa(rest, StartKind::Anchored),
                vec![i as u32],
            );
            w.push_literal(
                Literal {
                    bytes: lit.into(),
                    case_insensitive: false,
                },
                Target::Shard(s),
            );
        }
        w.finish()
    };
    let (shared, apart) = (build(true), build(false));
    let one = anchored_dfa(&[r"(?-u)\d"], StartKind::Anchored).len();
    assert!(
        shared.len() + one / 2 < apart.len(),
        "{} vs {}",
        shared.len(),
        apart.len()
    );
    let bytes = AlignedBytes::copy_from(&shared);
    let m = Matcher::new(Database::from_bytes(bytes.as_bytes()).unwrap());
    assert_eq!(m.matches(&mut m.create_cache(), b"abcx abc7"), vec![0]);
    assert_eq!(m.matches(&mut m.create_cache(), b"wxyz1 abc"), vec![1]);
    assert_eq!(
        m.matches(&mut m.create_cache(), b"abc wxyz"),
        Vec::<u32>::new()
    );
}

#[test]
fn anchored_flags_must_fit_the_dfa() {
    let err = |flags, kind| {
        let bytes = AlignedBytes::copy_from(&anchored_sample(flags, kind));
        Database::from_bytes(bytes.as_bytes()).unwrap_err()
    };
    let corrupt = |what| FormatError::Corrupt { what, index: 0 };
    let none = ShardFlags::default();
    let triggered = ShardFlags {
        triggered: true,
        ..none
    };
    let anchored = ShardFlags {
        anchored: true,
        ..triggered
    };
    assert_eq!(
        err(anchored, StartKind::Unanchored),
        corrupt("anchored shard's DFA has no anchored start states")
    );
    assert_eq!(
        err(triggered, StartKind::Anchored),
        corrupt("unanchored shard's DFA has no unanchored start states")
    );
    assert_eq!(
        err(
            ShardFlags {
                anchored: true,
                ..none
            },
            StartKind::Both
        ),
        corrupt("anchored shard is not triggered")
    );
    assert_eq!(
        err(
            ShardFlags {
                after_literal: true,
                ..triggered
            },
            StartKind::Both
        ),
        corrupt("after-literal shard is not anchored")
    );
    assert_eq!(
        err(
            ShardFlags {
                at_start: true,
                ..anchored
            },
            StartKind::Anchored
        ),
        corrupt("at-start shard is not after-literal")
    );
    // A bit no flag has: only a patch (checksum recomputed) can set it.
    let mut db = anchored_sample(triggered, StartKind::Both);
    let header = Header::read(&db).unwrap();
    let at = header.shards_at as usize + ShardRecord::FLAGS_AT;
    let bits = u32::from_le_bytes(db[at..at + 4].try_into().unwrap());
    assert_eq!(bits, triggered.bits());
    db[at..at + 4].copy_from_slice(&(bits | 1 << ShardFlags::NAMES.len()).to_le_bytes());
    seal(&mut db);
    let bytes = AlignedBytes::copy_from(&db);
    assert_eq!(
        Database::from_bytes(bytes.as_bytes()).unwrap_err(),
        corrupt("unknown shard flag bits")
    );
}

/// Every rule is answered by the path its database says (issue 12): a
/// triggered shard needs a literal the prefilter finds, a literal may only
/// trigger a triggered shard, a rule needs a shard or a literal of its own;
/// ids and payloads are JSON. A database breaking any of it, checksum and
/// all, is refused, instead of a rule silently never matching or answers
/// that are not JSON.
#[test]
fn every_rule_must_be_reachable_and_its_json_valid() {
    use dfabake_matcher::prefilter::{Literal, Target};
    let triggered = ShardFlags {
        triggered: true,
        ..ShardFlags::default()
    };
    let lit = |s: &str, ci| Literal {
        bytes: s.into(),
        case_insensitive: ci,
    };
    // Rule 0 behind literal `googlebot` (case-insensitive), rule 1 decided by
    // literal `curl/` alone, rule 2 a shard of its own that always runs.
    let build = |trigger: Option<Literal>, curl: bool, id: &str, payload: Option<&str>| {
        let mut w = DatabaseWriter::new();
        for (i, p) in ["(?i)googlebot/[0-9]", "curl/", "(?-u)q"]
            .into_iter()
            .enumerate()
        {
            let id_json = if i == 0 { id } else { ["1", "2", "3"][i] };
            w.push_rule(RuleEntry {
                id_json,
                payload_json: payload,
                pattern: p,
                exact: &compile(p).unwrap(),
            });
        }
        let s = w.push_shard(
            DfaKind::Dense,
            triggered,
            dfa(&["(?i)googlebot/[0-9]"]),
            vec![0],
        );
        let always = w.push_shard(
            DfaKind::Dense,
            ShardFlags::default(),
            dfa(&["(?-u)q"]),
            vec![2],
        );
        match trigger {
            Some(l) => w.push_literal(l, Target::Shard(s)),
            // Pointed at the shard that runs anyway.
            None => w.push_literal(lit("googlebot", true), Target::Shard(always)),
        }
        if curl {
            w.push_literal(lit("curl/", false), Target::Rule(1));
        }
        w.finish()
    };
    let check = |bytes: &[u8]| {
        let aligned = AlignedBytes::copy_from(bytes);
        Database::from_bytes(aligned.as_bytes()).map(|db| db.rule_count())
    };
    let corrupt = |what, index| Err(FormatError::Corrupt { what, index });
    let good = build(
        Some(lit("googlebot", true)),
        true,
        "0",
        Some(r#"{"a":[1,"x"]}"#),
    );
    assert_eq!(check(&good), Ok(3));
    let m_bytes = AlignedBytes::copy_from(&good);
    let m = Matcher::new(Database::from_bytes(m_bytes.as_bytes()).unwrap());
    assert_eq!(
        m.matches(&mut m.create_cache(), b"GoogleBot/2 curl/8 q"),
        vec![0, 1, 2]
    );

    assert_eq!(
        check(&build(Some(lit("googlebot", true)), false, "0", None)),
        corrupt("rule is decided by no shard and no prefilter literal", 1)
    );
    assert_eq!(
        check(&build(None, true, "0", None)),
        corrupt("triggered shard has no prefilter literal", 0)
    );
    for (id, payload, what) in [
        ("x", None, "rule id is not a JSON integer or string"),
        ("1.5", None, "rule id is not a JSON integer or string"),
        ("{}", None, "rule id is not a JSON integer or string"),
        (
            "\"unterminated",
            None,
            "rule id is not a JSON integer or string",
        ),
        (
            "0",
            Some("{\"a\":"),
            "rule payload is not JSON (or nested too deep)",
        ),
        (
            "0",
            Some("nul"),
            "rule payload is not JSON (or nested too deep)",
        ),
    ] {
        let bad = build(Some(lit("googlebot", true)), true, id, payload);
        assert_eq!(check(&bad), corrupt(what, 0), "{id} {payload:?}");
    }

    // The prefilter section: zeroed length, emptied filter, a
    // case-insensitive literal stored with a capital (never equal to the
    // lowercased input), the checksum recomputed each time.
    let patched = |edit: &dyn Fn(&mut Vec<u8>, usize)| {
        let mut db = good.clone();
        let pf = Header::read(&db).unwrap().prefilter.at as usize;
        edit(&mut db, pf);
        seal(&mut db);
        db
    };
    let without_prefilter = |db: &mut Vec<u8>, _| {
        let mut header = Header::read(db).unwrap();
        header.prefilter.len = 0;
        let mut bytes = Vec::new();
        header.write_to(&mut bytes);
        db[..Header::LEN].copy_from_slice(&bytes);
    };
    assert_eq!(
        check(&patched(&without_prefilter)),
        corrupt("triggered shard has no prefilter literal", 0)
    );
    let bits = |db: &[u8], pf: usize| u32::from_le_bytes(db[pf + 4..pf + 8].try_into().unwrap());
    let no_filter = patched(&|db, pf| {
        let n = 1 << bits(db, pf);
        db[pf + 32..pf + 32 + n].fill(0);
    });
    assert!(matches!(
        check(&no_filter),
        Err(FormatError::Corrupt {
            what: "prefilter literal is never found",
            ..
        })
    ));
    let capital = patched(&|db, pf| {
        let at = pf + db[pf..].windows(9).position(|w| w == b"googlebot").unwrap();
        db[at] = b'G';
    });
    assert!(matches!(
        check(&capital),
        Err(FormatError::Corrupt {
            what: "prefilter literal is never found",
            ..
        })
    ));
}

/// A literal of three bytes (the prefilter's key length) has a record for
/// every byte that may follow it (and at stride 2, precede it); losing the
/// filter bits of those is refused.
#[test]
fn three_byte_literals_are_found_before_every_byte() {
    use dfabake_matcher::prefilter::{Literal, Target};
    let mut w = DatabaseWriter::new();
    w.push_rule(RuleEntry {
        id_json: "1",
        payload_json: None,
        pattern: "(?-u)bot\\d",
        exact: &compile("(?-u)bot\\d").unwrap(),
    });
    let triggered = ShardFlags {
        triggered: true,
        ..ShardFlags::default()
    };
    let s = w.push_shard(DfaKind::Dense, triggered, dfa(&["(?-u)bot\\d"]), vec![0]);
    w.push_literal(
        Literal {
            bytes: b"bot".to_vec(),
            case_insensitive: false,
        },
        Target::Shard(s),
    );
    let good = w.finish();
    let aligned = AlignedBytes::copy_from(&good);
    let m = Matcher::new(Database::from_bytes(aligned.as_bytes()).unwrap());
    assert_eq!(m.matches(&mut m.create_cache(), b"xbot1 and bot"), vec![0]);
    assert_eq!(m.matches(&mut m.create_cache(), b"bot2"), vec![0]);
    let mut bad = good.clone();
    let pf = Header::read(&bad).unwrap().prefilter.at as usize;
    let n = 1usize << u32::from_le_bytes(bad[pf + 4..pf + 8].try_into().unwrap());
    bad[pf + 32 + n..pf + 32 + 2 * n].fill(0); // the second filter
    seal(&mut bad);
    let aligned = AlignedBytes::copy_from(&bad);
    assert!(matches!(
        Database::from_bytes(aligned.as_bytes()),
        Err(FormatError::Corrupt {
            what: "prefilter literal is not found before every byte"
                | "prefilter literal is not found after every byte",
            ..
        })
    ));
}

/// `Database::from_bytes_lazy` loads without validating DFAs, yet never runs
/// an unchecked one: a DFA damaged with the checksum recomputed (what only a
/// crafted file can do) passes the load and is refused, by a panic naming
/// it, the first time a search would run it; `from_bytes` refuses it at once.
/// A database damaged without recomputing the checksum fails either load.
#[test]
fn lazily_checked_dfas_are_validated_before_their_first_use() {
    let table = dfa(&["(?i)googlebot/[0-9]+"]);
    // A damage regex-automata's checked deserialization refuses.
    let bad_table = (table.len() / 2..table.len())
        .map(|at| {
            let mut t = table.clone();
            t[at..(at + 4).min(table.len())].fill(0xff);
            t
        })
        .find(|t| {
            let aligned = AlignedBytes::copy_from(t);
            dense::DFA::from_bytes(aligned.as_bytes()).is_err()
        })
        .expect("some damage is refused");
    let build = |table: Vec<u8>| {
        let mut w = DatabaseWriter::new();
        let p = "(?i)googlebot/[0-9]+";
        w.push_rule(RuleEntry {
            id_json: "1",
            payload_json: None,
            pattern: p,
            exact: &compile(p).unwrap(),
        });
        w.push_shard(DfaKind::Dense, ShardFlags::default(), table, vec![0]);
        w.finish()
    };
    let good = AlignedBytes::copy_from(&build(table));
    let db = Database::from_bytes_lazy(good.as_bytes()).unwrap();
    let m = Matcher::new(db);
    assert_eq!(m.matches(&mut m.create_cache(), b"x GoogleBot/21"), vec![0]);

    let mut crafted = build(bad_table);
    seal(&mut crafted);
    let crafted = AlignedBytes::copy_from(&crafted);
    assert!(matches!(
        Database::from_bytes(crafted.as_bytes()),
        Err(FormatError::BadDfa { .. })
    ));
    let db = Database::from_bytes_lazy(crafted.as_bytes()).unwrap();
    let m = Matcher::new(db);
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        m.matches(&mut m.create_cache(), b"googlebot/1")
    }))
    .expect_err("the damaged DFA must not run");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.contains("failed verification on first use"),
        "{message}"
    );

    let mut damaged = build(dfa(&["(?i)googlebot/[0-9]+"]));
    let last = damaged.len() - 1;
    damaged[last] ^= 1;
    let damaged = AlignedBytes::copy_from(&damaged);
    assert!(matches!(
        Database::from_bytes_lazy(damaged.as_bytes()),
        Err(FormatError::ChecksumMismatch { .. })
    ));
}

/// One matcher serves many threads at once (each with its own cache), and
/// each thread gets what one thread alone gets: the exact engines and lazily
/// read DFAs built on first use are shared, not rebuilt per thread.
#[test]
fn one_matcher_serves_many_threads() {
    let bytes = AlignedBytes::copy_from(&sample());
    let db = Database::from_bytes_lazy(bytes.as_bytes()).unwrap();
    let m = Matcher::new(db);
    let inputs: Vec<&[u8]> = vec![b"--xyz--abbc-q", b"xyz abbbc", b"nothing", b"q", b"abc xyz"];
    let alone: Vec<_> = {
        let mut cache = m.create_cache();
        inputs
            .iter()
            .map(|i| {
                (
                    m.matches(&mut cache, i),
                    m.first(&mut cache, i),
                    m.is_match(&mut cache, i),
                )
            })
            .collect()
    };
    let m = &m;
    std::thread::scope(|s| {
        let threads: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let mut cache = m.create_cache();
                    (0..200)
                        .flat_map(|_| inputs.iter())
                        .map(|i| {
                            (
                                m.matches(&mut cache, i),
                                m.first(&mut cache, i),
                                m.is_match(&mut cache, i),
                            )
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for t in threads {
            let got = t.join().unwrap();
            for (n, answer) in got.iter().enumerate() {
                assert_eq!(
                    answer,
                    &alone[n % inputs.len()],
                    "input {}",
                    n % inputs.len()
                );
            }
        }
    });
    // Every rule that won `first` had its engine built once, for all threads.
    assert_eq!(m.exact_engines_built(), 2);
}

/// One exact-only rule per database, as the builder writes a rule no DFA
/// admits: its exact engine answers every search.
fn exact_only(pattern: &str) -> Vec<u8> {
    let mut w = DatabaseWriter::new();
    w.push_rule(RuleEntry {
        id_json: "1",
        payload_json: None,
        pattern,
        exact: &compile(pattern).unwrap(),
    });
    w.push_shard(DfaKind::Exact, ShardFlags::default(), Vec::new(), vec![0]);
    w.finish()
}

/// A rule's lazy DFA is built from its third search on (a fresh instance's
/// first answers build nothing), answers as the exact engine does, and a
/// cache made for one matcher, used with another of the same shape, never
/// hands it the first one's DFAs.
#[test]
fn lazy_dfas_start_after_the_warm_up_and_stay_with_their_matcher() {
    let first = AlignedBytes::copy_from(&exact_only("(?-u)a[0-9]{3}z"));
    let second = AlignedBytes::copy_from(&exact_only("(?-u)(?:bb|cc)+y"));
    let m1 = Matcher::new(Database::from_bytes(first.as_bytes()).unwrap());
    let m2 = Matcher::new(Database::from_bytes(second.as_bytes()).unwrap());
    let mut cache = m1.create_cache();
    let inputs: [(&[u8], bool); 4] = [
        (b"xx a123z", true),
        (b"a12z a1234z", false),
        (b"b123y", false),
        (b"za999zz", true),
    ];
    for (i, (hay, want)) in inputs.iter().enumerate() {
        assert_eq!(m1.is_match(&mut cache, hay), *want, "input {i}");
        let (states, _) = cache.lazy_dfa_states();
        assert_eq!(states > 0, i >= 2, "after search {i}: {states} states");
        // Every search of an exact-only rule is a confirmation.
        assert_eq!(cache.exact_confirmations(), i as u64 + 1);
    }
    // The same cache with the other matcher: its own answers, from DFAs
    // built afresh (none yet after one search: the warm-up).
    assert!(m2.is_match(&mut cache, b"bby"));
    assert_eq!(cache.lazy_dfa_states(), (0, 1));
    for _ in 0..3 {
        for (hay, want) in [
            (&b"zbbccy"[..], true),
            (b"xx a123z", false),
            (b"bcy", false),
        ] {
            assert_eq!(
                m2.is_match(&mut cache, hay),
                want,
                "{:?}",
                String::from_utf8_lossy(hay)
            );
        }
    }
    assert!(!m1.is_match(&mut cache, b"bby"));
    assert!(m1.is_match(&mut cache, b"a000z"));
}

/// Crafted inputs make a rule's lazy DFA a new state at nearly every byte:
/// what a cache's lazy DFAs take stays near its budget (they start afresh
/// past it), and the answers stay the exact engine's.
#[test]
fn lazy_dfas_stay_within_the_cache_budget() {
    let pattern = "(?-u)a.{16}ax";
    let bytes = AlignedBytes::copy_from(&exact_only(pattern));
    let m = Matcher::new(Database::from_bytes(bytes.as_bytes()).unwrap());
    let re = regex::bytes::Regex::new(pattern).unwrap();
    let mut cache = m.create_cache();
    let budget = 256 << 10;
    cache.set_lazy_dfa_budget(budget);
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let (mut most, mut restarts, mut last) = (0, 0, 0);
    for _ in 0..200 {
        let hay: Vec<u8> = (0..2000)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                if seed.is_multiple_of(2) {
                    b'a'
                } else {
                    b'b'
                }
            })
            .chain(*b"a0123456789abcdefax")
            .collect();
        assert_eq!(m.is_match(&mut cache, &hay), re.is_match(&hay));
        let now = cache.lazy_dfa_bytes();
        most = most.max(now);
        restarts += usize::from(now < last);
        last = now;
    }
    // Past the budget by one search's growth at most.
    assert!(most < budget * 2, "{most} bytes");
    assert!(restarts > 0, "never started afresh ({most} bytes at most)");
}

/// An approximate shard's run bounds read back as written and spare its
/// candidates the exact engine on inputs within them; bounds that name a
/// pattern or byte set that does not exist are refused.
#[test]
fn run_bounds_read_back_and_bad_ones_are_refused() {
    let approximate = ShardFlags {
        approximate: true,
        ..ShardFlags::default()
    };
    // Bytes '0'..='9' (48..=57): bits 16..=25 of word 1.
    let digits = [0, 0x03FF_0000, 0, 0, 0, 0, 0, 0];
    let build = |pid: u32| {
        let mut w = DatabaseWriter::new();
        w.push_rule(RuleEntry {
            id_json: "1",
            payload_json: None,
            pattern: "(?-u)a[0-9]{1,30}b",
            exact: &compile("(?-u)a[0-9]{1,30}b").unwrap(),
        });
        // The widened DFA: `[0-9]{1,}`.
        let s = w.push_shard(
            DfaKind::Dense,
            approximate,
            dfa(&["(?-u)a[0-9]+b"]),
            vec![0],
        );
        w.set_run_bounds(s, vec![(pid, digits, 30)]);
        w.finish()
    };
    let good = AlignedBytes::copy_from(&build(0));
    let db = Database::from_bytes(good.as_bytes()).unwrap();
    assert_eq!(db.shards()[0].run_bounds(0).collect::<Vec<_>>(), [(0, 30)]);
    assert!(db.byte_set_has(0, b'5') && !db.byte_set_has(0, b'a'));
    let m = Matcher::new(db);
    let mut cache = m.create_cache();
    assert_eq!(m.matches(&mut cache, b"xx a123b"), [0]);
    assert_eq!(cache.exact_confirmations(), 0, "within its bounds");
    let over = format!("a{}b", "7".repeat(31));
    assert!(m.matches(&mut cache, over.as_bytes()).is_empty());
    assert_eq!(cache.exact_confirmations(), 1, "a run over the bound");
    let check = |bytes: &[u8]| {
        let aligned = AlignedBytes::copy_from(bytes);
        Database::from_bytes(aligned.as_bytes()).map(|_| ())
    };
    let refused = Err(FormatError::Corrupt {
        what: "run bound names no pattern or byte set",
        index: 0,
    });
    assert_eq!(
        check(&build(1)),
        refused,
        "pattern 1 of a one-pattern shard"
    );
    // Byte set 1 of one: the entry's second word.
    let mut bad = build(0);
    let section = Header::read(&bad).unwrap().run_bounds;
    let entry = section.at as usize + 4 + 32 + 2 * 4;
    assert_eq!(bad[entry + 4..entry + 8], 0u32.to_le_bytes());
    bad[entry + 4..entry + 8].copy_from_slice(&1u32.to_le_bytes());
    seal(&mut bad);
    assert_eq!(check(&bad), refused);
}

#[test]
fn gated_shards_run_only_where_their_pairs_occur() {
    use dfabake_matcher::gate::{Pair, MAX_PAIRS};
    let set = |bytes: &[u8]| {
        let mut s = [0u32; 8];
        for &b in bytes {
            s[usize::from(b / 32)] |= 1 << (b % 32);
        }
        s
    };
    let pair = |a: &[u8], b: &[u8]| Pair {
        first: set(a),
        second: set(b),
    };
    let build = |gate: &[Pair]| {
        let mut w = DatabaseWriter::new();
        for p in ["(?-u)[A-Z]{3}-L[0-9]", "(?-u)x[0-9]+y"] {
            w.push_rule(RuleEntry {
                id_json: "1",
                payload_json: None,
                pattern: p,
                exact: &compile(p).unwrap(),
            });
        }
        let gated = w.push_shard(
            DfaKind::Dense,
            ShardFlags::default(),
            dfa(&["(?-u)[A-Z]{3}-L[0-9]"]),
            vec![0],
        );
        w.push_shard(
            DfaKind::Dense,
            ShardFlags::default(),
            dfa(&["(?-u)x[0-9]+y"]),
            vec![1],
        );
        let kept = w.set_gate(gated, gate);
        (kept, w.finish())
    };
    let (kept, bytes) = build(&[pair(b"-", b"L")]);
    assert!(kept);
    let aligned = AlignedBytes::copy_from(&bytes);
    let db = Database::from_bytes(aligned.as_bytes()).unwrap();
    let gates = db.gates().unwrap();
    assert_eq!(gates.shards().collect::<Vec<_>>(), [(0, 1)]);
    assert_eq!(gates.pairs(1), [pair(b"-", b"L")]);
    let m = Matcher::new(db);
    let mut cache = m.create_cache();
    assert_eq!(m.matches(&mut cache, b"ABC-L1 x2y"), [0, 1]);
    assert_eq!(m.matches(&mut cache, b"ABC-l1 x2y"), [1]);
    assert_eq!(m.first(&mut cache, b"x2y ABC-L1").unwrap().rule, 0);
    assert!(m.is_match(&mut cache, b"ABC-L1"));
    assert!(!m.is_match(&mut cache, b"ABC-Lx"));

    // A gate wrong for its rule loses its matches: the gate decides.
    let (_, wrong) = build(&[pair(b"-", b"X")]);
    let aligned = AlignedBytes::copy_from(&wrong);
    let m = Matcher::new(Database::from_bytes(aligned.as_bytes()).unwrap());
    let mut cache = m.create_cache();
    assert!(m.matches(&mut cache, b"ABC-L1").is_empty());

    // No more than MAX_PAIRS distinct pairs in a database.
    let many: Vec<Pair> = (0..=MAX_PAIRS as u8).map(|b| pair(&[b], b"L")).collect();
    let (kept, bytes) = build(&many);
    assert!(!kept, "65 pairs");
    let aligned = AlignedBytes::copy_from(&bytes);
    assert!(Database::from_bytes(aligned.as_bytes())
        .unwrap()
        .gates()
        .is_none());
    let (kept, _) = build(&many[..MAX_PAIRS]);
    assert!(kept, "64 pairs");

    // A gated shard the prefilter also triggers is refused: flip the
    // shard's `triggered` flag and seal.
    let (_, mut bad) = build(&[pair(b"-", b"L")]);
    let header = Header::read(&bad).unwrap();
    let flags_at = header.shards_at as usize + ShardRecord::FLAGS_AT;
    let triggered = ShardFlags {
        triggered: true,
        ..ShardFlags::default()
    };
    bad[flags_at..flags_at + 4].copy_from_slice(&triggered.bits().to_le_bytes());
    seal(&mut bad);
    let aligned = AlignedBytes::copy_from(&bad);
    assert!(matches!(
        Database::from_bytes(aligned.as_bytes()),
        Err(FormatError::Corrupt {
            what: "gated shard is triggered by literals",
            ..
        })
    ));
}
