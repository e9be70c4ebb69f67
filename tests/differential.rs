//! Differential tests: the baked module, run in wasmtime, against the `regex`
//! crate on the same rules. `all` must equal `RegexSet::matches`; `first`
//! must equal the lowest-index `Regex` that matches, span and captures
//! included; `any` must agree on whether something matches.

use dfabake::compile::Config;
use dfabake::rules::{RuleId, RuleSpec};
use dfabake_matcher::format::DfaKind;
use dfabake_tests::{compare, Oracle, Rng, Wasm};
use proptest::prelude::*;
use proptest::test_runner::{Config as PtConfig, TestCaseError};

/// Deterministic generator of small, valid, match-prone patterns.
/// Random source, capture-group counter, and whether to use large counted
/// repeats (which push rules onto the approximate-DFA path).
/// Random rules and inputs: `Gen(rng, groups so far, big repeats, words)`.
/// With `words`, literals are mostly whole words and inputs mostly ASCII
/// text made of them, so that the literal prefilter and the ASCII-widened
/// DFAs (exact on ASCII input only) are what decides.
struct Gen(Rng, usize, bool, bool);

const WORDS: &[&str] = &[
    "bot",
    "Googlebot",
    "crawl",
    "spider",
    "ſpider",
    "KELVIN",
    "\\x{212A}elvin",
    "Straße",
    "éclair",
    "abc",
    "http://",
    "Mozilla/5\\.0",
    "bingbot",
    "(?i:BingBot)",
    "(?-i:Spider)",
];
const WORD_INPUTS: &[&str] = &[
    "bot",
    "Googlebot",
    "GOOGLEBOT",
    "crawl",
    "Spider",
    "spider",
    "KELVIN",
    "kelvin",
    "abc",
    "ABC",
    "http://",
    "Mozilla/5.0",
    " ",
    "/",
    "1.2",
    "(",
    ";",
    "bingbot",
    "BINGBOT",
    "x",
    "_",
    "22",
    "ab",
    "c",
];
const WORD_INPUTS_NON_ASCII: &[&str] = &[
    "\u{212A}ELVIN",
    "ſpider",
    "Straße",
    "STRASSE",
    "éclair",
    "Ж",
    "\u{0663}",
];

impl Gen {
    fn below(&mut self, n: usize) -> usize {
        self.0.below(n)
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        self.0.pick(xs)
    }

    fn atom(&mut self, depth: u32) -> String {
        const LITERALS: &[&str] = &[
            "a", "b", "c", "ab", "ba", "é", "É", "ß", "ẞ", "Ж", "ж", "k", "K", "\u{212A}", "ſ",
            "s", "0", "1", " ", "-", "/", "\\.", "\\(", "😀", "\\n", "x",
        ];
        const CLASSES: &[&str] = &[
            "[a-c]",
            "[^a]",
            "\\d",
            "\\w",
            "\\s",
            "\\D",
            "\\W",
            ".",
            "[[:alpha:]]",
            "[é-ж]",
            "\\p{Cyrillic}",
            "[0-9a-f]",
            "(?-u:\\w)",
            "(?-u:.)",
            "(?-u:\\xFF)",
            "[^\\n]",
        ];
        const LOOKS: &[&str] = &[
            "^",
            "$",
            "\\b",
            "\\B",
            "\\A",
            "\\z",
            "(?-u:\\b)",
            "(?m:^)",
            "(?m:$)",
        ];
        match self.below(if depth == 0 { 3 } else { 6 }) {
            0 if self.3 && self.below(3) != 0 => self.pick(WORDS).to_string(),
            0 => self.pick(LITERALS).to_string(),
            1 => self.pick(CLASSES).to_string(),
            2 => self.pick(LOOKS).to_string(),
            3 => format!("({})", self.regex(depth - 1)),
            4 => format!("(?:{}|{})", self.regex(depth - 1), self.regex(depth - 1)),
            _ => {
                self.1 += 1;
                let name = self.1;
                format!("(?P<g{name}>{})", self.regex(depth - 1))
            }
        }
    }

    fn piece(&mut self, depth: u32) -> String {
        let atom = self.atom(depth);
        let is_look = matches!(
            atom.as_str(),
            "^" | "$" | "\\b" | "\\B" | "\\A" | "\\z" | "(?-u:\\b)" | "(?m:^)" | "(?m:$)"
        );
        if is_look {
            return atom;
        }
        const REPS: &[&str] = &["", "", "", "*", "+", "?", "{1,3}", "{2}", "*?", "+?", "??"];
        const BIG: &[&str] = &["{5,9}", "{6}", "{0,12}", "{7,}"];
        if self.2 && self.below(3) == 0 {
            return format!("{atom}{}", self.pick(BIG));
        }
        format!("{atom}{}", self.pick(REPS))
    }

    fn regex(&mut self, depth: u32) -> String {
        let n = 1 + self.below(4);
        (0..n).map(|_| self.piece(depth)).collect()
    }

    fn flags(&mut self) -> String {
        ["", "", "i", "m", "s", "is", "im", "ims"][self.below(8)].to_string()
    }

    fn rules(&mut self, n: usize) -> Vec<RuleSpec> {
        (0..n)
            .map(|i| {
                let depth = if self.below(4) == 0 { 2 } else { 1 };
                let mut r = RuleSpec::new(RuleId::Int(i as i64), &self.regex(depth));
                r.flags = self.flags();
                r
            })
            .collect()
    }

    fn input(&mut self) -> Vec<u8> {
        const PARTS: &[&[u8]] = &[
            b"a",
            b"b",
            b"c",
            b"ab",
            "é".as_bytes(),
            "É".as_bytes(),
            "ß".as_bytes(),
            "ẞ".as_bytes(),
            "Ж".as_bytes(),
            "ж".as_bytes(),
            b"k",
            b"K",
            "\u{212A}".as_bytes(),
            "ſ".as_bytes(),
            b"s",
            b"S",
            b"0",
            b"1",
            b" ",
            b"-",
            b"/",
            b".",
            b"(",
            "😀".as_bytes(),
            b"\n",
            b"x",
            b"\xFF",
            b"\xC3",
            b"\x80",
            b"_",
        ];
        if self.3 {
            let n = self.below(10);
            return (0..n)
                .flat_map(|_| {
                    let part = if self.below(12) == 0 {
                        self.pick(WORD_INPUTS_NON_ASCII)
                    } else {
                        self.pick(WORD_INPUTS)
                    };
                    part.as_bytes().to_vec()
                })
                .collect();
        }
        let n = self.below(12);
        (0..n)
            .flat_map(|_| PARTS[self.below(PARTS.len())].iter().copied())
            .collect()
    }
}

