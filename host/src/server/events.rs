//! What the server has to tell its operator (start, reloads, warnings,
//! errors that cannot be an HTTP answer), handed to the caller's
//! [`EventSink`] instead of being printed: the embedding program decides
//! where such lines go. The `dfabake-host` binary prints each one as
//! `dfabake-host: {event}` on stderr, except [`ServeEvent::Listening`],
//! which it prints alone on stdout.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::CodeSource;

/// Something the server reports to its operator.
///
/// `Display` gives the line `dfabake-host` prints (without its
/// `dfabake-host: ` prefix); the fields are there for programs that route or
/// count events themselves.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServeEvent {
    /// A note about the module or the compiled-code cache (e.g. the cache
    /// could not be written), at start-up or after a reload; serving goes on.
    Warning {
        /// What happened, as one line.
        message: String,
    },
    /// The module is loaded and the listener bound; the server starts once
    /// the signal handlers are in place ([`ServeEvent::Listening`]).
    Serving {
        /// The module file being served.
        module_path: PathBuf,
        /// Its number of rules.
        rules: usize,
        /// Whether its native code was compiled now or came from the cache.
        code_source: CodeSource,
        /// Time taken to read, verify and compile (or load) it.
        load_time: Duration,
        /// Matcher threads and instances.
        workers: usize,
    },
    /// Everything is ready and requests are being accepted: the last event
    /// of start-up, and the one to wait for. With port 0 in
    /// [`ServeConfig::listen`](super::ServeConfig::listen), the only place
    /// the chosen port is told.
    Listening {
        /// The bound address.
        addr: SocketAddr,
    },
    /// A new module was verified, compiled and swapped in.
    Reloaded {
        /// What asked for the reload.
        cause: ReloadCause,
        /// The new module's generation (the first module is 0).
        generation: u64,
        /// Its number of rules.
        rules: usize,
        /// Its SHA-256, in hex.
        sha256: String,
    },
    /// The new module could not be loaded (bad file, failed verification,
    /// compile error); the previous one keeps serving.
    ReloadRefused {
        /// What asked for the reload.
        cause: ReloadCause,
        /// Why, with its whole chain of causes.
        error: anyhow::Error,
    },
    /// The reload task itself failed (it panicked); the previous module
    /// keeps serving.
    ReloadFailed {
        /// What asked for the reload.
        cause: ReloadCause,
        /// Why.
        error: anyhow::Error,
    },
    /// A request's instance could not be created; the client got a 500
    /// saying the details are in the server log: these are the details.
    InstanceFailed {
        /// Why, with its whole chain of causes (possibly a wasm backtrace).
        error: anyhow::Error,
    },
    /// A match trapped (for example out of memory under the instance's
    /// limit) or broke the ABI; the client got a 500 and the instance was
    /// replaced.
    MatchFailed {
        /// What the client was told.
        error: String,
    },
    /// Accepting connections failed (e.g. out of file descriptors); the
    /// server backs off and retries. Reported at most once every 5 s.
    AcceptFailed {
        /// The latest failure.
        error: std::io::Error,
        /// Failures since the previous report, this one included.
        failures: u64,
    },
    /// SIGTERM or SIGINT arrived: no new connections; open ones are served
    /// for `grace`, each answer closing its connection.
    ShuttingDown {
        /// [`ServeConfig::shutdown_grace`](super::ServeConfig::shutdown_grace).
        grace: Duration,
    },
    /// At shutdown, requests still in progress after `limit` were abandoned.
    DrainTimedOut {
        /// How long they were waited for.
        limit: Duration,
    },
    /// SIGHUP: reopening the access log file failed; lines keep going to
    /// the file already open.
    AccessLogReopenFailed {
        /// The access log file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// Writing the access log failed; lines are dropped (and counted in
    /// `/metrics`) until a write succeeds. Reported once per run of
    /// failures.
    AccessLogWriteFailed {
        /// Why.
        error: std::io::Error,
    },
    /// At shutdown, the access log's pending lines could not be written
    /// within `limit`.
    AccessLogFlushTimedOut {
        /// How long the writer was waited for.
        limit: Duration,
    },
}

/// What asked for a reload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReloadCause {
    /// SIGHUP.
    Signal,
    /// [`ServeConfig::watch`](super::ServeConfig::watch) saw the module file
    /// replaced.
    FileReplaced,
}

/// How serious an event is, for programs that map events onto their own
/// logger's levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Start, reload, shutdown: the server doing what it was asked.
    Info,
    /// Something went wrong and the server carries on as before.
    Warning,
    /// Something went wrong that lost work (a request, log lines).
    Error,
}

