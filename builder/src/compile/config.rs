//! The build configuration.

use dfabake_matcher::format::DfaKind;
use serde::{Deserialize, Serialize};

/// What to do with rules that cannot be compiled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnInvalid {
    /// Fail the build, listing every bad rule.
    Fail,
    /// Build the other rules; the skipped ones are listed in the manifest.
    Skip,
}

/// Options for [`compile`](super::compile).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Config {
    /// Dense DFAs search fastest; sparse ones are several times smaller.
    #[serde(serialize_with = "ser_kind", deserialize_with = "de_kind")]
    pub dfa_kind: DfaKind,
    /// With [`DfaKind::Dense`]: a DFA whose dense form is bigger than this
    /// is stored sparse (`None`: always dense).
    pub sparse_above: Option<usize>,
    /// Extract required literals into a prefilter, so that only the DFAs
    /// of rules whose literals occur run (and pure-literal rules need none).
    pub prefilter: bool,
    /// Most rules in one shard DFA.
    pub shard_rules: usize,
    /// Largest DFA (and determinizer working memory) of a shard of several
    /// rules, in bytes: a shard over it is split in two.
    pub max_dfa_bytes: usize,
    /// Largest DFA of one rule, or of one branch of a rule decomposed at its
    /// top-level alternation, in bytes. Past it the DFA is built from the
    /// rule's widened form (the exact engine confirms its candidates), and
    /// past it again the rule is answered by its exact engine alone. Small,
    /// so that an attempt that would blow up is abandoned in milliseconds.
    pub max_rule_dfa_bytes: usize,
    /// Largest database, in bytes.
    pub max_database_bytes: usize,
    /// What to do with rules that cannot be compiled.
    pub on_invalid: OnInvalid,
    /// Threads compiling shards (0 = one per core).
    pub threads: usize,
    /// Content-addressed cache of compiled shards (`None`: compile everything).
    /// Written to the manifest in `~/` form when under the home directory:
    /// a manifest travels with its module, the user's home path need not.
    #[serde(serialize_with = "ser_cache_dir")]
    pub cache_dir: Option<std::path::PathBuf>,
}

/// Default of [`Config::sparse_above`]: dense DFAs up to 1 MiB. A sparse
/// DFA is 2-5x smaller and several times slower a byte; with rules split
/// into small DFAs, the few shards past 256 KiB on UA-parser lists (four
/// of 1,175 rules' shards) cost 7-16 % of `all` sparse, and 4 % more module
/// bytes (0.4 % gzipped) dense.
pub const DEFAULT_SPARSE_ABOVE: usize = 1 << 20;

fn ser_kind<S: serde::Serializer>(k: &DfaKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(k.name())
}

fn de_kind<'de, D: serde::Deserializer<'de>>(d: D) -> Result<DfaKind, D::Error> {
    let name = String::deserialize(d)?;
    dfa_kind_named(&name)
        .ok_or_else(|| serde::de::Error::custom(format!("unknown DFA kind {name:?}")))
}

pub(super) fn dfa_kind_named(name: &str) -> Option<DfaKind> {
    [DfaKind::Dense, DfaKind::Sparse, DfaKind::Exact]
        .into_iter()
        .find(|k| k.name() == name)
}

fn ser_cache_dir<S: serde::Serializer>(
    dir: &Option<std::path::PathBuf>,
    s: S,
) -> Result<S::Ok, S::Error> {
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(std::path::PathBuf::from);
    match (dir, home) {
        (None, _) => s.serialize_none(),
        (Some(dir), Some(home)) if dir.starts_with(&home) && home.parent().is_some() => {
            let rest = dir.strip_prefix(&home).unwrap();
            s.serialize_str(&format!("~/{}", rest.display()))
        }
        (Some(dir), _) => dir.serialize(s),
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            dfa_kind: DfaKind::Dense,
            sparse_above: Some(DEFAULT_SPARSE_ABOVE),
            prefilter: true,
            shard_rules: 32,
            max_dfa_bytes: 8 << 20,
            max_rule_dfa_bytes: 256 << 10,
            max_database_bytes: 512 << 20,
            on_invalid: OnInvalid::Fail,
            threads: 0,
            cache_dir: None,
        }
    }
}
