//! Properties of the diff that must hold for any table: a shuffled copy is
//! identical, swapping sides swaps added and removed, injected changes are
//! found exactly, row classes add up, and one thread equals many.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::common::{oracle, shuffled, table};
use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use dualrun::{DiffOptions, TableDiff, diff_tables};
use proptest::prelude::*;

#[derive(Debug, Clone, PartialEq)]
struct Row {
    id: i64,
    count: Option<i64>,
    price: Option<f64>,
    label: Option<String>,
}

fn row_strategy() -> impl Strategy<Value = Row> {
    (
        any::<i64>(),
        proptest::option::of(-5i64..5),
        proptest::option::of(prop_oneof![
            Just(f64::NAN),
            Just(-0.0),
            Just(0.0),
            -1e6f64..1e6
        ]),
        proptest::option::of("[a-c,]{0,3}"),
    )
        .prop_map(|(id, count, price, label)| Row {
            id,
            count,
            price,
            label,
        })
}

/// Rows with unique ids.
fn rows_strategy(max: usize) -> impl Strategy<Value = Vec<Row>> {
    proptest::collection::vec(row_strategy(), 0..max).prop_map(|rows| {
        let mut seen = BTreeSet::new();
        rows.into_iter().filter(|r| seen.insert(r.id)).collect()
    })
}

/// Rows as record batches of `batch_size` rows (at least one batch).
fn batches(rows: &[Row], batch_size: usize) -> Vec<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("count", DataType::Int64, true),
        Field::new("price", DataType::Float64, true),
        Field::new("label", DataType::Utf8, true),
    ]));
    let chunks: Vec<&[Row]> = if rows.is_empty() {
        vec![rows]
    } else {
        rows.chunks(batch_size.max(1)).collect()
    };
    chunks
        .into_iter()
        .map(|chunk| {
            let columns: Vec<ArrayRef> = vec![
                Arc::new(Int64Array::from_iter_values(chunk.iter().map(|r| r.id))),
                Arc::new(Int64Array::from_iter(chunk.iter().map(|r| r.count))),
                Arc::new(Float64Array::from_iter(chunk.iter().map(|r| r.price))),
                Arc::new(StringArray::from_iter(
                    chunk.iter().map(|r| r.label.clone()),
                )),
            ];
            RecordBatch::try_new(Arc::clone(&schema), columns).unwrap()
        })
        .collect()
}

fn diff(prod: &[Row], candidate: &[Row], key: bool) -> TableDiff {
    diff_sized(prod, candidate, key, 7)
}

fn diff_sized(prod: &[Row], candidate: &[Row], key: bool, batch_size: usize) -> TableDiff {
    let options = DiffOptions {
        key: if key { vec!["id".into()] } else { Vec::new() },
        sample: 5,
        ..Default::default()
    };
    diff_tables(
        &table("prod", batches(prod, batch_size)),
        &table("candidate", batches(candidate, batch_size)),
        &options,
    )
    .unwrap()
}

