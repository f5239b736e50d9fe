//! The benchmark tools, kept from rotting: `dualrun bench generate` makes a
//! pair whose counts every diff must find (as Parquet and as CSV, with
//! every column family and NULLs), and `benches/peers.sh` runs end to end on
//! a tiny pair with dualrun's own tools and checks every run's counts.

use std::path::Path;
use std::process::Command;

use crate::common::{dualrun, generate_pair, repo, stderr, stdout};
use serde_json::Value;

fn diff_rows(prod: &Path, candidate: &Path) -> Value {
    let output = dualrun(
        repo(),
        &[
            "diff",
            prod.to_str().unwrap(),
            candidate.to_str().unwrap(),
            "--key",
            "id",
            "--format",
            "json",
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    report["tables"][0]["rows"].clone()
}

/// 20,000 rows of every column family with NULLs, and more changes than
/// the default so that each kind occurs often.
const EVERY_FAMILY: &str = "--rows 20000 --ints 1 --floats 1 --decimals 1 --strings 3 \
    --timestamps 1 --bools 1 --nulls 0.1 --changed 0.05 --removed 0.01 --added 0.02";

#[test]
fn a_generated_pair_has_the_counts_it_promises_as_parquet_and_csv() {
    let dir = tempfile::tempdir().unwrap();
    let pair = dir.path().join("pair");
    let every_family: Vec<&str> = EVERY_FAMILY.split_whitespace().collect();
    let mut with_csv = every_family.clone();
    with_csv.push("--csv");
    let expected = generate_pair(&pair, &with_csv);
    assert_eq!(expected["rows"], 20000);
    assert_eq!(expected["added"], 400);
    let changed = expected["changed"].as_u64().unwrap();
    assert!(
        (800..1200).contains(&changed),
        "about 5% changed: {changed}"
    );
    for extension in ["parquet", "csv"] {
        let rows = diff_rows(
            &pair.join(format!("prod.{extension}")),
            &pair.join(format!("candidate.{extension}")),
        );
        for count in ["changed", "added", "removed", "identical"] {
            assert_eq!(rows[count], expected[count], "{extension}: {count}");
        }
    }
    // The same seed writes the same pair.
    let again = dir.path().join("again");
    assert_eq!(generate_pair(&again, &every_family), expected);
    assert_eq!(
        std::fs::read(pair.join("candidate.parquet")).unwrap(),
        std::fs::read(again.join("candidate.parquet")).unwrap()
    );
}

fn peers_script(pair: &Path, rows: &str, runs: &str) -> std::process::Output {
    Command::new("bash")
        .arg(repo().join("benches/peers.sh"))
        .env("ROWS", rows)
        .env("RUNS", runs)
        .env("TOOLS", "scan,dualrun,dualrun-no-stats,dualrun-1t")
        .env("PAIR", pair)
        .env("DUALRUN", env!("CARGO_BIN_EXE_dualrun"))
        .output()
        .expect("bash runs")
}

#[test]
fn the_peers_benchmark_runs_and_checks_every_count() {
    let dir = tempfile::tempdir().unwrap();
    let pair = dir.path().join("pair");
    let output = peers_script(&pair, "10000", "3");
    assert!(output.status.success(), "{}", stderr(&output));
    let table = stdout(&output);
    for tool in [
        "| S: DataFusion full scan |",
        "| dualrun diff |",
        "| dualrun diff --no-stats |",
        "| dualrun diff, 1 thread |",
    ] {
        assert!(table.contains(tool), "{tool} missing from:\n{table}");
    }
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(pair.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["rows"], 10000);
    // Each figure is the median of its three timed runs, and the table's
    // ratio column divides it by the scan's median.
    let median = |tool: &str| {
        let figures = &results["results"][tool];
        let mut runs: Vec<f64> = figures["runs_s"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_f64().unwrap())
            .collect();
        assert_eq!(runs.len(), 3, "{tool}: {figures}");
        runs.sort_by(f64::total_cmp);
        let median = figures["median_s"].as_f64().unwrap();
        assert!((median - runs[1]).abs() < 0.001, "{tool}: {figures}");
        median
    };
    let (scan, dualrun) = (median("scan"), median("dualrun"));
    let row = table
        .lines()
        .find(|l| l.starts_with("| dualrun diff |"))
        .unwrap();
    let ratio = row.split('|').nth(3).unwrap().trim();
    let expected_ratio: f64 = format!("{:.2}", dualrun / scan).parse().unwrap();
    let printed: f64 = ratio.parse().unwrap();
    assert!((printed - expected_ratio).abs() < 0.011, "{row}");
    assert!(results["results"]["scan"]["peak_mib"].as_f64().unwrap() > 1.0);

    // A tool that finds other counts than the generator made fails the run.
    let expected_path = pair.join("expected.json");
    let mut expected: Value =
        serde_json::from_str(&std::fs::read_to_string(&expected_path).unwrap()).unwrap();
    expected["changed"] = (expected["changed"].as_u64().unwrap() + 1).into();
    std::fs::write(&expected_path, expected.to_string()).unwrap();
    let output = peers_script(&pair, "10000", "1");
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("the generator made"),
        "{}",
        stderr(&output)
    );
}
