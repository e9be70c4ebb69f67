//! The byte codecs every dfabake format is made of, in one place: fixed-width
//! little-endian words (the database, the prefilter, the locator), LEB128
//! varints and zigzag (wasm modules, exact programs), and alignment padding.
//!
//! Readers that may meet damaged bytes use the `try_` functions or a
//! [`Reader`], whose errors say what was being read and at which offset;
//! the plain `read_*` functions are for positions already checked in bounds.
//!
//! ```
//! use dfabake_matcher::wire::{self, Reader};
//!
//! let mut out = Vec::new();
//! wire::write_u32(&mut out, 7);
//! wire::write_uleb(&mut out, 300);
//! wire::write_sleb(&mut out, -2);
//! assert_eq!(wire::try_read_u32(&out, 0, "count"), Ok(7));
//! let mut r = Reader::at(&out, 4);
//! assert_eq!(r.uleb_u32("length"), Ok(300));
//! assert_eq!(r.sleb_i32("offset"), Ok(-2));
//! let err = r.byte("id").unwrap_err();
//! assert_eq!(err.to_string(), "id at byte 7: truncated");
//! ```

use alloc::vec::Vec;
use core::fmt;

/// Why a field could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The bytes end before the field does.
    Truncated,
    /// A varint runs on past the most bytes its type can take.
    Overlong,
    /// A varint's value does not fit its type.
    Overflow,
}

/// A field that could not be decoded: which, where, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WireError {
    /// The field being read.
    pub what: &'static str,
    /// Offset of the field (of the missing byte, when truncated).
    pub at: usize,
    /// What is wrong with it.
    pub problem: Problem,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let problem = match self.problem {
            Problem::Truncated => "truncated",
            Problem::Overlong => "LEB128 too long",
            Problem::Overflow => "LEB128 value too large",
        };
        write!(f, "{} at byte {}: {problem}", self.what, self.at)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for WireError {}

fn truncated(what: &'static str, at: usize) -> WireError {
    WireError {
        what,
        at,
        problem: Problem::Truncated,
    }
}

/// The little-endian u32 at `at`, or an error naming `what` if `bytes`
/// ends first.
pub fn try_read_u32(bytes: &[u8], at: usize, what: &'static str) -> Result<u32, WireError> {
    match bytes.get(at..at.saturating_add(4)) {
        Some(b) => Ok(u32::from_le_bytes(b.try_into().unwrap())),
        None => Err(truncated(what, bytes.len().max(at))),
    }
}

/// The little-endian u64 at `at`, or an error naming `what` if `bytes`
/// ends first.
pub fn try_read_u64(bytes: &[u8], at: usize, what: &'static str) -> Result<u64, WireError> {
    match bytes.get(at..at.saturating_add(8)) {
        Some(b) => Ok(u64::from_le_bytes(b.try_into().unwrap())),
        None => Err(truncated(what, bytes.len().max(at))),
    }
}

/// The little-endian u32 at `at`, which the caller checked is in bounds.
///
/// # Panics
///
/// When `bytes` is shorter than `at + 4`.
#[inline]
pub fn read_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
}

/// The little-endian u64 at `at`, which the caller checked is in bounds.
///
/// # Panics
///
/// When `bytes` is shorter than `at + 8`.
#[inline]
pub fn read_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

/// The little-endian u32s of `bytes` (a trailing partial word is ignored).
pub fn u32s(bytes: &[u8]) -> impl Iterator<Item = u32> + '_ {
    bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
}

