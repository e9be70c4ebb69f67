//! Over-approximating a rule whose DFA is too big, so that a small DFA can
//! still filter for it and the exact engine confirms its candidates.
//!
//! Large counted repetitions (`.{0,200}`, `[^;]{0,300}`, `\w{20}`) are what
//! make DFAs explode: each count multiplies states. Widening `X{n,m}` to
//! `X{n,}` (`X*` for a big `n`) only adds strings to the language, so the
//! widened DFA matches everything the rule matches (and some more): a
//! filter with no false negatives, and on inputs without long runs of the
//! widened classes' bytes no false positives either ([`run_bounds`]).

use regex_syntax::hir::{
    Capture, Class, ClassBytes, ClassBytesRange, ClassUnicode, ClassUnicodeRange, Hir, HirKind,
    Repetition,
};

/// Repetitions with a bound above this are widened.
pub const WIDEN_ABOVE: u32 = 4;

/// Rebuilds `h`, offering every node to `node` first: `Some` replaces the
/// node, `None` keeps it and rebuilds its children the same way.
fn rewrite(h: &Hir, node: &impl Fn(&Hir) -> Option<Hir>) -> Hir {
    if let Some(new) = node(h) {
        return new;
    }
    match h.kind() {
        HirKind::Repetition(r) => Hir::repetition(Repetition {
            sub: Box::new(rewrite(&r.sub, node)),
            ..r.clone()
        }),
        HirKind::Capture(c) => Hir::capture(Capture {
            index: c.index,
            name: c.name.clone(),
            sub: Box::new(rewrite(&c.sub, node)),
        }),
        HirKind::Concat(xs) => Hir::concat(xs.iter().map(|x| rewrite(x, node)).collect()),
        HirKind::Alternation(xs) => Hir::alternation(xs.iter().map(|x| rewrite(x, node)).collect()),
        _ => h.clone(),
    }
}

/// Whether [`widened_hir`] widens this repetition.
fn is_widened(r: &Repetition) -> bool {
    r.min > WIDEN_ABOVE || r.max.is_some_and(|m| m > WIDEN_ABOVE)
}

/// `X{n,m}` with a bound over [`WIDEN_ABOVE`] becomes `X{n,}`, or `X*` when
/// `n` is over it too: a small minimum stays, so that the DFA still tells
/// where the rule can match on inputs without long runs ([`run_bounds`]).
fn widen_repetition(h: &Hir) -> Option<Hir> {
    let HirKind::Repetition(r) = h.kind() else {
        return None;
    };
    if !is_widened(r) {
        return None;
    }
    Some(Hir::repetition(Repetition {
        min: if r.min <= WIDEN_ABOVE { r.min } else { 0 },
        max: None,
        greedy: r.greedy,
        sub: Box::new(rewrite(&r.sub, &widen_repetition)),
    }))
}

/// The widened form of `pattern` (flags inlined, as compiled), or `None`
/// when widening would change nothing. For callers holding text (tools,
/// examples): a build widens the HIR its check parsed ([`widened_hir`]).
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
    widened_hir(&hir).map(|w| w.to_string())
}

/// [`widened`] on a HIR: `None` when widening would change nothing.
pub fn widened_hir(hir: &Hir) -> Option<Hir> {
    let wide = rewrite(hir, &widen_repetition);
    (wide != *hir).then_some(wide)
}

/// The bytes a class can read: its own, or for a Unicode class its ASCII
/// members and, if it has any other, every byte of a multi-byte UTF-8
/// sequence. As a byte set of the database's run bounds: bit `b % 32` of
/// word `b / 32` for byte `b`.
fn class_bytes(c: &Class) -> [u32; 8] {
    let mut set = [0u32; 8];
    let mut add = |lo: u32, hi: u32| {
        for b in lo..=hi.min(255) {
            set[(b / 32) as usize] |= 1 << (b % 32);
        }
    };
    match c {
        Class::Bytes(c) => c
            .ranges()
            .iter()
            .for_each(|r| add(u32::from(r.start()), u32::from(r.end()))),
        Class::Unicode(c) => {
            for r in c.ranges() {
                add(r.start() as u32, (r.end() as u32).min(0x7F));
                if r.end() as u32 >= 0x80 {
                    add(0x80, 0xFF);
                }
            }
        }
    }
    set
}

