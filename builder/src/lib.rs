//! dfabake's builder: rules → checked patterns → shard DFAs → a database
//! baked into the prebuilt matcher module, written atomically with a manifest.
//!
//! The `dfabake` binary is a thin command line over [`build::build`].
//!
//! ```no_run
//! use dfabake::build::{build, BuildOptions, Source};
//! use std::path::PathBuf;
//!
//! let opts = BuildOptions::new(Source::File(PathBuf::from("rules.jsonl")), PathBuf::from("out"));
//! let report = build(&opts).unwrap();
//! println!("{} rules baked into {}", report.rule_count, report.module_path.display());
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
pub mod mysql;
pub mod npm;
pub mod output;
pub mod progress;
pub mod relax;
pub mod rules;
pub mod shard_cache;

pub use error::{BuildError, RowError};
