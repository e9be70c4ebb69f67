//! Which literals a rule needs: the builder's half of the literal prefilter
//! (the matcher's half is [`dfabake_matcher::prefilter`]).
//!
//! For each rule we look for a small set of literals such that every match
//! of the rule contains one of them (its *required* literals), preferring
//! long ones, which occur in fewer inputs. Three outcomes:
//!
//! * [`Plan::Complete`]: the rule *is* a finite set of literals
//!   (`Googlebot`, `(?i)bingbot|msnbot`): an occurrence decides it, no DFA;
//! * [`Plan::Triggered`]: its DFA runs only on inputs holding a literal;
//! * [`Plan::Anchored`]: the same, and every match *starts* with one of the
//!   literals (`Googlebot/\d`, `^name`, `\(name[^;)]*;`), so its DFA runs
//!   anchored at each occurrence instead of over the whole input;
//! * [`Plan::AfterLiteral`]: the rule is one of its literals followed by a
//!   rest (`name/\d+`: `name/`, then `\d+`): the literal occurrence itself
//!   decides the first part, and only the rest's DFA runs, anchored where
//!   the occurrence ends;
//! * [`Plan::Always`]: no literal of at least [`KEY_LEN`] bytes is required
//!   (`\d{3}-\d{4}`, `^ab`): its shard runs on every input.
//!
//! Case-insensitive letters (`(?i)`, which regex-syntax turns into classes
//! such as `[Gg]`) become literals compared ASCII-case-insensitively; a
//! class with non-ASCII case variants (`[Kk\u{212A}]`) becomes one literal
//! per variant, so no match is ever missed.

use dfabake_matcher::gate::Pair;
use dfabake_matcher::prefilter::{Literal, KEY_LEN};
use regex_syntax::hir::{Class, Hir, HirKind, Look};

/// Most literals one rule may contribute; more mean a weak filter.
const MAX_LITERALS: usize = 64;
/// Most members a class may have to be expanded into literals.
const MAX_CLASS_EXPANSION: u32 = 4;
/// Most repetitions of a bounded repeat (`x{0,4}`) expanded into literals.
const MAX_FINITE_REPEAT: u32 = 4;
/// Length beyond which longer literals are not considered more selective.
const ENOUGH_LEN: usize = 8;

/// How the prefilter handles a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// The rule matches exactly when one of these literals occurs.
    Complete(Vec<Literal>),
    /// Every match contains one of these literals; the rule's DFA confirms.
    Triggered(Vec<Literal>),
    /// Every match starts where one of these literals starts (zero-width
    /// assertions aside): the rule's DFA confirms, anchored at each
    /// occurrence.
    Anchored(Vec<Literal>),
    /// Every match is one of these literals (each occurrence is exactly
    /// what the rule's first part accepts) followed by a match of the HIR:
    /// its DFA runs anchored where an occurrence ends. With `true`, the
    /// rule starts with `^` (or `\A`): only an occurrence at the input's
    /// start counts.
    AfterLiteral(Vec<Literal>, Hir, bool),
    /// No usable literal: the rule's shard runs on every input.
    Always,
}

/// A literal being assembled: `exact` says whether comparing it as
/// `case_insensitive` says accepts exactly the strings the HIR does.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Piece {
    bytes: Vec<u8>,
    case_insensitive: bool,
    exact: bool,
}

impl Piece {
    fn then(&self, next: &Piece) -> Piece {
        let ci = self.case_insensitive || next.case_insensitive;
        // Compared case-insensitively, a case-sensitive part with letters
        // accepts more than it should: still a valid filter, not exact.
        let loses =
            |p: &Piece| ci && !p.case_insensitive && p.bytes.iter().any(u8::is_ascii_alphabetic);
        Piece {
            bytes: [&self.bytes[..], &next.bytes[..]].concat(),
            case_insensitive: ci,
            exact: self.exact && next.exact && !loses(self) && !loses(next),
        }
    }
}

