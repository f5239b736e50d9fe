//! Fingerprints of a run's inputs: every file an input names, hashed
//! (xxh3 over path, length and content, in path order). Taken before and
//! after the sides run, they show that both sides read the same data and
//! let a later reader check that the inputs are still those of the run.
//! `snapshot` copies inputs into the run directory first, for inputs that
//! may change under a run.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

use super::{TableRef, TableSource, locate_files};
use crate::error::{Error, Result};
use crate::threads::Workers;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub input: String,
    /// Where the input was read (a file, directory or glob), so it can be
    /// fingerprinted again later (`publish` does).
    #[serde(default)]
    pub path: String,
    pub files: u64,
    pub bytes: u64,
    /// Hex xxh3 over every file's path, length and content digest (for
    /// objects: key, size and ETag; for a database table: its row count
    /// and checksum).
    pub xxh3: String,
    /// A database table's row count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// A Delta table's version (its log names every file of a version,
    /// and a version never changes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
}

/// The fingerprint of input `name`: of its files' contents, its objects'
/// ETags, or what the database computes of the table (see each source).
pub fn fingerprint(name: &str, source: &TableSource, workers: &Workers) -> Result<Fingerprint> {
    let blank = || Fingerprint {
        input: name.to_string(),
        path: source.spec.clone(),
        files: 0,
        bytes: 0,
        xxh3: String::new(),
        rows: None,
        version: None,
    };
    match &source.reference {
        TableRef::Files(path) => files_fingerprint(name, Path::new(path)),
        // The database file's bytes: a change to any of its tables counts,
        // which errs on the side of a changed input.
        TableRef::DatabaseFile { path, .. } => Ok(Fingerprint {
            path: source.spec.clone(),
            ..files_fingerprint(name, Path::new(path))?
        }),
        #[cfg(feature = "s3")]
        TableRef::Objects(url) => {
            let (files, bytes, digest) =
                workers.block_on(super::objects::fingerprint(source, url))?;
            Ok(Fingerprint {
                files,
                bytes,
                xxh3: format!("{digest:016x}"),
                ..blank()
            })
        }
        #[cfg(feature = "postgres")]
        TableRef::Postgres { url, relation } => {
            let (rows, checksum) =
                workers.block_on(super::postgres::fingerprint(source, url, relation))?;
            let mut hasher = Xxh3::new();
            hasher.update(&rows.to_le_bytes());
            hasher.update(checksum.as_bytes());
            Ok(Fingerprint {
                rows: Some(rows),
                xxh3: format!("{:016x}", hasher.digest()),
                ..blank()
            })
        }
        #[cfg(feature = "delta")]
        TableRef::Delta { location, at } => {
            let version = workers.block_on(super::delta::version(source, location, at))?;
            let mut hasher = Xxh3::new();
            hasher.update(source.spec.as_bytes());
            hasher.update(&version.to_le_bytes());
            Ok(Fingerprint {
                version: Some(version),
                xxh3: format!("{:016x}", hasher.digest()),
                ..blank()
            })
        }
        #[allow(unreachable_patterns)]
        other => {
            let _ = (workers, blank);
            Err(super::read::not_built(source, other))
        }
    }
}

/// The fingerprint of local files at `path` (a file, directory or glob).
fn files_fingerprint(name: &str, path: &Path) -> Result<Fingerprint> {
    let files = sorted_files(path)?;
    let mut hasher = Xxh3::new();
    let mut bytes = 0u64;
    for file in &files {
        let io_error = |e: std::io::Error| Error::unreadable(file.display().to_string(), e);
        let (length, digest) = digest(file).map_err(io_error)?;
        hasher.update(file.display().to_string().as_bytes());
        hasher.update(&length.to_le_bytes());
        hasher.update(&digest.to_le_bytes());
        bytes += length;
    }
    Ok(Fingerprint {
        input: name.to_string(),
        path: path.display().to_string(),
        files: files.len() as u64,
        bytes,
        xxh3: format!("{:016x}", hasher.digest()),
        rows: None,
        version: None,
    })
}

/// The files an input names, in path order.
fn sorted_files(path: &Path) -> Result<Vec<PathBuf>> {
    let (mut files, _) = locate_files(&TableSource::of_path(path.display()))?;
    files.sort();
    Ok(files)
}

/// The length of one file and the xxh3 of its content (not its name, so a
/// file keeps its digest when its directory moves).
pub fn digest(file: &Path) -> std::io::Result<(u64, u64)> {
    let mut reader = std::fs::File::open(file)?;
    let mut hasher = Xxh3::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut length = 0u64;
    loop {
        let n = reader.read(&mut buffer)?;
        if n == 0 {
            return Ok((length, hasher.digest()));
        }
        hasher.update(&buffer[..n]);
        length += n as u64;
    }
}

/// Copies every input into `dir` (a file as `NAME.ext`, several files into
/// `NAME/`, a database table or objects as `NAME.parquet`) and returns
/// where each input now is.
pub fn snapshot(
    inputs: &BTreeMap<String, TableSource>,
    dir: &Path,
    workers: &Workers,
) -> Result<BTreeMap<String, TableSource>> {
    let output_error = |path: &Path, source| Error::Output {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(|e| output_error(dir, e))?;
    let mut copies = BTreeMap::new();
    for (name, source) in inputs {
        let target = match source.reference.local_path() {
            Some(path) => snapshot_files(name, Path::new(path), dir)?,
            None => {
                let target = dir.join(format!("{name}.parquet"));
                super::copy_to_parquet(workers, source, &target)?;
                target
            }
        };
        copies.insert(name.clone(), TableSource::of_path(target.display()));
    }
    Ok(copies)
}

/// One local input's files, copied into `dir`.
fn snapshot_files(name: &str, path: &Path, dir: &Path) -> Result<PathBuf> {
    let output_error = |path: &Path, source| Error::Output {
        path: path.to_path_buf(),
        source,
    };
    let files = sorted_files(path)?;
    let copy = |from: &Path, to: &Path| {
        std::fs::copy(from, to)
            .map(|_| ())
            .map_err(|e| output_error(to, e))
    };
    if path.is_file() {
        let extension = path.extension().map(|e| e.to_string_lossy().into_owned());
        let target = dir.join(match extension {
            Some(ext) => format!("{name}.{ext}"),
            None => name.to_string(),
        });
        copy(path, &target)?;
        return Ok(target);
    }
    let target = dir.join(name);
    std::fs::create_dir_all(&target).map_err(|e| output_error(&target, e))?;
    // Numbered, so files of the same name in different folders stay
    // apart; the order is the sorted order of their paths.
    for (i, file) in files.iter().enumerate() {
        let file_name = file.file_name().unwrap_or_default().to_string_lossy();
        copy(file, &target.join(format!("{i:05}-{file_name}")))?;
    }
    Ok(target)
}
