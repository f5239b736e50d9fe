//! Value columns parked on disk while matching runs on hashes alone.
//!
//! Preparing a side hashes each batch and writes its compared value columns
//! to an Arrow IPC file in a temporary directory, one block per batch; the
//! batch then leaves memory. Once matching knows which rows need their values
//! (pairs whose row hashes differ, duplicates, samples, `--diff-rows`), each
//! file is mapped into memory and its blocks decoded in place, keeping only
//! those rows. Memory
//! then grows with rows (hashes and keys) and with differences, not with the
//! width of the table; the bytes in between sit in the page cache, which the
//! kernel can drop. `TMPDIR` chooses where the files go.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, UInt32Array};
use datafusion::arrow::buffer::Buffer;
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::ipc::reader::{FileDecoder, read_footer_length};
use datafusion::arrow::ipc::writer::FileWriter;
use datafusion::arrow::ipc::{Block, root_as_footer};
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
/// which here are the whole block read from the file (or the pages a
/// source's rows were decoded from): the kept rows' bytes are copied out so
/// the rest can be freed.
pub(super) fn compact(array: ArrayRef) -> ArrayRef {
    match array.data_type() {
        DataType::Utf8View => Arc::new(array.as_string_view().gc()),
        DataType::BinaryView => Arc::new(array.as_binary_view().gc()),
        _ => array,
    }
}

/// A spill file mapped into memory, with its footer read.
struct MappedSpill<'a> {
    path: &'a Path,
    map: Arc<memmap2::Mmap>,
    buffer: Buffer,
    decoder: FileDecoder,
    blocks: Vec<Block>,
}

impl MappedSpill<'_> {
    fn block(&self, index: usize) -> Result<RecordBatch> {
        let block = self
            .blocks
            .get(index)
            .ok_or_else(|| spill_error(self.path, "a block is missing"))?;
        let length = block.metaDataLength() as usize + block.bodyLength() as usize;
        let offset = block.offset() as usize;
        if offset.saturating_add(length) > self.buffer.len() {
            return Err(spill_error(
                self.path,
                "a block lies past the end of the file",
            ));
        }
        let data = self.buffer.slice_with_length(offset, length);
        match self.decoder.read_record_batch(block, &data) {
            Ok(Some(batch)) => Ok(batch),
            Ok(None) => Err(spill_error(self.path, "a block is empty")),
            Err(e) => Err(spill_error(self.path, e)),
        }
    }

    /// Gives block `index`'s pages back once its rows are copied out, so
    /// that a read of the whole file does not count as resident memory
    /// (they stay in the page cache, and would fault in again if read).
    fn release(&self, index: usize) {
        if let Some(block) = self.blocks.get(index) {
            let length = block.metaDataLength() as usize + block.bodyLength() as usize;
            // SAFETY: the mapping is of a file, read-only: pages dropped
            // here read back the same bytes from the file if touched again.
            // A failure only leaves the pages resident.
            let _ = unsafe {
                self.map.unchecked_advise_range(
                    memmap2::UncheckedAdvice::DontNeed,
                    block.offset() as usize,
                    length,
                )
            };
        }
    }
}

/// A finished spill file.
#[derive(Debug)]
pub struct SpillFile {
    path: PathBuf,
    schema: SchemaRef,
}

impl SpillFile {
    /// Maps the file and reads its footer. Blocks are then decoded straight
    /// from the page cache: reading them into fresh buffers cost a page
    /// fault, a zeroing and a copy per page, a fifth of a diff's time where
    /// many rows changed.
    fn map(&self) -> Result<MappedSpill<'_>> {
        let file = File::open(&self.path).map_err(|e| spill_error(&self.path, e))?;
        // SAFETY: the file is this process's own, finished before it is
        // mapped and never written again, in a directory only this user can
        // write (`tempfile` makes it 0700).
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| spill_error(&self.path, e))?;
        let length = map.len();
        let start = std::ptr::NonNull::new(map.as_ptr() as *mut u8)
            .ok_or_else(|| spill_error(&self.path, "the file maps to nothing"))?;
        // SAFETY: `start..start+length` is the mapping, which the buffer
        // owns (through the `Arc`) for as long as any array points into it.
        let map = Arc::new(map);
        let buffer = unsafe { Buffer::from_custom_allocation(start, length, map.clone()) };
        let footer_error = |e: &dyn std::fmt::Display| spill_error(&self.path, e.to_string());
        let trailer = length
            .checked_sub(10)
            .ok_or_else(|| footer_error(&"the file is truncated"))?;
        let footer_length = read_footer_length(
            buffer[trailer..]
                .try_into()
                .map_err(|_| footer_error(&"the file is truncated"))?,
        )
        .map_err(|e| footer_error(&e))?;
        let footer_start = trailer
            .checked_sub(footer_length)
            .ok_or_else(|| footer_error(&"the footer is longer than the file"))?;
        let footer =
            root_as_footer(&buffer[footer_start..trailer]).map_err(|e| footer_error(&e))?;
        let blocks = footer
            .recordBatches()
            .map(|blocks| blocks.iter().copied().collect())
            .unwrap_or_default();
        // SAFETY: as for the mapping; arrow validated every array before it
        // was written, and checking every offset and every string's UTF-8
        // again would cost more than reading the bytes.
        let decoder = unsafe {
            FileDecoder::new(Arc::clone(&self.schema), footer.version()).with_skip_validation(true)
        };
        Ok(MappedSpill {
            path: &self.path,
            map,
            buffer,
            decoder,
            blocks,
        })
    }

    /// Reads the blocks in order and keeps, of block `b`, the rows
    /// `wanted(b)` lists (ascending); returns the kept columns per block.
    pub fn fetch<'w>(&self, wanted: impl Fn(usize) -> &'w [u32]) -> Result<Vec<Vec<ArrayRef>>> {
        let spill = self.map()?;
        let mut kept = Vec::with_capacity(spill.blocks.len());
        for block in 0..spill.blocks.len() {
            let rows = wanted(block);
            // Blocks with nothing wanted are skipped without being read.
            if rows.is_empty() {
                kept.push(self.empty_columns());
                continue;
            }
            let batch = spill.block(block)?;
            let indices = UInt32Array::from(rows.to_vec());
            let columns = batch
                .columns()
                .iter()
                .map(|c| take(c.as_ref(), &indices, None).map(compact))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| spill_error(&self.path, e))?;
            drop(batch);
            spill.release(block);
            kept.push(columns);
        }
        Ok(kept)
    }

    /// One column of one block, for reading single cells back.
    pub fn column(&self, block: usize, column: usize) -> Result<ArrayRef> {
        let batch = self.map()?.block(block)?;
        Ok(Arc::clone(batch.column(column)))
    }

    pub fn empty_columns(&self) -> Vec<ArrayRef> {
        self.schema
            .fields()
            .iter()
            .map(|f| datafusion::arrow::array::new_empty_array(f.data_type()))
            .collect()
    }
}
