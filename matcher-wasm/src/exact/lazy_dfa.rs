//! A lazy DFA over an exact program: whether a rule matches anywhere in one
//! table lookup per byte, once the DFA states the inputs need are built.
//!
//! Confirming an over-approximating shard's candidate (a rule whose bounded
//! repeats were widened to bake it) is an "anywhere?" question about the
//! rule's exact program. The backtracker answers it in O(states × positions):
//! a 200-name alternation of `[A-z]{1,50}`-style names explores tens of
//! thousands of (state, position) pairs per input. Determinizing the program
//! on the fly, as regex-automata's hybrid engine does, keeps that cost for
//! the first inputs only: the states built stay in the rule's [`LazyDfa`]
//! (a cache, one per thread or instance) for every later search.
//!
//! Look-around is resolved when a state's closure is taken, before the byte
//! it steps over: a state records what kind of byte came before it (start of
//! input, word byte, `\n`, `\r`, other), the byte stepped over is known, and
//! at the end of the input the closure is taken once more with nothing
//! after. Unicode word boundaries are exact only where the bytes around them
//! are ASCII, so a program with one answers non-ASCII inputs by the other
//! engines (as regex-automata's DFAs do).
//!
//! The same construction over the program's edges turned around finds
//! where the leftmost match starts ([`ExactEngine::leftmost_start`]): read
//! from the input's end back to its start, a state is the set of program
//! states from which a match can still be completed, and the leftmost start
//! is the last position where that set holds the start state. The capture
//! engine then runs from that position alone, instead of trying (and
//! failing at) every earlier one: what `first` costs a 200-name rule whose
//! names may begin `[a-zA-Z]{1,30}-` at any letter.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::ops::ControlFlow;

use regex_automata::util::look::Look;

use super::program::{Program, State};
use super::ExactEngine;
use crate::unroll::{each_byte, each_byte_rev};

/// A transition not built yet.
const UNKNOWN: u32 = 0;
/// Stepping over the byte passes a match: the rule matches.
const MATCH: u32 = u32::MAX;
/// No match can start any more (anchored programs only).
const DEAD: u32 = u32::MAX - 1;
/// In a reverse DFA's transition: the start state is in the closure taken
/// on the way, so a match starts at that position.
const STARTS_HERE: u32 = 1 << 31;

/// Most transitions (states × byte classes) one lazy DFA keeps, 4 MiB: a
/// search that would need more gives up (the other engines answer), and the
/// next search starts from an empty DFA.
const MAX_TRANSITIONS: usize = 1 << 20;

/// Searches that gave up before a lazy DFA stops trying: a rule whose inputs
/// keep needing more states than [`MAX_TRANSITIONS`] would otherwise pay for
/// building them on every search.
const MAX_GIVE_UPS: u32 = 3;

/// What kind of byte comes before a position, as far as look-around can
/// tell: the categories' representative bytes, by category.
const BEFORE: [Option<u8>; 5] = [None, Some(b'a'), Some(b'\n'), Some(b'\r'), Some(b' ')];
const AT_START: u8 = 0;

fn category(byte: u8) -> u8 {
    match byte {
        b'0'..=b'9' | b'A'..=b'Z' | b'a'..=b'z' | b'_' => 1,
        b'\n' => 2,
        b'\r' => 3,
        _ => 4,
    }
}

/// A program's bytes in classes that no transition and no look-around tells
/// apart: the lazy DFA's alphabet.
#[derive(Clone, Debug)]
pub(super) struct Alphabet {
    classes: [u8; 256],
    len: usize,
    /// Whether the program has look-around at all: without, every state's
    /// "byte before" is [`AT_START`], so states differ by their NFA states alone.
    looks: bool,
    /// Whether it has a Unicode word boundary (exact on ASCII bytes only).
    unicode_word: bool,
}

