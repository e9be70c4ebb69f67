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
//! header   magic "NFA1", n flags (bit 0: utf8), n state count,
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

use alloc::vec::Vec;
use core::fmt;

use regex_automata::util::look::{Look, LookMatcher};

use crate::wire::{self, Problem, WireError};

const MAGIC: [u8; 4] = *b"NFA1";
const FLAG_UTF8: u32 = 1;

const TAG_RANGE: u8 = 0;
const TAG_SPARSE: u8 = 1;
const TAG_LOOK: u8 = 2;
const TAG_UNION: u8 = 3;
const TAG_CAPTURE_START: u8 = 4;
const TAG_CAPTURE_END: u8 = 5;
const TAG_FAIL: u8 = 6;
const TAG_MATCH: u8 = 7;

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

/// Compiles `pattern` (the `regex` crate's syntax) to its exact program, with
/// the configuration `regex::bytes::Regex` uses: leftmost-first semantics,
/// patterns may match invalid UTF-8, empty matches may split code points,
/// and a 10 MiB NFA size limit.
///
/// Only the builder needs this (feature `build`): matchers read programs.
#[cfg(feature = "build")]
pub fn compile(pattern: &str) -> Result<Vec<u8>, alloc::string::String> {
    use alloc::string::ToString;
    use regex_automata::nfa::thompson::{Compiler, Config};
    use regex_automata::util::syntax;

    let nfa = Compiler::new()
        .syntax(syntax::Config::new().utf8(false))
        .configure(
            Config::new()
                .utf8(false)
                .shrink(false)
                .nfa_size_limit(Some(10 * (1 << 20))),
        )
        .build(pattern)
        .map_err(|e| e.to_string())?;
    encode(&nfa).map_err(|e| e.to_string())
}

/// Writes a forward, single-pattern NFA as an exact program.
#[cfg(feature = "build")]
pub fn encode(nfa: &regex_automata::nfa::thompson::NFA) -> Result<Vec<u8>, ProgramError> {
    use regex_automata::nfa::thompson::{State, Transition};
    use regex_automata::util::primitives::StateID;

    if nfa.pattern_len() != 1 {
        return Err(ProgramError::Unsupported("more than one pattern"));
    }
    if nfa.is_reverse() {
        return Err(ProgramError::Unsupported("reverse NFA"));
    }
    let mut out = Vec::with_capacity(16 + nfa.states().len() * 4);
    out.extend_from_slice(&MAGIC);
    let groups = nfa.group_info().group_len(regex_automata::PatternID::ZERO);
    put(&mut out, if nfa.is_utf8() { FLAG_UTF8 } else { 0 });
    put(&mut out, nfa.states().len() as u32);
    put_ref(&mut out, 0, nfa.start_anchored());
    put_ref(&mut out, 0, nfa.start_unanchored());
    put(&mut out, groups as u32);
    let put_transition = |out: &mut Vec<u8>, from: usize, t: &Transition| {
        out.extend_from_slice(&[t.start, t.end]);
        put_ref(out, from, t.next);
    };
    for (i, state) in nfa.states().iter().enumerate() {
        match state {
            State::ByteRange { trans } => {
                out.push(TAG_RANGE);
                put_transition(&mut out, i, trans);
            }
            State::Sparse(sparse) => {
                out.push(TAG_SPARSE);
                put(&mut out, sparse.transitions.len() as u32);
                for t in sparse.transitions.iter() {
                    put_transition(&mut out, i, t);
                }
            }
            State::Dense(dense) => {
                // Written as the equivalent sparse state: runs of bytes with
                // the same target.
                let mut runs: Vec<Transition> = Vec::new();
                for (b, &next) in dense.transitions.iter().enumerate() {
                    if next == StateID::ZERO {
                        continue;
                    }
                    match runs.last_mut() {
                        Some(t) if t.next == next && usize::from(t.end) + 1 == b => t.end = b as u8,
                        _ => runs.push(Transition {
                            start: b as u8,
                            end: b as u8,
                            next,
                        }),
                    }
                }
                out.push(TAG_SPARSE);
                put(&mut out, runs.len() as u32);
                for t in &runs {
                    put_transition(&mut out, i, t);
                }
            }
            State::Look { look, next } => {
                out.push(TAG_LOOK);
                put(&mut out, look.as_repr());
                put_ref(&mut out, i, *next);
            }
            State::Union { alternates } => {
                out.push(TAG_UNION);
                put(&mut out, alternates.len() as u32);
                for &a in alternates.iter() {
                    put_ref(&mut out, i, a);
                }
            }
            State::BinaryUnion { alt1, alt2 } => {
                out.push(TAG_UNION);
                put(&mut out, 2);
                put_ref(&mut out, i, *alt1);
                put_ref(&mut out, i, *alt2);
            }
            State::Capture {
                next,
                group_index,
                slot,
                ..
            } => {
                // Slots come in (open, close) pairs: even opens, odd closes.
                out.push(if slot.as_usize() % 2 == 0 {
                    TAG_CAPTURE_START
                } else {
                    TAG_CAPTURE_END
                });
                put(&mut out, group_index.as_u32());
                put_ref(&mut out, i, *next);
            }
            State::Fail => out.push(TAG_FAIL),
            State::Match { .. } => out.push(TAG_MATCH),
        }
    }
    Ok(out)
}