fn check_seed(
    seed: u64,
    rules_per_set: usize,
    inputs: usize,
    cfg: &Config,
    words: bool,
) -> Result<(), TestCaseError> {
    let mut g = Gen(Rng(seed | 1), 0, cfg.max_dfa_bytes < 100_000, words);
    let n = 1 + g.below(rules_per_set);
    let rules = g.rules(n);
    let oracle = Oracle::new(&rules);
    let mut wasm = match Wasm::new(&rules, cfg) {
        Ok(w) => w,
        // A random rule can legitimately need a DFA over the size limit; the
        // builder must then say so (tested in cli.rs), and the case is void.
        // Likewise a rule over the exact engine's (the regex crate's) NFA size limit.
        Err(e)
            if e.to_string().contains("exceeds the limit")
                || e.to_string().contains("too large to compile") =>
        {
            return Err(TestCaseError::reject("over a size limit"))
        }
        Err(e) => {
            let pats: Vec<_> = rules.iter().map(|r| (&r.pattern, &r.flags)).collect();
            return Err(TestCaseError::fail(format!("{e}\nrules: {pats:?}")));
        }
    };
    for _ in 0..inputs {
        let hay = g.input();
        if let Err(why) = compare(&mut wasm, &oracle, &hay) {
            let pats: Vec<_> = rules.iter().map(|r| (&r.pattern, &r.flags)).collect();
            return Err(TestCaseError::fail(format!(
                "seed {seed}: input {:?}: {why}\nrules: {pats:?}",
                String::from_utf8_lossy(&hay)
            )));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(PtConfig { cases: 24, failure_persistence: None, ..PtConfig::default() })]

    /// Random rule sets of up to 12 rules, 250 random inputs each (6,000
    /// inputs, three modes each), dense DFAs, default sharding.
    #[test]
    fn random_rules_dense(seed in any::<u64>()) {
        check_seed(seed, 12, 250, &Config::default(), false)?;
    }

    /// Sparse DFAs and tiny shards: many shards per module, so shard merging
    /// and the `first` early exit are exercised.
    #[test]
    fn random_rules_sparse_many_shards(seed in any::<u64>()) {
        let cfg = Config { dfa_kind: DfaKind::Sparse, shard_rules: 2, ..Config::default() };
        check_seed(seed, 12, 150, &cfg, false)?;
    }

    /// Large counted repeats under a tiny DFA size limit: rules whose DFA is
    /// too big are answered by a widened DFA plus exact confirmation, and
    /// must still agree with the oracle exactly.
    #[test]
    fn random_rules_with_approximate_dfas(seed in any::<u64>()) {
        let cfg = Config { max_dfa_bytes: 90_000, max_rule_dfa_bytes: 90_000, shard_rules: 4, ..Config::default() };
        check_seed(seed, 10, 150, &cfg, false)?;
    }

    /// Rules built mostly from words (case-sensitive, `(?i)`, with Unicode
    /// case variants such as `ſ` and the Kelvin sign) on mostly-ASCII text
    /// of those words: the literal prefilter decides which DFAs run, pure
    /// literal rules have none, and ASCII-widened DFAs must fall back to the
    /// exact engine on non-ASCII input. Also without the prefilter.
    #[test]
    fn random_rules_prefiltered(seed in any::<u64>()) {
        check_seed(seed, 30, 200, &Config { shard_rules: 4, ..Config::default() }, true)?;
        check_seed(seed, 30, 100, &Config { prefilter: false, ..Config::default() }, true)?;
    }
}

/// Hand-picked corners: Unicode case folding, word boundaries on non-ASCII
/// input, empty matches, invalid UTF-8, multi-line anchors, lazy repeats.
#[test]
fn fixed_corpus() {
    let patterns: &[(&str, &str)] = &[
        (r"\bé\w+", ""),
        (r"(?i)strasse", ""),
        ("ß", "i"),
        ("k", "i"),
        (r"\Bb", ""),
        (r"^$", "m"),
        ("a*", ""),
        (r"(a)|(b)", ""),
        (r"(?-u:\xFF)+", ""),
        (r"x$", ""),
        (r"^b", "m"),
        (r"a.c", "s"),
        (r"(\w+)@(\w+)\.com", ""),
        (r"a+?", ""),
        (r"\b", ""),
        (r"[[:upper:]]{2}", ""),
        (r"\d+ # digits", "x"),
        (r"Ж\b", "i"),
    ];
    let rules: Vec<RuleSpec> = patterns
        .iter()
        .enumerate()
        .map(|(i, (p, f))| {
            let mut r = RuleSpec::new(RuleId::Int(i as i64 + 100), p);
            r.flags = f.to_string();
            r
        })
        .collect();
    let inputs: &[&[u8]] = &[
        b"",
        "élan vital".as_bytes(),
        "STRASSE".as_bytes(),
        "Straße".as_bytes(),
        "\u{212A}".as_bytes(),
        "K".as_bytes(),
        b"abc",
        b"ab",
        b"\xFF\xFE\xFF",
        b"\xC3",
        b"x\n",
        b"a\nb",
        b"a\nc",
        b"mail: bob@example.com!",
        "Жук".as_bytes(),
        "жЖ ".as_bytes(),
        b"AB 123",
        "naïve\u{0}é".as_bytes(),
        "😀b".as_bytes(),
    ];
    for cfg in [
        Config::default(),
        Config {
            shard_rules: 1,
            ..Config::default()
        },
        Config {
            dfa_kind: DfaKind::Sparse,
            shard_rules: 5,
            ..Config::default()
        },
    ] {
        check_corpus(&rules, inputs, &cfg);
    }
    check_each_rule_alone(&rules, inputs);
}

/// The whole rule set under `cfg` against the oracle on every input.
fn check_corpus(rules: &[RuleSpec], inputs: &[&[u8]], cfg: &Config) {
    let oracle = Oracle::new(rules);
    let mut wasm = Wasm::new(rules, cfg).unwrap();
    for hay in inputs {
        compare(&mut wasm, &oracle, hay)
            .unwrap_or_else(|why| panic!("{cfg:?} {:?}: {why}", String::from_utf8_lossy(hay)));
    }
}

/// `count` inputs, each 1 to `most` of `parts` chosen at random and joined.
fn joined_parts(g: &mut Rng, parts: &[&str], count: usize, most: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|_| {
            (0..1 + g.below(most))
                .map(|_| parts[g.below(parts.len())])
                .collect::<String>()
                .into_bytes()
        })
        .collect()
}