impl Alphabet {
    pub(super) fn of(program: &Program) -> Alphabet {
        let mut starts = [false; 256];
        starts[0] = true;
        let mut mark = |start: u8, end: u8| {
            starts[usize::from(start)] = true;
            if end < 255 {
                starts[usize::from(end) + 1] = true;
            }
        };
        let (mut looks, mut unicode_word) = (false, false);
        for state in &program.states {
            match *state {
                State::Range(r) => mark(r.start, r.end),
                State::Look { look, .. } => {
                    looks = true;
                    unicode_word |= matches!(
                        look,
                        Look::WordUnicode
                            | Look::WordUnicodeNegate
                            | Look::WordStartUnicode
                            | Look::WordEndUnicode
                            | Look::WordStartHalfUnicode
                            | Look::WordEndHalfUnicode
                    );
                }
                _ => {}
            }
        }
        for r in &program.ranges {
            mark(r.start, r.end);
        }
        if looks {
            for b in 1..=255u8 {
                if category(b) != category(b - 1) {
                    starts[usize::from(b)] = true;
                }
            }
        }
        let mut classes = [0u8; 256];
        let mut class = 0usize;
        for b in 1..256 {
            class += usize::from(starts[b]);
            // At most 256 classes: class ≤ b.
            classes[b] = class as u8;
        }
        Alphabet {
            classes,
            len: class + 1,
            looks,
            unicode_word,
        }
    }
}

/// The DFA states one rule's searches have built so far: a cache that one
/// thread (or instance) keeps per rule across searches. Empty until a
/// search builds it.
#[derive(Clone, Debug, Default)]
pub struct LazyDfa {
    /// Per state, one transition per byte class ([`UNKNOWN`] until built).
    /// State 0 is never used, so that 0 can mean unknown.
    transitions: Vec<u32>,
    /// Per state, whether the rule matches at the input's end: 0 unknown,
    /// 1 no, 2 yes.
    at_end: Vec<u8>,
    /// Per state: the kind of byte before it, and the program states the
    /// byte led to (ascending).
    keys: Vec<(u8, Box<[u32]>)>,
    ids: BTreeMap<(u8, Box<[u32]>), u32>,
    start: u32,
    /// Per program state, the closure that last reached it (`mark`).
    seen: Vec<u32>,
    mark: u32,
    stack: Vec<u32>,
    stepping: Vec<u32>,
    give_ups: u32,
    /// The searches its states serve: one kind each.
    direction: Direction,
    /// Anchored: the start state after each kind of byte before
    /// ([`UNKNOWN`] until built), by category.
    anchored_starts: [u32; BEFORE.len()],
    /// Searches that asked [`LazyDfa::warmed_up`].
    asked: u32,
    /// Program-state ids held in `keys` (twice: `ids` holds them too).
    key_words: usize,
}

/// What a lazy DFA's states are built for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Direction {
    /// [`ExactEngine::is_match_lazy`]: forward, a match anywhere.
    #[default]
    Forward,
    /// [`ExactEngine::leftmost_start`]: the program's edges turned around.
    Reverse,
    /// [`ExactEngine::leftmost_start_forward`]: forward, a match from one
    /// given position (the program's anchored start, whatever its kind).
    Anchored,
}

impl LazyDfa {
    /// An empty lazy DFA.
    pub fn new() -> LazyDfa {
        LazyDfa::default()
    }

    /// Counts one more search that could use this DFA, and says whether
    /// it is past the first `searches`: a DFA pays for its states on the
    /// searches that build them, so a caller that wants a fresh instance's
    /// first answers fast (start-up) leaves those to the backtracker, which
    /// builds nothing.
    pub fn warmed_up(&mut self, searches: u32) -> bool {
        self.asked = self.asked.saturating_add(1);
        self.asked > searches
    }

