//! `dfabake-bench`: one run, every figure side by side.
//!
//! For each rule set: bake time, module size (raw, gzip), wasmtime compile and
//! instantiate time, and per-input match time of the baked module in wasmtime
//! next to the same database searched natively and next to the `regex`
//! crate compiled at start (`RegexSet::matches` for `all`, the first matching
//! `Regex::captures` in priority order for `first`).
//!
//! Usage: `dfabake-bench NAME RULES INPUTS [NAME RULES INPUTS ...]` where RULES
//! is a dfabake patterns file or a `crawler-user-agents.json`, and INPUTS one
//! input a line or `-` for the `instances` of a crawler-user-agents file.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use dfabake::bake::{bake, TEMPLATE};
use dfabake::compile::{compile, Config};
use dfabake::rules::{load_file, FileFormat, RuleId, RuleSpec};
use dfabake_benches::{gzip_len, median, per_input};
use dfabake_host::MatcherModule;
use dfabake_matcher::format::{AlignedBytes, Database};
use dfabake_matcher::{Matcher, Mode};

fn time<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let v = f();
    (v, t.elapsed())
}

fn load(rules: &Path, inputs: &str) -> Result<(Vec<RuleSpec>, Vec<Vec<u8>>)> {
    if rules.extension().and_then(|e| e.to_str()) == Some("json") {
        let list: Vec<serde_json::Value> = serde_json::from_slice(&std::fs::read(rules)?)?;
        let specs = list
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut s =
                    RuleSpec::new(RuleId::Int(i as i64 + 1), r["pattern"].as_str().unwrap());
                s.payload = r.get("url").cloned();
                s
            })
            .collect();
        let inputs = list
            .iter()
            .flat_map(|r| r["instances"].as_array().cloned().unwrap_or_default())
            .map(|s| s.as_str().unwrap().as_bytes().to_vec())
            .collect();
        return Ok((specs, inputs));
    }
    let specs = load_file(rules, FileFormat::Auto)?;
    let text = std::fs::read(inputs).with_context(|| inputs.to_string())?;
    let inputs = text
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    Ok((specs, inputs))
}

