//! `dfabake-host serve`: an HTTP server that instantiates once per worker
//! thread and reuses that instance for every request.
//!
//! * `POST /match?mode=any|all|first`, raw body = one input →
//!   `{"input": …, "matches": […]}`;
//! * `POST /match` with `Content-Type: application/json` and
//!   `{"inputs": ["…", …], "mode": "all"}` → a JSON array of those objects;
//! * `GET /healthz`, `GET /metrics` (Prometheus text).
//!
//! Limits: body size (413), per-call time via epoch interruption (503; the
//! instance is discarded), per-instance memory (a trap: 500; the instance is
//! discarded). A replaced instance comes from an `InstancePre`, with the
//! pooling allocator and copy-on-write memory images, in microseconds.
//! SIGHUP or `--watch` reloads the module: the new one is verified and
//! compiled first, then swapped in atomically; requests in flight finish on
//! the old one; a bad module is refused and the old one keeps serving.
//! SIGTERM/SIGINT stop accepting and let requests in flight finish.

use std::cell::RefCell;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use bytes::Bytes;
use dfabake_matcher::Mode;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use wasmtime::Engine;

use crate::{
    result_line, CodeSource, HostConfig, MatchError, MatcherInstance, MatcherModule, EPOCH_TICK,
};

/// Everything `dfabake-host serve` takes.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// The module file (watched and reloaded from this path).
    pub module_path: PathBuf,
    /// Address to listen on (port 0 picks a free one; the bound address is
    /// printed as `listening on http://ADDR`).
    pub listen: SocketAddr,
    /// Worker threads, each with its own long-lived instance.
    pub workers: usize,
    /// wasmtime settings: cache, pooling, memory and time limits.
    pub host: HostConfig,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Poll the module file and reload when it is replaced.
    pub watch: bool,
    /// Benchmark baseline: a fresh instance for every request.
    pub instance_per_request: bool,
}

struct Loaded {
    module: MatcherModule,
    generation: u64,
}

const CODES: [u16; 8] = [200, 400, 404, 405, 413, 500, 503, 0];
const BUCKETS: [f64; 12] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5,
];

#[derive(Default)]
struct Metrics {
    requests: [AtomicU64; CODES.len()],
    latency_buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_ns: AtomicU64,
    inputs: AtomicU64,
    matches: AtomicU64,
    instances_created: AtomicU64,
    instance_recycles: AtomicU64,
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
}

impl Metrics {
    fn observe(&self, code: StatusCode, elapsed: Duration) {
        let i = CODES
            .iter()
            .position(|&c| c == code.as_u16())
            .unwrap_or(CODES.len() - 1);
        self.requests[i].fetch_add(1, Relaxed);
        // One counter per bucket (not cumulative): one atomic add per
        // request; `render_metrics` sums them into Prometheus' cumulative form.
        let secs = elapsed.as_secs_f64();
        if let Some(b) = BUCKETS.iter().position(|bound| secs <= *bound) {
            self.latency_buckets[b].fetch_add(1, Relaxed);
        }
        self.latency_count.fetch_add(1, Relaxed);
        self.latency_sum_ns
            .fetch_add(elapsed.as_nanos() as u64, Relaxed);
    }
}

struct Shared {
    cfg: ServeConfig,
    engine: Engine,
    current: RwLock<Arc<Loaded>>,
    generations: AtomicU64,
    metrics: Metrics,
}

thread_local! {
    /// This worker's instance and the module generation it belongs to.
    static INSTANCE: RefCell<Option<(u64, MatcherInstance)>> = const { RefCell::new(None) };
}

type Answer = Response<Full<Bytes>>;

