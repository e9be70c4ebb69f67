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

/// An active data segment of a wasm module.
#[derive(Clone, Copy, Debug)]
pub struct DataSegment<'m> {
    /// Its address in linear memory (the `i32.const` offset).
    pub address: u32,
    /// Its bytes.
    pub bytes: &'m [u8],
}

struct Reader<'m> {
    bytes: &'m [u8],
    pos: usize,
}

impl<'m> Reader<'m> {
    fn byte(&mut self) -> Result<u8, FormatError> {
        let b = *self
            .bytes
            .get(self.pos)
            .ok_or(FormatError::BadModule("unexpected end"))?;
        self.pos += 1;
        Ok(b)
    }

    fn leb_u32(&mut self) -> Result<u32, FormatError> {
        let mut value = 0u64;
        for shift in (0..35).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return u32::try_from(value).map_err(|_| FormatError::BadModule("LEB128 overflow"));
            }
        }
        Err(FormatError::BadModule("LEB128 too long"))
    }

    fn leb_i32(&mut self) -> Result<i32, FormatError> {
        let mut value = 0i64;
        let mut shift = 0;
        loop {
            let b = self.byte()?;
            value |= i64::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                if shift < 64 && b & 0x40 != 0 {
                    value |= -1i64 << shift;
                }
                return i32::try_from(value).map_err(|_| FormatError::BadModule("LEB128 overflow"));
            }
            if shift >= 35 {
                return Err(FormatError::BadModule("LEB128 too long"));
            }
        }
    }

    fn take(&mut self, n: usize) -> Result<&'m [u8], FormatError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or(FormatError::BadModule("section runs past the end"))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }
}

/// Calls `f` for every active data segment of memory 0 whose offset is an
/// `i32.const` (the only kind rustc emits).
pub fn for_each_data_segment<'m>(
    wasm: &'m [u8],
    mut f: impl FnMut(DataSegment<'m>),
) -> Result<(), FormatError> {
    if wasm.len() < 8 || wasm[..4] != *b"\0asm" {
        return Err(FormatError::BadModule("missing \\0asm header"));
    }
    let mut r = Reader {
        bytes: wasm,
        pos: 8,
    };
    while r.pos < wasm.len() {
        let id = r.byte()?;
        let len = r.leb_u32()? as usize;
        let body = r.take(len)?;
        if id != 11 {
            continue;
        }
        let mut s = Reader {
            bytes: body,
            pos: 0,
        };
        for _ in 0..s.leb_u32()? {
            let address = match s.leb_u32()? {
                0 => Some(const_offset(&mut s)?),
                1 => None,
                2 => {
                    let mem = s.leb_u32()?;
                    let at = const_offset(&mut s)?;
                    if mem == 0 {
                        Some(at)
                    } else {
                        None
                    }
                }
                _ => return Err(FormatError::BadModule("unknown data segment kind")),
            };
            let n = s.leb_u32()? as usize;
            let bytes = s.take(n)?;
            if let Some(address) = address.flatten() {
                f(DataSegment { address, bytes });
            }
        }
    }
    Ok(())
}

/// Reads an `i32.const N; end` offset expression; `None` for any other form.
fn const_offset(s: &mut Reader<'_>) -> Result<Option<u32>, FormatError> {
    let op = s.byte()?;
    if op == 0x41 {
        let v = s.leb_i32()?;
        if s.byte()? != 0x0b {
            return Err(FormatError::BadModule("unsupported data offset expression"));
        }
        return Ok(Some(v as u32));
    }
    // Skip an expression we do not model (e.g. global.get) up to its `end`.
    while s.byte()? != 0x0b {}
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
            if seg.bytes.len() >= at + LOCATOR_LEN {
                let l = &seg.bytes[at + 16..at + LOCATOR_LEN];
                locator = Some((
                    u32::from_le_bytes(l[..4].try_into().unwrap()),
                    u32::from_le_bytes(l[4..].try_into().unwrap()),
                ));
            }
        }
        segments.push(seg);
    })?;
    let Some((address, len)) = locator else {
        let other = segments.iter().find_map(|s| find_marker_of_any_version(s.bytes));
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
