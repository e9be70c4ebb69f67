//! Baking: put a database into the data segment of the prebuilt template
//! module. Pure byte surgery on the wasm binary, no toolchain involved.
//!
//! Three edits, every other section is copied as is:
//! 1. the memory's initial size grows by the pages the database needs;
//! 2. the database becomes a new active data segment at the first page above
//!    the template's initial memory (the allocator only hands out pages it
//!    grows, so nothing ever writes there);
//! 3. the locator in the template's data is patched with that address and the
//!    database's length (the data count section, if any, is updated too).

use dfabake_matcher::layout::ALIGN_SECTION;
use dfabake_matcher::module::{find_marker, for_each_data_segment, Locator, PAGE};
use dfabake_matcher::wire::{padding_len, write_sleb, write_uleb, Reader, WireError};

/// The template module this builder carries (plain ABI, no imports).
pub const TEMPLATE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/template.wasm"));

fn wire_error(e: WireError) -> String {
    format!("the template: {e}")
}

fn push_section(out: &mut Vec<u8>, id: u8, body: &[u8]) {
    out.push(id);
    write_uleb(out, body.len() as u64);
    out.extend_from_slice(body);
}

/// Before the data section `data` (whose last `db_len` bytes are the
/// database) is appended to `out`, adds a custom section of padding when
/// needed so that the database starts at an 8-aligned offset of the file:
/// a native host that memory-maps the module (the Python package) then
/// reads the database in place, in pages every process shares, instead of
/// copying it to align it.
fn align_database(out: &mut Vec<u8>, data: &[u8], db_len: usize) {
    let mut header = Vec::new();
    write_uleb(&mut header, data.len() as u64);
    let at = out.len() + 1 + header.len() + data.len() - db_len;
    let pad = padding_len(at, 8);
    if pad == 0 {
        return;
    }
    // id, size and name length take one byte each (the body is under 128
    // bytes): 3 + 13 = 16 bytes, a multiple of 8, plus `pad`.
    let mut body = vec![ALIGN_SECTION.len() as u8];
    body.extend_from_slice(ALIGN_SECTION);
    body.resize(body.len() + pad, 0);
    push_section(out, 0, &body);
}

