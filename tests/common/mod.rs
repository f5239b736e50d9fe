//! Helpers shared by the integration tests: writing real table files and
//! running the real binary.

#![allow(dead_code)]

pub mod oracle;
pub mod servers;

use std::fs::File;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
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

/// The entry of column `name` in the first table of a JSON report.
pub fn report_column<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["tables"][0]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no column {name}"))
}

/// The entry of table `name` in a JSON report.
pub fn report_table<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no table {name} in {:#}", report["tables"]))
}

/// `dualrun versions TARGET --json`: each version and whether it is live.
pub fn listed_versions(dir: &Path, target: &str) -> Vec<(String, bool)> {
    let output = dualrun(dir, &["versions", target, "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let versions: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_str().unwrap().to_string(),
                v["live"].as_bool().unwrap(),
            )
        })
        .collect()
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
    sigint(child.id());
    let output = child.wait_with_output().unwrap();
    assert_interrupted(output.status, &stderr(&output));
    output
}

fn sigint(pid: u32) {
    let killed = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
}

/// How an interrupted dualrun ends: exit 130, saying so, no panic.
fn assert_interrupted(status: std::process::ExitStatus, stderr: &str) {
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// The SQL diff of two Parquet files run by `ctx` (embedded or a cluster,
/// with `xxhash64` registered) and the embedded diff of the same files
/// read here, each as `findings`.
pub async fn sql_and_embedded(
    ctx: &datafusion::prelude::SessionContext,
    prod: &Path,
    candidate: &Path,
    options: &dualrun::DiffOptions,
) -> (Findings, Findings) {
    use dualrun::backend::sql::{SqlSide, sql_diff};
    use dualrun::input::{TableSource, read_table};
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
    let sql = sql_diff(
        ctx,
        &side("prod", &prod_table),
        &side("candidate", &candidate_table),
        options,
    )
    .await
    .unwrap();
    let embedded = dualrun::diff_tables(&prod_table, &candidate_table, options).unwrap();
    let json = |diff: &dualrun::TableDiff| findings(&serde_json::to_value(diff).unwrap());
    (json(&sql), json(&embedded))
}

/// What a diff found, split by how exactly two engines must agree on it.
#[derive(Debug)]
pub struct Findings {
    /// Rows, per-column tallies and samples: equal on every engine.
    pub exact: serde_json::Value,
    /// Column name -> `{stats, drift}`: engines estimate some of these.
    pub stats: serde_json::Map<String, serde_json::Value>,
}

/// The findings of a diff or report table in JSON (with `rows`, `columns`
/// and `samples`).
pub fn findings(table: &serde_json::Value) -> Findings {
    let mut columns = table["columns"].as_array().cloned().unwrap_or_default();
    let mut stats = serde_json::Map::new();
    for column in &mut columns {
        let object = column.as_object_mut().unwrap();
        let name = object["name"].as_str().unwrap().to_string();
        let moved = serde_json::json!({
            "stats": object.remove("stats").unwrap_or_default(),
            "drift": object.remove("drift").unwrap_or_default(),
        });
        if !moved["stats"].is_null() {
            stats.insert(name, moved);
        }
    }
    Findings {
        exact: serde_json::json!({
            "rows": table["rows"],
            "columns": columns,
            "samples": table["samples"],
        }),
        stats,
    }
}

/// Statistics from engine aggregates (`engine`) agree with the embedded
/// ones: counts, NULLs, min, max, lengths and flags exactly; sums, means
/// and variances to 1e-9 relative; distinct counts (HyperLogLog) within 3%;
/// numeric quantiles (t-digests over different samples) within 2% of the
/// column's range.
pub fn assert_stats_agree(
    engine: &serde_json::Map<String, serde_json::Value>,
    embedded: &serde_json::Map<String, serde_json::Value>,
) {
    use serde_json::Value;
    assert_eq!(
        engine.keys().collect::<Vec<_>>(),
        embedded.keys().collect::<Vec<_>>()
    );
    let close = |a: &Value, b: &Value, tolerance: f64, what: &str| match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => assert!(
            (x - y).abs() <= tolerance * x.abs().max(y.abs()).max(1e-12),
            "{what}: {x} vs {y}"
        ),
        _ => assert_eq!(a, b, "{what}"),
    };
    for (name, column) in engine {
        let other = &embedded[name];
        for side in ["prod", "candidate"] {
            let (e, m) = (&column["stats"][side], &other["stats"][side]);
            let what = |field: &str| format!("{name}.{side}.{field}");
            for field in ["count", "null_count", "null_rate", "min", "max", "boolean"] {
                assert_eq!(e[field], m[field], "{}", what(field));
            }
            close(&e["distinct"], &m["distinct"], 0.03, &what("distinct"));
            if let Some(numeric) = m["numeric"].as_object() {
                for field in ["zeros", "nan", "infinite"] {
                    assert_eq!(e["numeric"][field], numeric[field], "{}", what(field));
                }
                for field in ["sum", "mean", "variance", "stddev"] {
                    close(&e["numeric"][field], &numeric[field], 1e-9, &what(field));
                }
                // Decimals are exact strings.
                let number = |v: &Value| {
                    v.as_f64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                };
                let range = number(&m["max"]).unwrap_or(0.0) - number(&m["min"]).unwrap_or(0.0);
                for (level, value) in numeric["quantiles"].as_object().unwrap() {
                    let engine_value = &e["numeric"]["quantiles"][level];
                    match (engine_value.as_f64(), value.as_f64()) {
                        (Some(x), Some(y)) => {
                            assert!((x - y).abs() <= 0.02 * range, "{}: {x} vs {y}", what(level))
                        }
                        _ => assert_eq!(engine_value, value, "{}", what(level)),
                    }
                }
            }
            if let Some(temporal) = m["temporal"].as_object() {
                for (level, value) in temporal["quantiles"].as_object().unwrap() {
                    let engine_value = &e["temporal"]["quantiles"][level];
                    assert_eq!(engine_value.is_null(), value.is_null(), "{}", what(level));
                }
            }
            if let Some(text) = m["text"].as_object() {
                for field in ["min_length", "max_length", "mean_length", "empty"] {
                    assert_eq!(e["text"][field], text[field], "{}", what(field));
                }
            }
        }
        close(
            &column["drift"]["null_rate_pp"],
            &other["drift"]["null_rate_pp"],
            1e-9,
            &format!("{name}.drift.null_rate_pp"),
        );
    }
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

/// The path of the external program `tool` a test needs (the first of
/// `names` found on `PATH`). A missing tool fails the test with a message
/// naming it and how to install it, so a test never passes without having
/// run: `bash .ci/test` installs every such tool where it can.
pub fn require_tool(names: &[&str], install: &str) -> std::path::PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    names
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|candidate| {
            candidate
                .metadata()
                .is_ok_and(|m| m.is_file() && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0)
        })
        .unwrap_or_else(|| {
            panic!(
                "this test needs `{}`, which is not on PATH: {install} (or run `bash .ci/test`, which installs it)",
                names[0]
            )
        })
}