/// The members of a class, if it has at most `MAX_CLASS_EXPANSION`, as
/// pieces; an ASCII letter pair such as `[Gg]` is one case-insensitive piece.
fn class_pieces(class: &Class) -> Option<Vec<Piece>> {
    let members: Vec<Vec<u8>> = match class {
        Class::Unicode(c) => {
            let n: u32 = c
                .ranges()
                .iter()
                .map(|r| r.end() as u32 - r.start() as u32 + 1)
                .sum();
            if n > MAX_CLASS_EXPANSION {
                return None;
            }
            c.ranges()
                .iter()
                .flat_map(|r| (r.start()..=r.end()).map(|ch| ch.to_string().into_bytes()))
                .collect()
        }
        Class::Bytes(c) => {
            let n: u32 = c
                .ranges()
                .iter()
                .map(|r| u32::from(r.end() - r.start()) + 1)
                .sum();
            if n > MAX_CLASS_EXPANSION {
                return None;
            }
            c.ranges()
                .iter()
                .flat_map(|r| (r.start()..=r.end()).map(|b| vec![b]))
                .collect()
        }
    };
    // Both cases of an ASCII letter make one case-insensitive piece; other
    // members (the Kelvin sign beside `k`, `ſ` beside `s`) stay apart.
    let has = |b: u8| members.iter().any(|m| m[..] == [b]);
    let mut pieces = Vec::new();
    for m in &members {
        match m[..] {
            [b] if b.is_ascii_alphabetic()
                && has(b.to_ascii_lowercase())
                && has(b.to_ascii_uppercase()) =>
            {
                if b.is_ascii_lowercase() {
                    pieces.push(Piece {
                        bytes: vec![b],
                        case_insensitive: true,
                        exact: true,
                    });
                }
            }
            _ => pieces.push(Piece {
                bytes: m.clone(),
                case_insensitive: false,
                exact: true,
            }),
        }
    }
    Some(pieces)
}

fn cross(a: &[Piece], b: &[Piece]) -> Option<Vec<Piece>> {
    if a.len() * b.len() > MAX_LITERALS {
        return None;
    }
    Some(
        a.iter()
            .flat_map(|x| b.iter().map(move |y| x.then(y)))
            .collect(),
    )
}

/// The HIR's whole language as a finite set of literals, if it is one.
fn language(h: &Hir) -> Option<Vec<Piece>> {
    match h.kind() {
        HirKind::Literal(l) => Some(vec![Piece {
            bytes: l.0.to_vec(),
            case_insensitive: false,
            exact: true,
        }]),
        HirKind::Class(c) => class_pieces(c),
        HirKind::Capture(c) => language(&c.sub),
        HirKind::Concat(xs) => xs.iter().try_fold(
            vec![Piece {
                bytes: vec![],
                case_insensitive: false,
                exact: true,
            }],
            |acc, x| cross(&acc, &language(x)?),
        ),
        HirKind::Alternation(xs) => {
            let mut all = Vec::new();
            for x in xs {
                all.extend(language(x)?);
            }
            (all.len() <= MAX_LITERALS).then_some(all)
        }
        // `x{n}`, and short bounded ones (`E?`, ` {0,2}`): each count's strings.
        HirKind::Repetition(r) if r.max.is_some_and(|max| max <= MAX_FINITE_REPEAT) => {
            let sub = language(&r.sub)?;
            let mut all = Vec::new();
            let mut power = vec![Piece {
                bytes: vec![],
                case_insensitive: false,
                exact: true,
            }];
            for n in 0..=r.max.unwrap_or(0) {
                if n >= r.min {
                    all.extend(power.iter().cloned());
                }
                power = cross(&power, &sub)?;
            }
            (all.len() <= MAX_LITERALS).then_some(all)
        }
        _ => None,
    }
}

/// The children of a concatenation with the groups among them opened:
/// `; {0,2}(SN\d+)` is `;`, ` {0,2}`, `SN`, `\d+` to the literal runs,
/// which may then cross the group's edge (`;SN`, `; SN`, `;  SN`).
fn concat_items(xs: &[Hir]) -> Vec<Hir> {
    let mut items = Vec::new();
    for x in xs {
        match x.kind() {
            HirKind::Capture(c) => match c.sub.kind() {
                HirKind::Concat(ys) => items.extend(concat_items(ys)),
                _ => items.push((*c.sub).clone()),
            },
            _ => items.push(x.clone()),
        }
    }
    items
}

/// Literals that many rules of a list would pick (` Build`, `AppleWebKit`
/// in a user-agent parser): nearly every input holds them, so a rule
/// triggered by one runs on nearly every input. Keys are ASCII-lowercased.
pub type Common = std::collections::HashSet<Vec<u8>>;

/// How good a literal set is as a filter: a set with no common literal
/// first, then the longer its shortest literal, the fewer inputs hold one;
/// then the fewer literals the better.
fn score(set: &[Piece], common: &Common) -> (bool, usize, std::cmp::Reverse<usize>) {
    let rare = !set
        .iter()
        .any(|p| common.contains(&p.bytes.to_ascii_lowercase()));
    let shortest = set.iter().map(|p| p.bytes.len()).min().unwrap_or(0);
    (
        rare && shortest >= KEY_LEN,
        shortest.min(ENOUGH_LEN),
        std::cmp::Reverse(set.len()),
    )
}

