//! `dfabake-host`: run a baked dfabake matcher module in wasmtime.

use std::io::{BufRead, BufWriter, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::builder::{BoolishValueParser, TypedValueParser};
use clap::error::ContextKind;
use clap::parser::ValueSource;
use clap::{ArgAction, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use dfabake_host::server::{self, serve, EventSink, ServeConfig, ServeEvent};
use dfabake_host::{write_result_line, CodeSource, HostConfig, MatcherModule};
use dfabake_matcher::size::parse_size_usize;
use dfabake_matcher::Mode;

#[derive(Parser)]
#[command(
    name = "dfabake-host",
    version,
    about = "Run a baked dfabake matcher module in wasmtime",
    after_help = "Every flag of serve and compile, and match's --module, --expect-sha256 and cache \
flags, can also be set by an environment variable DFABAKE_<FLAG> (--max-body-bytes: \
DFABAKE_MAX_BODY_BYTES; on/off flags take true/false, 1/0, yes/no, on/off); a flag on the \
command line wins. Each subcommand's --help names its variables."
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

/// The engine settings every subcommand shares. `interruptible` makes the
/// compiled code the same whatever `serve --timeout-ms` is, so `compile`,
/// `match` and `serve` read and write one cache entry.
fn host_config(cache: &CacheArgs, expect_sha256: Option<String>) -> HostConfig {
    HostConfig {
        cache_dir: cache.dir(),
        interruptible: true,
        expect_sha256,
        ..HostConfig::default()
    }
}

fn print_warnings(module: &MatcherModule) {
    for w in module.warnings() {
        eprintln!("dfabake-host: warning: {w}");
    }
}

/// The server's events as operators and scripts read them: the address on
/// stdout once it is ready (scripts wait for that line), everything else on
/// stderr.
fn print_serve_event(event: &ServeEvent) {
    match event {
        ServeEvent::Listening { .. } => {
            // A closed stdout (nobody waiting) is no reason not to serve.
            let _ = print_stdout(&event.to_string());
        }
        _ => eprintln!("dfabake-host: {event}"),
    }
}

fn parse_sha256(s: &str) -> Result<String, String> {
    if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(s.to_ascii_lowercase())
    } else {
        Err("want a SHA-256 as 64 hex digits".into())
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
        /// Refuse the module unless its file's SHA-256 is this (64 hex digits).
        #[arg(long, value_name = "HEX", value_parser = parse_sha256)]
        expect_sha256: Option<String>,
        /// Say on stderr where the native code came from, and how long loading took.
        #[arg(long, short)]
        verbose: bool,
        #[command(flatten)]
        cache: CacheArgs,
        /// Inputs to match (any bytes); `-` (or none) reads one input a line from stdin.
        inputs: Vec<std::ffi::OsString>,
    },
    /// Serve matches over HTTP: POST /match[?mode=any|all|first] (mode all unless given), GET
    /// /healthz, /readyz, /metrics.
    ///
    /// POST /match: a raw body is one input, answered {"input": ..., "matches": [...]}; with
    /// Content-Type application/json, {"inputs": [...], "mode": ...} is a batch answered with
    /// a JSON array. The mode is the batch's "mode", else the query's mode=, else all.
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
        /// Largest request body (bytes, or 512k, 1M...; larger: 413).
        #[arg(long, value_name = "SIZE", default_value_t = 1 << 20, value_parser = parse_size_usize)]
        max_body_bytes: usize,
        /// Time bound of one request, in milliseconds, from the end of its body to its
        /// answer: waiting for a worker and every input of a batch (over: 503); 0 = none.
        #[arg(long, default_value_t = 1000)]
        timeout_ms: u64,
        /// Most inputs in one JSON batch (more: 413).
        #[arg(long, default_value_t = server::DEFAULT_MAX_BATCH_INPUTS)]
        max_batch_inputs: usize,
        /// Largest response body (bytes, or 16M...; over: 413, found while producing it).
        #[arg(long, value_name = "SIZE", default_value_t = server::DEFAULT_MAX_RESPONSE_BYTES, value_parser = parse_size_usize)]
        max_response_bytes: usize,
        /// Most bytes of answers over 64 KiB, all connections together, produced and not yet
        /// taken by their clients (slow or not reading); an answer beyond it gets 503, unless
        /// it is the only one pending.
        #[arg(long, value_name = "SIZE", default_value_t = server::DEFAULT_MAX_PENDING_RESPONSE_BYTES, value_parser = parse_size_usize)]
        max_pending_response_bytes: usize,
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
        /// Largest linear memory of one instance (bytes, or 256M, 1GiB...).
        #[arg(long, value_name = "SIZE", default_value_t = 1 << 30, value_parser = parse_size_usize)]
        memory_limit_bytes: usize,
        /// Benchmark baseline: instantiate a fresh instance for every request.
        #[arg(long)]
        instance_per_request: bool,
        /// Log one line per request (time, peer, method, path, status, body bytes, duration
        /// in microseconds) to FILE (appended), or to stderr with `-` [default: no log].
        #[arg(long, value_name = "FILE|-")]
        access_log: Option<PathBuf>,
        /// Refuse the module unless its file's SHA-256 is this (64 hex digits),
        /// at start and on every reload (a mismatching reload is refused).
        #[arg(long, value_name = "HEX", value_parser = parse_sha256)]
        expect_sha256: Option<String>,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Compile a module into the native-code cache, so the next start skips Cranelift.
    Compile {
        /// The baked module.
        #[arg(long, value_name = "FILE")]
        module: PathBuf,
        /// Refuse the module unless its file's SHA-256 is this (64 hex digits).
        #[arg(long, value_name = "HEX", value_parser = parse_sha256)]
        expect_sha256: Option<String>,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Print a shell completion script, e.g. `dfabake-host completions zsh > ~/.zfunc/_dfabake-host`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Whether a write failed because the reader went away (`| head`): the
/// rest of the output is not wanted, which is no error.
fn reader_gone(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Writes `text` and a newline to stdout.
fn print_stdout(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .context("writing to stdout")
}

struct MatchArgs {
    module: PathBuf,
    mode: Mode,
    expect_sha256: Option<String>,
    verbose: bool,
    cache: CacheArgs,
    inputs: Vec<std::ffi::OsString>,
}

fn run_match(args: MatchArgs) -> Result<()> {
    let MatchArgs {
        module: path,
        mode,
        expect_sha256,
        verbose,
        cache,
        inputs,
    } = args;
    let module = MatcherModule::load(&path, &host_config(&cache, expect_sha256))?;
    print_warnings(&module);
    if verbose {
        let source = match module.code_source() {
            CodeSource::Cache => "native code from cache",
            CodeSource::Compiled => "compiled",
        };
        eprintln!(
            "dfabake-host: {}: {} rules, {source} in {} ms",
            path.display(),
            module.info().rules,
            module.load_time().as_millis()
        );
    }
    let mut instance = module.instantiate()?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut answer = |input: &[u8], out: &mut BufWriter<_>| -> Result<()> {
        let matches = instance.match_json_bytes(mode, input)?;
        write_result_line(&mut *out, input, matches)
            .and_then(|()| out.write_all(b"\n"))
            .context("writing to stdout")
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
            // Arguments are bytes, like lines of stdin: not necessarily UTF-8.
            answer(
                std::os::unix::ffi::OsStrExt::as_bytes(input.as_os_str()),
                &mut out,
            )?;
        }
    }
    out.flush().context("writing to stdout")
}

/// Flags that shape one invocation's output rather than a deployment: no
/// environment variable, so a variable left in a shell cannot change it.
const NOT_FROM_ENV: &[(&str, &str)] = &[("match", "mode"), ("match", "verbose")];

/// Gives every flag of the subcommands (but those in `NOT_FROM_ENV`) the
/// environment variable `DFABAKE_<FLAG>`. Done here, not on each flag, so
/// that a flag added later gets its variable too.
fn with_env_vars(cli: clap::Command) -> clap::Command {
    cli.mut_subcommands(|sub| {
        let name = sub.get_name().to_string();
        sub.mut_args(|arg| {
            let id = arg.get_id().as_str().to_string();
            if arg.is_positional() || NOT_FROM_ENV.contains(&(name.as_str(), id.as_str())) {
                return arg;
            }
            let arg = arg.env(format!("DFABAKE_{}", id.to_ascii_uppercase()));
            if matches!(arg.get_action(), ArgAction::SetTrue) {
                arg.value_parser(BoolishValueParser::new())
            } else {
                arg
            }
        })
    })
}

/// Parses the command line and the `DFABAKE_*` variables. A flag on the
/// command line wins over a variable, also over one of a flag it excludes
/// (`--cache-dir` with `DFABAKE_NO_CACHE=1` set): clap would call that a
/// conflict, so a first parse without conflicts finds where each value came
/// from and such variables are dropped before the real parse.
fn parse_cli() -> Cli {
    // An empty variable (`DFABAKE_WORKERS=` in an env file) counts as unset,
    // as it does for most tools, rather than as an invalid empty value.
    for (var, value) in std::env::vars_os() {
        if value.is_empty() && var.to_string_lossy().starts_with("DFABAKE_") {
            // Still single-threaded: no one else reads the environment.
            std::env::remove_var(var);
        }
    }
    let cli = with_env_vars(Cli::command());
    // An on/off flag turned off by its variable (`DFABAKE_NO_CACHE=false`)
    // is not given; clap would still count it against the flags it excludes.
    for sub in cli.get_subcommands() {
        for arg in sub.get_arguments() {
            let (Some(var), ArgAction::SetTrue) = (arg.get_env(), arg.get_action()) else {
                continue;
            };
            let Some(value) = std::env::var_os(var) else {
                continue;
            };
            let off = BoolishValueParser::new()
                .parse_ref(sub, Some(arg), &value)
                .is_ok_and(|on| !on);
            if off {
                // Still single-threaded: no one else reads the environment.
                std::env::remove_var(var);
            }
        }
    }
    let loose = cli.clone().mut_subcommands(|sub| {
        sub.mut_args(|a| a.conflicts_with(clap::builder::Resettable::Reset))
    });
    if let Ok(m) = loose.try_get_matches_from(std::env::args_os()) {
        if let Some((name, sub_m)) = m.subcommand() {
            let sub = cli.find_subcommand(name).expect("parsed subcommand");
            let from = |a: &clap::Arg| sub_m.value_source(a.get_id().as_str());
            for arg in sub.get_arguments() {
                for other in sub.get_arg_conflicts_with(arg) {
                    for (flag, var) in [(arg, other), (other, arg)] {
                        if from(flag) == Some(ValueSource::CommandLine)
                            && from(var) == Some(ValueSource::EnvVariable)
                        {
                            // Still single-threaded: no one else reads the environment.
                            std::env::remove_var(var.get_env().expect("from a variable"));
                        }
                    }
                }
            }
        }
    }
    // Built again: clap reads the variables when they are declared.
    let cli = with_env_vars(Cli::command());
    match cli
        .clone()
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m))
    {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            if let Some(var) = blamed_variable(&cli, &e) {
                eprintln!("(the value came from the environment variable {var})");
            }
            std::process::exit(e.exit_code())
        }
    }
}

