//! Exact programs: an NFA written by the builder and rebuilt in the matcher
//! answers exactly as `regex::bytes::Regex` does (span and every capture
//! group), and damaged programs are refused, never a panic.

use dfabake_matcher::exact::{compile, ExactCache, ExactEngine, LazyDfa, ProgramError};

const PATTERNS: &[&str] = &[
    r"(\w+)@(\w+)\.com",
    r"(?i)googlebot/(\d+)\.(\d+)",
    r"^(?:Mozilla/\d\.\d) \(([^;)]*)(?:; ([^;)]*))?",
    r"(a){0}(b)",
    r"(b)(a){0}",
    r"(b)(?:(a){0}|c)",
    r"(a)|(b)|(c)",
    r"x(y)?z",
    r"\bcat\b",
    r"(?-u:\b)cat(?-u:\b)",
    r"(?m)^line (\d+)$",
    r"(?s)a.b",
    r"a.b",
    r"(?x) (?P<name> [a-z]+ ) \s* = \s* (?P<value> \d+ )",
    r"é+(ü)",
    r"(?i)straße",
    r"\p{Greek}+",
    r"(?-u:\xff)(\x00)",
    r"",
    r"()",
    r"a*",
    r"(a*)*b",
    r"[[:alpha:]]{2,4}([0-9]{1,3})",
    r"(?R)^ab$",
    r"(a|ab)(c|bcd)(d*)",
];

const HAYSTACKS: &[&[u8]] = &[
    b"",
    b"mail bob@example.com now",
    b"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    b"Mozilla/5.0 (X11; Linux x86_64) Gecko",
    b"ab",
    b"abc",
    b"xz xyz",
    b"a cat, concatenate",
    "h\u{e9}\u{e9}\u{fc}llo".as_bytes(),
    "the cat\u{e9}".as_bytes(),
    b"first\nline 42\nline x",
    b"a\nb",
    b"count = 17",
    "STRASSE Stra\u{df}e".as_bytes(),
    "\u{3b1}\u{3b2}\u{3b3} abc".as_bytes(),
    b"\xff\x00 invalid utf8 \xfe",
    b"aaab",
    b"abcd",
    b"abcd\r\nab\r\n",
    b"xyzzy42 ab123",
];

fn oracle(pattern: &str) -> regex::bytes::Regex {
    regex::bytes::RegexBuilder::new(pattern)
        .unicode(true)
        .build()
        .unwrap()
}

