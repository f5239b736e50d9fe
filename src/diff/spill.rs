//! Value columns parked on disk while matching runs on hashes alone.
//!
//! Preparing a side hashes each batch and writes its compared value columns
//! to an Arrow IPC file in a temporary directory, one block per batch; the
//! batch then leaves memory. Once matching knows which rows need their values
//! (pairs whose row hashes differ, duplicates, samples, `--diff-rows`), each
//! file is read back once, block by block, keeping only those rows. Memory
//! then grows with rows (hashes and keys) and with differences, not with the
//! width of the table; the bytes in between sit in the page cache, which the
//! kernel can drop. `TMPDIR` chooses where the files go.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, UInt32Array};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::ipc::reader::FileReader;
use datafusion::arrow::ipc::writer::FileWriter;
use datafusion::arrow::record_batch::RecordBatch;

use crate::error::{Error, Result};

/// The temporary directory of one diff's spill files, removed when the last
/// side holding it is dropped, or when the process is interrupted.
pub type SpillDir = Arc<Directory>;

pub struct Directory {
    dir: tempfile::TempDir,
    _on_interrupt: crate::interrupt::Registered,
}

impl Directory {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

pub fn spill_dir() -> Result<SpillDir> {
    let dir = tempfile::Builder::new()
        .prefix("dualrun-spill-")
        .tempdir()
        .map_err(|e| {
            Error::usage(format!(
                "cannot make a spill directory in `{}` ({e})",
                std::env::temp_dir().display()
            ))
            .with_hint("set TMPDIR to a writable directory with room for the compared columns")
        })?;
    let path = dir.path().to_path_buf();
    // Spill files can be as large as the tables: Ctrl-C must not leave them.
    let on_interrupt = crate::interrupt::on_interrupt(move || {
        let _ = std::fs::remove_dir_all(path);
    });
    Ok(Arc::new(Directory {
        dir,
        _on_interrupt: on_interrupt,
    }))
}

fn spill_error(path: &Path, error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
    Error::compute(
        format!("cannot use the spill file {}", path.display()),
        error,
    )
}

/// The schema of spilled value columns: one nullable field per column.
pub fn spill_schema(types: &[DataType]) -> SchemaRef {
    Arc::new(Schema::new(
        types
            .iter()
            .enumerate()
            .map(|(i, t)| Field::new(format!("v{i}"), t.clone(), true))
            .collect::<Vec<_>>(),
    ))
}

/// Appends batches' value columns to one IPC file.
pub struct SpillWriter {
    path: PathBuf,
    schema: SchemaRef,
    writer: FileWriter<BufWriter<File>>,
    blocks: usize,
}

impl SpillWriter {
    pub fn create(dir: &Path, name: &str, schema: SchemaRef) -> Result<Self> {
        let path = dir.join(name);
        let file = File::create(&path).map_err(|e| spill_error(&path, e))?;
        let writer = FileWriter::try_new(BufWriter::with_capacity(1 << 20, file), &schema)
            .map_err(|e| spill_error(&path, e))?;
        Ok(SpillWriter {
            path,
            schema,
            writer,
            blocks: 0,
        })
    }

    /// Writes one batch's columns; returns their block number.
    pub fn write(&mut self, columns: Vec<ArrayRef>) -> Result<usize> {
        let batch = RecordBatch::try_new(Arc::clone(&self.schema), columns)
            .map_err(|e| spill_error(&self.path, e))?;
        self.writer
            .write(&batch)
            .map_err(|e| spill_error(&self.path, e))?;
        self.blocks += 1;
        crate::interrupt::pause_point("spilling");
        Ok(self.blocks - 1)
    }

    pub fn finish(mut self) -> Result<SpillFile> {
        self.writer
            .finish()
            .map_err(|e| spill_error(&self.path, e))?;
        Ok(SpillFile {
            path: self.path,
            schema: self.schema,
        })
    }
}

/// `take` copies the views of a view array but shares its data buffers,
/// which here are the whole block read from the file: the kept rows' bytes
/// are copied out so the block can be freed.
fn compact(array: ArrayRef) -> ArrayRef {
    match array.data_type() {
        DataType::Utf8View => Arc::new(array.as_string_view().gc()),
        DataType::BinaryView => Arc::new(array.as_binary_view().gc()),
        _ => array,
    }
}

/// A finished spill file.
#[derive(Debug)]
pub struct SpillFile {
    path: PathBuf,
    schema: SchemaRef,
}

impl SpillFile {
    fn reader(&self, projection: Option<Vec<usize>>) -> Result<FileReader<BufReader<File>>> {
        let file = File::open(&self.path).map_err(|e| spill_error(&self.path, e))?;
        let reader = FileReader::try_new(BufReader::with_capacity(1 << 20, file), projection)
            .map_err(|e| spill_error(&self.path, e))?;
        // SAFETY: this process wrote the file, from arrays arrow had
        // validated, into a directory only this user can write
        // (`tempfile` makes it 0700); checking every offset and every
        // string's UTF-8 again would cost more than reading the bytes.
        Ok(unsafe { reader.with_skip_validation(true) })
    }

    /// Reads the blocks in order and keeps, of block `b`, the rows
    /// `wanted(b)` lists (ascending); returns the kept columns per block.
    pub fn fetch<'w>(&self, wanted: impl Fn(usize) -> &'w [u32]) -> Result<Vec<Vec<ArrayRef>>> {
        let mut reader = self.reader(None)?;
        let mut kept = Vec::with_capacity(reader.num_batches());
        for block in 0..reader.num_batches() {
            let rows = wanted(block);
            if rows.is_empty() {
                kept.push(self.empty_columns());
                continue;
            }
            // Blocks with nothing wanted are skipped without being read.
            reader
                .set_index(block)
                .map_err(|e| spill_error(&self.path, e))?;
            let batch = self.next_block(&mut reader)?;
            let indices = UInt32Array::from(rows.to_vec());
            let columns = batch
                .columns()
                .iter()
                .map(|c| take(c.as_ref(), &indices, None).map(compact))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| spill_error(&self.path, e))?;
            kept.push(columns);
        }
        Ok(kept)
    }

    /// One column of one block, for reading single cells back.
    pub fn column(&self, block: usize, column: usize) -> Result<ArrayRef> {
        let mut reader = self.reader(Some(vec![column]))?;
        reader
            .set_index(block)
            .map_err(|e| spill_error(&self.path, e))?;
        Ok(Arc::clone(self.next_block(&mut reader)?.column(0)))
    }

    fn next_block(&self, reader: &mut FileReader<BufReader<File>>) -> Result<RecordBatch> {
        match reader.next() {
            Some(batch) => batch.map_err(|e| spill_error(&self.path, e)),
            None => Err(spill_error(&self.path, "a block is missing")),
        }
    }

    pub fn empty_columns(&self) -> Vec<ArrayRef> {
        self.schema
            .fields()
            .iter()
            .map(|f| datafusion::arrow::array::new_empty_array(f.data_type()))
            .collect()
    }
}
