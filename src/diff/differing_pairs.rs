//! Paired rows whose row hashes differ, compared column by column.
//!
//! Matching collects every range's pairs first; then, one column at a time,
//! the cells of the pairs are gathered into two contiguous arrays (one per
//! side), Arrow's `distinct` kernel finds the cells that differ in any bit,
//! and only those go through the cell comparison, where tolerances, NaN and
//! signed zeros are handled. Most cells of a changed row are equal: they
//! cost one vectorised comparison instead of a type dispatch and two random
//! reads each.
//!
//! Pairs are gathered in prod's row order, not in the key-hash order
//! matching finds them in: prod's fetched values are then read front to
//! back, and the candidate's, read in its own order, are one column of the
//! fetched rows at a time, small enough for the cache to hold while that
//! column's chunks are compared. In key-hash order every cell was a cache
//! miss: on 1,500,000 changed pairs, gathering was a sixth of the diff's
//! CPU time.
//!
//! `distinct` treats floats by IEEE 754 total order, so it never calls two
//! cells equal that the cell comparison would not: it only filters.

use std::ops::Range;

use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::arrow::compute::interleave;
use datafusion::arrow::compute::kernels::cmp::distinct;
use rayon::prelude::*;

use super::compare::{Outcome, compare};
use super::matching::{ColumnTally, MatchConfig, MatchResult};
use super::position::Pos;
use super::prepare::PreparedSide;

/// Pairs per (column, chunk) task: enough to amortise a task, few enough
/// that both threads have work on a single column.
const CHUNK: usize = if cfg!(test) { 16 } else { 1 << 16 };

/// Where one side's cells of the pairs are, in compare order: (batch, row
/// among the batch's fetched values).
struct Cells {
    at: Vec<(u32, u32)>,
}

impl Cells {
    fn of(side: &PreparedSide, rows: impl IndexedParallelIterator<Item = Pos>) -> Self {
        let at = rows
            .map(|pos| {
                let batch = &side.batches[pos.batch as usize];
                (pos.batch, batch.value_index(pos.row) as u32)
            })
            .collect();
        Cells { at }
    }

    /// Column `column` of the pairs `range`, in compare order. Only the
    /// batches the range reaches are handed to `interleave`, which looks at
    /// every array it is given.
    fn column(&self, side: &PreparedSide, column: usize, range: Range<usize>) -> Option<ArrayRef> {
        let mut slot_of_batch = vec![usize::MAX; side.batches.len()];
        let mut arrays: Vec<&dyn Array> = Vec::new();
        let indices: Vec<(usize, usize)> = self.at[range]
            .iter()
            .map(|&(batch, row)| {
                let slot = &mut slot_of_batch[batch as usize];
                if *slot == usize::MAX {
                    *slot = arrays.len();
                    arrays.push(side.batches[batch as usize].values[column].as_ref());
                }
                (*slot, row as usize)
            })
            .collect();
        interleave(&arrays, &indices).ok()
    }

    /// The array and row of pair `k`'s cell of `column`.
    fn cell<'a>(&self, side: &'a PreparedSide, column: usize, k: usize) -> (&'a dyn Array, usize) {
        let (batch, row) = self.at[k];
        (
            side.batches[batch as usize].values[column].as_ref(),
            row as usize,
        )
    }
}

/// One column's outcomes over one chunk of pairs.
struct ColumnChunk {
    column: usize,
    /// The chunk's first pair in compare order.
    start: usize,
    tally: ColumnTally,
    /// Pairs whose cells are unequal, as offsets from `start`.
    unequal: Vec<u32>,
}

/// Both sides' cells of the pairs, in compare order.
struct Gathered<'a> {
    prod: &'a PreparedSide,
    candidate: &'a PreparedSide,
    prod_cells: Cells,
    candidate_cells: Cells,
}

