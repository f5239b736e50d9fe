//! Reads located files with DataFusion into Arrow record batches, turning
//! DataFusion's errors into one sentence that names the table.

use std::fs::File;
use std::path::{Path, PathBuf};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::options::ArrowReadOptions;
use datafusion::prelude::{
    CsvReadOptions, DataFrame, JsonReadOptions, ParquetReadOptions, SessionContext,
};

use super::{FileFormat, TableSource, locate_files};
use crate::error::{Error, Result, first_line};

/// A table read into memory.
#[derive(Debug, Clone)]
pub struct Table {
    /// The path, directory or glob as the user gave it.
    pub source: String,
    pub format: FileFormat,
    pub files: Vec<PathBuf>,
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

impl Table {
    /// A table built in memory, for tests and for callers that already hold
    /// record batches.
    pub fn from_batches(source: &str, schema: SchemaRef, batches: Vec<RecordBatch>) -> Self {
        Table {
            source: source.to_string(),
            format: FileFormat::Arrow,
            files: Vec::new(),
            schema,
            batches,
        }
    }

    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

pub async fn read_table(ctx: &SessionContext, source: &TableSource) -> Result<Table> {
    let (files, format) = locate_files(source)?;
    if format == FileFormat::Parquet {
        for file in &files {
            check_parquet_footer(file)?;
        }
    }
    let paths: Vec<String> = files
        .iter()
        .map(|p| {
            std::path::absolute(p)
                .unwrap_or_else(|_| p.clone())
                .display()
                .to_string()
        })
        .collect();
    // The files are already chosen, so no extension filter applies: an empty
    // extension lets `--format-left csv data.txt` through.
    let frame = match format {
        FileFormat::Parquet => {
            let options = ParquetReadOptions {
                file_extension: "",
                ..Default::default()
            };
            ctx.read_parquet(paths, options).await
        }
        FileFormat::Csv => {
            let options = CsvReadOptions::new()
                .has_header(source.csv.has_header)
                .delimiter(source.csv.delimiter)
                .file_extension("");
            ctx.read_csv(paths, options).await
        }
        FileFormat::Json => {
            let options = JsonReadOptions::default().file_extension("");
            ctx.read_json(paths, options).await
        }
        FileFormat::Arrow => {
            let options = ArrowReadOptions {
                file_extension: "",
                ..Default::default()
            };
            ctx.read_arrow(paths, options).await
        }
    }
    .map_err(|e| read_error(source, &files, format, &e))?;
    let schema = SchemaRef::new(frame.schema().as_arrow().clone());
    let batches = collect(frame)
        .await
        .map_err(|e| read_error(source, &files, format, &e))?;
    Ok(Table {
        source: source.spec.clone(),
        format,
        files,
        schema,
        batches,
    })
}

/// Checks the 8-byte Parquet trailer (metadata length, `PAR1`) before the
/// reader sees the file: a truncated or foreign file gets a clear error here
/// instead of reaching the decoder.
fn check_parquet_footer(file: &Path) -> Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let name = || file.display().to_string();
    let mut handle = File::open(file).map_err(|e| Error::input(name(), e.to_string()))?;
    let size = handle
        .metadata()
        .map_err(|e| Error::input(name(), e.to_string()))?
        .len();
    let mut trailer = [0u8; 8];
    if size < 12 {
        return Err(Error::input(name(), "not a Parquet file (too short)"));
    }
    handle
        .seek(SeekFrom::End(-8))
        .and_then(|_| handle.read_exact(&mut trailer))
        .map_err(|e| Error::input(name(), e.to_string()))?;
    if &trailer[4..] != b"PAR1" {
        return Err(
            Error::input(name(), "not a Parquet file (no `PAR1` footer)").with_hint(
                "if it is another format, name it with `--format-left` or `--format-right`",
            ),
        );
    }
    let metadata_len = u64::from(u32::from_le_bytes(
        trailer[..4].try_into().expect("4 bytes"),
    ));
    if metadata_len + 12 > size {
        return Err(Error::input(
            name(),
            format!(
                "corrupt Parquet file (its footer claims {metadata_len} bytes of metadata in a {size}-byte file)"
            ),
        ));
    }
    Ok(())
}

async fn collect(frame: DataFrame) -> datafusion::error::Result<Vec<RecordBatch>> {
    let batches = frame.collect().await?;
    Ok(batches.into_iter().filter(|b| b.num_rows() > 0).collect())
}

fn read_error(
    source: &TableSource,
    files: &[PathBuf],
    format: FileFormat,
    error: &datafusion::error::DataFusionError,
) -> Error {
    let path = match files {
        [only] => only.display().to_string(),
        _ => source.spec.clone(),
    };
    // The root cause says what is wrong ("incorrect number of fields for
    // line 3"); the outer layers only say where DataFusion was.
    let reason = first_line(&error.find_root().to_string());
    let error = Error::input(
        path,
        format!("not a readable {} table ({reason})", format.name()),
    );
    if source.format.is_none() {
        error.with_hint(
            "if the extension misleads, name the format with `--format-left` or `--format-right`",
        )
    } else {
        error
    }
}
