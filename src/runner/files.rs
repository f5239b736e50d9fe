//! Where a side's output lives: `NAME.parquet` (or `.csv`, `.ndjson`,
//! `.jsonl`, `.json`, `.arrow`), or a directory `NAME/` of such files.

use std::path::{Path, PathBuf};

const EXTENSIONS: [&str; 6] = ["parquet", "csv", "ndjson", "jsonl", "json", "arrow"];

/// The file or directory holding output `name` in `dir`, if any.
pub fn find_output(dir: &Path, name: &str) -> Option<PathBuf> {
    EXTENSIONS
        .iter()
        .map(|ext| dir.join(format!("{name}.{ext}")))
        .find(|p| p.is_file())
        .or_else(|| Some(dir.join(name)).filter(|p| p.is_dir()))
}
