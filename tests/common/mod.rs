//! Helpers shared by the integration tests: writing real table files and
//! running the real binary.

#![allow(dead_code)]

use std::fs::File;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::csv::Writer as CsvWriter;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ipc::writer::FileWriter as IpcWriter;
use datafusion::arrow::json::LineDelimitedWriter;
use datafusion::parquet::arrow::ArrowWriter;
use dualrun::Table;

/// Runs `dualrun ARGS` in `dir`.
pub fn dualrun(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dualrun"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_BACKTRACE")
        .env("NO_COLOR", "1")
        .output()
        .expect("the dualrun binary runs")
}

/// `dualrun diff` of the committed orders pair by `order_id`, from the
/// repository root, with `extra` arguments.
pub fn orders_diff(extra: &[&str]) -> Output {
    let mut args = vec![
        "diff",
        "samples/orders_prod.csv",
        "samples/orders_candidate.csv",
        "--key",
        "order_id",
    ];
    args.extend_from_slice(extra);
    dualrun(repo(), &args)
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("utf-8 stdout")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("utf-8 stderr")
}

/// The repository root, where `samples/` lives.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn write_parquet(path: &Path, batches: &[RecordBatch]) {
    let file = File::create(path).unwrap();
    let mut writer = ArrowWriter::try_new(file, batches[0].schema(), None).unwrap();
    for batch in batches {
        writer.write(batch).unwrap();
    }
    writer.close().unwrap();
}

pub fn write_csv(path: &Path, batches: &[RecordBatch]) {
    let mut writer = CsvWriter::new(File::create(path).unwrap());
    for batch in batches {
        writer.write(batch).unwrap();
    }
}

pub fn write_ndjson(path: &Path, batches: &[RecordBatch]) {
    let mut writer = LineDelimitedWriter::new(File::create(path).unwrap());
    for batch in batches {
        writer.write(batch).unwrap();
    }
    writer.finish().unwrap();
}

pub fn write_ipc(path: &Path, batches: &[RecordBatch]) {
    let mut writer = IpcWriter::try_new(File::create(path).unwrap(), &batches[0].schema()).unwrap();
    for batch in batches {
        writer.write(batch).unwrap();
    }
    writer.finish().unwrap();
}

/// An in-memory table for the library API.
pub fn table(name: &str, batches: Vec<RecordBatch>) -> Table {
    let schema: SchemaRef = Arc::clone(&batches[0].schema());
    Table::from_batches(name, schema, batches)
}

/// The parsed JSON report of a run.
pub fn json_report(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is JSON ({e}): {}\nstderr: {}",
            stdout(output),
            stderr(output)
        )
    })
}

/// A deterministic shuffle (xorshift) driven by `seed`.
pub fn shuffled<T: Clone>(items: &[T], seed: u64) -> Vec<T> {
    let mut out = items.to_vec();
    let mut state = seed | 1;
    for i in (1..out.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.swap(i, (state % (i as u64 + 1)) as usize);
    }
    out
}

/// `git ARGS` in `dir` with a throwaway identity; its stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}
