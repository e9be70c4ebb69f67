//! Writing a build's outputs so that `--out DIR` is never missing, half
//! written or mixed: everything is staged in a directory beside `DIR`, and
//! once complete the staged directory and `DIR` swap places in one atomic
//! step (`renameat2(RENAME_EXCHANGE)` on Linux); the old tree, now under the
//! staging name, is removed afterwards.
//!
//! Leftovers of a build killed at any point (a staging directory, the old
//! tree after the swap, or `.DIR.old` from the two-rename commit of older
//! versions and of the fallback below) are recognised by their names and
//! cleaned by the next build of the same `DIR`. A lock file beside `DIR`
//! (`.DIR.dfabake-lock`, held for the whole build) tells live builds from
//! dead ones, so what is found under those names while holding it is stale.
//!
//! Where the exchange is not available (other systems, file systems without
//! it), the commit falls back to two renames, `DIR` → `.DIR.old` and staging
//! → `DIR`; killed between them, `DIR` is missing until the next build puts
//! `.DIR.old` back.
//!
//! `DIR` is only replaced when it is empty or holds nothing but files dfabake
//! wrote, as recorded in its `manifest.json` (`files`), unless forced.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use crate::error::BuildError;

/// The generator name `manifest.json` carries; an existing output directory is
/// only replaced when its manifest says it was written by dfabake.
pub const GENERATOR: &str = "dfabake";

/// What outputs written before manifests listed their files held: the only
/// files such an output may hold and still be replaced.
const LEGACY_FILES: &[&str] = &[
    "manifest.json",
    "matcher.wasm",
    "npm/package.json",
    "npm/dfabake_matcher.js",
    "npm/dfabake_matcher_bg.wasm",
    "npm/api.js",
    "npm/node.js",
    "npm/workerd.js",
    "npm/init.js",
    "npm/index.d.ts",
    "npm/init.d.ts",
    "npm/README.md",
];

