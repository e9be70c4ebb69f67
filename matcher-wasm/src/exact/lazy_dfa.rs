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

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use regex_automata::util::look::Look;

use super::program::{Program, State};
use super::ExactEngine;

/// A transition not built yet.
const UNKNOWN: u32 = 0;
/// Stepping over the byte passes a match: the rule matches.
const MATCH: u32 = u32::MAX;
/// No match can start any more (anchored programs only).
const DEAD: u32 = u32::MAX - 1;

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
}

impl LazyDfa {
    /// An empty lazy DFA.
    pub fn new() -> LazyDfa {
        LazyDfa::default()
    }

    /// How many DFA states it holds.
    pub fn state_count(&self) -> usize {
        self.keys.len().saturating_sub(1)
    }

    fn clear(&mut self, engine: &ExactEngine) {
        self.transitions.clear();
        self.at_end.clear();
        self.keys.clear();
        self.ids.clear();
        self.seen.clear();
        self.seen.resize(engine.program.states.len(), 0);
        self.mark = 0;
        // The unused state 0.
        self.transitions.resize(engine.alphabet.len, UNKNOWN);
        self.at_end.push(0);
        self.keys.push((AT_START, Box::new([])));
        let seeds: Box<[u32]> = if engine.program.anchored {
            Box::new([engine.program.start])
        } else {
            // Unanchored: the start is added to every closure.
            Box::new([])
        };
        self.start = self
            .add(engine, AT_START, seeds)
            .expect("an empty lazy DFA has room");
    }

    fn add(&mut self, engine: &ExactEngine, before: u8, seeds: Box<[u32]>) -> Option<u32> {
        let key = (before, seeds);
        if let Some(&id) = self.ids.get(&key) {
            return Some(id);
        }
        if self.transitions.len() >= MAX_TRANSITIONS {
            return None;
        }
        let id = self.keys.len() as u32;
        self.transitions
            .resize(self.transitions.len() + engine.alphabet.len, UNKNOWN);
        self.at_end.push(0);
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
        if dfa.give_ups >= MAX_GIVE_UPS || (self.alphabet.unicode_word && !hay.is_ascii()) {
            return None;
        }
        if dfa.keys.is_empty() || dfa.transitions.len() >= MAX_TRANSITIONS {
            dfa.clear(self);
        }
        let stride = self.alphabet.len;
        let mut state = dfa.start;
        for &byte in hay {
            let class = usize::from(self.alphabet.classes[usize::from(byte)]);
            let mut next = dfa.transitions[state as usize * stride + class];
            if next == UNKNOWN {
                let Some(built) = self.lazy_step(dfa, state, Some(byte)) else {
                    dfa.give_ups += 1;
                    return None;
                };
                dfa.transitions[state as usize * stride + class] = built;
                next = built;
            }
            match next {
                MATCH => return Some(true),
                DEAD => return Some(false),
                _ => state = next,
            }
        }
        Some(match dfa.at_end[state as usize] {
            1 => false,
            2 => true,
            _ => {
                let matched = self.lazy_step(dfa, state, None) == Some(MATCH);
                dfa.at_end[state as usize] = 1 + u8::from(matched);
                matched
            }
        })
    }

    /// The state after `state` steps over `byte` (at the input's end when
    /// `None`: [`MATCH`] or [`DEAD`]): the closure of its program states
    /// (and of the start, when unanchored) with look-around decided by the
    /// byte before and `byte`, then every transition on `byte`. `None` when
    /// the DFA is full.
    fn lazy_step(&self, dfa: &mut LazyDfa, state: u32, byte: Option<u8>) -> Option<u32> {
        let program = &self.program;
        let LazyDfa {
            keys,
            seen,
            mark,
            stack,
            stepping,
            ..
        } = dfa;
        *mark = mark.wrapping_add(1);
        if *mark == 0 {
            seen.fill(0);
            *mark = 1;
        }
        let (before, seeds) = &keys[state as usize];
        let before = BEFORE[usize::from(*before)];
        stack.clear();
        if !program.anchored {
            // Priority does not matter for "anywhere?".
            stack.push(program.start);
        }
        stack.extend_from_slice(seeds);
        stepping.clear();
        while let Some(s) = stack.pop() {
            if core::mem::replace(&mut seen[s as usize], *mark) == *mark {
                continue;
            }
            match program.states[s as usize] {
                State::Range(_) | State::Sparse { .. } => stepping.push(s),
                State::Look { look, next } => {
                    if self.look_holds(look, before, byte) {
                        stack.push(next);
                    }
                }
                State::Union { from, len } => stack
                    .extend_from_slice(&program.alternates[from as usize..(from + len) as usize]),
                State::Capture { next, .. } => stack.push(next),
                State::Match => return Some(MATCH),
                State::Fail => {}
            }
        }
        let Some(byte) = byte else {
            return Some(DEAD);
        };
        let mut seeds: Vec<u32> = dfa
            .stepping
            .iter()
            .filter_map(|&s| program.next_on(s, byte))
            .collect();
        if seeds.is_empty() && program.anchored {
            return Some(DEAD);
        }
        seeds.sort_unstable();
        seeds.dedup();
        let before = if self.alphabet.looks {
            category(byte)
        } else {
            AT_START
        };
        dfa.add(self, before, seeds.into_boxed_slice())
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
