//! The `wasm-bindgen` flavour of the matcher, for JavaScript hosts (Node,
//! Cloudflare Workers / workerd, browsers, bundlers).
//!
//! Same database, same locator and same three modes as the plain
//! [`crate::abi`]; results come back as plain JS values built with
//! `serde-wasm-bindgen` instead of JSON text. The shapes are those of
//! [`crate::json`], so `JSON.parse` of the host's output deep-equals what
//! these functions return:
//!
//! * [`is_match`]: `boolean` (the host's mode `any`, non-empty);
//! * [`matches`]: `[{id, payload}]` for every matching rule, in priority order
//!   (mode `all`);
//! * [`first`]: `{id, start, end, payload, captures} | null` (mode `first`),
//!   with byte offsets into the input (the UTF-8 encoding of a string input).
//!
//! Rule ids and payloads are stored as JSON text in the database and handed to
//! `JSON.parse`, so numbers, strings and objects come out exactly as a JS
//! consumer of the host's JSON would see them. Every call returns fresh
//! objects.
//!
//! Each export exists for bytes (`Uint8Array`) and for strings (`_str`,
//! encoded by wasm-bindgen straight into linear memory); the package's JS
//! wrapper picks one by the input's type.
//!
//! The package's entry points call [`verify`] once, when they instantiate
//! the module (unless the caller opts out): a module damaged or tampered
//! with after the build is refused before it answers anything, and a
//! failed verification makes every later call throw its error too. The
//! verified database (its DFAs already deserialized, checked) is the one
//! matched; without verification it is read in place, unchecked, on first
//! use.

use alloc::string::ToString;
use alloc::vec::Vec;
use core::cell::RefCell;

use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::format::Database;
use crate::locator::database_bytes;
use crate::matcher::{Cache, Matcher};

struct State {
    matcher: Option<Matcher<'static>>,
    cache: Option<Cache>,
    scratch: Vec<u32>,
    /// Why verification refused the database: every call answers with it.
    refused: Option<alloc::string::String>,
}

std::thread_local! {
    static STATE: RefCell<State> = const {
        RefCell::new(State { matcher: None, cache: None, scratch: Vec::new(), refused: None })
    };
}

