//! Rules → checked patterns → shard DFAs → a database.
//!
//! Every rule is parsed on its own first, so that each bad rule is reported
//! with its id, position and reason. Valid rules are grouped into shards of
//! at most [`Config::shard_rules`] rules, in priority order; each shard is one
//! unanchored multi-pattern DFA with `MatchKind::All`, so one pass over the
//! input tells every rule of the shard that matches. A shard whose DFA would
//! exceed [`Config::max_dfa_bytes`] is split in two and retried, so the size
//! limit bounds both memory and time; a single rule over the limit is a row
//! error. Rules using a Unicode word boundary go into shards of their own:
//! their DFA gives up on non-ASCII input and the matcher then uses its exact
//! engine for just those rules.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use dfabake_matcher::format::{
    DatabaseWriter, DfaKind, RuleEntry, SHARD_AFTER_LITERAL, SHARD_ANCHORED, SHARD_ASCII_EXACT,
    SHARD_AT_START, SHARD_CONFIRM, SHARD_MAY_QUIT, SHARD_TRIGGERED,
};
use dfabake_matcher::prefilter::Target;
use regex_automata::dfa::{dense, StartKind};
use regex_automata::nfa::thompson;
use regex_syntax::hir::Hir;
use regex_automata::MatchKind;
use serde::Serialize;

use crate::error::{BuildError, Position, RowError};
use crate::literals::Plan;
use crate::rules::{duplicate_ids, RuleSpec};
use crate::shard_cache::{chunk, pattern_hash, Entry, ShardCache};

/// What to do with rules that cannot be compiled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnInvalid {
    /// Fail the build, listing every bad rule.
    Fail,
    /// Build the other rules; the skipped ones are listed in the manifest.
    Skip,
}

/// Options for [`compile`].
#[derive(Clone, Debug, Serialize)]
pub struct Config {
    /// Dense DFAs search fastest; sparse ones are several times smaller.
    #[serde(serialize_with = "ser_kind")]
    pub dfa_kind: DfaKind,
    /// With [`DfaKind::Dense`]: a DFA whose dense form is bigger than this
    /// is stored sparse (`None`: always dense).
    pub sparse_above: Option<usize>,
    /// Extract required literals into a prefilter, so that only the DFAs
    /// of rules whose literals occur run (and pure-literal rules need none).
    pub prefilter: bool,
    /// Most rules in one shard DFA.
    pub shard_rules: usize,
    /// Largest DFA (and determinizer working memory) of one shard, in bytes.
    pub max_dfa_bytes: usize,
    /// Largest database, in bytes.
    pub max_database_bytes: usize,
    /// What to do with rules that cannot be compiled.
    pub on_invalid: OnInvalid,
    /// Threads compiling shards (0 = one per core).
    pub threads: usize,
    /// Content-addressed cache of compiled shards (`None`: compile everything).
    pub cache_dir: Option<std::path::PathBuf>,
}

/// Default of [`Config::sparse_above`]: dense DFAs up to 256 KiB.
pub const DEFAULT_SPARSE_ABOVE: usize = 256 << 10;

fn ser_kind<S: serde::Serializer>(k: &DfaKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(k.name())
}

impl Default for Config {
    fn default() -> Config {
        Config {
            dfa_kind: DfaKind::Dense,
            sparse_above: Some(DEFAULT_SPARSE_ABOVE),
            prefilter: true,
            shard_rules: 32,
            max_dfa_bytes: 32 << 20,
            max_database_bytes: 512 << 20,
            on_invalid: OnInvalid::Fail,
            threads: 0,
            cache_dir: None,
        }
    }
}

/// A rule that passed the checks.
#[derive(Clone, Debug)]
struct Prepared {
    /// Index in the input order.
    input_index: usize,
    /// The pattern, flags inlined.
    effective: String,
    /// Its exact program (NFA).
    exact_program: Vec<u8>,
    /// What the DFA compiles: the rule reduced to what decides whether it
    /// matches ([`crate::relax::reduced_for_search`]), ASCII-widened when it
    /// has Unicode classes.
    dfa: DfaSource,
    /// `dfa` is ASCII-widened (exact on ASCII input only).
    ascii_widened: bool,
    /// Uses a Unicode word boundary (`\b`, `\B` under Unicode).
    unicode_word_boundary: bool,
    /// How the prefilter handles the rule.
    plan: Plan,
}

