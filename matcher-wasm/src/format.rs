//! The dfabake database format: one place that writes it and one that reads it.
//!
//! A database is a single byte string, little endian throughout, that the
//! builder bakes into a data segment of the matcher module. Every offset is
//! relative to the start of the database, and every serialized DFA starts at
//! an offset that is a multiple of 8, so a database placed at an 8-aligned
//! address can be read in place (zero-copy).
//!
//! ```text
//! header        80 bytes   magic "DFABAKE\0", version, counts, section offsets, checksum
//! rule table    32 bytes a rule, in priority order (index 0 wins `first`)
//! shard table   32 bytes a shard, ordered by the lowest rule index they hold
//! rule lists    u32 rule indices of each shard, ascending
//! strings       UTF-8: each rule's id and payload as JSON text, and its pattern;
//!               then, after all of those, each rule's exact program (see
//!               [`crate::exact`])
//! DFAs          serialized regex-automata DFAs, each 8-aligned (shards whose
//!               DFAs are byte-identical share one copy)
//! prefilter     literal table (see [`crate::prefilter`]), 8-aligned; optional
//! run bounds    8-aligned, optional: u32 byte-set count, the byte sets (8 u32 each: bit
//!               b % 32 of word b / 32 is byte b), u32 entry offsets (one per shard and
//!               one more: shard i's are entries first[i]..first[i + 1]), entries (u32
//!               pattern id in the shard, u32 byte set, u32 longest run); see
//!               [`Shard::run_bounds`]
//! gates         8-aligned, optional: the pairs of adjacent bytes that gate shards without
//!               literals (see [`crate::gate`])
//! ```
//!
//! Shards not [`ShardFlags::triggered`] run on every input; triggered shards
//! run only when the prefilter saw one of their literals. A triggered shard
//! that is [`ShardFlags::anchored`] runs anchored, at each place where one of its
//! literals starts, instead of over the whole input. A shard that is not
//! triggered but *gated* runs only on inputs holding one of its gate's
//! pairs of bytes ([`crate::gate`]).
//!
//! The checksum is XXH3-64 over the whole database with the checksum field
//! read as zero. It is verified once per module (by the builder after baking
//! and by a host before it instantiates), so that each instance can
//! deserialize its DFAs unchecked, in constant time.
//!
//! # Example
//!
//! ```
//! # #[cfg(feature = "build")] {
//! use dfabake_matcher::format::{AlignedBytes, Database, DatabaseWriter, DfaKind, RuleEntry, ShardFlags};
//!
//! let mut w = DatabaseWriter::new();
//! let program = dfabake_matcher::exact::compile("a+").unwrap();
//! w.push_rule(RuleEntry { id_json: "1", payload_json: None, pattern: "a+", exact: &program });
//! // Every rule needs a way to be answered: here its exact engine alone.
//! w.push_shard(DfaKind::Exact, ShardFlags::default(), Vec::new(), vec![0]);
//! let bytes = w.finish();
//! let aligned = AlignedBytes::copy_from(&bytes);
//! let db = Database::from_bytes(aligned.as_bytes()).unwrap();
//! assert_eq!(db.rule_count(), 1);
//! assert_eq!(db.rule(0).id_json(), "1");
//! # }
//! ```

use crate::lazy::LazyInPlace;
use alloc::vec::Vec;
use core::fmt;

use regex_automata::dfa::{dense, sparse, StartKind};

use crate::gate::{Gates, Pair, MAX_PAIRS};
use crate::prefilter::{Literal, Prefilter, PrefilterWriter, Target};
use crate::wire::{pad_to, patch_u64, read_u32, read_u64, u32s, write_u32, write_u64};

/// The first 8 bytes of every database.
pub const MAGIC: [u8; 8] = *b"DFABAKE\0";
/// The format version this crate reads and writes.
pub const VERSION: u32 = 7;
/// Size of the fixed header.
pub const HEADER_LEN: usize = Header::LEN;
/// Alignment of every serialized DFA inside the database (dense DFAs need 4).
pub const DFA_ALIGN: usize = 8;

/// `len` bytes at offset `at` (of the database, or of its string section
/// for a rule's strings and a shard's program).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    /// Offset of the first byte.
    pub at: u32,
    /// Length in bytes.
    pub len: u32,
}

impl Span {
    fn read(bytes: &[u8], at: usize) -> Span {
        Span {
            at: read_u32(bytes, at),
            len: read_u32(bytes, at + 4),
        }
    }

    fn write_to(self, out: &mut Vec<u8>) {
        write_u32(out, self.at);
        write_u32(out, self.len);
    }

    /// An optional section of `len` bytes at `at` (the zero span when
    /// empty: the header's "none").
    fn of_section(at: usize, len: usize) -> Span {
        match len {
            0 => Span::default(),
            len => Span {
                at: at as u32,
                len: len as u32,
            },
        }
    }

    /// Its bytes of `bytes`, if they are in bounds.
    fn of(self, bytes: &[u8]) -> Option<&[u8]> {
        let at = self.at as usize;
        bytes.get(at..at.saturating_add(self.len as usize))
    }
}

/// The fixed header that opens every database, as [`Header::read`] reads
/// it and [`Header::write_to`] writes it, field by field, in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Format version ([`VERSION`]).
    pub version: u32,
    /// Length of this header ([`Header::LEN`]).
    pub header_len: u32,
    /// Length of the whole database, header included.
    pub total_len: u32,
    /// Records in the rule table.
    pub rule_count: u32,
    /// Records in the shard table.
    pub shard_count: u32,
    /// Header flags; none is defined, so always 0.
    pub flags: u32,
    /// Offset of the rule table.
    pub rules_at: u32,
    /// Offset of the shard table.
    pub shards_at: u32,
    /// The string section.
    pub strings: Span,
    /// XXH3-64 of the database with this field read as zero ([`checksum`]).
    pub checksum: u64,
    /// The prefilter section (`len` 0: none).
    pub prefilter: Span,
    /// The run bounds section (`len` 0: none).
    pub run_bounds: Span,
    /// The gates section (`len` 0: none).
    pub gates: Span,
}

impl Header {
    /// Size of the header.
    pub const LEN: usize = 80;
    /// Offset of [`Header::total_len`].
    pub const TOTAL_LEN_AT: usize = 16;
    /// Offset of [`Header::checksum`].
    pub const CHECKSUM_AT: usize = 48;

    /// Reads the header at the start of `bytes`: they must be at least
    /// [`Header::LEN`] long and open with [`MAGIC`]. Nothing else is checked.
    pub fn read(bytes: &[u8]) -> Result<Header, FormatError> {
        if bytes.len() < Self::LEN {
            return Err(FormatError::Truncated {
                needed: Self::LEN,
                got: bytes.len(),
            });
        }
        if bytes[..8] != MAGIC {
            return Err(FormatError::BadMagic);
        }
        Ok(Header {
            version: read_u32(bytes, 8),
            header_len: read_u32(bytes, 12),
            total_len: read_u32(bytes, Self::TOTAL_LEN_AT),
            rule_count: read_u32(bytes, 20),
            shard_count: read_u32(bytes, 24),
            flags: read_u32(bytes, 28),
            rules_at: read_u32(bytes, 32),
            shards_at: read_u32(bytes, 36),
            strings: Span::read(bytes, 40),
            checksum: read_u64(bytes, Self::CHECKSUM_AT),
            prefilter: Span::read(bytes, 56),
            run_bounds: Span::read(bytes, 64),
            gates: Span::read(bytes, 72),
        })
    }

