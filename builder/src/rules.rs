//! Rules as users write them, and reading them from a patterns file.
//!
//! A patterns file is either JSON Lines, one rule an object:
//!
//! ```text
//! {"id": 17, "pattern": "Googlebot/", "flags": "i", "payload": {"kind": "search"}}
//! ```
//!
//! (`id` an integer or a string; `flags` and `payload` optional; file order is
//! priority order), a JSON array of the same objects (on one line or
//! pretty-printed), or plain text, one pattern a line with the line number as
//! its id. Blank lines are skipped.
//!
//! A malformed entry does not hide the others: [`read_file`] returns every
//! entry, each a rule or why it is not one.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{BuildError, RowError};

/// A rule's user-chosen id: returned with every match. In JSON (rules
/// files, the manifest) a number or a string.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum RuleId {
    /// A numeric id, such as a table's primary key.
    Int(i64),
    /// A string id.
    Str(String),
}

/// By hand rather than `untagged`, whose error for any other value (`1.5`,
/// `true`) names no value and no expectation.
impl<'de> Deserialize<'de> for RuleId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<RuleId, D::Error> {
        use serde::de::{Error, Unexpected, Visitor};
        struct Visit;
        impl Visitor<'_> for Visit {
            type Value = RuleId;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an id: an integer (64-bit signed) or a string")
            }
            fn visit_i64<E: Error>(self, n: i64) -> Result<RuleId, E> {
                Ok(RuleId::Int(n))
            }
            fn visit_u64<E: Error>(self, n: u64) -> Result<RuleId, E> {
                i64::try_from(n)
                    .map(RuleId::Int)
                    .map_err(|_| E::invalid_value(Unexpected::Unsigned(n), &self))
            }
            fn visit_str<E: Error>(self, s: &str) -> Result<RuleId, E> {
                Ok(RuleId::Str(s.to_owned()))
            }
            fn visit_string<E: Error>(self, s: String) -> Result<RuleId, E> {
                Ok(RuleId::Str(s))
            }
        }
        d.deserialize_any(Visit)
    }
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
    /// For a rule translated from another dialect (MySQL): the pattern as
    /// the user wrote it and the way back to its offsets, so that checking
    /// (in `compile`, once) reports positions in what the user wrote.
    pub written_as: Option<WrittenAs>,
}

/// The pattern a translated rule was written as, and where each offset of
/// the translation came from.
#[derive(Clone, Debug, PartialEq)]
pub struct WrittenAs {
    /// The pattern as written.
    pub pattern: String,
    /// `(offset in the translated pattern, offset in pattern)`, ascending.
    pub offsets: Vec<(usize, usize)>,
}

impl WrittenAs {
    /// The offset in the pattern as written that a translated offset came from.
    pub fn original_offset(&self, translated: usize) -> usize {
        original_offset(&self.offsets, translated)
    }
}

/// The original offset a translated offset came from, by an ascending
/// `(translated, original)` map.
pub(crate) fn original_offset(map: &[(usize, usize)], translated: usize) -> usize {
    match map.binary_search_by_key(&translated, |&(t, _)| t) {
        Ok(i) => map[i].1,
        Err(0) => 0,
        Err(i) => map[i - 1].1,
    }
}

impl RuleSpec {
    /// The rule as one pattern in the `regex` crate's syntax with its flags
    /// inline: what `regex::Regex::new` reads as this rule (the baselines
    /// and test oracles that compile rules with the crate). A verbose
    /// (`x`) rule gets a line break after it, so that a comment at its end
    /// cannot swallow anything after it.
    ///
    /// ```
    /// use dfabake::rules::{RuleId, RuleSpec};
    /// let mut r = RuleSpec::new(RuleId::Int(1), "googlebot");
    /// assert_eq!(r.inline_pattern(), "googlebot");
    /// r.flags = "i".into();
    /// assert_eq!(r.inline_pattern(), "(?i)googlebot");
    /// ```
    pub fn inline_pattern(&self) -> String {
        if self.flags.is_empty() {
            return self.pattern.clone();
        }
        let nl = if self.flags.contains('x') { "\n" } else { "" };
        format!("(?{}){}{nl}", self.flags, self.pattern)
    }

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
            written_as: None,
        }
    }
}

/// How to read a patterns file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    /// JSON Lines if the extension is `.jsonl`/`.ndjson` or the first
    /// non-blank line starts with `{`; a JSON array if the extension is
    /// `.json` or the file starts with `[` then `{` (or is `[]`); plain text
    /// otherwise.
    Auto,
    /// One JSON object a line.
    Jsonl,
    /// One JSON array of rule objects, on one line or pretty-printed.
    Json,
    /// One pattern a line; the line number is the id.
    Text,
}

/// One entry of a patterns file: a rule, or why its line is not one.
pub type Entry = Result<RuleSpec, RowError>;

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
    all_or_errors(read_file(path, format)?)
}

fn all_or_errors(entries: Vec<Entry>) -> Result<Vec<RuleSpec>, BuildError> {
    let (rules, errors): (Vec<Entry>, Vec<Entry>) = entries.into_iter().partition(|e| e.is_ok());
    if errors.is_empty() {
        Ok(rules.into_iter().map(|r| r.unwrap()).collect())
    } else {
        Err(BuildError::InvalidRows(
            errors.into_iter().map(|e| e.unwrap_err()).collect(),
        ))
    }
}

/// Whether a file's text is a JSON array of rules: `[` then `{`, or `[]`.
/// (A plain-text list may start with a class such as `[Bb]ot`.)
fn looks_like_json_array(text: &str) -> bool {
    let mut rest = text.trim_start().chars().filter(|c| !c.is_whitespace());
    rest.next() == Some('[') && matches!(rest.next(), Some('{' | ']'))
}

