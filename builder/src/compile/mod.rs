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

mod check;
mod config;
mod dfa;
mod report;
mod shards;

pub use check::{check_all, check_rule, CheckedRule};
pub use config::{Config, OnInvalid, DEFAULT_SPARSE_ABOVE};
pub use report::{Compiled, RulePaths, RunBound, ShardReport, UNREPORTED_FLAGS};

use std::time::Instant;

use dfabake_matcher::format::{DatabaseWriter, DfaKind, RuleEntry, ShardFlags};
use dfabake_matcher::gate::{Pair, MAX_PAIRS};
use dfabake_matcher::prefilter::Target;
use regex_syntax::hir::{Hir, HirKind};

use crate::error::{BuildError, RowError};
use crate::literals::Plan;
use crate::progress::{Progress, Silent};
use crate::rules::{duplicate_ids, RuleSpec};
use crate::shard_cache::ShardCache;
use check::{check_rule_with, each_rule_in_parallel, map_in_parallel};
use dfa::DfaSource;
use shards::{build_shards, make_chunks, BuiltShard};

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
    /// Every match starts where its reduced form matches
    /// ([`crate::relax::starts_at_reduced`]).
    starts_at_reduced: bool,
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
    /// Its trigger literals include a common one: its DFA runs on most
    /// inputs, so it shares one with the other units of the same literals.
    common_trigger: bool,
    /// Where its DFA is exact if it has to be widened
    /// ([`crate::relax::run_bounds`]).
    run_bounds: Option<Vec<([u32; 8], u32)>>,
    /// For a unit without literals ([`Plan::Always`]): the pairs of bytes
    /// one of which every match reads, so that its shard runs only on the
    /// inputs holding one ([`crate::literals::gate`]).
    gate: Option<Vec<Pair>>,
}

/// Checks one rule; returns it with its HIR reduced to what decides whether
/// it matches (`any` and `all` ask nothing else: DFAs and literals come from
/// that part).
fn prepare(
    input_index: usize,
    rule: &RuleSpec,
    cache: Option<&ShardCache>,
) -> Result<(Prepared, Hir), RowError> {
    let CheckedRule {
        effective,
        hir,
        exact_program,
        ..
    } = check_rule_with(rule, |hir| cached_program(hir, cache))?;
    let reduced = crate::relax::reduced_for_search(&hir);
    Ok((
        Prepared {
            input_index,
            effective,
            exact_program,
            decomposed: false,
            starts_at_reduced: crate::relax::starts_at_reduced(&hir),
        },
        reduced,
    ))
}

/// Smallest exact program the cache keeps. Compiling a program costs about
/// its size; writing an entry costs a file of its own, more than compiling
/// a small program does (a cold build of 10,000 short rules would write
/// 10,000 files to save nothing).
const CACHED_PROGRAM_BYTES: usize = 2 << 10;

/// A rough count of the NFA states `hir` compiles to (repeats multiply,
/// Unicode classes take several states per range), saturating at `cap`.
fn nfa_size_estimate(hir: &Hir, cap: u64) -> u64 {
    use regex_syntax::hir::Class;
    let size = match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => 1,
        HirKind::Literal(lit) => lit.0.len() as u64,
        HirKind::Class(Class::Unicode(c)) => 4 * c.ranges().len() as u64,
        HirKind::Class(Class::Bytes(c)) => c.ranges().len() as u64,
        HirKind::Repetition(rep) => {
            let copies = rep.max.unwrap_or(rep.min + 1).max(1) as u64;
            nfa_size_estimate(&rep.sub, cap).saturating_mul(copies)
        }
        HirKind::Capture(group) => 2 + nfa_size_estimate(&group.sub, cap),
        HirKind::Concat(subs) | HirKind::Alternation(subs) => {
            let mut sum = subs.len() as u64;
            for sub in subs {
                sum = sum.saturating_add(nfa_size_estimate(sub, cap));
                if sum >= cap {
                    break;
                }
            }
            sum
        }
    };
    size.min(cap)
}

