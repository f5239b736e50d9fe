//! The layout readers use, on disk:
//!
//! ```text
//! TARGET/versions/<run-id>/NAME.parquet   every published output
//! TARGET/versions/<run-id>/version.json   what was published, from which run
//! TARGET/current -> versions/<run-id>     the live version (a symlink)
//! TARGET/published.jsonl                  every publish and rollback
//! TARGET/.lock                            held by the one publish at work
//! ```
//!
//! A version directory appears whole (built under a hidden name, then
//! renamed), and `current` is switched by renaming a new symlink over the
//! old one, so a reader opening `TARGET/current/NAME.parquet` sees either
//! the old version or the new one, never a mix, whatever crashes when.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::input::Fingerprint;
use crate::rules::Verdict;

pub const VERSION_FILE: &str = "version.json";

/// A publish target directory.
#[derive(Debug, Clone)]
pub struct Target {
    pub root: PathBuf,
}

/// What one version holds and where it came from (`version.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionRecord {
    pub version: String,
    pub published_at: String,
    /// The verdict of the run the version comes from.
    pub verdict: Verdict,
    /// Why a run that was not approved was published anyway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forced_reason: Option<String>,
    pub inputs: Vec<Fingerprint>,
    /// Output name -> the run it was published from (this version's, or an
    /// earlier one's for outputs carried over by `--only`).
    pub outputs: BTreeMap<String, String>,
}

impl Target {
    /// A target that may not exist yet (`publish` creates it).
    pub fn new(root: &Path) -> Self {
        Target {
            root: root.to_path_buf(),
        }
    }

    /// A target that must have been published to.
    pub fn existing(root: &Path) -> Result<Self> {
        let target = Target::new(root);
        if !target.versions_dir().is_dir() {
            return Err(
                Error::publish(root, "is not a publish target (it has no `versions/`)")
                    .with_hint("publish a run to it first: `dualrun publish RUN_DIR --to TARGET`"),
            );
        }
        Ok(target)
    }

    pub fn versions_dir(&self) -> PathBuf {
        self.root.join("versions")
    }

    pub fn version_dir(&self, version: &str) -> PathBuf {
        self.versions_dir().join(version)
    }

    pub fn log_path(&self) -> PathBuf {
        self.root.join("published.jsonl")
    }

    fn current_link(&self) -> PathBuf {
        self.root.join("current")
    }

    pub fn io_error(&self, path: &Path, e: std::io::Error) -> Error {
        Error::publish(&self.root, format!("cannot use `{}`: {e}", path.display()))
    }

    /// The live version, if any.
    pub fn current(&self) -> Result<Option<String>> {
        match fs::read_link(self.current_link()) {
            Ok(link) => Ok(link.file_name().map(|n| n.to_string_lossy().into_owned())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io_error(&self.current_link(), e)),
        }
    }

    /// Makes `version` live in one step: a new symlink beside `current`,
    /// renamed over it, and the directory synced.
    pub fn switch_to(&self, version: &str) -> Result<()> {
        let fresh = self.root.join(format!(".current.{}", std::process::id()));
        let _ = fs::remove_file(&fresh);
        std::os::unix::fs::symlink(Path::new("versions").join(version), &fresh)
            .map_err(|e| self.io_error(&fresh, e))?;
        fs::rename(&fresh, self.current_link()).map_err(|e| self.io_error(&fresh, e))?;
        sync_dir(&self.root).map_err(|e| self.io_error(&self.root, e))
    }

    /// Every complete version (a directory with its `version.json`), oldest
    /// published first.
    pub fn versions(&self) -> Result<Vec<VersionRecord>> {
        let dir = self.versions_dir();
        let mut records = Vec::new();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(records),
            Err(e) => return Err(self.io_error(&dir, e)),
        };
        for entry in entries {
            let path = entry.map_err(|e| self.io_error(&dir, e))?.path();
            let hidden = path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if hidden || !path.join(VERSION_FILE).is_file() {
                continue;
            }
            records.push(self.record(&path)?);
        }
        records.sort_by(|a, b| (&a.published_at, &a.version).cmp(&(&b.published_at, &b.version)));
        Ok(records)
    }

    fn record(&self, dir: &Path) -> Result<VersionRecord> {
        let file = dir.join(VERSION_FILE);
        let text = fs::read(&file).map_err(|e| self.io_error(&file, e))?;
        serde_json::from_slice(&text).map_err(|e| {
            Error::publish(
                &self.root,
                format!("`{}` is not a version record: {e}", file.display()),
            )
        })
    }

    /// Takes the target's lock, or says who holds it. The lock is the
    /// operating system's lock on `.lock`, so a crashed publish leaves no
    /// stale lock behind: the lock ends with its process.
    pub fn lock(&self) -> Result<Lock> {
        fs::create_dir_all(&self.root).map_err(|e| self.io_error(&self.root, e))?;
        let path = self.root.join(".lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| self.io_error(&path, e))?;
        match file.try_lock() {
            Ok(()) => {
                // Who holds it, for the message another publish gets.
                let _ = file.set_len(0);
                let _ = writeln!(file, "{}", std::process::id());
                Ok(Lock { _file: file })
            }
            Err(fs::TryLockError::WouldBlock) => {
                let holder = fs::read_to_string(&path).unwrap_or_default();
                let holder = holder.trim();
                Err(Error::publish(
                    &self.root,
                    format!(
                        "another publish holds the lock `{}`{}",
                        path.display(),
                        if holder.is_empty() {
                            String::new()
                        } else {
                            format!(" (process {holder})")
                        }
                    ),
                )
                .with_hint("wait for it to finish, then try again"))
            }
            Err(fs::TryLockError::Error(e)) => Err(self.io_error(&path, e)),
        }
    }
}

/// The target's lock, held while this lives.
pub struct Lock {
    _file: File,
}

/// Makes a directory's entries (new names, renames) durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}
