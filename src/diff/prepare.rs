//! Prepares one side for matching, batch by batch as they arrive: casts the
//! paired columns to their comparison types, hashes keys and rows, gathers
//! column statistics in the same pass, and spills the value columns (see
//! `spill`), unless the source can be read again (see `reread`): then each
//! batch only remembers where in the source it came from, and, when the
//! side is checked against the side read before it (`checked_against`),
//! keeps the values of the rows that side lacks. A side streams in
//! as partitions, each prepared on its own and merged in partition order; a
//! side already in memory is cut into one run of batches per thread and
//! prepared the same way.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{Array, ArrayRef, UInt32Array, new_empty_array};
use datafusion::arrow::compute::take;
use datafusion::arrow::record_batch::RecordBatch;
use rayon::prelude::*;

use super::canon::to_comparison;
use super::fetch::{ReadSource, Stored};
use super::fetched_rows::FetchedRows;
use super::hash::{KEY_SEED, ROW_SEED, exact_key_hashes, fold_into, value_hashes};
use super::reread::ReadAgain;
use super::row_set::RowSet;
use super::schema::ColumnPair;
use super::spill::{SpillDir, SpillFile, SpillWriter, compact, spill_dir, spill_schema};
use super::stats::{Sample, StatsState};
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
    /// back from the spill or the source only: `value_rows` says which.
    pub values: Vec<ArrayRef>,
    pub(super) value_rows: FetchedRows,
    /// Where its values can be read back from.
    pub(super) stored: Stored,
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
            .index_of(row)
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
    pub(super) spills: Vec<SpillFile>,
    /// The source, when values can be read again from it.
    pub(super) source: Option<ReadSource>,
    /// Keeps the spill files until the side is dropped.
    _spill_dir: Option<SpillDir>,
}

impl PreparedSide {
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(PreparedBatch::num_rows).sum()
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
    /// The table columns a batch holds, ascending, when batches hold only
    /// the columns the diff reads (`projected`); `None`: every column.
    projection: Option<Vec<usize>>,
    /// Made when the first batch spills: a side read again from its source
    /// needs none.
    spill_dir: Mutex<Option<SpillDir>>,
    /// The source values are read again from, instead of a spill.
    source: Option<Arc<dyn ReadAgain>>,
    /// The rows of the side read before this one: rows it lacks keep their
    /// values as they stream in (`checked_against`).
    read_first: Option<Arc<RowSet>>,
    /// How many more rows may keep their values, so that a side mostly
    /// unlike the other does not hold all of its values: past it, values
    /// are read again from the source like any other side's.
    hold_budget: AtomicUsize,
    /// Per statistics column, whether a partition of this side stopped
    /// counting its distinct values exactly: the others then stop too
    /// (`StatsState::stop_counting_exactly`).
    counted_approximately: Vec<AtomicBool>,
}

impl<'a> SideSpec<'a> {
    pub fn new(
        side: Side,
        match_on: &MatchOn<'a>,
        values: &'a [ColumnPair],
        stats_of: StatsOf,
        table_rows: usize,
    ) -> Self {
        let keys = match_on.columns;
        // An injective hash cannot keep NULL apart from every value, so it is
        // used only where NULL keys never take part.
        let exact_keys = match_on.nulls_excluded
            && keys.len() == 1
            && exact_key_hashes(&new_empty_array(&keys[0].compared_as)).is_some();
        let stat_columns = stat_pairs(stats_of, keys, values).len();
        SideSpec {
            side,
            keys,
            exact_keys,
            values,
            stats_of,
            table_rows,
            projection: None,
            spill_dir: Mutex::new(None),
            source: None,
            read_first: None,
            hold_budget: AtomicUsize::new(0),
            counted_approximately: (0..stat_columns).map(|_| AtomicBool::new(false)).collect(),
        }
    }

    /// The table columns the diff reads on this side (keys and compared
    /// values), ascending: the projection a reader can push down.
    pub fn columns_read(&self) -> Vec<usize> {
        let mut columns: Vec<usize> = self
            .keys
            .iter()
            .chain(self.values)
            .map(|pair| pair.index(self.side))
            .collect();
        columns.sort_unstable();
        columns.dedup();
        columns
    }

