//! The Pike VM: the exact search when the backtracker's visited set would
//! be too big.

use alloc::vec::Vec;

use super::program::State;
use super::{ExactCache, ExactEngine, NONE};

/// An ordered set of states (insertion order is priority order) with one
/// row of capture slots per state.
#[derive(Clone, Debug, Default)]
pub(super) struct Threads {
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
pub(super) enum Frame {
    Explore(u32),
    /// Put back a slot's value once the states after a capture are explored.
    Restore {
        slot: u32,
        value: usize,
    },
}

impl ExactEngine {
    /// The Pike VM: every thread advances one byte at a time in priority
    /// order; the first thread to match cuts off all lower-priority ones
    /// (leftmost-first), and new threads start at each position only until
    /// a match is found. With `slots == 0` no capture positions are kept.
    pub(super) fn search(
        &self,
        c: &mut ExactCache,
        hay: &[u8],
        slots: usize,
        earliest: bool,
    ) -> bool {
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
                self.closure(
                    c,
                    &mut row,
                    scratch,
                    slots,
                    true,
                    hay,
                    at,
                    self.program.start,
                );
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
                State::Range(_) | State::Sparse { .. } => {
                    byte.and_then(|b| self.program.next_on(s, b))
                }
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
        let set = if seeding { &mut c.curr } else { &mut c.next };
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
                        let alts = self
                            .program
                            .alternates_at(s, from, len, hay.get(at).copied());
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
