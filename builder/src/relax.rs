//! Over-approximating a rule whose DFA is too big, so that a small DFA can
//! still filter for it and the exact engine confirms its candidates.
//!
//! Large counted repetitions (`.{0,200}`, `[^;]{0,300}`, `\w{20}`) are what
//! make DFAs explode: each count multiplies states. Widening `X{n,m}` to `X*`
//! only adds strings to the language, so the widened DFA matches everything
//! the rule matches (and some more): a filter with no false negatives.

use regex_syntax::hir::{Capture, Hir, HirKind, Repetition};

/// Repetitions with a bound above this are widened.
pub const WIDEN_ABOVE: u32 = 4;

fn widen(h: &Hir) -> Hir {
    match h.kind() {
        HirKind::Repetition(r) => {
            let sub = Box::new(widen(&r.sub));
            let big = r.min > WIDEN_ABOVE || r.max.is_some_and(|m| m > WIDEN_ABOVE);
            let (min, max) = if big { (0, None) } else { (r.min, r.max) };
            Hir::repetition(Repetition {
                min,
                max,
                greedy: r.greedy,
                sub,
            })
        }
        HirKind::Capture(c) => Hir::capture(Capture {
            index: c.index,
            name: c.name.clone(),
            sub: Box::new(widen(&c.sub)),
        }),
        HirKind::Concat(xs) => Hir::concat(xs.iter().map(widen).collect()),
        HirKind::Alternation(xs) => Hir::alternation(xs.iter().map(widen).collect()),
        _ => h.clone(),
    }
}

/// The widened form of `pattern` (flags inlined, as compiled), or `None`
/// when widening would change nothing.
///
/// ```
/// let wide = dfabake::relax::widened(r"a[^;]{0,300}b").unwrap();
/// let re = regex::Regex::new(&wide).unwrap();
/// assert!(re.is_match(&format!("a{}b", "x".repeat(400)))); // a superset
/// assert!(dfabake::relax::widened("ab+c").is_none());
/// ```
pub fn widened(pattern: &str) -> Option<String> {
    let hir = regex_syntax::ParserBuilder::new()
        .utf8(false)
        .build()
        .parse(pattern)
        .ok()?;
    let wide = widen(&hir);
    (wide != hir).then(|| wide.to_string())
}