    /// Appends the header ([`Header::LEN`] bytes, [`MAGIC`] first).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&MAGIC);
        for v in [
            self.version,
            self.header_len,
            self.total_len,
            self.rule_count,
            self.shard_count,
            self.flags,
            self.rules_at,
            self.shards_at,
        ] {
            write_u32(out, v);
        }
        self.strings.write_to(out);
        write_u64(out, self.checksum);
        self.prefilter.write_to(out);
        self.run_bounds.write_to(out);
        self.gates.write_to(out);
        debug_assert_eq!(out.len() - start, Self::LEN);
    }
}

/// A rule table record: where the rule's strings are in the string section.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuleRecord {
    /// The id, as JSON text.
    pub id: Span,
    /// The payload, as JSON text (`len` 0: none).
    pub payload: Span,
    /// The effective pattern.
    pub pattern: Span,
    /// The exact program.
    pub exact: Span,
}

impl RuleRecord {
    /// Size of a record.
    pub const LEN: usize = 32;

    /// Reads the record at the start of `rec`.
    ///
    /// # Panics
    ///
    /// When `rec` is shorter than [`RuleRecord::LEN`].
    pub fn read(rec: &[u8]) -> RuleRecord {
        RuleRecord {
            id: Span::read(rec, 0),
            payload: Span::read(rec, 8),
            pattern: Span::read(rec, 16),
            exact: Span::read(rec, 24),
        }
    }

    /// Appends the record.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        for span in self.spans() {
            span.write_to(out);
        }
    }

    /// Its spans, in record order.
    pub fn spans(&self) -> [Span; 4] {
        [self.id, self.payload, self.pattern, self.exact]
    }
}

/// A shard table record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardRecord {
    /// How the DFA is represented.
    pub kind: DfaKind,
    /// How the shard runs.
    pub flags: ShardFlags,
    /// The serialized DFA (empty for [`DfaKind::Exact`]).
    pub dfa: Span,
    /// Offset of the shard's rule list (u32 rule indices, ascending).
    pub rules_at: u32,
    /// Rules in the list.
    pub rule_count: u32,
    /// The unit's own exact program, in the string section (`len` 0: none).
    pub program: Span,
}

impl ShardRecord {
    /// Size of a record.
    pub const LEN: usize = 32;
    /// Offset of the flags word in a record.
    pub const FLAGS_AT: usize = 4;

    /// Reads the record at the start of `rec`; the error says which field
    /// is wrong.
    ///
    /// # Panics
    ///
    /// When `rec` is shorter than [`ShardRecord::LEN`].
    pub fn read(rec: &[u8]) -> Result<ShardRecord, &'static str> {
        Ok(ShardRecord {
            kind: DfaKind::from_code(read_u32(rec, 0)).ok_or("unknown DFA kind")?,
            flags: ShardFlags::from_bits(read_u32(rec, Self::FLAGS_AT))?,
            dfa: Span::read(rec, 8),
            rules_at: read_u32(rec, 16),
            rule_count: read_u32(rec, 20),
            program: Span::read(rec, 24),
        })
    }

    /// Appends the record.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        write_u32(out, self.kind.code());
        write_u32(out, self.flags.bits());
        self.dfa.write_to(out);
        write_u32(out, self.rules_at);
        write_u32(out, self.rule_count);
        self.program.write_to(out);
    }
}

/// How a shard runs: the flags word of its record, one named bool a bit.
/// Each flag has one name, from the format to the manifest
/// ([`ShardFlags::NAMES`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShardFlags {
    /// Bit 0: the DFA was built with the Unicode word boundary heuristic and
    /// gives up on non-ASCII input; the matcher then answers with the exact
    /// engine for that shard's rules.
    pub unicode_word_boundary: bool,
    /// Bit 1: the DFA over-approximates its rules (large bounded repeats
    /// widened, so that it fits the size limit); every rule it reports is a
    /// candidate that the matcher confirms with the rule's exact engine.
    pub approximate: bool,
    /// Bit 2: the DFA runs only when the prefilter reports one of its
    /// rules' literals in the input.
    pub triggered: bool,
    /// Bit 3: the DFA was built from the rules' ASCII-widened form (each
    /// Unicode class that holds some but not all non-ASCII characters, such
    /// as `\d`, `\w` or a case-folded `k`, keeps its ASCII part and accepts
    /// any non-ASCII character). It is exact on ASCII input and
    /// over-approximates on other input, where the matcher confirms its
    /// candidates exactly.
    pub ascii_widened: bool,
    /// Bit 4 (only with `triggered`): every match of the shard's rules
    /// starts where one of their literals starts, so the DFA (built with
    /// anchored start states) runs anchored at each occurrence the
    /// prefilter reports, reading only as far as the match or its dead
    /// state, never the whole input.
    pub anchored: bool,
    /// Bit 5 (only with `anchored`): the shard's rule is one of its literals
    /// (each occurrence is exactly what the rule's first part accepts)
    /// followed by a rest, and the DFA holds only that rest: it runs
    /// anchored where each occurrence *ends*. Rules with the same rest
    /// (`name/\d`, `other/\d`) share one DFA's bytes.
    pub after_literal: bool,
    /// Bit 6 (only with `after_literal`): the rule starts with `^` (or `\A`)
    /// before its literal, so only an occurrence at the input's start
    /// counts (the DFA of the rest cannot see the assertion).
    pub at_start: bool,
}

impl ShardFlags {
    /// The flags' names, bit 0 first: the fields above, and the keys of the
    /// manifest's and `dfabake inspect`'s shard entries.
    pub const NAMES: [&'static str; 7] = [
        "unicode_word_boundary",
        "approximate",
        "triggered",
        "ascii_widened",
        "anchored",
        "after_literal",
        "at_start",
    ];

    fn to_array(self) -> [bool; 7] {
        [
            self.unicode_word_boundary,
            self.approximate,
            self.triggered,
            self.ascii_widened,
            self.anchored,
            self.after_literal,
            self.at_start,
        ]
    }

    /// The flags word.
    pub fn bits(self) -> u32 {
        self.to_array()
            .iter()
            .enumerate()
            .fold(0, |bits, (bit, &on)| bits | u32::from(on) << bit)
    }

    /// Reads a flags word: every bit set must be defined (a database with
    /// another was written by something else), and the flags must make
    /// sense together; the error says what does not.
    pub fn from_bits(bits: u32) -> Result<ShardFlags, &'static str> {
        if bits >> Self::NAMES.len() != 0 {
            return Err("unknown shard flag bits");
        }
        let on = |bit: usize| bits & 1 << bit != 0;
        let flags = ShardFlags {
            unicode_word_boundary: on(0),
            approximate: on(1),
            triggered: on(2),
            ascii_widened: on(3),
            anchored: on(4),
            after_literal: on(5),
            at_start: on(6),
        };
        debug_assert_eq!(flags.bits(), bits);
        if flags.anchored && !flags.triggered {
            // Only literal occurrences give an anchored DFA its starts.
            return Err("anchored shard is not triggered");
        }
        if flags.after_literal && !flags.anchored {
            return Err("after-literal shard is not anchored");
        }
        if flags.at_start && !flags.after_literal {
            return Err("at-start shard is not after-literal");
        }
        Ok(flags)
    }

    /// Each flag's name ([`ShardFlags::NAMES`]) and whether it is set.
    pub fn named(self) -> impl Iterator<Item = (&'static str, bool)> {
        Self::NAMES.into_iter().zip(self.to_array())
    }
}

