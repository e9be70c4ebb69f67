//! Gates: pairs of adjacent bytes that spare a shard without literals the
//! inputs it cannot match.
//!
//! A rule with no required literal of [`KEY_LEN`](crate::prefilter::KEY_LEN)
//! bytes has nothing for the prefilter to find, and its shard would run on
//! every input. Many such rules still read, in every match, two adjacent
//! bytes from small sets: `-L` in `[A-Z]{3}-L[A-Za0-9]{2}`, `M` and a digit
//! in `[A-Z]{2,4}M\d{3,}`, `U3` in `(UC? ?Browser|UCWEB|U3)`. The builder
//! finds such *pairs*; a shard whose rules all have them is *gated*: it
//! runs only on inputs where one of its pairs occurs. One pass over an
//! input finds every pair of the database at once (up to [`MAX_PAIRS`]):
//! per byte, a table says which pairs it may end and which it may start,
//! as bit masks, with no branch.
//!
//! ```text
//! header   8 bytes: u32 pair count (1 to MAX_PAIRS), u32 gated shard count
//! first    256 u64: bit p of entry b is set when byte b may start pair p
//! second   256 u64: bit p of entry b is set when byte b may end pair p
//! shards   16 bytes a gated shard, by ascending index: u32 shard index,
//!          u32 0, u64 its pairs (bit p for pair p)
//! ```
//!
//! A gated shard is one the prefilter does not trigger
//! ([`ShardFlags::triggered`](crate::format::ShardFlags::triggered) unset):
//! its pairs take the place of literals.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ops::ControlFlow;

use crate::format::FormatError;
use crate::unroll::each_byte;
use crate::wire::{read_u32, read_u64, write_u32, write_u64};

/// Most distinct pairs a database's gates may have: one bit each of a u64.
pub const MAX_PAIRS: usize = 64;
const HEADER_LEN: usize = 8;
const TABLE_LEN: usize = 256 * 8;
const ENTRY_LEN: usize = 16;

/// Two byte sets: one byte of `first` followed by one of `second`. Each set
/// has bit `b % 32` of word `b / 32` for byte `b`, as run bounds' sets do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pair {
    /// The bytes the pair may start with.
    pub first: [u32; 8],
    /// The bytes that may follow.
    pub second: [u32; 8],
}

/// Whether byte `b` is in byte set `set`.
fn has(set: &[u32; 8], b: u8) -> bool {
    set[usize::from(b >> 5)] >> (b & 31) & 1 == 1
}

impl Pair {
    /// Whether the pair occurs somewhere in `hay`.
    pub fn occurs_in(&self, hay: &[u8]) -> bool {
        hay.windows(2)
            .any(|w| has(&self.first, w[0]) && has(&self.second, w[1]))
    }
}

/// The gates section for `pairs` (at most [`MAX_PAIRS`], pair `p` is bit
/// `p`) and the gated shards, as (shard index, pair mask) by ascending
/// index; empty when no shard is gated.
pub(crate) fn write_section(pairs: &[Pair], shards: &[(u32, u64)]) -> Vec<u8> {
    if shards.is_empty() {
        return Vec::new();
    }
    debug_assert!(!pairs.is_empty() && pairs.len() <= MAX_PAIRS);
    debug_assert!(shards.windows(2).all(|w| w[0].0 < w[1].0));
    let mut out = Vec::with_capacity(HEADER_LEN + 2 * TABLE_LEN + ENTRY_LEN * shards.len());
    write_u32(&mut out, pairs.len() as u32);
    write_u32(&mut out, shards.len() as u32);
    for second in [false, true] {
        for b in 0..=255u8 {
            let bits = pairs
                .iter()
                .enumerate()
                .filter(|(_, p)| has(if second { &p.second } else { &p.first }, b))
                .fold(0u64, |bits, (i, _)| bits | 1 << i);
            write_u64(&mut out, bits);
        }
    }
    for &(shard, mask) in shards {
        write_u32(&mut out, shard);
        write_u32(&mut out, 0);
        write_u64(&mut out, mask);
    }
    out
}

