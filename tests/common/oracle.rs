//! A second, naive computation of a keyed diff's row classes, written from
//! DESIGN's definitions and sharing no code with dualrun: rows grouped by key
//! in a map, identical rows taken out per key as a multiset, the rest paired
//! and compared cell by cell with the tolerance formula. Where the pairing
//! of a key's leftover rows could go more than one way (two or more left on
//! a side), the oracle does not guess: it counts those pairs as
//! `ambiguous`, and `assert_rows` allows them either class.

#![allow(dead_code)]

use std::collections::BTreeMap;

/// One cell, typed as far as equality and tolerances need.
#[derive(Debug, Clone)]
pub enum Cell {
    Null,
    Int(i64),
    Float(f64),
    Text(String),
}

impl Cell {
    /// Equal by DESIGN section 4: NULL equals NULL, NaN equals NaN, -0.0
    /// equals 0.0.
    fn equals(&self, other: &Cell) -> bool {
        match (self, other) {
            (Cell::Null, Cell::Null) => true,
            (Cell::Int(a), Cell::Int(b)) => a == b,
            (Cell::Float(a), Cell::Float(b)) => a == b || (a.is_nan() && b.is_nan()),
            (Cell::Text(a), Cell::Text(b)) => a == b,
            _ => false,
        }
    }

    /// A stable text for grouping keys (keys are never floats here).
    fn key_text(&self) -> String {
        match self {
            Cell::Null => "null".into(),
            Cell::Int(i) => format!("i{i}"),
            Cell::Float(f) => format!("f{}", if *f == 0.0 { 0.0 } else { *f }),
            Cell::Text(s) => format!("t{}:{s}", s.len()),
        }
    }
}

/// A row: its key cells and its value cells (compared columns only).
#[derive(Debug, Clone)]
pub struct Row {
    pub key: Vec<Cell>,
    pub values: Vec<Cell>,
}

/// `|a - b| <= abs + rel * max(|a|, |b|)` for one value column.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tolerance {
    pub abs: f64,
    pub rel: f64,
}

/// The row classes, as the report names them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    pub prod: u64,
    pub candidate: u64,
    pub identical: u64,
    pub within_tolerance: u64,
    pub changed: u64,
    pub removed: u64,
    pub added: u64,
    pub duplicate_keys: [u64; 2],
    pub null_keys: [u64; 2],
    /// Pairs of rows whose class depends on how leftovers pair up.
    pub ambiguous: u64,
}

fn rows_equal(a: &Row, b: &Row) -> bool {
    a.values.iter().zip(&b.values).all(|(x, y)| x.equals(y))
}

/// Whether a paired row is within tolerance (true) or changed (false).
fn within_tolerance(a: &Row, b: &Row, tolerances: &[Option<Tolerance>]) -> bool {
    a.values
        .iter()
        .zip(&b.values)
        .zip(tolerances)
        .all(|((x, y), tolerance)| {
            x.equals(y)
                || match (x, y, tolerance) {
                    (Cell::Float(a), Cell::Float(b), Some(t)) if a.is_finite() && b.is_finite() => {
                        (a - b).abs() <= t.abs + t.rel * a.abs().max(b.abs())
                    }
                    (Cell::Int(a), Cell::Int(b), Some(t)) => {
                        let (a, b) = (*a as f64, *b as f64);
                        (a - b).abs() <= t.abs + t.rel * a.abs().max(b.abs())
                    }
                    _ => false,
                }
        })
}

/// The keyed diff of `prod` and `candidate`; `tolerances` has one entry per
/// value column.
pub fn keyed_counts(prod: &[Row], candidate: &[Row], tolerances: &[Option<Tolerance>]) -> Counts {
    let mut counts = Counts {
        prod: prod.len() as u64,
        candidate: candidate.len() as u64,
        ..Default::default()
    };
    let mut groups: BTreeMap<Vec<String>, [Vec<&Row>; 2]> = BTreeMap::new();
    for (side, rows) in [prod, candidate].into_iter().enumerate() {
        for row in rows {
            if row.key.iter().any(|k| matches!(k, Cell::Null)) {
                counts.null_keys[side] += 1;
                continue;
            }
            let key = row.key.iter().map(Cell::key_text).collect();
            groups.entry(key).or_default()[side].push(row);
        }
    }
    for [prod_rows, mut candidate_rows] in groups.into_values() {
        for (side, rows) in [&prod_rows, &candidate_rows].into_iter().enumerate() {
            if rows.len() > 1 {
                counts.duplicate_keys[side] += 1;
            }
        }
        let mut prod_left = Vec::new();
        for p in prod_rows {
            match candidate_rows.iter().position(|c| rows_equal(p, c)) {
                Some(i) => {
                    candidate_rows.swap_remove(i);
                    counts.identical += 1;
                }
                None => prod_left.push(p),
            }
        }
        let pairs = prod_left.len().min(candidate_rows.len()) as u64;
        counts.removed += prod_left.len() as u64 - pairs;
        counts.added += candidate_rows.len() as u64 - pairs;
        if pairs == 0 {
            continue;
        }
        if prod_left.len() > 1 || candidate_rows.len() > 1 {
            counts.ambiguous += pairs;
        } else if within_tolerance(prod_left[0], candidate_rows[0], tolerances) {
            counts.within_tolerance += 1;
        } else {
            counts.changed += 1;
        }
    }
    counts
}

