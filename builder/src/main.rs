//! `dfabake`: compile regex rules into DFAs baked into a wasm matcher module.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use dfabake::build::{build, inspect, BuildOptions, Source};
use dfabake::compile::{Config, OnInvalid};
use dfabake::npm::NpmOptions;
use dfabake::rules::FileFormat;
use dfabake_matcher::format::DfaKind;

#[derive(Parser)]
#[command(name = "dfabake", version, about = "Compile regex rules once, at build time, into a wasm matcher module")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum KindArg {
    Dense,
    Sparse,
}

#[derive(Subcommand)]
enum Command {
    /// Compile rules and bake them into OUT/matcher.wasm (+ OUT/manifest.json, OUT/npm/).
    Build {
        /// Patterns file: JSON Lines ({"id", "pattern", "flags", "payload"}) or one pattern a line.
        #[arg(long, value_name = "FILE")]
        patterns: PathBuf,
        /// How to read the patterns file.
        #[arg(long, value_enum, default_value = "auto")]
        format: FileFormat,
        /// Output directory; replaced atomically, only if it is empty or a previous dfabake output.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// What to do with rules that cannot be compiled.
        #[arg(long, value_enum, default_value = "fail")]
        on_invalid: OnInvalid,
        /// DFA representation: dense is fastest, sparse is smaller.
        #[arg(long, value_enum, default_value = "dense")]
        dfa: KindArg,
        /// Most rules in one shard DFA.
        #[arg(long, default_value_t = Config::default().shard_rules)]
        shard_rules: usize,
        /// Largest DFA of one shard, in bytes; bigger shards are split.
        #[arg(long, default_value_t = Config::default().max_dfa_bytes)]
        max_dfa_bytes: usize,
        /// Largest database, in bytes.
        #[arg(long, default_value_t = Config::default().max_database_bytes)]
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
        /// Print nothing on success.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Verify a baked module and print a summary of its database as JSON.
    Inspect {
        /// A baked matcher.wasm.
        module: PathBuf,
    },
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
            format,
            out,
            on_invalid,
            dfa,
            shard_rules,
            max_dfa_bytes,
            max_database_bytes,
            threads,
            cache,
            no_cache,
            npm_name,
            npm_version,
            quiet,
        } => {
            let config = Config {
                dfa_kind: match dfa {
                    KindArg::Dense => DfaKind::Dense,
                    KindArg::Sparse => DfaKind::Sparse,
                },
                shard_rules,
                max_dfa_bytes,
                max_database_bytes,
                on_invalid,
                threads,
                cache_dir: if no_cache { None } else { cache.or_else(default_cache_dir) },
            };
            let opts = BuildOptions {
                source: Source::File(patterns),
                format,
                out,
                config,
                npm: Some(NpmOptions { name: npm_name, version: npm_version }),
            };
            build(&opts).map(|report| {
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
                        m["module"]["bytes"],
                        m["module"]["gzip_bytes"],
                        m["shards"].as_array().map_or(0, |s| s.len()),
                        m["build"]["total_seconds"].as_f64().unwrap_or(0.0),
                    );
                }
            })
        }
        Command::Inspect { module } => inspect(&module)
            .map(|summary| println!("{}", serde_json::to_string_pretty(&summary).unwrap())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dfabake: error: {e}");
            ExitCode::FAILURE
        }
    }
}
