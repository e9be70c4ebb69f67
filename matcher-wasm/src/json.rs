//! The JSON shape of match results, shared by every flavour.
//!
//! `matches` is always an array:
//!
//! * `any`: `[]`, or one `{"id": …, "payload": …}` of a matching rule;
//! * `all`: `{"id": …, "payload": …}` for every matching rule, in priority order;
//! * `first`: `[]`, or `[{"id": …, "start": …, "end": …, "payload": …, "captures": [[s, e] | null, …]}]`
//!   with byte offsets, `captures[i]` being group `i` (group 0 is the whole match).
//!
//! `payload` is `null` for rules without one.

use alloc::vec::Vec;

use crate::format::Database;
use crate::matcher::{Cache, Matcher, Mode};

/// Writes `n` in decimal. Without a scratch buffer or a copy: in wasm,
/// zeroing a buffer is a `memory.fill` and copying a few bytes of unknown
/// length a `memory.copy`, each a call out of the module (an offset cost
/// ~100 instructions that way, a quarter of `first` on a crawler list).
///
/// Offsets below 10,000 (most of them) take their digits from a table of
/// pairs: two divisions instead of one a digit. Inlined: four numbers a
/// `first` answer, each otherwise a frame of its own in wasm.
#[inline(always)]
fn push_usize(out: &mut Vec<u8>, n: usize) {
    if n < 10_000 {
        push_small(out, n);
        return;
    }
    push_large(out, n);
}

/// Writes `n` (below 10^4) in decimal: its digit pairs from a table, in
/// one store.
#[inline(always)]
fn push_small(out: &mut Vec<u8>, n: usize) {
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839\
        4041424344454647484950515253545556575859\
        6061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";
    debug_assert!(n < 10_000);
    let pair = |p: usize| u32::from(PAIRS[2 * p]) | u32::from(PAIRS[2 * p + 1]) << 8;
    let (high, low) = (n / 100, n % 100);
    // All four digits, high pair first, then how many leading zeros to drop.
    let word = pair(high) | pair(low) << 16;
    let len = match n {
        0..=9 => 1,
        10..=99 => 2,
        100..=999 => 3,
        _ => 4,
    };
    push_word(out, u64::from(word >> (8 * (4 - len))), len);
}

/// Appends the low `len` bytes (at most 8) of `word`, first byte lowest:
/// one 8-byte store into the spare capacity, then the length.
#[inline(always)]
fn push_word(out: &mut Vec<u8>, word: u64, len: usize) {
    debug_assert!(len <= 8);
    out.reserve(8);
    let at = out.len();
    // SAFETY: `reserve(8)` leaves room for 8 bytes at `at`; the `len` (at
    // most 8) bytes `set_len` takes in are the ones just written.
    unsafe {
        out.as_mut_ptr()
            .add(at)
            .cast::<u64>()
            .write_unaligned(word.to_le());
        out.set_len(at + len);
    }
}

#[inline(never)]
fn push_large(out: &mut Vec<u8>, n: usize) {
    const EIGHT_DIGITS: usize = 100_000_000;
    if n >= EIGHT_DIGITS {
        push_large(out, n / EIGHT_DIGITS);
        push_digits(out, n % EIGHT_DIGITS, 8);
    } else {
        push_digits(out, n, 1);
    }
}

/// Writes `n` (below 10^8) in decimal, zero-padded to `width` digits
/// (at most 8).
fn push_digits(out: &mut Vec<u8>, mut n: usize, width: usize) {
    // The digits, last first, shifted in from the bottom: the first digit
    // ends in the lowest byte.
    debug_assert!(n < 100_000_000 && width <= 8);
    let (mut word, mut len) = (0u64, 0);
    while n > 0 || len < width {
        word = word << 8 | u64::from(b'0' + (n % 10) as u8);
        n /= 10;
        len += 1;
    }
    push_word(out, word, len);
}