    /// Starts the closure of DFA state `state`: no program state marked
    /// seen, its program states and `more` on the stack. Returns what its
    /// key says of the byte next to it (before it, forward; after it, reverse).
    fn new_closure(&mut self, state: u32, more: &[u32]) -> Option<u8> {
        self.mark = self.mark.wrapping_add(1);
        if self.mark == 0 {
            self.seen.fill(0);
            self.mark = 1;
        }
        let (next_to, seeds) = &self.keys[state as usize];
        self.stack.clear();
        self.stack.extend_from_slice(more);
        self.stack.extend_from_slice(seeds);
        self.stepping.clear();
        BEFORE[usize::from(*next_to)]
    }

    /// The next state on the closure's stack not seen yet, marked seen.
    #[inline]
    fn next_unseen(&mut self) -> Option<u32> {
        while let Some(s) = self.stack.pop() {
            if core::mem::replace(&mut self.seen[s as usize], self.mark) != self.mark {
                return Some(s);
            }
        }
        None
    }

    /// The state of program states `seeds` reached over `byte` (found or
    /// added); `None` when the DFA is full.
    fn add_after(&mut self, engine: &ExactEngine, byte: u8, mut seeds: Vec<u32>) -> Option<u32> {
        seeds.sort_unstable();
        seeds.dedup();
        let next_to = if engine.alphabet().looks {
            category(byte)
        } else {
            AT_START
        };
        self.add(engine, next_to, seeds.into_boxed_slice())
    }

    /// Whether a search of `hay` in `direction` can run, having made the
    /// DFA ready for it: not after too many give-ups, nor with a Unicode
    /// word boundary next to non-ASCII bytes; afresh when it is empty, full
    /// or was built for the other direction.
    fn ready(&mut self, engine: &ExactEngine, hay: &[u8], direction: Direction) -> bool {
        if self.give_ups >= MAX_GIVE_UPS || (engine.alphabet().unicode_word && !hay.is_ascii()) {
            return false;
        }
        if self.keys.is_empty() || self.direction != direction || self.is_full() {
            self.clear(engine, direction);
        }
        true
    }

    /// Whether `state` matches (or, reverse, a match starts) at the input's
    /// edge, as `decide` says the first time it is asked.
    fn at_edge(&mut self, state: u32, decide: impl FnOnce(&mut LazyDfa) -> bool) -> bool {
        match self.at_end[state as usize] {
            0 => {
                let yes = decide(self);
                self.at_end[state as usize] = 1 + u8::from(yes);
                yes
            }
            known => known == 2,
        }
    }

    /// Whether it holds as much as one DFA may: [`MAX_TRANSITIONS`]
    /// transitions, or as many program-state ids in its states' keys.
    fn is_full(&self) -> bool {
        self.transitions.len() >= MAX_TRANSITIONS || self.key_words >= MAX_TRANSITIONS
    }

    /// About how many bytes its states take (tables and keys).
    pub fn memory(&self) -> usize {
        self.transitions.len() * 4 + self.at_end.len() + self.key_words * 8 + self.seen.len() * 4
    }

    /// How many DFA states it holds.
    pub fn state_count(&self) -> usize {
        self.keys.len().saturating_sub(1)
    }

    fn clear(&mut self, engine: &ExactEngine, direction: Direction) {
        self.direction = direction;
        self.anchored_starts = [UNKNOWN; BEFORE.len()];
        self.key_words = 0;
        self.transitions.clear();
        self.at_end.clear();
        self.keys.clear();
        self.ids.clear();
        self.seen.clear();
        self.seen.resize(engine.program.states.len(), 0);
        self.mark = 0;
        // The unused state 0.
        self.transitions.resize(engine.alphabet().len, UNKNOWN);
        self.at_end.push(0);
        self.keys.push((AT_START, Box::new([])));
        let seeds: Box<[u32]> = if direction == Direction::Anchored
            || (engine.program.anchored && direction == Direction::Forward)
        {
            Box::new([engine.program.start])
        } else {
            // Unanchored: the start is added to every closure (forward), or
            // the match states are (reverse).
            Box::new([])
        };
        self.start = self
            .add(engine, AT_START, seeds)
            .expect("an empty lazy DFA has room");
        if direction == Direction::Anchored {
            self.anchored_starts[usize::from(AT_START)] = self.start;
        }
    }

