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
use crate::matcher::{Cache, FirstMatch, Matcher, Mode};

/// Bytes a number takes at most (`usize::MAX` on a 64-bit target).
const NUMBER_ROOM: usize = 20;
/// Room past a [`Room`]'s end: numbers are stored a whole word at a time,
/// up to 8 bytes past the digits they keep.
const SLACK: usize = 8;

/// Writes into room reserved up front, so that each piece of an answer is
/// a store and a step of a cursor. In wasm, each `Vec::push` is a capacity
/// check and a reload of the vector's fields (spilled around every call);
/// zeroing a buffer is a `memory.fill` and copying bytes of unknown length
/// a `memory.copy`, each a call out of the module (~70 instructions for a
/// short id).
struct Room<'a> {
    out: &'a mut Vec<u8>,
    /// Where the next byte goes.
    at: usize,
    /// The end of the room reserved, [`SLACK`] not included.
    end: usize,
}

impl<'a> Room<'a> {
    /// Reserves `len` bytes (and the slack) after `out`'s end.
    #[inline(always)]
    fn new(out: &'a mut Vec<u8>, len: usize) -> Room<'a> {
        out.reserve(len + SLACK);
        let at = out.len();
        Room {
            out,
            at,
            end: at + len,
        }
    }

    /// Ends the writing: `out` takes in the bytes written.
    #[inline(always)]
    fn done(self) {
        debug_assert!(self.at <= self.end, "a JSON answer outgrew its room");
        // SAFETY: every byte up to `at` was written (each piece writes all
        // it steps over), inside the capacity `new` reserved (each piece
        // checks that in debug builds; the tests write every shape).
        unsafe { self.out.set_len(self.at) }
    }

    /// The address where the next byte goes.
    ///
    /// # Safety
    ///
    /// Writes through it must stay inside the room and its slack.
    #[inline(always)]
    unsafe fn cursor(&mut self) -> *mut u8 {
        // SAFETY: `at` is at most `end`, inside the reserved capacity.
        unsafe { self.out.as_mut_ptr().add(self.at) }
    }

    /// Writes a text known at compile time: stores of a constant size.
    #[inline(always)]
    fn text<const N: usize>(&mut self, text: &[u8; N]) {
        debug_assert!(self.at + N <= self.end);
        // SAFETY: the caller reserved room for every piece it writes.
        unsafe { core::ptr::copy_nonoverlapping(text.as_ptr(), self.cursor(), N) };
        self.at += N;
    }

    /// Writes `src`: eight bytes a step from 8 bytes, two overlapping words
    /// below that, never a byte past it.
    #[inline(always)]
    fn bytes(&mut self, src: &[u8]) {
        let n = src.len();
        debug_assert!(self.at + n <= self.end);
        // SAFETY: room for `n` bytes at the cursor (the caller reserved it).
        // Every read is inside `src` (words at `k + 8 <= n`, then the last
        // word(s) ending at `n`), every write inside the `n` bytes, and
        // together the writes cover them (overlapping where the last word
        // does).
        unsafe {
            let (from, to) = (src.as_ptr(), self.cursor());
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
            } else if n >= 4 {
                to.cast::<u32>()
                    .write_unaligned(from.cast::<u32>().read_unaligned());
                to.add(n - 4)
                    .cast::<u32>()
                    .write_unaligned(from.add(n - 4).cast::<u32>().read_unaligned());
            } else if n >= 2 {
                to.cast::<u16>()
                    .write_unaligned(from.cast::<u16>().read_unaligned());
                to.add(n - 2)
                    .cast::<u16>()
                    .write_unaligned(from.add(n - 2).cast::<u16>().read_unaligned());
            } else if n == 1 {
                *to = *from;
            }
        }
        self.at += n;
    }

    /// Writes the low `len` bytes (at most 8) of `word`, first byte lowest,
    /// with one 8-byte store (into the slack past them).
    #[inline(always)]
    fn word(&mut self, word: u64, len: usize) {
        debug_assert!(len <= 8 && self.at + len <= self.end);
        // SAFETY: room for `len` bytes at the cursor and the slack after
        // them: 8 bytes.
        unsafe { self.cursor().cast::<u64>().write_unaligned(word.to_le()) };
        self.at += len;
    }

    /// Writes `n` in decimal ([`NUMBER_ROOM`] bytes at most). Offsets below
    /// 10,000 (most of them) take their digits from a table of pairs, in
    /// one store; inlined, as a `first` answer has four numbers, each
    /// otherwise a frame of its own in wasm.
    #[inline(always)]
    fn number(&mut self, n: usize) {
        if n < 10_000 {
            self.small(n);
        } else {
            self.large(n);
        }
    }

    /// Writes `n` (below 10^4) in decimal.
    #[inline(always)]
    fn small(&mut self, n: usize) {
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
        self.word(u64::from(word >> (8 * (4 - len))), len);
    }

    #[inline(never)]
    fn large(&mut self, n: usize) {
        const EIGHT_DIGITS: usize = 100_000_000;
        if n >= EIGHT_DIGITS {
            self.large(n / EIGHT_DIGITS);
            self.digits(n % EIGHT_DIGITS, 8);
        } else {
            self.digits(n, 1);
        }
    }

