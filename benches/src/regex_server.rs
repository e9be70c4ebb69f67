//! `regex-baseline-server`: the thing dfabake replaces. Compiles the rules
//! with the `regex` crate at start, then answers `POST /match` (mode all) on
//! loopback. Used only to time process start → first answer.
//!
//! `regex-baseline-server RULES LISTEN` where RULES is a patterns file or a
//! crawler-user-agents JSON file.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

use anyhow::{Context, Result};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rules = std::path::Path::new(args.first().context("RULES")?);
    let patterns: Vec<String> = if rules.extension().and_then(|e| e.to_str()) == Some("json") {
        let list: Vec<serde_json::Value> = serde_json::from_slice(&std::fs::read(rules)?)?;
        list.iter()
            .map(|r| r["pattern"].as_str().unwrap().to_string())
            .collect()
    } else {
        dfabake::rules::load_file(rules, dfabake::rules::FileFormat::Auto)?
            .into_iter()
            .map(|r| r.inline_pattern())
            .collect()
    };
    let set = regex::bytes::RegexSetBuilder::new(&patterns)
        .size_limit(1 << 30)
        .build()?;
    let listener = TcpListener::bind(args.get(1).map_or("127.0.0.1:0", String::as_str))?;
    println!("listening on http://{}", listener.local_addr()?);
    std::io::stdout().flush()?;
    for stream in listener.incoming() {
        let mut s = BufReader::new(stream?);
        loop {
            let mut line = String::new();
            if s.read_line(&mut line)? == 0 {
                break;
            }
            let mut len = 0;
            loop {
                let mut h = String::new();
                s.read_line(&mut h)?;
                if h == "\r\n" || h.is_empty() {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse()?;
                }
            }
            let mut body = vec![0; len];
            s.read_exact(&mut body)?;
            let ids: Vec<usize> = set.matches(&body).into_iter().map(|i| i + 1).collect();
            let out = serde_json::json!({ "matches": ids }).to_string();
            write!(
                s.get_mut(),
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{out}",
                out.len()
            )?;
        }
    }
    Ok(())
}
