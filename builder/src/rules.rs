//! Rules as users write them, and reading them from a patterns file.
//!
//! A patterns file is either JSON Lines, one rule an object:
//!
//! ```text
//! {"id": 17, "pattern": "Googlebot/", "flags": "i", "payload": {"kind": "search"}}
//! ```
//!
//! (`id` an integer or a string; `flags` and `payload` optional; file order is
//! priority order), or plain text, one pattern a line with the line number as
//! its id. Blank lines are skipped in both.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{BuildError, RowError};

/// A rule's user-chosen id: returned with every match. In JSON (rules
/// files, the manifest) a number or a string.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RuleId {
    /// A numeric id, such as a table's primary key.
    Int(i64),
    /// A string id.
    Str(String),
}

impl RuleId {
    /// The id as JSON text, as matches report it.
    pub fn to_json(&self) -> String {
        match self {
            RuleId::Int(n) => n.to_string(),
            RuleId::Str(s) => serde_json::to_string(s).unwrap(),
        }
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleId::Int(n) => write!(f, "{n}"),
            RuleId::Str(s) => write!(f, "{s:?}"),
        }
    }
}

/// One rule: a pattern in the `regex` crate's syntax, its flags, and what to
/// return when it matches.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleSpec {
    /// The user's id.
    pub id: RuleId,
    /// The pattern, in the `regex` crate's syntax.
    pub pattern: String,
    /// Flag letters: `i` case-insensitive, `m` multi-line, `s` dot matches
    /// newline, `x` verbose.
    pub flags: String,
    /// Returned with matches; `None` is reported as `null`.
    pub payload: Option<serde_json::Value>,
    /// Where the rule came from, for messages: `line 3`, `row 12`.
    pub origin: String,
}

impl RuleSpec {
    /// A rule with no flags and no payload (handy in tests and examples).
    ///
    /// ```
    /// use dfabake::rules::{RuleId, RuleSpec};
    /// let r = RuleSpec::new(RuleId::Int(1), "Googlebot");
    /// assert_eq!(r.flags, "");
    /// ```
    pub fn new(id: RuleId, pattern: &str) -> RuleSpec {
        RuleSpec {
            origin: format!("id {id}"),
            id,
            pattern: pattern.to_string(),
            flags: String::new(),
            payload: None,
        }
    }
}

/// How to read a patterns file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FileFormat {
    /// JSON Lines if the extension is `.jsonl`/`.ndjson` or the first
    /// non-blank line starts with `{`; plain text otherwise.
    Auto,
    /// One JSON object a line.
    Jsonl,
    /// One pattern a line; the line number is the id.
    Text,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonRule {
    id: RuleId,
    pattern: String,
    #[serde(default)]
    flags: Option<String>,
    #[serde(default)]
    payload: Option<serde_json::Value>,
}

/// Reads rules from a patterns file. Every malformed line is reported, not
/// just the first.
pub fn load_file(path: &Path, format: FileFormat) -> Result<Vec<RuleSpec>, BuildError> {
    let bytes = std::fs::read(path).map_err(|e| BuildError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        BuildError::InvalidRows(vec![RowError::new(
            None,
            format!("line {line}"),
            "the file is not valid UTF-8",
        )])
    })?;
    let jsonl = match format {
        FileFormat::Jsonl => true,
        FileFormat::Text => false,
        FileFormat::Auto => {
            matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("jsonl" | "ndjson")
            ) || text
                .lines()
                .find(|l| !l.trim().is_empty())
                .is_some_and(|l| l.trim_start().starts_with('{'))
        }
    };
    let rules = if jsonl {
        parse_jsonl(&text)?
    } else {
        parse_text(&text)
    };
    Ok(rules)
}

/// Parses JSON Lines rules.
pub fn parse_jsonl(text: &str) -> Result<Vec<RuleSpec>, BuildError> {
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let origin = format!("line {}", n + 1);
        match serde_json::from_str::<JsonRule>(line) {
            Ok(r) => rules.push(RuleSpec {
                id: r.id,
                pattern: r.pattern,
                flags: r.flags.unwrap_or_default(),
                payload: r.payload.filter(|p| !p.is_null()),
                origin,
            }),
            Err(e) => errors.push(RowError::new(None, origin, format!("invalid rule: {e}"))),
        }
    }
    if errors.is_empty() {
        Ok(rules)
    } else {
        Err(BuildError::InvalidRows(errors))
    }
}

/// Parses plain-text rules: one pattern a line, id = line number.
pub fn parse_text(text: &str) -> Vec<RuleSpec> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, line)| RuleSpec {
            id: RuleId::Int(n as i64 + 1),
            pattern: line.strip_suffix('\r').unwrap_or(line).to_string(),
            flags: String::new(),
            payload: None,
            origin: format!("line {}", n + 1),
        })
        .collect()
}

/// Errors for every rule whose id was already used by an earlier rule.
pub fn duplicate_ids(rules: &[RuleSpec]) -> Vec<(usize, RowError)> {
    let mut seen: HashMap<&RuleId, &str> = HashMap::new();
    let mut errors = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        if let Some(first) = seen.get(&r.id) {
            errors.push((
                i,
                RowError::new(
                    Some(r.id.clone()),
                    r.origin.clone(),
                    format!("duplicate id {} (first used at {first})", r.id),
                ),
            ));
        } else {
            seen.insert(&r.id, &r.origin);
        }
    }
    errors
}
