//! Reads located files with DataFusion into Arrow record batches, turning
//! DataFusion's errors into one sentence that names the table. A table is
//! opened first (files, schema, and for Parquet the row count from the
//! footers), then either collected into memory or streamed partition by
//! partition to a consumer that keeps only what it needs.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::options::ArrowReadOptions;
use datafusion::physical_plan::EmptyRecordBatchStream;
use datafusion::physical_plan::common::spawn_buffered;
use datafusion::prelude::{
    CsvReadOptions, DataFrame, JsonReadOptions, ParquetReadOptions, SessionContext,
};

use super::parquet_rows::{ParquetRows, ProjectedRows, RangeReader};
use super::{FileFormat, TableFormat, TableRef, TableSource, locate_files};
use crate::diff::ReadAgain;
use crate::error::{Error, Result, first_line};
use crate::threads::Workers;

/// A table read into memory, or described while it streams elsewhere.
#[derive(Debug, Clone)]
pub struct Table {
    /// The path, directory or glob as the user gave it.
    pub source: String,
    pub format: TableFormat,
    /// The files read (local paths, or object URLs); none for a database.
    pub files: Vec<PathBuf>,
    pub schema: SchemaRef,
    /// The rows, when the table was read into memory; empty when it was
    /// streamed (`OpenTable::partitions`).
    pub batches: Vec<RecordBatch>,
    rows: usize,
}

impl Table {
    /// A table built in memory, for tests and for callers that already hold
    /// record batches.
    pub fn from_batches(source: &str, schema: SchemaRef, batches: Vec<RecordBatch>) -> Self {
        Table {
            source: source.to_string(),
            format: TableFormat::File(FileFormat::Arrow),
            files: Vec::new(),
            schema,
            rows: batches.iter().map(RecordBatch::num_rows).sum(),
            batches,
        }
    }

    pub fn num_rows(&self) -> usize {
        self.rows
    }

    /// The same table, said to hold `rows` rows (those a diff read).
    pub fn with_rows(mut self, rows: usize) -> Self {
        self.rows = rows;
        self
    }
}

/// A table whose files and schema are known and whose rows are not read yet.
pub struct OpenTable {
    /// The table without its rows.
    pub table: Table,
    /// The row count from the files' metadata, where it is exact without
    /// reading the data (Parquet footers).
    pub known_rows: Option<usize>,
    frame: DataFrame,
    source: TableSource,
    /// What must outlive every read of the table (an exported copy's
    /// directory).
    scratch: Scratch,
}

/// A directory the table's rows are read from, removed when the last
/// reader is done.
type Scratch = Option<Arc<tempfile::TempDir>>;

impl OpenTable {
    /// Reads every row into memory.
    pub async fn collect(self) -> Result<Table> {
        let OpenTable {
            mut table,
            frame,
            source,
            ..
        } = self;
        table.batches = collect(frame)
            .await
            .map_err(|e| read_error(&source, &table.files, table.format, e))?;
        table.rows = table.batches.iter().map(RecordBatch::num_rows).sum();
        Ok(table)
    }

    /// The table without reading it, for a diff that runs elsewhere: its
    /// row count is the one the files' metadata declares (0 if none does).
    /// A table of no rows with `schema`: the side of an output that only the
    /// other side built.
    pub fn empty(ctx: &SessionContext, schema: SchemaRef) -> Result<Self> {
        let frame = ctx
            .read_batch(RecordBatch::new_empty(Arc::clone(&schema)))
            .map_err(|e| Error::compute("cannot make an empty table", e))?;
        Ok(OpenTable {
            table: Table::from_batches("", schema, Vec::new()),
            known_rows: Some(0),
            frame,
            source: TableSource::of_path(""),
            scratch: None,
        })
    }

