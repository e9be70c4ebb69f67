//! Crafting tampered modules the way an attacker would: patch bytes of the
//! baked database and recompute its checksum, or add a data segment, so that
//! every integrity check a careless verifier relies on still passes.
//! Included with `#[path]` by the test files that need it.
#![allow(dead_code)]

use std::ops::Range;

use dfabake_matcher::abi_contract::export;
use dfabake_matcher::format::{seal, Header, RuleRecord, ShardRecord};
use dfabake_matcher::module::{find_database, for_each_data_segment};
use dfabake_matcher::wire::{write_sleb, write_uleb, Reader};

/// Where the database sits in the module file, and at which address in
/// linear memory the instance sees it.
pub fn database_place(module: &[u8]) -> (Range<usize>, u32) {
    let db = find_database(module).expect("a baked module");
    let start = db.as_ptr() as usize - module.as_ptr() as usize;
    let mut address = None;
    for_each_data_segment(module, |seg| {
        if seg.bytes.as_ptr() == db.as_ptr() {
            address = Some(seg.address);
        }
    })
    .unwrap();
    (
        start..start + db.len(),
        address.expect("the database's segment"),
    )
}

/// A copy of `module` whose database went through `edit`, with the checksum
/// recomputed afterwards (so only checks beyond the checksum can notice).
pub fn patch_database(module: &[u8], edit: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let (range, _) = database_place(module);
    let mut out = module.to_vec();
    let db = &mut out[range];
    edit(db);
    seal(db);
    out
}

/// Rule `i`'s id, payload, pattern and exact program, as byte ranges of the
/// database (read from its rule record).
pub fn rule_strings(db: &[u8], i: usize) -> [Range<usize>; 4] {
    let header = Header::read(db).expect("a database");
    let at = header.rules_at as usize + RuleRecord::LEN * i;
    let strings = header.strings.at as usize;
    RuleRecord::read(&db[at..])
        .spans()
        .map(|s| strings + s.at as usize..strings + (s.at + s.len) as usize)
}

/// The offset of shard `i`'s flags word in the database.
pub fn shard_flags_at(db: &[u8], i: usize) -> usize {
    Header::read(db).expect("a database").shards_at as usize
        + ShardRecord::LEN * i
        + ShardRecord::FLAGS_AT
}

fn read_leb(b: &[u8], pos: &mut usize) -> u64 {
    let mut r = Reader::at(b, *pos);
    let v = r.uleb_u64("LEB128").unwrap();
    *pos = r.pos();
    v
}

/// A copy of `module` with one more active data segment, placing `bytes`
/// at `address` in linear memory after every other segment (so it wins
/// where it overlaps them); a data count section, if any, follows.
pub fn add_data_segment(module: &[u8], address: u32, bytes: &[u8]) -> Vec<u8> {
    insert_data_segment(module, usize::MAX, address, bytes)
}

/// [`add_data_segment`] with the new segment at position `index` among
/// the others (past the end: last).
pub fn insert_data_segment(module: &[u8], index: usize, address: u32, bytes: &[u8]) -> Vec<u8> {
    let mut out = module[..8].to_vec();
    let mut pos = 8;
    while pos < module.len() {
        let id = module[pos];
        pos += 1;
        let len = read_leb(module, &mut pos) as usize;
        let body = &module[pos..pos + len];
        pos += len;
        let new_body = match id {
            11 => {
                let mut p = 0;
                let count = read_leb(body, &mut p);
                // Where segment `index` starts (each is `0, i32.const N, end`
                // and its bytes, as rustc and `bake` write them).
                let mut at = p;
                for _ in 0..(index as u64).min(count) {
                    assert_eq!(
                        body[at..at + 2],
                        [0, 0x41],
                        "an active segment at an i32.const"
                    );
                    at += 2;
                    read_leb(body, &mut at);
                    at += 1; // end
                    let n = read_leb(body, &mut at) as usize;
                    at += n;
                }
                let mut new = Vec::new();
                write_uleb(&mut new, count + 1);
                new.extend_from_slice(&body[p..at]);
                new.extend_from_slice(&[0, 0x41]);
                write_sleb(&mut new, i64::from(address as i32));
                new.push(0x0b);
                write_uleb(&mut new, bytes.len() as u64);
                new.extend_from_slice(bytes);
                new.extend_from_slice(&body[at..]);
                new
            }
            12 => {
                let mut p = 0;
                let count = read_leb(body, &mut p);
                let mut new = Vec::new();
                write_uleb(&mut new, count + 1);
                new
            }
            _ => body.to_vec(),
        };
        out.push(id);
        write_uleb(&mut out, new_body.len() as u64);
        out.extend_from_slice(&new_body);
    }
    out
}

