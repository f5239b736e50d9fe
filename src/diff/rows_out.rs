//! `--diff-rows FILE`: every differing row, not only samples, written to a
//! Parquet or CSV file in chunks, so millions of differing rows never sit in
//! memory as output at once (only their positions do, which matching holds
//! anyway).
//!
//! One row per key: the key columns, `_change` (`changed`, `removed`,
//! `added`), then `prod_<col>` and `candidate_<col>` for every compared
//! column, in comparison types; the missing side of an added or removed row
//! is NULL. Rows come changed first, then removed, then added, each in the
//! diff's deterministic key-hash order. The file is written beside its
//! target and renamed into place, and an existing file is never replaced.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, StringArray, new_null_array};
use datafusion::arrow::compute::interleave;
use datafusion::arrow::csv::Writer as CsvWriter;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::file::properties::WriterProperties;

use super::prepare::{Pos, PreparedBatch, PreparedSide};
use crate::error::{Error, Result};

/// Rows per written chunk (and Parquet row group).
const CHUNK: usize = 65_536;

/// The formats `--diff-rows` writes, from the file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowsFormat {
    Parquet,
    Csv,
}

impl RowsFormat {
    pub fn of(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()? {
            "parquet" => Some(RowsFormat::Parquet),
            "csv" => Some(RowsFormat::Csv),
            _ => None,
        }
    }
}

enum Writer {
    Parquet(ArrowWriter<File>),
    Csv(CsvWriter<File>),
}

/// What to write: the differing rows' positions on each side.
pub struct DiffRows<'a> {
    pub key_names: &'a [String],
    pub value_names: &'a [String],
    pub changed: &'a [(Pos, Pos)],
    pub removed: &'a [Pos],
    pub added: &'a [Pos],
}

/// Writes `rows` to `path`; returns how many rows were written.
pub fn write(
    path: &Path,
    prod: &PreparedSide,
    candidate: &PreparedSide,
    rows: &DiffRows,
) -> Result<u64> {
    let io_error = |e: &dyn std::fmt::Display| Error::Output {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    };
    let format = RowsFormat::of(path).ok_or_else(|| {
        Error::usage(format!(
            "`--diff-rows {}` needs a `.parquet` or `.csv` file",
            path.display()
        ))
    })?;
    let Some(template) = prod.batches.first().or(candidate.batches.first()) else {
        return Ok(0);
    };
    let mut fields: Vec<Field> = rows
        .key_names
        .iter()
        .zip(&template.keys)
        .map(|(name, array)| Field::new(name, array.data_type().clone(), true))
        .collect();
    fields.push(Field::new("_change", DataType::Utf8, false));
    for (name, array) in rows.value_names.iter().zip(&template.values) {
        for side in ["prod", "candidate"] {
            fields.push(Field::new(
                format!("{side}_{name}"),
                array.data_type().clone(),
                true,
            ));
        }
    }
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    let temporary = temporary_path(path);
    let file = File::create(&temporary).map_err(|e| Error::Output {
        path: path.to_path_buf(),
        source: e,
    })?;
    let mut writer = match format {
        RowsFormat::Parquet => {
            let properties = WriterProperties::builder()
                .set_max_row_group_row_count(Some(CHUNK))
                .build();
            Writer::Parquet(
                ArrowWriter::try_new(file, Arc::clone(&schema), Some(properties))
                    .map_err(|e| io_error(&e))?,
            )
        }
        RowsFormat::Csv => Writer::Csv(CsvWriter::new(file)),
    };
    let mut written = 0u64;
    let mut emit = |batch: RecordBatch| -> Result<()> {
        written += batch.num_rows() as u64;
        match &mut writer {
            Writer::Parquet(w) => w.write(&batch).map_err(|e| io_error(&e)),
            Writer::Csv(w) => w.write(&batch).map_err(|e| io_error(&e)),
        }
    };
    for chunk in rows.changed.chunks(CHUNK) {
        let prod_pos: Vec<Pos> = chunk.iter().map(|(p, _)| *p).collect();
        let candidate_pos: Vec<Pos> = chunk.iter().map(|(_, c)| *c).collect();
        let mut columns = gather(prod, &prod_pos, Part::Keys)?;
        columns.push(change("changed", chunk.len()));
        let prod_values = gather(prod, &prod_pos, Part::Values)?;
        let candidate_values = gather(candidate, &candidate_pos, Part::Values)?;
        for (p, c) in prod_values.into_iter().zip(candidate_values) {
            columns.extend([p, c]);
        }
        emit(batch(&schema, columns)?)?;
    }
    for (kind, side, positions) in [
        ("removed", prod, rows.removed),
        ("added", candidate, rows.added),
    ] {
        for chunk in positions.chunks(CHUNK) {
            let mut columns = gather(side, chunk, Part::Keys)?;
            columns.push(change(kind, chunk.len()));
            let present = gather(side, chunk, Part::Values)?;
            for array in present {
                let missing = new_null_array(array.data_type(), chunk.len());
                if kind == "removed" {
                    columns.extend([array, missing]);
                } else {
                    columns.extend([missing, array]);
                }
            }
            emit(batch(&schema, columns)?)?;
        }
    }
    match writer {
        Writer::Parquet(w) => {
            w.close().map_err(|e| io_error(&e))?;
        }
        Writer::Csv(w) => drop(w),
    }
    std::fs::rename(&temporary, path).map_err(|e| Error::Output {
        path: path.to_path_buf(),
        source: e,
    })?;
    Ok(written)
}

fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".dualrun-tmp");
    path.with_file_name(name)
}

fn change(kind: &str, rows: usize) -> ArrayRef {
    Arc::new(StringArray::from(vec![kind; rows]))
}

/// Which columns of a prepared batch to gather.
#[derive(Clone, Copy)]
enum Part {
    Keys,
    /// Value columns hold only the rows fetched back from the spill.
    Values,
}

/// Column by column, the cells at `positions` of `side`'s batches.
fn gather(side: &PreparedSide, positions: &[Pos], part: Part) -> Result<Vec<ArrayRef>> {
    fn columns(part: Part, b: &PreparedBatch) -> &Vec<ArrayRef> {
        match part {
            Part::Keys => &b.keys,
            Part::Values => &b.values,
        }
    }
    let columns = |b| columns(part, b);
    let Some(first) = side.batches.first() else {
        return Ok(Vec::new());
    };
    if columns(first).is_empty() {
        return Ok(Vec::new());
    }
    let indices: Vec<(usize, usize)> = positions
        .iter()
        .map(|p| {
            let batch = &side.batches[p.batch as usize];
            let row = match part {
                Part::Keys => p.row as usize,
                Part::Values => batch.value_index(p.row),
            };
            (p.batch as usize, row)
        })
        .collect();
    (0..columns(first).len())
        .map(|c| {
            let arrays: Vec<&dyn Array> = side
                .batches
                .iter()
                .map(|b| columns(b)[c].as_ref())
                .collect();
            interleave(&arrays, &indices).map_err(|e| Error::compute("cannot gather diff rows", e))
        })
        .collect()
}

fn batch(schema: &SchemaRef, columns: Vec<ArrayRef>) -> Result<RecordBatch> {
    RecordBatch::try_new(Arc::clone(schema), columns)
        .map_err(|e| Error::compute("cannot assemble diff rows", e))
}
