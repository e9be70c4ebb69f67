//! `OUT/manifest.json`: what a build wrote and how, as one typed record.
//!
//! The JSON is a contract (README, "Build"): keys are added, never renamed.
//! It is written with its keys sorted at every level (as it always has been),
//! whatever the order of the fields below.
//!
//! ```no_run
//! let text = std::fs::read_to_string("out/manifest.json").unwrap();
//! let manifest: dfabake::manifest::Manifest = serde_json::from_str(&text).unwrap();
//! println!("{} rules, module of {} bytes", manifest.rules, manifest.module.bytes);
//! ```

use serde::{Deserialize, Serialize};

use crate::compile::{Config, ShardReport};
use crate::error::RowError;
use crate::rules::RuleId;

/// The manifest of one build.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`crate::output::GENERATOR`]: how a later build recognises
    /// a directory it may replace.
    pub generator: String,
    /// The database format version ([`dfabake_matcher::format::VERSION`]).
    pub format_version: u32,
    /// The module's ABI version ([`dfabake_matcher::abi_contract::ABI_VERSION`]).
    pub abi_version: u32,
    /// Where the rules came from.
    pub source: String,
    /// Rules baked.
    pub rules: usize,
    /// Rules left out (`--on-invalid skip`), with why.
    pub skipped: Vec<RowError>,
    /// One entry per shard, in database order.
    pub shards: Vec<ShardReport>,
    /// Ids of the rules answered by an approximate DFA and exact confirmation.
    pub approximate_rules: Vec<RuleId>,
    /// Which path each rule takes at match time.
    pub rule_paths: RulePathsEntry,
    /// The baked database.
    pub database: DatabaseEntry,
    /// `OUT/matcher.wasm`.
    pub module: ModuleEntry,
    /// The template the module was baked from.
    pub template: TemplateEntry,
    /// When and how the build ran.
    pub build: BuildEntry,
    /// Versions of the tools that made the module.
    pub tools: Tools,
    /// The npm package in `OUT/npm/`, if one was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub npm: Option<NpmEntry>,
    /// Every file the build wrote in `OUT`, `manifest.json` included.
    pub files: Vec<String>,
}

/// Which path each rule takes at match time (a decomposed rule is listed
/// under each path one of its branches takes); see
/// [`crate::compile::RulePaths`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulePathsEntry {
    /// Decided by the prefilter alone.
    pub literal: RuleIds,
    /// Own DFA, run when the prefilter finds one of the rule's literals.
    pub prefiltered: RuleIds,
    /// Of `prefiltered`: run anchored at each occurrence.
    pub anchored: RuleIds,
    /// Of `anchored`: only the rest after the literal runs.
    pub after_literal: RuleIds,
    /// In a shard that runs on every input.
    pub always: RuleIds,
    /// No usable literal, but in a shard that runs only on inputs holding
    /// one of the rule's pairs of adjacent bytes (its gate).
    #[serde(default)]
    pub gated: RuleIds,
    /// DFA built from the ASCII-widened rule.
    pub ascii_widened: RuleIds,
    /// Approximate DFA, candidates confirmed exactly.
    pub approximate: RuleIds,
    /// Split at their top-level alternation.
    pub decomposed: Decomposed,
    /// Answered by the exact engine alone.
    pub exact_only: ExactOnly,
    /// Distinct literals in the prefilter.
    pub prefilter_literals: usize,
}

/// The rules that take one path.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleIds {
    /// How many.
    pub count: usize,
    /// Their ids, in input order.
    pub ids: Vec<RuleId>,
}

/// The rules split at their top-level alternation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decomposed {
    /// How many.
    pub count: usize,
    /// Each with its number of units.
    pub rules: Vec<DecomposedRule>,
}

/// A rule split at its top-level alternation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecomposedRule {
    /// Its id.
    pub id: RuleId,
    /// Its units (branches with their own literals and DFA).
    pub units: usize,
}

/// The rules answered by their exact engine alone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExactOnly {
    /// How many rules.
    pub count: usize,
    /// Their ids, in input order.
    pub ids: Vec<RuleId>,
    /// Why, per unit (a decomposed rule may be listed more than once).
    pub why: Vec<ExactOnlyRule>,
}

/// Why a rule (or one of its units) is answered by its exact engine alone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExactOnlyRule {
    /// The rule's id.
    pub id: RuleId,
    /// Why: its DFA, even widened, was over the size limit.
    pub reason: String,
}

