//! The locator static and the database it points at, inside a matcher module.
//!
//! Shared by every wasm flavour (the plain [`crate::abi`] and the
//! `wasm-bindgen` one), so that the builder's one baking routine patches all
//! of them alike: each module holds exactly one locator.

use crate::module::{Locator as Layout, LOCATOR_LEN, LOCATOR_MARKER};

/// The locator as the module's data holds it: the layout of
/// [`crate::module::Locator`], which the builder patches.
#[repr(C)]
struct Locator {
    marker: [u8; 16],
    address: u32,
    len: u32,
}

const _: () = {
    assert!(core::mem::size_of::<Locator>() == LOCATOR_LEN);
    assert!(core::mem::offset_of!(Locator, address) == Layout::ADDRESS_AT);
    assert!(core::mem::offset_of!(Locator, len) == Layout::LEN_AT);
};

/// Patched by the builder at bake time; see [`crate::module`].
#[used]
static mut DFABAKE_LOCATOR: Locator = Locator {
    marker: LOCATOR_MARKER,
    address: 0,
    len: 0,
};

/// The marker as two words, compared as immediates: a copy of its bytes in
/// the module's data would be a second marker, which hosts refuse.
const MARKER_WORDS: [u64; 2] = {
    let m = LOCATOR_MARKER;
    [
        u64::from_le_bytes([m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7]]),
        u64::from_le_bytes([m[8], m[9], m[10], m[11], m[12], m[13], m[14], m[15]]),
    ]
};

/// The database baked into this module (empty in the unbaked template).
pub(crate) fn database_bytes() -> &'static [u8] {
    // Volatile: the compiler must not fold the template's zeros into the code.
    let loc = unsafe { core::ptr::read_volatile(core::ptr::addr_of!(DFABAKE_LOCATOR)) };
    // A host finds the locator by its marker (the only one in the module's
    // data) and verifies the database it points at; this static is that
    // locator only if its marker is intact.
    let m = &loc.marker;
    let words = [
        u64::from_le_bytes([m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7]]),
        u64::from_le_bytes([m[8], m[9], m[10], m[11], m[12], m[13], m[14], m[15]]),
    ];
    if loc.len == 0 || words != MARKER_WORDS {
        return &[];
    }
    // SAFETY: the builder placed `len` bytes of database at `address`, inside
    // the module's initial memory, which nothing else writes.
    unsafe { core::slice::from_raw_parts(loc.address as usize as *const u8, loc.len as usize) }
}
