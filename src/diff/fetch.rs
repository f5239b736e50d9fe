//! Reading a prepared side's values back, for the rows matching, samples
//! and statistics ask for.
//!
//! While matching runs on hashes, a batch's values are in one of two
//! places: a block of the side's spill file, or the source itself, when it
//! can be read again (see `reread`); a side checked against the side read
//! before it also holds, from its first read, the values of its rows that
//! side lacks. Wanted rows not held are read back with one pass over each
//! spill file, or one read of each source partition that holds any.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, new_empty_array};
use datafusion::arrow::compute::interleave;
use rayon::prelude::*;

use super::fetched_rows::FetchedRows;
use super::position::Pos;
use super::prepare::{PreparedSide, StatsOf, cast_columns};
use super::reread::ReadAgain;
use super::schema::ColumnPair;
use super::spill::compact;
use super::stats::CellSource;
use super::value::cell_to_json;
use crate::error::{Error, Result};
use crate::sides::Side;

/// Where a prepared batch's values can be read back from: neither when
/// the side compares no values.
#[derive(Debug, Default)]
pub struct Stored {
    /// (spill file, block) holding the batch's values.
    pub spill: Option<(usize, usize)>,
    /// Where the batch lies in a source read again: its partition, and
    /// the offset of its first row there.
    pub origin: Option<(u32, u32)>,
}

/// A source read again, and how its columns become the side's values.
pub struct ReadSource {
    pub rows: Arc<dyn ReadAgain>,
    pub side: Side,
    pub values: Vec<ColumnPair>,
    /// The batch column of each value column.
    pub slots: Vec<usize>,
}

impl ReadSource {
    /// The comparison-typed values of rows `offsets` of `partition`.
    fn values(&self, partition: u32, offsets: &[u32]) -> Result<Vec<ArrayRef>> {
        if self.values.is_empty() {
            return Ok(Vec::new());
        }
        let batch = self.rows.rows(partition as usize, offsets)?;
        let values = cast_columns(self.side, &batch, &self.values, &self.slots)?;
        // Views into the decoded pages would keep every page alive.
        Ok(values.into_iter().map(compact).collect())
    }
}

/// Per batch, the rows wanted, ascending.
type Wanted = Vec<Vec<u32>>;

/// Batches of one source partition: (index, offset of its first row).
type Batches = Vec<(usize, u32)>;