fn best(a: Option<Vec<Piece>>, b: Option<Vec<Piece>>, common: &Common) -> Option<Vec<Piece>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if score(&b, common) > score(&a, common) {
            b
        } else {
            a
        }),
        (a, b) => a.or(b),
    }
}

/// A set of literals one of which occurs in every match of `h`.
fn required(h: &Hir, common: &Common) -> Option<Vec<Piece>> {
    match h.kind() {
        HirKind::Capture(c) => required(&c.sub, common),
        HirKind::Repetition(r) if r.min >= 1 => best(language(h), required(&r.sub, common), common),
        HirKind::Alternation(xs) => {
            let mut all = Vec::new();
            for x in xs {
                all.extend(required(x, common)?);
            }
            (all.len() <= MAX_LITERALS).then_some(all)
        }
        HirKind::Concat(xs) => {
            // Every run of children with a finite language concatenates
            // into literals (a run need not swallow a class with several
            // members, such as a case-folded `k`); any other child may
            // require literals itself.
            let xs = &concat_items(xs);
            let langs: Vec<Option<Vec<Piece>>> = xs.iter().map(language).collect();
            let mut found = None;
            for (start, first) in langs.iter().enumerate() {
                let Some(first) = first else {
                    found = best(found, required(&xs[start], common), common);
                    continue;
                };
                let mut run = first.clone();
                found = best(found, Some(run.clone()), common);
                for next in langs[start + 1..].iter() {
                    match next.as_ref().and_then(|n| cross(&run, n)) {
                        Some(longer) => {
                            run = longer;
                            found = best(found, Some(run.clone()), common);
                        }
                        None => break,
                    }
                }
            }
            found
        }
        _ => language(h),
    }
}

/// A set of literals such that every match of `h` starts with one of them,
/// leading zero-width assertions (`^`, `\b`) aside: an anchored search at
/// the literal's start checks those against the bytes before it.
fn prefixes(h: &Hir, common: &Common) -> Option<Vec<Piece>> {
    match h.kind() {
        HirKind::Capture(c) => prefixes(&c.sub, common),
        // Every match of `X{n,}` (n ≥ 1) starts with a match of `X`.
        HirKind::Repetition(r) if r.min >= 1 => best(language(h), prefixes(&r.sub, common), common),
        HirKind::Alternation(xs) => {
            let mut all = Vec::new();
            for x in xs {
                all.extend(prefixes(x, common)?);
            }
            (all.len() <= MAX_LITERALS).then_some(all)
        }
        HirKind::Concat(xs) => {
            let xs = concat_items(xs);
            let mut rest = xs
                .iter()
                .skip_while(|x| matches!(x.kind(), HirKind::Look(_)));
            let first = rest.next()?;
            let Some(mut run) = language(first) else {
                return prefixes(first, common);
            };
            // The run of finite languages from the start, as long as it
            // stays a small set: each longer run is also a prefix set.
            let mut found = Some(run.clone());
            for next in rest {
                match language(next).and_then(|n| cross(&run, &n)) {
                    Some(longer) => {
                        run = longer;
                        found = best(found, Some(run.clone()), common);
                    }
                    None => break,
                }
            }
            found
        }
        _ => language(h),
    }
}

/// When `h` is a run of parts with finite languages, compared exactly by
/// the literals `chosen` (the run's whole language, no assertion in it and
/// none before it but `^`/`\A`), followed by the rest: that rest, and
/// whether the rule starts with `^`.
fn rest_after(h: &Hir, chosen: &[Literal]) -> Option<(Hir, bool)> {
    let HirKind::Concat(xs) = h.kind() else {
        return None;
    };
    let is_start = |x: &Hir| matches!(x.kind(), HirKind::Look(Look::Start));
    let skip = xs.iter().take_while(|x| is_start(x)).count();
    let mut run = vec![Piece {
        bytes: vec![],
        case_insensitive: false,
        exact: true,
    }];
    for (j, x) in xs.iter().enumerate().skip(skip) {
        run = cross(&run, &language(x)?)?;
        if run.iter().all(|p| p.exact) && finish(run.clone()) == chosen {
            return Some((Hir::concat(xs[j + 1..].to_vec()), skip > 0));
        }
    }
    None
}

fn finish(set: Vec<Piece>) -> Vec<Literal> {
    let mut lits: Vec<Literal> = set
        .into_iter()
        .map(|p| {
            let mut bytes = p.bytes;
            if p.case_insensitive {
                bytes.make_ascii_lowercase();
            }
            Literal {
                bytes,
                case_insensitive: p.case_insensitive,
            }
        })
        .collect();
    lits.sort();
    lits.dedup();
    lits
}

