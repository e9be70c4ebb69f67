//! The plain ABI's contract, compiled for every target: what the matcher
//! module exports (`abi.rs`, wasm only) and what every host (the
//! wasmtime host, the builder's manifest, tests) expects of it.
//!
//! A host calls, in this order:
//!
//! 1. [`export::ABI_VERSION`]`() -> u32`, which must be [`ABI_VERSION`];
//! 2. optionally [`export::VERIFY`]`() -> i32`, once per module, if it did
//!    not verify the database natively (checksum, every DFA and every exact
//!    program: O(size));
//! 3. [`export::INIT`]`() -> i32`, once per instance: reads the database in
//!    place, unchecked, in O(rules + shards);
//! 4. per input: [`export::INPUT`]`(len) -> ptr`, copy `len` input bytes to
//!    `ptr`, then [`export::MATCH`]`(mode, len) -> i32` with mode 0 = any,
//!    1 = all, 2 = first ([`crate::Mode`]). The JSON array of matches is
//!    then at [`export::OUTPUT_PTR`]`()`, [`export::OUTPUT_LEN`]`()` bytes
//!    long. Those two are also kept, after every call, in the [`slot`] at
//!    the address [`export::OUTPUT_SLOT`]`()` returns (fixed for the
//!    instance's life), followed by the input buffer's address and size: a
//!    host that reads them there, and writes an input that fits straight
//!    into that buffer, makes one call an input.
//!
//! Negative results are errors ([`ERR_DATABASE`], [`ERR_MODE`],
//! [`ERR_INPUT_LEN`]), and the output then holds a UTF-8 message.

/// The ABI version of the exports below.
pub const ABI_VERSION: u32 = 1;

/// The export names.
pub mod export {
    /// `() -> u32`: the module's ABI version.
    pub const ABI_VERSION: &str = "dfabake_abi_version";
    /// `() -> i32`: fully verifies the baked database; 0 or an error code.
    pub const VERIFY: &str = "dfabake_verify";
    /// `() -> i32`: reads the database in place; 0 or an error code.
    pub const INIT: &str = "dfabake_init";
    /// `() -> u32`: rules in the database (0 before `INIT`).
    pub const RULE_COUNT: &str = "dfabake_rule_count";
    /// `(len: u32) -> ptr`: a buffer of at least `len` bytes for the input.
    pub const INPUT: &str = "dfabake_input";
    /// `(mode: u32, len: u32) -> i32`: matches; the match count or an error code.
    pub const MATCH: &str = "dfabake_match";
    /// `() -> ptr`: the last answer (JSON) or error message.
    pub const OUTPUT_PTR: &str = "dfabake_output_ptr";
    /// `() -> u32`: its length.
    pub const OUTPUT_LEN: &str = "dfabake_output_len";
    /// `() -> ptr`: the address of the [`super::slot`], fixed per instance.
    pub const OUTPUT_SLOT: &str = "dfabake_output_slot";
    /// The module's linear memory.
    pub const MEMORY: &str = "memory";
    /// Every function export, in the order a host meets them.
    pub const FUNCTIONS: [&str; 9] = [
        ABI_VERSION,
        VERIFY,
        INIT,
        RULE_COUNT,
        INPUT,
        MATCH,
        OUTPUT_PTR,
        OUTPUT_LEN,
        OUTPUT_SLOT,
    ];
}

/// The output slot: u32 words at the address `OUTPUT_SLOT` returns,
/// updated by every call.
pub mod slot {
    /// Word index: what `OUTPUT_PTR` would return.
    pub const OUTPUT_PTR: usize = 0;
    /// Word index: what `OUTPUT_LEN` would return.
    pub const OUTPUT_LEN: usize = 1;
    /// Word index: the input buffer's address (0 before the first `INPUT`).
    pub const INPUT_PTR: usize = 2;
    /// Word index: the input buffer's size, which stays valid until an
    /// `INPUT` asks for more.
    pub const INPUT_SIZE: usize = 3;
    /// Words in the slot.
    pub const WORDS: usize = 4;
}

/// Error code: no database, or a database that failed to read or verify.
pub const ERR_DATABASE: i32 = -1;
/// Error code: `mode` is not 0, 1 or 2.
pub const ERR_MODE: i32 = -2;
/// Error code: `len` is larger than the buffer `INPUT` returned.
pub const ERR_INPUT_LEN: i32 = -3;
