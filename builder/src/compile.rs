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
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use dfabake_matcher::format::{
    DatabaseWriter, DfaKind, RuleEntry, ShardFlags,
};
use dfabake_matcher::prefilter::Target;
use regex_automata::dfa::{dense, StartKind};
use regex_automata::nfa::thompson;
use regex_syntax::hir::{Hir, HirKind};
use regex_automata::MatchKind;
use serde::{Deserialize, Serialize};

use crate::error::{BuildError, Position, RowError};
use crate::literals::Plan;
use crate::manifest::{Decomposed, DecomposedRule, ExactOnly, ExactOnlyRule, RuleIds, RulePathsEntry};
use crate::progress::{Progress, Silent};
use crate::rules::{duplicate_ids, RuleId, RuleSpec};
use crate::shard_cache::{chunk, pattern_hash, Entry, ShardCache};

/// What to do with rules that cannot be compiled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnInvalid {
    /// Fail the build, listing every bad rule.
    Fail,
    /// Build the other rules; the skipped ones are listed in the manifest.
    Skip,
}

/// Options for [`compile`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Config {
    /// Dense DFAs search fastest; sparse ones are several times smaller.
    #[serde(serialize_with = "ser_kind", deserialize_with = "de_kind")]
    pub dfa_kind: DfaKind,
    /// With [`DfaKind::Dense`]: a DFA whose dense form is bigger than this
    /// is stored sparse (`None`: always dense).
    pub sparse_above: Option<usize>,
    /// Extract required literals into a prefilter, so that only the DFAs
    /// of rules whose literals occur run (and pure-literal rules need none).
    pub prefilter: bool,
    /// Most rules in one shard DFA.
    pub shard_rules: usize,
    /// Largest DFA (and determinizer working memory) of a shard of several
    /// rules, in bytes: a shard over it is split in two.
    pub max_dfa_bytes: usize,
    /// Largest DFA of one rule, or of one branch of a rule decomposed at its
    /// top-level alternation, in bytes. Past it the DFA is built from the
    /// rule's widened form (the exact engine confirms its candidates), and
    /// past it again the rule is answered by its exact engine alone. Small,
    /// so that an attempt that would blow up is abandoned in milliseconds.
    pub max_rule_dfa_bytes: usize,
    /// Largest database, in bytes.
    pub max_database_bytes: usize,
    /// What to do with rules that cannot be compiled.
    pub on_invalid: OnInvalid,
    /// Threads compiling shards (0 = one per core).
    pub threads: usize,
    /// Content-addressed cache of compiled shards (`None`: compile everything).
    /// Written to the manifest in `~/` form when under the home directory:
    /// a manifest travels with its module, the user's home path need not.
    #[serde(serialize_with = "ser_cache_dir")]
    pub cache_dir: Option<std::path::PathBuf>,
}

/// Default of [`Config::sparse_above`]: dense DFAs up to 256 KiB.
pub const DEFAULT_SPARSE_ABOVE: usize = 256 << 10;

fn ser_kind<S: serde::Serializer>(k: &DfaKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(k.name())
}

fn de_kind<'de, D: serde::Deserializer<'de>>(d: D) -> Result<DfaKind, D::Error> {
    let name = String::deserialize(d)?;
    dfa_kind_named(&name).ok_or_else(|| serde::de::Error::custom(format!("unknown DFA kind {name:?}")))
}

fn dfa_kind_named(name: &str) -> Option<DfaKind> {
    [DfaKind::Dense, DfaKind::Sparse, DfaKind::Exact].into_iter().find(|k| k.name() == name)
}

fn ser_cache_dir<S: serde::Serializer>(dir: &Option<std::path::PathBuf>, s: S) -> Result<S::Ok, S::Error> {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty()).map(std::path::PathBuf::from);
    match (dir, home) {
        (None, _) => s.serialize_none(),
        (Some(dir), Some(home)) if dir.starts_with(&home) && home.parent().is_some() => {
            let rest = dir.strip_prefix(&home).unwrap();
            s.serialize_str(&format!("~/{}", rest.display()))
        }
        (Some(dir), _) => dir.serialize(s),
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            dfa_kind: DfaKind::Dense,
            sparse_above: Some(DEFAULT_SPARSE_ABOVE),
            prefilter: true,
            shard_rules: 32,
            max_dfa_bytes: 8 << 20,
            max_rule_dfa_bytes: 256 << 10,
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
    /// Split at its top-level alternation: its units are its branches.
    decomposed: bool,
}

