//! `dfabake-quick`: per-input times of one baked module, for iterating on
//! the matcher (a few seconds, no baselines; `benches/scale.sh` is the
//! reference).
//!
//! ```text
//! dfabake-quick MODULE.wasm INPUTS.txt [--native-paths|--native-first|--native-engines|--native-all|--native-scan|--native-hot|--wasm-all|--native-count-first N|--native-count-all N|--wasm-count-first N|--wasm-count-all N]
//! ```
//!
//! With a third argument it only runs that loop for about 3 s (for a
//! profiler), or with `--native-paths` tells how many inputs pay the slow
//! paths (always-run and gated shards, exact confirmations), or with `--native-first` times `first` natively and lists the
//! winning rules that cost it most, or with `--native-engines` times building
//! every rule's (and shard unit's) exact engine, as a fresh process's first
//! answers do, and lists the costliest, or with `--native-hot` times the first 1, 10, 100 and all
//! inputs over and over natively.
//!
//! Prints, per input: `all`, `first` and an empty input in wasmtime (the
//! call floor), and natively `all`, `first` and the prefilter scan alone.
//! The module is compiled without epoch interruption, as a plain embedding
//! does; `DFABAKE_QUICK_INTERRUPTIBLE=1` compiles it as `dfabake-host`
//! does, with an epoch check at every loop back-edge.