/// How many foreign files an error names before summing up the rest.
const NAMED_FOREIGN: usize = 5;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BuildError + '_ {
    move |source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn exists(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

/// A directory being prepared next to its final place.
pub struct Staging {
    /// The staging directory; `None` once committed.
    dir: Option<PathBuf>,
    /// `DIR`, absolute, its parent's symlinks resolved.
    out: PathBuf,
    /// `DIR` as reported back: as given, unless the current directory is
    /// inside it (a relative path would then lead into the replaced tree).
    shown: PathBuf,
    /// The build's own working directory is `DIR` or inside it.
    cwd_inside: bool,
    /// Replace `DIR` even when it holds files dfabake did not write.
    force: bool,
    /// Every file written, relative to the staging directory.
    written: Mutex<Vec<String>>,
    lock: Option<OutputLock>,
    /// The outermost directory this staging created to hold `out`, removed
    /// again (if still empty) when the build fails; `lexical_parent` is the
    /// path it was created through.
    created: Option<PathBuf>,
    lexical_parent: PathBuf,
}

/// What [`Staging::commit`] did.
#[derive(Debug)]
pub struct Committed {
    /// The output directory, as reported (see `Staging::shown`).
    pub path: PathBuf,
    /// The process's working directory was the output directory (or inside
    /// it) and now refers to the replaced, removed tree.
    pub cwd_replaced: bool,
}

/// Names of the things a build of `DIR` keeps beside it.
struct Siblings {
    parent: PathBuf,
    name: OsString,
}

impl Siblings {
    fn with(&self, suffix: &str) -> PathBuf {
        let mut n = OsString::from(".");
        n.push(&self.name);
        n.push(suffix);
        self.parent.join(n)
    }
    fn staging_prefix(&self) -> OsString {
        let mut n = OsString::from(".");
        n.push(&self.name);
        n.push(".dfabake-tmp-");
        n
    }
    fn lock(&self) -> PathBuf {
        self.with(".dfabake-lock")
    }
    /// Where the two-rename commit puts the old output (older versions too).
    fn aside(&self) -> PathBuf {
        self.with(".old")
    }
}

impl Staging {
    /// Starts staging an output for `out`: takes the lock, cleans up after
    /// killed builds, and refuses early when `out` exists and is neither
    /// empty nor (unless `force`) holding only dfabake's files.
    pub fn new(given: &Path, force: bool) -> Result<Staging, BuildError> {
        // A symlink to a directory (`current -> releases/7`) stays: the
        // directory it points at is the one replaced.
        let resolved = match fs::symlink_metadata(given) {
            Ok(m) if m.file_type().is_symlink() => match fs::canonicalize(given) {
                Ok(target) if target.is_dir() => Some(target),
                _ => {
                    return Err(BuildError::BadOption(format!(
                        "--out {}: a symbolic link that does not lead to a directory",
                        given.display()
                    )))
                }
            },
            _ => None,
        };
        let out = resolved.as_deref().unwrap_or(given);
        let (lexical_parent, created, parent, name) = match last_name(out) {
            Some(name) => {
                let lexical = match out.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                    _ => PathBuf::from("."),
                };
                let created = lexical
                    .ancestors()
                    .take_while(|a| !a.as_os_str().is_empty() && !a.exists())
                    .last()
                    .map(Path::to_path_buf);
                fs::create_dir_all(&lexical).map_err(io(&lexical))?;
                let parent = fs::canonicalize(&lexical).map_err(io(&lexical))?;
                (lexical, created, parent, name.to_os_string())
            }
            // `.`, `..`, `x/..`: an existing directory named by its place.
            None => {
                let abs = fs::canonicalize(out).map_err(io(out))?;
                match (abs.parent(), abs.file_name()) {
                    (Some(p), Some(n)) => (PathBuf::new(), None, p.to_path_buf(), n.to_os_string()),
                    _ => {
                        return Err(BuildError::BadOption(format!(
                            "--out {}: the root directory cannot be an output directory",
                            out.display()
                        )))
                    }
                }
            }
        };
        let abs = parent.join(&name);
        let cwd_inside = std::env::current_dir()
            .ok()
            .and_then(|c| fs::canonicalize(c).ok())
            .is_some_and(|c| c.starts_with(&abs));
        let mut staging = Staging {
            dir: None,
            out: abs.clone(),
            shown: if cwd_inside { abs } else { given.to_path_buf() },
            cwd_inside,
            force,
            written: Mutex::new(Vec::new()),
            lock: None,
            created,
            lexical_parent,
        };
        // From here on a failure drops `staging`, which undoes all of this.
        let sib = staging.siblings();
        staging.lock = Some(OutputLock::acquire(&sib.lock(), &staging.out)?);
        recover(&sib, &staging.out)?;
        check_replaceable(&staging.out, force)?;
        staging.dir = Some(make_staging_dir(&sib)?);
        test_pause("staged");
        Ok(staging)
    }

    fn siblings(&self) -> Siblings {
        Siblings {
            parent: self
                .out
                .parent()
                .expect("an absolute path with a name")
                .to_path_buf(),
            name: self.out.file_name().expect("a name").to_os_string(),
        }
    }

    /// Path of `name` inside the staging directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.as_ref().expect("not committed").join(name)
    }

    /// Writes a file into the staging directory (and syncs it), and records
    /// it as one of dfabake's.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<(), BuildError> {
        let path = self.path(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let mut f = fs::File::create(&path).map_err(io(&path))?;
        f.write_all(bytes).map_err(io(&path))?;
        f.sync_all().map_err(io(&path))?;
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        if !written.iter().any(|w| w == name) {
            written.push(name.to_string());
        }
        Ok(())
    }

    /// Every file written so far plus `more` (files about to be written),
    /// sorted: the record a manifest keeps of what its directory holds.
    pub fn files(&self, more: &[&str]) -> Vec<String> {
        let mut v = self
            .written
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        v.extend(more.iter().map(|s| s.to_string()));
        v.sort();
        v.dedup();
        v
    }

    /// Puts the staged directory in place of the output directory in one
    /// atomic step, then removes the old tree.
    pub fn commit(mut self) -> Result<Committed, BuildError> {
        check_replaceable(&self.out, self.force)?;
        let staged = self.dir.clone().expect("committed once");
        // The entries must be durable before they are published.
        let mut dirs: Vec<PathBuf> = self
            .files(&[])
            .iter()
            .filter_map(|f| self.path(f).parent().map(Path::to_path_buf))
            .collect();
        dirs.push(staged.clone());
        dirs.sort();
        dirs.dedup();
        for d in &dirs {
            sync_dir(d)?;
        }
        test_pause("before-commit");
        let sib = self.siblings();
        if exists(&self.out) {
            match exchange(&staged, &self.out) {
                Ok(()) => {
                    // `staged` now names the old tree.
                    self.dir = None;
                    test_pause("mid-commit");
                    let _ = sync_dir(&sib.parent);
                    // A failure here leaves a stale staging directory, which
                    // the next build removes.
                    let _ = fs::remove_dir_all(&staged);
                }
                Err(e) if exchange_unsupported(&e) => self.commit_by_two_renames(&sib, &staged)?,
                Err(e) => return Err(io(&self.out)(e)),
            }
        } else {
            fs::rename(&staged, &self.out).map_err(io(&self.out))?;
            self.dir = None;
            let _ = sync_dir(&sib.parent);
        }
        // The output directory's parents stay.
        self.created = None;
        Ok(Committed {
            path: self.shown.clone(),
            cwd_replaced: self.cwd_inside,
        })
    }

    /// The commit where the exchange is unavailable: the old output goes
    /// aside first and is deleted only once the new one is in place.
    fn commit_by_two_renames(&mut self, sib: &Siblings, staged: &Path) -> Result<(), BuildError> {
        let aside = sib.aside();
        if exists(&aside) {
            return Err(BuildError::Io {
                path: aside,
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "in the way of replacing the output directory, and it holds files dfabake \
                     did not write; move it away",
                ),
            });
        }
        fs::rename(&self.out, &aside).map_err(io(&self.out))?;
        test_pause("mid-commit");
        if let Err(e) = fs::rename(staged, &self.out) {
            let _ = fs::rename(&aside, &self.out);
            return Err(io(&self.out)(e));
        }
        self.dir = None;
        let _ = sync_dir(&sib.parent);
        let _ = fs::remove_dir_all(&aside);
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // A failed build: the staging directory goes first, then the lock
        // file, then the parents created for `out`, if they are empty.
        if let Some(dir) = self.dir.take() {
            let _ = fs::remove_dir_all(dir);
        }
        drop(self.lock.take());
        if let Some(top) = &self.created {
            for dir in self.lexical_parent.ancestors() {
                if fs::remove_dir(dir).is_err() || dir == top {
                    break;
                }
            }
        }
    }
}

