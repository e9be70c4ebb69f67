//! What a build reports: its shards and rule paths, for the manifest.

use std::time::Duration;

use dfabake_matcher::format::ShardFlags;
use serde::Serialize;

use super::config::dfa_kind_named;
use crate::error::RowError;
use crate::manifest::{
    Decomposed, DecomposedRule, ExactOnly, ExactOnlyRule, RuleIds, RulePathsEntry,
};
use crate::rules::{RuleId, RuleSpec};

/// One compiled shard, as the manifest describes it.
#[derive(Clone, Debug)]
pub struct ShardReport {
    /// Rules in the shard.
    pub rules: usize,
    /// `dense`, `sparse` or `exact` ([`DfaKind::name`](dfabake_matcher::format::DfaKind::name)).
    pub kind: &'static str,
    /// Serialized DFA size.
    pub bytes: usize,
    /// Time to build this shard (0 when it came from the cache).
    pub build_seconds: f64,
    /// Whether the DFA came from the shard cache.
    pub cached: bool,
    /// How the shard runs, as its database record says; each flag is a key
    /// of its own in the manifest, named as in the format
    /// ([`ShardFlags::NAMES`]), but for [`UNREPORTED_FLAGS`].
    pub flags: ShardFlags,
    /// For an approximate shard: where its DFA is exact after all, so that
    /// its candidates need no confirmation ([`crate::relax::run_bounds`]);
    /// in the manifest as `run_bounds`, when there are any.
    pub run_bounds: Vec<RunBound>,
    /// For a gated shard: its pairs of bytes ([`crate::relax::pair_text`]),
    /// one of which an input must hold for the shard to run; in the
    /// manifest as `gate`, when there are any.
    pub gate: Vec<String>,
}

/// A widened repetition of an approximate shard: on an input with no run
/// of `bytes` longer than `longest_run`, it changes nothing.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct RunBound {
    /// The bytes its class reads, as a byte class (`(?-u:[0-9])`).
    pub bytes: String,
    /// The repetition's maximum.
    pub longest_run: u32,
}

/// Shard flags the manifest does not list (`at_start` follows from the
/// rule's pattern, `^` before its literal).
pub const UNREPORTED_FLAGS: &[&str] = &["at_start"];

impl Serialize for ShardReport {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("rules", &self.rules)?;
        m.serialize_entry("kind", self.kind)?;
        m.serialize_entry("bytes", &self.bytes)?;
        m.serialize_entry("build_seconds", &self.build_seconds)?;
        m.serialize_entry("cached", &self.cached)?;
        for (name, on) in self
            .flags
            .named()
            .filter(|(name, _)| !UNREPORTED_FLAGS.contains(name))
        {
            m.serialize_entry(name, &on)?;
        }
        if !self.run_bounds.is_empty() {
            m.serialize_entry("run_bounds", &self.run_bounds)?;
        }
        if !self.gate.is_empty() {
            m.serialize_entry("gate", &self.gate)?;
        }
        m.end()
    }
}

impl<'de> serde::Deserialize<'de> for ShardReport {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let map = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
        let field = |key: &str| {
            map.get(key)
                .ok_or_else(|| D::Error::custom(format!("shard entry without {key}")))
        };
        let number = |key: &str| {
            field(key)?
                .as_u64()
                .ok_or_else(|| D::Error::custom(format!("shard {key} is not a count")))
        };
        let flag =
            |key: &str| Ok::<_, D::Error>(map.get(key).and_then(|v| v.as_bool()).unwrap_or(false));
        let kind = field("kind")?.as_str().unwrap_or_default();
        let kind = dfa_kind_named(kind)
            .ok_or_else(|| D::Error::custom(format!("unknown shard kind {kind:?}")))?;
        let mut bits = 0;
        for (bit, name) in ShardFlags::NAMES.iter().enumerate() {
            bits |= u32::from(flag(name)?) << bit;
        }
        Ok(ShardReport {
            rules: number("rules")? as usize,
            kind: kind.name(),
            bytes: number("bytes")? as usize,
            build_seconds: field("build_seconds")?.as_f64().unwrap_or_default(),
            cached: flag("cached")?,
            flags: ShardFlags::from_bits(bits).map_err(D::Error::custom)?,
            run_bounds: match map.get("run_bounds") {
                Some(v) => serde_json::from_value(v.clone()).map_err(D::Error::custom)?,
                None => Vec::new(),
            },
            gate: match map.get("gate") {
                Some(v) => serde_json::from_value(v.clone()).map_err(D::Error::custom)?,
                None => Vec::new(),
            },
        })
    }
}