/// Appends a reference from state `from` to state `to`, relative to `from`
/// (zigzag): NFA states mostly point at near neighbours, so references are
/// one byte, and the same sub-automaton (say a Unicode class) is written as
/// the same bytes wherever it sits, which compresses well across rules.
#[cfg(feature = "build")]
fn put_ref(out: &mut Vec<u8>, from: usize, to: regex_automata::util::primitives::StateID) {
    let delta = to.as_usize() as i64 - from as i64;
    put(out, wire::zigzag(delta) as u32);
}

/// Appends `v` as an unsigned LEB128 varint.
#[cfg(feature = "build")]
fn put(out: &mut Vec<u8>, v: u32) {
    wire::write_uleb(out, u64::from(v));
}

/// A program's numbers are at most 32 bits: any longer varint is corrupt,
/// reported where it starts.
fn program_error(e: WireError) -> ProgramError {
    match e.problem {
        Problem::Truncated => ProgramError::Truncated { at: e.at },
        Problem::Overlong | Problem::Overflow => ProgramError::Corrupt { what: e.what, at: e.at },
    }
}

/// A bounds-checked reader over a program.
struct Reader<'p>(wire::Reader<'p>);

impl Reader<'_> {
    fn pos(&self) -> usize {
        self.0.pos()
    }

    fn u8(&mut self) -> Result<u8, ProgramError> {
        self.0.byte("byte").map_err(program_error)
    }

    /// An unsigned LEB128 varint of at most 32 bits.
    fn u32(&mut self) -> Result<u32, ProgramError> {
        self.0.uleb_u32("number over 32 bits").map_err(program_error)
    }

    /// A list length, at most `max` (what the rest of the program can hold).
    fn count(&mut self, max: usize, what: &'static str) -> Result<u32, ProgramError> {
        let at = self.pos();
        let n = self.u32()?;
        if n as usize > max {
            return Err(ProgramError::Corrupt { what, at });
        }
        Ok(n)
    }

    /// A reference from state `from` (see `put_ref`), which must name one of
    /// `states` states.
    fn state(&mut self, from: u32, states: u32) -> Result<u32, ProgramError> {
        let at = self.pos();
        let delta = wire::unzigzag(u64::from(self.u32()?));
        let id = i64::from(from) + delta;
        if !(0..i64::from(states)).contains(&id) {
            return Err(ProgramError::Corrupt {
                what: "state id out of range",
                at,
            });
        }
        Ok(id as u32)
    }

    fn range(&mut self, from: u32, states: u32) -> Result<Range, ProgramError> {
        let at = self.pos();
        let (start, end) = (self.u8()?, self.u8()?);
        if start > end {
            return Err(ProgramError::Corrupt {
                what: "byte range reversed",
                at,
            });
        }
        Ok(Range {
            start,
            end,
            next: self.state(from, states)?,
        })
    }
}

/// A byte range and the state it leads to.
#[derive(Clone, Copy, Debug)]
struct Range {
    start: u8,
    end: u8,
    next: u32,
}

/// A state of a decoded program. Lists (sparse transitions, union
/// alternates) live in [`Program`]'s shared vectors.
#[derive(Clone, Copy, Debug)]
enum State {
    Range(Range),
    /// `ranges[from..from + len]`, ascending and disjoint.
    Sparse {
        from: u32,
        len: u32,
    },
    Look {
        look: Look,
        next: u32,
    },
    /// `alternates[from..from + len]`, in order of preference.
    Union {
        from: u32,
        len: u32,
    },
    /// Records the position in `slot` (2 × group, + 1 when it closes).
    Capture {
        slot: u32,
        next: u32,
    },
    Fail,
    Match,
}