fn with_matcher<T>(
    f: impl FnOnce(&Matcher<'static>, &mut Cache, &mut Vec<u32>) -> Result<T, JsError>,
) -> Result<T, JsError> {
    STATE.with(|cell| {
        let mut st = cell.borrow_mut();
        let st = &mut *st;
        if let Some(why) = &st.refused {
            return Err(JsError::new(why));
        }
        if st.matcher.is_none() {
            // SAFETY: the builder fully verified this database natively when
            // it baked it into the module, and the package's entry points
            // run `verify()` at load unless their caller opted out.
            let db = unsafe { Database::from_bytes_unchecked(database_bytes()) }
                .map_err(|e| JsError::new(&alloc::format!("dfabake: no usable database: {e}")))?;
            st.matcher = Some(Matcher::new(db));
        }
        let matcher = st.matcher.as_ref().unwrap();
        let cache = st.cache.get_or_insert_with(|| matcher.create_cache());
        f(matcher, cache, &mut st.scratch)
    })
}

/// Parses a JSON text the builder wrote (an id or a payload).
fn json_value(text: &str) -> Result<JsValue, JsError> {
    js_sys::JSON::parse(text).map_err(|_| JsError::new("dfabake: bad JSON in database"))
}

#[derive(Serialize)]
struct Hit {
    #[serde(with = "serde_wasm_bindgen::preserve")]
    id: JsValue,
    #[serde(with = "serde_wasm_bindgen::preserve")]
    payload: JsValue,
}

#[derive(Serialize)]
struct First {
    #[serde(with = "serde_wasm_bindgen::preserve")]
    id: JsValue,
    start: usize,
    end: usize,
    #[serde(with = "serde_wasm_bindgen::preserve")]
    payload: JsValue,
    captures: Vec<Option<(usize, usize)>>,
}

fn serializer() -> serde_wasm_bindgen::Serializer {
    serde_wasm_bindgen::Serializer::json_compatible()
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsError> {
    value
        .serialize(&serializer())
        .map_err(|e| JsError::new(&e.to_string()))
}

fn rule_values(db: &Database<'_>, rule: u32) -> Result<(JsValue, JsValue), JsError> {
    let r = db.rule(rule as usize);
    let payload = match r.payload_json() {
        Some(p) => json_value(p)?,
        None => JsValue::NULL,
    };
    Ok((json_value(r.id_json())?, payload))
}

fn do_is_match(hay: &[u8]) -> Result<bool, JsError> {
    with_matcher(|m, cache, _| Ok(m.is_match(cache, hay)))
}

fn do_matches(hay: &[u8]) -> Result<JsValue, JsError> {
    with_matcher(|m, cache, scratch| {
        m.matches_into(cache, hay, scratch);
        let db = m.database();
        let hits = scratch
            .iter()
            .map(|&rule| rule_values(db, rule).map(|(id, payload)| Hit { id, payload }))
            .collect::<Result<Vec<_>, _>>()?;
        to_js(&hits)
    })
}

fn do_first(hay: &[u8]) -> Result<JsValue, JsError> {
    with_matcher(|m, cache, _| match m.first(cache, hay) {
        None => Ok(JsValue::NULL),
        Some(f) => {
            let (id, payload) = rule_values(m.database(), f.rule)?;
            to_js(&First {
                id,
                start: f.start,
                end: f.end,
                payload,
                captures: f.captures,
            })
        }
    })
}

/// Whether any rule matches anywhere in `input`.
#[wasm_bindgen]
pub fn is_match(input: &[u8]) -> Result<bool, JsError> {
    do_is_match(input)
}

/// [`is_match`] for a string (matched as its UTF-8 encoding).
#[wasm_bindgen]
pub fn is_match_str(input: &str) -> Result<bool, JsError> {
    do_is_match(input.as_bytes())
}

/// Every matching rule, in priority order: `[{id, payload}]`.
#[wasm_bindgen]
pub fn matches(input: &[u8]) -> Result<JsValue, JsError> {
    do_matches(input)
}

/// [`matches`] for a string.
#[wasm_bindgen]
pub fn matches_str(input: &str) -> Result<JsValue, JsError> {
    do_matches(input.as_bytes())
}

/// The highest-priority match: `{id, start, end, payload, captures}` or `null`.
#[wasm_bindgen]
pub fn first(input: &[u8]) -> Result<JsValue, JsError> {
    do_first(input)
}

/// [`first`] for a string; offsets are into its UTF-8 encoding.
#[wasm_bindgen]
pub fn first_str(input: &str) -> Result<JsValue, JsError> {
    do_first(input.as_bytes())
}

/// Number of rules in the baked database.
#[wasm_bindgen]
pub fn rule_count() -> Result<u32, JsError> {
    with_matcher(|m, _, _| Ok(m.database().rule_count() as u32))
}

/// Fully verifies the baked database (checksum, structure, every DFA and
/// exact program, ids and payloads, every rule reachable); O(size). Throws
/// on a corrupt database, and every later call throws the same error.
#[wasm_bindgen]
pub fn verify() -> Result<(), JsError> {
    let db = Database::from_bytes(database_bytes()).map_err(|e| {
        let why = alloc::format!("dfabake: the baked database failed verification: {e}");
        STATE.with(|cell| cell.borrow_mut().refused = Some(why.clone()));
        JsError::new(&why)
    })?;
    STATE.with(|cell| {
        let mut st = cell.borrow_mut();
        // Keep the checked database: its DFAs are deserialized already.
        if st.matcher.is_none() {
            st.matcher = Some(Matcher::new(db));
        }
    });
    Ok(())
}