/// How the prefilter handles the rule whose pattern parses to `hir`.
///
/// ```
/// use dfabake::literals::{plan, Plan};
/// let parse = |p| regex_syntax::ParserBuilder::new().utf8(false).build().parse(p).unwrap();
/// assert!(matches!(plan(&parse("Googlebot")), Plan::Complete(_)));
/// assert!(matches!(plan(&parse(r"(?i)bingbot/\d+")), Plan::AfterLiteral(..)));
/// assert!(matches!(plan(&parse(r"^bingbot/\d+")), Plan::AfterLiteral(_, _, true)));
/// assert!(matches!(plan(&parse(r"\bbingbot/\d+")), Plan::Anchored(_)));
/// assert!(matches!(plan(&parse(r"\d+ bingbot")), Plan::Triggered(_)));
/// assert_eq!(plan(&parse(r"^\d+$")), Plan::Always);
/// ```
pub fn plan(hir: &Hir) -> Plan {
    plan_avoiding(hir, &Common::new())
}

/// The literals [`plan_avoiding`] chose for a rule, ASCII-lowercased: what
/// [`common_literals`] counts.
pub fn chosen(plan: &Plan) -> Vec<Vec<u8>> {
    match plan {
        Plan::Triggered(l) | Plan::Anchored(l) | Plan::AfterLiteral(l, ..) => {
            l.iter().map(|l| l.bytes.to_ascii_lowercase()).collect()
        }
        Plan::Complete(_) | Plan::Always => Vec::new(),
    }
}

/// Rules that pick the same trigger literal: past this many, the literal is
/// taken as common in inputs ([`Common`]).
pub const COMMON_AFTER: usize = 16;

/// The literals that more than [`COMMON_AFTER`] of `plans` chose as their
/// trigger.
pub fn common_literals<'p>(plans: impl IntoIterator<Item = &'p Plan>) -> Common {
    let mut count: std::collections::HashMap<Vec<u8>, usize> = Default::default();
    for plan in plans {
        let mut lits = chosen(plan);
        lits.sort();
        lits.dedup();
        for l in lits {
            *count.entry(l).or_default() += 1;
        }
    }
    count
        .into_iter()
        .filter(|&(_, n)| n > COMMON_AFTER)
        .map(|(l, _)| l)
        .collect()
}

/// [`plan`], preferring literal sets with no literal in `common`: a rule
/// triggered by a literal that most inputs hold would run on most inputs.
/// A common literal is still used when the rule has no other.
pub fn plan_avoiding(hir: &Hir, common: &Common) -> Plan {
    let usable = |set: &[Piece]| {
        !set.is_empty()
            && set
                .iter()
                .all(|p| p.bytes.len() >= KEY_LEN && p.bytes.len() <= 0xFFFF)
    };
    if let Some(set) = language(hir) {
        if usable(&set) && set.iter().all(|p| p.exact) {
            return Plan::Complete(finish(set));
        }
    }
    match required(hir, common) {
        Some(set) if usable(&set) => match prefixes(hir, common) {
            // A prefix set as selective as the best set lets the DFA start
            // at the occurrence instead of reading the whole input.
            Some(pre)
                if usable(&pre)
                    && score(&pre, common).1 >= score(&set, common).1
                    && score(&pre, common).0 >= score(&set, common).0 =>
            {
                let lits = finish(pre);
                match rest_after(hir, &lits) {
                    Some((rest, at_start)) => Plan::AfterLiteral(lits, rest, at_start),
                    None => Plan::Anchored(lits),
                }
            }
            _ => Plan::Triggered(finish(set)),
        },
        _ => Plan::Always,
    }
}

/// Most pairs a gate may have.
pub const MAX_GATE_PAIRS: usize = 8;
/// Most ASCII byte combinations a gate's pairs may accept together: past
/// that (`[A-Z][A-Z]`), the gate lets most inputs through.
pub const MAX_GATE_COMBINATIONS: u32 = 64;
/// Most texts of [`BACKGROUND_TEXT`] a gate may open on (`-L` is in
/// `Accept-Language`, not in user agents).
///
/// [`BACKGROUND_TEXT`]: dfabake_matcher::prefilter::BACKGROUND_TEXT
pub const MAX_GATE_BACKGROUND: usize = 1;

/// A byte set, bit `b % 32` of word `b / 32` for byte `b` ([`Pair`]'s).
type ByteSet = [u32; 8];

fn insert(set: &mut ByteSet, b: u8) {
    set[usize::from(b / 32)] |= 1 << (b % 32);
}

fn union(a: ByteSet, b: ByteSet) -> ByteSet {
    core::array::from_fn(|w| a[w] | b[w])
}

