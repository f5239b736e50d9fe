//! Reading tables: locating the files a user named (a file, a directory or a
//! glob), telling their format, and reading them with DataFusion into Arrow
//! record batches.

mod fingerprint;
mod format;
mod locate;
mod read;

pub use fingerprint::{Fingerprint, digest, fingerprint, snapshot};
pub use format::{CsvOptions, FileFormat};
pub use locate::locate_files;
pub use read::{OpenTable, PartitionStream, Table, open_table, read_table};

/// One table as the user named it, before anything is read.
#[derive(Debug, Clone)]
pub struct TableSource {
    /// The path, directory or glob exactly as given, for messages and reports.
    pub spec: String,
    /// Format forced by the user; `None` means "from the extension".
    pub format: Option<FileFormat>,
    pub csv: CsvOptions,
}

impl TableSource {
    /// A path (file, directory or glob) read as its extension says, with
    /// the default CSV options: how dualrun reads what it wrote itself and
    /// a project's inputs and outputs.
    pub fn of_path(spec: impl std::fmt::Display) -> Self {
        TableSource {
            spec: spec.to_string(),
            format: None,
            csv: CsvOptions::default(),
        }
    }
}