impl ServeEvent {
    /// How serious this event is.
    pub fn level(&self) -> Level {
        match self {
            ServeEvent::Serving { .. }
            | ServeEvent::Listening { .. }
            | ServeEvent::Reloaded { .. }
            | ServeEvent::ShuttingDown { .. } => Level::Info,
            ServeEvent::Warning { .. }
            | ServeEvent::ReloadRefused { .. }
            | ServeEvent::AcceptFailed { .. }
            | ServeEvent::AccessLogReopenFailed { .. } => Level::Warning,
            ServeEvent::ReloadFailed { .. }
            | ServeEvent::InstanceFailed { .. }
            | ServeEvent::MatchFailed { .. }
            | ServeEvent::DrainTimedOut { .. }
            | ServeEvent::AccessLogWriteFailed { .. }
            | ServeEvent::AccessLogFlushTimedOut { .. } => Level::Error,
        }
    }
}

impl fmt::Display for ReloadCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReloadCause::Signal => "SIGHUP",
            ReloadCause::FileReplaced => "module file replaced",
        })
    }
}

impl fmt::Display for ServeEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServeEvent::Warning { message } => write!(f, "warning: {message}"),
            ServeEvent::Serving {
                module_path,
                rules,
                code_source,
                load_time,
                workers,
            } => {
                let source = match code_source {
                    CodeSource::Cache => "native code from cache",
                    CodeSource::Compiled => "compiled",
                };
                write!(
                    f,
                    "serving {} ({rules} rules, {source} in {} ms, {workers} workers)",
                    module_path.display(),
                    load_time.as_millis()
                )
            }
            ServeEvent::Listening { addr } => write!(f, "listening on http://{addr}"),
            ServeEvent::Reloaded {
                cause,
                generation,
                rules,
                sha256,
            } => write!(
                f,
                "reloaded ({cause}): generation {generation}, {rules} rules, sha256 {sha256}"
            ),
            ServeEvent::ReloadRefused { cause, error } => write!(
                f,
                "reload ({cause}) refused, still serving the previous module: {error:#}"
            ),
            ServeEvent::ReloadFailed { cause, error } => {
                write!(f, "reload ({cause}) failed: {error}")
            }
            ServeEvent::InstanceFailed { error } => {
                write!(f, "creating an instance failed: {error:#}")
            }
            ServeEvent::MatchFailed { error } => {
                write!(f, "a match failed and its instance was replaced: {error}")
            }
            ServeEvent::AcceptFailed { error, failures } => write!(
                f,
                "accept failed: {error} ({failures} failures since the last report; backing off)"
            ),
            ServeEvent::ShuttingDown { grace } => write!(
                f,
                "shutting down: answering requests on open connections ({} ms grace)",
                grace.as_millis()
            ),
            ServeEvent::DrainTimedOut { limit } => write!(
                f,
                "some requests did not finish within {} s",
                limit.as_secs()
            ),
            ServeEvent::AccessLogReopenFailed { path, error } => write!(
                f,
                "reopening the access log {} failed, still writing the old file: {error}",
                path.display()
            ),
            ServeEvent::AccessLogWriteFailed { error } => {
                write!(f, "writing the access log failed: {error}")
            }
            ServeEvent::AccessLogFlushTimedOut { limit } => write!(
                f,
                "the access log could not be written within {} s at shutdown",
                limit.as_secs()
            ),
        }
    }
}

/// Where [`serve`](super::serve) reports [`ServeEvent`]s: a function called
/// on the server's own threads (the reactor, the reload task, the access
/// log writer), so it should return quickly and must not block on the
/// server.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use dfabake_host::server::{EventSink, ServeEvent};
///
/// // Keep the lines in memory instead of printing them.
/// let lines = Arc::new(Mutex::new(Vec::new()));
/// let kept = lines.clone();
/// let sink = EventSink::new(move |e: &ServeEvent| kept.lock().unwrap().push(e.to_string()));
/// # sink.emit(ServeEvent::Listening { addr: "127.0.0.1:8080".parse().unwrap() });
/// # assert_eq!(*lines.lock().unwrap(), ["listening on http://127.0.0.1:8080"]);
/// ```
#[derive(Clone)]
pub struct EventSink(Arc<dyn Fn(&ServeEvent) + Send + Sync>);

impl EventSink {
    /// A sink calling `f` for every event.
    pub fn new(f: impl Fn(&ServeEvent) + Send + Sync + 'static) -> EventSink {
        EventSink(Arc::new(f))
    }

    /// A sink dropping every event.
    pub fn discard() -> EventSink {
        EventSink::new(|_| {})
    }

    /// Hands `event` to the sink.
    pub fn emit(&self, event: ServeEvent) {
        (self.0)(&event)
    }
}

impl Default for EventSink {
    /// [`EventSink::discard`].
    fn default() -> EventSink {
        EventSink::discard()
    }
}

impl fmt::Debug for EventSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EventSink(..)")
    }
}