fn reply(code: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Answer {
    Response::builder()
        .status(code)
        .header("content-type", content_type)
        .body(Full::new(body.into()))
        .unwrap()
}

fn error(code: StatusCode, msg: &str) -> Answer {
    let body = serde_json::json!({ "error": msg }).to_string();
    reply(code, "application/json", body)
}

fn status_for(e: &MatchError) -> StatusCode {
    match e {
        MatchError::Timeout => StatusCode::SERVICE_UNAVAILABLE,
        MatchError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        MatchError::Trap(_) | MatchError::Abi(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl Shared {
    /// Matches `inputs` on this thread's instance, creating or replacing it
    /// when needed. Synchronous: a worker runs one match at a time.
    fn run(&self, mode: Mode, inputs: &[&[u8]]) -> Result<Vec<String>, (StatusCode, String)> {
        let loaded = self.current.read().unwrap().clone();
        let internal = |e: anyhow::Error| (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"));
        let answer = |inst: &mut MatcherInstance| -> Result<Vec<String>, MatchError> {
            let mut out = Vec::with_capacity(inputs.len());
            for input in inputs {
                let json = inst.match_json(mode, input)?;
                self.metrics
                    .matches
                    .fetch_add(inst.last_match_count() as u64, Relaxed);
                out.push(result_line(input, &json));
            }
            self.metrics.inputs.fetch_add(inputs.len() as u64, Relaxed);
            Ok(out)
        };
        if self.cfg.instance_per_request {
            let mut inst = loaded.module.instantiate().map_err(internal)?;
            self.metrics.instances_created.fetch_add(1, Relaxed);
            return answer(&mut inst).map_err(|e| (status_for(&e), e.to_string()));
        }
        INSTANCE.with(|slot| {
            let mut slot = slot.borrow_mut();
            if slot.as_ref().map(|(g, _)| *g) != Some(loaded.generation) {
                *slot = None; // drop the old instance before making its successor
                let inst = loaded.module.instantiate().map_err(internal)?;
                self.metrics.instances_created.fetch_add(1, Relaxed);
                *slot = Some((loaded.generation, inst));
            }
            let (_, inst) = slot.as_mut().unwrap();
            answer(inst).map_err(|e| {
                if e.poisons_instance() {
                    *slot = None;
                    self.metrics.instance_recycles.fetch_add(1, Relaxed);
                }
                (status_for(&e), e.to_string())
            })
        })
    }

    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Answer {
        let (parts, body) = req.into_parts();
        match (parts.method.clone(), parts.uri.path()) {
            (Method::GET, "/healthz") => {
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
            (Method::GET, "/metrics") => reply(
                StatusCode::OK,
                "text/plain; version=0.0.4",
                self.render_metrics(),
            ),
            (Method::POST, "/match") => {
                let too_big = parts
                    .headers
                    .get(hyper::header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                    .is_some_and(|n| n > self.cfg.max_body_bytes as u64);
                if too_big {
                    return error(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
                }
                let body = match Limited::new(body, self.cfg.max_body_bytes).collect().await {
                    Ok(b) => b.to_bytes(),
                    Err(e)
                        if e.downcast_ref::<http_body_util::LengthLimitError>()
                            .is_some() =>
                    {
                        return error(StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
                    }
                    Err(e) => return error(StatusCode::BAD_REQUEST, &format!("reading body: {e}")),
                };
                let query_mode = parts.uri.query().and_then(|q| {
                    q.split('&')
                        .find_map(|kv| kv.strip_prefix("mode="))
                        .map(str::to_string)
                });
                let json = parts
                    .headers
                    .get(hyper::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.starts_with("application/json"));
                self.match_request(body, query_mode, json)
            }
            (_, "/match" | "/healthz" | "/metrics") => {
                error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
            }
            _ => error(
                StatusCode::NOT_FOUND,
                "not found: try POST /match, GET /healthz, GET /metrics",
            ),
        }
    }

    fn match_request(&self, body: Bytes, query_mode: Option<String>, json: bool) -> Answer {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Batch {
            inputs: Vec<String>,
            mode: Option<String>,
        }
        let parse_mode = |m: Option<&str>| -> Result<Mode, Answer> {
            let m = m.unwrap_or("all");
            Mode::from_name(m).ok_or_else(|| {
                error(
                    StatusCode::BAD_REQUEST,
                    &format!("unknown mode {m:?} (any, all, first)"),
                )
            })
        };
        if json {
            let batch: Batch = match serde_json::from_slice(&body) {
                Ok(b) => b,
                Err(e) => return error(StatusCode::BAD_REQUEST, &format!("bad batch JSON: {e}")),
            };
            let mode = match parse_mode(batch.mode.as_deref().or(query_mode.as_deref())) {
                Ok(m) => m,
                Err(a) => return a,
            };
            let inputs: Vec<&[u8]> = batch.inputs.iter().map(|s| s.as_bytes()).collect();
            match self.run(mode, &inputs) {
                Ok(lines) => reply(
                    StatusCode::OK,
                    "application/json",
                    format!("[{}]", lines.join(",")),
                ),
                Err((code, msg)) => error(code, &msg),
            }
        } else {
            let mode = match parse_mode(query_mode.as_deref()) {
                Ok(m) => m,
                Err(a) => return a,
            };
            match self.run(mode, &[&body]) {
                Ok(mut lines) => reply(StatusCode::OK, "application/json", lines.pop().unwrap()),
                Err((code, msg)) => error(code, &msg),
            }
        }
    }

    fn render_metrics(&self) -> String {
        use std::fmt::Write;
        let m = &self.metrics;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# HELP dfabake_requests_total HTTP requests by status code."
        );
        let _ = writeln!(s, "# TYPE dfabake_requests_total counter");
        for (i, code) in CODES.iter().enumerate() {
            let label = if *code == 0 {
                "other".to_string()
            } else {
                code.to_string()
            };
            let _ = writeln!(
                s,
                "dfabake_requests_total{{code=\"{label}\"}} {}",
                m.requests[i].load(Relaxed)
            );
        }
        let _ = writeln!(
            s,
            "# HELP dfabake_request_duration_seconds Request latency."
        );
        let _ = writeln!(s, "# TYPE dfabake_request_duration_seconds histogram");
        let mut cumulative = 0;
        for (b, bound) in BUCKETS.iter().enumerate() {
            cumulative += m.latency_buckets[b].load(Relaxed);
            let _ = writeln!(
                s,
                "dfabake_request_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        let count = m.latency_count.load(Relaxed);
        let _ = writeln!(
            s,
            "dfabake_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            s,
            "dfabake_request_duration_seconds_sum {}",
            m.latency_sum_ns.load(Relaxed) as f64 / 1e9
        );
        let _ = writeln!(s, "dfabake_request_duration_seconds_count {count}");
        for (name, help, v) in [
            ("dfabake_inputs_total", "Inputs matched.", &m.inputs),
            ("dfabake_matches_total", "Matches returned.", &m.matches),
            (
                "dfabake_instances_created_total",
                "Instances created.",
                &m.instances_created,
            ),
            (
                "dfabake_instance_recycles_total",
                "Instances discarded after a trap or timeout.",
                &m.instance_recycles,
            ),
        ] {
            let _ = writeln!(
                s,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Relaxed)
            );
        }
        let _ = writeln!(s, "# HELP dfabake_reloads_total Module reloads by result.");
        let _ = writeln!(s, "# TYPE dfabake_reloads_total counter");
        let _ = writeln!(
            s,
            "dfabake_reloads_total{{result=\"ok\"}} {}",
            m.reloads_ok.load(Relaxed)
        );
        let _ = writeln!(
            s,
            "dfabake_reloads_total{{result=\"error\"}} {}",
            m.reloads_failed.load(Relaxed)
        );
        let loaded = self.current.read().unwrap().clone();
        let info = loaded.module.info();
        let _ = writeln!(s, "# HELP dfabake_module_info The module being served.");
        let _ = writeln!(s, "# TYPE dfabake_module_info gauge");
        let _ = writeln!(
            s,
            "dfabake_module_info{{sha256=\"{}\",checksum=\"{:016x}\",rules=\"{}\",generation=\"{}\"}} 1",
            info.sha256, info.checksum, info.rules, loaded.generation
        );
        s
    }

    /// Loads, verifies and compiles the module file again; swaps it in only
    /// if all of that succeeded.
    async fn reload(self: &Arc<Self>, why: &str) {
        let me = self.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            MatcherModule::load_with_engine(&me.engine, &me.cfg.module_path, &me.cfg.host)
        })
        .await;
        match loaded {
            Ok(Ok(module)) => {
                for w in module.warnings() {
                    eprintln!("dfabake-host: warning: {w}");
                }
                let generation = self.generations.fetch_add(1, Relaxed) + 1;
                eprintln!(
                    "dfabake-host: reloaded ({why}): generation {generation}, {} rules, sha256 {}",
                    module.info().rules,
                    module.info().sha256
                );
                *self.current.write().unwrap() = Arc::new(Loaded { module, generation });
                self.metrics.reloads_ok.fetch_add(1, Relaxed);
            }
            Ok(Err(e)) => {
                eprintln!("dfabake-host: reload ({why}) refused, still serving the previous module: {e:#}");
                self.metrics.reloads_failed.fetch_add(1, Relaxed);
            }
            Err(e) => {
                eprintln!("dfabake-host: reload ({why}) failed: {e}");
                self.metrics.reloads_failed.fetch_add(1, Relaxed);
            }
        }
    }
}

fn file_stamp(path: &std::path::Path) -> Option<(SystemTime, u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len(), m.ino()))
}

/// Runs the server until SIGTERM or SIGINT.
pub fn serve(cfg: ServeConfig) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cfg.workers.max(1))
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(serve_async(cfg))
}

async fn serve_async(mut cfg: ServeConfig) -> Result<()> {
    // Room for every worker's instance, their successors during a reload,
    // and per-request instances.
    cfg.host.max_instances = cfg.host.max_instances.max((cfg.workers as u32) * 4 + 16);
    let engine = cfg.host.engine()?;
    let module = MatcherModule::load_with_engine(&engine, &cfg.module_path, &cfg.host)?;
    let info = module.info().clone();
    for w in module.warnings() {
        eprintln!("dfabake-host: warning: {w}");
    }
    let source = match module.code_source() {
        CodeSource::Cache => "native code from cache",
        CodeSource::Compiled => "compiled",
    };
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("binding {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    eprintln!(
        "dfabake-host: serving {} ({} rules, {source} in {} ms, {} workers)",
        cfg.module_path.display(),
        info.rules,
        module.load_time().as_millis(),
        cfg.workers
    );
    let shared = Arc::new(Shared {
        engine: engine.clone(),
        current: RwLock::new(Arc::new(Loaded {
            module,
            generation: 0,
        })),
        generations: AtomicU64::new(0),
        metrics: Metrics::default(),
        cfg,
    });

    let stop = Arc::new(AtomicBool::new(false));
    if shared.cfg.host.call_timeout.is_some() {
        let (engine, stop) = (engine.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        });
    }
    {
        let shared = shared.clone();
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .context("installing the SIGHUP handler")?;
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                shared.reload("SIGHUP").await;
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
                    shared.reload("module file replaced").await;
                }
            }
        });
    }

    // Printed last, once everything is ready: tests and scripts wait for it.
    println!("listening on http://{addr}");
    use std::io::Write;
    let _ = std::io::stdout().flush();

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        };
        let (stream, _) = match accepted {
            Ok(a) => a,
            Err(e) => {
                eprintln!("dfabake-host: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let service = hyper::service::service_fn(move |req| {
            let shared = shared.clone();
            async move {
                let t = Instant::now();
                let answer = shared.clone().handle(req).await;
                shared.metrics.observe(answer.status(), t.elapsed());
                Ok::<_, Infallible>(answer)
            }
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
    eprintln!("dfabake-host: shutting down, letting requests in flight finish");
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(Duration::from_secs(10)) => {
            eprintln!("dfabake-host: some connections did not finish within 10 s");
        }
    }
    stop.store(true, Relaxed);
    Ok(())
}
