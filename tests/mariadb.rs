//! A private MariaDB server for tests: its own datadir, socket and loopback
//! port, started without systemd and stopped by PID when dropped.
//!
//! The datadir is initialised once per test process (`mariadb-install-db`)
//! into a template under `CARGO_TARGET_TMPDIR` and copied for every server.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The password of the `dfa` user every server has.
pub const PASSWORD: &str = "s3cret-pw";

fn require(tool: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "`{tool}` is not on PATH: the MySQL tests need a real MariaDB server; \
         install it with `apt-get install -y mariadb-server`"
    );
}

fn template() -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("mariadb-template");
    let db = base.join(format!("db-{}", std::process::id()));
    if db.join(".ready").exists() {
        return db;
    }
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    let out = Command::new("mariadb-install-db")
        .args([
            "--no-defaults",
            "--user=root",
            "--skip-test-db",
            "--auth-root-authentication-method=socket",
        ])
        .arg(format!("--datadir={}", db.display()))
        .output()
        .expect("running mariadb-install-db");
    assert!(
        out.status.success(),
        "mariadb-install-db failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(db.join(".ready"), b"").unwrap();
    db
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running server.
pub struct MariaDb {
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// Its TCP port on 127.0.0.1.
    pub port: u16,
    /// Its Unix socket.
    pub socket: PathBuf,
}

impl MariaDb {
    /// Starts a server with a database `app` and a user `dfa` (password
    /// [`PASSWORD`]) allowed everything from 127.0.0.1.
    pub fn start() -> MariaDb {
        MariaDb::start_with(&[])
    }

    /// Like [`MariaDb::start`], with extra `mariadbd` options.
    pub fn start_with(extra: &[String]) -> MariaDb {
        for tool in ["mariadbd", "mariadb-install-db", "mariadb-admin", "mariadb"] {
            require(tool);
        }
        let template = template();
        let dir = tempfile::Builder::new()
            .prefix("dfabake-mariadb-")
            .tempdir()
            .unwrap();
        let data = dir.path().join("db");
        let st = Command::new("cp")
            .arg("-a")
            .arg(&template)
            .arg(&data)
            .status()
            .unwrap();
        assert!(st.success(), "copying the template datadir failed");
        let socket = dir.path().join("sock");
        let port = free_port();
        let child = Command::new("mariadbd")
            .arg("--no-defaults")
            .arg("--user=root")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--pid-file={}", dir.path().join("pid").display()))
            .arg(format!("--port={port}"))
            .arg("--bind-address=127.0.0.1")
            .arg("--skip-name-resolve")
            .arg("--character-set-server=utf8mb4")
            .arg("--collation-server=utf8mb4_general_ci")
            .arg("--innodb-buffer-pool-size=32M")
            .arg(format!(
                "--log-error={}",
                dir.path().join("err.log").display()
            ))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting mariadbd");
        let mut server = MariaDb {
            dir,
            child: Some(child),
            port,
            socket,
        };
        if let Err(e) = server.wait_ready() {
            server.stop();
            panic!("mariadbd did not start: {e}");
        }
        server.sql_in(
            None,
            &format!(
                "CREATE DATABASE app CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;
             CREATE USER 'dfa'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}';
             GRANT ALL ON *.* TO 'dfa'@'127.0.0.1';"
            ),
        );
        server
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(60) {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                let log =
                    std::fs::read_to_string(self.dir.path().join("err.log")).unwrap_or_default();
                return Err(format!("mariadbd exited ({status}): {log}"));
            }
            let ok = Command::new("mariadb-admin")
                .args(["--no-defaults", "-uroot", "ping"])
                .arg(format!("--socket={}", self.socket.display()))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ok {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err("timed out waiting for mariadb-admin ping".into())
    }

    /// Runs SQL as root over the socket (the `mariadb` client); panics on error.
    pub fn sql(&self, sql: &str) -> String {
        self.sql_in(Some("app"), sql)
    }

    fn sql_in(&self, db: Option<&str>, sql: &str) -> String {
        let out = self.sql_output_in(db, sql);
        assert!(out.0, "SQL failed: {sql}\n{}", out.2);
        out.1
    }

    /// Runs SQL as root: (success, stdout, stderr).
    pub fn sql_output(&self, sql: &str) -> (bool, String, String) {
        self.sql_output_in(Some("app"), sql)
    }

    fn sql_output_in(&self, db: Option<&str>, sql: &str) -> (bool, String, String) {
        use std::io::Write;
        let mut child = Command::new("mariadb")
            .args([
                "--no-defaults",
                "--default-character-set=utf8mb4",
                "-uroot",
                "-N",
                "-B",
            ])
            .args(db)
            .arg(format!("--socket={}", self.socket.display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running mariadb");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(sql.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `mysql://dfa@127.0.0.1:PORT/app` (no password: pass it in MYSQL_PWD).
    pub fn url(&self) -> String {
        format!("mysql://dfa@127.0.0.1:{}/app", self.port)
    }

    /// The URL with the password in it.
    pub fn url_with_password(&self) -> String {
        format!("mysql://dfa:{PASSWORD}@127.0.0.1:{}/app", self.port)
    }

    /// A client connection as `dfa`.
    pub fn conn(&self) -> mysql::Conn {
        mysql::Conn::new(mysql::Opts::from_url(&self.url_with_password()).unwrap()).unwrap()
    }

    /// Stops the server: a clean shutdown, then SIGKILL by PID if needed.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("mariadb-admin")
            .args(["--no-defaults", "-uroot", "shutdown"])
            .arg(format!("--socket={}", self.socket.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(20) {
            if child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Where the workspace's release binaries are.
pub fn release_bin(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/release")
        .join(name);
    assert!(
        p.is_file(),
        "{} not found: build it first (`cargo build --release`, or run `cargo test --release --workspace`)",
        p.display()
    );
    p
}