/// The last component of `out` when it is a name (not `.`, `..` or `/`).
fn last_name(out: &Path) -> Option<&OsStr> {
    match out.components().next_back()? {
        Component::Normal(n) => Some(n),
        _ => None,
    }
}

fn make_staging_dir(sib: &Siblings) -> Result<PathBuf, BuildError> {
    // Created like any directory (mode from the umask), since it becomes
    // the output directory itself.
    let pid = std::process::id();
    for n in 0u32.. {
        let mut name = sib.staging_prefix();
        name.push(format!("{pid}-{n}"));
        let path = sib.parent.join(name);
        match fs::create_dir(&path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => continue,
            Err(e) => return Err(io(&path)(e)),
        }
    }
    unreachable!()
}

fn sync_dir(dir: &Path) -> Result<(), BuildError> {
    fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(io(dir))
}

/// Cleans up after builds of `out` that were killed (the caller holds the
/// lock, so no live build owns what is found).
fn recover(sib: &Siblings, out: &Path) -> Result<(), BuildError> {
    let aside = sib.aside();
    if exists(&aside) {
        // A two-rename commit killed between its renames leaves the old
        // output aside and none in place; killed while removing the aside
        // tree, it leaves part of it. Only trees of dfabake's are touched.
        if !exists(out) {
            if only_dfabake_files(&aside, true)? {
                fs::rename(&aside, out).map_err(io(out))?;
            }
        } else if only_dfabake_files(&aside, false)? {
            fs::remove_dir_all(&aside).map_err(io(&aside))?;
        }
    }
    let prefix = sib.staging_prefix();
    let prefix = prefix.as_encoded_bytes();
    for entry in fs::read_dir(&sib.parent).map_err(io(&sib.parent))? {
        let entry = entry.map_err(io(&sib.parent))?;
        if entry.file_name().as_encoded_bytes().starts_with(prefix) {
            let path = entry.path();
            let gone = match entry.file_type() {
                Ok(t) if t.is_dir() => fs::remove_dir_all(&path),
                _ => fs::remove_file(&path),
            };
            gone.map_err(io(&path))?;
        }
    }
    Ok(())
}

/// Whether `dir` holds only files dfabake writes, by name; `complete` also
/// asks for a manifest of dfabake's listing them.
fn only_dfabake_files(dir: &Path, complete: bool) -> Result<bool, BuildError> {
    if !fs::symlink_metadata(dir).map_err(io(dir))?.is_dir() {
        return Ok(false);
    }
    let allowed = match (read_manifest(dir), complete) {
        (Some(m), _) => recorded_files(&m),
        (None, true) => return Ok(false),
        (None, false) => LEGACY_FILES.iter().map(|s| s.to_string()).collect(),
    };
    Ok(foreign_files(dir, &allowed)?.0.is_empty())
}

