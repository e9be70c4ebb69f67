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
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(missing_docs)]

extern crate alloc;

pub mod abi_contract;
pub mod exact;
pub mod format;
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

pub use format::{Database, FormatError};
pub use matcher::{Cache, FirstMatch, Matcher, Mode};

/// Version of the regex-automata crate whose DFA serialization this build
/// reads; databases are only portable between builds that agree on it.
pub const REGEX_AUTOMATA_VERSION: &str = "0.4.19";
