//! The on-disk native-code cache.
//!
//! Loading an entry means running its bytes as machine code, so an entry is
//! used only when nobody but this user (or root) could have produced it:
//!
//! * The directory is created with mode 0700 (parents too). An existing one
//!   must be owned by the effective user and not group- or world-writable;
//!   otherwise the cache is not used at all: nothing is read or written there
//!   (a warning; the module is compiled).
//! * `hmac.key` holds a random 32-byte key, mode 0600, created whole or not at
//!   all (written to a temporary file, then linked in without clobbering). A
//!   key file that is not ours, that others may read or write, or that is not
//!   32 bytes also disables the cache, with a warning that says to remove it:
//!   a key that may have leaked is not silently replaced, the operator should
//!   know the cache was exposed.
//! * An entry is two files: `<module blake3>-<engine hash>.cwasm`, wasmtime's
//!   own serialized code, and `<that name>.tag`, `MAGIC ‖ tag` with
//!   `tag = BLAKE3-keyed(key, MAGIC ‖ entry name ‖ code)`: altered code, or
//!   genuine code of another module or engine renamed, does not
//!   authenticate. Both files must be ours and not group- or world-writable,
//!   and are opened without following a symlink. The code file is hashed
//!   through the descriptor that is then handed to wasmtime, which maps it
//!   instead of copying it: a warm start of a 30 MB module costs one keyed
//!   hash of its code, and its data segment is mapped copy-on-write from the
//!   file. (Between the hash and the mapping only this user or root could
//!   alter that file, and both are outside what this cache defends against.)
//!   Anything else is ignored with a warning, recompiled, and replaced.
//! * A code file that authenticated is remembered the same way as module
//!   files are (below): `<entry name>.seen` holds its identity and the tag
//!   it matched, tagged with the key. While the file keeps that identity
//!   (any write changes its change time, a replacement its inode) and its
//!   tag file that tag, it is not hashed again: a warm start of a 30 MB
//!   module (a 36 MB code file, ~6 ms of hashing on two cores) then does no
//!   work proportional to its size at all.
//! * Entries are written to a temporary file and renamed into place, code
//!   first, tag last, so a half-written entry never has an entry's name and
//!   code without its tag is a miss.
//!
//! * A module file loaded through the cache is remembered in a small index
//!   entry, `<keyed hash of its device and inode>.module`: the file's device,
//!   inode, size, modification and change times, its BLAKE3 hash and what
//!   verifying it found, tagged like an entry. A later load whose file still
//!   has that identity (any write changes its change time; a rebake makes a
//!   new inode) takes its hash from there and never reads the module: a warm
//!   start does no work proportional to the module's size beyond the code
//!   entry's tag. As in git's index, a file changed within
//!   [`RACY_MARGIN`] of being remembered is not remembered (a change in the
//!   same clock tick would keep its times), so it is hashed again next time.
//!
//! Not defended against: root, and this user itself (both can read the key);
//! the parent directories' permissions are not checked.

use std::fs::{DirBuilder, File, OpenOptions};
use std::hash::{Hash, Hasher};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use wasmtime::{Engine, Module};

use crate::{CodeSource, ModuleInfo, WasmContext};

/// The key file's name in the cache directory.
pub(crate) const KEY_FILE: &str = "hmac.key";
const KEY_LEN: usize = 32;
/// Start of every tag file; changes whenever the entry layout, or what an
/// entry vouches for, does. Version 2: the module was fully verified before
/// its entry was written (so a later load may skip that; see
/// [`compile_cached`]). Version 3: the tag is a sidecar file and a keyed
/// BLAKE3 hash, so the code file is wasmtime's own and can be mapped.
const MAGIC: &[u8; 16] = b"dfabake-cwasm-3\n";
const TAG_LEN: usize = blake3::OUT_LEN;
/// The tag file of entry `name` is `name` + this.
const TAG_SUFFIX: &str = ".tag";
/// Start of every module index entry; changes with its layout.
const INDEX_MAGIC: &[u8; 16] = b"dfabake-module1\n";
/// Module index entries are `<name>` + this.
const INDEX_SUFFIX: &str = ".module";
/// Start of every record of a code file that authenticated; changes with
/// its layout.
const SEEN_MAGIC: &[u8; 16] = b"dfabake-seen-01\n";
/// The record of code file `name` is `name` + this.
const SEEN_SUFFIX: &str = ".seen";
/// A module file whose modification or change time is this close to now is
/// not remembered: a write in the same clock tick (coarse on Linux, 2 s on
/// FAT) could leave both times as they were.
pub(crate) const RACY_MARGIN: std::time::Duration = std::time::Duration::from_secs(2);
/// Inputs at least this long are hashed on all cores.
const PARALLEL_HASH_FROM: usize = 1 << 20;