/// Runs a module in plain wasmtime, with none of the host's checks: what an
/// instance of it really answers (`dfabake_init`, then one match), or its
/// error message.
pub fn raw_match(module: &[u8], mode: u32, input: &[u8]) -> Result<String, String> {
    let (mut store, inst) = raw_instance(module);
    let init = inst
        .get_typed_func::<(), i32>(&mut store, export::INIT)
        .unwrap();
    if init.call(&mut store, ()).unwrap() != 0 {
        return Err(raw_output(&mut store, &inst));
    }
    let buf = inst
        .get_typed_func::<u32, u32>(&mut store, export::INPUT)
        .unwrap();
    let ptr = buf.call(&mut store, input.len() as u32).unwrap() as usize;
    let memory = inst.get_memory(&mut store, export::MEMORY).unwrap();
    memory.data_mut(&mut store)[ptr..ptr + input.len()].copy_from_slice(input);
    let run = inst
        .get_typed_func::<(u32, u32), i32>(&mut store, export::MATCH)
        .unwrap();
    let code = run
        .call(&mut store, (mode, input.len() as u32))
        .map_err(|e| format!("{e:#}"))?;
    let out = raw_output(&mut store, &inst);
    if code < 0 {
        Err(out)
    } else {
        Ok(out)
    }
}

/// What the module's own `dfabake_verify` says: `Ok` or its message.
pub fn wasm_verify(module: &[u8]) -> Result<(), String> {
    let (mut store, inst) = raw_instance(module);
    let verify = inst
        .get_typed_func::<(), i32>(&mut store, export::VERIFY)
        .unwrap();
    match verify.call(&mut store, ()).unwrap() {
        0 => Ok(()),
        _ => Err(raw_output(&mut store, &inst)),
    }
}

fn raw_instance(module: &[u8]) -> (wasmtime::Store<()>, wasmtime::Instance) {
    let engine = wasmtime::Engine::default();
    let m = wasmtime::Module::new(&engine, module).expect("wasmtime accepts the crafted module");
    let mut store = wasmtime::Store::new(&engine, ());
    let inst = wasmtime::Instance::new(&mut store, &m, &[]).expect("it instantiates");
    (store, inst)
}

fn raw_output(store: &mut wasmtime::Store<()>, inst: &wasmtime::Instance) -> String {
    let ptr = inst
        .get_typed_func::<(), u32>(&mut *store, export::OUTPUT_PTR)
        .unwrap();
    let len = inst
        .get_typed_func::<(), u32>(&mut *store, export::OUTPUT_LEN)
        .unwrap();
    let (ptr, len) = (
        ptr.call(&mut *store, ()).unwrap() as usize,
        len.call(&mut *store, ()).unwrap() as usize,
    );
    let memory = inst.get_memory(&mut *store, export::MEMORY).unwrap();
    String::from_utf8_lossy(&memory.data(&*store)[ptr..ptr + len]).into_owned()
}

/// Offset in `module` of the first section with id `id` (its id byte).
pub fn section_at(module: &[u8], id: u8) -> Option<usize> {
    let mut pos = 8;
    while pos < module.len() {
        let start = pos;
        let this = module[pos];
        pos += 1;
        let len = read_leb(module, &mut pos) as usize;
        if this == id {
            return Some(start);
        }
        pos += len;
    }
    None
}

/// The address of the locator (its marker) in linear memory.
pub fn locator_address(module: &[u8]) -> u32 {
    let mut at = None;
    for_each_data_segment(module, |seg| {
        if let Some(m) = dfabake_matcher::module::find_marker(seg.bytes) {
            at = Some(seg.address + m as u32);
        }
    })
    .unwrap();
    at.expect("a locator")
}