    /// Writes the table's rows to one Parquet file at `path` as they are
    /// read, batch by batch, so a table never sits in memory whole.
    pub async fn write_parquet(self, path: &Path) -> Result<()> {
        use datafusion::parquet::arrow::ArrowWriter;
        use futures::StreamExt;
        let OpenTable {
            table,
            frame,
            source,
            ..
        } = self;
        let failed = |e: &dyn std::fmt::Display| Error::Output {
            path: path.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        };
        let file = File::create(path).map_err(|e| failed(&e))?;
        let mut writer =
            ArrowWriter::try_new(file, Arc::clone(&table.schema), None).map_err(|e| failed(&e))?;
        let mut stream = frame
            .execute_stream()
            .await
            .map_err(|e| read_error(&source, &table.files, table.format, e))?;
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| read_error(&source, &table.files, table.format, e))?;
            writer.write(&batch).map_err(|e| failed(&e))?;
        }
        writer.close().map_err(|e| failed(&e))?;
        Ok(())
    }

    pub fn described(self) -> Table {
        let mut table = self.table;
        table.rows = self.known_rows.unwrap_or(0);
        table
    }

    /// The table as independent streams of batches (DataFusion's scan
    /// partitions, or ranges of local Parquet files), to be read
    /// concurrently, with only `columns` (ascending indexes into its schema)
    /// when given. The table itself comes back with its row count and no
    /// batches; and, when its partitions can be read again by row (local
    /// Parquet files), the source to read them from.
    pub async fn partitions(
        self,
        columns: Option<&[usize]>,
    ) -> Result<(Table, Vec<PartitionStream>, Option<Arc<dyn ReadAgain>>)> {
        let OpenTable {
            mut table,
            frame,
            source,
            known_rows,
            scratch,
        } = self;
        table.rows = known_rows.unwrap_or(0);
        let stream = |batches| PartitionStream {
            batches,
            source: source.clone(),
            files: table.files.clone(),
            format: table.format,
            reading_ahead: false,
            _scratch: scratch.clone(),
        };
        let all: Vec<usize> = (0..table.schema.fields().len()).collect();
        let columns = columns.unwrap_or(&all);
        // The streamed session reads four partitions per thread; two
        // ranges per thread and side keep the workers busy without cutting
        // row groups more than they must.
        let min_ranges = (frame.task_ctx().session_config().target_partitions() / 2).max(1);
        if let Some(rows) = ranges_of(&source, &table, min_ranges)? {
            let rows = Arc::new(rows);
            let streams = (0..rows.ranges())
                .map(|range| Ok(stream(Batches::Range(rows.read(range, columns)?))))
                .collect::<Result<_>>()?;
            let again = ProjectedRows {
                rows,
                columns: columns.to_vec(),
            };
            return Ok((table, streams, Some(Arc::new(again))));
        }
        let frame = projected(frame, columns)
            .map_err(|e| read_error(&source, &table.files, table.format, e))?;
        let plans = frame
            .execute_stream_partitioned()
            .await
            .map_err(|e| read_error(&source, &table.files, table.format, e))?;
        let streams = plans.into_iter().map(Batches::Plan).map(stream).collect();
        Ok((table, streams, None))
    }
}

/// Local Parquet files read without `--where`, opened for reading in
/// ranges and again by row; `None` for any other table. Objects in a
/// bucket are not: reading their rows again downloads their pages again,
/// which took longer than spilling them (`BENCHMARKS.md`).
fn ranges_of(
    source: &TableSource,
    table: &Table,
    min_ranges: usize,
) -> Result<Option<ParquetRows>> {
    if table.format != TableFormat::File(FileFormat::Parquet) || source.filter.is_some() {
        return Ok(None);
    }
    match &source.reference {
        TableRef::Files(_) => ParquetRows::open(&table.files, &table.schema, min_ranges),
        _ => Ok(None),
    }
}

/// `frame` with only the columns at `columns` (by position, so that even
/// columns of one name stay apart), unless that is all of them or none.
fn projected(frame: DataFrame, columns: &[usize]) -> datafusion::error::Result<DataFrame> {
    use datafusion::common::Column;
    use datafusion::prelude::Expr;
    if columns.len() == frame.schema().fields().len() || columns.is_empty() {
        return Ok(frame);
    }
    let selected: Vec<Expr> = columns
        .iter()
        .map(|&i| {
            let (qualifier, field) = frame.schema().qualified_field(i);
            Expr::Column(Column::new(qualifier.cloned(), field.name()))
        })
        .collect();
    frame.select(selected)
}