/// BLAKE3 of the concatenated `parts` (keyed with `key`, if any), on all
/// cores when long.
fn blake3_of(key: Option<&[u8; KEY_LEN]>, parts: &[&[u8]]) -> blake3::Hash {
    let mut h = match key {
        Some(key) => blake3::Hasher::new_keyed(key),
        None => blake3::Hasher::new(),
    };
    for part in parts {
        if part.len() >= PARALLEL_HASH_FROM {
            h.update_rayon(part);
        } else {
            h.update(part);
        }
    }
    h.finalize()
}

/// The cache key of a module: BLAKE3 of its bytes.
pub(crate) fn module_key(wasm: &[u8]) -> blake3::Hash {
    blake3_of(None, &[wasm])
}

/// What identifies a file's contents without reading them: a write changes
/// its change time, a replacement its inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FileIdentity {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileIdentity {
    /// The identity of an opened file (through its descriptor).
    pub(crate) fn of(file: &File) -> io::Result<FileIdentity> {
        Ok(FileIdentity::from_metadata(&file.metadata()?))
    }

    /// The identity a file's metadata tells.
    fn from_metadata(m: &std::fs::Metadata) -> FileIdentity {
        FileIdentity {
            dev: m.dev(),
            ino: m.ino(),
            size: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }

    const LEN: usize = 8 * 7;

    /// The file's size when it was opened.
    pub(crate) fn len(&self) -> u64 {
        self.size
    }

    fn write_to(&self, out: &mut Vec<u8>) {
        for v in [
            self.dev,
            self.ino,
            self.size,
            self.mtime.0 as u64,
            self.mtime.1 as u64,
            self.ctime.0 as u64,
            self.ctime.1 as u64,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }

    /// Whether both times are at least [`RACY_MARGIN`] in the past.
    fn settled(&self) -> bool {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let newest = self.mtime.0.max(self.ctime.0);
        // Whole seconds, strictly less: the nanoseconds get a second more.
        newest + (RACY_MARGIN.as_secs() as i64) < now
    }
}

/// What the cache remembers of a module file.
pub(crate) struct Known {
    /// The module's cache key ([`module_key`]).
    pub hash: blake3::Hash,
    /// What verifying it found.
    pub info: ModuleInfo,
}

/// The body of an index entry, before its tag.
fn index_body(id: &FileIdentity, known: &Known) -> Option<Vec<u8>> {
    let sha256 = hex_bytes::<32>(&known.info.sha256)?;
    let mut out = Vec::with_capacity(INDEX_MAGIC.len() + FileIdentity::LEN + 32 * 2 + 8 * 4);
    out.extend_from_slice(INDEX_MAGIC);
    id.write_to(&mut out);
    out.extend_from_slice(known.hash.as_bytes());
    out.extend_from_slice(&sha256);
    for v in [
        known.info.rules as u64,
        known.info.shards as u64,
        known.info.checksum,
        known.info.module_bytes as u64,
    ] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    Some(out)
}

/// `N` bytes from `2 * N` hex digits.
fn hex_bytes<const N: usize>(hex: &str) -> Option<[u8; N]> {
    let hex = hex.as_bytes();
    if hex.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, pair) in hex.chunks(2).enumerate() {
        out[i] = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}

/// What compiling through the cache produced.
pub(crate) struct Outcome {
    pub module: Module,
    pub source: CodeSource,
    /// The entry now holding this code, if the cache was usable.
    pub entry: Option<PathBuf>,
    pub warnings: Vec<String>,
}

/// Why an object with this owner and mode cannot be trusted by `euid`, if it
/// cannot; `forbidden` are the permission bits nobody else may hold.
pub(crate) fn distrust(uid: u32, mode: u32, euid: u32, forbidden: u32) -> Option<String> {
    if uid != euid {
        return Some(format!(
            "it is owned by uid {uid}, not by this user (uid {euid})"
        ));
    }
    let bad = mode & forbidden;
    if bad & 0o022 != 0 {
        return Some(format!(
            "it is group- or world-writable (mode {:04o})",
            mode & 0o7777
        ));
    }
    if bad != 0 {
        return Some(format!("others may read it (mode {:04o})", mode & 0o7777));
    }
    None
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Opens a file for reading without following a symlink in its last
/// component, and without blocking on a FIFO planted in its place.
fn open_private(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
}

/// Checks an opened file (its descriptor, not its path): a regular file of
/// ours, none of the `forbidden` mode bits, at most `limit` bytes (so a huge
/// planted file costs nothing). Returns its metadata.
fn check_opened(file: &File, forbidden: u32, limit: u64) -> Result<std::fs::Metadata, String> {
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot stat it: {e}"))?;
    if !meta.is_file() {
        return Err("it is not a regular file".into());
    }
    if let Some(why) = distrust(meta.uid(), meta.mode(), euid(), forbidden) {
        return Err(why);
    }
    if meta.len() > limit {
        return Err(format!("it is too large ({} bytes)", meta.len()));
    }
    Ok(meta)
}

/// Checks an opened file as [`check_opened`] does and reads it whole.
fn read_checked(file: File, forbidden: u32, limit: u64) -> Result<Vec<u8>, String> {
    let meta_len = check_opened(&file, forbidden, limit)?.len();
    let mut bytes = Vec::with_capacity(meta_len as usize);
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read it: {e}"))?;
    Ok(bytes)
}

/// The name of the entry for a module (its BLAKE3 hash, hex: a third of
/// SHA-256's time on a 30 MB module) compiled by `engine`.
pub(crate) fn entry_name(engine: &Engine, module_hash: &str) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    env!("CARGO_PKG_VERSION").hash(&mut h);
    format!("{module_hash}-{:016x}.cwasm", h.finish())
}

/// An open, trusted cache directory and its key.
pub(crate) struct Cache {
    dir: PathBuf,
    key: [u8; KEY_LEN],
}

impl Cache {
    /// Creates or checks the directory and loads or creates its key; the
    /// error says why the cache must not be used.
    pub(crate) fn open(dir: &Path) -> Result<Cache, String> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create it: {e}"))?;
        let meta = std::fs::metadata(dir).map_err(|e| format!("cannot stat it: {e}"))?;
        if !meta.is_dir() {
            return Err("it is not a directory".into());
        }
        if let Some(why) = distrust(meta.uid(), meta.mode(), euid(), 0o022) {
            return Err(format!("{why}; only a directory private to this user is used (chmod 700 it, or choose another --cache-dir)"));
        }
        let key = Self::key(dir)?;
        Ok(Cache {
            dir: dir.to_path_buf(),
            key,
        })
    }

    fn read_key(path: &Path) -> Result<Option<[u8; KEY_LEN]>, String> {
        let file = match open_private(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot open it: {e}")),
        };
        let bytes = read_checked(file, 0o077, KEY_LEN as u64)?;
        bytes
            .try_into()
            .map(Some)
            .map_err(|b: Vec<u8>| format!("it holds {} bytes, not {KEY_LEN}", b.len()))
    }

    fn key(dir: &Path) -> Result<[u8; KEY_LEN], String> {
        let path = dir.join(KEY_FILE);
        let bad = |why: String| {
            format!(
                "key file {}: {why}; remove it to start a new key (entries made with the old one are then recompiled)",
                path.display()
            )
        };
        if let Some(key) = Self::read_key(&path).map_err(bad)? {
            return Ok(key);
        }
        let mut key = [0u8; KEY_LEN];
        getrandom::fill(&mut key).map_err(|e| bad(format!("no random bytes for it: {e}")))?;
        // Whole or not at all: a reader never sees a short key, and of two
        // processes creating it at once, one key wins and both use it.
        let created = (|| -> io::Result<()> {
            let mut tmp = tempfile::Builder::new()
                .prefix(".key-")
                .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .tempfile_in(dir)?;
            tmp.write_all(&key)?;
            tmp.as_file().sync_all()?;
            tmp.persist_noclobber(&path).map_err(|e| e.error)?;
            Ok(())
        })();
        match created {
            Ok(()) => Ok(key),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Self::read_key(&path)
                .map_err(bad)?
                .ok_or_else(|| bad("it vanished while being created".into())),
            Err(e) => Err(bad(format!("cannot create it: {e}"))),
        }
    }

    fn tag(&self, name: &str, code: &[u8]) -> blake3::Hash {
        blake3_of(Some(&self.key), &[MAGIC, name.as_bytes(), code])
    }

    /// The index entry name of a module file with identity `id`: keyed, so
    /// that the directory does not list which inodes were loaded.
    fn index_name(&self, id: &FileIdentity) -> String {
        let mut ident = Vec::with_capacity(16);
        ident.extend_from_slice(&id.dev.to_le_bytes());
        ident.extend_from_slice(&id.ino.to_le_bytes());
        let h = blake3_of(Some(&self.key), &[INDEX_MAGIC, &ident]);
        format!("{}{INDEX_SUFFIX}", &h.to_hex()[..32])
    }

    /// What this cache remembers of the module file with identity `id`, if
    /// the entry is there, ours, authentic and for this very identity.
    fn recall(&self, id: &FileIdentity) -> Option<Known> {
        let file = open_private(&self.dir.join(self.index_name(id))).ok()?;
        let bytes = read_checked(file, 0o022, 4096).ok()?;
        let body_len = bytes.len().checked_sub(TAG_LEN)?;
        let (body, tag) = bytes.split_at(body_len);
        let tag: [u8; TAG_LEN] = tag.try_into().ok()?;
        // blake3::Hash compares in constant time.
        if blake3_of(Some(&self.key), &[body]) != blake3::Hash::from_bytes(tag) {
            return None;
        }
        let mut identity = Vec::new();
        id.write_to(&mut identity);
        let rest = body.strip_prefix(INDEX_MAGIC.as_slice())?;
        let rest = rest.strip_prefix(identity.as_slice())?;
        if rest.len() != 32 + 32 + 8 * 4 {
            return None;
        }
        let hash = blake3::Hash::from_bytes(rest[..32].try_into().ok()?);
        let sha256 = crate::hex(&rest[32..64]);
        let word = |i: usize| {
            u64::from_le_bytes(rest[64 + 8 * i..72 + 8 * i].try_into().expect("8 bytes"))
        };
        Some(Known {
            hash,
            info: ModuleInfo {
                rules: word(0) as usize,
                shards: word(1) as usize,
                checksum: word(2),
                sha256,
                module_bytes: word(3) as usize,
            },
        })
    }

    /// Remembers `known` for the module file with identity `id`.
    fn remember(&self, id: &FileIdentity, known: &Known) -> Result<()> {
        let body = index_body(id, known).context("module SHA-256 is not 64 hex digits")?;
        self.write_tagged(&self.index_name(id), &body)
    }

    /// Writes `body` and its keyed hash as file `name`, whole or not at all.
    fn write_tagged(&self, name: &str, body: &[u8]) -> Result<()> {
        let tag = blake3_of(Some(&self.key), &[body]);
        let mut tmp = tempfile::Builder::new()
            .prefix(".record-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .tempfile_in(&self.dir)
            .with_context(|| format!("writing to cache dir {}", self.dir.display()))?;
        let path = self.dir.join(name);
        tmp.write_all(body)
            .and_then(|()| tmp.write_all(tag.as_bytes()))
            .and_then(|()| tmp.persist(&path).map(drop).map_err(|e| e.error))
            .with_context(|| format!("writing {}", path.display()))
    }

    /// The code file of entry `name`, authenticated: `Ok(None)` if there is
    /// none, `Err` with the reason it cannot be used.
    fn read(&self, name: &str) -> Result<Option<File>, String> {
        let file = match open_private(&self.dir.join(name)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot open it: {e}")),
        };
        // One stat for the checks and the identity the record is keyed by.
        let meta = check_opened(&file, 0o022, 1 << 32)?;
        let len = meta.len();
        let tag_file = match open_private(&self.dir.join(format!("{name}{TAG_SUFFIX}"))) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(format!("its tag file {name}{TAG_SUFFIX} is missing"))
            }
            Err(e) => return Err(format!("cannot open its tag file: {e}")),
        };
        let tag = read_checked(tag_file, 0o022, (MAGIC.len() + TAG_LEN) as u64)
            .map_err(|why| format!("its tag file: {why}"))?;
        if tag.len() != MAGIC.len() + TAG_LEN || &tag[..MAGIC.len()] != MAGIC {
            return Err("it is not in this host's entry format".into());
        }
        let want: [u8; TAG_LEN] = tag[MAGIC.len()..].try_into().expect("length checked");
        let id = FileIdentity::from_metadata(&meta);
        if self.seen(name, &id, &want) {
            return Ok(Some(file));
        }
        let authentic = if len == 0 {
            self.tag(name, &[]) == blake3::Hash::from_bytes(want)
        } else {
            // SAFETY: the mapping is only read, and only for this hash; the
            // file is ours and private (checked above), and wasmtime maps
            // it again itself.
            let code =
                unsafe { memmap2::Mmap::map(&file) }.map_err(|e| format!("cannot map it: {e}"))?;
            // blake3::Hash compares in constant time.
            self.tag(name, &code) == blake3::Hash::from_bytes(want)
        };
        if !authentic {
            return Err("it does not authenticate (not written by this host for this module and engine, or altered since)".to_string());
        }
        if id.settled() {
            // Best effort: without the record the next load hashes again.
            let _ = self.remember_seen(name, &id, &want);
        }
        Ok(Some(file))
    }

    /// The record saying that code file `name`, with identity `id`,
    /// authenticated with tag `tag`, before its own tag.
    fn seen_body(&self, name: &str, id: &FileIdentity, tag: &[u8; TAG_LEN]) -> Vec<u8> {
        let mut body =
            Vec::with_capacity(SEEN_MAGIC.len() + name.len() + FileIdentity::LEN + TAG_LEN);
        body.extend_from_slice(SEEN_MAGIC);
        body.extend_from_slice(name.as_bytes());
        id.write_to(&mut body);
        body.extend_from_slice(tag);
        body
    }

    /// Whether code file `name` authenticated with tag `tag` while it had
    /// identity `id`, as an authentic record of ours says.
    fn seen(&self, name: &str, id: &FileIdentity, tag: &[u8; TAG_LEN]) -> bool {
        let Ok(file) = open_private(&self.dir.join(format!("{name}{SEEN_SUFFIX}"))) else {
            return false;
        };
        let Ok(bytes) = read_checked(file, 0o022, 4096) else {
            return false;
        };
        let body = self.seen_body(name, id, tag);
        let Some(stored) = bytes.strip_prefix(body.as_slice()) else {
            return false;
        };
        let Ok(stored) = <[u8; TAG_LEN]>::try_from(stored) else {
            return false;
        };
        // blake3::Hash compares in constant time.
        blake3_of(Some(&self.key), &[&body]) == blake3::Hash::from_bytes(stored)
    }

    /// Records that code file `name` with identity `id` authenticated with
    /// tag `tag`.
    fn remember_seen(&self, name: &str, id: &FileIdentity, tag: &[u8; TAG_LEN]) -> Result<()> {
        self.write_tagged(
            &format!("{name}{SEEN_SUFFIX}"),
            &self.seen_body(name, id, tag),
        )
    }

    /// Stores `code` as entry `name`, replacing whatever had that name.
    fn write(&self, name: &str, code: &[u8]) -> Result<PathBuf> {
        let path = self.dir.join(name);
        let persist = |bytes: &[&[u8]], path: &Path| -> Result<()> {
            let mut tmp = tempfile::Builder::new()
                .prefix(".entry-")
                .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .tempfile_in(&self.dir)
                .with_context(|| format!("writing to cache dir {}", self.dir.display()))?;
            bytes
                .iter()
                .try_for_each(|b| tmp.write_all(b))
                .context("writing cache entry")?;
            tmp.persist(path)
                .with_context(|| format!("writing {}", path.display()))?;
            Ok(())
        };
        let tag = self.tag(name, code);
        persist(&[code], &path)?;
        persist(
            &[MAGIC, tag.as_bytes()],
            &self.dir.join(format!("{name}{TAG_SUFFIX}")),
        )?;
        Ok(path)
    }
}