/// How a shard's DFA is represented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DfaKind {
    /// `regex_automata::dfa::dense::DFA`: fastest search, largest.
    Dense,
    /// `regex_automata::dfa::sparse::DFA`: several times smaller, slower.
    Sparse,
    /// No DFA: the shard's rule is answered by its exact engine alone (its
    /// DFA, even widened, was over the builder's size limit). Such a shard
    /// is never anchored; triggered, it runs when its literals occur.
    Exact,
}

impl DfaKind {
    fn code(self) -> u32 {
        match self {
            DfaKind::Dense => 1,
            DfaKind::Sparse => 2,
            DfaKind::Exact => 3,
        }
    }

    fn from_code(code: u32) -> Option<DfaKind> {
        match code {
            1 => Some(DfaKind::Dense),
            2 => Some(DfaKind::Sparse),
            3 => Some(DfaKind::Exact),
            _ => None,
        }
    }

    /// The lowercase name used in manifests and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            DfaKind::Dense => "dense",
            DfaKind::Sparse => "sparse",
            DfaKind::Exact => "exact",
        }
    }
}

/// Why a byte string is not a usable database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FormatError {
    /// Shorter than the header or than the length the header declares.
    Truncated {
        /// Bytes required.
        needed: usize,
        /// Bytes present.
        got: usize,
    },
    /// The magic bytes are wrong: this is not a dfabake database.
    BadMagic,
    /// Written by a different, incompatible format version.
    UnsupportedVersion(u32),
    /// The stored checksum does not match the contents.
    ChecksumMismatch {
        /// The checksum in the header.
        stored: u64,
        /// The checksum of the contents.
        computed: u64,
    },
    /// A structural field is out of range; `what` says which.
    Corrupt {
        /// Which field.
        what: &'static str,
        /// Which rule or shard.
        index: usize,
    },
    /// A serialized DFA failed regex-automata's validation.
    BadDfa {
        /// Index of the shard.
        shard: usize,
    },
    /// The database is not 8-aligned in memory (copy it with [`AlignedBytes`]).
    Misaligned,
    /// A wasm module holds no baked database (a template, or not ours).
    NoDatabase,
    /// A wasm module could not be parsed far enough to find its database.
    BadModule(&'static str),
    /// A wasm module's data is not laid out as baking lays it out, so its
    /// instances might not read the database that was verified (see
    /// `layout`, feature `layout`).
    #[cfg(feature = "layout")]
    Layout(alloc::string::String),
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::Truncated { needed, got } => {
                write!(f, "database is truncated: needs {needed} bytes, has {got}")
            }
            FormatError::BadMagic => write!(f, "not a dfabake database (bad magic bytes)"),
            FormatError::UnsupportedVersion(v) => write!(
                f,
                "database format version {v} is not supported (this build reads version {VERSION})"
            ),
            FormatError::ChecksumMismatch { stored, computed } => write!(
                f,
                "database checksum mismatch: stored {stored:016x}, computed {computed:016x} (corrupted module)"
            ),
            FormatError::Corrupt { what, index } => {
                write!(f, "database is corrupt: {what} (entry {index})")
            }
            FormatError::BadDfa { shard } => {
                write!(f, "database is corrupt: DFA of shard {shard} failed validation")
            }
            FormatError::Misaligned => write!(f, "database is not 8-byte aligned in memory"),
            FormatError::NoDatabase => {
                write!(f, "module has no baked database (is it the unbaked template?)")
            }
            FormatError::BadModule(why) => write!(f, "not a valid wasm module: {why}"),
            #[cfg(feature = "layout")]
            FormatError::Layout(why) => write!(f, "module layout refused: {why}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for FormatError {}

/// An owned byte buffer whose start is 8-aligned, for reading a database
/// that came from a file or a `Vec<u8>`.
#[derive(Clone)]
pub struct AlignedBytes {
    words: Vec<u64>,
    len: usize,
}

impl AlignedBytes {
    /// Copies `bytes` into a fresh aligned buffer.
    pub fn copy_from(bytes: &[u8]) -> AlignedBytes {
        let mut words = alloc::vec![0u64; bytes.len().div_ceil(8)];
        // SAFETY: `words` owns at least `bytes.len()` initialized bytes.
        let dst = unsafe {
            core::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), bytes.len())
        };
        dst.copy_from_slice(bytes);
        AlignedBytes {
            words,
            len: bytes.len(),
        }
    }

    /// The bytes, starting at an 8-aligned address.
    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: the first `len` bytes of `words` were initialized in `copy_from`.
        unsafe { core::slice::from_raw_parts(self.words.as_ptr().cast::<u8>(), self.len) }
    }
}

/// XXH3-64 of a database image, with the checksum field read as zero.
pub fn checksum(db: &[u8]) -> u64 {
    const AT: usize = Header::CHECKSUM_AT;
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(&db[..AT]);
    h.update(&[0u8; 8]);
    h.update(&db[AT + 8..]);
    h.digest()
}

/// Stores the [`checksum`] of a database image in its header: the last
/// step of writing one (or of crafting a damaged one in a test).
///
/// # Panics
///
/// When `db` is shorter than the header.
pub fn seal(db: &mut [u8]) {
    let sum = checksum(db);
    patch_u64(db, Header::CHECKSUM_AT, sum);
}

/// A rule of a [`Database`]: its user id and payload as JSON text, and the
/// pattern (regex crate syntax, flags already inlined) it was compiled from.
#[derive(Clone, Copy, Debug)]
pub struct Rule<'a> {
    id_json: &'a str,
    payload_json: Option<&'a str>,
    pattern: &'a str,
    exact: &'a [u8],
}

impl<'a> Rule<'a> {
    /// The user's id as JSON text: a number (`17`) or a string (`"bot-17"`).
    pub fn id_json(&self) -> &'a str {
        self.id_json
    }
    /// The payload as JSON text, if the rule has one.
    pub fn payload_json(&self) -> Option<&'a str> {
        self.payload_json
    }
    /// The effective pattern, in the `regex` crate's syntax.
    pub fn pattern(&self) -> &'a str {
        self.pattern
    }
    /// The rule's exact program: its NFA, for [`crate::exact::ExactEngine`].
    pub fn exact_program(&self) -> &'a [u8] {
        self.exact
    }
}

/// A shard's DFA, borrowed from the database bytes.
#[derive(Clone, Debug)]
pub(crate) enum ShardDfa<'a> {
    Dense(dense::DFA<&'a [u32]>),
    Sparse(sparse::DFA<&'a [u8]>),
    /// [`DfaKind::Exact`]: no DFA, the exact engine answers.
    Exact,
}

/// A group of rules answered by one multi-pattern DFA.
#[derive(Clone, Debug)]
pub struct Shard<'a> {
    raw: &'a [u8],
    kind: DfaKind,
    /// Deserialized on first use: a search touches few of many shards, and
    /// instantiation stays O(shards) with a tiny constant.
    dfa: LazyInPlace<ShardDfa<'a>>,
    pub(crate) flags: ShardFlags,
    rules: &'a [u8],
    min_rule: u32,
    /// The unit's own exact program (empty: its rule's).
    program: &'a [u8],
    /// Its run bounds' entries (12 bytes each; see [`Shard::run_bounds`]).
    run_bounds: &'a [u8],
    /// The DFA was not validated with the database: validate it (checked
    /// deserialization) on first use. See [`Database::from_bytes_lazy`].
    check_on_first_use: bool,
}

