//! Sides whose rows can be read again from where they came from.
//!
//! Preparing a side keeps per row only what matching needs; the values of
//! the rows matching then asks for come either from the side's spill file
//! or, for a source that can be read again (local Parquet files), from the
//! source itself: nothing is written, and only the pages holding those rows
//! are decoded a second time.

use datafusion::arrow::record_batch::RecordBatch;

use crate::error::Result;

/// A source read as partitions, each a fixed sequence of rows that can be
/// read again by offset.
pub trait ReadAgain: Send + Sync {
    /// Rows `offsets` (ascending; counted from the start of partition
    /// `partition`, as it was streamed) with the columns the stream had, as
    /// one batch.
    fn rows(&self, partition: usize, offsets: &[u32]) -> Result<RecordBatch>;
}
