//! `dfabake-host serve` over real HTTP on loopback: endpoints, limits,
//! traps, timeouts, reloads (bad and good, under load), slow and surplus
//! clients, shutdown, and arbitrary bytes on the request path.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dfabake::rules::{load_file, FileFormat};
use dfabake_tests::{binary, ids, parse_first, workspace, Oracle};
use serde_json::Value;

/// A running server, killed on drop.
struct Server {
    child: Child,
    addr: String,
    stderr: PathBuf,
}

impl Server {
    fn start(module: &Path, extra: &[&str], dir: &Path) -> Server {
        Server::start_in(Command::new(binary("dfabake-host")), module, extra, dir)
    }

    /// Starts the server with at most `fds` open file descriptors.
    fn start_with_fd_limit(fds: u32, module: &Path, extra: &[&str], dir: &Path) -> Server {
        let mut sh = Command::new("sh");
        sh.args(["-c", &format!("ulimit -n {fds} && exec \"$0\" \"$@\"")])
            .arg(binary("dfabake-host"));
        Server::start_in(sh, module, extra, dir)
    }

    fn start_in(mut cmd: Command, module: &Path, extra: &[&str], dir: &Path) -> Server {
        cmd.args([
            "serve",
            "--module",
            module.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "2",
        ])
        .args(extra);
        Server::spawn(cmd, dir)
    }

    /// Starts `cmd` (arguments and environment complete) and waits for its
    /// `listening on` line.
    fn spawn(mut cmd: Command, dir: &Path) -> Server {
        let stderr = dir.join(format!("server-{}.err", std::process::id() ^ rand_u32()));
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| {
                panic!(
                    "no listening line: {line:?}; stderr: {}",
                    fs::read_to_string(&stderr).unwrap()
                )
            })
            .to_string();
        Server {
            child,
            addr,
            stderr,
        }
    }

    fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, String) {
        http(&self.addr, method, path, headers, body)
    }

    fn post(&self, path: &str, body: &[u8]) -> (u16, Value) {
        let (code, text) = self.request("POST", path, &[], body);
        (
            code,
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({code}): {text}")),
        )
    }

    fn metric(&self, name: &str) -> f64 {
        let (_, text) = self.request("GET", "/metrics", &[], b"");
        metric_of(&text, name)
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap()
    }

    /// Resets the kernel's peak-RSS mark of the server to its current RSS.
    fn reset_peak_rss(&self) {
        fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5").unwrap();
    }

    /// The server's (peak, current) resident set size, in bytes.
    fn rss(&self) -> (u64, u64) {
        let status = fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let field = |name: &str| -> u64 {
            let line = status.lines().find(|l| l.starts_with(name)).unwrap();
            line.split_whitespace()
                .nth(1)
                .unwrap()
                .parse::<u64>()
                .unwrap()
                * 1024
        };
        (field("VmHWM:"), field("VmRSS:"))
    }

    /// Waits (bounded) for the server to exit.
    fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "server still running after {within:?}: {}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn metric_of(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .unwrap_or_else(|| panic!("no metric {name} in\n{text}"))
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rand_u32() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
}

/// A minimal HTTP/1.1 client (one request per connection).
fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    // The server may answer (e.g. 413) before reading a large body.
    let _ = s.write_all(body);
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp).into_owned();
    let code = text
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad response {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

/// Like [`http`], but a refused, reset or empty answer is an `Err`.
fn try_http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<(u16, String), String> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let _ = s.write_all(req.as_bytes());
    let _ = s.write_all(body);
    let mut resp = Vec::new();
    let read = s.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp).into_owned();
    match text.get(9..12).and_then(|c| c.parse().ok()) {
        Some(code) => Ok((
            code,
            text.split_once("\r\n\r\n")
                .map(|(_, b)| b.to_string())
                .unwrap_or_default(),
        )),
        None => Err(format!("no response ({read:?}): {text:?}")),
    }
}

/// Sends raw bytes on a new connection and reads until the server closes it.
fn raw(addr: &str, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(bytes).unwrap();
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    String::from_utf8_lossy(&resp).into_owned()
}

/// One response on a keep-alive connection: status, lower-cased headers,
/// body (by `content-length`; none for HEAD).
type Reply = (u16, Vec<(String, String)>, Vec<u8>);

fn read_reply(r: &mut BufReader<TcpStream>, head: bool) -> std::io::Result<Reply> {
    let bad = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidData, m);
    let mut status = String::new();
    if r.read_line(&mut status)? == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "connection closed without an answer",
        ));
    }
    let code = status
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| bad(format!("bad status line {status:?}")))?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (k, v) = line
            .split_once(':')
            .ok_or_else(|| bad(format!("bad header {line:?}")))?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let len = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0; if head { 0 } else { len }];
    r.read_exact(&mut body)?;
    Ok((code, headers, body))
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Whether the server closes `s` (EOF or reset) within `within`, reading
/// and discarding whatever it sends first.
fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
}

fn bake(patterns: &str, dir: &Path, name: &str) -> PathBuf {
    bake_with(patterns, dir, name, &[])
}

