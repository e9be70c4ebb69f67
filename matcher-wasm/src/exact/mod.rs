//! Exact engines, compiled natively at build time and rebuilt in the instance
//! in microseconds.
//!
//! Every rule carries an *exact program*: its Thompson NFA (regex-automata's
//! `nfa::thompson::NFA`, compiled exactly as `regex::bytes::Regex` compiles
//! it) written as a compact table. At match time an [`ExactEngine`] reads the
//! table and runs a Pike VM over it (the algorithm of regex-automata's
//! `PikeVM`, leftmost-first, with capture slots), for the span and captures
//! of `first` and to confirm the candidates of over-approximating DFAs.
//!
//! Nothing parses a pattern or builds an automaton inside the module: the
//! wasm templates carry no regex parser, no NFA compiler and no Unicode
//! tables (beyond the word table Unicode `\b` needs). That keeps them small
//! and, since JavaScript engines compile wasm functions lazily on first call,
//! keeps the code a fresh instance's first answer runs small too.
//!
//! # Program layout
//!
//! Numbers are unsigned LEB128 varints (`n`). A reference to a state (`r`)
//! is its index in the state list relative to the referring state's (to
//! state 0 in the header), zigzag-encoded: mostly one byte, and the same
//! sub-automaton is the same bytes wherever it sits.
//!
//! ```text
//! header   magic "NFA1", n flags (bit 0: utf8, bit 1: tail), n state count,
//!          r anchored start, r unanchored start, n capture group count
//! states   one tag byte each, then:
//!          0 range     start u8, end u8, r next
//!          1 sparse    n count, count × (start u8, end u8, r next)
//!          2 look      n look (regex-automata's `Look::as_repr`), r next
//!          3 union     n count, count × r alternate (earlier preferred)
//!          4 capture   n group, r next (opens the group)
//!          5 capture   n group, r next (closes the group)
//!          6 fail
//!          7 match
//! tail     with flag bit 1 only: the rule is `^.{0,N}T` or `^.{0,N}?T` (`.` any
//!          character but `\n`): n N, n 1 if greedy else 0, then T's own
//!          program (no tail)
//! ```
//!
//! # Example
//!
//! ```
//! # #[cfg(feature = "build")] {
//! use dfabake_matcher::exact::{compile, ExactCache, ExactEngine};
//!
//! let program = compile(r"(\w+)@(\w+)").unwrap();
//! let engine = ExactEngine::from_program(&program).unwrap();
//! let mut cache = ExactCache::new();
//! let m = engine.captures(&mut cache, b"mail bob@example now").unwrap();
//! assert_eq!(m, vec![Some((5, 16)), Some((5, 8)), Some((9, 16))]);
//! assert!(engine.is_match(&mut cache, b"a@b"));
//! assert!(!engine.is_match(&mut cache, b"no at sign"));
//! # }
//! ```

mod backtrack;
mod lazy_dfa;
mod pikevm;
mod program;

use alloc::vec::Vec;
use core::fmt;

use regex_automata::util::look::LookMatcher;

use backtrack::Backtracker;
pub use lazy_dfa::LazyDfa;
use lazy_dfa::{Alphabet, Reversed};
use pikevm::{Frame, Threads};
use program::{decode, first_bytes, Program};
#[cfg(feature = "build")]
pub use program::{encode, encode_with_tail};

/// Why bytes are not a usable exact program, or an NFA cannot be written as one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProgramError {
    /// The program ends before a field it needs; `at` is the byte offset.
    Truncated {
        /// Offset of the field that is cut off.
        at: usize,
    },
    /// The program does not start with the magic bytes.
    BadMagic,
    /// A field is out of range; `what` says which, `at` is the byte offset.
    Corrupt {
        /// Which field.
        what: &'static str,
        /// Its byte offset in the program.
        at: usize,
    },
    /// The NFA is not a forward, single-pattern NFA (the only kind written).
    Unsupported(&'static str),
}