    /// Batches will hold only `columns_read()`, in that order.
    pub fn projected(mut self) -> Self {
        self.projection = Some(self.columns_read());
        self
    }

    /// Values will be read again from `source` (whose partitions are the
    /// ones streamed) rather than spilled.
    pub fn reading_again(mut self, source: Arc<dyn ReadAgain>) -> Self {
        self.source = Some(source);
        self
    }

    /// Whether values are read again from the source rather than spilled.
    pub fn reads_again(&self) -> bool {
        self.source.is_some()
    }

    /// Whether checking this side against the side read before it would
    /// spare a read: it compares values and they would be read again.
    pub fn holds_values_when_checked(&self) -> bool {
        self.source.is_some() && !self.values.is_empty()
    }

    /// Rows that `first` (the other side, read already) does not have keep
    /// their values while this side streams: they are the rows matching
    /// compares, and this side is then not read a second time. At most
    /// half the side's rows keep theirs.
    pub fn checked_against(mut self, first: Arc<RowSet>) -> Self {
        self.read_first = Some(first);
        self.hold_budget = AtomicUsize::new(self.table_rows / 2);
        self
    }

    /// Takes `rows` from the budget of rows that may keep their values;
    /// `false`, taking nothing, when too few are left.
    fn may_hold(&self, rows: usize) -> bool {
        self.hold_budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(rows)
            })
            .is_ok()
    }

    fn spill_dir(&self) -> std::sync::MutexGuard<'_, Option<SpillDir>> {
        self.spill_dir
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The spill directory, made on first use.
    fn spill_dir_made(&self) -> Result<SpillDir> {
        let mut dir = self.spill_dir();
        if let Some(made) = dir.as_ref() {
            return Ok(made.clone());
        }
        Ok(dir.insert(spill_dir()?).clone())
    }

    /// The batch column of each of `pairs`.
    fn slots(&self, pairs: &[ColumnPair]) -> Vec<usize> {
        pairs
            .iter()
            .map(|pair| {
                let index = pair.index(self.side);
                match &self.projection {
                    Some(columns) => columns
                        .binary_search(&index)
                        .expect("the projection holds every paired column"),
                    None => index,
                }
            })
            .collect()
    }

    fn stat_pairs(&self) -> &'a [ColumnPair] {
        stat_pairs(self.stats_of, self.keys, self.values)
    }

    /// A builder for one stream of batches (a partition); `partition`
    /// numbers its spill file, or is the source's partition.
    pub fn partition(&self, partition: usize) -> PartitionBuilder<'_, 'a> {
        PartitionBuilder {
            spec: self,
            partition,
            key_slots: self.slots(self.keys),
            value_slots: self.slots(self.values),
            spill: None,
            rows: 0,
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
                if let Some((_, block)) = batch.stored.spill {
                    batch.stored.spill = Some((file, block));
                }
                batches.push(batch);
            }
            for (mine, mut theirs) in stats.iter_mut().zip(part.stats) {
                theirs.shift_batches(offset);
                mine.merge(theirs);
            }
        }
        stats.par_iter_mut().for_each(StatsState::finalize);
        let source = self.source.as_ref().map(|rows| ReadSource {
            rows: Arc::clone(rows),
            side: self.side,
            values: self.values.to_vec(),
            slots: self.slots(self.values),
        });
        Ok(PreparedSide {
            batches,
            exact_keys: self.exact_keys,
            stats_of: self.stats_of,
            stats,
            spills,
            source,
            _spill_dir: self.spill_dir().clone(),
        })
    }
}

/// The columns that get statistics.
fn stat_pairs<'a>(
    stats_of: StatsOf,
    keys: &'a [ColumnPair],
    values: &'a [ColumnPair],
) -> &'a [ColumnPair] {
    match stats_of {
        StatsOf::Nothing => &[],
        StatsOf::Keys => keys,
        StatsOf::Values => values,
    }
}

