//! `dfabake-load`: a bounded HTTP/1.1 load generator and cold-start timer for
//! `dfabake-host serve` (loopback only).
//!
//! ```text
//! dfabake-load load ADDR INPUTS --connections C --requests N [--mode all] [--max-seconds S]
//! dfabake-load coldstart --runs R -- COMMAND ARGS...   # COMMAND must print "listening on http://ADDR"
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Sends one request on a keep-alive connection and reads the response.
fn roundtrip(s: &mut BufReader<TcpStream>, head: &[u8], body: &[u8]) -> Result<u16> {
    let w = s.get_mut();
    w.write_all(head)?;
    w.write_all(body)?;
    let mut status = String::new();
    s.read_line(&mut status)?;
    let code: u16 = status.get(9..12).context("bad status line")?.parse()?;
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        s.read_line(&mut line)?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse()?;
        }
    }
    let mut buf = vec![0; len];
    s.read_exact(&mut buf)?;
    Ok(code)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize] as f64 / 1000.0
}

fn load(args: &[String]) -> Result<()> {
    let addr = args.first().context("ADDR")?.clone();
    let inputs: Vec<Vec<u8>> = std::fs::read(args.get(1).context("INPUTS")?)?
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    let connections: usize = arg(args, "--connections", 4);
    let requests: usize = arg(args, "--requests", 100_000);
    let max_seconds: f64 = arg(args, "--max-seconds", 30.0);
    let mode: String = arg(args, "--mode", "all".to_string());
    let inputs = Arc::new(inputs);
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(max_seconds);
    let start = Instant::now();
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let (inputs, next, addr, mode) = (inputs.clone(), next.clone(), addr.clone(), mode.clone());
            std::thread::spawn(move || -> Result<(Vec<u64>, usize)> {
                let stream = TcpStream::connect(&addr)?;
                stream.set_nodelay(true)?;
                let mut s = BufReader::new(stream);
                let mut lat = Vec::new();
                let mut errors = 0;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= requests || Instant::now() > deadline {
                        break;
                    }
                    let body = &inputs[i % inputs.len()];
                    let head = format!(
                        "POST /match?mode={mode} HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {}\r\n\r\n",
                        body.len()
                    );
                    let t = Instant::now();
                    match roundtrip(&mut s, head.as_bytes(), body) {
                        Ok(200) => lat.push(t.elapsed().as_nanos() as u64),
                        Ok(_) => errors += 1,
                        Err(e) => bail!("connection failed: {e}"),
                    }
                }
                Ok((lat, errors))
            })
        })
        .collect();
    let mut lat = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (l, e) = w.join().unwrap()?;
        lat.extend(l);
        errors += e;
    }
    let secs = start.elapsed().as_secs_f64();
    lat.sort_unstable();
    println!(
        "requests={} errors={errors} seconds={secs:.2} rps={:.0} p50_us={:.1} p99_us={:.1}",
        lat.len(),
        lat.len() as f64 / secs,
        percentile(&lat, 0.5),
        percentile(&lat, 0.99)
    );
    Ok(())
}

/// Process start → first answered `POST /match`.
fn coldstart(args: &[String]) -> Result<()> {
    let runs: usize = arg(args, "--runs", 5);
    let split = args.iter().position(|a| a == "--").context("-- COMMAND")?;
    let cmd = &args[split + 1..];
    let mut times = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let mut child = Command::new(&cmd[0])
            .args(&cmd[1..])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("spawning the server")?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line)?;
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .context("no listening line")?
            .to_string();
        let stream = TcpStream::connect(&addr)?;
        let mut s = BufReader::new(stream);
        let body = b"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
        let head = format!(
            "POST /match?mode=all HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        let code = roundtrip(&mut s, head.as_bytes(), body)?;
        let elapsed = t.elapsed();
        let _ = child.kill();
        let _ = child.wait();
        if code != 200 {
            bail!("first request answered {code}");
        }
        times.push(elapsed.as_secs_f64() * 1000.0);
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "runs={runs} median_ms={:.1} min_ms={:.1} max_ms={:.1}",
        times[runs / 2],
        times[0],
        times[runs - 1]
    );
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("load") => load(&args[1..]),
        Some("coldstart") => coldstart(&args[1..]),
        _ => bail!(
            "usage: dfabake-load load ADDR INPUTS [...] | coldstart [--runs R] -- COMMAND ..."
        ),
    }
}
