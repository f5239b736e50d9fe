//! Prepares one side for matching: casts the paired columns of every record
//! batch to their comparison types, hashes keys and rows and, in the same
//! pass over each batch, gathers column statistics; in parallel over batches.

use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::arrow::record_batch::RecordBatch;
use rayon::prelude::*;

use super::canon::to_comparison;
use super::hash::{KEY_SEED, ROW_SEED, fold_into, value_hashes};
use super::schema::ColumnPair;
use super::stats::{CellSource, StatsState, empty_state, merge_all};
use super::value::cell_to_json;
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

/// Where a row lives: batch and row index within its side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pos {
    pub batch: u32,
    pub row: u32,
}

/// Which columns get statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatsOf {
    Nothing,
    /// The matching columns (a whole-row diff, or `profile`).
    Keys,
    Values,
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
pub struct PreparedSide {
    pub batches: Vec<PreparedBatch>,
    pub stats_of: StatsOf,
    /// One merged state per statistics column.
    pub stats: Vec<StatsState>,
}

impl PreparedSide {
    /// Typed values of statistics column `column`, for `ColumnStats::finish`.
    pub fn stat_cells(&self, column: usize) -> StatCells<'_> {
        StatCells { side: self, column }
    }
}

pub struct StatCells<'a> {
    side: &'a PreparedSide,
    column: usize,
}

impl CellSource for StatCells<'_> {
    fn cell(&self, pos: Pos) -> serde_json::Value {
        let batch = &self.side.batches[pos.batch as usize];
        let columns = match self.side.stats_of {
            StatsOf::Keys => &batch.keys,
            StatsOf::Values | StatsOf::Nothing => &batch.values,
        };
        cell_to_json(columns[self.column].as_ref(), pos.row as usize)
    }
}

pub fn prepare_side(
    side: Side,
    batches: &[RecordBatch],
    keys: &[ColumnPair],
    values: &[ColumnPair],
    stats_of: StatsOf,
) -> Result<PreparedSide> {
    let prepared = batches
        .par_iter()
        .enumerate()
        .map(|(index, batch)| prepare_batch(side, index as u32, batch, keys, values, stats_of))
        .collect::<Result<Vec<_>>>()?;
    let (batches, batch_stats): (Vec<PreparedBatch>, Vec<Vec<StatsState>>) =
        prepared.into_iter().unzip();
    let stat_pairs = match stats_of {
        StatsOf::Nothing => &[][..],
        StatsOf::Keys => keys,
        StatsOf::Values => values,
    };
    // Transpose to one list per column, then merge columns in parallel, each
    // in batch order.
    let mut per_column: Vec<Vec<StatsState>> = stat_pairs
        .iter()
        .map(|_| Vec::with_capacity(batch_stats.len()))
        .collect();
    for states in batch_stats {
        for (column, state) in states.into_iter().enumerate() {
            per_column[column].push(state);
        }
    }
    let stats = per_column
        .into_par_iter()
        .zip(stat_pairs.par_iter())
        .map(|(states, pair)| merge_all(states).unwrap_or_else(|| empty_state(&pair.compared_as)))
        .collect();
    Ok(PreparedSide {
        batches,
        stats_of,
        stats,
    })
}

fn prepare_batch(
    side: Side,
    index: u32,
    batch: &RecordBatch,
    keys: &[ColumnPair],
    values: &[ColumnPair],
    stats_of: StatsOf,
) -> Result<(PreparedBatch, Vec<StatsState>)> {
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
    let mut stats = Vec::new();
    // Each column's value hashes feed its row hash and its statistics.
    let mut hash_columns =
        |columns: &[ArrayRef], seed: u64, with_stats: bool| -> Result<Vec<u64>> {
            let mut hashes = vec![seed; rows];
            for column in columns {
                let column_hashes = value_hashes(column.as_ref()).map_err(hash_error)?;
                fold_into(&mut hashes, &column_hashes);
                if with_stats {
                    stats.push(StatsState::of_batch(column.as_ref(), &column_hashes, index));
                }
            }
            Ok(hashes)
        };
    let key_hashes = hash_columns(&keys, KEY_SEED, stats_of == StatsOf::Keys)?;
    let row_hashes = hash_columns(&values, ROW_SEED, stats_of == StatsOf::Values)?;
    Ok((
        PreparedBatch {
            keys,
            values,
            key_hashes,
            row_hashes,
        },
        stats,
    ))
}
