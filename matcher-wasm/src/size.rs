//! Byte sizes as people write them on a command line: `32M`, `32MB`,
//! `1GiB`, `512k`, `4096`.
//!
//! One parser for every byte-size flag of `dfabake` and `dfabake-host`, so
//! that both read `--max-dfa-bytes 8M` and `--max-body-bytes 8M` alike.
//! Units are powers of 1024 whichever way they are spelt (`k`, `K`, `KB`,
//! `KiB` are all 1024 bytes), as ripgrep's `--max-filesize` reads them:
//! every limit here is a memory or buffer size, which people think of in
//! binary units, and one convention is less surprising than two.

use alloc::format;
use alloc::string::String;
use core::fmt;

/// Why a size could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SizeError {
    input: String,
    why: String,
}

impl fmt::Display for SizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid size {:?}: {} (write bytes, or a number with a unit: 512k, 32M, 32MB, 1GiB; \
             units are powers of 1024)",
            self.input, self.why
        )
    }
}

#[cfg(feature = "std")]
impl std::error::Error for SizeError {}

/// Reads a size in bytes: digits (`_` allowed between them), optionally
/// followed by a unit: `B`, `k`/`K`/`KB`/`KiB`, `M`/`MB`/`MiB`,
/// `G`/`GB`/`GiB`, `T`/`TB`/`TiB` (letters in any case, a space before the
/// unit allowed), each a power of 1024.
///
/// ```
/// use dfabake_matcher::size::parse_size;
/// assert_eq!(parse_size("32M"), Ok(32 << 20));
/// assert_eq!(parse_size("1GiB"), Ok(1 << 30));
/// assert_eq!(parse_size("512k"), Ok(512 << 10));
/// assert_eq!(parse_size("4096"), Ok(4096));
/// assert!(parse_size("1.5G").is_err());
/// ```
pub fn parse_size(input: &str) -> Result<u64, SizeError> {
    let err = |why: String| SizeError {
        input: input.into(),
        why,
    };
    let s = input.trim();
    let digits_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '_'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(digits_end);
    if number.is_empty() || number.starts_with('_') {
        return Err(err(if s.is_empty() {
            "it is empty".into()
        } else if s.starts_with('-') {
            "it is negative".into()
        } else {
            "it does not start with a number".into()
        }));
    }
    if unit.starts_with(['.', ',']) {
        return Err(err(
            "fractions are not supported (write 1536M, not 1.5G)".into()
        ));
    }
    let unit = unit.trim_start();
    let shift = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(err(format!("unknown unit {unit:?}"))),
    };
    let mut value: u64 = 0;
    for b in number.bytes().filter(|&b| b != b'_') {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or_else(|| err("it is too large".into()))?;
    }
    value
        .checked_mul(1 << shift)
        .ok_or_else(|| err("it is too large".into()))
}

/// [`parse_size`] for a `usize` option (clap's `value_parser`).
pub fn parse_size_usize(input: &str) -> Result<usize, SizeError> {
    let bytes = parse_size(input)?;
    usize::try_from(bytes).map_err(|_| SizeError {
        input: input.into(),
        why: "it is too large for this machine".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_powers_of_1024_however_spelt() {
        for (s, want) in [
            ("0", 0),
            ("4096", 4096),
            ("1_000_000", 1_000_000),
            ("100B", 100),
            ("512k", 512 << 10),
            ("512K", 512 << 10),
            ("512KB", 512 << 10),
            ("512KiB", 512 << 10),
            ("32M", 32 << 20),
            ("32MB", 32 << 20),
            ("32mib", 32 << 20),
            ("32 MiB", 32 << 20),
            (" 1GiB ", 1 << 30),
            ("2g", 2 << 30),
            ("1T", 1 << 40),
        ] {
            assert_eq!(parse_size(s), Ok(want), "{s}");
        }
    }

    #[test]
    fn bad_sizes_say_why() {
        for (s, why) in [
            ("", "empty"),
            ("M", "does not start with a number"),
            ("-1", "negative"),
            ("1.5G", "fractions are not supported"),
            ("32X", "unknown unit \"X\""),
            ("32 megabytes", "unknown unit"),
            ("99999999999999999999", "too large"),
            ("17179869184G", "too large"),
        ] {
            let e = parse_size(s).unwrap_err().to_string();
            assert!(e.contains(why) && e.contains("powers of 1024"), "{s}: {e}");
        }
    }
}