impl PreparedSide {
    /// Typed values of statistics column `column`, for `ColumnStats::finish`.
    pub fn stat_cells(&self, column: usize) -> StatCells<'_> {
        StatCells { side: self, column }
    }

    /// Reads the values of `rows` (any order, repeats allowed) back, beside
    /// those a batch holds already (`SideSpec::checked_against`), which are
    /// not read again: one pass over each spill file, one read of each
    /// partition of the source that holds any.
    pub fn fetch_values(&mut self, rows: &[Pos]) -> Result<()> {
        let mut wanted: Wanted = vec![Vec::new(); self.batches.len()];
        for pos in rows {
            wanted[pos.batch as usize].push(pos.row);
        }
        wanted
            .par_iter_mut()
            .zip(&self.batches)
            .for_each(|(rows, batch)| {
                rows.sort_unstable();
                rows.dedup();
                rows.retain(|&row| batch.value_rows.index_of(row).is_none());
            });
        let fetched = match &self.source {
            Some(source) => self.read_source(source, &wanted)?,
            None => self.read_spilled(&wanted)?,
        };
        let empty = self.empty_values();
        for ((batch, rows), values) in self.batches.iter_mut().zip(wanted).zip(fetched) {
            match values {
                Some(mut values) => {
                    let mut rows = rows;
                    if !batch.value_rows.is_empty() {
                        let held = (batch.value_rows.rows(), std::mem::take(&mut batch.values));
                        (rows, values) = merged(held, (rows, values))?;
                    }
                    batch.values = values;
                    batch.value_rows = FetchedRows::of_sorted(&rows);
                }
                None if batch.value_rows.is_empty() => batch.values = empty.clone(),
                None => {}
            }
        }
        Ok(())
    }

    fn empty_values(&self) -> Vec<ArrayRef> {
        match (&self.source, self.spills.first()) {
            (Some(source), _) => source
                .values
                .iter()
                .map(|pair| new_empty_array(&pair.compared_as))
                .collect(),
            (None, Some(spill)) => spill.empty_columns(),
            (None, None) => Vec::new(),
        }
    }

    /// The values of `wanted` rows from the spill, per batch (`None`: none
    /// wanted).
    fn read_spilled(&self, wanted: &Wanted) -> Result<Vec<Option<Vec<ArrayRef>>>> {
        let mut values = vec![None; self.batches.len()];
        if wanted.iter().all(Vec::is_empty) {
            return Ok(values);
        }
        // Per file, the batch of each block.
        let mut blocks: Vec<Vec<usize>> = vec![Vec::new(); self.spills.len()];
        for (index, batch) in self.batches.iter().enumerate() {
            if let Some((file, block)) = batch.stored.spill {
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
                if index != usize::MAX && !wanted[index].is_empty() {
                    values[index] = Some(columns);
                }
            }
        }
        Ok(values)
    }

    /// The values of `wanted` rows from the source, per batch (`None`: none
    /// wanted); one read per partition holding any.
    fn read_source(
        &self,
        source: &ReadSource,
        wanted: &Wanted,
    ) -> Result<Vec<Option<Vec<ArrayRef>>>> {
        let mut values = vec![None; self.batches.len()];
        let mut partitions: BTreeMap<u32, Batches> = BTreeMap::new();
        for (index, batch) in self.batches.iter().enumerate() {
            if wanted[index].is_empty() {
                continue;
            }
            let Some((partition, first)) = batch.stored.origin else {
                return Err(Error::compute(
                    "cannot fetch the values matching needs",
                    "a batch of a source read again does not say where it came from",
                ));
            };
            partitions
                .entry(partition)
                .or_default()
                .push((index, first));
        }
        let fetched: Vec<(Batches, Vec<ArrayRef>)> = partitions
            .into_par_iter()
            .map(|(partition, batches)| {
                // A partition's batches follow each other in its rows, so
                // the offsets come out ascending.
                let offsets: Vec<u32> = batches
                    .iter()
                    .flat_map(|&(index, first)| wanted[index].iter().map(move |row| first + row))
                    .collect();
                Ok((batches, source.values(partition, &offsets)?))
            })
            .collect::<Result<_>>()?;
        for (batches, columns) in fetched {
            let mut at = 0;
            for (index, _) in batches {
                let rows = wanted[index].len();
                values[index] = Some(columns.iter().map(|c| c.slice(at, rows)).collect());
                at += rows;
            }
        }
        Ok(values)
    }
}

/// Two sets of rows of one batch (ascending, disjoint) and their values,
/// as one.
fn merged(
    (held_rows, held): (Vec<u32>, Vec<ArrayRef>),
    (read_rows, read): (Vec<u32>, Vec<ArrayRef>),
) -> Result<(Vec<u32>, Vec<ArrayRef>)> {
    let mut rows = Vec::with_capacity(held_rows.len() + read_rows.len());
    let mut from = Vec::with_capacity(rows.capacity());
    let (mut h, mut r) = (0, 0);
    while h < held_rows.len() || r < read_rows.len() {
        if r == read_rows.len() || (h < held_rows.len() && held_rows[h] < read_rows[r]) {
            rows.push(held_rows[h]);
            from.push((0, h));
            h += 1;
        } else {
            rows.push(read_rows[r]);
            from.push((1, r));
            r += 1;
        }
    }
    let values = held
        .iter()
        .zip(&read)
        .map(|(held, read)| {
            interleave(&[held.as_ref(), read.as_ref()], &from)
                .map(compact)
                .map_err(|e| Error::compute("cannot join the values fetched for a batch", e))
        })
        .collect::<Result<_>>()?;
    Ok((rows, values))
}

/// The cells statistics point at (extremes, top values), read from where
/// the side keeps them.
pub struct StatCells<'a> {
    side: &'a PreparedSide,
    column: usize,
}