/// A report's `rows` object agrees with the oracle: every class exactly,
/// except that ambiguous pairs may be changed or within tolerance.
pub fn assert_rows(rows: &serde_json::Value, expected: &Counts) {
    let get = |path: &[&str]| {
        path.iter()
            .fold(rows, |v, p| &v[*p])
            .as_u64()
            .unwrap_or_else(|| panic!("{path:?} in {rows}"))
    };
    assert_eq!(get(&["prod"]), expected.prod, "prod rows in {rows}");
    assert_eq!(
        get(&["candidate"]),
        expected.candidate,
        "candidate rows in {rows}"
    );
    assert_eq!(
        get(&["identical"]),
        expected.identical,
        "identical in {rows}"
    );
    assert_eq!(get(&["removed"]), expected.removed, "removed in {rows}");
    assert_eq!(get(&["added"]), expected.added, "added in {rows}");
    for (side, name) in ["prod", "candidate"].into_iter().enumerate() {
        assert_eq!(
            get(&["duplicate_keys", name]),
            expected.duplicate_keys[side],
            "duplicate keys ({name}) in {rows}"
        );
        assert_eq!(
            get(&["null_keys", name]),
            expected.null_keys[side],
            "NULL keys ({name}) in {rows}"
        );
    }
    let (changed, within) = (get(&["changed"]), get(&["within_tolerance"]));
    assert_eq!(
        changed + within,
        expected.changed + expected.within_tolerance + expected.ambiguous,
        "paired rows that differ, in {rows} vs {expected:?}"
    );
    assert!(
        (expected.within_tolerance..=expected.within_tolerance + expected.ambiguous)
            .contains(&within),
        "within tolerance in {rows} vs {expected:?}"
    );
}

/// The rows of Parquet files, cell by cell as the oracle compares them:
/// integers, floats and text (every other type by its display text), and
/// `key` columns split from the values, which keep their file order.
pub fn parquet_rows(paths: &[&std::path::Path], key: &[&str]) -> (Vec<String>, Vec<Row>) {
    use datafusion::arrow::array::{Array, Float64Array, Int64Array, StringArray};
    use datafusion::arrow::datatypes::DataType;
    use datafusion::arrow::util::display::array_value_to_string;
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let mut names = Vec::new();
    let mut rows = Vec::new();
    for path in paths {
        let file = std::fs::File::open(path).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let schema = batch.schema();
            names = schema
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .filter(|n| !key.contains(&n.as_str()))
                .collect();
            let cell = |column: &dyn Array, row: usize| -> Cell {
                if column.is_null(row) {
                    return Cell::Null;
                }
                match column.data_type() {
                    DataType::Int64 => Cell::Int(
                        column
                            .as_any()
                            .downcast_ref::<Int64Array>()
                            .unwrap()
                            .value(row),
                    ),
                    DataType::Float64 => Cell::Float(
                        column
                            .as_any()
                            .downcast_ref::<Float64Array>()
                            .unwrap()
                            .value(row),
                    ),
                    DataType::Utf8 => Cell::Text(
                        column
                            .as_any()
                            .downcast_ref::<StringArray>()
                            .unwrap()
                            .value(row)
                            .into(),
                    ),
                    _ => Cell::Text(array_value_to_string(column, row).unwrap()),
                }
            };
            for row in 0..batch.num_rows() {
                let mut out = Row {
                    key: Vec::new(),
                    values: Vec::new(),
                };
                for (field, column) in schema.fields().iter().zip(batch.columns()) {
                    let value = cell(column.as_ref(), row);
                    if key.contains(&field.name().as_str()) {
                        out.key.push(value);
                    } else {
                        out.values.push(value);
                    }
                }
                rows.push(out);
            }
        }
    }
    (names, rows)
}
