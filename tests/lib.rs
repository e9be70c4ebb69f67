//! Shared helpers for dfabake's end-to-end tests: bake rules in memory, run
//! the baked module in wasmtime, and answer the same questions with the
//! `regex` crate as the oracle.
#![deny(missing_docs)]

use std::path::PathBuf;

use anyhow::Result;
use dfabake::bake::{bake, TEMPLATE};
use dfabake::compile::{compile, Config};
use dfabake::rules::RuleSpec;
use dfabake_host::{MatcherInstance, MatcherModule};
use dfabake_matcher::Mode;
use regex::bytes::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use serde_json::Value;

/// Path of a workspace binary built alongside the tests (`dfabake`, `dfabake-host`).
pub fn binary(name: &str) -> PathBuf {
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target profile dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} not built; run the tests with `cargo test --release --workspace`",
        path.display()
    );
    path
}

/// Runs `cmd` with its stderr on a pseudo-terminal (stdin and stdout
/// null); returns its exit status and everything it drew there.
pub fn stderr_on_a_terminal(cmd: &mut std::process::Command) -> (std::process::ExitStatus, String) {
    use std::io::Read;
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::process::Stdio;
    let (mut master, mut slave) = (0, 0);
    let size = libc::winsize {
        ws_row: 40,
        ws_col: 120,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two new descriptors, owned from here on.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    // Other tests' children must not inherit the terminal: the reader
    // below ends only when the last holder of the slave closes it.
    for fd in [&master, &slave] {
        // SAFETY: setting a flag on a descriptor owned here.
        unsafe {
            libc::fcntl(
                std::os::fd::AsRawFd::as_raw_fd(fd),
                libc::F_SETFD,
                libc::FD_CLOEXEC,
            )
        };
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(slave))
        .spawn()
        .expect("spawn");
    // `cmd` holds the slave until told otherwise.
    cmd.stderr(Stdio::null());
    // Read while it runs: a full terminal buffer would block the child.
    let reader = std::thread::spawn(move || {
        let mut master = std::fs::File::from(master);
        let mut drawn = Vec::new();
        let mut buf = [0u8; 4096];
        // Ends with EIO once the child, the last holder of the slave, exits.
        while let Ok(n @ 1..) = master.read(&mut buf) {
            drawn.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&drawn).into_owned()
    });
    let status = child.wait().expect("wait");
    (status, reader.join().expect("terminal reader"))
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The manifest of the build in `out` (`out/manifest.json`), read through
/// its type.
pub fn read_manifest(out: &std::path::Path) -> dfabake::manifest::Manifest {
    let path = out.join("manifest.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Compiles and bakes rules in memory; returns the module bytes.
pub fn bake_rules(rules: &[RuleSpec], cfg: &Config) -> Result<Vec<u8>> {
    let compiled = compile(rules, cfg, "test rules")?;
    bake(TEMPLATE, &compiled.database).map_err(anyhow::Error::msg)
}

/// A baked module running in wasmtime.
pub struct Wasm {
    instance: MatcherInstance,
}

impl Wasm {
    /// Bakes `rules` and instantiates the module once.
    pub fn new(rules: &[RuleSpec], cfg: &Config) -> Result<Wasm> {
        let module = MatcherModule::from_bytes(&bake_rules(rules, cfg)?)?;
        Ok(Wasm {
            instance: module.instantiate()?,
        })
    }

    /// The `matches` JSON array for one input.
    pub fn run(&mut self, mode: Mode, input: &[u8]) -> Value {
        let json = self.instance.match_json(mode, input).expect("match_json");
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("bad JSON {json:?}: {e}"))
    }
}

/// The answer of `first`, as compared between engines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct First {
    /// Rule id (as JSON).
    pub id: Value,
    /// Span start.
    pub start: usize,
    /// Span end.
    pub end: usize,
    /// Groups, group 0 first.
    pub captures: Vec<Option<(usize, usize)>>,
}

/// Parses the `first` JSON array.
pub fn parse_first(v: &Value) -> Option<First> {
    let arr = v.as_array().expect("array");
    assert!(arr.len() <= 1, "first returns at most one match: {v}");
    let m = arr.first()?;
    let caps = m["captures"]
        .as_array()
        .expect("captures")
        .iter()
        .map(|c| {
            c.as_array().map(|p| {
                (
                    p[0].as_u64().unwrap() as usize,
                    p[1].as_u64().unwrap() as usize,
                )
            })
        })
        .collect();
    Some(First {
        id: m["id"].clone(),
        start: m["start"].as_u64().unwrap() as usize,
        end: m["end"].as_u64().unwrap() as usize,
        captures: caps,
    })
}

/// Ids from an `all` or `any` JSON array.
pub fn ids(v: &Value) -> Vec<Value> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|m| m["id"].clone())
        .collect()
}

