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
//! Each literal has an *anchor*: of all its windows of [`KEY_LEN`] bytes,
//! the one fewest other literals contain, so that literals sharing a common
//! start (`bot…`, `spider…`) spread out and text made of common words rarely
//! reaches a comparison; it is never a literal's last window when a byte
//! follows it. Windows are *folded* (ASCII letters lowercased),
//! so one lookup finds case-sensitive and case-insensitive literals alike;
//! the literal is then compared in full, case-sensitively or
//! ASCII-case-insensitively as it was extracted.
//!
//! Each input position costs a first bit filter keyed by its window; the
//! few that pass (text sharing 3-byte windows with the literals: names built
//! from a few syllables, version numbers) meet a second one keyed by the
//! window and the byte after it, which is also what picks the table slot:
//! a probe reads only literals whose anchor and next byte both agree. A
//! literal of [`KEY_LEN`] bytes has no next byte and is listed under every
//! possible one (a record each, sharing its bytes and targets).
//!
//! ```text
//! header     32 bytes    key length, table bits, record count, target count, bytes length,
//!                        distinct literal count
//! filter     2^bits bytes: one bit per hashed window (8 a slot), most positions stop here
//! filter4    2^bits bytes: one bit per hashed window and next byte; bit b is in byte
//!            b >> 3, whose table slot (b >> 3) lists the literals with that key
//! table      u32 a slot (2^bits slots, and one more): the slot's first record;
//!            the next slot's first ends it
//! records    40 bytes a record: bytes offset, length | anchor << 16, flags, first
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

#[inline]
fn lower(b: u8) -> u8 {
    b.to_ascii_lowercase()
}

/// The filter bit of a key: 8 bits a slot, so that most positions of an
/// input are rejected by one load from a table small enough for L1.
#[inline]
fn bit_of(key: u32, bits: u32) -> usize {
    (key.wrapping_mul(0x9E37_79B1) >> (32 - (bits + 3))) as usize
}

