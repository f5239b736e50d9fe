//! The SQL diff on a Ballista cluster: (a) the in-process standalone
//! cluster (scheduler and executor in this process) gives the embedded
//! diff's counts, tallies and samples.

#![cfg(feature = "cluster")]

mod common;

use ballista::prelude::SessionContextExt;
use datafusion::prelude::SessionContext;
use dualrun::diff::DiffOptions;
use dualrun::sql_diff::register_functions;

#[test]
fn a_standalone_cluster_diffs_like_the_embedded_engine() {
    let dir = tempfile::tempdir().unwrap();
    let pair = dir.path().join("pair");
    common::generate_pair(
        &pair,
        &["--rows", "20000", "--nulls", "0.05", "--changed", "0.03"],
    );
    let (prod, candidate) = (pair.join("prod.parquet"), pair.join("candidate.parquet"));
    let options = DiffOptions {
        key: vec!["id".into()],
        sample: 20,
        ..Default::default()
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (remote, embedded) = runtime.block_on(async {
        let cluster = SessionContext::standalone().await.unwrap();
        register_functions(&cluster);
        common::sql_and_embedded(&cluster, &prod, &candidate, &options).await
    });
    let changed = remote["rows"]["changed"].as_u64().unwrap();
    assert!(changed > 300, "{}", remote["rows"]);
    assert_eq!(remote, embedded);
}