/// The `regex` crate's answers for the same rules.
pub struct Oracle {
    ids: Vec<Value>,
    set: RegexSet,
    each: Vec<Regex>,
}

impl Oracle {
    /// Builds one `Regex` per rule with builder flags, and a `RegexSet` of the
    /// patterns with their flags inlined.
    pub fn new(rules: &[RuleSpec]) -> Oracle {
        let each = rules
            .iter()
            .map(|r| {
                RegexBuilder::new(&r.pattern)
                    .case_insensitive(r.flags.contains('i'))
                    .multi_line(r.flags.contains('m'))
                    .dot_matches_new_line(r.flags.contains('s'))
                    .ignore_whitespace(r.flags.contains('x'))
                    .size_limit(1 << 30)
                    .build()
                    .unwrap_or_else(|e| panic!("oracle rejects {:?}: {e}", r.pattern))
            })
            .collect();
        let inlined: Vec<String> = rules.iter().map(RuleSpec::inline_pattern).collect();
        let set = RegexSetBuilder::new(&inlined)
            .size_limit(1 << 30)
            .build()
            .expect("oracle set");
        Oracle {
            ids: rules
                .iter()
                .map(|r| serde_json::from_str(&r.id.to_json()).unwrap())
                .collect(),
            set,
            each,
        }
    }

    /// `RegexSet::matches` as ids, checked against per-rule `is_match`.
    pub fn all(&self, hay: &[u8]) -> Vec<Value> {
        let from_set: Vec<usize> = self.set.matches(hay).into_iter().collect();
        let from_each: Vec<usize> = (0..self.each.len())
            .filter(|&i| self.each[i].is_match(hay))
            .collect();
        assert_eq!(
            from_set, from_each,
            "oracle disagrees with itself on {hay:?}"
        );
        from_set.into_iter().map(|i| self.ids[i].clone()).collect()
    }

    /// The lowest-index rule that matches, with its `captures`.
    pub fn first(&self, hay: &[u8]) -> Option<First> {
        self.each.iter().enumerate().find_map(|(i, re)| {
            let caps = re.captures(hay)?;
            let m = caps.get(0).unwrap();
            Some(First {
                id: self.ids[i].clone(),
                start: m.start(),
                end: m.end(),
                captures: caps
                    .iter()
                    .map(|g| g.map(|g| (g.start(), g.end())))
                    .collect(),
            })
        })
    }
}

/// Checks all three modes of the baked module against the oracle on one
/// input; returns a description of the first disagreement.
pub fn compare(wasm: &mut Wasm, oracle: &Oracle, hay: &[u8]) -> Result<(), String> {
    let want_all = oracle.all(hay);
    let got_all = ids(&wasm.run(Mode::All, hay));
    if got_all != want_all {
        return Err(format!("all: got {got_all:?}, want {want_all:?}"));
    }
    let got_any = ids(&wasm.run(Mode::Any, hay));
    if got_any.len() > 1 || got_any.is_empty() != want_all.is_empty() {
        return Err(format!("any: got {got_any:?}, matching set {want_all:?}"));
    }
    if let Some(id) = got_any.first() {
        if !want_all.contains(id) {
            return Err(format!("any: reported {id} which does not match"));
        }
    }
    let got_first = parse_first(&wasm.run(Mode::First, hay));
    let want_first = oracle.first(hay);
    if got_first != want_first {
        return Err(format!("first: got {got_first:?}, want {want_first:?}"));
    }
    Ok(())
}

/// A small deterministic generator (xorshift64*) for seeded test corpora.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    // An endless generator: as an `Iterator` every call would unwrap a
    // `None` that never comes.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// One of `xs`.
    pub fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
    /// True `percent` times out of 100.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}
