//! `dfabake._dfabake`: the native half of the `dfabake` Python package.
//!
//! A `PyMatcher` (`dfabake.Matcher` in Python) reads the database baked into
//! a `matcher.wasm` with the `dfabake-matcher` library, natively: no wasm
//! runtime and no regex compiled at start. `Matcher.open` memory-maps the module; when the database sits
//! at an 8-aligned offset of the file (modules baked by this dfabake), it is
//! read in place from the mapping, so every process that opens the same file,
//! and every worker forked after loading, shares its pages. Otherwise the
//! database (not the module) is copied once into an aligned buffer.
//!
//! Threads: one [`dfabake_matcher::Matcher`] over the verified database
//! serves every thread (it is `Sync`: its DFAs and exact engines are built
//! once, on first use, and shared); each search brings its scratch space, a
//! `Cache`, from a small pool. A search takes a cache from the pool, runs with
//! the GIL released, and puts it back; with more threads searching at once
//! than caches pooled, a new one is made (microseconds). The pool is a fixed
//! array of atomic slots, not a lock: a `fork()` can never leave a child
//! waiting for a lock that a thread of the parent held (such a thread simply
//! does not exist in the child, and the cache it had taken is not in the
//! child's pool).
// A cdylib: no Rust caller sees these items, yet their doc comments are the
// Python docstrings, so a missing one is a gap in `help(dfabake)`.
#![warn(missing_docs)]

use std::borrow::Cow;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use dfabake_matcher::format::{AlignedBytes, Database, FormatError};
use dfabake_matcher::module::find_database;
use dfabake_matcher::{Cache, Matcher as NativeMatcher};
use memmap2::Mmap;
use pyo3::basic::CompareOp;
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyOSError, PyTypeError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyByteArray, PyBytes, PyList, PyMemoryView, PyString, PyTuple};
use sha2::{Digest, Sha256};

mod json;

create_exception!(
    dfabake,
    DfabakeError,
    PyException,
    "Base class of every error the dfabake package raises."
);
create_exception!(
    dfabake,
    CorruptModule,
    DfabakeError,
    "The module is not a usable dfabake matcher: truncated, corrupted (failed \
     verification), not a wasm module, an unbaked template, or a database \
     format this package does not read."
);

/// Where the module's bytes live. Only the database inside is searched; the
/// whole module is kept for `sha256`, computed when first asked.
enum ModuleBytes {
    Mapped(Mmap),
    Python(Py<PyBytes>),
}

/// How many search caches a `Matcher` keeps for reuse. Beyond this many
/// threads searching at once, the extra caches are dropped after use.
const POOL_SLOTS: usize = 32;

/// A lock-free pool of search caches: each slot holds one or is null.
struct Pool {
    slots: [AtomicPtr<Cache>; POOL_SLOTS],
}

// Caches move between threads through the pool; the matcher is shared.
// The pool's `AtomicPtr`s would hide a non-`Send` cache from the compiler,
// so check both here.
const _: fn() = || {
    fn send<T: Send>() {}
    fn shared<T: Send + Sync>() {}
    send::<Cache>();
    shared::<NativeMatcher<'static>>();
};

impl Pool {
    fn new() -> Pool {
        Pool {
            slots: std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
        }
    }

    fn take(&self) -> Option<Box<Cache>> {
        for slot in &self.slots {
            if slot.load(Ordering::Relaxed).is_null() {
                continue;
            }
            let p = slot.swap(ptr::null_mut(), Ordering::Acquire);
            if !p.is_null() {
                // SAFETY: every non-null slot holds a pointer from
                // `Box::into_raw` in `put`, and the swap made it ours alone.
                return Some(unsafe { Box::from_raw(p) });
            }
        }
        None
    }