/// Where a partition's batches come from.
enum Batches {
    /// A partition of a DataFusion plan.
    Plan(datafusion::physical_plan::SendableRecordBatchStream),
    /// A range of local Parquet files, read as it is asked for.
    Range(RangeReader),
}

/// One partition of a streamed table.
pub struct PartitionStream {
    batches: Batches,
    source: TableSource,
    files: Vec<PathBuf>,
    format: TableFormat,
    reading_ahead: bool,
    _scratch: Scratch,
}

impl PartitionStream {
    /// Whether its batches come over a network.
    pub fn over_network(&self) -> bool {
        self.source.reference.over_network()
    }

    /// Starts reading ahead on `runtime`, at most `batches` batches before
    /// the consumer, so that waiting on the network overlaps the work on
    /// the batches already read; once only.
    pub fn read_ahead(&mut self, runtime: &tokio::runtime::Runtime, batches: usize) {
        let Batches::Plan(stream) = &mut self.batches else {
            return;
        };
        if self.reading_ahead {
            return;
        }
        let _in_runtime = runtime.enter();
        let placeholder = Box::pin(EmptyRecordBatchStream::new(stream.schema()));
        let taken = std::mem::replace(stream, placeholder);
        *stream = spawn_buffered(taken, batches);
        self.reading_ahead = true;
    }

    /// The next batch, or `None` at the end.
    pub async fn next(&mut self) -> Option<Result<RecordBatch>> {
        use futures::StreamExt;
        match &mut self.batches {
            Batches::Plan(stream) => {
                let batch = stream.next().await?;
                Some(batch.map_err(|e| read_error(&self.source, &self.files, self.format, e)))
            }
            Batches::Range(reader) => reader.next(),
        }
    }
}

/// Reads the table `source` names into one Parquet file at `path`,
/// streaming; returns the table as it was read (its format and files).
pub fn copy_to_parquet(workers: &Workers, source: &TableSource, path: &Path) -> Result<Table> {
    let context = workers.session();
    let table = workers.block_on(open_table(&context, source))?;
    let described = table.table.clone();
    workers.block_on(table.write_parquet(path))?;
    Ok(described)
}

pub async fn read_table(ctx: &SessionContext, source: &TableSource) -> Result<Table> {
    open_table(ctx, source).await?.collect().await
}

/// Opens the table the source names: its files located and their schema
/// (and Parquet footers) read, or its database table's schema fetched.
pub async fn open_table(ctx: &SessionContext, source: &TableSource) -> Result<OpenTable> {
    let opened = match &source.reference {
        TableRef::Files(_) => open_files(ctx, source).await?,
        #[cfg(all(feature = "s3", feature = "delta"))]
        TableRef::Objects(url) if super::objects::holds_delta_log(url, &source.spec).await? => {
            let location = super::DeltaLocation::Objects(url.clone());
            open_delta(ctx, source, &location, &super::DeltaAt::Latest).await?
        }
        #[cfg(feature = "s3")]
        TableRef::Objects(url) => super::objects::open(ctx, source, url).await?,
        #[cfg(feature = "delta")]
        TableRef::Delta { location, at } => open_delta(ctx, source, location, at).await?,
        #[cfg(feature = "postgres")]
        TableRef::Postgres { url, relation } => {
            let (frame, rows) = super::postgres::open(ctx, source, url, relation).await?;
            Opened {
                frame,
                format: TableFormat::Postgres,
                files: Vec::new(),
                known_rows: Some(rows),
                scratch: None,
            }
        }
        #[cfg(feature = "sqlite")]
        TableRef::DatabaseFile {
            engine: super::FileEngine::Sqlite,
            path,
            relation,
        } => {
            let (frame, rows) = super::sqlite::open(ctx, source, path, relation).await?;
            Opened {
                frame,
                format: TableFormat::Database(super::FileEngine::Sqlite),
                files: Vec::new(),
                known_rows: Some(rows),
                scratch: None,
            }
        }
        #[cfg(feature = "duckdb")]
        TableRef::DatabaseFile {
            engine: super::FileEngine::Duckdb,
            path,
            relation,
        } => open_duckdb(ctx, source, path, relation).await?,
        #[allow(unreachable_patterns)]
        other => return Err(not_built(source, other)),
    };
    let opened = match &source.filter {
        Some(predicate) => filtered(opened, source, predicate)?,
        None => opened,
    };
    let schema = SchemaRef::new(opened.frame.schema().as_arrow().clone());
    Ok(OpenTable {
        table: Table {
            source: source.spec.clone(),
            format: opened.format,
            files: opened.files,
            schema,
            batches: Vec::new(),
            rows: 0,
        },
        known_rows: opened.known_rows,
        frame: opened.frame,
        source: source.clone(),
        scratch: opened.scratch,
    })
}

