//! The run directory, one per `dualrun run`: its layout, in one place, and
//! the manifest that `run` writes and `publish` reads.
//!
//! ```text
//! RUN/prod/NAME.parquet        each side's outputs and models, as Parquet
//! RUN/candidate/NAME.parquet   (the audit copy that outlives the sources)
//! RUN/prod.log, candidate.log  what command sides printed
//! RUN/inputs/                  the inputs, with `--snapshot-inputs`
//! RUN/report.json|md|html      the report, for `check`, pull requests, people
//! RUN/manifest.json            inputs, sides, verdict, candidate digests
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cli::ReportFormat;
use crate::error::{Error, Result};
use crate::input::Fingerprint;
use crate::report::SideRun;
use crate::report::model::Tool;
use crate::rules::Verdict;
use crate::sides::Side;

pub const MANIFEST: &str = "manifest.json";
/// The JSON report, which `check` and `publish` read back.
pub const REPORT_JSON: &str = "report.json";

/// A run directory that exists.
#[derive(Debug, Clone)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// Where a run of the project at `project_root` goes when no directory
    /// is asked for: `.dualrun/runs/<UTC time>-<short id>`.
    pub fn default_path(project_root: &Path) -> PathBuf {
        project_root.join(".dualrun/runs").join(run_id())
    }

    /// Creates the run directory `root`, which must not exist yet.
    pub fn create(root: &Path) -> Result<Self> {
        if root.exists() {
            return Err(Error::usage(format!(
                "the run directory `{}` exists, and a run never writes over another",
                root.display()
            ))
            .with_hint("leave `--run-dir` out for a new one, or name a new directory"));
        }
        fs::create_dir_all(root).map_err(|source| Error::Output {
            path: root.to_path_buf(),
            source,
        })?;
        Ok(RunDir {
            root: root.to_path_buf(),
        })
    }

    /// An existing run directory, to read (`publish`).
    pub fn existing(root: &Path) -> Self {
        RunDir {
            root: root.to_path_buf(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where `side` (`prod`, `candidate`) keeps its outputs and models.
    pub fn side_dir(&self, side: Side) -> PathBuf {
        self.root.join(side.name())
    }

    /// The audit copy of output or model `name` of `side`.
    pub fn output(&self, side: Side, name: &str) -> PathBuf {
        self.side_dir(side).join(format!("{name}.parquet"))
    }

    /// The report in `format`.
    pub fn report(&self, format: ReportFormat) -> PathBuf {
        self.root.join(crate::report::file_name(format))
    }

    /// The log of `side`'s command (both output streams).
    pub fn log(&self, side: Side) -> PathBuf {
        self.root.join(format!("{side}.log"))
    }

    /// Scratch space of `side`'s engine (inputs converted for Polars),
    /// removed when the side is done.
    pub fn scratch(&self, side: Side) -> PathBuf {
        self.root.join(format!("{side}-inputs"))
    }

    /// A dbt side's own settings, artifacts and logs (`target/`, `logs/`,
    /// `profiles.yml`), and its DuckDB database while the run lasts.
    pub fn dbt_dir(&self, side: Side) -> PathBuf {
        self.root.join(format!("{side}-dbt"))
    }

    /// Where `--snapshot-inputs` copies the inputs.
    pub fn inputs_dir(&self) -> PathBuf {
        self.root.join("inputs")
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// The manifest, as `run` left it.
    pub fn read_manifest(&self) -> Option<Manifest> {
        let bytes = fs::read(self.file(MANIFEST)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// Size and content digest of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    pub bytes: u64,
    /// Hex xxh3 of the content.
    pub xxh3: String,
}

impl FileDigest {
    pub fn of(file: &Path) -> std::io::Result<Self> {
        let (bytes, xxh3) = crate::input::digest(file)?;
        Ok(FileDigest {
            bytes,
            xxh3: format!("{xxh3:016x}"),
        })
    }
}

/// `manifest.json`: what `publish` checks a run by.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub run_id: Option<String>,
    pub tool: Tool,
    pub verdict: Verdict,
    pub inputs: Vec<Fingerprint>,
    pub sides: Vec<SideRun>,
    /// Every output the run judged.
    pub outputs: Vec<String>,
    /// The candidate's outputs as the run left them: `publish` promotes
    /// these files only while they still match.
    pub candidate_outputs: BTreeMap<String, FileDigest>,
}

/// Copies `from` to `to` byte for byte (in the kernel where it can), through
/// a hidden file renamed into place, and checks the copy's digest against
/// the source's. A copy rather than a hard link: a pipeline that later
/// rewrites its file in place must not change the audit copy. The source
/// must keep its size and modification time throughout, or the copy is
/// refused.
pub fn copy_verbatim(from: &Path, to: &Path) -> Result<FileDigest> {
    let failed = |path: &Path, source: std::io::Error| Error::Output {
        path: path.to_path_buf(),
        source,
    };
    let stamp = |path: &Path| {
        fs::metadata(path)
            .and_then(|m| Ok((m.len(), m.modified()?)))
            .map_err(|e| failed(path, e))
    };
    let before = stamp(from)?;
    let hidden = to.with_file_name(format!(
        ".{}.partial",
        to.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    fs::copy(from, &hidden).map_err(|e| failed(&hidden, e))?;
    // Both read at once, on their own threads (not a pool of the diff's).
    let (copied, source) = std::thread::scope(|scope| {
        let copied = scope.spawn(|| FileDigest::of(&hidden));
        let source = FileDigest::of(from);
        (copied.join().expect("a digest does not panic"), source)
    });
    let copied = copied.map_err(|e| failed(&hidden, e))?;
    let source = source.map_err(|e| failed(from, e))?;
    if copied != source || stamp(from)? != before {
        let _ = fs::remove_file(&hidden);
        return Err(failed(
            from,
            std::io::Error::other("it changed while it was copied into the run directory"),
        ));
    }
    fs::rename(&hidden, to).map_err(|e| failed(to, e))?;
    Ok(copied)
}

/// `20261122T041000Z-3fa2c1`: sortable by time, unique by a hash of the
/// clock and the process.
fn run_id() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let time = chrono::DateTime::from_timestamp(now.as_secs() as i64, 0)
        .map(|t| t.format("%Y%m%dT%H%M%SZ").to_string())
        .unwrap_or_else(|| now.as_secs().to_string());
    let salt =
        xxhash_rust::xxh3::xxh3_64(format!("{}-{}", now.as_nanos(), std::process::id()).as_bytes());
    format!("{time}-{:06x}", salt & 0xff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verbatim_copy_has_the_source_digest() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("a.parquet"), dir.path().join("b.parquet"));
        let content: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        fs::write(&from, &content).unwrap();
        let digest = copy_verbatim(&from, &to).unwrap();
        assert_eq!(fs::read(&to).unwrap(), content);
        assert_eq!(digest, FileDigest::of(&from).unwrap());
        assert_eq!(digest.bytes, 3_000_000);
        let hidden: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with('.')
            })
            .collect();
        assert!(hidden.is_empty());
    }
}
