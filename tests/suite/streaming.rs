//! The streamed diff (Parquet: read partition by partition, values spilled
//! and fetched back for differing rows only) must report exactly what the
//! in-memory diff reports (Arrow IPC, read whole) on the same rows: counts,
//! per-column tallies, statistics, drift and samples; on one thread as on
//! two; and it must leave no spill file behind, even when interrupted.

use crate::common;

use std::path::Path;
use std::sync::Arc;

use crate::common::{json_report, oracle, shuffled, stderr, write_ipc};
use datafusion::arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::file::properties::WriterProperties;
use serde_json::Value;

/// One row: key (NULL now and then, some duplicated), an amount, a
/// category and a free-text note.
type Row = (Option<i64>, Option<f64>, Option<String>, String);

fn prod_rows(n: i64) -> Vec<Row> {
    (0..n)
        .map(|i| {
            let key = match i % 997 {
                0 => None,
                // One key in 997 occurs twice.
                500 => Some(i - 1),
                _ => Some(i),
            };
            let amount = (i % 13 != 0).then(|| (i % 1000) as f64 / 8.0);
            let category = (i % 17 != 0).then(|| format!("cat-{}", i % 23));
            (
                key,
                amount,
                category,
                format!("note {i} {}", "x".repeat((i % 7) as usize)),
            )
        })
        .collect()
}

/// Prod with changes of every kind: amounts moved (some within the
/// tolerance), categories renamed, rows dropped and new rows.
fn candidate_rows(prod: &[Row]) -> Vec<Row> {
    let mut rows: Vec<Row> = prod
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 211 != 5)
        .map(|(i, (key, amount, category, note))| {
            let amount = match i % 101 {
                3 => amount.map(|a| a + 0.001),
                4 => amount.map(|a| a + 5.0),
                _ => *amount,
            };
            let category = if i % 149 == 7 {
                Some("renamed".to_string())
            } else {
                category.clone()
            };
            (*key, amount, category, note.clone())
        })
        .collect();
    let n = prod.len() as i64;
    rows.extend((0..150).map(|i| (Some(n + i), Some(1.5), None, format!("new {i}"))));
    shuffled(&rows, 7)
}

/// The rows as the oracle compares them.
fn oracle_rows(rows: &[Row]) -> Vec<oracle::Row> {
    use oracle::Cell;
    rows.iter()
        .map(|(key, amount, category, note)| oracle::Row {
            key: vec![key.map_or(Cell::Null, Cell::Int)],
            values: vec![
                amount.map_or(Cell::Null, Cell::Float),
                category.clone().map_or(Cell::Null, Cell::Text),
                Cell::Text(note.clone()),
            ],
        })
        .collect()
}

fn batches(rows: &[Row], batch_size: usize) -> Vec<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("amount", DataType::Float64, true),
        Field::new("category", DataType::Utf8, true),
        Field::new("note", DataType::Utf8, false),
    ]));
    rows.chunks(batch_size)
        .map(|chunk| {
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![
                    Arc::new(Int64Array::from_iter(chunk.iter().map(|r| r.0))),
                    Arc::new(Float64Array::from_iter(chunk.iter().map(|r| r.1))),
                    Arc::new(StringArray::from_iter(chunk.iter().map(|r| r.2.clone()))),
                    Arc::new(StringArray::from_iter_values(chunk.iter().map(|r| &r.3))),
                ],
            )
            .unwrap()
        })
        .collect()
}

/// Rows per Parquet row group.
const ROW_GROUP: usize = 3_000;

/// The rows in the files of `write_parquet_dir`.
fn file_chunks(rows: &[Row]) -> std::slice::Chunks<'_, Row> {
    rows.chunks(rows.len().div_ceil(3))
}

/// Batches cut where the Parquet scan cuts them (one per row group): the
/// quantile sketches summarize batch by batch, so only equal cuts give
/// equal quantiles.
fn aligned_batches(rows: &[Row]) -> Vec<RecordBatch> {
    file_chunks(rows)
        .flat_map(|chunk| batches(chunk, ROW_GROUP))
        .collect()
}

