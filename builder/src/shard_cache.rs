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
//! The same directory keeps each rule's (and each branch's) exact program,
//! keyed by its parse ([`ShardCache::program_key`]): compiling them is most
//! of what a rebuild does besides the changed shards. A program entry
//! starts with the SHA-256 of its key and program, and is decoded before
//! use: one that is damaged, copied from another key, or not a well-formed
//! program is compiled again (and the database is verified in full).
//!
//! Shard boundaries are content-defined (see [`chunk`]): inserting or
//! deleting a rule moves at most the boundaries around it, so the other
//! shards keep their keys.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use dfabake_matcher::format::DfaKind;
use regex_syntax::hir::Hir;
use sha2::{Digest, Sha256};

/// What the cache knows about a shard.
pub enum Entry {
    /// Its serialized DFA and how it is represented.
    Dfa(DfaKind, Vec<u8>),
    /// Its DFA exceeds the size limit: split it.
    TooBig,
}

/// Creates `dir` and its missing parents readable by their owner only,
/// whatever the umask: the default directory lies inside
/// `dfabake-host`'s native-code cache (`~/.cache/dfabake/shards`), which the
/// host uses only if it is not group- or world-writable.
fn create_private_dir_all(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
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
        create_private_dir_all(dir)?;
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
        let (head, bytes) = read_entry::<33>(&self.path(key, "dfa"))?;
        let (sum, kind) = head.split_at(32);
        if Sha256::new()
            .chain_update(kind)
            .chain_update(&bytes)
            .finalize()[..]
            != *sum
        {
            return None;
        }
        let kind = match kind[0] {
            b'd' => DfaKind::Dense,
            b's' => DfaKind::Sparse,
            _ => return None,
        };
        Some(Entry::Dfa(kind, bytes))
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
        self.write(key, ext, &bytes);
    }

    /// The key of the exact program of `hir` (a rule's parse, or a branch
    /// of it): everything the program depends on, which is the parse
    /// itself ([`encode_hir`]), the regex-automata version that compiles
    /// it, and the program encoding (the database format version, and the
    /// template, whose engine reads the programs: a change to the matcher
    /// changes it).
    pub fn program_key(hir: &Hir) -> String {
        static TEMPLATE_SHA256: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
        let template = TEMPLATE_SHA256.get_or_init(|| Sha256::digest(crate::bake::TEMPLATE).into());
        let mut text = Vec::new();
        encode_hir(hir, &mut text);
        let mut h = Sha256::new();
        h.update(b"dfabake-exact-v1\0");
        h.update(dfabake_matcher::REGEX_AUTOMATA_VERSION.as_bytes());
        h.update([0]);
        h.update(dfabake_matcher::format::VERSION.to_le_bytes());
        h.update(template);
        h.update(&text);
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Looks an exact program up: `None` unless the entry is intact, was
    /// written for this key (its hash covers the key: an entry copied from
    /// another key is not taken) and holds a well-formed program.
    pub fn get_program(&self, key: &str) -> Option<Vec<u8>> {
        let (sum, program) = read_entry::<32>(&self.path(key, "exact"))?;
        if program_sum(key, &program) != sum {
            return None;
        }
        dfabake_matcher::exact::check_program(&program).ok()?;
        Some(program)
    }

    /// Stores an exact program (failures are warnings, as for shards).
    pub fn put_program(&self, key: &str, program: &[u8]) {
        self.write(
            key,
            "exact",
            &[&program_sum(key, program)[..], program].concat(),
        );
    }

    /// Writes an entry atomically, or records why it could not be.
    fn write(&self, key: &str, ext: &str, bytes: &[u8]) {
        let path = self.path(key, ext);
        let write = || -> std::io::Result<()> {
            let dir = path.parent().unwrap();
            create_private_dir_all(dir)?;
            let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
            tmp.write_all(bytes)?;
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

/// What a program entry starts with: the SHA-256 of its key and program.
fn program_sum(key: &str, program: &[u8]) -> [u8; 32] {
    Sha256::new()
        .chain_update(key.as_bytes())
        .chain_update(program)
        .finalize()
        .into()
}

/// Appends an unambiguous encoding of `hir` to `out`: every node's kind and
/// contents, lists with their lengths. Two parses encode alike only if they
/// are equal (a HIR's properties follow from its kinds), and this is many
/// times faster than its `Debug` form, which spells out every range of a
/// Unicode class character by character.
pub fn encode_hir(hir: &Hir, out: &mut Vec<u8>) {
    use regex_syntax::hir::{Class, HirKind};
    let len = |out: &mut Vec<u8>, n: usize| out.extend_from_slice(&(n as u64).to_le_bytes());
    match hir.kind() {
        HirKind::Empty => out.push(0),
        HirKind::Literal(lit) => {
            out.push(1);
            len(out, lit.0.len());
            out.extend_from_slice(&lit.0);
        }
        HirKind::Class(Class::Unicode(class)) => {
            out.push(2);
            len(out, class.ranges().len());
            for r in class.ranges() {
                out.extend_from_slice(&u32::from(r.start()).to_le_bytes());
                out.extend_from_slice(&u32::from(r.end()).to_le_bytes());
            }
        }
        HirKind::Class(Class::Bytes(class)) => {
            out.push(3);
            len(out, class.ranges().len());
            for r in class.ranges() {
                out.extend_from_slice(&[r.start(), r.end()]);
            }
        }
        HirKind::Look(look) => {
            out.push(4);
            out.extend_from_slice(&look.as_repr().to_le_bytes());
        }
        HirKind::Repetition(rep) => {
            out.push(5);
            out.extend_from_slice(&rep.min.to_le_bytes());
            out.extend_from_slice(&rep.max.map_or(u64::MAX, u64::from).to_le_bytes());
            out.push(rep.greedy as u8);
            encode_hir(&rep.sub, out);
        }
        HirKind::Capture(cap) => {
            out.push(6);
            out.extend_from_slice(&cap.index.to_le_bytes());
            match &cap.name {
                Some(name) => {
                    out.push(1);
                    len(out, name.len());
                    out.extend_from_slice(name.as_bytes());
                }
                None => out.push(0),
            }
            encode_hir(&cap.sub, out);
        }
        HirKind::Concat(subs) | HirKind::Alternation(subs) => {
            out.push(if matches!(hir.kind(), HirKind::Concat(_)) {
                7
            } else {
                8
            });
            len(out, subs.len());
            for sub in subs {
                encode_hir(sub, out);
            }
        }
    }
}

/// An entry's first `N` bytes and the rest, each read into a buffer of its
/// own (a DFA is read once, never copied).
fn read_entry<const N: usize>(path: &Path) -> Option<([u8; N], Vec<u8>)> {
    let mut file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len() as usize;
    let mut head = [0u8; N];
    file.read_exact(&mut head).ok()?;
    let mut rest = Vec::with_capacity(len.saturating_sub(N));
    file.read_to_end(&mut rest).ok()?;
    Some((head, rest))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pattern: &str) -> Hir {
        regex_syntax::ParserBuilder::new()
            .utf8(false)
            .build()
            .parse(pattern)
            .unwrap()
    }

    /// Two parses encode alike exactly when they are equal, across every
    /// kind of node and the fields that tell nodes of a kind apart.
    #[test]
    fn hir_encodings_tell_parses_apart() {
        let patterns = [
            "",
            "a",
            "b",
            "ab",
            "(?:a)(?:b)",
            "a|b",
            "b|a",
            "(a)",
            "(?P<x>a)",
            "(?P<y>a)",
            "(a)(b)",
            "a?",
            "a??",
            "a*",
            "a+",
            "a{2,3}",
            "a{2,3}?",
            "a{2}",
            "a{2,}",
            "[a-c]",
            "[a-d]",
            "[a-cx]",
            "(?-u:[a-c])",
            r"(?-u:\xff)",
            r"\w",
            r"(?-u:\w)",
            r"\b",
            r"(?-u:\b)",
            "^",
            "$",
            "(?m)^",
            "(?i)a",
            "(?s).",
            ".",
            "a|b|c",
            "(?:a|b)c",
        ];
        let parsed: Vec<(Hir, Vec<u8>)> = patterns
            .iter()
            .map(|p| {
                let hir = parse(p);
                let mut text = Vec::new();
                encode_hir(&hir, &mut text);
                (hir, text)
            })
            .collect();
        for (i, (a, ta)) in parsed.iter().enumerate() {
            for (j, (b, tb)) in parsed.iter().enumerate() {
                assert_eq!(ta == tb, a == b, "{:?} and {:?}", patterns[i], patterns[j]);
            }
        }
    }

    /// A program entry is taken only as written for its key: damaged,
    /// truncated, copied from another key, or holding no program, it is
    /// ignored (and the program compiled again).
    #[test]
    fn bad_program_entries_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ShardCache::open(dir.path()).unwrap();
        let program = |p: &str| dfabake_matcher::exact::compile(p).unwrap();
        let (a, b) = (
            ShardCache::program_key(&parse("a+b")),
            ShardCache::program_key(&parse("c")),
        );
        assert_ne!(a, b);
        assert_eq!(cache.get_program(&a), None, "nothing stored yet");
        cache.put_program(&a, &program("a+b"));
        cache.put_program(&b, &program("c"));
        assert_eq!(cache.get_program(&a), Some(program("a+b")));
        assert!(cache.take_write_failures().is_empty());
        let path = |key: &str| cache.path(key, "exact");
        let good = std::fs::read(path(&a)).unwrap();
        let planted: Vec<(&str, Vec<u8>)> = vec![
            ("damaged", {
                let mut bytes = good.clone();
                *bytes.last_mut().unwrap() ^= 1;
                bytes
            }),
            ("truncated", good[..good.len() - 1].to_vec()),
            ("shorter than its hash", good[..20].to_vec()),
            ("empty", Vec::new()),
            ("copied from another key", std::fs::read(path(&b)).unwrap()),
            ("no program, hashed for its key", {
                let junk = b"not a program".to_vec();
                [&program_sum(&a, &junk)[..], &junk].concat()
            }),
        ];
        for (what, bytes) in planted {
            std::fs::write(path(&a), &bytes).unwrap();
            assert_eq!(cache.get_program(&a), None, "{what}");
        }
        std::fs::write(path(&a), &good).unwrap();
        assert_eq!(cache.get_program(&a), Some(program("a+b")));
    }
}
