//! `LIKE` patterns and the `utf8mb4_general_ci` collation they compare by.

use std::fmt::Write as _;

use super::{lit, MatchType, Out, Translation};

include!("general_ci.rs");

fn general_ci_weight(c: char) -> u32 {
    let cp = c as u32;
    if cp > 0xFFFF {
        return 0xFFFD;
    }
    match GENERAL_CI_WEIGHTS.binary_search_by_key(&cp, |&(c, _)| c) {
        Ok(i) => GENERAL_CI_WEIGHTS[i].1 as u32,
        Err(_) => cp,
    }
}

/// Every character equal to `c` under `utf8mb4_general_ci`, as a class.
fn general_ci_class(c: char) -> String {
    let w = general_ci_weight(c);
    let mut set: Vec<u32> = GENERAL_CI_WEIGHTS
        .iter()
        .filter(|&&(_, cw)| cw as u32 == w)
        .map(|&(cp, _)| cp)
        .collect();
    set.push(c as u32);
    set.sort_unstable();
    set.dedup();
    let mut s = String::from("[");
    for cp in &set {
        let _ = write!(s, "\\x{{{cp:X}}}");
    }
    if w == 0xFFFD {
        s.push_str(r"\x{FFFD}\x{10000}-\x{10FFFF}");
    }
    if set.len() == 1 && w != 0xFFFD {
        return lit(c);
    }
    s.push(']');
    s
}

/// Translates a `LIKE` pattern (whole-value match).
pub fn translate_like(pattern: &str, flags: &MatchType) -> Translation {
    let mut out = Out {
        s: String::from(r"\A"),
        map: vec![(0, 0)],
    };
    let mut chars = pattern.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let literal = match c {
            '%' => {
                if !out.s.ends_with("(?s:.*)") {
                    out.push_str(at, "(?s:.*)");
                }
                continue;
            }
            '_' => {
                out.push_str(at, "(?s:.)");
                continue;
            }
            '\\' => match chars.next() {
                Some((_, n)) => n,
                None => '\\',
            },
            c => c,
        };
        let t = if flags.case_insensitive {
            general_ci_class(literal)
        } else {
            lit(literal)
        };
        out.push_str(at, &t);
    }
    out.push_str(pattern.len(), r"\z");
    Translation {
        pattern: out.s,
        map: out.map,
    }
}
