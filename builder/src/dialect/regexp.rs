//! The MariaDB `REGEXP` (PCRE2) translator.

use std::fmt::Write as _;

use super::{lit, perr, DialectError, MatchType, Out, Translation};

const SPACE: &str = r"\t\n\x0B\x0C\r\x20\x{85}\x{A0}\x{1680}\x{180E}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}";
const HSPACE: &str = r"\t\x20\x{A0}\x{1680}\x{180E}\x{2000}-\x{200A}\x{202F}\x{205F}\x{3000}";
const VSPACE: &str = r"\n\x0B\x0C\r\x{85}\x{2028}\x{2029}";
const WORD: &str = r"\p{L}\p{N}_";
const PUNCT: &str = r"\p{P}\x24\x2B\x3C-\x3E\x5E\x60\x7C\x7E";
const GRAPH: &str = r"[\p{L}\p{M}\p{N}\p{P}\p{S}\p{Cf}--[\x{61C}\x{180E}\x{2066}-\x{2069}]]";
const PRINT: &str = r"[\p{L}\p{M}\p{N}\p{P}\p{S}\p{Cf}\p{Zs}--[\x{61C}\x{180E}\x{2066}-\x{2069}]]";

/// An item of a bracket class.
enum Item {
    Range(char, char),
    /// Text valid inside a `regex` class; `fold` false when case-insensitive
    /// matching must not fold it (`\p{..}`, `[:lower:]`, `[:upper:]`).
    Set {
        text: String,
        fold: bool,
    },
}

struct Parser<'a> {
    p: &'a str,
    i: usize,
    out: Out,
    /// Case-insensitivity of the enclosing groups, innermost last.
    ci: Vec<bool>,
    /// The last item was an assertion (`\b`, `\A`, ...), which PCRE does
    /// not let a quantifier follow.
    after_assertion: bool,
}