/// A byte set of [`run_bounds`] as a byte class, for people
/// (`(?-u:[0-9])`).
pub fn byte_set_class(set: &[u32; 8]) -> String {
    // `ClassBytes::new` merges the single bytes into ranges.
    let bytes = (0..=255u8)
        .filter(|&b| set[usize::from(b / 32)] >> (b % 32) & 1 == 1)
        .map(|b| ClassBytesRange::new(b, b));
    Hir::class(Class::Bytes(ClassBytes::new(bytes))).to_string()
}

/// A gate's pair ([`crate::literals::gate`]) as two byte classes, for
/// people (`(?-u:[\-])(?-u:L)`).
pub fn pair_text(pair: &dfabake_matcher::gate::Pair) -> String {
    format!(
        "{}{}",
        byte_set_class(&pair.first),
        byte_set_class(&pair.second)
    )
}

/// Where [`widened_hir`] changes nothing: for each repetition it widens,
/// the bytes its class reads (as [`byte_set_class`] shows them) and its
/// maximum. A match of the widened rule that repeats such a class `k` times
/// reads `k` of its bytes in a row, and widening keeps the minimum, so on
/// an input with no longer run of those bytes than the maximum, the widened
/// rule matches exactly where the rule does: a DFA of it needs no
/// confirmation there.
/// `None` when a widened repetition is of more than one class, or drops
/// its minimum (over [`WIDEN_ABOVE`]), or when nothing is widened.
///
/// ```
/// let parse = |p| regex_syntax::ParserBuilder::new().utf8(false).build().parse(p).unwrap();
/// let bounds = dfabake::relax::run_bounds(&parse(r"^.{0,200}?x[a-z]{1,30}")).unwrap();
/// let mut most: Vec<u32> = bounds.iter().map(|b| b.1).collect();
/// most.sort();
/// assert_eq!(most, [30, 200]);
/// assert!(dfabake::relax::run_bounds(&parse(r"(?:ab){0,9}")).is_none());
/// assert!(dfabake::relax::run_bounds(&parse(r"\d{8}")).is_none());
/// assert!(dfabake::relax::run_bounds(&parse(r"a{2}")).is_none());
/// ```
pub fn run_bounds(hir: &Hir) -> Option<Vec<([u32; 8], u32)>> {
    fn walk(h: &Hir, out: &mut Vec<([u32; 8], u32)>) -> Option<()> {
        match h.kind() {
            HirKind::Repetition(r) if is_widened(r) => match (r.sub.kind(), r.max) {
                (HirKind::Class(c), Some(max)) if r.min <= WIDEN_ABOVE => {
                    out.push((class_bytes(c), max));
                    Some(())
                }
                _ => None,
            },
            HirKind::Repetition(r) => walk(&r.sub, out),
            HirKind::Capture(c) => walk(&c.sub, out),
            HirKind::Concat(xs) | HirKind::Alternation(xs) => {
                xs.iter().try_for_each(|x| walk(x, out))
            }
            _ => Some(()),
        }
    }
    let mut out = Vec::new();
    walk(hir, &mut out)?;
    // One bound a byte set: the smallest.
    out.sort_unstable();
    out.dedup_by_key(|b| b.0);
    (!out.is_empty()).then_some(out)
}

/// Whether a Unicode class needs widening: it holds some non-ASCII
/// characters but not all of them (`\d`, `\w`, `\s`, `[Kk\u{212A}]`).
/// Classes with no non-ASCII member, or with every one (`.`, `[^;]`), are
/// cheap as they are.
fn partly_non_ascii(c: &ClassUnicode) -> bool {
    let all = ClassUnicode::new([ClassUnicodeRange::new('\u{80}', '\u{10FFFF}')]);
    let mut non_ascii = c.clone();
    non_ascii.intersect(&all);
    !non_ascii.ranges().is_empty() && non_ascii != all
}