/// Appends `src`, eight bytes a step for short texts (ids, payloads): in
/// wasm, copying a slice of a length unknown at compile time is a
/// `memory.copy`, a call out of the module (~70 instructions for a short id).
#[inline(always)]
fn push_bytes(out: &mut Vec<u8>, src: &[u8]) {
    const SHORT: usize = 64;
    let n = src.len();
    if !(4..=SHORT).contains(&n) {
        out.extend_from_slice(src);
        return;
    }
    out.reserve(n);
    let at = out.len();
    // SAFETY: `reserve(n)` leaves room for `n` bytes at `at`. Every read is
    // inside `src` (4 <= n: words at `k + 8 <= n`, then the last word(s)
    // ending at `n`), every write inside `at..at + n`, and together the
    // writes cover all of it (overlapping where the last word does); the
    // `n` bytes `set_len` takes in are those.
    unsafe {
        let (from, to) = (src.as_ptr(), out.as_mut_ptr().add(at));
        if n >= 8 {
            let mut k = 0;
            while k + 8 < n {
                to.add(k)
                    .cast::<u64>()
                    .write_unaligned(from.add(k).cast::<u64>().read_unaligned());
                k += 8;
            }
            to.add(n - 8)
                .cast::<u64>()
                .write_unaligned(from.add(n - 8).cast::<u64>().read_unaligned());
        } else {
            to.cast::<u32>()
                .write_unaligned(from.cast::<u32>().read_unaligned());
            to.add(n - 4)
                .cast::<u32>()
                .write_unaligned(from.add(n - 4).cast::<u32>().read_unaligned());
        }
        out.set_len(at + n);
    }
}

/// The rule's id and payload (`null` without one) as JSON text.
fn rule_json<'a>(db: &Database<'a>, rule: u32) -> (&'a [u8], &'a [u8]) {
    let (id, payload) = db.rule_json(rule as usize);
    (id, payload.unwrap_or(b"null"))
}

fn push_rule_head(out: &mut Vec<u8>, id: &[u8]) {
    out.extend_from_slice(b"{\"id\":");
    push_bytes(out, id);
}

fn push_payload(out: &mut Vec<u8>, payload: &[u8]) {
    out.extend_from_slice(b",\"payload\":");
    push_bytes(out, payload);
}

/// Runs `mode` on `hay` and writes the JSON array of matches to `out`
/// (cleared first). Returns the number of matches. `scratch` is reused
/// between calls to avoid allocating.
pub fn write_matches(
    matcher: &Matcher<'_>,
    cache: &mut Cache,
    mode: Mode,
    hay: &[u8],
    scratch: &mut Vec<u32>,
    out: &mut Vec<u8>,
) -> usize {
    out.clear();
    out.push(b'[');
    let db = matcher.database();
    let count = match mode {
        Mode::Any | Mode::All => {
            scratch.clear();
            if mode == Mode::Any {
                scratch.extend(matcher.find_any(cache, hay));
            } else {
                matcher.matches_into(cache, hay, scratch);
            }
            for (i, &rule) in scratch.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let (id, payload) = rule_json(db, rule);
                push_rule_head(out, id);
                push_payload(out, payload);
                out.push(b'}');
            }
            scratch.len()
        }
        Mode::First => match matcher.first(cache, hay) {
            None => 0,
            Some(m) => {
                let (id, payload) = rule_json(db, m.rule);
                push_rule_head(out, id);
                out.extend_from_slice(b",\"start\":");
                push_usize(out, m.start);
                out.extend_from_slice(b",\"end\":");
                push_usize(out, m.end);
                push_payload(out, payload);
                out.extend_from_slice(b",\"captures\":[");
                for (i, g) in m.captures.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    match g {
                        None => out.extend_from_slice(b"null"),
                        Some((s, e)) => {
                            out.push(b'[');
                            push_usize(out, *s);
                            out.push(b',');
                            push_usize(out, *e);
                            out.push(b']');
                        }
                    }
                }
                out.extend_from_slice(b"]}");
                1
            }
        },
    };
    out.push(b']');
    count
}