/// A decoded program: the NFA as flat arrays.
#[derive(Clone, Debug)]
struct Program {
    states: Vec<State>,
    ranges: Vec<Range>,
    alternates: Vec<u32>,
    start: u32,
    /// Whether every match starts where the search does (`^...`): the
    /// unanchored start state is the anchored one.
    anchored: bool,
    groups: usize,
    /// Per state, its [`Dispatch`] in `dispatches` if it is a union wide
    /// enough to have one, else `u32::MAX`.
    dispatch_of: Vec<u32>,
    dispatches: Vec<Dispatch>,
}

/// Unions with at least this many alternates get a [`Dispatch`].
const DISPATCH_MIN_ALTERNATES: u32 = 16;

/// A wide union's alternates by the byte they can start with: a giant
/// `name|name|…` alternation would otherwise push every alternate at every
/// position, only for all but one or two to fail on the next byte.
/// `alternates[offsets[b]..offsets[b + 1]]` are the alternates, in priority
/// order, that can go on at byte `b` (entry 256: at the end of the input).
/// An alternate whose epsilon closure reaches a match, or that the closure
/// walk gave up on, is in every list; look-around assertions are taken as
/// passing. Dropping the others changes no answer: they fail before
/// reaching another state anyway.
#[derive(Clone, Debug)]
struct Dispatch {
    offsets: Vec<u32>,
    alternates: Vec<u32>,
}

impl Program {
    /// The alternates of union `s` (`from`, `len`) worth trying before
    /// `byte` (`None`: at the end of the input).
    #[inline]
    fn alternates_at(&self, s: u32, from: u32, len: u32, byte: Option<u8>) -> &[u32] {
        match self.dispatch_of.get(s as usize) {
            Some(&d) if d != u32::MAX => {
                let d = &self.dispatches[d as usize];
                let b = byte.map_or(256, usize::from);
                &d.alternates[d.offsets[b] as usize..d.offsets[b + 1] as usize]
            }
            _ => &self.alternates[from as usize..(from + len) as usize],
        }
    }

    /// Builds the dispatch of every wide union.
    fn build_dispatches(&mut self) {
        self.dispatch_of = alloc::vec![u32::MAX; self.states.len()];
        let mut seen = alloc::vec![u32::MAX; self.states.len()];
        let mut mark = 0u32;
        for s in 0..self.states.len() {
            let State::Union { from, len } = self.states[s] else { continue };
            if len < DISPATCH_MIN_ALTERNATES {
                continue;
            }
            let alts = &self.alternates[from as usize..(from + len) as usize];
            // Per alternate, the bytes it can go on with (bit 256: the end).
            let mut sets: Vec<[u64; 5]> = Vec::with_capacity(alts.len());
            for &a in alts {
                mark += 1;
                // Bit 256: the end of the input, where only an alternate
                // that may match empty goes on (`None`, as a walk over budget).
                let set = match bytes_from(self, a, &mut seen, mark, 4096) {
                    Some([w0, w1, w2, w3]) => [w0, w1, w2, w3, 0],
                    None => [u64::MAX; 5],
                };
                sets.push(set);
            }
            let mut offsets = Vec::with_capacity(258);
            let mut by_byte = Vec::new();
            for b in 0..=256usize {
                offsets.push(by_byte.len() as u32);
                by_byte.extend(
                    alts.iter()
                        .zip(&sets)
                        .filter(|(_, set)| set[b >> 6] >> (b & 63) & 1 == 1)
                        .map(|(&a, _)| a),
                );
            }
            offsets.push(by_byte.len() as u32);
            self.dispatch_of[s] = self.dispatches.len() as u32;
            self.dispatches.push(Dispatch { offsets, alternates: by_byte });
        }
    }
}

/// Checks a program field by field, as [`ExactEngine::from_program`] does,
/// without building an engine: what a database's verification runs on
/// every rule's program.
pub fn check_program(program: &[u8]) -> Result<(), ProgramError> {
    decode(program).map(|_| ())
}