use anyhow::{Context, Result};
use dfabake_benches::per_input;
use dfabake_host::MatcherModule;
use dfabake_matcher::exact::{check_program, ExactEngine};
use dfabake_matcher::format::{AlignedBytes, Database};
use dfabake_matcher::module::find_database;
use dfabake_matcher::{Matcher, Mode};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let module = std::fs::read(args.get(1).context("MODULE.wasm")?)?;
    let inputs: Vec<Vec<u8>> = std::fs::read(args.get(2).context("INPUTS.txt")?)?
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    let rounds = 9;
    if let Some(mode) = args
        .get(3)
        .filter(|m| *m != "--wasm-all" && !m.starts_with("--wasm-count-"))
    {
        // For a profiler: only the native matcher (`all`) or scan, ~3 s.
        let aligned = AlignedBytes::copy_from(find_database(&module)?);
        let db = Database::from_bytes(aligned.as_bytes())?;
        if mode == "--native-paths" {
            return slow_paths(db, &inputs);
        }
        let pf = db.prefilter().cloned().context("no prefilter")?;
        let m = Matcher::new(db);
        let mut cache = m.create_cache();
        let mut out = Vec::new();
        let mut hits = 0usize;
        if mode == "--native-first" {
            // Where `first` spends its time: the whole call, and the
            // winner's exact engine alone, with the costliest winners.
            let winners: Vec<Option<u32>> = inputs
                .iter()
                .map(|i| m.first(&mut cache, i).map(|f| f.rule))
                .collect();
            let first = per_input(rounds, &inputs, |i| {
                std::hint::black_box(m.first(&mut cache, i));
            });
            let all = per_input(rounds, &inputs, |i| m.matches_into(&mut cache, i, &mut out));
            let mut by_rule: std::collections::HashMap<u32, (f64, usize)> = Default::default();
            for (i, w) in inputs.iter().zip(&winners) {
                let Some(w) = *w else { continue };
                let t = std::time::Instant::now();
                for _ in 0..20 {
                    std::hint::black_box(m.first(&mut cache, i));
                }
                let us = t.elapsed().as_secs_f64() * 1e6 / 20.0;
                let e = by_rule.entry(w).or_default();
                e.0 += us;
                e.1 += 1;
            }
            println!(
                "native per input: first {:.3} µs, all {:.3} µs",
                first / 1e3,
                all / 1e3
            );
            let mut top: Vec<_> = by_rule.into_iter().collect();
            top.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0));
            for (rule, (us, n)) in top.iter().take(12) {
                println!(
                    "  rule {} {}: {n} inputs, {:.2} µs each, {:.3} µs per input overall",
                    rule,
                    m.database().rule(*rule as usize).id_json(),
                    us / *n as f64,
                    us / inputs.len() as f64
                );
            }
            return Ok(());
        }
        if mode == "--native-engines" {
            // Start-up: what building each exact engine costs (median of
            // `rounds` builds), decoding alone (`check_program`) beside it.
            let median = |f: &mut dyn FnMut()| {
                let mut t: Vec<f64> = (0..rounds)
                    .map(|_| {
                        let t = std::time::Instant::now();
                        f();
                        t.elapsed().as_secs_f64() * 1e6
                    })
                    .collect();
                t.sort_by(f64::total_cmp);
                t[t.len() / 2]
            };
            let db = m.database();
            let programs =
                (0..db.rule_count())
                    .map(|r| {
                        (
                            format!("rule {r} {}", db.rule(r).id_json()),
                            db.rule(r).exact_program(),
                        )
                    })
                    .chain(db.shards().iter().enumerate().filter_map(|(si, s)| {
                        Some((format!("shard {si} unit"), s.unit_program()?))
                    }));
            let mut costs = Vec::new();
            for (name, program) in programs {
                let build = median(&mut || {
                    std::hint::black_box(ExactEngine::from_program(program).unwrap());
                });
                let decode = median(&mut || {
                    check_program(std::hint::black_box(program)).unwrap();
                });
                costs.push((build, decode, program.len(), name));
            }
            let total: f64 = costs.iter().map(|c| c.0).sum();
            println!("{} engines, {:.1} µs to build them all", costs.len(), total);
            costs.sort_by(|a, b| b.0.total_cmp(&a.0));
            for (build, decode, len, name) in costs.iter().take(12) {
                println!("  {name}: {build:.1} µs ({decode:.1} µs decoding), {len} B program");
            }
            return Ok(());
        }
        if let Some(what) = mode.strip_prefix("--native-count-") {
            // For callgrind: a warm-up pass, then PASSES more (4th
            // argument); two runs with different PASSES give instructions
            // per pass without start-up.
            let passes: usize = args.get(4).map_or(Ok(1), |p| p.parse())?;
            for _ in 0..=passes {
                for i in &inputs {
                    match what {
                        "first" => {
                            std::hint::black_box(m.first(&mut cache, i));
                        }
                        _ => m.matches_into(&mut cache, i, &mut out),
                    }
                }
            }
            return Ok(());
        }
        if mode == "--native-shards" {
            // Which unanchored shards the prefilter triggers most, with the
            // literal occurrence that triggered them.
            let mut by_shard: std::collections::HashMap<u32, (usize, String)> = Default::default();
            for i in &inputs {
                let mut seen = std::collections::HashSet::new();
                pf.scan_at(i, |t, start, end| {
                    if let dfabake_matcher::prefilter::Target::Shard(s) = t {
                        if !m.database().shards()[s as usize].flags().anchored && seen.insert(s) {
                            let e = by_shard.entry(s).or_default();
                            e.0 += 1;
                            e.1 = String::from_utf8_lossy(&i[start..end]).into_owned();
                        }
                    }
                });
            }
            let mut top: Vec<_> = by_shard.into_iter().collect();
            top.sort_by_key(|(_, (n, _))| std::cmp::Reverse(*n));
            for (s, (n, lit)) in top.iter().take(25) {
                let shard = &m.database().shards()[*s as usize];
                let rule = shard.rule(0);
                println!(
                    "shard {s}: {n} inputs, {} rules, literal {lit:?}, first rule {}: {}",
                    shard.rule_count(),
                    m.database().rule(rule as usize).id_json(),
                    m.database()
                        .rule(rule as usize)
                        .pattern()
                        .chars()
                        .take(90)
                        .collect::<String>()
                );
            }
            return Ok(());
        }
        if mode == "--native-hot" {
            // The first n inputs over and over: how much of a search is
            // memory the database has to bring into cache.
            for n in [1usize, 10, 100, inputs.len()] {
                let few = &inputs[..n.min(inputs.len())];
                let reps = (200_000 / few.len()).max(1);
                let t = std::time::Instant::now();
                for _ in 0..reps {
                    for i in few {
                        m.matches_into(&mut cache, i, &mut out);
                    }
                }
                println!(
                    "{n} inputs: {:.3} µs",
                    t.elapsed().as_secs_f64() * 1e6 / (reps * few.len()) as f64
                );
            }
            return Ok(());
        }
        let t = std::time::Instant::now();
        while t.elapsed().as_secs() < 3 {
            for i in &inputs {
                match mode.as_str() {
                    "--native-scan" => pf.scan_at(i, |_, at, _| hits += at & 1),
                    _ => m.matches_into(&mut cache, i, &mut out),
                }
            }
        }
        std::hint::black_box(hits);
        return Ok(());
    }
    // As `dfabake-host` compiles it (epoch checks at every loop back-edge),
    // or as a plain embedding does (the default here).
    let loaded = if std::env::var_os("DFABAKE_QUICK_INTERRUPTIBLE").is_some() {
        let config = dfabake_host::HostConfig {
            interruptible: true,
            ..Default::default()
        };
        MatcherModule::from_bytes_with(&config.engine()?, &module, &config)?
    } else {
        MatcherModule::from_bytes(&module)?
    };
    let mut inst = loaded.instantiate()?;
    if let Some(what) = args.get(3).and_then(|m| m.strip_prefix("--wasm-count-")) {
        // As `--native-count-*`, in wasmtime.
        let mode = Mode::from_name(what).context("--wasm-count-{any,all,first}")?;
        let passes: usize = args.get(4).map_or(Ok(1), |p| p.parse())?;
        for _ in 0..=passes {
            for i in &inputs {
                inst.match_json_bytes(mode, i)?;
            }
        }
        return Ok(());
    }
    if args.get(3).map(String::as_str) == Some("--wasm-all") {
        let t = std::time::Instant::now();
        while t.elapsed().as_secs() < 3 {
            for i in &inputs {
                inst.match_json_bytes(Mode::All, i).unwrap();
            }
        }
        return Ok(());
    }
    let mut total = 0;
    for i in &inputs {
        let v: serde_json::Value = serde_json::from_str(&inst.match_json(Mode::All, i)?)?;
        total += v.as_array().context("array")?.len();
    }
    let wasm_all = per_input(rounds, &inputs, |i| {
        inst.match_json_bytes(Mode::All, i).unwrap();
    });
    let wasm_first = per_input(rounds, &inputs, |i| {
        inst.match_json_bytes(Mode::First, i).unwrap();
    });
    let empty = vec![Vec::new(); inputs.len()];
    let wasm_floor = per_input(rounds, &empty, |i| {
        inst.match_json_bytes(Mode::All, i).unwrap();
    });
    let aligned = AlignedBytes::copy_from(find_database(&module)?);
    let db = Database::from_bytes(aligned.as_bytes())?;
    let pf = db.prefilter().cloned();
    let (mut anchored, mut unanchored, mut rules, mut at_literal) =
        (0usize, 0usize, 0usize, 0usize);
    if let Some(pf) = &pf {
        for i in &inputs {
            pf.scan_at(i, |t, _, _| match t {
                dfabake_matcher::prefilter::Target::Shard(s)
                    if db.shards()[s as usize].flags().anchored =>
                {
                    anchored += 1
                }
                dfabake_matcher::prefilter::Target::Shard(_) => unanchored += 1,
                dfabake_matcher::prefilter::Target::Rule(_) => rules += 1,
                dfabake_matcher::prefilter::Target::RuleAtLiteral(_) => {
                    rules += 1;
                    at_literal += 1;
                }
            });
        }
    }
    let n = inputs.len() as f64;
    println!(
        "prefilter hits per input: {:.2} anchored shards, {:.2} unanchored shards, {:.2} literal rules ({:.2} whose matches start at their literals)",
        anchored as f64 / n,
        unanchored as f64 / n,
        rules as f64 / n,
        at_literal as f64 / n
    );
    let m = Matcher::new(db);
    let mut cache = m.create_cache();
    let mut out = Vec::new();
    let native_total: usize = inputs.iter().map(|i| m.matches(&mut cache, i).len()).sum();
    let native_all = per_input(rounds, &inputs, |i| m.matches_into(&mut cache, i, &mut out));
    let native_first = per_input(rounds, &inputs, |i| {
        std::hint::black_box(m.first(&mut cache, i));
    });
    let (lazy_states, lazy_dfas) = cache.lazy_dfa_states();
    println!("lazy DFAs after native all: {lazy_states} states in {lazy_dfas} DFAs");
    // The slow path: inputs whose `all` confirmed a candidate by an exact engine.
    let (mut paying, before) = (0usize, cache.exact_confirmations());
    for i in &inputs {
        let seen = cache.exact_confirmations();
        m.matches_into(&mut cache, i, &mut out);
        paying += usize::from(cache.exact_confirmations() > seen);
    }
    println!(
        "exact confirmations in all: {paying} of {} inputs, {:.2} per input",
        inputs.len(),
        (cache.exact_confirmations() - before) as f64 / inputs.len() as f64
    );
    let mut hits = 0usize;
    let scan = per_input(rounds, &inputs, |i| {
        if let Some(pf) = &pf {
            pf.scan_at(i, |_, at, _| hits += at & 1);
        }
    });
    println!(
        "matches {total} (native {native_total}) | wasm all {:.3} µs, first {:.3} µs, empty {:.3} µs | native all {:.3} µs, native first {:.3} µs, scan {:.3} µs",
        wasm_all / 1e3,
        wasm_first / 1e3,
        wasm_floor / 1e3,
        native_all / 1e3,
        native_first / 1e3,
        scan / 1e3
    );
    std::hint::black_box(hits);
    Ok(())
}

