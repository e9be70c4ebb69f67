//! `dfabake-scale`: the issue-6 figures for real-size rule sets, side by side
//! in one run (see `benches/scale.sh`, which prepares the inputs and the
//! Hyperscan figures).
//!
//! ```text
//! dfabake-scale --dfabake BIN --out FILE.md  NAME RULES.jsonl INPUTS.txt HYPERSCAN.json  [...]
//! ```
//!
//! For each set: a cold bake by the real CLI (empty shard cache: wall time
//! and peak RSS of the process), a rebake after changing one row (warm
//! cache), module size raw and gzip, wasmtime instantiate time, per-input
//! `all` and `first` of the baked module in wasmtime, next to the `regex`
//! crate compiled at start (`RegexSet::matches`; the first matching
//! `Regex::captures` in priority order) and to Hyperscan (figures read from
//! `benches/hyperscan/bench.py --json`, run in the same script). Baselines
//! that take milliseconds an input are timed on a prefix of the inputs
//! (about 20 s each).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use dfabake::compile::check_rule;
use dfabake::rules::{load_file, FileFormat};
use dfabake_benches::{gzip_len, median, per_input};
use dfabake_host::MatcherModule;
use dfabake_matcher::Mode;

/// [`per_input`] for baselines that may take milliseconds an input: the
/// inputs and rounds are cut (a prefix of the inputs, same order) so that the
/// measurement takes about 20 s at most.
fn per_input_bounded(inputs: &[Vec<u8>], mut f: impl FnMut(&[u8])) -> f64 {
    let probe = &inputs[..inputs.len().min(20)];
    let t = Instant::now();
    for i in probe {
        f(i);
    }
    let each = t.elapsed().as_secs_f64() / probe.len() as f64;
    let budget = 20.0 / each.max(1e-9);
    let rounds = ((budget / inputs.len() as f64) as usize).clamp(1, 7);
    let n = (budget as usize).clamp(probe.len(), inputs.len());
    per_input(rounds, &inputs[..n], f)
}

/// Runs a command to completion; returns its wall time and peak RSS (KiB).
fn run_measured(cmd: &mut Command) -> Result<(Duration, u64)> {
    let t = Instant::now();
    let child = cmd.spawn().with_context(|| format!("spawn {cmd:?}"))?;
    let mut status = 0;
    // SAFETY: plain FFI; `usage` is written by wait4 before it is read.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let elapsed = t.elapsed();
    if pid < 0 || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!("{cmd:?} failed (status {status})");
    }
    Ok((elapsed, usage.ru_maxrss as u64))
}

struct Figures {
    name: String,
    rules: usize,
    inputs: usize,
    bake: Duration,
    bake_rss_kib: u64,
    rebake: Duration,
    rebuilt_shards: usize,
    shards: usize,
    module_raw: usize,
    module_gzip: usize,
    paths: serde_json::Value,
    instantiate_us: f64,
    all_ns: f64,
    first_ns: f64,
    matches_total: usize,
    set_build: Duration,
    set_all_ns: f64,
    tuned_all_ns: f64,
    seq_first_ns: f64,
    regex_matches_total: usize,
    hs: serde_json::Value,
}

fn bake(
    dfabake: &Path,
    rules: &Path,
    out: &Path,
    cache: &Path,
) -> Result<(Duration, u64, serde_json::Value)> {
    let _ = std::fs::remove_dir_all(out);
    let (t, rss) = run_measured(
        Command::new(dfabake)
            .args(["build", "-q", "--patterns"])
            .arg(rules)
            .arg("--out")
            .arg(out)
            .arg("--cache")
            .arg(cache),
    )?;
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json"))?)?;
    Ok((t, rss, manifest))
}