impl CellSource for StatCells<'_> {
    fn cell(&self, pos: Pos) -> Result<serde_json::Value> {
        let batch = &self.side.batches[pos.batch as usize];
        let row = pos.row as usize;
        if self.side.stats_of == StatsOf::Keys {
            return Ok(cell_to_json(batch.keys[self.column].as_ref(), row));
        }
        // Statistics point at any row; most are not fetched.
        if let Some(i) = batch.value_rows.index_of(pos.row) {
            return Ok(cell_to_json(batch.values[self.column].as_ref(), i));
        }
        if let Some((file, block)) = batch.stored.spill {
            let column = self.side.spills[file].column(block, self.column)?;
            return Ok(cell_to_json(column.as_ref(), row));
        }
        match (batch.stored.origin, &self.side.source) {
            (Some((partition, first)), Some(source)) => {
                let values = source.values(partition, &[first + pos.row])?;
                Ok(cell_to_json(values[self.column].as_ref(), 0))
            }
            _ => Ok(serde_json::Value::Null),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use datafusion::arrow::array::{AsArray, Int64Array, RecordBatch, UInt32Array};
    use datafusion::arrow::compute::take_record_batch;
    use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema};

    use crate::diff::compare::ColumnRule;
    use crate::diff::position::Pos;
    use crate::diff::prepare::{MatchOn, PreparedSide, SideSpec, StatsOf};
    use crate::diff::reread::ReadAgain;
    use crate::diff::row_set::RowSet;
    use crate::diff::schema::ColumnPair;
    use crate::error::Result;
    use crate::sides::Side;

    /// Partitions held in memory, read again by offset; counts the rows
    /// asked for.
    struct Partitions {
        batches: Vec<RecordBatch>,
        asked: AtomicUsize,
    }

    impl ReadAgain for Partitions {
        fn rows(&self, partition: usize, offsets: &[u32]) -> Result<RecordBatch> {
            self.asked.fetch_add(offsets.len(), Ordering::Relaxed);
            let indices = UInt32Array::from(offsets.to_vec());
            Ok(take_record_batch(&self.batches[partition], &indices).unwrap())
        }
    }

    fn pair(name: &str, index: usize) -> ColumnPair {
        ColumnPair {
            name: name.to_string(),
            prod_index: index,
            candidate_index: index,
            compared_as: DataType::Int64,
            rule: ColumnRule::EXACT,
            own_tolerance: false,
        }
    }

    /// (id, v) rows, one partition per slice.
    fn partitions(rows: &[&[(i64, i64)]]) -> Vec<RecordBatch> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("v", DataType::Int64, false),
        ]));
        rows.iter()
            .map(|rows| {
                let ids = Int64Array::from_iter_values(rows.iter().map(|r| r.0));
                let values = Int64Array::from_iter_values(rows.iter().map(|r| r.1));
                RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(ids), Arc::new(values)])
                    .unwrap()
            })
            .collect()
    }

    /// A side prepared from `partitions` in batches of 16 rows, read
    /// again from them; checked against `read_first` when given.
    fn prepared(
        side: Side,
        partitions: &Arc<Partitions>,
        read_first: Option<&PreparedSide>,
    ) -> PreparedSide {
        let keys = [pair("id", 0)];
        let values = [pair("v", 1)];
        let rows = partitions.batches.iter().map(RecordBatch::num_rows).sum();
        let match_on = MatchOn {
            columns: &keys,
            nulls_excluded: true,
        };
        let mut spec = SideSpec::new(side, &match_on, &values, StatsOf::Nothing, rows)
            .reading_again(Arc::clone(partitions) as Arc<dyn ReadAgain>);
        if let Some(first) = read_first {
            spec = spec.checked_against(Arc::new(RowSet::of(first)));
        }
        let built = partitions
            .batches
            .iter()
            .enumerate()
            .map(|(partition, batch)| {
                let mut builder = spec.partition(partition);
                for at in (0..batch.num_rows()).step_by(16) {
                    builder
                        .push(&batch.slice(at, 16.min(batch.num_rows() - at)))
                        .unwrap();
                }
                builder
            })
            .collect();
        spec.finish(built).unwrap()
    }

    fn source(rows: &[&[(i64, i64)]]) -> Arc<Partitions> {
        Arc::new(Partitions {
            batches: partitions(rows),
            asked: AtomicUsize::new(0),
        })
    }

    /// Every position of `side` with its (id, v), as the batches hold them.
    fn rows_of(side: &PreparedSide, source: &Partitions) -> Vec<(Pos, (i64, i64))> {
        let all: Vec<(i64, i64)> = source
            .batches
            .iter()
            .flat_map(|b| {
                let ids = b.column(0).as_primitive::<Int64Type>().values().to_vec();
                let values = b.column(1).as_primitive::<Int64Type>().values().to_vec();
                ids.into_iter().zip(values)
            })
            .collect();
        let mut at = 0;
        let mut rows = Vec::new();
        for (batch, prepared) in side.batches.iter().enumerate() {
            for row in 0..prepared.num_rows() as u32 {
                rows.push((
                    Pos {
                        batch: batch as u32,
                        row,
                    },
                    all[at],
                ));
                at += 1;
            }
        }
        rows
    }

    /// The fetched value of every position in `rows`.
    fn fetched(side: &PreparedSide, rows: &[Pos]) -> Vec<i64> {
        rows.iter()
            .map(|pos| {
                let batch = &side.batches[pos.batch as usize];
                let values = batch.values[0].as_primitive::<Int64Type>();
                values.value(batch.value_index(pos.row))
            })
            .collect()
    }

    #[test]
    fn a_side_checked_against_the_other_keeps_what_differs_and_reads_only_the_rest() {
        let prod_rows: Vec<(i64, i64)> = (0..200).map(|id| (id, id)).collect();
        let prod_source = source(&[&prod_rows[..100], &prod_rows[100..]]);
        let prod = prepared(Side::Prod, &prod_source, None);

        // Every tenth value changed, ten rows added, and a second copy of
        // prod's row 5 among the changed rows of the first batch.
        let mut rows: Vec<(i64, i64)> = prod_rows
            .iter()
            .map(|&(id, v)| (id, if id % 10 == 3 { v + 1_000 } else { v }))
            .collect();
        rows.insert(4, (5, 5));
        rows.extend((200..210).map(|id| (id, -id)));
        let candidate_source = source(&[&rows[..101], &rows[101..]]);
        let mut candidate = prepared(Side::Candidate, &candidate_source, Some(&prod));
        let all = rows_of(&candidate, &candidate_source);
        let differing: Vec<Pos> = all
            .iter()
            .filter(|(_, (id, v))| *id >= 200 || id % 10 == 3 && *v >= 1_000)
            .map(|(pos, _)| *pos)
            .collect();
        assert_eq!(differing.len(), 30);
        let held: Vec<Pos> = candidate
            .batches
            .iter()
            .enumerate()
            .flat_map(|(batch, b)| {
                b.value_rows.rows().into_iter().map(move |row| Pos {
                    batch: batch as u32,
                    row,
                })
            })
            .collect();
        assert_eq!(held, differing, "rows prod lacks keep their values");

        // The copy of row 5 shares the first batch with held rows: it is
        // read, alone, and joined to them.
        let copy = all.iter().find(|(_, r)| *r == (5, 5)).unwrap().0;
        assert_eq!(copy.batch, 0);
        let wanted: Vec<Pos> = differing.iter().copied().chain([copy]).collect();
        candidate.fetch_values(&wanted).unwrap();
        assert_eq!(candidate_source.asked.load(Ordering::Relaxed), 1);
        let expected: Vec<i64> = wanted
            .iter()
            .map(|pos| all.iter().find(|(p, _)| p == pos).unwrap().1.1)
            .collect();
        assert_eq!(fetched(&candidate, &wanted), expected);
    }

    #[test]
    fn a_side_unlike_the_other_keeps_at_most_half_its_values() {
        let prod_rows: Vec<(i64, i64)> = (0..200).map(|id| (id, id)).collect();
        let prod_source = source(&[&prod_rows[..100], &prod_rows[100..]]);
        let prod = prepared(Side::Prod, &prod_source, None);
        let rows: Vec<(i64, i64)> = prod_rows.iter().map(|&(id, v)| (id, v + 1)).collect();
        let candidate_source = source(&[&rows[..100], &rows[100..]]);
        let mut candidate = prepared(Side::Candidate, &candidate_source, Some(&prod));

        let held: usize = candidate
            .batches
            .iter()
            .map(|b| b.value_rows.rows().len())
            .sum();
        assert!(held > 0 && held <= 100, "{held} rows held");
        let all = rows_of(&candidate, &candidate_source);
        let wanted: Vec<Pos> = all.iter().map(|(pos, _)| *pos).collect();
        candidate.fetch_values(&wanted).unwrap();
        assert_eq!(candidate_source.asked.load(Ordering::Relaxed), 200 - held);
        let expected: Vec<i64> = all.iter().map(|(_, (_, v))| *v).collect();
        assert_eq!(fetched(&candidate, &wanted), expected);
    }
}