    /// Anchored: the start state at a position after a byte of kind
    /// `before` (found or added); `None` when the DFA is full.
    fn anchored_start(&mut self, engine: &ExactEngine, before: u8) -> Option<u32> {
        match self.anchored_starts[usize::from(before)] {
            UNKNOWN => {
                let id = self.add(engine, before, Box::new([engine.program.start]))?;
                self.anchored_starts[usize::from(before)] = id;
                Some(id)
            }
            known => Some(known),
        }
    }

    fn add(&mut self, engine: &ExactEngine, before: u8, seeds: Box<[u32]>) -> Option<u32> {
        let key = (before, seeds);
        if let Some(&id) = self.ids.get(&key) {
            return Some(id);
        }
        if self.is_full() {
            return None;
        }
        let id = self.keys.len() as u32;
        self.transitions
            .resize(self.transitions.len() + engine.alphabet().len, UNKNOWN);
        self.at_end.push(0);
        self.key_words += key.1.len();
        self.keys.push(key.clone());
        self.ids.insert(key, id);
        Some(id)
    }
}

impl ExactEngine {
    /// Whether the rule matches anywhere in `hay`, by the lazy DFA `dfa`
    /// (built on the way); `None` when it cannot answer: a Unicode word
    /// boundary next to non-ASCII bytes, or more states than it may keep.
    ///
    /// `dfa` must serve this engine alone.
    pub fn is_match_lazy(&self, dfa: &mut LazyDfa, hay: &[u8]) -> Option<bool> {
        if !dfa.ready(self, hay, Direction::Forward) {
            return None;
        }
        let alphabet = self.alphabet();
        let mut state = dfa.start;
        if let ControlFlow::Break(answer) = self.run_forward(alphabet, dfa, &mut state, hay, || {})
        {
            return answer;
        }
        Some(dfa.at_edge(state, |dfa| self.lazy_step(dfa, state, None) == Some(MATCH)))
    }

    /// Steps `state` forward over `bytes`, calling `each` a byte:
    /// `Break(Some(true))` at a match, `Break(Some(false))` at a dead
    /// state, `Break(None)` when the DFA is full (a give-up), `Continue` at
    /// the end of `bytes`, `state` then being the state there.
    #[inline(always)]
    fn run_forward(
        &self,
        alphabet: &Alphabet,
        dfa: &mut LazyDfa,
        state: &mut u32,
        bytes: &[u8],
        mut each: impl FnMut(),
    ) -> ControlFlow<Option<bool>> {
        each_byte(bytes, |byte| {
            each();
            let from = *state;
            match self.transition(alphabet, dfa, from, byte, |dfa| {
                self.lazy_step(dfa, from, Some(byte))
            }) {
                None => ControlFlow::Break(None),
                Some(MATCH) => ControlFlow::Break(Some(true)),
                Some(DEAD) => ControlFlow::Break(Some(false)),
                Some(next) => {
                    *state = next;
                    ControlFlow::Continue(())
                }
            }
        })
    }

    /// The transition of `state` on `byte`, built by `step` the first time;
    /// `None` (a give-up) when the DFA is full.
    #[inline(always)]
    fn transition(
        &self,
        alphabet: &Alphabet,
        dfa: &mut LazyDfa,
        state: u32,
        byte: u8,
        step: impl FnOnce(&mut LazyDfa) -> Option<u32>,
    ) -> Option<u32> {
        let class = usize::from(alphabet.classes[usize::from(byte)]);
        let at = state as usize * alphabet.len + class;
        match dfa.transitions[at] {
            UNKNOWN => {
                let Some(built) = step(dfa) else {
                    dfa.give_ups += 1;
                    return None;
                };
                dfa.transitions[at] = built;
                Some(built)
            }
            known => Some(known),
        }
    }