/// [`check_corpus`] with the default limits, then with DFA limits so tight
/// that most units are widened or left to their exact engines.
fn check_corpus_default_and_tight(rules: &[RuleSpec], inputs: &[Vec<u8>]) {
    let refs: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
    check_corpus(rules, &refs, &Config::default());
    let tight = Config {
        max_rule_dfa_bytes: 6_000,
        max_dfa_bytes: 20_000,
        ..Config::default()
    };
    check_corpus(rules, &refs, &tight);
}

/// Every rule alone, too: `first` for each rule is then exercised.
fn check_each_rule_alone(rules: &[RuleSpec], inputs: &[&[u8]]) {
    for (i, rule) in rules.iter().enumerate() {
        let one = std::slice::from_ref(rule);
        let oracle = Oracle::new(one);
        let mut wasm = Wasm::new(one, &Config::default()).unwrap();
        for hay in inputs {
            compare(&mut wasm, &oracle, hay).unwrap_or_else(|why| {
                panic!(
                    "rule {i} {:?} on {:?}: {why}",
                    rule.pattern,
                    String::from_utf8_lossy(hay)
                )
            });
        }
    }
}

/// Inputs of tens to hundreds of KiB, growing and shrinking, through one
/// instance: they take the modules' allocator through its page path (runs
/// grown, released, split and reused) and the exact engines through long
/// scans, and every answer must still equal the oracle's.
#[test]
fn large_inputs_through_one_instance() {
    let patterns = [
        r"(\w+)@(\w+)\.com",
        r"(?i)googlebot/(\d+)",
        r"x\d{3}y",
        r"\bzz\b",
        r"^start",
        r"end$",
    ];
    let rules: Vec<RuleSpec> = patterns
        .iter()
        .enumerate()
        .map(|(i, p)| RuleSpec::new(RuleId::Int(i as i64 + 1), p))
        .collect();
    let oracle = Oracle::new(&rules);
    let mut wasm = Wasm::new(&rules, &Config::default()).unwrap();
    let mut rng = Rng(0x5eed_1a2e);
    let filler = [
        "lorem ",
        "ipsum ",
        "é ",
        "x12y ",
        "GOOGLEBOT/ ",
        "a@b ",
        "\n",
    ];
    for (round, kib) in [40usize, 200, 70, 130, 33, 300, 64, 1, 250, 90]
        .into_iter()
        .enumerate()
    {
        let mut hay = String::new();
        if round % 3 == 0 {
            hay.push_str("start ");
        }
        while hay.len() < kib * 1024 {
            hay.push_str(rng.pick(&filler));
        }
        // Matches near the end, so that long prefixes are scanned first.
        match round % 4 {
            0 => hay.push_str(" bob@example.com"),
            1 => hay.push_str(" googlebot/42 zz"),
            2 => hay.push_str(" x123y"),
            _ => hay.push_str(" end"),
        }
        compare(&mut wasm, &oracle, hay.as_bytes())
            .unwrap_or_else(|why| panic!("round {round} ({kib} KiB): {why}"));
    }
}

/// Rules whose matches start with their literal run their DFA anchored at
/// each occurrence: a later occurrence may match where an earlier one does
/// not, leading assertions are judged on the bytes before the occurrence
/// (Unicode `\b` there, or after a literal ending in a non-ASCII letter,
/// gives up on non-ASCII look-behind), case-insensitive
/// and Kelvin-sign variants, ASCII-widened classes on non-ASCII input.
#[test]
fn anchored_literal_rules() {
    let patterns: &[(&str, &str)] = &[
        (r"bot\d+", ""),
        // (`Bot[-_]?x` alone is now three literals: a complete rule.)
        (r"Bot[-_]?x\d", "i"),
        (r"^bot", ""),
        (r"^bot\d", "m"),
        (r"\bbot\b", ""),
        (r"\bbote\w", ""),
        (r"(?-u:\b)bot=", ""),
        (r"kbot\s\d", "i"),
        (r"\(bot[^;)]*;", ""),
        (r"bot$", ""),
        (r"(?:abc|xyz)\d", ""),
        (r"aab\d", ""),
        (r"botЖ\b", ""),
    ];
    let rules: Vec<RuleSpec> = patterns
        .iter()
        .enumerate()
        .map(|(i, (p, f))| {
            let mut r = RuleSpec::new(RuleId::Int(i as i64), p);
            r.flags = f.to_string();
            r
        })
        .collect();
    let compiled = dfabake::compile::compile(&rules, &Config::default(), "test").unwrap();
    assert_eq!(
        compiled.paths.anchored.len(),
        rules.len(),
        "every rule takes the anchored path"
    );
    // Those made of a literal and a rest run only the rest's DFA (shared by
    // rules with the same rest), after the literal.
    let after: Vec<usize> = compiled.paths.after_literal.clone();
    assert_eq!(
        after,
        vec![0, 1, 2, 7, 8, 9, 10, 11, 12],
        "rules run after their literal"
    );
    let inputs: &[&[u8]] = &[
        b"botx bot12",
        b"xbot1",
        b"BOT_x and bot-x",
        b"BOT_x1 and bot-x2 botx3 bot_-x4",
        b"bot",
        b"a\nbot7",
        b"xbot bot",
        "ébote1 bote2".as_bytes(),
        "ébote1".as_bytes(),
        "éboteé".as_bytes(),
        b"abot= bot=",
        "\u{212A}BOT 7".as_bytes(),
        "kbot\u{2003}7".as_bytes(),
        b"(bot) (bot x; y",
        b"bot bot",
        b"abcx xyz9",
        b"aaab1",
        b"bot\xFFbot3",
        "botЖa botЖ".as_bytes(),
        "botЖж".as_bytes(),
    ];
    for cfg in [
        Config::default(),
        Config {
            dfa_kind: DfaKind::Sparse,
            ..Config::default()
        },
    ] {
        check_corpus(&rules, inputs, &cfg);
    }
    check_each_rule_alone(&rules, inputs);
}

