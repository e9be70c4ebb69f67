//! A content-addressed cache of compiled shard DFAs, so that a rebuild after
//! changing one rule recompiles only the shard that rule is in.
//!
//! A shard's key is the SHA-256 of everything its DFA depends on: the cache
//! format, the regex-automata version, the DFA kind and size limit, and the
//! effective patterns of its rules in order. Entries are written atomically
//! (temp file + rename), start with the SHA-256 of the DFA bytes, and are
//! checked against that hash when read, so a damaged entry is rebuilt, never
//! baked (and the baked database is verified in full afterwards). A shard
//! found too big is remembered too, so a rebuild splits it straight away
//! instead of determinizing it again up to the limit.
//!
//! Shard boundaries are content-defined (see [`chunk`]): inserting or
//! deleting a rule moves at most the boundaries around it, so the other
//! shards keep their keys.

use std::io::Write;
use std::path::{Path, PathBuf};

use dfabake_matcher::format::DfaKind;
use sha2::{Digest, Sha256};

/// What the cache knows about a shard.
pub enum Entry {
    /// Its serialized DFA and how it is represented.
    Dfa(DfaKind, Vec<u8>),
    /// Its DFA exceeds the size limit: split it.
    TooBig,
}

/// A cache directory.
#[derive(Debug)]
pub struct ShardCache {
    dir: PathBuf,
    /// Entries that could not be written, for the caller to report (a
    /// library prints nothing); the build goes on without them.
    write_failures: std::sync::Mutex<Vec<String>>,
}

impl ShardCache {
    /// Opens (creating it if needed) a cache directory.
    pub fn open(dir: &Path) -> std::io::Result<ShardCache> {
        std::fs::create_dir_all(dir)?;
        Ok(ShardCache {
            dir: dir.to_path_buf(),
            write_failures: Default::default(),
        })
    }

    /// The key of a shard made of `patterns` under these settings.
    pub fn key(
        patterns: &[&str],
        kind: DfaKind,
        sparse_above: Option<usize>,
        max_dfa_bytes: usize,
    ) -> String {
        let mut h = Sha256::new();
        h.update(b"dfabake-shard-v2\0");
        h.update(dfabake_matcher::REGEX_AUTOMATA_VERSION.as_bytes());
        h.update([0]);
        h.update(kind.name().as_bytes());
        h.update(sparse_above.map_or(u64::MAX, |n| n as u64).to_le_bytes());
        h.update(max_dfa_bytes.to_le_bytes());
        for p in patterns {
            h.update((p.len() as u64).to_le_bytes());
            h.update(p.as_bytes());
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    fn path(&self, key: &str, ext: &str) -> PathBuf {
        self.dir.join(&key[..2]).join(format!("{key}.{ext}"))
    }

    /// Looks a shard up. The entry's SHA-256 guards against damage; the
    /// baked database is verified in full (every DFA) after the build anyway.
    pub fn get(&self, key: &str) -> Option<Entry> {
        if self.path(key, "toobig").exists() {
            return Some(Entry::TooBig);
        }
        let file = std::fs::read(self.path(key, "dfa")).ok()?;
        let (sum, rest) = file.split_at_checked(32)?;
        if Sha256::digest(rest)[..] != *sum {
            return None;
        }
        let (&kind, bytes) = rest.split_first()?;
        let kind = match kind {
            b'd' => DfaKind::Dense,
            b's' => DfaKind::Sparse,
            _ => return None,
        };
        Some(Entry::Dfa(kind, bytes.to_vec()))
    }

    /// Stores an entry. Failures only cost a rebuild next time, so they are
    /// reported as warnings, not errors.
    pub fn put(&self, key: &str, entry: &Entry) {
        let (ext, bytes): (&str, Vec<u8>) = match entry {
            Entry::Dfa(kind, b) => {
                let tagged = [&[if *kind == DfaKind::Dense { b'd' } else { b's' }][..], b].concat();
                ("dfa", [&Sha256::digest(&tagged)[..], &tagged].concat())
            }
            Entry::TooBig => ("toobig", Vec::new()),
        };
        let path = self.path(key, ext);
        let write = || -> std::io::Result<()> {
            let dir = path.parent().unwrap();
            std::fs::create_dir_all(dir)?;
            let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
            tmp.write_all(&bytes)?;
            tmp.persist(&path).map_err(|e| e.error)?;
            Ok(())
        };
        if let Err(e) = write() {
            self.write_failures
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(format!(
                    "cannot write shard cache entry {}: {e}",
                    path.display()
                ));
        }
    }

    /// The entries [`ShardCache::put`] could not write so far (each a
    /// message naming the file and why), emptied.
    pub fn take_write_failures(&self) -> Vec<String> {
        std::mem::take(
            &mut *self
                .write_failures
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        )
    }
}

/// Splits rule positions into shards of at most `max` rules, with
/// boundaries that depend on the rules' own patterns: a shard ends after a
/// rule whose pattern hash is 0 modulo `max / 2` once it holds `max / 2`
/// rules, or when it is full. An edit therefore moves only nearby
/// boundaries, and unchanged runs of rules keep their shards (and keys).
pub fn chunk(members: &[usize], pattern: impl Fn(usize) -> u64, max: usize) -> Vec<Vec<usize>> {
    let max = max.max(1);
    let half = (max / 2).max(1) as u64;
    let mut chunks = Vec::new();
    let mut cur = Vec::new();
    for &m in members {
        cur.push(m);
        if cur.len() >= max || (cur.len() as u64 >= half && pattern(m).is_multiple_of(half)) {
            chunks.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        chunks.push(cur);
    }
    chunks
}

/// A stable 64-bit hash of a pattern, for [`chunk`].
pub fn pattern_hash(pattern: &str) -> u64 {
    let d = Sha256::digest(pattern.as_bytes());
    u64::from_le_bytes(d[..8].try_into().unwrap())
}