/// One compiled shard, as the manifest describes it.
#[derive(Clone, Debug, Serialize)]
pub struct ShardReport {
    /// Rules in the shard.
    pub rules: usize,
    /// `dense` or `sparse`.
    pub kind: &'static str,
    /// Serialized DFA size.
    pub bytes: usize,
    /// The DFA gives up on non-ASCII input; the exact engine answers then.
    pub unicode_word_boundary: bool,
    /// Time to build this shard (0 when it came from the cache).
    pub build_seconds: f64,
    /// Whether the DFA came from the shard cache.
    pub cached: bool,
    /// The DFA over-approximates its rules (bounded repeats widened): the
    /// exact engine confirms each candidate.
    pub approximate: bool,
    /// The DFA runs only when the prefilter finds one of its rule's literals.
    pub triggered: bool,
    /// The DFA runs anchored at each occurrence of its rule's literals.
    pub anchored: bool,
    /// The DFA holds the rule's part after its literal and runs where an
    /// occurrence ends.
    pub after_literal: bool,
    /// The DFA is built from the rules' ASCII-widened form: exact on ASCII
    /// input, confirmed by the exact engine on other input.
    pub ascii_widened: bool,
}

/// Which path each rule takes at match time (input positions of the rules).
#[derive(Clone, Debug, Default)]
pub struct RulePaths {
    /// Decided by the prefilter alone: the rule is a set of literals.
    pub literal: Vec<usize>,
    /// Own DFA, run when the prefilter finds one of the rule's literals.
    pub prefiltered: Vec<usize>,
    /// Of `prefiltered`: every match starts with one of the rule's
    /// literals, so the DFA runs anchored at each occurrence.
    pub anchored: Vec<usize>,
    /// Of `anchored`: the rule is one of its literals followed by a rest,
    /// and only the rest's DFA runs, where the occurrence ends.
    pub after_literal: Vec<usize>,
    /// In a shard that runs on every input (no usable literal).
    pub always: Vec<usize>,
    /// DFA built from the ASCII-widened rule (exact on ASCII input).
    pub ascii_widened: Vec<usize>,
}

/// What [`compile`] produced.
#[derive(Debug)]
pub struct Compiled {
    /// The database bytes, ready to bake.
    pub database: Vec<u8>,
    /// Rules in the database.
    pub rule_count: usize,
    /// Input positions of the rules in the database, in database order.
    pub kept: Vec<usize>,
    /// Input positions of the rules on the approximate-DFA + confirm path.
    pub approximate: Vec<usize>,
    /// Rules left out under [`OnInvalid::Skip`].
    pub skipped: Vec<RowError>,
    /// One entry per shard, in database order.
    pub shards: Vec<ShardReport>,
    /// Which path each kept rule takes.
    pub paths: RulePaths,
    /// Distinct literals in the prefilter.
    pub prefilter_literals: usize,
    /// Wall time of the whole compile.
    pub elapsed: Duration,
}

impl Compiled {
    /// Ids of the rules answered by an approximate DFA plus exact
    /// confirmation (rules whose own DFA was over the size limit).
    pub fn approximate_ids(&self, rules: &[RuleSpec]) -> Vec<serde_json::Value> {
        ids(&self.approximate, rules)
    }

    /// The manifest's `rule_paths`: for each match-time path, how many
    /// rules take it and their ids.
    pub fn paths_json(&self, rules: &[RuleSpec]) -> serde_json::Value {
        let p = &self.paths;
        let entry = |v: &[usize]| serde_json::json!({"count": v.len(), "ids": ids(v, rules)});
        serde_json::json!({
            "literal": entry(&p.literal),
            "prefiltered": entry(&p.prefiltered),
            "anchored": entry(&p.anchored),
            "after_literal": entry(&p.after_literal),
            "always": entry(&p.always),
            "ascii_widened": entry(&p.ascii_widened),
            "approximate": entry(&self.approximate),
            "prefilter_literals": self.prefilter_literals,
        })
    }
}

fn ids(inputs: &[usize], rules: &[RuleSpec]) -> Vec<serde_json::Value> {
    inputs
        .iter()
        .map(|&i| serde_json::from_str(&rules[i].id.to_json()).unwrap())
        .collect()
}

