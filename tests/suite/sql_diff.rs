//! The diff expressed as SQL (the form a Ballista cluster runs) gives the
//! embedded diff's counts, per-column tallies and samples: on a generated
//! pair of every column family with NULLs and a tolerance, and on keys that
//! are duplicated, NULL, composite or strings. Here the SQL runs on the
//! embedded DataFusion context with Spark's `xxhash64` registered.

use crate::common;

use crate::common::oracle;

use std::path::Path;
use std::sync::Arc;

use crate::common::write_parquet;
use datafusion::arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::prelude::SessionContext;
use dualrun::backend::sql::register_functions;
use dualrun::diff::{DiffOptions, Tolerance};

/// The SQL diff on the embedded engine and the embedded diff of two
/// Parquet files.
fn both_diffs(
    prod: &Path,
    candidate: &Path,
    options: &DiffOptions,
) -> (common::Findings, common::Findings) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let ctx = SessionContext::new();
        register_functions(&ctx);
        common::sql_and_embedded(&ctx, prod, candidate, options).await
    })
}

#[test]
fn a_generated_pair_of_every_family_diffs_alike() {
    let dir = tempfile::tempdir().unwrap();
    let pair = dir.path().join("pair");
    let expected = common::generate_pair(
        &pair,
        &[
            "--rows",
            "20000",
            "--ints",
            "1",
            "--floats",
            "2",
            "--decimals",
            "1",
            "--strings",
            "3",
            "--timestamps",
            "1",
            "--bools",
            "1",
            "--nulls",
            "0.1",
            "--changed",
            "0.05",
            "--removed",
            "0.01",
            "--added",
            "0.02",
        ],
    );
    let options = DiffOptions {
        key: vec!["id".into()],
        sample: 50,
        stats: true,
        column_tolerances: [(
            "float_1".to_string(),
            Tolerance {
                abs: 0.5,
                rel: 0.0,
                ..Default::default()
            },
        )]
        .into_iter()
        .collect(),
        ..Default::default()
    };
    let (sql, embedded) = both_diffs(
        &pair.join("prod.parquet"),
        &pair.join("candidate.parquet"),
        &options,
    );
    // A second computation from the files, with the tolerance of float_1,
    // agrees with the generator's counts.
    let (prod_path, candidate_path) = (pair.join("prod.parquet"), pair.join("candidate.parquet"));
    let (names, prod_rows) = oracle::parquet_rows(&[&prod_path], &["id"]);
    let (_, candidate_rows) = oracle::parquet_rows(&[&candidate_path], &["id"]);
    let tolerances: Vec<_> = names
        .iter()
        .map(|n| (n == "float_1").then_some(oracle::Tolerance { abs: 0.5, rel: 0.0 }))
        .collect();
    let counts = oracle::keyed_counts(&prod_rows, &candidate_rows, &tolerances);
    for (class, count) in [
        ("identical", counts.identical),
        ("changed", counts.changed + counts.within_tolerance),
        ("removed", counts.removed),
        ("added", counts.added),
    ] {
        assert_eq!(
            expected[class], count,
            "{class}: the oracle disagrees with the generator"
        );
    }
    assert!(
        counts.within_tolerance > 0,
        "the tolerance applies to some rows: {counts:?}"
    );
    oracle::assert_rows(&sql.exact["rows"], &counts);
    assert_eq!(sql.exact, embedded.exact);
    // Every value column has statistics on both engines, in agreement.
    assert_eq!(sql.stats.len(), 9, "{:?}", sql.stats.keys());
    common::assert_stats_agree(&sql.stats, &embedded.stats);
}

fn batch(rows: &[(Option<&str>, Option<i64>, Option<f64>)]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("region", DataType::Utf8, true),
        Field::new("id", DataType::Int64, true),
        Field::new("amount", DataType::Float64, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter(rows.iter().map(|r| r.0))),
            Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.1))),
            Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.2))),
        ],
    )
    .unwrap()
}

