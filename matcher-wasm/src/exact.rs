//! Exact engines, compiled natively at build time and rebuilt in the instance
//! in microseconds.
//!
//! Every rule carries an *exact program*: its Thompson NFA (regex-automata's
//! `nfa::thompson::NFA`, compiled exactly as `regex::bytes::Regex` compiles
//! it) written as a compact table. At match time the matcher turns a
//! program back into the same NFA with regex-automata's NFA [`Builder`] and
//! runs a [`PikeVM`] over it, for the span and captures of `first` and to
//! confirm the candidates of over-approximating DFAs.
//!
//! Nothing parses a pattern inside the module: the wasm templates carry no
//! regex parser and no Unicode tables (beyond the word table Unicode `\b`
//! needs), which keeps them small, fast to compile for a JavaScript engine,
//! and makes the first answer of a fresh instance cheap.
//!
//! # Program layout
//!
//! Numbers are unsigned LEB128 varints (`n`): most state ids are small, and
//! a rule's program is typically 60–100 bytes. State ids are indices into
//! the state list.
//!
//! ```text
//! header   magic "NFA1", n flags (bit 0: utf8), n state count,
//!          n anchored start, n unanchored start, n capture group count
//! states   one tag byte each, then:
//!          0 range     start u8, end u8, n next
//!          1 sparse    n count, count × (start u8, end u8, n next)
//!          2 look      n look (regex-automata's `Look::as_repr`), n next
//!          3 union     n count, count × n alternate (earlier preferred)
//!          4 capture   n group, n next (opens the group)
//!          5 capture   n group, n next (closes the group)
//!          6 fail
//!          7 match
//! ```
//!
//! # Example
//!
//! ```
//! # #[cfg(feature = "build")] {
//! use dfabake_matcher::exact::{compile, ExactEngine};
//!
//! let program = compile(r"(\w+)@(\w+)").unwrap();
//! let mut engine = ExactEngine::from_program(&program).unwrap();
//! let m = engine.captures(b"mail bob@example now").unwrap();
//! assert_eq!(m, vec![Some((5, 16)), Some((5, 8)), Some((9, 16))]);
//! assert!(engine.is_match(b"a@b"));
//! assert!(!engine.is_match(b"no at sign"));
//! # }
//! ```

use alloc::vec::Vec;
use core::fmt;

use regex_automata::nfa::thompson::{pikevm, Builder, State, Transition, NFA};
use regex_automata::util::captures::Captures;
use regex_automata::util::look::Look;
use regex_automata::util::primitives::StateID;
use regex_automata::{Input, MatchKind};

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
    /// regex-automata refused to build the NFA back.
    Rebuild,
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
            ProgramError::Rebuild => write!(f, "exact program does not form a valid NFA"),
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
pub fn encode(nfa: &NFA) -> Result<Vec<u8>, ProgramError> {
    if nfa.pattern_len() != 1 {
        return Err(ProgramError::Unsupported("more than one pattern"));
    }
    if nfa.is_reverse() {
        return Err(ProgramError::Unsupported("reverse NFA"));
    }
    let mut out = Vec::with_capacity(16 + nfa.states().len() * 4);
    out.extend_from_slice(&MAGIC);
    let groups = nfa
        .group_info()
        .group_len(regex_automata::PatternID::ZERO);
    for v in [
        if nfa.is_utf8() { FLAG_UTF8 } else { 0 },
        nfa.states().len() as u32,
        nfa.start_anchored().as_u32(),
        nfa.start_unanchored().as_u32(),
        groups as u32,
    ] {
        put(&mut out, v);
    }
    let put_transition = |out: &mut Vec<u8>, t: &Transition| {
        out.extend_from_slice(&[t.start, t.end]);
        put(out, t.next.as_u32());
    };
    for state in nfa.states() {
        match state {
            State::ByteRange { trans } => {
                out.push(TAG_RANGE);
                put_transition(&mut out, trans);
            }
            State::Sparse(sparse) => {
                out.push(TAG_SPARSE);
                put(&mut out, sparse.transitions.len() as u32);
                for t in sparse.transitions.iter() {
                    put_transition(&mut out, t);
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
                        _ => runs.push(Transition { start: b as u8, end: b as u8, next }),
                    }
                }
                out.push(TAG_SPARSE);
                put(&mut out, runs.len() as u32);
                for t in &runs {
                    put_transition(&mut out, t);
                }
            }
            State::Look { look, next } => {
                out.push(TAG_LOOK);
                put(&mut out, look.as_repr());
                put(&mut out, next.as_u32());
            }
            State::Union { alternates } => {
                out.push(TAG_UNION);
                put(&mut out, alternates.len() as u32);
                for a in alternates.iter() {
                    put(&mut out, a.as_u32());
                }
            }
            State::BinaryUnion { alt1, alt2 } => {
                out.push(TAG_UNION);
                put(&mut out, 2);
                put(&mut out, alt1.as_u32());
                put(&mut out, alt2.as_u32());
            }
            State::Capture { next, group_index, slot, .. } => {
                // Slots come in (open, close) pairs: even opens, odd closes.
                out.push(if slot.as_usize() % 2 == 0 { TAG_CAPTURE_START } else { TAG_CAPTURE_END });
                put(&mut out, group_index.as_u32());
                put(&mut out, next.as_u32());
            }
            State::Fail => out.push(TAG_FAIL),
            State::Match { .. } => out.push(TAG_MATCH),
        }
    }
    Ok(out)
}

