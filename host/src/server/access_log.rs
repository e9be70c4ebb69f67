//! The optional access log: one line per answered request, appended to a
//! file or written to stderr by a thread of its own, so a slow disk never
//! holds up the reactor for longer than appending to a buffer in memory.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};

use super::events::{EventSink, ServeEvent};

/// Where `--access-log` writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccessLogTarget {
    /// Standard error (`--access-log -`).
    Stderr,
    /// A file, appended to (created with mode 0640), reopened on SIGHUP so
    /// that it can be rotated by renaming.
    File(PathBuf),
}

/// Lines waiting for the writer beyond this are dropped (and counted):
/// memory stays bounded when the disk cannot keep up.
const MAX_PENDING_BYTES: usize = 4 << 20;

/// How long, at shutdown, the writer may take to write what is pending.
const FLUSH_LIMIT: Duration = Duration::from_secs(2);

#[derive(Default)]
struct Pending {
    buf: Vec<u8>,
    closing: bool,
    /// The writer has written everything and stopped.
    done: bool,
}

pub(super) struct AccessLog {
    pending: Mutex<Pending>,
    /// Signals the writer (lines or closing) and the closer (done).
    changed: Condvar,
    dropped: AtomicU64,
    reopen: AtomicBool,
    events: EventSink,
}

enum Sink {
    Stderr,
    File { path: PathBuf, file: File },
}

fn open(path: &PathBuf) -> std::io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(path)
}

impl Sink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Stderr => std::io::stderr().lock().write_all(bytes),
            Sink::File { file, .. } => file.write_all(bytes),
        }
    }
}