/// The shapes of real user-agent-parser lists: a giant top-level alternation
/// of names with bounded classes, `.{0,N}` gaps and a Unicode `\b\w{0,N}…`
/// branch followed by an optional version tail with nested captures; device
/// rules, many `(?i)`, sharing the common literal ` Build`; `^.{0,N}(a|b|…)`
/// prefixed alternations. Built with the default limits (decomposition,
/// common-literal avoidance) and with tiny ones (widened and exact-only
/// units), `all`, `any` and `first` with spans and captures must equal the
/// regex crate's on every input.
#[test]
fn ua_parser_shapes() {
    let mut g = Rng(0x05ee_d0a5 | 1);
    let brands = [
        "Acer", "HTC", "Lenovo", "Nokia", "Xiaomi", "Huawei", "Moto", "Sony", "ZTE", "Asus",
        "Vivo", "Oppo",
    ];
    let mut names: Vec<String> = (0..60)
        .map(|i| format!("{}bot{i}", ["Crawl", "Fetch", "Scan", "Index"][i % 4]))
        .collect();
    names.extend([
        r"Accoona-[A-z]{1,30}-Agent".to_string(),
        r"archive.{0,30}\.org_bot".into(),
        r"\b\w{0,30}favicon\w{0,30}\b".into(),
        r"Microsoft .{0,30} Bot".into(),
        r"NewsGator[^/]{0,30}".into(),
        r"^NING".into(),
        r"(?:[a-zA-Z]{1,30}-|)Googlebot(?:-[a-zA-Z]{1,30}|)".into(),
        r"Yandex\w{1,30}".into(),
    ]);
    let mut rules = vec![RuleSpec::new(
        RuleId::Int(1),
        &format!(
            r"({})(?:[ /]v?(\d+)(?:\.(\d+)(?:\.(\d+)|)|)|)",
            names.join("|")
        ),
    )];
    rules.push(RuleSpec::new(
        RuleId::Int(2),
        r"(Firefox)/(\d+)\.(\d+)(?:\.(\d+)|)",
    ));
    rules.push(RuleSpec::new(
        RuleId::Int(3),
        r"(?:Mobile Safari).*(Chrome)/(\d+)",
    ));
    rules.push(RuleSpec::new(
        RuleId::Int(4),
        r"(Android)[ \-/](\d+)(?:\.(\d+)|)(?:[.\-]([a-z0-9]+)|)",
    ));
    rules.push(RuleSpec::new(
        RuleId::Int(5),
        r"CFNetwork/.{0,100} Darwin/(\d+)\.\d+",
    ));
    rules.push(RuleSpec::new(
        RuleId::Int(6),
        r"^.{0,100}(bot|crawl|spider|^Java/|favicon|slurp)",
    ));
    let mut id = 100;
    for b in brands {
        for pattern in [
            format!(r"; {{0,2}}({b}[ _-]?[A-Z0-9]+)(?: Build|\) AppleWebKit)"),
            format!(r"; {{0,2}}(?:{b} )?([A-Z]\d+[^;/]{{0,30}}?) Build/"),
            format!(r"\b{b}[ _]?(\w+)"),
        ] {
            let mut r = RuleSpec::new(RuleId::Int(id), &pattern);
            if g.below(2) == 0 {
                r.flags = "i".into();
            }
            rules.push(r);
            id += 1;
        }
    }
    rules.push(RuleSpec::new(
        RuleId::Int(999),
        r"Android[- ][\d]+\.[\d]+; [^;]+; ([^;/]+) Build",
    ));
    let mut inputs: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"NING/1.0".to_vec(),
        "x fav\u{e9}icon y".as_bytes().to_vec(),
    ];
    for i in 0..300 {
        let brand = brands[g.below(brands.len())];
        let name = &names[g.below(60)];
        let s = match i % 6 {
            0 => format!("Mozilla/5.0 (Linux; Android 13; {brand} M{} Build/TP1A) AppleWebKit/537.36 Mobile Safari/537.36 Chrome/120.0", g.below(999)),
            1 => format!("Mozilla/5.0 (compatible; {name}/{}.{}; +http://x.example/)", g.below(9), g.below(9)),
            2 => format!("Mozilla/5.0 (X11; Linux x86_64; rv:{}.0) Gecko/20100101 Firefox/{}.0", g.below(130), g.below(130)),
            3 => format!("App/1 CFNetwork/{} Darwin/22.{}.0", g.below(2000), g.below(9)),
            4 => format!("Mozilla/5.0 (Linux; U; Android 4.{}; {}; {brand}_{} Build/X)", g.below(9), ["en-us", "fr"][g.below(2)], g.below(99)),
            _ => format!("{} Accoona-{}-Agent Googlebot-Image/1.0 Yandex{} Microsoft é Bot", ["A", "ж"][g.below(2)], brand, name),
        };
        inputs.push(s.into_bytes());
    }
    check_corpus_default_and_tight(&rules, &inputs);
}

