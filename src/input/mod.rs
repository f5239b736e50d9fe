//! Reading tables: locating the files a user named (a file, a directory or a
//! glob), telling their format, and reading them with DataFusion into Arrow
//! record batches.

#[cfg(feature = "delta")]
pub mod delta;
#[cfg(feature = "duckdb")]
pub mod duckdb;
mod fingerprint;
mod format;
mod locate;
#[cfg(feature = "s3")]
mod objects;
mod parquet_rows;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "postgres")]
mod postgres_copy;
mod read;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod sql_scan;
#[cfg(feature = "sqlite")]
mod sqlite;
mod table_ref;

pub use fingerprint::{Fingerprint, digest, fingerprint, snapshot};
pub use format::{CsvOptions, FileFormat, TableFormat};
pub use locate::locate_files;
/// Public for the benchmarks in `benches/kernels.rs`.
pub use parquet_rows::ParquetRows;
pub use read::{OpenTable, PartitionStream, Table, copy_to_parquet, open_table, read_table};
#[cfg(feature = "postgres")]
pub(crate) use table_ref::quoted;
pub use table_ref::{DeltaAt, DeltaLocation, FileEngine, Relation, SCHEMES, TableRef, mask};

/// One table as the user named it, before anything is read.
#[derive(Debug, Clone)]
pub struct TableSource {
    /// The reference as shown in messages and reports: the path, directory
    /// or glob exactly as given, or the URL with its password masked.
    pub spec: String,
    /// What it names.
    pub reference: TableRef,
    /// Format forced by the user; `None` means "from the extension".
    pub format: Option<FileFormat>,
    pub csv: CsvOptions,
    /// `--where`: a SQL predicate only the rows it keeps are read by.
    pub filter: Option<String>,
}

impl TableSource {
    /// A path (file, directory or glob) read as its extension says, with
    /// the default CSV options: how dualrun reads what it wrote itself and
    /// a project's inputs and outputs.
    pub fn of_path(spec: impl std::fmt::Display) -> Self {
        TableSource {
            spec: spec.to_string(),
            reference: TableRef::Files(spec.to_string()),
            format: None,
            csv: CsvOptions::default(),
            filter: None,
        }
    }

    /// Any table reference, parsed (see `table_ref`), read with `format`
    /// (files only) and `csv`.
    pub fn parse(spec: &str, format: Option<FileFormat>, csv: CsvOptions) -> crate::Result<Self> {
        let reference = TableRef::parse(spec)?;
        Ok(TableSource {
            spec: reference.shown(),
            reference,
            format,
            csv,
            filter: None,
        })
    }
}