fn read_manifest(dir: &Path) -> Option<serde_json::Value> {
    let m = fs::read(dir.join("manifest.json")).ok()?;
    let m: serde_json::Value = serde_json::from_slice(&m).ok()?;
    (m.get("generator").and_then(|g| g.as_str()) == Some(GENERATOR)).then_some(m)
}

/// The files a dfabake manifest says its directory holds (for outputs
/// written before manifests listed them: what those held).
fn recorded_files(manifest: &serde_json::Value) -> Vec<String> {
    match manifest.get("files").and_then(|f| f.as_array()) {
        Some(files) => files
            .iter()
            .filter_map(|f| f.as_str().map(str::to_string))
            .chain(std::iter::once("manifest.json".to_string()))
            .collect(),
        None => LEGACY_FILES.iter().map(|s| s.to_string()).collect(),
    }
}

/// What `dir` holds beyond `allowed` (regular files, by relative path with
/// `/`; directories only as parents of allowed files), at most
/// `NAMED_FOREIGN` of them by name, and how many in all. Foreign directories
/// are not entered.
fn foreign_files(dir: &Path, allowed: &[String]) -> Result<(Vec<String>, usize), BuildError> {
    let mut named = Vec::new();
    let mut count = 0usize;
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((path, rel)) = stack.pop() {
        let mut entries: Vec<_> = fs::read_dir(&path)
            .map_err(io(&path))?
            .collect::<Result<_, _>>()
            .map_err(io(&path))?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            let rel = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let ty = e.file_type().map_err(io(&e.path()))?;
            let ours = if ty.is_dir() {
                let prefix = format!("{rel}/");
                allowed.iter().any(|a| a.starts_with(&prefix))
            } else {
                ty.is_file() && allowed.contains(&rel)
            };
            if ours && ty.is_dir() {
                stack.push((e.path(), rel));
            } else if !ours {
                count += 1;
                if named.len() < NAMED_FOREIGN {
                    named.push(if ty.is_dir() { format!("{rel}/") } else { rel });
                }
            }
        }
    }
    Ok((named, count))
}

fn check_replaceable(out: &Path, force: bool) -> Result<(), BuildError> {
    if !exists(out) {
        return Ok(());
    }
    if !out.is_dir() {
        return Err(BuildError::OutputNotOurs(out.to_path_buf()));
    }
    let empty = fs::read_dir(out).map_err(io(out))?.next().is_none();
    if empty || force {
        return Ok(());
    }
    let Some(manifest) = read_manifest(out) else {
        return Err(BuildError::OutputNotOurs(out.to_path_buf()));
    };
    let (named, count) = foreign_files(out, &recorded_files(&manifest))?;
    if count == 0 {
        Ok(())
    } else {
        Err(BuildError::ForeignFiles {
            dir: out.to_path_buf(),
            named,
            count,
        })
    }
}

/// Swaps two directory entries atomically.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let a = CString::new(a.as_os_str().as_bytes())?;
    let b = CString::new(b.as_os_str().as_bytes())?;
    // The raw system call: glibc's wrapper is newer than some systems'.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> std::io::Result<()> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}

/// The exchange failed because the system or file system lacks it.
fn exchange_unsupported(e: &std::io::Error) -> bool {
    #[cfg(target_os = "linux")]
    if matches!(
        e.raw_os_error(),
        Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP)
    ) {
        return true;
    }
    e.kind() == std::io::ErrorKind::Unsupported
}

/// A lock file beside the output directory, held while a build of it runs
/// and removed when done.
struct OutputLock {
    path: PathBuf,
    _file: fs::File,
}

impl OutputLock {
    fn acquire(path: &Path, out: &Path) -> Result<OutputLock, BuildError> {
        loop {
            let file = fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(path)
                .map_err(io(path))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(BuildError::Busy {
                        dir: out.to_path_buf(),
                        lock: path.to_path_buf(),
                    })
                }
                Err(fs::TryLockError::Error(e)) => return Err(io(path)(e)),
            }
            // The holder before us may have removed the file after we
            // opened it: a lock on a removed file locks nothing.
            if same_file(&file, path) {
                return Ok(OutputLock {
                    path: path.to_path_buf(),
                    _file: file,
                });
            }
        }
    }
}

