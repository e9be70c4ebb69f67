//! The exact program format: [`encode`] writes a Thompson NFA as the
//! compact table the module docs describe, [`decode`] reads it back into a
//! [`Program`] (flat arrays the engines run over), checking every field.

use alloc::vec::Vec;

use regex_automata::util::look::Look;

use super::ProgramError;
use crate::wire::{self, Problem, WireError};

const MAGIC: [u8; 4] = *b"NFA1";
const FLAG_UTF8: u32 = 1;
/// The rule is `^.{0,N}T` or `^.{0,N}?T`: after the states, `N`, whether
/// the prefix is greedy, and the program of `T`.
const FLAG_TAIL: u32 = 2;

const TAG_RANGE: u8 = 0;
const TAG_SPARSE: u8 = 1;
const TAG_LOOK: u8 = 2;
const TAG_UNION: u8 = 3;
const TAG_CAPTURE_START: u8 = 4;
const TAG_CAPTURE_END: u8 = 5;
const TAG_FAIL: u8 = 6;
const TAG_MATCH: u8 = 7;

/// Writes a forward, single-pattern NFA as an exact program.
#[cfg(feature = "build")]
pub fn encode(nfa: &regex_automata::nfa::thompson::NFA) -> Result<Vec<u8>, ProgramError> {
    encode_with_tail(nfa, None)
}

#[cfg(feature = "build")]
/// [`encode`] for a rule `^.{0,N}T` or `^.{0,N}?T` (`.` any character but
/// `\n`), with its prefix and `T`'s NFA: the program then carries `T`'s as
/// well, so that `first` can find where `T` starts instead of trying every
/// length of the prefix (see [`super::ExactEngine::tail`]).
pub fn encode_with_tail(
    nfa: &regex_automata::nfa::thompson::NFA,
    tail: Option<(super::DotPrefix, &regex_automata::nfa::thompson::NFA)>,
) -> Result<Vec<u8>, ProgramError> {
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
    let utf8 = if nfa.is_utf8() { FLAG_UTF8 } else { 0 };
    put(&mut out, utf8 | if tail.is_some() { FLAG_TAIL } else { 0 });
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
    if let Some((prefix, tail)) = tail {
        put(&mut out, prefix.most as u32);
        put(&mut out, u32::from(prefix.greedy));
        out.extend_from_slice(&encode(tail)?);
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
        Problem::Overlong | Problem::Overflow => ProgramError::Corrupt {
            what: e.what,
            at: e.at,
        },
    }
}

/// A bounds-checked reader over a program. Every field has a fast path for
/// the common well-formed case (one- or two-byte varints, whole ranges in
/// bounds) that engines decode at their first search; anything else goes
/// to `wire::Reader`, whose errors stay the ones reported.
struct Reader<'p> {
    bytes: &'p [u8],
    pos: usize,
}