/// A Unicode class holding some non-ASCII characters becomes its ASCII
/// part or any non-ASCII character.
fn widen_class(h: &Hir) -> Option<Hir> {
    let HirKind::Class(Class::Unicode(c)) = h.kind() else {
        return None;
    };
    if !partly_non_ascii(c) {
        return None;
    }
    let bytes = |lo, hi| {
        Hir::class(Class::Bytes(ClassBytes::new([ClassBytesRange::new(
            lo, hi,
        )])))
    };
    let ascii: Vec<ClassBytesRange> = c
        .ranges()
        .iter()
        .filter(|r| r.start() <= '\x7F')
        .map(|r| ClassBytesRange::new(r.start() as u8, (r.end() as u32).min(0x7F) as u8))
        .collect();
    // Any non-ASCII character, as UTF-8: a lead byte, then continuation bytes.
    let any_non_ascii = Hir::concat(vec![
        bytes(0xC0, 0xFF),
        Hir::repetition(Repetition {
            min: 0,
            max: None,
            greedy: true,
            sub: Box::new(bytes(0x80, 0xBF)),
        }),
    ]);
    Some(if ascii.is_empty() {
        any_non_ascii
    } else {
        Hir::alternation(vec![
            Hir::class(Class::Bytes(ClassBytes::new(ascii))),
            any_non_ascii,
        ])
    })
}

/// The ASCII-widened form of a rule for its DFA, or `None` when it has no
/// class to widen.
///
/// Unicode classes such as `\d`, `\w`, `\s` or a case-folded `k` make DFAs
/// several times bigger and slower to build. Widened, such a class keeps
/// its ASCII members and accepts any non-ASCII character. On ASCII input
/// the widened rule matches exactly what the rule does; on other input it
/// matches a superset (the matcher then confirms with the exact engine).
/// Rules with a Unicode word boundary are not widened: `\b` decides
/// differently on non-ASCII text, which no superset covers.
///
/// ```
/// let hir = regex_syntax::ParserBuilder::new().utf8(false).build().parse(r"v\d+").unwrap();
/// let wide = dfabake::relax::ascii_widened(&hir).unwrap();
/// let re = regex::bytes::Regex::new(&wide.to_string()).unwrap();
/// assert!(re.is_match(b"v42") && !re.is_match(b"vx"));
/// assert!(re.is_match("v\u{0663}".as_bytes())); // ARABIC-INDIC DIGIT THREE, as \d does
/// assert!(dfabake::relax::ascii_widened(&regex_syntax::Parser::new().parse("a[^;]*b").unwrap()).is_none());
/// ```
pub fn ascii_widened(hir: &Hir) -> Option<Hir> {
    if hir.properties().look_set().contains_word_unicode() {
        return None;
    }
    let wide = rewrite(hir, &widen_class);
    (wide != *hir).then_some(wide)
}

/// Whether `h` can match the empty string with no look-around: such a part
/// at either end of a rule never decides *whether* the rule matches.
fn droppable(h: &Hir) -> bool {
    h.properties().minimum_len() == Some(0) && h.properties().look_set().is_empty()
}

/// `sub{n}`, kept a counted repetition (so that [`widened`] can still
/// widen it), or nothing for `n == 0`.
fn repeat(sub: &Hir, n: u32) -> Vec<Hir> {
    match n {
        0 => vec![],
        1 => vec![sub.clone()],
        _ => vec![Hir::repetition(Repetition {
            min: n,
            max: Some(n),
            greedy: true,
            sub: Box::new(sub.clone()),
        })],
    }
}

/// `h` at the end of a rule, reduced to what decides whether a match ends
/// somewhere: trailing optional parts dropped, `Y{n,m}` cut to `Y{n}`.
fn reduce_end(h: &Hir) -> Hir {
    match h.kind() {
        _ if droppable(h) => Hir::empty(),
        HirKind::Capture(c) => reduce_end(&c.sub),
        HirKind::Alternation(xs) => Hir::alternation(xs.iter().map(reduce_end).collect()),
        HirKind::Repetition(r) if r.min >= 1 && r.sub.properties().look_set().is_empty() => {
            let mut parts = repeat(&r.sub, r.min - 1);
            parts.push(reduce_end(&r.sub));
            Hir::concat(parts)
        }
        HirKind::Concat(xs) => {
            let mut xs = xs.clone();
            while xs.last().is_some_and(droppable) {
                xs.pop();
            }
            if let Some(last) = xs.pop() {
                xs.push(reduce_end(&last));
            }
            Hir::concat(xs)
        }
        _ => h.clone(),
    }
}