/// Reads an exact program into its states, checking every field: damaged
/// bytes give an error, never a panic or an engine that misbehaves.
#[inline(never)] // one copy for verification and for engines: module size
fn decode(program: &[u8]) -> Result<Program, ProgramError> {
    if program.get(..4) != Some(&MAGIC[..]) {
        return Err(ProgramError::BadMagic);
    }
    let mut r = Reader(wire::Reader::at(program, 4));
    // Bit 0 (utf8) changes nothing for a search that never splits code
    // points, the only kind the builder writes.
    let flags_at = r.pos();
    if r.u32()? & !FLAG_UTF8 != 0 {
        return Err(ProgramError::Corrupt {
            what: "unknown flag bits",
            at: flags_at,
        });
    }
    let count_at = r.pos();
    let states = r.u32()?;
    if states == 0 || states as usize > program.len() {
        return Err(ProgramError::Corrupt {
            what: "state count",
            at: count_at,
        });
    }
    let start = r.state(0, states)?;
    let unanchored = r.state(0, states)?;
    let groups_at = r.pos();
    let groups = r.u32()?;
    if groups == 0 || groups > states {
        return Err(ProgramError::Corrupt {
            what: "capture group count",
            at: groups_at,
        });
    }
    let mut p = Program {
        states: Vec::with_capacity(states as usize),
        ranges: Vec::new(),
        alternates: Vec::new(),
        start,
        anchored: start == unanchored,
        groups: groups as usize,
        dispatch_of: Vec::new(),
        dispatches: Vec::new(),
    };
    for current in 0..states {
        let at = r.pos();
        let state = match r.u8()? {
            TAG_RANGE => State::Range(r.range(current, states)?),
            TAG_SPARSE => {
                // A transition takes at least 3 bytes.
                let n = r.count(program.len() / 3, "transition count")?;
                let from = p.ranges.len() as u32;
                for _ in 0..n {
                    let range = r.range(current, states)?;
                    if p.ranges.len() > from as usize && p.ranges.last().unwrap().end >= range.start
                    {
                        return Err(ProgramError::Corrupt {
                            what: "transitions not ascending",
                            at,
                        });
                    }
                    p.ranges.push(range);
                }
                State::Sparse { from, len: n }
            }
            TAG_LOOK => {
                let look = Look::from_repr(r.u32()?).ok_or(ProgramError::Corrupt {
                    what: "unknown look-around",
                    at: at + 1,
                })?;
                State::Look {
                    look,
                    next: r.state(current, states)?,
                }
            }
            TAG_UNION => {
                let n = r.count(program.len(), "alternate count")?;
                let from = p.alternates.len() as u32;
                for _ in 0..n {
                    let alt = r.state(current, states)?;
                    p.alternates.push(alt);
                }
                State::Union { from, len: n }
            }
            tag @ (TAG_CAPTURE_START | TAG_CAPTURE_END) => {
                let group = r.u32()?;
                if group >= groups {
                    return Err(ProgramError::Corrupt {
                        what: "capture group out of range",
                        at: at + 1,
                    });
                }
                let slot = group * 2 + u32::from(tag == TAG_CAPTURE_END);
                State::Capture {
                    slot,
                    next: r.state(current, states)?,
                }
            }
            TAG_FAIL => State::Fail,
            TAG_MATCH => State::Match,
            _ => {
                return Err(ProgramError::Corrupt {
                    what: "unknown state tag",
                    at,
                })
            }
        };
        p.states.push(state);
    }
    if r.pos() != program.len() {
        return Err(ProgramError::Corrupt {
            what: "trailing bytes",
            at: r.pos(),
        });
    }
    Ok(p)
}

/// The bytes that can begin a match of `p` (look-around assertions taken
/// as passing: a superset), or `None` when a match may be empty.
fn first_bytes(p: &Program) -> Option<[u64; 4]> {
    let mut seen = alloc::vec![0; p.states.len()];
    bytes_from(p, p.start, &mut seen, 1, usize::MAX)
}

