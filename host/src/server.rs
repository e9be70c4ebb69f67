//! `dfabake-host serve`: an HTTP server with a fixed set of long-lived
//! instances, each reused for every request it is lent to.
//!
//! * `POST /match?mode=any|all|first`, raw body = one input →
//!   `{"input": …, "matches": […]}`;
//! * `POST /match` with `Content-Type: application/json` and
//!   `{"inputs": ["…", …], "mode": "all"}` → a JSON array of those objects;
//! * `GET`/`HEAD /healthz`, `/readyz` (503 once shutting down) and
//!   `/metrics` (Prometheus text, see `metrics.rs`); probes are not counted
//!   as match traffic;
//! * an optional access log (`access_log.rs`).
//!
//! The mode is the batch's `mode`, else the query's (percent-decoded), else
//! `all`.
//!
//! The reactor threads do I/O and answer probes; matching (with parsing and
//! serializing) runs on a pool of `workers` matcher threads sharing
//! `workers` instances, so probes never wait behind it. Only one small raw
//! input (see `INLINE_WORK`: tens of microseconds) is matched on the reactor
//! thread that read it, when an instance is free: handing it to the pool
//! would cost more than matching it. Limits: body size and batch length (413), response size (413,
//! checked while the answer is produced), one deadline per request via epoch
//! interruption (503; the instance is discarded), per-instance memory (a
//! trap: 500; the instance is discarded), header and body read timeouts,
//! and a connection cap. A replaced instance comes from an `InstancePre`,
//! with the pooling allocator and copy-on-write memory images, in
//! microseconds. SIGHUP or `--watch` reloads the module: the new one is
//! verified and compiled first, then swapped in atomically; requests in
//! flight finish on the old one; a bad module is refused and the old one
//! keeps serving. SIGTERM/SIGINT: see [`serve`].