/// A database's gates, read in place.
#[derive(Clone, Copy, Debug)]
pub struct Gates<'a> {
    pair_count: usize,
    /// `first`, then `second` (see the module docs).
    tables: &'a [u8],
    /// The gated shards' entries.
    entries: &'a [u8],
}

impl<'a> Gates<'a> {
    /// Reads and checks a gates section: its length, every pair with bytes
    /// on both sides, every gated shard in range (`is_triggered` tells the
    /// prefilter's shards, which may not be gated), ascending, with pairs
    /// that exist.
    pub(crate) fn from_bytes(
        sec: &'a [u8],
        shard_count: usize,
        is_triggered: impl Fn(usize) -> bool,
    ) -> Result<Gates<'a>, FormatError> {
        let corrupt = |what, index| FormatError::Corrupt { what, index };
        if sec.len() < HEADER_LEN + 2 * TABLE_LEN {
            return Err(corrupt("gates truncated", 0));
        }
        let pair_count = read_u32(sec, 0) as usize;
        let shards = read_u32(sec, 4) as usize;
        if !(1..=MAX_PAIRS).contains(&pair_count) {
            return Err(corrupt("gate pair count out of range", pair_count));
        }
        let entries = &sec[HEADER_LEN + 2 * TABLE_LEN..];
        if Some(entries.len()) != shards.checked_mul(ENTRY_LEN) || shards == 0 {
            return Err(corrupt("gate entries do not match their count", shards));
        }
        let gates = Gates {
            pair_count,
            tables: &sec[HEADER_LEN..HEADER_LEN + 2 * TABLE_LEN],
            entries,
        };
        let valid = u64::MAX >> (64 - pair_count);
        let side = |s: usize| (0..256).fold(0u64, |all, b| all | gates.table(s, b));
        let (starts, ends) = (side(0), side(1));
        if starts & !valid != 0 || ends & !valid != 0 {
            return Err(corrupt("gate table names a pair beyond the count", 0));
        }
        let mut last = None;
        for (shard, mask) in gates.shards() {
            let s = shard as usize;
            if s >= shard_count || last.is_some_and(|l| l >= shard) {
                return Err(corrupt("gated shards out of range or not ascending", s));
            }
            if is_triggered(s) {
                return Err(corrupt("gated shard is triggered by literals", s));
            }
            // A pair without bytes on one side never occurs: its shard
            // would never run, and its rules never match.
            if mask == 0 || mask & !(starts & ends) != 0 {
                return Err(corrupt("gated shard with a missing or empty pair", s));
            }
            last = Some(shard);
        }
        Ok(gates)
    }

    fn table(&self, side: usize, b: usize) -> u64 {
        read_u64(self.tables, side * TABLE_LEN + b * 8)
    }

    /// The gated shards with their pairs' mask, by ascending index.
    pub fn shards(&self) -> impl Iterator<Item = (u32, u64)> + 'a {
        self.entries
            .chunks_exact(ENTRY_LEN)
            .map(|e| (read_u32(e, 0), read_u64(e, 8)))
    }

    /// The pairs of `mask` (bit `p` for pair `p`), as the writer took them.
    pub fn pairs(&self, mask: u64) -> Vec<Pair> {
        (0..self.pair_count)
            .filter(|p| mask >> p & 1 == 1)
            .map(|p| {
                let set = |side| {
                    let mut set = [0u32; 8];
                    for b in 0..256 {
                        if self.table(side, b) >> p & 1 == 1 {
                            set[b / 32] |= 1 << (b % 32);
                        }
                    }
                    set
                };
                Pair {
                    first: set(0),
                    second: set(1),
                }
            })
            .collect()
    }

    /// The tables a search reads, copied out of the database into words.
    pub(crate) fn scanner(&self) -> GateScanner {
        GateScanner {
            tables: Box::new(core::array::from_fn(|side| {
                core::array::from_fn(|b| self.table(side, b))
            })),
        }
    }
}

