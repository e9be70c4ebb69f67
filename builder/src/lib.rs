//! dfabake's builder: rules → checked patterns → shard DFAs → a database
//! baked into the prebuilt matcher module, written atomically with a manifest.
//!
//! The `dfabake` binary is a thin command line over [`build()`]: read the
//! rules from a [`Source`] ([`source`], [`rules`], and with the cargo feature
//! `mysql`, on by default, `mysql`) and translate them from their
//! [`Dialect`] ([`dialect`]), check and compile them
//! ([`compile()`]), bake the database into the template module ([`bake`]) and
//! write the output directory ([`output`], [`manifest`], [`npm`]). The types
//! a caller of [`build()`] or [`compile()`] needs are re-exported here.
//!
//! # Example
//!
//! Rules held in memory, baked into `OUT/matcher.wasm` with its
//! `manifest.json`, and the module's database searched natively:
//!
//! ```
//! use dfabake::{build, BuildOptions, RuleId, RuleSpec, Source};
//! use dfabake_matcher::{find_database, AlignedBytes, Database, Matcher};
//!
//! let rules = vec![
//!     RuleSpec::new(RuleId::Int(1), "(?i)googlebot"),
//!     RuleSpec::new(RuleId::Str("curl".into()), r"^curl/\d"),
//! ];
//! let dir = tempfile::tempdir()?;
//! let mut opts = BuildOptions::new(Source::Rules { name: "example".into(), rules }, dir.path().join("out"));
//! opts.npm = None; // no OUT/npm/ package
//! let report = build(&opts)?;
//! assert_eq!(report.rule_count, 2);
//! assert_eq!(report.manifest.rules, 2);
//!
//! // Any wasm host runs the module (dfabake-host, the npm package); its
//! // database also reads natively.
//! let wasm = std::fs::read(&report.module_path)?;
//! let db = AlignedBytes::copy_from(find_database(&wasm)?);
//! let matcher = Matcher::new(Database::from_bytes(db.as_bytes())?);
//! let mut cache = matcher.create_cache();
//! assert_eq!(matcher.matches(&mut cache, b"curl/8.5 (GoogleBot)"), vec![0, 1]);
//! assert!(matcher.matches(&mut cache, b"Mozilla/5.0 curl/8.5").is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]
// `RowError` is returned by value on purpose: a bad rule is collected with
// the others (`Vec<Result<RuleSpec, RowError>>`) and reported together, and
// the success values it sits beside are as large; boxing it would only add
// an allocation per error and a `Box` to every signature.
#![allow(clippy::result_large_err)]

pub mod bake;
pub mod build;
pub mod compile;
pub mod dialect;
pub mod error;
pub mod literals;
pub mod manifest;
#[cfg(feature = "mysql")]
pub mod mysql;
pub mod npm;
pub mod output;
pub mod progress;
pub mod relax;
pub mod rules;
pub mod shard_cache;
pub mod source;

pub use build::{build, BuildOptions, BuildReport};
pub use compile::{compile, Compiled, Config, OnInvalid};
pub use dialect::Dialect;
pub use error::{BuildError, RowError};
pub use manifest::Manifest;
pub use rules::{RuleId, RuleSpec};
pub use source::Source;
