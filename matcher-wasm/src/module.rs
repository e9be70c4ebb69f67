//! Where a baked database lives inside a matcher module.
//!
//! The template module holds a 24-byte *locator* in its data: a 16-byte
//! marker followed by the database's address and length in linear memory
//! (both zero in the unbaked template). The builder appends the database as a
//! data segment of its own at a page-aligned address above the template's
//! initial memory (where the allocator never reaches, since it only hands out
//! pages it grows) and patches the locator. The matcher reads the locator at
//! run time; hosts find the database by reading the module's data segments
//! with [`find_database`], natively, without instantiating anything.

use crate::format::{FormatError, MAGIC};
use crate::wire::{patch_u32, read_u32, Problem, Reader, WireError};

/// The bytes that open the locator in the template module's data: a fixed
/// prefix, then the database format version the template's code reads, so
/// that a builder never bakes a database into a template that cannot read
/// it (see [`find_marker_of_any_version`]).
pub const LOCATOR_MARKER: [u8; 16] = {
    let mut m = *LOCATOR_PREFIX;
    m[15] = crate::format::VERSION as u8;
    m
};
const LOCATOR_PREFIX: &[u8; 16] = b"DFABAKE:LOCATOR\0";
/// Size of the locator: marker, address (u32 LE), length (u32 LE).
pub const LOCATOR_LEN: usize = 24;
/// Wasm page size.
pub const PAGE: usize = 65536;

/// What a locator says: where the database is in linear memory. Laid out
/// as its marker, then `address` and `len` (u32 LE each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Locator {
    /// Address of the database in linear memory (0 in the template).
    pub address: u32,
    /// Length of the database in bytes (0 in the template: none baked).
    pub len: u32,
}

impl Locator {
    /// Offset of `address` from the start of the marker.
    pub const ADDRESS_AT: usize = LOCATOR_MARKER.len();
    /// Offset of `len` from the start of the marker.
    pub const LEN_AT: usize = Self::ADDRESS_AT + 4;

    /// Reads the locator whose marker starts `bytes` (found with
    /// [`find_marker`]); `None` when `bytes` ends before it does.
    pub fn read(bytes: &[u8]) -> Option<Locator> {
        let b = bytes.get(..LOCATOR_LEN)?;
        Some(Locator {
            address: read_u32(b, Self::ADDRESS_AT),
            len: read_u32(b, Self::LEN_AT),
        })
    }

    /// Writes the marker and this locator over the start of `dst`.
    ///
    /// # Panics
    ///
    /// When `dst` is shorter than [`LOCATOR_LEN`].
    pub fn write_to(&self, dst: &mut [u8]) {
        dst[..Self::ADDRESS_AT].copy_from_slice(&LOCATOR_MARKER);
        patch_u32(dst, Self::ADDRESS_AT, self.address);
        patch_u32(dst, Self::LEN_AT, self.len);
    }
}

/// An active data segment of a wasm module.
#[derive(Clone, Copy, Debug)]
pub struct DataSegment<'m> {
    /// Its address in linear memory (the `i32.const` offset).
    pub address: u32,
    /// Its bytes.
    pub bytes: &'m [u8],
}

/// A module's errors keep their fixed texts ([`FormatError::BadModule`]):
/// a cut-off file is "unexpected end" or, inside a section or segment body,
/// "section runs past the end".
fn bad_module(e: WireError) -> FormatError {
    FormatError::BadModule(match e.problem {
        Problem::Truncated => e.what,
        Problem::Overlong => "LEB128 too long",
        Problem::Overflow => "LEB128 overflow",
    })
}

const END: &str = "unexpected end";
const BODY: &str = "section runs past the end";

