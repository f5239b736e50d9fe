//! Local Parquet files read in row ranges, and read again by row.
//!
//! A diff of two Parquet tables needs every row's values once, to hash
//! them, and afterwards only the values of the few rows that differ. The
//! files themselves are the cheapest place to keep the rest: instead of
//! writing every value to a spill file, a streamed side remembers where
//! each batch came from (a range of one row group) and reads the rows it
//! needs back with a row selection, which decodes only the pages holding
//! them (where the file has an offset index, as most writers give it).
//!
//! A table is read here when every file takes the table's schema as it is
//! (DataFusion's view of it, string views included); otherwise, and for
//! `--where`, DataFusion reads it and the diff spills. A file that changes
//! between the two reads is an error, never a silently wrong diff.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder, RowSelection, RowSelector,
};
use datafusion::parquet::file::metadata::PageIndexPolicy;

use crate::error::{Error, Result};

/// Rows per batch, as DataFusion reads them.
const BATCH_ROWS: usize = 8192;

/// The fewest rows a range cut out of a row group holds. A range that
/// starts inside a row group decodes its column chunks' dictionaries and
/// the page it starts in again, and so does every read of its rows: on
/// 1,000,000-row groups, cutting each in eight made a diff half again as
/// slow. Row groups are therefore cut only when a table has too few of them
/// for the workers, and never into small pieces.
const MIN_RANGE_ROWS: usize = 1 << 18;

/// The Parquet files of one table, opened for reading by range and by row.
pub struct ParquetRows {
    files: Vec<RowFile>,
    ranges: Vec<RowRange>,
    schema: SchemaRef,
}

/// One file, its metadata (with the page index, when it has one) read once.
struct RowFile {
    path: PathBuf,
    stamp: Stamp,
    metadata: ArrowReaderMetadata,
}

impl RowFile {
    fn name(&self) -> String {
        self.path.display().to_string()
    }
}

/// What tells a file changed: its length and modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    length: u64,
    modified: Option<SystemTime>,
}

impl Stamp {
    fn of(path: &Path) -> std::io::Result<Self> {
        let metadata = std::fs::metadata(path)?;
        Ok(Stamp {
            length: metadata.len(),
            modified: metadata.modified().ok(),
        })
    }
}

/// Rows `first..first + rows` of one row group of one file.
#[derive(Debug, Clone, Copy)]
struct RowRange {
    file: usize,
    row_group: usize,
    first: usize,
    rows: usize,
}

impl ParquetRows {
    /// Opens `files` for reading with `schema` (the table's, as DataFusion
    /// resolved it), in at least `min_ranges` ranges where row groups allow
    /// (see `of_files`); `None` when a file does not take that schema as it is
    /// (columns missing or of other types across files), which DataFusion's
    /// reader reconciles instead.
    pub fn open(files: &[PathBuf], schema: &SchemaRef, min_ranges: usize) -> Result<Option<Self>> {
        let mut opened = Vec::with_capacity(files.len());
        for path in files {
            let name = || path.display().to_string();
            let stamp = Stamp::of(path).map_err(|e| Error::unreadable(name(), e))?;
            let handle = File::open(path).map_err(|e| Error::unreadable(name(), e))?;
            let Ok(metadata) = ArrowReaderMetadata::load(&handle, reader_options(schema)) else {
                return Ok(None);
            };
            opened.push(RowFile {
                path: path.clone(),
                stamp,
                metadata,
            });
        }
        Ok(Some(Self::of_files(opened, schema, min_ranges)))
    }

    /// The files cut into ranges: each row group, unless the table has
    /// fewer than `min_ranges` of them and the offset index lets a range
    /// start anywhere; then each is cut into as many pieces as make up the
    /// difference (of at least `MIN_RANGE_ROWS` rows).
    fn of_files(files: Vec<RowFile>, schema: &SchemaRef, min_ranges: usize) -> Self {
        let row_groups: usize = files
            .iter()
            .map(|f| f.metadata.metadata().num_row_groups())
            .sum();
        let pieces = min_ranges.div_ceil(row_groups.max(1)).max(1);
        let mut ranges = Vec::new();
        for (file, opened) in files.iter().enumerate() {
            let parquet = opened.metadata.metadata();
            let splittable = parquet.offset_index().is_some_and(|index| {
                index
                    .iter()
                    .all(|row_group| row_group.len() == schema.fields().len())
            });
            for (row_group, meta) in parquet.row_groups().iter().enumerate() {
                let total = meta.num_rows().max(0) as usize;
                let step = if splittable {
                    total.div_ceil(pieces).max(MIN_RANGE_ROWS)
                } else {
                    total.max(1)
                };
                let mut first = 0;
                while first < total {
                    let rows = step.min(total - first);
                    ranges.push(RowRange {
                        file,
                        row_group,
                        first,
                        rows,
                    });
                    first += rows;
                }
            }
        }
        ParquetRows {
            files,
            ranges,
            schema: Arc::clone(schema),
        }
    }

