//! The locator static and the database it points at, inside a matcher module.
//!
//! Shared by every wasm flavour (the plain [`crate::abi`] and the
//! `wasm-bindgen` one), so that the builder's one baking routine patches all
//! of them alike: each module holds exactly one locator.

use crate::module::LOCATOR_MARKER;

#[repr(C)]
struct Locator {
    marker: [u8; 16],
    address: u32,
    len: u32,
}

/// Patched by the builder at bake time; see [`crate::module`].
#[used]
static mut DFABAKE_LOCATOR: Locator = Locator {
    marker: LOCATOR_MARKER,
    address: 0,
    len: 0,
};

/// The database baked into this module (empty in the unbaked template).
pub(crate) fn database_bytes() -> &'static [u8] {
    // Volatile: the compiler must not fold the template's zeros into the code.
    let loc = unsafe { core::ptr::read_volatile(core::ptr::addr_of!(DFABAKE_LOCATOR)) };
    if loc.len == 0 {
        return &[];
    }
    // SAFETY: the builder placed `len` bytes of database at `address`, inside
    // the module's initial memory, which nothing else writes.
    unsafe { core::slice::from_raw_parts(loc.address as usize as *const u8, loc.len as usize) }
}
