//! The literal prefilter: one pass over the input that tells which rules can
//! possibly match, so that only their DFAs run (Hyperscan's idea, serialized).
//!
//! The builder extracts from every rule a small set of literals, one of
//! which occurs in every match of the rule. Each literal points at
//! *targets*: the shard whose DFA decides the rule, or, when the rule is
//! nothing but its literals (`Googlebot`, `(?i)bingbot|slurp`), the rule
//! itself, which then needs no DFA at all. Rules with no usable literal live
//! in shards that run on every input.
//!
//! Each literal has an *anchor*: of its windows of [`KEY_LEN`] bytes, one
//! not in text every input carries (browser user agents, URLs: see
//! `BACKGROUND_TEXT`) and the one fewest other literals contain, so that
//! literals sharing a common start (`bot…`, `spider…`) spread out and text
//! made of common words rarely reaches a comparison. A literal's last
//! window (listed under every byte after it) is its anchor only when each
//! of its other windows, with the byte after it, is in that text (`httpx`
//! at `tpx`, not at `htt` + `p`). Windows are *folded*
//! (ASCII letters lowercased), so one lookup finds case-sensitive and
//! case-insensitive literals alike; the literal is then compared in full,
//! case-sensitively or ASCII-case-insensitively as it was extracted.
//!
//! Each tested input position costs a bit filter keyed by its window and
//! the byte after it; the few that pass (text sharing 4-byte keys with the
//! literals: names built from a few syllables, version numbers) meet a
//! second one keyed by the window alone. The first key also picks the
//! table slot: a probe reads only literals whose anchor and next byte both
//! agree. A literal that ends with its anchor has no next byte and is
//! listed under every possible one (a record each, sharing its bytes and
//! targets).
//!
//! At *stride 2* only even positions are tested: each literal is listed
//! under two consecutive windows (anchors `a` and `a + 1`), one of which
//! any occurrence puts at an even position. A literal of [`KEY_LEN`] bytes
//! then also has the window at -1, the byte before it and its first two,
//! listed under every possible first byte. The writer picks stride 2 while
//! the table stays small (short literals multiply the keys).
//!
//! ```text
//! header     32 bytes    key length, table bits, record count, target count, bytes length,
//!                        distinct literal count, stride (1 or 2)
//! filter     2^bits bytes: one bit per hashed window (8 a slot)
//! filter4    2^bits bytes: one bit per hashed window and next byte, most positions
//!            stop here; bit b is in byte b >> 3, whose table slot (b >> 3) lists
//!            the literals with that key
//! table      u32 a slot (2^bits slots, and one more): the slot's first record;
//!            the next slot's first ends it
//! records    40 bytes a record: bytes offset, length | anchor << 16 (i16), flags, first
//!            target, target count, the literal's first 8 bytes lowercased (u64)
//!            and their mask (u64), reserved
//! targets    u32 each: a shard index, or a rule index with bit 31 set (complete rule)
//!            and bit 30 too when its matches start at its literals
//! bytes      the literals' bytes (lowercased when case-insensitive)
//! ```
//!
//! # Example
//!
//! ```
//! use dfabake_matcher::prefilter::{Literal, Prefilter, PrefilterWriter, Target};
//!
//! let mut w = PrefilterWriter::new();
//! w.push(Literal { bytes: b"googlebot".to_vec(), case_insensitive: true }, Target::Rule(0));
//! w.push(Literal { bytes: b"Slurp".to_vec(), case_insensitive: false }, Target::Shard(3));
//! let bytes = w.finish();
//! let words: Vec<u32> = bytes.chunks(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect();
//! // (A database keeps the section 4-aligned; this copy does the same.)
//! let aligned: &[u8] = unsafe { core::slice::from_raw_parts(words.as_ptr().cast(), bytes.len()) };
//! let pf = Prefilter::from_bytes(aligned, 1, 4).unwrap();
//! let mut hits = Vec::new();
//! pf.scan(b"Mozilla/5.0 (compatible; GoogleBot/2.1)", |t| hits.push(t));
//! assert_eq!(hits, vec![Target::Rule(0)]);
//! hits.clear();
//! pf.scan(b"Yahoo! slurp", |t| hits.push(t)); // "Slurp" is case-sensitive
//! assert!(hits.is_empty());
//! ```

use alloc::vec::Vec;

use crate::format::FormatError;
use crate::wire::{pad_to, read_u32, write_u32};

/// Bytes of a literal that key the table; shorter literals are not used.
pub const KEY_LEN: usize = 3;
const HEADER_LEN: usize = 32;
const SLOT_LEN: usize = 4;
const LITERAL_LEN: usize = 40;
const LITERAL_WORDS: usize = LITERAL_LEN / 4;
const COMPLETE_BIT: u32 = 1 << 31;
/// With [`COMPLETE_BIT`]: [`Target::RuleAtLiteral`].
const AT_LITERAL_BIT: u32 = 1 << 30;
const LIT_CASE_INSENSITIVE: u32 = 1;

/// What a literal occurrence points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    /// A shard whose DFA must run on this input.
    Shard(u32),
    /// A rule that matches: it is nothing but its literals.
    Rule(u32),
    /// A rule that matches, as [`Target::Rule`], and every match of it
    /// starts where one of its literals does (no optional part before
    /// them): its leftmost match starts at their leftmost occurrence, so
    /// `first` needs to try that one start. The builder marks all of a
    /// rule's literals alike.
    RuleAtLiteral(u32),
}

impl Target {
    fn code(self) -> u32 {
        match self {
            Target::Shard(s) => s,
            Target::Rule(r) => r | COMPLETE_BIT,
            Target::RuleAtLiteral(r) => r | COMPLETE_BIT | AT_LITERAL_BIT,
        }
    }

    #[inline]
    fn from_code(c: u32) -> Target {
        match (c & COMPLETE_BIT != 0, c & AT_LITERAL_BIT != 0) {
            (false, _) => Target::Shard(c),
            (true, false) => Target::Rule(c & !COMPLETE_BIT),
            (true, true) => Target::RuleAtLiteral(c & !(COMPLETE_BIT | AT_LITERAL_BIT)),
        }
    }

    /// The rule a [`Target::Rule`] or [`Target::RuleAtLiteral`] decides.
    #[inline]
    pub fn complete_rule(self) -> Option<u32> {
        match self {
            Target::Shard(_) => None,
            Target::Rule(r) | Target::RuleAtLiteral(r) => Some(r),
        }
    }
}

