//! `dfabake-host serve` over real HTTP on loopback: endpoints, limits,
//! traps, timeouts, reloads (bad and good, under load) and shutdown.

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
        let stderr = dir.join(format!("server-{}.err", std::process::id() ^ rand_u32()));
        let mut child = Command::new(binary("dfabake-host"))
            .args([
                "serve",
                "--module",
                module.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
                "--workers",
                "2",
            ])
            .args(extra)
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
    assert!(
        body["error"].as_str().unwrap().contains("trapped"),
        "{body}"
    );
    assert_eq!(srv.post("/match", b"curl/8.0").0, 200);
    assert_eq!(srv.metric("dfabake_instance_recycles_total"), 1.0);
    drop(srv);

    // A search far over a 100 ms bound (64 single-rule shards, each scanning
    // 8 MB; no prefilter, which would settle these literal rules in one
    // pass): 503, instance replaced, the next request is served. Normal
    // requests take microseconds, far under the bound even on a busy machine.
    let patterns: String = (0..64).map(|i| format!("needle{i}x\n")).collect();
    let slow_module = bake_with(&patterns, dir.path(), "slow", &["--shard-rules", "1", "--no-prefilter"]);
    let srv = Server::start(
        &slow_module,
        &["--max-body-bytes", "16000000", "--timeout-ms", "100"],
        dir.path(),
    );
    // Near-misses keep every DFA out of its accelerated (memchr) states.
    let slow = "needle1needle".repeat(600_000);
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
