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
//! The table is keyed by the first [`KEY_LEN`] bytes of each literal, ASCII
//! lowercased, so one probe per input position finds case-sensitive and
//! case-insensitive literals alike; the literal is then compared in full,
//! case-sensitively or ASCII-case-insensitively as it was extracted.
//!
//! ```text
//! header     32 bytes    key length, table bits, literal count, target count, bytes length
//! table      8 bytes a slot (2^bits slots): first literal, literal count
//! literals   16 bytes a literal: bytes offset, length, flags, first target, target count
//! targets    u32 each: a shard index, or a rule index with bit 31 set (complete rule)
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

/// Bytes of a literal that key the table; shorter literals are not used.
pub const KEY_LEN: usize = 3;
const HEADER_LEN: usize = 32;
const SLOT_LEN: usize = 8;
const LITERAL_LEN: usize = 16;
const COMPLETE_BIT: u32 = 1 << 31;
const LIT_CASE_INSENSITIVE: u32 = 1;

/// What a literal occurrence points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    /// A shard whose DFA must run on this input.
    Shard(u32),
    /// A rule that matches: it is nothing but its literals.
    Rule(u32),
}

impl Target {
    fn code(self) -> u32 {
        match self {
            Target::Shard(s) => s,
            Target::Rule(r) => r | COMPLETE_BIT,
        }
    }

    #[inline]
    fn from_code(c: u32) -> Target {
        if c & COMPLETE_BIT != 0 {
            Target::Rule(c & !COMPLETE_BIT)
        } else {
            Target::Shard(c)
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

#[inline]
fn slot_of(key: u32, bits: u32) -> usize {
    (key.wrapping_mul(0x9E37_79B1) >> (32 - bits)) as usize
}

#[inline]
fn key_at(bytes: &[u8]) -> u32 {
    u32::from(lower(bytes[0])) | u32::from(lower(bytes[1])) << 8 | u32::from(lower(bytes[2])) << 16
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
}

/// A prefilter read in place from a database.
#[derive(Clone, Copy, Debug)]
pub struct Prefilter<'a> {
    bits: u32,
    table: &'a [u8],
    literals: &'a [u8],
    targets: &'a [u8],
    bytes: &'a [u8],
}

impl<'a> Prefilter<'a> {
    /// Reads a prefilter section and checks that every offset is in bounds
    /// and every target names one of `shards` shards or `rules` rules.
    pub fn from_bytes(sec: &'a [u8], rules: usize, shards: usize) -> Result<Prefilter<'a>, FormatError> {
        let corrupt = |what| FormatError::Corrupt { what, index: 0 };
        if sec.len() < HEADER_LEN {
            return Err(corrupt("prefilter header truncated"));
        }
        if read_u32(sec, 0) as usize != KEY_LEN {
            return Err(corrupt("prefilter key length"));
        }
        let bits = read_u32(sec, 4);
        if !(1..=24).contains(&bits) {
            return Err(corrupt("prefilter table size"));
        }
        let (lits, targets, bytes_len) = (
            read_u32(sec, 8) as usize,
            read_u32(sec, 12) as usize,
            read_u32(sec, 16) as usize,
        );
        let table_end = HEADER_LEN + (SLOT_LEN << bits);
        let lits_end = table_end.saturating_add(lits.saturating_mul(LITERAL_LEN));
        let targets_end = lits_end.saturating_add(targets.saturating_mul(4));
        let end = targets_end.saturating_add(bytes_len);
        if end > sec.len() {
            return Err(corrupt("prefilter sections out of bounds"));
        }
        let pf = Prefilter {
            bits,
            table: &sec[HEADER_LEN..table_end],
            literals: &sec[table_end..lits_end],
            targets: &sec[lits_end..targets_end],
            bytes: &sec[targets_end..end],
        };
        for s in 0..1usize << bits {
            let (first, count) = pf.slot(s);
            if first.saturating_add(count) > lits {
                return Err(FormatError::Corrupt { what: "prefilter slot out of bounds", index: s });
            }
        }
        for l in 0..lits {
            let (off, len, _, tf, tc) = pf.literal(l);
            if len < KEY_LEN || off.saturating_add(len) > bytes_len || tf.saturating_add(tc) > targets {
                return Err(FormatError::Corrupt { what: "prefilter literal out of bounds", index: l });
            }
        }
        for t in 0..targets {
            let ok = match Target::from_code(read_u32(pf.targets, t * 4)) {
                Target::Shard(s) => (s as usize) < shards,
                Target::Rule(r) => (r as usize) < rules,
            };
            if !ok {
                return Err(FormatError::Corrupt { what: "prefilter target out of range", index: t });
            }
        }
        Ok(pf)
    }

    #[inline]
    fn slot(&self, s: usize) -> (usize, usize) {
        (read_u32(self.table, s * SLOT_LEN) as usize, read_u32(self.table, s * SLOT_LEN + 4) as usize)
    }

    #[inline]
    fn literal(&self, l: usize) -> (usize, usize, u32, usize, usize) {
        let at = l * LITERAL_LEN;
        let len_flags = read_u32(self.literals, at + 4);
        (
            read_u32(self.literals, at) as usize,
            (len_flags & 0xFFFF) as usize,
            len_flags >> 16,
            read_u32(self.literals, at + 8) as usize,
            read_u32(self.literals, at + 12) as usize,
        )
    }

    /// Number of distinct literals.
    pub fn literal_count(&self) -> usize {
        self.literals.len() / LITERAL_LEN
    }

    fn all_targets(&self) -> impl Iterator<Item = Target> + '_ {
        self.targets
            .chunks_exact(4)
            .map(|c| Target::from_code(u32::from_le_bytes(c.try_into().unwrap())))
    }

    /// Rules decided by the prefilter alone (with repeats).
    pub fn complete_rules(&self) -> impl Iterator<Item = u32> + '_ {
        self.all_targets().filter_map(|t| match t {
            Target::Rule(r) => Some(r),
            Target::Shard(_) => None,
        })
    }

    /// Shards the prefilter triggers (with repeats).
    pub fn shard_targets(&self) -> impl Iterator<Item = u32> + '_ {
        self.all_targets().filter_map(|t| match t {
            Target::Shard(s) => Some(s),
            Target::Rule(_) => None,
        })
    }