    fn put(&self, m: Box<Cache>) {
        let p = Box::into_raw(m);
        for slot in &self.slots {
            if slot
                .compare_exchange(ptr::null_mut(), p, Ordering::Release, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
        }
        // SAFETY: `p` came from `Box::into_raw` above and no slot took it.
        drop(unsafe { Box::from_raw(p) });
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        for slot in &mut self.slots {
            let p = *slot.get_mut();
            if !p.is_null() {
                // SAFETY: as in `take`; `&mut self` means no other user.
                drop(unsafe { Box::from_raw(p) });
            }
        }
    }
}

/// A verified database, its matcher, and what owns its bytes.
///
/// Field order is drop order: the matcher borrows the bytes of `db_copy`
/// or `module`, which are dropped after it.
struct Loaded {
    matcher: NativeMatcher<'static>,
    pool: Pool,
    rule_count: usize,
    checksum: u64,
    _db_copy: Option<AlignedBytes>,
    module: ModuleBytes,
    in_place: bool,
}

impl Loaded {
    /// Finds, aligns and (if `verify`) verifies the database of the
    /// module held in `module` (`wasm` being its bytes).
    fn new(module: ModuleBytes, wasm: &[u8], verify: bool) -> Result<Loaded, FormatError> {
        let db = find_database(wasm)?;
        let in_place = (db.as_ptr() as usize).is_multiple_of(8);
        let db_copy = (!in_place).then(|| AlignedBytes::copy_from(db));
        let bytes: &[u8] = match &db_copy {
            Some(copy) => copy.as_bytes(),
            None => db,
        };
        // SAFETY: the bytes belong to `db_copy` or to `module` (a memory
        // map, a Python bytes object or a heap buffer: immutable, at a fixed
        // address when the struct moves), moved into the returned struct,
        // which drops the matcher borrowing them first. `'static` stands
        // for "as long as that struct".
        let bytes: &'static [u8] =
            unsafe { std::slice::from_raw_parts(bytes.as_ptr(), bytes.len()) };
        let db = if verify {
            // Checksum and structure now; each DFA when a search first runs
            // it (O(rules + shards) to load, never an unchecked DFA).
            Database::from_bytes_lazy(bytes)?
        } else {
            // SAFETY: the caller vouched for the module (`verify=False` is
            // documented as "only for a module you trust").
            unsafe { Database::from_bytes_unchecked(bytes)? }
        };
        let (rule_count, checksum) = (db.rule_count(), db.checksum());
        Ok(Loaded {
            matcher: NativeMatcher::new(db),
            pool: Pool::new(),
            rule_count,
            checksum,
            _db_copy: db_copy,
            module,
            in_place,
        })
    }

    /// Runs `f` with the matcher and a search cache of the pool (or a new one).
    fn with<T>(&self, f: impl FnOnce(&NativeMatcher<'static>, &mut Cache) -> T) -> T {
        struct Lease<'p> {
            pool: &'p Pool,
            cache: Option<Box<Cache>>,
        }
        impl Drop for Lease<'_> {
            fn drop(&mut self) {
                // A cache whose search panicked may be half-updated: drop it
                // rather than pool it.
                if let Some(c) = self.cache.take() {
                    if !std::thread::panicking() {
                        self.pool.put(c);
                    }
                }
            }
        }
        let cache = self
            .pool
            .take()
            .unwrap_or_else(|| Box::new(self.matcher.create_cache()));
        let mut lease = Lease {
            pool: &self.pool,
            cache: Some(cache),
        };
        f(&self.matcher, lease.cache.as_mut().unwrap())
    }

    /// Rule `i`'s id and payload as JSON text.
    fn rule_json(&self, i: usize) -> (&'static str, Option<&'static str>) {
        let r = self.matcher.database().rule(i);
        (r.id_json(), r.payload_json())
    }
}

/// An input: its bytes, and whether it was a `str` (answers in characters).
struct Hay<'a> {
    bytes: Cow<'a, [u8]>,
    is_str: bool,
}

impl<'a> Hay<'a> {
    fn extract(obj: &'a Bound<'_, PyAny>) -> PyResult<Hay<'a>> {
        if let Ok(s) = obj.cast::<PyString>() {
            return match s.to_str() {
                Ok(s) => Ok(Hay {
                    bytes: Cow::Borrowed(s.as_bytes()),
                    is_str: true,
                }),
                // Lone surrogates: match their surrogatepass encoding (3
                // bytes, one lead byte each, so character offsets still
                // count right), as `re` matches any str.
                Err(_) => {
                    let b = s.call_method1("encode", ("utf-8", "surrogatepass"))?;
                    let b = b.cast::<PyBytes>()?;
                    Ok(Hay {
                        bytes: Cow::Owned(b.as_bytes().to_vec()),
                        is_str: true,
                    })
                }
            };
        }
        if let Ok(b) = obj.cast::<PyBytes>() {
            return Ok(Hay {
                bytes: Cow::Borrowed(b.as_bytes()),
                is_str: false,
            });
        }
        if let Ok(b) = obj.cast::<PyByteArray>() {
            // Copied: a bytearray can change while the GIL is released.
            return Ok(Hay {
                bytes: Cow::Owned(b.to_vec()),
                is_str: false,
            });
        }
        Err(PyTypeError::new_err(format!(
            "dfabake matches str, bytes or bytearray, not {}",
            obj.get_type().name()?
        )))
    }

    /// The offset to report for byte offset `at`: itself for bytes and ASCII
    /// text, the number of characters before it for other text (an offset
    /// inside a character, possible only with `(?-u)` byte patterns, counts
    /// that character).
    fn offset(&self, ascii: bool, at: usize) -> usize {
        if !self.is_str || ascii {
            return at;
        }
        self.bytes[..at]
            .iter()
            .filter(|&&b| (b as i8) >= -0x40)
            .count()
    }
}

