//! The bounded backtracker: short inputs' exact search.

use alloc::vec::Vec;

use super::program::State;
use super::{ExactCache, ExactEngine, NONE};

/// Most bits of a backtracker's visited set (1 MiB; regex-automata's
/// `BoundedBacktracker` defaults to 256 KiB): a search whose states ×
/// positions do not fit runs the Pike VM instead. An ordered UA list's
/// 200-name bot rule (a 390 KB program) on 100-byte inputs needs ~360 KiB;
/// at 256 KiB it fell to the Pike VM and cost 1.45× the instructions
/// (callgrind, the synthetic UA set's 240 inputs that rule wins).
const VISITED_BITS_MAX: usize = 1024 * 1024 * 8;

/// A step of the bounded backtracker's explicit stack, 8 bytes: explore
/// state `id` at position `arg`, or, with [`RESTORE`] set in `id`, put back
/// slot `id & !RESTORE`'s value `arg` when backtracking past the capture
/// (`u32::MAX` for [`NONE`]). Positions fit: a search whose visited set
/// fits in [`VISITED_BITS_MAX`] bits has fewer than that many.
#[derive(Clone, Copy, Debug)]
struct Step {
    id: u32,
    arg: u32,
}

const RESTORE: u32 = 1 << 31;

/// Scratch space of the bounded backtracker.
#[derive(Clone, Debug, Default)]
pub(super) struct Backtracker {
    /// One bit per (state, position): explored already, and failed. All
    /// zero between searches but for the words in `touched`.
    visited: Vec<u64>,
    /// The words of `visited` a search set bits in, each once. A search
    /// usually explores a small corner of its states × positions (an
    /// anchored `^.{0,200}?…` rule, a giant alternation whose dispatch keeps
    /// one or two names per byte), so clearing what it touched instead of
    /// the whole set (hundreds of KB for a 30,000-state rule on a 150-byte
    /// input) is what keeps the winner's captures cheap.
    touched: Vec<u32>,
    stack: Vec<Step>,
}

impl Backtracker {
    /// Makes `visited` all zero and at least `words` long.
    fn reset(&mut self, words: usize) {
        // Word by word costs a few times a bulk fill's per word.
        if self.touched.len() * 8 > self.visited.len() {
            self.visited.fill(0);
        } else {
            for &w in &self.touched {
                self.visited[w as usize] = 0;
            }
        }
        self.touched.clear();
        if self.visited.len() < words {
            // A zeroed allocation, not `resize`: fresh pages need no writing
            // (the operating system's, or `memory.grow`'s in a wasm module),
            // so only the pages a search touches are faulted in.
            self.visited = alloc::vec![0; words];
        }
    }

    /// Marks `bit` visited; false if it was already.
    #[inline(always)]
    fn visit(&mut self, bit: usize) -> bool {
        let (word, mask) = (bit / 64, 1u64 << (bit % 64));
        let old = self.visited[word];
        if old & mask != 0 {
            return false;
        }
        if old == 0 {
            self.touched.push(word as u32);
        }
        self.visited[word] = old | mask;
        true
    }
}

impl ExactEngine {
    /// The bounded backtracker (regex-automata's `BoundedBacktracker`
    /// algorithm): from each start position in turn, a depth-first search
    /// that tries alternatives in priority order, so the first match it
    /// reaches is the leftmost-first one. A (state, position) pair explored
    /// once is never explored again, from any start: it failed the first
    /// time, so the search is O(states × positions). `None` when that
    /// visited set would be over [`VISITED_BITS_MAX`].
    pub(super) fn backtrack(&self, c: &mut ExactCache, hay: &[u8], slots: usize) -> Option<bool> {
        let last_start = if self.program.anchored { 0 } else { hay.len() };
        self.backtrack_from_starts(c, hay, slots, 0..=last_start)
    }