/// A literal to find.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Literal {
    /// Its bytes (at least [`KEY_LEN`]).
    pub bytes: Vec<u8>,
    /// Compare ASCII letters case-insensitively.
    pub case_insensitive: bool,
}

/// The window filter's bit of a key (tested after [`bit4_of`]'s): 8 bits
/// a slot.
#[inline]
fn bit_of(key: u32, bits: u32) -> usize {
    (key.wrapping_mul(0x9E37_79B1) >> (32 - (bits + 3))) as usize
}

/// The first filter's bit of a key and the byte after it (`key4` holds
/// that byte, folded, in bits 24..32): 8 bits a slot, so that most
/// positions of an input are rejected by one multiplication and one load
/// from a table small enough for L1. Independent of [`bit_of`]. Tested
/// first because a 4-byte key passes half as often as a window alone, and
/// each pass is a branch the processor mispredicts.
#[inline]
fn bit4_of(key4: u32, bits: u32) -> usize {
    (key4.wrapping_mul(0x85EB_CA77) >> (32 - (bits + 3))) as usize
}

/// The table slot of a key and the byte after it: the byte of `filter4`
/// that holds its bit, so that the second filter tells empty slots apart.
#[inline]
fn slot4_of(key4: u32, bits: u32) -> usize {
    bit4_of(key4, bits) >> 3
}

/// A byte as it keys the filters and the table: with bit 5 set, which
/// lowercases ASCII letters at the cost of one OR (and folds a few other
/// pairs such as `@` and `` ` ``, which only makes a probe compare more).
/// Keys of case-insensitive literals, stored lowercased, thus match the
/// input in either case.
#[inline]
fn fold(b: u8) -> u8 {
    b | 0x20
}

/// The folded key of the window at the start of `bytes`.
#[inline]
fn key_at(bytes: &[u8]) -> u32 {
    u32::from(fold(bytes[0])) | u32::from(fold(bytes[1])) << 8 | u32::from(fold(bytes[2])) << 16
}

/// The folded key of the window at `i` and the byte after it, as one
/// little-endian load.
///
/// # Safety
///
/// `i + 4 <= hay.len()`.
#[inline(always)]
unsafe fn key4_at(hay: &[u8], i: usize) -> u32 {
    debug_assert!(i + 4 <= hay.len());
    // SAFETY: bytes i..i+4 are in `hay` (the caller's promise).
    let word = unsafe { hay.as_ptr().add(i).cast::<u32>().read_unaligned() };
    // `fold` of the four bytes at once.
    u32::from_le(word) | 0x2020_2020
}

/// A prefilter read in place from a database.
#[derive(Clone, Copy, Debug)]
pub struct Prefilter<'a> {
    bits: u32,
    /// Positions tested: every one (1) or every other one (2), see
    /// [`PrefilterWriter::finish`].
    stride: usize,
    /// One bit per hashed key, 2^(bits + 3) bits.
    filter: &'a [u8],
    /// One bit per hashed key and next byte, 2^(bits + 3) bits.
    filter4: &'a [u8],
    /// Per slot: first literal, literal count.
    table: &'a [u32],
    /// Per literal: see the module docs (`LITERAL_WORDS` words each).
    literals: &'a [u32],
    targets: &'a [u32],
    bytes: &'a [u8],
    /// Distinct literals (a literal of KEY_LEN bytes has many records).
    distinct: usize,
}

#[cfg(not(target_endian = "little"))]
compile_error!("the dfabake database format is read in place as little-endian words");

/// The anchor of a record's second word (`length | anchor << 16`): where
/// its window starts in the literal, -1 for the window that ends one byte
/// into a literal of [`KEY_LEN`] bytes (the byte before the literal and
/// its first two).
#[inline]
fn anchor_of(word: u32) -> isize {
    (word >> 16) as u16 as i16 as isize
}

/// `bytes` as words; `bytes` must start 4-aligned and hold a multiple of 4.
fn words(bytes: &[u8]) -> &[u32] {
    debug_assert!((bytes.as_ptr() as usize).is_multiple_of(4) && bytes.len().is_multiple_of(4));
    // SAFETY: alignment and length checked by the caller (`from_bytes`);
    // every bit pattern is a valid u32, and the target is little-endian.
    unsafe { core::slice::from_raw_parts(bytes.as_ptr().cast::<u32>(), bytes.len() / 4) }
}