/// The variable that gave the value clap refused, if it came from one:
/// clap's message names only the flag.
fn blamed_variable(cli: &clap::Command, e: &clap::Error) -> Option<String> {
    let Some(clap::error::ContextValue::String(shown)) = e.get(ContextKind::InvalidArg) else {
        return None;
    };
    let long = shown.strip_prefix("--")?.split([' ', '=']).next()?;
    let given_as_flag = std::env::args().any(|a| {
        a.strip_prefix("--")
            .is_some_and(|f| f == long || f.starts_with(&format!("{long}=")))
    });
    if given_as_flag {
        return None;
    }
    let args: Vec<String> = std::env::args().collect();
    let sub = cli.find_subcommand(args.get(1)?)?;
    let var = sub
        .get_arguments()
        .find(|a| a.get_long() == Some(long))?
        .get_env()?;
    std::env::var_os(var).map(|_| var.to_string_lossy().into_owned())
}

fn main() -> ExitCode {
    let cli = parse_cli();
    let result = match cli.command {
        Command::Match {
            module,
            mode,
            expect_sha256,
            verbose,
            cache,
            inputs,
        } => run_match(MatchArgs {
            module,
            mode: mode.into(),
            expect_sha256,
            verbose,
            cache,
            inputs,
        }),
        Command::Serve {
            module,
            listen,
            workers,
            watch,
            max_body_bytes,
            timeout_ms,
            max_batch_inputs,
            max_response_bytes,
            max_pending_response_bytes,
            header_timeout_ms,
            body_timeout_ms,
            max_connections,
            shutdown_grace_ms,
            memory_limit_bytes,
            instance_per_request,
            access_log,
            expect_sha256,
            cache,
        } => serve(ServeConfig {
            module_path: module,
            listen,
            workers: workers
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
            host: HostConfig {
                pooling: true,
                memory_limit: memory_limit_bytes,
                call_timeout: (timeout_ms > 0).then(|| Duration::from_millis(timeout_ms)),
                ..host_config(&cache, expect_sha256)
            },
            max_body_bytes,
            max_batch_inputs,
            max_response_bytes,
            max_pending_response_bytes,
            header_timeout: (header_timeout_ms > 0)
                .then(|| Duration::from_millis(header_timeout_ms)),
            body_timeout: (body_timeout_ms > 0).then(|| Duration::from_millis(body_timeout_ms)),
            max_connections: max_connections as usize,
            shutdown_grace: Duration::from_millis(shutdown_grace_ms),
            watch,
            instance_per_request,
            access_log: access_log.map(|p| {
                if p.as_os_str() == "-" {
                    server::AccessLogTarget::Stderr
                } else {
                    server::AccessLogTarget::File(p)
                }
            }),
            events: EventSink::new(print_serve_event),
        }),
        Command::Compile {
            module,
            expect_sha256,
            cache,
        } => (|| {
            let config = host_config(&cache, expect_sha256);
            let dir = config
                .cache_dir
                .clone()
                .context("no cache directory (set --cache-dir or HOME)")?;
            let m = MatcherModule::load(&module, &config)?;
            print_warnings(&m);
            if m.cache_entry().is_none() {
                anyhow::bail!(
                    "{} compiled but not cached: the cache is not usable (see the warning)",
                    module.display()
                );
            }
            let what = match m.code_source() {
                CodeSource::Cache => "already cached",
                CodeSource::Compiled => "compiled and cached",
            };
            print_stdout(&format!(
                "{}: {what} in {} ({} ms)",
                module.display(),
                dir.display(),
                m.load_time().as_millis()
            ))
        })(),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "dfabake-host", &mut script);
            print_stdout(String::from_utf8_lossy(&script).trim_end())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if reader_gone(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dfabake-host: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