    /// How many ranges the table is read in; each is one partition.
    pub fn ranges(&self) -> usize {
        self.ranges.len()
    }

    /// A reader of range `range`'s rows, columns `columns` (ascending
    /// indexes into the table's schema) only, in batches.
    pub fn read(&self, range: usize, columns: &[usize]) -> Result<RangeReader> {
        let r = self.ranges[range];
        let total = self.row_group_rows(r);
        let selection = (r.first > 0 || r.rows < total).then(|| {
            RowSelection::from(vec![
                RowSelector::skip(r.first),
                RowSelector::select(r.rows),
                RowSelector::skip(total - r.first - r.rows),
            ])
        });
        Ok(RangeReader {
            reader: self.reader(r, columns, selection)?,
            path: self.files[r.file].path.clone(),
        })
    }

    /// The rows at `offsets` (ascending, counted from the start of range
    /// `range`), columns `columns` only, as one batch. Only the pages that
    /// hold them are decoded.
    pub fn fetch(&self, range: usize, offsets: &[u32], columns: &[usize]) -> Result<RecordBatch> {
        let r = self.ranges[range];
        let file = &self.files[r.file];
        self.check_unchanged(file)?;
        let mut selectors = Vec::with_capacity(offsets.len() * 2 + 2);
        let mut at = 0usize; // rows of the row group accounted for
        let skip = |to: usize, selectors: &mut Vec<RowSelector>, at: &mut usize| {
            if to > *at {
                selectors.push(RowSelector::skip(to - *at));
                *at = to;
            }
        };
        for &offset in offsets {
            let row = r.first + offset as usize;
            skip(row, &mut selectors, &mut at);
            match selectors.last_mut() {
                Some(last) if !last.skip && at == row => last.row_count += 1,
                _ => selectors.push(RowSelector::select(1)),
            }
            at = row + 1;
        }
        skip(self.row_group_rows(r), &mut selectors, &mut at);
        let selection = Some(RowSelection::from(selectors));
        let batches = self
            .reader(r, columns, selection)?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| read_failed(&file.name(), e))?;
        let schema = batches.first().map(RecordBatch::schema).unwrap_or_else(|| {
            Arc::new(self.schema.project(columns).expect("columns of the table"))
        });
        datafusion::arrow::compute::concat_batches(&schema, &batches)
            .map_err(|e| read_failed(&file.name(), e))
    }

    /// An error when `file` is not the file it was when it was opened: the
    /// rows read again would not be the rows hashed.
    fn check_unchanged(&self, file: &RowFile) -> Result<()> {
        let now = Stamp::of(&file.path).map_err(|e| Error::unreadable(file.name(), e))?;
        if now != file.stamp {
            return Err(
                Error::input(file.name(), "changed while it was being diffed")
                    .with_hint("diff files no other program is writing, or copy them first"),
            );
        }
        Ok(())
    }

    fn row_group_rows(&self, r: RowRange) -> usize {
        let metadata = self.files[r.file].metadata.metadata();
        metadata.row_group(r.row_group).num_rows().max(0) as usize
    }

    /// A reader of range `r`'s row group, the rows `selection` keeps.
    fn reader(
        &self,
        r: RowRange,
        columns: &[usize],
        selection: Option<RowSelection>,
    ) -> Result<ParquetRecordBatchReader> {
        let file = &self.files[r.file];
        let handle = File::open(&file.path).map_err(|e| Error::unreadable(file.name(), e))?;
        let metadata = file.metadata.clone();
        let mask = ProjectionMask::roots(
            metadata.metadata().file_metadata().schema_descr(),
            columns.iter().copied(),
        );
        let mut builder = ParquetRecordBatchReaderBuilder::new_with_metadata(handle, metadata)
            .with_projection(mask)
            .with_row_groups(vec![r.row_group])
            .with_batch_size(BATCH_ROWS);
        if let Some(selection) = selection {
            builder = builder.with_row_selection(selection);
        }
        builder.build().map_err(|e| read_failed(&file.name(), e))
    }
}

/// How every file of a table is opened: with the table's schema, and the
/// page index where the file has one.
fn reader_options(schema: &SchemaRef) -> ArrowReaderOptions {
    ArrowReaderOptions::new()
        .with_schema(Arc::clone(schema))
        .with_page_index_policy(PageIndexPolicy::Optional)
}

