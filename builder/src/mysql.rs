//! Reading rules from a MySQL/MariaDB table or query.
//!
//! Columns are found by name: `id` (integer or string) and `pattern` are
//! required; `flags`, `kind` (`regexp` or `like`), `payload` (text or JSON),
//! `enabled` (rows with 0 are left out) and `priority` (ascending; rows
//! without one come last) are optional. Without `priority`, `--table` orders
//! by `id`, and `--query` keeps the query's `ORDER BY` (or orders by `id`
//! when it has none).
//!
//! The password comes from the URL or, when the URL has none, from the
//! `MYSQL_PWD` environment variable, which keeps it out of the process list.

use std::cmp::Ordering;
use std::path::PathBuf;
use std::time::Duration;

use mysql::consts::ColumnType;
use mysql::prelude::Queryable;
use mysql::{Conn, Opts, OptsBuilder, SslOpts, Value};

use crate::dialect::Kind;
use crate::error::{BuildError, RowError};
use crate::progress::{Progress, Silent};
use crate::rules::{duplicate_ids, RuleId, RuleSpec};

/// How to use TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SslMode {
    /// Plain TCP (or what the URL's own `require_ssl`/`verify_ca` options say).
    #[default]
    Disabled,
    /// TLS, without checking the server's certificate.
    Required,
    /// TLS; the certificate must chain to a trusted root (`--ssl-ca` or the
    /// built-in web roots), any host name.
    VerifyCa,
    /// TLS; the certificate must chain to a trusted root and name the host.
    VerifyIdentity,
}

/// What to read, and how.
#[derive(Clone, Debug)]
pub struct MysqlSource {
    /// `mysql://user[:password]@host[:port]/db[?options]`.
    pub url: String,
    /// Read this table (`name` or `db.name`)...
    pub table: Option<String>,
    /// ... or the rows of this query.
    pub query: Option<String>,
    /// TLS mode.
    pub ssl_mode: SslMode,
    /// A PEM file of CA certificates for `--ssl-mode verify-ca/verify-identity`.
    pub ssl_ca: Option<PathBuf>,
    /// Bound on connecting and on every network read and write: a server
    /// that stops answering fails the build instead of stalling it.
    pub timeout: Duration,
}

/// The default of [`MysqlSource::timeout`] (`--mysql-timeout`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

impl MysqlSource {
    /// The source without its password, for messages and the manifest.
    pub fn describe(&self) -> String {
        let what = match (&self.table, &self.query) {
            (Some(t), _) => format!("table {t}"),
            (None, Some(_)) => "query".to_string(),
            _ => String::new(),
        };
        format!("{} ({what})", redact(&self.url))
    }
}

/// The URL with any password replaced by `***`.
pub fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let (auth, host) = match rest.rsplit_once('@') {
            Some((a, h)) => (Some(a), h),
            None => (None, rest),
        };
        return match auth {
            Some(a) => match a.split_once(':') {
                Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
                None => format!("{scheme}://{a}@{host}"),
            },
            None => url.to_string(),
        };
    }
    url.to_string()
}

/// Quotes an identifier (`name` or `db.name`) with backticks.
pub fn quote_table(name: &str) -> String {
    name.split('.')
        .map(|part| format!("`{}`", part.replace('`', "``")))
        .collect::<Vec<_>>()
        .join(".")
}

fn source_err(msg: String) -> BuildError {
    BuildError::Source(msg)
}

/// `src.url` read as connection options, or a one-line error naming it
/// (without its password).
fn parse_url(src: &MysqlSource) -> Result<Opts, BuildError> {
    Opts::from_url(&src.url).map_err(|e| {
        let why = describe_url_error(&e);
        source_err(format!(
            "invalid MySQL URL {}: {why} (expected mysql://user@host:port/db)",
            redact(&src.url)
        ))
    })
}

fn describe_url_error(e: &mysql::UrlError) -> String {
    match e {
        mysql::UrlError::ParseError(p) => p.to_string(),
        mysql::UrlError::UnsupportedScheme(s) => {
            format!("the scheme `{s}` is not supported (write mysql://)")
        }
        other => other.to_string(),
    }
}

