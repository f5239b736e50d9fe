//! The diff expressed as SQL (the form a Ballista cluster runs) gives the
//! embedded diff's counts, per-column tallies and samples: on a generated
//! pair of every column family with NULLs and a tolerance, and on keys that
//! are duplicated, NULL, composite or strings. Here the SQL runs on the
//! embedded DataFusion context with Spark's `xxhash64` registered.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{dualrun, repo, stderr, write_parquet};
use datafusion::arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use dualrun::diff::{DiffOptions, TableDiff, Tolerance, diff_tables};
use dualrun::input::{TableSource, read_table};
use dualrun::sql_diff::{SqlSide, register_functions, sql_diff};
use serde_json::{Value, json};

/// The SQL diff and the embedded diff (without statistics) of two Parquet
/// files, as JSON.
fn both_diffs(prod: &Path, candidate: &Path, options: &DiffOptions) -> (Value, Value) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let ctx = SessionContext::new();
        register_functions(&ctx);
        let (prod_source, candidate_source) = (
            TableSource::of_path(prod.display()),
            TableSource::of_path(candidate.display()),
        );
        let prod_table = read_table(&ctx, &prod_source).await.unwrap();
        let candidate_table = read_table(&ctx, &candidate_source).await.unwrap();
        for (name, path) in [("prod", prod), ("candidate", candidate)] {
            ctx.register_parquet(name, path.to_str().unwrap(), ParquetReadOptions::default())
                .await
                .unwrap();
        }
        let side = |table: &'static str, read: &dualrun::Table| SqlSide {
            table,
            source: "",
            schema: read.schema.clone(),
        };
        let options = DiffOptions {
            stats: false,
            ..options.clone()
        };
        let sql = sql_diff(
            &ctx,
            &side("prod", &prod_table),
            &side("candidate", &candidate_table),
            &options,
        )
        .await
        .unwrap();
        let embedded = diff_tables(&prod_table, &candidate_table, &options).unwrap();
        (findings(&sql), findings(&embedded))
    })
}

fn findings(diff: &TableDiff) -> Value {
    json!({
        "rows": diff.rows,
        "columns": diff.columns,
        "samples": diff.samples,
    })
}

#[test]
fn a_generated_pair_of_every_family_diffs_alike() {
    let dir = tempfile::tempdir().unwrap();
    let pair = dir.path().join("pair");
    let output = dualrun(
        repo(),
        &[
            "bench",
            "generate",
            "--out",
            pair.to_str().unwrap(),
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
    assert!(output.status.success(), "{}", stderr(&output));
    let options = DiffOptions {
        key: vec!["id".into()],
        sample: 50,
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
    assert!(
        sql["rows"]["changed"].as_u64().unwrap() > 500,
        "{}",
        sql["rows"]
    );
    assert!(
        sql["rows"]["identical"].as_u64().unwrap() > 18_000,
        "{}",
        sql["rows"]
    );
    assert_eq!(sql, embedded);
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
        ..Default::default()
    };
    let (sql, embedded) = both_diffs(&p, &c, &options);
    let rows = &sql["rows"];
    assert_eq!(rows["identical"], 3, "{rows}");
    assert_eq!(rows["duplicate_keys"]["prod"], 1, "{rows}");
    assert_eq!(rows["duplicate_keys"]["candidate"], 1, "{rows}");
    assert_eq!(rows["null_keys"]["prod"], 2, "{rows}");
    assert_eq!(rows["null_keys"]["candidate"], 1, "{rows}");
    assert_eq!(sql, embedded);
}