/// The batches of one range, read as they are asked for.
pub struct RangeReader {
    reader: ParquetRecordBatchReader,
    path: PathBuf,
}

impl RangeReader {
    fn name(&self) -> String {
        self.path.display().to_string()
    }
}

impl Iterator for RangeReader {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        let batch = self.reader.next()?;
        Some(batch.map_err(|e| read_failed(&self.name(), e)))
    }
}

fn read_failed(name: &str, error: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::input(name, format!("not a readable Parquet table ({error})")).caused_by(error)
}

/// The table's ranges with some of its columns: what a streamed diff side
/// reads, and reads again.
pub struct ProjectedRows {
    pub rows: Arc<ParquetRows>,
    pub columns: Vec<usize>,
}

impl crate::diff::ReadAgain for ProjectedRows {
    fn rows(&self, partition: usize, offsets: &[u32]) -> Result<RecordBatch> {
        self.rows.fetch(partition, offsets, &self.columns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{AsArray, Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema};
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::file::properties::WriterProperties;

    /// `rows` rows (`id`, and `name` = "n{id}") in row groups of
    /// `row_group` rows and pages of 1,000.
    fn write(path: &Path, rows: i64, row_group: usize) -> SchemaRef {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, false),
        ]));
        let properties = WriterProperties::builder()
            .set_max_row_group_row_count(Some(row_group))
            .set_data_page_row_count_limit(1_000)
            .set_write_batch_size(500)
            .build();
        let file = File::create(path).unwrap();
        let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(properties)).unwrap();
        let ids: Vec<i64> = (0..rows).collect();
        let names: Vec<String> = ids.iter().map(|i| format!("n{i}")).collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(ids)),
                Arc::new(StringArray::from(names)),
            ],
        )
        .unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        schema
    }

    /// The schema as DataFusion reads the file: strings as views.
    fn as_views(schema: &SchemaRef) -> SchemaRef {
        Arc::new(Schema::new(
            schema
                .fields()
                .iter()
                .map(|f| match f.data_type() {
                    DataType::Utf8 => f.as_ref().clone().with_data_type(DataType::Utf8View),
                    _ => f.as_ref().clone(),
                })
                .collect::<Vec<_>>(),
        ))
    }

    fn ids(batch: &RecordBatch) -> Vec<i64> {
        batch
            .column(0)
            .as_primitive::<Int64Type>()
            .values()
            .to_vec()
    }

    #[test]
    fn ranges_cover_every_row_once_and_rows_come_back_by_offset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let schema = as_views(&write(&path, 300_000, 280_000));
        let rows = ParquetRows::open(std::slice::from_ref(&path), &schema, 8)
            .unwrap()
            .expect("the file takes its own schema");
        // Two row groups are too few for 8 ranges: the 280,000-row one,
        // which has an offset index, is cut (into pieces of at least
        // MIN_RANGE_ROWS rows).
        assert_eq!(rows.ranges(), 3);
        let mut seen = Vec::new();
        for range in 0..rows.ranges() {
            let read: Vec<i64> = rows
                .read(range, &[0, 1])
                .unwrap()
                .flat_map(|batch| ids(&batch.unwrap()))
                .collect();
            let offsets: Vec<u32> = [0, 1, 7, 999, 1_000, 54_321]
                .into_iter()
                .filter(|&o| (o as usize) < read.len())
                .collect();
            let again = rows.fetch(range, &offsets, &[0, 1]).unwrap();
            let expected: Vec<i64> = offsets.iter().map(|&o| read[o as usize]).collect();
            assert_eq!(ids(&again), expected, "range {range}");
            let names = again.column(1).as_string_view();
            assert_eq!(names.value(0), format!("n{}", expected[0]));
            seen.extend(read);
        }
        assert_eq!(seen, (0..300_000).collect::<Vec<_>>());
    }

    #[test]
    fn a_file_that_changed_since_it_was_read_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let schema = write(&path, 5_000, 5_000);
        let rows = ParquetRows::open(std::slice::from_ref(&path), &schema, 1)
            .unwrap()
            .unwrap();
        write(&path, 6_000, 5_000);
        let error = rows.fetch(0, &[1], &[0]).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("t.parquet"), "{message}");
        assert!(
            message.contains("changed while it was being diffed"),
            "{message}"
        );
        assert!(error.hint().is_some());
    }

    #[test]
    fn files_that_do_not_take_the_table_schema_are_left_to_datafusion() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        write(&path, 10, 10);
        let other = Arc::new(Schema::new(vec![Field::new("id", DataType::Utf8, false)]));
        assert!(ParquetRows::open(&[path], &other, 1).unwrap().is_none());
    }
}
