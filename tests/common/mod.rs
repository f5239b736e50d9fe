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

/// `dualrun bench generate --out OUT EXTRA...`: a generated pair; the
/// counts the generator promises.
pub fn generate_pair(out: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["bench", "generate", "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let output = dualrun(repo(), &args);
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_str(&stdout(&output)).expect("the expected counts are JSON")
}

/// Sends SIGINT to `child` and waits: it must exit with 130 and say it was
/// interrupted.
pub fn interrupt(child: std::process::Child) -> Output {
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("interrupted"),
        "{}",
        stderr(&output)
    );
    output
}

/// The SQL diff of two Parquet files run by `ctx` (embedded or a cluster,
/// with `xxhash64` registered) and the embedded diff of the same files
/// read here; both without statistics, as JSON of their rows, per-column
/// tallies and samples.
pub async fn sql_and_embedded(
    ctx: &datafusion::prelude::SessionContext,
    prod: &Path,
    candidate: &Path,
    options: &dualrun::DiffOptions,
) -> (serde_json::Value, serde_json::Value) {
    use dualrun::input::{TableSource, read_table};
    use dualrun::sql_diff::{SqlSide, sql_diff};
    let local = datafusion::prelude::SessionContext::new();
    let (prod_source, candidate_source) = (
        TableSource::of_path(prod.display()),
        TableSource::of_path(candidate.display()),
    );
    let prod_table = read_table(&local, &prod_source).await.unwrap();
    let candidate_table = read_table(&local, &candidate_source).await.unwrap();
    for (name, path) in [("prod", prod), ("candidate", candidate)] {
        let options = datafusion::prelude::ParquetReadOptions::default();
        ctx.register_parquet(name, path.to_str().unwrap(), options)
            .await
            .unwrap();
    }
    let side = |table, read: &Table| SqlSide {
        table,
        source: "",
        schema: read.schema.clone(),
    };
    let options = dualrun::DiffOptions {
        stats: false,
        ..options.clone()
    };
    let sql = sql_diff(
        ctx,
        &side("prod", &prod_table),
        &side("candidate", &candidate_table),
        &options,
    )
    .await
    .unwrap();
    let embedded = dualrun::diff_tables(&prod_table, &candidate_table, &options).unwrap();
    let findings = |diff: &dualrun::TableDiff| {
        serde_json::json!({
            "rows": diff.rows,
            "columns": diff.columns,
            "samples": diff.samples,
        })
    };
    (findings(&sql), findings(&embedded))
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
