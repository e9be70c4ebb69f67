//! What a baked module's linear memory starts as: checked natively, with
//! `wasmparser`, before a host trusts the database it verified.
//!
//! Verifying the database's bytes in the module file is only worth
//! something if those are the bytes every instance reads. An instance's
//! memory is written by the data segments in order, so a second segment
//! over the database (or over the locator that tells the matcher where the
//! database is) would replace bytes after they were verified. [`check`]
//! therefore holds a module to the shape `bake` gives it:
//!
//! * a valid module with one memory of its own (32-bit, not shared, not
//!   imported) and no start function;
//! * every data segment active, for memory 0, at an `i32.const` address;
//! * no two segments overlapping;
//! * the locator's marker exactly once in all the data (the database and
//!   segments that touch included), the matcher checking at run time that
//!   its locator static carries it: so the locator read here is the one
//!   instances read;
//! * the locator pointing at the last segment, the database, alone on its
//!   pages above every other segment, exactly as long as the locator and
//!   its header say, ending the initial memory.
//!
//! A host cannot know how many segments the template had; the builder can,
//! and [`check_baked_from`] compares a module with its template: the same
//! sections byte for byte, except the memory's size, the locator's address
//! and length, and the one database segment added.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use wasmparser::{DataKind, Operator, Parser, Payload, TypeRef, ValidPayload, Validator};

use crate::format::{FormatError, Header, MAGIC};
use crate::module::{find_marker, Locator, LOCATOR_LEN, LOCATOR_MARKER, PAGE};
use crate::wire::try_read_u32;

/// An active data segment.
#[derive(Clone, Copy, Debug)]
pub struct Segment<'m> {
    /// Its address in linear memory.
    pub address: u32,
    /// Its bytes.
    pub bytes: &'m [u8],
}

impl Segment<'_> {
    fn end(&self) -> u64 {
        u64::from(self.address) + self.bytes.len() as u64
    }
}

/// What [`read`] found in a module: its memory and data segments, in order.
#[derive(Clone, Debug)]
pub struct Layout<'m> {
    /// Initial size of the memory, in pages.
    pub initial_pages: u64,
    /// Its maximum size, if any.
    pub maximum_pages: Option<u64>,
    /// Every data segment, in the order they are written at instantiation.
    pub segments: Vec<Segment<'m>>,
    /// Every section as (id, body), in order.
    sections: Vec<(u8, &'m [u8])>,
}

impl<'m> Layout<'m> {
    /// The body of the first section with id `id`.
    pub fn section(&self, id: u8) -> Option<&'m [u8]> {
        self.sections
            .iter()
            .find(|&&(i, _)| i == id)
            .map(|&(_, body)| body)
    }
}