impl Reader<'_> {
    fn pos(&self) -> usize {
        self.pos
    }

    /// `wire::Reader` at the current position, for the slow paths.
    fn wire(&self) -> wire::Reader<'_> {
        wire::Reader::at(self.bytes, self.pos)
    }

    #[inline]
    fn u8(&mut self) -> Result<u8, ProgramError> {
        match self.bytes.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(ProgramError::Truncated { at: self.pos }),
        }
    }

    /// An unsigned LEB128 varint of at most 32 bits.
    #[inline]
    fn u32(&mut self) -> Result<u32, ProgramError> {
        match self.bytes.get(self.pos..).and_then(short_uleb) {
            Some((v, len)) => {
                self.pos += len;
                Ok(v)
            }
            None => self.u32_slow(),
        }
    }

    #[cold]
    #[inline(never)]
    fn u32_slow(&mut self) -> Result<u32, ProgramError> {
        let mut r = self.wire();
        let v = r.uleb_u32("number over 32 bits").map_err(program_error)?;
        self.pos = r.pos();
        Ok(v)
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
    #[inline]
    fn state(&mut self, from: u32, states: u32) -> Result<u32, ProgramError> {
        let at = self.pos();
        let delta = wire::unzigzag(u64::from(self.u32()?));
        let id = i64::from(from) + delta;
        if !(0..i64::from(states)).contains(&id) {
            return Err(out_of_range(at));
        }
        Ok(id as u32)
    }

    /// A range in the common case (both bytes and a one-byte reference in
    /// bounds and valid), else `None` with nothing read.
    #[inline(always)]
    fn range_fast(&mut self, from: u32, states: u32) -> Option<(u8, u8, u32)> {
        let at = self.pos;
        let &[start, end] = self.bytes.get(at..at + 2)? else {
            return None;
        };
        if start > end {
            return None;
        }
        let (delta, len) = short_uleb(self.bytes.get(at + 2..)?)?;
        let id = i64::from(from) + wire::unzigzag(u64::from(delta));
        if !(0..i64::from(states)).contains(&id) {
            return None;
        }
        self.pos = at + 2 + len;
        Some((start, end, id as u32))
    }

    #[cold]
    #[inline(never)]
    fn range_slow(&mut self, from: u32, states: u32) -> Result<Range, ProgramError> {
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

/// The varint at the start of `bytes` and its length when it takes at most
/// 4 bytes (28 bits: never over 32, never overlong), else `None`. A big
/// program's references to far states take 2 or 3.
#[inline(always)]
fn short_uleb(bytes: &[u8]) -> Option<(u32, usize)> {
    let mut v = 0u32;
    for (i, &b) in bytes.iter().take(4).enumerate() {
        v |= u32::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Some((v, i + 1));
        }
    }
    None
}

#[cold]
fn out_of_range(at: usize) -> ProgramError {
    ProgramError::Corrupt {
        what: "state id out of range",
        at,
    }
}

/// A byte range and the state it leads to.
#[derive(Clone, Copy, Debug)]
pub(super) struct Range {
    pub(super) start: u8,
    pub(super) end: u8,
    pub(super) next: u32,
}

/// A state of a decoded program. Lists (sparse transitions, union
/// alternates) live in [`Program`]'s shared vectors.
#[derive(Clone, Copy, Debug)]
pub(super) enum State {
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
pub(super) struct Program {
    pub(super) states: Vec<State>,
    pub(super) ranges: Vec<Range>,
    pub(super) alternates: Vec<u32>,
    pub(super) start: u32,
    /// Whether every match starts where the search does (`^...`): the
    /// unanchored start state is the anchored one.
    pub(super) anchored: bool,
    pub(super) groups: usize,
    /// Per state, its [`Dispatch`] in `dispatches` if it is a union wide
    /// enough to have one, else `u32::MAX`.
    dispatch_of: Vec<u32>,
    dispatches: Vec<Dispatch>,
    /// For a rule `^.{0,N}T` or `^.{0,N}?T`: its prefix and the program of
    /// `T` (same groups).
    pub(super) tail: Option<(super::DotPrefix, alloc::boxed::Box<Program>)>,
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
    /// Where byte transition state `s` (a range or sparse state) goes on
    /// `byte`; `None` when the byte has no transition or `s` is another
    /// kind of state. One copy for the backtracker and the Pike VM.
    #[inline]
    pub(super) fn next_on(&self, s: u32, byte: u8) -> Option<u32> {
        match self.states[s as usize] {
            State::Range(r) => (r.start <= byte && byte <= r.end).then_some(r.next),
            State::Sparse { from, len } => {
                let ranges = &self.ranges[from as usize..(from + len) as usize];
                ranges
                    .iter()
                    .find(|r| byte <= r.end)
                    .filter(|r| r.start <= byte)
                    .map(|r| r.next)
            }
            _ => None,
        }
    }

    /// The alternates of union `s` (`from`, `len`) worth trying before
    /// `byte` (`None`: at the end of the input).
    #[inline]
    pub(super) fn alternates_at(&self, s: u32, from: u32, len: u32, byte: Option<u8>) -> &[u32] {
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
    pub(super) fn build_dispatches(&mut self) {
        self.dispatch_of = alloc::vec![u32::MAX; self.states.len()];
        // Marks start at 1: zero is "not seen" (a zeroed allocation).
        let mut seen = alloc::vec![0; self.states.len()];
        let mut mark = 0u32;
        for s in 0..self.states.len() {
            let State::Union { from, len } = self.states[s] else {
                continue;
            };
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
            self.dispatches.push(Dispatch {
                offsets,
                alternates: by_byte,
            });
        }
    }
}

/// Reads an exact program into its states, checking every field: damaged
/// bytes give an error, never a panic or an engine that misbehaves.
#[inline(never)] // one copy for verification and for engines: module size
pub(super) fn decode(program: &[u8]) -> Result<Program, ProgramError> {
    if program.get(..4) != Some(&MAGIC[..]) {
        return Err(ProgramError::BadMagic);
    }
    let mut r = Reader {
        bytes: program,
        pos: 4,
    };
    // Bit 0 (utf8) changes nothing for a search that never splits code
    // points, the only kind the builder writes.
    let flags_at = r.pos();
    let flags = r.u32()?;
    if flags & !(FLAG_UTF8 | FLAG_TAIL) != 0 {
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
        tail: None,
    };
    // Room for every transition the bytes can hold (3 bytes each at
    // least): growing by doubling instead copies a big program's ranges
    // several times, and in a wasm module each bigger block is new pages.
    p.ranges.reserve(program.len() / 3);
    for current in 0..states {
        let at = r.pos();
        let state = match r.u8()? {
            TAG_RANGE => match r.range_fast(current, states) {
                // Pushed here, for the reason the sparse loop pushes its own.
                Some((start, end, next)) => {
                    p.states.push(State::Range(Range { start, end, next }));
                    continue;
                }
                None => State::Range(r.range_slow(current, states)?),
            },
            TAG_SPARSE => {
                // A transition takes at least 3 bytes.
                let n = r.count(program.len() / 3, "transition count")?;
                let from = p.ranges.len() as u32;
                p.ranges.reserve(n as usize);
                let mut prev_end = -1i32;
                for _ in 0..n {
                    // Most transitions take this path: checked and pushed
                    // straight from registers (a `Range` merged from two
                    // paths goes through memory, a store-forwarding stall
                    // that was most of a big program's decoding).
                    if let Some((start, end, next)) = r.range_fast(current, states) {
                        if i32::from(start) > prev_end {
                            prev_end = i32::from(end);
                            p.ranges.push(Range { start, end, next });
                            continue;
                        }
                    }
                    let range = r.range_slow(current, states)?;
                    if i32::from(range.start) <= prev_end {
                        return Err(ProgramError::Corrupt {
                            what: "transitions not ascending",
                            at,
                        });
                    }
                    prev_end = i32::from(range.end);
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
                p.alternates.reserve(n as usize);
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
    if flags & FLAG_TAIL != 0 {
        let most_at = r.pos();
        let most = r.u32()?;
        let greedy = r.u32()?;
        let at = r.pos();
        // Its errors say where in the whole program.
        let shift = |e| match e {
            ProgramError::Truncated { at: t } => ProgramError::Truncated { at: at + t },
            ProgramError::Corrupt { what, at: t } => ProgramError::Corrupt { what, at: at + t },
            other => other,
        };
        let tail = decode(&program[at..]).map_err(shift)?;
        if tail.tail.is_some() || tail.groups != p.groups || !p.anchored || most == 0 || greedy > 1
        {
            return Err(ProgramError::Corrupt {
                what: "tail program",
                at: most_at,
            });
        }
        let prefix = super::DotPrefix {
            most: most as usize,
            greedy: greedy == 1,
        };
        p.tail = Some((prefix, alloc::boxed::Box::new(tail)));
        return Ok(p);
    }
    if r.pos() != program.len() {
        return Err(ProgramError::Corrupt {
            what: "trailing bytes",
            at: r.pos(),
        });
    }
    Ok(p)
}

/// The length of every match of `p` when it is one string of byte classes
/// (`Googlebot/`, `(?i)bingbot`, `Bot[-_]x`) with no group but the whole
/// match: states that each take one byte and lead to one next state, then
/// the match. `None` for anything else (a choice, a look-around, a group).
pub(super) fn chain_len(p: &Program) -> Option<usize> {
    if p.groups != 1 {
        return None;
    }
    let (mut s, mut len) = (p.start, 0);
    // A chain visits each state once; a longer walk is in a loop.
    for _ in 0..=p.states.len() {
        s = match p.states[s as usize] {
            State::Range(r) => r.next,
            State::Sparse { from, len } => {
                let ranges = &p.ranges[from as usize..(from + len) as usize];
                let next = ranges.first()?.next;
                if ranges.iter().any(|r| r.next != next) {
                    return None;
                }
                next
            }
            // Group 0's slots: the match's bounds.
            State::Capture { next, .. } => {
                s = next;
                continue;
            }
            State::Match => return Some(len),
            State::Look { .. } | State::Union { .. } | State::Fail => return None,
        };
        len += 1;
    }
    None
}

/// The bytes that can begin a match of `p` (look-around assertions taken
/// as passing: a superset), or `None` when a match may be empty.
pub(super) fn first_bytes(p: &Program) -> Option<[u64; 4]> {
    let mut seen = alloc::vec![0; p.states.len()];
    bytes_from(p, p.start, &mut seen, 1, usize::MAX)
}

/// The bytes with which a match can go on from state `from` (look-around
/// taken as passing: a superset), or `None` when it may end there without
/// one, or the walk would visit more than `budget` states. `seen[s] == mark`
/// marks states visited; callers walking many times change `mark` instead
/// of clearing `seen`.
fn bytes_from(
    p: &Program,
    from: u32,
    seen: &mut [u32],
    mark: u32,
    budget: usize,
) -> Option<[u64; 4]> {
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
            State::Sparse { from, len } => p.ranges[from as usize..(from + len) as usize]
                .iter()
                .for_each(&mut add),
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
