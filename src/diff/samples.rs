//! Sample rows for the report: the first N changed, added and removed rows
//! in key order, as typed JSON values.

use std::cmp::Ordering;

use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::arrow::compute::interleave;
use datafusion::arrow::row::{RowConverter, SortField};
use serde_json::{Map, Value, json};

use super::compare::{ColumnRule, compare};
use super::matching::Pos;
use super::prepare::{PreparedBatch, PreparedSide};
use super::result::{ChangedRow, SampleRow};
use super::value::cell_to_json;
use crate::error::{Error, Result};

/// Names of the matching and value columns, for sample maps.
pub struct SampleColumns<'a> {
    pub keys: &'a [String],
    pub values: &'a [String],
    pub rules: &'a [ColumnRule],
    /// Whole-row diff: the matching columns are the row, not a key.
    pub keyed: bool,
}

/// Indices of the first `n` of `positions` in key order (ties keep their
/// order).
pub fn first_in_key_order(side: &PreparedSide, positions: &[Pos], n: usize) -> Result<Vec<usize>> {
    let Some(first) = side.batches.first() else {
        return Ok(Vec::new());
    };
    if positions.is_empty() || n == 0 {
        return Ok(Vec::new());
    }
    if first.keys.is_empty() {
        return Ok((0..positions.len().min(n)).collect());
    }
    let error = |e| Error::compute("cannot order sample rows", e);
    let indices: Vec<(usize, usize)> = positions
        .iter()
        .map(|p| (p.batch as usize, p.row as usize))
        .collect();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(first.keys.len());
    for k in 0..first.keys.len() {
        let arrays: Vec<&dyn Array> = side.batches.iter().map(|b| b.keys[k].as_ref()).collect();
        columns.push(interleave(&arrays, &indices).map_err(error)?);
    }
    let fields = columns
        .iter()
        .map(|c| SortField::new(c.data_type().clone()))
        .collect();
    let Ok(converter) = RowConverter::new(fields) else {
        // A type without an order (e.g. a map key): report in matching order.
        return Ok((0..positions.len().min(n)).collect());
    };
    let rows = converter.convert_columns(&columns).map_err(error)?;
    Ok(smallest(positions.len(), n, |a, b| {
        rows.row(a).cmp(&rows.row(b)).then(a.cmp(&b))
    }))
}

/// The `n` smallest of `0..len` by `order` (a total order), ascending.
///
/// Where many rows changed (a million and more), sorting them all to show
/// the first few was a tenth of a diff: selecting the `n` first is linear.
fn smallest(len: usize, n: usize, order: impl Fn(usize, usize) -> Ordering) -> Vec<usize> {
    let mut indices: Vec<usize> = (0..len).collect();
    if n < len {
        indices.select_nth_unstable_by(n, |&a, &b| order(a, b));
        indices.truncate(n);
    }
    indices.sort_unstable_by(|&a, &b| order(a, b));
    indices
}

fn row_map(names: &[String], columns: &[ArrayRef], row: usize) -> Map<String, Value> {
    names
        .iter()
        .zip(columns)
        .map(|(name, column)| (name.clone(), cell_to_json(column.as_ref(), row)))
        .collect()
}

fn batch(side: &PreparedSide, pos: Pos) -> &PreparedBatch {
    &side.batches[pos.batch as usize]
}

pub fn changed_rows(
    prod: &PreparedSide,
    candidate: &PreparedSide,
    pairs: &[(Pos, Pos)],
    columns: &SampleColumns,
) -> Vec<ChangedRow> {
    pairs
        .iter()
        .map(|&(p, c)| {
            let (pb, cb) = (batch(prod, p), batch(candidate, c));
            let (pr, cr) = (pb.value_index(p.row), cb.value_index(c.row));
            let mut unequal = Map::new();
            for (i, name) in columns.values.iter().enumerate() {
                let (a, b) = (pb.values[i].as_ref(), cb.values[i].as_ref());
                if compare(a, pr, b, cr, &columns.rules[i]).is_unequal() {
                    unequal.insert(
                        name.clone(),
                        json!({"prod": cell_to_json(a, pr), "candidate": cell_to_json(b, cr)}),
                    );
                }
            }
            ChangedRow {
                key: row_map(columns.keys, &pb.keys, p.row as usize),
                columns: unequal,
            }
        })
        .collect()
}

/// Added rows (from the candidate) or removed rows (from prod).
pub fn whole_rows(
    side: &PreparedSide,
    positions: &[Pos],
    columns: &SampleColumns,
) -> Vec<SampleRow> {
    positions
        .iter()
        .map(|&pos| {
            let b = batch(side, pos);
            let row = pos.row as usize;
            let keys = row_map(columns.keys, &b.keys, row);
            if columns.keyed {
                let values = if columns.values.is_empty() {
                    Map::new()
                } else {
                    row_map(columns.values, &b.values, b.value_index(pos.row))
                };
                SampleRow { key: keys, values }
            } else {
                SampleRow {
                    key: Map::new(),
                    values: keys,
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::smallest;

    #[test]
    fn the_smallest_come_in_order_with_ties_in_their_first_order() {
        // A shuffled multiset with many ties, against a full stable sort.
        let keys: Vec<u64> = (0..1_000u64).map(|i| (i * 7919) % 97).collect();
        let mut sorted: Vec<usize> = (0..keys.len()).collect();
        sorted.sort_by_key(|&i| keys[i]);
        for n in [0, 1, 5, 96, 97, 500, 999, 1_000, 5_000] {
            let first = smallest(keys.len(), n, |a, b| keys[a].cmp(&keys[b]).then(a.cmp(&b)));
            assert_eq!(first, sorted[..n.min(keys.len())], "n = {n}");
        }
    }
}
