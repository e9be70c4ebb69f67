//! Searching a [`Database`]: the three match modes every dfabake flavour keeps.
//!
//! * [`Mode::Any`]: does any rule match anywhere in the input?
//! * [`Mode::All`]: every rule that matches anywhere, each once, in priority
//!   order (the semantics of `regex::bytes::RegexSet::matches`).
//! * [`Mode::First`]: the highest-priority rule that matches anywhere, with the
//!   leftmost-first span and capture groups that `regex::bytes::Regex` reports
//!   for that rule alone.
//!
//! A literal prefilter picks the shard DFAs worth running (see
//! [`crate::prefilter`]); shard DFAs answer `any` and `all`. A rule's exact
//! engine (a PikeVM over the NFA the builder compiled, exactly as
//! `regex::bytes::Regex` compiles it: see [`crate::exact`]) is rebuilt from
//! its program lazily, only for rules that need it, and cached for the life
//! of the matcher: the winner
//! of `first` (for its span and captures), and the rules of a shard whose DFA
//! gave up on non-ASCII input (Unicode `\b`), and the candidates of a shard
//! whose DFA over-approximates its rules (large bounded repeats widened).

use alloc::vec::Vec;

use regex_automata::dfa::Automaton;
use regex_automata::util::primitives::StateID;
use regex_automata::{Anchored, Input, MatchError, PatternSet};

use alloc::collections::BTreeMap;
use core::sync::atomic::{AtomicU32, Ordering};

use crate::exact::{ExactCache, ExactEngine, LazyDfa};
use crate::format::{Database, DfaKind, Shard, ShardDfa};
use crate::gate::GateScanner;
use crate::lazy::Lazy;
use crate::prefilter::Target;
use crate::unroll::each_byte;

/// A match mode. Its `u32` code is what the wasm ABI takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Whether any rule matches.
    Any = 0,
    /// Every matching rule, in priority order.
    All = 1,
    /// The highest-priority matching rule, with span and captures.
    First = 2,
}

impl Mode {
    /// The mode for an ABI code.
    pub fn from_code(code: u32) -> Option<Mode> {
        match code {
            0 => Some(Mode::Any),
            1 => Some(Mode::All),
            2 => Some(Mode::First),
            _ => None,
        }
    }

    /// The mode for its name: `any`, `all` or `first`.
    pub fn from_name(name: &str) -> Option<Mode> {
        match name {
            "any" => Some(Mode::Any),
            "all" => Some(Mode::All),
            "first" => Some(Mode::First),
            _ => None,
        }
    }

    /// The mode's name.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Any => "any",
            Mode::All => "all",
            Mode::First => "first",
        }
    }
}

/// The answer of [`Matcher::first`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirstMatch {
    /// Index of the winning rule (0 = highest priority).
    pub rule: u32,
    /// Byte offset where the match starts.
    pub start: usize,
    /// Byte offset where the match ends.
    pub end: usize,
    /// Every capture group of the rule, group 0 (the whole match) first, so
    /// that `captures[i]` is group `i`; `None` for a group that did not take part.
    pub captures: Vec<Option<(usize, usize)>>,
}

impl FirstMatch {
    /// The match of `rule` whose groups are `captures`: its span is group 0's.
    fn of(rule: u32, captures: Vec<Option<(usize, usize)>>) -> Option<FirstMatch> {
        let (start, end) = captures[0]?;
        Some(FirstMatch {
            rule,
            start,
            end,
            captures,
        })
    }
}

/// Rules of this many program states and more find where their winning
/// match starts by a reverse lazy DFA before searching for captures: the
/// backtracker's cost grows with the states it explores at every failing
/// start before the match, the reverse scan's with the input alone.
const REVERSE_START_MIN_STATES: usize = 1024;

/// What the anchored forward DFA that finds a big rule's match start
/// ([`ExactEngine::leftmost_start_forward`]) may step over, per byte of the
/// input, before the reverse DFA takes over: its tries from each position
/// usually end a few bytes in.
const FORWARD_START_STEPS_PER_BYTE: usize = 8;

/// Searches of a rule (or branch) its exact engine answers before its lazy
/// DFAs start to be built: a fresh instance's first answer (start-up) then
/// costs no DFA states, only the backtracker's walk.
const DFA_WARM_UP: u32 = 2;

/// Per-search scratch space: which shards and rules the prefilter triggered.
struct Scratch {
    /// Per shard, the search generation that last triggered it (an
    /// unanchored shard) or whose rule it decided (a one-rule anchored shard).
    stamp: Vec<u32>,
    generation: u32,
    /// Unanchored shards triggered in this search, each once.
    triggered: Vec<u32>,
    /// Anchored shards triggered in this search, with where their DFA starts:
    /// where the literal occurrence starts, or ends for an after-literal
    /// shard (once per occurrence).
    anchored: Vec<(u32, usize)>,
    /// Rules that matched by their literals alone (may repeat).
    complete: Vec<u32>,
    /// Of those, the ones whose matches start at their literals
    /// ([`Target::RuleAtLiteral`]), with where each occurrence starts.
    complete_starts: Vec<(u32, usize)>,
    /// `first`'s shards to run, with where an anchored one starts.
    runs: Vec<(u32, Option<usize>)>,
    /// `first`'s matches of one shard.
    found: Vec<u32>,
}

/// Occurrences a cache's lists keep room for between searches (16 bytes
/// each at most): lists a large input grew are shrunk back when its search
/// ends, so that a cache left idle (one of a pool's) does not hold them.
const KEPT_OCCURRENCES: usize = 4096;

impl Scratch {
    /// Shrinks the lists of literal occurrences back to
    /// [`KEPT_OCCURRENCES`] after a search that grew them past it.
    fn release_occurrences(&mut self) {
        fn release<T>(list: &mut Vec<T>) {
            if list.capacity() > KEPT_OCCURRENCES {
                list.clear();
                list.shrink_to(KEPT_OCCURRENCES);
            }
        }
        release(&mut self.anchored);
        release(&mut self.complete);
        release(&mut self.complete_starts);
        release(&mut self.runs);
    }
}