/// A rule that matched: its id and payload (`None` when the rule has none).
#[pyclass(frozen, module = "dfabake", name = "Match")]
struct Match {
    /// The rule's id (int or str), as written in the rules.
    #[pyo3(get)]
    id: Py<PyAny>,
    /// The rule's payload as a Python object (shared between answers: treat
    /// it as read-only), or None.
    #[pyo3(get)]
    payload: Py<PyAny>,
}

/// The answer of `==` / `!=` given whether two results are equal; other
/// comparisons are not defined for them.
fn compared(py: Python<'_>, op: CompareOp, eq: bool) -> PyResult<Py<PyAny>> {
    match op {
        CompareOp::Eq => Ok(eq.into_pyobject(py)?.to_owned().into_any().unbind()),
        CompareOp::Ne => Ok((!eq).into_pyobject(py)?.to_owned().into_any().unbind()),
        _ => Ok(py.NotImplemented()),
    }
}

#[pymethods]
impl Match {
    #[new]
    fn new(id: Py<PyAny>, payload: Py<PyAny>) -> Match {
        Match { id, payload }
    }

    #[classattr]
    fn __match_args__() -> (&'static str, &'static str) {
        ("id", "payload")
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Match(id={}, payload={})",
            self.id.bind(py).repr()?,
            self.payload.bind(py).repr()?
        ))
    }

    fn __richcmp__(
        &self,
        py: Python<'_>,
        other: &Bound<'_, PyAny>,
        op: CompareOp,
    ) -> PyResult<Py<PyAny>> {
        let Ok(other) = other.cast::<Match>() else {
            return Ok(py.NotImplemented());
        };
        let other = other.get();
        let eq = self.id.bind(py).eq(other.id.bind(py))?
            && self.payload.bind(py).eq(other.payload.bind(py))?;
        compared(py, op, eq)
    }

    fn __hash__(&self, py: Python<'_>) -> PyResult<isize> {
        // Payloads may be unhashable (dicts); equal matches have equal ids.
        self.id.bind(py).hash()
    }
}

/// The highest-priority matching rule with its leftmost-first span and
/// capture groups: offsets in characters for a str input, in bytes for bytes.
#[pyclass(frozen, module = "dfabake", name = "FirstMatch")]
struct FirstMatch {
    /// The rule's id.
    #[pyo3(get)]
    id: Py<PyAny>,
    /// Where the match starts.
    #[pyo3(get)]
    start: usize,
    /// Where the match ends.
    #[pyo3(get)]
    end: usize,
    /// The rule's payload, or None.
    #[pyo3(get)]
    payload: Py<PyAny>,
    /// `captures[i]` is group i as `(start, end)`, or None when the group did
    /// not take part; group 0 is the whole match.
    #[pyo3(get)]
    captures: Py<PyTuple>,
}

#[pymethods]
impl FirstMatch {
    #[new]
    fn new(
        id: Py<PyAny>,
        start: usize,
        end: usize,
        payload: Py<PyAny>,
        captures: Py<PyTuple>,
    ) -> FirstMatch {
        FirstMatch {
            id,
            start,
            end,
            payload,
            captures,
        }
    }

    #[classattr]
    fn __match_args__() -> (
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
    ) {
        ("id", "start", "end", "payload", "captures")
    }