/// Returns a copy of `template` with `database` baked in.
///
/// ```
/// use dfabake::bake::{bake, TEMPLATE};
/// use dfabake_matcher::module::find_database;
///
/// let db = vec![7u8; 100]; // any bytes; real callers pass a database
/// # let db = { let mut d = dfabake_matcher::format::MAGIC.to_vec(); d.extend(db); d };
/// let module = bake(TEMPLATE, &db).unwrap();
/// assert_eq!(find_database(&module).unwrap(), &db[..]);
/// ```
pub fn bake(template: &[u8], database: &[u8]) -> Result<Vec<u8>, String> {
    if template.len() < 8 || template[..4] != *b"\0asm" {
        return Err("the template is not a wasm module".into());
    }
    let mut locators = 0;
    for_each_data_segment(template, |seg| {
        if find_marker(seg.bytes).is_some() {
            locators += 1;
        }
    })
    .map_err(|e| e.to_string())?;
    if locators == 0 {
        let mut other = None;
        for_each_data_segment(template, |seg| {
            other = other.or(dfabake_matcher::module::find_marker_of_any_version(
                seg.bytes,
            ));
        })
        .map_err(|e| e.to_string())?;
        if let Some((_, version)) = other {
            return Err(format!(
                "the template reads database format version {version}, but this builder writes \
                 version {}: rebuild the template (a stale DFABAKE_TEMPLATE_WASM or \
                 DFABAKE_NPM_TEMPLATE_DIR?)",
                dfabake_matcher::format::VERSION
            ));
        }
    }
    if locators != 1 {
        return Err(format!(
            "the template holds {locators} locators, expected exactly 1"
        ));
    }

    let mut out = template[..8].to_vec();
    let mut sections = Reader::at(template, 8);
    let mut db_address = None;
    let mut wrote_data = false;
    while !sections.is_at_end() {
        let id = sections.byte("section id").map_err(wire_error)?;
        let len = sections.uleb_u32("section size").map_err(wire_error)? as usize;
        let body = sections.take(len, "section body").map_err(wire_error)?;
        let mut r = Reader::new(body);
        match id {
            5 => {
                if r.uleb_u32("memory count").map_err(wire_error)? != 1 {
                    return Err("the template must define exactly one memory".into());
                }
                let flags = u64::from(r.uleb_u32("memory limits flags").map_err(wire_error)?);
                if flags > 1 {
                    return Err(format!("unsupported memory limits flags {flags:#x}"));
                }
                let initial = r.uleb_u64("initial memory pages").map_err(wire_error)?;
                let maximum = if flags == 1 {
                    Some(r.uleb_u64("maximum memory pages").map_err(wire_error)?)
                } else {
                    None
                };
                let address = initial * PAGE as u64;
                let pages = (database.len() as u64).div_ceil(PAGE as u64);
                let new_initial = initial + pages;
                if new_initial > 65536 {
                    return Err("the database does not fit in a 4 GiB wasm memory".into());
                }
                db_address = Some(address as u32);
                let mut new = Vec::new();
                write_uleb(&mut new, 1);
                write_uleb(&mut new, flags);
                write_uleb(&mut new, new_initial);
                if let Some(max) = maximum {
                    write_uleb(&mut new, max.max(new_initial));
                }
                push_section(&mut out, 5, &new);
            }
            11 => {
                let address = db_address.ok_or("data section before memory section")?;
                let count = r.uleb_u64("data segment count").map_err(wire_error)?;
                let mut segments = body[r.pos()..].to_vec();
                let at = find_marker(&segments).ok_or("locator not in the data section")?;
                Locator {
                    address,
                    len: database.len() as u32,
                }
                .write_to(&mut segments[at..]);
                let mut new = Vec::with_capacity(body.len() + database.len() + 16);
                write_uleb(&mut new, count + 1);
                new.extend_from_slice(&segments);
                // Active segment for memory 0: flags 0, `i32.const address; end`.
                new.push(0);
                new.push(0x41);
                write_sleb(&mut new, i64::from(address as i32));
                new.push(0x0b);
                write_uleb(&mut new, database.len() as u64);
                new.extend_from_slice(database);
                align_database(&mut out, &new, database.len());
                push_section(&mut out, 11, &new);
                wrote_data = true;
            }
            12 => {
                let count = r.uleb_u64("data count").map_err(wire_error)?;
                let mut new = Vec::new();
                write_uleb(&mut new, count + 1);
                push_section(&mut out, 12, &new);
            }
            _ => push_section(&mut out, id, body),
        }
    }
    if !wrote_data {
        return Err("the template has no data section".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dfabake_matcher::module::{find_database, LOCATOR_MARKER};

    #[test]
    fn the_database_starts_at_an_8_aligned_offset_of_the_file() {
        for extra in 0..20 {
            let mut db = dfabake_matcher::format::MAGIC.to_vec();
            db.resize(56 + extra * 37, 7);
            let module = bake(TEMPLATE, &db).unwrap();
            let found = find_database(&module).unwrap();
            let at = found.as_ptr() as usize - module.as_ptr() as usize;
            assert_eq!(at % 8, 0, "database at offset {at}, length {}", db.len());
            assert_eq!(found, &db[..]);
        }
    }

    #[test]
    fn a_template_of_another_format_version_is_refused() {
        let at = TEMPLATE
            .windows(LOCATOR_MARKER.len())
            .position(|w| w == LOCATOR_MARKER)
            .expect("the template holds its locator");
        let mut stale = TEMPLATE.to_vec();
        stale[at + 15] = 2;
        let mut db = dfabake_matcher::format::MAGIC.to_vec();
        db.extend_from_slice(&[0; 56]);
        let err = bake(&stale, &db).unwrap_err();
        assert!(err.contains("format version 2"), "{err}");
        // And a module baked by a builder of another version is recognised.
        let mut module = bake(TEMPLATE, &db).unwrap();
        let at = module
            .windows(LOCATOR_MARKER.len())
            .position(|w| w == LOCATOR_MARKER)
            .unwrap();
        module[at + 15] = 9;
        assert_eq!(
            find_database(&module).unwrap_err(),
            dfabake_matcher::FormatError::UnsupportedVersion(9)
        );
    }
}
