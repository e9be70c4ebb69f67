//! The plain ABI of the matcher module: exported functions only, no imports,
//! so any wasm host (wasmtime, Fastly, Spin, a browser) can drive it.
//!
//! The exports' names, the slot layout and the error codes are
//! [`crate::abi_contract`]'s (the symbol names below are literals, as
//! `#[no_mangle]` needs; a test of the built template checks they are the
//! contract's).

use alloc::string::ToString;
use alloc::vec::Vec;
use core::cell::UnsafeCell;

use crate::abi_contract::{slot, ERR_DATABASE, ERR_INPUT_LEN, ERR_MODE};
use crate::format::Database;
use crate::json::write_matches;
use crate::locator::database_bytes;
use crate::matcher::{Cache, Matcher, Mode};

pub use crate::abi_contract::ABI_VERSION;

struct State {
    matcher: Option<Matcher<'static>>,
    cache: Option<Cache>,
    input: Vec<u8>,
    output: Vec<u8>,
    scratch: Vec<u32>,
    /// Where `output` is and how long, then where `input` is and how long:
    /// see `dfabake_output_slot`.
    slot: [u32; slot::WORDS],
}

impl State {
    fn output_changed(&mut self) {
        self.slot[slot::OUTPUT_PTR] = self.output.as_ptr() as u32;
        self.slot[slot::OUTPUT_LEN] = self.output.len() as u32;
    }
}

struct Global(UnsafeCell<State>);
// SAFETY: wasm32-unknown-unknown without the atomics feature is single-threaded.
unsafe impl Sync for Global {}

static STATE: Global = Global(UnsafeCell::new(State {
    matcher: None,
    cache: None,
    input: Vec::new(),
    output: Vec::new(),
    scratch: Vec::new(),
    slot: [0; slot::WORDS],
}));

fn state() -> &'static mut State {
    // SAFETY: single-threaded, and no export re-enters another.
    unsafe { &mut *STATE.0.get() }
}

fn fail(st: &mut State, code: i32, msg: &str) -> i32 {
    st.output.clear();
    st.output.extend_from_slice(msg.as_bytes());
    st.output_changed();
    code
}

/// ABI version of this module's exports.
#[no_mangle]
pub extern "C" fn dfabake_abi_version() -> u32 {
    ABI_VERSION
}

/// Fully verifies the baked database (checksum, every DFA and every exact program). O(size).
#[no_mangle]
pub extern "C" fn dfabake_verify() -> i32 {
    let st = state();
    match Database::from_bytes(database_bytes()) {
        Ok(_) => 0,
        Err(e) => fail(st, ERR_DATABASE, &e.to_string()),
    }
}

/// Reads the baked database in place, without validating DFAs. Idempotent.
#[no_mangle]
pub extern "C" fn dfabake_init() -> i32 {
    let st = state();
    if st.matcher.is_some() {
        return 0;
    }
    // SAFETY: hosts verify the database once per module (natively or with
    // `dfabake_verify`) before instantiating it for matching.
    match unsafe { Database::from_bytes_unchecked(database_bytes()) } {
        Ok(db) => {
            let matcher = Matcher::new(db);
            st.cache = Some(matcher.create_cache());
            st.matcher = Some(matcher);
            0
        }
        Err(e) => fail(st, ERR_DATABASE, &e.to_string()),
    }
}

/// Number of rules in the baked database (0 before `dfabake_init`).
#[no_mangle]
pub extern "C" fn dfabake_rule_count() -> u32 {
    state()
        .matcher
        .as_ref()
        .map_or(0, |m| m.database().rule_count() as u32)
}

/// Returns a buffer of at least `len` bytes for the next input.
#[no_mangle]
pub extern "C" fn dfabake_input(len: u32) -> *mut u8 {
    let st = state();
    // Never shrinks: a host may reuse the buffer for any input that fits
    // (its address and size are in the output slot).
    if st.input.len() < len as usize {
        st.input.resize(len as usize, 0);
    }
    st.slot[slot::INPUT_PTR] = st.input.as_ptr() as u32;
    st.slot[slot::INPUT_SIZE] = st.input.len() as u32;
    st.input.as_mut_ptr()
}

/// Matches the first `len` bytes of the input buffer; see the module docs.
#[no_mangle]
pub extern "C" fn dfabake_match(mode: u32, len: u32) -> i32 {
    // Checked here, not by calling the export: a call is a frame and, in
    // an interruptible host, an epoch check, on every match.
    if state().matcher.is_none() && dfabake_init() != 0 {
        return ERR_DATABASE;
    }
    let st = state();
    let Some(mode) = Mode::from_code(mode) else {
        return fail(st, ERR_MODE, "unknown mode (0 = any, 1 = all, 2 = first)");
    };
    if len as usize > st.input.len() {
        return fail(
            st,
            ERR_INPUT_LEN,
            "input length exceeds the buffer from dfabake_input",
        );
    }
    let (Some(matcher), Some(cache)) = (st.matcher.as_ref(), st.cache.as_mut()) else {
        unreachable!("dfabake_init succeeded")
    };
    let n = write_matches(
        matcher,
        cache,
        mode,
        &st.input[..len as usize],
        &mut st.scratch,
        &mut st.output,
    );
    st.output_changed();
    n as i32
}

/// Address of the last result (JSON) or error message.
#[no_mangle]
pub extern "C" fn dfabake_output_ptr() -> *const u8 {
    state().output.as_ptr()
}

/// Length of the last result or error message.
#[no_mangle]
pub extern "C" fn dfabake_output_len() -> u32 {
    state().output.len() as u32
}

/// Address of four u32: what `dfabake_output_ptr` and `dfabake_output_len`
/// would return, updated by every call, then the address and size of the
/// input buffer (zero before the first `dfabake_input`), which stays valid
/// until a `dfabake_input` asks for more. The address never changes.
#[no_mangle]
pub extern "C" fn dfabake_output_slot() -> *const u32 {
    state().slot.as_ptr()
}
