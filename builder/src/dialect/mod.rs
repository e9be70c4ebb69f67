//! MySQL/MariaDB pattern dialects, translated into the `regex` crate's syntax.
//!
//! * `REGEXP` patterns follow MariaDB (PCRE2 with UTF and UCP): `\w`, `\d`,
//!   `\s`, POSIX classes and `\b` are Unicode-aware; case-insensitive by
//!   default (as under `utf8mb4_general_ci`), where `\p{..}`, `[[:lower:]]`
//!   and `[[:upper:]]` do not fold case. Syntax the `regex` crate spells
//!   differently is translated (`[[:<:]]`, `\Z`, `\h`, `\v`, `\R`, `\Q..\E`,
//!   `\e`, `\cX`, octal escapes, `(?<n>` / `(?'n'` groups, literal `{`,
//!   literal `[`/`&`/`~`/`-` in classes, ...); what a DFA cannot do
//!   (backreferences, lookaround, atomic groups, possessive quantifiers,
//!   recursion, conditionals, `\K`, verbs) is rejected with its position.
//! * `LIKE` patterns: `%` any run of characters, `_` exactly one character,
//!   `\` escapes the next character, the whole value must match. Without the
//!   `c` flag characters compare as `utf8mb4_general_ci` does: by weight
//!   (so `é` = `E` and `ß` = `s`, and every supplementary character such as an
//!   emoji equals every other).
//!
//! Flags are MySQL's `match_type` letters: `c` case-sensitive, `i`
//! case-insensitive (the rightmost of the two wins), `m` multi-line, `n` dot
//! matches newline, `u` Unix line endings (the only kind the `regex` crate
//! knows, so it changes nothing).
//!
//! Errors carry byte offsets in the ORIGINAL pattern.
//!
//! [`Dialect`], [`Kind`] and [`translate`] are always here; the MySQL
//! translation itself is the cargo feature `mysql` (on by default): without
//! it, asking for [`Dialect::Mysql`] is an error that says so.

#[cfg(feature = "mysql")]
mod flags;
#[cfg(feature = "mysql")]
mod like;
#[cfg(feature = "mysql")]
mod regexp;

#[cfg(feature = "mysql")]
pub use flags::MatchType;
#[cfg(feature = "mysql")]
pub use like::translate_like;
#[cfg(feature = "mysql")]
pub use regexp::translate_regexp;

pub use crate::error::position_of;
use crate::error::RowError;
#[cfg(feature = "mysql")]
use crate::rules::WrittenAs;
use crate::rules::{Entry, RuleSpec};

/// How patterns and flags are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// The `regex` crate's syntax; flags `i`, `m`, `s`, `x`.
    Regex,
    /// MySQL/MariaDB `REGEXP` and `LIKE`; flags `c`, `i`, `m`, `n`, `u`.
    Mysql,
}

impl Dialect {
    /// Whether this build of dfabake can read patterns in the dialect: the
    /// MySQL one needs the cargo feature `mysql`. The error says so.
    pub fn available(self) -> Result<(), String> {
        match self {
            Dialect::Regex => Ok(()),
            #[cfg(feature = "mysql")]
            Dialect::Mysql => Ok(()),
            #[cfg(not(feature = "mysql"))]
            Dialect::Mysql => Err(WITHOUT_MYSQL.to_string()),
        }
    }
}

/// Why the MySQL dialect (and source) are refused by a dfabake built
/// without them.
#[cfg(not(feature = "mysql"))]
pub const WITHOUT_MYSQL: &str = "this dfabake was built without MySQL support (cargo feature \
     `mysql` of crate dfabake, on by default): --mysql and --dialect mysql are not available; \
     rebuild it with default features";

/// What kind of pattern a MySQL rule holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `value REGEXP pattern`.
    Regexp,
    /// `value LIKE pattern`.
    Like,
}