/// A driver error as a sentence: the mysql crate's own `Display` wraps each
/// kind in its Rust name (`MySqlError { ERROR 1064 ... }`, `IoError { ... }`).
pub fn describe_error(e: &mysql::Error) -> String {
    let text = match e {
        mysql::Error::MySqlError(me) => format!(
            "{} (server error {}, SQLSTATE {})",
            me.message, me.code, me.state
        ),
        mysql::Error::IoError(io) => io.to_string(),
        mysql::Error::CodecError(c) => c.to_string(),
        mysql::Error::DriverError(d) => d.to_string(),
        mysql::Error::UrlError(u) => describe_url_error(u),
        mysql::Error::TlsError(t) => format!("TLS: {t}"),
        mysql::Error::FromRowError(_) | mysql::Error::FromValueError(_) => {
            "a value could not be converted".to_string()
        }
    };
    text.replace('\n', " ")
}

fn connect(src: &MysqlSource, server: &str) -> Result<Conn, BuildError> {
    let opts = parse_url(src)?;
    let mut b = OptsBuilder::from_opts(opts.clone())
        .tcp_connect_timeout(Some(src.timeout))
        .read_timeout(Some(src.timeout))
        .write_timeout(Some(src.timeout));
    if opts.get_pass().is_none() {
        if let Ok(pwd) = std::env::var("MYSQL_PWD") {
            b = b.pass(Some(pwd));
        }
    }
    let ssl = match src.ssl_mode {
        SslMode::Disabled => None,
        SslMode::Required => Some(
            SslOpts::default()
                .with_danger_accept_invalid_certs(true)
                .with_danger_skip_domain_validation(true),
        ),
        SslMode::VerifyCa => Some(SslOpts::default().with_danger_skip_domain_validation(true)),
        SslMode::VerifyIdentity => Some(SslOpts::default()),
    };
    if let Some(mut ssl) = ssl {
        if let Some(ca) = &src.ssl_ca {
            ssl = ssl.with_root_cert_path(Some(ca.clone()));
        }
        b = b.ssl_opts(ssl);
    } else if src.ssl_ca.is_some() {
        return Err(source_err(
            "--ssl-ca needs --ssl-mode verify-ca or verify-identity".into(),
        ));
    }
    let user = opts.get_user().unwrap_or("").to_string();
    Conn::new(b).map_err(|e| match &e {
        e if is_timeout(e) => timed_out(src, server, "connecting"),
        mysql::Error::MySqlError(me) if me.code == 1045 => source_err(format!(
            "access denied for user '{user}' on MySQL server {server} (check the password in the \
             URL or MYSQL_PWD): {}",
            me.message
        )),
        mysql::Error::MySqlError(me) if me.code == 1049 => source_err(format!(
            "unknown database on MySQL server {server}: {}",
            me.message
        )),
        mysql::Error::IoError(io) => source_err(format!(
            "cannot connect to MySQL server {server}: {io} (is the server running and reachable?)"
        )),
        mysql::Error::DriverError(mysql::DriverError::CouldNotConnect(Some((_, desc, _)))) => {
            source_err(format!(
                "cannot connect to MySQL server {server}: {desc} (is the server running and reachable?)"
            ))
        }
        mysql::Error::DriverError(mysql::DriverError::ConnectTimeout) => source_err(format!(
            "cannot connect to MySQL server {server}: connection timed out"
        )),
        _ => source_err(format!("cannot connect to MySQL server {server}: {}", one_line(&e))),
    })
}

/// A read, write or connect that ran past its timeout.
fn is_timeout(e: &mysql::Error) -> bool {
    use std::error::Error;
    let io = match e {
        mysql::Error::IoError(io) => Some(io),
        mysql::Error::CodecError(c) => c.source().and_then(|s| s.downcast_ref::<std::io::Error>()),
        mysql::Error::DriverError(mysql::DriverError::ConnectTimeout) => return true,
        _ => None,
    };
    // A socket read timeout is EAGAIN on Unix, a timeout elsewhere.
    io.is_some_and(|io| {
        matches!(
            io.kind(),
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
        )
    })
}