impl<'a> Shard<'a> {
    /// The exact program of the shard's unit, when it has one of its own (a
    /// branch of a decomposed rule); otherwise its rule's answers.
    pub fn unit_program(&self) -> Option<&'a [u8]> {
        (!self.program.is_empty()).then_some(self.program)
    }
    /// How many rules this shard's DFA holds.
    pub fn rule_count(&self) -> usize {
        self.rules.len() / 4
    }
    /// The global rule index of the DFA's pattern `pid`.
    #[inline]
    pub fn rule(&self, pid: usize) -> u32 {
        read_u32(self.rules, pid * 4)
    }
    /// Iterates the global rule indices of this shard, ascending.
    pub fn rules(&self) -> impl Iterator<Item = u32> + '_ {
        u32s(self.rules)
    }
    /// The lowest (highest-priority) rule index in this shard.
    pub fn min_rule(&self) -> u32 {
        self.min_rule
    }
    /// How the shard runs.
    #[inline]
    pub fn flags(&self) -> ShardFlags {
        self.flags
    }
    /// Whether the DFA's matches need confirming on this input: always for
    /// an approximate DFA, on non-ASCII input for an ASCII-widened one.
    #[inline]
    pub fn needs_confirm_on(&self, input_is_ascii: bool) -> bool {
        self.flags.approximate || (self.flags.ascii_widened && !input_is_ascii)
    }
    /// Where an [`ShardFlags::approximate`] DFA is exact after all for
    /// its pattern `pid`: the pattern's widened repetitions, each of one
    /// class of bytes, as (byte set of [`Database::byte_set_has`], longest
    /// run). A widened repetition keeps its minimum, and a match that
    /// repeats a class `k` times reads `k` bytes of it in a row, so on an
    /// input with no run of a set's bytes longer than its bound, the DFA
    /// matches that pattern exactly where its rule (or unit) does. Empty
    /// when some widened repetition of the pattern is of something else.
    pub fn run_bounds(&self, pid: usize) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.run_bounds
            .chunks_exact(12)
            .filter(move |e| read_u32(e, 0) as usize == pid)
            .map(|e| (read_u32(e, 4), read_u32(e, 8)))
    }
    /// Dense or sparse.
    pub fn kind(&self) -> DfaKind {
        self.kind
    }
    /// The shard's DFA.
    #[inline]
    pub(crate) fn dfa(&self) -> &ShardDfa<'a> {
        self.dfa.get_or_init(|| {
            if self.check_on_first_use {
                return checked_dfa(self.kind, self.raw, self.flags, self.rule_count())
                    .unwrap_or_else(|what| {
                        panic!("a shard's DFA failed verification on first use: {what}")
                    });
            }
            // SAFETY: a DFA not deserialized by `Database::from_bytes` belongs
            // to a database read by `from_bytes_unchecked`, whose caller
            // promises these bytes passed `from_bytes` (which deserialized
            // this DFA checked) before.
            unsafe {
                match self.kind {
                    DfaKind::Dense => {
                        dense::DFA::from_bytes_unchecked(self.raw).map(|(d, _)| ShardDfa::Dense(d))
                    }
                    DfaKind::Sparse => sparse::DFA::from_bytes_unchecked(self.raw)
                        .map(|(d, _)| ShardDfa::Sparse(d)),
                    DfaKind::Exact => Ok(ShardDfa::Exact),
                }
            }
            .expect("verified DFA")
        })
    }
}

/// How much of a database [`Database::parse`] validates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Check {
    /// Everything, DFAs included.
    All,
    /// Everything but the DFAs' transition tables and the exact programs,
    /// each checked when a search first needs it.
    Deferred,
    /// Bounds only: bytes verified before.
    None,
}

/// Deserializes a shard's DFA checked, and checks it agrees with its shard
/// record (pattern count, start states); the error says what failed
/// (`"DFA"`: regex-automata refused it).
fn checked_dfa<'a>(
    kind: DfaKind,
    raw: &'a [u8],
    flags: ShardFlags,
    rules: usize,
) -> Result<ShardDfa<'a>, &'static str> {
    let checked = match kind {
        DfaKind::Dense => dense::DFA::from_bytes(raw).map(|(d, _)| ShardDfa::Dense(d)),
        DfaKind::Sparse => sparse::DFA::from_bytes(raw).map(|(d, _)| ShardDfa::Sparse(d)),
        DfaKind::Exact => return Ok(ShardDfa::Exact),
    }
    .map_err(|_| "DFA")?;
    let (patterns, start_kind) = match &checked {
        ShardDfa::Dense(d) => (
            regex_automata::dfa::Automaton::pattern_len(d),
            d.start_kind(),
        ),
        ShardDfa::Sparse(d) => (
            regex_automata::dfa::Automaton::pattern_len(d),
            d.start_kind(),
        ),
        ShardDfa::Exact => unreachable!("exact-only shards return above"),
    };
    if patterns != rules {
        return Err("DFA pattern count differs from shard rule count");
    }
    let (anchored, unanchored) = match start_kind {
        StartKind::Both => (true, true),
        StartKind::Anchored => (true, false),
        StartKind::Unanchored => (false, true),
    };
    if flags.anchored && !anchored {
        return Err("anchored shard's DFA has no anchored start states");
    }
    if !flags.anchored && !unanchored {
        return Err("unanchored shard's DFA has no unanchored start states");
    }
    Ok(checked)
}

/// A database read in place from its bytes.
///
/// Build one with [`Database::from_bytes`] (verifies everything: checksum,
/// structure, every DFA) or, for bytes verified before,
/// [`Database::from_bytes_unchecked`] (structure only, constant time per DFA).
#[derive(Clone, Debug)]
pub struct Database<'a> {
    bytes: &'a [u8],
    rules: &'a [u8],
    strings: &'a [u8],
    shards: Vec<Shard<'a>>,
    prefilter: Option<Prefilter<'a>>,
    /// The run bounds' byte sets (32 bytes each).
    byte_sets: &'a [u8],
    gates: Option<Gates<'a>>,
    checksum: u64,
}

