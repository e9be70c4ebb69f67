//! Compile-at-start baseline: builds, inside wasm, what answers dfabake's three
//! modes with the `regex` crate: a `RegexSet` of every rule (modes `any` and
//! `all`) and one `Regex` per rule (mode `first`: span and captures).
//! Plain ABI without imports:
//! `input(len) -> ptr`; `compile(len) -> i32` (patterns, one a line, 0 = ok,
//! -1 = a pattern failed); `is_match(len) -> i32`; `match_count(len) -> i32`;
//! `first(len) -> i32` (the rule index, -1 for none).
use std::cell::RefCell;

use regex::bytes::{Regex, RegexSet};

#[derive(Default)]
struct State {
    buf: Vec<u8>,
    set: Option<RegexSet>,
    each: Vec<Regex>,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

#[no_mangle]
pub extern "C" fn input(len: u32) -> *mut u8 {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        s.buf.clear();
        s.buf.resize(len as usize, 0);
        s.buf.as_mut_ptr()
    })
}

#[no_mangle]
pub extern "C" fn compile(len: u32) -> i32 {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        let text = match std::str::from_utf8(&s.buf[..len as usize]) {
            Ok(t) => t.to_owned(),
            Err(_) => return -1,
        };
        let patterns: Vec<&str> = text.split('\n').filter(|p| !p.is_empty()).collect();
        let Ok(set) = RegexSet::new(&patterns) else { return -1 };
        let mut each = Vec::with_capacity(patterns.len());
        for p in &patterns {
            match Regex::new(p) {
                Ok(r) => each.push(r),
                Err(_) => return -1,
            }
        }
        s.set = Some(set);
        s.each = each;
        0
    })
}

#[no_mangle]
pub extern "C" fn is_match(len: u32) -> i32 {
    STATE.with(|s| {
        let s = s.borrow();
        s.set.as_ref().is_some_and(|set| set.is_match(&s.buf[..len as usize])) as i32
    })
}

#[no_mangle]
pub extern "C" fn match_count(len: u32) -> i32 {
    STATE.with(|s| {
        let s = s.borrow();
        s.set.as_ref().map_or(0, |set| set.matches(&s.buf[..len as usize]).iter().count()) as i32
    })
}

#[no_mangle]
pub extern "C" fn first(len: u32) -> i32 {
    STATE.with(|s| {
        let s = s.borrow();
        let hay = &s.buf[..len as usize];
        let Some(set) = s.set.as_ref() else { return -1 };
        for i in set.matches(hay).iter() {
            if s.each[i].captures(hay).is_some() {
                return i as i32;
            }
        }
        -1
    })
}