/// The bytes a character of `class` may start (`last`: end) its UTF-8
/// encoding with, or more: a non-ASCII range contributes every leading
/// byte between its ends', or every continuation byte.
fn class_edge(class: &Class, last: bool) -> ByteSet {
    let mut set = [0; 8];
    match class {
        Class::Bytes(c) => {
            for r in c.ranges() {
                for b in r.start()..=r.end() {
                    insert(&mut set, b);
                }
            }
        }
        Class::Unicode(c) => {
            for r in c.ranges() {
                let (lo, hi) = (u32::from(r.start()), u32::from(r.end()));
                for b in lo.min(0x80)..hi.min(0x7F) + 1 {
                    insert(&mut set, b as u8);
                }
                if hi >= 0x80 {
                    let lead = |c: char| c.encode_utf8(&mut [0; 4]).as_bytes()[0];
                    let (from, to) = if last {
                        (0x80, 0xBF)
                    } else {
                        (lead(r.start().max('\u{80}')), lead(r.end()))
                    };
                    for b in from..=to {
                        insert(&mut set, b);
                    }
                }
            }
        }
    }
    set
}

/// The bytes every match of `h` starts (`last`: ends) with, when every
/// match reads at least one byte there.
fn edge(h: &Hir, last: bool) -> Option<ByteSet> {
    match h.kind() {
        HirKind::Literal(l) => (if last { l.0.last() } else { l.0.first() }).map(|&b| {
            let mut set = [0; 8];
            insert(&mut set, b);
            set
        }),
        HirKind::Class(c) => Some(class_edge(c, last)),
        HirKind::Capture(c) => edge(&c.sub, last),
        HirKind::Repetition(r) if r.min >= 1 => edge(&r.sub, last),
        HirKind::Concat(xs) => {
            let mut reads = xs.iter().filter(|x| !matches!(x.kind(), HirKind::Look(_)));
            let x = if last {
                reads.next_back()
            } else {
                reads.next()
            }?;
            edge(x, last)
        }
        HirKind::Alternation(xs) => xs
            .iter()
            .map(|x| edge(x, last))
            .try_fold([0; 8], |all, e| Some(union(all, e?))),
        _ => None,
    }
}

/// How many texts of those every input carries a pair occurs in, then how
/// many ASCII byte combinations it accepts (non-ASCII bytes rarely occur in
/// the inputs these lists are for): smaller is a better gate.
fn pair_cost(p: &Pair) -> (usize, u32) {
    let ascii = |set: &ByteSet| set[..4].iter().map(|w| w.count_ones()).sum::<u32>();
    let background = dfabake_matcher::prefilter::BACKGROUND_TEXT
        .iter()
        .filter(|t| p.occurs_in(t.as_bytes()))
        .count();
    (background, ascii(&p.first) * ascii(&p.second))
}

fn gate_cost(pairs: &[Pair]) -> (usize, u32) {
    pairs
        .iter()
        .map(pair_cost)
        .fold((0, 0), |(a, b), (c, d)| (a + c, b + d))
}

fn cheaper(a: Option<Vec<Pair>>, b: Option<Vec<Pair>>) -> Option<Vec<Pair>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if gate_cost(&b) < gate_cost(&a) { b } else { a }),
        (a, b) => a.or(b),
    }
}

fn pair(first: ByteSet, second: ByteSet) -> Pair {
    Pair { first, second }
}

/// Pairs one of which every match of `h` reads, the cheapest found.
fn required_pairs(h: &Hir) -> Option<Vec<Pair>> {
    match h.kind() {
        HirKind::Literal(l) => {
            l.0.windows(2)
                .map(|w| {
                    let (mut a, mut b) = ([0; 8], [0; 8]);
                    insert(&mut a, w[0]);
                    insert(&mut b, w[1]);
                    Some(vec![pair(a, b)])
                })
                .fold(None, cheaper)
        }
        HirKind::Capture(c) => required_pairs(&c.sub),
        HirKind::Repetition(r) if r.min >= 1 => {
            // `x{2,}` reads the end of one `x` and the start of the next.
            let across = (r.min >= 2)
                .then(|| Some(vec![pair(edge(&r.sub, true)?, edge(&r.sub, false)?)]))
                .flatten();
            cheaper(required_pairs(&r.sub), across)
        }
        HirKind::Alternation(xs) => {
            let mut all: Vec<Pair> = Vec::new();
            for x in xs {
                for p in required_pairs(x)? {
                    if !all.contains(&p) {
                        all.push(p);
                    }
                }
            }
            (all.len() <= MAX_GATE_PAIRS).then_some(all)
        }
        HirKind::Concat(xs) => {
            let items = concat_items(xs);
            // Zero-width assertions read no byte: the bytes around them
            // are adjacent.
            let reads: Vec<&Hir> = items
                .iter()
                .filter(|x| !matches!(x.kind(), HirKind::Look(_)))
                .collect();
            let mut found = None;
            for x in &reads {
                found = cheaper(found, required_pairs(x));
            }
            for w in reads.windows(2) {
                if let (Some(a), Some(b)) = (edge(w[0], true), edge(w[1], false)) {
                    found = cheaper(found, Some(vec![pair(a, b)]));
                }
            }
            found
        }
        _ => None,
    }
}