fn assert_classes_add_up(d: &TableDiff) {
    let r = &d.rows;
    let matched = r.identical + r.within_tolerance + r.changed;
    assert_eq!(matched + r.removed + r.null_keys.prod, r.prod, "{r:?}");
    assert_eq!(
        matched + r.added + r.null_keys.candidate,
        r.candidate,
        "{r:?}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_shuffled_copy_is_identical(rows in rows_strategy(120), seed in any::<u64>(), keyed in any::<bool>()) {
        let d = diff(&rows, &shuffled(&rows, seed), keyed);
        prop_assert_eq!(d.rows.identical, rows.len() as u64);
        prop_assert_eq!(d.rows.changed + d.rows.added + d.rows.removed, 0);
        prop_assert!(!d.differs());
    }

    #[test]
    fn swapping_sides_swaps_added_and_removed(a in rows_strategy(80), b in rows_strategy(80), keyed in any::<bool>()) {
        let forward = diff(&a, &b, keyed);
        let backward = diff(&b, &a, keyed);
        prop_assert_eq!(forward.rows.added, backward.rows.removed);
        prop_assert_eq!(forward.rows.removed, backward.rows.added);
        prop_assert_eq!(forward.rows.changed, backward.rows.changed);
        prop_assert_eq!(forward.rows.identical, backward.rows.identical);
        assert_classes_add_up(&forward);
        assert_classes_add_up(&backward);
    }

    #[test]
    fn injected_changes_are_found_exactly(
        rows in rows_strategy(150),
        picks in proptest::collection::vec(0u8..4, 150),
        seed in any::<u64>(),
    ) {
        // 0 keep, 1 change `count`, 2 remove, 3 change `label`; plus new rows.
        let mut candidate = Vec::new();
        let (mut changed, mut removed) = (0u64, 0u64);
        for (row, pick) in rows.iter().zip(picks.iter().chain(std::iter::repeat(&0))) {
            let mut row = row.clone();
            match pick {
                1 => { row.count = Some(row.count.map_or(100, |c| c + 1000)); changed += 1; }
                2 => { removed += 1; continue; }
                3 => { row.label = Some(format!("{}!", row.label.unwrap_or_default())); changed += 1; }
                _ => {}
            }
            candidate.push(row);
        }
        let used: BTreeSet<i64> = rows.iter().map(|r| r.id).collect();
        let added: Vec<Row> = (0..(seed % 5) as i64)
            .map(|i| i64::MIN + i)
            .filter(|id| !used.contains(id))
            .map(|id| Row { id, count: None, price: Some(1.0), label: None })
            .collect();
        candidate.extend(added.iter().cloned());
        let d = diff(&rows, &shuffled(&candidate, seed), true);
        prop_assert_eq!(d.rows.changed, changed);
        prop_assert_eq!(d.rows.removed, removed);
        prop_assert_eq!(d.rows.added, added.len() as u64);
        prop_assert_eq!(d.rows.identical, rows.len() as u64 - changed - removed);
        let unequal: u64 = d.columns.iter().map(|c| c.unequal).sum();
        prop_assert_eq!(unequal, changed);
    }

    #[test]
    fn duplicates_are_never_cross_multiplied(rows in rows_strategy(40), copies in 1usize..4) {
        // Every row `copies` times in prod, once in the candidate.
        let prod: Vec<Row> = rows.iter().flat_map(|r| std::iter::repeat_n(r.clone(), copies)).collect();
        let d = diff(&prod, &rows, true);
        prop_assert_eq!(d.rows.identical, rows.len() as u64);
        prop_assert_eq!(d.rows.removed, (rows.len() * (copies - 1)) as u64);
        prop_assert_eq!(d.rows.duplicate_keys.prod, if copies > 1 { rows.len() as u64 } else { 0 });
        assert_classes_add_up(&d);
    }

    #[test]
    fn one_thread_equals_many(a in rows_strategy(200), b in rows_strategy(200), keyed in any::<bool>(), batch_size in 1usize..50) {
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let d = pool.install(|| diff_sized(&a, &b, keyed, batch_size));
            serde_json::to_string(&d).unwrap()
        };
        let one = run(1);
        prop_assert_eq!(&one, &run(4));
        // Batch boundaries do not matter either.
        let other_batches = serde_json::to_string(&diff_sized(&a, &b, keyed, 1000)).unwrap();
        prop_assert_eq!(&one, &other_batches);
    }
}

/// A row with a compound key (a short string and a small integer, either
/// NULL now and then, so keys repeat and NULL keys occur on both sides)
/// and values with the hard floats: NaN, -0.0 and 0.0.
#[derive(Debug, Clone)]
struct KeyedRow {
    region: Option<String>,
    n: Option<i64>,
    price: Option<f64>,
    label: Option<String>,
}

fn keyed_row() -> impl Strategy<Value = KeyedRow> {
    (
        proptest::option::weighted(0.93, "[ab]{0,2}"),
        proptest::option::weighted(0.93, 0i64..6),
        proptest::option::of(prop_oneof![
            Just(f64::NAN),
            Just(-0.0),
            Just(0.0),
            (-40i32..40).prop_map(|i| i as f64 / 4.0),
        ]),
        proptest::option::of("[xy]{0,2}"),
    )
        .prop_map(|(region, n, price, label)| KeyedRow {
            region,
            n,
            price,
            label,
        })
}

/// What the candidate does with one prod row.
#[derive(Debug, Clone, Copy)]
enum Edit {
    Keep,
    /// Price moved by a quarter: within the tolerance of 0.5.
    Nudge,
    /// Price moved by 3: outside it.
    Shift,
    /// 0.0 and -0.0 swapped (equal), NaN kept (equal to NaN).
    FlipZero,
    Relabel,
    Drop,
    /// Kept, plus a second row of the same key with other values.
    Duplicate,
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => Just(Edit::Keep),
        1 => Just(Edit::Nudge),
        1 => Just(Edit::Shift),
        1 => Just(Edit::FlipZero),
        1 => Just(Edit::Relabel),
        1 => Just(Edit::Drop),
        1 => Just(Edit::Duplicate),
    ]
}