impl<'a> Prefilter<'a> {
    /// Reads a prefilter section (4-aligned in memory) and checks that
    /// every offset is in bounds and every target names one of `shards`
    /// shards or `rules` rules.
    pub fn from_bytes(
        sec: &'a [u8],
        rules: usize,
        shards: usize,
    ) -> Result<Prefilter<'a>, FormatError> {
        let corrupt = |what| FormatError::Corrupt { what, index: 0 };
        if !(sec.as_ptr() as usize).is_multiple_of(4) {
            return Err(FormatError::Misaligned);
        }
        if sec.len() < HEADER_LEN {
            return Err(corrupt("prefilter header truncated"));
        }
        if read_u32(sec, 0) as usize != KEY_LEN {
            return Err(corrupt("prefilter key length"));
        }
        let bits = read_u32(sec, 4);
        if !(4..=24).contains(&bits) {
            return Err(corrupt("prefilter table size"));
        }
        let stride = read_u32(sec, 24) as usize;
        if !(1..=2).contains(&stride) {
            return Err(corrupt("prefilter stride"));
        }
        let (lits, targets, bytes_len) = (
            read_u32(sec, 8) as usize,
            read_u32(sec, 12) as usize,
            read_u32(sec, 16) as usize,
        );
        let filter_end = HEADER_LEN + (1 << bits);
        let filter4_end = filter_end + (1 << bits);
        let table_end = filter4_end + (SLOT_LEN << bits) + SLOT_LEN;
        let lits_end = table_end.saturating_add(lits.saturating_mul(LITERAL_LEN));
        let targets_end = lits_end.saturating_add(targets.saturating_mul(4));
        let end = targets_end.saturating_add(bytes_len);
        if end > sec.len() {
            return Err(corrupt("prefilter sections out of bounds"));
        }
        let pf = Prefilter {
            bits,
            stride,
            filter: &sec[HEADER_LEN..filter_end],
            filter4: &sec[filter_end..filter4_end],
            table: words(&sec[filter4_end..table_end]),
            literals: words(&sec[table_end..lits_end]),
            targets: words(&sec[lits_end..targets_end]),
            bytes: &sec[targets_end..end],
            distinct: read_u32(sec, 20) as usize,
        };
        // Slot s holds records table[s]..table[s + 1]: ascending, ending
        // at the record count.
        if pf.table.windows(2).any(|w| w[0] > w[1]) || pf.table.last() != Some(&(lits as u32)) {
            return Err(corrupt("prefilter slots out of order or bounds"));
        }
        for l in 0..lits {
            let (off, len, anchor, tf, tc) = pf.literal(l);
            if len < KEY_LEN
                || anchor < -1
                || anchor + KEY_LEN as isize > len as isize
                || off.saturating_add(len) > bytes_len
                || tf.saturating_add(tc) > targets
            {
                return Err(FormatError::Corrupt {
                    what: "prefilter literal out of bounds",
                    index: l,
                });
            }
        }
        for (t, &code) in pf.targets.iter().enumerate() {
            let ok = match Target::from_code(code) {
                Target::Shard(s) => (s as usize) < shards,
                Target::Rule(r) | Target::RuleAtLiteral(r) => (r as usize) < rules,
            };
            if !ok {
                return Err(FormatError::Corrupt {
                    what: "prefilter target out of range",
                    index: t,
                });
            }
        }
        Ok(pf)
    }

    /// Slot `s`'s first record and record count; `s` below 2^bits, as
    /// every hash is.
    #[inline]
    fn slot(&self, s: usize) -> (usize, usize) {
        debug_assert!(s + 1 < self.table.len());
        // SAFETY: `from_bytes` sized the table 2^bits + 1 slots.
        let (first, next) = unsafe {
            (
                *self.table.get_unchecked(s),
                *self.table.get_unchecked(s + 1),
            )
        };
        (first as usize, (next - first) as usize)
    }

    #[inline]
    /// Bytes offset, length, anchor, first target, target count.
    fn literal(&self, l: usize) -> (usize, usize, isize, usize, usize) {
        let r = &self.literals[LITERAL_WORDS * l..LITERAL_WORDS * l + 5];
        (
            r[0] as usize,
            (r[1] & 0xFFFF) as usize,
            anchor_of(r[1]),
            r[3] as usize,
            r[4] as usize,
        )
    }

    /// Number of distinct literals.
    pub fn literal_count(&self) -> usize {
        self.distinct
    }

    /// Which input positions a scan tests: every one (1) or every other
    /// one (2).
    pub fn stride(&self) -> usize {
        self.stride
    }

    fn all_targets(&self) -> impl Iterator<Item = Target> + '_ {
        self.targets.iter().map(|&c| Target::from_code(c))
    }

    /// Rules decided by the prefilter alone (with repeats).
    pub fn complete_rules(&self) -> impl Iterator<Item = u32> + '_ {
        self.all_targets().filter_map(Target::complete_rule)
    }

    /// Shards the prefilter triggers (with repeats).
    pub fn shard_targets(&self) -> impl Iterator<Item = u32> + '_ {
        self.all_targets().filter_map(|t| match t {
            Target::Shard(s) => Some(s),
            Target::Rule(_) | Target::RuleAtLiteral(_) => None,
        })
    }

    /// Calls `hit` with the targets of every literal occurring in `hay`
    /// (a target once per occurrence of one of its literals).
    #[inline]
    pub fn scan(&self, hay: &[u8], mut hit: impl FnMut(Target)) {
        self.scan_at(hay, |t, _, _| hit(t));
    }

    /// [`Prefilter::scan`], also telling where in `hay` each occurrence
    /// starts and ends: `hit(target, start, end)`.
    #[inline]
    pub fn scan_at(&self, hay: &[u8], mut hit: impl FnMut(Target, usize, usize)) {
        if self.stride == 2 {
            self.scan_every::<2>(hay, &mut hit);
        } else {
            self.scan_every::<1>(hay, &mut hit);
        }
    }

    /// Tests the windows at every `STRIDE`th position of `hay`, from 0.
    ///
    /// A function of its own, so that its few live values stay in
    /// registers (in wasm, the caller's are spilled around every call).
    #[inline(never)]
    fn scan_every<const STRIDE: usize>(
        &self,
        hay: &[u8],
        hit: &mut impl FnMut(Target, usize, usize),
    ) {
        let mut i = 0;
        // Four windows an iteration and one branch for the four (a branch
        // per window costs as much as its test, and each pass is likely
        // mispredicted); also for hosts that check for an interrupt at
        // every loop back-edge (see `crate::unroll`).
        while i + 3 * STRIDE + 4 <= hay.len() {
            // SAFETY: i + j * STRIDE + 4 <= i + 3 * STRIDE + 4 <= hay.len().
            let any =
                unsafe { (0..4).fold(0, |any, j| any | self.first_test(hay, i + j * STRIDE)) };
            if any & 1 != 0 {
                for j in 0..4 {
                    // SAFETY: as above.
                    unsafe { self.scan_window(hay, i + j * STRIDE, hit) };
                }
            }
            i += 4 * STRIDE;
        }
        while i + 4 <= hay.len() {
            // SAFETY: i + 4 <= hay.len() (loop condition).
            unsafe { self.scan_window(hay, i, hit) };
            i += STRIDE;
        }
        // The last window has no byte after it: only a window that ends a
        // literal can be there, listed under every byte after it; any one
        // (here a space) finds it.
        if i + KEY_LEN == hay.len() {
            let key4 = key_at(&hay[i..]) | u32::from(b' ') << 24;
            let bit4 = bit4_of(key4, self.bits);
            if self.filter_has(self.filter4, bit4) {
                self.probe(hay, i, bit4 >> 3, hit);
            }
        }
    }

    /// The first filter's byte for the window at `i` and the byte after
    /// it, shifted so that bit 0 is the key's bit (the others are noise).
    ///
    /// # Safety
    ///
    /// `i + 4 <= hay.len()`.
    #[inline(always)]
    unsafe fn first_test(&self, hay: &[u8], i: usize) -> u32 {
        // SAFETY: the caller's promise is `key4_at`'s.
        let bit4 = bit4_of(unsafe { key4_at(hay, i) }, self.bits);
        debug_assert!(bit4 >> 3 < self.filter4.len());
        // SAFETY: as in `filter_has`.
        u32::from(unsafe { *self.filter4.get_unchecked(bit4 >> 3) }) >> (bit4 & 7)
    }

    /// Tests the window at `i` and the byte after it, as one little-endian
    /// load, against both filters (that of the 4-byte key first), and
    /// probes its slot if both pass.
    ///
    /// # Safety
    ///
    /// `i + 4 <= hay.len()`.
    #[inline(always)]
    unsafe fn scan_window(&self, hay: &[u8], i: usize, hit: &mut impl FnMut(Target, usize, usize)) {
        // SAFETY: the caller's promise is `key4_at`'s.
        let key4 = unsafe { key4_at(hay, i) };
        let bit4 = bit4_of(key4, self.bits);
        if self.filter_has(self.filter4, bit4)
            && self.filter_has(self.filter, bit_of(key4 & 0xFF_FFFF, self.bits))
        {
            self.probe(hay, i, bit4 >> 3, hit);
        }
    }

    /// Whether bit `bit` of a filter (`self.filter` or `self.filter4`) is set.
    #[inline(always)]
    fn filter_has(&self, filter: &[u8], bit: usize) -> bool {
        debug_assert!(bit >> 3 < filter.len());
        // SAFETY: hashes have `bits + 3` bits, and `from_bytes` checked that
        // both filters hold 2^bits bytes.
        unsafe { *filter.get_unchecked(bit >> 3) & (1 << (bit & 7)) != 0 }
    }

    /// Compares the literals of `slot`, whose anchor may be at `i`, with `hay`.
    ///
    /// Kept lean (no target handling, no bounds checks that `from_bytes`
    /// made already): in wasm every value live across its loop is spilled
    /// on entry, and most probes find nothing.
    #[inline(never)]
    fn probe(&self, hay: &[u8], i: usize, slot: usize, hit: &mut impl FnMut(Target, usize, usize)) {
        let (first, count) = self.slot(slot);
        for l in first..first + count {
            let r = self.record(l);
            let Some(start) = i.checked_add_signed(-anchor_of(r[1])) else {
                continue;
            };
            if self.occurs_at(r, hay, start) {
                self.report(r, start, hit);
            }
        }
    }

    /// The words of record `l`, one of a slot's.
    #[inline(always)]
    fn record(&self, l: usize) -> &[u32; LITERAL_WORDS] {
        debug_assert!(LITERAL_WORDS * (l + 1) <= self.literals.len());
        // SAFETY: `from_bytes` checked that the table's entries ascend to
        // the record count, so a slot's records `l` are below it, and that
        // `literals` holds that many records.
        unsafe {
            &*self
                .literals
                .as_ptr()
                .add(LITERAL_WORDS * l)
                .cast::<[u32; LITERAL_WORDS]>()
        }
    }

    /// Calls `hit` with the targets of record `r`'s literal, found at `start`.
    #[inline(never)]
    fn report(
        &self,
        r: &[u32; LITERAL_WORDS],
        start: usize,
        hit: &mut impl FnMut(Target, usize, usize),
    ) {
        let (tf, tc, len) = (r[3] as usize, r[4] as usize, (r[1] & 0xFFFF) as usize);
        debug_assert!(tf + tc <= self.targets.len());
        // SAFETY: `from_bytes` checked every record's targets are in bounds.
        let targets = unsafe { self.targets.get_unchecked(tf..tf + tc) };
        for &t in targets {
            hit(Target::from_code(t), start, start + len);
        }
    }

    /// Whether the literal of record `r` occurs in `hay` at `start`.
    #[inline(always)]
    fn occurs_at(&self, r: &[u32; LITERAL_WORDS], hay: &[u8], start: usize) -> bool {
        // Up to 8 bytes lowercased at once: most literals of the slot
        // differ from the input within them.
        let prefix = u64::from(r[5]) | u64::from(r[6]) << 32;
        let mask = u64::from(r[7]) | u64::from(r[8]) << 32;
        let head = word_at(hay, start);
        if lower_ascii(head) & mask != prefix {
            return false;
        }
        let (off, len, flags) = (r[0] as usize, (r[1] & 0xFFFF) as usize, r[2]);
        let Some(window) = hay.get(start..start + len) else {
            return false;
        };
        let case_insensitive = flags & LIT_CASE_INSENSITIVE != 0;
        if len <= 8 {
            // The prefix test compared all of it, in either case; a
            // case-sensitive literal still needs its bytes as they are.
            return case_insensitive || head & mask == word_at(self.bytes, off) & mask;
        }
        let from = if case_insensitive { 8 } else { 0 };
        debug_assert!(off + len <= self.bytes.len());
        // SAFETY: `from_bytes` checked every record's bytes are in bounds.
        let literal = unsafe { self.bytes.get_unchecked(off..off + len) };
        same_after(window, literal, case_insensitive, from)
    }

    /// Checks that a scan finds every literal where it looks for it: each
    /// of its records in the slot its key picks, both filters' bits set,
    /// its prefix, mask and bytes agreeing with it; a record under every
    /// key of a window with a byte not the literal's (see `window_keys`);
    /// and, at stride 2, records under two consecutive windows, so that
    /// occurrences at odd positions are found too. Then calls `target` with
    /// the targets of every literal. A literal that fails would make its
    /// rules silently never match. O(records + literal bytes), run by
    /// [`crate::format::Database::from_bytes`].
    pub(crate) fn check_literals(&self, mut target: impl FnMut(Target)) -> Result<(), FormatError> {
        let bits = self.bits;
        // Per literal, by its bytes' offset (which its records share): its
        // record's words but the anchor, its first record, its anchors,
        // and per anchor of many keys the slots its records are in
        // (ascending, as slots are visited).
        struct Listed {
            words: [u32; 5],
            first: usize,
            anchors: Vec<(isize, Vec<u32>)>,
        }
        let mut by_offset = alloc::vec![u32::MAX; self.bytes.len()];
        let mut listed: Vec<Listed> = Vec::new();
        for slot in 0..1usize << bits {
            let (first, count) = self.slot(slot);
            for l in first..first + count {
                let r = self.record(l);
                let corrupt = |what| FormatError::Corrupt { what, index: l };
                if r[2] & !LIT_CASE_INSENSITIVE != 0 {
                    return Err(corrupt("unknown prefilter literal flag bits"));
                }
                let (off, len, anchor, ..) = self.literal(l);
                let lit = &self.bytes[off..off + len];
                // A scan reads a case-insensitive literal's first bytes
                // from its record's prefix, the rest from `bytes`, which
                // must be lowercase for either to find it.
                let folded =
                    r[2] & LIT_CASE_INSENSITIVE == 0 || !lit.iter().any(u8::is_ascii_uppercase);
                if !folded || !self.occurs_at(r, lit, 0) {
                    return Err(corrupt("prefilter literal is never found"));
                }
                let words = [r[0], r[1] & 0xFFFF, r[2], r[3], r[4]];
                let entry = match by_offset[off] {
                    u32::MAX => {
                        by_offset[off] = listed.len() as u32;
                        listed.push(Listed {
                            words,
                            first: l,
                            anchors: Vec::new(),
                        });
                        listed.last_mut().unwrap()
                    }
                    e => &mut listed[e as usize],
                };
                if entry.words != words {
                    return Err(corrupt("prefilter literal records disagree"));
                }
                let slots = match entry.anchors.iter_mut().find(|(a, _)| *a == anchor) {
                    Some((_, slots)) => slots,
                    None => {
                        entry.anchors.push((anchor, Vec::new()));
                        &mut entry.anchors.last_mut().unwrap().1
                    }
                };
                let (key4, free) = window_key(lit, anchor);
                if free.is_some() {
                    slots.push(slot as u32);
                } else if slot4_of(key4, bits) != slot || !self.has_key(key4) {
                    return Err(corrupt("prefilter literal is never found"));
                }
            }
        }
        let mut want: Vec<u32> = Vec::with_capacity(128);
        for entry in &mut listed {
            let corrupt = |what| FormatError::Corrupt {
                what,
                index: entry.first,
            };
            let (off, len) = (entry.words[0] as usize, entry.words[1] as usize);
            let lit = &self.bytes[off..off + len];
            entry.anchors.sort_unstable();
            for (anchor, slots) in &entry.anchors {
                let (key4, Some(free)) = window_key(lit, *anchor) else {
                    continue;
                };
                let lost = corrupt(if free == 0 {
                    "prefilter literal is not found after every byte"
                } else {
                    "prefilter literal is not found before every byte"
                });
                want.clear();
                for b in (0..=255u8).filter(|&b| fold(b) == b) {
                    let key4 = key4 | u32::from(b) << free;
                    if !self.has_key(key4) {
                        return Err(lost);
                    }
                    want.push(slot4_of(key4, bits) as u32);
                }
                want.sort_unstable();
                if *slots != want {
                    return Err(lost);
                }
            }
            let run = |w: &[(isize, Vec<u32>)]| w[1].0 == w[0].0 + 1;
            if self.stride == 2 && !entry.anchors.windows(2).any(run) {
                return Err(corrupt("prefilter literal is not found at odd positions"));
            }
            self.targets_of(&entry.words).for_each(&mut target);
        }
        Ok(())
    }

    /// Whether both filters have the bits of `key4` (a window and the
    /// byte after it).
    fn has_key(&self, key4: u32) -> bool {
        self.filter_has(self.filter, bit_of(key4 & 0xFF_FFFF, self.bits))
            && self.filter_has(self.filter4, bit4_of(key4, self.bits))
    }

    fn targets_of(&self, r: &[u32]) -> impl Iterator<Item = Target> + '_ {
        let (tf, tc) = (r[3] as usize, r[4] as usize);
        self.targets[tf..tf + tc]
            .iter()
            .map(|&c| Target::from_code(c))
    }
}

