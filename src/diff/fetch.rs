//! Reading a prepared side's values back, for the rows matching, samples
//! and statistics ask for.
//!
//! While matching runs on hashes, a batch's values are in one of two
//! places: a block of the side's spill file, or the source itself, when it
//! can be read again (see `reread`). Wanted rows are read back with one
//! pass over each spill file, or one read of each source partition that
//! holds any.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, new_empty_array};
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

    /// Reads the values of `rows` (any order, repeats allowed) back,
    /// replacing what was fetched before: one pass over each spill file,
    /// one read of each partition of the source that holds any.
    pub fn fetch_values(&mut self, rows: &[Pos]) -> Result<()> {
        let mut wanted: Wanted = vec![Vec::new(); self.batches.len()];
        for pos in rows {
            wanted[pos.batch as usize].push(pos.row);
        }
        wanted.par_iter_mut().for_each(|rows| {
            rows.sort_unstable();
            rows.dedup();
        });
        let fetched = match &self.source {
            Some(source) => self.read_source(source, &wanted)?,
            None => self.read_spilled(&wanted)?,
        };
        let empty = self.empty_values();
        for ((batch, rows), values) in self.batches.iter_mut().zip(wanted).zip(fetched) {
            batch.values = values.unwrap_or_else(|| empty.clone());
            batch.value_rows = FetchedRows::of_sorted(&rows);
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