/// A rule written in `dialect` as a pattern of `kind`, translated into the
/// `regex` crate's syntax for the compile path, which checks it. A rule in
/// the `regex` crate's syntax passes as it is (a `LIKE` pattern cannot be
/// written in it).
pub fn translate(rule: RuleSpec, kind: Kind, dialect: Dialect) -> Entry {
    match (dialect, kind) {
        (Dialect::Regex, Kind::Regexp) => Ok(rule),
        (Dialect::Regex, Kind::Like) => Err(RowError::new(
            Some(rule.id),
            rule.origin,
            "kind `like` needs --dialect mysql",
        )),
        #[cfg(feature = "mysql")]
        (Dialect::Mysql, kind) => translate_rule(&rule, kind),
        #[cfg(not(feature = "mysql"))]
        (Dialect::Mysql, _) => Err(RowError::new(Some(rule.id), rule.origin, WITHOUT_MYSQL)),
    }
}

#[cfg(feature = "mysql")]
/// Why a pattern cannot be translated, at a byte offset of the original.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DialectError {
    /// Byte offset in the original pattern (or flags, for flag errors).
    pub offset: usize,
    /// The reason.
    pub reason: String,
    /// The error is about the flags, not the pattern.
    pub in_flags: bool,
}

#[cfg(feature = "mysql")]
fn perr<T>(offset: usize, reason: impl Into<String>) -> Result<T, DialectError> {
    Err(DialectError {
        offset,
        reason: reason.into(),
        in_flags: false,
    })
}

#[cfg(feature = "mysql")]
/// A MySQL pattern translated to the `regex` crate's syntax, with the map
/// that points a position in the translation back into what the user wrote
/// (so errors name the user's column, not ours).
#[derive(Clone, Debug)]
pub struct Translation {
    /// The pattern in the `regex` crate's syntax.
    pub pattern: String,
    /// `(offset in pattern, offset in original)`, ascending.
    map: Vec<(usize, usize)>,
}

#[cfg(feature = "mysql")]
impl Translation {
    /// The original offset a translated offset came from.
    pub fn original_offset(&self, translated: usize) -> usize {
        crate::rules::original_offset(&self.map, translated)
    }

    /// The translated pattern, with `original` (the pattern translated) and
    /// the offset map for the rule that carries it.
    pub fn into_parts(self, original: &str) -> (String, WrittenAs) {
        (
            self.pattern,
            WrittenAs {
                pattern: original.to_string(),
                offsets: self.map,
            },
        )
    }
}

#[cfg(feature = "mysql")]
struct Out {
    s: String,
    map: Vec<(usize, usize)>,
}

#[cfg(feature = "mysql")]
impl Out {
    fn mark(&mut self, orig: usize) {
        self.map.push((self.s.len(), orig));
    }
    fn push_str(&mut self, orig: usize, text: &str) {
        self.mark(orig);
        self.s.push_str(text);
    }
}

#[cfg(feature = "mysql")]
/// A character written so that it means itself both outside and inside a
/// class, in any mode (including verbose).
fn lit(c: char) -> String {
    if c.is_alphanumeric() || (!c.is_ascii() && !c.is_whitespace() && !c.is_control()) {
        c.to_string()
    } else {
        format!("\\x{{{:X}}}", c as u32)
    }
}

#[cfg(feature = "mysql")]
/// Turns a rule written in the MySQL dialect (pattern as stored, flags as
/// `match_type` letters) into a rule for the compile path, which checks it:
/// the rule carries its pattern as written ([`RuleSpec::written_as`]), so
/// errors point into the original pattern.
pub fn translate_rule(rule: &RuleSpec, kind: Kind) -> Result<RuleSpec, RowError> {
    let err = |reason: String| RowError::new(Some(rule.id.clone()), rule.origin.clone(), reason);
    if rule.pattern.is_empty() {
        return Err(err("empty pattern (it would match every input)".into()));
    }
    let at = |e: DialectError| {
        if e.in_flags {
            err(e.reason)
        } else {
            err(e.reason).at(&rule.pattern, position_of(&rule.pattern, e.offset))
        }
    };
    let flags = MatchType::parse(&rule.flags).map_err(at)?;
    let (t, regex_flags) = match kind {
        Kind::Regexp => (
            translate_regexp(&rule.pattern, &flags).map_err(at)?,
            flags.regex_flags(),
        ),
        // LIKE folds case itself (by collation weight); `m`/`n` mean nothing.
        Kind::Like => (translate_like(&rule.pattern, &flags), String::new()),
    };
    let (pattern, written_as) = t.into_parts(&rule.pattern);
    Ok(RuleSpec {
        id: rule.id.clone(),
        pattern,
        flags: regex_flags,
        payload: rule.payload.clone(),
        origin: rule.origin.clone(),
        written_as: Some(written_as),
    })
}