/// The first 8 bytes of `bytes` (zero-padded) as a little-endian word,
/// ASCII letters lowercased (the standard library's SWAR trick).
#[inline]
fn lower_word(bytes: &[u8]) -> u64 {
    lower_ascii(word_at(bytes, 0))
}

/// The 8 bytes of `bytes` from `at` as a little-endian word, zeros past
/// its end: near the end, its last 8 bytes shifted down (copying a few
/// bytes into a buffer would be a call out of a wasm module).
#[inline(always)]
fn word_at(bytes: &[u8], at: usize) -> u64 {
    let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap());
    if let Some(b) = bytes.get(at..at + 8) {
        return word(b);
    }
    let n = bytes.len();
    match n.checked_sub(8) {
        Some(last) if at <= n => word(&bytes[last..])
            .checked_shr(8 * (at - last) as u32)
            .unwrap_or(0),
        _ => bytes
            .get(at..)
            .unwrap_or(&[])
            .iter()
            .rev()
            .fold(0, |w, &b| w << 8 | u64::from(b)),
    }
}

/// Whether `hay` equals `lit` (as long, at least 8 bytes) from `from` on,
/// the bytes before it known to be equal, ASCII letters of `hay`
/// lowercased first when `case_insensitive` (such literals are stored
/// lowercased). Eight bytes a step: in wasm, slice equality is a call to a
/// byte loop.
#[inline(always)]
fn same_after(hay: &[u8], lit: &[u8], case_insensitive: bool, from: usize) -> bool {
    debug_assert!(hay.len() == lit.len() && lit.len() >= 8);
    let same = |h: u64, l: u64| {
        if case_insensitive {
            lower_ascii(h) == l
        } else {
            h == l
        }
    };
    let n = lit.len();
    let word = |b: &[u8], i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap());
    let mut i = from;
    while i + 8 < n {
        if !same(word(hay, i), word(lit, i)) {
            return false;
        }
        i += 8;
    }
    // The last 8 bytes, overlapping bytes already compared.
    same(word(hay, n - 8), word(lit, n - 8))
}