impl Gathered<'_> {
    fn compare_chunk(
        &self,
        column: usize,
        range: Range<usize>,
        config: &MatchConfig,
    ) -> ColumnChunk {
        let rule = &config.rules[column];
        let mut chunk = ColumnChunk {
            column,
            start: range.start,
            tally: ColumnTally::default(),
            unequal: Vec::new(),
        };
        // `k`: the pair's offset in the chunk (at most `CHUNK`).
        let mut record = |k: usize, outcome: Outcome| {
            if outcome.is_unequal() {
                chunk.unequal.push(k as u32);
            }
            chunk.tally.add(outcome);
        };
        let gathered = self
            .prod_cells
            .column(self.prod, column, range.clone())
            .zip(
                self.candidate_cells
                    .column(self.candidate, column, range.clone()),
            );
        match gathered {
            Some((a, b)) => {
                let compare_at = |k: usize| compare(a.as_ref(), k, b.as_ref(), k, rule);
                match distinct(&a, &b) {
                    Ok(differs) => differs
                        .values()
                        .set_indices()
                        .for_each(|k| record(k, compare_at(k))),
                    // Nested types have no `distinct`: every cell is compared.
                    Err(_) => (0..range.len()).for_each(|k| record(k, compare_at(k))),
                }
            }
            // Gathering cannot fail for arrays of one type; should it, the
            // cells are read where they are.
            None => {
                for (offset, k) in range.enumerate() {
                    let (a, i) = self.prod_cells.cell(self.prod, column, k);
                    let (b, j) = self.candidate_cells.cell(self.candidate, column, k);
                    record(offset, compare(a, i, b, j, rule));
                }
            }
        }
        chunk
    }
}

/// The pairs' indices in prod's row order.
fn in_prod_order(pairs: &[(Pos, Pos)]) -> Vec<usize> {
    let mut keyed: Vec<(Pos, usize)> = pairs
        .par_iter()
        .enumerate()
        .map(|(i, (p, _))| (*p, i))
        .collect();
    keyed.par_sort_unstable();
    keyed.into_par_iter().map(|(_, i)| i).collect()
}