/// A rule that passed [`check_rule`]: what the matcher needs of it.
#[derive(Clone, Debug)]
pub struct CheckedRule {
    /// The pattern with its flags inlined, in the `regex` crate's syntax.
    pub effective: String,
    /// Uses a Unicode word boundary (`\b`, `\B` under Unicode).
    pub unicode_word_boundary: bool,
    /// The rule's exact program ([`dfabake_matcher::exact`]): its NFA,
    /// compiled here once so that no module ever parses a pattern.
    pub exact_program: Vec<u8>,
}

/// Checks one rule and compiles its exact engine, or says why it cannot be.
pub fn check_rule(rule: &RuleSpec) -> Result<CheckedRule, RowError> {
    let err = |reason: String| RowError::new(Some(rule.id.clone()), rule.origin.clone(), reason);
    let mut flags = String::new();
    for (i, c) in rule.flags.chars().enumerate() {
        match c {
            'i' | 'm' | 's' | 'x' => {
                if !flags.contains(c) {
                    flags.push(c);
                }
            }
            _ => {
                return Err(err(format!(
                    "unknown flag {c:?} at position {} of flags {:?} (expected i, m, s or x)",
                    i + 1,
                    rule.flags
                )))
            }
        }
    }
    if rule.pattern.is_empty() {
        return Err(err("empty pattern (it would match every input)".into()));
    }
    let hir = regex_syntax::ParserBuilder::new()
        .utf8(false)
        .case_insensitive(flags.contains('i'))
        .multi_line(flags.contains('m'))
        .dot_matches_new_line(flags.contains('s'))
        .ignore_whitespace(flags.contains('x'))
        .build()
        .parse(&rule.pattern)
        .map_err(|e| {
            let (span, reason) = match &e {
                regex_syntax::Error::Parse(e) => (*e.span(), e.kind().to_string()),
                regex_syntax::Error::Translate(e) => (*e.span(), e.kind().to_string()),
                _ => (
                    regex_syntax::ast::Span::splat(regex_syntax::ast::Position::new(0, 1, 1)),
                    e.to_string(),
                ),
            };
            let pos = Position {
                offset: span.start.offset,
                line: span.start.line,
                column: span.start.column,
            };
            err(reason).at(&rule.pattern, pos)
        })?;
    let effective = if flags.is_empty() {
        rule.pattern.clone()
    } else {
        // A newline keeps a trailing `#` comment of verbose mode from
        // swallowing anything after it.
        format!(
            "(?{flags}){}{}",
            rule.pattern,
            if flags.contains('x') { "\n" } else { "" }
        )
    };
    let exact_program = dfabake_matcher::exact::compile(&effective)
        .map_err(|e| err(format!("pattern too large to compile: {e}")))?;
    let unicode_word_boundary = hir.properties().look_set().contains_word_unicode();
    Ok(CheckedRule { effective, unicode_word_boundary, exact_program })
}

/// What a rule's DFA is built from: a HIR (never printed and re-parsed: the
/// printed form of a rewritten HIR is not always faithful), whether the DFA
/// is searched anchored ([`Plan::Anchored`]: anchored start states only) or
/// unanchored, and a text of both, which keys the shard cache.
#[derive(Clone, Debug)]
struct DfaSource {
    hir: Hir,
    anchored: bool,
    key: String,
}

impl DfaSource {
    fn new(hir: Hir, anchored: bool) -> DfaSource {
        let key = if anchored { format!("anchored {hir:?}") } else { format!("{hir:?}") };
        DfaSource { hir, anchored, key }
    }
}

/// Why a DFA was not built.
#[derive(Debug)]
enum DfaError {
    /// Over `--max-dfa-bytes`.
    SizeLimit,
    Other(String),
}

fn dfa_error(e: dense::BuildError) -> DfaError {
    if e.is_size_limit_exceeded() {
        DfaError::SizeLimit
    } else {
        DfaError::Other(e.to_string())
    }
}

