//! `dfabake-synth`: a seeded generator of realistic rule sets for scale tests.
//!
//! ```text
//! dfabake-synth --rules N [--seed S] [--inputs M] --out-rules FILE.jsonl [--out-inputs FILE.txt]
//! ```
//!
//! Rules look like user-agent, routing and WAF rules: product tokens with
//! version numbers, literals, classes, `\d+`, `[^;]*`, alternations and
//! optional groups, some case-insensitive; ids are 1..=N in file order.
//! Inputs are user-agent-like strings, about a third built to hit a rule.

use std::io::Write;

use anyhow::{Context, Result};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

const SYLLABLES: &[&str] = &[
    "bot", "crawl", "spider", "fetch", "scan", "agent", "link", "feed", "news", "shop", "mail",
    "search", "index", "data", "cloud", "net", "web", "page", "seo", "meta", "rank", "site",
    "view", "check", "probe", "map", "go", "java", "py", "node", "app", "mobile", "tv", "pay",
];
const PLATFORMS: &[&str] = &["Windows NT 10.0", "X11; Linux x86_64", "Macintosh; Intel Mac OS X 10_15_7", "Linux; Android 13", "iPhone; CPU iPhone OS 17_1 like Mac OS X"];

fn word(r: &mut Rng) -> String {
    let n = 2 + r.below(2);
    let mut w: String = (0..n).map(|_| r.pick(SYLLABLES)).collect();
    if r.below(2) == 0 {
        let mut c = w.chars();
        w = c.next().unwrap().to_ascii_uppercase().to_string() + c.as_str();
    }
    w
}

fn rule(r: &mut Rng, name: &str) -> (String, &'static str) {
    let flags = if r.below(5) == 0 { "i" } else { "" };
    let pattern = match r.below(8) {
        0 => format!("{name}/"),
        1 => format!(r"{name}/\d+(\.\d+)*"),
        2 => format!(r"{name}[-_ ]?(?:bot|crawler)"),
        3 => format!(r"\({name}[^;)]*;"),
        4 => format!(r"^{name}(?:/[\d.]+)?(?: \(\+https?://[^)]+\))?"),
        5 => format!("(?:{name}|{}|{})", word(r), word(r)),
        6 => format!(r"{name}\s*\d{{1,4}}"),
        _ => format!(r"compatible; {name}[^;]*"),
    };
    (pattern, flags)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let get = |k: &str| args.iter().position(|a| a == k).and_then(|i| args.get(i + 1)).cloned();
    let n: usize = get("--rules").context("--rules N")?.parse()?;
    let seed: u64 = get("--seed").map_or(Ok(1), |s| s.parse())?;
    let inputs: usize = get("--inputs").map_or(Ok(2000), |s| s.parse())?;
    let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut names = Vec::with_capacity(n);
    let mut out = std::io::BufWriter::new(std::fs::File::create(get("--out-rules").context("--out-rules")?)?);
    for id in 1..=n {
        let name = format!("{}{}", word(&mut r), id);
        let (pattern, flags) = rule(&mut r, &name);
        let line = serde_json::json!({"id": id, "pattern": pattern, "flags": flags, "payload": {"name": name}});
        writeln!(out, "{line}")?;
        names.push(name);
    }
    out.flush()?;
    if let Some(path) = get("--out-inputs") {
        let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
        for i in 0..inputs {
            let platform = r.pick(PLATFORMS);
            let product = if i % 3 == 0 { names[r.below(names.len())].clone() } else { word(&mut r) };
            writeln!(
                out,
                "Mozilla/5.0 ({platform}; compatible; {product}/{}.{}; +https://example.com/{}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{}.0 Safari/537.36",
                r.below(20),
                r.below(10),
                word(&mut r),
                90 + r.below(40)
            )?;
        }
        out.flush()?;
    }
    Ok(())
}
