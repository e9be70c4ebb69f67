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
use crate::matcher::{Matcher, Mode};

fn push_usize(out: &mut Vec<u8>, mut n: usize) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

fn push_rule_head(out: &mut Vec<u8>, db: &Database<'_>, rule: u32) {
    out.extend_from_slice(b"{\"id\":");
    out.extend_from_slice(db.rule_json(rule as usize).0);
}

fn push_payload(out: &mut Vec<u8>, db: &Database<'_>, rule: u32) {
    out.extend_from_slice(b",\"payload\":");
    let payload = db.rule_json(rule as usize).1.unwrap_or(b"null");
    out.extend_from_slice(payload);
}

/// Runs `mode` on `hay` and writes the JSON array of matches to `out`
/// (cleared first). Returns the number of matches. `scratch` is reused
/// between calls to avoid allocating.
pub fn write_matches(
    matcher: &Matcher<'_>,
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
                scratch.extend(matcher.find_any(hay));
            } else {
                matcher.matches_into(hay, scratch);
            }
            for (i, &rule) in scratch.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                push_rule_head(out, db, rule);
                push_payload(out, db, rule);
                out.push(b'}');
            }
            scratch.len()
        }
        Mode::First => match matcher.first(hay) {
            None => 0,
            Some(m) => {
                push_rule_head(out, db, m.rule);
                out.extend_from_slice(b",\"start\":");
                push_usize(out, m.start);
                out.extend_from_slice(b",\"end\":");
                push_usize(out, m.end);
                push_payload(out, db, m.rule);
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