/// The rows as several Parquet files of several row groups each, so that
/// the scan has more than one partition to stream.
fn write_parquet_dir(dir: &Path, rows: &[Row]) {
    std::fs::create_dir_all(dir).unwrap();
    let properties = WriterProperties::builder()
        .set_max_row_group_row_count(Some(ROW_GROUP))
        .build();
    for (i, chunk) in file_chunks(rows).enumerate() {
        let chunk_batches = batches(chunk, 1_024);
        let file = std::fs::File::create(dir.join(format!("part-{i}.parquet"))).unwrap();
        let mut writer =
            ArrowWriter::try_new(file, chunk_batches[0].schema(), Some(properties.clone()))
                .unwrap();
        for batch in &chunk_batches {
            writer.write(batch).unwrap();
        }
        writer.close().unwrap();
    }
}

/// `dualrun diff` of two tables with a tolerance, many samples and every
/// differing row written out, and `extra` options; the JSON report.
fn diff(dir: &Path, prod: &str, candidate: &str, threads: &str, spill: &Path) -> Value {
    diff_with(dir, (prod, candidate), threads, spill, &[])
}

fn diff_with(
    dir: &Path,
    (prod, candidate): (&str, &str),
    threads: &str,
    spill: &Path,
    extra: &[&str],
) -> Value {
    let rows_file = format!(
        "rows-{threads}-{}{}.csv",
        prod.replace('/', "_"),
        if extra.is_empty() { "" } else { "-filtered" }
    );
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dualrun"))
        .args([
            "diff",
            prod,
            candidate,
            "--key",
            "id",
            "--tol",
            "amount=abs:0.01",
            "--sample",
            "1000",
            "--threads",
            threads,
            "--diff-rows",
            &rows_file,
            "--format",
            "json",
        ])
        .args(extra)
        .current_dir(dir)
        .env("TMPDIR", spill)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    json_report(&output)
}

/// The parts of a table report that describe the data, not the files.
fn findings(report: &Value) -> Value {
    let table = &report["tables"][0];
    serde_json::json!({
        "rows": table["rows"],
        "columns": table["columns"],
        "samples": table["samples"],
        "diff_rows": table["diff_rows"]["rows"],
    })
}