    /// Calls `hit` with the targets of every literal occurring in `hay`
    /// (a target once per occurrence of one of its literals).
    #[inline]
    pub fn scan(&self, hay: &[u8], mut hit: impl FnMut(Target)) {
        if hay.len() < KEY_LEN {
            return;
        }
        // `key` rolls: at position i it holds bytes i, i+1, i+2 (lowercased).
        let mut key = u32::from(lower(hay[0])) << 8 | u32::from(lower(hay[1])) << 16;
        for i in 0..=hay.len() - KEY_LEN {
            key = key >> 8 | u32::from(lower(hay[i + KEY_LEN - 1])) << 16;
            let (first, count) = self.slot(slot_of(key, self.bits));
            for l in first..first + count {
                let (off, len, flags, tf, tc) = self.literal(l);
                let Some(window) = hay.get(i..i + len) else { continue };
                let lit = &self.bytes[off..off + len];
                let found = if flags & LIT_CASE_INSENSITIVE != 0 {
                    window.iter().zip(lit).all(|(&h, &l)| lower(h) == l)
                } else {
                    window == lit
                };
                if found {
                    for t in tf..tf + tc {
                        hit(Target::from_code(read_u32(self.targets, t * 4)));
                    }
                }
            }
        }
    }
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
        assert!((KEY_LEN..=0xFFFF).contains(&literal.bytes.len()), "literal length");
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
        // About four slots per key keeps most probes on an empty slot.
        let mut bits = 4;
        while (1usize << bits) < merged.len() * 4 && bits < 24 {
            bits += 1;
        }
        let mut by_slot: Vec<(usize, usize)> = merged
            .iter()
            .enumerate()
            .map(|(i, (l, _))| (slot_of(key_at(&l.bytes), bits), i))
            .collect();
        by_slot.sort_unstable();
        let mut table = alloc::vec![(0u32, 0u32); 1 << bits];
        let mut literals = Vec::new();
        let mut targets = Vec::new();
        let mut bytes = Vec::new();
        for (n, &(slot, i)) in by_slot.iter().enumerate() {
            let (lit, ts) = &merged[i];
            if table[slot].1 == 0 {
                table[slot].0 = n as u32;
            }
            table[slot].1 += 1;
            let flags = u32::from(lit.case_insensitive) * LIT_CASE_INSENSITIVE;
            literals.push([
                bytes.len() as u32,
                lit.bytes.len() as u32 | flags << 16,
                targets.len() as u32,
                ts.len() as u32,
            ]);
            targets.extend(ts.iter().map(|t| t.code()));
            bytes.extend_from_slice(&lit.bytes);
        }
        let mut out = Vec::new();
        for v in [KEY_LEN as u32, bits, literals.len() as u32, targets.len() as u32, bytes.len() as u32] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.resize(HEADER_LEN, 0);
        for (first, count) in table {
            out.extend_from_slice(&first.to_le_bytes());
            out.extend_from_slice(&count.to_le_bytes());
        }
        for rec in literals {
            for v in rec {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        for t in targets {
            out.extend_from_slice(&t.to_le_bytes());
        }
        out.extend_from_slice(&bytes);
        out.resize(out.len().next_multiple_of(4), 0);
        out
    }
}