    /// `(start, end)`, as `re.Match.span()`.
    fn span(&self) -> (usize, usize) {
        (self.start, self.end)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "FirstMatch(id={}, start={}, end={}, payload={}, captures={})",
            self.id.bind(py).repr()?,
            self.start,
            self.end,
            self.payload.bind(py).repr()?,
            self.captures.bind(py).repr()?
        ))
    }

    fn __richcmp__(
        &self,
        py: Python<'_>,
        other: &Bound<'_, PyAny>,
        op: CompareOp,
    ) -> PyResult<Py<PyAny>> {
        let Ok(other) = other.cast::<FirstMatch>() else {
            return Ok(py.NotImplemented());
        };
        let o = other.get();
        let eq = self.start == o.start
            && self.end == o.end
            && self.id.bind(py).eq(o.id.bind(py))?
            && self.payload.bind(py).eq(o.payload.bind(py))?
            && self.captures.bind(py).eq(o.captures.bind(py))?;
        compared(py, op, eq)
    }

    fn __hash__(&self, py: Python<'_>) -> PyResult<isize> {
        (self.id.bind(py), self.start, self.end)
            .into_pyobject(py)?
            .hash()
    }
}

/// Rules baked by `dfabake build`, read natively from `DIR/matcher.wasm`.
///
/// Safe to share between threads (searches release the GIL) and across
/// `fork()` (load before forking: the pages stay shared).
#[pyclass(frozen, module = "dfabake", name = "Matcher")]
struct PyMatcher {
    loaded: Loaded,
    /// Per rule, its `Match` (id and payload parsed once, when first needed).
    rule_matches: Box<[PyOnceLock<Py<Match>>]>,
    sha256: PyOnceLock<String>,
    path: Option<PathBuf>,
    verified: bool,
}

fn corrupt(source: &str, e: FormatError) -> PyErr {
    let hint = match e {
        FormatError::NoDatabase
        | FormatError::UnsupportedVersion(_)
        | FormatError::BadModule(_) => " (a matcher.wasm written by `dfabake build` is expected)",
        _ => " (rebuild it with `dfabake build`)",
    };
    CorruptModule::new_err(format!("{source}: {e}{hint}"))
}

fn os_error(path: &Path, what: &str, e: std::io::Error) -> PyErr {
    let mut message = e.to_string();
    if let Some(at) = message.find(" (os error") {
        message.truncate(at);
    }
    // OSError(errno, strerror, filename) becomes FileNotFoundError,
    // PermissionError, ... by errno, with the path in its message.
    PyOSError::new_err((
        e.raw_os_error().unwrap_or(0),
        format!("{what}: {message}"),
        path.display().to_string(),
    ))
}

impl PyMatcher {
    fn from_loaded(loaded: Loaded, path: Option<PathBuf>, verified: bool) -> PyMatcher {
        let rule_matches = (0..loaded.rule_count).map(|_| PyOnceLock::new()).collect();
        PyMatcher {
            loaded,
            rule_matches,
            sha256: PyOnceLock::new(),
            path,
            verified,
        }
    }

    fn rule_match<'py>(&self, py: Python<'py>, rule: u32) -> PyResult<&Py<Match>> {
        self.rule_matches[rule as usize].get_or_try_init(py, || {
            let (id, payload) = self.loaded.rule_json(rule as usize);
            let parse = |what: &str, text: &str| {
                json::to_python(py, text).map_err(|e| {
                    CorruptModule::new_err(format!(
                        "rule {rule}: its {what} is not valid JSON ({e}): {text:.80}"
                    ))
                })
            };
            let id = parse("id", id)?;
            let payload = match payload {
                Some(p) => parse("payload", p)?,
                None => py.None(),
            };
            Py::new(py, Match { id, payload })
        })
    }

    fn match_list<'py>(&self, py: Python<'py>, rules: &[u32]) -> PyResult<Bound<'py, PyList>> {
        let items = rules
            .iter()
            .map(|&r| self.rule_match(py, r).map(|m| m.clone_ref(py)))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    fn first_match(
        &self,
        py: Python<'_>,
        hay: &Hay<'_>,
        ascii: bool,
        found: Option<dfabake_matcher::FirstMatch>,
    ) -> PyResult<Option<Py<FirstMatch>>> {
        let Some(f) = found else {
            return Ok(None);
        };
        let m = self.rule_match(py, f.rule)?.get();
        let captures = f
            .captures
            .iter()
            .map(|g| match g {
                Some((s, e)) => (hay.offset(ascii, *s), hay.offset(ascii, *e))
                    .into_pyobject(py)
                    .map(|t| t.into_any().unbind()),
                None => Ok(py.None()),
            })
            .collect::<PyResult<Vec<_>>>()?;
        let fm = FirstMatch {
            id: m.id.clone_ref(py),
            start: hay.offset(ascii, f.start),
            end: hay.offset(ascii, f.end),
            payload: m.payload.clone_ref(py),
            captures: PyTuple::new(py, captures)?.unbind(),
        };
        Ok(Some(Py::new(py, fm)?))
    }
}