fn timed_out(src: &MysqlSource, server: &str, doing: &str) -> BuildError {
    let t = src.timeout;
    let secs = if t.subsec_nanos() == 0 {
        t.as_secs().to_string()
    } else {
        format!("{:.3}", t.as_secs_f64())
    };
    source_err(format!(
        "MySQL server {server} did not answer within {secs} s while {doing} (--mysql-timeout; \
         raise it if the server is only slow); nothing was written"
    ))
}

fn one_line(e: &mysql::Error) -> String {
    describe_error(e)
}

/// The rules read from MySQL as written, plus every bad row.
#[derive(Debug)]
pub struct Loaded {
    /// Every row in priority order: a rule as written in the table and the
    /// kind of pattern it holds (not yet translated from its dialect:
    /// [`crate::dialect::translate`] does that; nor checked: `compile`
    /// does), or why the row cannot be one.
    pub rows: Vec<Result<(RuleSpec, Kind), RowError>>,
    /// Rows read (including disabled ones).
    pub rows_read: usize,
}

struct Raw {
    row: usize,
    id: Option<RuleId>,
    pattern: Option<Result<String, String>>,
    flags: String,
    kind: Result<Kind, String>,
    payload: Result<Option<serde_json::Value>, String>,
    priority: Option<f64>,
}

fn text(v: &Value) -> Option<Result<String, (usize, u8)>> {
    match v {
        Value::NULL => None,
        Value::Bytes(b) => Some(String::from_utf8(b.clone()).map_err(|e| {
            let at = e.utf8_error().valid_up_to();
            (at, b[at])
        })),
        other => Some(Ok(other.as_sql(true).trim_matches('\'').to_string())),
    }
}

fn is_integer(t: ColumnType) -> bool {
    use ColumnType::*;
    matches!(
        t,
        MYSQL_TYPE_TINY
            | MYSQL_TYPE_SHORT
            | MYSQL_TYPE_LONG
            | MYSQL_TYPE_LONGLONG
            | MYSQL_TYPE_INT24
            | MYSQL_TYPE_YEAR
    )
}

fn is_number(t: ColumnType) -> bool {
    use ColumnType::*;
    is_integer(t)
        || matches!(
            t,
            MYSQL_TYPE_DECIMAL | MYSQL_TYPE_NEWDECIMAL | MYSQL_TYPE_FLOAT | MYSQL_TYPE_DOUBLE
        )
}

/// Reads every row.
pub fn load(src: &MysqlSource) -> Result<Loaded, BuildError> {
    load_with(src, &Silent)
}