/// Device rules whose only usable literal is a common one (` Build`,
/// `) AppleWebKit`: model codes like `E\d{3}` are too short to filter on)
/// run on nearly every WebKit user agent, so they share DFAs: a decomposed
/// rule's branches behind the common literal are one unit, and such units
/// of many rules are shards of several rules. The answers (`all`, `first`
/// with captures) are still the regex crate's, and a shard holds more than
/// one of them.
#[test]
fn device_rules_behind_a_common_literal_share_shards() {
    let mut g = Rng(0x0dec_1ce5 | 1);
    let codes = [
        "E", "X", "GO", "N", "IF", "OP", "BQ", "LM", "RK", "IV", "P", "Y", "H", "U",
    ];
    let words = [
        "Spirit", "Vision", "Galaxy", "Wave", "Joy", "Desire", "Star", "Rock",
    ];
    let mut rules = Vec::new();
    for (i, code) in codes.iter().enumerate() {
        let word = words[i % words.len()];
        let mut decomposed = RuleSpec::new(
            RuleId::Int(i as i64 * 2),
            &format!(
                r"; {{0,2}}({code}\d{{3}}[A-Z]?|{code}\-[0-9]{{2}}[A-z]?|{word}[^;/]{{0,30}}|{code}{n})(?: Build|\) AppleWebKit)",
                n = 100 + i * 7
            ),
        );
        if i % 3 == 0 {
            decomposed.flags = "i".into();
        }
        rules.push(decomposed);
        rules.push(RuleSpec::new(
            RuleId::Int(i as i64 * 2 + 1),
            &format!(r"; {{0,2}}((?:{code}|{code}{code})[ _\-]?)([^;/]{{1,40}}) Build"),
        ));
    }
    let compiled = dfabake::compile::compile(&rules, &Config::default(), "device rules").unwrap();
    assert!(
        compiled
            .shards
            .iter()
            .any(|s| s.flags.triggered && s.rules > 1),
        "no shard of several rules behind the common literal: {:?}",
        compiled.shards.iter().map(|s| s.rules).collect::<Vec<_>>()
    );
    let mut inputs: Vec<Vec<u8>> = Vec::new();
    for i in 0..400 {
        let code = codes[g.below(codes.len())];
        let model = match g.below(5) {
            0 => format!("{code}{}", g.below(1000)),
            1 => format!("{code}-{}{}", g.below(100), ["a", "Q", ""][g.below(3)]),
            2 => format!("{} {}", words[g.below(words.len())], g.below(99)),
            3 => format!("{}{code} {}", code.to_lowercase(), g.below(9)),
            _ => format!("{code}{}", 100 + g.below(14) * 7),
        };
        let tail = [
            " Build/TP1A)",
            ") AppleWebKit/537.36",
            "; wv) AppleWebKit/537.36",
            " Build",
        ][i % 4];
        let sep = ["; ", ";", ";  ", "; x "][g.below(4)];
        inputs.push(
            format!("Mozilla/5.0 (Linux; Android 13{sep}{model}{tail} Chrome/120.0").into_bytes(),
        );
    }
    check_corpus_default_and_tight(&rules, &inputs);
}

/// Rules that all hold two common literals and one of their own
/// (`AppleWebKit/… \(KHTML, like Gecko\).{0,200}(Name)/…`): the prefilter
/// must trigger each on its own name, not on the second common literal it
/// falls back to once the first is known to be common; and the answers are
/// the regex crate's.
#[test]
fn rules_with_two_common_literals_filter_on_their_own() {
    let mut g = Rng(0x6ec0_c0de | 1);
    let names: Vec<String> = (0..40)
        .map(|i| {
            format!(
                "{}{}{i}",
                ["Pulsar", "Nimbus", "Zenith", "Lumen"][i % 4],
                ["Check", "Box", "Sync", "View"][i / 10]
            )
        })
        .collect();
    let rules: Vec<RuleSpec> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            RuleSpec::new(
                RuleId::Int(i as i64),
                &format!(r"AppleWebKit/\d+(?:\.\d+)+ \(KHTML, like Gecko\).{{0,200}}({name})/(\d+)\.(\d+)"),
            )
        })
        .collect();
    let compiled = dfabake::compile::compile(&rules, &Config::default(), "webkit rules").unwrap();
    assert!(
        compiled.prefilter_literals >= names.len(),
        "{} prefilter literals for {} rules with a name each",
        compiled.prefilter_literals,
        names.len()
    );
    let inputs: Vec<Vec<u8>> = (0..300)
        .map(|_| {
            let name = &names[g.below(names.len())];
            let shown = if g.below(4) == 0 { "Other" } else { name.as_str() };
            format!(
                "Mozilla/5.0 (X11) AppleWebKit/537.{} (KHTML, like Gecko) Chrome/120.0 {shown}/{}.{}",
                g.below(99),
                g.below(20),
                g.below(20)
            )
            .into_bytes()
        })
        .collect();
    let refs: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
    check_corpus(&rules, &refs, &Config::default());
}

/// `first` on rules that are literals to the prefilter: whole rules of
/// literals (several occurrences, overlapping ones, alternatives where a
/// shorter one comes first, case-insensitive ones), a rule split into
/// literal and non-literal branches, and rules that are literals only once
/// their optional ends are dropped (`(ab)?Googlebot`, `([0-9a-f].?)*?😀`),
/// whose match starts before the literal's occurrence: the span and
/// captures are the regex crate's. (Starting the capture search at the first
/// occurrence got the last two wrong; random tests found it.)
#[test]
fn first_of_rules_the_prefilter_sees_as_literals() {
    let mut g = Rng(0x11_7e2a1 | 1);
    let patterns = [
        "(ab)?(Googlebot)",
        "([0-9a-f].?)*?😀{1,3}",
        "(Googlebot|Googlebot-Image)",
        "(?i)(bingbot)",
        "Yandex(Bot|Images)",
        "(aaab|aab)",
        r"(?:curl/|wget|\d{2}bot)",
        "(crawler)",
    ];
    let rules: Vec<RuleSpec> = patterns
        .iter()
        .enumerate()
        .map(|(i, p)| RuleSpec::new(RuleId::Int(i as i64), p))
        .collect();
    let parts = [
        "Googlebot",
        "Googlebot-Image",
        "BINGBOT",
        "bingbot",
        "YandexImages",
        "YandexBot",
        "aaaab",
        "aab",
        "curl/",
        "wget",
        "42bot",
        "crawler",
        " ",
        "/",
        "x",
        "ab",
        "3f",
        "😀",
    ];
    let inputs = joined_parts(&mut g, &parts, 400, 6);
    check_corpus_default_and_tight(&rules, &inputs);
}