impl<'a> Database<'a> {
    /// Reads and fully verifies a database: checksum, structure, UTF-8 of all
    /// strings and every DFA (regex-automata's checked deserialization).
    ///
    /// `bytes` must start at an 8-aligned address; see [`AlignedBytes`].
    /// A host runs this once per module and
    /// [`from_bytes_unchecked`](Database::from_bytes_unchecked) per instance.
    ///
    /// ```
    /// # #[cfg(feature = "build")] {
    /// use dfabake_matcher::format::{DatabaseWriter, DfaKind, FormatError, RuleEntry, ShardFlags};
    /// use dfabake_matcher::{AlignedBytes, Database};
    ///
    /// let program = dfabake_matcher::exact::compile("bot").unwrap();
    /// let mut writer = DatabaseWriter::new();
    /// writer.push_rule(RuleEntry { id_json: "7", payload_json: Some(r#"{"kind":"crawler"}"#), pattern: "bot", exact: &program });
    /// writer.push_shard(DfaKind::Exact, ShardFlags::default(), Vec::new(), vec![0]);
    /// let mut bytes = writer.finish();
    ///
    /// let aligned = AlignedBytes::copy_from(&bytes);
    /// let db = Database::from_bytes(aligned.as_bytes())?;
    /// assert_eq!(db.rule(0).payload_json(), Some(r#"{"kind":"crawler"}"#));
    ///
    /// // Any damage is refused, here by the checksum.
    /// let last = bytes.len() - 1;
    /// bytes[last] ^= 1;
    /// let damaged = AlignedBytes::copy_from(&bytes);
    /// assert!(matches!(Database::from_bytes(damaged.as_bytes()), Err(FormatError::ChecksumMismatch { .. })));
    /// # }
    /// # Ok::<(), dfabake_matcher::FormatError>(())
    /// ```
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Database<'a>, FormatError> {
        Self::verify(bytes, false)
    }

    /// [`Database::from_bytes`] but for the DFAs' transition tables and the
    /// exact programs: a DFA is validated (regex-automata's checked
    /// deserialization) the first time a search runs it, a program when its
    /// engine is built (always checked, field by field), and a search that
    /// meets an invalid one panics. Loading costs the checksum and the
    /// structure, O(rules + shards), instead of O(bytes), for a native host
    /// that loads big databases often (a Python server's workers). A damaged
    /// file still fails here, by its checksum; only bytes crafted with a
    /// recomputed checksum can reach the panic, never an unchecked DFA or
    /// program.
    pub fn from_bytes_lazy(bytes: &'a [u8]) -> Result<Database<'a>, FormatError> {
        Self::verify(bytes, true)
    }

    fn verify(bytes: &'a [u8], deferred: bool) -> Result<Database<'a>, FormatError> {
        let (header, bytes) = Self::check_header(bytes)?;
        let computed = checksum(bytes);
        if header.checksum != computed {
            return Err(FormatError::ChecksumMismatch {
                stored: header.checksum,
                computed,
            });
        }
        let db = Self::parse(
            &header,
            bytes,
            if deferred {
                Check::Deferred
            } else {
                Check::All
            },
        )?;
        for i in 0..db.rule_count() {
            let r = db.rule_record(i);
            let corrupt = |what| FormatError::Corrupt { what, index: i };
            if !deferred && crate::exact::check_program(db.string(r.exact)).is_err() {
                return Err(corrupt("rule exact program"));
            }
            for (range, what) in [
                (r.id, "rule id is not UTF-8"),
                (r.payload, "rule payload is not UTF-8"),
                (r.pattern, "rule pattern is not UTF-8"),
            ] {
                if core::str::from_utf8(db.string(range)).is_err() {
                    return Err(corrupt(what));
                }
            }
            // Answers splice ids and payloads into their JSON verbatim.
            use crate::json::{check, JsonKind};
            if !matches!(
                check(db.string(r.id)),
                Some(JsonKind::Integer | JsonKind::String)
            ) {
                return Err(corrupt("rule id is not a JSON integer or string"));
            }
            if r.payload.len != 0 && check(db.string(r.payload)).is_none() {
                return Err(corrupt("rule payload is not JSON (or nested too deep)"));
            }
        }
        db.check_reachable()?;
        Ok(db)
    }

    /// Checks that every rule is answered the way its database says: each
    /// rule is held by a shard or is the target of a prefilter literal, each
    /// triggered shard (the only kind the prefilter may trigger) has a
    /// literal, and every literal is found where the scan looks for it.
    /// Otherwise a rule would silently never match. A rule's literals are
    /// all [`Target::RuleAtLiteral`] or none: `first` takes the leftmost
    /// occurrence of them for where the rule's match starts.
    fn check_reachable(&self) -> Result<(), FormatError> {
        let shards = &self.shards;
        let mut decided = alloc::vec![false; self.rule_count()];
        // Per rule: 1 with a `Rule` literal, 2 with a `RuleAtLiteral` one.
        let mut kinds = alloc::vec![0u8; self.rule_count()];
        let mut has_literal = alloc::vec![false; shards.len()];
        for s in shards {
            for r in s.rules() {
                decided[r as usize] = true;
            }
        }
        if let Some(pf) = &self.prefilter {
            pf.check_literals(|t| match t {
                Target::Shard(s) => has_literal[s as usize] = true,
                Target::Rule(r) => {
                    decided[r as usize] = true;
                    kinds[r as usize] |= 1;
                }
                Target::RuleAtLiteral(r) => {
                    decided[r as usize] = true;
                    kinds[r as usize] |= 2;
                }
            })?;
        }
        if let Some(r) = kinds.iter().position(|&k| k == 3) {
            return Err(FormatError::Corrupt {
                what: "rule has literals that start its matches and literals that may not",
                index: r,
            });
        }
        for (i, s) in shards.iter().enumerate() {
            let what = match (s.flags.triggered, has_literal[i]) {
                (true, false) => "triggered shard has no prefilter literal",
                (false, true) => "prefilter literal triggers a shard that runs on every input",
                _ => continue,
            };
            return Err(FormatError::Corrupt { what, index: i });
        }
        match decided.iter().position(|&d| !d) {
            Some(r) => Err(FormatError::Corrupt {
                what: "rule is decided by no shard and no prefilter literal",
                index: r,
            }),
            None => Ok(()),
        }
    }

    /// Reads a database whose bytes were verified by [`Database::from_bytes`]
    /// before (for example by the host, natively, before instantiating a
    /// module). Tables are still bounds-checked (a rule's strings when read);
    /// DFAs and exact programs are not validated, so this costs O(shards),
    /// not O(bytes).
    ///
    /// # Safety
    ///
    /// `bytes` must be identical to bytes that [`Database::from_bytes`]
    /// accepted. Otherwise searching may read out of bounds or loop forever.
    pub unsafe fn from_bytes_unchecked(bytes: &'a [u8]) -> Result<Database<'a>, FormatError> {
        let (header, bytes) = Self::check_header(bytes)?;
        Self::parse(&header, bytes, Check::None)
    }

    /// Reads and validates the fixed header and returns it with the
    /// database trimmed to its declared length.
    fn check_header(bytes: &'a [u8]) -> Result<(Header, &'a [u8]), FormatError> {
        let header = Header::read(bytes)?;
        if header.version != VERSION {
            return Err(FormatError::UnsupportedVersion(header.version));
        }
        if header.header_len as usize != Header::LEN {
            return Err(FormatError::Corrupt {
                what: "header length",
                index: 0,
            });
        }
        let total = header.total_len as usize;
        if total > bytes.len() {
            return Err(FormatError::Truncated {
                needed: total,
                got: bytes.len(),
            });
        }
        if total < Header::LEN {
            return Err(FormatError::Corrupt {
                what: "total length",
                index: 0,
            });
        }
        if !(bytes.as_ptr() as usize).is_multiple_of(DFA_ALIGN) {
            return Err(FormatError::Misaligned);
        }
        if header.flags != 0 {
            // No header flag is defined: a database with one set was
            // written by something that meant more than this reader knows.
            return Err(FormatError::Corrupt {
                what: "unknown header flag bits",
                index: 0,
            });
        }
        Ok((header, &bytes[..total]))
    }

    fn parse(header: &Header, bytes: &'a [u8], check: Check) -> Result<Database<'a>, FormatError> {
        let checked = check != Check::None;
        let rule_count = header.rule_count as usize;
        let shard_count = header.shard_count as usize;
        let section = |at: u32, len: usize, what: &'static str| {
            let at = at as usize;
            at.checked_add(len)
                .filter(|&end| end <= bytes.len())
                .map(|end| &bytes[at..end])
                .ok_or(FormatError::Corrupt { what, index: 0 })
        };
        let rules = section(
            header.rules_at,
            rule_count.saturating_mul(RuleRecord::LEN),
            "rule table bounds",
        )?;
        let shard_table = section(
            header.shards_at,
            shard_count.saturating_mul(ShardRecord::LEN),
            "shard table bounds",
        )?;
        let strings = section(
            header.strings.at,
            header.strings.len as usize,
            "string section bounds",
        )?;
        let mut db = Database {
            bytes,
            rules,
            strings,
            shards: Vec::with_capacity(shard_count),
            prefilter: None,
            byte_sets: &[],
            gates: None,
            checksum: header.checksum,
        };
        // Per-rule checks only when verifying: an instance's first answer
        // should not wait for a pass over every rule (reading a string is
        // bounds-checked anyway, see `string`).
        for i in (0..rule_count).filter(|_| checked) {
            for span in db.rule_record(i).spans() {
                if span.of(strings).is_none() {
                    return Err(FormatError::Corrupt {
                        what: "rule string out of bounds",
                        index: i,
                    });
                }
            }
        }
        let mut last_min = 0u32;
        for i in 0..shard_count {
            let corrupt = |what| FormatError::Corrupt { what, index: i };
            let rec =
                ShardRecord::read(&shard_table[i * ShardRecord::LEN..(i + 1) * ShardRecord::LEN])
                    .map_err(corrupt)?;
            let (kind, flags) = (rec.kind, rec.flags);
            let (dfa_off, dfa_len) = (rec.dfa.at as usize, rec.dfa.len as usize);
            let (list_off, list_len) = (rec.rules_at as usize, rec.rule_count as usize);
            if dfa_off % DFA_ALIGN != 0 || dfa_off.saturating_add(dfa_len) > bytes.len() {
                return Err(corrupt("DFA out of bounds or misaligned"));
            }
            let list_bytes = list_len.saturating_mul(4);
            if list_len == 0
                || list_off % 4 != 0
                || list_off.saturating_add(list_bytes) > bytes.len()
            {
                return Err(corrupt("shard rule list out of bounds"));
            }
            let list = &bytes[list_off..list_off + list_bytes];
            let program = rec
                .program
                .of(strings)
                .ok_or(corrupt("shard exact program out of bounds"))?;
            if !program.is_empty() && list_len != 1 {
                return Err(corrupt(
                    "shard with its own exact program holds several rules",
                ));
            }
            if check == Check::All
                && !program.is_empty()
                && crate::exact::check_program(program).is_err()
            {
                return Err(corrupt("shard exact program"));
            }
            let mut prev = None;
            for r in u32s(list) {
                if r as usize >= rule_count || prev.is_some_and(|p| p >= r) {
                    return Err(corrupt("shard rule list not ascending rule indices"));
                }
                prev = Some(r);
            }
            let min_rule = read_u32(list, 0);
            if min_rule < last_min {
                return Err(corrupt("shards not ordered by lowest rule"));
            }
            last_min = min_rule;
            let raw = &bytes[dfa_off..dfa_off + dfa_len];
            let mut dfa = LazyInPlace::new();
            if kind == DfaKind::Exact {
                // `after_literal` and `at_start` need `anchored`, checked above.
                let dfa_only = flags.unicode_word_boundary
                    || flags.approximate
                    || flags.ascii_widened
                    || flags.anchored;
                if dfa_len != 0 || dfa_only || list_len != 1 {
                    return Err(corrupt(
                        "exact-only shard with a DFA, DFA flags or several rules",
                    ));
                }
            } else if check == Check::All {
                let checked =
                    checked_dfa(kind, raw, flags, list_len).map_err(|what| match what {
                        "DFA" => FormatError::BadDfa { shard: i },
                        what => corrupt(what),
                    })?;
                dfa = LazyInPlace::with(checked);
            }
            db.shards.push(Shard {
                raw,
                kind,
                dfa,
                flags,
                rules: list,
                min_rule,
                program,
                run_bounds: &[],
                check_on_first_use: check == Check::Deferred && kind != DfaKind::Exact,
            });
        }
        if header.run_bounds.len > 0 {
            if !header.run_bounds.at.is_multiple_of(4) {
                return Err(FormatError::Corrupt {
                    what: "run bounds misaligned",
                    index: 0,
                });
            }
            let sec = section(
                header.run_bounds.at,
                header.run_bounds.len as usize,
                "run bounds bounds",
            )?;
            db.read_run_bounds(sec)?;
        }
        if header.gates.len > 0 {
            let sec = section(header.gates.at, header.gates.len as usize, "gates bounds")?;
            let shards = &db.shards;
            db.gates = Some(Gates::from_bytes(sec, shard_count, |s| {
                shards[s].flags.triggered
            })?);
        }
        if header.prefilter.len > 0 {
            let sec = section(
                header.prefilter.at,
                header.prefilter.len as usize,
                "prefilter bounds",
            )?;
            if !header.prefilter.at.is_multiple_of(4) {
                return Err(FormatError::Corrupt {
                    what: "prefilter misaligned",
                    index: 0,
                });
            }
            db.prefilter = Some(Prefilter::from_bytes(sec, rule_count, shard_count)?);
        }
        Ok(db)
    }

    /// Reads the run bounds section (its layout is in the module docs),
    /// checking every offset and byte set index.
    fn read_run_bounds(&mut self, sec: &'a [u8]) -> Result<(), FormatError> {
        let corrupt = |what, index| FormatError::Corrupt { what, index };
        let words = |at: usize, n: usize| {
            at.checked_add(n.checked_mul(4)?)
                .filter(|&end| end <= sec.len())
                .map(|end| &sec[at..end])
        };
        let sets = words(0, 1).ok_or(corrupt("run bounds truncated", 0))?;
        let set_count = read_u32(sets, 0) as usize;
        let byte_sets = words(4, set_count.saturating_mul(8))
            .ok_or(corrupt("run bounds byte sets out of bounds", 0))?;
        let first_at = 4 + byte_sets.len();
        let first = words(first_at, self.shards.len() + 1)
            .ok_or(corrupt("run bounds offsets out of bounds", 0))?;
        let entries_at = first_at + first.len();
        let entries = &sec[entries_at..];
        let entry_count = entries.len() / 12;
        if !entries.len().is_multiple_of(12) {
            return Err(corrupt("run bounds entries truncated", 0));
        }
        for (i, shard) in self.shards.iter_mut().enumerate() {
            let (from, to) = (
                read_u32(first, i * 4) as usize,
                read_u32(first, i * 4 + 4) as usize,
            );
            if from > to || to > entry_count {
                return Err(corrupt("run bounds offsets not ascending", i));
            }
            shard.run_bounds = &entries[from * 12..to * 12];
            let bad = shard.run_bounds.chunks_exact(12).any(|e| {
                read_u32(e, 0) as usize >= shard.rule_count()
                    || read_u32(e, 4) as usize >= set_count
            });
            if bad {
                return Err(corrupt("run bound names no pattern or byte set", i));
            }
        }
        self.byte_sets = byte_sets;
        Ok(())
    }

    /// How many byte sets the run bounds have.
    pub fn byte_set_count(&self) -> usize {
        self.byte_sets.len() / 32
    }

    /// Byte set `set` of the run bounds ([`Shard::run_bounds`]) as the
    /// writer took it: bit `b % 32` of word `b / 32` for byte `b`.
    pub fn byte_set(&self, set: u32) -> [u32; 8] {
        core::array::from_fn(|w| read_u32(self.byte_sets, (set as usize * 8 + w) * 4))
    }

    /// Whether byte `b` is in byte set `set` of the run bounds.
    pub fn byte_set_has(&self, set: u32, b: u8) -> bool {
        self.byte_set(set)[usize::from(b >> 5)] >> (b & 31) & 1 == 1
    }

    fn rule_record(&self, i: usize) -> RuleRecord {
        RuleRecord::read(&self.rules[i * RuleRecord::LEN..(i + 1) * RuleRecord::LEN])
    }

    fn string(&self, span: Span) -> &'a [u8] {
        // Out of bounds only in a damaged, unverified database.
        span.of(self.strings).unwrap_or(&[])
    }

    fn str(&self, span: Span) -> &'a str {
        // Verified databases hold valid UTF-8; an unverified one that does
        // not yields an empty string rather than undefined behaviour.
        core::str::from_utf8(self.string(span)).unwrap_or("")
    }

    /// Number of rules.
    pub fn rule_count(&self) -> usize {
        self.rules.len() / RuleRecord::LEN
    }

    /// The rule at priority index `i` (0 is the highest priority).
    ///
    /// # Panics
    ///
    /// When `i >= self.rule_count()`.
    pub fn rule(&self, i: usize) -> Rule<'a> {
        let r = self.rule_record(i);
        Rule {
            id_json: self.str(r.id),
            payload_json: if r.payload.len == 0 {
                None
            } else {
                Some(self.str(r.payload))
            },
            pattern: self.str(r.pattern),
            exact: self.string(r.exact),
        }
    }

    /// The id and payload of rule `i` as the JSON bytes stored, without
    /// the UTF-8 check of [`Database::rule`]: answers write them out as
    /// they are, and [`Database::from_bytes`] checked them once.
    ///
    /// # Panics
    ///
    /// When `i >= self.rule_count()`.
    #[inline]
    pub fn rule_json(&self, i: usize) -> (&'a [u8], Option<&'a [u8]>) {
        let r = self.rule_record(i);
        let payload = (r.payload.len != 0).then(|| self.string(r.payload));
        (self.string(r.id), payload)
    }

    /// The shards, ordered by their lowest rule index.
    pub fn shards(&self) -> &[Shard<'a>] {
        &self.shards
    }

    /// The literal prefilter, if the database has one.
    pub fn prefilter(&self) -> Option<&Prefilter<'a>> {
        self.prefilter.as_ref()
    }

    /// The gates of shards without literals, if the database has any.
    pub fn gates(&self) -> Option<&Gates<'a>> {
        self.gates.as_ref()
    }

    /// The database's stored checksum (its identity).
    pub fn checksum(&self) -> u64 {
        self.checksum
    }

    /// The database's bytes (its declared length).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