#[pymethods]
impl PyMatcher {
    /// Opens `DIR/matcher.wasm` (or `DIR` itself, meaning its matcher.wasm),
    /// memory-mapped. `verify` checks the database (checksum, structure,
    /// exact programs, ids and payloads) now and each DFA before its first
    /// search; pass False only for a module you trust.
    #[staticmethod]
    #[pyo3(signature = (path, verify = true))]
    fn open(py: Python<'_>, path: PathBuf, verify: bool) -> PyResult<PyMatcher> {
        let path = if path.is_dir() {
            path.join("matcher.wasm")
        } else {
            path
        };
        let loaded = py.detach(|| -> Result<Loaded, PyErr> {
            let file = File::open(&path)
                .map_err(|e| os_error(&path, "cannot open the dfabake module", e))?;
            // SAFETY: the mapping is read-only and private; `dfabake build`
            // replaces outputs by renaming, never by writing into the old
            // file, so its pages cannot change under us. (A file truncated
            // in place by someone else would fault; documented.)
            let map = unsafe { Mmap::map(&file) }
                .map_err(|e| os_error(&path, "cannot map the dfabake module", e))?;
            let wasm: &[u8] = unsafe { std::slice::from_raw_parts(map.as_ptr(), map.len()) };
            Loaded::new(ModuleBytes::Mapped(map), wasm, verify)
                .map_err(|e| corrupt(&path.display().to_string(), e))
        })?;
        Ok(PyMatcher::from_loaded(loaded, Some(path), verify))
    }