/// Appends `v` as an unsigned LEB128 varint.
fn put(out: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A bounds-checked reader over a program.
struct Reader<'p> {
    bytes: &'p [u8],
    at: usize,
}

impl Reader<'_> {
    fn u8(&mut self) -> Result<u8, ProgramError> {
        let b = *self.bytes.get(self.at).ok_or(ProgramError::Truncated { at: self.at })?;
        self.at += 1;
        Ok(b)
    }

    /// An unsigned LEB128 varint of at most 32 bits.
    fn u32(&mut self) -> Result<u32, ProgramError> {
        let at = self.at;
        let mut v: u32 = 0;
        for shift in (0..35).step_by(7) {
            let b = self.u8()?;
            if shift == 28 && b > 0x0f {
                return Err(ProgramError::Corrupt { what: "number over 32 bits", at });
            }
            v |= u32::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        unreachable!("the fifth byte either ends the number or is refused")
    }

    /// A state id, which must name one of `states` states.
    fn state(&mut self, states: u32) -> Result<StateID, ProgramError> {
        let at = self.at;
        let id = self.u32()?;
        if id >= states {
            return Err(ProgramError::Corrupt { what: "state id out of range", at });
        }
        StateID::new(id as usize).map_err(|_| ProgramError::Corrupt { what: "state id", at })
    }

    fn transition(&mut self, states: u32) -> Result<Transition, ProgramError> {
        let at = self.at;
        let (start, end) = (self.u8()?, self.u8()?);
        if start > end {
            return Err(ProgramError::Corrupt { what: "byte range reversed", at });
        }
        Ok(Transition { start, end, next: self.state(states)? })
    }
}

