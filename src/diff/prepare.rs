//! Prepares one side for matching, batch by batch as they arrive: casts the
//! paired columns to their comparison types, hashes keys and rows, gathers
//! column statistics in the same pass, and spills the value columns (see
//! `spill`). A side streams in as partitions, each prepared on its own and
//! merged in partition order; a side already in memory is cut into one run
//! of batches per thread and prepared the same way.

use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::arrow::record_batch::RecordBatch;
use rayon::prelude::*;

use super::canon::to_comparison;
use super::hash::{KEY_SEED, ROW_SEED, exact_key_hashes, fold_into, value_hashes};
use super::schema::ColumnPair;
use super::spill::{SpillDir, SpillFile, SpillWriter, spill_dir, spill_schema};
use super::stats::{CellSource, Sample, StatsState};
use super::value::cell_to_json;
use crate::error::{Error, Result};

pub use crate::sides::Side;

pub use super::position::Pos;

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
    /// They stay in memory: matching checks keys for real equality.
    pub keys: Vec<ArrayRef>,
    /// Compared non-key columns (none when unkeyed), of the rows fetched
    /// back from the spill only: `value_rows` lists those rows.
    pub values: Vec<ArrayRef>,
    value_rows: Vec<u32>,
    /// (spill file, block) holding every row's values.
    spilled: Option<(usize, usize)>,
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

    /// Where row `row`'s values are in `values`. Only rows matching asked
    /// for (`PreparedSide::fetch_values`) are there: asking for another is a
    /// bug in the fetch plan, not a property of the data.
    pub fn value_index(&self, row: u32) -> usize {
        self.value_rows
            .binary_search(&row)
            .expect("the fetch plan covers every row whose values are read")
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
    /// Spill files in partition order; each batch knows its block.
    spills: Vec<SpillFile>,
    /// Keeps the spill files until the side is dropped.
    _spill_dir: Option<SpillDir>,
}

impl PreparedSide {
    /// Typed values of statistics column `column`, for `ColumnStats::finish`.
    pub fn stat_cells(&self, column: usize) -> StatCells<'_> {
        StatCells { side: self, column }
    }

    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(PreparedBatch::num_rows).sum()
    }

    /// Reads the values of `rows` (any order, repeats allowed) back from the
    /// spill, replacing what was fetched before; one pass over each file.
    pub fn fetch_values(&mut self, rows: &[Pos]) -> Result<()> {
        let mut wanted: Vec<Vec<u32>> = vec![Vec::new(); self.batches.len()];
        for pos in rows {
            wanted[pos.batch as usize].push(pos.row);
        }
        wanted.par_iter_mut().for_each(|rows| {
            rows.sort_unstable();
            rows.dedup();
        });
        // Per file, the batch of each block.
        let mut blocks: Vec<Vec<usize>> = vec![Vec::new(); self.spills.len()];
        for (index, batch) in self.batches.iter().enumerate() {
            if let Some((file, block)) = batch.spilled {
                let of_file = &mut blocks[file];
                if of_file.len() <= block {
                    of_file.resize(block + 1, usize::MAX);
                }
                of_file[block] = index;
            }
        }
        let fetched: Vec<Vec<Vec<ArrayRef>>> = self
            .spills
            .par_iter()
            .zip(&blocks)
            .map(|(spill, batches)| {
                spill.fetch(|block| {
                    batches
                        .get(block)
                        .and_then(|&b| wanted.get(b))
                        .map_or(&[][..], Vec::as_slice)
                })
            })
            .collect::<Result<_>>()?;
        for (columns_per_block, batches) in fetched.into_iter().zip(&blocks) {
            for (columns, &index) in columns_per_block.into_iter().zip(batches) {
                let batch = &mut self.batches[index];
                batch.values = columns;
                batch.value_rows = std::mem::take(&mut wanted[index]);
            }
        }
        Ok(())
    }
}

pub struct StatCells<'a> {
    side: &'a PreparedSide,
    column: usize,
}

impl CellSource for StatCells<'_> {
    fn cell(&self, pos: Pos) -> Result<serde_json::Value> {
        let batch = &self.side.batches[pos.batch as usize];
        let row = pos.row as usize;
        match self.side.stats_of {
            StatsOf::Keys => Ok(cell_to_json(batch.keys[self.column].as_ref(), row)),
            StatsOf::Values | StatsOf::Nothing => {
                // Statistics point at any row; most are not fetched, so
                // the cell comes from its spilled block.
                if let Ok(i) = batch.value_rows.binary_search(&pos.row) {
                    return Ok(cell_to_json(batch.values[self.column].as_ref(), i));
                }
                let Some((file, block)) = batch.spilled else {
                    return Ok(serde_json::Value::Null);
                };
                let column = self.side.spills[file].column(block, self.column)?;
                Ok(cell_to_json(column.as_ref(), row))
            }
        }
    }
}

/// Which columns rows are matched on, and whether rows with a NULL in them
/// stay out of matching (a real key) or take part (a whole-row diff).
pub struct MatchOn<'a> {
    pub columns: &'a [ColumnPair],
    pub nulls_excluded: bool,
}

