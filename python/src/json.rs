//! A rule's id and payload (JSON text, as the builder wrote it) to the
//! Python objects `json.loads` would make, without importing `json`: that
//! import (and the `re` it imports) costs a fresh process milliseconds before
//! its first answer.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyInt, PyList, PyString};

/// Nesting deeper than this is refused (as `json.loads` refuses deep nesting
/// with a RecursionError); the builder's serde_json stops at 128.
const MAX_DEPTH: usize = 512;

/// Parses one JSON value filling all of `text`.
pub fn to_python(py: Python<'_>, text: &str) -> Result<Py<PyAny>, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
        py,
    };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.error("trailing characters"));
    }
    Ok(v.unbind())
}

struct Parser<'a, 'py> {
    s: &'a [u8],
    i: usize,
    py: Python<'py>,
}

impl<'py> Parser<'_, 'py> {
    fn error(&self, what: &str) -> String {
        format!("{what} at byte {}", self.i)
    }

    fn py_err(&self, e: PyErr) -> String {
        self.error(&e.to_string())
    }

    fn ws(&mut self) {
        while matches!(self.s.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), String> {
        if self.s[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(self.error("invalid literal"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Bound<'py, PyAny>, String> {
        if depth > MAX_DEPTH {
            return Err(self.error("nesting too deep"));
        }
        let py = self.py;
        match self.s.get(self.i) {
            Some(b'{') => {
                self.i += 1;
                let dict = PyDict::new(py);
                self.ws();
                if self.s.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(dict.into_any());
                }
                loop {
                    self.ws();
                    if self.s.get(self.i) != Some(&b'"') {
                        return Err(self.error("expected a string key"));
                    }
                    let key = self.string()?;
                    self.ws();
                    if self.s.get(self.i) != Some(&b':') {
                        return Err(self.error("expected ':'"));
                    }
                    self.i += 1;
                    self.ws();
                    let v = self.value(depth + 1)?;
                    dict.set_item(key, v).map_err(|e| self.py_err(e))?;
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(dict.into_any());
                        }
                        _ => return Err(self.error("expected ',' or '}'")),
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let list = PyList::empty(py);
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(list.into_any());
                }
                loop {
                    self.ws();
                    let v = self.value(depth + 1)?;
                    list.append(v).map_err(|e| self.py_err(e))?;
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(list.into_any());
                        }
                        _ => return Err(self.error("expected ',' or ']'")),
                    }
                }
            }
            Some(b'"') => {
                let s = self.string()?;
                Ok(PyString::new(py, &s).into_any())
            }
            Some(b't') => {
                self.literal(b"true")?;
                Ok(true.into_pyobject(py).unwrap().to_owned().into_any())
            }
            Some(b'f') => {
                self.literal(b"false")?;
                Ok(false.into_pyobject(py).unwrap().to_owned().into_any())
            }
            Some(b'n') => {
                self.literal(b"null")?;
                Ok(py.None().into_bound(py))
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("unexpected character")),
            None => Err(self.error("unexpected end")),
        }
    }

    fn number(&mut self) -> Result<Bound<'py, PyAny>, String> {
        let start = self.i;
        let mut float = false;
        while let Some(&c) = self.s.get(self.i) {
            match c {
                b'0'..=b'9' | b'-' | b'+' => {}
                b'.' | b'e' | b'E' => float = true,
                _ => break,
            }
            self.i += 1;
        }
        // ASCII by the loop above.
        let text = std::str::from_utf8(&self.s[start..self.i]).unwrap();
        let py = self.py;
        if float {
            // Correctly rounded, as Python's float(); 1e400 is inf in both.
            let v: f64 = text.parse().map_err(|_| self.error("invalid number"))?;
            return Ok(PyFloat::new(py, v).into_any());
        }
        if let Ok(v) = text.parse::<i64>() {
            return Ok(v.into_pyobject(py).unwrap().into_any());
        }
        // Beyond 64 bits: Python's int() takes any size, as json.loads does.
        if text
            .bytes()
            .skip(usize::from(text.starts_with('-')))
            .all(|c| c.is_ascii_digit())
            && text != "-"
        {
            return py
                .get_type::<PyInt>()
                .call1((text,))
                .map_err(|e| self.py_err(e));
        }
        Err(self.error("invalid number"))
    }

    /// A string starting at the opening quote; leaves `i` after the closing one.
    fn string(&mut self) -> Result<String, String> {
        self.i += 1;
        let mut out = String::new();
        loop {
            let run = self.s[self.i..]
                .iter()
                .position(|&c| c == b'"' || c == b'\\' || c < 0x20);
            let Some(run) = run else {
                return Err(self.error("unterminated string"));
            };
            // The text is a &str and the run ends at an ASCII byte.
            out.push_str(std::str::from_utf8(&self.s[self.i..self.i + run]).unwrap());
            self.i += run;
            match self.s[self.i] {
                b'"' => {
                    self.i += 1;
                    return Ok(out);
                }
                b'\\' => {
                    let esc = *self
                        .s
                        .get(self.i + 1)
                        .ok_or_else(|| self.error("unterminated string"))?;
                    self.i += 2;
                    match esc {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let c = if (0xD800..0xDC00).contains(&hi)
                                && self.s[self.i..].starts_with(b"\\u")
                            {
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.error("invalid surrogate pair"));
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            // A lone surrogate: serde_json never writes one.
                            out.push(
                                char::from_u32(c).ok_or_else(|| self.error("lone surrogate"))?,
                            );
                        }
                        _ => return Err(self.error("invalid escape")),
                    }
                }
                _ => return Err(self.error("control character in string")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let digits = self
            .s
            .get(self.i..self.i + 4)
            .ok_or_else(|| self.error("short \\u escape"))?;
        if !digits.iter().all(u8::is_ascii_hexdigit) {
            return Err(self.error("invalid \\u escape"));
        }
        let v = u32::from_str_radix(std::str::from_utf8(digits).unwrap(), 16).unwrap();
        self.i += 4;
        Ok(v)
    }
}