/// Loads the code of the module file with identity `id` (not read) from
/// the cache in `dir`, if the cache remembers that file unchanged and holds
/// its code for `engine`: `None` otherwise (the caller then reads the file
/// and goes through [`compile_cached`], which says why an entry was
/// refused).
pub(crate) fn load_known(
    engine: &Engine,
    dir: &Path,
    id: &FileIdentity,
) -> Option<(Module, PathBuf, Known)> {
    let cache = Cache::open(dir).ok()?;
    let known = cache.recall(id)?;
    let name = entry_name(engine, &known.hash.to_hex());
    let file = cache.read(&name).ok()??;
    // SAFETY: as in `compile_cached`: the code authenticated under this
    // cache's key, bound to its name (module hash and engine).
    let module = unsafe { Module::deserialize_open_file(engine, file) }.ok()?;
    Some((module, dir.join(name), known))
}

/// Remembers that the module file with identity `id` (unchanged while it was
/// read) is `known`, so that the next load need not read it. Nothing is
/// remembered for a file changed within [`RACY_MARGIN`]; an unusable cache
/// is not an error (the load that just ran already warned about it).
pub(crate) fn remember(dir: &Path, id: &FileIdentity, known: &Known) -> Result<()> {
    if !id.settled() {
        return Ok(());
    }
    match Cache::open(dir) {
        Ok(cache) => cache.remember(id, known),
        Err(_) => Ok(()),
    }
}