/// The kind of a JSON text's value, as [`check`] found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonKind {
    /// An integer: `-?(0|[1-9][0-9]*)`, no fraction, no exponent.
    Integer,
    /// A string.
    String,
    /// Any other value (a number with a fraction or exponent, an object, an
    /// array, `true`, `false`, `null`).
    Other,
}

/// Deepest nesting of arrays and objects a stored id or payload may have:
/// what the JSON parser the builder reads rules with (serde_json) accepts,
/// so no rules file can produce more, and consumers with the same limit
/// can read every answer.
pub const MAX_DEPTH: usize = 127;

/// Checks that `text` is exactly one JSON value (RFC 8259, whitespace
/// around it allowed, arrays and objects nested at most [`MAX_DEPTH`]
/// deep) and says what kind. Answers splice ids and payloads into their
/// output verbatim, so the database's verification runs this on each.
/// Iterative: no input can exhaust the stack. UTF-8 is checked separately.
pub fn check(text: &[u8]) -> Option<JsonKind> {
    let mut p = Parser { b: text, at: 0 };
    p.ws();
    // One bit per open container: set for an object.
    let mut objects = [0u64; MAX_DEPTH.div_ceil(64)];
    let mut depth = 0usize;
    let kind = match p.peek()? {
        b'"' => JsonKind::String,
        b'-' | b'0'..=b'9' => JsonKind::Integer, // until a fraction or exponent
        _ => JsonKind::Other,
    };
    let mut integer = true;
    'value: loop {
        let first = p.peek()?;
        match first {
            b'{' | b'[' => {
                if depth == MAX_DEPTH {
                    return None;
                }
                p.at += 1;
                p.ws();
                let close = if first == b'{' { b'}' } else { b']' };
                if p.peek() == Some(close) {
                    p.at += 1;
                } else {
                    let (word, bit) = (depth / 64, 1u64 << (depth % 64));
                    if first == b'{' {
                        objects[word] |= bit;
                        p.key()?;
                    } else {
                        objects[word] &= !bit;
                    }
                    depth += 1;
                    continue 'value;
                }
            }
            b'"' => p.string()?,
            b't' => p.literal(b"true")?,
            b'f' => p.literal(b"false")?,
            b'n' => p.literal(b"null")?,
            // Only a number at the top can make `kind` an integer.
            _ => integer &= p.number()?,
        }
        // After a value: a separator, the end of containers, or the end.
        loop {
            p.ws();
            if depth == 0 {
                let kind = if kind == JsonKind::Integer && !integer {
                    JsonKind::Other
                } else {
                    kind
                };
                return (p.at == text.len()).then_some(kind);
            }
            let in_object = objects[(depth - 1) / 64] >> ((depth - 1) % 64) & 1 == 1;
            match p.peek()? {
                b',' => {
                    p.at += 1;
                    p.ws();
                    if in_object {
                        p.key()?;
                    }
                    continue 'value;
                }
                b'}' if in_object => {}
                b']' if !in_object => {}
                _ => return None,
            }
            p.at += 1;
            depth -= 1;
        }
    }
}