/// What finds the pairs of a database's gates in an input.
pub(crate) struct GateScanner {
    /// `first`, then `second` (see the module docs).
    tables: Box<[[u64; 256]; 2]>,
}

impl GateScanner {
    /// The pairs occurring in `hay`, as a mask: per byte, the pairs it ends
    /// (those the byte before it started) join those found.
    pub(crate) fn found(&self, hay: &[u8]) -> u64 {
        let [first, second] = &*self.tables;
        let (mut found, mut open) = (0u64, 0u64);
        let _ = each_byte::<()>(hay, |b| {
            found |= open & second[usize::from(b)];
            open = first[usize::from(b)];
            ControlFlow::Continue(())
        });
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn set(bytes: &[u8]) -> [u32; 8] {
        let mut s = [0u32; 8];
        for &b in bytes {
            s[usize::from(b / 32)] |= 1 << (b % 32);
        }
        s
    }

    fn pair(first: &[u8], second: &[u8]) -> Pair {
        Pair {
            first: set(first),
            second: set(second),
        }
    }

    #[test]
    fn a_scan_finds_exactly_the_pairs_that_occur() {
        let pairs = vec![
            pair(b"-", b"L"),
            pair(b"M", b"0123456789"),
            pair(b"U", b"3"),
            pair(b"ab", b"ab"),
        ];
        let shards = [(0, 0b0001), (2, 0b0110), (5, 0b1000)];
        let sec = write_section(&pairs, &shards);
        let gates = Gates::from_bytes(&sec, 6, |_| false).unwrap();
        assert_eq!(gates.shards().collect::<Vec<_>>(), shards);
        assert_eq!(gates.pairs(0b0110), pairs[1..3]);
        let scanner = gates.scanner();
        let mut seed = 7u32;
        let alphabet = b"-LMU3ab09 x";
        for len in 0..40 {
            for _ in 0..50 {
                let hay: Vec<u8> = (0..len)
                    .map(|_| {
                        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                        alphabet[(seed >> 16) as usize % alphabet.len()]
                    })
                    .collect();
                let want = pairs
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.occurs_in(&hay))
                    .fold(0u64, |m, (i, _)| m | 1 << i);
                assert_eq!(scanner.found(&hay), want, "{:?}", hay);
            }
        }
    }

    #[test]
    fn damaged_sections_are_refused() {
        let pairs = vec![pair(b"-", b"L"), pair(b"M", b"0")];
        let good = write_section(&pairs, &[(1, 0b01), (3, 0b11)]);
        assert!(Gates::from_bytes(&good, 4, |_| false).is_ok());
        // A shard out of range, or one the prefilter triggers.
        assert!(Gates::from_bytes(&good, 3, |_| false).is_err());
        assert!(Gates::from_bytes(&good, 4, |s| s == 3).is_err());
        let patched = |at: usize, v: u64| {
            let mut bad = good.clone();
            bad[at..at + 8].copy_from_slice(&v.to_le_bytes());
            bad
        };
        let entries = HEADER_LEN + 2 * TABLE_LEN;
        // A mask naming no pair, or a pair beyond the count.
        assert!(Gates::from_bytes(&patched(entries + 8, 0), 4, |_| false).is_err());
        assert!(Gates::from_bytes(&patched(entries + 8, 0b100), 4, |_| false).is_err());
        // A pair that no byte ends: its shard would never run.
        let m = HEADER_LEN + TABLE_LEN + usize::from(b'0') * 8;
        assert!(Gates::from_bytes(&patched(m, 0), 4, |_| false).is_err());
        // Shards not ascending.
        let mut swapped = good.clone();
        swapped[entries..entries + 4].copy_from_slice(&3u32.to_le_bytes());
        assert!(Gates::from_bytes(&swapped, 4, |_| false).is_err());
        // Truncated, and a count that disagrees with the entries.
        assert!(Gates::from_bytes(&good[..good.len() - 1], 4, |_| false).is_err());
        let mut count = good.clone();
        count[4..8].copy_from_slice(&3u32.to_le_bytes());
        assert!(Gates::from_bytes(&count, 4, |_| false).is_err());
    }
}