/// `--where`: only the rows `predicate` keeps, the filter pushed into the
/// scan where the source takes it (a database's WHERE, Parquet pruning).
/// The known row count stays the whole table's: it only sizes the
/// statistics' samples, and the report counts the rows actually read.
fn filtered(opened: Opened, source: &TableSource, predicate: &str) -> Result<Opened> {
    let refused = |e: datafusion::error::DataFusionError| {
        Error::usage(format!(
            "`--where {predicate}` cannot filter `{}`: {}",
            source.spec,
            first_line(&e.find_root().to_string())
        ))
        .with_hint("write a SQL predicate over columns both tables have, e.g. `--where \"day = '2026-11-30'\"`")
    };
    let condition = opened.frame.parse_sql_expr(predicate).map_err(refused)?;
    let frame = opened.frame.filter(condition).map_err(refused)?;
    Ok(Opened { frame, ..opened })
}

/// A table's plan before its rows are read, from any kind of source.
pub(super) struct Opened {
    pub frame: DataFrame,
    pub format: TableFormat,
    pub files: Vec<PathBuf>,
    pub known_rows: Option<usize>,
    pub scratch: Scratch,
}

/// A DuckDB relation, exported by DuckDB to Parquet and read from there.
#[cfg(feature = "duckdb")]
async fn open_duckdb(
    ctx: &SessionContext,
    source: &TableSource,
    path: &str,
    relation: &super::Relation,
) -> Result<Opened> {
    let exported = super::duckdb::export(source, path, relation)?;
    let rows = parquet_rows(&exported.file)?;
    let located = vec![exported.file.clone()];
    let frame = read_files(
        ctx,
        source,
        vec![exported.file.display().to_string()],
        &located,
        FileFormat::Parquet,
    )
    .await?;
    Ok(Opened {
        frame,
        format: TableFormat::Database(super::FileEngine::Duckdb),
        files: Vec::new(),
        known_rows: Some(rows),
        scratch: Some(exported.scratch),
    })
}

#[cfg(feature = "delta")]
async fn open_delta(
    ctx: &SessionContext,
    source: &TableSource,
    location: &super::DeltaLocation,
    at: &super::DeltaAt,
) -> Result<Opened> {
    let opened = super::delta::open(ctx, source, location, at).await?;
    // The log's statistics give no exact row count for every writer.
    let rows = counted(&opened.frame, &source.spec).await?;
    Ok(Opened {
        frame: opened.frame,
        format: TableFormat::Delta {
            version: opened.version,
        },
        files: Vec::new(),
        known_rows: Some(rows),
        scratch: None,
    })
}

/// The row count DataFusion takes of `frame`, from Parquet footers where
/// it can (the streamed diff needs it before the rows arrive).
#[cfg(any(feature = "s3", feature = "delta"))]
pub(super) async fn counted(frame: &DataFrame, shown: &str) -> Result<usize> {
    frame.clone().count().await.map_err(|e| {
        Error::input(
            shown,
            format!("cannot count its rows ({})", first_line(&e.to_string())),
        )
        .caused_by(e)
    })
}