/// What the prefilter and one DFA handle: a whole rule or, for a rule
/// decomposed at its top-level alternation, one branch of it (the rule
/// matches wherever one of its branches does). A rule's branches with no
/// usable literal stay together in one unit, so that no shard holds a rule
/// twice.
#[derive(Clone, Debug)]
struct Unit {
    /// Index of the unit's rule in the prepared rules.
    rule: usize,
    /// How the prefilter handles the unit.
    plan: Plan,
    /// What the DFA compiles: the unit reduced to what decides whether it
    /// matches ([`crate::relax::reduced_for_search`]), after its literal for
    /// [`Plan::AfterLiteral`], ASCII-widened when it has Unicode classes.
    dfa: DfaSource,
    /// `dfa` is ASCII-widened (exact on ASCII input only).
    ascii_widened: bool,
    /// `dfa` uses a Unicode word boundary (`\b`, `\B` under Unicode).
    unicode_word_boundary: bool,
    /// For a branch of a decomposed rule: the branch's own exact program,
    /// which confirms its shard's candidates (a fraction of the rule's).
    program: Option<Vec<u8>>,
}

/// One compiled shard, as the manifest describes it.
#[derive(Clone, Debug)]
pub struct ShardReport {
    /// Rules in the shard.
    pub rules: usize,
    /// `dense`, `sparse` or `exact` ([`DfaKind::name`]).
    pub kind: &'static str,
    /// Serialized DFA size.
    pub bytes: usize,
    /// Time to build this shard (0 when it came from the cache).
    pub build_seconds: f64,
    /// Whether the DFA came from the shard cache.
    pub cached: bool,
    /// How the shard runs, as its database record says; each flag is a key
    /// of its own in the manifest, named as in the format
    /// ([`ShardFlags::NAMES`]), but for [`UNREPORTED_FLAGS`].
    pub flags: ShardFlags,
}

/// Shard flags the manifest does not list (`at_start` follows from the
/// rule's pattern, `^` before its literal).
pub const UNREPORTED_FLAGS: &[&str] = &["at_start"];

impl Serialize for ShardReport {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("rules", &self.rules)?;
        m.serialize_entry("kind", self.kind)?;
        m.serialize_entry("bytes", &self.bytes)?;
        m.serialize_entry("build_seconds", &self.build_seconds)?;
        m.serialize_entry("cached", &self.cached)?;
        for (name, on) in self.flags.named().filter(|(name, _)| !UNREPORTED_FLAGS.contains(name)) {
            m.serialize_entry(name, &on)?;
        }
        m.end()
    }
}

impl<'de> serde::Deserialize<'de> for ShardReport {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let map = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
        let field = |key: &str| map.get(key).ok_or_else(|| D::Error::custom(format!("shard entry without {key}")));
        let number = |key: &str| field(key)?.as_u64().ok_or_else(|| D::Error::custom(format!("shard {key} is not a count")));
        let flag = |key: &str| Ok::<_, D::Error>(map.get(key).and_then(|v| v.as_bool()).unwrap_or(false));
        let kind = field("kind")?.as_str().unwrap_or_default();
        let kind = dfa_kind_named(kind)
            .ok_or_else(|| D::Error::custom(format!("unknown shard kind {kind:?}")))?;
        let mut bits = 0;
        for (bit, name) in ShardFlags::NAMES.iter().enumerate() {
            bits |= u32::from(flag(name)?) << bit;
        }
        Ok(ShardReport {
            rules: number("rules")? as usize,
            kind: kind.name(),
            bytes: number("bytes")? as usize,
            build_seconds: field("build_seconds")?.as_f64().unwrap_or_default(),
            cached: flag("cached")?,
            flags: ShardFlags::from_bits(bits).map_err(D::Error::custom)?,
        })
    }
}