/// `x` with the ASCII letters of its bytes lowercased (the standard
/// library's SWAR trick).
#[inline]
fn lower_ascii(x: u64) -> u64 {
    const EACH: u64 = 0x0101_0101_0101_0101;
    let low7 = x & (0x7F * EACH);
    let above_z = low7.wrapping_add((0x7F - b'Z') as u64 * EACH);
    let at_least_a = low7.wrapping_add((0x80 - b'A') as u64 * EACH);
    let upper = !x & (at_least_a ^ above_z) & (0x80 * EACH);
    x | upper >> 2
}

/// Text that nearly every input of the lists this tool is for carries
/// whether or not a rule matches: ordinary browser user agents, URLs and
/// HTTP vocabulary. A literal anchored at one of its windows (`Applebot` at
/// `ppl`, `httpx` at `ttp`) sends almost every input to a probe; anchored
/// elsewhere (`ebo`, `tpx`) it is probed only where it may occur. This is
/// the idea of the byte-frequency table that `memchr` and `regex` use to
/// pick rare bytes, for windows of the text such lists are matched
/// against; it only steers the choice (any window finds its literal), so a
/// list matched against other text loses nothing but that steering.
pub const BACKGROUND_TEXT: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
    "Mozilla/5.0 (X11; Ubuntu; Linux i686; rv:109.0) Gecko/20100101 Firefox/115.0",
    "Mozilla/5.0 (Linux; Android 13; SM-S918B Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.6045.163 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/119.0.6045.169 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.1; WOW64; Trident/6.0; .NET CLR 2.0.50727; .NET4.0C)",
    "Opera/9.80 (Windows NT 6.1; U; en-US) Presto/2.12.388 Version/12.16",
    "Mozilla/5.0 (compatible; +http://www.example.com/about.html) https://www.example.org/index.php?q=search",
    "GET /index.html HTTP/1.1 Accept: text/html,application/xhtml+xml,application/json; charset=utf-8 Accept-Language: en-US,en;q=0.9",
];