#[test]
fn rebuilt_engines_agree_with_the_regex_crate() {
    let mut checked = 0;
    for pattern in PATTERNS {
        let program = compile(pattern).unwrap();
        let engine = ExactEngine::from_program(&program).unwrap();
        let mut cache = ExactCache::new();
        let re = oracle(pattern);
        for hay in HAYSTACKS {
            let want = re.captures(hay).map(|c| {
                (0..re.captures_len())
                    .map(|g| c.get(g).map(|m| (m.start(), m.end())))
                    .collect::<Vec<_>>()
            });
            let got = engine.captures(&mut cache, hay);
            assert_eq!(
                got,
                want,
                "pattern {pattern:?} on {:?}",
                String::from_utf8_lossy(hay)
            );
            assert_eq!(
                engine.is_match(&mut cache, hay),
                re.is_match(hay),
                "pattern {pattern:?}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, PATTERNS.len() * HAYSTACKS.len());
}

#[test]
fn every_truncation_and_most_corruptions_are_refused() {
    let program = compile(r"(?i)(bot|crawl)er/(\d+)").unwrap();
    ExactEngine::from_program(&program).unwrap();
    for len in 0..program.len() {
        assert!(
            ExactEngine::from_program(&program[..len]).is_err(),
            "truncated to {len} accepted"
        );
    }
    assert_eq!(
        ExactEngine::from_program(b"NOPE").unwrap_err(),
        ProgramError::BadMagic
    );
    // Flipping bits may yield another valid NFA (a different byte range),
    // but must never panic.
    for i in 4..program.len() {
        for bit in 0..8 {
            let mut damaged = program.clone();
            damaged[i] ^= 1 << bit;
            if let Ok(e) = ExactEngine::from_program(&damaged) {
                let _ = e.captures(&mut ExactCache::new(), b"Crawler/123 and bot/4");
            }
        }
    }
}

/// A small xorshift generator: the same cases on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

const ATOMS: &[&str] = &[
    "a",
    "b",
    "ab",
    "é",
    "\\n",
    "[ab]",
    "[^a]",
    "\\w",
    "\\d",
    "\\s",
    ".",
    "(?s:.)",
    "\\b",
    "\\B",
    "^",
    "$",
    "(?m:^)",
    "(?m:$)",
    "(?-u:\\b)",
    "(?i:A)",
    "(?i:é)",
    "\\x{212A}",
    "[[:alpha:]]",
    "",
];
const REPEATS: &[&str] = &[
    "", "", "", "*", "+", "?", "*?", "+?", "??", "{2}", "{1,3}", "{0,2}?",
];

fn pattern(rng: &mut Rng, depth: usize) -> String {
    let mut out = String::new();
    for _ in 0..1 + rng.below(3) {
        let atom = if depth < 3 && rng.below(3) == 0 {
            let open = rng.pick(&["(", "(?:", "(?P<g>", "(?i:"]);
            // A named group may appear once only.
            let open = if open == "(?P<g>" && out.contains("(?P<g>") {
                "("
            } else {
                open
            };
            let mut inner = pattern(rng, depth + 1);
            if rng.below(3) == 0 {
                inner.push('|');
                inner.push_str(&pattern(rng, depth + 1));
            }
            format!("{open}{inner})")
        } else {
            rng.pick(ATOMS).to_string()
        };
        out.push_str(&atom);
        // A repetition of an empty atom is not a valid pattern.
        if !atom.is_empty() && !atom.starts_with('^') && !atom.starts_with('$') {
            out.push_str(rng.pick(REPEATS));
        }
    }
    if rng.below(4) == 0 {
        out.push('|');
        out.push_str(&pattern(rng, depth + 1));
    }
    out
}

fn haystack(rng: &mut Rng) -> Vec<u8> {
    let parts: &[&[u8]] = &[
        b"a",
        b"b",
        b"ab",
        "é".as_bytes(),
        b"\n",
        b" ",
        b"1",
        b"_",
        b"A",
        "\u{212A}".as_bytes(),
        b"\xff",
    ];
    (0..rng.below(12))
        .flat_map(|_| parts[rng.below(parts.len())].iter().copied())
        .collect()
}

/// Thousands of generated patterns (groups, alternations, greedy and lazy
/// repeats, anchors, word boundaries, case folding) on generated inputs:
/// the engine's span and every group equal the regex crate's.
#[test]
fn generated_patterns_agree_with_the_regex_crate() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut patterns, mut checked) = (0, 0);
    while patterns < 3000 {
        let p = pattern(&mut rng, 0);
        let Ok(re) = regex::bytes::Regex::new(&p) else {
            continue;
        };
        let program = compile(&p).unwrap_or_else(|e| panic!("{p:?}: {e}"));
        let engine = ExactEngine::from_program(&program).unwrap();
        let mut cache = ExactCache::new();
        patterns += 1;
        for _ in 0..20 {
            let hay = haystack(&mut rng);
            let want = re.captures(&hay).map(|c| {
                (0..re.captures_len())
                    .map(|g| c.get(g).map(|m| (m.start(), m.end())))
                    .collect::<Vec<_>>()
            });
            assert_eq!(
                engine.captures(&mut cache, &hay),
                want,
                "pattern {p:?} on {:?}",
                String::from_utf8_lossy(&hay)
            );
            assert_eq!(
                engine.is_match(&mut cache, &hay),
                want.is_some(),
                "pattern {p:?}"
            );
            if let (Some(len), Some(groups)) = (engine.chain_len(), &want) {
                assert_eq!(groups.len(), 1, "pattern {p:?} has groups");
                let (start, end) = groups[0].unwrap();
                assert_eq!(end - start, len, "pattern {p:?}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 3000 * 20);
}

/// A rule that is one string of byte classes without groups (`first`
/// answers it from the literal occurrence alone) is told apart from every
/// rule that is not: a choice, a group, a look-around, an optional part, a
/// character whose case folding has another length.
#[test]
fn chain_lengths_are_those_of_fixed_strings_only() {
    for (pattern, want) in [
        ("Googlebot/", Some(10)),
        ("(?i)bingbot", Some(7)),
        ("Bot[-_]x", Some(5)),
        ("é", Some(2)),
        ("", Some(0)),
        ("(?i)slurp", None), // `s` also matches `ſ`, two bytes
        ("(bingbot)", None),
        ("bing|bot", None),
        (r"\bbot", None),
        ("^bot", None),
        ("bots?", None),
        ("b.t", None),
        ("bo+t", None),
    ] {
        let engine = ExactEngine::from_program(&compile(pattern).unwrap()).unwrap();
        assert_eq!(engine.chain_len(), want, "{pattern:?}");
    }
}

/// Wide alternations (a union of 16 or more alternates gets a per-byte
/// dispatch): generated alternates, some empty or starting with
/// look-around, inside groups, repeated, and at the top, on short inputs
/// (the backtracker) and on long ones (the Pike VM: the visited set would
/// be too big): the same spans and groups as the regex crate.
#[test]
fn wide_alternations_agree_with_the_regex_crate() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let (mut patterns, mut checked) = (0, 0);
    while patterns < 300 {
        let alternates: Vec<String> = (0..16 + rng.below(30))
            .map(|_| pattern(&mut rng, 1))
            .collect();
        let alternation = alternates.join("|");
        let p = match rng.below(4) {
            0 => alternation,
            1 => format!("x?({alternation})(a)?"),
            2 => format!("(?:{alternation})+b"),
            _ => format!("(?i)\\b({alternation})\\d*"),
        };
        let Ok(re) = regex::bytes::Regex::new(&p) else {
            continue;
        };
        let program = compile(&p).unwrap_or_else(|e| panic!("{p:?}: {e}"));
        let engine = ExactEngine::from_program(&program).unwrap();
        let mut cache = ExactCache::new();
        patterns += 1;
        for round in 0..12 {
            let mut hay = haystack(&mut rng);
            if round % 4 == 3 {
                // Long enough that states × positions overflow the
                // backtracker's visited set.
                while hay.len() < 20_000 {
                    hay.extend(haystack(&mut rng));
                    hay.push(b' ');
                }
            }
            let want = re.captures(&hay).map(|c| {
                (0..re.captures_len())
                    .map(|g| c.get(g).map(|m| (m.start(), m.end())))
                    .collect::<Vec<_>>()
            });
            assert_eq!(
                engine.captures(&mut cache, &hay),
                want,
                "pattern {p:?} on input {round}"
            );
            assert_eq!(
                engine.is_match(&mut cache, &hay),
                want.is_some(),
                "pattern {p:?}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 300 * 12);
}

/// Look-around of every kind the lazy DFA decides from the bytes around a
/// position: line anchors (`\n` and CRLF), ASCII and Unicode word
/// boundaries, half and start/end boundaries.
const LOOK_ATOMS: &[&str] = &[
    "(?m:^)",
    "(?m:$)",
    "(?Rm:^)",
    "(?Rm:$)",
    "\\A",
    "\\z",
    "\\b{start}",
    "\\b{end}",
    "\\b{start-half}",
    "\\b{end-half}",
    "(?-u:\\b{start})",
    "(?-u:\\b{end-half})",
    "(?-u:\\B)",
    "\\r",
    "[\\r\\n]",
];

/// The lazy DFA answers "anywhere?" as the regex crate does, and the
/// reverse one and the anchored forward one where the leftmost match starts
/// (the captures found from that start alone are the regex crate's),
/// look-behind at each start included: generated patterns with every
/// kind of look-around, each engine's DFAs kept across 40 inputs (so later
/// inputs run over states earlier ones built), anchored and unanchored.
/// They must answer every ASCII input; non-ASCII ones only where the
/// pattern has no Unicode word boundary.
#[test]
fn lazy_dfas_agree_with_the_regex_crate() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let atoms: Vec<&str> = ATOMS.iter().chain(LOOK_ATOMS).copied().collect();
    let (mut patterns, mut answered, mut non_ascii_answered) = (0, 0, 0);
    while patterns < 2000 {
        let mut p = String::new();
        for _ in 0..1 + rng.below(4) {
            p.push_str(rng.pick(&atoms));
            if rng.below(3) == 0 {
                p.push_str(&pattern(&mut rng, 1));
            }
        }
        if rng.below(5) == 0 {
            p = format!("^{p}");
        }
        let Ok(re) = regex::bytes::Regex::new(&p) else {
            continue;
        };
        let program = compile(&p).unwrap_or_else(|e| panic!("{p:?}: {e}"));
        let engine = ExactEngine::from_program(&program).unwrap();
        let (mut dfa, mut reverse, mut forward) = (LazyDfa::new(), LazyDfa::new(), LazyDfa::new());
        let mut cache = ExactCache::new();
        patterns += 1;
        for _ in 0..40 {
            let mut hay = haystack(&mut rng);
            if rng.below(3) == 0 {
                hay.extend_from_slice(rng.pick(&["\r\n", "\r", "a\r\nb", " x\n"]).as_bytes());
            }
            let got = engine.is_match_lazy(&mut dfa, &hay);
            if hay.is_ascii() {
                assert!(got.is_some(), "pattern {p:?} on an ASCII input");
            }
            let start = engine.leftmost_start(&mut reverse, &hay);
            assert_eq!(start.is_some(), got.is_some(), "pattern {p:?}");
            // A budget no try can exceed (every start, every byte).
            let unbounded = (hay.len() + 1) * (hay.len() + 1);
            let forward_start = engine.leftmost_start_forward(&mut forward, &hay, unbounded);
            assert_eq!(
                forward_start,
                start,
                "anchored forward start, pattern {p:?} on {:?}",
                String::from_utf8_lossy(&hay)
            );
            if let Some(start) = start {
                let want = re.captures(&hay).map(|c| {
                    (0..re.captures_len())
                        .map(|g| c.get(g).map(|m| (m.start(), m.end())))
                        .collect::<Vec<_>>()
                });
                assert_eq!(
                    start,
                    want.as_ref().map(|w| w[0].unwrap().0),
                    "leftmost start, pattern {p:?} on {:?}",
                    String::from_utf8_lossy(&hay)
                );
                if let Some(start) = start {
                    assert_eq!(
                        engine.captures_at(&mut cache, &hay, start),
                        want,
                        "captures from the start, pattern {p:?} on {:?}",
                        String::from_utf8_lossy(&hay)
                    );
                }
            }
            if let Some(got) = got {
                assert_eq!(
                    got,
                    re.is_match(&hay),
                    "pattern {p:?} on {:?}",
                    String::from_utf8_lossy(&hay)
                );
                answered += 1;
                non_ascii_answered += usize::from(!hay.is_ascii());
            }
        }
    }
    // Most inputs are answered, non-ASCII ones included.
    assert!(answered > 2000 * 20, "{answered}");
    assert!(non_ascii_answered > 2000, "{non_ascii_answered}");
}

/// A lazy DFA that fills up gives the search back (`None`) instead of
/// growing without bound, and answers again once a search starts afresh.
#[test]
fn a_full_lazy_dfa_gives_up_and_starts_again() {
    // Where the `a`s of the last 21 bytes are is the state: a random input
    // of `a`s and `b`s needs a new state at almost every byte.
    let pattern = r"a.{20}ax";
    let engine = ExactEngine::from_program(&compile(pattern).unwrap()).unwrap();
    let re = regex::bytes::Regex::new(pattern).unwrap();
    let mut rng = Rng(77);
    let long: Vec<u8> = (0..600_000).map(|_| b"ab"[rng.below(2)]).collect();
    let mut dfa = LazyDfa::new();
    assert_eq!(engine.is_match_lazy(&mut dfa, &long), None);
    let short = b"zza12345678901234567890axzz";
    assert_eq!(
        engine.is_match_lazy(&mut dfa, short),
        Some(re.is_match(short))
    );
    assert!(dfa.state_count() < 100, "{}", dfa.state_count());
}

/// The anchored forward search for the leftmost start gives the search
/// back when its tries would step over more than its budget (`\w+x` on a
/// long word tries every position to the word's end: quadratic), and after
/// a few such give-ups stops trying; tries that end a few bytes in answer
/// well within a budget of a few steps per byte.
#[test]
fn the_anchored_start_search_keeps_to_its_budget() {
    let word = vec![b'a'; 300];
    let budget = 8 * (word.len() + 1);
    let runs_far = ExactEngine::from_program(&compile(r"\w+x").unwrap()).unwrap();
    let mut dfa = LazyDfa::new();
    let unbounded = (word.len() + 1) * (word.len() + 1);
    assert_eq!(
        runs_far.leftmost_start_forward(&mut dfa, &word, unbounded),
        Some(None)
    );
    for _ in 0..3 {
        assert_eq!(
            runs_far.leftmost_start_forward(&mut dfa, &word, budget),
            None
        );
    }
    // Given up on: not even an unbounded search runs any more.
    assert_eq!(
        runs_far.leftmost_start_forward(&mut dfa, b"ax", unbounded),
        None
    );

    let names = ExactEngine::from_program(
        &compile(r"(?:[a-zA-Z]{1,30}-|)(?:ichiro|Qwantify|LexxeBot)(?:-[a-zA-Z]{1,30}|)").unwrap(),
    )
    .unwrap();
    let mut dfa = LazyDfa::new();
    let hay = b"Mozilla/5.0 (compatible; Mobile-Qwantify-Beta/2.1; +https://example.com) Gecko";
    for _ in 0..3 {
        assert_eq!(
            names.leftmost_start_forward(&mut dfa, hay, 8 * (hay.len() + 1)),
            Some(Some(25))
        );
    }
}
