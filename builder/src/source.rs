//! Where rules come from: the first stage of a build. A source only reads
//! its rules and translates them from the dialect they are written in
//! ([`crate::dialect`]); [`compile`](crate::compile()) checks them, once.

use std::path::PathBuf;

use crate::dialect::{translate, Dialect, Kind};
use crate::error::BuildError;
use crate::progress::Progress;
use crate::rules::{read_file, Entry, FileFormat, RuleSpec};

/// Where the rules come from. Which dialect their patterns are written in
/// is a separate choice ([`BuildOptions::dialect`](crate::BuildOptions::dialect)).
#[derive(Clone, Debug)]
pub enum Source {
    /// A patterns file (JSON Lines, a JSON array or plain text).
    File(PathBuf),
    /// Rules already in memory; `name` is used in messages and the manifest.
    Rules {
        /// Describes the source.
        name: String,
        /// The rules, in priority order.
        rules: Vec<RuleSpec>,
    },
    /// A MySQL/MariaDB table or query (cargo feature `mysql`).
    #[cfg(feature = "mysql")]
    Mysql(crate::mysql::MysqlSource),
}

impl Source {
    /// The dialect the source's patterns are in unless the caller says
    /// otherwise: MySQL's for a MySQL table (rules written for `REGEXP`),
    /// the `regex` crate's otherwise.
    pub fn default_dialect(&self) -> Dialect {
        match self {
            Source::File(_) | Source::Rules { .. } => Dialect::Regex,
            #[cfg(feature = "mysql")]
            Source::Mysql(_) => Dialect::Mysql,
        }
    }

    /// The source for messages and the manifest (a URL without its password).
    pub fn describe(&self) -> String {
        match self {
            Source::File(path) => path.display().to_string(),
            Source::Rules { name, .. } => name.clone(),
            #[cfg(feature = "mysql")]
            Source::Mysql(src) => src.describe(),
        }
    }

    /// Every entry of the source in priority order: rules translated from
    /// `dialect` into the `regex` crate's syntax (each carrying the pattern
    /// as written, [`RuleSpec::written_as`]), and rows that cannot be rules
    /// (malformed lines, patterns that do not translate). Only a source
    /// that cannot be read at all is an error.
    pub fn read(
        &self,
        format: FileFormat,
        dialect: Dialect,
        progress: &dyn Progress,
    ) -> Result<Vec<Entry>, BuildError> {
        dialect.available().map_err(BuildError::BadOption)?;
        let in_dialect = |entry: Entry| entry.and_then(|r| translate(r, Kind::Regexp, dialect));
        match self {
            Source::File(path) => {
                progress.step(&format!("reading {}", path.display()), None);
                Ok(read_file(path, format)?
                    .into_iter()
                    .map(in_dialect)
                    .collect())
            }
            Source::Rules { rules, .. } => {
                Ok(rules.iter().cloned().map(Ok).map(in_dialect).collect())
            }
            #[cfg(feature = "mysql")]
            Source::Mysql(src) => {
                let loaded = crate::mysql::load_with(src, progress)?;
                if loaded.rows_read == 0 {
                    return Err(BuildError::Source(format!(
                        "no rules in {}: the query returned no rows; nothing was written",
                        src.describe()
                    )));
                }
                progress.step("translating rules", Some(loaded.rows.len() as u64));
                Ok(loaded
                    .rows
                    .into_iter()
                    .map(|row| {
                        progress.advance(1);
                        row.and_then(|(rule, kind)| translate(rule, kind, dialect))
                    })
                    .collect())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Silent;
    use crate::rules::RuleId;

    fn rules() -> Source {
        let mut rule = RuleSpec::new(RuleId::Int(1), r"a\Z");
        rule.flags = "c".into();
        Source::Rules {
            name: "test".into(),
            rules: vec![rule],
        }
    }

    #[test]
    fn rules_in_the_regex_dialect_pass_as_written() {
        let source = rules();
        assert_eq!(source.default_dialect(), Dialect::Regex);
        let Source::Rules { rules, .. } = &source else {
            unreachable!()
        };
        let read = source
            .read(FileFormat::Auto, Dialect::Regex, &Silent)
            .unwrap();
        assert_eq!(read, vec![Ok(rules[0].clone())]);
    }

    #[cfg(feature = "mysql")]
    #[test]
    fn the_dialect_is_the_options_not_the_sources() {
        // The same in-memory rule read as MySQL `REGEXP`: translated, and
        // carrying what was written for error positions.
        let read = rules()
            .read(FileFormat::Auto, Dialect::Mysql, &Silent)
            .unwrap();
        let rule = read[0].as_ref().unwrap();
        assert_eq!(rule.pattern, r"a\z");
        assert_eq!(rule.flags, "");
        assert_eq!(rule.written_as.as_ref().unwrap().pattern, r"a\Z");
    }

    #[cfg(not(feature = "mysql"))]
    #[test]
    fn the_mysql_dialect_needs_the_feature() {
        let err = rules()
            .read(FileFormat::Auto, Dialect::Mysql, &Silent)
            .unwrap_err();
        assert!(err.to_string().contains("cargo feature `mysql`"), "{err}");
    }

    #[test]
    fn like_needs_the_mysql_dialect() {
        let rule = RuleSpec::new(RuleId::Int(3), "a%");
        let err = translate(rule, Kind::Like, Dialect::Regex).unwrap_err();
        assert_eq!(err.reason, "kind `like` needs --dialect mysql");
        assert_eq!(err.id, Some(RuleId::Int(3)));
    }
}