/// A gate for a rule without literals ([`Plan::Always`]): pairs of
/// adjacent bytes, one of which every match of `hir` reads, so that the
/// rule's shard needs to run only on inputs holding one
/// ([`dfabake_matcher::gate`]). `None` when no such pairs are selective
/// enough: at most [`MAX_GATE_PAIRS`], accepting at most
/// [`MAX_GATE_COMBINATIONS`] ASCII byte combinations together and
/// occurring in at most [`MAX_GATE_BACKGROUND`] texts of
/// [`BACKGROUND_TEXT`].
///
/// [`BACKGROUND_TEXT`]: dfabake_matcher::prefilter::BACKGROUND_TEXT
///
/// ```
/// let parse = |p| regex_syntax::ParserBuilder::new().utf8(false).build().parse(p).unwrap();
/// let gate = dfabake::literals::gate(&parse(r"; ([A-Z]{3}-L[A-Z0-9]{2})\)")).unwrap();
/// assert_eq!(gate.len(), 1);
/// assert!(gate[0].occurs_in(b"x-Ly") && !gate[0].occurs_in(b"x-ly"));
/// // Every two letters: too many combinations to gate anything.
/// assert!(dfabake::literals::gate(&parse(r"^[A-Z]{2,}$")).is_none());
/// ```
pub fn gate(hir: &Hir) -> Option<Vec<Pair>> {
    let pairs = required_pairs(hir)?;
    let (_, combinations) = gate_cost(&pairs);
    let background = dfabake_matcher::prefilter::BACKGROUND_TEXT
        .iter()
        .filter(|t| pairs.iter().any(|p| p.occurs_in(t.as_bytes())))
        .count();
    // An empty class never matches; a gate of it would never open.
    let opens = |p: &Pair| p.first != [0; 8] && p.second != [0; 8];
    (!pairs.is_empty()
        && pairs.iter().all(opens)
        && pairs.len() <= MAX_GATE_PAIRS
        && background <= MAX_GATE_BACKGROUND
        && combinations <= MAX_GATE_COMBINATIONS)
        .then_some(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(p: &str) -> Hir {
        regex_syntax::ParserBuilder::new()
            .utf8(false)
            .build()
            .parse(p)
            .unwrap()
    }

    fn lits(plan: Plan) -> Vec<(String, bool)> {
        match plan {
            Plan::Complete(l)
            | Plan::Triggered(l)
            | Plan::Anchored(l)
            | Plan::AfterLiteral(l, ..) => l
                .into_iter()
                .map(|l| (String::from_utf8(l.bytes).unwrap(), l.case_insensitive))
                .collect(),
            Plan::Always => vec![],
        }
    }

    #[test]
    fn picks_the_longest_required_literal() {
        assert_eq!(
            lits(plan(&parse(r"Mozilla.*Googlebot/\d"))),
            vec![("Googlebot/".into(), false)]
        );
        assert_eq!(
            lits(plan(&parse(r"(?:Google|Bing)bot\d"))),
            vec![("Bingbot".into(), false), ("Googlebot".into(), false)]
        );
    }

    #[test]
    fn case_insensitive_letters_fold_but_kelvin_stays_apart() {
        assert_eq!(
            plan(&parse("(?i)googlebot")),
            Plan::Complete(vec![Literal {
                bytes: b"googlebot".to_vec(),
                case_insensitive: true
            }])
        );
        // `k` also matches U+212A KELVIN SIGN under Unicode case folding:
        // its literals keep that variant apart.
        let k: Vec<Vec<u8>> = language(&parse("(?i)k"))
            .unwrap()
            .into_iter()
            .map(|p| p.bytes)
            .collect();
        assert!(k.contains(&"\u{212A}".as_bytes().to_vec()), "{k:?}");
        let got = lits(plan(&parse("(?i)kelvin")));
        assert_eq!(
            got,
            vec![("kelvin".into(), true), ("\u{212A}elvin".into(), true)]
        );
    }

    #[test]
    fn mixed_case_sensitivity_is_a_filter_not_a_decision() {
        assert!(matches!(plan(&parse("Bot(?i:x)y")), Plan::Anchored(_)));
        assert!(matches!(plan(&parse("bot-(?i:abc)")), Plan::Anchored(_)));
        assert!(matches!(plan(&parse("123(?i:abc)")), Plan::Complete(_)));
    }

    #[test]
    fn unicode_case_variants_do_not_crowd_out_a_plain_run() {
        // `s` and `k` fold to three characters each under Unicode `(?i)`,
        // of which the ASCII two make one case-insensitive literal: 2 × 2 × 2
        // variants of the whole word, not 27.
        let got = lits(plan(&parse("(?i)seolinkspider")));
        assert_eq!(got.len(), 8, "{got:?}");
        assert!(got.contains(&("seolinkspider".into(), true)));
        assert!(matches!(
            plan(&parse("(?i)(?:Mailbotcheck26|Shopindex|seolinkspider)")),
            Plan::Complete(_)
        ));
    }

    #[test]
    fn short_bounded_repeats_and_groups_join_literal_runs() {
        let lit = |b: &str| Literal {
            bytes: b.as_bytes().to_vec(),
            case_insensitive: false,
        };
        let lits = |v: &[&str]| v.iter().map(|b| lit(b)).collect::<Vec<_>>();
        // The run crosses into the group: a user-agent parser's device
        // rule, which had no literal of three bytes before.
        assert_eq!(
            plan(&parse(r"; {0,2}(SN\d+T[^;]*)(?: Build|;)")),
            Plan::Anchored(lits(&[";  SN", "; SN", ";SN"]))
        );
        // `E?` and a class: every combination.
        assert_eq!(
            plan(&parse(r"\bLGE?[ \-]([A-Za-z0-9]+)")),
            Plan::Anchored(lits(&["LG ", "LG-", "LGE ", "LGE-"]))
        );
        // A finite language still decides the rule alone.
        assert_eq!(
            plan(&parse(r"Googlebot(?:/2)?")),
            Plan::Complete(lits(&["Googlebot", "Googlebot/2"]))
        );
        // A repeat that may be absent requires nothing; longer bounded
        // repeats are not expanded (`yz` alone is too short).
        assert_eq!(plan(&parse(r"(?:ab){0,2}\d")), Plan::Always);
        assert_eq!(plan(&parse(r"x{0,9}yz\d")), Plan::Always);
    }

    #[test]
    fn prefix_literals_anchor_the_dfa() {
        let lit = |b: &str| Literal {
            bytes: b.as_bytes().to_vec(),
            case_insensitive: false,
        };
        // Leading assertions are checked by the DFA itself at the literal.
        assert_eq!(
            plan(&parse(r"^Googlebot/\d")),
            Plan::AfterLiteral(vec![lit("Googlebot/")], parse(r"\d"), true)
        );
        assert_eq!(
            plan(&parse(r"(?m)^Googlebot/\d")),
            Plan::Anchored(vec![lit("Googlebot/")])
        );
        assert_eq!(plan(&parse(r"\bbot\w")), Plan::Anchored(vec![lit("bot")]));
        assert_eq!(
            plan(&parse(r"\(name[^;)]*;")),
            Plan::AfterLiteral(vec![lit("(name")], parse(r"[^;)]*;"), false)
        );
        assert_eq!(
            plan(&parse(r"(?:Google|Bing)bot\d")),
            Plan::AfterLiteral(vec![lit("Bingbot"), lit("Googlebot")], parse(r"\d"), false)
        );
        // An inexact literal (case-sensitive letters compared without
        // case) only says where to start: the DFA reads it again.
        assert!(matches!(plan(&parse(r"Bot(?i:x)\d")), Plan::Anchored(_)));
        // A literal as long as the rule's: nothing after it to run.
        assert_eq!(
            plan(&parse(r"name\b")),
            Plan::AfterLiteral(vec![lit("name")], parse(r"\b"), false)
        );
        assert_eq!(
            plan(&parse(r"(?:abc\d|xyz\s)+")),
            Plan::Anchored(vec![lit("abc"), lit("xyz")])
        );
        // Something may come before the literal: not anchored.
        assert_eq!(
            plan(&parse(r"\d+ Googlebot")),
            Plan::Triggered(vec![lit(" Googlebot")])
        );
        assert_eq!(
            plan(&parse(r"(?:\d|x)Googlebot\d")),
            Plan::Triggered(vec![lit("Googlebot")])
        );
        assert_eq!(
            plan(&parse(r"(?:^|x)Googlebot\d")),
            Plan::Triggered(vec![lit("Googlebot")])
        );
        // A longer literal later beats a short one at the start.
        assert_eq!(
            plan(&parse(r"abc\d+Googlebot")),
            Plan::Triggered(vec![lit("Googlebot")])
        );
    }

    #[test]
    fn no_literal_means_always() {
        assert_eq!(plan(&parse(r"\d{3}-\d{4}")), Plan::Always);
        assert_eq!(plan(&parse(r"ab|cde")), Plan::Always);
        assert_eq!(plan(&parse(r"(?:abc)?x")), Plan::Always);
        assert_eq!(
            plan(&parse(r"\babc\b")),
            Plan::Anchored(vec![Literal {
                bytes: b"abc".to_vec(),
                case_insensitive: false
            }])
        );
    }

    /// The rules without literals of a user-agent parser, and shapes around
    /// them (Unicode classes, case-insensitive letters, assertions).
    const GATED: &[&str] = &[
        r"; {0,2}((?:[A-Z]{3})\-L[A-Za0-9]{2})[\)]",
        r"(?:; {0,2}|^)((?:GT\-[BIiNPS]\d{4}|I9\d{2}0[A-Za-z\+]?\b)[^;/\)]*?)(?:Build|Linux|MIUI|[;/\)])",
        r"; {0,2}([A-Z]{2,4})(M\d{3,}[A-Z]{2})([^;\)\/]*)(?: Build|[;\)])",
        r"(UC? ?Browser|UCWEB|U3)[ /]?(\d+)\.(\d+)\.(\d+)",
        r"(?i)\bLG[ _\-]?(\w+)",
        r"(?i)k\d{2}\b",
        r"\d\.x",
        r"(?:ab|c[0-9é])\d",
    ];

    #[test]
    fn every_match_holds_a_pair_of_its_gate() {
        let alphabet: &[&str] = &[
            "; ",
            ";",
            "ABC",
            "-L",
            "L",
            "-",
            "x1",
            "GT-I",
            "I9",
            "1230",
            "0",
            "9",
            "M",
            "M123",
            "٣",
            "XY",
            " Build",
            "UC",
            "U3",
            "Browser",
            " ",
            "/",
            ".",
            "4",
            "lg",
            "LG",
            "_",
            "K",
            "k",
            "\u{212A}",
            "ab",
            "c",
            "é",
            "x",
            "\n",
            // Whole matches, so that each rule matches often enough.
            "; ABC-L1a)",
            "; GT-I9300 Build",
            "I9100",
            "; SMM123AB;",
            "; ABM٣٣٣XY Build",
            "UCBrowser/1.2.3",
            "U3 4.5.6",
            "LG-H900",
            "\u{212A}12 ",
            "k٣4",
            "3.x",
            "cé7",
        ];
        let mut seed = 0x9e37_79b9u32;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed as usize % n
        };
        for pattern in GATED {
            let gate = gate(&parse(pattern)).unwrap_or_else(|| panic!("no gate for {pattern}"));
            let re = regex::bytes::Regex::new(pattern).unwrap();
            let mut matched = 0;
            for _ in 0..20_000 {
                let hay: String = (0..1 + next(8))
                    .map(|_| alphabet[next(alphabet.len())])
                    .collect();
                if re.is_match(hay.as_bytes()) {
                    matched += 1;
                    assert!(
                        gate.iter().any(|p| p.occurs_in(hay.as_bytes())),
                        "{pattern} matches {hay:?}, its gate is closed"
                    );
                }
            }
            assert!(
                matched > 10,
                "{pattern}: {matched} matches, too few to tell"
            );
        }
    }

    #[test]
    fn gates_pick_rare_pairs_and_refuse_common_ones() {
        let text = |p: &str| -> Vec<String> {
            gate(&parse(p))
                .unwrap()
                .iter()
                .map(crate::relax::pair_text)
                .collect()
        };
        assert_eq!(text(r"[A-Z]{3}\-L[A-Z]"), [r"\-L"]);
        // `[A-Z]M` is in `KHTML`: the digit after the `M` is rarer.
        assert_eq!(
            text(r"[A-Z]{2,4}M\d{2}"),
            ["M(?-u:[0-9\\xD9\\xDB\\xDF-\\xE1\\xEA\\xEF\\xF0])"]
        );
        assert_eq!(text(r"GT|I9"), ["GT", "I9"]);
        // Two letters anywhere, a word and a space, optional parts only:
        // nothing to gate on.
        for p in [r"^[A-Z]{2,}$", r"\w \w", r"a?b?", r"(?:ab)?", "a"] {
            assert!(gate(&parse(p)).is_none(), "{p}");
        }
    }
}