/// Prepares one partition's batches as they arrive: each is cast, hashed,
/// counted into statistics, and its values spilled (or, for a source read
/// again, where they are noted).
pub struct PartitionBuilder<'s, 'a> {
    spec: &'s SideSpec<'a>,
    partition: usize,
    key_slots: Vec<usize>,
    value_slots: Vec<usize>,
    spill: Option<SpillWriter>,
    /// Rows pushed so far: the next batch's offset in the partition.
    rows: u32,
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
        let first = self.rows;
        self.rows += batch.num_rows() as u32;
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let spec = self.spec;
        let index = self.batches.len() as u32;
        let keys = cast_columns(spec.side, batch, spec.keys, &self.key_slots)?;
        let values = cast_columns(spec.side, batch, spec.values, &self.value_slots)?;
        let mut prepared = prepare_batch(
            spec,
            (index, batch.num_rows()),
            keys,
            &values,
            &mut self.stats,
        )?;
        if spec.source.is_some() {
            prepared.stored.origin = Some((self.partition as u32, first));
            if let Some(read_first) = &spec.read_first {
                hold_values(spec, read_first, &mut prepared, &values)?;
            }
        } else if !spec.values.is_empty() {
            let spill = match &mut self.spill {
                Some(spill) => spill,
                None => self.spill.insert(SpillWriter::create(
                    spec.spill_dir_made()?.path(),
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
            prepared.stored.spill = Some((0, spill.write(values)?));
        }
        self.batches.push(prepared);
        Ok(())
    }
}

/// Keeps in `batch` the `values` of its rows that `read_first` lacks, as
/// if fetched (see `PreparedSide::fetch_values`).
fn hold_values(
    spec: &SideSpec,
    read_first: &RowSet,
    batch: &mut PreparedBatch,
    values: &[ArrayRef],
) -> Result<()> {
    let rows = read_first.missing(&batch.key_hashes, &batch.row_hashes);
    if rows.is_empty() || !spec.may_hold(rows.len()) {
        return Ok(());
    }
    let value_rows = FetchedRows::of_sorted(&rows);
    let indices = UInt32Array::from(rows);
    batch.values = values
        .iter()
        .map(|column| {
            // Copied out of the batch: views into it would keep all of it.
            take(column.as_ref(), &indices, None)
                .map(compact)
                .map_err(|e| Error::compute("cannot keep the values of differing rows", e))
        })
        .collect::<Result<_>>()?;
    batch.value_rows = value_rows;
    Ok(())
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

/// `pairs` of `batch` (at `slots`) cast to their comparison types.
pub(super) fn cast_columns(
    side: Side,
    batch: &RecordBatch,
    pairs: &[ColumnPair],
    slots: &[usize],
) -> Result<Vec<ArrayRef>> {
    pairs
        .iter()
        .zip(slots)
        .map(|(pair, &slot)| {
            to_comparison(batch.column(slot), &pair.compared_as).map_err(|e| {
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
}

/// Hashes the cast `keys` and `values` of batch `index` (of `rows` rows)
/// and counts them into `stats`.
fn prepare_batch(
    spec: &SideSpec,
    (index, rows): (u32, usize),
    keys: Vec<ArrayRef>,
    values: &[ArrayRef],
    stats: &mut [StatsState],
) -> Result<PreparedBatch> {
    let side = spec.side;
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
    let (key_hashes, key_column_hashes) = if spec.exact_keys {
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
    let (row_hashes, value_column_hashes) = hash_columns(values, ROW_SEED)?;
    let stat_columns = match spec.stats_of {
        StatsOf::Nothing => None,
        StatsOf::Keys => Some((keys.as_slice(), &key_column_hashes)),
        StatsOf::Values => Some((values, &value_column_hashes)),
    };
    if let Some((columns, hashes)) = stat_columns {
        let sample = Sample::new(&key_hashes, spec.table_rows);
        let stopped = &spec.counted_approximately;
        for (((state, column), column_hashes), stopped) in
            stats.iter_mut().zip(columns).zip(hashes).zip(stopped)
        {
            if state.counts_exactly() && stopped.load(Ordering::Relaxed) {
                state.stop_counting_exactly();
            }
            state.add_batch(column.as_ref(), column_hashes, index, &sample);
            if !state.counts_exactly() {
                stopped.store(true, Ordering::Relaxed);
            }
        }
    }
    Ok(PreparedBatch {
        keys,
        values: Vec::new(),
        value_rows: FetchedRows::default(),
        stored: Stored::default(),
        key_hashes,
        row_hashes,
    })
}