/// Which path each rule takes at match time (input positions of the rules,
/// ascending). A decomposed rule is listed under each path one of its
/// branches takes.
#[derive(Clone, Debug, Default)]
pub struct RulePaths {
    /// Split at their top-level alternation into branches, each with its own
    /// literals and DFA; with how many units each got.
    pub decomposed: Vec<(usize, usize)>,
    /// Answered by the exact engine alone (when the prefilter finds one of
    /// the unit's literals, or on every input without one), and why: even
    /// its widened DFA was over `--max-rule-dfa-bytes`.
    pub exact_only: Vec<(usize, String)>,
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
    /// What went wrong without failing the build (an unusable shard
    /// cache), for the caller to show.
    pub warnings: Vec<String>,
}

impl Compiled {
    /// Ids of the rules answered by an approximate DFA plus exact
    /// confirmation (rules whose own DFA was over the size limit).
    pub fn approximate_ids(&self, rules: &[RuleSpec]) -> Vec<RuleId> {
        ids(&self.approximate, rules)
    }

    /// The manifest's `rule_paths`: for each match-time path, how many
    /// rules take it and their ids.
    pub fn rule_paths(&self, rules: &[RuleSpec]) -> RulePathsEntry {
        let p = &self.paths;
        let entry = |v: &[usize]| RuleIds { count: v.len(), ids: ids(v, rules) };
        let exact_only: Vec<usize> = p
            .exact_only
            .iter()
            .map(|(i, _)| *i)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        RulePathsEntry {
            literal: entry(&p.literal),
            prefiltered: entry(&p.prefiltered),
            anchored: entry(&p.anchored),
            after_literal: entry(&p.after_literal),
            always: entry(&p.always),
            ascii_widened: entry(&p.ascii_widened),
            approximate: entry(&self.approximate),
            decomposed: Decomposed {
                count: p.decomposed.len(),
                rules: p
                    .decomposed
                    .iter()
                    .map(|&(i, units)| DecomposedRule { id: rules[i].id.clone(), units })
                    .collect(),
            },
            exact_only: ExactOnly {
                count: exact_only.len(),
                ids: ids(&exact_only, rules),
                why: p
                    .exact_only
                    .iter()
                    .map(|(i, why)| ExactOnlyRule { id: rules[*i].id.clone(), reason: why.clone() })
                    .collect(),
            },
            prefilter_literals: self.prefilter_literals,
        }
    }
}

