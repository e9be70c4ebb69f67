//! Chunking units into shards and building their DFAs on a pool of threads.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use dfabake_matcher::format::DfaKind;
use regex_syntax::hir::Hir;

use super::check::thread_count;
use super::dfa::{build_dfa, DfaError, DfaSource};
use super::{Config, Unit};
use crate::literals::Plan;
use crate::progress::Progress;
use crate::shard_cache::{chunk, pattern_hash, Entry, ShardCache};

pub(super) struct BuiltShard {
    pub(super) members: Vec<usize>,
    pub(super) kind: DfaKind,
    /// Shared with the other shards of this build with the same DFA, if any.
    pub(super) dfa: Arc<Vec<u8>>,
    pub(super) seconds: f64,
    pub(super) cached: bool,
    /// The DFA over-approximates (widened repeats): confirm its matches.
    pub(super) confirm: bool,
}

/// The DFA size limit of a chunk: a unit alone has its own, smaller limit,
/// and so do units sharing a common trigger ([`make_chunks`]): putting them
/// together is only worth it while their DFA stays small, and an attempt
/// that fails costs the time to build up to its limit.
fn chunk_limit(chunk: &[usize], shared_trigger: &[bool], cfg: &Config) -> usize {
    match chunk {
        [_] => cfg.max_rule_dfa_bytes,
        [first, ..] if shared_trigger[*first] => {
            (cfg.max_rule_dfa_bytes * chunk.len()).min(cfg.max_dfa_bytes)
        }
        _ => cfg.max_dfa_bytes,
    }
}

/// The chunks left to build, shared by the [`build_shards`] workers.
struct Work {
    queue: VecDeque<Vec<usize>>,
    pending: usize,
}

/// Compiles every chunk of units, splitting chunks whose DFA is over the
/// limit. Returns built shards and the units too big on their own.
pub(super) fn build_shards(
    chunks: Vec<Vec<usize>>,
    sources: &[&DfaSource],
    shared_trigger: &[bool],
    cfg: &Config,
    cache: Option<&ShardCache>,
    progress: &dyn Progress,
) -> (Vec<BuiltShard>, Vec<(usize, String)>) {
    // `pending` counts chunks queued or being built: a worker finding the
    // queue empty waits while another may still split its chunk in two.
    let pending = chunks.len();
    let work = Mutex::new(Work {
        queue: VecDeque::from(chunks),
        pending,
    });
    let changed = Condvar::new();
    let built = Mutex::new(Vec::new());
    let too_big = Mutex::new(Vec::new());
    // DFAs compiled in this build by key: many rules share the same rest
    // after their literal (`/\d`), which is compiled once.
    // A copy counts as cached when the original came from the cache.
    type Compiled = (DfaKind, Arc<Vec<u8>>, bool);
    let compiled: Mutex<std::collections::HashMap<String, Compiled>> = Mutex::default();
    std::thread::scope(|s| {
        for _ in 0..thread_count(cfg) {
            s.spawn(|| loop {
                let chunk = {
                    let mut work = work.lock().unwrap();
                    loop {
                        if let Some(chunk) = work.queue.pop_front() {
                            break chunk;
                        }
                        if work.pending == 0 {
                            return;
                        }
                        work = changed.wait(work).unwrap();
                    }
                };
                let t = Instant::now();
                let keys: Vec<&str> = chunk.iter().map(|&p| sources[p].key.as_str()).collect();
                let hirs: Vec<&Hir> = chunk.iter().map(|&p| &sources[p].hir).collect();
                let limit = chunk_limit(&chunk, shared_trigger, cfg);
                let key = ShardCache::key(&keys, cfg.dfa_kind, cfg.sparse_above, limit);
                // Where the DFA came from: compiled now, the shard cache, or
                // this build, for another shard (from the cache or not).
                #[derive(PartialEq)]
                enum From {
                    Built,
                    Cache,
                    ThisBuild(bool),
                }
                let known = compiled.lock().unwrap().get(&key).cloned();
                let result = match known {
                    Some((kind, dfa, cached)) => Ok((kind, dfa, From::ThisBuild(cached))),
                    None => match cache.and_then(|c| c.get(&key)) {
                        Some(Entry::Dfa(kind, dfa)) => Ok((kind, Arc::new(dfa), From::Cache)),
                        Some(Entry::TooBig) => Err(None),
                        None => build_dfa(&hirs, sources[chunk[0]].anchored, limit, cfg)
                            .map(|(k, d)| (k, Arc::new(d), From::Built))
                            .map_err(Some),
                    },
                };
                if let Ok((kind, dfa, from @ (From::Built | From::Cache))) = &result {
                    compiled
                        .lock()
                        .unwrap()
                        .insert(key.clone(), (*kind, Arc::clone(dfa), *from == From::Cache));
                }
                if let Some(c) = cache {
                    match &result {
                        Ok((kind, dfa, From::Built)) => {
                            c.put(&key, &Entry::Dfa(*kind, dfa.to_vec()))
                        }
                        Err(Some(DfaError::SizeLimit)) => c.put(&key, &Entry::TooBig),
                        _ => {}
                    }
                }
                let over_limit =
                    |e: &Option<DfaError>| matches!(e, None | Some(DfaError::SizeLimit));
                match result {
                    Ok((kind, dfa, from)) => {
                        let seconds = if from == From::Built {
                            t.elapsed().as_secs_f64()
                        } else {
                            0.0
                        };
                        let cached = matches!(from, From::Cache | From::ThisBuild(true));
                        built.lock().unwrap().push(BuiltShard {
                            confirm: false,
                            members: chunk,
                            kind,
                            dfa,
                            seconds,
                            cached,
                        });
                    }
                    Err(e) if chunk.len() > 1 && over_limit(&e) => {
                        let mut work = work.lock().unwrap();
                        let (a, b) = chunk.split_at(chunk.len() / 2);
                        work.queue.push_back(a.to_vec());
                        work.queue.push_back(b.to_vec());
                        work.pending += 2;
                        progress.add_total(2);
                    }
                    Err(e) => {
                        let why = if over_limit(&e) {
                            format!(
                                "its DFA alone exceeds {} bytes (--max-rule-dfa-bytes)",
                                limit
                            )
                        } else {
                            match e {
                                Some(DfaError::Other(why)) => format!("cannot build a DFA: {why}"),
                                _ => unreachable!("size limit errors are handled above"),
                            }
                        };
                        too_big.lock().unwrap().push((chunk[0], why));
                    }
                }
                {
                    let mut work = work.lock().unwrap();
                    work.pending -= 1;
                    // Wakes waiters for the halves pushed above, or to return.
                    changed.notify_all();
                }
                progress.advance(1);
            });
        }
    });
    // Threads finish in any order; the database must not depend on it.
    let mut built = built.into_inner().unwrap();
    built.sort_by(|a, b| a.members.cmp(&b.members));
    let mut too_big = too_big.into_inner().unwrap();
    too_big.sort();
    (built, too_big)
}