impl AccessLog {
    /// Opens the target (a file that cannot be opened is an error now, not
    /// at the first request) and starts the writer thread.
    /// Its own failures go to `events`.
    pub(super) fn start(target: &AccessLogTarget, events: EventSink) -> Result<Arc<AccessLog>> {
        let mut sink = match target {
            AccessLogTarget::Stderr => Sink::Stderr,
            AccessLogTarget::File(path) => Sink::File {
                file: open(path)
                    .with_context(|| format!("opening the access log {}", path.display()))?,
                path: path.clone(),
            },
        };
        let log = Arc::new(AccessLog {
            pending: Mutex::new(Pending::default()),
            changed: Condvar::new(),
            dropped: AtomicU64::new(0),
            reopen: AtomicBool::new(false),
            events,
        });
        let me = log.clone();
        std::thread::Builder::new()
            .name("dfabake-access-log".into())
            .spawn(move || me.write_loop(&mut sink))
            .context("starting the access log thread")?;
        Ok(log)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn write_loop(&self, sink: &mut Sink) {
        let mut failing = false;
        let mut out = Vec::new();
        loop {
            let closing = {
                let mut p = self.lock();
                while p.buf.is_empty() && !p.closing {
                    p = self.changed.wait(p).unwrap_or_else(|e| e.into_inner());
                }
                std::mem::swap(&mut out, &mut p.buf);
                p.closing
            };
            if self.reopen.swap(false, Relaxed) {
                if let Sink::File { path, file } = sink {
                    match open(path) {
                        Ok(f) => *file = f,
                        Err(error) => self.events.emit(ServeEvent::AccessLogReopenFailed {
                            path: path.clone(),
                            error,
                        }),
                    }
                }
            }
            if !out.is_empty() {
                match sink.write(&out) {
                    Ok(()) => failing = false,
                    Err(e) => {
                        self.dropped
                            .fetch_add(out.iter().filter(|&&b| b == b'\n').count() as u64, Relaxed);
                        // Once per run of failures, not once per line.
                        if !failing {
                            self.events
                                .emit(ServeEvent::AccessLogWriteFailed { error: e });
                            failing = true;
                        }
                    }
                }
                out.clear();
            }
            if closing {
                self.lock().done = true;
                self.changed.notify_all();
                return;
            }
        }
    }

    /// Appends one request's line. Never blocks on the disk: past
    /// `MAX_PENDING_BYTES` not yet written, the line is dropped and counted.
    pub(super) fn record(
        &self,
        peer: SocketAddr,
        method: &str,
        target: &str,
        status: u16,
        bytes: u64,
        duration: Duration,
    ) {
        let line = format_line(
            SystemTime::now(),
            peer,
            method,
            target,
            status,
            bytes,
            duration,
        );
        let mut p = self.lock();
        if p.buf.len() + line.len() > MAX_PENDING_BYTES {
            drop(p);
            self.dropped.fetch_add(1, Relaxed);
            return;
        }
        let was_empty = p.buf.is_empty();
        p.buf.extend_from_slice(line.as_bytes());
        drop(p);
        if was_empty {
            self.changed.notify_all();
        }
    }

    /// Lines dropped so far (the writer fell behind or writing failed).
    pub(super) fn dropped(&self) -> u64 {
        self.dropped.load(Relaxed)
    }

    /// Makes the writer reopen the file before its next write (SIGHUP).
    pub(super) fn reopen(&self) {
        self.reopen.store(true, Relaxed);
        self.changed.notify_all();
    }

    /// Writes what is pending and stops the writer, waiting for it at most
    /// `FLUSH_LIMIT` (a stuck disk must not keep the process from exiting).
    pub(super) fn close(&self) {
        let mut p = self.lock();
        p.closing = true;
        self.changed.notify_all();
        let limit = std::time::Instant::now() + FLUSH_LIMIT;
        while !p.done {
            let left = limit.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                self.events
                    .emit(ServeEvent::AccessLogFlushTimedOut { limit: FLUSH_LIMIT });
                return;
            }
            p = self
                .changed
                .wait_timeout(p, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// `TIME PEER METHOD TARGET STATUS BYTES MICROS\n`: TIME in RFC 3339 UTC with
/// microseconds (when the answer was ready), TARGET the request's path and
/// query as sent, with bytes outside printable ASCII (and `\`) as `\xHH` so
/// a line always has seven space-separated fields.
fn format_line(
    now: SystemTime,
    peer: SocketAddr,
    method: &str,
    target: &str,
    status: u16,
    bytes: u64,
    duration: Duration,
) -> String {
    let mut line = String::with_capacity(96 + target.len());
    line.push_str(&rfc3339_utc(now));
    line.push(' ');
    line.push_str(&peer.to_string());
    line.push(' ');
    escape_into(&mut line, method);
    line.push(' ');
    escape_into(&mut line, target);
    line.push_str(&format!(" {status} {bytes} {}\n", duration.as_micros()));
    line
}

fn escape_into(out: &mut String, s: &str) {
    if s.is_empty() {
        out.push('-');
    }
    for b in s.bytes() {
        if b.is_ascii_graphic() && b != b'\\' {
            out.push(b as char);
        } else {
            out.push_str(&format!("\\x{b:02X}"));
        }
    }
}

/// `2026-11-30T08:15:02.123456Z`.
fn rfc3339_utc(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_micros()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc() {
        let at = |s: u64, us: u64| UNIX_EPOCH + Duration::from_secs(s) + Duration::from_micros(us);
        assert_eq!(rfc3339_utc(at(0, 0)), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            rfc3339_utc(at(951_782_400, 7)),
            "2000-02-29T00:00:00.000007Z"
        );
        assert_eq!(
            rfc3339_utc(at(1_798_761_599, 999_999)),
            "2026-12-31T23:59:59.999999Z"
        );
    }

    #[test]
    fn a_line_has_seven_fields_whatever_the_target() {
        let line = format_line(
            UNIX_EPOCH,
            "127.0.0.1:5000".parse().unwrap(),
            "GET",
            "/a b\\\"c\u{e9}",
            404,
            12,
            Duration::from_micros(345),
        );
        assert_eq!(
            line,
            "1970-01-01T00:00:00.000000Z 127.0.0.1:5000 GET /a\\x20b\\x5C\"c\\xC3\\xA9 404 12 345\n"
        );
    }
}