/// Whether `wasm` is a wasm-bindgen module, as the npm package's flavour
/// is: it imports wasm-bindgen's glue (module `wbg` or `./NAME_bg.js`,
/// functions `__wbg_*`, `__wbindgen_*`) or exports its helpers
/// (`__wbindgen_*`). It runs only with its JavaScript glue, so a host that
/// runs the plain module can name the right file instead of failing on
/// what wasm-bindgen's code uses (reference types, GC types).
pub fn is_wasm_bindgen(wasm: &[u8]) -> bool {
    let glue = |module: &str, name: &str| {
        module == "wbg"
            || module.ends_with("_bg.js")
            || name.starts_with("__wbg_")
            || name.starts_with("__wbindgen")
    };
    for payload in Parser::new(0).parse_all(wasm) {
        match payload {
            Ok(Payload::ImportSection(reader)) => {
                for import in reader.into_imports().flatten() {
                    if glue(import.module, import.name) {
                        return true;
                    }
                }
            }
            Ok(Payload::ExportSection(reader)) => {
                return reader
                    .into_iter()
                    .flatten()
                    .any(|export| export.name.starts_with("__wbindgen"));
            }
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    false
}

/// A baked module that passed [`check`].
#[derive(Clone, Copy, Debug)]
pub struct Baked<'m> {
    /// The database's address in linear memory.
    pub database_address: u32,
    /// The database (the whole last segment).
    pub database: &'m [u8],
    /// How many data segments the module has, the database's included.
    pub segments: usize,
}

fn refuse(why: String) -> FormatError {
    FormatError::Layout(why)
}

/// Parses and validates `wasm` (everything but function bodies, which
/// the engine validates when it compiles them) and reads its memory and
/// data segments, refusing any shape a template never has.
pub fn read(wasm: &[u8]) -> Result<Layout<'_>, FormatError> {
    if wasm.len() < 8 || wasm[..4] != *b"\0asm" {
        return Err(FormatError::BadModule("missing \\0asm header"));
    }
    let mut validator = Validator::new();
    let mut layout = Layout {
        initial_pages: 0,
        maximum_pages: None,
        segments: Vec::new(),
        sections: Vec::new(),
    };
    let mut memories = 0usize;
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(|e| refuse(format!("not a valid wasm module: {e}")))?;
        if let Payload::StartSection { .. } = payload {
            // Code run at instantiation, before any export is called.
            return Err(refuse("the module has a start function".into()));
        }
        match validator.payload(&payload) {
            // Function bodies are left to the engine (`Module::new`).
            Ok(ValidPayload::Ok | ValidPayload::Func(..) | ValidPayload::End(_)) => {}
            Ok(ValidPayload::Parser(_)) => return Err(refuse("a component, not a module".into())),
            Err(e) => return Err(refuse(format!("not a valid wasm module: {e}"))),
        }
        if let Some((id, range)) = payload.as_section() {
            // A section may say it is longer than what is left of a cut file.
            let body = wasm
                .get(range)
                .ok_or(FormatError::BadModule("section runs past the end"))?;
            layout.sections.push((id, body));
        }
        match payload {
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import.map_err(|e| refuse(format!("bad import: {e}")))?;
                    if matches!(import.ty, TypeRef::Memory(_)) {
                        return Err(refuse("the module imports a memory".into()));
                    }
                }
            }
            Payload::MemorySection(reader) => {
                for memory in reader {
                    let memory = memory.map_err(|e| refuse(format!("bad memory: {e}")))?;
                    if memory.memory64 || memory.shared {
                        return Err(refuse("the memory is 64-bit or shared".into()));
                    }
                    memories += 1;
                    layout.initial_pages = memory.initial;
                    layout.maximum_pages = memory.maximum;
                }
            }
            Payload::DataSection(reader) => {
                for (i, data) in reader.into_iter().enumerate() {
                    let data = data.map_err(|e| refuse(format!("bad data segment {i}: {e}")))?;
                    let DataKind::Active {
                        memory_index: 0,
                        offset_expr,
                    } = data.kind
                    else {
                        return Err(refuse(format!(
                            "data segment {i} is not active for memory 0"
                        )));
                    };
                    let mut ops = offset_expr.get_operators_reader();
                    let address = match (ops.read(), ops.read(), ops.eof()) {
                        (Ok(Operator::I32Const { value }), Ok(Operator::End), true) => value as u32,
                        _ => {
                            return Err(refuse(format!(
                                "data segment {i}'s address is not an i32.const"
                            )))
                        }
                    };
                    layout.segments.push(Segment {
                        address,
                        bytes: data.data,
                    });
                }
            }
            _ => {}
        }
    }
    if memories != 1 {
        return Err(refuse(format!(
            "the module defines {memories} memories, not 1"
        )));
    }
    Ok(layout)
}

