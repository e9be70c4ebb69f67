//! `dfabake-host`: run a baked dfabake matcher module in wasmtime.

use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use dfabake_host::{result_line, MatcherModule};
use dfabake_matcher::Mode;

#[derive(Parser)]
#[command(name = "dfabake-host", version, about = "Run a baked dfabake matcher module in wasmtime")]
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
        /// Inputs to match; `-` (or none) reads one input a line from stdin.
        inputs: Vec<String>,
    },
}

fn run_match(module: PathBuf, mode: Mode, inputs: Vec<String>) -> Result<()> {
    let module = MatcherModule::load(&module)?;
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
            if reader.read_until(b'\n', &mut line).context("reading stdin")? == 0 {
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
        Command::Match { module, mode, inputs } => run_match(module, mode.into(), inputs),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dfabake-host: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