/// Appends `v`, little endian.
pub fn write_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Appends `v`, little endian.
pub fn write_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Overwrites the 4 bytes at `at` with `v`, little endian.
///
/// # Panics
///
/// When `buf` is shorter than `at + 4`.
pub fn patch_u32(buf: &mut [u8], at: usize, v: u32) {
    buf[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// Overwrites the 8 bytes at `at` with `v`, little endian.
///
/// # Panics
///
/// When `buf` is shorter than `at + 8`.
pub fn patch_u64(buf: &mut [u8], at: usize, v: u64) {
    buf[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// How many bytes of padding bring `len` to a multiple of `align` (a power
/// of two).
pub fn padding_len(len: usize, align: usize) -> usize {
    len.next_multiple_of(align) - len
}

/// Pads `out` with zeros to a multiple of `align`.
pub fn pad_to(out: &mut Vec<u8>, align: usize) {
    out.resize(out.len().next_multiple_of(align), 0);
}

/// Appends `v` as an unsigned LEB128 varint.
pub fn write_uleb(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends `v` as a signed LEB128 varint.
pub fn write_sleb(out: &mut Vec<u8>, mut v: i64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        let done = (v == 0 && b & 0x40 == 0) || (v == -1 && b & 0x40 != 0);
        out.push(if done { b } else { b | 0x80 });
        if done {
            return;
        }
    }
}

/// Zigzag: small magnitudes of either sign become small unsigned numbers
/// (0, -1, 1, -2 → 0, 1, 2, 3), so that their varints are short.
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// The inverse of [`zigzag`].
pub fn unzigzag(v: u64) -> i64 {
    (v >> 1) as i64 ^ -((v & 1) as i64)
}

/// A bounds-checked cursor over bytes.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, pos: 0 }
    }

    /// A reader at offset `pos` of `bytes`.
    pub fn at(bytes: &'a [u8], pos: usize) -> Reader<'a> {
        Reader { bytes, pos }
    }

    /// The offset of the next byte.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Whether every byte was read.
    pub fn is_at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    /// The next byte.
    pub fn byte(&mut self, what: &'static str) -> Result<u8, WireError> {
        let b = *self.bytes.get(self.pos).ok_or(truncated(what, self.pos))?;
        self.pos += 1;
        Ok(b)
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or(truncated(what, self.bytes.len()))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// An unsigned LEB128 varint of at most 32 bits (5 bytes).
    pub fn uleb_u32(&mut self, what: &'static str) -> Result<u32, WireError> {
        self.uleb(what, 32).map(|v| v as u32)
    }

    /// An unsigned LEB128 varint of at most 64 bits (10 bytes).
    pub fn uleb_u64(&mut self, what: &'static str) -> Result<u64, WireError> {
        self.uleb(what, 64)
    }

    fn uleb(&mut self, what: &'static str, bits: u32) -> Result<u64, WireError> {
        let at = self.pos;
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let b = self.byte(what)?;
            if shift + 7 > bits {
                // The last byte may carry only the bits left, and no more bytes.
                if b & 0x80 != 0 {
                    return Err(WireError {
                        what,
                        at,
                        problem: Problem::Overlong,
                    });
                }
                if u32::from(b) >> (bits - shift) != 0 {
                    return Err(WireError {
                        what,
                        at,
                        problem: Problem::Overflow,
                    });
                }
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
            shift += 7;
        }
    }

    /// A signed LEB128 varint of at most 32 bits (5 bytes).
    pub fn sleb_i32(&mut self, what: &'static str) -> Result<i32, WireError> {
        let at = self.pos;
        let mut v = 0i64;
        let mut shift = 0;
        loop {
            let b = self.byte(what)?;
            v |= i64::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                if b & 0x40 != 0 {
                    v |= -1i64 << shift;
                }
                return i32::try_from(v).map_err(|_| WireError {
                    what,
                    at,
                    problem: Problem::Overflow,
                });
            }
            if shift >= 35 {
                return Err(WireError {
                    what,
                    at,
                    problem: Problem::Overlong,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_refuse_what_does_not_fit() {
        for v in [
            0u64,
            1,
            127,
            128,
            300,
            u32::MAX as u64,
            u32::MAX as u64 + 1,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            write_uleb(&mut out, v);
            assert_eq!(Reader::new(&out).uleb_u64("v"), Ok(v));
            let as_u32 = Reader::new(&out).uleb_u32("v");
            match u32::try_from(v) {
                Ok(small) => assert_eq!(as_u32, Ok(small)),
                Err(_) => assert!(as_u32.is_err(), "{v}"),
            }
        }
        for v in [0i64, -1, 63, -64, 64, -65, i32::MIN as i64, i32::MAX as i64] {
            let mut out = Vec::new();
            write_sleb(&mut out, v);
            assert_eq!(Reader::new(&out).sleb_i32("v"), Ok(v as i32));
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        let overlong = [0x80, 0x80, 0x80, 0x80, 0x80, 0x00];
        assert_eq!(
            Reader::new(&overlong).uleb_u32("n").unwrap_err().problem,
            Problem::Overlong
        );
        assert_eq!(
            Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x10])
                .uleb_u32("n")
                .unwrap_err()
                .problem,
            Problem::Overflow
        );
        assert_eq!(
            Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x0f]).uleb_u32("n"),
            Ok(u32::MAX)
        );
        assert_eq!(
            Reader::at(&[1, 0x80], 1).uleb_u32("n"),
            Err(WireError {
                what: "n",
                at: 2,
                problem: Problem::Truncated
            })
        );
        assert_eq!(
            try_read_u32(&[1, 2, 3], 0, "w").unwrap_err().to_string(),
            "w at byte 3: truncated"
        );
        assert_eq!(padding_len(13, 8), 3);
        assert_eq!(padding_len(16, 8), 0);
    }
}