struct Parser<'t> {
    b: &'t [u8],
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.at.checked_add(word.len())?;
        (self.b.get(self.at..end)? == word).then(|| self.at = end)
    }

    /// An object key and its colon, then the whitespace before its value.
    fn key(&mut self) -> Option<()> {
        if self.peek()? != b'"' {
            return None;
        }
        self.string()?;
        self.ws();
        if self.peek()? != b':' {
            return None;
        }
        self.at += 1;
        self.ws();
        Some(())
    }

    fn string(&mut self) -> Option<()> {
        self.at += 1; // the opening quote
        loop {
            match self.peek()? {
                b'"' => {
                    self.at += 1;
                    return Some(());
                }
                b'\\' => {
                    self.at += 1;
                    match self.peek()? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.at += 1,
                        b'u' => {
                            let hex = self.b.get(self.at + 1..self.at + 5)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return None;
                            }
                            self.at += 5;
                        }
                        _ => return None,
                    }
                }
                0..=0x1f => return None,
                _ => self.at += 1,
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
        self.at - start
    }

    /// A number; `Some(true)` if it is an integer.
    fn number(&mut self) -> Option<bool> {
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek()? {
            b'0' => self.at += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            self.at += 1;
            if self.digits() == 0 {
                return None;
            }
            integer = false;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if self.digits() == 0 {
                return None;
            }
            integer = false;
        }
        Some(integer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_in_decimal() {
        let mut cases: Vec<usize> = (0..20_000).collect();
        cases.extend([
            9_999_999,
            10_000_000,
            99_999_999,
            100_000_000,
            100_000_001,
            4_294_967_295,
        ]);
        cases.push(usize::MAX);
        for n in cases {
            let mut out = b"x".to_vec();
            push_usize(&mut out, n);
            assert_eq!(out, format!("x{n}").into_bytes());
        }
    }

    #[test]
    fn texts_of_every_length_are_copied_whole() {
        let text: Vec<u8> = (0..100u8).map(|b| b'!' + b % 90).collect();
        for prefix in [0, 1, 7] {
            for n in 0..text.len() {
                let mut out = b"#".repeat(prefix);
                out.shrink_to_fit(); // so that `push_bytes` has to grow it
                push_bytes(&mut out, &text[..n]);
                let mut want = b"#".repeat(prefix);
                want.extend_from_slice(&text[..n]);
                assert_eq!(out, want, "prefix {prefix}, length {n}");
            }
        }
    }

    #[test]
    fn json_texts_are_checked_exactly() {
        let int = Some(JsonKind::Integer);
        let string = Some(JsonKind::String);
        let other = Some(JsonKind::Other);
        for (text, want) in [
            ("17", int),
            ("-0", int),
            ("\"bot-17\"", string),
            ("\"a\\u00e9\\n\\\"\"", string),
            ("1.5", other),
            ("1e3", other),
            ("-2.5E-3", other),
            ("null", other),
            ("true", other),
            ("false", other),
            ("{}", other),
            ("[]", other),
            (
                " {\"k\": [1, {\"x\": null}, \"s\"], \"n\": -1.0e+2 } ",
                other,
            ),
            ("[[[]],[]]", other),
            ("x", None),
            ("", None),
            ("  ", None),
            ("01", None),
            ("1.", None),
            (".5", None),
            ("1e", None),
            ("+1", None),
            ("-", None),
            ("\"unterminated", None),
            ("\"bad \\x escape\"", None),
            ("\"bad \\u12 escape\"", None),
            ("\"tab\tinside\"", None),
            ("{\"k\":1", None),
            ("{\"k\" 1}", None),
            ("{1:1}", None),
            ("{\"k\":1,}", None),
            ("[1,]", None),
            ("[1 2]", None),
            ("[1}", None),
            ("{\"k\":1]", None),
            ("1 2", None),
            ("nul", None),
            ("truex", None),
            ("[", None),
            ("]", None),
        ] {
            assert_eq!(check(text.as_bytes()), want, "{text:?}");
        }
    }

    #[test]
    fn nesting_is_bounded_and_iterative() {
        let ok = alloc::format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_eq!(check(ok.as_bytes()), Some(JsonKind::Other));
        let deep = alloc::format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(check(deep.as_bytes()), None);
        let objects = alloc::format!("{}1{}", "{\"a\":".repeat(MAX_DEPTH), "}".repeat(MAX_DEPTH));
        assert_eq!(check(objects.as_bytes()), Some(JsonKind::Other));
        // A million open brackets: refused, without recursion.
        assert_eq!(check("[".repeat(1 << 20).as_bytes()), None);
    }
}