    /// The state after `state` steps over `byte` (at the input's end when
    /// `None`: [`MATCH`] or [`DEAD`]): the closure of its program states
    /// (and of the start, when unanchored) with look-around decided by the
    /// byte before and `byte`, then every transition on `byte`. `None` when
    /// the DFA is full.
    fn lazy_step(&self, dfa: &mut LazyDfa, state: u32, byte: Option<u8>) -> Option<u32> {
        let program = &self.program;
        let anchored = program.anchored || dfa.direction == Direction::Anchored;
        // Unanchored, the start joins every closure (priority does not
        // matter for "anywhere?").
        let start = if anchored {
            &[][..]
        } else {
            core::slice::from_ref(&program.start)
        };
        let before = dfa.new_closure(state, start);
        while let Some(s) = dfa.next_unseen() {
            match program.states[s as usize] {
                State::Range(_) | State::Sparse { .. } => dfa.stepping.push(s),
                State::Look { look, next } => {
                    if self.look_holds(look, before, byte) {
                        dfa.stack.push(next);
                    }
                }
                State::Union { from, len } => dfa
                    .stack
                    .extend_from_slice(&program.alternates[from as usize..(from + len) as usize]),
                State::Capture { next, .. } => dfa.stack.push(next),
                State::Match => return Some(MATCH),
                State::Fail => {}
            }
        }
        let Some(byte) = byte else {
            return Some(DEAD);
        };
        let seeds: Vec<u32> = dfa
            .stepping
            .iter()
            .filter_map(|&s| program.next_on(s, byte))
            .collect();
        if seeds.is_empty() && anchored {
            return Some(DEAD);
        }
        dfa.add_after(self, byte, seeds)
    }

    /// Whether `look` holds between a byte of kind `before` and `after`
    /// (`None`: the input's start or end).
    fn look_holds(&self, look: Look, before: Option<u8>, after: Option<u8>) -> bool {
        let mut around = [0u8; 2];
        let mut len = 0;
        if let Some(b) = before {
            around[0] = b;
            len = 1;
        }
        let at = len;
        if let Some(a) = after {
            around[len] = a;
            len += 1;
        }
        self.looks.matches(look, &around[..len], at)
    }
}

/// A program's edges turned around: per state, the states that reach it
/// over a byte or an epsilon edge (with the look-around the edge needs).
#[derive(Clone, Debug)]
pub(super) struct Reversed {
    /// `byte_edges[byte_at[s]..byte_at[s + 1]]`: the ranges into `s`, each
    /// with the state it leaves from in `next`.
    byte_at: Vec<u32>,
    byte_edges: Vec<Range>,
    eps_at: Vec<u32>,
    eps_edges: Vec<(u32, Option<Look>)>,
    matches: Vec<u32>,
}

use super::program::Range;

impl Reversed {
    pub(super) fn of(program: &Program) -> Reversed {
        let n = program.states.len();
        let mut byte_count = alloc::vec![0u32; n + 1];
        let mut eps_count = alloc::vec![0u32; n + 1];
        let mut matches = Vec::new();
        let ranges_of = |s: usize| -> &[Range] {
            match &program.states[s] {
                State::Range(r) => core::slice::from_ref(r),
                State::Sparse { from, len } => {
                    &program.ranges[*from as usize..(*from + *len) as usize]
                }
                _ => &[],
            }
        };
        let eps_of = |s: usize, f: &mut dyn FnMut(u32, Option<Look>)| match program.states[s] {
            State::Look { look, next } => f(next, Some(look)),
            State::Capture { next, .. } => f(next, None),
            State::Union { from, len } => program.alternates[from as usize..(from + len) as usize]
                .iter()
                .for_each(|&a| f(a, None)),
            _ => {}
        };
        for s in 0..n {
            for r in ranges_of(s) {
                byte_count[r.next as usize] += 1;
            }
            eps_of(s, &mut |to, _| eps_count[to as usize] += 1);
            if matches!(program.states[s], State::Match) {
                matches.push(s as u32);
            }
        }
        let offsets = |count: &[u32]| {
            let mut at = Vec::with_capacity(n + 1);
            let mut total = 0;
            for &c in &count[..n] {
                at.push(total);
                total += c;
            }
            at.push(total);
            at
        };
        let (byte_at, eps_at) = (offsets(&byte_count), offsets(&eps_count));
        let mut byte_fill = byte_at.clone();
        let mut eps_fill = eps_at.clone();
        let mut byte_edges = alloc::vec![
            Range {
                start: 0,
                end: 0,
                next: 0
            };
            byte_at[n] as usize
        ];
        let mut eps_edges = alloc::vec![(0, None); eps_at[n] as usize];
        for s in 0..n {
            for r in ranges_of(s) {
                let at = &mut byte_fill[r.next as usize];
                byte_edges[*at as usize] = Range {
                    start: r.start,
                    end: r.end,
                    next: s as u32,
                };
                *at += 1;
            }
            eps_of(s, &mut |to, look| {
                let at = &mut eps_fill[to as usize];
                eps_edges[*at as usize] = (s as u32, look);
                *at += 1;
            });
        }
        Reversed {
            byte_at,
            byte_edges,
            eps_at,
            eps_edges,
            matches,
        }
    }
}