/// For each literal, where its run of `stride` consecutive key windows
/// starts (one of which every occurrence puts at a tested position): the
/// run whose keys (each window with the byte after it, or alone for the
/// literal's last) are least in [`BACKGROUND_TEXT`], then whose windows
/// have a byte after them in the literal, then are contained in the fewest literals (a
/// proxy for how rare they are in the text the rules are written for),
/// then are the fewest literals already use. A literal too short for such
/// a run has one run: it starts at -1 for a literal of [`KEY_LEN`] bytes
/// at stride 2 (see [`window_keys`]).
fn choose_anchors(literals: &[(Literal, Vec<Target>)], stride: usize) -> Vec<isize> {
    use alloc::collections::{BTreeMap, BTreeSet};
    let (k, s) = (KEY_LEN as isize, stride as isize);
    // The runs whose windows all have a byte after them in the literal,
    // then the run that ends with its last window (listed under every byte
    // after it: `window_keys`), taken only where it meets less background.
    let runs = |len: usize| {
        let last = len as isize - k - s;
        let (first, last, end) = if last >= 0 {
            // Anchors are stored as i16.
            let last = last.min(0x7FFF - s - 1);
            (0, last, last + 1)
        } else {
            let only = (last + 1).max(1 - s);
            (only, only, only)
        };
        (first..=end).map(move |a| (a, a > last))
    };
    let key = |l: &Literal, w: isize| (w >= 0).then(|| key_at(&l.bytes[w as usize..]));
    // What the filters test at a window: the window and the byte after it
    // where the literal has one, else the window alone.
    let tested = |l: &Literal, w: isize| match window_key(&l.bytes, w) {
        (key4, None) => key4,
        (key, Some(_)) => key & 0xFF_FFFF,
    };
    let mut background: BTreeSet<u32> = BTreeSet::new();
    for t in BACKGROUND_TEXT.iter().map(|t| t.as_bytes()) {
        for (i, w) in t.windows(KEY_LEN).enumerate() {
            background.insert(key_at(w));
            if let Some(&next) = t.get(i + KEY_LEN) {
                background.insert(key_at(w) | u32::from(fold(next)) << 24);
            }
        }
    }
    let mut containing: BTreeMap<u32, u32> = BTreeMap::new();
    for (l, _) in literals {
        let mut keys: Vec<u32> = l.bytes.windows(KEY_LEN).map(key_at).collect();
        keys.sort_unstable();
        keys.dedup();
        for k in keys {
            *containing.entry(k).or_default() += 1;
        }
    }
    let mut order: Vec<usize> = (0..literals.len()).collect();
    order.sort_by_key(|&i| literals[i].0.bytes.len());
    let mut used: BTreeMap<u32, u32> = BTreeMap::new();
    let mut anchors = alloc::vec![0; literals.len()];
    for i in order {
        let l = &literals[i].0;
        let (a, _) = runs(l.bytes.len())
            .min_by_key(|&(a, ends_literal)| {
                let (mut common, mut contained, mut reused) = (0, 0, 0);
                for w in a..a + s {
                    common += u32::from(background.contains(&tested(l, w)));
                }
                for k in (a..a + s).filter_map(|w| key(l, w)) {
                    contained += containing[&k];
                    reused += used.get(&k).copied().unwrap_or(0);
                }
                (common, ends_literal, contained, reused, a)
            })
            .unwrap();
        for k in (a..a + s).filter_map(|w| key(l, w)) {
            *used.entry(k).or_default() += 1;
        }
        anchors[i] = a;
    }
    anchors
}

/// The key (a window and the folded byte after it) of the window of
/// `literal` at `anchor`, and the shift of its byte that is not the
/// literal's, if one is not (zero in the key): the byte after a window
/// that ends the literal, or the byte before the literal of the window at
/// -1. Such a window is listed under every byte there ([`window_keys`]).
fn window_key(literal: &[u8], anchor: isize) -> (u32, Option<u32>) {
    let Ok(a) = usize::try_from(anchor) else {
        return (key_at(literal) << 8, Some(0));
    };
    let key = key_at(&literal[a..]);
    match literal.get(a + KEY_LEN) {
        Some(&next) => (key | u32::from(fold(next)) << 24, None),
        None => (key, Some(24)),
    }
}

/// The keys under which the window of `literal` at `anchor` is listed.
fn window_keys(literal: &[u8], anchor: isize) -> Vec<u32> {
    match window_key(literal, anchor) {
        (key, None) => alloc::vec![key],
        (key, Some(free)) => (0..=255u8)
            .filter(|&b| fold(b) == b)
            .map(|b| key | u32::from(b) << free)
            .collect(),
    }
}

/// Table bits for `entries` keys: about four slots per key keeps most
/// probes on an empty slot.
fn table_bits(entries: usize) -> u32 {
    bits_for(entries * 4)
}

/// Table bits for the section's `entries` keys: [`table_bits`], or more,
/// up to [`SPREAD_MAX_BITS`], for about [`SPREAD_SLOTS_PER_KEY`] slots a
/// key. Each filter then has four times the bits a key, so a quarter of
/// the false passes, and slots hold fewer records; past that size the
/// tables stop fitting the caches and the misses cost more than the
/// passes saved.
fn spread_bits(entries: usize) -> u32 {
    table_bits(entries).max(bits_for(entries * SPREAD_SLOTS_PER_KEY).min(SPREAD_MAX_BITS))
}

/// The least bits (4 to 24) for at least `slots` slots.
fn bits_for(slots: usize) -> u32 {
    let mut bits = 4;
    while (1usize << bits) < slots && bits < 24 {
        bits += 1;
    }
    bits
}

/// Slots a key in a table that [`spread_bits`] lets grow.
const SPREAD_SLOTS_PER_KEY: usize = 16;

/// The largest table (bits) that [`spread_bits`] grows to: 2^17 slots,
/// two 128 KiB filters. On uap-core's OS section (stride 2) 16 slots a
/// key cut wasm `all` by 9 % and `first` by 15 %; on the 10k synthetic
/// set, already at 2^17 slots, 2^18 made `all` 5 % slower.
const SPREAD_MAX_BITS: u32 = 17;