fn apply(prod: &[KeyedRow], edits: &[Edit], extra: &[KeyedRow]) -> Vec<KeyedRow> {
    let mut out = Vec::new();
    for (row, edit) in prod
        .iter()
        .zip(edits.iter().chain(std::iter::repeat(&Edit::Keep)))
    {
        let mut row = row.clone();
        match edit {
            Edit::Keep => {}
            Edit::Nudge => row.price = row.price.map(|p| p + 0.25),
            Edit::Shift => row.price = Some(row.price.unwrap_or(0.0) + 3.0),
            Edit::FlipZero => row.price = row.price.map(|p| if p == 0.0 { -p } else { p }),
            Edit::Relabel => row.label = Some(format!("{}!", row.label.unwrap_or_default())),
            Edit::Drop => continue,
            Edit::Duplicate => {
                let mut twin = row.clone();
                twin.label = Some("twin".into());
                out.push(twin);
            }
        }
        out.push(row);
    }
    out.extend(extra.iter().cloned());
    out
}

fn keyed_batches(rows: &[KeyedRow]) -> Vec<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("region", DataType::Utf8, true),
        Field::new("n", DataType::Int64, true),
        Field::new("price", DataType::Float64, true),
        Field::new("label", DataType::Utf8, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.region.clone()),
        )),
        Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.n))),
        Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.price))),
        Arc::new(StringArray::from_iter(rows.iter().map(|r| r.label.clone()))),
    ];
    vec![RecordBatch::try_new(schema, columns).unwrap()]
}

/// The rows as the oracle sees them, keyed by `key` (column names).
fn oracle_rows(rows: &[KeyedRow], key: &[&str]) -> Vec<oracle::Row> {
    use oracle::Cell;
    rows.iter()
        .map(|r| {
            let cells = [
                ("region", r.region.clone().map_or(Cell::Null, Cell::Text)),
                ("n", r.n.map_or(Cell::Null, Cell::Int)),
                ("price", r.price.map_or(Cell::Null, Cell::Float)),
                ("label", r.label.clone().map_or(Cell::Null, Cell::Text)),
            ];
            let (keys, values): (Vec<_>, Vec<_>) =
                cells.into_iter().partition(|(name, _)| key.contains(name));
            oracle::Row {
                key: keys.into_iter().map(|(_, c)| c).collect(),
                values: values.into_iter().map(|(_, c)| c).collect(),
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// String keys (the xxh3 key-hash path), integer keys, compound keys;
    /// NULL and duplicate keys on both sides; NaN and signed zeros across
    /// sides; a tolerance: every row class equals the oracle's.
    #[test]
    fn keyed_classes_equal_a_naive_diff(
        prod in proptest::collection::vec(keyed_row(), 0..40),
        edits in proptest::collection::vec(edit(), 40),
        extra in proptest::collection::vec(keyed_row(), 0..6),
        key_choice in 0usize..3,
        seed in any::<u64>(),
    ) {
        let key: &[&str] = [&["region"][..], &["n"][..], &["region", "n"][..]][key_choice];
        let candidate = shuffled(&apply(&prod, &edits, &extra), seed);
        let options = DiffOptions {
            key: key.iter().map(|k| k.to_string()).collect(),
            sample: 3,
            column_tolerances: [(
                "price".to_string(),
                dualrun::diff::Tolerance { abs: 0.5, rel: 0.0, ..Default::default() },
            )]
            .into_iter()
            .collect(),
            ..Default::default()
        };
        let d = diff_tables(
            &table("prod", keyed_batches(&prod)),
            &table("candidate", keyed_batches(&candidate)),
            &options,
        )
        .unwrap();
        let value_columns: Vec<&str> = ["region", "n", "price", "label"]
            .into_iter()
            .filter(|c| !key.contains(c))
            .collect();
        let tolerances: Vec<_> = value_columns
            .iter()
            .map(|c| (*c == "price").then_some(oracle::Tolerance { abs: 0.5, rel: 0.0 }))
            .collect();
        let expected = oracle::keyed_counts(
            &oracle_rows(&prod, key),
            &oracle_rows(&candidate, key),
            &tolerances,
        );
        oracle::assert_rows(&serde_json::to_value(&d.rows).unwrap(), &expected);
        assert_classes_add_up(&d);
    }
}