/// `first` of rules that are nothing but literals, none after an optional
/// part: their capture search tries only the leftmost occurrence of their
/// literals ([`Target::RuleAtLiteral`]), so that occurrence must be where
/// the leftmost-first match starts, with an earlier alternative winning at
/// the same start (`abc|abcde`), an alternative that starts earlier than
/// another's occurrence (`bot|robot`), groups after the literal, and
/// `(?i)`. Rules with an optional or repeated start keep the full search.
///
/// [`Target::RuleAtLiteral`]: dfabake_matcher::prefilter::Target::RuleAtLiteral
#[test]
fn first_of_rules_whose_matches_start_at_their_literals() {
    use dfabake_matcher::format::{AlignedBytes, Database};
    use dfabake_matcher::prefilter::Target;
    let mut g = Rng(0x5_7a27 | 1);
    // (pattern, whether its matches start at its literals)
    let patterns = [
        ("bot|robot", true),
        ("(abc|abcde)", true),
        (r"(Googlebot)(?:/(\d+))?", true),
        ("(?i)yacy(bot)", true),
        ("Yandex(Bot|Images)", true),
        ("(Bytespider|spider)", true),
        // One string each, no group: the occurrence is the match.
        ("Googlebot/", true),
        ("(?i)bingbot", true),
        ("Bot[-_]x", true),
        ("(ab)?(Googlebot)", false),
        ("a+bcd", false),
        (r"[^;]*(spider)", false),
    ];
    let rules: Vec<RuleSpec> = patterns
        .iter()
        .enumerate()
        .map(|(i, (p, _))| RuleSpec::new(RuleId::Int(i as i64), p))
        .collect();
    let compiled = dfabake::compile::compile(&rules, &Config::default(), "literal rules").unwrap();
    let aligned = AlignedBytes::copy_from(&compiled.database);
    let db = Database::from_bytes(aligned.as_bytes()).unwrap();
    let mut at_literal = vec![false; rules.len()];
    db.prefilter().unwrap().scan(
        b"robot abcde Googlebot/2 YACYBOT YandexImages Bytespider aaabcd ab;spider BingBot Bot_x",
        |t| {
            if let Target::RuleAtLiteral(r) = t {
                at_literal[r as usize] = true;
            }
        },
    );
    let expected: Vec<bool> = patterns.iter().map(|&(_, at)| at).collect();
    assert_eq!(at_literal, expected);
    let parts = [
        "robot",
        "bot",
        "ro",
        "abcde",
        "abcd",
        "ab",
        "abc",
        "Googlebot",
        "/",
        "7",
        "YaCyBot",
        "yacybot",
        "YandexBot",
        "YandexImages",
        "Bytespider",
        "spider",
        "Byte",
        "aaa",
        "bcd",
        ";",
        " ",
        "BINGbot",
        "bing",
        "Bot-x",
        "Bot_x",
        "Botx",
        "Bot",
        "x",
    ];
    let inputs = joined_parts(&mut g, &parts, 400, 6);
    let refs: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
    check_each_rule_alone(&rules, &refs);
    check_corpus_default_and_tight(&rules, &inputs);
}

/// `first` of rules `^.{0,N}?T` and `^.{0,N}T` (uap-core's generic bot
/// rules) finds `T`'s leftmost (lazy) or rightmost reachable (greedy) start
/// and runs the capture engine from there alone: the answer must still be
/// the whole rule's, whether `T` matches within `N` characters or only
/// past them, after a `\n`, after multi-byte characters (which count
/// once), inside one (where it cannot start), or after invalid UTF-8.
#[test]
fn first_of_rules_after_a_dot_prefix() {
    let mut g = Rng(0x1a2_d07 | 1);
    let patterns = [
        r"^.{0,6}?(ab|a)(\d+)?",
        r"^.{0,4}?x(y)?",
        r"^.{0,9}?((?:[A-Za-z]{1,3}|)[Bb]ot)\b(?:/(\d+)|)",
        r"^.{0,3}?(?:foo|bar)(z)?",
        r"^.{0,12}?(\xA9|\x{e9})(\w)",
        r"^.{0,6}(ab|a)(\d+)?",
        r"(?i)^.{0,9}(bot|ro|^a)(\d)?",
        r"^.{0,5}(?:x|\x{3b2})(y)?",
    ];
    let rules: Vec<RuleSpec> = patterns
        .iter()
        .enumerate()
        .map(|(i, p)| RuleSpec::new(RuleId::Int(i as i64), p))
        .collect();
    for p in patterns {
        let program = dfabake_matcher::exact::compile(p).unwrap();
        let engine = dfabake_matcher::exact::ExactEngine::from_program(&program).unwrap();
        assert!(engine.tail().is_some(), "{p} has a tail");
    }
    let parts = [
        "a",
        "ab",
        "7",
        "x",
        "y",
        "Bot",
        "robot",
        "foo",
        "bar",
        "z",
        "\n",
        " ",
        "-",
        "\u{e9}",
        "\u{3b1}\u{3b2}",
        "\u{a9}",
        "zzzz",
        "/12",
        "qq",
    ];
    let mut inputs = joined_parts(&mut g, &parts, 600, 8);
    // Invalid UTF-8, which the prefix's `.` does not read: a stray
    // continuation byte or 0xFF somewhere in some inputs.
    for i in 0..150 {
        let mut hay = inputs[i].clone();
        let at = g.below(hay.len() + 1);
        hay.insert(at, if i % 2 == 0 { 0x80 } else { 0xFF });
        inputs.push(hay);
    }
    let refs: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
    check_each_rule_alone(&rules, &refs);
    check_corpus_default_and_tight(&rules, &inputs);
    // Each rule's own leftmost-first match (`Matcher::exact_first`), on
    // inputs it may not match at all: `T` matching only out of the
    // prefix's reach is no match.
    use dfabake_matcher::format::{AlignedBytes, Database};
    let compiled = dfabake::compile::compile(&rules, &Config::default(), "tails").unwrap();
    let aligned = AlignedBytes::copy_from(&compiled.database);
    let m = dfabake_matcher::Matcher::new(Database::from_bytes(aligned.as_bytes()).unwrap());
    let mut cache = m.create_cache();
    for (rule, p) in patterns.iter().enumerate() {
        let re = regex::bytes::Regex::new(p).unwrap();
        for hay in &inputs {
            let want = re.captures(hay).map(|c| {
                c.iter()
                    .map(|g| g.map(|g| (g.start(), g.end())))
                    .collect::<Vec<_>>()
            });
            let got = m
                .exact_first(&mut cache, rule as u32, hay)
                .map(|f| f.captures);
            assert_eq!(got, want, "{p} on {:?}", String::from_utf8_lossy(hay));
        }
    }
}

