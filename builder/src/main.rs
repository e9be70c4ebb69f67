//! `dfabake`: compile regex rules into DFAs baked into a wasm matcher module.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};
use dfabake::build::{build_with, inspect, BuildOptions, Source};
use dfabake::compile::{Config, OnInvalid};
use dfabake::dialect::Dialect;
#[cfg(feature = "mysql")]
use dfabake::mysql::{MysqlSource, SslMode};
use dfabake::npm::NpmOptions;
use dfabake::progress::Progress;
use dfabake::rules::FileFormat;
use dfabake_matcher::format::DfaKind;
use dfabake_matcher::size::parse_size_usize;

#[derive(Parser)]
#[command(
    name = "dfabake",
    version,
    about = "Compile regex rules once, at build time, into a wasm matcher module"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// A library enum as the command line spells it: clap's derive lives in the
/// binary, not on the library's types.
/// Attributes after `=>` go on the `From` impl (a `cfg` for a library type
/// that only some builds have).
macro_rules! cli_enum {
    ($(#[$m:meta])* $arg:ident => $(#[$im:meta])* $lib:ty { $($(#[$vm:meta])* $v:ident),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
        enum $arg {
            $($(#[$vm])* $v),+
        }

        $(#[$im])*
        impl From<$arg> for $lib {
            fn from(arg: $arg) -> $lib {
                match arg {
                    $($arg::$v => <$lib>::$v),+
                }
            }
        }
    };
}

cli_enum! {
    /// `--dialect`.
    DialectArg => Dialect {
        /// The `regex` crate's syntax; flags `i`, `m`, `s`, `x`.
        Regex,
        /// MySQL/MariaDB `REGEXP` and `LIKE`; flags `c`, `i`, `m`, `n`, `u`.
        Mysql,
    }
}

cli_enum! {
    /// `--ssl-mode`.
    SslModeArg => #[cfg(feature = "mysql")] SslMode {
        /// Plain TCP (or what the URL's own `require_ssl`/`verify_ca` options say).
        Disabled,
        /// TLS, without checking the server's certificate.
        Required,
        /// TLS; the certificate must chain to a trusted root (`--ssl-ca` or the
        /// built-in web roots), any host name.
        VerifyCa,
        /// TLS; the certificate must chain to a trusted root and name the host.
        VerifyIdentity,
    }
}

cli_enum! {
    /// `--format`.
    FormatArg => FileFormat {
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
}

cli_enum! {
    /// `--on-invalid`.
    OnInvalidArg => OnInvalid {
        /// Fail the build, listing every bad rule.
        Fail,
        /// Build the other rules; the skipped ones are listed in the manifest.
        Skip,
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum KindArg {
    /// Dense, unless the dense DFA is bigger than --sparse-above.
    Auto,
    /// Always dense: fastest search, largest.
    Dense,
    /// Always sparse: several times smaller, slower.
    Sparse,
}

// Parsed once per run and matched right away: boxing `Build`'s many flags
// would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Compile rules and bake them into OUT/matcher.wasm (+ OUT/manifest.json, OUT/npm/).
    Build {
        /// Patterns file: JSON Lines ({"id", "pattern", "flags", "payload"}), a JSON array of
        /// such objects, or one pattern a line (see --format).
        #[arg(
            long,
            value_name = "FILE",
            required_unless_present = "mysql",
            conflicts_with = "mysql"
        )]
        patterns: Option<PathBuf>,
        /// Read rules from MySQL/MariaDB: mysql://user@host:3306/db (the password may be in the
        /// URL; better, put it in the MYSQL_PWD environment variable, which keeps it out of the
        /// process list).
        #[arg(long, value_name = "URL")]
        mysql: Option<String>,
        /// With --mysql: read this table (`name` or `db.name`); columns id, pattern and optional
        /// flags, kind, payload, enabled, priority.
        #[arg(long, value_name = "NAME", requires = "mysql", conflicts_with = "query", required_unless_present_any = ["query", "patterns"])]
        table: Option<String>,
        /// With --mysql: read the rows of this query (same columns as --table).
        #[arg(long, value_name = "SQL", requires = "mysql")]
        query: Option<String>,
        /// Pattern dialect: regex (the regex crate; flags imsx) or mysql (MySQL/MariaDB REGEXP
        /// and LIKE; flags c, i, m, n, u; case-insensitive by default). Default: mysql for
        /// --mysql, regex for --patterns.
        #[arg(long, value_enum)]
        dialect: Option<DialectArg>,
        /// With --mysql: TLS mode.
        #[arg(long, value_enum, default_value = "disabled", requires = "mysql")]
        ssl_mode: SslModeArg,
        /// With --mysql: PEM file of CA certificates to trust (with --ssl-mode verify-ca or
        /// verify-identity).
        #[arg(long, value_name = "FILE", requires = "mysql")]
        ssl_ca: Option<PathBuf>,
        /// With --mysql: seconds allowed for connecting and for each network read and write; a
        /// server that stops answering fails the build.
        #[arg(
            long,
            value_name = "SECONDS",
            default_value_t = MYSQL_TIMEOUT_SECS,
            value_parser = clap::value_parser!(u64).range(1..),
            requires = "mysql"
        )]
        mysql_timeout: u64,
        /// How to read the patterns file.
        #[arg(long, value_enum, default_value = "auto")]
        format: FormatArg,
        /// Output directory; replaced atomically, only if it is empty or a previous dfabake output
        /// holding nothing but what dfabake wrote.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Replace DIR even if it holds files dfabake did not write (they are deleted).
        #[arg(long)]
        force: bool,
        /// What to do with rules that cannot be compiled.
        #[arg(long, value_enum, default_value = "fail")]
        on_invalid: OnInvalidArg,
        /// DFA representation: dense is fastest, sparse is smaller; auto picks per DFA by size.
        #[arg(long, value_enum, default_value = "auto")]
        dfa: KindArg,
        /// With --dfa auto: a DFA bigger than this (bytes, or 256k, 1M...) when dense is stored sparse.
        #[arg(long, value_name = "SIZE", default_value_t = dfabake::compile::DEFAULT_SPARSE_ABOVE, value_parser = parse_size_usize)]
        sparse_above: usize,
        /// Run every DFA on every input: no literal prefilter (for comparison).
        #[arg(long)]
        no_prefilter: bool,
        /// Most rules in one shard DFA.
        #[arg(long, default_value_t = Config::default().shard_rules)]
        shard_rules: usize,
        /// Largest DFA of a shard of several rules (bytes, or 8M, 1GiB...); bigger shards are split.
        #[arg(long, value_name = "SIZE", default_value_t = Config::default().max_dfa_bytes, value_parser = parse_size_usize)]
        max_dfa_bytes: usize,
        /// Largest DFA of one rule or branch, in bytes; past it the DFA is
        /// built from the widened rule (exact confirmation), and past that
        /// the rule is answered by its exact engine alone.
        #[arg(long, value_name = "SIZE", default_value_t = Config::default().max_rule_dfa_bytes, value_parser = parse_size_usize)]
        max_rule_dfa_bytes: usize,
        /// Largest database (bytes, or 512M, 1GiB...).
        #[arg(long, value_name = "SIZE", default_value_t = Config::default().max_database_bytes, value_parser = parse_size_usize)]
        max_database_bytes: usize,
        /// Compile threads (0 = one per core).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// Cache of compiled shards: a rebuild recompiles only shards whose rules changed
        /// [default: $XDG_CACHE_HOME/dfabake/shards or ~/.cache/dfabake/shards].
        #[arg(long, value_name = "DIR")]
        cache: Option<PathBuf>,
        /// Compile every shard; read and write no shard cache.
        #[arg(long, conflicts_with = "cache")]
        no_cache: bool,
        /// `name` of the npm package written to OUT/npm/.
        #[arg(long, value_name = "NAME", default_value = "dfabake-rules")]
        npm_name: String,
        /// `version` of the npm package written to OUT/npm/.
        #[arg(long, value_name = "SEMVER", default_value = "0.1.0")]
        npm_version: String,
        /// `license` of the npm package: an SPDX expression (MIT, "Apache-2.0 OR MIT") or UNLICENSED.
        #[arg(long, value_name = "SPDX")]
        npm_license: Option<String>,
        /// `repository` of the npm package: a URL, or owner/repo, github:owner/repo, gitlab:owner/repo.
        #[arg(long, value_name = "URL")]
        npm_repository: Option<String>,
        /// `keywords` of the npm package, comma-separated.
        #[arg(long, value_name = "WORDS", value_delimiter = ',')]
        npm_keywords: Vec<String>,
        /// Also carry the module inside the npm package's JS (base64, +33%), so
        /// that bundlers (esbuild, webpack, Vite) need no .wasm loader or copy.
        #[arg(long)]
        npm_inline_wasm: bool,
        /// Print nothing on success.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Verify a baked module and print a summary of its database as JSON.
    Inspect {
        /// A baked matcher.wasm.
        module: PathBuf,
    },
    /// Print a shell completion script, e.g. `dfabake completions bash > /etc/bash_completion.d/dfabake`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// `--mysql-timeout`'s default. The MySQL flags exist in every build, so
/// that one without the `mysql` feature refuses them saying why (clap would
/// only call them unknown) and `--help` is the same in both.
#[cfg(feature = "mysql")]
const MYSQL_TIMEOUT_SECS: u64 = dfabake::mysql::DEFAULT_TIMEOUT.as_secs();
#[cfg(not(feature = "mysql"))]
const MYSQL_TIMEOUT_SECS: u64 = 30;

/// A build's progress on stderr: a bar for steps of known size, a spinner
/// otherwise. Hidden (drawing nothing) unless stderr is a terminal.
struct Bar {
    bar: indicatif::ProgressBar,
    /// The current step has no known size, but counts (rows read).
    counting: Mutex<bool>,
}

impl Bar {
    fn new(wanted: bool) -> Bar {
        let bar = if wanted && std::io::stderr().is_terminal() {
            indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr())
        } else {
            indicatif::ProgressBar::hidden()
        };
        Bar {
            bar,
            counting: Mutex::new(false),
        }
    }

    fn style(&self, template: &str) {
        if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
            self.bar.set_style(style.progress_chars("=> "));
        }
    }

    /// Clears the bar, so that what is printed next starts on a clean line.
    fn clear(&self) {
        self.bar.finish_and_clear();
    }
}

impl Progress for Bar {
    fn step(&self, name: &str, total: Option<u64>) {
        *self.counting.lock().unwrap() = false;
        // The steady tick may draw between any two of these: style, then
        // counts from zero, then the new name, so that no frame shows a
        // count past its total (`compiling DFAs 7/5`, the previous step's).
        match total {
            Some(_) => {
                self.style("{msg} [{bar:30}] {human_pos}/{human_len} [{elapsed}, ~{eta} left]")
            }
            None => self.style("{spinner} {msg} [{elapsed}]"),
        }
        self.bar.set_position(0);
        self.bar.set_length(total.unwrap_or(0));
        self.bar.set_message(name.to_string());
        // Ticking from the first step on keeps the elapsed time (and the
        // spinner of a step that reports no counts) moving.
        self.bar.enable_steady_tick(Duration::from_millis(100));
    }

    fn add_total(&self, more: u64) {
        self.bar.inc_length(more);
    }

    fn advance(&self, done: u64) {
        if self.bar.length() == Some(0) {
            let mut counting = self.counting.lock().unwrap();
            if !*counting {
                *counting = true;
                self.style("{spinner} {msg}: {human_pos} [{elapsed}]");
            }
        }
        self.bar.inc(done);
    }
}

/// `$XDG_CACHE_HOME/dfabake/shards`, else `~/.cache/dfabake/shards`.
fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("dfabake").join("shards"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Build {
            patterns,
            mysql,
            table,
            query,
            dialect,
            ssl_mode,
            ssl_ca,
            mysql_timeout,
            format,
            out,
            force,
            on_invalid,
            dfa,
            sparse_above,
            no_prefilter,
            shard_rules,
            max_dfa_bytes,
            max_rule_dfa_bytes,
            max_database_bytes,
            threads,
            cache,
            no_cache,
            npm_name,
            npm_version,
            npm_license,
            npm_repository,
            npm_keywords,
            npm_inline_wasm,
            quiet,
        } => {
            let format = FileFormat::from(format);
            let on_invalid = OnInvalid::from(on_invalid);
            let config = Config {
                dfa_kind: match dfa {
                    KindArg::Auto | KindArg::Dense => DfaKind::Dense,
                    KindArg::Sparse => DfaKind::Sparse,
                },
                sparse_above: matches!(dfa, KindArg::Auto).then_some(sparse_above),
                prefilter: !no_prefilter,
                shard_rules,
                max_dfa_bytes,
                max_rule_dfa_bytes,
                max_database_bytes,
                on_invalid,
                threads,
                cache_dir: if no_cache {
                    None
                } else {
                    cache.or_else(default_cache_dir)
                },
            };
            let source = match (patterns, mysql) {
                #[cfg(feature = "mysql")]
                (_, Some(url)) => Source::Mysql(MysqlSource {
                    url,
                    table,
                    query,
                    ssl_mode: SslMode::from(ssl_mode),
                    ssl_ca,
                    timeout: std::time::Duration::from_secs(mysql_timeout),
                }),
                #[cfg(not(feature = "mysql"))]
                (_, Some(_)) => {
                    let _ = (table, query, ssl_mode, ssl_ca, mysql_timeout);
                    eprintln!("dfabake: error: {}", dfabake::dialect::WITHOUT_MYSQL);
                    return ExitCode::FAILURE;
                }
                (Some(p), None) => Source::File(p),
                (None, None) => unreachable!("clap requires --patterns or --mysql"),
            };
            let opts = BuildOptions {
                dialect: dialect.map_or(source.default_dialect(), Dialect::from),
                source,
                format,
                out,
                config,
                npm: Some(NpmOptions {
                    name: npm_name,
                    version: npm_version,
                    license: npm_license,
                    repository: npm_repository,
                    keywords: npm_keywords,
                    inline_wasm: npm_inline_wasm,
                }),
                force,
            };
            let bar = Bar::new(!quiet);
            let result = build_with(&opts, &bar);
            bar.clear();
            result.map(|report| {
                for warning in &report.warnings {
                    eprintln!("dfabake: warning: {warning}");
                }
                if !quiet {
                    for row in &report.skipped {
                        eprintln!("skipped: {row}");
                    }
                    let m = &report.manifest;
                    eprintln!(
                        "baked {} rules ({} skipped) into {}: {} bytes, {} gzip, {} shards, {:.2} s",
                        report.rule_count,
                        report.skipped.len(),
                        report.module_path.display(),
                        m.module.bytes,
                        m.module.gzip_bytes,
                        m.shards.len(),
                        m.build.total_seconds,
                    );
                    if report.cwd_replaced {
                        let dir = report.module_path.parent().unwrap_or(&report.module_path);
                        eprintln!(
                            "note: the current directory was the output directory and is now the \
                             removed old one: `cd .` (or cd {}) to see the new output",
                            dir.display()
                        );
                    }
                }
            })
        }
        Command::Inspect { module } => inspect(&module).and_then(|summary| {
            print_stdout(&serde_json::to_string_pretty(&summary).unwrap()).map_err(|source| {
                dfabake::BuildError::Io {
                    path: "standard output".into(),
                    source,
                }
            })
        }),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "dfabake", &mut script);
            print_stdout(String::from_utf8_lossy(&script).trim_end()).map_err(|source| {
                dfabake::BuildError::Io {
                    path: "standard output".into(),
                    source,
                }
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dfabake: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Writes `text` and a newline to stdout. A reader that stopped reading
/// (`dfabake inspect … | head`) is not an error: the rest is not wanted.
fn print_stdout(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}