fn bench_set(name: &str, rules: &[RuleSpec], inputs: &[Vec<u8>]) -> Result<()> {
    let cfg = Config::default();
    let mut bake_times = Vec::new();
    let mut module = Vec::new();
    let mut shards = 0;
    for _ in 0..3 {
        let ((compiled, baked), t) = time(|| {
            let c = compile(rules, &cfg, name).expect("compile");
            let m = bake(TEMPLATE, &c.database).expect("bake");
            (c, m)
        });
        bake_times.push(t.as_secs_f64());
        shards = compiled.shards.len();
        module = baked;
    }
    let compile_wasm: Vec<f64> = (0..3)
        .map(|_| {
            time(|| MatcherModule::from_bytes(&module).unwrap())
                .1
                .as_secs_f64()
        })
        .collect();
    let loaded = MatcherModule::from_bytes(&module)?;
    let inst_times: Vec<f64> = (0..200)
        .map(|_| time(|| loaded.instantiate().unwrap()).1.as_secs_f64() * 1e6)
        .collect();
    let mut inst = loaded.instantiate()?;

    let db_bytes = dfabake_matcher::module::find_database(&module)?;
    let aligned = AlignedBytes::copy_from(db_bytes);
    let native = Matcher::new(Database::from_bytes(aligned.as_bytes())?);

    let patterns: Vec<String> = rules.iter().map(|r| r.pattern.clone()).collect();
    let (set, set_build) = time(|| {
        regex::bytes::RegexSetBuilder::new(&patterns)
            .size_limit(1 << 30)
            .build()
            .unwrap()
    });
    let (each, each_build) = time(|| {
        patterns
            .iter()
            .map(|p| regex::bytes::Regex::new(p).unwrap())
            .collect::<Vec<_>>()
    });

    let rounds = 7;
    // `first` on a cold instance pays for building each winning rule's exact
    // engine once; later passes reuse them.
    let mut cold = loaded.instantiate()?;
    let (_, first_cold) = time(|| {
        for i in inputs {
            cold.match_json(Mode::First, i).unwrap();
        }
    });
    let first_cold = first_cold.as_nanos() as f64 / inputs.len() as f64;
    let mut cache = native.create_cache();
    let mut row = |mode: Mode| -> (f64, f64) {
        let wasm = per_input(rounds, inputs, |i| {
            inst.match_json_bytes(mode, i).unwrap();
        });
        let nat = match mode {
            Mode::Any => per_input(rounds, inputs, |i| {
                native.is_match(&mut cache, i);
            }),
            Mode::All => {
                let mut out = Vec::new();
                per_input(rounds, inputs, |i| {
                    native.matches_into(&mut cache, i, &mut out)
                })
            }
            Mode::First => per_input(rounds, inputs, |i| {
                native.first(&mut cache, i);
            }),
        };
        (wasm, nat)
    };
    let (any_w, any_n) = row(Mode::Any);
    let (all_w, all_n) = row(Mode::All);
    let (first_w, first_n) = row(Mode::First);
    let set_all = per_input(rounds, inputs, |i| {
        set.matches(i);
    });
    let set_any = per_input(rounds, inputs, |i| {
        set.is_match(i);
    });
    let seq_first = per_input(3, inputs, |i| {
        each.iter().find_map(|r| r.captures(i));
    });

    let us = |ns: f64| format!("{:.2} µs", ns / 1000.0);
    println!(
        "### {name}: {} rules, {} inputs\n",
        rules.len(),
        inputs.len()
    );
    println!("| measure | value |\n|---|---|");
    println!(
        "| bake (compile + bake, median of 3) | {:.3} s |",
        median(bake_times)
    );
    println!("| shards | {shards} |");
    println!(
        "| module raw / gzip | {} / {} bytes |",
        module.len(),
        gzip_len(&module)
    );
    println!(
        "| wasmtime compile (Cranelift, median of 3) | {:.3} s |",
        median(compile_wasm)
    );
    println!(
        "| instantiate + init (median of 200) | {:.1} µs |",
        median(inst_times)
    );
    println!(
        "| `regex::bytes::RegexSet::new` at start | {:.3} s |",
        set_build.as_secs_f64()
    );
    println!(
        "| `regex::bytes::Regex::new` × {} at start | {:.3} s |",
        rules.len(),
        each_build.as_secs_f64()
    );
    println!();
    println!("| per input (median of {rounds} passes) | wasm (wasmtime) | native, same DFAs | regex crate | wasm / regex |");
    println!("|---|---|---|---|---|");
    println!(
        "| any | {} | {} | {} (`RegexSet::is_match`) | {:.2}× |",
        us(any_w),
        us(any_n),
        us(set_any),
        any_w / set_any
    );
    println!(
        "| all | {} | {} | {} (`RegexSet::matches`) | {:.2}× |",
        us(all_w),
        us(all_n),
        us(set_all),
        all_w / set_all
    );
    println!(
        "| first (warm) | {} | {} | {} (first `Regex::captures` in order) | {:.2}× |",
        us(first_w),
        us(first_n),
        us(seq_first),
        first_w / seq_first
    );
    println!(
        "| first (cold instance: builds each winner's exact engine once) | {} | | | |",
        us(first_cold)
    );
    println!();
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(
        args.len().is_multiple_of(3) && !args.is_empty(),
        "usage: dfabake-bench NAME RULES INPUTS ..."
    );
    for chunk in args.chunks(3) {
        let (rules, inputs) = load(Path::new(&chunk[1]), &chunk[2])?;
        bench_set(&chunk[0], &rules, &inputs)?;
    }
    Ok(())
}