/// Below this [`nfa_size_estimate`], a program is compiled without looking
/// in the cache (which would cost more: its key, and a file not found).
const CACHE_LOOKUP_STATES: u64 = 64;

/// The exact program of `hir`, from the cache when it holds it (a rebuild
/// compiles only the programs of changed rules, and small ones).
fn cached_program(hir: &Hir, cache: Option<&ShardCache>) -> Result<Vec<u8>, String> {
    let cache = match cache {
        Some(cache) if nfa_size_estimate(hir, CACHE_LOOKUP_STATES) >= CACHE_LOOKUP_STATES => cache,
        _ => return check::exact_program(hir),
    };
    let key = ShardCache::program_key(hir);
    if let Some(program) = cache.get_program(&key) {
        return Ok(program);
    }
    let program = check::exact_program(hir)?;
    if program.len() >= CACHED_PROGRAM_BYTES {
        cache.put_program(&key, &program);
    }
    Ok(program)
}

/// The exact program of a branch (its reduced HIR: no captures, which only
/// `first` asks of the whole rule).
fn branch_program(hir: &Hir, cache: Option<&ShardCache>) -> Option<Vec<u8>> {
    cached_program(hir, cache).ok()
}

/// A unit of rule `rule` for the reduced HIR `hir` and its plan; `branch`
/// when the rule is decomposed.
fn unit(rule: usize, hir: Hir, plan: Plan, branch: bool, cache: Option<&ShardCache>) -> Unit {
    let program = (branch && !matches!(plan, Plan::Complete(_)))
        .then(|| branch_program(&hir, cache))
        .flatten();
    // After a literal, the DFA holds only the rest of the rule: the literal
    // occurrence decided its first part.
    let (hir, anchored) = match &plan {
        Plan::AfterLiteral(_, rest, _) => (rest.clone(), true),
        Plan::Anchored(_) => (hir, true),
        _ => (hir, false),
    };
    let unicode_word_boundary = hir.properties().look_set().contains_word_unicode();
    // Of the unit before its classes are ASCII-widened: widening its
    // repetitions only changes their bounds.
    let run_bounds = crate::relax::run_bounds(&hir);
    let widened = crate::relax::ascii_widened(&hir);
    Unit {
        rule,
        plan,
        ascii_widened: widened.is_some(),
        unicode_word_boundary,
        dfa: DfaSource::new(widened.unwrap_or(hir), anchored),
        program,
        common_trigger: false,
        run_bounds,
        gate: None,
    }
}