fn bench_set(
    dfabake: &Path,
    work: &Path,
    name: &str,
    rules_path: &Path,
    inputs_path: &Path,
    hs: &Path,
) -> Result<Figures> {
    let rules = load_file(rules_path, FileFormat::Auto)?;
    let inputs: Vec<Vec<u8>> = std::fs::read(inputs_path)
        .with_context(|| inputs_path.display().to_string())?
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    let cache = work.join(format!("{name}-cache"));
    let _ = std::fs::remove_dir_all(&cache);
    let out = work.join(format!("{name}-out"));
    eprintln!("[scale] {name}: cold bake");
    let (bake_t, rss, manifest) = bake(dfabake, rules_path, &out, &cache)?;

    // Change one row in the middle (a literal appended to its pattern) and
    // rebake with the now-warm cache.
    eprintln!("[scale] {name}: rebake after changing one row");
    let text = std::fs::read_to_string(rules_path)?;
    let lines: Vec<&str> = text.lines().collect();
    let mid = lines.len() / 2;
    let mut row: serde_json::Value = serde_json::from_str(lines[mid])?;
    let changed = format!("{}Zq", row["pattern"].as_str().context("pattern")?);
    row["pattern"] = changed.into();
    let mut edited = lines.clone();
    let row_text = row.to_string();
    edited[mid] = &row_text;
    let edited_path = work.join(format!("{name}-edited.jsonl"));
    std::fs::write(&edited_path, edited.join("\n") + "\n")?;
    let (rebake_t, _, manifest2) = bake(
        dfabake,
        &edited_path,
        &work.join(format!("{name}-out2")),
        &cache,
    )?;
    let rebuilt = manifest2["shards"]
        .as_array()
        .map_or(0, |s| s.iter().filter(|s| s["cached"] == false).count());

    let module = std::fs::read(out.join("matcher.wasm"))?;
    let loaded = MatcherModule::from_bytes(&module)?;
    let inst_us = median(
        (0..50)
            .map(|_| {
                let t = Instant::now();
                drop(loaded.instantiate().unwrap());
                t.elapsed().as_secs_f64() * 1e6
            })
            .collect(),
    );
    let mut inst = loaded.instantiate()?;
    let rounds = 7;
    eprintln!("[scale] {name}: wasm per-input");
    let mut matches_total = 0;
    for i in &inputs {
        let v: serde_json::Value = serde_json::from_str(&inst.match_json(Mode::All, i)?)?;
        matches_total += v.as_array().context("`all` answers a JSON array")?.len();
    }
    let all_ns = per_input(rounds, &inputs, |i| {
        inst.match_json_bytes(Mode::All, i).unwrap();
    });
    let first_ns = per_input(rounds, &inputs, |i| {
        inst.match_json_bytes(Mode::First, i).unwrap();
    });

    eprintln!("[scale] {name}: regex crate");
    // The regex crate gets each rule's flags the way dfabake applies them.
    let effective: Vec<String> = rules
        .iter()
        .map(|r| {
            check_rule(r)
                .map(|c| c.effective)
                .map_err(|e| anyhow::anyhow!("{e}"))
        })
        .collect::<Result<_>>()?;
    // As users get it (`RegexSet::new` with its default limits, so its lazy
    // DFA thrashes on big sets) and tuned (1 GiB size limits: after warm-up
    // its lazy DFA holds every state it needs).
    let t = Instant::now();
    let set = regex::bytes::RegexSetBuilder::new(&effective)
        .size_limit(1 << 30)
        .build()?;
    let set_build = t.elapsed();
    let tuned = regex::bytes::RegexSetBuilder::new(&effective)
        .size_limit(1 << 30)
        .dfa_size_limit(1 << 30)
        .build()?;
    let each: Vec<regex::bytes::Regex> = effective
        .iter()
        .map(|p| {
            regex::bytes::RegexBuilder::new(p)
                .size_limit(1 << 30)
                .build()
        })
        .collect::<Result<_, _>>()?;
    let regex_matches_total: usize = inputs.iter().map(|i| set.matches(i).iter().count()).sum();
    let set_all_ns = per_input_bounded(&inputs, |i| {
        set.matches(i);
    });
    let tuned_all_ns = per_input(rounds, &inputs, |i| {
        tuned.matches(i);
    });
    let seq_first_ns = per_input_bounded(&inputs, |i| {
        each.iter().find_map(|r| r.captures(i));
    });
    let hs: serde_json::Value =
        serde_json::from_slice(&std::fs::read(hs).with_context(|| hs.display().to_string())?)?;
    Ok(Figures {
        name: name.to_string(),
        rules: rules.len(),
        inputs: inputs.len(),
        bake: bake_t,
        bake_rss_kib: rss,
        rebake: rebake_t,
        rebuilt_shards: rebuilt,
        shards: manifest["shards"].as_array().map_or(0, |s| s.len()),
        module_raw: module.len(),
        module_gzip: gzip_len(&module),
        paths: manifest["rule_paths"].clone(),
        instantiate_us: inst_us,
        all_ns,
        first_ns,
        matches_total,
        set_build,
        set_all_ns,
        tuned_all_ns,
        seq_first_ns,
        regex_matches_total,
        hs,
    })
}