/// Most units in a shard of units triggered by the same common literal:
/// fewer than in a shard that runs always, since these are whole device
/// rules (`(?i)`, `[^;/]{1,100}`), whose DFAs grow fast when put together.
const SHARED_TRIGGER_RULES: usize = 8;

/// Groups units needing a DFA into chunks to compile: a prefiltered or
/// gated unit alone (its DFA runs when its literals or pairs occur), the
/// others in
/// content-defined shards of at most `shard_rules`, kept apart by how their
/// DFA behaves (Unicode word boundary, ASCII-widened), so that a shard's
/// flags hold for all its units. Units triggered by a common literal run on
/// most inputs like the others, so they share shards too, by trigger (the
/// same literals, the same kind of plan): one DFA searches for sixty device
/// rules behind `) AppleWebKit` instead of sixty.
pub(super) fn make_chunks(
    members: &[usize],
    units: &[Unit],
    sources: &[&DfaSource],
    shard_rules: usize,
) -> Vec<Vec<usize>> {
    let mut chunks = Vec::new();
    let by_pattern = |group: &[usize]| chunk(group, |u| pattern_hash(&sources[u].key), shard_rules);
    for uwb in [false, true] {
        for wide in [false, true] {
            let group: Vec<usize> = members
                .iter()
                .copied()
                .filter(|&u| {
                    let unit = &units[u];
                    unit.plan == Plan::Always
                        && unit.gate.is_none()
                        && unit.unicode_word_boundary == uwb
                        && unit.ascii_widened == wide
                })
                .collect();
            chunks.extend(by_pattern(&group));
        }
    }
    let mut shared: Vec<Vec<usize>> = Vec::new();
    for &u in members {
        let unit = &units[u];
        match unit.plan {
            Plan::Triggered(_) | Plan::Anchored(_) if unit.common_trigger => {
                let alike = |g: &&mut Vec<usize>| {
                    let first = &units[g[0]];
                    first.plan == unit.plan
                        && first.unicode_word_boundary == unit.unicode_word_boundary
                        && first.ascii_widened == unit.ascii_widened
                };
                match shared.iter_mut().find(alike) {
                    Some(group) => group.push(u),
                    None => shared.push(vec![u]),
                }
            }
            Plan::Triggered(_) | Plan::Anchored(_) | Plan::AfterLiteral(..) => chunks.push(vec![u]),
            // Gated: it runs only where its pairs occur, like a triggered
            // unit, and its gate is its own.
            Plan::Always if unit.gate.is_some() => chunks.push(vec![u]),
            Plan::Complete(_) | Plan::Always => {}
        }
    }
    for group in shared {
        chunks.extend(chunk(
            &group,
            |u| pattern_hash(&sources[u].key),
            SHARED_TRIGGER_RULES,
        ));
    }
    chunks
}
