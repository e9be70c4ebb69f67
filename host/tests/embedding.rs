//! A program embedding the server gets its start-up, warning, reload and
//! shutdown reports through `ServeConfig::events`, and the library writes
//! nothing to stdout or stderr.
//!
//! Without libtest's harness (see Cargo.toml): the harness would capture
//! `eprintln!` and print its own lines, while this checks the process's real
//! file descriptors 1 and 2, redirected to a file while the server runs.
//! The server is stopped the way an operator stops it, with SIGTERM, so this
//! process holds no other test that a signal could disturb.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dfabake::bake::{bake, TEMPLATE};
use dfabake::{compile, Config, RuleId, RuleSpec};
use dfabake_host::server::{self, EventSink, Level, ServeConfig, ServeEvent};
use dfabake_host::HostConfig;

/// File descriptors 1 and 2 pointing at one file until dropped.
struct Redirected {
    saved: [libc::c_int; 2],
}

impl Redirected {
    fn to(file: &File) -> Redirected {
        std::io::stdout().flush().unwrap();
        std::io::stderr().flush().unwrap();
        // SAFETY: plain descriptor calls on descriptors this process owns.
        unsafe {
            let saved = [libc::dup(1), libc::dup(2)];
            assert!(saved.iter().all(|&fd| fd >= 0), "dup failed");
            assert!(libc::dup2(file.as_raw_fd(), 1) >= 0 && libc::dup2(file.as_raw_fd(), 2) >= 0);
            Redirected { saved }
        }
    }
}

impl Drop for Redirected {
    fn drop(&mut self) {
        let _ = std::io::stdout().flush();
        // SAFETY: restores the descriptors saved in `to`.
        unsafe {
            libc::dup2(self.saved[0], 1);
            libc::dup2(self.saved[1], 2);
            libc::close(self.saved[0]);
            libc::close(self.saved[1]);
        }
    }
}

fn get(addr: SocketAddr, path: &str) -> String {
    let mut conn = TcpStream::connect(addr).expect("connecting to the server");
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer)
        .expect("reading the answer");
    answer
}

/// Polls `events` until one satisfies `want` (start-up and reloads compile
/// the module: seconds on a loaded machine).
fn wait_for(events: &Mutex<Vec<(Level, String)>>, want: impl Fn(&str) -> bool) -> String {
    let until = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some((_, line)) = events.lock().unwrap().iter().find(|(_, l)| want(l)) {
            return line.clone();
        }
        assert!(Instant::now() < until, "no such event within 120 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(sig: libc::c_int) {
    // SAFETY: sends a signal to this process, whose handler the server has
    // installed (it reported Listening, its last start-up step).
    assert_eq!(unsafe { libc::kill(libc::getpid(), sig) }, 0);
}

fn embedded_server_reports_events_and_prints_nothing(dir: &Path) -> Vec<(Level, String)> {
    let rules = [RuleSpec::new(RuleId::Int(7), r"bot/(\d+)")];
    let database = compile(&rules, &Config::default(), "embedding")
        .unwrap()
        .database;
    let module_path = dir.join("matcher.wasm");
    std::fs::write(&module_path, bake(TEMPLATE, &database).unwrap()).unwrap();
    // A cache directory below a regular file cannot be created: the module
    // loads without a cache, with a warning, at start-up and on reload.
    std::fs::write(dir.join("not-a-dir"), b"").unwrap();

    let events = Arc::new(Mutex::new(Vec::new()));
    let (addr_tx, addr_rx) = mpsc::channel();
    let sink = {
        let events = events.clone();
        EventSink::new(move |e: &ServeEvent| {
            if let ServeEvent::Listening { addr } = e {
                let _ = addr_tx.send(*addr);
            }
            events.lock().unwrap().push((e.level(), e.to_string()));
        })
    };
    let cfg = ServeConfig {
        module_path: module_path.clone(),
        listen: "127.0.0.1:0".parse().unwrap(),
        workers: 1,
        host: HostConfig {
            cache_dir: Some(dir.join("not-a-dir").join("compiled")),
            pooling: true,
            ..HostConfig::default()
        },
        max_body_bytes: 1 << 20,
        max_batch_inputs: server::DEFAULT_MAX_BATCH_INPUTS,
        max_response_bytes: server::DEFAULT_MAX_RESPONSE_BYTES,
        max_pending_response_bytes: server::DEFAULT_MAX_PENDING_RESPONSE_BYTES,
        header_timeout: Some(server::DEFAULT_HEADER_TIMEOUT),
        body_timeout: Some(server::DEFAULT_BODY_TIMEOUT),
        max_connections: 16,
        shutdown_grace: Duration::from_millis(100),
        watch: false,
        instance_per_request: false,
        access_log: None,
        events: sink,
    };
    let running = std::thread::spawn(move || server::serve(cfg));
    let addr = addr_rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the server reports the address it listens on");

    let health = get(addr, "/healthz");
    assert!(health.starts_with("HTTP/1.1 200 OK"), "{health}");
    assert!(health.contains(r#""generation":0"#), "{health}");

    signal(libc::SIGHUP);
    wait_for(&events, |l| l.starts_with("reloaded (SIGHUP)"));
    let health = get(addr, "/healthz");
    assert!(health.contains(r#""generation":1"#), "{health}");

    signal(libc::SIGTERM);
    running
        .join()
        .expect("serve does not panic")
        .expect("serve returns Ok after SIGTERM");
    let events = events.lock().unwrap().clone();
    events
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let captured_path = dir.path().join("stdout-and-stderr");
    let captured = File::create(&captured_path).unwrap();
    let redirected = Redirected::to(&captured);
    let result =
        std::panic::catch_unwind(|| embedded_server_reports_events_and_prints_nothing(dir.path()));
    drop(redirected);
    let printed = std::fs::read_to_string(&captured_path).unwrap();
    let events = match result {
        Ok(events) => events,
        Err(panic) => {
            eprint!("{printed}");
            std::panic::resume_unwind(panic);
        }
    };
    assert!(
        printed.is_empty(),
        "the library wrote to stdout/stderr:\n{printed}"
    );

    let module = dir.path().join("matcher.wasm");
    let lines: Vec<&str> = events.iter().map(|(_, l)| l.as_str()).collect();
    let warning = format!(
        "warning: native-code cache {} not used: ",
        dir.path().join("not-a-dir").join("compiled").display()
    );
    // Start-up, in order: the cache warning, serving, listening.
    assert_eq!(lines.len(), 6, "{lines:#?}");
    assert!(lines[0].starts_with(&warning), "{lines:#?}");
    assert_eq!(events[0].0, Level::Warning);
    let serving = format!("serving {} (1 rules, compiled in ", module.display());
    assert!(
        lines[1].starts_with(&serving) && lines[1].ends_with(" ms, 1 workers)"),
        "{lines:#?}"
    );
    assert!(
        lines[2].starts_with("listening on http://127.0.0.1:"),
        "{lines:#?}"
    );
    // SIGHUP: the warning again, then the reload.
    assert!(lines[3].starts_with(&warning), "{lines:#?}");
    assert!(
        lines[4].starts_with("reloaded (SIGHUP): generation 1, 1 rules, sha256 "),
        "{lines:#?}"
    );
    assert_eq!(events[4].0, Level::Info);
    // SIGTERM.
    assert_eq!(
        lines[5],
        "shutting down: answering requests on open connections (100 ms grace)"
    );
    println!(
        "embedded server: {} events, nothing printed: ok",
        lines.len()
    );
}