/// Compares `pairs` (prod, candidate positions, row hashes unequal) and adds
/// each to `result`: changed, or within tolerance; per-column outcomes go to
/// the column tallies. Pairs keep their order in `changed_pairs`.
pub fn compare_pairs(
    prod: &PreparedSide,
    candidate: &PreparedSide,
    pairs: &[(Pos, Pos)],
    config: &MatchConfig,
    result: &mut MatchResult,
) {
    if pairs.is_empty() {
        return;
    }
    let order = in_prod_order(pairs);
    let gathered = Gathered {
        prod,
        candidate,
        prod_cells: Cells::of(prod, order.par_iter().map(|&i| pairs[i].0)),
        candidate_cells: Cells::of(candidate, order.par_iter().map(|&i| pairs[i].1)),
    };
    let n = pairs.len();
    // Column-major, so that a thread stays on one column's arrays.
    let tasks: Vec<(usize, Range<usize>)> = (0..config.rules.len())
        .flat_map(|column| {
            (0..n)
                .step_by(CHUNK)
                .map(move |start| (column, start..n.min(start + CHUNK)))
        })
        .collect();
    let chunks: Vec<ColumnChunk> = tasks
        .into_par_iter()
        .map(|(column, range)| gathered.compare_chunk(column, range, config))
        .collect();

    let sets = config.ignore_sets;
    // Per pair (in the pairs' own order): unequal in any column; per ignore
    // set, unequal in a column the set keeps.
    let mut changed = vec![false; n];
    let mut still_changed = vec![vec![false; n]; sets.len()];
    for chunk in chunks {
        result.columns[chunk.column].merge(&chunk.tally);
        for &offset in &chunk.unequal {
            let pair = order[chunk.start + offset as usize];
            changed[pair] = true;
            for (flags, set) in still_changed.iter_mut().zip(sets) {
                flags[pair] |= !set[chunk.column];
            }
        }
    }
    for (pair, changed) in pairs.iter().zip(changed) {
        if changed {
            result.changed += 1;
            result.changed_pairs.push(*pair);
        } else {
            result.within_tolerance += 1;
        }
    }
    for (count, flags) in result.changed_ignoring.iter_mut().zip(still_changed) {
        *count += flags.iter().filter(|f| **f).count() as u64;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Float64Array, Int64Array, RecordBatch, StringViewArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use crate::diff::compare::{ColumnRule, Tolerance};
    use crate::diff::{DiffOptions, diff_tables};
    use crate::input::Table;

    /// Rows `ids` in batches of `per_batch`, so pairs reach many batches;
    /// the candidate's values are the prod values bent by `bend`.
    fn table(ids: &[i64], per_batch: usize, bend: bool) -> Table {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("x", DataType::Float64, true),
            Field::new("s", DataType::Utf8View, true),
        ]));
        let x = |i: i64| match (i % 5, bend) {
            (0, _) => None,
            (1, true) => Some(f64::NAN),
            (1, false) => Some(f64::NAN),
            (2, true) => Some(-0.0),
            (2, false) => Some(0.0),
            (3, true) => Some(i as f64 + 0.05),
            (4, true) => Some(i as f64 + 1.0),
            (_, _) => Some(i as f64),
        };
        let s = |i: i64| match (i % 3, bend) {
            (0, true) => Some(format!("v{}", i + 1)),
            (1, true) => None,
            _ => Some(format!("v{i}")),
        };
        let batches = ids
            .chunks(per_batch)
            .map(|ids| {
                RecordBatch::try_new(
                    Arc::clone(&schema),
                    vec![
                        Arc::new(Int64Array::from(ids.to_vec())),
                        Arc::new(ids.iter().map(|i| x(*i)).collect::<Float64Array>()),
                        Arc::new(ids.iter().map(|i| s(*i)).collect::<StringViewArray>()),
                    ],
                )
                .unwrap()
            })
            .collect();
        Table::from_batches(if bend { "c" } else { "p" }, schema, batches)
    }

    #[test]
    fn column_wise_outcomes_equal_cell_by_cell_ones() {
        let n = 300;
        let tolerance = Tolerance {
            abs: 0.1,
            ..Default::default()
        };
        let options = DiffOptions {
            key: vec!["id".into()],
            column_tolerances: [("x".to_string(), tolerance)].into(),
            changed_ignoring: vec![vec!["s".into()]],
            ..Default::default()
        };
        // The candidate in another order and other batches, so compare
        // order (prod's rows) is not the candidate's; unit tests compare
        // pairs in chunks of 16, so many chunks.
        let ids: Vec<i64> = (0..n).collect();
        let reversed: Vec<i64> = ids.iter().rev().copied().collect();
        let (prod, candidate) = (table(&ids, 7, false), table(&reversed, 5, true));
        let diff = diff_tables(&prod, &candidate, &options).unwrap();
        let (prod, candidate) = (table(&ids, 7, false), table(&ids, 7, true));
        // The oracle: every row's cells through the cell comparison.
        let rules = [
            ColumnRule {
                tolerance,
                ..ColumnRule::EXACT
            },
            ColumnRule::EXACT,
        ];
        let (mut unequal, mut within, mut changed, mut changed_without_s) = ([0; 2], [0; 2], 0, 0);
        for (p, c) in prod.batches.iter().zip(&candidate.batches) {
            for row in 0..p.num_rows() {
                let outcomes: Vec<_> = (0..2)
                    .map(|col| {
                        let (a, b) = (p.column(col + 1), c.column(col + 1));
                        super::compare(a.as_ref(), row, b.as_ref(), row, &rules[col])
                    })
                    .collect();
                for (col, outcome) in outcomes.iter().enumerate() {
                    unequal[col] += u64::from(outcome.is_unequal());
                    within[col] += u64::from(*outcome == super::Outcome::WithinTolerance);
                }
                changed += u64::from(outcomes.iter().any(|o| o.is_unequal()));
                changed_without_s += u64::from(outcomes[0].is_unequal());
            }
        }
        assert!(changed_without_s > 0 && changed_without_s < changed && within[0] > 0);
        assert!(
            changed as usize > 4 * super::CHUNK,
            "pairs span several chunks"
        );
        assert_eq!(diff.rows.changed, changed);
        assert_eq!(diff.rows.changed_ignoring[0].changed, changed_without_s);
        for (col, column) in diff.columns.iter().enumerate() {
            let tallies = (column.unequal, column.within_tolerance);
            assert_eq!(tallies, (unequal[col], within[col]), "{}", column.name);
        }
        assert_eq!(
            diff.rows.identical + diff.rows.within_tolerance + diff.rows.changed,
            n as u64
        );
    }
}