/// The largest table (bits) for which [`PrefilterWriter::finish`] tests
/// every other position: beyond, the filters outgrow the fastest caches
/// and the extra keys of short literals cost more than the positions saved.
const STRIDE_2_MAX_BITS: u32 = 16;

/// Assembles a prefilter section.
#[derive(Default)]
pub struct PrefilterWriter {
    literals: Vec<(Literal, Vec<Target>)>,
}

impl PrefilterWriter {
    /// An empty prefilter.
    pub fn new() -> PrefilterWriter {
        PrefilterWriter::default()
    }

    /// Whether no literal was pushed.
    pub fn is_empty(&self) -> bool {
        self.literals.is_empty()
    }

    /// Makes an occurrence of `literal` trigger `target`.
    ///
    /// # Panics
    ///
    /// When the literal is shorter than [`KEY_LEN`] or longer than 65,535 bytes.
    pub fn push(&mut self, mut literal: Literal, target: Target) {
        assert!(
            (KEY_LEN..=0xFFFF).contains(&literal.bytes.len()),
            "literal length"
        );
        if literal.case_insensitive {
            literal.bytes.make_ascii_lowercase();
        }
        self.literals.push((literal, alloc::vec![target]));
    }

    /// Lays the section out (4-aligned offsets throughout).
    pub fn finish(self) -> Vec<u8> {
        self.finish_at(None)
    }