/// Most times literal planning starts again with more literals known to be
/// common ([`make_units`]).
const MAX_COMMON_ROUNDS: usize = 4;

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
            let HirKind::Alternation(bs) = xs[i].kind() else {
                unreachable!("found above")
            };
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
fn make_units(
    prepared: &mut [Prepared],
    reduced: Vec<Hir>,
    cfg: &Config,
    cache: Option<&ShardCache>,
) -> Vec<Unit> {
    use crate::literals::{common_literals, plan_avoiding, Common};
    let plan_of = |h: &Hir, common: &Common| {
        if cfg.prefilter {
            plan_avoiding(h, common)
        } else {
            Plan::Always
        }
    };
    let none = Common::new();
    let whole: Vec<Plan> = map_in_parallel(reduced.iter().collect(), cfg, |h| plan_of(h, &none));
    let common_whole = common_literals(&whole);
    // Only where the whole rule has no literal, or only common ones: a
    // rule with a good literal is served as well by one DFA.
    let weak = |h: &Hir| match plan_of(h, &common_whole) {
        Plan::Always => true,
        plan => crate::literals::chosen(&plan)
            .iter()
            .any(|l| common_whole.contains(l)),
    };
    let split: Vec<Option<Vec<Hir>>> = map_in_parallel(reduced.iter().collect(), cfg, |h| {
        branches(h).filter(|_| cfg.prefilter && weak(h))
    });
    let mut parts: Vec<(usize, Hir)> = Vec::new();
    for ((r, h), split) in reduced.into_iter().enumerate().zip(split) {
        match split {
            Some(branches) => {
                prepared[r].decomposed = true;
                parts.extend(branches.into_iter().map(|b| (r, b)));
            }
            None => parts.push((r, h)),
        }
    }
    let mut plans: Vec<Plan> =
        map_in_parallel(parts.iter().collect(), cfg, |(_, h)| plan_of(h, &none));
    let mut common = common_literals(&plans);
    // Avoiding one common literal can make another one common: two hundred
    // rules `AppleWebKit/… \(KHTML, like Gecko\).{0,200}(Name)/…` first
    // all pick `AppleWebKit/`, then, told it is common, all pick the next
    // longest, ` (KHTML, like Gecko)`, though each has its own `Name`.
    for _ in 0..MAX_COMMON_ROUNDS {
        if common.is_empty() {
            break;
        }
        plans = map_in_parallel(parts.iter().collect(), cfg, |(_, h)| plan_of(h, &common));
        let more: Vec<Vec<u8>> = common_literals(&plans)
            .into_iter()
            .filter(|l| !common.contains(l))
            .collect();
        if more.is_empty() {
            break;
        }
        common.extend(more);
    }
    let mut planned = Vec::with_capacity(parts.len());
    // A decomposed rule's branches that would run on (nearly) every input,
    // having no literal or only a common one, run as one unit per rule and
    // plan: one DFA over their alternation instead of one per branch (a
    // device rule's fifteen `E\d{3}`-style models all triggered by
    // `) AppleWebKit` cost fifteen searches of every WebKit user agent).
    let mut regrouped: Vec<(usize, Plan, Vec<Hir>)> = Vec::new();
    let on_common = |plan: &Plan| match plan {
        Plan::Triggered(_) | Plan::Anchored(_) => crate::literals::chosen(plan)
            .iter()
            .any(|l| common.contains(l)),
        _ => false,
    };
    for ((r, h), plan) in parts.into_iter().zip(plans) {
        let runs_on_most = plan == Plan::Always || on_common(&plan);
        if !(prepared[r].decomposed && runs_on_most) {
            planned.push((r, h, plan, prepared[r].decomposed));
            continue;
        }
        match regrouped
            .iter_mut()
            .find(|(rule, p, _)| *rule == r && *p == plan)
        {
            Some((_, _, branches)) => branches.push(h),
            None => regrouped.push((r, plan, vec![h])),
        }
    }
    for (r, plan, mut branches) in regrouped {
        let h = if branches.len() == 1 {
            branches.pop().unwrap()
        } else {
            Hir::alternation(branches)
        };
        planned.push((r, h, plan, true));
    }
    let mut units = map_in_parallel(planned, cfg, |(r, h, plan, branch)| {
        let common_trigger = on_common(&plan);
        let gate = (cfg.prefilter && plan == Plan::Always)
            .then(|| crate::literals::gate(&h))
            .flatten();
        Unit {
            common_trigger,
            gate,
            ..unit(r, h, plan, branch, cache)
        }
    });
    // By rule (stable: branches keep their order), so that shard rule
    // lists come out ascending.
    units.sort_by_key(|u| u.rule);
    keep_gates(&mut units);
    units
}

/// Keeps the gates of the first units, in rule order, whose pairs fit
/// the database's [`MAX_PAIRS`] distinct ones; the others run on every
/// input, in shared shards. Counted as [`DatabaseWriter::set_gate`]
/// counts, so that every gate kept here is written.
fn keep_gates(units: &mut [Unit]) {
    let mut pairs: Vec<Pair> = Vec::new();
    for u in units {
        let Some(gate) = &u.gate else { continue };
        let new: Vec<Pair> = gate
            .iter()
            .filter(|p| !pairs.contains(p))
            .copied()
            .collect();
        if pairs.len() + new.len() > MAX_PAIRS {
            u.gate = None;
        } else {
            pairs.extend(new);
        }
    }
}