/// Calls `f` for every active data segment of memory 0 whose offset is an
/// `i32.const` (the only kind rustc emits).
pub fn for_each_data_segment<'m>(
    wasm: &'m [u8],
    mut f: impl FnMut(DataSegment<'m>),
) -> Result<(), FormatError> {
    if wasm.len() < 8 || wasm[..4] != *b"\0asm" {
        return Err(FormatError::BadModule("missing \\0asm header"));
    }
    let mut r = Reader::at(wasm, 8);
    while !r.is_at_end() {
        let id = r.byte(END).map_err(bad_module)?;
        let len = r.uleb_u32(END).map_err(bad_module)? as usize;
        let body = r.take(len, BODY).map_err(bad_module)?;
        if id != 11 {
            continue;
        }
        let mut s = Reader::new(body);
        for _ in 0..s.uleb_u32(END).map_err(bad_module)? {
            let address = match s.uleb_u32(END).map_err(bad_module)? {
                0 => Some(const_offset(&mut s)?),
                1 => None,
                2 => {
                    let mem = s.uleb_u32(END).map_err(bad_module)?;
                    let at = const_offset(&mut s)?;
                    if mem == 0 {
                        Some(at)
                    } else {
                        None
                    }
                }
                _ => return Err(FormatError::BadModule("unknown data segment kind")),
            };
            let n = s.uleb_u32(END).map_err(bad_module)? as usize;
            let bytes = s.take(n, BODY).map_err(bad_module)?;
            if let Some(address) = address.flatten() {
                f(DataSegment { address, bytes });
            }
        }
    }
    Ok(())
}

/// Reads an `i32.const N; end` offset expression; `None` for any other form.
fn const_offset(s: &mut Reader<'_>) -> Result<Option<u32>, FormatError> {
    let op = s.byte(END).map_err(bad_module)?;
    if op == 0x41 {
        let v = s.sleb_i32(END).map_err(bad_module)?;
        if s.byte(END).map_err(bad_module)? != 0x0b {
            return Err(FormatError::BadModule("unsupported data offset expression"));
        }
        return Ok(Some(v as u32));
    }
    // Skip an expression we do not model (e.g. global.get) up to its `end`.
    while s.byte(END).map_err(bad_module)? != 0x0b {}
    Ok(None)
}

/// Finds the baked database in a matcher module: the data segment the
/// locator points at, which must start with the database magic.
pub fn find_database(wasm: &[u8]) -> Result<&[u8], FormatError> {
    let mut locator = None;
    let mut segments = alloc::vec::Vec::new();
    for_each_data_segment(wasm, |seg| {
        // The database segment itself (megabytes) cannot hold the locator.
        let is_database = seg.bytes.len() >= MAGIC.len() && seg.bytes[..MAGIC.len()] == MAGIC;
        if let Some(at) = if is_database {
            None
        } else {
            find_marker(seg.bytes)
        } {
            if let Some(found) = Locator::read(&seg.bytes[at..]) {
                locator = Some(found);
            }
        }
        segments.push(seg);
    })?;
    let Some(Locator { address, len }) = locator else {
        let other = segments
            .iter()
            .find_map(|s| find_marker_of_any_version(s.bytes));
        return Err(match other {
            Some((_, version)) => FormatError::UnsupportedVersion(u32::from(version)),
            None => FormatError::BadModule("no dfabake locator in module"),
        });
    };
    if len == 0 {
        return Err(FormatError::NoDatabase);
    }
    // The last one: at instantiation, later segments overwrite earlier ones.
    let seg = segments
        .iter()
        .rfind(|s| s.address == address)
        .ok_or(FormatError::BadModule("locator points at no data segment"))?;
    if seg.bytes.len() < len as usize {
        return Err(FormatError::Truncated {
            needed: len as usize,
            got: seg.bytes.len(),
        });
    }
    let db = &seg.bytes[..len as usize];
    if db.len() < MAGIC.len() || db[..MAGIC.len()] != MAGIC {
        return Err(FormatError::BadMagic);
    }
    Ok(db)
}

/// Offset of the locator marker in `bytes`.
pub fn find_marker(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(LOCATOR_MARKER.len())
        .position(|w| w == LOCATOR_MARKER)
}

/// Offset and format version of a locator marker of any format version in
/// `bytes`: how a template or module of another version is recognised.
pub fn find_marker_of_any_version(bytes: &[u8]) -> Option<(usize, u8)> {
    bytes
        .windows(LOCATOR_MARKER.len())
        .position(|w| w[..15] == LOCATOR_PREFIX[..15])
        .map(|at| (at, bytes[at + 15]))
}