    /// [`PrefilterWriter::finish`], at `stride` if given.
    fn finish_at(mut self, stride: Option<usize>) -> Vec<u8> {
        // One entry per distinct literal, its targets merged.
        self.literals.sort();
        let mut merged: Vec<(Literal, Vec<Target>)> = Vec::new();
        for (lit, t) in self.literals {
            match merged.last_mut() {
                Some((l, ts)) if *l == lit => ts.extend(t),
                _ => merged.push((lit, t)),
            }
        }
        for (_, ts) in &mut merged {
            ts.sort_unstable();
            ts.dedup();
        }
        // Every other position is tested when each literal is listed under
        // two consecutive windows, one of which each occurrence puts at an
        // even position; short literals then need many keys (see
        // `window_keys`), so the table decides.
        let layout = |stride: usize| {
            let anchors = choose_anchors(&merged, stride);
            let entries: Vec<(u32, usize, isize)> = (0..merged.len())
                .flat_map(|i| {
                    let bytes = &merged[i].0.bytes;
                    (anchors[i]..anchors[i] + stride as isize).flat_map(move |w| {
                        window_keys(bytes, w).into_iter().map(move |k| (k, i, w))
                    })
                })
                .collect();
            entries
        };
        let (stride, entries) = match stride {
            Some(stride) => (stride, layout(stride)),
            None => match layout(2) {
                two if table_bits(two.len()) <= STRIDE_2_MAX_BITS => (2, two),
                _ => (1, layout(1)),
            },
        };
        let bits = spread_bits(entries.len());
        let mut by_slot: Vec<(usize, usize, isize)> = entries
            .iter()
            .map(|&(k, i, anchor)| (slot4_of(k, bits), i, anchor))
            .collect();
        by_slot.sort_unstable();
        // Per slot its first record; one more entry closes the last slot.
        let mut table = alloc::vec![0u32; (1 << bits) + 1];
        let mut filter = alloc::vec![0u8; 1 << bits];
        let mut filter4 = alloc::vec![0u8; 1 << bits];
        for &(key4, ..) in &entries {
            let bit = bit_of(key4 & 0xFF_FFFF, bits);
            filter[bit >> 3] |= 1 << (bit & 7);
            let bit4 = bit4_of(key4, bits);
            filter4[bit4 >> 3] |= 1 << (bit4 & 7);
        }
        let mut literals = Vec::new();
        let mut targets = Vec::new();
        let mut bytes = Vec::new();
        // Where each literal's bytes and targets went (its records share them).
        let mut stored: Vec<Option<(u32, u32)>> = alloc::vec![None; merged.len()];
        for (n, &(slot, i, anchor)) in by_slot.iter().enumerate() {
            let (lit, ts) = &merged[i];
            // Records are sorted by slot: this slot ends after this one.
            table[slot + 1] = n as u32 + 1;
            let (bytes_at, targets_at) = *stored[i].get_or_insert_with(|| {
                let at = (bytes.len() as u32, targets.len() as u32);
                targets.extend(ts.iter().map(|t| t.code()));
                bytes.extend_from_slice(&lit.bytes);
                at
            });
            let flags = u32::from(lit.case_insensitive) * LIT_CASE_INSENSITIVE;
            let head = &lit.bytes[..lit.bytes.len().min(8)];
            let prefix = lower_word(head);
            let mask = u64::MAX >> (8 * (8 - head.len()));
            literals.push([
                bytes_at,
                lit.bytes.len() as u32 | u32::from(anchor as i16 as u16) << 16,
                flags,
                targets_at,
                ts.len() as u32,
                prefix as u32,
                (prefix >> 32) as u32,
                mask as u32,
                (mask >> 32) as u32,
                0,
            ]);
        }
        let mut out = Vec::new();
        for v in [
            KEY_LEN as u32,
            bits,
            literals.len() as u32,
            targets.len() as u32,
            bytes.len() as u32,
            merged.len() as u32,
            stride as u32,
        ] {
            write_u32(&mut out, v);
        }
        out.resize(HEADER_LEN, 0);
        out.extend_from_slice(&filter);
        out.extend_from_slice(&filter4);
        // An empty slot starts (and ends) where the one before it ended.
        for s in 1..table.len() {
            table[s] = table[s].max(table[s - 1]);
        }
        for first in table {
            write_u32(&mut out, first);
        }
        for rec in literals {
            for v in rec {
                write_u32(&mut out, v);
            }
        }
        for t in targets {
            write_u32(&mut out, t);
        }
        out.extend_from_slice(&bytes);
        pad_to(&mut out, 4);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The section for `literals` (rule i for literal i), at `stride`.
    fn section(literals: &[(&str, bool)], stride: usize) -> Vec<u32> {
        let mut w = PrefilterWriter::new();
        for (i, (l, ci)) in literals.iter().enumerate() {
            w.push(
                Literal {
                    bytes: l.as_bytes().to_vec(),
                    case_insensitive: *ci,
                },
                Target::Rule(i as u32),
            );
        }
        let bytes = w.finish_at(Some(stride));
        bytes
            .chunks(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }

    fn as_bytes(words: &[u32]) -> &[u8] {
        // SAFETY: any u32 is 4 initialized bytes; u8 needs no alignment.
        unsafe { core::slice::from_raw_parts(words.as_ptr().cast(), words.len() * 4) }
    }

    /// Where each literal occurs in `hay` (rule, start) by the prefilter at
    /// `stride`, sorted.
    fn scan_at_stride(literals: &[(&str, bool)], hay: &[u8], stride: usize) -> Vec<(u32, usize)> {
        let len = |r: u32| literals[r as usize].0.len();
        let words = section(literals, stride);
        let pf = Prefilter::from_bytes(as_bytes(&words), literals.len(), 0).unwrap();
        assert_eq!(pf.stride, stride);
        pf.check_literals(|_| {}).unwrap();
        let mut hits = Vec::new();
        pf.scan_at(hay, |t, start, end| match t {
            Target::Rule(r) => {
                assert_eq!(end - start, len(r));
                hits.push((r, start));
            }
            Target::Shard(_) | Target::RuleAtLiteral(_) => unreachable!(),
        });
        hits.sort_unstable();
        hits
    }

    /// [`scan_at_stride`] at both strides, which must agree.
    fn scan_all(literals: &[(&str, bool)], hay: &[u8]) -> Vec<(u32, usize)> {
        let one = scan_at_stride(literals, hay, 1);
        assert_eq!(
            scan_at_stride(literals, hay, 2),
            one,
            "{:?}",
            String::from_utf8_lossy(hay)
        );
        one
    }

    #[test]
    fn both_strides_find_literals_of_every_length_at_every_position() {
        let lits = [
            ("bot", false),
            ("Spid", true),
            ("crawl", false),
            ("Slurp!", true),
            ("http://", false),
            ("yandexbot", true),
            ("abcabcabcabc", false),
        ];
        for (r, (lit, ci)) in lits.iter().enumerate() {
            let cased = if *ci {
                lit.to_ascii_uppercase()
            } else {
                lit.to_string()
            };
            for before in 0..6 {
                for after in 0..4 {
                    let hay = format!("{}{}{}", &"x;Y z-"[..before], cased, &"q. "[..after.min(3)]);
                    let want: Vec<(u32, usize)> = (0..=hay.len() - lit.len())
                        .filter(|&at| {
                            let w = &hay.as_bytes()[at..at + lit.len()];
                            if *ci {
                                w.eq_ignore_ascii_case(lit.as_bytes())
                            } else {
                                w == lit.as_bytes()
                            }
                        })
                        .map(|at| (r as u32, at))
                        .collect();
                    let got: Vec<_> = scan_all(&lits, hay.as_bytes())
                        .into_iter()
                        .filter(|h| h.0 == r as u32)
                        .collect();
                    assert_eq!(got, want, "{hay:?}");
                }
            }
        }
    }

    #[test]
    fn a_section_that_misses_odd_positions_is_refused() {
        // Records for one window per literal, read as if every other
        // position were tested: occurrences at odd positions would be lost.
        let mut words = section(&[("googlebot", true), ("bot", false)], 1);
        words[6] = 2;
        let pf = Prefilter::from_bytes(as_bytes(&words), 2, 0).unwrap();
        assert!(matches!(
            pf.check_literals(|_| {}),
            Err(FormatError::Corrupt {
                what: "prefilter literal is not found at odd positions",
                ..
            })
        ));
        words[6] = 3;
        assert!(Prefilter::from_bytes(as_bytes(&words), 2, 0).is_err());
    }

    #[test]
    fn scan_reports_every_occurrence_where_it_starts() {
        let lits = [
            ("bot", false),
            ("Crawler", true),
            ("a@b", false),
            ("aaa", false),
        ];
        // A literal of KEY_LEN bytes in the middle (any byte after it), at
        // the very end (none), overlapping itself.
        assert_eq!(scan_all(&lits, b"bot1 xbot"), vec![(0, 0), (0, 6)]);
        assert_eq!(scan_all(&lits, b"aaaa"), vec![(3, 0), (3, 1)]);
        assert_eq!(scan_all(&lits, b"bo"), vec![]);
        // Case-insensitive in either case; case-sensitive exactly.
        assert_eq!(
            scan_all(&lits, b"a CRAWLER, crawler"),
            vec![(1, 2), (1, 11)]
        );
        assert_eq!(scan_all(&lits, b"BOT"), vec![]);
        // Keys fold `@` and `` ` `` together; comparisons do not.
        assert_eq!(scan_all(&lits, b"a`b a@b"), vec![(2, 4)]);
    }

    #[test]
    fn same_after_agrees_with_slice_equality() {
        let text: Vec<u8> = (0..40u8)
            .map(|i| b"aZ@`[{09\xC3\x80"[usize::from(i) % 10])
            .collect();
        for n in 8..=text.len() {
            let lit = &text[..n];
            let lower: Vec<u8> = lit.to_ascii_lowercase();
            for from in [0, 8] {
                for flip in from..=n {
                    // Every position from `from` changed in turn (and none).
                    let mut hay = lit.to_vec();
                    if flip < n {
                        hay[flip] ^= if hay[flip].is_ascii_alphabetic() {
                            0x20
                        } else {
                            0x01
                        };
                    }
                    assert_eq!(same_after(&hay, lit, false, from), hay == lit, "{n} {flip}");
                    let folded = hay.eq_ignore_ascii_case(&lower);
                    assert_eq!(same_after(&hay, &lower, true, from), folded, "{n} {flip}");
                }
            }
        }
    }

    #[test]
    fn word_at_reads_eight_bytes_or_up_to_the_end() {
        let bytes: Vec<u8> = (1..=20).collect();
        for n in 0..=bytes.len() {
            for at in 0..=n + 1 {
                let mut want = [0u8; 8];
                for (k, w) in want.iter_mut().enumerate() {
                    *w = bytes[..n].get(at + k).copied().unwrap_or(0);
                }
                assert_eq!(
                    word_at(&bytes[..n], at),
                    u64::from_le_bytes(want),
                    "{n} {at}"
                );
            }
        }
    }

    #[test]
    fn lower_word_lowercases_ascii_letters_only() {
        let all: Vec<u8> = (0..=255).collect();
        for chunk in all.chunks(8) {
            let want: Vec<u8> = chunk.iter().map(u8::to_ascii_lowercase).collect();
            assert_eq!(lower_word(chunk).to_le_bytes()[..chunk.len()], want[..]);
        }
        assert_eq!(lower_word(b"Ab"), u64::from(b'a') | u64::from(b'b') << 8);
    }
}