/// Compiles rules (in priority order) into a database.
///
/// ```
/// use dfabake::compile::{compile, Config, OnInvalid};
/// use dfabake::rules::{RuleId, RuleSpec};
///
/// let rules = vec![RuleSpec::new(RuleId::Int(1), "bot"), RuleSpec::new(RuleId::Int(2), r"\d+")];
/// let compiled = compile(&rules, &Config::default(), "example").unwrap();
/// assert_eq!(compiled.rule_count, 2);
///
/// // A bad rule fails the compile, naming it; under `OnInvalid::Skip` it is
/// // left out and reported instead.
/// let rules = vec![RuleSpec::new(RuleId::Int(1), "bot"), RuleSpec::new(RuleId::Int(2), "(unclosed")];
/// assert!(compile(&rules, &Config::default(), "example").is_err());
/// let skip = Config { on_invalid: OnInvalid::Skip, ..Config::default() };
/// let compiled = compile(&rules, &skip, "example").unwrap();
/// assert_eq!(compiled.kept, vec![0]);
/// assert_eq!(compiled.skipped[0].id, Some(RuleId::Int(2)));
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
    progress.step("checking rules", Some(rules.len() as u64));
    let mut errors: Vec<(usize, RowError)> = duplicate_ids(rules);
    let duplicates: std::collections::HashSet<usize> = errors.iter().map(|(i, _)| *i).collect();
    let checked = each_rule_in_parallel(rules, &duplicates, cfg, progress, |i, rule| {
        prepare(i, rule, cache.as_ref())
    });
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
        return Err(BuildError::InvalidRows(
            errors.into_iter().map(|(_, e)| e).collect(),
        ));
    }
    if prepared.is_empty() {
        return Err(BuildError::NoRules {
            source: source.to_string(),
            skipped: errors.len(),
        });
    }
    let units = make_units(&mut prepared, reduced, cfg, cache.as_ref());
    let needs_dfa: Vec<usize> = (0..units.len())
        .filter(|&u| !matches!(units[u].plan, Plan::Complete(_)))
        .collect();
    let sources: Vec<&DfaSource> = units.iter().map(|u| &u.dfa).collect();
    let chunks = make_chunks(&needs_dfa, &units, &sources, cfg.shard_rules);
    let shared_trigger: Vec<bool> = units.iter().map(|u| u.common_trigger).collect();
    progress.step("compiling DFAs", Some(chunks.len() as u64));
    let (mut built, too_big) = build_shards(
        chunks,
        &sources,
        &shared_trigger,
        cfg,
        cache.as_ref(),
        progress,
    );
    // A unit too big alone gets a second chance: a DFA of its widened form
    // filters, and its rule's exact engine confirms the candidates. A unit
    // too big even so is answered by the exact engine alone.
    let mut widened_sources: Vec<(usize, DfaSource)> = Vec::new();
    let mut confirm_members = Vec::new();
    let mut exact_only: Vec<(usize, String)> = Vec::new();
    for (u, why) in too_big {
        match crate::relax::widened_hir(&sources[u].hir) {
            Some(w) => {
                widened_sources.push((u, DfaSource::new(w, sources[u].anchored)));
                confirm_members.push(u);
            }
            None => exact_only.push((u, why)),
        }
    }
    let mut widened = sources.clone();
    for (u, source) in &widened_sources {
        widened[*u] = source;
    }
    confirm_members.sort_unstable();
    if !confirm_members.is_empty() {
        let chunks = make_chunks(&confirm_members, &units, &widened, cfg.shard_rules);
        progress.step("compiling widened DFAs", Some(chunks.len() as u64));
        let (more, still_too_big) = build_shards(
            chunks,
            &widened,
            &shared_trigger,
            cfg,
            cache.as_ref(),
            progress,
        );
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
            dfa: Default::default(),
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
    // A rule that is nothing but literals, none of them after an optional
    // part, starts its leftmost match at their leftmost occurrence (what
    // `first` then tries alone).
    let mut at_literal: Vec<bool> = prepared.iter().map(|p| p.starts_at_reduced).collect();
    for u in &units {
        at_literal[u.rule] &= matches!(u.plan, Plan::Complete(_));
    }
    // Each path lists a rule once, however many of its units take it.
    let mut path_sets: [std::collections::BTreeSet<usize>; 7] = Default::default();
    let mut units_of = vec![0usize; prepared.len()];
    for u in &units {
        units_of[u.rule] += 1;
        let input = prepared[u.rule].input_index;
        match &u.plan {
            Plan::Complete(lits) => {
                path_sets[0].insert(input);
                for lit in lits {
                    literals.insert(lit.clone());
                    let rule = u.rule as u32;
                    let target = if at_literal[u.rule] {
                        Target::RuleAtLiteral(rule)
                    } else {
                        Target::Rule(rule)
                    };
                    writer.push_literal(lit.clone(), target);
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
            Plan::Always if u.gate.is_some() => {
                path_sets[6].insert(input);
            }
            Plan::Always => {
                path_sets[4].insert(input);
            }
        }
        if u.ascii_widened && !matches!(u.plan, Plan::Complete(_)) {
            path_sets[5].insert(input);
        }
    }
    let [literal, prefiltered, anchored, after_literal, always, ascii_widened, gated] =
        path_sets.map(|set| set.into_iter().collect::<Vec<_>>());
    paths.gated = gated;
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
        .flat_map(|s| {
            s.members
                .iter()
                .map(|&u| prepared[units[u].rule].input_index)
        })
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
        // A gated unit has a shard of its own (see `make_chunks`).
        let gate = match &members[..] {
            [u] => u.gate.clone(),
            _ => None,
        };
        let trigger = match &members[0].plan {
            Plan::Triggered(lits) | Plan::Anchored(lits) | Plan::AfterLiteral(lits, ..) => {
                Some(lits.clone())
            }
            _ => None,
        };
        // The exact engine reads the whole input: an exact-only shard is
        // never anchored at an occurrence.
        let anchored = !exact && members.iter().all(|u| u.dfa.anchored);
        let after_literal = !exact
            && members
                .iter()
                .all(|u| matches!(u.plan, Plan::AfterLiteral(..)));
        let at_start = after_literal
            && members
                .iter()
                .all(|u| matches!(u.plan, Plan::AfterLiteral(_, _, true)));
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
        // Members are the DFA's patterns, in order.
        let bounds: Vec<(u32, [u32; 8], u32)> = if s.confirm {
            s.members
                .iter()
                .enumerate()
                .flat_map(|(pid, &u)| {
                    let bounds = units[u].run_bounds.iter().flatten();
                    bounds.map(move |&(set, most)| (pid as u32, set, most))
                })
                .collect()
        } else {
            Vec::new()
        };
        let mut reported: Vec<RunBound> = bounds
            .iter()
            .map(|(_, set, most)| RunBound {
                bytes: crate::relax::byte_set_class(set),
                longest_run: *most,
            })
            .collect();
        reported.sort();
        reported.dedup();
        shards.push(ShardReport {
            rules: rule_list.len(),
            kind: s.kind.name(),
            bytes: s.dfa.len(),
            build_seconds: s.seconds,
            cached: s.cached,
            flags,
            run_bounds: reported,
            gate: gate.iter().flatten().map(crate::relax::pair_text).collect(),
        });
        let program = match &s.members[..] {
            [u] => units[*u].program.as_deref(),
            _ => None,
        };
        // Unique unless another shard has the same DFA (then copied).
        let dfa = std::sync::Arc::try_unwrap(s.dfa).unwrap_or_else(|shared| (*shared).clone());
        let number = writer.push_unit_shard(s.kind, flags, dfa, rule_list, program);
        if !bounds.is_empty() {
            writer.set_run_bounds(number, bounds);
        }
        if let Some(gate) = &gate {
            // `keep_gates` kept no more pairs than a database holds.
            let kept = writer.set_gate(number, gate);
            debug_assert!(kept, "a gate kept by keep_gates was refused");
        }
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
        warnings: {
            let mut failures = cache.map(|c| c.take_write_failures()).unwrap_or_default();
            // One line per failure would bury the summary when the whole
            // cache directory is unwritable.
            if failures.len() > 3 {
                let more = failures.len() - 3;
                failures.truncate(3);
                failures.push(format!("… and {more} more shard cache entries not written"));
            }
            warnings.extend(failures);
            warnings
        },
    })
}