/// A dualrun process held at a pause point (`DUALRUN_PAUSE_AT`), waiting to
/// be interrupted there.
pub struct Paused {
    child: std::process::Child,
    stderr: std::thread::JoinHandle<String>,
}

/// Starts `command` (a dualrun command line) held at `step`, and returns
/// once it says it got there; fails if it ends first or takes longer than
/// `guard` (a hang guard, not a timing).
pub fn start_paused(command: &mut Command, step: &str, guard: std::time::Duration) -> Paused {
    use std::io::BufRead;
    let mut child = command
        .env("DUALRUN_PAUSE_AT", step)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pipe = child.stderr.take().unwrap();
    let (reached, wait) = std::sync::mpsc::channel();
    let needle = format!("dualrun: paused at {step}");
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        for line in std::io::BufReader::new(pipe).lines() {
            let line = line.unwrap();
            if line == needle {
                let _ = reached.send(());
            }
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    if wait.recv_timeout(guard).is_err() {
        let _ = child.kill();
        let status = child.wait().unwrap();
        panic!(
            "never paused at {step} ({status}): {}",
            stderr.join().unwrap()
        );
    }
    Paused { child, stderr }
}

impl Paused {
    /// Sends SIGINT: the process must exit with 130, say it was
    /// interrupted, and not panic. Its stderr.
    pub fn interrupt(mut self) -> String {
        sigint(self.child.id());
        let status = self.child.wait().unwrap();
        let stderr = self.stderr.join().unwrap();
        assert_interrupted(status, &stderr);
        stderr
    }
}

/// Two outputs, `t` and `u`, each holding `version` in every row, written
/// the same for both sides so the run is approved.
pub fn approved_run(root: &Path, version: &str) -> std::path::PathBuf {
    for side in ["prod", "cand"] {
        let dir = root.join(side);
        std::fs::create_dir_all(&dir).unwrap();
        let t = RecordBatch::try_from_iter([
            ("id", Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef),
            (
                "v",
                Arc::new(StringArray::from(vec![version; 3])) as ArrayRef,
            ),
        ])
        .unwrap();
        let u = RecordBatch::try_from_iter([
            ("id", Arc::new(Int64Array::from(vec![1])) as ArrayRef),
            ("w", Arc::new(StringArray::from(vec![version])) as ArrayRef),
        ])
        .unwrap();
        write_parquet(&dir.join("t.parquet"), &[t]);
        write_parquet(&dir.join("u.parquet"), &[u]);
    }
    std::fs::write(
        root.join("dualrun.toml"),
        "[prod]\nengine = \"files\"\noutputs_dir = \"prod\"\n\
         [candidate]\nengine = \"files\"\noutputs_dir = \"cand\"\n\
         [outputs.t]\nkey = [\"id\"]\n[outputs.u]\nkey = [\"id\"]\n",
    )
    .unwrap();
    let dir = root.join("runs").join(version);
    let output = dualrun(
        root,
        &["run", ".", "--run-dir", dir.to_str().unwrap(), "--quiet"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    dir
}