    /// [`ExactEngine::backtrack`] trying only the start positions `starts`.
    pub(super) fn backtrack_from_starts(
        &self,
        c: &mut ExactCache,
        hay: &[u8],
        slots: usize,
        starts: core::ops::RangeInclusive<usize>,
    ) -> Option<bool> {
        let width = hay.len() + 1;
        let bits = self.program.states.len().checked_mul(width)?;
        if bits > VISITED_BITS_MAX {
            return None;
        }
        c.bt.reset(bits.div_ceil(64));
        c.found.clear();
        c.found.resize(slots, NONE);
        for start in starts {
            if !self.may_start_at(hay, start) {
                continue;
            }
            if self.backtrack_from(c, hay, start) {
                return Some(true);
            }
        }
        Some(false)
    }

    /// The match from `start` of a program that has no choice to make on
    /// the way (a literal, `(?i)` or not, with its groups): one walk, no
    /// visited set. `None` at the first alternation (the backtracker
    /// decides); on a match the slots are in `found`.
    pub(super) fn straight_from(
        &self,
        c: &mut ExactCache,
        hay: &[u8],
        start: usize,
        slots: usize,
    ) -> Option<bool> {
        let found = &mut c.found;
        found.clear();
        found.resize(slots, NONE);
        let (mut s, mut at) = (self.program.start, start);
        // A program's states are fewer than its bytes; a walk longer than
        // that is in a loop (which only a union could leave).
        for _ in 0..=self.program.states.len() {
            match self.program.states[s as usize] {
                State::Range(r) => match hay.get(at) {
                    Some(&b) if r.start <= b && b <= r.end => {
                        s = r.next;
                        at += 1;
                    }
                    _ => return Some(false),
                },
                State::Sparse { .. } => match hay.get(at).and_then(|&b| self.program.next_on(s, b))
                {
                    Some(next) => {
                        s = next;
                        at += 1;
                    }
                    None => return Some(false),
                },
                State::Look { look, next } => {
                    if !self.looks.matches(look, hay, at) {
                        return Some(false);
                    }
                    s = next;
                }
                State::Capture { slot, next } => {
                    if (slot as usize) < slots {
                        found[slot as usize] = at;
                    }
                    s = next;
                }
                State::Union { .. } => return None,
                State::Fail => return Some(false),
                State::Match => return Some(true),
            }
        }
        None
    }

    /// One depth-first search from `start`; on a match the slots are in
    /// `found`.
    fn backtrack_from(&self, c: &mut ExactCache, hay: &[u8], start: usize) -> bool {
        // Position-major: the steps of a walk through a small program share
        // words of the visited set (fewer words to touch and clear).
        let states = self.program.states.len();
        let ExactCache { bt, found, .. } = c;
        let slots = found.len();
        bt.stack.clear();
        bt.stack.push(Step {
            id: self.program.start,
            arg: start as u32,
        });
        while let Some(step) = bt.stack.pop() {
            if step.id & RESTORE != 0 {
                found[(step.id & !RESTORE) as usize] = if step.arg == u32::MAX {
                    NONE
                } else {
                    step.arg as usize
                };
                continue;
            }
            let (mut s, mut at) = (step.id, step.arg as usize);
            loop {
                if !bt.visit(at * states + s as usize) {
                    break;
                }
                match self.program.states[s as usize] {
                    State::Range(r) => match hay.get(at) {
                        Some(&b) if r.start <= b && b <= r.end => {
                            s = r.next;
                            at += 1;
                        }
                        _ => break,
                    },
                    State::Sparse { .. } => {
                        match hay.get(at).and_then(|&b| self.program.next_on(s, b)) {
                            Some(next) => {
                                s = next;
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
                        let alts = self
                            .program
                            .alternates_at(s, from, len, hay.get(at).copied());
                        let Some((&first, rest)) = alts.split_first() else {
                            break;
                        };
                        bt.stack.extend(rest.iter().rev().map(|&a| Step {
                            id: a,
                            arg: at as u32,
                        }));
                        s = first;
                    }
                    State::Capture { slot, next } => {
                        if (slot as usize) < slots {
                            let value = found[slot as usize];
                            bt.stack.push(Step {
                                id: slot | RESTORE,
                                arg: if value == NONE {
                                    u32::MAX
                                } else {
                                    value as u32
                                },
                            });
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
}