/// How many of `inputs` pay each slow path of `db`: its always-run shards
/// (every input), its gated shards (inputs holding one of a gate's pairs)
/// and exact confirmations (inputs where an approximate DFA's candidate, or
/// an exact-only rule, needed the exact engine), in one line.
fn slow_paths(db: Database<'_>, inputs: &[Vec<u8>]) -> Result<()> {
    let gates: Vec<(u32, Vec<dfabake_matcher::gate::Pair>)> = db
        .gates()
        .map(|g| g.shards().map(|(s, mask)| (s, g.pairs(mask))).collect())
        .unwrap_or_default();
    let always = db
        .shards()
        .iter()
        .enumerate()
        .filter(|&(i, s)| !s.flags().triggered && !gates.iter().any(|&(g, _)| g as usize == i))
        .count();
    let (mut opened, mut gated_runs, mut confirming) = (0usize, 0usize, 0usize);
    let m = Matcher::new(db);
    let mut cache = m.create_cache();
    let mut out = Vec::new();
    for hay in inputs {
        let open = gates
            .iter()
            .filter(|(_, pairs)| pairs.iter().any(|p| p.occurs_in(hay)))
            .count();
        opened += usize::from(open > 0);
        gated_runs += open;
        let before = cache.exact_confirmations();
        m.matches_into(&mut cache, hay, &mut out);
        confirming += usize::from(cache.exact_confirmations() > before);
    }
    let n = inputs.len().max(1);
    let pct = |k: usize| 100.0 * k as f64 / n as f64;
    println!(
        "always-run shards {always}; gated shards {}: {opened} of {n} inputs open a gate ({:.1} %), {:.3} gated shard runs per input; exact confirmations: {confirming} of {n} inputs ({:.1} %), {:.3} per input",
        gates.len(),
        pct(opened),
        gated_runs as f64 / n as f64,
        pct(confirming),
        cache.exact_confirmations() as f64 / n as f64,
    );
    Ok(())
}