/// Rules whose DFAs had to be widened (tight limits) answer exactly, with or
/// without confirmation: on inputs whose runs of a widened class's bytes
/// stay within the repetition's bound the widened DFA is exact and nothing
/// is confirmed ([`Shard::run_bounds`]); at the bound plus one, below a
/// kept minimum, with several classes, non-ASCII bytes, or repetitions
/// that cannot be bounded (a group, a minimum over 4), the exact engine
/// decides.
///
/// [`Shard::run_bounds`]: dfabake_matcher::format::Shard::run_bounds
#[test]
fn widened_rules_are_exact_within_their_run_bounds() {
    use dfabake_matcher::format::{AlignedBytes, Database};
    use dfabake_matcher::Matcher;
    let mut g = Rng(0x7_b0d5 | 1);
    let patterns = [
        r"^.{0,40}?x([a-z]{1,30})y",
        r"a([0-9]{2,30})b",
        r"Q.{1,40}Z",
        r"k[^;]{3,40};",
        r"=(\w{1,30})!",
        r"z\d{6,30}e",
        r"-(?:ab){1,30}c",
        r"(?i)m[a-z]{3,30}n",
    ];
    let rules: Vec<RuleSpec> = patterns
        .iter()
        .enumerate()
        .map(|(i, p)| RuleSpec::new(RuleId::Int(i as i64), p))
        .collect();
    // Without the prefilter, rules without literals share shards, whose
    // DFAs the limits split and widen; with it, most of these rules are
    // gated and alone (the default configuration, checked at the end).
    let tight = Config {
        max_rule_dfa_bytes: 3000,
        max_dfa_bytes: 20_000,
        prefilter: false,
        ..Config::default()
    };
    let compiled = dfabake::compile::compile(&rules, &tight, "widened").unwrap();
    assert!(
        compiled.approximate.len() >= 5,
        "the limits widen most rules: {:?}",
        compiled.approximate
    );
    let aligned = AlignedBytes::copy_from(&compiled.database);
    let m = Matcher::new(Database::from_bytes(aligned.as_bytes()).unwrap());
    let mut cache = m.create_cache();
    assert_eq!(
        m.matches(&mut cache, b"xaby a12b QabZ kabc;"),
        vec![0, 1, 2, 3]
    );
    assert_eq!(cache.exact_confirmations(), 0, "all within their bounds");
    assert!(
        compiled.approximate.contains(&0),
        "{:?}",
        compiled.approximate
    );
    let over = format!("x{}y", "a".repeat(31));
    assert!(m.matches(&mut cache, over.as_bytes()).is_empty());
    assert!(
        cache.exact_confirmations() > 0,
        "a run over the bound is confirmed"
    );
    let parts = [
        "x",
        "y",
        "abc",
        "abcdefgh",
        "abcdefghijkl",
        "a",
        "b",
        "12",
        "123456",
        "1234567890",
        "Q",
        "Z",
        ";",
        "k",
        "!",
        "=",
        "\u{e9}",
        "\u{3b1}\u{3b2}",
        "z",
        "e",
        "-",
        "ab",
        "c",
        "M",
        "mnop",
        "N",
        " ",
        "________",
    ];
    let inputs = joined_parts(&mut g, &parts, 500, 10);
    let refs: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
    check_corpus(&rules, &refs, &tight);
    check_corpus_default_and_tight(&rules, &inputs);
}

/// `first` where the winner was confirmed by its exact engine (an
/// approximate DFA: uap-core's `^.{0,200}?…` generic bot rules, widened) and
/// its captures come from that confirmation, beside winners whose captures
/// are searched afterwards, through one instance with inputs of changing
/// lengths: the backtracker reuses its visited set, clearing only the words
/// the previous search touched, so a stale bit would change an answer.
#[test]
fn first_captures_of_confirmed_winners() {
    let mut g = Rng(0x0f1e_57ca | 1);
    let patterns = [
        r"(Firefox)/(\d+)\.(\d+)",
        r"^.{0,200}?(?:\/[A-Za-z0-9\.]{0,50}|) {0,2}([A-Za-z0-9 \-_\!\[\]:]{0,50}(?:[Aa]rchiver|[Ii]ndexer|[Ss]craper|[Bb]ot|[Ss]pider|[Cc]rawl[a-z]{0,50}))[/ ](\d+)(?:\.(\d+)(?:\.(\d+)|)|)",
        r"^.{0,200}?((?:[A-Za-z][A-Za-z0-9 -]{0,50}|)[^C][^Uu][Bb]ot)\b(?:(?:[ /]| v)(\d+)(?:\.(\d+)|)(?:\.(\d+)|)|)",
        r"^.{0,200}?((?:[A-z0-9]{1,50}|[A-z\-]{1,50} ?|)(?: the |)(?:[Ss][Pp][Ii][Dd][Ee][Rr]|[Ss]crape|[Cc][Rr][Aa][Ww][Ll])[A-z0-9]{0,50})(?:(?:[ /]| v)(\d+)(?:\.(\d+)|)(?:\.(\d+)|)|)",
        r"(CSimpleSpider|Cityreview Robot|archive.{0,30}\.org_bot|\b\w{0,30}favicon\w{0,30}\b|Accoona-[A-z]{1,30}-Agent)(?:[ /]v?(\d+)(?:\.(\d+)|)|)",
        r"(Chrome)/(\d+)",
    ];
    let rules: Vec<RuleSpec> = patterns
        .iter()
        .enumerate()
        .map(|(i, p)| RuleSpec::new(RuleId::Int(i as i64), p))
        .collect();
    let words = [
        "Mozilla/5.0",
        "(compatible;",
        "Googlebot/2.1;",
        "MegaIndex.ru/2.0",
        "the spider 3.1",
        "Firefox/120.0",
        "Chrome/99",
        "Cubot",
        "NotCUBot",
        "AhrefsBot",
        "web archiver 1.2.3",
        "Accoona-X-Agent",
        "CSimpleSpider/7",
        "myfaviconbot",
        "archive.example.org_bot v2",
        "Scrapy/2.11",
        "x",
        "é",
        "crawler",
        "+http://example.com/bot.html)",
        "Linux;",
    ];
    let mut inputs: Vec<Vec<u8>> = vec![b"".to_vec(), b"bot 1".to_vec()];
    for _ in 0..400 {
        let long = g.below(4) == 0;
        let n = 1 + g.below(if long { 60 } else { 8 });
        let line: Vec<&str> = (0..n).map(|_| words[g.below(words.len())]).collect();
        inputs.push(line.join(" ").into_bytes());
    }
    let refs: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
    check_corpus(&rules, &refs, &Config::default());
    check_each_rule_alone(&rules, &refs);
}