/// Searches a [`Database`]. Immutable once made, so one matcher serves many
/// threads (`Sync` whenever its database is); each search brings its
/// scratch space, a [`Cache`] (as regex-automata's engines and their
/// caches): make one per thread or instance with [`Matcher::create_cache`].
///
/// A search runs the literal prefilter once, then the DFAs of the shards that
/// run on every input and of the shards whose literals occurred.
///
/// # Example
///
/// `bytes` holds a database of two rules, `"bot"` (`(?i)bot`) then
/// `"curl"` (`curl/[0-9]+`); see the crate example for writing one.
///
/// ```
/// # #[cfg(feature = "build")] {
/// # use dfabake_matcher::format::{DatabaseWriter, DfaKind, RuleEntry, ShardFlags};
/// # let mut writer = DatabaseWriter::new();
/// # for (id, pattern) in [("\"bot\"", "(?i)bot"), ("\"curl\"", r"curl/[0-9]+")] {
/// #     let program = dfabake_matcher::exact::compile(pattern).unwrap();
/// #     writer.push_rule(RuleEntry { id_json: id, payload_json: None, pattern, exact: &program });
/// # }
/// # for rule in 0..2 {
/// #     writer.push_shard(DfaKind::Exact, ShardFlags::default(), Vec::new(), vec![rule]);
/// # }
/// # let bytes = dfabake_matcher::AlignedBytes::copy_from(&writer.finish());
/// use dfabake_matcher::{Database, Matcher};
///
/// let matcher = Matcher::new(Database::from_bytes(bytes.as_bytes())?);
/// let mut cache = matcher.create_cache();
/// let hay = b"curl/8.5 (compatible; Googlebot/2.1)";
/// assert!(matcher.is_match(&mut cache, hay));
/// // Every rule that matches, in priority order...
/// assert_eq!(matcher.matches(&mut cache, hay), vec![0, 1]);
/// // ...or the highest-priority one with where it matched.
/// let first = matcher.first(&mut cache, hay).unwrap();
/// assert_eq!((first.rule, first.start, first.end), (0, 28, 31));
/// assert_eq!(matcher.database().rule(first.rule as usize).id_json(), "\"bot\"");
/// # }
/// # Ok::<(), dfabake_matcher::FormatError>(())
/// ```
pub struct Matcher<'a> {
    /// Tells this matcher's caches from another's (see [`Cache::matcher`]).
    id: u32,
    db: Database<'a>,
    /// Shards that run on every input.
    always: Vec<u32>,
    /// Gated shards ([`crate::gate`]) with their pairs, and what finds
    /// those pairs in an input.
    gated: Vec<(u32, u64)>,
    gate_scanner: Option<GateScanner>,
    /// Rules in the widest shard: what a cache's pattern set must hold.
    widest: usize,
    /// Per rule, its exact engine once a search needed it.
    exact: Vec<Lazy<ExactEngine>>,
    /// Per shard, the exact engine of a shard with a program of its own (a
    /// branch of a decomposed rule), built on demand like the rules'.
    unit_exact: Vec<Lazy<ExactEngine>>,
    /// The run bounds' byte sets.
    byte_sets: Vec<ByteSet>,
    /// Whether some shard's classes were ASCII-widened: only then does a
    /// search need to know whether its input is ASCII.
    any_ascii_widened: bool,
}

/// Walks `dfa` over `input`, calling `on_match` with every match state it
/// enters (and with the state after the end, if that one matches) until it
/// returns true; returns whether one did. A DFA's match states come one
/// byte late, so that walk sees every pattern that matches. Ordinary
/// states and accelerated ones that do not match are [`ordinary_run`]'s;
/// an accelerated match state skips ahead to the next byte that can leave
/// it; a dead state ends the walk.
///
/// regex-automata's own overlapping search calls out for each byte's
/// transition and returns at each match, and its `find_fwd` accelerates
/// with `memchr`, four bytes a step in wasm: see [`find_any`].
#[inline(always)]
fn walk<A: Automaton>(
    dfa: &A,
    input: &Input<'_>,
    kept_start: &mut Option<StateID>,
    mut on_match: impl FnMut(StateID) -> bool,
) -> Result<bool, MatchError> {
    let mut sid = start_state(dfa, input, kept_start)?;
    let hay = input.haystack();
    let (mut at, end) = (input.start(), input.end());
    loop {
        sid = ordinary_run(dfa, hay, sid, &mut at, end);
        if at >= end {
            break;
        }
        // `sid` is special, entered at the byte at `at`.
        if dfa.is_match_state(sid) {
            if on_match(sid) {
                return Ok(true);
            }
        } else if dfa.is_dead_state(sid) {
            return Ok(false);
        } else if dfa.is_quit_state(sid) {
            return Err(MatchError::quit(hay[at], at));
        }
        at = if dfa.is_accel_state(sid) {
            leave_accelerated(dfa.accelerator(sid), hay, at + 1, end)
        } else {
            at + 1
        };
    }
    // The byte after the span, or the end of the input, may complete a match.
    sid = match hay.get(end) {
        Some(&byte) => dfa.next_state(sid, byte),
        None => dfa.next_eoi_state(sid),
    };
    Ok(dfa.is_match_state(sid) && on_match(sid))
}

/// Takes `dfa`'s transitions over `hay` from `sid` at `*at` while they
/// lead to ordinary states, eight per check of the bound (and, in a host
/// that checks for interrupts at loop back-edges, per check), skipping
/// ahead in accelerated states that do not match to the next byte that can
/// leave them. Returns the first other special state entered, with `*at`
/// the position of the byte that led there, or, with `*at == end`, the
/// state after `end - 1`.
///
/// A function of its own, without calls: in wasm, Cranelift keeps a
/// function's values on the stack when it has a call inside a loop (as
/// [`walk`] has, for its matches and accelerations), which would double
/// the instructions of every transition.
#[inline(never)]
fn ordinary_run<A: Automaton>(
    dfa: &A,
    hay: &[u8],
    mut sid: StateID,
    at: &mut usize,
    end: usize,
) -> StateID {
    assert!(end <= hay.len());
    let mut i = *at;
    // SAFETY (every `next`): each `i` is below `end` by its loop's
    // condition (the compiler cannot tell: `i + 8` might wrap, for all it
    // knows). `sid` is a state of `dfa` (its start state, then what its
    // transitions lead to), and a database's DFAs are validated before a
    // search runs them.
    let next = |sid, i: usize| unsafe { dfa.next_state_unchecked(sid, *hay.get_unchecked(i)) };
    let mut last_accel: Option<(StateID, &[u8])> = None;
    *at = 'special: loop {
        let entered = 'run: {
            while i + 8 <= end {
                for k in 0..8 {
                    sid = next(sid, i + k);
                    if dfa.is_special_state(sid) {
                        break 'run i + k;
                    }
                }
                i += 8;
            }
            while i < end {
                sid = next(sid, i);
                if dfa.is_special_state(sid) {
                    break 'run i;
                }
                i += 1;
            }
            break 'special end;
        };
        if !dfa.is_accel_state(sid) || dfa.is_match_state(sid) {
            break 'special entered;
        }
        // A search re-enters the same accelerated state over and over
        // (`[^;/]*` between separators), and its bytes are a call away.
        let needles = match last_accel {
            Some((id, needles)) if id == sid => needles,
            _ => {
                let needles = dfa.accelerator(sid);
                last_accel = Some((sid, needles));
                needles
            }
        };
        i = leave_accelerated(needles, hay, entered + 1, end);
    };
    sid
}

/// Where a walk in an accelerated state whose bytes to leave it are
/// `needles` goes on, from `after` (at most `end`): every byte up to the
/// next of those leads back to that state.
#[inline(always)]
fn leave_accelerated(needles: &[u8], hay: &[u8], after: usize, end: usize) -> usize {
    find_any(needles, &hay[after..end]).map_or(end, |k| after + k)
}

/// The start state of `dfa` for `input`, kept in `kept` for a search of a
/// whole input (unanchored, from its first byte): that one depends on
/// nothing the input holds (there is no byte before it), and
/// regex-automata works a start state out anew on each search, ~30
/// instructions in wasm, a tenth of a search of a short input.
#[inline(always)]
fn start_state<A: Automaton>(
    dfa: &A,
    input: &Input<'_>,
    kept: &mut Option<StateID>,
) -> Result<StateID, MatchError> {
    if input.start() != 0 || input.get_anchored() != Anchored::No {
        return dfa.start_state_forward(input);
    }
    if let Some(sid) = *kept {
        return Ok(sid);
    }
    let sid = dfa.start_state_forward(input)?;
    *kept = Some(sid);
    Ok(sid)
}