/// A rule to be written by [`DatabaseWriter`].
#[derive(Clone, Copy, Debug)]
pub struct RuleEntry<'s> {
    /// The user id as JSON text (`17` or `"abc"`).
    pub id_json: &'s str,
    /// The payload as JSON text; `None` for no payload.
    pub payload_json: Option<&'s str>,
    /// The effective pattern (regex crate syntax, flags inlined).
    pub pattern: &'s str,
    /// The pattern's exact program (`exact::compile`, feature `build`).
    pub exact: &'s [u8],
}

struct PendingShard {
    kind: DfaKind,
    flags: ShardFlags,
    dfa: Vec<u8>,
    rules: Vec<u32>,
    /// The unit's own exact program, relative to the programs until `finish`.
    program: Span,
    /// Its run bounds: (pattern id, byte set, longest run).
    run_bounds: Vec<(u32, [u32; 8], u32)>,
    /// Its gate's pairs, as bits of `DatabaseWriter::gate_pairs` (0: none).
    gate: u64,
}

/// Assembles a database. Rules are pushed in priority order; shards name the
/// rules their DFA's patterns stand for, in pattern-id order.
pub struct DatabaseWriter {
    rules: Vec<RuleRecord>,
    strings: Vec<u8>,
    /// Exact programs, laid out after all the strings (which a search reads
    /// for its answer) so that they stay close together.
    programs: Vec<u8>,
    shards: Vec<PendingShard>,
    literals: Vec<(Literal, Target)>,
    /// The distinct pairs of all gates, bit `p` of a gate for pair `p`.
    gate_pairs: Vec<Pair>,
}