#[test]
fn the_streamed_diff_equals_the_in_memory_diff() {
    let dir = tempfile::tempdir().unwrap();
    let spill = tempfile::tempdir().unwrap();
    let prod = prod_rows(20_000);
    let candidate = candidate_rows(&prod);
    write_parquet_dir(&dir.path().join("prod"), &prod);
    write_parquet_dir(&dir.path().join("candidate"), &candidate);
    write_ipc(&dir.path().join("prod.arrow"), &aligned_batches(&prod));
    write_ipc(
        &dir.path().join("candidate.arrow"),
        &aligned_batches(&candidate),
    );

    let in_memory = diff(
        dir.path(),
        "prod.arrow",
        "candidate.arrow",
        "2",
        spill.path(),
    );
    // Parquet files are read again for the rows matching needs; a table
    // DataFusion filters (`--where`) cannot be, and spills its values.
    let streamed = diff(dir.path(), "prod", "candidate", "2", spill.path());
    let one_thread = diff(dir.path(), "prod", "candidate", "1", spill.path());
    let spilled = diff_with(
        dir.path(),
        ("prod", "candidate"),
        "2",
        spill.path(),
        &["--where", "id IS NULL OR id >= -1"],
    );
    assert_eq!(streamed["tables"][0]["prod"]["format"], "parquet");
    assert_eq!(streamed["tables"][0]["prod"]["files"], 3);
    assert_eq!(in_memory["tables"][0]["prod"]["format"], "arrow");

    // Exact classes from a second, naive computation on the same rows.
    let expected = oracle::keyed_counts(
        &oracle_rows(&prod),
        &oracle_rows(&candidate),
        &[
            Some(oracle::Tolerance {
                abs: 0.01,
                rel: 0.0,
            }),
            None,
            None,
        ],
    );
    assert_eq!(expected.ambiguous, 0, "the data pairs one way only");
    assert!(
        expected.changed > 0 && expected.within_tolerance > 0 && expected.removed > 0,
        "{expected:?}"
    );
    assert!(
        expected.duplicate_keys[0] > 0 && expected.null_keys[0] > 0,
        "{expected:?}"
    );
    oracle::assert_rows(&streamed["tables"][0]["rows"], &expected);
    assert_eq!(expected.added, 150);
    let samples = &streamed["tables"][0]["samples"];
    assert_eq!(samples["added"].as_array().unwrap().len(), 150);
    assert!(samples["changed"][0]["columns"].as_object().is_some());

    assert_eq!(findings(&streamed), findings(&in_memory));
    assert_eq!(findings(&one_thread), findings(&streamed));
    // Filtered, DataFusion cuts other batches, which move the quantile
    // sketch's approximate answers a little: what matching read back from
    // the spill must be what the source gave again.
    let read_back = |report: &Value| {
        let table = &report["tables"][0];
        let tallies: Vec<Value> = table["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                serde_json::json!([
                    c["name"],
                    c["unequal"],
                    c["within_tolerance"],
                    c["max_abs_diff"],
                    c["null_mismatch"],
                    c["stats"]["prod"]["min"],
                    c["stats"]["candidate"]["max"],
                ])
            })
            .collect();
        serde_json::json!([table["rows"], table["samples"], tallies])
    };
    assert_eq!(read_back(&spilled), read_back(&streamed));
    let written = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
    assert_eq!(written("rows-2-prod.csv"), written("rows-2-prod.arrow.csv"));
    assert_eq!(written("rows-1-prod.csv"), written("rows-2-prod.csv"));
    assert_eq!(
        written("rows-2-prod-filtered.csv"),
        written("rows-2-prod.csv")
    );

    let left: Vec<_> = std::fs::read_dir(spill.path()).unwrap().collect();
    assert!(left.is_empty(), "spill files left behind: {left:?}");
}

#[test]
fn an_unwritable_spill_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let rows = prod_rows(100);
    write_parquet_dir(&dir.path().join("prod"), &rows);
    // Filtered by DataFusion, the table spills (read as it is, it would be
    // read again instead and need no spill directory).
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dualrun"))
        .args(["diff", "prod", "prod", "--key", "id", "--where", "id > 0"])
        .current_dir(dir.path())
        .env("TMPDIR", dir.path().join("missing"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(message.contains("spill"), "{message}");
    assert!(message.contains("missing"), "{message}");
    assert!(message.contains("hint: set TMPDIR"), "{message}");
    assert!(!message.contains("panicked"), "{message}");
}

#[test]
fn an_interrupted_diff_removes_its_spill_files() {
    let dir = tempfile::tempdir().unwrap();
    let spill = tempfile::tempdir().unwrap();
    let pair = dir.path().join("pair");
    common::generate_pair(&pair, &["--rows", "20000"]);
    // Held once it has written spill files, then interrupted there.
    let paused = common::start_paused(
        std::process::Command::new(env!("CARGO_BIN_EXE_dualrun"))
            .args([
                "diff",
                "pair/prod.parquet",
                "pair/candidate.parquet",
                "--key",
                "id",
                // A filtered table spills; as it is, it would be read again.
                "--where",
                "id >= 0",
            ])
            .current_dir(dir.path())
            .env("TMPDIR", spill.path()),
        "spilling",
        std::time::Duration::from_secs(120),
    );
    let spilled: Vec<_> = std::fs::read_dir(spill.path()).unwrap().collect();
    assert!(!spilled.is_empty(), "spill directories exist");
    paused.interrupt();
    let left: Vec<_> = std::fs::read_dir(spill.path()).unwrap().collect();
    assert!(left.is_empty(), "spill files left behind: {left:?}");
}