use std::cell::Cell;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::task::Poll;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use bytes::Bytes;
use dfabake_matcher::Mode;
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::header::{HeaderValue, ALLOW, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Semaphore;
use wasmtime::Engine;

use crate::{
    write_result_line, HostConfig, MatchError, MatcherInstance, MatcherModule, EPOCH_TICK,
};

mod access_log;
mod events;
mod metrics;

use access_log::AccessLog;
pub use access_log::AccessLogTarget;
pub use events::{EventSink, Level, ReloadCause, ServeEvent};
use metrics::{Metrics, Snapshot, PROBES};

/// Default of [`ServeConfig::max_batch_inputs`].
pub const DEFAULT_MAX_BATCH_INPUTS: usize = 10_000;
/// Default of [`ServeConfig::max_response_bytes`] (16 MiB).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 16 << 20;
/// Default of [`ServeConfig::max_pending_response_bytes`] (256 MiB).
pub const DEFAULT_MAX_PENDING_RESPONSE_BYTES: usize = 256 << 20;
/// Default of [`ServeConfig::header_timeout`].
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default of [`ServeConfig::body_timeout`].
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Default of [`ServeConfig::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default of [`ServeConfig::shutdown_grace`].
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_millis(500);
/// Longest wait, after the grace period of a shutdown, for requests in
/// progress to finish.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// Everything `dfabake-host serve` takes.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// The module file (watched and reloaded from this path).
    pub module_path: PathBuf,
    /// Address to listen on (port 0 picks a free one; the bound address is
    /// reported as [`ServeEvent::Listening`]).
    pub listen: SocketAddr,
    /// Matcher threads and instances: at most this many requests match at
    /// once (also the number of reactor threads doing I/O).
    pub workers: usize,
    /// wasmtime settings: cache, pooling, memory and time limits. The call
    /// timeout bounds a whole request: waiting for a matcher thread and
    /// every input of a batch together.
    pub host: HostConfig,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Most inputs in one JSON batch (more: 413).
    pub max_batch_inputs: usize,
    /// Largest response body: producing stops as soon as it is exceeded
    /// (413).
    pub max_response_bytes: usize,
    /// Most bytes of answers, all connections together, produced and not
    /// yet handed to the connections writing them (clients that read
    /// slowly, or not at all, until `body_timeout` closes them): an answer
    /// that would pass it gets 503 instead, unless no other is pending.
    /// Answers of up to 64 KiB are not counted: a connection takes them
    /// whole at once.
    pub max_pending_response_bytes: usize,
    /// Time a client has to send a request's header; also how long an idle
    /// keep-alive connection stays open. `None`: no bound.
    pub header_timeout: Option<Duration>,
    /// Time a client has to send a request's body once its header arrived
    /// (over: 408 and the connection is closed); also how long writing an
    /// answer may make no progress (the client not reading) before the
    /// connection is closed. `None`: no bound.
    pub body_timeout: Option<Duration>,
    /// Most connections open at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// After SIGTERM/SIGINT, how long open connections keep being served
    /// (each answer then closes its connection) before idle ones are closed.
    pub shutdown_grace: Duration,
    /// Poll the module file and reload when it is replaced.
    pub watch: bool,
    /// Benchmark baseline: a fresh instance for every request.
    pub instance_per_request: bool,
    /// Where to log one line per request (`None`: no access log).
    pub access_log: Option<AccessLogTarget>,
    /// Where start-up, reloads, warnings and errors are reported: the
    /// server itself never writes to stdout or stderr (except an access log
    /// sent there on purpose, [`AccessLogTarget::Stderr`]).
    pub events: EventSink,
}

struct Loaded {
    module: MatcherModule,
    generation: u64,
}

type Job = Box<dyn FnOnce() + Send>;

struct Shared {
    cfg: ServeConfig,
    engine: Engine,
    current: RwLock<Arc<Loaded>>,
    generations: AtomicU64,
    metrics: Metrics,
    /// The matcher pool's queue.
    jobs: Arc<Queue>,
    /// The instances (`cfg.workers` at most, each matching one request at
    /// a time), shared by the matcher pool and small requests matched on
    /// the reactor.
    instances: Instances,
    /// Largest raw input matched on the reactor thread that read it (see
    /// `INLINE_WORK`), for the module being served.
    inline_max_bytes: AtomicUsize,
    /// Connection slots (`cfg.max_connections` permits).
    connections: Arc<Semaphore>,
    /// Set on SIGTERM/SIGINT: every answer closes its connection.
    draining: AtomicBool,
    /// Bytes of answers not yet handed to their connections (see
    /// [`ServeConfig::max_pending_response_bytes`]).
    pending_answers: Arc<AtomicUsize>,
    access_log: Option<Arc<AccessLog>>,
}

/// How much matching a request may need, in input bytes times shards, to
/// be done on the reactor thread that read it (some tens of microseconds at
/// most) instead of being handed to the matcher pool. The hand-off costs
/// two thread wake-ups, a large share of a small request on a busy
/// machine; larger inputs and every batch go to the pool, so probes never
/// wait behind more than one such small match.
const INLINE_WORK: usize = 32 << 10;

/// The server's instances: at most `workers` exist, each lent to one
/// request at a time.
struct Instances {
    state: Mutex<InstancesState>,
    returned: Condvar,
}

struct InstancesState {
    /// Instances that may still be created or lent.
    free: usize,
    /// Matcher threads waiting for one: while any wait, a small request
    /// queues behind them instead of taking a freed instance first.
    waiting: usize,
    /// Idle instances, with the module generation each belongs to.
    idle: Vec<(u64, MatcherInstance)>,
}

/// One of the server's instance slots, lent to a request; given back on
/// drop (without its instance if a panic unwound through it: a call may
/// have been cut short).
struct Lease<'a> {
    from: &'a Instances,
    inst: Option<(u64, MatcherInstance)>,
}

impl Instances {
    fn new(n: usize) -> Instances {
        Instances {
            state: Mutex::new(InstancesState {
                free: n,
                waiting: 0,
                idle: Vec::with_capacity(n),
            }),
            returned: Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, InstancesState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lease(&self, mut state: std::sync::MutexGuard<'_, InstancesState>) -> Lease<'_> {
        state.free -= 1;
        Lease {
            from: self,
            inst: state.idle.pop(),
        }
    }

    /// A slot if one is free now and no matcher thread is waiting for one.
    fn try_take(&self) -> Option<Lease<'_>> {
        let state = self.lock();
        (state.free > 0 && state.waiting == 0).then(|| self.lease(state))
    }

    /// A slot, waiting for one (matcher threads only).
    fn take(&self) -> Lease<'_> {
        let mut state = self.lock();
        state.waiting += 1;
        while state.free == 0 {
            state = self.returned.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        state.waiting -= 1;
        self.lease(state)
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let inst = self.inst.take().filter(|_| !std::thread::panicking());
        let mut state = self.from.lock();
        state.free += 1;
        state.idle.extend(inst);
        drop(state);
        self.from.returned.notify_one();
    }
}

thread_local! {
    /// The batch length limit of the request being parsed on this thread,
    /// and whether it was exceeded.
    static BATCH_LIMIT: Cell<(usize, bool)> = const { Cell::new((usize::MAX, false)) };
}

type Answer = Response<AnswerBody>;

/// Bytes of an answer handed to its connection at a time: the connection
/// asks for more only once it has written most of what it holds, so the
/// rest of an answer a client is slow to read stays here, counted in
/// `Shared::pending_answers`, not in the connection's write buffer.
const ANSWER_PIECE: usize = 64 << 10;

/// A response body: its bytes, [`ANSWER_PIECE`] at a time.
struct AnswerBody {
    rest: Bytes,
    /// The answer's share of `Shared::pending_answers`, given back once
    /// its last piece is handed over or the connection drops it.
    held: Option<HeldAnswer>,
}

struct HeldAnswer {
    pending: Arc<AtomicUsize>,
    bytes: usize,
}

impl Drop for HeldAnswer {
    fn drop(&mut self) {
        self.pending.fetch_sub(self.bytes, Relaxed);
    }
}

impl hyper::body::Body for AnswerBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let me = self.get_mut();
        if me.rest.is_empty() {
            me.held = None;
            return Poll::Ready(None);
        }
        let piece = me.rest.split_to(me.rest.len().min(ANSWER_PIECE));
        if me.rest.is_empty() {
            me.held = None;
        }
        Poll::Ready(Some(Ok(Frame::data(piece))))
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.rest.len() as u64)
    }
}

fn reply(code: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Answer {
    Response::builder()
        .status(code)
        .header(CONTENT_TYPE, content_type)
        .body(AnswerBody {
            rest: body.into(),
            held: None,
        })
        .unwrap()
}

/// Reads a request body of at most `max` bytes into one buffer. Each frame
/// is copied out as it arrives: kept as they came, a body sent in 1-byte
/// chunks would hold a buffer entry, and the connection's read buffer, per
/// byte (about 40 times its size).
async fn read_body(mut body: Incoming, max: usize, length: Option<u64>) -> Result<Bytes, ReadBody> {
    let mut buf = Vec::with_capacity(length.map_or(0, |n| n.min(max as u64) as usize));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(ReadBody::Failed)?;
        if let Ok(data) = frame.into_data() {
            if data.len() > max - buf.len() {
                return Err(ReadBody::TooLarge);
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(buf))
}

/// Why [`read_body`] stopped.
enum ReadBody {
    TooLarge,
    Failed(hyper::Error),
}

fn error(code: StatusCode, msg: &str) -> Answer {
    let body = serde_json::json!({ "error": msg }).to_string();
    reply(code, "application/json", body)
}

/// An error after which the connection must not be reused (e.g. its body
/// was not read to the end).
fn error_closing(code: StatusCode, msg: &str) -> Answer {
    let mut a = error(code, msg);
    a.headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    a
}

fn method_not_allowed(allow: &'static str) -> Answer {
    let mut a = error(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("method not allowed (allowed: {allow})"),
    );
    a.headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    a
}

/// `application/json`, any case, with or without parameters (such as
/// `; charset=utf-8`); `application/jsonx` or `text/json` are not.
fn is_json(content_type: Option<&HeaderValue>) -> bool {
    content_type.and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .eq_ignore_ascii_case("application/json")
    })
}

/// The inputs of a JSON batch, parsed only up to the limit in
/// `BATCH_LIMIT`: a longer array stops the parse instead of being built.
struct Inputs(Vec<String>);

impl<'de> serde::Deserialize<'de> for Inputs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Inputs, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Inputs;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array of strings")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Inputs, A::Error> {
                let max = BATCH_LIMIT.get().0;
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(max).min(1024));
                while let Some(s) = seq.next_element::<String>()? {
                    if v.len() == max {
                        BATCH_LIMIT.set((max, true));
                        return Err(serde::de::Error::custom("too many inputs"));
                    }
                    v.push(s);
                }
                Ok(Inputs(v))
            }
        }
        d.deserialize_seq(Visit)
    }
}

/// Why matching a request stopped.
enum Stop {
    Match(MatchError),
    /// The deadline passed between calls (the instance is intact).
    Deadline,
    /// The answer grew past `max_response_bytes`.
    ResponseTooLarge,
}

impl From<MatchError> for Stop {
    fn from(e: MatchError) -> Stop {
        Stop::Match(e)
    }
}

impl Shared {
    /// Runs `f` on a matcher thread; `None` if it panicked. A job whose
    /// client has gone away by the time a thread takes it is skipped.
    async fn on_pool<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            if tx.is_closed() {
                return;
            }
            if let Ok(v) = std::panic::catch_unwind(AssertUnwindSafe(f)) {
                let _ = tx.send(v);
            }
        });
        self.jobs.push(job);
        rx.await.ok()
    }

    /// Matches `inputs` on the leased instance (creating or replacing it
    /// when needed) and writes the answer: one result line, or a JSON array
    /// of them for a batch.
    fn run(
        &self,
        lease: &mut Lease,
        mode: Mode,
        inputs: &[&[u8]],
        batch: bool,
        deadline: Option<Instant>,
    ) -> Result<String, (StatusCode, String)> {
        let loaded = self.current.read().unwrap().clone();
        let internal = |e: anyhow::Error| {
            // The full chain (possibly with a wasm backtrace) is for the
            // operator; the client gets a short message.
            self.cfg
                .events
                .emit(ServeEvent::InstanceFailed { error: e });
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "creating an instance failed (details in the server log)".to_string(),
            )
        };
        let mut done = 0usize;
        let mut answer = |inst: &mut MatcherInstance| -> Result<String, Stop> {
            let mut out = Vec::new();
            if batch {
                out.push(b'[');
            }
            for input in inputs {
                let json = match deadline {
                    Some(d) => {
                        let left = d.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            return Err(Stop::Deadline);
                        }
                        inst.match_json_bytes_within(mode, input, left)?
                    }
                    None => inst.match_json_bytes(mode, input)?,
                };
                if batch && done > 0 {
                    out.push(b',');
                }
                write_result_line(&mut out, input, json).expect("writing to a Vec does not fail");
                self.metrics
                    .matches
                    .fetch_add(inst.last_match_count() as u64, Relaxed);
                self.metrics.inputs.fetch_add(1, Relaxed);
                done += 1;
                if out.len() > self.cfg.max_response_bytes {
                    return Err(Stop::ResponseTooLarge);
                }
            }
            if batch {
                out.push(b']');
            }
            // UTF-8 unless the module broke it (then U+FFFD, as `match_json`).
            Ok(String::from_utf8(out)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
        };
        let result = if self.cfg.instance_per_request {
            let mut inst = loaded.module.instantiate().map_err(internal)?;
            self.metrics.instances_created.fetch_add(1, Relaxed);
            answer(&mut inst)
        } else {
            let slot = &mut lease.inst;
            if slot.as_ref().map(|(g, _)| *g) != Some(loaded.generation) {
                *slot = None; // drop the old instance before making its successor
                let inst = loaded.module.instantiate().map_err(internal)?;
                self.metrics.instances_created.fetch_add(1, Relaxed);
                *slot = Some((loaded.generation, inst));
            }
            let (_, inst) = slot.as_mut().unwrap();
            let result = answer(inst);
            if let Err(Stop::Match(e)) = &result {
                if e.poisons_instance() {
                    *slot = None;
                    self.metrics.instance_recycles.fetch_add(1, Relaxed);
                }
            }
            result
        };
        if let Err(Stop::Match(e @ (MatchError::Trap(_) | MatchError::Abi(_)))) = &result {
            self.cfg.events.emit(ServeEvent::MatchFailed {
                error: e.to_string(),
            });
        }
        let of = |done: usize| {
            if batch {
                format!(" after {done} of {} inputs", inputs.len())
            } else {
                String::new()
            }
        };
        result.map_err(|stop| match stop {
            Stop::Match(MatchError::Timeout) | Stop::Deadline => (
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the request exceeded the time bound ({} ms){}",
                    self.cfg.host.call_timeout.unwrap_or_default().as_millis(),
                    of(done)
                ),
            ),
            Stop::Match(e @ MatchError::TooLarge) => (StatusCode::PAYLOAD_TOO_LARGE, e.to_string()),
            Stop::Match(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            Stop::ResponseTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the response would exceed {} bytes (--max-response-bytes){}",
                    self.cfg.max_response_bytes,
                    if batch {
                        format!("{}; send fewer inputs per request", of(done))
                    } else {
                        "; send a shorter input".to_string()
                    }
                ),
            ),
        })
    }

    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Answer {
        let (parts, body) = req.into_parts();
        match (&parts.method, parts.uri.path()) {
            (&Method::GET | &Method::HEAD, "/healthz") => {
                let loaded = self.current.read().unwrap().clone();
                let info = loaded.module.info();
                let body = serde_json::json!({
                    "status": "ok",
                    "module_sha256": info.sha256,
                    "rules": info.rules,
                    "generation": loaded.generation,
                });
                reply(StatusCode::OK, "application/json", body.to_string())
            }
            (&Method::GET | &Method::HEAD, "/readyz") => {
                // Not ready once shutting down, so a load balancer sends no
                // new requests during the grace period.
                if self.draining.load(Relaxed) {
                    reply(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "application/json",
                        r#"{"status":"shutting down"}"#,
                    )
                } else {
                    reply(StatusCode::OK, "application/json", r#"{"status":"ready"}"#)
                }
            }
            (&Method::GET | &Method::HEAD, "/metrics") => reply(
                StatusCode::OK,
                "text/plain; version=0.0.4",
                self.render_metrics(),
            ),
            (&Method::POST, "/match") => self.post_match(parts, body).await,
            (_, "/match") => method_not_allowed("POST"),
            (_, "/healthz" | "/readyz" | "/metrics") => method_not_allowed("GET, HEAD"),
            _ => error(
                StatusCode::NOT_FOUND,
                "not found: try POST /match, GET /healthz, GET /readyz, GET /metrics",
            ),
        }
    }

    async fn post_match(
        self: Arc<Self>,
        parts: hyper::http::request::Parts,
        body: Incoming,
    ) -> Answer {
        let max = self.cfg.max_body_bytes;
        let length = parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if length.is_some_and(|n| n > max as u64) {
            return error_closing(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
        }
        let read = read_body(body, max, length);
        let read = match self.cfg.body_timeout {
            Some(t) => match tokio::time::timeout(t, read).await {
                Ok(r) => r,
                Err(_) => {
                    return error_closing(
                        StatusCode::REQUEST_TIMEOUT,
                        &format!(
                            "request body not received within {} ms (--body-timeout-ms)",
                            t.as_millis()
                        ),
                    )
                }
            },
            None => read.await,
        };
        let body = match read {
            Ok(b) => b,
            Err(ReadBody::TooLarge) => {
                return error_closing(StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
            }
            Err(ReadBody::Failed(e)) => {
                return error_closing(StatusCode::BAD_REQUEST, &format!("reading body: {e}"))
            }
        };
        // The request's one deadline: waiting for a matcher thread and
        // every input of a batch come out of it.
        let deadline = self.cfg.host.call_timeout.map(|t| Instant::now() + t);
        let query_mode = match query_param(parts.uri.query().unwrap_or(""), "mode") {
            Ok(m) => m,
            Err(msg) => return error(StatusCode::BAD_REQUEST, &msg),
        };
        let json = is_json(parts.headers.get(CONTENT_TYPE));
        if !json && body.len() <= self.inline_max_bytes.load(Relaxed) {
            if let Some(mut lease) = self.instances.try_take() {
                return self.match_request(&mut lease, body, query_mode, json, deadline);
            }
        }
        let me = self.clone();
        self.on_pool(move || {
            let mut lease = me.instances.take();
            me.match_request(&mut lease, body, query_mode, json, deadline)
        })
        .await
        .unwrap_or_else(|| {
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error while matching (details in the server log)",
            )
        })
    }

    /// Parses, matches and serializes one `POST /match`.
    fn match_request(
        &self,
        lease: &mut Lease,
        body: Bytes,
        query_mode: Option<String>,
        json: bool,
        deadline: Option<Instant>,
    ) -> Answer {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Batch {
            inputs: Inputs,
            mode: Option<String>,
        }
        // The error is the finished HTTP answer, built on the cold path only.
        #[allow(clippy::result_large_err)]
        let parse_mode = |m: Option<&str>| -> Result<Mode, Answer> {
            let m = m.unwrap_or("all");
            Mode::from_name(m).ok_or_else(|| {
                error(
                    StatusCode::BAD_REQUEST,
                    &format!("unknown mode {m:?} (any, all, first)"),
                )
            })
        };
        let (mode, batch) = if json {
            BATCH_LIMIT.set((self.cfg.max_batch_inputs, false));
            let parsed = serde_json::from_slice::<Batch>(&body);
            let (_, over) = BATCH_LIMIT.replace((usize::MAX, false));
            let batch = match parsed {
                Ok(b) => b,
                Err(_) if over => {
                    return error(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        &format!(
                            "more than {} inputs in one batch (--max-batch-inputs)",
                            self.cfg.max_batch_inputs
                        ),
                    )
                }
                Err(e) => return error(StatusCode::BAD_REQUEST, &format!("bad batch JSON: {e}")),
            };
            match parse_mode(batch.mode.as_deref().or(query_mode.as_deref())) {
                Ok(m) => (m, Some(batch.inputs.0)),
                Err(a) => return a,
            }
        } else {
            match parse_mode(query_mode.as_deref()) {
                Ok(m) => (m, None),
                Err(a) => return a,
            }
        };
        let result = match &batch {
            Some(inputs) => {
                let inputs: Vec<&[u8]> = inputs.iter().map(|s| s.as_bytes()).collect();
                self.run(lease, mode, &inputs, true, deadline)
            }
            None => self.run(lease, mode, &[&body], false, deadline),
        };
        match result {
            Ok(text) => self.hold_answer(text),
            Err((code, msg)) => error(code, &msg),
        }
    }

    /// The 200 answer `text`, counted in `pending_answers` until its
    /// connection has taken it; 503 if that would pass
    /// `max_pending_response_bytes` while other answers are pending. An
    /// answer of one piece is not counted: its connection takes it whole at
    /// once (and the atomic counter, shared by every thread, would cost
    /// every small request).
    fn hold_answer(&self, text: String) -> Answer {
        let bytes = text.len();
        if bytes <= ANSWER_PIECE {
            return reply(StatusCode::OK, "application/json", text);
        }
        let before = self.pending_answers.fetch_add(bytes, Relaxed);
        let held = HeldAnswer {
            pending: self.pending_answers.clone(),
            bytes,
        };
        if before > 0 && before + bytes > self.cfg.max_pending_response_bytes {
            drop(held);
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!(
                    "{before} bytes of answers are waiting for their clients to read them \
                     (--max-pending-response-bytes {}); retry later",
                    self.cfg.max_pending_response_bytes
                ),
            );
        }
        let mut answer = reply(StatusCode::OK, "application/json", text);
        answer.body_mut().held = Some(held);
        answer
    }

    fn render_metrics(&self) -> String {
        let loaded = self.current.read().unwrap().clone();
        self.metrics.render(&Snapshot {
            connections_open: self.cfg.max_connections - self.connections.available_permits(),
            module: loaded.module.info(),
            generation: loaded.generation,
            access_log_dropped: self.access_log.as_ref().map(|log| log.dropped()),
            pending_response_bytes: self.pending_answers.load(Relaxed),
        })
    }

    /// Loads, verifies and compiles the module file again; swaps it in only
    /// if all of that succeeded.
    async fn reload(self: &Arc<Self>, cause: ReloadCause) {
        let me = self.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            MatcherModule::load_with_engine(&me.engine, &me.cfg.module_path, &me.cfg.host)
        })
        .await;
        match loaded {
            Ok(Ok(module)) => {
                for w in module.warnings() {
                    self.cfg
                        .events
                        .emit(ServeEvent::Warning { message: w.clone() });
                }
                let generation = self.generations.fetch_add(1, Relaxed) + 1;
                self.cfg.events.emit(ServeEvent::Reloaded {
                    cause,
                    generation,
                    rules: module.info().rules,
                    sha256: module.info().sha256.clone(),
                });
                self.inline_max_bytes
                    .store(INLINE_WORK / module.info().shards.max(1), Relaxed);
                *self.current.write().unwrap() = Arc::new(Loaded { module, generation });
                self.metrics.reloads_ok.fetch_add(1, Relaxed);
            }
            Ok(Err(error)) => {
                self.cfg
                    .events
                    .emit(ServeEvent::ReloadRefused { cause, error });
                self.metrics.reloads_failed.fetch_add(1, Relaxed);
            }
            Err(e) => {
                self.cfg.events.emit(ServeEvent::ReloadFailed {
                    cause,
                    error: e.into(),
                });
                self.metrics.reloads_failed.fetch_add(1, Relaxed);
            }
        }
    }
}

/// The first value of parameter `name` in a query string, percent-decoded
/// (`+` is a space, as in HTML forms). Every parameter is decoded, so a bad
/// escape anywhere is an error naming its parameter, not silently skipped.
fn query_param(query: &str, name: &str) -> Result<Option<String>, String> {
    let mut found = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(raw_key)
            .map_err(|why| format!("query parameter {raw_key:?}: its name has {why}"))?;
        let value = percent_decode(raw_value)
            .map_err(|why| format!("query parameter {key:?}: its value has {why}"))?;
        if key == name && found.is_none() {
            found = Some(value);
        }
    }
    Ok(found)
}

fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
                let Some(b) = hex.filter(|_| bytes[i + 1].is_ascii_hexdigit()) else {
                    let bad: String = s[i..].chars().take(3).collect();
                    return Err(format!(
                        "a bad percent-escape {bad:?} (want % and two hex digits)"
                    ));
                };
                out.push(b);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| "escapes that do not decode to UTF-8".to_string())
}

fn file_stamp(path: &std::path::Path) -> Option<(SystemTime, u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len(), m.ino()))
}

/// Runs the server until SIGTERM or SIGINT.
///
/// Shutdown: the listener is closed at once (connections not yet accepted
/// are refused); for `shutdown_grace` every open connection keeps being
/// served, each answer carrying `Connection: close`, so a request already
/// sent on an open connection (even one not yet read) is read and answered;
/// then idle connections are closed and requests in progress get up to 10 s
/// to finish. The grace ends early once every connection has closed.
pub fn serve(cfg: ServeConfig) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cfg.workers.max(1))
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let result = runtime.block_on(serve_async(cfg));
    // Never wait for a reload still compiling in the blocking pool.
    runtime.shutdown_background();
    result
}

/// The answer to a connection over `max_connections`, written without
/// waiting (the socket buffer of a new connection has room) before closing.
const TOO_MANY_CONNECTIONS: &str = concat!(
    "HTTP/1.1 503 Service Unavailable\r\n",
    "content-type: application/json\r\n",
    "content-length: 32\r\n",
    "connection: close\r\n\r\n",
    "{\"error\":\"too many connections\"}"
);

/// The matcher pool's queue: a plain mutex and condition variable, so a job
/// wakes exactly one idle thread.
#[derive(Default)]
struct Queue {
    jobs: Mutex<std::collections::VecDeque<Job>>,
    ready: Condvar,
}

impl Queue {
    fn push(&self, job: Job) {
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(job);
        self.ready.notify_one();
    }

    fn pop(&self) -> Job {
        let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(job) = jobs.pop_front() {
                return job;
            }
            jobs = self.ready.wait(jobs).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// A connection whose writes may make no progress (the client not reading
/// its answer) for at most `limit`; then writing fails and the connection
/// is closed, so a client cannot pin an answer, and a connection slot, by
/// never reading.
struct StallGuard {
    inner: tokio::net::TcpStream,
    limit: Option<Duration>,
    /// Since when writing has been blocked, as the timer that ends it.
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl StallGuard {
    fn on_write<T>(
        &mut self,
        cx: &mut std::task::Context<'_>,
        r: Poll<std::io::Result<T>>,
    ) -> Poll<std::io::Result<T>> {
        if r.is_ready() {
            self.stalled = None;
            return r;
        }
        let Some(limit) = self.limit else {
            return r;
        };
        let timer = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client stopped reading",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for StallGuard {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for StallGuard {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let me = self.get_mut();
        let r = Pin::new(&mut me.inner).poll_write(cx, buf);
        me.on_write(cx, r)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let me = self.get_mut();
        let r = Pin::new(&mut me.inner).poll_write_vectored(cx, bufs);
        me.on_write(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        let me = self.get_mut();
        let r = Pin::new(&mut me.inner).poll_flush(cx);
        me.on_write(cx, r)
    }

    fn poll_shutdown(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        let me = self.get_mut();
        let r = Pin::new(&mut me.inner).poll_shutdown(cx);
        me.on_write(cx, r)
    }
}

/// Starts `n` matcher threads sharing one queue.
fn start_pool(n: usize) -> Result<Arc<Queue>> {
    let queue = Arc::new(Queue::default());
    for i in 0..n {
        let queue = queue.clone();
        std::thread::Builder::new()
            .name(format!("dfabake-match-{i}"))
            .spawn(move || loop {
                queue.pop()();
            })
            .context("starting a matcher thread")?;
    }
    Ok(queue)
}

async fn serve_async(mut cfg: ServeConfig) -> Result<()> {
    cfg.workers = cfg.workers.max(1);
    cfg.max_connections = cfg.max_connections.max(1);
    // Room for every worker's instance, their successors during a reload,
    // and per-request instances.
    cfg.host.max_instances = cfg.host.max_instances.max((cfg.workers as u32) * 4 + 16);
    let engine = cfg.host.engine()?;
    let module = MatcherModule::load_with_engine(&engine, &cfg.module_path, &cfg.host)?;
    let info = module.info().clone();
    for w in module.warnings() {
        cfg.events.emit(ServeEvent::Warning { message: w.clone() });
    }
    let access_log = cfg
        .access_log
        .as_ref()
        .map(|target| AccessLog::start(target, cfg.events.clone()))
        .transpose()?;
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("binding {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    cfg.events.emit(ServeEvent::Serving {
        module_path: cfg.module_path.clone(),
        rules: info.rules,
        code_source: module.code_source(),
        load_time: module.load_time(),
        workers: cfg.workers,
    });
    let shared = Arc::new(Shared {
        engine: engine.clone(),
        current: RwLock::new(Arc::new(Loaded {
            module,
            generation: 0,
        })),
        generations: AtomicU64::new(0),
        metrics: Metrics::default(),
        jobs: start_pool(cfg.workers)?,
        instances: Instances::new(cfg.workers),
        inline_max_bytes: AtomicUsize::new(INLINE_WORK / info.shards.max(1)),
        connections: Arc::new(Semaphore::new(cfg.max_connections)),
        draining: AtomicBool::new(false),
        pending_answers: Arc::new(AtomicUsize::new(0)),
        access_log,
        cfg,
    });

    let stop = Arc::new(AtomicBool::new(false));
    if shared.cfg.host.call_timeout.is_some() {
        let (engine, stop) = (engine.clone(), stop.clone());
        std::thread::spawn(move || {
            // The epoch follows the wall clock: a late wake-up (a busy
            // machine) adds the ticks it missed, so deadlines stay in time.
            let start = Instant::now();
            let mut ticks = 0u64;
            while !stop.load(Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                let due = (start.elapsed().as_micros() / EPOCH_TICK.as_micros()) as u64;
                while ticks < due {
                    engine.increment_epoch();
                    ticks += 1;
                }
            }
        });
    }
    {
        let shared = shared.clone();
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .context("installing the SIGHUP handler")?;
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                if let Some(log) = &shared.access_log {
                    log.reopen();
                }
                shared.reload(ReloadCause::Signal).await;
            }
        });
    }
    if shared.cfg.watch {
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut last = file_stamp(&shared.cfg.module_path);
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let now = file_stamp(&shared.cfg.module_path);
                if now.is_some() && now != last {
                    last = now;
                    shared.reload(ReloadCause::FileReplaced).await;
                }
            }
        });
    }

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .context("installing the SIGINT handler")?;

    // Reported last, once everything is ready: tests and scripts wait for it.
    shared.cfg.events.emit(ServeEvent::Listening { addr });

    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(shared.cfg.header_timeout);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    // Accept errors (EMFILE when out of descriptors, ...) back off instead
    // of spinning, and are reported at most once per interval.
    let mut backoff = Duration::from_millis(5);
    let mut unreported = 0u64;
    let mut last_report: Option<Instant> = None;
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = term.recv() => break,
            _ = int.recv() => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                backoff = Duration::from_millis(5);
                accepted
            }
            Err(e) => {
                unreported += 1;
                if last_report.is_none_or(|t| t.elapsed() >= Duration::from_secs(5)) {
                    shared.cfg.events.emit(ServeEvent::AcceptFailed {
                        error: e,
                        failures: unreported,
                    });
                    unreported = 0;
                    last_report = Some(Instant::now());
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_millis(200));
                continue;
            }
        };
        let Ok(permit) = shared.connections.clone().try_acquire_owned() else {
            shared.metrics.connections_rejected.fetch_add(1, Relaxed);
            // Written on the plain socket: tokio's `try_write` would refuse
            // until the reactor has seen the new socket writable.
            if let Ok(mut plain) = stream.into_std() {
                let _ = std::io::Write::write(&mut plain, TOO_MANY_CONNECTIONS.as_bytes());
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service_shared = shared.clone();
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let shared = service_shared.clone();
            async move {
                let t = Instant::now();
                let probe = match *req.method() {
                    Method::GET | Method::HEAD => {
                        PROBES.iter().position(|p| *p == req.uri().path())
                    }
                    _ => None,
                };
                // Taken before the request is consumed, only when logged.
                let logged = shared.access_log.as_ref().map(|_| {
                    let target = req.uri().path_and_query().map_or("", |pq| pq.as_str());
                    (req.method().clone(), target.to_string())
                });
                let mut answer = shared.clone().handle(req).await;
                if shared.draining.load(Relaxed) {
                    answer
                        .headers_mut()
                        .insert(CONNECTION, HeaderValue::from_static("close"));
                }
                let elapsed = t.elapsed();
                match probe {
                    Some(i) => shared.metrics.observe_probe(i),
                    None => shared.metrics.observe(answer.status(), elapsed),
                }
                if let (Some(log), Some((method, target))) = (&shared.access_log, logged) {
                    let bytes = match method {
                        Method::HEAD => 0,
                        _ => hyper::body::Body::size_hint(answer.body())
                            .exact()
                            .unwrap_or(0),
                    };
                    log.record(
                        peer,
                        method.as_str(),
                        &target,
                        answer.status().as_u16(),
                        bytes,
                        elapsed,
                    );
                }
                Ok::<_, Infallible>(answer)
            }
        });
        let stream = StallGuard {
            inner: stream,
            limit: shared.cfg.body_timeout,
            stalled: None,
        };
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            let _ = conn.await;
            drop(permit);
        });
    }
    drop(listener);
    shared.draining.store(true, Relaxed);
    shared.cfg.events.emit(ServeEvent::ShuttingDown {
        grace: shared.cfg.shutdown_grace,
    });
    let grace_end = Instant::now() + shared.cfg.shutdown_grace;
    while Instant::now() < grace_end
        && shared.connections.available_permits() < shared.cfg.max_connections
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(DRAIN_LIMIT) => {
            shared.cfg.events.emit(ServeEvent::DrainTimedOut { limit: DRAIN_LIMIT });
        }
    }
    stop.store(true, Relaxed);
    if let Some(log) = &shared.access_log {
        log.close();
    }
    Ok(())
}