#[cfg(feature = "mysql")]
/// Translates rules of a patterns file written in the MySQL dialect (all
/// `REGEXP`); returns the good rules and every bad one.
pub fn translate_all(rules: &[RuleSpec]) -> (Vec<RuleSpec>, Vec<RowError>) {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for r in rules {
        match translate_rule(r, Kind::Regexp) {
            Ok(t) => good.push(t),
            Err(e) => bad.push(e),
        }
    }
    (good, bad)
}

#[cfg(all(test, feature = "mysql"))]
mod tests {
    use super::*;

    fn re(p: &str) -> String {
        translate_regexp(p, &MatchType::parse("").unwrap())
            .unwrap()
            .pattern
    }

    #[test]
    fn translations() {
        assert_eq!(re("a{,2}"), r"a\{\x{2C}2\}");
        assert_eq!(re("a{2,3}?"), "a{2,3}?");
        assert_eq!(re("[[:<:]]x[[:>:]]*"), r"(?:\b{start})x(?:\b{end})*");
        assert_eq!(re(r"x\Z"), r"x\z");
        assert_eq!(re("(?<n>a)"), "(?P<n>a)");
        assert_eq!(re("[a&&b]"), r"[a\x{26}\x{26}b]");
        assert!(re("[[:lower:]]").starts_with("(?-i:["));
        assert_eq!(re("(?-i)[[:lower:]]"), r"(?-i)[\p{Ll}]");
    }

    #[test]
    fn rejections() {
        let e = |p: &str| translate_regexp(p, &MatchType::parse("").unwrap()).unwrap_err();
        assert_eq!(e(r"(a)\1").offset, 3);
        assert_eq!(e("x(?=y)").offset, 1);
        assert_eq!(e("a*+").offset, 2);
        assert_eq!(e("(?>a)").offset, 0);
        assert_eq!(e(r"a\K").offset, 1);
        assert_eq!(e("(?R)").offset, 0);
    }

    #[test]
    fn like() {
        let cs = MatchType::parse("c").unwrap();
        assert_eq!(
            translate_like(r"a%b_\%", &cs).pattern,
            r"\Aa(?s:.*)b(?s:.)\x{25}\z"
        );
        let ci = MatchType::parse("").unwrap();
        assert!(translate_like("é", &ci).pattern.contains(r"\x{45}"));
    }

    #[test]
    fn compile_errors_point_into_the_original() {
        use crate::compile::{check_rule, compile, Config};
        use crate::error::BuildError;
        use crate::rules::RuleId;
        // Translating does not check: the regex parser finds the error in
        // the translated pattern (`[\p{L}\p{N}_]+é{3,1}`) when the rule is
        // checked, once, and it is reported at `{` of the original.
        let rule = RuleSpec::new(RuleId::Int(7), r"\w+é{3,1}");
        let translated = translate_rule(&rule, Kind::Regexp).unwrap();
        let e = check_rule(&translated).unwrap_err();
        let p = e.position.unwrap();
        assert_eq!((p.offset, p.column), (5, 5), "{e}");
        assert_eq!(e.pattern.as_deref(), Some(r"\w+é{3,1}"));
        // The same error from `compile`, which is where builds check.
        match compile(&[translated], &Config::default(), "test") {
            Err(BuildError::InvalidRows(rows)) => assert_eq!(rows, vec![e]),
            other => panic!(
                "expected the rule refused, got {:?}",
                other.map(|c| c.rule_count)
            ),
        }
        // A flag error names the flag.
        let mut rule = RuleSpec::new(RuleId::Int(8), "x");
        rule.flags = "cz".into();
        assert!(translate_rule(&rule, Kind::Regexp)
            .unwrap_err()
            .reason
            .contains("'z' at position 2"));
    }

    #[test]
    fn flags() {
        assert!(!MatchType::parse("ic").unwrap().case_insensitive);
        assert!(MatchType::parse("ci").unwrap().case_insensitive);
        assert!(MatchType::parse("cx").is_err());
    }
}