#[cfg(unix)]
fn same_file(file: &fs::File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_: &fs::File, path: &Path) -> bool {
    path.exists()
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        // Removed while still held (see `acquire`); closing releases it.
        let _ = fs::remove_file(&self.path);
    }
}

/// For the tests of killed builds: with `DFABAKE_TEST_PAUSE=POINT:FILE` the
/// build creates FILE on reaching POINT (`staged`, `before-commit`,
/// `mid-commit`) and waits there to be killed.
fn test_pause(point: &str) {
    let Some(v) = std::env::var_os("DFABAKE_TEST_PAUSE") else {
        return;
    };
    let v = v.to_string_lossy();
    if let Some((p, flag)) = v.split_once(':') {
        if p == point {
            let _ = fs::write(flag, b"");
            loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(out: &Path, files: &[(&str, &str)]) -> Staging {
        let s = Staging::new(out, false).unwrap();
        for (name, text) in files {
            s.write(name, text.as_bytes()).unwrap();
        }
        let manifest = serde_json::json!({
            "generator": GENERATOR,
            "files": s.files(&["manifest.json"]),
        });
        s.write("manifest.json", manifest.to_string().as_bytes())
            .unwrap();
        s
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn the_record_decides_what_may_be_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        stage(&out, &[("a.wasm", "1"), ("sub/b.js", "2")])
            .commit()
            .unwrap();
        assert_eq!(names(&out), ["a.wasm", "manifest.json", "sub"]);
        // Another build with other files replaces it: its record says so.
        stage(&out, &[("c.wasm", "3")]).commit().unwrap();
        assert_eq!(names(&out), ["c.wasm", "manifest.json"]);
        // A file the record does not list is refused, by name.
        fs::write(out.join("a.wasm"), "mine").unwrap();
        match Staging::new(&out, false) {
            Err(BuildError::ForeignFiles { named, count, .. }) => {
                assert_eq!((named, count), (vec!["a.wasm".to_string()], 1))
            }
            other => panic!("{:?}", other.err()),
        }
        assert_eq!(names(tmp.path()), ["out"], "nothing left by the refusal");
        // ... unless forced.
        Staging::new(&out, true).unwrap().commit().unwrap();
        assert!(names(&out).is_empty());
        assert_eq!(names(tmp.path()), ["out"]);
    }

    #[test]
    fn legacy_outputs_hold_the_files_dfabake_wrote_then() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        fs::create_dir_all(out.join("npm")).unwrap();
        for f in LEGACY_FILES {
            fs::write(out.join(f), "x").unwrap();
        }
        fs::write(out.join("manifest.json"), r#"{"generator":"dfabake"}"#).unwrap();
        check_replaceable(&out, false).unwrap();
        fs::write(out.join("npm/mine.js"), "x").unwrap();
        assert!(check_replaceable(&out, false).is_err());
    }

    #[test]
    fn the_two_rename_fallback_replaces_and_recovers() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        stage(&out, &[("one", "1")]).commit().unwrap();
        let mut s = stage(&out, &[("two", "2")]);
        let (sib, staged) = (s.siblings(), s.dir.clone().unwrap());
        s.commit_by_two_renames(&sib, &staged).unwrap();
        drop(s);
        assert_eq!(names(&out), ["manifest.json", "two"]);
        assert_eq!(names(tmp.path()), ["out"]);
        // Killed between its renames: the next build puts the old one back.
        fs::rename(&out, sib.aside()).unwrap();
        let s = Staging::new(&out, false).unwrap();
        assert_eq!(names(&out), ["manifest.json", "two"]);
        drop(s);
        assert_eq!(names(tmp.path()), ["out"]);
        // A `.out.old` that is not dfabake's is left alone.
        fs::create_dir(sib.aside()).unwrap();
        fs::write(sib.aside().join("thesis.tex"), "x").unwrap();
        drop(Staging::new(&out, false).unwrap());
        assert_eq!(names(tmp.path()), [".out.old", "out"]);
    }

    #[test]
    fn a_second_build_of_the_same_directory_is_refused_while_one_runs() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let first = Staging::new(&out, false).unwrap();
        match Staging::new(&out, false) {
            Err(e @ BuildError::Busy { .. }) => {
                assert!(e.to_string().contains("another dfabake build"), "{e}")
            }
            other => panic!("{:?}", other.err()),
        }
        drop(first);
        assert!(names(tmp.path()).is_empty());
        drop(Staging::new(&out, false).unwrap());
        assert!(names(tmp.path()).is_empty());
    }
}