    /// Writes `n` (below 10^8) in decimal, zero-padded to `width` digits
    /// (at most 8).
    fn digits(&mut self, mut n: usize, width: usize) {
        // The digits, last first, shifted in from the bottom: the first
        // digit ends in the lowest byte.
        debug_assert!(n < 100_000_000 && width <= 8);
        let (mut word, mut len) = (0u64, 0);
        while n > 0 || len < width {
            word = word << 8 | u64::from(b'0' + (n % 10) as u8);
            n /= 10;
            len += 1;
        }
        self.word(word, len);
    }
}

/// The rule's id and payload (`null` without one) as JSON text.
fn rule_json<'a>(db: &Database<'a>, rule: u32) -> (&'a [u8], &'a [u8]) {
    let (id, payload) = db.rule_json(rule as usize);
    (id, payload.unwrap_or(b"null"))
}

/// The room [`write_rule`] takes: `,{"id":`, `,"payload":` and `}`
/// around the two texts.
fn rule_room(id: &[u8], payload: &[u8]) -> usize {
    1 + 6 + 11 + 1 + id.len() + payload.len()
}

/// Writes one rule of an `all` or `any` answer, after a comma if `comma`.
#[inline(always)]
fn write_rule(out: &mut Vec<u8>, comma: bool, id: &[u8], payload: &[u8]) {
    let mut w = Room::new(out, rule_room(id, payload));
    if comma {
        w.text(b",");
    }
    w.text(b"{\"id\":");
    w.bytes(id);
    w.text(b",\"payload\":");
    w.bytes(payload);
    w.text(b"}");
    w.done();
}

/// The room [`write_first`] takes: its texts, two numbers, and per group
/// `,[s,e]` (or `,null`).
fn first_room(id: &[u8], payload: &[u8], groups: usize) -> usize {
    const FIXED: usize = 6 + 9 + 7 + 11 + 13 + 2 + 2 * NUMBER_ROOM;
    const GROUP: usize = 4 + 2 * NUMBER_ROOM;
    FIXED + id.len() + payload.len() + GROUP * groups
}

/// Writes the match of a `first` answer.
fn write_first(out: &mut Vec<u8>, id: &[u8], payload: &[u8], m: &FirstMatch) {
    let mut w = Room::new(out, first_room(id, payload, m.captures.len()));
    w.text(b"{\"id\":");
    w.bytes(id);
    w.text(b",\"start\":");
    w.number(m.start);
    w.text(b",\"end\":");
    w.number(m.end);
    w.text(b",\"payload\":");
    w.bytes(payload);
    w.text(b",\"captures\":[");
    for (i, g) in m.captures.iter().enumerate() {
        if i > 0 {
            w.text(b",");
        }
        match g {
            None => w.text(b"null"),
            Some((s, e)) => {
                w.text(b"[");
                w.number(*s);
                w.text(b",");
                w.number(*e);
                w.text(b"]");
            }
        }
    }
    w.text(b"]}");
    w.done();
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
                let (id, payload) = rule_json(db, rule);
                write_rule(out, i > 0, id, payload);
            }
            scratch.len()
        }
        Mode::First => match matcher.first(cache, hay) {
            None => 0,
            Some(m) => {
                let (id, payload) = rule_json(db, m.rule);
                write_first(out, id, payload, &m);
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
            let mut w = Room::new(&mut out, NUMBER_ROOM);
            w.number(n);
            w.done();
            assert_eq!(out, format!("x{n}").into_bytes());
        }
    }

    #[test]
    fn texts_of_every_length_are_copied_whole() {
        let text: Vec<u8> = (0..100u8).map(|b| b'!' + b % 90).collect();
        for prefix in [0, 1, 7] {
            for n in 0..text.len() {
                let mut out = b"#".repeat(prefix);
                out.shrink_to_fit(); // so that `Room::new` has to grow it
                let mut w = Room::new(&mut out, n);
                w.bytes(&text[..n]);
                w.done();
                let mut want = b"#".repeat(prefix);
                want.extend_from_slice(&text[..n]);
                assert_eq!(out, want, "prefix {prefix}, length {n}");
            }
        }
    }

    #[test]
    fn the_longest_answers_fit_their_room() {
        // Numbers of 20 digits, a text of every length class, groups that
        // took part and groups that did not, after a prefix.
        for text_len in [0, 1, 3, 7, 8, 9, 64, 65] {
            let id = vec![b'7'; text_len];
            let payload = vec![b'1'; text_len];
            for groups in 1..4 {
                let captures = (0..groups)
                    .map(|g| (g != 1).then_some((usize::MAX, usize::MAX)))
                    .collect();
                let m = FirstMatch {
                    rule: 0,
                    start: usize::MAX,
                    end: usize::MAX,
                    captures,
                };
                let mut out = b"[".to_vec();
                write_first(&mut out, &id, &payload, &m);
                assert!(out.len() - 1 <= first_room(&id, &payload, groups));
                let mut out = b"[".to_vec();
                write_rule(&mut out, true, &id, &payload);
                assert_eq!(out.len() - 1, rule_room(&id, &payload));
            }
        }
        let mut out = Vec::new();
        let m = FirstMatch {
            rule: 0,
            start: 12_345,
            end: 67_890_123_456,
            captures: vec![Some((12_345, 67_890_123_456)), None, Some((3, 9))],
        };
        write_first(&mut out, b"\"x\"", b"{\"k\":[1]}", &m);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"id\":\"x\",\"start\":12345,\"end\":67890123456,\"payload\":{\"k\":[1]},\
             \"captures\":[[12345,67890123456],null,[3,9]]}"
        );
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