/// The second filter's bit of a key and the byte after it (`key4` holds
/// that byte, folded, in bits 24..32): a hash independent of [`bit_of`].
#[inline]
fn bit4_of(key4: u32, bits: u32) -> usize {
    (key4
        .wrapping_mul(0x85EB_CA77)
        .rotate_left(13)
        .wrapping_mul(0xC2B2_AE3D)
        >> (32 - (bits + 3))) as usize
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

/// A prefilter read in place from a database.
#[derive(Clone, Copy, Debug)]
pub struct Prefilter<'a> {
    bits: u32,
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
                || anchor + KEY_LEN > len
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

    #[inline]
    fn slot(&self, s: usize) -> (usize, usize) {
        let first = self.table[s] as usize;
        (first, self.table[s + 1] as usize - first)
    }

    #[inline]
    /// Bytes offset, length, anchor, first target, target count.
    fn literal(&self, l: usize) -> (usize, usize, usize, usize, usize) {
        let r = &self.literals[LITERAL_WORDS * l..LITERAL_WORDS * l + 5];
        (
            r[0] as usize,
            (r[1] & 0xFFFF) as usize,
            (r[1] >> 16) as usize,
            r[3] as usize,
            r[4] as usize,
        )
    }

    /// Number of distinct literals.
    pub fn literal_count(&self) -> usize {
        self.distinct
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
        let mut i = 0;
        // Four positions an iteration, for hosts that check for an
        // interrupt at every loop back-edge (see `crate::unroll`).
        while i + 7 <= hay.len() {
            for j in 0..4 {
                // SAFETY: i + j + 4 <= i + 7 <= hay.len() (loop condition).
                unsafe { self.scan_window(hay, i + j, &mut hit) };
            }
            i += 4;
        }
        while i + 4 <= hay.len() {
            // SAFETY: i + 4 <= hay.len() (loop condition).
            unsafe { self.scan_window(hay, i, &mut hit) };
            i += 1;
        }
        // The last window has no byte after it: only a literal of KEY_LEN
        // bytes can start there, listed under every byte after it; any one
        // (here a space) finds it.
        if i + KEY_LEN == hay.len() {
            let key4 = key_at(&hay[i..]) | u32::from(b' ') << 24;
            let bit4 = bit4_of(key4, self.bits);
            if self.filter_has(self.filter4, bit4) {
                self.probe(hay, i, bit4 >> 3, &mut hit);
            }
        }
    }

    /// Tests the window at `i` and the byte after it, as one little-endian
    /// load, against both filters, and probes its slot if both pass.
    ///
    /// # Safety
    ///
    /// `i + 4 <= hay.len()`.
    #[inline(always)]
    unsafe fn scan_window(&self, hay: &[u8], i: usize, hit: &mut impl FnMut(Target, usize, usize)) {
        const FOLD: u32 = 0x2020_2020;
        debug_assert!(i + 4 <= hay.len());
        // SAFETY: bytes i..i+4 are in `hay` (the caller's promise).
        let word = unsafe { hay.as_ptr().add(i).cast::<u32>().read_unaligned() };
        let key4 = u32::from_le(word) | FOLD;
        if self.filter_has(self.filter, bit_of(key4 & 0xFF_FFFF, self.bits)) {
            let bit4 = bit4_of(key4, self.bits);
            if self.filter_has(self.filter4, bit4) {
                self.probe(hay, i, bit4 >> 3, hit);
            }
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
    #[inline(never)]
    fn probe(&self, hay: &[u8], i: usize, slot: usize, hit: &mut impl FnMut(Target, usize, usize)) {
        let (first, count) = self.slot(slot);
        for l in first..first + count {
            let r = &self.literals[LITERAL_WORDS * l..LITERAL_WORDS * (l + 1)];
            let Some(start) = i.checked_sub((r[1] >> 16) as usize) else {
                continue;
            };
            if self.occurs_at(r, hay, start) {
                let (tf, tc, len) = (r[3] as usize, r[4] as usize, (r[1] & 0xFFFF) as usize);
                for &t in &self.targets[tf..tf + tc] {
                    hit(Target::from_code(t), start, start + len);
                }
            }
        }
    }

    /// Whether the literal of record `r` occurs in `hay` at `start`.
    #[inline(always)]
    fn occurs_at(&self, r: &[u32], hay: &[u8], start: usize) -> bool {
        // Up to 8 bytes lowercased at once: most literals of the slot
        // differ from the input within them.
        let prefix = u64::from(r[5]) | u64::from(r[6]) << 32;
        let mask = u64::from(r[7]) | u64::from(r[8]) << 32;
        if lower_word(&hay[start..]) & mask != prefix {
            return false;
        }
        let (off, len, flags) = (r[0] as usize, (r[1] & 0xFFFF) as usize, r[2]);
        let Some(window) = hay.get(start..start + len) else {
            return false;
        };
        let lit = &self.bytes[off..off + len];
        if flags & LIT_CASE_INSENSITIVE != 0 {
            window.iter().zip(lit).all(|(&h, &l)| lower(h) == l)
        } else {
            window == lit
        }
    }

    /// Checks that a scan finds every literal record where it looks for
    /// it (both filters' bits set, the record in the slot its key picks,
    /// its prefix, mask and bytes agreeing with it), for every byte that
    /// may follow a literal that ends with its anchor; then calls `target`
    /// with the targets of every record. A record that fails would make
    /// its rules silently never match. O(records + literal bytes), run by
    /// [`crate::format::Database::from_bytes`].
    pub(crate) fn check_literals(&self, mut target: impl FnMut(Target)) -> Result<(), FormatError> {
        let bits = self.bits;
        // Literals that end with their anchor need a record in the slot of
        // every byte that may follow them: per such literal (by its bytes'
        // offset, which its records share), its record and the slots its
        // records are in, ascending as the slots are visited.
        let mut open_ended: Vec<([u32; 5], Vec<u32>, usize)> = Vec::new();
        let mut by_offset: Vec<u32> = Vec::new();
        for slot in 0..1usize << bits {
            let (first, count) = self.slot(slot);
            for l in first..first + count {
                let r = &self.literals[LITERAL_WORDS * l..LITERAL_WORDS * (l + 1)];
                let corrupt = |what| FormatError::Corrupt { what, index: l };
                if r[2] & !LIT_CASE_INSENSITIVE != 0 {
                    return Err(corrupt("unknown prefilter literal flag bits"));
                }
                let (off, len, anchor, ..) = self.literal(l);
                let lit = &self.bytes[off..off + len];
                let key = key_at(&lit[anchor..]);
                if !self.filter_has(self.filter, bit_of(key, bits)) || !self.occurs_at(r, lit, 0) {
                    return Err(corrupt("prefilter literal is never found"));
                }
                let Some(&next) = lit.get(anchor + KEY_LEN) else {
                    if by_offset.is_empty() {
                        by_offset = alloc::vec![u32::MAX; self.bytes.len()];
                    }
                    let words = [r[0], r[1], r[2], r[3], r[4]];
                    let entry = match by_offset[off] {
                        u32::MAX => {
                            by_offset[off] = open_ended.len() as u32;
                            open_ended.push((words, Vec::new(), l));
                            open_ended.last_mut().unwrap()
                        }
                        e => &mut open_ended[e as usize],
                    };
                    if entry.0 != words {
                        return Err(corrupt("prefilter literal records disagree"));
                    }
                    entry.1.push(slot as u32);
                    continue;
                };
                let key4 = key | u32::from(fold(next)) << 24;
                if slot4_of(key4, bits) != slot
                    || !self.filter_has(self.filter4, bit4_of(key4, bits))
                {
                    return Err(corrupt("prefilter literal is never found"));
                }
                self.targets_of(r).for_each(&mut target);
            }
        }
        let mut want: Vec<u32> = Vec::with_capacity(128);
        for (r, slots, first) in &open_ended {
            let (off, len, anchor) = (
                r[0] as usize,
                (r[1] & 0xFFFF) as usize,
                (r[1] >> 16) as usize,
            );
            let key = key_at(&self.bytes[off + anchor..off + len]);
            want.clear();
            for b in (0..=255u8).filter(|&b| fold(b) == b) {
                let key4 = key | u32::from(b) << 24;
                if !self.filter_has(self.filter4, bit4_of(key4, bits)) {
                    want.clear();
                    break;
                }
                want.push(slot4_of(key4, bits) as u32);
            }
            want.sort_unstable();
            if *slots != want {
                return Err(FormatError::Corrupt {
                    what: "prefilter literal is not found before every byte",
                    index: *first,
                });
            }
            self.targets_of(r).for_each(&mut target);
        }
        Ok(())
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
    let x = match bytes.get(..8) {
        Some(b) => u64::from_le_bytes(b.try_into().unwrap()),
        None => {
            let mut buf = [0u8; 8];
            buf[..bytes.len()].copy_from_slice(bytes);
            u64::from_le_bytes(buf)
        }
    };
    const EACH: u64 = 0x0101_0101_0101_0101;
    let low7 = x & (0x7F * EACH);
    let above_z = low7.wrapping_add((0x7F - b'Z') as u64 * EACH);
    let at_least_a = low7.wrapping_add((0x80 - b'A') as u64 * EACH);
    let upper = !x & (at_least_a ^ above_z) & (0x80 * EACH);
    x | upper >> 2
}

/// For each literal, the offset of its key window: the window contained in
/// the fewest literals (a proxy for how rare it is in the text the rules
/// are written for), then the one fewest literals already use.
fn choose_anchors(literals: &[(Literal, Vec<Target>)]) -> Vec<usize> {
    use alloc::collections::BTreeMap;
    fn windows(l: &Literal) -> impl Iterator<Item = (usize, u32)> + '_ {
        // A byte after the anchor keys the second filter, so the last
        // window is the anchor only of a literal of KEY_LEN bytes.
        let last = (l.bytes.len() - KEY_LEN).saturating_sub(1).min(0xFFFF);
        (0..=last).map(move |a| (a, key_at(&l.bytes[a..])))
    }
    let mut containing: BTreeMap<u32, u32> = BTreeMap::new();
    for (l, _) in literals {
        let mut keys: Vec<u32> = windows(l).map(|(_, k)| k).collect();
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
        let (a, k) = windows(&literals[i].0)
            .min_by_key(|&(a, k)| (containing[&k], used.get(&k).copied().unwrap_or(0), a))
            .unwrap();
        *used.entry(k).or_default() += 1;
        anchors[i] = a;
    }
    anchors
}

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
    pub fn finish(mut self) -> Vec<u8> {
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
        let anchors = choose_anchors(&merged);
        // The keys of each literal: its anchor window and the byte after it;
        // any (folded) byte after a literal of KEY_LEN bytes, which is then
        // listed under each of them.
        let keys4 = |i: usize| -> Vec<u32> {
            let (l, a) = (&merged[i].0, anchors[i]);
            let key = key_at(&l.bytes[a..]);
            match l.bytes.get(a + KEY_LEN) {
                Some(&next) => alloc::vec![key | u32::from(fold(next)) << 24],
                None => (0..=255u8)
                    .filter(|&b| fold(b) == b)
                    .map(|b| key | u32::from(b) << 24)
                    .collect(),
            }
        };
        let entries: Vec<(u32, usize)> = (0..merged.len())
            .flat_map(|i| keys4(i).into_iter().map(move |k| (k, i)))
            .collect();
        // About four slots per key keeps most probes on an empty slot.
        let mut bits = 4;
        while (1usize << bits) < entries.len() * 4 && bits < 24 {
            bits += 1;
        }
        let mut by_slot: Vec<(usize, usize)> = entries
            .iter()
            .map(|&(k, i)| (slot4_of(k, bits), i))
            .collect();
        by_slot.sort_unstable();
        // Per slot its first record; one more entry closes the last slot.
        let mut table = alloc::vec![0u32; (1 << bits) + 1];
        let mut filter = alloc::vec![0u8; 1 << bits];
        let mut filter4 = alloc::vec![0u8; 1 << bits];
        for &(key4, _) in &entries {
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
        for (n, &(slot, i)) in by_slot.iter().enumerate() {
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
                lit.bytes.len() as u32 | (anchors[i] as u32) << 16,
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

    fn scan_all(literals: &[(&str, bool)], hay: &[u8]) -> Vec<(u32, usize)> {
        let len = |r: u32| literals[r as usize].0.len();
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
        let bytes = w.finish();
        let words: Vec<u32> = bytes
            .chunks(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        // SAFETY: `words` holds `bytes` (a multiple of 4 long), 4-aligned.
        let aligned: &[u8] =
            unsafe { core::slice::from_raw_parts(words.as_ptr().cast(), bytes.len()) };
        let pf = Prefilter::from_bytes(aligned, literals.len(), 0).unwrap();
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
    fn lower_word_lowercases_ascii_letters_only() {
        let all: Vec<u8> = (0..=255).collect();
        for chunk in all.chunks(8) {
            let want: Vec<u8> = chunk.iter().map(u8::to_ascii_lowercase).collect();
            assert_eq!(lower_word(chunk).to_le_bytes()[..chunk.len()], want[..]);
        }
        assert_eq!(lower_word(b"Ab"), u64::from(b'a') | u64::from(b'b') << 8);
    }
}
