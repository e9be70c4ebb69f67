//! `regex-baseline`: what a server that compiles its rules with the `regex`
//! crate at start pays per input, on the same rules and inputs as a baked
//! module (issue 11's baseline beside dfabake and Hyperscan).
//!
//! ```text
//! regex-baseline RULES INPUTS [--json OUT]
//! ```
//!
//! RULES is a dfabake patterns file (flags inline: `RuleSpec::inline_pattern`), INPUTS
//! one input a line. `all` is `RegexSet::matches`; `first` is what a UA
//! parser built on the crate does: `RegexSet::matches`, then
//! `Regex::captures` of the highest-priority rule that matched. Prints the
//! compile time and the per-input medians; with `--json`, also writes them
//! as `{"compile_ms", "all_ns", "first_ns", "matches"}`.

use std::time::Instant;

use anyhow::{Context, Result};
use dfabake::rules::{load_file, FileFormat};
use dfabake_benches::per_input;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let rules = load_file(args.get(1).context("RULES")?.as_ref(), FileFormat::Auto)?;
    let inputs: Vec<Vec<u8>> = std::fs::read(args.get(2).context("INPUTS")?)?
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    let json_out = match args.get(3).map(String::as_str) {
        Some("--json") => Some(args.get(4).context("--json OUT")?),
        Some(other) => anyhow::bail!("unknown argument {other}"),
        None => None,
    };
    let patterns: Vec<String> = rules.iter().map(|r| r.inline_pattern()).collect();
    let started = Instant::now();
    // Limits raised as a server with these rules would raise them: the
    // default lazy DFA cache (2 MiB) thrashes on a thousand patterns and
    // falls back to the Pike VM.
    let set = regex::bytes::RegexSetBuilder::new(&patterns)
        .size_limit(1 << 30)
        .dfa_size_limit(1 << 30)
        .build()
        .context("RegexSet")?;
    let each = patterns
        .iter()
        .map(|p| {
            regex::bytes::RegexBuilder::new(p)
                .size_limit(1 << 30)
                .dfa_size_limit(1 << 30)
                .build()
        })
        .collect::<Result<Vec<_>, _>>()
        .context("Regex")?;
    let compile_ms = started.elapsed().as_secs_f64() * 1e3;
    let matches: usize = inputs.iter().map(|i| set.matches(i).iter().count()).sum();
    let rounds = 3;
    let all_ns = per_input(rounds, &inputs, |i| {
        std::hint::black_box(set.matches(i));
    });
    let first_ns = per_input(rounds, &inputs, |i| {
        let winner = set.matches(i).iter().next();
        std::hint::black_box(winner.and_then(|r| each[r].captures(i)));
    });
    println!(
        "regex crate: compile {compile_ms:.1} ms | all {:.3} µs, first {:.3} µs | matches {matches}",
        all_ns / 1e3,
        first_ns / 1e3
    );
    if let Some(out) = json_out {
        let json = serde_json::json!({
            "compile_ms": compile_ms,
            "all_ns": all_ns,
            "first_ns": first_ns,
            "matches": matches,
        });
        std::fs::write(out, json.to_string()).with_context(|| out.to_string())?;
    }
    Ok(())
}