impl fmt::Display for ProgramError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProgramError::Truncated { at } => write!(f, "exact program truncated at byte {at}"),
            ProgramError::BadMagic => write!(f, "not an exact program (bad magic bytes)"),
            ProgramError::Corrupt { what, at } => {
                write!(f, "exact program is corrupt: {what} at byte {at}")
            }
            ProgramError::Unsupported(why) => write!(f, "cannot write this NFA: {why}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ProgramError {}

/// The Thompson compiler with the configuration `regex::bytes::Regex` uses:
/// leftmost-first semantics, patterns may match invalid UTF-8, empty matches
/// may split code points, and a 10 MiB NFA size limit. Every exact program
/// is compiled by it, from a pattern's text or its parsed HIR.
#[cfg(feature = "build")]
fn compiler() -> regex_automata::nfa::thompson::Compiler {
    use regex_automata::nfa::thompson::{Compiler, Config};
    use regex_automata::util::syntax;

    let mut compiler = Compiler::new();
    compiler
        .syntax(syntax::Config::new().utf8(false))
        .configure(
            Config::new()
                .utf8(false)
                .shrink(false)
                .nfa_size_limit(Some(10 * (1 << 20))),
        );
    compiler
}

/// Compiles `pattern` (the `regex` crate's syntax) to its exact program (see
/// [`compile_hir`]).
///
/// Only the builder needs this (feature `build`): matchers read programs.
#[cfg(feature = "build")]
pub fn compile(pattern: &str) -> Result<Vec<u8>, alloc::string::String> {
    use alloc::string::ToString;

    use regex_automata::util::syntax;

    let hir = syntax::parse_with(pattern, &syntax::Config::new().utf8(false))
        .map_err(|e| e.to_string())?;
    compile_hir(&hir)
}

/// Compiles a parsed pattern to its exact program, with the configuration
/// `regex::bytes::Regex` uses (leftmost-first, may match invalid UTF-8, a
/// 10 MiB NFA size limit). The HIR must come from a parser configured as
/// the `regex` crate's bytes API configures it (`utf8(false)`), as
/// [`compile`]'s does.
#[cfg(feature = "build")]
pub fn compile_hir(hir: &regex_syntax::hir::Hir) -> Result<Vec<u8>, alloc::string::String> {
    use alloc::string::ToString;

    let nfa = compiler().build_from_hir(hir).map_err(|e| e.to_string())?;
    let tail = match dot_prefix(hir) {
        Some((prefix, tail)) => Some((
            prefix,
            compiler()
                .build_from_hir(&tail)
                .map_err(|e| e.to_string())?,
        )),
        None => None,
    };
    encode_with_tail(&nfa, tail.as_ref().map(|(prefix, nfa)| (*prefix, nfa)))
        .map_err(|e| e.to_string())
}

/// For a rule `^.{0,N}?T` or `^.{0,N}T` (`.` any character but `\n`,
/// not captured): the prefix and `T`. Its leftmost-first match is `T`'s at
/// the first (lazy) or last (greedy) position where `T` matches that `N`
/// such characters reach, which is what [`ExactEngine::tail`] lets `first`
/// find directly. (uap-core's generic bot rules: `^.{0,200}?(…)[/ ](\d+)…`
/// and the device section's `(?i)^.{0,100}(bot|BUbiNG|…)`.)
#[cfg(feature = "build")]
fn dot_prefix(hir: &regex_syntax::hir::Hir) -> Option<(DotPrefix, regex_syntax::hir::Hir)> {
    use regex_syntax::hir::{Dot, Hir, HirKind, Look};

    let HirKind::Concat(parts) = hir.kind() else {
        return None;
    };
    let [start, prefix, rest @ ..] = parts.as_slice() else {
        return None;
    };
    let HirKind::Repetition(rep) = prefix.kind() else {
        return None;
    };
    let shape = *start == Hir::look(Look::Start)
        && rep.min == 0
        && *rep.sub == Hir::dot(Dot::AnyCharExceptLF)
        && !rest.is_empty();
    match rep.max {
        Some(most) if shape && most > 0 => {
            let prefix = DotPrefix {
                most: most as usize,
                greedy: rep.greedy,
            };
            Some((prefix, Hir::concat(rest.to_vec())))
        }
        _ => None,
    }
}

/// The prefix `^.{0,most}` (greedy) or `^.{0,most}?` of a rule whose
/// exact program carries a tail ([`ExactEngine::tail`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DotPrefix {
    /// Most characters (`\n` not among them) before the tail.
    pub most: usize,
    /// The longest reach is tried first (`.{0,N}`), not the shortest.
    pub greedy: bool,
}