/// The bytes with which a match can go on from state `from` (look-around
/// taken as passing: a superset), or `None` when it may end there without
/// one, or the walk would visit more than `budget` states. `seen[s] == mark`
/// marks states visited; callers walking many times change `mark` instead
/// of clearing `seen`.
fn bytes_from(p: &Program, from: u32, seen: &mut [u32], mark: u32, budget: usize) -> Option<[u64; 4]> {
    let mut set = [0u64; 4];
    let mut add = |r: &Range| {
        for b in r.start..=r.end {
            set[usize::from(b >> 6)] |= 1 << (b & 63);
        }
    };
    let mut stack = alloc::vec![from];
    let mut visited = 0usize;
    while let Some(s) = stack.pop() {
        if core::mem::replace(&mut seen[s as usize], mark) == mark {
            continue;
        }
        visited += 1;
        if visited > budget {
            return None;
        }
        match p.states[s as usize] {
            State::Range(r) => add(&r),
            State::Sparse { from, len } => {
                p.ranges[from as usize..(from + len) as usize].iter().for_each(&mut add)
            }
            State::Look { next, .. } | State::Capture { next, .. } => stack.push(next),
            State::Union { from, len } => {
                stack.extend_from_slice(&p.alternates[from as usize..(from + len) as usize])
            }
            State::Fail => {}
            State::Match => return None,
        }
    }
    Some(set)
}

/// Slot value of a capture position not (yet) recorded.
const NONE: usize = usize::MAX;

/// An ordered set of states (insertion order is priority order) with one
/// row of capture slots per state.
#[derive(Clone, Debug, Default)]
struct Threads {
    dense: Vec<u32>,
    /// `sparse[s]` is `s`'s index in `dense` if `s` is in the set.
    sparse: Vec<u32>,
    /// `slots_per_state` slots for each state, then one scratch row.
    slots: Vec<usize>,
}

impl Threads {
    /// Empties the set for a search. Slot rows keep stale values: a row is
    /// written whenever its state is inserted, before anything reads it.
    fn reset(&mut self, states: usize, slots_per_state: usize) {
        self.dense.clear();
        self.dense.reserve(states);
        self.sparse.resize(states, 0);
        self.slots.resize((states + 1) * slots_per_state, NONE);
    }

    fn contains(&self, s: u32) -> bool {
        let i = self.sparse[s as usize] as usize;
        i < self.dense.len() && self.dense[i] == s
    }

    /// Adds `s`; false if it was there already.
    fn insert(&mut self, s: u32) -> bool {
        if self.contains(s) {
            return false;
        }
        self.sparse[s as usize] = self.dense.len() as u32;
        self.dense.push(s);
        true
    }
}

/// A step of the epsilon closure's explicit stack.
#[derive(Clone, Copy, Debug)]
enum Frame {
    Explore(u32),
    /// Put back a slot's value once the states after a capture are explored.
    Restore {
        slot: u32,
        value: usize,
    },
}

/// Most bits of a backtracker's visited set (256 KiB, as regex-automata's
/// `BoundedBacktracker` by default): a search whose states × positions do
/// not fit runs the Pike VM instead.
const VISITED_BITS_MAX: usize = 256 * 1024 * 8;

/// A step of the bounded backtracker's explicit stack.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// Explore a state at a position.
    Visit { state: u32, at: usize },
    /// Put back a slot's value when backtracking past the capture.
    Restore { slot: u32, value: usize },
}

/// Scratch space of the bounded backtracker.
#[derive(Clone, Debug, Default)]
struct Backtracker {
    /// One bit per (state, position): explored already, and failed.
    visited: Vec<u64>,
    stack: Vec<Step>,
}

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
}

impl ExactEngine {
    /// Builds the engine for a program written by [`encode`] (or `compile`),
    /// checking it field by field.
    pub fn from_program(program: &[u8]) -> Result<ExactEngine, ProgramError> {
        let mut program = decode(program)?;
        // Not in `decode`: verification decodes every program, and only
        // engines search.
        program.build_dispatches();
        Ok(ExactEngine {
            first_bytes: first_bytes(&program),
            program,
            looks: LookMatcher::new(),
        })
    }

    /// Whether the rule matches anywhere in `hay`.
    pub fn is_match(&self, cache: &mut ExactCache, hay: &[u8]) -> bool {
        match self.backtrack(cache, hay, 0) {
            Some(found) => found,
            None => self.search(cache, hay, 0, true),
        }
    }

    /// The leftmost-first match in `hay`: every capture group's span, group
    /// 0 (the whole match) first, `None` for a group that did not take part.
    pub fn captures(
        &self,
        cache: &mut ExactCache,
        hay: &[u8],
    ) -> Option<Vec<Option<(usize, usize)>>> {
        let slots = self.program.groups * 2;
        let found = match self.backtrack(cache, hay, slots) {
            Some(found) => found,
            None => self.search(cache, hay, slots, false),
        };
        if !found {
            return None;
        }
        Some(
            cache
                .found
                .chunks_exact(2)
                .map(|s| (s[0] != NONE && s[1] != NONE).then_some((s[0], s[1])))
                .collect(),
        )
    }

