//! MySQL `match_type` flags.

use super::DialectError;

/// The `match_type` of `REGEXP_LIKE(expr, pat, match_type)`: MySQL's
/// flags `c`, `i`, `m`, `n`, `u` (the rightmost of `c`/`i` wins).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatchType {
    /// Case-insensitive (the default).
    pub case_insensitive: bool,
    /// `^`/`$` match at line ends.
    pub multi_line: bool,
    /// `.` matches `\n`.
    pub dot_all: bool,
}

impl MatchType {
    /// Parses `match_type` letters; the rightmost of `c`/`i` wins.
    pub fn parse(flags: &str) -> Result<MatchType, DialectError> {
        let mut m = MatchType {
            case_insensitive: true,
            multi_line: false,
            dot_all: false,
        };
        for (i, c) in flags.char_indices() {
            match c {
                'c' => m.case_insensitive = false,
                'i' => m.case_insensitive = true,
                'm' => m.multi_line = true,
                'n' => m.dot_all = true,
                'u' => {}
                _ => {
                    return Err(DialectError {
                        offset: i,
                        reason: format!(
                            "unknown flag {c:?} at position {} of flags {flags:?} \
                             (MySQL match_type letters: c, i, m, n, u)",
                            flags[..i].chars().count() + 1
                        ),
                        in_flags: true,
                    })
                }
            }
        }
        Ok(m)
    }

    /// The equivalent flags of the `regex` path (`i`, `m`, `s`).
    pub fn regex_flags(&self) -> String {
        let mut f = String::new();
        if self.case_insensitive {
            f.push('i');
        }
        if self.multi_line {
            f.push('m');
        }
        if self.dot_all {
            f.push('s');
        }
        f
    }
}