fn build_dfa(hirs: &[&Hir], anchored: bool, cfg: &Config) -> Result<(DfaKind, Vec<u8>), DfaError> {
    let nfa = thompson::Compiler::new()
        .configure(
            thompson::Config::new()
                .utf8(false)
                .which_captures(thompson::WhichCaptures::None),
        )
        .build_many_from_hir(hirs)
        .map_err(|e| DfaError::Other(e.to_string()))?;
    let dfa = dense::Builder::new()
        .configure(
            dense::Config::new()
                .match_kind(MatchKind::All)
                // An anchored DFA lacks the unanchored `.*?` prefix: fewer
                // states, and a search stops where the match can no longer
                // start at the literal.
                .start_kind(if anchored { StartKind::Anchored } else { StartKind::Unanchored })
                .unicode_word_boundary(true)
                .dfa_size_limit(Some(cfg.max_dfa_bytes))
                .determinize_size_limit(Some(cfg.max_dfa_bytes)),
        )
        .build_from_nfa(&nfa)
        .map_err(dfa_error)?;
    let kind = match (cfg.dfa_kind, cfg.sparse_above) {
        (DfaKind::Dense, Some(limit)) if dfa.write_to_len() > limit => DfaKind::Sparse,
        (kind, _) => kind,
    };
    Ok(match kind {
        DfaKind::Dense => {
            let mut buf = vec![0; dfa.write_to_len()];
            dfa.write_to_little_endian(&mut buf)
                .expect("buffer sized by write_to_len");
            (kind, buf)
        }
        DfaKind::Sparse => {
            let sparse = dfa.to_sparse().map_err(dfa_error)?;
            let mut buf = vec![0; sparse.write_to_len()];
            sparse
                .write_to_little_endian(&mut buf)
                .expect("buffer sized by write_to_len");
            (kind, buf)
        }
    })
}

struct BuiltShard {
    members: Vec<usize>,
    kind: DfaKind,
    dfa: Vec<u8>,
    seconds: f64,
    cached: bool,
    /// The DFA over-approximates (widened repeats): confirm its matches.
    confirm: bool,
}

/// Compiles every chunk of prepared rules, splitting chunks whose DFA is over
/// the limit. Returns built shards and the rules too big on their own.
fn build_shards(
    chunks: Vec<Vec<usize>>,
    sources: &[DfaSource],
    cfg: &Config,
    cache: Option<&ShardCache>,
) -> (Vec<BuiltShard>, Vec<(usize, String)>) {
    let queue = Mutex::new(VecDeque::from(chunks));
    let pending = Mutex::new(queue.lock().unwrap().len());
    let built = Mutex::new(Vec::new());
    let too_big = Mutex::new(Vec::new());
    // DFAs compiled in this build by key: many rules share the same rest
    // after their literal (`/\d`), which is compiled once.
    // A copy counts as cached when the original came from the cache.
    let compiled: Mutex<std::collections::HashMap<String, (DfaKind, Vec<u8>, bool)>> = Mutex::default();
    let threads = if cfg.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        cfg.threads
    };
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let Some(chunk) = queue.lock().unwrap().pop_front() else {
                    if *pending.lock().unwrap() == 0 {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(2));
                    continue;
                };
                let t = Instant::now();
                let keys: Vec<&str> = chunk.iter().map(|&p| sources[p].key.as_str()).collect();
                let hirs: Vec<&Hir> = chunk.iter().map(|&p| &sources[p].hir).collect();
                let key = ShardCache::key(&keys, cfg.dfa_kind, cfg.sparse_above, cfg.max_dfa_bytes);
                // Where the DFA came from: compiled now, the shard cache, or
                // this build, for another shard (from the cache or not).
                #[derive(PartialEq)]
                enum From { Built, Cache, ThisBuild(bool) }
                let known = compiled.lock().unwrap().get(&key).cloned();
                let result = match known {
                    Some((kind, dfa, cached)) => Ok((kind, dfa, From::ThisBuild(cached))),
                    None => match cache.and_then(|c| c.get(&key)) {
                        Some(Entry::Dfa(kind, dfa)) => Ok((kind, dfa, From::Cache)),
                        Some(Entry::TooBig) => Err(None),
                        None => build_dfa(&hirs, sources[chunk[0]].anchored, cfg)
                            .map(|(k, d)| (k, d, From::Built))
                            .map_err(Some),
                    },
                };
                if let Ok((kind, dfa, from @ (From::Built | From::Cache))) = &result {
                    compiled.lock().unwrap().insert(key.clone(), (*kind, dfa.clone(), *from == From::Cache));
                }
                if let Some(c) = cache {
                    match &result {
                        Ok((kind, dfa, From::Built)) => c.put(&key, &Entry::Dfa(*kind, dfa.clone())),
                        Err(Some(DfaError::SizeLimit)) => c.put(&key, &Entry::TooBig),
                        _ => {}
                    }
                }
                let over_limit = |e: &Option<DfaError>| matches!(e, None | Some(DfaError::SizeLimit));
                match result {
                    Ok((kind, dfa, from)) => {
                        let seconds = if from == From::Built { t.elapsed().as_secs_f64() } else { 0.0 };
                        let cached = matches!(from, From::Cache | From::ThisBuild(true));
                        built.lock().unwrap().push(BuiltShard {
                            confirm: false, members: chunk, kind, dfa, seconds, cached });
                    }
                    Err(e) if chunk.len() > 1 && over_limit(&e) => {
                        let mut q = queue.lock().unwrap();
                        let (a, b) = chunk.split_at(chunk.len() / 2);
                        q.push_back(a.to_vec());
                        q.push_back(b.to_vec());
                        *pending.lock().unwrap() += 2;
                    }
                    Err(e) => {
                        let why = if over_limit(&e) {
                            format!(
                                "the DFA for this rule alone exceeds the limit of {} bytes \
                                 (--max-dfa-bytes); simplify large bounded repeats such as .{{0,200}}",
                                cfg.max_dfa_bytes
                            )
                        } else {
                            match e {
                                Some(DfaError::Other(why)) => format!("cannot build a DFA: {why}"),
                                _ => unreachable!("size limit errors are handled above"),
                            }
                        };
                        too_big.lock().unwrap().push((chunk[0], why));
                    }
                }
                *pending.lock().unwrap() -= 1;
            });
        }
    });
    (built.into_inner().unwrap(), too_big.into_inner().unwrap())
}