/// The mirror of [`reduce_end`] for the start of a rule (searches are
/// unanchored, so what precedes the decisive part does not matter).
fn reduce_start(h: &Hir) -> Hir {
    match h.kind() {
        _ if droppable(h) => Hir::empty(),
        HirKind::Capture(c) => reduce_start(&c.sub),
        HirKind::Alternation(xs) => Hir::alternation(xs.iter().map(reduce_start).collect()),
        HirKind::Repetition(r) if r.min >= 1 && r.sub.properties().look_set().is_empty() => {
            let mut parts = vec![reduce_start(&r.sub)];
            parts.extend(repeat(&r.sub, r.min - 1));
            Hir::concat(parts)
        }
        HirKind::Concat(xs) => {
            let mut xs: std::collections::VecDeque<Hir> = xs.iter().cloned().collect();
            while xs.front().is_some_and(droppable) {
                xs.pop_front();
            }
            if let Some(first) = xs.pop_front() {
                xs.push_front(reduce_start(&first));
            }
            Hir::concat(xs.into())
        }
        _ => h.clone(),
    }
}

/// The part of a rule that decides *whether* it matches somewhere, which is
/// all that modes `any` and `all` ask: an input holds a match of the rule
/// exactly when it holds a match of the reduced rule. Optional parts at
/// either end go (`^bot(?:/[\d.]+)?` → `^bot`, `compatible; x[^;]*` →
/// `compatible; x`), a repetition at an end keeps its minimum (`v\d+` →
/// `v\d`), and capture groups go. Parts with look-around stay. Spans and
/// captures (mode `first`) still come from the rule itself.
///
/// DFAs of reduced rules are smaller, and a reduced rule that is a plain
/// literal needs no DFA at all.
///
/// ```
/// let parse = |p| regex_syntax::ParserBuilder::new().utf8(false).build().parse(p).unwrap();
/// let reduced = dfabake::relax::reduced_for_search(&parse(r"^bot(?:/[\d.]+)?(?: \(\+https?://[^)]+\))?"));
/// assert_eq!(reduced, parse("^bot"));
/// assert_eq!(dfabake::relax::reduced_for_search(&parse(r"[^;]*(x\d+)")), parse(r"x\d"));
/// // Look-around stays; before it, one `a` decides as well as many.
/// assert_eq!(dfabake::relax::reduced_for_search(&parse(r"a+\b")), parse(r"a\b"));
/// ```
pub fn reduced_for_search(hir: &Hir) -> Hir {
    // Without groups, parts can be repeated without duplicating group names.
    reduce_start(&reduce_end(&without_captures(hir)))
}

/// Whether every match of the rule starts where a match of its reduced form
/// ([`reduced_for_search`]) starts: nothing optional or repeated precedes
/// the part that decides it (`Googlebot(?:/(\d+))?` yes; `(?:ab)?Googlebot`
/// and `a+bot` no). Each match of the reduced form starts a match of the
/// rule, so for a rule reduced to literals, the leftmost occurrence of one
/// is where the rule's leftmost match starts.
///
/// ```
/// let parse = |p| regex_syntax::ParserBuilder::new().utf8(false).build().parse(p).unwrap();
/// use dfabake::relax::starts_at_reduced;
/// assert!(starts_at_reduced(&parse(r"Googlebot(?:/(\d+))?")));
/// assert!(starts_at_reduced(&parse(r"(?i)bingbot|slurp")));
/// assert!(!starts_at_reduced(&parse(r"(ab)?Googlebot")));
/// assert!(!starts_at_reduced(&parse(r"a+bot")));
/// assert!(!starts_at_reduced(&parse(r"[^;]*(x\d+)")));
/// ```
pub fn starts_at_reduced(hir: &Hir) -> bool {
    let end = reduce_end(&without_captures(hir));
    reduce_start(&end) == end
}

fn without_captures(h: &Hir) -> Hir {
    fn strip(h: &Hir) -> Option<Hir> {
        match h.kind() {
            HirKind::Capture(c) => Some(rewrite(&c.sub, &strip)),
            _ => None,
        }
    }
    rewrite(h, &strip)
}
