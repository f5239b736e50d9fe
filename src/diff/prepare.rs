//! Prepares one side for matching: casts the paired columns of every record
//! batch to their comparison types, hashes keys and rows and, in the same
//! pass over each batch, gathers column statistics; in parallel over batches.

use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::arrow::record_batch::RecordBatch;
use rayon::prelude::*;

use super::canon::to_comparison;
use super::hash::{KEY_SEED, ROW_SEED, exact_key_hashes, fold_into, value_hashes};
use super::schema::ColumnPair;
use super::stats::{CellSource, Sample, StatsState};
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
    /// Key hashes are injective (see `hash::exact_key_hashes`): equal key
    /// hashes are equal keys.
    pub exact_keys: bool,
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

/// Which columns rows are matched on, and whether rows with a NULL in them
/// stay out of matching (a real key) or take part (a whole-row diff).
pub struct MatchOn<'a> {
    pub columns: &'a [ColumnPair],
    pub nulls_excluded: bool,
}

pub fn prepare_side(
    side: Side,
    batches: &[RecordBatch],
    match_on: &MatchOn,
    values: &[ColumnPair],
    stats_of: StatsOf,
) -> Result<PreparedSide> {
    let keys = match_on.columns;
    // An injective hash cannot keep NULL apart from every value, so it is
    // used only where NULL keys never take part.
    let exact_keys = match_on.nulls_excluded
        && keys.len() == 1
        && exact_key_hashes(&datafusion::arrow::array::new_empty_array(
            &keys[0].compared_as,
        ))
        .is_some();
    let stat_pairs = match stats_of {
        StatsOf::Nothing => &[][..],
        StatsOf::Keys => keys,
        StatsOf::Values => values,
    };
    let table_rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let no_stats = || -> Vec<StatsState> {
        stat_pairs
            .iter()
            .map(|p| StatsState::empty(&p.compared_as))
            .collect()
    };
    // Each worker folds its batches' statistics into its own states, which
    // are merged at the end: every merge is exact and order-free, so the
    // result does not depend on how batches were spread over threads.
    let (mut prepared, mut stats) = batches
        .par_iter()
        .enumerate()
        .try_fold(
            || (Vec::new(), no_stats()),
            |(mut prepared, mut stats), (index, batch)| {
                let batch = prepare_batch(
                    side,
                    (index as u32, batch, table_rows),
                    (keys, exact_keys),
                    values,
                    stats_of,
                    &mut stats,
                )?;
                prepared.push((index, batch));
                Ok::<_, Error>((prepared, stats))
            },
        )
        .try_reduce(
            || (Vec::new(), no_stats()),
            |(mut prepared, mut stats), (more, more_stats)| {
                prepared.extend(more);
                for (mine, theirs) in stats.iter_mut().zip(more_stats) {
                    mine.merge(theirs);
                }
                Ok((prepared, stats))
            },
        )?;
    prepared.sort_unstable_by_key(|(index, _)| *index);
    stats.par_iter_mut().for_each(StatsState::finalize);
    Ok(PreparedSide {
        batches: prepared.into_iter().map(|(_, batch)| batch).collect(),
        exact_keys,
        stats_of,
        stats,
    })
}

/// `(index, batch, table_rows)`: the batch, its place, and the side's row
/// count (which sets the quantile sketch's sample).
fn prepare_batch(
    side: Side,
    (index, batch, table_rows): (u32, &RecordBatch, usize),
    (keys, exact_keys): (&[ColumnPair], bool),
    values: &[ColumnPair],
    stats_of: StatsOf,
    stats: &mut [StatsState],
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
    // Each column's value hashes feed its row hash and its statistics.
    let hash_columns = |columns: &[ArrayRef], seed: u64| -> Result<(Vec<u64>, Vec<Vec<u64>>)> {
        let mut hashes = vec![seed; rows];
        let mut per_column = Vec::with_capacity(columns.len());
        for column in columns {
            let column_hashes = value_hashes(column.as_ref()).map_err(hash_error)?;
            fold_into(&mut hashes, &column_hashes);
            per_column.push(column_hashes);
        }
        Ok((hashes, per_column))
    };
    let (key_hashes, key_column_hashes) = if exact_keys {
        let hashes = exact_key_hashes(keys[0].as_ref()).ok_or_else(|| {
            Error::compute(
                format!("cannot hash the {} keys", side.name()),
                "the key column changed type",
            )
        })?;
        (hashes, Vec::new())
    } else {
        hash_columns(&keys, KEY_SEED)?
    };
    let (row_hashes, value_column_hashes) = hash_columns(&values, ROW_SEED)?;
    let stat_columns = match stats_of {
        StatsOf::Nothing => None,
        StatsOf::Keys => Some((&keys, &key_column_hashes)),
        StatsOf::Values => Some((&values, &value_column_hashes)),
    };
    if let Some((columns, hashes)) = stat_columns {
        let sample = Sample::new(&key_hashes, table_rows);
        for ((state, column), column_hashes) in stats.iter_mut().zip(columns).zip(hashes) {
            state.add_batch(column.as_ref(), column_hashes, index, &sample);
        }
    }
    Ok(PreparedBatch {
        keys,
        values,
        key_hashes,
        row_hashes,
    })
}