    /// The bounded backtracker (regex-automata's `BoundedBacktracker`
    /// algorithm): from each start position in turn, a depth-first search
    /// that tries alternatives in priority order, so the first match it
    /// reaches is the leftmost-first one. A (state, position) pair explored
    /// once is never explored again, from any start: it failed the first
    /// time, so the search is O(states × positions). `None` when that
    /// visited set would be over [`VISITED_BITS_MAX`].
    fn backtrack(&self, c: &mut ExactCache, hay: &[u8], slots: usize) -> Option<bool> {
        let width = hay.len() + 1;
        let bits = self.program.states.len().checked_mul(width)?;
        if bits > VISITED_BITS_MAX {
            return None;
        }
        c.bt.visited.clear();
        c.bt.visited.resize(bits.div_ceil(64), 0);
        c.found.clear();
        c.found.resize(slots, NONE);
        let last_start = if self.program.anchored { 0 } else { hay.len() };
        for start in 0..=last_start {
            if let Some(first) = &self.first_bytes {
                match hay.get(start) {
                    Some(&b) if first[usize::from(b >> 6)] >> (b & 63) & 1 == 1 => {}
                    _ => continue,
                }
            }
            if self.backtrack_from(c, hay, start, width) {
                return Some(true);
            }
        }
        Some(false)
    }

    /// One depth-first search from `start`; on a match the slots are in
    /// `found`.
    fn backtrack_from(&self, c: &mut ExactCache, hay: &[u8], start: usize, width: usize) -> bool {
        let ExactCache { bt, found, .. } = c;
        let slots = found.len();
        bt.stack.clear();
        bt.stack.push(Step::Visit { state: self.program.start, at: start });
        while let Some(step) = bt.stack.pop() {
            let (mut s, mut at) = match step {
                Step::Restore { slot, value } => {
                    found[slot as usize] = value;
                    continue;
                }
                Step::Visit { state, at } => (state, at),
            };
            loop {
                let bit = s as usize * width + at;
                let (word, mask) = (bit / 64, 1u64 << (bit % 64));
                if bt.visited[word] & mask != 0 {
                    break;
                }
                bt.visited[word] |= mask;
                match self.program.states[s as usize] {
                    State::Range(r) => match hay.get(at) {
                        Some(&b) if r.start <= b && b <= r.end => {
                            s = r.next;
                            at += 1;
                        }
                        _ => break,
                    },
                    State::Sparse { from, len } => {
                        let Some(&b) = hay.get(at) else { break };
                        let ranges = &self.program.ranges[from as usize..(from + len) as usize];
                        match ranges.iter().find(|r| b <= r.end).filter(|r| r.start <= b) {
                            Some(r) => {
                                s = r.next;
                                at += 1;
                            }
                            None => break,
                        }
                    }
                    State::Look { look, next } => {
                        if !self.looks.matches(look, hay, at) {
                            break;
                        }
                        s = next;
                    }
                    State::Union { from, len } => {
                        let alts = self.program.alternates_at(s, from, len, hay.get(at).copied());
                        let Some((&first, rest)) = alts.split_first() else { break };
                        bt.stack.extend(rest.iter().rev().map(|&a| Step::Visit { state: a, at }));
                        s = first;
                    }
                    State::Capture { slot, next } => {
                        if (slot as usize) < slots {
                            let value = found[slot as usize];
                            bt.stack.push(Step::Restore { slot, value });
                            found[slot as usize] = at;
                        }
                        s = next;
                    }
                    State::Fail => break,
                    State::Match => return true,
                }
            }
        }
        false
    }

