//! The SQL diff on a Ballista cluster: (a) the in-process standalone
//! cluster (scheduler and executor in this process) gives the embedded
//! diff's counts, tallies and samples.

#![cfg(feature = "cluster")]

mod common;

use ballista::prelude::SessionContextExt;
use common::{dualrun, repo, stderr};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use dualrun::diff::{DiffOptions, diff_tables};
use dualrun::input::{TableSource, read_table};
use dualrun::sql_diff::{SqlSide, register_functions, sql_diff};
use serde_json::json;

#[test]
fn a_standalone_cluster_diffs_like_the_embedded_engine() {
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
            "--nulls",
            "0.05",
            "--changed",
            "0.03",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let (prod, candidate) = (pair.join("prod.parquet"), pair.join("candidate.parquet"));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let local = SessionContext::new();
        let read = |path: &std::path::Path| TableSource::of_path(path.display());
        let (prod_source, candidate_source) = (read(&prod), read(&candidate));
        let prod_table = read_table(&local, &prod_source).await.unwrap();
        let candidate_table = read_table(&local, &candidate_source).await.unwrap();
        let options = DiffOptions {
            key: vec!["id".into()],
            sample: 20,
            ..Default::default()
        };
        let embedded = diff_tables(&prod_table, &candidate_table, &options).unwrap();

        let cluster = SessionContext::standalone().await.unwrap();
        register_functions(&cluster);
        for (name, path) in [("prod", &prod), ("candidate", &candidate)] {
            cluster
                .register_parquet(name, path.to_str().unwrap(), ParquetReadOptions::default())
                .await
                .unwrap();
        }
        let side = |table, read: &dualrun::Table| SqlSide {
            table,
            source: "",
            schema: read.schema.clone(),
        };
        let remote = sql_diff(
            &cluster,
            &side("prod", &prod_table),
            &side("candidate", &candidate_table),
            &options,
        )
        .await
        .unwrap();
        let findings = |d: &dualrun::TableDiff| {
            json!({"rows": d.rows, "samples": d.samples, "unequal": d.columns.iter().map(|c| c.unequal).collect::<Vec<_>>()})
        };
        assert!(remote.rows.changed > 300, "{:?}", remote.rows);
        assert_eq!(findings(&remote), findings(&embedded));
    });
}