/// Where the locator marker starts in the memory the segments write (the
/// non-empty ones, `order`ed by address, none overlapping), and the eight
/// bytes after it if they are written: runs of segments that touch are
/// searched as one, so that a marker split between segments is found.
fn markers(segs: &[Segment<'_>], order: &[usize]) -> Vec<(u64, Option<Locator>)> {
    let finder = memchr::memmem::Finder::new(&LOCATOR_MARKER);
    let mut found = Vec::new();
    let mut search = |start: u64, bytes: &[u8]| {
        for pos in finder.find_iter(bytes) {
            found.push((start + pos as u64, Locator::read(&bytes[pos..])));
        }
    };
    let mut i = 0;
    while i < order.len() {
        let first = &segs[order[i]];
        let mut j = i + 1;
        while j < order.len() && u64::from(segs[order[j]].address) == segs[order[j - 1]].end() {
            j += 1;
        }
        if j == i + 1 {
            search(u64::from(first.address), first.bytes);
        } else {
            // Segments that touch (rare but for the template's own few).
            let run: Vec<u8> = order[i..j]
                .iter()
                .flat_map(|&k| segs[k].bytes.iter().copied())
                .collect();
            search(u64::from(first.address), &run);
        }
        i = j;
    }
    found
}

/// Where a segment is, for messages.
fn span(s: &Segment<'_>) -> String {
    format!("[{:#x}, {:#x})", s.address, s.end())
}

/// Checks a baked module's shape (see the module docs) and returns where
/// its database is. Costs a parse of the module's sections, not of its code:
/// a fraction of a millisecond for a template's 130 KB of code.
pub fn check(wasm: &[u8]) -> Result<Baked<'_>, FormatError> {
    let layout = read(wasm)?;
    let segs = &layout.segments;
    // (By its magic; the locator says which one it is, below.)
    let is_database = |s: &Segment<'_>| s.bytes.starts_with(&MAGIC);
    // No two segments overlap: the later one would replace bytes of the
    // earlier one after they were read here (empty ones write nothing).
    let mut order: Vec<usize> = (0..segs.len())
        .filter(|&i| !segs[i].bytes.is_empty())
        .collect();
    order.sort_by_key(|&i| segs[i].address);
    // The segment reaching furthest among those starting before.
    let mut furthest: Option<usize> = None;
    for &k in &order {
        if let Some(f) = furthest {
            if u64::from(segs[k].address) < segs[f].end() {
                let name = |k: usize| format!("data segment {k} at {}", span(&segs[k]));
                let (db, other) = match (is_database(&segs[f]), is_database(&segs[k])) {
                    (true, false) => (f, k),
                    (false, true) => (k, f),
                    _ => {
                        return Err(refuse(format!(
                            "{} overlaps {}",
                            name(f.max(k)),
                            name(f.min(k))
                        )))
                    }
                };
                return Err(refuse(format!(
                    "{} overlaps the database at {}",
                    name(other),
                    span(&segs[db])
                )));
            }
        }
        if furthest.is_none_or(|f| segs[k].end() > segs[f].end()) {
            furthest = Some(k);
        }
    }
    // The locator: the matcher reads the static it was compiled with, and
    // trusts it only if its marker is intact; here it is found by that
    // marker. So the marker must occur exactly once in all the memory the
    // segments write, the database included, across segments that touch:
    // then the locator read here is the one every instance reads.
    let found = markers(segs, &order);
    let (at, loc) = match found[..] {
        [one] => one,
        [] => {
            // A locator of another format version, or none at all.
            let e = crate::module::find_database(wasm).err();
            return Err(e.unwrap_or_else(|| refuse("no dfabake locator in the module".into())));
        }
        _ => {
            let at: Vec<String> = found.iter().map(|(a, _)| format!("{a:#x}")).collect();
            return Err(refuse(format!(
                "the module's data holds {} dfabake locators, at {}",
                found.len(),
                at.join(", ")
            )));
        }
    };
    let loc = loc.ok_or_else(|| refuse(format!("the locator at {at:#x} is cut off")))?;
    let Locator { address, len } = loc;
    if len == 0 {
        return Err(FormatError::NoDatabase);
    }
    // The database: the last segment, where the locator points, exactly
    // as long as it says, on pages of its own that end the initial memory.
    let db = segs
        .last()
        .filter(|s| s.address == address && s.bytes.len() == len as usize);
    let Some(db) = db else {
        return Err(refuse(format!(
            "the locator points at [{address:#x}, {:#x}), which is not the last data segment",
            u64::from(address) + u64::from(len)
        )));
    };
    if !is_database(db) {
        return Err(FormatError::BadMagic);
    }
    // What verification reads is the database's declared length: bytes
    // after it would be read by nobody but an instance told to.
    if let Ok(total) = try_read_u32(db.bytes, Header::TOTAL_LEN_AT, "database length") {
        if total != len {
            return Err(refuse(format!(
                "the database segment is {len} bytes, its header says {total}"
            )));
        }
    }
    if !(address as usize).is_multiple_of(PAGE) {
        return Err(refuse(format!(
            "the database at {} is not page-aligned",
            span(db)
        )));
    }
    if let Some((k, s)) = segs[..segs.len() - 1]
        .iter()
        .enumerate()
        .find(|(_, s)| s.end() > u64::from(address))
    {
        return Err(refuse(format!(
            "data segment {k} at {} lies above the database at {}",
            span(s),
            span(db)
        )));
    }
    let pages = u64::from(len).div_ceil(PAGE as u64);
    if layout.initial_pages * PAGE as u64 != u64::from(address) + pages * PAGE as u64 {
        return Err(refuse(format!(
            "the initial memory ({} pages) does not end with the database's pages",
            layout.initial_pages
        )));
    }
    Ok(Baked {
        database_address: address,
        database: db.bytes,
        segments: segs.len(),
    })
}

