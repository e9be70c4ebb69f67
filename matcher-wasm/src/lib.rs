//! The dfabake matcher: the database format and the search code over it.
//!
//! This crate is compiled twice from one source. As a native library it is
//! what the builder uses to write and verify databases and what hosts use to
//! verify a module before instantiating it. Compiled to `wasm32-unknown-unknown`
//! with the `abi` feature it is the *template module*: the builder bakes a
//! database into its data segment, and at instantiation the matcher reads its
//! DFAs in place from its own linear memory, with nothing to compile.
//!
//! The path a database takes:
//!
//! 1. [`format::DatabaseWriter`] lays out rules and serialized DFAs;
//! 2. the builder bakes the bytes into the module ([`module`] tells where);
//! 3. [`format::Database::from_bytes`] verifies them once per module;
//! 4. [`format::Database::from_bytes_unchecked`] reads them per instance;
//! 5. [`Matcher`] answers `any`, `all` and `first` ([`Mode`]), with the
//!    rules' exact engines ([`exact`]: NFAs compiled by the builder, run by a
//!    Pike VM) for spans, captures and confirmations;
//!    [`json::write_matches`] renders the answer every flavour returns.
//!
//! The types a host needs to read a baked module and search it are
//! re-exported here; writing databases ([`format::DatabaseWriter`]),
//! checking module layouts (`layout`) and the wasm ABI ([`abi_contract`])
//! stay in their modules.
//!
//! # Example
//!
//! Steps 1, 3 and 5 by hand, for two rules in one dense DFA (the builder
//! makes such DFAs with regex-automata and bakes the bytes into a module;
//! a host gets them back with [`find_database`]):
//!
//! ```
//! # #[cfg(feature = "build")] {
//! use dfabake_matcher::format::{DatabaseWriter, DfaKind, RuleEntry, ShardFlags};
//! use dfabake_matcher::{exact, AlignedBytes, Database, Matcher};
//! use regex_automata::dfa::{dense, StartKind};
//! use regex_automata::MatchKind;
//!
//! let patterns = ["Googlebot", r"curl/[0-9]+"];
//! // A shard's DFA reports every rule that matches (`MatchKind::All`),
//! // anywhere in the input (unanchored).
//! let dfa = dense::Builder::new()
//!     .configure(dense::Config::new().match_kind(MatchKind::All).start_kind(StartKind::Unanchored))
//!     .build_many(&patterns)?;
//! let mut dfa_bytes = vec![0; dfa.write_to_len()];
//! dfa.write_to_little_endian(&mut dfa_bytes)?;
//!
//! let mut writer = DatabaseWriter::new();
//! for (i, pattern) in patterns.iter().enumerate() {
//!     let program = exact::compile(pattern)?;
//!     let id = (i + 1).to_string();
//!     writer.push_rule(RuleEntry { id_json: &id, payload_json: None, pattern, exact: &program });
//! }
//! writer.push_shard(DfaKind::Dense, ShardFlags::default(), dfa_bytes, vec![0, 1]);
//! // Databases are read in place and need an 8-aligned start.
//! let bytes = AlignedBytes::copy_from(&writer.finish());
//!
//! // Verified once (checksum, structure, every DFA), then searched; the
//! // matcher is shared, the cache is per thread.
//! let matcher = Matcher::new(Database::from_bytes(bytes.as_bytes())?);
//! let mut cache = matcher.create_cache();
//! assert_eq!(matcher.matches(&mut cache, b"curl/8.5 (Googlebot)"), vec![0, 1]);
//! let first = matcher.first(&mut cache, b"UA: curl/8.5").unwrap();
//! assert_eq!((first.rule, first.start, first.end), (1, 4, 10));
//! assert!(!matcher.is_match(&mut cache, b"Mozilla/5.0"));
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(missing_docs)]

extern crate alloc;

pub mod abi_contract;
pub mod exact;
pub mod format;
pub mod gate;
pub mod json;
#[cfg(feature = "layout")]
pub mod layout;
mod lazy;
mod matcher;
pub mod module;
pub mod prefilter;
// Native only: for the CLIs; kept out of the template modules' code.
#[cfg(not(target_arch = "wasm32"))]
pub mod size;
mod unroll;
pub mod wire;

#[cfg(all(feature = "abi", target_arch = "wasm32"))]
pub mod abi;
#[cfg(all(feature = "bindgen", target_arch = "wasm32"))]
pub mod bindgen;
#[cfg(all(any(feature = "abi", feature = "bindgen"), target_arch = "wasm32"))]
mod locator;
#[cfg(all(any(feature = "abi", feature = "bindgen"), target_arch = "wasm32"))]
mod wasm_alloc;

#[cfg(all(any(feature = "abi", feature = "bindgen"), target_arch = "wasm32"))]
#[global_allocator]
static ALLOCATOR: wasm_alloc::Allocator = wasm_alloc::Allocator::new();

pub use format::{AlignedBytes, Database, FormatError};
pub use matcher::{Cache, FirstMatch, Matcher, Mode, LAZY_DFA_BUDGET};
pub use module::find_database;

/// Version of the regex-automata crate whose DFA serialization this build
/// reads; databases are only portable between builds that agree on it.
pub const REGEX_AUTOMATA_VERSION: &str = "0.4.19";