    /// A matcher over the module in `data` (bytes-like: the contents of a
    /// matcher.wasm). `verify` as for `open`.
    #[staticmethod]
    #[pyo3(signature = (data, verify = true))]
    fn from_bytes(py: Python<'_>, data: &Bound<'_, PyAny>, verify: bool) -> PyResult<PyMatcher> {
        let bytes: Bound<'_, PyBytes> = if let Ok(b) = data.cast::<PyBytes>() {
            b.clone()
        } else if let Ok(b) = data.cast::<PyByteArray>() {
            PyBytes::new(py, &b.to_vec())
        } else if let Ok(view) = py.get_type::<PyMemoryView>().call1((data,)) {
            // memoryview, array.array, mmap.mmap, ...: one copy.
            view.call_method0("tobytes")?.cast_into::<PyBytes>()?
        } else {
            return Err(PyTypeError::new_err(format!(
                "Matcher.from_bytes takes a bytes-like object (a matcher.wasm's contents), not {}",
                data.get_type().name()?
            )));
        };
        let owned = bytes.clone().unbind();
        let wasm = bytes.as_bytes();
        // SAFETY: the bytes object is immutable and kept alive by `owned`,
        // which moves into the `Loaded` that borrows it.
        let wasm: &[u8] = unsafe { std::slice::from_raw_parts(wasm.as_ptr(), wasm.len()) };
        let loaded = py
            .detach(|| Loaded::new(ModuleBytes::Python(owned), wasm, verify))
            .map_err(|e| corrupt("module bytes", e))?;
        Ok(PyMatcher::from_loaded(loaded, None, verify))
    }

    /// Whether any rule matches anywhere in `s` (str or bytes).
    #[pyo3(signature = (s, /))]
    fn is_match(&self, py: Python<'_>, s: &Bound<'_, PyAny>) -> PyResult<bool> {
        let hay = Hay::extract(s)?;
        let bytes: &[u8] = &hay.bytes;
        Ok(py.detach(|| self.loaded.with(|m, c| m.is_match(c, bytes))))
    }

    /// Every rule matching anywhere in `s`, each once, in priority order.
    #[pyo3(signature = (s, /))]
    fn matches<'py>(&self, py: Python<'py>, s: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        let hay = Hay::extract(s)?;
        let bytes: &[u8] = &hay.bytes;
        let rules = py.detach(|| {
            let mut out = Vec::new();
            self.loaded.with(|m, c| m.matches_into(c, bytes, &mut out));
            out
        });
        self.match_list(py, &rules)
    }

    /// The highest-priority rule matching `s`, with the span and captures of
    /// its leftmost-first match (as `re.search` for that rule), or None.
    #[pyo3(signature = (s, /))]
    fn first(&self, py: Python<'_>, s: &Bound<'_, PyAny>) -> PyResult<Option<Py<FirstMatch>>> {
        let hay = Hay::extract(s)?;
        let bytes: &[u8] = &hay.bytes;
        let is_str = hay.is_str;
        let (found, ascii) = py.detach(|| {
            let found = self.loaded.with(|m, c| m.first(c, bytes));
            let ascii = !is_str || found.is_none() || bytes.is_ascii();
            (found, ascii)
        });
        self.first_match(py, &hay, ascii, found)
    }

    /// `matches` for each input of `inputs`, with one release of the GIL.
    #[pyo3(signature = (inputs, /))]
    fn matches_many<'py>(
        &self,
        py: Python<'py>,
        inputs: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let objs = inputs
            .try_iter()?
            .collect::<PyResult<Vec<Bound<'py, PyAny>>>>()?;
        let hays = objs
            .iter()
            .map(Hay::extract)
            .collect::<PyResult<Vec<_>>>()?;
        let slices: Vec<&[u8]> = hays.iter().map(|h| &*h.bytes).collect();
        let answers = py.detach(|| {
            self.loaded.with(|m, c| {
                slices
                    .iter()
                    .map(|hay| {
                        let mut out = Vec::new();
                        m.matches_into(c, hay, &mut out);
                        out
                    })
                    .collect::<Vec<_>>()
            })
        });
        let lists = answers
            .iter()
            .map(|rules| self.match_list(py, rules))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, lists)
    }

    /// Number of rules.
    fn __len__(&self) -> usize {
        self.loaded.rule_count
    }

    /// The rule ids, in priority order (a new list).
    #[getter]
    fn rules<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let ids = (0..self.loaded.rule_count as u32)
            .map(|r| self.rule_match(py, r).map(|m| m.get().id.clone_ref(py)))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, ids)
    }

    /// SHA-256 of the module (hex), as in the manifest and `dfabake-host`.
    #[getter]
    fn sha256(&self, py: Python<'_>) -> String {
        self.sha256
            .get_or_init(py, || {
                let digest = match &self.loaded.module {
                    ModuleBytes::Mapped(map) => py.detach(|| Sha256::digest(&map[..])),
                    ModuleBytes::Python(b) => Sha256::digest(b.bind(py).as_bytes()),
                };
                digest.iter().map(|b| format!("{b:02x}")).collect()
            })
            .clone()
    }

    /// The path opened (`None` for `from_bytes`).
    #[getter]
    fn path(&self) -> Option<String> {
        self.path.as_ref().map(|p| p.display().to_string())
    }

    /// Whether the database was verified when loaded.
    #[getter]
    fn verified(&self) -> bool {
        self.verified
    }

    /// Whether the database is read in place from the module's bytes (the
    /// memory map, for `open`) rather than from an aligned copy.
    #[getter]
    fn in_place(&self) -> bool {
        self.loaded.in_place
    }

    /// The database checksum (XXH3-64, hex), as `dfabake inspect` shows it.
    #[getter]
    fn checksum(&self) -> String {
        format!("{:016x}", self.loaded.checksum)
    }

    fn __repr__(&self) -> String {
        let source = match &self.path {
            Some(p) => format!("{:?}", p.display().to_string()),
            None => "<bytes>".to_string(),
        };
        format!(
            "<dfabake.Matcher {source}, {} rules, checksum {:016x}>",
            self.loaded.rule_count, self.loaded.checksum
        )
    }
}

/// The JSON reader the package uses for ids and payloads (exposed for the
/// tests, which compare it with `json.loads`). Raises ValueError.
#[pyfunction]
fn _json_to_python(py: Python<'_>, text: &str) -> PyResult<Py<PyAny>> {
    json::to_python(py, text).map_err(pyo3::exceptions::PyValueError::new_err)
}

#[pymodule]
fn _dfabake(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<PyMatcher>()?;
    m.add_function(wrap_pyfunction!(_json_to_python, m)?)?;
    m.add_class::<Match>()?;
    m.add_class::<FirstMatch>()?;
    m.add("DfabakeError", py.get_type::<DfabakeError>())?;
    m.add("CorruptModule", py.get_type::<CorruptModule>())?;
    m.add("FORMAT_VERSION", dfabake_matcher::format::VERSION)?;
    Ok(())
}
