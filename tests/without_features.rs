//! A dualrun built without its optional features (`polars`, `cluster`,
//! `postgres`, `sqlite`, `duckdb`, `s3`, `delta`)
//! says what it lacks and how to get it, instead of failing later or
//! panicking. CI runs this file on the build without features:
//! `cargo test --no-default-features --test without_features`; with either
//! feature on it has no tests.

#![cfg(not(any(
    feature = "polars",
    feature = "cluster",
    feature = "postgres",
    feature = "sqlite",
    feature = "duckdb",
    feature = "s3",
    feature = "delta"
)))]

mod common;

use common::*;

/// Exit 2, the named feature and a hint to build with it, no panic.
fn assert_needs_feature(output: &std::process::Output, feature: &str) {
    let message = stderr(output);
    assert_eq!(output.status.code(), Some(2), "{message}");
    assert!(message.contains(&format!("`{feature}`")), "{message}");
    assert!(message.contains("hint: build"), "{message}");
    assert!(
        message.contains(&format!("--features {feature}")),
        "{message}"
    );
    assert!(!message.contains("panicked"), "{message}");
}

#[test]
fn a_polars_side_is_refused_with_a_hint() {
    let output = dualrun(repo(), &["run", "samples/shop/polars.toml"]);
    assert_needs_feature(&output, "polars");
    assert!(
        stderr(&output).contains("polars.toml"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn the_cluster_flag_and_commands_are_refused_with_a_hint() {
    let diff = orders_diff(&["--cluster", "df://127.0.0.1:50050"]);
    assert_needs_feature(&diff, "cluster");
    assert!(stderr(&diff).contains("--cluster df://127.0.0.1:50050"));
    let runs = tempfile::tempdir().unwrap();
    let run_dir = runs.path().join("run");
    let run = dualrun(
        repo(),
        &[
            "run",
            "samples/shop",
            "--cluster",
            "df://127.0.0.1:50050",
            "--run-dir",
            run_dir.to_str().unwrap(),
        ],
    );
    assert_needs_feature(&run, "cluster");
    for role in ["scheduler", "executor"] {
        let output = dualrun(repo(), &["cluster", role]);
        assert_needs_feature(&output, "cluster");
        assert!(stderr(&output).contains(&format!("dualrun cluster {role}")));
    }
}

#[test]
fn database_and_object_store_tables_are_refused_with_a_hint() {
    for (table, feature) in [
        (
            "postgres://ana:s3cret@127.0.0.1:1/shop?table=public.orders",
            "postgres",
        ),
        ("s3://bucket/orders/", "s3"),
        ("samples/orders?version=1", "delta"),
        ("sqlite:shop.db?table=orders", "sqlite"),
        ("duckdb:shop.duckdb?table=orders", "duckdb"),
    ] {
        let output = dualrun(repo(), &["profile", table]);
        assert_needs_feature(&output, feature);
        assert!(!stderr(&output).contains("s3cret"), "{}", stderr(&output));
    }
}