impl ExactEngine {
    /// Where the leftmost match in `hay` starts (`Some(None)`: no match), by
    /// a lazy DFA over the program reversed, `dfa`, built on the way; `None`
    /// when it cannot answer, as for [`ExactEngine::is_match_lazy`]. The
    /// leftmost-first match starts there, so the capture engine need try no
    /// other start ([`ExactEngine::captures_at`]).
    ///
    /// `dfa` must serve this engine alone (it may also serve its
    /// `is_match_lazy`, at the cost of starting afresh at each switch).
    pub fn leftmost_start(&self, dfa: &mut LazyDfa, hay: &[u8]) -> Option<Option<usize>> {
        let mut leftmost = None;
        self.reverse_starts(dfa, hay, |at| {
            leftmost = Some(at);
            false
        })?;
        Some(leftmost)
    }

    /// Where the leftmost match in `hay` starts (`Some(None)`: no match),
    /// as [`ExactEngine::leftmost_start`] answers, by an anchored lazy DFA
    /// run forward from each position a match can start at, in turn, until
    /// one reaches a match. `None` when it cannot answer, or when the tries
    /// would step over more than `budget` bytes in all (then it counts as
    /// a give-up).
    ///
    /// Where the reverse DFA of a giant alternation has too many states to
    /// build (each of 250 names may end in `[a-zA-Z]{1,30}`, so reading
    /// back, every letter may be in any of those runs), the anchored one
    /// stays small: from one position, the names' runs advance in step.
    /// Each try ends where no name can go on, a few bytes in: one table
    /// lookup per byte where the backtracker explores every name's states.
    /// A rule whose tries run far (`\w+x` along a long word) would cost
    /// quadratic time; the budget stops that.
    ///
    /// `dfa` must serve this engine alone, for this kind of search.
    pub fn leftmost_start_forward(
        &self,
        dfa: &mut LazyDfa,
        hay: &[u8],
        budget: usize,
    ) -> Option<Option<usize>> {
        if !dfa.ready(self, hay, Direction::Anchored) {
            return None;
        }
        let alphabet = self.alphabet();
        let mut stepped = 0usize;
        for start in 0..=hay.len() {
            if !self.may_start_at(hay, start) {
                continue;
            }
            let before = match start.checked_sub(1) {
                Some(i) if alphabet.looks => category(hay[i]),
                _ => AT_START,
            };
            let Some(mut state) = dfa.anchored_start(self, before) else {
                dfa.give_ups += 1;
                return None;
            };
            let flow = self.run_forward(alphabet, dfa, &mut state, &hay[start..], || stepped += 1);
            let matched = match flow {
                ControlFlow::Break(None) => return None,
                ControlFlow::Break(Some(matched)) => matched,
                ControlFlow::Continue(()) => {
                    dfa.at_edge(state, |dfa| self.lazy_step(dfa, state, None) == Some(MATCH))
                }
            };
            if matched {
                return Some(Some(start));
            }
            if stepped > budget {
                dfa.give_ups += 1;
                return None;
            }
        }
        Some(None)
    }

