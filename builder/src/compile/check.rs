//! Checking rules: each parsed and compiled to its exact program on its
//! own, so that each bad rule is reported with its id, position and reason.

use regex_syntax::hir::Hir;

use super::Config;
use crate::error::{position_of, Position, RowError};
use crate::progress::Progress;
use crate::rules::{duplicate_ids, RuleSpec};

/// A rule that passed [`check_rule`]: what the matcher needs of it, and its
/// parse, which every later stage (literals, DFAs) works from: a build
/// parses each pattern once.
#[derive(Clone, Debug)]
pub struct CheckedRule {
    /// The pattern with its flags inlined, in the `regex` crate's syntax.
    pub effective: String,
    /// The pattern parsed with its flags (the same HIR as `effective`
    /// parses to).
    pub hir: Hir,
    /// Uses a Unicode word boundary (`\b`, `\B` under Unicode).
    pub unicode_word_boundary: bool,
    /// The rule's exact program ([`dfabake_matcher::exact`]): its NFA,
    /// compiled here once so that no module ever parses a pattern.
    pub exact_program: Vec<u8>,
}

/// Longest pattern accepted, in bytes.
pub const MAX_PATTERN_BYTES: usize = 4 << 20;

/// Checks one rule and compiles its exact engine, or says why it cannot be.
/// A translated rule's errors name the pattern as written and positions in
/// it ([`RuleSpec::written_as`]).
pub fn check_rule(rule: &RuleSpec) -> Result<CheckedRule, RowError> {
    check_rule_with(rule, exact_program)
}

/// [`check_rule`], the exact program coming from `program` (a cache, or
/// [`exact_program`] itself).
pub(super) fn check_rule_with(
    rule: &RuleSpec,
    program: impl FnOnce(&Hir) -> Result<Vec<u8>, String>,
) -> Result<CheckedRule, RowError> {
    check_pattern(rule, program).map_err(|mut e| {
        if let Some(written) = &rule.written_as {
            e.pattern = Some(written.pattern.clone());
            e.position = e
                .position
                .map(|p| position_of(&written.pattern, written.original_offset(p.offset)));
        }
        e
    })
}

/// [`check_rule`] on the pattern as translated.
fn check_pattern(
    rule: &RuleSpec,
    program: impl FnOnce(&Hir) -> Result<Vec<u8>, String>,
) -> Result<CheckedRule, RowError> {
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
    if rule.pattern.len() > MAX_PATTERN_BYTES {
        // The parser needs about 100 bytes a pattern byte before the
        // compiler's own limits refuse such a pattern: gigabytes.
        return Err(err(format!(
            "the pattern is {} bytes long; patterns of more than {MAX_PATTERN_BYTES} bytes are refused",
            rule.pattern.len()
        )));
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
    let exact_program =
        program(&hir).map_err(|e| err(format!("pattern too large to compile: {e}")))?;
    let unicode_word_boundary = hir.properties().look_set().contains_word_unicode();
    Ok(CheckedRule {
        effective,
        hir,
        unicode_word_boundary,
        exact_program,
    })
}

/// The exact program ([`dfabake_matcher::exact`]) of a parsed pattern: one
/// configuration for every program, defined by the matcher's crate.
pub(super) fn exact_program(hir: &Hir) -> Result<Vec<u8>, String> {
    dfabake_matcher::exact::compile_hir(hir)
}

pub(super) fn thread_count(cfg: &Config) -> usize {
    if cfg.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        cfg.threads
    }
}

/// `f` of every item, in order, on the compile threads: each thread takes
/// the next few items left, so that a run of costly items (a rule of many
/// branches) does not keep one thread busy while the others idle.
pub(super) fn map_in_parallel<T: Send, R: Send>(
    items: Vec<T>,
    cfg: &Config,
    f: impl Fn(T) -> R + Sync,
) -> Vec<R> {
    const BLOCK: usize = 16;
    let threads = thread_count(cfg).min(items.len().div_ceil(BLOCK));
    if threads <= 1 {
        return items.into_iter().map(f).collect();
    }
    let len = items.len();
    let left = std::sync::Mutex::new(items.into_iter().enumerate());
    let mut done: Vec<(usize, R)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let block: Vec<(usize, T)> = left
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .by_ref()
                            .take(BLOCK)
                            .collect();
                        if block.is_empty() {
                            return done;
                        }
                        done.extend(block.into_iter().map(|(i, item)| (i, f(item))));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("compile thread"))
            .collect()
    });
    done.sort_unstable_by_key(|(i, _)| *i);
    debug_assert_eq!(done.len(), len);
    done.into_iter().map(|(_, r)| r).collect()
}

/// `f` of every rule but those in `skip`, spread over the compile threads
/// (checking a rule builds its exact engine: the longest step before the
/// DFAs), in input order.
pub(super) fn each_rule_in_parallel<T: Send>(
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
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("rule checking thread"))
            .collect()
    })
}

/// Every rule that [`compile`](super::compile) would refuse (a duplicate id, a pattern or
/// flag it cannot compile), with its input position, in input order;
/// without compiling any DFA. For reporting these together with problems
/// found before compiling (malformed lines).
pub fn check_all(
    rules: &[RuleSpec],
    cfg: &Config,
    progress: &dyn Progress,
) -> Vec<(usize, RowError)> {
    progress.step("checking rules", Some(rules.len() as u64));
    let mut errors = duplicate_ids(rules);
    let duplicates: std::collections::HashSet<usize> = errors.iter().map(|(i, _)| *i).collect();
    errors.extend(
        each_rule_in_parallel(rules, &duplicates, cfg, progress, |_, rule| {
            check_rule(rule)
        })
        .into_iter()
        .filter_map(|(i, r)| r.err().map(|e| (i, e))),
    );
    errors.sort_by_key(|(i, _)| *i);
    errors
}