/// A reference this build cannot read: which feature would.
#[allow(dead_code)]
pub(super) fn not_built(source: &TableSource, reference: &TableRef) -> Error {
    let feature = match reference {
        TableRef::Files(_) => "",
        TableRef::Objects(_) => "s3",
        TableRef::Delta { .. } => "delta",
        TableRef::Postgres { .. } => "postgres",
        TableRef::DatabaseFile { engine, .. } => engine.scheme(),
    };
    Error::input(
        &source.spec,
        format!("this build of dualrun reads no `{feature}` tables"),
    )
    .with_hint(format!(
        "build it with `cargo install --path . --features {feature}`"
    ))
}

/// Local files: located, footers checked, read as their format says.
async fn open_files(ctx: &SessionContext, source: &TableSource) -> Result<Opened> {
    let (files, format) = locate_files(source)?;
    let mut known_rows = None;
    if format == FileFormat::Parquet {
        let mut rows = 0;
        for file in &files {
            check_parquet_footer(file)?;
            rows += parquet_rows(file)?;
        }
        known_rows = Some(rows);
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
    let frame = read_files(ctx, source, paths, &files, format).await?;
    Ok(Opened {
        frame,
        format: TableFormat::File(format),
        files,
        known_rows,
        scratch: None,
    })
}

/// `paths` (local paths or object URLs) read as `format`; `files` names
/// them in errors.
pub(super) async fn read_files(
    ctx: &SessionContext,
    source: &TableSource,
    paths: Vec<String>,
    files: &[PathBuf],
    format: FileFormat,
) -> Result<DataFrame> {
    // The files are already chosen, so no extension filter applies: an empty
    // extension lets `--format-left csv data.txt` through.
    match format {
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
                .delimiter(source.csv.delimiter_for(files))
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
    .map_err(|e| read_error(source, files, TableFormat::File(format), e))
}

/// The row count a Parquet file's footer declares.
fn parquet_rows(file: &Path) -> Result<usize> {
    use datafusion::parquet::file::metadata::ParquetMetaDataReader;
    let name = || file.display().to_string();
    let handle = File::open(file).map_err(|e| Error::unreadable(name(), e))?;
    let metadata = ParquetMetaDataReader::new()
        .parse_and_finish(&handle)
        .map_err(|e| Error::input(name(), format!("corrupt Parquet footer ({e})")).caused_by(e))?;
    Ok(metadata.file_metadata().num_rows().max(0) as usize)
}

/// Checks the 8-byte Parquet trailer (metadata length, `PAR1`) before the
/// reader sees the file: a truncated or foreign file gets a clear error here
/// instead of reaching the decoder.
fn check_parquet_footer(file: &Path) -> Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let name = || file.display().to_string();
    let mut handle = File::open(file).map_err(|e| Error::unreadable(name(), e))?;
    let size = handle
        .metadata()
        .map_err(|e| Error::unreadable(name(), e))?
        .len();
    let mut trailer = [0u8; 8];
    if size < 12 {
        return Err(Error::input(name(), "not a Parquet file (too short)"));
    }
    handle
        .seek(SeekFrom::End(-8))
        .and_then(|_| handle.read_exact(&mut trailer))
        .map_err(|e| Error::unreadable(name(), e))?;
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
    format: TableFormat,
    error: datafusion::error::DataFusionError,
) -> Error {
    let path = match files {
        [only] => only.display().to_string(),
        _ => source.spec.clone(),
    };
    // The root cause says what is wrong ("incorrect number of fields for
    // line 3"); the outer layers only say where DataFusion was.
    let reason = super::mask(&first_line(&error.find_root().to_string()));
    let error = Error::input(
        path,
        format!("not a readable {} table ({reason})", format.name()),
    )
    .caused_by(error);
    if source.format.is_none() && matches!(format, TableFormat::File(_)) {
        error.with_hint(
            "if the extension misleads, name the format with `--format-left` or `--format-right`",
        )
    } else {
        error
    }
}