/// [`load`], telling `progress` how far it has come.
pub fn load_with(src: &MysqlSource, progress: &dyn Progress) -> Result<Loaded, BuildError> {
    let opts = parse_url(src)?;
    let server = match opts.get_socket() {
        Some(s) => format!("at socket {s}"),
        None => format!("at {}:{}", opts.get_ip_or_hostname(), opts.get_tcp_port()),
    };
    let (sql, what) = match (&src.table, &src.query) {
        (Some(t), None) => (
            format!("SELECT * FROM {}", quote_table(t)),
            format!("table {}", quote_table(t)),
        ),
        (None, Some(q)) => (q.clone(), "query".to_string()),
        _ => {
            return Err(source_err(
                "exactly one of --table and --query is required with --mysql".into(),
            ))
        }
    };
    progress.step(&format!("connecting to MySQL server {server}"), None);
    let mut conn = connect(src, &server)?;
    progress.step(&format!("reading {what} (rows)"), None);
    let mut result = conn.query_iter(&sql).map_err(|e| match &e {
        e if is_timeout(e) => timed_out(src, &server, &format!("reading {what}")),
        mysql::Error::MySqlError(me) if me.code == 1146 => source_err(format!(
            "{what} does not exist on MySQL server {server}: {}",
            me.message
        )),
        mysql::Error::MySqlError(me) if me.code == 1046 => source_err(format!(
            "no database selected for {what} on MySQL server {server}: put it in the URL \
             (mysql://user@host:port/DB) or write db.table"
        )),
        mysql::Error::IoError(_) | mysql::Error::CodecError(_) => source_err(format!(
            "reading {what} from MySQL server {server} failed (connection lost): {}; nothing was \
             written",
            one_line(&e)
        )),
        _ => source_err(format!(
            "reading {what} on MySQL server {server} failed: {}",
            one_line(&e)
        )),
    })?;
    let columns: Vec<(String, ColumnType)> = result
        .columns()
        .as_ref()
        .iter()
        .map(|c| (c.name_str().to_ascii_lowercase(), c.column_type()))
        .collect();
    let col = |name: &str| columns.iter().position(|(n, _)| n == name);
    let names = || {
        columns
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    for required in ["id", "pattern"] {
        if col(required).is_none() {
            return Err(source_err(format!(
                "required column `{required}` is missing from {what} on MySQL server {server} \
                 (columns: {})",
                if columns.is_empty() {
                    "none".to_string()
                } else {
                    names()
                }
            )));
        }
    }
    let (c_id, c_pattern) = (col("id").unwrap(), col("pattern").unwrap());
    let (c_flags, c_kind, c_payload, c_enabled, c_priority) = (
        col("flags"),
        col("kind"),
        col("payload"),
        col("enabled"),
        col("priority"),
    );
    let id_is_int = is_integer(columns[c_id].1);
    let mut raws = Vec::new();
    let mut rows_read = 0usize;
    for row in result.by_ref() {
        let row = row.map_err(|e| {
            if is_timeout(&e) {
                return timed_out(
                    src,
                    &server,
                    &format!("reading {what} (after {rows_read} rows)"),
                );
            }
            let how = match &e {
                mysql::Error::IoError(_) | mysql::Error::CodecError(_) => "connection lost",
                _ => "connection dropped or query aborted",
            };
            source_err(format!(
                "reading {what} from MySQL server {server} failed after {rows_read} rows \
                 ({how}): {}; nothing was written",
                one_line(&e)
            ))
        })?;
        rows_read += 1;
        progress.advance(1);
        let get = |i: Option<usize>| i.and_then(|i| row.as_ref(i)).unwrap_or(&Value::NULL);
        if let Some(Ok(e)) = text(get(c_enabled)) {
            let e = e.trim();
            if e == "0" || e == "\0" || e.eq_ignore_ascii_case("false") {
                continue;
            }
        }
        let id = match text(get(Some(c_id))) {
            None => None,
            Some(Err(_)) => None,
            Some(Ok(s)) if id_is_int => s.trim().parse::<i64>().ok().map(RuleId::Int),
            Some(Ok(s)) => Some(RuleId::Str(s)),
        };
        let pattern = text(get(Some(c_pattern))).map(|r| {
            r.map_err(|(at, b)| {
                format!("pattern is not valid UTF-8 (byte 0x{b:02X} at byte offset {at})")
            })
        });
        let flags = match text(get(c_flags)) {
            Some(Ok(f)) => f,
            _ => String::new(),
        };
        let kind = match text(get(c_kind)) {
            None => Ok(Kind::Regexp),
            Some(Ok(k)) if k.trim().eq_ignore_ascii_case("regexp") || k.trim().is_empty() => {
                Ok(Kind::Regexp)
            }
            Some(Ok(k)) if k.trim().eq_ignore_ascii_case("like") => Ok(Kind::Like),
            Some(Ok(k)) => Err(format!("unknown kind {k:?} (expected regexp or like)")),
            Some(Err(_)) => Err("kind is not valid UTF-8".to_string()),
        };
        let payload_type = c_payload.map(|i| columns[i].1);
        let payload = match text(get(c_payload)) {
            None => Ok(None),
            Some(Err(_)) => Err("payload is not valid UTF-8".to_string()),
            Some(Ok(p)) => {
                let t = payload_type.unwrap();
                if t == ColumnType::MYSQL_TYPE_JSON {
                    serde_json::from_str(&p)
                        .map(Some)
                        .map_err(|e| format!("payload is not valid JSON: {e}"))
                } else if is_number(t) {
                    Ok(Some(
                        serde_json::from_str(&p).unwrap_or(serde_json::Value::String(p)),
                    ))
                } else {
                    // MariaDB's JSON columns arrive as text: text that is
                    // valid JSON is taken as JSON, other text as a string.
                    match serde_json::from_str::<serde_json::Value>(&p) {
                        Ok(v) => Ok(Some(v)),
                        Err(_) => Ok(Some(serde_json::Value::String(p))),
                    }
                }
            }
        };
        let priority = match text(get(c_priority)) {
            Some(Ok(p)) => p.trim().parse::<f64>().ok(),
            _ => None,
        };
        raws.push(Raw {
            row: rows_read,
            id,
            pattern,
            flags,
            kind,
            payload,
            priority,
        });
    }
    drop(result);
    drop(conn);
    // Priority order.
    let by_id = |a: &Raw, b: &Raw| match (&a.id, &b.id) {
        (Some(RuleId::Int(x)), Some(RuleId::Int(y))) => x.cmp(y),
        (Some(RuleId::Int(_)), _) => Ordering::Less,
        (_, Some(RuleId::Int(_))) => Ordering::Greater,
        (Some(RuleId::Str(x)), Some(RuleId::Str(y))) => x.cmp(y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    };
    let has_order_by = src.query.as_ref().is_some_and(|q| {
        q.to_ascii_lowercase()
            .split_whitespace()
            .collect::<Vec<_>>()
            .windows(2)
            .any(|w| w == ["order", "by"])
    });
    if c_priority.is_some() {
        raws.sort_by(|a, b| {
            match (a.priority, b.priority) {
                (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            }
            .then_with(|| {
                if has_order_by {
                    Ordering::Equal
                } else {
                    by_id(a, b)
                }
            })
        });
    } else if !has_order_by {
        raws.sort_by(by_id);
    }
    // Every row gets one verdict; ids are checked for duplicates first.
    let mut verdicts: Vec<Result<(RuleSpec, Kind), RowError>> = Vec::with_capacity(raws.len());
    for raw in raws {
        let origin = format!("row {}", raw.row);
        let err = |id: Option<RuleId>, why: String| Err(RowError::new(id, origin.clone(), why));
        let v = match (raw.id, raw.pattern, raw.kind, raw.payload) {
            (None, ..) => err(
                None,
                if id_is_int {
                    "id is NULL or not an integer".into()
                } else {
                    "id is NULL or not valid UTF-8".into()
                },
            ),
            (Some(id), None, ..) => err(Some(id), "pattern is NULL".into()),
            (Some(id), Some(Err(why)), ..) => err(Some(id), why),
            (Some(id), _, Err(why), _) | (Some(id), _, _, Err(why)) => err(Some(id), why),
            (Some(id), Some(Ok(pattern)), Ok(kind), Ok(payload)) => Ok((
                RuleSpec {
                    id,
                    pattern,
                    flags: raw.flags,
                    payload,
                    origin: origin.clone(),
                    written_as: None,
                },
                kind,
            )),
        };
        verdicts.push(v);
    }
    let staged: Vec<usize> = (0..verdicts.len())
        .filter(|&i| verdicts[i].is_ok())
        .collect();
    let specs: Vec<RuleSpec> = staged
        .iter()
        .map(|&i| verdicts[i].as_ref().unwrap().0.clone())
        .collect();
    for (k, e) in duplicate_ids(&specs) {
        verdicts[staged[k]] = Err(e);
    }
    Ok(Loaded {
        rows: verdicts,
        rows_read,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_server_fails_a_build_within_half_a_minute_by_default() {
        assert!(DEFAULT_TIMEOUT > Duration::ZERO && DEFAULT_TIMEOUT <= Duration::from_secs(30));
    }
}