/// The database inside the module.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseEntry {
    /// Its size.
    pub bytes: usize,
    /// `xxh3:` and its checksum, 16 hex digits.
    pub checksum: String,
}

/// A baked module file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleEntry {
    /// Its path in `OUT`.
    pub file: String,
    /// Its size.
    pub bytes: usize,
    /// Its size gzipped ([`gzip_len`]).
    pub gzip_bytes: usize,
    /// Its SHA-256, hex.
    pub sha256: String,
}

/// The template module.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateEntry {
    /// Its size.
    pub bytes: usize,
    /// Its SHA-256, hex.
    pub sha256: String,
}

/// When and how the build ran.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BuildEntry {
    /// Start time, RFC 3339, seconds.
    pub started_at: String,
    /// Time compiling.
    pub compile_seconds: f64,
    /// Time of the whole build.
    pub total_seconds: f64,
    /// The compile options.
    pub config: Config,
}

/// Tool versions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tools {
    /// The builder's version.
    pub dfabake: String,
    /// The regex-automata version whose DFA serialization the module reads.
    #[serde(rename = "regex-automata")]
    pub regex_automata: String,
}

/// The npm package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NpmEntry {
    /// Its directory in `OUT`.
    pub dir: String,
    /// `package.json` `name`.
    pub name: String,
    /// `package.json` `version`.
    pub version: String,
    /// Its module.
    pub module: ModuleEntry,
}

impl Manifest {
    /// The manifest as written to `manifest.json`: pretty, keys sorted,
    /// ending with a newline.
    pub fn to_json(&self) -> String {
        // Through `Value`, whose maps are sorted: the order the manifest's
        // keys have always had.
        let value = serde_json::to_value(self).expect("a manifest is JSON");
        let mut text = serde_json::to_string_pretty(&value).unwrap();
        text.push('\n');
        text
    }
}

/// The size of `bytes` gzipped at the default level (6), as edge platforms
/// count a module against their limits: the size the manifest reports, and
/// BENCHMARKS.md.
///
/// Only the size is wanted: the deflate stream is counted as it comes out
/// of a small buffer, never kept, and the gzip header (10 bytes: no name,
/// comment or extra field) and trailer (CRC-32 and length, 8 bytes) are
/// counted, not computed; the CRC would change no size.
pub fn gzip_len(bytes: &[u8]) -> usize {
    use flate2::{Compress, Compression, FlushCompress, Status};
    const HEADER: usize = 10;
    const TRAILER: usize = 8;
    let mut deflate = Compress::new(Compression::default(), false);
    // zlib-rs's output depends on how much room each call has: 32 KiB per
    // call is what `flate2::write::GzEncoder` gives it, and the size
    // reported has always been that encoder's.
    let mut out = vec![0u8; 32 << 10];
    let mut input = bytes;
    loop {
        let flush = if input.is_empty() {
            FlushCompress::Finish
        } else {
            FlushCompress::None
        };
        let before = deflate.total_in();
        let status = deflate
            .compress(input, &mut out, flush)
            .expect("deflate into a buffer cannot fail");
        input = &input[(deflate.total_in() - before) as usize..];
        if status == Status::StreamEnd {
            break;
        }
    }
    HEADER + deflate.total_out() as usize + TRAILER
}

#[cfg(test)]
mod tests {
    use super::gzip_len;
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    /// The counted size is that of the real gzip file, on inputs that
    /// compress well, badly and not at all, and over several output buffers.
    #[test]
    fn gzip_len_is_the_gzip_files_size() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut noise = |n: usize| -> Vec<u8> {
            (0..n)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect()
        };
        let mut module = crate::bake::bake(crate::bake::TEMPLATE, &{
            let mut db = dfabake_matcher::format::MAGIC.to_vec();
            db.resize(3 << 20, 0);
            db
        })
        .unwrap();
        module.extend(noise(300 << 10));
        let mixed: Vec<u8> = (0..200)
            .flat_map(|i| {
                let mut chunk = noise(1000);
                chunk.extend(std::iter::repeat_n(i as u8, 5000));
                chunk
            })
            .collect();
        for input in [Vec::new(), b"x".to_vec(), noise(200 << 10), mixed, module] {
            assert_eq!(
                gzip_len(&input),
                gzip(&input).len(),
                "{} bytes",
                input.len()
            );
        }
    }
}