/// Which path each rule takes at match time (input positions of the rules,
/// ascending). A decomposed rule is listed under each path one of its
/// branches takes.
#[derive(Clone, Debug, Default)]
pub struct RulePaths {
    /// Split at their top-level alternation into branches, each with its own
    /// literals and DFA; with how many units each got.
    pub decomposed: Vec<(usize, usize)>,
    /// Answered by the exact engine alone (when the prefilter finds one of
    /// the unit's literals, or on every input without one), and why: even
    /// its widened DFA was over `--max-rule-dfa-bytes`.
    pub exact_only: Vec<(usize, String)>,
    /// Decided by the prefilter alone: the rule is a set of literals.
    pub literal: Vec<usize>,
    /// Own DFA, run when the prefilter finds one of the rule's literals.
    pub prefiltered: Vec<usize>,
    /// Of `prefiltered`: every match starts with one of the rule's
    /// literals, so the DFA runs anchored at each occurrence.
    pub anchored: Vec<usize>,
    /// Of `anchored`: the rule is one of its literals followed by a rest,
    /// and only the rest's DFA runs, where the occurrence ends.
    pub after_literal: Vec<usize>,
    /// In a shard that runs on every input (no usable literal).
    pub always: Vec<usize>,
    /// No usable literal, but a gate: in a shard that runs only on inputs
    /// holding one of the rule's pairs of bytes.
    pub gated: Vec<usize>,
    /// DFA built from the ASCII-widened rule (exact on ASCII input).
    pub ascii_widened: Vec<usize>,
}

/// What [`compile`](super::compile) produced.
#[derive(Debug)]
pub struct Compiled {
    /// The database bytes, ready to bake.
    pub database: Vec<u8>,
    /// Rules in the database.
    pub rule_count: usize,
    /// Input positions of the rules in the database, in database order.
    pub kept: Vec<usize>,
    /// Input positions of the rules on the approximate-DFA + confirm path.
    pub approximate: Vec<usize>,
    /// Rules left out under [`OnInvalid::Skip`](super::OnInvalid::Skip).
    pub skipped: Vec<RowError>,
    /// One entry per shard, in database order.
    pub shards: Vec<ShardReport>,
    /// Which path each kept rule takes.
    pub paths: RulePaths,
    /// Distinct literals in the prefilter.
    pub prefilter_literals: usize,
    /// Wall time of the whole compile.
    pub elapsed: Duration,
    /// What went wrong without failing the build (an unusable shard
    /// cache), for the caller to show.
    pub warnings: Vec<String>,
}

impl Compiled {
    /// Ids of the rules answered by an approximate DFA plus exact
    /// confirmation (rules whose own DFA was over the size limit).
    pub fn approximate_ids(&self, rules: &[RuleSpec]) -> Vec<RuleId> {
        ids(&self.approximate, rules)
    }

    /// The manifest's `rule_paths`: for each match-time path, how many
    /// rules take it and their ids.
    pub fn rule_paths(&self, rules: &[RuleSpec]) -> RulePathsEntry {
        let p = &self.paths;
        let entry = |v: &[usize]| RuleIds {
            count: v.len(),
            ids: ids(v, rules),
        };
        let exact_only: Vec<usize> = p
            .exact_only
            .iter()
            .map(|(i, _)| *i)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        RulePathsEntry {
            literal: entry(&p.literal),
            prefiltered: entry(&p.prefiltered),
            anchored: entry(&p.anchored),
            after_literal: entry(&p.after_literal),
            always: entry(&p.always),
            gated: entry(&p.gated),
            ascii_widened: entry(&p.ascii_widened),
            approximate: entry(&self.approximate),
            decomposed: Decomposed {
                count: p.decomposed.len(),
                rules: p
                    .decomposed
                    .iter()
                    .map(|&(i, units)| DecomposedRule {
                        id: rules[i].id.clone(),
                        units,
                    })
                    .collect(),
            },
            exact_only: ExactOnly {
                count: exact_only.len(),
                ids: ids(&exact_only, rules),
                why: p
                    .exact_only
                    .iter()
                    .map(|(i, why)| ExactOnlyRule {
                        id: rules[*i].id.clone(),
                        reason: why.clone(),
                    })
                    .collect(),
            },
            prefilter_literals: self.prefilter_literals,
        }
    }
}

fn ids(inputs: &[usize], rules: &[RuleSpec]) -> Vec<RuleId> {
    inputs.iter().map(|&i| rules[i].id.clone()).collect()
}