/// Groups rules needing a DFA into chunks to compile: a prefiltered rule
/// alone (its DFA runs when its literals occur), the others in content-defined
/// shards of at most `shard_rules`, kept apart by how their DFA behaves
/// (Unicode word boundary, ASCII-widened), so that a shard's flags hold for
/// all its rules.
fn make_chunks(
    members: &[usize],
    prepared: &[Prepared],
    sources: &[DfaSource],
    shard_rules: usize,
) -> Vec<Vec<usize>> {
    let mut chunks = Vec::new();
    for uwb in [false, true] {
        for wide in [false, true] {
            let group: Vec<usize> = members
                .iter()
                .copied()
                .filter(|&p| {
                    let r = &prepared[p];
                    r.plan == Plan::Always && r.unicode_word_boundary == uwb && r.ascii_widened == wide
                })
                .collect();
            chunks.extend(chunk(&group, |p| pattern_hash(&sources[p].key), shard_rules));
        }
    }
    chunks.extend(
        members
            .iter()
            .filter(|&&p| {
                matches!(prepared[p].plan, Plan::Triggered(_) | Plan::Anchored(_) | Plan::AfterLiteral(..))
            })
            .map(|&p| vec![p]),
    );
    chunks
}

/// Checks one rule and works out how its DFA and the prefilter handle it.
fn prepare(input_index: usize, rule: &RuleSpec, cfg: &Config) -> Result<Prepared, RowError> {
    let CheckedRule { effective, unicode_word_boundary, exact_program } = check_rule(rule)?;
    let hir = regex_syntax::ParserBuilder::new()
        .utf8(false)
        .build()
        .parse(&effective)
        .expect("check_rule parsed this pattern");
    // `any` and `all` only ask whether a rule matches: DFAs and literals
    // come from the part of the rule that decides it.
    let hir = crate::relax::reduced_for_search(&hir);
    let plan = if cfg.prefilter {
        crate::literals::plan(&hir)
    } else {
        Plan::Always
    };
    // After a literal, the DFA holds only the rest of the rule: the literal
    // occurrence decided its first part.
    let (hir, anchored) = match &plan {
        Plan::AfterLiteral(_, rest, _) => (rest.clone(), true),
        Plan::Anchored(_) => (hir, true),
        _ => (hir, false),
    };
    let widened = crate::relax::ascii_widened(&hir);
    Ok(Prepared {
        input_index,
        ascii_widened: widened.is_some(),
        dfa: DfaSource::new(widened.unwrap_or(hir), anchored),
        effective,
        exact_program,
        unicode_word_boundary,
        plan,
    })
}

