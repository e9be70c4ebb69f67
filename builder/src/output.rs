//! Writing a build's outputs atomically: everything is staged in a temporary
//! directory beside `--out` and renamed into place only when complete, so an
//! error never leaves a half-written output behind.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::BuildError;

/// The generator name `manifest.json` carries; an existing output directory is
/// only replaced when its manifest says it was written by dfabake.
pub const GENERATOR: &str = "dfabake";

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BuildError + '_ {
    move |source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A directory being prepared next to its final place.
pub struct Staging {
    /// `None` once committed.
    dir: Option<tempfile::TempDir>,
    out: PathBuf,
    /// The outermost directory this staging created to hold `out`, removed
    /// again (if still empty) when the build fails.
    created: Option<PathBuf>,
}

impl Staging {
    /// Starts staging an output for `out`. Refuses early when `out` exists
    /// and is neither empty nor a previous dfabake output.
    pub fn new(out: &Path) -> Result<Staging, BuildError> {
        check_replaceable(out)?;
        let parent = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let created = parent
            .ancestors()
            .take_while(|a| !a.as_os_str().is_empty() && !a.exists())
            .last()
            .map(Path::to_path_buf);
        fs::create_dir_all(&parent).map_err(io(&parent))?;
        let name = out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = tempfile::Builder::new()
            .prefix(&format!(".{name}.dfabake-tmp-"))
            .tempdir_in(&parent)
            .map_err(io(&parent))?;
        Ok(Staging {
            dir: Some(dir),
            out: out.to_path_buf(),
            created,
        })
    }

    /// Path of `name` inside the staging directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.as_ref().expect("not committed").path().join(name)
    }

    /// Writes a file into the staging directory (and syncs it).
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<(), BuildError> {
        let path = self.path(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let mut f = fs::File::create(&path).map_err(io(&path))?;
        f.write_all(bytes).map_err(io(&path))?;
        f.sync_all().map_err(io(&path))?;
        Ok(())
    }

    /// Moves the staged directory into place, replacing a previous output.
    pub fn commit(mut self) -> Result<PathBuf, BuildError> {
        check_replaceable(&self.out)?;
        let staged = self.dir.take().expect("committed once").keep();
        // From here on the output directory's parents are in use.
        self.created = None;
        if self.out.exists() {
            // Rename the old output aside first: both renames are atomic, and
            // the old one is only deleted once the new one is in place.
            let aside = staged.with_extension("old");
            fs::rename(&self.out, &aside).map_err(io(&self.out))?;
            if let Err(e) = fs::rename(&staged, &self.out) {
                let _ = fs::rename(&aside, &self.out);
                let _ = fs::remove_dir_all(&staged);
                return Err(BuildError::Io {
                    path: self.out.clone(),
                    source: e,
                });
            }
            let _ = fs::remove_dir_all(&aside);
        } else if let Err(e) = fs::rename(&staged, &self.out) {
            let _ = fs::remove_dir_all(&staged);
            return Err(BuildError::Io {
                path: self.out.clone(),
                source: e,
            });
        }
        Ok(self.out.clone())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // A failed build: the temporary directory goes first (TempDir's own
        // drop), then the parents it needed, if they are empty.
        drop(self.dir.take());
        if let (Some(top), Some(parent)) = (&self.created, self.out.parent()) {
            for dir in parent.ancestors() {
                if fs::remove_dir(dir).is_err() || dir == top {
                    break;
                }
            }
        }
    }
}

fn check_replaceable(out: &Path) -> Result<(), BuildError> {
    if !out.exists() {
        return Ok(());
    }
    if !out.is_dir() {
        return Err(BuildError::OutputNotOurs(out.to_path_buf()));
    }
    let empty = fs::read_dir(out).map_err(io(out))?.next().is_none();
    if empty {
        return Ok(());
    }
    let manifest = fs::read(out.join("manifest.json")).ok();
    let ours = manifest
        .and_then(|m| serde_json::from_slice::<serde_json::Value>(&m).ok())
        .is_some_and(|m| m.get("generator").and_then(|g| g.as_str()) == Some(GENERATOR));
    if ours {
        Ok(())
    } else {
        Err(BuildError::OutputNotOurs(out.to_path_buf()))
    }
}
