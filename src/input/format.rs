//! File formats dualrun reads, and how a path's extension names one; what
//! a table was read from (`TableFormat`), files or a database.

use std::path::Path;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    Parquet,
    Csv,
    /// Newline-delimited JSON, one object per line.
    Json,
    /// Arrow IPC file format (Feather v2).
    Arrow,
}

/// What a table was read from: files of one format, or a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TableFormat {
    File(FileFormat),
    /// A Delta Lake table, at the version read.
    Delta {
        version: u64,
    },
    Postgres,
    /// A SQLite or DuckDB database file.
    Database(super::FileEngine),
}

impl TableFormat {
    /// Whether `other` comes from the same kind of container (files of
    /// any format, or the same database engine).
    pub fn same_kind(self, other: TableFormat) -> bool {
        match (self, other) {
            (TableFormat::File(_), TableFormat::File(_))
            | (TableFormat::Postgres, TableFormat::Postgres) => true,
            (TableFormat::Database(a), TableFormat::Database(b)) => a == b,
            _ => false,
        }
    }

    /// The Delta table's version read.
    pub fn version(self) -> Option<u64> {
        match self {
            TableFormat::Delta { version } => Some(version),
            _ => None,
        }
    }

    /// As reports name it.
    pub fn name(self) -> &'static str {
        match self {
            TableFormat::File(format) => format.name(),
            TableFormat::Delta { .. } => "delta",
            TableFormat::Postgres => "postgres",
            TableFormat::Database(engine) => engine.scheme(),
        }
    }
}

/// CSV parsing options, shared by both sides of a diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsvOptions {
    pub has_header: bool,
    /// The field delimiter; `None` takes it from the files' extension.
    pub delimiter: Option<u8>,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            has_header: true,
            delimiter: None,
        }
    }
}

impl CsvOptions {
    /// The delimiter to read `files` with: the one given, else a tab when
    /// every file is a `.tsv`, else a comma.
    pub fn delimiter_for(&self, files: &[std::path::PathBuf]) -> u8 {
        let tsv =
            |f: &std::path::PathBuf| f.extension().is_some_and(|e| e.eq_ignore_ascii_case("tsv"));
        self.delimiter
            .unwrap_or(if !files.is_empty() && files.iter().all(tsv) {
                b'\t'
            } else {
                b','
            })
    }
}

impl FileFormat {
    /// The valid names, for error messages.
    pub const NAMES: &'static str = "`parquet`, `csv`, `json` (NDJSON), `arrow` (IPC)";

    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "parquet" | "pq" => Some(FileFormat::Parquet),
            "csv" | "tsv" => Some(FileFormat::Csv),
            "json" | "ndjson" | "jsonl" => Some(FileFormat::Json),
            "arrow" | "ipc" | "feather" => Some(FileFormat::Arrow),
            _ => None,
        }
    }

    /// The format a file's extension names, if any.
    pub fn from_path(path: &Path) -> Option<Self> {
        path.extension()
            .and_then(|e| e.to_str())
            .and_then(Self::from_name)
    }

    pub fn name(self) -> &'static str {
        match self {
            FileFormat::Parquet => "parquet",
            FileFormat::Csv => "csv",
            FileFormat::Json => "json",
            FileFormat::Arrow => "arrow",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_name_formats() {
        assert_eq!(
            FileFormat::from_path(Path::new("a/b.parquet")),
            Some(FileFormat::Parquet)
        );
        assert_eq!(
            FileFormat::from_path(Path::new("b.TSV")),
            Some(FileFormat::Csv)
        );
        assert_eq!(
            FileFormat::from_path(Path::new("b.jsonl")),
            Some(FileFormat::Json)
        );
        assert_eq!(
            FileFormat::from_path(Path::new("b.feather")),
            Some(FileFormat::Arrow)
        );
        assert_eq!(FileFormat::from_path(Path::new("b.txt")), None);
        assert_eq!(FileFormat::from_path(Path::new("noext")), None);
    }
}