fn bake_with(patterns: &str, dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let pats = dir.join(format!("{name}.txt"));
    fs::write(&pats, patterns).unwrap();
    let out = dir.join(name);
    let o = Command::new(binary("dfabake"))
        .args([
            "build",
            "--quiet",
            "--patterns",
            pats.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .args(extra)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out.join("matcher.wasm")
}

/// Bakes a rules file (JSON Lines with ids and payloads).
fn bake_rules_file(rules: &str, dir: &Path, name: &str) -> PathBuf {
    let file = dir.join(format!("{name}.jsonl"));
    fs::write(&file, rules).unwrap();
    let out = dir.join(name);
    let o = Command::new(binary("dfabake"))
        .args(["build", "--quiet", "--patterns"])
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out.join("matcher.wasm")
}

/// 64 single-rule shards without a prefilter: a search costs ~64 DFA steps
/// a byte, so near-miss inputs of some hundred KB take a noticeable time.
fn slow_module(dir: &Path) -> PathBuf {
    let patterns: String = (0..64).map(|i| format!("needle{i}x\n")).collect();
    bake_with(
        &patterns,
        dir,
        "slow",
        &["--shard-rules", "1", "--no-prefilter"],
    )
}

/// Near-misses that keep every DFA of [`slow_module`] out of its
/// accelerated (memchr) states.
fn slow_input(bytes: usize) -> String {
    "needle1needle".repeat(bytes / 13)
}

/// One rule, `a`, whose 64 KiB payload comes back with every match.
fn payload_module(dir: &Path) -> PathBuf {
    let blob = "x".repeat(64 << 10);
    bake_rules_file(
        &format!("{{\"id\": 1, \"pattern\": \"a\", \"payload\": {{\"blob\": \"{blob}\"}}}}\n"),
        dir,
        "big",
    )
}

fn example_module(dir: &Path) -> PathBuf {
    let out = dir.join("example");
    let o = Command::new(binary("dfabake"))
        .args(["build", "--quiet", "--patterns"])
        .arg(workspace().join("examples/rules.jsonl"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success());
    out.join("matcher.wasm")
}

#[test]
fn endpoints_answer_like_the_oracle() {
    let dir = tempfile::tempdir().unwrap();
    let module = example_module(dir.path());
    let cache = dir.path().join("cache");
    let srv = Server::start(
        &module,
        &["--cache-dir", cache.to_str().unwrap()],
        dir.path(),
    );
    let rules = load_file(&workspace().join("examples/rules.jsonl"), FileFormat::Auto).unwrap();
    let oracle = Oracle::new(&rules);
    let inputs = fs::read_to_string(workspace().join("examples/inputs.txt")).unwrap();
    for hay in inputs.lines() {
        let (code, all) = srv.post("/match?mode=all", hay.as_bytes());
        assert_eq!(code, 200);
        assert_eq!(all["input"], hay);
        assert_eq!(ids(&all["matches"]), oracle.all(hay.as_bytes()));
        let (_, first) = srv.post("/match?mode=first", hay.as_bytes());
        assert_eq!(parse_first(&first["matches"]), oracle.first(hay.as_bytes()));
        let (_, any) = srv.post("/match?mode=any", hay.as_bytes());
        assert_eq!(
            ids(&any["matches"]).len(),
            usize::from(!oracle.all(hay.as_bytes()).is_empty())
        );
    }
    // Batch: a JSON array in the shape of `dfabake-host match`, in order.
    let batch: Vec<&str> = inputs.lines().collect();
    let body = serde_json::json!({ "inputs": batch, "mode": "all" }).to_string();
    let (code, text) = srv.request(
        "POST",
        "/match",
        &[("content-type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(code, 200);
    let arr: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(arr.len(), batch.len());
    for (a, hay) in arr.iter().zip(&batch) {
        assert_eq!(a["input"], *hay);
        assert_eq!(ids(&a["matches"]), oracle.all(hay.as_bytes()));
    }
    let (code, health) = srv.request("GET", "/healthz", &[], b"");
    assert_eq!(code, 200);
    let health: Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["rules"], rules.len());
    // Bad requests get clear errors and the server keeps serving.
    assert_eq!(srv.post("/match?mode=most", b"x").0, 400);
    let (code, text) = srv.request(
        "POST",
        "/match",
        &[("content-type", "application/json")],
        b"{\"inputs\": 3}",
    );
    assert_eq!(code, 400, "{text}");
    assert_eq!(srv.request("GET", "/match", &[], b"").0, 405);
    assert_eq!(srv.request("GET", "/nope", &[], b"").0, 404);
    assert_eq!(srv.post("/match", b"curl/8.0").0, 200);
    let requests = srv.metric("dfabake_requests_total{code=\"200\"}");
    assert!(requests >= 3.0 * batch.len() as f64);
    assert_eq!(srv.metric("dfabake_requests_total{code=\"400\"}"), 2.0);
    // The latency histogram is cumulative and counts every finished request.
    let text = srv.request("GET", "/metrics", &[], b"").1;
    let count = metric_of(&text, "dfabake_request_duration_seconds_count");
    assert_eq!(
        metric_of(
            &text,
            "dfabake_request_duration_seconds_bucket{le=\"+Inf\"}"
        ),
        count
    );
    assert!(metric_of(&text, "dfabake_request_duration_seconds_bucket{le=\"0.5\"}") <= count);
    assert!(count >= requests + 2.0);
    // Instances are reused: two workers, at most two instances.
    assert!(srv.metric("dfabake_instances_created_total") <= 2.0);
    drop(srv);

    // The native-code cache was written on first start; a restart uses it.
    let srv = Server::start(
        &module,
        &["--cache-dir", cache.to_str().unwrap()],
        dir.path(),
    );
    assert!(
        srv.stderr().contains("native code from cache"),
        "{}",
        srv.stderr()
    );
    assert_eq!(srv.post("/match", b"curl/8.0").0, 200);
}

#[test]
fn limits_traps_and_timeouts_never_take_the_server_down() {
    let dir = tempfile::tempdir().unwrap();
    let module = example_module(dir.path());
    let srv = Server::start(
        &module,
        &[
            "--max-body-bytes",
            "16000000",
            "--memory-limit-bytes",
            "4000000",
        ],
        dir.path(),
    );
    // Oversize body: 413 before matching.
    let (code, _) = srv.request("POST", "/match", &[], &vec![b'a'; 16_000_001]);
    assert_eq!(code, 413);
    assert_eq!(srv.post("/match", b"curl/8.0").0, 200);

    // A 3 MB input cannot fit in a 4 MB instance: the module traps (500),
    // the instance is replaced, the next request is served.
    let (code, body) = srv.post("/match", &vec![b'a'; 3_000_000]);
    assert_eq!(code, 500, "{body}");
    let msg = body["error"].as_str().unwrap();
    assert!(msg.contains("trapped"), "{body}");
    // The trap is the module aborting on a failed allocation: said as such,
    // with the limit, to the client and in the server's log.
    assert!(
        msg.contains("out of memory") && msg.contains("4000000 bytes"),
        "{body}"
    );
    // A short message for the client: no wasm backtrace.
    assert!(
        !msg.contains("backtrace") && !msg.contains('\n') && msg.len() < 200,
        "{msg}"
    );
    assert_eq!(srv.post("/match", b"curl/8.0").0, 200);
    assert_eq!(srv.metric("dfabake_instance_recycles_total"), 1.0);
    let log = srv.stderr();
    assert!(
        log.contains("a match failed and its instance was replaced")
            && log.contains("out of memory"),
        "{log}"
    );
    drop(srv);

    // A search far over a 100 ms bound (64 single-rule shards, each scanning
    // 8 MB; no prefilter, which would settle these literal rules in one
    // pass): 503, instance replaced, the next request is served. Normal
    // requests take microseconds, far under the bound even on a busy machine.
    let slow_module = slow_module(dir.path());
    let srv = Server::start(
        &slow_module,
        &["--max-body-bytes", "16000000", "--timeout-ms", "100"],
        dir.path(),
    );
    // Near-misses keep every DFA out of its accelerated (memchr) states.
    let slow = slow_input(7_800_000);
    let t = Instant::now();
    let (code, body) = srv.post("/match?mode=all", slow.as_bytes());
    assert_eq!(code, 503, "{}", body.get("error").unwrap_or(&Value::Null));
    assert!(t.elapsed() < Duration::from_secs(5));
    let (code, ok) = srv.post("/match?mode=first", b"a needle7x");
    assert_eq!(code, 200);
    assert_eq!(ok["matches"][0]["id"], 8);
    assert_eq!(srv.metric("dfabake_instance_recycles_total"), 1.0);
    assert_eq!(srv.metric("dfabake_requests_total{code=\"503\"}"), 1.0);
}

fn replace_file(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, bytes).unwrap();
    fs::rename(&tmp, path).unwrap();
}

#[test]
fn reloads_refuse_bad_modules_and_swap_good_ones_under_load() {
    let dir = tempfile::tempdir().unwrap();
    let a = fs::read(bake("alpha\n", dir.path(), "a")).unwrap();
    let b = fs::read(bake("beta\nalpha\n", dir.path(), "b")).unwrap();
    let served = dir.path().join("served.wasm");
    fs::write(&served, &a).unwrap();
    let cache = dir.path().join("cache");
    let srv = Server::start(
        &served,
        &["--watch", "--cache-dir", cache.to_str().unwrap()],
        dir.path(),
    );
    let sha0 = serde_json::from_str::<Value>(&srv.request("GET", "/healthz", &[], b"").1).unwrap()
        ["module_sha256"]
        .clone();

    // A corrupted module (one flipped bit in the database) is refused.
    let mut bad = b.clone();
    let db = dfabake_matcher::module::find_database(&b).unwrap();
    let at = db.as_ptr() as usize - b.as_ptr() as usize + db.len() / 2;
    bad[at] ^= 1;
    replace_file(&served, &bad);
    let deadline = Instant::now() + Duration::from_secs(10);
    while srv.metric("dfabake_reloads_total{result=\"error\"}") < 1.0 {
        assert!(
            Instant::now() < deadline,
            "no reload attempt seen: {}",
            srv.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        srv.stderr().contains("checksum mismatch"),
        "{}",
        srv.stderr()
    );
    let health: Value = serde_json::from_str(&srv.request("GET", "/healthz", &[], b"").1).unwrap();
    assert_eq!(health["module_sha256"], sha0, "still the old module");
    let (_, r) = srv.post("/match", b"alpha beta");
    assert_eq!(
        ids(&r["matches"]),
        vec![Value::from(1)],
        "old rules: alpha is line 1"
    );

    // Valid reloads (SIGHUP) while four clients hammer the server: zero
    // failed requests, and every answer is one of the two modules' answers.
    let stop = Arc::new(AtomicBool::new(false));
    let (done, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (addr, stop, done, failed) =
                (srv.addr.clone(), stop.clone(), done.clone(), failed.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let (code, text) = http(&addr, "POST", "/match", &[], b"alpha beta");
                    let ok = code == 200 && {
                        let got = ids(&serde_json::from_str::<Value>(&text).unwrap()["matches"]);
                        // module a: alpha = 1; module b: beta = 1, alpha = 2
                        got == vec![Value::from(1)] || got == vec![Value::from(1), Value::from(2)]
                    };
                    if !ok {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let generation = || {
        serde_json::from_str::<Value>(&srv.request("GET", "/healthz", &[], b"").1).unwrap()
            ["generation"]
            .as_u64()
            .unwrap()
    };
    for i in 0..6 {
        let before = generation();
        replace_file(&served, if i % 2 == 0 { &b } else { &a });
        srv.signal("-HUP");
        let deadline = Instant::now() + Duration::from_secs(20);
        while generation() == before {
            assert!(
                Instant::now() < deadline,
                "reload {i} did not happen: {}",
                srv.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "failed requests during reloads"
    );
    assert!(
        done.load(Ordering::Relaxed) > 100,
        "load too light to mean anything"
    );
    assert!(srv.metric("dfabake_reloads_total{result=\"ok\"}") >= 6.0);
    // The last swap (i = 5) put module a back; a later watch-triggered
    // reload of the same file changes nothing.
    let (_, r) = srv.post("/match", b"alpha beta");
    assert_eq!(ids(&r["matches"]), vec![Value::from(1)]);

    // SIGTERM: graceful exit with status 0.
    let mut srv = srv;
    srv.signal("-TERM");
    let status = srv.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn compile_prewarms_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let module = example_module(dir.path());
    let cache = dir.path().join("c");
    let run = || {
        Command::new(binary("dfabake-host"))
            .args([
                "compile",
                "--module",
                module.to_str().unwrap(),
                "--cache-dir",
                cache.to_str().unwrap(),
            ])
            .output()
            .unwrap()
    };
    let first = run();
    assert!(first.status.success());
    assert!(String::from_utf8_lossy(&first.stdout).contains("compiled and cached"));
    let second = run();
    assert!(String::from_utf8_lossy(&second.stdout).contains("already cached"));
    let entries = fs::read_dir(&cache)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension() == Some("cwasm".as_ref()))
        .count();
    assert_eq!(entries, 1, "one entry (next to the cache's key)");
}

/// Issue 12, failure 2: batch length and response size are capped; an
/// over-large answer is refused while it is produced, not built first.
#[test]
fn batches_and_responses_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    // 2,000 matching inputs (a 10 KB request) would make a 131 MB answer.
    let module = payload_module(dir.path());
    let json = [("content-type", "application/json")];
    let batch = |inputs: Vec<&str>| serde_json::json!({ "inputs": inputs }).to_string();

    // Defaults: 10,000 inputs, 16 MiB.
    let srv = Server::start(&module, &[], dir.path());
    let (code, text) = srv.request("POST", "/match", &json, batch(vec!["b"; 10_001]).as_bytes());
    assert_eq!(code, 413, "{text}");
    let err: Value = serde_json::from_str(&text).unwrap();
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("--max-batch-inputs"),
        "{err}"
    );
    let (code, text) = srv.request("POST", "/match", &json, batch(vec!["b"; 10_000]).as_bytes());
    assert_eq!(code, 200);
    assert_eq!(
        serde_json::from_str::<Vec<Value>>(&text).unwrap().len(),
        10_000
    );

    srv.reset_peak_rss();
    let (_, rss_before) = srv.rss();
    let t = Instant::now();
    let (code, text) = srv.request("POST", "/match", &json, batch(vec!["a"; 2_000]).as_bytes());
    let elapsed = t.elapsed();
    let (peak, _) = srv.rss();
    assert_eq!(code, 413, "{}", &text[..text.len().min(300)]);
    assert!(
        text.len() < 1000,
        "a short error, not the answer: {} bytes",
        text.len()
    );
    let err: Value = serde_json::from_str(&text).unwrap();
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("--max-response-bytes"),
        "{err}"
    );
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    // At most about the cap (16 MiB) was built, never the 131 MB answer.
    let grew = peak.saturating_sub(rss_before);
    eprintln!(
        "over-large batch: 413 in {elapsed:?}, peak RSS +{} MiB",
        grew >> 20
    );
    assert!(grew < 80 << 20, "peak RSS grew by {} MiB", grew >> 20);
    let (code, one) = srv.post("/match", b"a");
    assert_eq!(code, 200);
    assert_eq!(
        one["matches"][0]["payload"]["blob"].as_str().unwrap().len(),
        64 << 10
    );
    drop(srv);

    // The flags; a single raw input is bounded the same way.
    let srv = Server::start(
        &module,
        &["--max-batch-inputs", "3", "--max-response-bytes", "100000"],
        dir.path(),
    );
    assert_eq!(
        srv.request("POST", "/match", &json, batch(vec!["b"; 4]).as_bytes())
            .0,
        413
    );
    assert_eq!(
        srv.request("POST", "/match", &json, batch(vec!["b"; 3]).as_bytes())
            .0,
        200
    );
    assert_eq!(
        srv.request("POST", "/match", &json, batch(vec!["a"; 1]).as_bytes())
            .0,
        200
    );
    assert_eq!(
        srv.request("POST", "/match", &json, batch(vec!["a"; 2]).as_bytes())
            .0,
        413
    );
    assert_eq!(srv.post("/match", b"a").0, 200);
    let (code, err) = srv.post("/match", &[b'a'; 100_000]);
    assert_eq!(code, 413);
    let msg = err["error"].as_str().unwrap();
    assert!(
        msg.contains("--max-response-bytes")
            && msg.contains("shorter input")
            && !msg.contains("inputs"),
        "{msg}"
    );
    assert_eq!(srv.metric("dfabake_requests_total{code=\"413\"}"), 3.0);
}

/// A chunked request body costs about its size, however small its chunks:
/// each chunk is copied out as it arrives. Kept as received, 1-byte chunks
/// cost about 40 times the body (a buffer entry and the connection's read
/// buffer held per byte).
#[test]
fn chunked_bodies_cost_their_size_whatever_their_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let module = example_module(dir.path());
    let srv = Server::start(&module, &[], dir.path());
    let chunked = |body: &[u8], chunk: usize, last: bool| -> Vec<u8> {
        let mut req =
            b"POST /match HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
                .to_vec();
        for piece in body.chunks(chunk) {
            req.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            req.extend_from_slice(piece);
            req.extend_from_slice(b"\r\n");
        }
        if last {
            req.extend_from_slice(b"0\r\n\r\n");
        }
        req
    };
    // A whole body in 1-byte chunks is answered as the same body sent at once.
    let ua = b"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
    let whole = raw(&srv.addr, &chunked(ua, 1, true));
    let (code, at_once) = srv.request("POST", "/match", &[], ua);
    assert_eq!(code, 200);
    assert!(whole.starts_with("HTTP/1.1 200"), "{whole}");
    assert!(whole.ends_with(&at_once), "{whole}\n{at_once}");

    // Eight bodies of 512 KiB in 1-byte chunks, all held open (no last
    // chunk): 4 MiB of bodies.
    srv.reset_peak_rss();
    let (_, before) = srv.rss();
    let body = vec![b'a'; 512 << 10];
    let request = chunked(&body, 1, false);
    let mut open = Vec::new();
    for _ in 0..8 {
        let mut c = TcpStream::connect(&srv.addr).unwrap();
        c.write_all(&request).unwrap();
        open.push(c);
    }
    // Until the server has read them: its RSS stops growing.
    let mut last = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let (_, now) = srv.rss();
        if now == last || Instant::now() > deadline {
            break;
        }
        last = now;
    }
    let (peak, _) = srv.rss();
    let grew = peak.saturating_sub(before);
    eprintln!(
        "8 bodies of 512 KiB in 1-byte chunks: peak RSS +{} MiB",
        grew >> 20
    );
    assert!(grew < 40 << 20, "peak RSS grew by {} MiB", grew >> 20);
    // The server still answers while they are open.
    assert_eq!(srv.post("/match", b"curl/8.0").0, 200);
    drop(open);
}

/// Answers produced for clients that do not read them are bounded all
/// together by `--max-pending-response-bytes`: beyond it a request gets
/// 503, and the bytes are given back when the slow connection closes.
#[test]
fn answers_waiting_for_their_clients_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let module = payload_module(dir.path());
    let srv = Server::start(
        &module,
        &[
            "--max-pending-response-bytes",
            "2M",
            "--body-timeout-ms",
            "3000",
        ],
        dir.path(),
    );
    assert_eq!(srv.metric("dfabake_pending_response_bytes"), 0.0);
    // A 15.7 MB answer, more than loopback's socket buffers take: most of
    // it stays pending while its client reads nothing.
    let inputs = vec!["a"; 240];
    let batch = serde_json::json!({ "inputs": inputs }).to_string();
    let mut stalled = TcpStream::connect(&srv.addr).unwrap();
    write!(
        stalled,
        "POST /match HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{batch}",
        batch.len()
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while srv.metric("dfabake_pending_response_bytes") == 0.0 {
        assert!(Instant::now() < deadline, "the answer never became pending");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pending = srv.metric("dfabake_pending_response_bytes");
    assert!(pending > 15e6, "{pending}");
    // The only answer pending may pass the bound; the next may not.
    let (code, err) = srv.post("/match", b"a");
    assert_eq!(code, 503, "{err}");
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("--max-pending-response-bytes"),
        "{err}"
    );
    // Answers that are not matches (probes, errors), and answers of one
    // piece (64 KiB), which their connection takes at once, are not held back.
    assert_eq!(srv.request("GET", "/healthz", &[], b"").0, 200);
    let (code, small) = srv.post("/match", b"b");
    assert_eq!(code, 200, "{small}");
    assert!(small["matches"].as_array().unwrap().is_empty());
    assert_eq!(srv.post("/match?mode=nope", b"a").0, 400);
    // The stalled client goes away: its bytes are given back.
    drop(stalled);
    let deadline = Instant::now() + Duration::from_secs(10);
    while srv.metric("dfabake_pending_response_bytes") != 0.0 {
        assert!(
            Instant::now() < deadline,
            "the pending bytes were never given back"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (code, one) = srv.post("/match", b"a");
    assert_eq!(code, 200);
    assert_eq!(
        one["matches"][0]["payload"]["blob"].as_str().unwrap().len(),
        64 << 10
    );
    assert_eq!(srv.metric("dfabake_pending_response_bytes"), 0.0);
}

/// Issue 12, failure 3: `--timeout-ms` bounds a whole batch, and matching
/// never holds up the probes.
#[test]
fn one_deadline_bounds_a_batch_and_probes_never_wait() {
    let dir = tempfile::tempdir().unwrap();
    let module = slow_module(dir.path());
    let srv = Server::start(
        &module,
        &["--max-body-bytes", "20000000", "--timeout-ms", "1000"],
        dir.path(),
    );
    // 25 inputs of 600 KB: each well under the 1 s bound (~0.2 s), all
    // together several seconds. One batch per worker keeps both busy.
    let body = Arc::new(serde_json::json!({ "inputs": vec![slow_input(600_000); 25] }).to_string());
    let finished = Arc::new(AtomicUsize::new(0));
    let batches: Vec<_> = (0..2)
        .map(|_| {
            let (addr, body, finished) = (srv.addr.clone(), body.clone(), finished.clone());
            std::thread::spawn(move || {
                let t = Instant::now();
                let r = http(
                    &addr,
                    "POST",
                    "/match",
                    &[("content-type", "application/json")],
                    body.as_bytes(),
                );
                finished.fetch_add(1, Ordering::SeqCst);
                (r, t.elapsed())
            })
        })
        .collect();
    let mut worst = Duration::ZERO;
    let mut probes = 0;
    while finished.load(Ordering::SeqCst) < 2 {
        let t = Instant::now();
        let path = if probes % 2 == 0 {
            "/healthz"
        } else {
            "/metrics"
        };
        assert_eq!(srv.request("GET", path, &[], b"").0, 200);
        worst = worst.max(t.elapsed());
        probes += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
    for b in batches {
        let ((code, text), elapsed) = b.join().unwrap();
        assert_eq!(code, 503, "{}", &text[..text.len().min(300)]);
        let err: Value = serde_json::from_str(&text).unwrap();
        assert!(
            err["error"].as_str().unwrap().contains("time bound"),
            "{err}"
        );
        assert!(
            elapsed < Duration::from_millis(2500),
            "batch answered after {elapsed:?}"
        );
    }
    eprintln!("{probes} probes while the batches ran, slowest {worst:?}");
    assert!(probes >= 3, "only {probes} probes while the batches ran");
    assert!(
        worst < Duration::from_millis(500),
        "a probe waited {worst:?}"
    );
    assert_eq!(srv.metric("dfabake_requests_total{code=\"503\"}"), 2.0);
    let (code, ok) = srv.post("/match?mode=first", b"a needle7x");
    assert_eq!(code, 200);
    assert_eq!(ok["matches"][0]["id"], 8);
}

/// Issue 12, failure 4: idle, half-header and short-body connections are
/// cut, and connections beyond `--max-connections` are refused at once
/// instead of taking the server over.
#[test]
fn slow_idle_and_surplus_connections_are_cut() {
    let dir = tempfile::tempdir().unwrap();
    let module = example_module(dir.path());
    let srv = Server::start(
        &module,
        &[
            "--max-connections",
            "8",
            // Long enough that the idle connections below outlive the 40
            // refused ones on a loaded machine.
            "--header-timeout-ms",
            "2000",
            "--body-timeout-ms",
            "500",
            "--max-body-bytes",
            "30000000",
            "--max-response-bytes",
            "30000000",
        ],
        dir.path(),
    );
    let connect = || TcpStream::connect(&srv.addr).unwrap();

    // A header that never ends, and a body that never ends.
    let mut half = connect();
    half.write_all(b"POST /match HTTP/1.1\r\nhost: x\r\ncontent-le")
        .unwrap();
    let mut short = connect();
    short
        .write_all(b"POST /match HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\nonly ten b")
        .unwrap();
    let t = Instant::now();
    short
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut short = BufReader::new(short);
    let (code, headers, body) = read_reply(&mut short, false).unwrap();
    assert_eq!(code, 408, "{}", String::from_utf8_lossy(&body));
    assert_eq!(header(&headers, "connection"), Some("close"));
    assert!(closed_within(short.get_mut(), Duration::from_secs(5)));
    assert!(
        closed_within(&mut half, Duration::from_secs(5)),
        "half header still open"
    );
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
    // Both slots are free again (the metrics connection is the one open).
    let deadline = Instant::now() + Duration::from_secs(5);
    while srv.metric("dfabake_connections_open") != 1.0 {
        assert!(Instant::now() < deadline, "connections not released");
        std::thread::sleep(Duration::from_millis(20));
    }

    // Eight idle connections fill the cap; the ninth (accepted after them)
    // and forty more are refused at once: 503, then closed.
    let idle_since = Instant::now();
    let mut idle: Vec<TcpStream> = (0..8).map(|_| connect()).collect();
    // The metrics connections above may still hold their slots for a
    // moment after their answers (then idle connections were refused
    // instead, and the slots free up): one more idle connection takes each.
    // At most two (a loaded machine let two through once, in a full test
    // run): a third 200 is a server that does not cap.
    let mut answered_early = 0.0;
    for attempt in 0.. {
        match try_http(&srv.addr, "POST", "/match", &[], b"curl/8.0") {
            Ok((503, text)) => assert!(text.contains("too many connections"), "{text}"),
            Ok((200, _)) if attempt < 2 => {
                answered_early += 1.0;
                idle.push(connect());
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
            Ok((code, text)) => panic!("over the cap, answered {code}: {text}"),
            Err(_) => {} // reset before the 503 could be read: refused too
        }
        break;
    }
    let t = Instant::now();
    let mut refused = 0;
    for _ in 0..40 {
        let mut s = connect();
        // Past the header timeout (2 s): a surplus connection that took a
        // slot an idle one freed is cut by then (empty answer, below), not
        // taken for one left open (a full test run failed that way once).
        s.set_read_timeout(Some(Duration::from_secs(4))).unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer)
            .expect("a surplus connection stayed open");
        // On a loaded machine the idle connections can reach their header
        // timeout (2 s after they were opened, which may be well before this
        // loop began) while it runs: their slots free up, and a surplus
        // connection is served, then cut for sending nothing. Not before.
        if answer.is_empty() && idle_since.elapsed() >= Duration::from_millis(1500) {
            break;
        }
        assert!(answer.starts_with("HTTP/1.1 503 "), "{answer:?}");
        assert!(
            answer.ends_with("{\"error\":\"too many connections\"}"),
            "{answer:?}"
        );
        refused += 1;
    }
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    // The idle ones are cut by the header timeout; the server is
    // reachable again.
    for s in &mut idle {
        assert!(
            closed_within(s, Duration::from_secs(5)),
            "idle connection never cut"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match try_http(&srv.addr, "POST", "/match", &[], b"curl/8.0") {
            Ok((200, _)) => break,
            other => assert!(Instant::now() < deadline, "not reachable again: {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(srv.metric("dfabake_connections_rejected_total") >= f64::from(refused + 1));

    // A client that never reads its (20 MB) answer loses the connection
    // once writing has stalled for the body timeout.
    let mut deaf = connect();
    let input = vec![b'a'; 20_000_000];
    deaf.write_all(
        format!(
            "POST /match HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n",
            input.len()
        )
        .as_bytes(),
    )
    .unwrap();
    deaf.write_all(&input).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while srv.metric("dfabake_connections_open") != 1.0 {
        assert!(
            Instant::now() < deadline,
            "a client that does not read keeps its connection"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Two answered below, and the ones above the cap let through.
    assert_eq!(
        srv.metric("dfabake_requests_total{code=\"200\"}"),
        2.0 + answered_early
    );
    drop(deaf);
}

/// Issue 12, failure 4 at the descriptor limit: idle connections beyond
/// what the process may open do not lock the server out, and failed
/// accepts back off instead of flooding the log.
#[test]
fn out_of_descriptors_the_server_recovers_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let module = example_module(dir.path());
    let srv = Server::start_with_fd_limit(
        64,
        &module,
        &["--header-timeout-ms", "500", "--no-cache"],
        dir.path(),
    );
    let idle: Vec<TcpStream> = (0..120)
        .map(|_| TcpStream::connect(&srv.addr).unwrap())
        .collect();
    let t = Instant::now();
    let (code, text) = try_http(&srv.addr, "POST", "/match", &[], b"curl/8.0")
        .unwrap_or_else(|e| panic!("{e}; stderr: {}", srv.stderr()));
    assert_eq!(code, 200, "{text}");
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    let failures = srv.stderr().matches("accept failed").count();
    assert!(
        (1..=5).contains(&failures),
        "{failures} accept failure lines: {}",
        srv.stderr()
    );
    drop(idle);
}

/// Issue 12, failure 5: SIGTERM answers every request already sent on an
/// open keep-alive connection, read or not: under load, no client loses a
/// request; each one's last answer says `connection: close`.
#[test]
fn sigterm_answers_every_request_already_sent() {
    let dir = tempfile::tempdir().unwrap();
    let module = slow_module(dir.path());
    let mut srv = Server::start(&module, &["--timeout-ms", "0"], dir.path());
    const N: usize = 32;
    // Requests of some milliseconds each: with 32 clients and 2 workers,
    // most are waiting, many not yet read, when the signal arrives.
    let request = Arc::new({
        let input = slow_input(20_000);
        let mut r = format!(
            "POST /match HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n",
            input.len()
        )
        .into_bytes();
        r.extend_from_slice(input.as_bytes());
        r
    });
    let answered = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..N)
        .map(|_| {
            let (addr, request, answered) = (srv.addr.clone(), request.clone(), answered.clone());
            std::thread::spawn(move || -> Result<usize, (String, Instant)> {
                let s = TcpStream::connect(&addr).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                let mut r = BufReader::new(s);
                let mut mine = 0;
                loop {
                    let sent = Instant::now();
                    r.get_mut()
                        .write_all(&request)
                        .map_err(|e| (format!("sending after {mine} answers: {e}"), sent))?;
                    let (code, headers, _) = read_reply(&mut r, false)
                        .map_err(|e| (format!("after {mine} answers: {e}"), sent))?;
                    if code != 200 {
                        return Err((format!("answered {code}"), sent));
                    }
                    mine += 1;
                    answered.fetch_add(1, Ordering::SeqCst);
                    if header(&headers, "connection") == Some("close") {
                        return Ok(mine);
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while answered.load(Ordering::SeqCst) < 4 * N {
        assert!(Instant::now() < deadline, "load never got going");
        std::thread::sleep(Duration::from_millis(5));
    }
    let killed = Instant::now();
    srv.signal("-TERM");
    let results: Vec<_> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let lost: Vec<_> = results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .map(|(e, sent)| {
            format!(
                "{e} (sent {})",
                if *sent < killed {
                    "before SIGTERM"
                } else {
                    "after SIGTERM"
                }
            )
        })
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {N} clients lost a request: {lost:#?}\n{}",
        lost.len(),
        srv.stderr()
    );
    let status = srv.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "{status:?}");
}

/// HEAD wherever GET works, content types matched exactly (any case,
/// parameters allowed), and probes counted apart from match traffic.
#[test]
fn head_content_types_and_probe_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let module = example_module(dir.path());
    let srv = Server::start(&module, &[], dir.path());
    for (path, ctype) in [("/healthz", "application/json"), ("/metrics", "text/plain")] {
        let get = raw(
            &srv.addr,
            format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes(),
        );
        let head = raw(
            &srv.addr,
            format!("HEAD {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes(),
        );
        assert!(head.starts_with("HTTP/1.1 200 "), "HEAD {path}: {head}");
        let (head_headers, head_body) = head.split_once("\r\n\r\n").unwrap();
        assert_eq!(head_body, "", "HEAD {path} has no body");
        assert!(
            head_headers.contains(&format!("content-type: {ctype}")),
            "{head_headers}"
        );
        assert!(head_headers.contains("content-length: "), "{head_headers}");
        assert!(get.starts_with("HTTP/1.1 200 "));
    }
    let head_match = raw(
        &srv.addr,
        b"HEAD /match HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    );
    assert!(head_match.starts_with("HTTP/1.1 405 "), "{head_match}");
    assert!(head_match.contains("allow: POST"), "{head_match}");
    let delete = raw(
        &srv.addr,
        b"DELETE /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    );
    assert!(delete.starts_with("HTTP/1.1 405 "), "{delete}");
    assert!(delete.contains("allow: GET, HEAD"), "{delete}");

    let body = br#"{"inputs": ["curl/8.0"]}"#;
    for ctype in [
        "application/json",
        "Application/JSON",
        "application/json; charset=utf-8",
        "APPLICATION/JSON;charset=UTF-8",
    ] {
        let (code, text) = srv.request("POST", "/match", &[("content-type", ctype)], body);
        assert_eq!(code, 200);
        let arr: Vec<Value> =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{ctype}: {text}"));
        assert_eq!(arr[0]["input"], "curl/8.0", "{ctype}");
    }
    for ctype in [
        "application/jsonx",
        "text/json",
        "application/json-seq",
        "text/plain",
    ] {
        let (code, text) = srv.request("POST", "/match", &[("content-type", ctype)], body);
        assert_eq!(code, 200);
        let one: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            one["input"],
            std::str::from_utf8(body).unwrap(),
            "{ctype}: a raw input"
        );
    }

    // Probes so far: GET and HEAD of each path; match traffic: 8 answers
    // of 200 and 2 of 405.
    let text = srv.request("GET", "/metrics", &[], b"").1;
    assert_eq!(
        metric_of(&text, "dfabake_probe_requests_total{path=\"/healthz\"}"),
        2.0
    );
    assert_eq!(
        metric_of(&text, "dfabake_probe_requests_total{path=\"/metrics\"}"),
        2.0
    );
    assert_eq!(
        metric_of(&text, "dfabake_requests_total{code=\"200\"}"),
        8.0
    );
    assert_eq!(
        metric_of(&text, "dfabake_requests_total{code=\"405\"}"),
        2.0
    );
    assert_eq!(
        metric_of(&text, "dfabake_request_duration_seconds_count"),
        10.0
    );
    assert_eq!(metric_of(&text, "dfabake_inputs_total"), 8.0);
}

/// Arbitrary and malformed bytes on the request path: every answer is a
/// well-formed HTTP response or a closed connection, the server never
/// panics, and a normal request is served afterwards.
#[test]
fn http_request_path_survives_arbitrary_bytes() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let dir = tempfile::tempdir().unwrap();
    let module = example_module(dir.path());
    let mut srv = Server::start(
        &module,
        &[
            "--header-timeout-ms",
            "300",
            "--body-timeout-ms",
            "300",
            "--max-body-bytes",
            "4096",
            "--max-batch-inputs",
            "4",
            "--max-response-bytes",
            "2048",
        ],
        dir.path(),
    );
    let methods = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "CONNECT", "G\0T", "",
    ];
    let paths = [
        "/match",
        "/match?mode=first",
        "/match?mode=",
        "/match?mode=all&mode=any",
        "/healthz",
        "/metrics",
        "/",
        "*",
        "//match",
        "/match#x",
        "http://x/match",
        "/%ff%00",
    ];
    let headers = [
        "content-type: application/json",
        "content-type: application/json; charset=utf-8",
        "content-type: application/jsonx",
        "content-length: 5",
        "content-length: 99999999999999999999",
        "content-length: -1",
        "content-length: 3\r\ncontent-length: 4",
        "transfer-encoding: chunked",
        "transfer-encoding: gzip, chunked",
        "expect: 100-continue",
        "connection: keep-alive",
        "host:",
        "x: \u{1}\u{7f}",
        " folded: header",
    ];
    let bodies = [
        "",
        "curl/8.0",
        "{\"inputs\": [\"curl/8.0\", \"bingbot\"]}",
        "{\"inputs\": [\"a\", \"b\", \"c\", \"d\", \"e\"]}",
        "{\"inputs\": 3}",
        "{\"inputs\": [\"\\ud800\"]}",
        "5\r\nhello\r\n0\r\n\r\n",
        "zz\r\nhello\r\n0\r\n\r\n",
        "ffffffffffffffff\r\n",
    ];
    let structured = (
        prop::sample::select(methods.to_vec()),
        prop::sample::select(paths.to_vec()),
        prop::sample::select(vec!["HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/1.1 x", ""]),
        prop::collection::vec(prop::sample::select(headers.to_vec()), 0..4),
        prop::sample::select(bodies.to_vec()),
        any::<Option<(usize, u8)>>(),
        any::<bool>(),
    )
        .prop_map(|(m, p, v, hs, b, flip, truncate)| {
            let mut req = format!("{m} {p} {v}\r\nhost: x\r\n");
            for h in hs {
                req.push_str(h);
                req.push_str("\r\n");
            }
            req.push_str("\r\n");
            req.push_str(b);
            let mut bytes = req.into_bytes();
            if let Some((at, byte)) = flip {
                let at = at % bytes.len();
                bytes[at] = byte;
            }
            if truncate {
                bytes.truncate(bytes.len() / 2);
            }
            bytes
        });
    let strategy = prop_oneof![
        3 => structured,
        1 => prop::collection::vec(any::<u8>(), 0..600),
    ];
    let mut runner = TestRunner::new(Config {
        cases: 200,
        failure_persistence: None,
        ..Config::default()
    });
    let addr = srv.addr.clone();
    let started = Instant::now();
    runner
        .run(&strategy, |bytes| {
            let mut s = TcpStream::connect(&addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let _ = s.write_all(&bytes);
            let _ = s.shutdown(std::net::Shutdown::Write);
            let mut resp = Vec::new();
            match s.read_to_end(&mut resp) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
                Err(e) => prop_assert!(false, "no answer and no close: {e}"),
            }
            if !resp.is_empty() {
                let text = String::from_utf8_lossy(&resp);
                prop_assert!(
                    text.starts_with("HTTP/1.1 ") || text.starts_with("HTTP/1.0 "),
                    "not HTTP: {text:?}"
                );
                let code: u16 = text[9..12]
                    .parse()
                    .map_err(|_| TestCaseError::fail(format!("status {text:?}")))?;
                prop_assert!((100..600).contains(&code), "{text:?}");
                prop_assert!(text.contains("\r\n\r\n"), "unterminated header: {text:?}");
                prop_assert!(code != 500, "internal error: {text:?}");
            }
            Ok(())
        })
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(srv.post("/match", b"curl/8.0").0, 200);
    assert!(srv.child.try_wait().unwrap().is_none(), "server exited");
    assert!(!srv.stderr().contains("panicked"), "{}", srv.stderr());
}

// ---- Issue 15: server operations ----

/// `dfabake-host serve` with no flags: everything comes from `env`.
fn serve_from_env(env: &[(&str, &str)], extra: &[&str], dir: &Path) -> Server {
    let mut cmd = Command::new(binary("dfabake-host"));
    cmd.arg("serve").args(extra);
    for (k, v) in env {
        cmd.env(k, v);
    }
    Server::spawn(cmd, dir)
}

/// Every flag of `serve` and `compile` has a `DFABAKE_*` variable that sets
/// it (shown by `--help`); a flag on the command line wins, also over the
/// variable of a flag it excludes; a bad value names its variable.
#[test]
fn environment_variables_configure_the_server_and_flags_win() {
    let dir = tempfile::tempdir().unwrap();
    let module = example_module(dir.path());
    let cache = dir.path().join("cache");
    let m = module.to_str().unwrap();
    let c = cache.to_str().unwrap();

    for sub in ["serve", "compile"] {
        let help = Command::new(binary("dfabake-host"))
            .args([sub, "--help"])
            .output()
            .unwrap();
        let help = String::from_utf8(help.stdout).unwrap();
        let flags: Vec<&str> = help
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix("--"))
            .map(|l| l.split([' ', ',']).next().unwrap())
            .filter(|f| *f != "help")
            .collect();
        assert!(flags.len() >= if sub == "serve" { 17 } else { 4 }, "{help}");
        for flag in flags {
            let var = format!("DFABAKE_{}", flag.replace('-', "_").to_ascii_uppercase());
            assert!(
                help.contains(&format!("[env: {var}=")),
                "{sub} --{flag}: no {var} in --help:\n{help}"
            );
        }
    }

    let big = vec![b'a'; 200];
    let env = [
        ("DFABAKE_MODULE", m),
        ("DFABAKE_LISTEN", "127.0.0.1:0"),
        ("DFABAKE_WORKERS", "1"),
        ("DFABAKE_MAX_BODY_BYTES", "100"),
        ("DFABAKE_CACHE_DIR", c),
    ];
    let srv = serve_from_env(&env, &[], dir.path());
    assert_eq!(srv.post("/match", &big).0, 413, "DFABAKE_MAX_BODY_BYTES");
    assert_eq!(srv.post("/match", b"curl/8.0").0, 200);
    assert!(cache.join("hmac.key").exists(), "DFABAKE_CACHE_DIR");
    drop(srv);
    // The flag wins over the variable.
    let srv = serve_from_env(&env, &["--max-body-bytes", "1000"], dir.path());
    assert_eq!(srv.post("/match", &big).0, 200, "--max-body-bytes");
    assert!(
        srv.stderr().contains("native code from cache"),
        "{}",
        srv.stderr()
    );
    drop(srv);
    // DFABAKE_WATCH: on/off values as people write them.
    let mut on = env.to_vec();
    on.push(("DFABAKE_WATCH", "1"));
    let srv = serve_from_env(&on, &[], dir.path());
    let other = bake("other\n", dir.path(), "watched");
    replace_file(&module, &fs::read(&other).unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    while srv.metric("dfabake_reloads_total{result=\"ok\"}") < 1.0 {
        assert!(Instant::now() < deadline, "DFABAKE_WATCH=1 did not watch");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(srv);

    // --cache-dir on the command line beats DFABAKE_NO_CACHE (no conflict
    // error), and --no-cache beats DFABAKE_CACHE_DIR.
    let cache2 = dir.path().join("cache2");
    let o = Command::new(binary("dfabake-host"))
        .args(["compile", "--module", m, "--cache-dir"])
        .arg(&cache2)
        .env("DFABAKE_NO_CACHE", "true")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(cache2.join("hmac.key").exists());
    let cache3 = dir.path().join("cache3");
    let o = Command::new(binary("dfabake-host"))
        .args(["match", "--module", m, "--no-cache", "curl/8.0"])
        .env("DFABAKE_CACHE_DIR", &cache3)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!cache3.exists(), "--no-cache lost to DFABAKE_CACHE_DIR");
    // An on/off variable set to off is not given: no conflict with the
    // variable of a flag it excludes, as an env file may hold both.
    for off in ["false", "off", "0", "no"] {
        let cache4 = dir.path().join(format!("cache4-{off}"));
        let o = Command::new(binary("dfabake-host"))
            .args(["compile", "--module", m])
            .env("DFABAKE_NO_CACHE", off)
            .env("DFABAKE_CACHE_DIR", &cache4)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "DFABAKE_NO_CACHE={off}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(cache4.join("hmac.key").exists(), "DFABAKE_NO_CACHE={off}");
    }
    // Both from the command line is still a usage error.
    let o = Command::new(binary("dfabake-host"))
        .args(["compile", "--module", m, "--no-cache", "--cache-dir", c])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));

    // A bad value from a variable says which variable.
    let o = Command::new(binary("dfabake-host"))
        .args(["serve", "--module", m])
        .env("DFABAKE_LISTEN", "localhost-8080")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--listen") && err.contains("DFABAKE_LISTEN"),
        "{err}"
    );
    // An empty variable is unset, not an empty value.
    let empty = [
        ("DFABAKE_MODULE", m),
        ("DFABAKE_LISTEN", "127.0.0.1:0"),
        ("DFABAKE_WORKERS", ""),
        ("DFABAKE_ACCESS_LOG", ""),
        ("DFABAKE_WATCH", ""),
    ];
    let srv = serve_from_env(&empty, &[], dir.path());
    assert_eq!(srv.post("/match", b"curl/8.0").0, 200);
    drop(srv);
    // match's output-shaping flags take no variable.
    let o = Command::new(binary("dfabake-host"))
        .args(["match", "--module", m, "curl/8.0"])
        .env("DFABAKE_MODE", "first")
        .output()
        .unwrap();
    let line: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(line["matches"][0].get("start").is_none(), "{line}");
}

/// `/readyz` answers 200 while serving and 503 once shutting down (on a
/// connection still open in the grace period); probes — GET and HEAD of
/// `/healthz`, `/readyz`, `/metrics` — are never match traffic.
#[test]
fn readyz_and_probes_stay_out_of_match_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let module = example_module(dir.path());
    let mut srv = Server::start(&module, &["--shutdown-grace-ms", "5000"], dir.path());
    for path in ["/healthz", "/readyz", "/metrics"] {
        for method in ["GET", "HEAD", "GET"] {
            let (code, body) = srv.request(method, path, &[], b"");
            assert_eq!(code, 200, "{method} {path}");
            if method == "GET" && path == "/readyz" {
                assert_eq!(body, r#"{"status":"ready"}"#);
            }
        }
    }
    assert_eq!(srv.request("POST", "/readyz", &[], b"").0, 405);
    assert_eq!(srv.post("/match", b"curl/8.0").0, 200);
    let text = srv.request("GET", "/metrics", &[], b"").1;
    for path in ["/healthz", "/readyz"] {
        assert_eq!(
            metric_of(
                &text,
                &format!("dfabake_probe_requests_total{{path=\"{path}\"}}")
            ),
            3.0
        );
    }
    // Three counted before this one was rendered.
    assert_eq!(
        metric_of(&text, "dfabake_probe_requests_total{path=\"/metrics\"}"),
        3.0
    );
    // Match traffic: the POST /readyz (405) and the POST /match only.
    assert_eq!(
        metric_of(&text, "dfabake_request_duration_seconds_count"),
        2.0
    );
    assert_eq!(
        metric_of(&text, "dfabake_requests_total{code=\"200\"}"),
        1.0
    );
    assert_eq!(
        metric_of(&text, "dfabake_requests_total{code=\"405\"}"),
        1.0
    );

    let s = TcpStream::connect(&srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    w.write_all(b"GET /readyz HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_reply(&mut r, false).unwrap().0, 200);
    srv.signal("-TERM");
    std::thread::sleep(Duration::from_millis(300));
    w.write_all(b"GET /readyz HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    let (code, headers, body) = read_reply(&mut r, false).unwrap();
    assert_eq!(code, 503, "{}", String::from_utf8_lossy(&body));
    assert_eq!(header(&headers, "connection"), Some("close"));
    drop((r, w));
    assert!(srv.wait_exit(Duration::from_secs(20)).success());
}

/// The `process_*` metrics Prometheus' client libraries export, from
/// `/proc`, agree with what `/proc/<pid>` says from outside; build info
/// names the version and the module served (following reloads).
#[test]
fn process_and_build_info_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let module = example_module(dir.path());
    let srv = Server::start(&module, &[], dir.path());
    let pid = srv.child.id();
    let text = srv.request("GET", "/metrics", &[], b"").1;
    for (name, kind) in [
        ("process_start_time_seconds", "gauge"),
        ("process_resident_memory_bytes", "gauge"),
        ("process_cpu_seconds_total", "counter"),
        ("process_open_fds", "gauge"),
        ("process_max_fds", "gauge"),
        ("dfabake_build_info", "gauge"),
    ] {
        assert!(
            text.contains(&format!("# TYPE {name} {kind}\n")),
            "{name}: {text}"
        );
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let started = metric_of(&text, "process_start_time_seconds");
    assert!(
        started <= now + 1.0 && started > now - 120.0,
        "{started} vs now {now}"
    );
    let (_, rss) = srv.rss();
    let reported = metric_of(&text, "process_resident_memory_bytes");
    assert!(
        reported > rss as f64 / 2.0 && reported < rss as f64 * 2.0,
        "{reported} vs VmRSS {rss}"
    );
    let fds = fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count() as f64;
    let open = metric_of(&text, "process_open_fds");
    assert!(
        (open - fds).abs() <= 3.0,
        "{open} vs {fds} in /proc/{pid}/fd"
    );
    // Five more connections held open: five more descriptors.
    let held: Vec<TcpStream> = (0..5)
        .map(|_| {
            let mut s = TcpStream::connect(&srv.addr).unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
                .unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            assert_eq!(read_reply(&mut r, false).unwrap().0, 200);
            s
        })
        .collect();
    let more = metric_of(
        &srv.request("GET", "/metrics", &[], b"").1,
        "process_open_fds",
    );
    assert!(
        more >= open + 5.0,
        "{more} after 5 more connections, {open} before"
    );
    drop(held);
    // CPU time grows with work.
    let cpu = metric_of(&text, "process_cpu_seconds_total");
    let body =
        serde_json::json!({ "inputs": vec!["Mozilla/5.0 (compatible; Googlebot/2.1)"; 5000] })
            .to_string();
    let t = Instant::now();
    while t.elapsed() < Duration::from_millis(800) {
        let (code, _) = srv.request(
            "POST",
            "/match",
            &[("content-type", "application/json")],
            body.as_bytes(),
        );
        assert_eq!(code, 200);
    }
    assert!(srv.metric("process_cpu_seconds_total") > cpu);

    let sha = |p: &Path| {
        use sha2::Digest;
        sha2::Sha256::digest(fs::read(p).unwrap())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let info = |text: &str| -> String {
        text.lines()
            .find(|l| l.starts_with("dfabake_build_info{"))
            .unwrap_or_else(|| panic!("no dfabake_build_info in {text}"))
            .to_string()
    };
    let want = format!(
        "dfabake_build_info{{version=\"{}\",module_sha256=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION"),
        sha(&module)
    );
    assert_eq!(info(&text), want);
    let other = bake("other\n", dir.path(), "other");
    replace_file(&module, &fs::read(&other).unwrap());
    srv.signal("-HUP");
    let deadline = Instant::now() + Duration::from_secs(20);
    while srv.metric("dfabake_reloads_total{result=\"ok\"}") < 1.0 {
        assert!(Instant::now() < deadline, "no reload: {}", srv.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
    let after = info(&srv.request("GET", "/metrics", &[], b"").1);
    assert!(after.contains(&sha(&other)), "{after}");
}

/// One access log line per request: `TIME PEER METHOD TARGET STATUS BYTES
/// MICROS`; off by default; to a file (reopened on SIGHUP, for rotation) or
/// stderr (`-`); and a log that cannot be written (a FIFO nobody reads)
/// never holds up answers.
#[test]
fn access_log_one_line_per_request_never_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let module = example_module(dir.path());

    // Off by default.
    let srv = Server::start(&module, &[], dir.path());
    assert_eq!(srv.post("/match", b"curl/8.0").0, 200);
    drop(srv);
    let quiet = Server::start(&module, &[], dir.path());
    assert_eq!(quiet.request("GET", "/nope", &[], b"").0, 404);
    std::thread::sleep(Duration::from_millis(200));
    assert!(!quiet.stderr().contains(" /nope "), "{}", quiet.stderr());
    drop(quiet);

    let log = dir.path().join("access.log");
    let mut srv = Server::start(
        &module,
        &["--access-log", log.to_str().unwrap()],
        dir.path(),
    );
    // Requests with known answers, each from a connection whose local
    // address is the peer the log must name.
    let mut sent = Vec::new();
    for (method, target, body) in [
        ("POST", "/match?mode=first", &b"curl/8.0"[..]),
        ("GET", "/healthz", b""),
        ("HEAD", "/metrics", b""),
        ("GET", "/missing%20page", b""),
        ("POST", "/match?mode=%zz", b"x"),
    ] {
        let mut s = TcpStream::connect(&srv.addr).unwrap();
        let peer = s.local_addr().unwrap().to_string();
        s.write_all(
            format!(
                "{method} {target} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .unwrap();
        s.write_all(body).unwrap();
        let mut r = BufReader::new(s);
        let (code, headers, got) = read_reply(&mut r, method == "HEAD").unwrap();
        let len: usize = header(&headers, "content-length").unwrap().parse().unwrap();
        let bytes = if method == "HEAD" { 0 } else { got.len() };
        assert!(method == "HEAD" || len == bytes);
        sent.push(format!("{peer} {method} {target} {code} {bytes}"));
    }
    srv.signal("-TERM");
    assert!(srv.wait_exit(Duration::from_secs(20)).success());
    let text = fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), sent.len(), "{text}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for (line, want) in lines.iter().zip(&sent) {
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields.len(), 7, "{line}");
        assert_eq!(fields[1..6].join(" "), *want, "{line}");
        let micros: u64 = fields[6].parse().unwrap();
        assert!(micros < 5_000_000, "{line}");
        // RFC 3339 UTC, this very day (compared with `date`).
        let day = Command::new("date")
            .args(["-u", "-d", &format!("@{now}"), "+%Y-%m-%dT"])
            .output()
            .unwrap();
        let day = String::from_utf8(day.stdout).unwrap();
        assert!(fields[0].starts_with(day.trim()), "{line} (today {day})");
        assert!(fields[0].ends_with('Z') && fields[0].len() == 27, "{line}");
    }

    // Rotation: rename the file, SIGHUP, and the next line goes to a new file.
    let srv = Server::start(
        &module,
        &["--access-log", log.to_str().unwrap()],
        dir.path(),
    );
    let rotated = dir.path().join("access.log.1");
    fs::rename(&log, &rotated).unwrap();
    srv.signal("-HUP");
    let deadline = Instant::now() + Duration::from_secs(20);
    while srv.metric("dfabake_reloads_total{result=\"ok\"}") < 1.0 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(srv.request("GET", "/after-rotation", &[], b"").0, 404);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !fs::read_to_string(&log)
        .unwrap_or_default()
        .contains(" /after-rotation ")
    {
        assert!(Instant::now() < deadline, "no line in the reopened log");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!fs::read_to_string(&rotated)
        .unwrap()
        .contains("/after-rotation"));
    drop(srv);

    // To stderr, set by its variable.
    let mut cmd = Command::new(binary("dfabake-host"));
    cmd.args([
        "serve",
        "--module",
        module.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ])
    .env("DFABAKE_ACCESS_LOG", "-");
    let srv = Server::spawn(cmd, dir.path());
    assert_eq!(srv.request("GET", "/to-stderr", &[], b"").0, 404);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !srv.stderr().contains(" GET /to-stderr 404 ") {
        assert!(Instant::now() < deadline, "{}", srv.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(srv);

    // A log whose writes block (a FIFO opened for reading and never read,
    // so its 64 KiB buffer fills): answers keep coming at full speed.
    let fifo = dir.path().join("stuck.fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    // O_NONBLOCK, so opening the read end does not wait for a writer.
    let _reader = {
        use std::os::unix::fs::OpenOptionsExt;
        fs::OpenOptions::new()
            .read(true)
            .custom_flags(0o4000)
            .open(&fifo)
            .unwrap()
    };
    let mut srv = Server::start(
        &module,
        &["--access-log", fifo.to_str().unwrap()],
        dir.path(),
    );
    let s = TcpStream::connect(&srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    // About 1.3 KB of log a request: some 20 times the FIFO's buffer.
    let target = format!("/healthz?{}", "p".repeat(1200));
    let t = Instant::now();
    for i in 0..1000 {
        w.write_all(format!("GET {target} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
            .unwrap();
        let (code, _, _) = read_reply(&mut r, false)
            .unwrap_or_else(|e| panic!("request {i} with the log stuck: {e}"));
        assert_eq!(code, 200);
    }
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    drop((r, w));
    // Shutdown does not hang on the stuck log either.
    srv.signal("-TERM");
    assert!(srv.wait_exit(Duration::from_secs(20)).success());
}

/// `?mode=%61ll` is `mode=all`: query strings are percent-decoded, and a bad
/// escape is a 400 naming the parameter. Without a mode, a raw body and a
/// batch are matched in mode `all` (the documented default).
#[test]
fn query_strings_are_percent_decoded_and_the_default_mode_is_all() {
    let dir = tempfile::tempdir().unwrap();
    let module = example_module(dir.path());
    let srv = Server::start(&module, &[], dir.path());
    let input = b"Mozilla/5.0 (compatible; Googlebot/2.1) curl/8.0";
    for (plain, encoded) in [
        ("all", "%61ll"),
        ("any", "%61%6E%79"),
        ("first", "fir%73t"),
        ("all", "%61%6c%6c"),
    ] {
        let (code, want) = srv.post(&format!("/match?mode={plain}"), input);
        assert_eq!(code, 200);
        let (code, got) = srv.post(&format!("/match?mode={encoded}"), input);
        assert_eq!(code, 200, "mode={encoded}: {got}");
        assert_eq!(got, want, "mode={encoded}");
        let (code, got) = srv.post(&format!("/match?%6Dode={encoded}&x=1"), input);
        assert_eq!((code, &got), (200, &want), "an encoded parameter name");
    }
    for (query, names) in [
        ("mode=%6", "\"mode\""),
        ("mode=%zzll", "\"mode\""),
        ("mode=%C3%28", "\"mode\""),
        ("trace=%G1&mode=all", "\"trace\""),
    ] {
        let (code, body) = srv.post(&format!("/match?{query}"), input);
        assert_eq!(code, 400, "{query}: {body}");
        let msg = body["error"].as_str().unwrap();
        assert!(msg.contains(names), "{query}: {msg}");
    }
    // Still an unknown mode once decoded.
    let (code, body) = srv.post("/match?mode=%61l", input);
    assert_eq!(code, 400);
    assert!(body["error"].as_str().unwrap().contains("\"al\""), "{body}");

    // The default mode: all, for a raw body and a batch.
    let all = srv.post("/match?mode=all", input).1;
    assert_eq!(srv.post("/match", input).1, all);
    assert!(ids(&all["matches"]).len() >= 2, "{all}");
    let batch = format!(
        r#"{{"inputs": [{}]}}"#,
        serde_json::to_string(std::str::from_utf8(input).unwrap()).unwrap()
    );
    let (code, text) = srv.request(
        "POST",
        "/match",
        &[("content-type", "application/json")],
        batch.as_bytes(),
    );
    assert_eq!(code, 200);
    let arr: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(arr[0], all);
    // And it is stated where users look.
    let help = Command::new(binary("dfabake-host"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(help.contains("mode all unless given"), "{help}");
    let readme = fs::read_to_string(workspace().join("README.md")).unwrap();
    assert!(readme.contains("Without a mode, `POST /match` answers in mode `all`"));
}

/// One build stage of a Dockerfile run outside a container: `root` stands
/// for the stage's file system; absolute paths (WORKDIR, COPY, ENV values)
/// are taken under it.
struct Stage {
    name: String,
    root: PathBuf,
    workdir: PathBuf,
    env: Vec<(String, String)>,
    user: Option<String>,
}

impl Stage {
    fn path(&self, p: &str) -> PathBuf {
        match p.strip_prefix('/') {
            Some(abs) => self.root.join(abs),
            None => self.workdir.join(p),
        }
    }

    /// An ENV or ARG value: an absolute path is taken under the root.
    fn value(&self, v: &str) -> String {
        match v.strip_prefix('/') {
            Some(abs) => self.root.join(abs).to_str().unwrap().to_string(),
            None => v.to_string(),
        }
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .current_dir(&self.workdir)
            .env(
                "PATH",
                format!(
                    "{}:/usr/bin:/bin",
                    self.root.join("usr/local/bin").display()
                ),
            )
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }
}

/// Dockerfile instructions, comments dropped and continuation lines joined.
fn dockerfile_instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let t = line.trim();
        if current.is_empty() && (t.is_empty() || t.starts_with('#')) {
            continue;
        }
        match t.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(t);
                let (op, args) = current.split_once(' ').unwrap();
                out.push((op.to_ascii_uppercase(), args.trim().to_string()));
                current.clear();
            }
        }
    }
    out
}

/// `KEY=VALUE KEY2=VALUE2` (unquoted values).
fn key_values(args: &str) -> Vec<(String, String)> {
    args.split_whitespace()
        .map(|kv| {
            let (k, v) = kv
                .split_once('=')
                .unwrap_or_else(|| panic!("not KEY=VALUE: {kv}"));
            (k.to_string(), v.trim_matches('"').to_string())
        })
        .collect()
}

/// examples/Dockerfile, run outside a container (no registry here): every
/// RUN, COPY, ENV and WORKDIR step in a temporary directory per stage, the
/// toolchain steps (`rustup`, `cargo`) standing in for by the binaries this
/// test was built with. Then its CMD starts the server: it must say it
/// loaded the module's native code from the cache that `dfabake-host
/// compile` filled at build time, and answer over HTTP on 127.0.0.1.
#[test]
fn dockerfile_builds_and_starts_from_the_cache() {
    let ws = workspace();
    let text = fs::read_to_string(ws.join("examples/Dockerfile")).unwrap();
    let ignore = fs::read_to_string(ws.join("examples/Dockerfile.dockerignore")).unwrap();
    let ignored: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for must in ["target", ".git"] {
        assert!(
            ignored.contains(&must),
            "the build context must leave out {must}"
        );
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut stages: Vec<Stage> = Vec::new();
    let mut cmd_line: Option<Vec<String>> = None;
    let mut exposed = None;
    for (op, args) in dockerfile_instructions(&text) {
        if op == "FROM" {
            let name = args
                .split_once(" AS ")
                .or_else(|| args.split_once(" as "))
                .map_or(format!("stage{}", stages.len()), |(_, n)| {
                    n.trim().to_string()
                });
            let root = tmp.path().join(&name);
            fs::create_dir_all(&root).unwrap();
            stages.push(Stage {
                name,
                workdir: root.clone(),
                root,
                env: Vec::new(),
                user: None,
            });
            continue;
        }
        let stage = stages.last_mut().expect("an instruction before FROM");
        match op.as_str() {
            "WORKDIR" => {
                stage.workdir = stage.path(&args);
                fs::create_dir_all(&stage.workdir).unwrap();
            }
            "ARG" | "ENV" => {
                for (k, v) in key_values(&args) {
                    let v = stage.value(&v);
                    stage.env.push((k, v));
                }
            }
            "USER" => stage.user = Some(args.clone()),
            "EXPOSE" => exposed = Some(args.clone()),
            "CMD" => cmd_line = Some(serde_json::from_str(&args).expect("CMD in exec (JSON) form")),
            "COPY" => {
                let mut words: Vec<&str> = args.split_whitespace().collect();
                let from = words
                    .first()
                    .and_then(|w| w.strip_prefix("--from="))
                    .map(str::to_string);
                if from.is_some() {
                    words.remove(0);
                }
                let dest = words.pop().unwrap();
                let dest_path = stage.path(dest);
                if words == ["."] && dest == "." {
                    // The build context, as .dockerignore leaves it.
                    for e in fs::read_dir(&ws).unwrap() {
                        let e = e.unwrap();
                        let name = e.file_name().into_string().unwrap();
                        if !ignored.contains(&name.as_str()) {
                            std::os::unix::fs::symlink(e.path(), dest_path.join(&name)).unwrap();
                        }
                    }
                    continue;
                }
                assert!(dest.ends_with('/') || words.len() == 1, "COPY {args}");
                fs::create_dir_all(if dest.ends_with('/') {
                    &dest_path
                } else {
                    dest_path.parent().unwrap()
                })
                .unwrap();
                for src in words {
                    let src_path = match &from {
                        Some(f) => {
                            let other = stages.iter().find(|s| &s.name == f).expect("--from stage");
                            other.root.join(src.trim_start_matches('/'))
                        }
                        None => ws.join(src),
                    };
                    let to = if dest.ends_with('/') {
                        dest_path.join(src_path.file_name().unwrap())
                    } else {
                        dest_path.clone()
                    };
                    // Linked, not copied: executing a file just written
                    // fails (ETXTBSY) while another test thread forks.
                    fs::hard_link(&src_path, &to)
                        .unwrap_or_else(|e| panic!("COPY {}: {e}", src_path.display()));
                }
            }
            "RUN" => {
                let stage = stages.last().unwrap();
                for step in args.split("&&").map(str::trim) {
                    let words: Vec<&str> = step.split_whitespace().collect();
                    match words[0] {
                        "rustup" => {}
                        "cargo" if words[1] == "install" => {}
                        "cargo" => {
                            // `cargo build --release -p A -p B`: what this
                            // test's own build made, in the stage's target.
                            assert_eq!(words[1], "build", "{step}");
                            assert!(words.contains(&"--release") && words.contains(&"--locked"));
                            let out = stage.workdir.join("target/release");
                            fs::create_dir_all(&out).unwrap();
                            let packages: Vec<&str> = words
                                .windows(2)
                                .filter(|w| w[0] == "-p")
                                .map(|w| w[1])
                                .collect();
                            assert_eq!(packages, ["dfabake", "dfabake-host"], "{step}");
                            for bin in packages {
                                std::os::unix::fs::symlink(binary(bin), out.join(bin)).unwrap();
                            }
                        }
                        "useradd" => {
                            // Outside a container the test's own user stands for it:
                            // its home (the cache's parent) is made, private.
                            let home = words
                                .windows(2)
                                .find(|w| w[0] == "--home-dir")
                                .map(|w| w[1])
                                .expect("useradd --home-dir");
                            let home = stage.path(home);
                            fs::create_dir_all(&home).unwrap();
                            use std::os::unix::fs::PermissionsExt;
                            fs::set_permissions(&home, fs::Permissions::from_mode(0o700)).unwrap();
                        }
                        _ => {
                            let o = stage.command("sh").args(["-c", step]).output().unwrap();
                            assert!(
                                o.status.success(),
                                "RUN {step}: {}{}",
                                String::from_utf8_lossy(&o.stdout),
                                String::from_utf8_lossy(&o.stderr)
                            );
                            if step.contains("dfabake-host compile") {
                                let out = String::from_utf8_lossy(&o.stdout);
                                assert!(out.contains("compiled and cached"), "{out}");
                                assert!(
                                    stage.user.as_deref().is_some_and(|u| u != "root"),
                                    "the cache must be filled by the user that serves"
                                );
                            }
                        }
                    }
                }
            }
            other => panic!("instruction {other} not handled by this test"),
        }
    }
    let runtime = stages.last().unwrap();
    assert_eq!(stages.len(), 2, "a build stage and a runtime stage");
    assert!(
        runtime
            .user
            .as_deref()
            .is_some_and(|u| u != "root" && u != "0"),
        "the server must not run as root"
    );
    let listen = &runtime
        .env
        .iter()
        .find(|(k, _)| k == "DFABAKE_LISTEN")
        .unwrap()
        .1;
    assert_eq!(Some(listen.rsplit(':').next().unwrap()), exposed.as_deref());
    // The runtime stage has what serving needs: the binaries and the module.
    assert!(runtime.root.join("usr/local/bin/dfabake-host").exists());
    assert!(runtime.root.join("usr/local/bin/dfabake").exists());

    // `docker run -e DFABAKE_LISTEN=127.0.0.1:0 IMAGE`.
    let cmd_line = cmd_line.expect("a CMD");
    let mut cmd = runtime.command(
        runtime
            .root
            .join("usr/local/bin")
            .join(&cmd_line[0])
            .to_str()
            .unwrap(),
    );
    cmd.args(&cmd_line[1..])
        .env("DFABAKE_LISTEN", "127.0.0.1:0");
    let srv = Server::spawn(cmd, tmp.path());
    let err = srv.stderr();
    assert!(
        err.contains("native code from cache"),
        "not from the cache: {err}"
    );
    assert!(!err.contains("warning"), "{err}");
    assert!(srv.addr.starts_with("127.0.0.1:"));
    let (code, one) = srv.post("/match?mode=first", b"curl/8.0");
    assert_eq!(code, 200, "{one}");
    assert!(!one["matches"].as_array().unwrap().is_empty(), "{one}");
    let manifest: Value = serde_json::from_str(
        &fs::read_to_string(runtime.root.join("srv/dfabake/manifest.json")).unwrap(),
    )
    .unwrap();
    let health: Value = serde_json::from_str(&srv.request("GET", "/healthz", &[], b"").1).unwrap();
    assert_eq!(
        health["module_sha256"].as_str(),
        manifest.pointer("/module/sha256").and_then(Value::as_str),
        "{manifest}"
    );
}

/// examples/dfabake-host.service outside systemd: its ExecStartPre
/// (`compile`) and ExecStart (`serve`) with its Environment= lines, an
/// EnvironmentFile, and the cache directory systemd would make; `serve`
/// starts from the cache. Where `systemd-analyze` is installed, the unit
/// also passes `systemd-analyze verify` without a warning.
#[test]
fn systemd_unit_starts_from_the_cache_and_verifies() {
    let ws = workspace();
    let unit_text = fs::read_to_string(ws.join("examples/dfabake-host.service")).unwrap();
    let settings: Vec<(&str, &str)> = unit_text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('['))
        .map(|l| l.split_once('=').unwrap())
        .collect();
    let get = |key: &str| -> Vec<&str> {
        settings
            .iter()
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| *v)
            .collect()
    };
    for (key, want) in [
        ("DynamicUser", "yes"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("CapabilityBoundingSet", ""),
        ("CacheDirectory", "dfabake-host"),
    ] {
        assert_eq!(get(key), [want], "{key}");
    }
    // wasmtime maps compiled code executable.
    assert!(get("MemoryDenyWriteExecute").is_empty());

    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let under = |p: &str| root.join(p.trim_start_matches('/'));
    let cache_base = tmp.path().join("var-cache");
    let mut env: Vec<(String, String)> = Vec::new();
    for line in get("Environment") {
        let (k, v) = line.split_once('=').unwrap();
        let v = v.replace("%C", cache_base.to_str().unwrap());
        let v = if v.starts_with('/') && !v.starts_with(cache_base.to_str().unwrap()) {
            under(&v).to_str().unwrap().to_string()
        } else {
            v
        };
        env.push((k.to_string(), v));
    }
    // The module and binary where the unit's comment installs them.
    let module = env
        .iter()
        .find(|(k, _)| k == "DFABAKE_MODULE")
        .unwrap()
        .1
        .clone();
    fs::create_dir_all(Path::new(&module).parent().unwrap()).unwrap();
    let baked = example_module(tmp.path());
    fs::copy(&baked, &module).unwrap();
    fs::create_dir_all(under("/usr/local/bin")).unwrap();
    // Linked: executing a file just written fails (ETXTBSY) while another
    // test thread forks.
    std::os::unix::fs::symlink(binary("dfabake-host"), under("/usr/local/bin/dfabake-host"))
        .unwrap();
    // systemd makes CacheDirectory= with CacheDirectoryMode=.
    let cache = cache_base.join(get("CacheDirectory")[0]);
    fs::create_dir_all(&cache).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&cache, fs::Permissions::from_mode(0o700)).unwrap();
    // The optional env file, overriding Environment=.
    let env_file = get("EnvironmentFile")[0];
    let env_file = env_file.strip_prefix('-').expect("an optional env file");
    fs::create_dir_all(under(env_file).parent().unwrap()).unwrap();
    fs::write(
        under(env_file),
        "DFABAKE_LISTEN=127.0.0.1:0\nDFABAKE_WORKERS=1\n",
    )
    .unwrap();
    for line in fs::read_to_string(under(env_file)).unwrap().lines() {
        let (k, v) = line.split_once('=').unwrap();
        env.retain(|(ek, _)| ek != k);
        env.push((k.to_string(), v.to_string()));
    }
    let run = |exec: &str| -> Command {
        let words: Vec<&str> = exec.split_whitespace().collect();
        let mut cmd = Command::new(under(words[0]));
        cmd.env_clear()
            .args(&words[1..])
            .envs(env.iter().map(|(k, v)| (k, v)));
        cmd
    };
    let pre = run(get("ExecStartPre")[0]).output().unwrap();
    assert!(
        pre.status.success(),
        "{}",
        String::from_utf8_lossy(&pre.stderr)
    );
    assert!(String::from_utf8_lossy(&pre.stdout).contains("compiled and cached"));
    let srv = Server::spawn(run(get("ExecStart")[0]), tmp.path());
    assert!(
        srv.stderr().contains("native code from cache") && srv.stderr().contains("1 workers"),
        "{}",
        srv.stderr()
    );
    assert_eq!(srv.post("/match", b"curl/8.0").0, 200);
    assert_eq!(get("ExecReload"), ["/bin/kill -HUP $MAINPID"]);

    // `systemd-analyze verify` needs no running systemd, with --root holding
    // the unit, the executables it names and the units it depends on.
    let Ok(version) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("systemd-analyze not installed: skipping the unit's verification");
        return;
    };
    assert!(version.status.success());
    let units = Path::new("/usr/lib/systemd/system");
    let sd = tmp.path().join("sdroot");
    fs::create_dir_all(sd.join("etc/systemd/system")).unwrap();
    fs::create_dir_all(sd.join("usr/local/bin")).unwrap();
    fs::create_dir_all(sd.join("bin")).unwrap();
    fs::create_dir_all(sd.join("usr/lib/systemd")).unwrap();
    assert!(Command::new("cp")
        .args(["-r"])
        .arg(units)
        .arg(sd.join("usr/lib/systemd/"))
        .status()
        .unwrap()
        .success());
    // Only checked to be executable (a symlink out of the root would not resolve).
    let stand_in = sd.join("usr/local/bin/dfabake-host");
    fs::write(&stand_in, "#!/bin/sh\n").unwrap();
    fs::set_permissions(&stand_in, fs::Permissions::from_mode(0o755)).unwrap();
    let kill = ["/bin/kill", "/usr/bin/kill"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap();
    fs::copy(kill, sd.join("bin/kill")).unwrap();
    fs::write(
        sd.join("etc/systemd/system/dfabake-host.service"),
        &unit_text,
    )
    .unwrap();
    let o = Command::new("systemd-analyze")
        .args(["verify", "--root"])
        .arg(&sd)
        .arg("/etc/systemd/system/dfabake-host.service")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stderr).to_string() + &String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && out.trim().is_empty(),
        "systemd-analyze verify:\n{out}"
    );
}

/// A server whose stdout reader has gone (a script that read nothing, or
/// closed the pipe early) still serves, instead of panicking on its
/// "listening" line with a broken pipe.
#[test]
fn a_closed_stdout_does_not_stop_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let module = example_module(dir.path());
    let err_path = dir.path().join("stderr");
    let mut child = Command::new(binary("dfabake-host"))
        .args([
            "serve",
            "--module",
            module.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--no-cache",
        ])
        .stdout(Stdio::piped())
        .stderr(fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let deadline = Instant::now() + Duration::from_secs(20);
    while !fs::read_to_string(&err_path)
        .unwrap_or_default()
        .contains("serving")
    {
        assert!(Instant::now() < deadline, "never started");
        assert!(
            child.try_wait().unwrap().is_none(),
            "exited: {}",
            fs::read_to_string(&err_path).unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    let exited = child.try_wait().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        exited.is_none(),
        "exited ({exited:?}): {}",
        fs::read_to_string(&err_path).unwrap()
    );
}