#[test]
fn duplicate_null_and_composite_keys_diff_alike() {
    let dir = tempfile::tempdir().unwrap();
    let prod = [
        (Some("eu"), Some(1), Some(1.0)),
        (Some("eu"), Some(2), Some(2.0)),
        (Some("us"), Some(2), Some(2.0)),
        (Some("us"), Some(3), Some(3.0)),
        (Some("us"), Some(3), Some(3.5)),
        (None, Some(4), Some(4.0)),
        (Some("eu"), None, None),
        (Some("eu"), Some(5), None),
        (Some("eu"), Some(6), Some(6.0)),
    ];
    let candidate = [
        (Some("eu"), Some(1), Some(1.0)),
        (Some("eu"), Some(2), Some(2.25)),
        (Some("us"), Some(3), Some(3.0)),
        (Some("us"), Some(3), Some(3.0)),
        (Some("eu"), Some(5), Some(5.0)),
        (Some("eu"), Some(7), Some(7.0)),
        (None, Some(8), None),
        (Some("eu"), Some(6), Some(6.0)),
    ];
    let (p, c) = (dir.path().join("p.parquet"), dir.path().join("c.parquet"));
    write_parquet(&p, &[batch(&prod)]);
    write_parquet(&c, &[batch(&candidate)]);
    let options = DiffOptions {
        key: vec!["region".into(), "id".into()],
        sample: 10,
        stats: true,
        ..Default::default()
    };
    let (sql, embedded) = both_diffs(&p, &c, &options);
    let rows = &sql.exact["rows"];
    assert_eq!(rows["identical"], 3, "{rows}");
    assert_eq!(rows["duplicate_keys"]["prod"], 1, "{rows}");
    assert_eq!(rows["duplicate_keys"]["candidate"], 1, "{rows}");
    assert_eq!(rows["null_keys"]["prod"], 2, "{rows}");
    assert_eq!(rows["null_keys"]["candidate"], 1, "{rows}");
    assert_eq!(sql.exact, embedded.exact);
    common::assert_stats_agree(&sql.stats, &embedded.stats);
}

#[test]
fn signed_zeros_and_nans_diff_alike() {
    let dir = tempfile::tempdir().unwrap();
    let prod = [
        (Some("eu"), Some(1), Some(0.0)),
        (Some("eu"), Some(2), Some(f64::NAN)),
        (Some("eu"), Some(3), Some(f64::NAN)),
        (Some("eu"), Some(4), Some(f64::INFINITY)),
        (Some("eu"), Some(5), Some(-0.0)),
    ];
    let candidate = [
        (Some("eu"), Some(1), Some(-0.0)),
        (Some("eu"), Some(2), Some(f64::NAN)),
        (Some("eu"), Some(3), Some(1.0)),
        (Some("eu"), Some(4), Some(f64::INFINITY)),
        (Some("eu"), Some(5), Some(-0.0)),
    ];
    let (p, c) = (dir.path().join("p.parquet"), dir.path().join("c.parquet"));
    write_parquet(&p, &[batch(&prod)]);
    write_parquet(&c, &[batch(&candidate)]);
    let options = DiffOptions {
        key: vec!["id".into()],
        sample: 10,
        stats: true,
        ..Default::default()
    };
    let (sql, embedded) = both_diffs(&p, &c, &options);
    assert_eq!(sql.exact["rows"]["changed"], 1, "{}", sql.exact["rows"]);
    assert_eq!(sql.exact, embedded.exact);
    common::assert_stats_agree(&sql.stats, &embedded.stats);
}

/// Few differences leave most key-hash buckets equal, so only the others
/// are joined; equal tables need no join at all. Both must still give the
/// embedded diff's findings.
#[test]
fn checksummed_buckets_give_the_embedded_findings() {
    let dir = tempfile::tempdir().unwrap();
    let pair = dir.path().join("pair");
    let expected = common::generate_pair(
        &pair,
        &[
            "--rows",
            "20000",
            "--nulls",
            "0.05",
            "--changed",
            "0.002",
            "--removed",
            "0.0005",
            "--added",
            "0.0005",
        ],
    );
    let (prod, candidate) = (pair.join("prod.parquet"), pair.join("candidate.parquet"));
    let options = DiffOptions {
        key: vec!["id".into()],
        sample: 10,
        ..Default::default()
    };
    let (sql, embedded) = both_diffs(&prod, &candidate, &options);
    for count in ["changed", "added", "removed", "identical"] {
        assert_eq!(sql.exact["rows"][count], expected[count], "{count}");
    }
    assert_eq!(sql.exact, embedded.exact);
    let (sql, embedded) = both_diffs(&prod, &prod, &options);
    assert_eq!(
        sql.exact["rows"]["identical"], 20_000,
        "{}",
        sql.exact["rows"]
    );
    assert_eq!(sql.exact, embedded.exact);
}