impl DotPrefix {
    /// How many bytes from the start of `hay` the prefix can read: up to
    /// [`DotPrefix::most`] characters, none of them `\n`, all valid UTF-8.
    /// A tail starts at or before it, on a character's first byte.
    pub fn reach(&self, hay: &[u8]) -> usize {
        let head = &hay[..hay.len().min(self.most)];
        // User agents, paths and URLs: ASCII without a line break, where
        // characters are bytes (a walk by `chars` costs ~7 instructions a
        // byte; these two tests go a word at a time).
        if crate::matcher::is_ascii(head) && !head.contains(&b'\n') {
            return head.len();
        }
        let valid = match core::str::from_utf8(hay) {
            Ok(text) => text,
            Err(e) => core::str::from_utf8(&hay[..e.valid_up_to()]).unwrap_or_default(),
        };
        valid
            .chars()
            .take(self.most)
            .take_while(|&ch| ch != '\n')
            .map(char::len_utf8)
            .sum()
    }
}

/// Checks a program field by field, as [`ExactEngine::from_program`] does,
/// without building an engine: what a database's verification runs on
/// every rule's program.
pub fn check_program(program: &[u8]) -> Result<(), ProgramError> {
    decode(program).map(|_| ())
}

/// Slot value of a capture position not (yet) recorded.
const NONE: usize = usize::MAX;

/// The scratch space of a search by an [`ExactEngine`]: the Pike VM's thread
/// sets and stack, the backtracker's visited set, the winner's slots. One
/// cache serves every engine, one search at a time (regex-automata's
/// engine + `Cache` split): engines are immutable and can be shared by
/// threads, each thread bringing its own cache.
#[derive(Clone, Debug, Default)]
pub struct ExactCache {
    curr: Threads,
    next: Threads,
    stack: Vec<Frame>,
    /// The slots of the winning thread.
    found: Vec<usize>,
    bt: Backtracker,
}

impl ExactCache {
    /// An empty cache; it grows to what the searches it serves need.
    pub fn new() -> ExactCache {
        ExactCache::default()
    }
}

/// One rule's exact engine: its program, decoded once. Immutable (`Sync`):
/// every search brings its scratch space in an [`ExactCache`].
///
/// Short inputs are searched by a bounded backtracker (depth-first, in
/// priority order, never exploring a state at a position twice: the same
/// leftmost-first answer as the Pike VM, several times faster), starting
/// only at positions whose byte can begin a match; the Pike VM answers when
/// the visited set would be too big.
#[derive(Clone, Debug)]
pub struct ExactEngine {
    program: Program,
    looks: LookMatcher,
    /// Bytes that can begin a match (one bit each), or `None` when a match
    /// may be empty (it can start anywhere, even at the input's end).
    first_bytes: Option<[u64; 4]>,
    /// The byte classes of the lazy DFAs; built on their first search
    /// (a walk over every transition: a tenth of building a big rule's
    /// engine, which a fresh instance's first answers leave to the
    /// backtracker).
    alphabet: crate::lazy::Lazy<Alphabet>,
    /// The program's edges turned around, for
    /// [`ExactEngine::leftmost_start`]; built on its first call.
    reversed: crate::lazy::Lazy<Reversed>,
    /// See [`ExactEngine::tail`].
    tail: Option<(DotPrefix, alloc::boxed::Box<ExactEngine>)>,
    /// See [`ExactEngine::chain_len`].
    chain_len: Option<usize>,
}

/// Every capture group's span of a match, group 0 (the whole match) first,
/// `None` for a group that did not take part.
pub type GroupSpans = Vec<Option<(usize, usize)>>;

impl ExactEngine {
    /// Builds the engine for a program written by `encode` or `compile`
    /// (feature `build`), checking it field by field.
    pub fn from_program(program: &[u8]) -> Result<ExactEngine, ProgramError> {
        Ok(Self::of(decode(program)?))
    }

    fn of(mut program: Program) -> ExactEngine {
        // Not in `decode`: verification decodes every program, and only
        // engines search.
        program.build_dispatches();
        let tail = program
            .tail
            .take()
            .map(|(prefix, tail)| (prefix, alloc::boxed::Box::new(Self::of(*tail))));
        ExactEngine {
            first_bytes: first_bytes(&program),
            chain_len: program::chain_len(&program),
            alphabet: crate::lazy::Lazy::new(),
            reversed: crate::lazy::Lazy::new(),
            program,
            looks: LookMatcher::new(),
            tail,
        }
    }