    /// The Pike VM: every thread advances one byte at a time in priority
    /// order; the first thread to match cuts off all lower-priority ones
    /// (leftmost-first), and new threads start at each position only until
    /// a match is found. With `slots == 0` no capture positions are kept.
    fn search(&self, c: &mut ExactCache, hay: &[u8], slots: usize, earliest: bool) -> bool {
        let states = self.program.states.len();
        c.curr.reset(states, slots);
        c.next.reset(states, slots);
        c.found.clear();
        c.found.resize(slots, NONE);
        let mut matched = false;
        let mut at = 0;
        while at <= hay.len() {
            if c.curr.dense.is_empty() && (matched || (self.program.anchored && at > 0)) {
                break;
            }
            if !matched && (!self.program.anchored || at == 0) {
                // New threads start outside every group: from the scratch
                // row, whose slots are all unset.
                let scratch = states * slots;
                let mut row = core::mem::take(&mut c.next.slots);
                row[scratch..scratch + slots].fill(NONE);
                self.closure(c, &mut row, scratch, slots, true, hay, at, self.program.start);
                c.next.slots = row;
            }
            if self.step(c, hay, at, slots) {
                matched = true;
                if earliest {
                    break;
                }
            }
            core::mem::swap(&mut c.curr, &mut c.next);
            c.next.dense.clear();
            at += 1;
        }
        matched
    }

    /// Advances every thread of `curr` over `hay[at]` into `next`; true if a
    /// thread reached the match state (its slots are then in `found`).
    fn step(&self, c: &mut ExactCache, hay: &[u8], at: usize, slots: usize) -> bool {
        let byte = hay.get(at).copied();
        let mut curr_slots = core::mem::take(&mut c.curr.slots);
        let mut matched = false;
        for i in 0..c.curr.dense.len() {
            let s = c.curr.dense[i];
            let target = match self.program.states[s as usize] {
                State::Range(r) => byte.filter(|&b| r.start <= b && b <= r.end).map(|_| r.next),
                State::Sparse { from, len } => byte.and_then(|b| {
                    let ranges = &self.program.ranges[from as usize..(from + len) as usize];
                    ranges
                        .iter()
                        .find(|r| b <= r.end)
                        .filter(|r| r.start <= b)
                        .map(|r| r.next)
                }),
                State::Match => {
                    let row = s as usize * slots;
                    c.found.copy_from_slice(&curr_slots[row..row + slots]);
                    matched = true;
                    break;
                }
                _ => None,
            };
            if let Some(t) = target {
                self.closure(
                    c,
                    &mut curr_slots,
                    s as usize * slots,
                    slots,
                    false,
                    hay,
                    at + 1,
                    t,
                );
            }
        }
        c.curr.slots = curr_slots;
        matched
    }

    /// Adds every state reachable from `start` by epsilon transitions at
    /// position `at` to a thread set, in priority order, each with a copy of
    /// the thread's slots as they are when it gets there: to `curr` when
    /// `seeding` (new threads, behind the ones already there), else to
    /// `next`. The thread's slots are `row[base..base + slots]`, changed
    /// while exploring and restored after.
    #[allow(clippy::too_many_arguments)]
    fn closure(
        &self,
        c: &mut ExactCache,
        row: &mut [usize],
        base: usize,
        slots: usize,
        seeding: bool,
        hay: &[u8],
        at: usize,
        start: u32,
    ) {
        let set = if seeding {
            &mut c.curr
        } else {
            &mut c.next
        };
        c.stack.push(Frame::Explore(start));
        while let Some(frame) = c.stack.pop() {
            let mut s = match frame {
                Frame::Restore { slot, value } => {
                    row[base + slot as usize] = value;
                    continue;
                }
                Frame::Explore(s) => s,
            };
            loop {
                if !set.insert(s) {
                    break;
                }
                match self.program.states[s as usize] {
                    State::Look { look, next } => {
                        if !self.looks.matches(look, hay, at) {
                            break;
                        }
                        s = next;
                    }
                    State::Union { from, len } => {
                        let alts = self.program.alternates_at(s, from, len, hay.get(at).copied());
                        let Some((&first, rest)) = alts.split_first() else {
                            break;
                        };
                        c.stack
                            .extend(rest.iter().rev().map(|&a| Frame::Explore(a)));
                        s = first;
                    }
                    State::Capture { slot, next } => {
                        if (slot as usize) < slots {
                            let value = row[base + slot as usize];
                            c.stack.push(Frame::Restore { slot, value });
                            row[base + slot as usize] = at;
                        }
                        s = next;
                    }
                    State::Range(_) | State::Sparse { .. } | State::Fail | State::Match => {
                        let to = s as usize * slots;
                        set.slots[to..to + slots].copy_from_slice(&row[base..base + slots]);
                        break;
                    }
                }
            }
        }
    }
}