/// Every pattern of `dfa` (a `MatchKind::All` DFA) that matches somewhere
/// in `input`, added to `set`: what `Automaton::try_which_overlapping_matches`
/// tells, in one [`walk`] that notes the patterns of every match state and
/// stops early when every pattern has matched.
fn which_overlapping_matches<A: Automaton>(
    dfa: &A,
    input: &Input<'_>,
    kept_start: &mut Option<StateID>,
    set: &mut PatternSet,
) -> Result<(), MatchError> {
    walk(dfa, input, kept_start, |sid| {
        for i in 0..dfa.match_len(sid) {
            set.insert(dfa.match_pattern(sid, i));
        }
        set.is_full()
    })
    .map(|_| ())
}

/// A pattern of `dfa` that matches somewhere in `input` (that of the first
/// match state the [`walk`] enters), if any.
fn first_pattern<A: Automaton>(
    dfa: &A,
    input: &Input<'_>,
    kept_start: &mut Option<StateID>,
) -> Result<Option<usize>, MatchError> {
    let mut found = None;
    walk(dfa, input, kept_start, |sid| {
        found = Some(dfa.match_pattern(sid, 0).as_usize());
        true
    })?;
    Ok(found)
}

/// Where one of `needles` (1 to 3 bytes, a DFA state's accelerator) first
/// occurs in `hay`: eight bytes a step, each needle's bytes found by the
/// zero-byte trick. In wasm, without SIMD, `memchr` takes four bytes a step
/// after a set-up that costs more than these inputs' few words.
#[inline(always)]
fn find_any(needles: &[u8], hay: &[u8]) -> Option<usize> {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let (a, b, c) = match *needles {
        [a] => (a, a, a),
        [a, b] => (a, b, b),
        [a, b, c] => (a, b, c),
        _ => return hay.iter().position(|x| needles.contains(x)),
    };
    let (a8, b8, c8) = (u64::from(a) * LOW, u64::from(b) * LOW, u64::from(c) * LOW);
    // Its lowest set bit is in the first zero byte of `x` (bits above it
    // may be set by the borrow), so that of an OR is the first needle.
    let zero = |x: u64| x.wrapping_sub(LOW) & !x & HIGH;
    let mut words = hay.chunks_exact(8);
    let mut at = 0;
    for w in &mut words {
        let w = u64::from_le_bytes(w.try_into().unwrap());
        let found = zero(w ^ a8) | zero(w ^ b8) | zero(w ^ c8);
        if found != 0 {
            return Some(at + found.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    let rest = words
        .remainder()
        .iter()
        .position(|&x| x == a || x == b || x == c);
    rest.map(|i| at + i)
}

/// Whether every byte of `bytes` is ASCII, eight bytes a step with no early
/// exit: for user agents, fewer instructions (and one back-edge, where a
/// host checks for interrupts, per 8 bytes) than `<[u8]>::is_ascii`,
/// which takes the target's word, 4 bytes in wasm.
pub(crate) fn is_ascii(bytes: &[u8]) -> bool {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut words = bytes.chunks_exact(8);
    let mut high = 0;
    for w in &mut words {
        high |= u64::from_le_bytes(w.try_into().unwrap());
    }
    high & HIGH == 0 && words.remainder().is_ascii()
}

// One matcher serves every thread: the engine holds nothing a search
// changes but what it builds once (`Lazy`).
const _: fn() = || {
    fn shared<T: Send + Sync>() {}
    shared::<Matcher<'static>>();
    shared::<Database<'static>>();
    fn movable<T: Send>() {}
    movable::<Cache>();
};

/// The scratch space of searches by a [`Matcher`]: one search at a time.
/// Made by [`Matcher::create_cache`]; a cache made for another matcher is
/// resized on first use, so it is never wrong, only slower once.
///
/// Keeping it apart from the matcher is what lets one matcher, with the
/// exact engines it builds on first use, serve every thread:
///
/// ```
/// # #[cfg(feature = "build")] {
/// # use dfabake_matcher::format::{DatabaseWriter, DfaKind, RuleEntry, ShardFlags};
/// # let mut writer = DatabaseWriter::new();
/// # for (id, pattern) in [("\"bot\"", "(?i)bot"), ("\"curl\"", r"curl/[0-9]+")] {
/// #     let program = dfabake_matcher::exact::compile(pattern).unwrap();
/// #     writer.push_rule(RuleEntry { id_json: id, payload_json: None, pattern, exact: &program });
/// # }
/// # for rule in 0..2 {
/// #     writer.push_shard(DfaKind::Exact, ShardFlags::default(), Vec::new(), vec![rule]);
/// # }
/// # let bytes = dfabake_matcher::AlignedBytes::copy_from(&writer.finish());
/// use dfabake_matcher::{Database, Matcher};
///
/// let matcher = Matcher::new(Database::from_bytes(bytes.as_bytes())?);
/// let inputs: [&[u8]; 3] = [b"curl/8.5", b"a ROBOT", b"nothing here"];
/// let found: Vec<Vec<u32>> = std::thread::scope(|s| {
///     let workers: Vec<_> = inputs
///         .iter()
///         .map(|hay| {
///             let matcher = &matcher;
///             s.spawn(move || matcher.matches(&mut matcher.create_cache(), hay))
///         })
///         .collect();
///     workers.into_iter().map(|w| w.join().unwrap()).collect()
/// });
/// assert_eq!(found, [vec![1], vec![0], vec![]]);
/// # }
/// # Ok::<(), dfabake_matcher::FormatError>(())
/// ```
pub struct Cache {
    /// The [`Matcher::id`] of the matcher it was made for: the lazy DFAs it
    /// keeps serve that matcher's rules alone.
    matcher: u32,
    scratch: Scratch,
    work: Work,
}

/// What running one shard needs.
struct Work {
    /// Big enough for any shard: one shard is searched at a time.
    set: PatternSet,
    /// Per shard, its DFA's start state for a search of a whole input
    /// (see [`start_state`]), once a search has worked it out.
    starts: Vec<Option<StateID>>,
    confirm: Confirm,
    runs: Runs,
}

/// The longest run of each run-bound byte set in the input searched
/// ([`Shard::run_bounds`]), measured when a shard first asks.
#[derive(Default)]
struct Runs {
    /// Per byte set, the search that measured it; `longest` is that length.
    stamp: Vec<u32>,
    longest: Vec<u32>,
    search: u32,
}

impl Runs {
    /// Forgets the lengths of the last input.
    fn next_input(&mut self) {
        self.search = self.search.wrapping_add(1);
        if self.search == 0 {
            self.stamp.fill(0);
            self.search = 1;
        }
    }

    /// The longest run of bytes of byte set `set` (`bytes`) in `hay`.
    fn longest(&mut self, set: u32, bytes: &ByteSet, hay: &[u8]) -> u32 {
        let i = set as usize;
        if i >= self.stamp.len() {
            self.stamp.resize(i + 1, 0);
            self.longest.resize(i + 1, 0);
        }
        if self.stamp[i] != self.search {
            self.stamp[i] = self.search;
            self.longest[i] = bytes.longest_run(hay);
        }
        self.longest[i]
    }
}

/// A byte set of the run bounds.
struct ByteSet {
    /// One flag a byte: a load a byte measures a run.
    members: [bool; 256],
    /// The bytes not in the set, when they are 1 to 3 (`.` is all but
    /// `\n`, `[^;/]` all but two): runs are then the gaps between their
    /// occurrences, which [`find_any`] finds eight bytes a step.
    outside: Option<([u8; 3], usize)>,
}

impl ByteSet {
    /// The set of bytes `b` with bit `b % 32` of word `b / 32` set.
    fn new(words: [u32; 8]) -> ByteSet {
        let members: [bool; 256] = core::array::from_fn(|b| words[b / 32] >> (b % 32) & 1 == 1);
        let (mut outside, mut n) = ([0u8; 3], 0);
        // A fourth byte outside is enough to know there are too many.
        for b in (0..=255u8).filter(|&b| !members[usize::from(b)]).take(4) {
            if n < 3 {
                outside[n] = b;
            }
            n += 1;
        }
        ByteSet {
            members,
            outside: (1..=3).contains(&n).then_some((outside, n)),
        }
    }

    /// The longest run of the set's bytes in `hay`.
    fn longest_run(&self, hay: &[u8]) -> u32 {
        if let Some((outside, n)) = self.outside {
            let (mut longest, mut from) = (0, 0);
            while let Some(k) = find_any(&outside[..n], &hay[from..]) {
                longest = longest.max(k);
                from += k + 1;
            }
            return longest.max(hay.len() - from) as u32;
        }
        // Without a branch on the byte: in text, members and others
        // alternate too irregularly to predict.
        let (mut run, mut longest) = (0u32, 0u32);
        let _ = each_byte::<()>(hay, |b| {
            let member = u32::from(self.members[usize::from(b)]);
            run = (run + 1) * member;
            longest = longest.max(run);
            core::ops::ControlFlow::Continue(())
        });
        longest
    }
}

/// What confirming a candidate rule with its exact engine needs.
struct Confirm {
    exact: ExactCache,
    kept: Kept,
    /// The lazy DFAs of rules (by rule) and of shards' own programs (by
    /// shard) confirmed so far: built on the first searches that need them,
    /// kept for every later one.
    rule_dfas: BTreeMap<u32, LazyDfa>,
    unit_dfas: BTreeMap<u32, LazyDfa>,
    /// The reverse lazy DFAs that find where big rules' winning matches
    /// start (by rule).
    start_dfas: BTreeMap<u32, LazyDfa>,
    /// The anchored forward lazy DFAs that find it first (by rule).
    anchored_dfas: BTreeMap<u32, LazyDfa>,
    /// Candidates confirmed by an exact engine so far (see
    /// [`Cache::exact_confirmations`]).
    confirmations: u64,
    /// What the lazy DFAs above take, about, in bytes, and how much they
    /// may ([`Cache::set_lazy_dfa_budget`]).
    dfa_bytes: usize,
    dfa_budget: usize,
}

/// Which of a cache's lazy DFAs a search uses.
#[derive(Clone, Copy)]
enum DfaOf {
    /// A rule's forward DFA (confirmation).
    Rule(u32),
    /// A shard's own program's forward DFA (a branch's confirmation).
    Unit(u32),
    /// A rule's reverse DFA (where its match starts).
    Start(u32),
    /// A rule's anchored forward DFA (where its match starts, tried
    /// position by position).
    Anchored(u32),
}

impl Confirm {
    /// Runs `search` with the lazy DFA `of` once that DFA is past its
    /// warm-up ([`DFA_WARM_UP`]; `None` before), keeping what all of them
    /// take near the budget: past it, every DFA starts afresh. Each DFA has
    /// its own cap too, but a search over many rules with crafted inputs
    /// could otherwise fill each of them.
    fn with_dfa<T>(
        &mut self,
        of: DfaOf,
        search: impl FnOnce(&mut LazyDfa) -> Option<T>,
    ) -> Option<T> {
        if self.dfa_bytes > self.dfa_budget {
            self.rule_dfas.clear();
            self.unit_dfas.clear();
            self.start_dfas.clear();
            self.anchored_dfas.clear();
            self.dfa_bytes = 0;
        }
        let dfa = match of {
            DfaOf::Rule(rule) => self.rule_dfas.entry(rule),
            DfaOf::Unit(shard) => self.unit_dfas.entry(shard),
            DfaOf::Start(rule) => self.start_dfas.entry(rule),
            DfaOf::Anchored(rule) => self.anchored_dfas.entry(rule),
        }
        .or_default();
        if !dfa.warmed_up(DFA_WARM_UP) {
            return None;
        }
        let before = dfa.memory();
        let out = search(dfa);
        self.dfa_bytes = (self.dfa_bytes + dfa.memory()).saturating_sub(before);
        out
    }
}

/// What a cache's lazy DFAs may take together by default: past it they
/// start afresh ([`Cache::set_lazy_dfa_budget`]).
pub const LAZY_DFA_BUDGET: usize = 64 << 20;

/// What `first` keeps of the exact engines' confirmations: a rule the
/// exact engine confirms is often the winner, and its captures came with
/// the confirmation, so `first` need not search for them again.
#[derive(Default)]
struct Kept {
    /// Whether to keep captures (only `first` wants them).
    on: bool,
    /// The highest-priority rule confirmed with its captures so far.
    best: Option<FirstMatch>,
}

impl Cache {
    /// Bounds what this cache's lazy DFAs take together, about, in bytes
    /// (default [`LAZY_DFA_BUDGET`]): past it, they all start afresh.
    pub fn set_lazy_dfa_budget(&mut self, bytes: usize) {
        self.work.confirm.dfa_budget = bytes;
    }

    /// About how many bytes this cache's lazy DFAs take.
    pub fn lazy_dfa_bytes(&self) -> usize {
        self.work.confirm.dfa_bytes
    }

    /// How many candidates this cache's searches confirmed with an exact
    /// engine (a lazy DFA or the backtracker): the slow path of approximate
    /// and exact-only rules, which the manifest names. Shows how many
    /// inputs pay it.
    pub fn exact_confirmations(&self) -> u64 {
        self.work.confirm.confirmations
    }

    /// How many lazy DFA states this cache's searches have built, over every
    /// rule they confirmed (see [`crate::exact::LazyDfa`]), and in how many
    /// lazy DFAs: what confirming candidates costs in memory.
    pub fn lazy_dfa_states(&self) -> (usize, usize) {
        let c = &self.work.confirm;
        let dfas = c
            .rule_dfas
            .values()
            .chain(c.unit_dfas.values())
            .chain(c.start_dfas.values())
            .chain(c.anchored_dfas.values());
        dfas.fold((0, 0), |(states, n), d| (states + d.state_count(), n + 1))
    }
}

impl<'a> Matcher<'a> {
    /// A matcher over `db`. Costs O(shards); exact engines are built on demand.
    pub fn new(db: Database<'a>) -> Matcher<'a> {
        let widest = db
            .shards()
            .iter()
            .map(|s| s.rule_count())
            .max()
            .unwrap_or(1);
        let exact = (0..db.rule_count()).map(|_| Lazy::new()).collect();
        let unit_exact = (0..db.shards().len()).map(|_| Lazy::new()).collect();
        let gated: Vec<(u32, u64)> = db.gates().map_or(Vec::new(), |g| g.shards().collect());
        let gate_scanner = db.gates().map(|g| g.scanner());
        let always = (0..db.shards().len() as u32)
            .filter(|&i| !db.shards()[i as usize].flags.triggered)
            .filter(|&i| !gated.iter().any(|&(g, _)| g == i))
            .collect();
        let byte_sets = (0..db.byte_set_count() as u32)
            .map(|set| ByteSet::new(db.byte_set(set)))
            .collect();
        let any_ascii_widened = db.shards().iter().any(|s| s.flags.ascii_widened);
        // Ids only need to differ between matchers alive at once.
        static NEXT_ID: AtomicU32 = AtomicU32::new(0);
        Matcher {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            db,
            always,
            gated,
            gate_scanner,
            widest,
            exact,
            unit_exact,
            byte_sets,
            any_ascii_widened,
        }
    }

    /// Whether `hay` is ASCII, as the searches of ASCII-widened shards ask
    /// (see [`crate::format::Shard::needs_confirm_on`]); `true` without
    /// reading it when no shard is, since no search then asks.
    #[inline]
    fn input_is_ascii(&self, hay: &[u8]) -> bool {
        !self.any_ascii_widened || is_ascii(hay)
    }

    /// Scratch space for this matcher's searches.
    pub fn create_cache(&self) -> Cache {
        Cache {
            matcher: self.id,
            work: Work {
                runs: Runs::default(),
                set: PatternSet::new(self.widest),
                starts: alloc::vec![None; self.db.shards().len()],
                confirm: Confirm {
                    exact: ExactCache::new(),
                    kept: Kept::default(),
                    rule_dfas: BTreeMap::new(),
                    unit_dfas: BTreeMap::new(),
                    start_dfas: BTreeMap::new(),
                    anchored_dfas: BTreeMap::new(),
                    confirmations: 0,
                    dfa_bytes: 0,
                    dfa_budget: LAZY_DFA_BUDGET,
                },
            },
            scratch: Scratch {
                stamp: alloc::vec![0; self.db.shards().len()],
                generation: 0,
                triggered: Vec::new(),
                anchored: Vec::new(),
                complete: Vec::new(),
                complete_starts: Vec::new(),
                runs: Vec::new(),
                found: Vec::new(),
            },
        }
    }

    /// Makes `cache` fit this matcher, if it was made for another.
    fn fit(&self, cache: &mut Cache) {
        if cache.matcher != self.id
            || cache.scratch.stamp.len() != self.db.shards().len()
            || cache.work.set.capacity() < self.widest
        {
            *cache = self.create_cache();
        }
    }

    /// The database searched.
    pub fn database(&self) -> &Database<'a> {
        &self.db
    }

    /// How many exact engines this matcher has built so far.
    pub fn exact_engines_built(&self) -> usize {
        self.exact.iter().filter(|e| e.get().is_some()).count()
    }

    fn exact_engine(&self, rule: u32) -> &ExactEngine {
        self.exact[rule as usize].get_or_init(|| {
            let program = self.db.rule(rule as usize).exact_program();
            ExactEngine::from_program(program)
                .unwrap_or_else(|e| panic!("an exact program failed verification: {e}"))
        })
    }

    /// Whether the unit of shard `si` for `rule` matches anywhere in `hay`:
    /// by the shard's own program (a branch's, much smaller than its whole
    /// rule's) when it has one, else by the rule's; by its lazy DFA where
    /// that can answer, else by the engine's own search.
    /// In `first` (`kept.on`), a rule's own engine keeps the captures it
    /// found on the way when they beat those kept so far.
    fn unit_is_match(&self, w: &mut Confirm, si: u32, rule: u32, hay: &[u8]) -> bool {
        w.confirmations += 1;
        let shard = &self.db.shards()[si as usize];
        let Some(program) = shard.unit_program() else {
            let engine = self.exact_engine(rule);
            // A rule with a tail finds its captures cheaper afterwards
            // ([`Matcher::tail_first`]) than the backtracker on the way.
            let no_captures = !w.kept.on
                || w.kept.best.as_ref().is_some_and(|b| b.rule <= rule)
                || engine.tail().is_some();
            if no_captures {
                return w
                    .with_dfa(DfaOf::Rule(rule), |dfa| engine.is_match_lazy(dfa, hay))
                    .unwrap_or_else(|| engine.is_match(&mut w.exact, hay));
            }
            // A candidate that may win: most are true (an approximate DFA
            // is wrong only past a widened bound), and the backtracker that
            // confirms one finds its captures on the way, where the lazy DFA
            // would only be a first pass.
            let (matched, captures) = engine.is_match_with_captures(&mut w.exact, hay);
            if let Some(found) = captures.and_then(|c| FirstMatch::of(rule, c)) {
                w.kept.best = Some(found);
            }
            return matched;
        };
        let engine = self.unit_exact[si as usize].get_or_init(|| {
            ExactEngine::from_program(program)
                .unwrap_or_else(|e| panic!("an exact program failed verification: {e}"))
        });
        w.with_dfa(DfaOf::Unit(si), |dfa| engine.is_match_lazy(dfa, hay))
            .unwrap_or_else(|| engine.is_match(&mut w.exact, hay))
    }

    /// Whether the approximate DFA of `shard` is exact for its pattern
    /// `pid` on `hay` after all: `hay` is within the pattern's run bounds
    /// (and ASCII if the DFA's classes were ASCII-widened), so its
    /// candidate needs no confirmation.
    fn exact_within_bounds(
        &self,
        runs: &mut Runs,
        shard: &Shard<'_>,
        pid: usize,
        hay: &[u8],
        ascii: bool,
    ) -> bool {
        if shard.flags.ascii_widened && !ascii {
            return false;
        }
        let mut bounds = shard.run_bounds(pid).peekable();
        bounds.peek().is_some()
            && bounds.all(|(set, most)| {
                // No run is longer than the input (most inputs are shorter
                // than a bound such as `.{0,100}`: no scan for them).
                if hay.len() <= most as usize {
                    return true;
                }
                // A verified database names only its byte sets.
                let bytes = &self.byte_sets[set as usize];
                runs.longest(set, bytes, hay) <= most
            })
    }

    /// Runs the prefilter over `hay`, leaving the triggered shards (and the
    /// gated ones whose pairs occur) and the rules matched by literals
    /// alone in `s`.
    #[inline(always)]
    fn prefilter(&self, hay: &[u8], s: &mut Scratch) {
        s.triggered.clear();
        s.anchored.clear();
        s.complete.clear();
        s.complete_starts.clear();
        s.generation = s.generation.wrapping_add(1);
        if s.generation == 0 {
            s.stamp.fill(0);
            s.generation = 1;
        }
        if let Some(scanner) = &self.gate_scanner {
            self.open_gates(scanner, hay, s);
        }
        let Some(pf) = self.db.prefilter() else {
            return;
        };
        let Scratch {
            stamp,
            generation,
            triggered,
            anchored,
            complete,
            complete_starts,
            ..
        } = s;
        let shards = self.db.shards();
        pf.scan_at(hay, |t, start, end| match t {
            Target::Shard(i) if shards[i as usize].flags.anchored => {
                let shard = &shards[i as usize];
                if shard.flags.after_literal {
                    // `^literal…`: an occurrence elsewhere is no match.
                    if start == 0 || !shard.flags.at_start {
                        anchored.push((i, end));
                    }
                } else {
                    anchored.push((i, start));
                }
            }
            Target::Shard(i) => {
                if stamp[i as usize] != *generation {
                    stamp[i as usize] = *generation;
                    triggered.push(i);
                }
            }
            Target::Rule(r) => complete.push(r),
            Target::RuleAtLiteral(r) => {
                complete.push(r);
                complete_starts.push((r, start));
            }
        });
    }

    /// Adds to the triggered shards the gated ones whose pairs occur in
    /// `hay`. A function of its own, so that `prefilter` stays small
    /// enough to inline where most databases have no gate.
    #[inline(never)]
    fn open_gates(&self, scanner: &GateScanner, hay: &[u8], s: &mut Scratch) {
        let found = scanner.found(hay);
        if found == 0 {
            return;
        }
        for &(si, pairs) in &self.gated {
            if found & pairs != 0 {
                s.stamp[si as usize] = s.generation;
                s.triggered.push(si);
            }
        }
    }

    /// The input a shard's DFA searches: all of `hay`, or for an anchored
    /// shard, a match starting exactly at `at` (look-behind still sees the
    /// bytes before it).
    #[inline]
    fn shard_input<'h>(hay: &'h [u8], at: Option<usize>) -> Input<'h> {
        let input = Input::new(hay);
        match at {
            Some(at) => input.range(at..).anchored(Anchored::Yes),
            None => input,
        }
    }

    /// Whether any rule of shard `si` matches (for an anchored shard: a
    /// match starting at `at`, or, where the exact engine has to decide,
    /// anywhere); if so, one that does. Also whether the shard's rules are
    /// decided for the whole input (see [`Matcher::shard_matches`]): then
    /// its other occurrences need no run.
    fn shard_any(
        &self,
        w: &mut Work,
        si: u32,
        hay: &[u8],
        at: Option<usize>,
        ascii: bool,
    ) -> (Option<u32>, bool) {
        let shard = &self.db.shards()[si as usize];
        if shard.kind() == DfaKind::Exact {
            let found = shard
                .rules()
                .find(|&r| self.unit_is_match(&mut w.confirm, si, r, hay));
            return (found, true);
        }
        if shard.needs_confirm_on(ascii) {
            // The DFA's first hit may be a false positive: confirm all.
            let mut candidates = Vec::new();
            let decided = self.shard_matches(w, si, hay, at, ascii, &mut candidates);
            return (candidates.first().copied(), decided);
        }
        let input = Self::shard_input(hay, at);
        let kept = &mut w.starts[si as usize];
        let found = match shard.dfa() {
            ShardDfa::Dense(d) => first_pattern(d, &input, kept),
            ShardDfa::Sparse(d) => first_pattern(d, &input, kept),
            ShardDfa::Exact => unreachable!("exact-only shards are answered above"),
        };
        match found {
            Ok(pattern) => (pattern.map(|p| shard.rule(p)), at.is_none()),
            // The exact engine answers for the whole input.
            Err(_) => (
                shard
                    .rules()
                    .find(|&r| self.unit_is_match(&mut w.confirm, si, r, hay)),
                true,
            ),
        }
    }

    /// Whether any rule matches anywhere in `hay`; if so, the index of one
    /// rule that does (not necessarily the highest-priority one).
    pub fn find_any(&self, cache: &mut Cache, hay: &[u8]) -> Option<u32> {
        let found = self.find_any_in(cache, hay);
        cache.scratch.release_occurrences();
        found
    }

    fn find_any_in(&self, cache: &mut Cache, hay: &[u8]) -> Option<u32> {
        self.fit(cache);
        cache.work.runs.next_input();
        let Cache {
            scratch: s,
            work: w,
            ..
        } = cache;
        let ascii = self.input_is_ascii(hay);
        // Shards that run anyway first: a hit there spares the prefilter scan.
        if let Some(r) = self
            .always
            .iter()
            .find_map(|&si| self.shard_any(w, si, hay, None, ascii).0)
        {
            return Some(r);
        }
        self.prefilter(hay, s);
        if let Some(&r) = s.complete.first() {
            return Some(r);
        }
        if let Some(r) = s
            .triggered
            .iter()
            .find_map(|&si| self.shard_any(w, si, hay, None, ascii).0)
        {
            return Some(r);
        }
        // As in `matches_into`: a shard decided for the whole input at one
        // occurrence (its DFA gave up and the exact engine answered) is not
        // run again at the next, which would make the search quadratic.
        let Scratch {
            stamp,
            generation,
            anchored,
            ..
        } = s;
        for &(si, at) in anchored.iter() {
            if stamp[si as usize] == *generation {
                continue;
            }
            let (found, decided) = self.shard_any(w, si, hay, Some(at), ascii);
            if found.is_some() {
                return found;
            }
            if decided {
                stamp[si as usize] = *generation;
            }
        }
        None
    }

    /// Whether any rule matches anywhere in `hay`.
    pub fn is_match(&self, cache: &mut Cache, hay: &[u8]) -> bool {
        self.find_any(cache, hay).is_some()
    }

    /// Appends to `out` the matches of one shard, ascending (for an
    /// anchored shard, of matches starting at `at`). Returns whether the
    /// shard's rules are decided for the whole input: a one-rule shard that
    /// matched, or whose rule the exact engine answered.
    fn shard_matches(
        &self,
        w: &mut Work,
        si: u32,
        hay: &[u8],
        at: Option<usize>,
        ascii: bool,
        out: &mut Vec<u32>,
    ) -> bool {
        let shard = &self.db.shards()[si as usize];
        if shard.kind() == DfaKind::Exact {
            let c = &mut w.confirm;
            out.extend(shard.rules().filter(|&r| self.unit_is_match(c, si, r, hay)));
            return true;
        }
        let confirm = shard.needs_confirm_on(ascii);
        let Work {
            set,
            starts,
            confirm: c,
            runs,
        } = w;
        let kept = &mut starts[si as usize];
        if shard.rule_count() == 1 {
            // One rule: the earliest match is enough, no pattern set needed.
            let rule = shard.rule(0);
            let input = Self::shard_input(hay, at);
            let found = match shard.dfa() {
                ShardDfa::Dense(d) => walk(d, &input, kept, |_| true),
                ShardDfa::Sparse(d) => walk(d, &input, kept, |_| true),
                ShardDfa::Exact => unreachable!("exact-only shards are answered above"),
            };
            // The exact engine always answers for the whole input.
            let (matched, decided) = match found {
                Ok(false) => (false, false),
                Ok(true) if confirm => (
                    self.exact_within_bounds(runs, shard, 0, hay, ascii)
                        || self.unit_is_match(c, si, rule, hay),
                    true,
                ),
                Ok(true) => (true, true),
                Err(_) => (self.unit_is_match(c, si, rule, hay), true),
            };
            if matched {
                out.push(rule);
            }
            return decided;
        }
        // Clearing zeroes the set's whole width, a `memory.fill` (a call
        // out of the module in wasm); most searches left it empty.
        if !set.is_empty() {
            set.clear();
        }
        let input = Self::shard_input(hay, at);
        let res = match shard.dfa() {
            ShardDfa::Dense(d) => which_overlapping_matches(d, &input, kept, set),
            ShardDfa::Sparse(d) => which_overlapping_matches(d, &input, kept, set),
            ShardDfa::Exact => unreachable!("exact-only shards are answered above"),
        };
        match res {
            Ok(()) if confirm => {
                out.extend(
                    set.iter()
                        .map(|pid| (pid.as_usize(), shard.rule(pid.as_usize())))
                        .filter(|&(pid, r)| {
                            self.exact_within_bounds(runs, shard, pid, hay, ascii)
                                || self.unit_is_match(c, si, r, hay)
                        })
                        .map(|(_, r)| r),
                );
            }
            Ok(()) => out.extend(set.iter().map(|pid| shard.rule(pid.as_usize()))),
            Err(_) => {
                out.extend(shard.rules().filter(|&r| self.unit_is_match(c, si, r, hay)));
            }
        }
        false
    }

    /// Every rule that matches anywhere in `hay`, as rule indices in priority
    /// order, written to `out` (cleared first).
    pub fn matches_into(&self, cache: &mut Cache, hay: &[u8], out: &mut Vec<u32>) {
        self.fit(cache);
        cache.work.runs.next_input();
        let Cache {
            scratch: s,
            work: w,
            ..
        } = cache;
        out.clear();
        let ascii = self.input_is_ascii(hay);
        self.prefilter(hay, s);
        // The complete rules are the answer's start: take their buffer
        // rather than copy it (in wasm a copy of unknown length is a
        // `memory.copy`, a call into the host). `out` is empty, and
        // `prefilter` clears whichever buffer `complete` holds next time.
        core::mem::swap(out, &mut s.complete);
        for &si in s.triggered.iter().chain(&self.always) {
            self.shard_matches(w, si, hay, None, ascii, out);
        }
        let Scratch {
            stamp,
            generation,
            anchored,
            ..
        } = s;
        for &(si, at) in anchored.iter() {
            // A one-rule shard decided at one occurrence needs no more runs.
            if stamp[si as usize] != *generation
                && self.shard_matches(w, si, hay, Some(at), ascii, out)
            {
                stamp[si as usize] = *generation;
            }
        }
        out.sort_unstable();
        out.dedup();
        s.release_occurrences();
    }

    /// Every rule that matches anywhere in `hay`, in priority order.
    pub fn matches(&self, cache: &mut Cache, hay: &[u8]) -> Vec<u32> {
        let mut out = Vec::new();
        self.matches_into(cache, hay, &mut out);
        out
    }

    /// The highest-priority rule matching anywhere in `hay`, with the span and
    /// captures of its leftmost-first match.
    pub fn first(&self, cache: &mut Cache, hay: &[u8]) -> Option<FirstMatch> {
        let found = self.first_in(cache, hay);
        cache.scratch.release_occurrences();
        found
    }

    fn first_in(&self, cache: &mut Cache, hay: &[u8]) -> Option<FirstMatch> {
        cache.work.confirm.kept = Kept {
            on: true,
            best: None,
        };
        let winner = self.first_rule(cache, hay);
        let kept = core::mem::take(&mut cache.work.confirm.kept);
        if let Some(rule) = winner {
            if let Some(found) = kept.best.filter(|b| b.rule == rule) {
                return Some(found);
            }
            if let Some(found) = self.first_at_literal(cache, rule, hay) {
                return Some(found);
            }
            if let Some(found) = self.exact_first(cache, rule, hay) {
                return Some(found);
            }
        }
        // Not reached for a verified database (a shard that reports a rule
        // without confirmation is exact); kept as the safe answer.
        let mut candidates = Vec::new();
        self.matches_into(cache, hay, &mut candidates);
        candidates
            .into_iter()
            .find_map(|rule| self.exact_first(cache, rule, hay))
    }

    /// The match of a rule whose matches start at its literals, when the
    /// last prefilter scan saw them: the capture engine tries their
    /// leftmost occurrence alone, instead of every position before it. A
    /// rule that is one string of byte classes without groups needs no
    /// engine run: its literals are that string, so the occurrence is the
    /// match.
    fn first_at_literal(&self, cache: &mut Cache, rule: u32, hay: &[u8]) -> Option<FirstMatch> {
        let start = cache
            .scratch
            .complete_starts
            .iter()
            .filter(|&&(r, _)| r == rule)
            .map(|&(_, start)| start)
            .min()?;
        let engine = self.exact_engine(rule);
        if let Some(len) = engine.chain_len() {
            let end = start + len;
            debug_assert!(end <= hay.len());
            return Some(FirstMatch {
                rule,
                start,
                end,
                captures: alloc::vec![Some((start, end))],
            });
        }
        FirstMatch::of(
            rule,
            engine.captures_at(&mut cache.work.confirm.exact, hay, start)?,
        )
    }

    /// The match of a rule `^.{0,N}?T` or `^.{0,N}T` ([`ExactEngine::tail`]):
    /// `T`'s from the leftmost (lazy) or rightmost (greedy) position where
    /// `T` matches that `N` characters other than `\n` reach (a reverse
    /// lazy DFA of `T` finds it). `None` where that does not answer (before
    /// the DFA's warm-up, a start inside a character), for the rule's own
    /// engine to decide.
    fn tail_first(
        &self,
        cache: &mut Cache,
        rule: u32,
        engine: &ExactEngine,
        hay: &[u8],
    ) -> Option<FirstMatch> {
        let (prefix, tail) = engine.tail()?;
        let reach = prefix.reach(hay);
        let c = &mut cache.work.confirm;
        // The rule's program is anchored, so its reverse DFA slot is free.
        let start = c.with_dfa(DfaOf::Start(rule), |dfa| {
            if prefix.greedy {
                tail.rightmost_start_upto(dfa, hay, reach)
            } else {
                tail.leftmost_start(dfa, hay)
            }
        })??;
        // At or before `reach`, where the prefix's characters end.
        if start > reach || hay.get(start).is_some_and(|&b| b & 0xC0 == 0x80) {
            return None;
        }
        let mut captures = tail.captures_at(&mut c.exact, hay, start)?;
        // Group 0 is the whole rule's: from the input's start.
        captures[0] = Some((0, captures[0]?.1));
        FirstMatch::of(rule, captures)
    }

    /// The highest-priority rule matching anywhere in `hay`. Shards are
    /// ordered by their lowest rule, so they run in priority order and the
    /// search stops at the first shard that cannot beat the best rule found
    /// so far: a rule early in the list spares every shard after it.
    fn first_rule(&self, cache: &mut Cache, hay: &[u8]) -> Option<u32> {
        self.fit(cache);
        cache.work.runs.next_input();
        let Cache {
            scratch: s,
            work: w,
            ..
        } = cache;
        let ascii = self.input_is_ascii(hay);
        self.prefilter(hay, s);
        let mut best = s.complete.iter().copied().min().unwrap_or(u32::MAX);
        let Scratch {
            stamp,
            generation,
            triggered,
            anchored,
            runs,
            found: out,
            ..
        } = s;
        // The candidate shards with where an anchored one starts, by shard
        // (= priority) order; a triggered shard keeps its first place only.
        runs.clear();
        runs.extend(
            triggered
                .iter()
                .chain(&self.always)
                .map(|&si| (si, None))
                .chain(anchored.iter().map(|&(si, at)| (si, Some(at)))),
        );
        runs.sort_unstable_by_key(|&(si, at)| (si, at));
        let shards = self.db.shards();
        for &(si, at) in runs.iter() {
            if shards[si as usize].min_rule() >= best {
                break;
            }
            if at.is_some() && stamp[si as usize] == *generation {
                continue;
            }
            out.clear();
            let decided = self.shard_matches(w, si, hay, at, ascii, out);
            if at.is_some() && decided {
                stamp[si as usize] = *generation;
            }
            if let Some(&r) = out.iter().min() {
                best = best.min(r);
            }
        }
        (best != u32::MAX).then_some(best)
    }

    /// The leftmost-first match of one rule, with captures. For a big rule,
    /// a reverse lazy DFA finds where the match starts first, so that the
    /// capture engine tries that start alone.
    pub fn exact_first(&self, cache: &mut Cache, rule: u32, hay: &[u8]) -> Option<FirstMatch> {
        let engine = self.exact_engine(rule);
        if let Some(found) = self.tail_first(cache, rule, engine, hay) {
            return Some(found);
        }
        let c = &mut cache.work.confirm;
        let start = (engine.state_count() >= REVERSE_START_MIN_STATES && !engine.is_anchored())
            .then(|| {
                let budget = FORWARD_START_STEPS_PER_BYTE * (hay.len() + 1);
                c.with_dfa(DfaOf::Anchored(rule), |dfa| {
                    engine.leftmost_start_forward(dfa, hay, budget)
                })
                .or_else(|| c.with_dfa(DfaOf::Start(rule), |dfa| engine.leftmost_start(dfa, hay)))
            })
            .flatten();
        let captures = match start {
            Some(None) => return None,
            Some(Some(at)) => engine.captures_at(&mut c.exact, hay, at),
            None => engine.captures(&mut c.exact, hay),
        }?;
        FirstMatch::of(rule, captures)
    }
}

#[cfg(test)]
mod tests {
    use super::{find_any, first_pattern, is_ascii, which_overlapping_matches, ByteSet};
    use regex_automata::dfa::{dense, Automaton};
    use regex_automata::{Anchored, Input, MatchKind, PatternSet};

    /// `len` bytes drawn from `alphabet` by a small LCG seeded by `seed`.
    fn random_bytes(seed: &mut u32, alphabet: &[u8], len: usize) -> Vec<u8> {
        (0..len)
            .map(|_| {
                *seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                alphabet[(*seed >> 16) as usize % alphabet.len()]
            })
            .collect()
    }

    #[test]
    fn the_walk_finds_what_regex_automata_finds() {
        // Accelerated states (`a[^;]*b`), anchors, look-around, a quit
        // byte (`\b` before 0xFF), inputs across the four-byte steps, the
        // start state of whole-input searches kept from input to input.
        let sets: &[&[&str]] = &[
            &["bot"],
            &["(?i)a[^;]*b", r"x\d+", r"\bcd\b"],
            &["^ab", "b$", "a.{2}c", "zz"],
            &["[a-c]+y", r"\d{3}", "(?i)BC;"],
        ];
        let alphabet = b"abcdxyz;19 \xff";
        let mut seed = 11u32;
        for patterns in sets {
            let dfa = dense::Builder::new()
                .configure(
                    dense::Config::new()
                        .match_kind(MatchKind::All)
                        .unicode_word_boundary(true),
                )
                .build_many(patterns)
                .unwrap();
            // One kept start state for all the inputs, empty ones included.
            let mut kept = None;
            for len in 0..24 {
                for _ in 0..40 {
                    let hay = random_bytes(&mut seed, alphabet, len);
                    // The whole input; anchored at 0 and half-way; not
                    // anchored from half-way.
                    let half = len / 2;
                    for from in [
                        None,
                        Some((0, true)),
                        Some((half, true)),
                        Some((half, false)),
                    ] {
                        let input = match from {
                            None => Input::new(&hay),
                            Some((at, true)) => {
                                Input::new(&hay).range(at..).anchored(Anchored::Yes)
                            }
                            Some((at, false)) => Input::new(&hay).range(at..),
                        };
                        let what = || format!("{patterns:?} on {hay:?} from {from:?}");
                        let mut want = PatternSet::new(dfa.pattern_len());
                        let want = dfa
                            .try_which_overlapping_matches(&input, &mut want)
                            .map(|()| want);
                        let mut got = PatternSet::new(dfa.pattern_len());
                        let got = which_overlapping_matches(&dfa, &input, &mut kept, &mut got)
                            .map(|()| got);
                        assert_eq!(got.is_ok(), want.is_ok(), "{}", what());
                        if let (Ok(got), Ok(want)) = (got, want) {
                            assert_eq!(
                                got.iter().collect::<Vec<_>>(),
                                want.iter().collect::<Vec<_>>(),
                                "{}",
                                what()
                            );
                        }
                        let want = dfa.try_search_fwd(&input.clone().earliest(true));
                        match (first_pattern(&dfa, &input, &mut kept), want) {
                            (Ok(got), Ok(want)) => {
                                // That of the first match state, as regex-automata's.
                                let want = want.map(|m| m.pattern().as_usize());
                                assert_eq!(got, want, "{}", what());
                            }
                            (got, want) => assert_eq!(got.is_ok(), want.is_ok(), "{}", what()),
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn find_any_finds_the_first_of_its_needles() {
        // Bytes that borrow into their neighbours (0x00, 0x01, 0x80, 0xFF)
        // next to the needles.
        let alphabet = [0x00, 0x01, b';', b'/', 0x80, 0xFF, b'a', b':'];
        let mut seed = 7u32;
        for len in 0..40 {
            for _ in 0..50 {
                let hay = random_bytes(&mut seed, &alphabet, len);
                for needles in [&b";"[..], b"/;", b";/:", &[0x00], &[0x01, 0xFF]] {
                    let want = hay.iter().position(|x| needles.contains(x));
                    assert_eq!(find_any(needles, &hay), want, "{needles:?} in {hay:?}");
                }
            }
        }
    }

    #[test]
    fn longest_runs_are_measured_alike_by_gaps_and_by_bytes() {
        // Sets of all bytes but one to three (the gaps between them), and
        // sets of four left out and of a few bytes (a byte at a time).
        let alphabet = [b';', b'/', b')', b'\n', b'a', b' ', 0x00, 0xFF];
        let mut seed = 11u32;
        for outside in [&b"\n"[..], b"/;", b");/", b");/a", b"a ;/)\n"] {
            let mut words = [u32::MAX; 8];
            for &b in outside {
                words[usize::from(b / 32)] &= !(1 << (b % 32));
            }
            let set = ByteSet::new(words);
            assert_eq!(set.outside.is_some(), outside.len() <= 3, "{outside:?}");
            for len in 0..40 {
                for _ in 0..30 {
                    let hay = random_bytes(&mut seed, &alphabet, len);
                    let want = hay
                        .split(|b| outside.contains(b))
                        .map(<[u8]>::len)
                        .max()
                        .unwrap_or(0) as u32;
                    assert_eq!(set.longest_run(&hay), want, "{outside:?} in {hay:?}");
                }
            }
        }
    }

    #[test]
    fn is_ascii_finds_a_high_byte_anywhere() {
        for n in 0..40 {
            let mut bytes = vec![b'a'; n];
            assert!(is_ascii(&bytes));
            for at in 0..n {
                bytes[at] = 0x80;
                assert!(!is_ascii(&bytes), "{n} {at}");
                bytes[at] = b'a';
            }
        }
    }
}