/// Rules with no literal of three bytes, as user-agent parsers have them
/// (`-L`, `I9`, `M` and a digit, `U3`): their shards run only on inputs
/// holding one of their gates' pairs of bytes, and the answers, `first`
/// spans and captures included, are still the regex crate's. A rule whose
/// pairs are too common (`[A-Z]{2}` anywhere) keeps running on every input.
#[test]
fn rules_without_literals_run_behind_their_gates() {
    let patterns = [
        r"; {0,2}((?:[A-Z]{3})\-L[A-Za0-9]{2})[\)]",
        r"(?:; {0,2}|^)((?:GT\-[BIiNPS]\d{4}|I9\d{2}0[A-Za-z\+]?\b)[^;/\)]*?)(?:Build|Linux|MIUI|[;/\)])",
        r"; {0,2}([A-Z]{2,4})(M\d{3,}[A-Z]{2})([^;\)\/]*)(?: Build|[;\)])",
        r"(UC? ?Browser|UCWEB|U3)[ /]?(\d+)\.(\d+)\.(\d+)",
        r"(?i)\bLG[ _\-]?(\w{1,20})",
        r"(?i)k(\d{2})\b",
        r"^([A-Z]{2})[0-9]*$",
    ];
    let rules: Vec<RuleSpec> = patterns
        .iter()
        .enumerate()
        .map(|(i, p)| RuleSpec::new(RuleId::Int(i as i64), p))
        .collect();
    let compiled = dfabake::compile::compile(&rules, &Config::default(), "gated").unwrap();
    assert_eq!(compiled.paths.gated, (0..6).collect::<Vec<_>>());
    assert_eq!(compiled.paths.always, [6]);
    let gates: Vec<&Vec<String>> = compiled
        .shards
        .iter()
        .filter(|s| !s.gate.is_empty())
        .map(|s| &s.gate)
        .collect();
    assert_eq!(gates.len(), 6, "one shard per gated rule");
    let parts = [
        "Mozilla/5.0 (Linux; Android 13",
        "; ",
        ";",
        ")",
        " Build/TP1A",
        "ABC",
        "-L",
        "-l",
        "1a",
        "GT-I",
        "GT-",
        "I9",
        "1230",
        "9300",
        "M",
        "M123",
        "M٣٣٣",
        "AB",
        "XY",
        "UC",
        "UCBrowser",
        "U3",
        " ",
        "/",
        "1.2.3",
        ".",
        "LG",
        "lg-",
        "_",
        "K",
        "\u{212A}",
        "k",
        "42",
        "é",
        "\n",
        "Linux",
        "MIUI",
        // Whole matches of each rule, so that every one matches often.
        "; ABC-L1a)",
        "; GT-I9300 Build",
        "; I9100/",
        "; SMM123AB;",
        ";ABM٣٣٣XY Build",
        "UCBrowser/1.2.3",
        "U3 4.5.6",
        "LG-H900",
        "\u{212A}12 ",
    ];
    let mut g = Rng(0x9a7e_5eed | 1);
    let inputs = joined_parts(&mut g, &parts, 600, 14);
    check_corpus_default_and_tight(&rules, &inputs);
    let refs: Vec<&[u8]> = inputs.iter().take(150).map(Vec::as_slice).collect();
    check_each_rule_alone(&rules, &refs);
}

/// `any` on rules whose DFA gives up on non-ASCII input (a Unicode `\b`)
/// confirms each with the exact engine once per input, as `all` does, not
/// once per occurrence of its literal: that made `any` quadratic in the
/// input (80 KB of `crawleré`: 5 s).
#[test]
fn any_confirms_a_rule_once_per_input_not_per_occurrence() {
    use dfabake_matcher::format::{AlignedBytes, Database};
    let patterns = [r"crawler\b", r"\bspider\b", r"(?i)fetch\w{0,3}\b"];
    let rules: Vec<RuleSpec> = patterns
        .iter()
        .enumerate()
        .map(|(i, p)| RuleSpec::new(RuleId::Int(i as i64 + 1), p))
        .collect();
    let compiled = dfabake::compile::compile(&rules, &Config::default(), "any").unwrap();
    let aligned = AlignedBytes::copy_from(&compiled.database);
    let m = dfabake_matcher::Matcher::new(Database::from_bytes(aligned.as_bytes()).unwrap());
    let oracle = Oracle::new(&rules);
    let mut cache = m.create_cache();
    for (hay, last) in [
        ("crawleré".repeat(2000), ""),
        ("spideré".repeat(2000), " spider!"),
        ("fetchesé".repeat(2000), " fetch"),
    ] {
        let hay = format!("{hay}{last}");
        let before = cache.exact_confirmations();
        let any = m.find_any(&mut cache, hay.as_bytes());
        let confirmations = cache.exact_confirmations() - before;
        assert_eq!(
            any.is_some(),
            !oracle.all(hay.as_bytes()).is_empty(),
            "{last:?}"
        );
        assert!(
            confirmations <= patterns.len() as u64,
            "{last:?}: {confirmations} exact confirmations for 2,000 occurrences of a literal"
        );
        let mut wasm = Wasm::new(&rules, &Config::default()).unwrap();
        compare(&mut wasm, &oracle, hay.as_bytes()).unwrap();
    }
}