impl Default for DatabaseWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl DatabaseWriter {
    /// An empty writer.
    pub fn new() -> DatabaseWriter {
        DatabaseWriter {
            rules: Vec::new(),
            strings: Vec::new(),
            programs: Vec::new(),
            shards: Vec::new(),
            literals: Vec::new(),
            gate_pairs: Vec::new(),
        }
    }

    fn push_str(&mut self, s: &str) -> Span {
        let at = self.strings.len() as u32;
        self.strings.extend_from_slice(s.as_bytes());
        Span {
            at,
            len: s.len() as u32,
        }
    }

    fn push_program(&mut self, p: &[u8]) -> Span {
        let at = self.programs.len() as u32;
        self.programs.extend_from_slice(p);
        Span {
            at,
            len: p.len() as u32,
        }
    }

    /// Appends a rule and returns its index.
    pub fn push_rule(&mut self, rule: RuleEntry<'_>) -> u32 {
        let id = self.push_str(rule.id_json);
        let payload = rule
            .payload_json
            .map_or(Span::default(), |p| self.push_str(p));
        let pattern = self.push_str(rule.pattern);
        // Relative to the programs for now; `finish` moves them.
        let exact = self.push_program(rule.exact);
        self.rules.push(RuleRecord {
            id,
            payload,
            pattern,
            exact,
        });
        (self.rules.len() - 1) as u32
    }

    /// Appends a shard: `dfa` is the DFA serialized with
    /// `write_to_little_endian`, whose pattern `k` stands for rule `rules[k]`
    /// (`rules` must be ascending).
    /// Returns the shard's number for [`DatabaseWriter::push_literal`].
    pub fn push_shard(
        &mut self,
        kind: DfaKind,
        flags: ShardFlags,
        dfa: Vec<u8>,
        rules: Vec<u32>,
    ) -> u32 {
        self.push_unit_shard(kind, flags, dfa, rules, None)
    }

    /// [`DatabaseWriter::push_shard`] for a shard of one rule's unit (a
    /// branch of a decomposed rule) with its own exact program: the matcher
    /// confirms the shard's candidates with it, not with the whole rule's.
    pub fn push_unit_shard(
        &mut self,
        kind: DfaKind,
        flags: ShardFlags,
        dfa: Vec<u8>,
        rules: Vec<u32>,
        program: Option<&[u8]>,
    ) -> u32 {
        let program = program.map_or(Span::default(), |p| self.push_program(p));
        self.shards.push(PendingShard {
            kind,
            flags,
            dfa,
            rules,
            program,
            run_bounds: Vec::new(),
            gate: 0,
        });
        (self.shards.len() - 1) as u32
    }

    /// Gives an approximate shard (by the number
    /// [`DatabaseWriter::push_shard`] returned) its run bounds: (pattern
    /// id, byte set with bit `b % 32` of word `b / 32` for byte `b`, the
    /// longest run of its bytes on which the DFA is still exact for that
    /// pattern). See [`Shard::run_bounds`].
    pub fn set_run_bounds(&mut self, shard: u32, bounds: Vec<(u32, [u32; 8], u32)>) {
        self.shards[shard as usize].run_bounds = bounds;
    }

    /// Gates a shard that is not [`ShardFlags::triggered`] (by the number
    /// [`DatabaseWriter::push_shard`] returned): it runs only on inputs
    /// where one of `pairs` occurs, so every match of each of its rules
    /// must hold one. Returns false, and leaves the shard running on every
    /// input, when the database's gates would have more than
    /// [`MAX_PAIRS`] distinct pairs with these, or `pairs` is empty.
    pub fn set_gate(&mut self, shard: u32, pairs: &[Pair]) -> bool {
        debug_assert!(!self.shards[shard as usize].flags.triggered);
        let new: Vec<&Pair> = pairs
            .iter()
            .filter(|p| !self.gate_pairs.contains(p))
            .collect();
        if pairs.is_empty() || self.gate_pairs.len() + new.len() > MAX_PAIRS {
            return false;
        }
        self.gate_pairs.extend(new);
        self.shards[shard as usize].gate = pairs.iter().fold(0, |mask, p| {
            let bit = self.gate_pairs.iter().position(|q| q == p).unwrap();
            mask | 1 << bit
        });
        true
    }