    /// Whether a match can start at `start`: its byte can begin one, or a
    /// match may be empty (then anywhere, the input's end included).
    #[inline]
    fn may_start_at(&self, hay: &[u8], start: usize) -> bool {
        match (&self.first_bytes, hay.get(start)) {
            (None, _) => true,
            (Some(first), Some(&b)) => first[usize::from(b >> 6)] >> (b & 63) & 1 == 1,
            (Some(_), None) => false,
        }
    }

    fn alphabet(&self) -> &Alphabet {
        self.alphabet.get_or_init(|| Alphabet::of(&self.program))
    }

    /// For a rule `^.{0,N}?T` or `^.{0,N}T` (`.` any character but
    /// `\n`): its prefix and the engine of `T`, whose groups are the
    /// rule's. The rule's leftmost-first match is `T`'s from the leftmost
    /// (lazy) or rightmost (greedy) position where `T` matches that `N`
    /// such characters reach ([`ExactEngine::leftmost_start`] and
    /// [`ExactEngine::rightmost_start_upto`] of `T` find it); its group 0
    /// then starts at 0.
    pub fn tail(&self) -> Option<(DotPrefix, &ExactEngine)> {
        self.tail.as_ref().map(|(prefix, tail)| (*prefix, &**tail))
    }

    /// The length of every match when the rule is one string of byte
    /// classes (`Googlebot/`, `(?i)bingbot`, `Bot[-_]x`) with no capture
    /// group: a match is then wherever that string occurs, and its only
    /// group is that span.
    pub fn chain_len(&self) -> Option<usize> {
        self.chain_len
    }

    /// Whether the rule matches anywhere in `hay`.
    pub fn is_match(&self, cache: &mut ExactCache, hay: &[u8]) -> bool {
        match self.backtrack(cache, hay, 0) {
            Some(found) => found,
            None => self.search(cache, hay, 0, true),
        }
    }

    /// Whether the rule matches anywhere in `hay`, with the captures of
    /// its leftmost-first match as [`ExactEngine::captures`] gives them
    /// when they come at no extra cost: the backtracker finds the match
    /// and its slots in the same walk, where the Pike VM would have to run
    /// on past the earliest match (then only the answer).
    pub fn is_match_with_captures(
        &self,
        cache: &mut ExactCache,
        hay: &[u8],
    ) -> (bool, Option<GroupSpans>) {
        match self.backtrack(cache, hay, self.program.groups * 2) {
            Some(true) => (true, Some(Self::spans(&cache.found))),
            Some(false) => (false, None),
            None => (self.search(cache, hay, 0, true), None),
        }
    }

    fn spans(found: &[usize]) -> GroupSpans {
        found
            .chunks_exact(2)
            .map(|s| (s[0] != NONE && s[1] != NONE).then_some((s[0], s[1])))
            .collect()
    }

    /// [`ExactEngine::captures`] when the leftmost match is known to start
    /// at `start` ([`ExactEngine::leftmost_start`]): only that start is tried.
    pub fn captures_at(
        &self,
        cache: &mut ExactCache,
        hay: &[u8],
        start: usize,
    ) -> Option<GroupSpans> {
        let slots = self.program.groups * 2;
        let found = match self.straight_from(cache, hay, start, slots) {
            Some(found) => Some(found),
            None => self.backtrack_from_starts(cache, hay, slots, start..=start),
        };
        match found {
            Some(true) => Some(Self::spans(&cache.found)),
            Some(false) => None,
            // The visited set would be too big: the Pike VM, from the start.
            None => self.captures(cache, hay),
        }
    }

    /// How many states the program has: what a search may have to track.
    pub fn state_count(&self) -> usize {
        self.program.states.len()
    }

    /// Whether every match starts at the input's start (`^…`).
    pub fn is_anchored(&self) -> bool {
        self.program.anchored
    }

    /// The leftmost-first match in `hay`: every capture group's span, group
    /// 0 (the whole match) first, `None` for a group that did not take part.
    pub fn captures(&self, cache: &mut ExactCache, hay: &[u8]) -> Option<GroupSpans> {
        let slots = self.program.groups * 2;
        let found = match self.backtrack(cache, hay, slots) {
            Some(found) => found,
            None => self.search(cache, hay, slots, false),
        };
        if !found {
            return None;
        }
        Some(Self::spans(&cache.found))
    }
}