/// What preparing one side needs to know before its first batch.
pub struct SideSpec<'a> {
    pub side: Side,
    keys: &'a [ColumnPair],
    exact_keys: bool,
    values: &'a [ColumnPair],
    stats_of: StatsOf,
    /// The side's row count, which sets the quantile sketch's sample.
    table_rows: usize,
    spill_dir: Option<SpillDir>,
}

impl<'a> SideSpec<'a> {
    pub fn new(
        side: Side,
        match_on: &MatchOn<'a>,
        values: &'a [ColumnPair],
        stats_of: StatsOf,
        table_rows: usize,
    ) -> Result<Self> {
        let keys = match_on.columns;
        // An injective hash cannot keep NULL apart from every value, so it is
        // used only where NULL keys never take part.
        let exact_keys = match_on.nulls_excluded
            && keys.len() == 1
            && exact_key_hashes(&datafusion::arrow::array::new_empty_array(
                &keys[0].compared_as,
            ))
            .is_some();
        let spill_dir = if values.is_empty() {
            None
        } else {
            Some(spill_dir()?)
        };
        Ok(SideSpec {
            side,
            keys,
            exact_keys,
            values,
            stats_of,
            table_rows,
            spill_dir,
        })
    }

    fn stat_pairs(&self) -> &'a [ColumnPair] {
        match self.stats_of {
            StatsOf::Nothing => &[],
            StatsOf::Keys => self.keys,
            StatsOf::Values => self.values,
        }
    }

    /// A builder for one stream of batches (a partition); `partition`
    /// numbers its spill file.
    pub fn partition(&self, partition: usize) -> PartitionBuilder<'_, 'a> {
        PartitionBuilder {
            spec: self,
            partition,
            spill: None,
            batches: Vec::new(),
            stats: self.empty_stats(),
        }
    }

    /// One empty state per statistics column.
    fn empty_stats(&self) -> Vec<StatsState> {
        self.stat_pairs()
            .iter()
            .map(|p| StatsState::empty(&p.compared_as))
            .collect()
    }

    /// The side from its partitions, in partition order.
    pub fn finish(&self, partitions: Vec<PartitionBuilder>) -> Result<PreparedSide> {
        let mut batches = Vec::new();
        let mut spills = Vec::new();
        let mut stats = self.empty_stats();
        for part in partitions {
            let offset = batches.len() as u32;
            let file = spills.len();
            if let Some(spill) = part.spill {
                spills.push(spill.finish()?);
            }
            for mut batch in part.batches {
                batch.spilled = batch.spilled.map(|(_, block)| (file, block));
                batches.push(batch);
            }
            for (mine, mut theirs) in stats.iter_mut().zip(part.stats) {
                theirs.shift_batches(offset);
                mine.merge(theirs);
            }
        }
        stats.par_iter_mut().for_each(StatsState::finalize);
        Ok(PreparedSide {
            batches,
            exact_keys: self.exact_keys,
            stats_of: self.stats_of,
            stats,
            spills,
            _spill_dir: self.spill_dir.clone(),
        })
    }
}

/// Prepares one partition's batches as they arrive: each is cast, hashed,
/// counted into statistics, and its values spilled.
pub struct PartitionBuilder<'s, 'a> {
    spec: &'s SideSpec<'a>,
    partition: usize,
    spill: Option<SpillWriter>,
    batches: Vec<PreparedBatch>,
    /// Statistics of this partition; positions count its batches from 0.
    stats: Vec<StatsState>,
}

impl PartitionBuilder<'_, '_> {
    /// Which of its side's partitions it builds.
    pub fn partition(&self) -> usize {
        self.partition
    }

    pub fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let spec = self.spec;
        let index = self.batches.len() as u32;
        let (mut prepared, values) = prepare_batch(
            spec.side,
            (index, batch, spec.table_rows),
            (spec.keys, spec.exact_keys),
            spec.values,
            spec.stats_of,
            &mut self.stats,
        )?;
        if let Some(dir) = &spec.spill_dir {
            let spill = match &mut self.spill {
                Some(spill) => spill,
                None => self.spill.insert(SpillWriter::create(
                    dir.path(),
                    &format!("{}-{}.arrow", spec.side.name(), self.partition),
                    spill_schema(
                        &spec
                            .values
                            .iter()
                            .map(|v| v.compared_as.clone())
                            .collect::<Vec<_>>(),
                    ),
                )?),
            };
            prepared.spilled = Some((0, spill.write(values)?));
        }
        self.batches.push(prepared);
        Ok(())
    }
}

/// Prepares a side held in memory: its batches are split into one run per
/// thread, each prepared like a streamed partition.
pub fn prepare_side(spec: &SideSpec, batches: &[RecordBatch]) -> Result<PreparedSide> {
    let runs = rayon::current_num_threads().max(1);
    let run_length = batches.len().div_ceil(runs).max(1);
    let partitions = batches
        .par_chunks(run_length)
        .enumerate()
        .map(|(partition, run)| {
            let mut builder = spec.partition(partition);
            for batch in run {
                builder.push(batch)?;
            }
            Ok(builder)
        })
        .collect::<Result<Vec<_>>>()?;
    spec.finish(partitions)
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
) -> Result<(PreparedBatch, Vec<ArrayRef>)> {
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
    let prepared = PreparedBatch {
        keys,
        values: Vec::new(),
        value_rows: Vec::new(),
        spilled: None,
        key_hashes,
        row_hashes,
    };
    Ok((prepared, values))
}