fn is_octal(c: char) -> bool {
    ('0'..='7').contains(&c)
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<char> {
        self.p[self.i..].chars().next()
    }
    fn peek_at(&self, n: usize) -> Option<char> {
        self.p[self.i..].chars().nth(n)
    }
    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.i += c.len_utf8();
        Some(c)
    }
    fn rest(&self) -> &'a str {
        &self.p[self.i..]
    }
    fn ci(&self) -> bool {
        *self.ci.last().unwrap()
    }

    /// Reads `{...}` after an escape letter, returning the inside.
    fn braced(&mut self, start: usize, what: &str) -> Result<String, DialectError> {
        if self.peek() != Some('{') {
            return perr(start, format!("{what}: expected {{"));
        }
        let Some(end) = self.rest().find('}') else {
            return perr(start, format!("{what}: missing }}"));
        };
        let inside = self.rest()[1..end].to_string();
        self.i += end + 1;
        Ok(inside)
    }

    fn hex_value(&mut self, start: usize) -> Result<char, DialectError> {
        // After `\x`.
        let v = if self.peek() == Some('{') {
            let inside = self.braced(start, "\\x{...}")?;
            u32::from_str_radix(inside.trim(), 16).map_err(|_| DialectError {
                offset: start,
                reason: format!("invalid hex escape \\x{{{inside}}}"),
                in_flags: false,
            })?
        } else {
            let mut v = 0;
            for _ in 0..2 {
                match self.peek().and_then(|c| c.to_digit(16)) {
                    Some(d) => {
                        v = v * 16 + d;
                        self.bump();
                    }
                    None => break,
                }
            }
            v
        };
        char::from_u32(v).ok_or(DialectError {
            offset: start,
            reason: format!("code point {v:#X} is not a character"),
            in_flags: false,
        })
    }

    fn octal_after_zero(&mut self) -> char {
        // After `\0`: up to two more octal digits.
        let mut v = 0u32;
        for _ in 0..2 {
            match self.peek() {
                Some(c) if is_octal(c) => {
                    v = v * 8 + c.to_digit(8).unwrap();
                    self.bump();
                }
                _ => break,
            }
        }
        char::from_u32(v).unwrap()
    }

    /// A `\p{..}`/`\P{..}` property after the letter; returns class text.
    fn property(&mut self, start: usize, negated: bool) -> Result<(String, bool), DialectError> {
        let mut name = if self.peek() == Some('{') {
            self.braced(start, "\\p{...}")?
        } else {
            match self.bump() {
                Some(c) if c.is_ascii_alphabetic() => c.to_string(),
                _ => return perr(start, "\\p needs a property name"),
            }
        };
        let mut neg = negated;
        if let Some(n) = name.strip_prefix('^') {
            neg = !neg;
            name = n.to_string();
        }
        let (text, fold) = match name.as_str() {
            "Xan" => (r"\p{L}\p{N}".to_string(), true),
            "Xwd" => (WORD.to_string(), true),
            "Xsp" | "Xps" => (SPACE.to_string(), true),
            "Xuc" | "Xan_" => return perr(start, format!("unsupported property \\p{{{name}}}")),
            "L&" => (r"\p{LC}".to_string(), false),
            _ => {
                if !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ' ' || c == '-')
                {
                    return perr(start, format!("unknown property \\p{{{name}}}"));
                }
                (format!(r"\p{{{name}}}"), false)
            }
        };
        Ok((if neg { format!("[^{text}]") } else { text }, fold))
    }

    /// An escape, after the backslash, outside or inside a class.
    /// Returns either a character or a set.
    fn escape(&mut self, start: usize, in_class: bool) -> Result<Item, DialectError> {
        let Some(c) = self.bump() else {
            return perr(start, "trailing backslash");
        };
        let set = |t: &str| {
            Ok(Item::Set {
                text: t.to_string(),
                fold: true,
            })
        };
        let neg = |t: &str| {
            Ok(Item::Set {
                text: format!("[^{t}]"),
                fold: true,
            })
        };
        let ch = |c: char| Ok(Item::Range(c, c));
        match c {
            'd' => set(r"\p{Nd}"),
            'D' => neg(r"\p{Nd}"),
            'w' => set(WORD),
            'W' => neg(WORD),
            's' => set(SPACE),
            'S' => neg(SPACE),
            'h' => set(HSPACE),
            'H' => neg(HSPACE),
            'v' => set(VSPACE),
            'V' => neg(VSPACE),
            'p' | 'P' => {
                let (text, fold) = self.property(start, c == 'P')?;
                Ok(Item::Set { text, fold })
            }
            'a' => ch('\x07'),
            'e' => ch('\x1B'),
            'f' => ch('\x0C'),
            'n' => ch('\n'),
            'r' => ch('\r'),
            't' => ch('\t'),
            'b' if in_class => ch('\x08'),
            'x' => {
                let c = self.hex_value(start)?;
                ch(c)
            }
            'o' => {
                let inside = self.braced(start, "\\o{...}")?;
                let v = u32::from_str_radix(&inside, 8).ok().and_then(char::from_u32);
                match v {
                    Some(c) => ch(c),
                    None => perr(start, format!("invalid octal escape \\o{{{inside}}}")),
                }
            }
            'c' => match self.bump() {
                Some(x) if x.is_ascii() && !x.is_ascii_control() => {
                    ch(char::from((x.to_ascii_uppercase() as u8) ^ 0x40))
                }
                _ => perr(start, "\\c must be followed by a printable ASCII character"),
            },
            '0' => ch(self.octal_after_zero()),
            '1'..='9' if in_class => {
                // Octal inside a class.
                if !is_octal(c) {
                    return perr(start, format!("invalid escape \\{c} in a class"));
                }
                let mut v = c.to_digit(8).unwrap();
                for _ in 0..2 {
                    match self.peek() {
                        Some(d) if is_octal(d) => {
                            v = v * 8 + d.to_digit(8).unwrap();
                            self.bump();
                        }
                        _ => break,
                    }
                }
                ch(char::from_u32(v).unwrap())
            }
            '1'..='9' => perr(start, format!("backreference \\{c} is not supported (a DFA cannot match it)")),
            'g' => perr(start, "backreferences and subroutine calls (\\g) are not supported (a DFA cannot match them)"),
            'k' => perr(start, "named backreferences (\\k) are not supported (a DFA cannot match them)"),
            'K' => perr(start, "\\K (reset the match start) is not supported"),
            'X' => perr(start, "\\X (extended grapheme cluster) is not supported"),
            'C' => perr(start, "\\C (one code unit) is not supported"),
            'N' if in_class => perr(start, "\\N is not allowed in a class"),
            'R' | 'B' | 'A' | 'z' | 'Z' | 'G' if in_class => {
                perr(start, format!("escape \\{c} is not allowed in a class"))
            }
            c if c.is_ascii_alphanumeric() => perr(start, format!("unrecognized escape \\{c}")),
            c => ch(c),
        }
    }

    fn posix(&mut self, start: usize) -> Result<Option<Item>, DialectError> {
        // At `[:`; returns None when it is not a POSIX class.
        let rest = self.rest();
        let Some(end) = rest[2..].find(":]") else {
            return Ok(None);
        };
        let name = &rest[2..2 + end];
        let (neg, name) = match name.strip_prefix('^') {
            Some(n) => (true, n),
            None => (false, name),
        };
        if !name.chars().all(|c| c.is_ascii_lowercase()) || name.is_empty() {
            return Ok(None);
        }
        let (text, fold) = match name {
            "alpha" => (r"\p{L}", true),
            "alnum" => (r"\p{L}\p{N}", true),
            "digit" => (r"\p{Nd}", true),
            "lower" => (r"\p{Ll}", false),
            "upper" => (r"\p{Lu}", false),
            "space" => (SPACE, true),
            "word" => (WORD, true),
            "blank" => (HSPACE, true),
            "cntrl" => (r"\p{Cc}", true),
            "xdigit" => ("0-9A-Fa-f", true),
            "ascii" => (r"\x00-\x7F", true),
            "punct" => (PUNCT, true),
            "graph" => (GRAPH, true),
            "print" => (PRINT, true),
            _ => return perr(start, format!("unknown POSIX class [:{name}:]")),
        };
        self.i += 2 + end + 2;
        let text = if neg {
            format!("[^{text}]")
        } else {
            text.to_string()
        };
        Ok(Some(Item::Set { text, fold }))
    }

    fn class(&mut self, start: usize) -> Result<(), DialectError> {
        // After `[`.
        let negated = if self.peek() == Some('^') {
            self.bump();
            true
        } else {
            false
        };
        let mut items: Vec<Item> = Vec::new();
        let mut first = true;
        loop {
            let at = self.i;
            let Some(c) = self.peek() else {
                return perr(start, "unclosed character class (missing ])");
            };
            if c == ']' && !first {
                self.bump();
                break;
            }
            first = false;
            let item = if c == '[' && self.peek_at(1) == Some(':') {
                match self.posix(at)? {
                    Some(item) => item,
                    None => {
                        self.bump();
                        Item::Range('[', '[')
                    }
                }
            } else if c == '[' && matches!(self.peek_at(1), Some('.' | '=')) {
                return perr(
                    at,
                    "POSIX collating elements ([. .] and [= =]) are not supported",
                );
            } else if c == '\\' {
                self.bump();
                if self.peek() == Some('Q') {
                    self.bump();
                    let end = self.rest().find("\\E").unwrap_or(self.rest().len());
                    let text: Vec<char> = self.rest()[..end].chars().collect();
                    self.i += end + if self.rest().len() > end { 2 } else { 0 };
                    for ch in text {
                        items.push(Item::Range(ch, ch));
                    }
                    continue;
                }
                if self.peek() == Some('E') {
                    self.bump();
                    continue;
                }
                self.escape_item(at, true)?
            } else {
                self.bump();
                Item::Range(c, c)
            };
            // A range?
            if let Item::Range(lo, _) = item {
                if self.peek() == Some('-') && self.peek_at(1).is_some_and(|n| n != ']') {
                    let dash = self.i;
                    self.bump();
                    let hi_at = self.i;
                    let hi = if self.peek() == Some('\\') {
                        self.bump();
                        self.escape_item(hi_at, true)?
                    } else if self.peek() == Some('[') && self.peek_at(1) == Some(':') {
                        return perr(dash, "invalid range in character class");
                    } else {
                        let c = self.bump().unwrap();
                        Item::Range(c, c)
                    };
                    match hi {
                        Item::Range(h, _) if h >= lo => items.push(Item::Range(lo, h)),
                        Item::Range(..) => {
                            return perr(dash, "range out of order in character class")
                        }
                        Item::Set { .. } => return perr(dash, "invalid range in character class"),
                    }
                    continue;
                }
            }
            items.push(item);
        }
        let ci = self.ci();
        let mut body = String::new();
        let render = |items: &[&Item], body: &mut String| {
            for item in items {
                match item {
                    Item::Range(a, b) if a == b => body.push_str(&lit(*a)),
                    Item::Range(a, b) => {
                        let _ = write!(body, "{}-{}", lit(*a), lit(*b));
                    }
                    Item::Set { text, .. } => body.push_str(text),
                }
            }
        };
        let unfoldable = items
            .iter()
            .any(|i| matches!(i, Item::Set { fold: false, .. }));
        let text = if ci && unfoldable {
            // Fold what folds by hand, then match the whole class exactly.
            let foldable: Vec<&Item> = items
                .iter()
                .filter(|i| !matches!(i, Item::Set { fold: false, .. }))
                .collect();
            if !foldable.is_empty() {
                let mut inner = String::new();
                render(&foldable, &mut inner);
                body.push_str(&fold_class(&format!("(?i)[{inner}]")));
            }
            for item in &items {
                if let Item::Set { text, fold: false } = item {
                    body.push_str(text);
                }
            }
            format!("(?-i:[{}{body}])", if negated { "^" } else { "" })
        } else {
            let all: Vec<&Item> = items.iter().collect();
            render(&all, &mut body);
            format!("[{}{body}]", if negated { "^" } else { "" })
        };
        self.out.push_str(start, &text);
        Ok(())
    }

    fn escape_item(&mut self, start: usize, in_class: bool) -> Result<Item, DialectError> {
        if self.peek() == Some('x') {
            self.bump();
            let c = self.hex_value(start)?;
            return Ok(Item::Range(c, c));
        }
        self.escape(start, in_class)
    }

    /// A quantifier `{n}`, `{n,}`, `{n,m}` at the current `{`, if valid.
    fn quantifier_len(&self) -> Option<usize> {
        let r = self.rest();
        let end = r.find('}')?;
        let inside = &r[1..end];
        let (a, b) = match inside.split_once(',') {
            Some((a, b)) => (a, Some(b)),
            None => (inside, None),
        };
        let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
        if digits(a) && b.is_none_or(|b| b.is_empty() || digits(b)) {
            Some(end + 1)
        } else {
            None
        }
    }

    /// After a quantifier: lazy `?` is kept, possessive `+` rejected.
    fn after_quantifier(&mut self) -> Result<(), DialectError> {
        match self.peek() {
            Some('+') => perr(
                self.i,
                "possessive quantifiers are not supported (a DFA cannot match them)",
            ),
            Some('?') => {
                let at = self.i;
                self.bump();
                self.out.push_str(at, "?");
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn group(&mut self, start: usize) -> Result<(), DialectError> {
        // At `(`.
        let r = self.rest();
        let outer = self.ci();
        if r.starts_with("(*") {
            let lower = r.to_ascii_lowercase();
            if [
                "(*pla:",
                "(*plb:",
                "(*nla:",
                "(*nlb:",
                "(*positive_look",
                "(*negative_look",
                "(*napla:",
                "(*naplb:",
                "(*non_atomic_positive",
            ]
            .iter()
            .any(|p| lower.starts_with(p))
            {
                return perr(start, "lookaround is not supported (a DFA cannot match it)");
            }
            if lower.starts_with("(*atomic:") {
                return perr(
                    start,
                    "atomic groups are not supported (a DFA cannot match them)",
                );
            }
            return perr(
                start,
                "PCRE verbs and options such as (*UTF) are not supported",
            );
        }
        if !r.starts_with("(?") {
            self.i += 1;
            self.out.push_str(start, "(");
            self.ci.push(outer);
            return Ok(());
        }
        let after = &r[2..];
        let reject = |why: &str| perr(start, why.to_string());
        match after.chars().next() {
            Some('#') => {
                let Some(end) = r.find(')') else {
                    return reject("unclosed comment (?#");
                };
                self.i += end + 1;
                return Ok(());
            }
            Some(':') => {
                self.i += 3;
                self.out.push_str(start, "(?:");
                self.ci.push(outer);
                return Ok(());
            }
            Some('=' | '!') => return reject("lookahead is not supported (a DFA cannot match it)"),
            Some('>') => {
                return reject("atomic groups are not supported (a DFA cannot match them)")
            }
            Some('|') => return reject("branch reset groups (?| are not supported"),
            Some('(') => return reject("conditional groups are not supported"),
            Some('C') => return reject("callouts are not supported"),
            Some('R' | '&' | '+' | '0'..='9') => {
                return reject(
                    "recursion and subroutine calls are not supported (a DFA cannot match them)",
                )
            }
            Some('-') if after[1..].starts_with(|c: char| c.is_ascii_digit()) => {
                return reject(
                    "recursion and subroutine calls are not supported (a DFA cannot match them)",
                )
            }
            Some('<') if after.starts_with("<=") || after.starts_with("<!") => {
                return reject("lookbehind is not supported (a DFA cannot match it)")
            }
            Some('<' | '\'') | Some('P') => {
                let (skip, close) = if after.starts_with("P<") {
                    (4, '>')
                } else if after.starts_with("P=") {
                    return reject("named backreferences (?P=name) are not supported (a DFA cannot match them)");
                } else if after.starts_with("P>") {
                    return reject("recursion and subroutine calls are not supported (a DFA cannot match them)");
                } else if after.starts_with('<') {
                    (3, '>')
                } else if after.starts_with('\'') {
                    (3, '\'')
                } else {
                    return reject("unknown group syntax (?P");
                };
                let Some(len) = r[skip..].find(close) else {
                    return reject("unclosed group name");
                };
                let name = &r[skip..skip + len];
                self.i += skip + len + 1;
                self.out.push_str(start, &format!("(?P<{name}>"));
                self.ci.push(outer);
                return Ok(());
            }
            _ => {}
        }
        // Inline flags: (?flags) or (?flags:...).
        let mut ci = outer;
        let mut on = true;
        let mut text = String::from("(?");
        let mut j = 2;
        for c in r[2..].chars() {
            match c {
                '-' => on = false,
                'i' => ci = on,
                'm' | 's' | 'x' | 'U' => {}
                ')' | ':' => break,
                '^' => return perr(start + j, "the (?^) flag reset is not supported"),
                _ => return perr(start + j, format!("unsupported inline flag {c:?}")),
            }
            text.push(c);
            j += c.len_utf8();
        }
        match r[j..].chars().next() {
            Some(')') => {
                *self.ci.last_mut().unwrap() = ci;
                text.push(')');
            }
            Some(':') => {
                self.ci.push(ci);
                text.push(':');
            }
            _ => return reject("unclosed group"),
        }
        self.i += j + 1;
        self.out.push_str(start, &text);
        Ok(())
    }

    fn run(&mut self) -> Result<(), DialectError> {
        while let Some(c) = self.peek() {
            let at = self.i;
            // PCRE lets a quantifier follow [[:<:]]/[[:>:]] (groups in
            // PCRE2), not \b and the like.
            let assertion = ["\\b", "\\B", "\\A", "\\z", "\\Z", "\\G"]
                .iter()
                .any(|a| self.rest().starts_with(a));
            let quantifier =
                matches!(c, '*' | '+' | '?') || (c == '{' && self.quantifier_len().is_some());
            if quantifier && self.after_assertion {
                return perr(at, "quantifier does not follow a repeatable item");
            }
            self.after_assertion = assertion;
            match c {
                '\\' => {
                    self.bump();
                    match self.peek() {
                        Some('Q') => {
                            self.bump();
                            let end = self.rest().find("\\E").unwrap_or(self.rest().len());
                            let text: String = self.rest()[..end].chars().map(lit).collect();
                            self.i += end + if self.rest().len() > end { 2 } else { 0 };
                            // No group: a quantifier after \E applies to
                            // the last character only, as in PCRE.
                            self.out.push_str(at, &text);
                            continue;
                        }
                        Some('E') => {
                            self.bump();
                            continue;
                        }
                        Some(c @ ('b' | 'B' | 'A' | 'z')) => {
                            self.bump();
                            self.out.push_str(at, &format!("\\{c}"));
                            continue;
                        }
                        Some('Z' | 'G') => {
                            self.bump();
                            let t = if self.p[at + 1..].starts_with('Z') {
                                r"\z"
                            } else {
                                r"\A"
                            };
                            self.out.push_str(at, t);
                            continue;
                        }
                        Some('R') => {
                            self.bump();
                            self.out.push_str(at, &format!("(?:\\r\\n|[{VSPACE}])"));
                            continue;
                        }
                        Some('N') => {
                            self.bump();
                            if self.peek() == Some('{') {
                                return perr(at, "\\N{...} is not supported");
                            }
                            self.out.push_str(at, r"[^\n]");
                            continue;
                        }
                        _ => {}
                    }
                    let item = self.escape_item(at, false)?;
                    let text = match item {
                        Item::Range(c, _) => lit(c),
                        Item::Set { text, fold } => {
                            let class = if text.starts_with('[') {
                                text
                            } else {
                                format!("[{text}]")
                            };
                            if fold {
                                class
                            } else {
                                format!("(?-i:{class})")
                            }
                        }
                    };
                    self.out.push_str(at, &text);
                }
                '[' => {
                    if self.rest().starts_with("[[:<:]]") {
                        self.i += 7;
                        self.out.push_str(at, r"(?:\b{start})");
                    } else if self.rest().starts_with("[[:>:]]") {
                        self.i += 7;
                        self.out.push_str(at, r"(?:\b{end})");
                    } else {
                        self.bump();
                        self.class(at)?;
                    }
                }
                '(' => self.group(at)?,
                ')' => {
                    self.bump();
                    if self.ci.len() > 1 {
                        self.ci.pop();
                    }
                    self.out.push_str(at, ")");
                }
                '*' | '+' | '?' => {
                    self.bump();
                    self.out.push_str(at, &c.to_string());
                    self.after_quantifier()?;
                }
                '{' => match self.quantifier_len() {
                    Some(n) => {
                        let q = self.rest()[..n].to_string();
                        // PCRE2's limit (MAX_REPEAT_COUNT): MariaDB refuses more.
                        let mut from = 1;
                        for number in q[1..n - 1].split(',') {
                            if number.len() > 5 || number.parse::<u32>().is_ok_and(|v| v > 65535) {
                                return perr(
                                    self.i + from,
                                    "number too big in {} quantifier (at most 65535, as in MariaDB)",
                                );
                            }
                            from += number.len() + 1;
                        }
                        self.i += n;
                        self.out.push_str(at, &q);
                        self.after_quantifier()?;
                    }
                    None => {
                        self.bump();
                        self.out.push_str(at, r"\{");
                    }
                },
                '}' | ']' => {
                    self.bump();
                    self.out.push_str(at, &format!("\\{c}"));
                }
                '.' | '^' | '$' | '|' => {
                    self.bump();
                    self.out.push_str(at, &c.to_string());
                }
                _ => {
                    self.bump();
                    // Whitespace and `#` stay as written: verbose mode treats
                    // them alike in both syntaxes.
                    let t = if c.is_whitespace() || c == '#' {
                        c.to_string()
                    } else {
                        lit(c)
                    };
                    self.out.push_str(at, &t);
                }
            }
        }
        Ok(())
    }
}

/// The explicit ranges of a case-folded class, such as `(?i)[a-c\p{L}]`.
fn fold_class(class: &str) -> String {
    // A parse of this class fragment, not of the rule: a class mixing parts
    // that fold with sets that must not (`[[:lower:]]`) is written under
    // `(?-i:...)`, so the folding parts' case variants must be spelt out,
    // and the regex parser is what knows them. The translated rule itself
    // is parsed once, by `compile`'s check.
    use regex_syntax::hir::{Class, HirKind};
    let hir = regex_syntax::ParserBuilder::new()
        .utf8(false)
        .build()
        .parse(class);
    let mut out = String::new();
    if let Ok(hir) = hir {
        if let HirKind::Class(Class::Unicode(c)) = hir.kind() {
            for r in c.ranges() {
                let _ = write!(
                    out,
                    "\\x{{{:X}}}-\\x{{{:X}}}",
                    r.start() as u32,
                    r.end() as u32
                );
            }
            return out;
        }
    }
    // Not expected: fall back to the class unfolded.
    class
        .trim_start_matches("(?i)")
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string()
}

/// Translates a MariaDB `REGEXP` pattern.
pub fn translate_regexp(pattern: &str, flags: &MatchType) -> Result<Translation, DialectError> {
    let mut p = Parser {
        p: pattern,
        i: 0,
        out: Out {
            s: String::new(),
            map: Vec::new(),
        },
        ci: vec![flags.case_insensitive],
        after_assertion: false,
    };
    p.run()?;
    Ok(Translation {
        pattern: p.out.s,
        map: p.out.map,
    })
}