/// Reads an exact program back into the NFA it was written from.
///
/// Every field is bounds-checked, so damaged bytes give an error, not a
/// panic; state ids come out as they went in.
pub fn decode(program: &[u8]) -> Result<NFA, ProgramError> {
    let mut r = Reader { bytes: program, at: 0 };
    if program.get(..4) != Some(&MAGIC[..]) {
        return Err(ProgramError::BadMagic);
    }
    r.at = 4;
    let flags = r.u32()?;
    let states = r.u32()?;
    if states == 0 {
        return Err(ProgramError::Corrupt { what: "no states", at: 8 });
    }
    let start_anchored = r.state(states)?;
    let start_unanchored = r.state(states)?;
    let groups_at = r.at;
    let groups = r.u32()?;
    if groups == 0 || groups > states {
        return Err(ProgramError::Corrupt { what: "capture group count", at: groups_at });
    }
    let mut b = Builder::new();
    b.set_utf8(flags & FLAG_UTF8 != 0);
    b.start_pattern().map_err(|_| ProgramError::Rebuild)?;
    // Which groups have states: the builder learns a pattern's groups from
    // its capture states, and a group compiled away (`(a){0}`) has none.
    let mut seen = Vec::new();
    seen.resize(groups as usize, false);
    let rebuild = |_| ProgramError::Rebuild;
    for _ in 0..states {
        let at = r.at;
        match r.u8()? {
            TAG_RANGE => {
                let t = r.transition(states)?;
                b.add_range(t).map_err(rebuild)?;
            }
            TAG_SPARSE => {
                let n = r.u32()?;
                if n as usize > program.len() / 3 {
                    return Err(ProgramError::Corrupt { what: "transition count", at });
                }
                let ts = (0..n).map(|_| r.transition(states)).collect::<Result<Vec<_>, _>>()?;
                b.add_sparse(ts).map_err(rebuild)?;
            }
            TAG_LOOK => {
                let look = Look::from_repr(r.u32()?)
                    .ok_or(ProgramError::Corrupt { what: "unknown look-around", at: at + 1 })?;
                let next = r.state(states)?;
                b.add_look(next, look).map_err(rebuild)?;
            }
            TAG_UNION => {
                let n = r.u32()?;
                if n as usize > program.len() {
                    return Err(ProgramError::Corrupt { what: "alternate count", at });
                }
                let alts = (0..n).map(|_| r.state(states)).collect::<Result<Vec<_>, _>>()?;
                b.add_union(alts).map_err(rebuild)?;
            }
            tag @ (TAG_CAPTURE_START | TAG_CAPTURE_END) => {
                let group = r.u32()?;
                if group >= groups {
                    return Err(ProgramError::Corrupt { what: "capture group out of range", at: at + 1 });
                }
                let next = r.state(states)?;
                if tag == TAG_CAPTURE_START {
                    seen[group as usize] = true;
                    b.add_capture_start(next, group, None).map_err(rebuild)?;
                } else {
                    b.add_capture_end(next, group).map_err(rebuild)?;
                }
            }
            TAG_FAIL => {
                b.add_fail().map_err(rebuild)?;
            }
            TAG_MATCH => {
                b.add_match().map_err(rebuild)?;
            }
            _ => return Err(ProgramError::Corrupt { what: "unknown state tag", at }),
        }
    }
    if r.at != program.len() {
        return Err(ProgramError::Corrupt { what: "trailing bytes", at: r.at });
    }
    if seen.first() != Some(&true) {
        return Err(ProgramError::Corrupt { what: "no group 0", at: groups_at });
    }
    // Groups without states still count (the regex crate reports them as
    // never participating): unreachable states declare the last of them.
    if let Some(last) = seen.iter().rposition(|&s| !s) {
        if !seen[last + 1..].iter().any(|&s| s) {
            let fail = b.add_fail().map_err(rebuild)?;
            b.add_capture_start(fail, last as u32, None).map_err(rebuild)?;
            b.add_capture_end(fail, last as u32).map_err(rebuild)?;
        }
    }
    b.finish_pattern(start_anchored).map_err(rebuild)?;
    b.build(start_anchored, start_unanchored).map_err(rebuild)
}

/// One rule's exact engine: its NFA under a PikeVM, with the scratch space a
/// search needs. Build one per rule and keep it: searches allocate nothing.
pub struct ExactEngine {
    vm: pikevm::PikeVM,
    cache: pikevm::Cache,
    captures: Captures,
}

impl ExactEngine {
    /// Builds the engine for a program written by [`encode`] (or [`compile`]).
    pub fn from_program(program: &[u8]) -> Result<ExactEngine, ProgramError> {
        let nfa = decode(program)?;
        let vm = pikevm::PikeVM::builder()
            .configure(pikevm::Config::new().match_kind(MatchKind::LeftmostFirst))
            .build_from_nfa(nfa)
            .map_err(|_| ProgramError::Rebuild)?;
        let cache = vm.create_cache();
        let captures = vm.create_captures();
        Ok(ExactEngine { vm, cache, captures })
    }

    /// Whether the rule matches anywhere in `hay`.
    pub fn is_match(&mut self, hay: &[u8]) -> bool {
        self.vm.is_match(&mut self.cache, Input::new(hay))
    }

    /// The leftmost-first match in `hay`: every capture group's span, group
    /// 0 (the whole match) first, `None` for a group that did not take part.
    pub fn captures(&mut self, hay: &[u8]) -> Option<Vec<Option<(usize, usize)>>> {
        self.vm.captures(&mut self.cache, hay, &mut self.captures);
        if !self.captures.is_match() {
            return None;
        }
        let groups = self.captures.group_len();
        Some(
            (0..groups)
                .map(|g| self.captures.get_group(g).map(|s| (s.start, s.end)))
                .collect(),
        )
    }
}