fn report(f: &Figures) -> String {
    let us = |ns: f64| format!("{:.2} µs", ns / 1000.0);
    let mb = |b: f64| format!("{:.2} MB", b / 1e6);
    let hs = &f.hs;
    let hs_ns = |k: &str| hs[k].as_f64().unwrap_or(f64::NAN);
    let count = |k: &str| f.paths[k]["count"].as_u64().unwrap_or(0);
    let mut s = String::new();
    s += &format!("### {}: {} rules, {} inputs\n\n", f.name, f.rules, f.inputs);
    s += &format!(
        "Rule paths: {} decided by the literal prefilter alone, {} prefiltered DFAs ({} of them anchored at the literal), \
         {} in always-run shards; {} ASCII-widened, {} approximate; {} distinct literals; {} shard DFAs.\n\n",
        count("literal"), count("prefiltered"), count("anchored"), count("always"), count("ascii_widened"), count("approximate"),
        f.paths["prefilter_literals"], f.shards
    );
    s += "| | dfabake | Hyperscan 5.4 (PyPI wheel) | `regex` crate at start |\n|---|---:|---:|---:|\n";
    s += &format!(
        "| build | {:.2} s (CLI, empty cache), peak RSS {:.0} MB | {:.2} s compile | {:.3} s (`RegexSet::new`) |\n",
        f.bake.as_secs_f64(), f.bake_rss_kib as f64 / 1024.0, hs_ns("compile_seconds"), f.set_build.as_secs_f64()
    );
    s += &format!(
        "| rebuild after changing one row | {:.2} s ({} of {} shards recompiled) | {:.2} s (full) | {:.3} s (full) |\n",
        f.rebake.as_secs_f64(), f.rebuilt_shards, f.shards, hs_ns("compile_seconds"), f.set_build.as_secs_f64()
    );
    s += &format!(
        "| size raw / gzip | {} / {} (whole module) | {} / {} (database) | – |\n",
        mb(f.module_raw as f64),
        mb(f.module_gzip as f64),
        mb(hs_ns("db_bytes")),
        mb(hs_ns("db_gzip_bytes"))
    );
    s += &format!(
        "| load | instantiate {:.0} µs (wasmtime, compiled module) | {:.0} µs (`loadb` + scratch) | – |\n",
        f.instantiate_us, hs_ns("load_us")
    );
    s += &format!(
        "| per input `all` | **{}** (wasmtime, incl. call and JSON answer) | {} (incl. Python call; binding floor {}) | {} (`RegexSet::matches`, default limits); {} with 1 GiB limits, warm |\n",
        us(f.all_ns), us(hs_ns("all_ns")), us(hs_ns("floor_ns")), us(f.set_all_ns), us(f.tuned_all_ns)
    );
    s += &format!(
        "| per input `first` | {} (with span and captures) | {} (lowest id, no span) | {} (first `Regex::captures` in priority order) |\n",
        us(f.first_ns), us(hs_ns("first_ns")), us(f.seq_first_ns)
    );
    s += &format!(
        "| matches over all inputs (`all`) | {} | {} | {} |\n\n",
        f.matches_total, hs["matches_total"], f.regex_matches_total
    );
    s += &format!(
        "`all`: dfabake in wasm takes **{:.2}×** Hyperscan's measured time; it is **{:.0}×** faster than \
         `RegexSet::matches` as `RegexSet::new` builds it, {:.1}× with its limits raised.\n\n",
        f.all_ns / hs_ns("all_ns"),
        f.set_all_ns / f.all_ns,
        f.tuned_all_ns / f.all_ns
    );
    s
}

fn main() -> Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut take = |flag: &str| -> Result<PathBuf> {
        let i = args
            .iter()
            .position(|a| a == flag)
            .with_context(|| format!("{flag} required"))?;
        let v = args
            .get(i + 1)
            .cloned()
            .with_context(|| format!("{flag} needs a value"))?;
        args.drain(i..i + 2);
        Ok(PathBuf::from(v))
    };
    let dfabake = take("--dfabake")?;
    let out = take("--out")?;
    anyhow::ensure!(
        args.len().is_multiple_of(4) && !args.is_empty(),
        "usage: dfabake-scale --dfabake BIN --out FILE.md NAME RULES INPUTS HYPERSCAN.json ..."
    );
    let work = tempfile::tempdir()?;
    let mut md = String::new();
    for set in args.chunks(4) {
        let f = bench_set(
            &dfabake,
            work.path(),
            &set[0],
            Path::new(&set[1]),
            Path::new(&set[2]),
            Path::new(&set[3]),
        )?;
        let r = report(&f);
        print!("{r}");
        md += &r;
    }
    std::fs::write(&out, md)?;
    Ok(())
}
