//! Prepares one side for matching: casts the paired columns of every record
//! batch to their comparison types and hashes keys and rows, in parallel over
//! batches.

use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::arrow::record_batch::RecordBatch;
use rayon::prelude::*;

use super::canon::to_comparison;
use super::hash::{KEY_SEED, ROW_SEED, hash_rows};
use super::schema::ColumnPair;
use crate::error::{Error, Result};

/// Which side of the diff a table is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Prod,
    Candidate,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::Prod => "prod",
            Side::Candidate => "candidate",
        }
    }
}

/// One record batch, reduced to the compared columns in comparison types.
#[derive(Debug)]
pub struct PreparedBatch {
    /// Matching columns: the key, or every compared column when unkeyed.
    pub keys: Vec<ArrayRef>,
    /// Compared non-key columns (empty when unkeyed).
    pub values: Vec<ArrayRef>,
    pub key_hashes: Vec<u64>,
    pub row_hashes: Vec<u64>,
}

impl PreparedBatch {
    pub fn num_rows(&self) -> usize {
        self.key_hashes.len()
    }

    /// Whether row `i` has a NULL in any key column.
    pub fn has_null_key(&self, i: usize) -> bool {
        self.keys.iter().any(|k| k.is_null(i))
    }
}

/// A whole side, ready to match.
#[derive(Debug)]
pub struct PreparedSide {
    pub batches: Vec<PreparedBatch>,
}

pub fn prepare_side(
    side: Side,
    batches: &[RecordBatch],
    keys: &[ColumnPair],
    values: &[ColumnPair],
) -> Result<PreparedSide> {
    let batches = batches
        .par_iter()
        .map(|batch| prepare_batch(side, batch, keys, values))
        .collect::<Result<Vec<_>>>()?;
    Ok(PreparedSide { batches })
}

fn prepare_batch(
    side: Side,
    batch: &RecordBatch,
    keys: &[ColumnPair],
    values: &[ColumnPair],
) -> Result<PreparedBatch> {
    let cast = |pairs: &[ColumnPair]| -> Result<Vec<ArrayRef>> {
        pairs
            .iter()
            .map(|pair| {
                let index = match side {
                    Side::Prod => pair.prod_index,
                    Side::Candidate => pair.candidate_index,
                };
                to_comparison(batch.column(index), &pair.compared_as).map_err(|e| {
                    Error::compute(
                        format!(
                            "cannot compare {} column `{}` as `{}`",
                            side.name(),
                            pair.name,
                            pair.compared_as
                        ),
                        e,
                    )
                })
            })
            .collect()
    };
    let keys = cast(keys)?;
    let values = cast(values)?;
    let rows = batch.num_rows();
    let hash_error = |e| Error::compute(format!("cannot hash the {} table", side.name()), e);
    Ok(PreparedBatch {
        key_hashes: hash_rows(&keys, rows, KEY_SEED).map_err(hash_error)?,
        row_hashes: hash_rows(&values, rows, ROW_SEED).map_err(hash_error)?,
        keys,
        values,
    })
}