fn ids(inputs: &[usize], rules: &[RuleSpec]) -> Vec<RuleId> {
    inputs.iter().map(|&i| rules[i].id.clone()).collect()
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

fn build_dfa(hirs: &[&Hir], anchored: bool, limit: usize, cfg: &Config) -> Result<(DfaKind, Vec<u8>), DfaError> {
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
                .dfa_size_limit(Some(limit))
                .determinize_size_limit(Some(limit)),
        )
        .build_from_nfa(&nfa)
        .map_err(dfa_error)?;
    let kind = match (cfg.dfa_kind, cfg.sparse_above) {
        (DfaKind::Dense, Some(limit)) if dfa.write_to_len() > limit => DfaKind::Sparse,
        (DfaKind::Exact, _) => unreachable!("no DFA is built for exact-only shards"),
        (kind, _) => kind,
    };
    Ok(match kind {
        DfaKind::Dense => {
            let mut buf = vec![0; dfa.write_to_len()];
            dfa.write_to_little_endian(&mut buf)
                .expect("buffer sized by write_to_len");
            (kind, buf)
        }
        DfaKind::Exact => unreachable!("chosen above"),
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

/// The DFA size limit of a chunk: a unit alone has its own, smaller limit.
fn chunk_limit(chunk_len: usize, cfg: &Config) -> usize {
    if chunk_len == 1 {
        cfg.max_rule_dfa_bytes
    } else {
        cfg.max_dfa_bytes
    }
}

/// The chunks left to build, shared by the [`build_shards`] workers.
struct Work {
    queue: VecDeque<Vec<usize>>,
    pending: usize,
}

/// Compiles every chunk of units, splitting chunks whose DFA is over the
/// limit. Returns built shards and the units too big on their own.
fn build_shards(
    chunks: Vec<Vec<usize>>,
    sources: &[DfaSource],
    cfg: &Config,
    cache: Option<&ShardCache>,
    progress: &dyn Progress,
) -> (Vec<BuiltShard>, Vec<(usize, String)>) {
    // `pending` counts chunks queued or being built: a worker finding the
    // queue empty waits while another may still split its chunk in two.
    let pending = chunks.len();
    let work = Mutex::new(Work { queue: VecDeque::from(chunks), pending });
    let changed = Condvar::new();
    let built = Mutex::new(Vec::new());
    let too_big = Mutex::new(Vec::new());
    // DFAs compiled in this build by key: many rules share the same rest
    // after their literal (`/\d`), which is compiled once.
    // A copy counts as cached when the original came from the cache.
    let compiled: Mutex<std::collections::HashMap<String, (DfaKind, Vec<u8>, bool)>> = Mutex::default();
    std::thread::scope(|s| {
        for _ in 0..thread_count(cfg) {
            s.spawn(|| loop {
                let chunk = {
                    let mut work = work.lock().unwrap();
                    loop {
                        if let Some(chunk) = work.queue.pop_front() {
                            break chunk;
                        }
                        if work.pending == 0 {
                            return;
                        }
                        work = changed.wait(work).unwrap();
                    }
                };
                let t = Instant::now();
                let keys: Vec<&str> = chunk.iter().map(|&p| sources[p].key.as_str()).collect();
                let hirs: Vec<&Hir> = chunk.iter().map(|&p| &sources[p].hir).collect();
                let limit = chunk_limit(chunk.len(), cfg);
                let key = ShardCache::key(&keys, cfg.dfa_kind, cfg.sparse_above, limit);
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
                        None => build_dfa(&hirs, sources[chunk[0]].anchored, limit, cfg)
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
                        let mut work = work.lock().unwrap();
                        let (a, b) = chunk.split_at(chunk.len() / 2);
                        work.queue.push_back(a.to_vec());
                        work.queue.push_back(b.to_vec());
                        work.pending += 2;
                        progress.add_total(2);
                    }
                    Err(e) => {
                        let why = if over_limit(&e) {
                            format!(
                                "its DFA alone exceeds {} bytes (--max-rule-dfa-bytes)",
                                limit
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
                {
                    let mut work = work.lock().unwrap();
                    work.pending -= 1;
                    // Wakes waiters for the halves pushed above, or to return.
                    changed.notify_all();
                }
                progress.advance(1);
            });
        }
    });
    // Threads finish in any order; the database must not depend on it.
    let mut built = built.into_inner().unwrap();
    built.sort_by(|a, b| a.members.cmp(&b.members));
    let mut too_big = too_big.into_inner().unwrap();
    too_big.sort();
    (built, too_big)
}

/// Groups units needing a DFA into chunks to compile: a prefiltered unit
/// alone (its DFA runs when its literals occur), the others in
/// content-defined shards of at most `shard_rules`, kept apart by how their
/// DFA behaves (Unicode word boundary, ASCII-widened), so that a shard's
/// flags hold for all its units.
fn make_chunks(members: &[usize], units: &[Unit], sources: &[DfaSource], shard_rules: usize) -> Vec<Vec<usize>> {
    let mut chunks = Vec::new();
    for uwb in [false, true] {
        for wide in [false, true] {
            let group: Vec<usize> = members
                .iter()
                .copied()
                .filter(|&u| {
                    let unit = &units[u];
                    unit.plan == Plan::Always && unit.unicode_word_boundary == uwb && unit.ascii_widened == wide
                })
                .collect();
            chunks.extend(chunk(&group, |u| pattern_hash(&sources[u].key), shard_rules));
        }
    }
    chunks.extend(
        members
            .iter()
            .filter(|&&u| matches!(units[u].plan, Plan::Triggered(_) | Plan::Anchored(_) | Plan::AfterLiteral(..)))
            .map(|&u| vec![u]),
    );
    chunks
}

/// Checks one rule; returns it with its HIR reduced to what decides whether
/// it matches (`any` and `all` ask nothing else: DFAs and literals come from
/// that part).
fn prepare(input_index: usize, rule: &RuleSpec) -> Result<(Prepared, Hir), RowError> {
    let CheckedRule { effective, exact_program, .. } = check_rule(rule)?;
    let hir = regex_syntax::ParserBuilder::new()
        .utf8(false)
        .build()
        .parse(&effective)
        .expect("check_rule parsed this pattern");
    let reduced = crate::relax::reduced_for_search(&hir);
    Ok((Prepared { input_index, effective, exact_program, decomposed: false }, reduced))
}

/// The exact program of a branch (its reduced HIR: no captures, which only
/// `first` asks of the whole rule).
fn branch_program(hir: &Hir) -> Option<Vec<u8>> {
    let nfa = thompson::Compiler::new()
        .configure(thompson::Config::new().utf8(false).shrink(false).nfa_size_limit(Some(10 << 20)))
        .build_from_hir(hir)
        .ok()?;
    dfabake_matcher::exact::encode(&nfa).ok()
}

/// A unit of rule `rule` for the reduced HIR `hir` and its plan; `branch`
/// when the rule is decomposed.
fn unit(rule: usize, hir: Hir, plan: Plan, branch: bool) -> Unit {
    let program = (branch && !matches!(plan, Plan::Complete(_))).then(|| branch_program(&hir)).flatten();
    // After a literal, the DFA holds only the rest of the rule: the literal
    // occurrence decided its first part.
    let (hir, anchored) = match &plan {
        Plan::AfterLiteral(_, rest, _) => (rest.clone(), true),
        Plan::Anchored(_) => (hir, true),
        _ => (hir, false),
    };
    let unicode_word_boundary = hir.properties().look_set().contains_word_unicode();
    let widened = crate::relax::ascii_widened(&hir);
    Unit {
        rule,
        plan,
        ascii_widened: widened.is_some(),
        unicode_word_boundary,
        dfa: DfaSource::new(widened.unwrap_or(hir), anchored),
        program,
    }
}

/// Most branches a rule is decomposed into.
const MAX_BRANCHES: usize = 1024;

/// The branches of a top-level alternation, `A|B|C`, or of one inside a
/// concatenation, `P(?:A|B|C)S` → `PAS`, `PBS`, `PCS` (the widest one when
/// there are several): the rule matches wherever one of them does.
fn branches(h: &Hir) -> Option<Vec<Hir>> {
    let found = match h.kind() {
        HirKind::Alternation(bs) => bs.clone(),
        HirKind::Concat(xs) => {
            let widest = xs
                .iter()
                .enumerate()
                .filter_map(|(i, x)| match x.kind() {
                    HirKind::Alternation(bs) => Some((bs.len(), std::cmp::Reverse(i))),
                    _ => None,
                })
                .max()?;
            let i = widest.1 .0;
            let HirKind::Alternation(bs) = xs[i].kind() else { unreachable!("found above") };
            bs.iter()
                .map(|b| Hir::concat([&xs[..i], std::slice::from_ref(b), &xs[i + 1..]].concat()))
                .collect()
        }
        _ => return None,
    };
    (2..=MAX_BRANCHES).contains(&found.len()).then_some(found)
}

/// Splits rules into units and plans each one's literals.
///
/// A rule whose reduced form is an alternation, at the top or inside a
/// concatenation ([`branches`]), and whose literals are weak (none, or
/// only common ones) is decomposed: each branch gets its own literals and its
/// own small DFA, which is what keeps an ordered list's giant
/// `(name|name|…)` rule from one DFA that no size limit admits. Literals that more than
/// [`crate::literals::COMMON_AFTER`] units would pick (` Build` in a
/// user-agent list) are avoided where a unit has another choice: a DFA
/// triggered by them would run on nearly every input.
fn make_units(prepared: &mut [Prepared], reduced: &[Hir], cfg: &Config) -> Vec<Unit> {
    use crate::literals::{common_literals, plan_avoiding, Common};
    let plan_of = |h: &Hir, common: &Common| if cfg.prefilter { plan_avoiding(h, common) } else { Plan::Always };
    let none = Common::new();
    let whole: Vec<Plan> = reduced.iter().map(|h| plan_of(h, &none)).collect();
    let common_whole = common_literals(&whole);
    let mut parts: Vec<(usize, Hir)> = Vec::new();
    for (r, h) in reduced.iter().enumerate() {
        // Only where the whole rule has no literal, or only common ones: a
        // rule with a good literal is served as well by one DFA.
        let weak = || match plan_of(h, &common_whole) {
            Plan::Always => true,
            plan => crate::literals::chosen(&plan).iter().any(|l| common_whole.contains(l)),
        };
        match branches(h) {
            Some(branches) if cfg.prefilter && weak() => {
                prepared[r].decomposed = true;
                parts.extend(branches.into_iter().map(|b| (r, b)));
            }
            _ => parts.push((r, h.clone())),
        }
    }
    let first: Vec<Plan> = parts.iter().map(|(_, h)| plan_of(h, &none)).collect();
    let common = common_literals(&first);
    let plans: Vec<Plan> = if common.is_empty() {
        first
    } else {
        parts.iter().map(|(_, h)| plan_of(h, &common)).collect()
    };
    let mut units = Vec::with_capacity(parts.len());
    let mut without_literal: std::collections::BTreeMap<usize, Vec<Hir>> = Default::default();
    for ((r, h), plan) in parts.into_iter().zip(plans) {
        if plan == Plan::Always && prepared[r].decomposed {
            without_literal.entry(r).or_default().push(h);
        } else {
            units.push(unit(r, h, plan, prepared[r].decomposed));
        }
    }
    for (r, mut branches) in without_literal {
        let h = if branches.len() == 1 { branches.pop().unwrap() } else { Hir::alternation(branches) };
        units.push(unit(r, h, Plan::Always, true));
    }
    // By rule (stable: branches keep their order), so that shard rule
    // lists come out ascending.
    units.sort_by_key(|u| u.rule);
    units
}

fn thread_count(cfg: &Config) -> usize {
    if cfg.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        cfg.threads
    }
}

/// `f` of every rule but those in `skip`, spread over the compile threads
/// (checking a rule builds its exact engine: the longest step before the
/// DFAs), in input order.
fn each_rule_in_parallel<T: Send>(
    rules: &[RuleSpec],
    skip: &std::collections::HashSet<usize>,
    cfg: &Config,
    progress: &dyn Progress,
    f: impl Fn(usize, &RuleSpec) -> T + Sync,
) -> Vec<(usize, T)> {
    let per_thread = rules.len().div_ceil(thread_count(cfg)).max(1);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..rules.len())
            .step_by(per_thread)
            .map(|from| {
                let f = &f;
                s.spawn(move || {
                    (from..(from + per_thread).min(rules.len()))
                        .filter(|i| !skip.contains(i))
                        .map(|i| {
                            let result = (i, f(i, &rules[i]));
                            progress.advance(1);
                            result
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("rule checking thread")).collect()
    })
}

/// Every rule that [`compile`] would refuse (a duplicate id, a pattern or
/// flag it cannot compile), with its input position, in input order;
/// without compiling any DFA. For reporting these together with problems
/// found before compiling (malformed lines).
pub fn check_all(rules: &[RuleSpec], cfg: &Config, progress: &dyn Progress) -> Vec<(usize, RowError)> {
    progress.step("checking rules", Some(rules.len() as u64));
    let mut errors = duplicate_ids(rules);
    let duplicates: std::collections::HashSet<usize> = errors.iter().map(|(i, _)| *i).collect();
    errors.extend(
        each_rule_in_parallel(rules, &duplicates, cfg, progress, |_, rule| check_rule(rule))
            .into_iter()
            .filter_map(|(i, r)| r.err().map(|e| (i, e))),
    );
    errors.sort_by_key(|(i, _)| *i);
    errors
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
    compile_with(rules, cfg, source, &Silent)
}

/// [`compile`], telling `progress` how far it has come.
pub fn compile_with(
    rules: &[RuleSpec],
    cfg: &Config,
    source: &str,
    progress: &dyn Progress,
) -> Result<Compiled, BuildError> {
    let start = Instant::now();
    progress.step("checking rules", Some(rules.len() as u64));
    let mut errors: Vec<(usize, RowError)> = duplicate_ids(rules);
    let duplicates: std::collections::HashSet<usize> = errors.iter().map(|(i, _)| *i).collect();
    let checked = each_rule_in_parallel(rules, &duplicates, cfg, progress, prepare);
    let mut prepared = Vec::with_capacity(rules.len());
    let mut reduced = Vec::with_capacity(rules.len());
    for (i, result) in checked {
        match result {
            Ok((p, h)) => {
                prepared.push(p);
                reduced.push(h);
            }
            Err(e) => errors.push((i, e)),
        }
    }
    errors.sort_by_key(|(i, _)| *i);
    if !errors.is_empty() && cfg.on_invalid == OnInvalid::Fail {
        return Err(BuildError::InvalidRows(errors.into_iter().map(|(_, e)| e).collect()));
    }
    if prepared.is_empty() {
        return Err(BuildError::NoRules { source: source.to_string(), skipped: errors.len() });
    }
    let units = make_units(&mut prepared, &reduced, cfg);
    drop(reduced);
    let mut warnings = Vec::new();
    let cache = cfg
        .cache_dir
        .as_deref()
        .and_then(|dir| match ShardCache::open(dir) {
            Ok(c) => Some(c),
            Err(e) => {
                warnings.push(format!(
                    "shard cache {} unusable, compiling everything: {e}",
                    dir.display()
                ));
                None
            }
        });
    let needs_dfa: Vec<usize> = (0..units.len())
        .filter(|&u| !matches!(units[u].plan, Plan::Complete(_)))
        .collect();
    let sources: Vec<DfaSource> = units.iter().map(|u| u.dfa.clone()).collect();
    let chunks = make_chunks(&needs_dfa, &units, &sources, cfg.shard_rules);
    progress.step("compiling DFAs", Some(chunks.len() as u64));
    let (mut built, too_big) = build_shards(chunks, &sources, cfg, cache.as_ref(), progress);
    // A unit too big alone gets a second chance: a DFA of its widened form
    // filters, and its rule's exact engine confirms the candidates. A unit
    // too big even so is answered by the exact engine alone.
    let mut widened: Vec<DfaSource> = sources.clone();
    let mut confirm_members = Vec::new();
    let mut exact_only: Vec<(usize, String)> = Vec::new();
    for (u, why) in too_big {
        match crate::relax::widened_hir(&sources[u].hir) {
            Some(w) => {
                widened[u] = DfaSource::new(w, sources[u].anchored);
                confirm_members.push(u);
            }
            None => exact_only.push((u, why)),
        }
    }
    confirm_members.sort_unstable();
    if !confirm_members.is_empty() {
        let chunks = make_chunks(&confirm_members, &units, &widened, cfg.shard_rules);
        progress.step("compiling widened DFAs", Some(chunks.len() as u64));
        let (more, still_too_big) = build_shards(chunks, &widened, cfg, cache.as_ref(), progress);
        built.extend(more.into_iter().map(|s| BuiltShard { confirm: true, ..s }));
        exact_only.extend(
            still_too_big
                .into_iter()
                .map(|(u, why)| (u, format!("{why}, even with its bounded repeats widened"))),
        );
    }
    exact_only.sort_by_key(|(u, _)| *u);
    for (u, _) in &exact_only {
        built.push(BuiltShard {
            members: vec![*u],
            kind: DfaKind::Exact,
            dfa: Vec::new(),
            seconds: 0.0,
            cached: false,
            confirm: false,
        });
    }
    let mut writer = DatabaseWriter::new();
    let mut paths = RulePaths::default();
    let mut literals = std::collections::HashSet::new();
    for (n, prep) in prepared.iter().enumerate() {
        let rule = &rules[prep.input_index];
        let payload = rule.payload.as_ref().map(|v| v.to_string());
        let id_json = rule.id.to_json();
        let index = writer.push_rule(RuleEntry {
            id_json: &id_json,
            payload_json: payload.as_deref(),
            pattern: &prep.effective,
            exact: &prep.exact_program,
        });
        debug_assert_eq!(index as usize, n, "every prepared rule is kept, in order");
    }
    // Each path lists a rule once, however many of its units take it.
    let mut path_sets: [std::collections::BTreeSet<usize>; 6] = Default::default();
    let mut units_of = vec![0usize; prepared.len()];
    for u in &units {
        units_of[u.rule] += 1;
        let input = prepared[u.rule].input_index;
        match &u.plan {
            Plan::Complete(lits) => {
                path_sets[0].insert(input);
                for lit in lits {
                    literals.insert(lit.clone());
                    writer.push_literal(lit.clone(), Target::Rule(u.rule as u32));
                }
            }
            Plan::Triggered(_) => {
                path_sets[1].insert(input);
            }
            Plan::Anchored(_) => {
                path_sets[1].insert(input);
                path_sets[2].insert(input);
            }
            Plan::AfterLiteral(..) => {
                path_sets[1].insert(input);
                path_sets[2].insert(input);
                path_sets[3].insert(input);
            }
            Plan::Always => {
                path_sets[4].insert(input);
            }
        }
        if u.ascii_widened && !matches!(u.plan, Plan::Complete(_)) {
            path_sets[5].insert(input);
        }
    }
    let [literal, prefiltered, anchored, after_literal, always, ascii_widened] =
        path_sets.map(|set| set.into_iter().collect::<Vec<_>>());
    paths.literal = literal;
    paths.prefiltered = prefiltered;
    paths.anchored = anchored;
    paths.after_literal = after_literal;
    paths.always = always;
    paths.ascii_widened = ascii_widened;
    paths.decomposed = prepared
        .iter()
        .enumerate()
        .filter(|(_, p)| p.decomposed)
        .map(|(r, p)| (p.input_index, units_of[r]))
        .collect();
    paths.exact_only = exact_only
        .iter()
        .map(|(u, why)| (prepared[units[*u].rule].input_index, why.clone()))
        .collect();
    let approximate_inputs: Vec<usize> = built
        .iter()
        .filter(|s| s.confirm)
        .flat_map(|s| s.members.iter().map(|&u| prepared[units[u].rule].input_index))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    built.sort_by_key(|s| units[s.members[0]].rule);
    let mut shards = Vec::new();
    let mut db_estimate = 0usize;
    for s in built {
        let members: Vec<&Unit> = s.members.iter().map(|&u| &units[u]).collect();
        let rule_list: Vec<u32> = members.iter().map(|u| u.rule as u32).collect();
        let exact = s.kind == DfaKind::Exact;
        let uwb = !exact && members.iter().any(|u| u.unicode_word_boundary);
        let wide = !exact && members.iter().any(|u| u.ascii_widened);
        let trigger = match &members[0].plan {
            Plan::Triggered(lits) | Plan::Anchored(lits) | Plan::AfterLiteral(lits, ..) => Some(lits.clone()),
            _ => None,
        };
        // The exact engine reads the whole input: an exact-only shard is
        // never anchored at an occurrence.
        let anchored = !exact && members.iter().all(|u| u.dfa.anchored);
        let after_literal = !exact && members.iter().all(|u| matches!(u.plan, Plan::AfterLiteral(..)));
        let at_start = after_literal && members.iter().all(|u| matches!(u.plan, Plan::AfterLiteral(_, _, true)));
        db_estimate += s.dfa.len();
        let flags = ShardFlags {
            unicode_word_boundary: uwb,
            approximate: s.confirm,
            triggered: trigger.is_some(),
            ascii_widened: wide,
            anchored,
            after_literal,
            at_start,
        };
        shards.push(ShardReport {
            rules: rule_list.len(),
            kind: s.kind.name(),
            bytes: s.dfa.len(),
            build_seconds: s.seconds,
            cached: s.cached,
            flags,
        });
        let program = match &s.members[..] {
            [u] => units[*u].program.as_deref(),
            _ => None,
        };
        let number = writer.push_unit_shard(s.kind, flags, s.dfa, rule_list, program);
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
        rule_count: prepared.len(),
        kept: prepared.iter().map(|p| p.input_index).collect(),
        approximate: approximate_inputs,
        skipped: errors.into_iter().map(|(_, e)| e).collect(),
        shards,
        paths,
        prefilter_literals: literals.len(),
        elapsed: start.elapsed(),
        warnings,
    })
}