/// Reads every entry of a patterns file, in file order: malformed lines are
/// entries too, so that the caller can report them with every other bad rule
/// or skip them. Only a file that cannot be read (or is not UTF-8) is an
/// error here.
pub fn read_file(path: &Path, format: FileFormat) -> Result<Vec<Entry>, BuildError> {
    let bytes = std::fs::read(path).map_err(|e| BuildError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let mut text = String::from_utf8(bytes).map_err(|e| {
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
    // A byte order mark (as some editors write) is not part of the first rule.
    if text.starts_with('\u{FEFF}') {
        text.drain(..'\u{FEFF}'.len_utf8());
    }
    let extension = path.extension().and_then(|e| e.to_str());
    let format = match format {
        FileFormat::Auto if matches!(extension, Some("jsonl" | "ndjson")) => FileFormat::Jsonl,
        FileFormat::Auto if extension == Some("json") || looks_like_json_array(&text) => {
            FileFormat::Json
        }
        FileFormat::Auto
            if text
                .lines()
                .find(|l| !l.trim().is_empty())
                .is_some_and(|l| l.trim_start().starts_with('{')) =>
        {
            FileFormat::Jsonl
        }
        FileFormat::Auto => FileFormat::Text,
        explicit => explicit,
    };
    Ok(match format {
        FileFormat::Jsonl => jsonl_entries(&text),
        FileFormat::Json => json_array_entries(&text),
        FileFormat::Text | FileFormat::Auto => parse_text(&text).into_iter().map(Ok).collect(),
    })
}

/// Parses JSON Lines rules; every malformed line is reported.
pub fn parse_jsonl(text: &str) -> Result<Vec<RuleSpec>, BuildError> {
    all_or_errors(jsonl_entries(text))
}

/// serde_json's message without its ` at line L column C`, which counts
/// from where the parse started rather than in the file.
fn json_reason(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    text.strip_suffix(&suffix).unwrap_or(&text).to_string()
}

/// One rule object (already parsed as JSON) into a rule, or why it is not
/// one, naming its id when it has a usable one.
fn rule_from_value(value: serde_json::Value, origin: String) -> Entry {
    let kind = match &value {
        serde_json::Value::Object(_) => None,
        serde_json::Value::Array(_) => Some("an array"),
        serde_json::Value::String(_) => Some("a string"),
        serde_json::Value::Number(_) => Some("a number"),
        serde_json::Value::Bool(_) => Some("a boolean"),
        serde_json::Value::Null => Some("null"),
    };
    if let Some(kind) = kind {
        return Err(RowError::new(
            None,
            origin,
            format!(r#"expected a rule object {{"id": ..., "pattern": ...}}, found {kind}"#),
        ));
    }
    let id = value
        .get("id")
        .and_then(|id| serde_json::from_value::<RuleId>(id.clone()).ok());
    match serde_json::from_value::<JsonRule>(value) {
        Ok(r) => Ok(RuleSpec {
            id: r.id,
            pattern: r.pattern,
            flags: r.flags.unwrap_or_default(),
            payload: r.payload.filter(|p| !p.is_null()),
            origin,
            written_as: None,
        }),
        Err(e) => Err(RowError::new(
            id,
            origin,
            format!("invalid rule: {}", json_reason(&e)),
        )),
    }
}

/// Every non-blank line of a JSON Lines text, as a rule or why it is not one.
pub fn jsonl_entries(text: &str) -> Vec<Entry> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(n, line)| {
            let origin = format!("line {}", n + 1);
            match serde_json::from_str::<serde_json::Value>(line) {
                Ok(serde_json::Value::Array(_)) => Err(RowError::new(
                    None,
                    origin,
                    "a JSON array, but JSON Lines hold one rule object a line (a file that \
                         is one JSON array of rules is read with --format json, or auto)",
                )),
                Ok(value) => rule_from_value(value, origin),
                Err(e) => Err(RowError::new(
                    None,
                    origin,
                    format!(
                        "not valid JSON: {} (column {})",
                        json_reason(&e),
                        e.column()
                    ),
                )),
            }
        })
        .collect()
}

/// The elements of a JSON array of rule objects, each a rule or why it is
/// not one; `origin` is `element K, line L` (the line where it starts).
/// Text that is not a JSON array at all is one error.
pub fn json_array_entries(text: &str) -> Vec<Entry> {
    let elements: Vec<&serde_json::value::RawValue> = match serde_json::from_str(text) {
        Ok(elements) => elements,
        Err(e) => {
            return vec![Err(RowError::new(
                None,
                format!("line {}", e.line()),
                format!(
                    "not a valid JSON array of rules: {}; a file read as JSON (extension \
                     .json, or starting with `[{{`) must be one array of rule objects \
                     (--format text reads one pattern a line)",
                    if e.is_eof() {
                        "the file ends inside the array".to_string()
                    } else {
                        format!("{} (column {})", json_reason(&e), e.column())
                    }
                ),
            ))]
        }
    };
    elements
        .into_iter()
        .enumerate()
        .map(|(k, raw)| {
            let offset = raw.get().as_ptr() as usize - text.as_ptr() as usize;
            let line = 1 + text.as_bytes()[..offset]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            let origin = format!("element {}, line {line}", k + 1);
            // Parsed again as a value, an element meets the limits the
            // array's own parse did not apply (nesting depth).
            match serde_json::from_str(raw.get()) {
                Ok(value) => rule_from_value(value, origin),
                Err(e) => Err(RowError::new(
                    None,
                    origin,
                    format!("not valid JSON: {}", json_reason(&e)),
                )),
            }
        })
        .collect()
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
            written_as: None,
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