/// Name of the custom section with which baking pads a module so that its
/// database starts at an 8-aligned offset of the file: a native host that
/// memory-maps the module reads the database in place.
pub const ALIGN_SECTION: &[u8] = b"dfabake.align";

/// Whether a section is baking's alignment padding: a custom section named
/// [`ALIGN_SECTION`] holding fewer than 8 zero bytes.
fn is_align_padding(id: u8, body: &[u8]) -> bool {
    id == 0
        && body.first() == Some(&(ALIGN_SECTION.len() as u8))
        && body[1..].starts_with(ALIGN_SECTION)
        && body.len() - 1 - ALIGN_SECTION.len() < 8
        && body[1 + ALIGN_SECTION.len()..].iter().all(|&b| b == 0)
}

/// [`check`], and that `wasm` is `template` with a database baked in:
/// every section byte-identical but the memory's initial (and maximum) size
/// and the data, whose segments are the template's (its locator patched)
/// followed by the database's; a data count section, if any, counts it.
pub fn check_baked_from<'m>(wasm: &'m [u8], template: &[u8]) -> Result<Baked<'m>, FormatError> {
    let baked = check(wasm)?;
    let mut module = read(wasm)?;
    // Baking may add one padding section (see `ALIGN_SECTION`); nothing else.
    let before = module.sections.len();
    module
        .sections
        .retain(|&(id, body)| !is_align_padding(id, body));
    if before - module.sections.len() > 1 {
        return Err(refuse("more than one alignment padding section".into()));
    }
    let template = read(template)?;
    let differ = |what: String| refuse(format!("not baked from this builder's template: {what}"));
    let ids = |l: &Layout<'_>| l.sections.iter().map(|&(id, _)| id).collect::<Vec<_>>();
    if ids(&module) != ids(&template) {
        return Err(differ("the sections differ".into()));
    }
    for (&(id, body), &(_, want)) in module.sections.iter().zip(&template.sections) {
        // Memory (5), data (11) and data count (12) are compared below.
        if !matches!(id, 5 | 11 | 12) && body != want {
            return Err(differ(format!("section {id} differs")));
        }
    }
    let pages = (baked.database.len() as u64).div_ceil(PAGE as u64);
    if module.initial_pages != template.initial_pages + pages
        || module.maximum_pages != template.maximum_pages.map(|m| m.max(module.initial_pages))
    {
        return Err(differ("the memory's size".into()));
    }
    let (own, want) = (
        &module.segments[..module.segments.len() - 1],
        &template.segments,
    );
    if own.len() != want.len() {
        return Err(differ(format!(
            "{} data segments besides the database; the template has {}",
            own.len(),
            want.len()
        )));
    }
    for (k, (a, b)) in own.iter().zip(want).enumerate() {
        let same = a.address == b.address
            && a.bytes.len() == b.bytes.len()
            && match find_marker(b.bytes) {
                // Only the locator's address and length were patched.
                Some(at) => {
                    a.bytes[..at + 16] == b.bytes[..at + 16]
                        && a.bytes.get(at + LOCATOR_LEN..) == b.bytes.get(at + LOCATOR_LEN..)
                }
                None => a.bytes == b.bytes,
            };
        if !same {
            return Err(differ(format!("data segment {k} at {}", span(a))));
        }
    }
    Ok(baked)
}