    /// Where the last match in `hay` that starts at or before `limit`
    /// starts (`Some(None)`: none does), as [`ExactEngine::leftmost_start`]
    /// finds starts: what `first` of a rule `^.{0,N}T` needs of `T`.
    pub fn rightmost_start_upto(
        &self,
        dfa: &mut LazyDfa,
        hay: &[u8],
        limit: usize,
    ) -> Option<Option<usize>> {
        let mut found = None;
        self.reverse_starts(dfa, hay, |at| {
            found = (at <= limit).then_some(at);
            found.is_some()
        })?;
        Some(found)
    }

    /// Calls `start` with every position where a match starts, from the
    /// input's end back to its start, until it returns true. `None` when
    /// the reverse DFA cannot answer.
    fn reverse_starts(
        &self,
        dfa: &mut LazyDfa,
        hay: &[u8],
        mut start: impl FnMut(usize) -> bool,
    ) -> Option<()> {
        if !dfa.ready(self, hay, Direction::Reverse) {
            return None;
        }
        let alphabet = self.alphabet();
        let reversed = self.reversed.get_or_init(|| Reversed::of(&self.program));
        let mut state = dfa.start;
        let mut at = hay.len();
        let flow = each_byte_rev(hay, |byte| {
            let Some(next) = self.transition(alphabet, dfa, state, byte, |dfa| {
                self.reverse_step(reversed, dfa, state, Some(byte))
            }) else {
                return ControlFlow::Break(None);
            };
            if next & STARTS_HERE != 0 && start(at) {
                return ControlFlow::Break(Some(()));
            }
            state = next & !STARTS_HERE;
            at -= 1;
            ControlFlow::Continue(())
        });
        if let ControlFlow::Break(answer) = flow {
            return answer;
        }
        let at_start = dfa.at_edge(state, |dfa| {
            self.reverse_step(reversed, dfa, state, None) == Some(STARTS_HERE)
        });
        if at_start {
            start(0);
        }
        Some(())
    }

    /// The state before `state` when stepping back over `byte` (at the
    /// input's start when `None`: then only whether a match starts there),
    /// with [`STARTS_HERE`] set when the start state is in the closure at
    /// `state`'s position: every state that reaches the state's program
    /// states or a match by epsilon edges, look-around decided by `byte`
    /// and the kind of byte after. `None` when the DFA is full.
    fn reverse_step(
        &self,
        reversed: &Reversed,
        dfa: &mut LazyDfa,
        state: u32,
        byte: Option<u8>,
    ) -> Option<u32> {
        let program = &self.program;
        // Unanchored at the end: the match states join every closure.
        let after = dfa.new_closure(state, &reversed.matches);
        while let Some(s) = dfa.next_unseen() {
            dfa.stepping.push(s);
            let edges =
                reversed.eps_at[s as usize] as usize..reversed.eps_at[s as usize + 1] as usize;
            for &(from, look) in &reversed.eps_edges[edges] {
                if look.is_none_or(|look| self.look_holds(look, byte, after)) {
                    dfa.stack.push(from);
                }
            }
        }
        let starts = if dfa.seen[program.start as usize] == dfa.mark {
            STARTS_HERE
        } else {
            0
        };
        let Some(byte) = byte else {
            return Some(starts);
        };
        let mut seeds: Vec<u32> = Vec::new();
        for &s in dfa.stepping.iter() {
            let edges =
                reversed.byte_at[s as usize] as usize..reversed.byte_at[s as usize + 1] as usize;
            seeds.extend(
                reversed.byte_edges[edges]
                    .iter()
                    .filter(|r| r.start <= byte && byte <= r.end)
                    .map(|r| r.next),
            );
        }
        Some(dfa.add_after(self, byte, seeds)? | starts)
    }
}
