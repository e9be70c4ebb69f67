//! The native-code cache and module pinning, with the real binaries: planted
//! and tampered entries, directory and file modes and owners, `compile`
//! warming exactly the entry `serve` and `match` use, and `--expect-sha256`.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use dfabake_tests::{binary, ids};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("spawn");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "a binary panicked: {stderr}");
    out
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Bakes one pattern a line with the real builder; returns the module path.
fn bake(patterns: &str, dir: &Path, name: &str) -> PathBuf {
    let pats = dir.join(format!("{name}.txt"));
    fs::write(&pats, patterns).unwrap();
    let out = dir.join(name);
    let o = run(Command::new(binary("dfabake")).args([
        "build",
        "--quiet",
        "--no-cache",
        "--patterns",
        pats.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
    out.join("matcher.wasm")
}

/// Module A answers `alpha` with rule 1; module B has no rule for it.
fn two_modules(dir: &Path) -> (PathBuf, PathBuf) {
    (bake("alpha\n", dir, "a"), bake("beta\n", dir, "b"))
}

/// `dfabake-host ARGS`, under the given umask.
fn host_umask(umask: &str, args: &[&str]) -> Output {
    run(Command::new("sh")
        .arg("-c")
        .arg(format!("umask {umask}; exec \"$0\" \"$@\""))
        .arg(binary("dfabake-host"))
        .args(args))
}

fn host(args: &[&str]) -> Output {
    run(Command::new(binary("dfabake-host")).args(args))
}

fn compile(module: &Path, cache: &Path) -> Output {
    let o = host(&[
        "compile",
        "--module",
        module.to_str().unwrap(),
        "--cache-dir",
        cache.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    o
}

/// `dfabake-host match --verbose` on one input: (ids of its matches, stderr).
fn match_ids(module: &Path, cache: &Path, input: &str) -> (Vec<Value>, String) {
    let o = host(&[
        "match",
        "--verbose",
        "--module",
        module.to_str().unwrap(),
        "--cache-dir",
        cache.to_str().unwrap(),
        input,
    ]);
    assert!(o.status.success(), "{}: {}", o.status, stderr(&o));
    let line: Value = serde_json::from_slice(&o.stdout).unwrap();
    (ids(&line["matches"]), stderr(&o))
}

/// The `.cwasm` entries in a cache directory, sorted.
fn entries(cache: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    v.sort();
    v
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().mode() & 0o7777
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn sha256_hex(path: &Path) -> String {
    Sha256::digest(fs::read(path).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn is_root() -> bool {
    let o = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&o.stdout).trim() == "0"
}

/// Asserts `stderr` holds a `dfabake-host: warning:` line containing every
/// one of `needles`.
fn assert_warning(stderr: &str, needles: &[&str]) {
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("dfabake-host: warning:")
                && needles.iter().all(|n| l.contains(n))),
        "want a warning with {needles:?} in:\n{stderr}"
    );
}

const FROM_CACHE: &str = "native code from cache";
const COMPILED: &str = "compiled";

#[test]
fn planted_entry_from_another_module_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_modules(dir.path());
    let cache = dir.path().join("cache");
    compile(&a, &cache);
    let a_entry = entries(&cache).pop().unwrap();
    compile(&b, &cache);
    let b_entry = entries(&cache)
        .into_iter()
        .find(|e| *e != a_entry)
        .expect("B's entry");
    // B's genuine compiled code (written by this very host, with this
    // cache's key) under the name A's code would have.
    fs::rename(&b_entry, &a_entry).unwrap();

    let (got, err) = match_ids(&a, &cache, "alpha");
    assert_eq!(got, vec![Value::from(1)], "A's answer, not B's; {err}");
    let name = a_entry.file_name().unwrap().to_str().unwrap();
    assert_warning(&err, &[name, "ignor"]);
    assert!(err.contains(COMPILED) && !err.contains(FROM_CACHE), "{err}");

    // The entry was rewritten with A's authenticated code.
    let (got, err) = match_ids(&a, &cache, "alpha");
    assert_eq!(got, vec![Value::from(1)]);
    assert!(err.contains(FROM_CACHE), "{err}");
    assert!(!err.contains("warning"), "{err}");
}

/// The byte range of the `.text` section of the ELF object starting at
/// `elf` (wasmtime's compiled-code format).
fn text_section(elf: &[u8]) -> std::ops::Range<usize> {
    let u16_at = |at: usize| u16::from_le_bytes(elf[at..at + 2].try_into().unwrap()) as usize;
    let u32_at = |at: usize| u32::from_le_bytes(elf[at..at + 4].try_into().unwrap()) as usize;
    let u64_at = |at: usize| u64::from_le_bytes(elf[at..at + 8].try_into().unwrap()) as usize;
    assert_eq!(&elf[..4], b"\x7fELF");
    assert_eq!(elf[4], 2, "ELF64");
    let (shoff, shentsize, shnum, shstrndx) =
        (u64_at(0x28), u16_at(0x3a), u16_at(0x3c), u16_at(0x3e));
    let section = |i: usize| {
        let h = shoff + i * shentsize;
        (u32_at(h), u64_at(h + 0x18), u64_at(h + 0x20))
    };
    let (_, strtab, _) = section(shstrndx);
    (0..shnum)
        .map(section)
        .find(|&(name, _, _)| elf[strtab + name..].starts_with(b".text\0"))
        .map(|(_, off, size)| off..off + size)
        .expect("a .text section")
}

/// Writes breakpoint instructions over all of the compiled code of a cache
/// entry's bytes: run, they would kill the process.
fn breakpoints_over_code(entry: &mut [u8]) {
    let elf_at = entry
        .windows(4)
        .position(|w| w == b"\x7fELF")
        .expect("compiled code in the entry");
    let text = text_section(&entry[elf_at..]);
    assert!(text.len() > 64, "{text:?}");
    for b in &mut entry[elf_at + text.start..elf_at + text.end] {
        *b = 0xcc;
    }
}

#[test]
fn tampered_entry_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = two_modules(dir.path());
    let cache = dir.path().join("cache");
    compile(&a, &cache);
    let entry = entries(&cache).pop().unwrap();
    let mut bytes = fs::read(&entry).unwrap();
    breakpoints_over_code(&mut bytes);
    fs::write(&entry, &bytes).unwrap();

    let (got, err) = match_ids(&a, &cache, "alpha");
    assert_eq!(got, vec![Value::from(1)], "{err}");
    let name = entry.file_name().unwrap().to_str().unwrap();
    assert_warning(&err, &[name, "authenticat"]);
    assert!(err.contains(COMPILED) && !err.contains(FROM_CACHE), "{err}");
    let (_, err) = match_ids(&a, &cache, "alpha");
    assert!(err.contains(FROM_CACHE), "rewritten: {err}");
}

#[test]
fn cache_modes_and_owners_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = two_modules(dir.path());
    // Created with its parents under umask 000: still private.
    let cache = dir.path().join("x/y/cache");
    let o = host_umask(
        "000",
        &[
            "compile",
            "--module",
            a.to_str().unwrap(),
            "--cache-dir",
            cache.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(mode(&cache), 0o700, "cache dir");
    assert_eq!(
        mode(&dir.path().join("x/y")),
        0o700,
        "parent created with it"
    );
    assert_eq!(mode(&dir.path().join("x")), 0o700, "parent created with it");
    let key = cache.join("hmac.key");
    assert_eq!(mode(&key), 0o600, "key file");
    assert_eq!(fs::metadata(&key).unwrap().len(), 32);
    let entry = entries(&cache).pop().unwrap();
    assert_eq!(mode(&entry), 0o600, "entry");
    let name = entry.file_name().unwrap().to_str().unwrap().to_string();
    let (_, err) = match_ids(&a, &cache, "alpha");
    assert!(
        err.contains(FROM_CACHE) && !err.contains("warning"),
        "{err}"
    );

    // A group- or world-writable entry is ignored and replaced.
    for m in [0o620, 0o606] {
        chmod(&entry, m);
        let (got, err) = match_ids(&a, &cache, "alpha");
        assert_eq!(got, vec![Value::from(1)]);
        assert_warning(&err, &[&name, "writable"]);
        assert!(err.contains(COMPILED) && !err.contains(FROM_CACHE), "{err}");
        assert_eq!(mode(&entry), 0o600, "rewritten");
        let (_, err) = match_ids(&a, &cache, "alpha");
        assert!(err.contains(FROM_CACHE), "{err}");
    }

    // A world-writable cache directory: nothing in it is used, or written.
    chmod(&cache, 0o777);
    let before = fs::metadata(&entry).unwrap().ino();
    let (got, err) = match_ids(&a, &cache, "alpha");
    assert_eq!(got, vec![Value::from(1)]);
    assert_warning(&err, &[cache.to_str().unwrap(), "writable"]);
    assert!(err.contains(COMPILED) && !err.contains(FROM_CACHE), "{err}");
    assert_eq!(fs::metadata(&entry).unwrap().ino(), before, "not rewritten");
    chmod(&cache, 0o700);
    let (_, err) = match_ids(&a, &cache, "alpha");
    assert!(err.contains(FROM_CACHE), "{err}");

    // A key file others could read is no key: the cache is not used.
    chmod(&key, 0o644);
    let (got, err) = match_ids(&a, &cache, "alpha");
    assert_eq!(got, vec![Value::from(1)]);
    assert_warning(&err, &["hmac.key"]);
    assert!(err.contains(COMPILED) && !err.contains(FROM_CACHE), "{err}");
    chmod(&key, 0o600);
    let (_, err) = match_ids(&a, &cache, "alpha");
    assert!(err.contains(FROM_CACHE), "{err}");

    if !is_root() {
        eprintln!("not root: ownership cases need chown (covered by host unit tests)");
        return;
    }
    // Entry, key and directory owned by someone else (uid 65534, nobody).
    let chown = |p: &Path, uid: u32| std::os::unix::fs::chown(p, Some(uid), None).unwrap();
    chown(&entry, 65534);
    let (got, err) = match_ids(&a, &cache, "alpha");
    assert_eq!(got, vec![Value::from(1)]);
    assert_warning(&err, &[&name, "65534"]);
    assert!(err.contains(COMPILED), "{err}");
    assert_eq!(fs::metadata(&entry).unwrap().uid(), 0, "rewritten by us");

    chown(&key, 65534);
    let (_, err) = match_ids(&a, &cache, "alpha");
    assert_warning(&err, &["hmac.key", "65534"]);
    assert!(err.contains(COMPILED), "{err}");
    chown(&key, 0);

    chown(&cache, 65534);
    let (got, err) = match_ids(&a, &cache, "alpha");
    assert_eq!(got, vec![Value::from(1)]);
    assert_warning(&err, &[cache.to_str().unwrap(), "65534"]);
    assert!(err.contains(COMPILED), "{err}");
    chown(&cache, 0);
    let (_, err) = match_ids(&a, &cache, "alpha");
    assert!(err.contains(FROM_CACHE), "{err}");
}

/// A `dfabake-host serve` child, killed on drop.
struct Server {
    child: Child,
    addr: String,
    stderr: PathBuf,
}

impl Server {
    fn start(module: &Path, extra: &[&str], dir: &Path, tag: &str) -> Server {
        let stderr = dir.join(format!("serve-{tag}.err"));
        let mut child = Command::new(binary("dfabake-host"))
            .args(["serve", "--module", module.to_str().unwrap()])
            .args(["--listen", "127.0.0.1:0", "--workers", "2"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = match line.trim().strip_prefix("listening on http://") {
            Some(a) => a.to_string(),
            None => panic!(
                "no listening line: {line:?}; {}",
                fs::read_to_string(&stderr).unwrap()
            ),
        };
        Server {
            child,
            addr,
            stderr,
        }
    }

    fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap()
    }

    fn request(&self, method: &str, path: &str, body: &[u8]) -> Value {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(body).unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        let (_, body) = resp.split_once("\r\n\r\n").expect("HTTP response");
        serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_string()))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn compile_warms_the_entry_serve_and_match_use() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = two_modules(dir.path());
    let cache = dir.path().join("cache");
    let o = compile(&a, &cache);
    assert!(String::from_utf8_lossy(&o.stdout).contains("compiled and cached"));
    let entry = entries(&cache).pop().unwrap();
    let ino = fs::metadata(&entry).unwrap().ino();

    // serve with its default options (pooling, a 1 s timeout).
    let srv = Server::start(
        &a,
        &["--cache-dir", cache.to_str().unwrap()],
        dir.path(),
        "warm",
    );
    let err = srv.stderr();
    assert!(err.contains(FROM_CACHE), "serve recompiled: {err}");
    assert!(!err.contains("warning"), "{err}");
    assert_eq!(
        ids(&srv.request("POST", "/match", b"alpha")["matches"]),
        vec![Value::from(1)]
    );
    drop(srv);
    assert_eq!(entries(&cache), vec![entry.clone()], "one entry only");

    let (got, err) = match_ids(&a, &cache, "alpha");
    assert_eq!(got, vec![Value::from(1)]);
    assert!(err.contains(FROM_CACHE), "match recompiled: {err}");
    assert_eq!(entries(&cache), vec![entry.clone()], "one entry only");
    assert_eq!(fs::metadata(&entry).unwrap().ino(), ino, "never rewritten");

    // And the other way round: what serve (or match) wrote, compile finds.
    let cache2 = dir.path().join("cache2");
    let srv = Server::start(
        &a,
        &["--cache-dir", cache2.to_str().unwrap()],
        dir.path(),
        "cold",
    );
    assert!(!srv.stderr().contains(FROM_CACHE));
    drop(srv);
    let o = compile(&a, &cache2);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("already cached"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert_eq!(entries(&cache2).len(), 1);
}

#[test]
fn expect_sha256_pins_the_module() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_modules(dir.path());
    let (sha_a, sha_b) = (sha256_hex(&a), sha256_hex(&b));
    let cache = dir.path().join("cache");
    let cache_s = cache.to_str().unwrap();

    for sub in ["match", "compile"] {
        let mut args = vec![sub, "--module", a.to_str().unwrap(), "--cache-dir", cache_s];
        args.extend(["--expect-sha256", &sha_b]);
        if sub == "match" {
            args.push("alpha");
        }
        let o = host(&args);
        assert_eq!(o.status.code(), Some(1), "{sub}: {}", stderr(&o));
        assert!(o.stdout.is_empty(), "{sub}: no answers");
        let err = stderr(&o);
        assert!(err.starts_with("dfabake-host: error:"), "{sub}: {err}");
        assert!(
            err.contains(&sha_a) && err.contains(&sha_b) && err.contains(a.to_str().unwrap()),
            "{sub}: both hashes and the file: {err}"
        );
    }
    assert!(
        !cache.exists() || entries(&cache).is_empty(),
        "nothing compiled"
    );

    // The right hash (in either case) passes.
    for sha in [sha_a.clone(), sha_a.to_uppercase()] {
        let o = host(&[
            "match",
            "--module",
            a.to_str().unwrap(),
            "--cache-dir",
            cache_s,
            "--expect-sha256",
            &sha,
            "alpha",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let line: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(ids(&line["matches"]), vec![Value::from(1)]);
    }
    // Not a SHA-256: refused by the argument parser.
    let o = host(&[
        "match",
        "--module",
        a.to_str().unwrap(),
        "--expect-sha256",
        "abc",
        "x",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("64 hex"), "{}", stderr(&o));

    // serve: a replaced module with another hash is refused on reload
    // (SIGHUP) and the pinned one keeps serving.
    let served = dir.path().join("served.wasm");
    fs::copy(&a, &served).unwrap();
    let srv = Server::start(
        &served,
        &["--cache-dir", cache_s, "--expect-sha256", &sha_a],
        dir.path(),
        "pinned",
    );
    let tmp = dir.path().join("served.tmp");
    fs::copy(&b, &tmp).unwrap();
    fs::rename(&tmp, &served).unwrap();
    let hup = Command::new("kill")
        .args(["-HUP", &srv.child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while !srv.stderr().contains("refused") {
        assert!(
            Instant::now() < deadline,
            "no reload attempt: {}",
            srv.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let err = srv.stderr();
    let refusal = err.lines().find(|l| l.contains("refused")).unwrap();
    assert!(
        refusal.contains(&sha_a) && refusal.contains(&sha_b),
        "{err}"
    );
    assert_eq!(
        srv.request("GET", "/healthz", b"")["module_sha256"],
        sha_a.as_str()
    );
    assert_eq!(
        ids(&srv.request("POST", "/match", b"alpha")["matches"]),
        vec![Value::from(1)]
    );

    // serve refuses to start on a mismatching module.
    let o = host(&[
        "serve",
        "--module",
        b.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--no-cache",
        "--expect-sha256",
        &sha_a,
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains(&sha_a) && stderr(&o).contains(&sha_b));
}

#[path = "craft.rs"]
mod craft;

/// A warm start skips the module's full verification only because an
/// authenticated entry named by the module's SHA-256 says this host verified
/// those very bytes: a module tampered after its entry was written (checksum
/// recomputed, as an attacker would) has another SHA-256, finds no entry, is
/// verified in full and refused, and leaves no entry behind.
#[test]
fn a_cached_module_tampered_afterwards_is_verified_again_and_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let (a, _) = two_modules(dir.path());
    compile(&a, &cache);
    let (found, err) = match_ids(&a, &cache, "alpha");
    assert_eq!(found, vec![Value::from(1)]);
    assert!(err.contains("native code from cache"), "{err}");
    let evil = dir.path().join("evil.wasm");
    fs::write(&evil, with_bad_rule_id(&fs::read(&a).unwrap())).unwrap();
    assert_refused(
        &evil,
        &cache,
        &[],
        "not a JSON integer or string",
        "a tampered module was answered",
    );
    assert_eq!(entries(&cache).len(), 1, "the refused module left an entry");
}

/// Module bytes whose first rule's id is no longer JSON (checksum resealed):
/// only full verification refuses them.
fn with_bad_rule_id(module: &[u8]) -> Vec<u8> {
    craft::patch_database(module, |db| {
        let id = craft::rule_strings(db, 0)[0].clone();
        db[id].fill(b'x');
    })
}

/// `dfabake-host match` of `alpha` on `module` must fail, saying `why`.
fn assert_refused(module: &Path, cache: &Path, extra: &[&str], why: &str, what: &str) {
    let mut args = vec![
        "match",
        "--module",
        module.to_str().unwrap(),
        "--cache-dir",
        cache.to_str().unwrap(),
    ];
    args.extend(extra);
    args.push("alpha");
    let o = host(&args);
    assert!(!o.status.success(), "{what}");
    assert!(stderr(&o).contains(why), "{}", stderr(&o));
}

/// The module index entries (`*.module`) in a cache directory.
fn index_entries(cache: &Path) -> Vec<PathBuf> {
    records(cache, "module")
}

/// The files with extension `ext` in a cache directory.
fn records(cache: &Path, ext: &str) -> Vec<PathBuf> {
    fs::read_dir(cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect()
}

/// A module file the cache has seen unchanged is loaded without reading it
/// (its hash and verification are remembered by its device, inode, size and
/// times); a file changed in place, even to the same size with its
/// modification time put back, is read, verified and refused again; a
/// damaged index entry is ignored; and a pin is still checked.
#[test]
fn remembered_module_files_are_read_again_when_they_change() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let (a, _) = two_modules(dir.path());
    compile(&a, &cache);
    assert!(
        index_entries(&cache).is_empty(),
        "a module written just now was remembered (a change in the same clock tick would go unseen)"
    );
    std::thread::sleep(Duration::from_millis(3100));
    let (found, _) = match_ids(&a, &cache, "alpha");
    assert_eq!(found, vec![Value::from(1)]);
    let index = index_entries(&cache);
    assert_eq!(index.len(), 1, "the settled module was not remembered");
    let seen = records(&cache, "seen");
    assert_eq!(seen.len(), 1, "the settled code file was not recorded");
    let (found, err) = match_ids(&a, &cache, "alpha");
    assert_eq!(found, vec![Value::from(1)]);
    assert!(err.contains("native code from cache"), "{err}");

    // The recorded code file changed in place (breakpoints over its code,
    // its modification time put back) is hashed again and refused.
    let entry = entries(&cache).pop().unwrap();
    let before = fs::metadata(&entry).unwrap();
    let mut bytes = fs::read(&entry).unwrap();
    breakpoints_over_code(&mut bytes);
    let file = fs::OpenOptions::new().write(true).open(&entry).unwrap();
    (&file).write_all(&bytes).unwrap();
    file.set_modified(before.modified().unwrap()).unwrap();
    drop(file);
    let (found, err) = match_ids(&a, &cache, "alpha");
    assert_eq!(found, vec![Value::from(1)], "{err}");
    let name = entry.file_name().unwrap().to_str().unwrap();
    assert_warning(&err, &[name, "authenticat"]);
    assert!(err.contains(COMPILED) && !err.contains(FROM_CACHE), "{err}");

    // The pin is checked against what was remembered.
    let wrong = "0".repeat(64);
    assert_refused(
        &a,
        &cache,
        &["--expect-sha256", &wrong],
        "SHA-256 mismatch",
        "a wrong pin was accepted",
    );

    // A damaged index entry is ignored: the module is read and answered.
    let mut entry = fs::read(&index[0]).unwrap();
    let last = entry.len() - 1;
    entry[last] ^= 1;
    fs::write(&index[0], &entry).unwrap();
    let (found, _) = match_ids(&a, &cache, "alpha");
    assert_eq!(found, vec![Value::from(1)]);

    // Rewritten in place: same inode, same size, the old modification
    // time put back. Only its change time tells; it must be read again.
    std::thread::sleep(Duration::from_millis(3100));
    let _ = match_ids(&a, &cache, "alpha");
    let before = fs::metadata(&a).unwrap();
    let tampered = with_bad_rule_id(&fs::read(&a).unwrap());
    assert_eq!(tampered.len() as u64, before.len());
    let file = fs::OpenOptions::new().write(true).open(&a).unwrap();
    (&file).write_all(&tampered).unwrap();
    file.set_modified(before.modified().unwrap()).unwrap();
    drop(file);
    let after = fs::metadata(&a).unwrap();
    assert_eq!(
        (after.ino(), after.len(), after.mtime(), after.mtime_nsec()),
        (
            before.ino(),
            before.len(),
            before.mtime(),
            before.mtime_nsec()
        )
    );
    assert_refused(
        &a,
        &cache,
        &[],
        "not a JSON integer or string",
        "a module changed in place was answered from what the cache remembered",
    );
}