    /// Makes an occurrence of `literal` in the input trigger `target`: a
    /// shard by the number [`DatabaseWriter::push_shard`] returned (it must
    /// be [`ShardFlags::triggered`]), or a rule that matches whenever one of
    /// its literals occurs.
    pub fn push_literal(&mut self, literal: Literal, target: Target) {
        self.literals.push((literal, target));
    }

    /// The run bounds section of the shards (in their final order), or
    /// nothing when no shard has any.
    fn run_bounds_section(&self) -> Vec<u8> {
        if self.shards.iter().all(|s| s.run_bounds.is_empty()) {
            return Vec::new();
        }
        let mut sets: Vec<[u32; 8]> = Vec::new();
        let mut entries: Vec<(u32, u32, u32)> = Vec::new();
        let mut first = Vec::with_capacity(self.shards.len() + 1);
        for s in &self.shards {
            first.push(entries.len() as u32);
            for (pid, set, longest) in &s.run_bounds {
                let index = match sets.iter().position(|x| x == set) {
                    Some(i) => i,
                    None => {
                        sets.push(*set);
                        sets.len() - 1
                    }
                };
                entries.push((*pid, index as u32, *longest));
            }
        }
        first.push(entries.len() as u32);
        let mut out = Vec::new();
        write_u32(&mut out, sets.len() as u32);
        for w in sets.iter().flatten() {
            write_u32(&mut out, *w);
        }
        for f in first {
            write_u32(&mut out, f);
        }
        for (pid, set, longest) in entries {
            write_u32(&mut out, pid);
            write_u32(&mut out, set);
            write_u32(&mut out, longest);
        }
        out
    }

    /// Lays out the database, computes its checksum and returns its bytes:
    /// the sections in the order [`Database::from_bytes`] reads them.
    pub fn finish(mut self) -> Vec<u8> {
        let programs_at = self.strings.len() as u32;
        self.strings.append(&mut self.programs);
        for r in &mut self.rules {
            r.exact.at += programs_at;
        }
        for s in &mut self.shards {
            if s.program.len != 0 {
                s.program.at += programs_at;
            }
        }
        let mut order: Vec<usize> = (0..self.shards.len()).collect();
        order.sort_by_key(|&i| self.shards[i].rules.first().copied().unwrap_or(u32::MAX));
        let mut new_number = alloc::vec![0u32; order.len()];
        for (n, &i) in order.iter().enumerate() {
            new_number[i] = n as u32;
        }
        let mut pending: Vec<Option<PendingShard>> = self.shards.drain(..).map(Some).collect();
        self.shards = order.iter().map(|&i| pending[i].take().unwrap()).collect();
        let prefilter = if self.literals.is_empty() {
            Vec::new()
        } else {
            let mut w = PrefilterWriter::new();
            for (lit, t) in self.literals.drain(..) {
                let t = match t {
                    Target::Shard(s) => Target::Shard(new_number[s as usize]),
                    rule => rule,
                };
                w.push(lit, t);
            }
            w.finish()
        };

        // The layout, first: every offset the header and the records hold.
        let rules_at = Header::LEN;
        let shards_at = rules_at + self.rules.len() * RuleRecord::LEN;
        let lists_at = shards_at + self.shards.len() * ShardRecord::LEN;
        let lists_len: usize = self.shards.iter().map(|s| s.rules.len() * 4).sum();
        let strings_at = lists_at + lists_len;
        // Byte-identical DFAs (the same rest after different literals) are
        // stored once: by length and hash, then compared in full. `stored`
        // says, per shard, whether its DFA's bytes are written (not a copy).
        let mut by_content: alloc::collections::BTreeMap<(usize, u64), Vec<usize>> =
            alloc::collections::BTreeMap::new();
        let mut dfa_at = Vec::with_capacity(self.shards.len());
        let mut stored = Vec::with_capacity(self.shards.len());
        let mut dfas_end = (strings_at + self.strings.len()).next_multiple_of(DFA_ALIGN);
        for (n, s) in self.shards.iter().enumerate() {
            let same = by_content
                .entry((s.dfa.len(), xxhash_rust::xxh3::xxh3_64(&s.dfa)))
                .or_default();
            match same.iter().copied().find(|&m| self.shards[m].dfa == s.dfa) {
                Some(m) => {
                    let at = dfa_at[m];
                    dfa_at.push(at);
                    stored.push(false);
                }
                None => {
                    same.push(n);
                    dfa_at.push(dfas_end);
                    stored.push(true);
                    dfas_end = (dfas_end + s.dfa.len()).next_multiple_of(DFA_ALIGN);
                }
            }
        }
        let prefilter_span = Span::of_section(dfas_end, prefilter.len());
        let prefilter_end = dfas_end + prefilter.len().next_multiple_of(DFA_ALIGN);
        let run_bounds = self.run_bounds_section();
        let run_bounds_span = Span::of_section(prefilter_end, run_bounds.len());
        let run_bounds_end = prefilter_end + run_bounds.len().next_multiple_of(DFA_ALIGN);
        let gated: Vec<(u32, u64)> = (0..self.shards.len() as u32)
            .map(|n| (n, self.shards[n as usize].gate))
            .filter(|&(_, gate)| gate != 0)
            .collect();
        let gates = crate::gate::write_section(&self.gate_pairs, &gated);
        let gates_span = Span::of_section(run_bounds_end, gates.len());
        let total_len = run_bounds_end + gates.len().next_multiple_of(DFA_ALIGN);
        let header = Header {
            version: VERSION,
            header_len: Header::LEN as u32,
            total_len: total_len as u32,
            rule_count: self.rules.len() as u32,
            shard_count: self.shards.len() as u32,
            flags: 0,
            rules_at: rules_at as u32,
            shards_at: shards_at as u32,
            strings: Span {
                at: strings_at as u32,
                len: self.strings.len() as u32,
            },
            checksum: 0, // sealed below
            prefilter: prefilter_span,
            run_bounds: run_bounds_span,
            gates: gates_span,
        };

        // Then the bytes, section by section.
        let mut out = Vec::with_capacity(total_len);
        header.write_to(&mut out);
        for r in &self.rules {
            r.write_to(&mut out);
        }
        let mut list_at = lists_at;
        for (s, &at) in self.shards.iter().zip(&dfa_at) {
            ShardRecord {
                kind: s.kind,
                flags: s.flags,
                dfa: Span {
                    at: at as u32,
                    len: s.dfa.len() as u32,
                },
                rules_at: list_at as u32,
                rule_count: s.rules.len() as u32,
                program: s.program,
            }
            .write_to(&mut out);
            list_at += s.rules.len() * 4;
        }
        for s in &self.shards {
            for &r in &s.rules {
                write_u32(&mut out, r);
            }
        }
        out.extend_from_slice(&self.strings);
        for ((s, &at), &stored) in self.shards.iter().zip(&dfa_at).zip(&stored) {
            if stored {
                out.resize(at, 0);
                out.extend_from_slice(&s.dfa);
            }
        }
        pad_to(&mut out, DFA_ALIGN);
        if !prefilter.is_empty() {
            out.extend_from_slice(&prefilter);
            pad_to(&mut out, DFA_ALIGN);
        }
        if !run_bounds.is_empty() {
            out.extend_from_slice(&run_bounds);
            pad_to(&mut out, DFA_ALIGN);
        }
        if !gates.is_empty() {
            out.extend_from_slice(&gates);
            pad_to(&mut out, DFA_ALIGN);
        }
        debug_assert_eq!(out.len(), total_len);
        seal(&mut out);
        out
    }
}
