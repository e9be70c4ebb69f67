//! `dfabake-host`: run a baked dfabake matcher module in wasmtime.

use std::io::{BufRead, BufWriter, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use dfabake_host::server::{self, serve, ServeConfig};
use dfabake_host::{result_line, CodeSource, HostConfig, MatcherModule};
use dfabake_matcher::Mode;

#[derive(Parser)]
#[command(
    name = "dfabake-host",
    version,
    about = "Run a baked dfabake matcher module in wasmtime"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ModeArg {
    Any,
    All,
    First,
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Mode {
        match m {
            ModeArg::Any => Mode::Any,
            ModeArg::All => Mode::All,
            ModeArg::First => Mode::First,
        }
    }
}

/// Where compiled native code is cached.
#[derive(Args, Clone)]
struct CacheArgs {
    /// Native-code cache directory [default: $XDG_CACHE_HOME/dfabake or ~/.cache/dfabake].
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile with Cranelift every time; read and write no cache.
    #[arg(long, conflicts_with = "cache_dir")]
    no_cache: bool,
}

impl CacheArgs {
    fn dir(&self) -> Option<PathBuf> {
        if self.no_cache {
            return None;
        }
        self.cache_dir.clone().or_else(|| {
            let base = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
            Some(base.join("dfabake"))
        })
    }
}

#[derive(Subcommand)]
enum Command {
    /// Match inputs; prints one JSON object a line: {"input": ..., "matches": [...]}.
    Match {
        /// The baked module (DIR/matcher.wasm from `dfabake build`).
        #[arg(long, value_name = "FILE")]
        module: PathBuf,
        /// any: does any rule match; all: every matching rule; first: the
        /// highest-priority match with span and captures.
        #[arg(long, value_enum, default_value = "all")]
        mode: ModeArg,
        #[command(flatten)]
        cache: CacheArgs,
        /// Inputs to match; `-` (or none) reads one input a line from stdin.
        inputs: Vec<String>,
    },
    /// Serve matches over HTTP: POST /match, GET /healthz, GET /metrics.
    Serve {
        /// The baked module; reloaded on SIGHUP (or when replaced, with --watch).
        #[arg(long, value_name = "FILE")]
        module: PathBuf,
        /// Address to listen on (port 0 picks a free port).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Matcher threads and instances (at most this many requests match at once), and
        /// I/O threads [default: one per core].
        #[arg(long)]
        workers: Option<usize>,
        /// Reload when the module file is replaced.
        #[arg(long)]
        watch: bool,
        /// Largest request body, in bytes (larger: 413).
        #[arg(long, default_value_t = 1 << 20)]
        max_body_bytes: usize,
        /// Time bound of one request, in milliseconds, from the end of its body to its
        /// answer: waiting for a worker and every input of a batch (over: 503); 0 = none.
        #[arg(long, default_value_t = 1000)]
        timeout_ms: u64,
        /// Most inputs in one JSON batch (more: 413).
        #[arg(long, default_value_t = server::DEFAULT_MAX_BATCH_INPUTS)]
        max_batch_inputs: usize,
        /// Largest response body, in bytes (over: 413, found while producing it).
        #[arg(long, default_value_t = server::DEFAULT_MAX_RESPONSE_BYTES)]
        max_response_bytes: usize,
        /// Time a client has to send a request header, in milliseconds; also how long an
        /// idle keep-alive connection stays open; 0 = none.
        #[arg(long, default_value_t = server::DEFAULT_HEADER_TIMEOUT.as_millis() as u64)]
        header_timeout_ms: u64,
        /// Time a client has to send a request body once its header arrived, in
        /// milliseconds (over: 408, connection closed); also how long an answer's
        /// writing may stall on a client that does not read; 0 = none.
        #[arg(long, default_value_t = server::DEFAULT_BODY_TIMEOUT.as_millis() as u64)]
        body_timeout_ms: u64,
        /// Most connections open at once; more are answered 503 and closed.
        #[arg(long, default_value_t = server::DEFAULT_MAX_CONNECTIONS as u64, value_parser = clap::value_parser!(u64).range(1..))]
        max_connections: u64,
        /// On SIGTERM/SIGINT, how long open connections keep being served (each answer
        /// closing its connection) before idle ones are closed, in milliseconds.
        #[arg(long, default_value_t = server::DEFAULT_SHUTDOWN_GRACE.as_millis() as u64)]
        shutdown_grace_ms: u64,
        /// Largest linear memory of one instance, in bytes.
        #[arg(long, default_value_t = 1 << 30)]
        memory_limit_bytes: usize,
        /// Benchmark baseline: instantiate a fresh instance for every request.
        #[arg(long)]
        instance_per_request: bool,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Compile a module into the native-code cache, so the next start skips Cranelift.
    Compile {
        /// The baked module.
        #[arg(long, value_name = "FILE")]
        module: PathBuf,
        #[command(flatten)]
        cache: CacheArgs,
    },
}

fn run_match(module: PathBuf, mode: Mode, cache: CacheArgs, inputs: Vec<String>) -> Result<()> {
    let config = HostConfig {
        cache_dir: cache.dir(),
        ..HostConfig::default()
    };
    let module = MatcherModule::load(&module, &config)?;
    let mut instance = module.instantiate()?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut answer = |input: &[u8], out: &mut BufWriter<_>| -> Result<()> {
        let matches = instance.match_json(mode, input)?;
        writeln!(out, "{}", result_line(input, &matches)).context("writing to stdout")
    };
    if inputs.is_empty() || inputs.iter().any(|i| i == "-") {
        if inputs.len() > 1 {
            anyhow::bail!("`-` (stdin) cannot be combined with other inputs");
        }
        let stdin = std::io::stdin();
        let mut reader = stdin.lock();
        let mut line = Vec::new();
        loop {
            line.clear();
            if reader
                .read_until(b'\n', &mut line)
                .context("reading stdin")?
                == 0
            {
                break;
            }
            if line.last() == Some(&b'\n') {
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
            }
            answer(&line, &mut out)?;
        }
    } else {
        for input in &inputs {
            answer(input.as_bytes(), &mut out)?;
        }
    }
    out.flush().context("writing to stdout")
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Match {
            module,
            mode,
            cache,
            inputs,
        } => run_match(module, mode.into(), cache, inputs),
        Command::Serve {
            module,
            listen,
            workers,
            watch,
            max_body_bytes,
            timeout_ms,
            max_batch_inputs,
            max_response_bytes,
            header_timeout_ms,
            body_timeout_ms,
            max_connections,
            shutdown_grace_ms,
            memory_limit_bytes,
            instance_per_request,
            cache,
        } => serve(ServeConfig {
            module_path: module,
            listen,
            workers: workers
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
            host: HostConfig {
                cache_dir: cache.dir(),
                pooling: true,
                memory_limit: memory_limit_bytes,
                call_timeout: (timeout_ms > 0).then(|| Duration::from_millis(timeout_ms)),
                ..HostConfig::default()
            },
            max_body_bytes,
            max_batch_inputs,
            max_response_bytes,
            header_timeout: (header_timeout_ms > 0)
                .then(|| Duration::from_millis(header_timeout_ms)),
            body_timeout: (body_timeout_ms > 0).then(|| Duration::from_millis(body_timeout_ms)),
            max_connections: max_connections as usize,
            shutdown_grace: Duration::from_millis(shutdown_grace_ms),
            watch,
            instance_per_request,
        }),
        Command::Compile { module, cache } => (|| {
            let dir = cache
                .dir()
                .context("no cache directory (set --cache-dir or HOME)")?;
            let config = HostConfig {
                cache_dir: Some(dir.clone()),
                ..HostConfig::default()
            };
            let m = MatcherModule::load(&module, &config)?;
            let what = match m.code_source() {
                CodeSource::Cache => "already cached",
                CodeSource::Compiled => "compiled and cached",
            };
            println!(
                "{}: {what} in {} ({} ms)",
                module.display(),
                dir.display(),
                m.load_time().as_millis()
            );
            Ok(())
        })(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dfabake-host: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
