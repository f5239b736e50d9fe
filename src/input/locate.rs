//! Resolves what the user typed (a file, a directory, a glob) into a sorted
//! list of files of one format, with errors that name the path.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::{FileFormat, TableSource};
use crate::error::{Error, Result};

/// The files of a table and their one format.
pub fn locate_files(source: &TableSource) -> Result<(Vec<PathBuf>, FileFormat)> {
    let spec = source.spec.as_str();
    let files = if spec.contains(['*', '?', '[']) {
        glob_files(spec)?
    } else {
        let path = Path::new(spec);
        let meta = std::fs::metadata(path).map_err(|e| {
            let reason = match e.kind() {
                std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
                std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
                _ => e.to_string(),
            };
            Error::input(spec, reason)
        })?;
        if meta.is_dir() {
            directory_files(path, source.format)?
        } else {
            vec![path.to_path_buf()]
        }
    };
    let format = match source.format {
        Some(format) => format,
        None => single_format(spec, &files)?,
    };
    Ok((files, format))
}

fn glob_files(pattern: &str) -> Result<Vec<PathBuf>> {
    let paths = glob::glob(pattern).map_err(|e| {
        Error::input(pattern, format!("invalid glob pattern ({})", e.msg))
            .with_hint("quote the pattern so the shell passes it unchanged")
    })?;
    let mut files = Vec::new();
    for entry in paths {
        let path = entry.map_err(|e| {
            Error::unreadable(e.path().display().to_string(), std::io::Error::from(e))
        })?;
        if path.is_file() && !is_hidden(&path) {
            files.push(path);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(Error::input(pattern, "no files match this glob"));
    }
    Ok(files)
}

/// Every data file under `dir` (recursively, for partitioned datasets),
/// skipping hidden and marker files such as `_SUCCESS` and `.crc`.
fn directory_files(dir: &Path, forced: Option<FileFormat>) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let entries = std::fs::read_dir(&current)
            .map_err(|e| Error::unreadable(current.display().to_string(), e))?;
        for entry in entries {
            let path = entry
                .map_err(|e| Error::unreadable(current.display().to_string(), e))?
                .path();
            if is_hidden(&path) {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
            } else if forced.is_some() || FileFormat::from_path(&path).is_some() {
                files.push(path);
            }
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(Error::input(
            dir.display().to_string(),
            "the directory holds no Parquet, CSV, NDJSON or Arrow files",
        ));
    }
    Ok(files)
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.') || n.starts_with('_'))
}

/// The one format `files` have by their extensions (local paths or object
/// keys), or why there is none.
pub(super) fn single_format(spec: &str, files: &[PathBuf]) -> Result<FileFormat> {
    let mut formats = BTreeSet::new();
    for file in files {
        match FileFormat::from_path(file) {
            Some(format) => {
                formats.insert(format);
            }
            None => {
                return Err(Error::input(
                    file.display().to_string(),
                    "its extension names no format dualrun reads",
                )
                .with_hint(format!(
                    "name the format with `--format-left` or `--format-right`: {}",
                    FileFormat::NAMES
                )));
            }
        }
    }
    match formats.len() {
        1 => Ok(*formats.first().expect("one format")),
        _ => {
            let names: Vec<_> = formats.iter().map(|f| format!("`{}`", f.name())).collect();
            Err(
                Error::input(spec, format!("it mixes formats ({})", names.join(", "))).with_hint(
                    "point at files of one format, e.g. with a glob like `dir/*.parquet`",
                ),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(spec: &str) -> TableSource {
        TableSource::of_path(spec)
    }

    #[test]
    fn directories_are_walked_and_markers_skipped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("day=1")).unwrap();
        std::fs::write(dir.path().join("day=1/a.csv"), "x\n1\n").unwrap();
        std::fs::write(dir.path().join("b.csv"), "x\n2\n").unwrap();
        std::fs::write(dir.path().join("_SUCCESS"), "").unwrap();
        std::fs::write(dir.path().join("README"), "").unwrap();
        let (files, format) = locate_files(&source(dir.path().to_str().unwrap())).unwrap();
        assert_eq!(format, FileFormat::Csv);
        assert_eq!(files.len(), 2);
    }

    #[test]
    fn empty_glob_and_missing_file_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let pattern = format!("{}/*.parquet", dir.path().display());
        let error = locate_files(&source(&pattern)).unwrap_err();
        assert!(error.to_string().contains("no files match"), "{error}");
        assert!(error.to_string().contains(&pattern));
        let missing = format!("{}/nope.parquet", dir.path().display());
        let error = locate_files(&source(&missing)).unwrap_err();
        assert!(error.to_string().contains("no such file"), "{error}");
    }

    #[test]
    fn mixed_formats_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.csv"), "x\n1\n").unwrap();
        std::fs::write(dir.path().join("b.json"), "{}\n").unwrap();
        let error = locate_files(&source(dir.path().to_str().unwrap())).unwrap_err();
        assert!(error.to_string().contains("mixes formats"), "{error}");
    }
}