/// Compiles rules (in priority order) into a database.
///
/// ```
/// use dfabake::compile::{compile, Config};
/// use dfabake::rules::{RuleId, RuleSpec};
///
/// let rules = vec![RuleSpec::new(RuleId::Int(1), "bot"), RuleSpec::new(RuleId::Int(2), r"\d+")];
/// let compiled = compile(&rules, &Config::default(), "example").unwrap();
/// assert_eq!(compiled.rule_count, 2);
/// ```
pub fn compile(rules: &[RuleSpec], cfg: &Config, source: &str) -> Result<Compiled, BuildError> {
    let start = Instant::now();
    let mut errors: Vec<(usize, RowError)> = duplicate_ids(rules);
    // Checking a rule builds its exact engine once: spread over the cores.
    let duplicates: std::collections::HashSet<usize> = errors.iter().map(|(i, _)| *i).collect();
    let threads = if cfg.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        cfg.threads
    };
    let per_thread = rules.len().div_ceil(threads).max(1);
    let checked: Vec<(usize, Result<Prepared, RowError>)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..rules.len())
            .step_by(per_thread)
            .map(|from| {
                let duplicates = &duplicates;
                s.spawn(move || {
                    (from..(from + per_thread).min(rules.len()))
                        .filter(|i| !duplicates.contains(i))
                        .map(|i| (i, prepare(i, &rules[i], cfg)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("rule checking thread")).collect()
    });
    let mut prepared = Vec::with_capacity(rules.len());
    for (i, result) in checked {
        match result {
            Ok(p) => prepared.push(p),
            Err(e) => errors.push((i, e)),
        }
    }
    let cache = cfg
        .cache_dir
        .as_deref()
        .and_then(|dir| match ShardCache::open(dir) {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!(
                    "dfabake: warning: shard cache {} unusable, compiling everything: {e}",
                    dir.display()
                );
                None
            }
        });
    let needs_dfa: Vec<usize> = (0..prepared.len())
        .filter(|&p| !matches!(prepared[p].plan, Plan::Complete(_)))
        .collect();
    let sources: Vec<DfaSource> = prepared.iter().map(|p| p.dfa.clone()).collect();
    let chunks = make_chunks(&needs_dfa, &prepared, &sources, cfg.shard_rules);
    let (mut built, too_big) = build_shards(chunks, &sources, cfg, cache.as_ref());
    // A rule too big alone gets a second chance: a DFA of its widened form
    // filters, and its exact engine confirms the candidates.
    let mut widened: Vec<DfaSource> = sources.clone();
    let mut confirm_members = Vec::new();
    let mut too_big_rows = Vec::new();
    for (p, why) in too_big {
        match crate::relax::widened_hir(&prepared[p].dfa.hir) {
            Some(w) => {
                widened[p] = DfaSource::new(w, prepared[p].dfa.anchored);
                confirm_members.push(p);
            }
            None => too_big_rows.push((p, why)),
        }
    }
    confirm_members.sort_unstable();
    if !confirm_members.is_empty() {
        let chunks = make_chunks(&confirm_members, &prepared, &widened, cfg.shard_rules);
        let (more, still_too_big) = build_shards(chunks, &widened, cfg, cache.as_ref());
        built.extend(more.into_iter().map(|s| BuiltShard { confirm: true, ..s }));
        too_big_rows.extend(still_too_big.into_iter().map(|(p, why)| {
            (
                p,
                format!("{why} (even with its bounded repeats widened for an approximate DFA)"),
            )
        }));
    }
    for (p, why) in too_big_rows {
        let rule = &rules[prepared[p].input_index];
        errors.push((
            prepared[p].input_index,
            RowError::new(Some(rule.id.clone()), rule.origin.clone(), why),
        ));
    }
    errors.sort_by_key(|(i, _)| *i);
    if !errors.is_empty() && cfg.on_invalid == OnInvalid::Fail {
        return Err(BuildError::InvalidRows(
            errors.into_iter().map(|(_, e)| e).collect(),
        ));
    }
    // Rules keep their relative order; indices are renumbered densely over
    // what is kept. No shard holds a skipped rule: invalid rules never reach
    // a shard, and a rule too big alone was split away from its shard.
    let skipped_inputs: std::collections::HashSet<usize> =
        errors.iter().map(|(i, _)| *i).collect();
    let keep: Vec<usize> = (0..prepared.len())
        .filter(|&p| !skipped_inputs.contains(&prepared[p].input_index))
        .collect();
    if keep.is_empty() {
        return Err(BuildError::NoRules {
            source: source.to_string(),
            skipped: errors.len(),
        });
    }
    let mut new_index = vec![u32::MAX; prepared.len()];
    for (n, &p) in keep.iter().enumerate() {
        new_index[p] = n as u32;
    }
    let mut writer = DatabaseWriter::new();
    let mut id_json = Vec::with_capacity(keep.len());
    let mut paths = RulePaths::default();
    let mut literals = std::collections::HashSet::new();
    for &p in &keep {
        let prep = &prepared[p];
        let rule = &rules[prep.input_index];
        let payload = rule.payload.as_ref().map(|v| v.to_string());
        id_json.push(rule.id.to_json());
        writer.push_rule(RuleEntry {
            id_json: id_json.last().unwrap(),
            payload_json: payload.as_deref(),
            pattern: &prep.effective,
            exact: &prep.exact_program,
        });
        match &prep.plan {
            Plan::Complete(lits) => {
                paths.literal.push(prep.input_index);
                for lit in lits {
                    literals.insert(lit.clone());
                    writer.push_literal(lit.clone(), Target::Rule(new_index[p]));
                }
            }
            Plan::Triggered(_) => paths.prefiltered.push(prep.input_index),
            Plan::Anchored(_) => {
                paths.prefiltered.push(prep.input_index);
                paths.anchored.push(prep.input_index);
            }
            Plan::AfterLiteral(..) => {
                paths.prefiltered.push(prep.input_index);
                paths.anchored.push(prep.input_index);
                paths.after_literal.push(prep.input_index);
            }
            Plan::Always => paths.always.push(prep.input_index),
        }
        if prep.ascii_widened && !matches!(prep.plan, Plan::Complete(_)) {
            paths.ascii_widened.push(prep.input_index);
        }
    }
    let approximate_inputs: Vec<usize> = built
        .iter()
        .filter(|s| s.confirm)
        .flat_map(|s| s.members.iter().map(|&p| prepared[p].input_index))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    built.sort_by_key(|s| new_index[s.members[0]]);
    let mut shards = Vec::new();
    let mut db_estimate = 0usize;
    for s in built {
        let rules: Vec<u32> = s.members.iter().map(|&p| new_index[p]).collect();
        let uwb = s.members.iter().any(|&p| prepared[p].unicode_word_boundary);
        let wide = s.members.iter().any(|&p| prepared[p].ascii_widened);
        let trigger = match &prepared[s.members[0]].plan {
            Plan::Triggered(lits) | Plan::Anchored(lits) | Plan::AfterLiteral(lits, ..) => Some(lits.clone()),
            _ => None,
        };
        let anchored = s.members.iter().all(|&p| prepared[p].dfa.anchored);
        let after_literal = s.members.iter().all(|&p| matches!(prepared[p].plan, Plan::AfterLiteral(..)));
        let at_start = s.members.iter().all(|&p| matches!(prepared[p].plan, Plan::AfterLiteral(_, _, true)));
        db_estimate += s.dfa.len();
        shards.push(ShardReport {
            rules: rules.len(),
            kind: s.kind.name(),
            bytes: s.dfa.len(),
            unicode_word_boundary: uwb,
            build_seconds: s.seconds,
            cached: s.cached,
            approximate: s.confirm,
            triggered: trigger.is_some(),
            anchored,
            after_literal,
            ascii_widened: wide,
        });
        let flags = [
            (uwb, SHARD_MAY_QUIT),
            (s.confirm, SHARD_CONFIRM),
            (trigger.is_some(), SHARD_TRIGGERED),
            (wide, SHARD_ASCII_EXACT),
            (anchored, SHARD_ANCHORED),
            (after_literal, SHARD_AFTER_LITERAL),
            (at_start, SHARD_AT_START),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .fold(0, |acc, (_, f)| acc | f);
        let number = writer.push_shard(s.kind, flags, s.dfa, rules);
        for lit in trigger.into_iter().flatten() {
            literals.insert(lit.clone());
            writer.push_literal(lit, Target::Shard(number));
        }
    }
    if db_estimate > cfg.max_database_bytes {
        return Err(BuildError::TooLarge {
            bytes: db_estimate,
            limit: cfg.max_database_bytes,
        });
    }
    let database = writer.finish();
    if database.len() > cfg.max_database_bytes {
        return Err(BuildError::TooLarge {
            bytes: database.len(),
            limit: cfg.max_database_bytes,
        });
    }
    Ok(Compiled {
        database,
        rule_count: keep.len(),
        kept: keep.iter().map(|&p| prepared[p].input_index).collect(),
        approximate: approximate_inputs,
        skipped: errors.into_iter().map(|(_, e)| e).collect(),
        shards,
        paths,
        prefilter_literals: literals.len(),
        elapsed: start.elapsed(),
    })
}
