//! Errors that say what and where: every bad rule names its id, where it came
//! from, the position in the pattern and the reason.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::rules::RuleId;

/// A position inside a pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// Byte offset from the start of the pattern.
    pub offset: usize,
    /// 1-based line of the pattern (patterns in verbose mode can span lines).
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

/// The position of a byte offset in `pattern`.
pub fn position_of(pattern: &str, offset: usize) -> Position {
    let offset = offset.min(pattern.len());
    let before = &pattern[..offset];
    let line = 1 + before.matches('\n').count();
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Position {
        offset,
        line,
        column: 1 + before[line_start..].chars().count(),
    }
}

/// Why one rule cannot be compiled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RowError {
    /// The rule's id, when it could be read.
    pub id: Option<RuleId>,
    /// Where the rule came from: `line 3`, `row 12`.
    pub origin: String,
    /// Where in the pattern, when the error has a position.
    pub position: Option<Position>,
    /// The reason.
    pub reason: String,
    /// The pattern as written, for showing the position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
}

impl RowError {
    /// An error about a whole rule.
    pub fn new(id: Option<RuleId>, origin: String, reason: impl Into<String>) -> RowError {
        RowError {
            id,
            origin,
            position: None,
            reason: reason.into(),
            pattern: None,
        }
    }

    /// Adds the pattern and the position inside it.
    pub fn at(mut self, pattern: &str, position: Position) -> RowError {
        self.pattern = Some(pattern.to_string());
        self.position = Some(position);
        self
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.id {
            Some(id) => write!(f, "rule id {id} ({})", self.origin)?,
            None => write!(f, "{}", self.origin)?,
        }
        if let Some(p) = &self.position {
            write!(f, ", position {} (byte {})", p.column, p.offset)?;
            if p.line > 1 {
                write!(f, " of line {}", p.line)?;
            }
        }
        write!(f, ": {}", self.reason)?;
        if let (Some(pattern), Some(p)) = (&self.pattern, &self.position) {
            if !pattern.contains('\n') {
                // Up to CONTEXT characters each side of the position: a
                // long pattern is not echoed whole.
                const CONTEXT: usize = 60;
                let mut at = p.offset.min(pattern.len());
                while !pattern.is_char_boundary(at) {
                    at -= 1;
                }
                let (before, after) = pattern.split_at(at);
                let head = match before.char_indices().rev().nth(CONTEXT - 1) {
                    Some((i, _)) if i > 0 => format!("…{}", &before[i..]),
                    _ => before.to_string(),
                };
                let tail = match after.char_indices().nth(CONTEXT) {
                    Some((i, _)) => format!("{}…", &after[..i]),
                    None => after.to_string(),
                };
                let pad: String = head
                    .chars()
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                write!(f, "\n    {head}{tail}\n    {pad}^")?;
            }
        }
        Ok(())
    }
}

/// Why a build failed. Nothing is written when a build fails.
#[derive(Debug)]
pub enum BuildError {
    /// Some rules cannot be compiled; every one is listed.
    InvalidRows(Vec<RowError>),
    /// There is nothing to build.
    NoRules {
        /// What was read.
        source: String,
        /// How many rules were skipped as invalid.
        skipped: usize,
    },
    /// Reading or writing a file failed.
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// The database exceeds the total size limit.
    TooLarge {
        /// The size the database reached.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// The output directory exists and does not look like a dfabake output.
    OutputNotOurs(PathBuf),
    /// The output directory is a dfabake output holding other files too.
    ForeignFiles {
        /// The output directory.
        dir: PathBuf,
        /// The first few of those files (directories end in `/`).
        named: Vec<String>,
        /// How many there are.
        count: usize,
    },
    /// Another build of the same output directory is running.
    Busy {
        /// The output directory.
        dir: PathBuf,
        /// The lock file it holds.
        lock: PathBuf,
    },
    /// A check of what was built failed: a bug, reported rather than baked.
    Verify(String),
    /// An option is invalid (e.g. the npm package name or version).
    BadOption(String),
    /// Reading the rules' source (a database) failed; a one-line message
    /// naming the server and table.
    Source(String),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::InvalidRows(rows) => {
                let n = rows.len();
                writeln!(f, "{n} invalid rule{}:", if n == 1 { "" } else { "s" })?;
                for r in rows {
                    writeln!(f, "  {}", r.to_string().replace('\n', "\n  "))?;
                }
                write!(
                    f,
                    "nothing was written (use --on-invalid skip to build the other rules)"
                )
            }
            BuildError::NoRules { source, skipped: 0 } => {
                write!(f, "no rules in {source}: nothing to build")
            }
            BuildError::NoRules { source, skipped } => {
                write!(
                    f,
                    "no valid rules in {source}: all {skipped} were skipped as invalid"
                )
            }
            BuildError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            BuildError::TooLarge { bytes, limit } => write!(
                f,
                "the database would be {bytes} bytes, over the limit of {limit} bytes \
                 (raise --max-database-bytes, or use --dfa sparse)"
            ),
            BuildError::OutputNotOurs(p) => write!(
                f,
                "{} exists and is not a dfabake output directory (no manifest.json written by \
                 dfabake); refusing to replace it (--force replaces a directory anyway)",
                p.display()
            ),
            BuildError::ForeignFiles { dir, named, count } => {
                write!(
                    f,
                    "{} holds files dfabake did not write ({}",
                    dir.display(),
                    named.join(", ")
                )?;
                if *count > named.len() {
                    write!(f, " and {} more", count - named.len())?;
                }
                write!(
                    f,
                    "); refusing to replace it (move them out, or pass --force to replace the \
                     directory and delete them)"
                )
            }
            BuildError::Busy { dir, lock } => write!(
                f,
                "another dfabake build is writing {} (it holds {}); wait for it to finish",
                dir.display(),
                lock.display()
            ),
            BuildError::Verify(why) => write!(f, "verification of the baked module failed: {why}"),
            BuildError::BadOption(why) => write!(f, "{why}"),
            BuildError::Source(why) => write!(f, "{why}"),
        }
    }
}

impl std::error::Error for BuildError {}