/// Loads the module's code from the cache in `dir` if a trusted, authentic
/// entry is there; otherwise compiles it and stores it (if the cache is
/// usable at all).
///
/// `verify` runs before anything is compiled, and only then: an entry that
/// authenticates was written by this host (same version: the entry name
/// hashes it) after `verify` accepted the module with this SHA-256, so
/// loading it again needs no second full verification.
pub(crate) fn compile_cached(
    engine: &Engine,
    wasm: &[u8],
    module_hash: &str,
    dir: &Path,
    verify: &mut dyn FnMut() -> Result<()>,
) -> Result<Outcome> {
    let mut warnings = Vec::new();
    let mut compile = || {
        verify()?;
        Module::new(engine, wasm).wctx("compiling the module")
    };
    let cache = match Cache::open(dir) {
        Ok(c) => c,
        Err(why) => {
            warnings.push(format!(
                "native-code cache {} not used: {why}; compiling without it",
                dir.display()
            ));
            return Ok(Outcome {
                module: compile()?,
                source: CodeSource::Compiled,
                entry: None,
                warnings,
            });
        }
    };
    let name = entry_name(engine, module_hash);
    let path = dir.join(&name);
    let ignored = |why: &str| {
        format!(
            "ignoring cache entry {}: {why}; recompiling",
            path.display()
        )
    };
    match cache.read(&name) {
        Ok(None) => {}
        Err(why) => warnings.push(ignored(&why)),
        Ok(Some(file)) => {
            // SAFETY: the file holds exactly what this host serialized for
            // this module and engine: it authenticated under a key only this
            // user (and root) can read, bound to the entry's name, and
            // wasmtime maps it through the descriptor that was hashed.
            match unsafe { Module::deserialize_open_file(engine, file) } {
                Ok(module) => {
                    return Ok(Outcome {
                        module,
                        source: CodeSource::Cache,
                        entry: Some(path),
                        warnings,
                    })
                }
                Err(e) => warnings.push(ignored(&format!("wasmtime refused it: {e}"))),
            }
        }
    }
    let module = compile()?;
    let code = module.serialize().wctx("serializing compiled code")?;
    let entry = cache.write(&name, &code)?;
    Ok(Outcome {
        module,
        source: CodeSource::Compiled,
        entry: Some(entry),
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distrust_names_owner_and_mode() {
        assert_eq!(distrust(1000, 0o40700, 1000, 0o022), None);
        assert_eq!(distrust(1000, 0o100644, 1000, 0o022), None);
        let other = distrust(65534, 0o40700, 1000, 0o022).unwrap();
        assert!(
            other.contains("uid 65534") && other.contains("uid 1000"),
            "{other}"
        );
        for mode in [0o40770, 0o40707, 0o40777, 0o100620] {
            let why = distrust(1000, mode, 1000, 0o022).unwrap();
            assert!(why.contains("writable"), "{mode:o}: {why}");
        }
        // The key: not even readable by others.
        assert_eq!(distrust(0, 0o100600, 0, 0o077), None);
        let why = distrust(0, 0o100640, 0, 0o077).unwrap();
        assert!(why.contains("read") && why.contains("0640"), "{why}");
        // Ownership is checked before the mode: another user's private file
        // is still another user's.
        assert!(distrust(7, 0o100600, 0, 0o077).unwrap().contains("uid 7"));
    }

    #[test]
    fn entries_authenticate_only_under_their_own_name_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c");
        let cache = Cache::open(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o7777, 0o700);
        let key = path.join(KEY_FILE);
        assert_eq!(std::fs::metadata(&key).unwrap().mode() & 0o7777, 0o600);
        // Opening again reads the same key.
        assert_eq!(Cache::open(&path).unwrap().key, cache.key);

        let code = b"not really machine code".to_vec();
        let contents = |f: Option<File>| {
            let mut bytes = Vec::new();
            f.expect("an entry").read_to_end(&mut bytes).unwrap();
            bytes
        };
        let written = cache.write("a.cwasm", &code).unwrap();
        assert_eq!(contents(cache.read("a.cwasm").unwrap()), code);
        assert!(cache.read("b.cwasm").unwrap().is_none());
        // Renamed: another entry's genuine bytes, with or without its tag.
        std::fs::rename(&written, path.join("b.cwasm")).unwrap();
        assert!(cache
            .read("b.cwasm")
            .unwrap_err()
            .contains("tag file b.cwasm.tag is missing"));
        std::fs::rename(path.join("a.cwasm.tag"), path.join("b.cwasm.tag")).unwrap();
        assert!(cache
            .read("b.cwasm")
            .unwrap_err()
            .contains("does not authenticate"));
        // Another cache's key.
        let other = Cache {
            dir: path.clone(),
            key: [7; KEY_LEN],
        };
        other.write("c.cwasm", &code).unwrap();
        assert!(cache.read("c.cwasm").is_err());
        // One flipped bit anywhere, in the code or in its tag.
        cache.write("d.cwasm", &code).unwrap();
        for file in ["d.cwasm", "d.cwasm.tag"] {
            let good = std::fs::read(path.join(file)).unwrap();
            for at in [0, good.len() / 2, good.len() - 1] {
                let mut bad = good.clone();
                bad[at] ^= 1;
                std::fs::write(path.join(file), &bad).unwrap();
                assert!(cache.read("d.cwasm").is_err(), "flip in {file} at {at}");
            }
            std::fs::write(path.join(file), &good).unwrap();
            assert!(cache.read("d.cwasm").is_ok());
        }
        // A symlink to a genuine entry is not followed.
        cache.write("e.cwasm", &code).unwrap();
        std::os::unix::fs::symlink(path.join("e.cwasm"), path.join("f.cwasm")).unwrap();
        assert!(cache.read("f.cwasm").unwrap_err().contains("cannot open"));
    }

    /// A record of an authenticated code file stands only for that file's
    /// identity and tag: the code changed in place (same inode, size and
    /// modification time) is hashed again and refused, and a damaged,
    /// foreign or renamed record is ignored.
    #[test]
    fn a_code_file_record_never_vouches_for_other_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c");
        let cache = Cache::open(&path).unwrap();
        let code = b"not really machine code either".to_vec();
        let entry = cache.write("a.cwasm", &code).unwrap();
        let tag_of = |name: &str| -> [u8; TAG_LEN] {
            std::fs::read(path.join(format!("{name}{TAG_SUFFIX}"))).unwrap()[MAGIC.len()..]
                .try_into()
                .unwrap()
        };
        let identity = |p: &Path| FileIdentity::of(&File::open(p).unwrap()).unwrap();
        let record = path.join(format!("a.cwasm{SEEN_SUFFIX}"));
        // Fresh files (changed within the racy margin) are not recorded.
        assert!(cache.read("a.cwasm").unwrap().is_some());
        assert!(!record.exists());
        // As a settled file's first authenticated read records it:
        let id = identity(&entry);
        cache
            .remember_seen("a.cwasm", &id, &tag_of("a.cwasm"))
            .unwrap();
        assert!(cache.seen("a.cwasm", &id, &tag_of("a.cwasm")));
        assert!(cache.read("a.cwasm").unwrap().is_some());
        // Not for another name, tag or key.
        assert!(!cache.seen("b.cwasm", &id, &tag_of("a.cwasm")));
        assert!(!cache.seen("a.cwasm", &id, &[0; TAG_LEN]));
        let other = Cache {
            dir: path.clone(),
            key: [7; KEY_LEN],
        };
        assert!(!other.seen("a.cwasm", &id, &tag_of("a.cwasm")));
        // One flipped bit in the record.
        let good = std::fs::read(&record).unwrap();
        for at in [0, good.len() / 2, good.len() - 1] {
            let mut bad = good.clone();
            bad[at] ^= 1;
            std::fs::write(&record, &bad).unwrap();
            assert!(
                !cache.seen("a.cwasm", &id, &tag_of("a.cwasm")),
                "flip at {at}"
            );
        }
        std::fs::write(&record, &good).unwrap();
        // The code rewritten in place, its modification time put back: the
        // change time differs, so the record no longer applies. (Past a
        // clock tick of the file system's timestamps: a settled file's
        // record is made at least `RACY_MARGIN` after its change time.)
        std::thread::sleep(std::time::Duration::from_millis(50));
        let modified = std::fs::metadata(&entry).unwrap().modified().unwrap();
        let mut bad = code.clone();
        bad[3] ^= 1;
        let file = OpenOptions::new().write(true).open(&entry).unwrap();
        (&file).write_all(&bad).unwrap();
        file.set_modified(modified).unwrap();
        drop(file);
        let now = identity(&entry);
        assert_eq!((now.ino, now.size, now.mtime), (id.ino, id.size, id.mtime));
        assert_ne!(now.ctime, id.ctime);
        assert!(cache
            .read("a.cwasm")
            .unwrap_err()
            .contains("does not authenticate"));
    }

    #[test]
    fn timeouts_and_pooling_share_one_entry_when_interruptible() {
        use crate::HostConfig;
        use std::time::Duration;
        let name = |c: &HostConfig| entry_name(&c.engine().unwrap(), "m");
        // What `match` and `compile` use, and what `serve` adds to it.
        let cli = HostConfig {
            interruptible: true,
            ..HostConfig::default()
        };
        let serve = HostConfig {
            pooling: true,
            max_instances: 200,
            memory_limit: 1 << 20,
            call_timeout: Some(Duration::from_millis(1000)),
            ..cli.clone()
        };
        assert_eq!(name(&cli), name(&serve));
        // Without it, a timeout compiles epoch checks in: other code, and
        // another entry (why `serve` used to miss what `compile` wrote).
        let plain = HostConfig::default();
        let timed = HostConfig {
            call_timeout: Some(Duration::from_millis(1000)),
            ..plain.clone()
        };
        assert_ne!(name(&plain), name(&timed));
    }

    #[test]
    fn a_bad_key_file_disables_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c");
        Cache::open(&path).unwrap();
        let key = path.join(KEY_FILE);
        let chmod = |m| {
            std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(m)).unwrap()
        };
        chmod(0o644);
        let why = Cache::open(&path).err().unwrap();
        assert!(why.contains(KEY_FILE) && why.contains("0644"), "{why}");
        chmod(0o600);
        std::fs::write(&key, b"short").unwrap();
        let why = Cache::open(&path).err().unwrap();
        assert!(why.contains("5 bytes"), "{why}");
        std::fs::remove_file(&key).unwrap();
        Cache::open(&path).unwrap();
    }
}
