//! The binary end to end: the committed sample, every input format, output
//! files, exit codes and the one-line errors of bad input.

use std::process::{Command, Stdio};
use std::sync::Arc;

use crate::common::*;
use datafusion::arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};

const PROD: &str = "samples/orders_prod.csv";
const CANDIDATE: &str = "samples/orders_candidate.csv";

/// `dualrun diff` on the committed sample, with the tolerance the sample
/// was built for, and `extra` arguments.
fn sample_diff(extra: &[&str]) -> std::process::Output {
    let mut args = vec!["--tol", "amount=abs:0.01"];
    args.extend_from_slice(extra);
    orders_diff(&args)
}

#[test]
fn sample_table_report() {
    let output = sample_diff(&[]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    insta::assert_snapshot!(stdout(&output));
}

#[test]
fn sample_json_report() {
    let output = sample_diff(&["--format", "json", "--sample", "3"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    insta::assert_snapshot!(stdout(&output));
}

#[test]
fn sample_counts_are_exact() {
    let output = sample_diff(&["--format", "json"]);
    let report = json_report(&output);
    let rows = &report["tables"][0]["rows"];
    // The sample was built with these changes: see samples/README.md.
    assert_eq!(rows["identical"], 285);
    assert_eq!(rows["within_tolerance"], 3);
    assert_eq!(rows["changed"], 8);
    assert_eq!(rows["removed"], 4);
    assert_eq!(rows["added"], 6);
    assert_eq!(rows["duplicate_keys"]["candidate"], 1);
    assert_eq!(rows["null_keys"]["prod"], 1);
    assert_eq!(rows["null_keys"]["candidate"], 1);
    assert_eq!(
        report["tables"][0]["schema"]["added"],
        serde_json::json!(["channel"])
    );
}

#[test]
fn threads_one_and_default_give_the_same_report() {
    let run = |threads: Option<&str>| {
        let mut args = vec![
            "diff", PROD, CANDIDATE, "--key", "order_id", "--format", "json", "--sample", "50",
        ];
        if let Some(n) = threads {
            args.extend(["--threads", n]);
        }
        let output = dualrun(repo(), &args);
        // The sample pair differs, so every run is a rejection with a report.
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        let report = json_report(&output);
        assert_eq!(report["tables"][0]["rows"]["changed"], 11, "{report}");
        report
    };
    let one = run(Some("1"));
    assert_eq!(one, run(None));
    assert_eq!(one, run(Some("3")));
}

fn small_batch(ids: &[i64], amounts: &[f64], names: &[&str]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("amount", DataType::Float64, true),
        Field::new("name", DataType::Utf8, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(ids.to_vec())),
            Arc::new(Float64Array::from(amounts.to_vec())),
            Arc::new(StringArray::from(names.to_vec())),
        ],
    )
    .unwrap()
}

#[test]
fn every_format_directory_and_glob_reads_the_same_table() {
    let dir = tempfile::tempdir().unwrap();
    let batch = small_batch(&[1, 2, 3], &[1.5, 2.5, -0.0], &["a", "b", "c,d"]);
    write_parquet(&dir.path().join("t.parquet"), std::slice::from_ref(&batch));
    write_csv(&dir.path().join("t.csv"), std::slice::from_ref(&batch));
    write_ndjson(&dir.path().join("t.ndjson"), std::slice::from_ref(&batch));
    write_ipc(&dir.path().join("t.arrow"), std::slice::from_ref(&batch));
    std::fs::create_dir(dir.path().join("parts")).unwrap();
    write_parquet(&dir.path().join("parts/a.parquet"), &[batch.slice(0, 2)]);
    write_parquet(&dir.path().join("parts/b.parquet"), &[batch.slice(2, 1)]);
    std::fs::copy(dir.path().join("t.csv"), dir.path().join("t.txt")).unwrap();
    for other in ["t.csv", "t.ndjson", "t.arrow", "parts", "parts/*.parquet"] {
        let output = dualrun(dir.path(), &["diff", "t.parquet", other, "--key", "id"]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{other}: {}{}",
            stdout(&output),
            stderr(&output)
        );
        assert!(
            stdout(&output).starts_with("APPROVED") && stdout(&output).contains("\nEQUAL "),
            "{other}: {}",
            stdout(&output)
        );
    }
    let output = dualrun(
        dir.path(),
        &[
            "diff",
            "t.parquet",
            "t.txt",
            "--key",
            "id",
            "--format-right",
            "csv",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[test]
fn changes_exit_one_and_tolerances_absorb_them() {
    let dir = tempfile::tempdir().unwrap();
    write_parquet(
        &dir.path().join("a.parquet"),
        &[small_batch(&[1, 2], &[1.0, 2.0], &["x", "y"])],
    );
    write_parquet(
        &dir.path().join("b.parquet"),
        &[small_batch(&[1, 2], &[1.0, 2.001], &["x", "y"])],
    );
    let strict = dualrun(
        dir.path(),
        &["diff", "a.parquet", "b.parquet", "--key", "id"],
    );
    assert_eq!(strict.status.code(), Some(1));
    for tolerance in [
        &["--abs-tol", "0.01"][..],
        &["--rel-tol", "0.001"],
        &["--tol", "amount=abs:0.001"],
    ] {
        let mut args = vec![
            "diff",
            "a.parquet",
            "b.parquet",
            "--key",
            "id",
            "--format",
            "json",
        ];
        args.extend_from_slice(tolerance);
        let output = dualrun(dir.path(), &args);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{tolerance:?}: {}",
            stderr(&output)
        );
        assert_eq!(
            json_report(&output)["tables"][0]["rows"]["within_tolerance"],
            1
        );
    }
}

#[test]
fn output_dir_gets_every_format_and_refuses_foreign_files() {
    let dir = tempfile::tempdir().unwrap();
    let reports = dir.path().join("reports");
    let args = [
        "diff",
        PROD,
        CANDIDATE,
        "--key",
        "order_id",
        "--format",
        "table",
        "--format",
        "json",
        "--output-dir",
    ];
    let mut with_dir: Vec<&str> = args.to_vec();
    let reports_arg = reports.to_str().unwrap();
    with_dir.push(reports_arg);
    let output = dualrun(repo(), &with_dir);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stdout(&output).is_empty());
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(reports.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["schema_version"], 3);
    assert!(
        std::fs::read_to_string(reports.join("report.txt"))
            .unwrap()
            .starts_with("REJECTED")
    );
    // Running again into the same directory is fine: dualrun wrote it.
    assert_eq!(dualrun(repo(), &with_dir).status.code(), Some(1));

    let foreign = dir.path().join("mine");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "keep me").unwrap();
    let mut into_foreign: Vec<&str> = args.to_vec();
    into_foreign.push(foreign.to_str().unwrap());
    let output = dualrun(repo(), &into_foreign);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("refusing to write"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        std::fs::read_to_string(foreign.join("notes.txt")).unwrap(),
        "keep me"
    );
}

/// Asserts a clean failure: exit 2, an `error:` line naming `needle`, at most
/// a `hint:` line after it, and no panic.
fn assert_clean_error(dir: &std::path::Path, args: &[&str], needle: &str) {
    let output = dualrun(dir, args);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.starts_with("error: "), "{args:?}: {err}");
    assert!(err.lines().count() <= 2, "{args:?}: {err}");
    if let Some(hint) = err.lines().nth(1) {
        assert!(hint.starts_with("hint: "), "{args:?}: {err}");
    }
    assert!(err.contains(needle), "{args:?} should name {needle}: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_input_exits_two_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_parquet(
        &d.join("good.parquet"),
        &[small_batch(&[1], &[1.0], &["x"])],
    );
    std::fs::write(
        d.join("corrupt.parquet"),
        b"PAR1 this is not parquet at all PAR1",
    )
    .unwrap();
    std::fs::write(d.join("notes.txt"), "id\n1\n").unwrap();
    std::fs::write(d.join("broken.csv"), "id,amount\n1,2\n3\n\"unterminated\n").unwrap();
    std::fs::create_dir(d.join("empty")).unwrap();
    // (arguments after `diff`, what the error must name)
    let cases: [(&[&str], &str); 14] = [
        (&["missing.parquet", "good.parquet"], "missing.parquet"),
        (&["good.parquet", "corrupt.parquet"], "corrupt.parquet"),
        (&["good.parquet", "notes.txt"], "notes.txt"),
        (&["good.parquet", "nothing/*.parquet"], "nothing/*.parquet"),
        (&["good.parquet", "empty"], "empty"),
        (&["good.parquet", "broken.csv"], "broken.csv"),
        (
            &["good.parquet", "good.parquet", "--format-left", "xlsx"],
            "xlsx",
        ),
        (&["good.parquet", "good.parquet", "--key", "nope"], "nope"),
        (
            &[
                "good.parquet",
                "good.parquet",
                "--key",
                "id",
                "--tol",
                "amount=abs",
            ],
            "--tol",
        ),
        (
            &[
                "good.parquet",
                "good.parquet",
                "--key",
                "id",
                "--tol",
                "name=abs:1",
            ],
            "name",
        ),
        (
            &[
                "good.parquet",
                "good.parquet",
                "--key",
                "id",
                "--tol",
                "nope=abs:1",
            ],
            "nope",
        ),
        (
            &[
                "good.parquet",
                "good.parquet",
                "--key",
                "id",
                "--ignore",
                "nope",
            ],
            "nope",
        ),
        (
            &["good.parquet", "good.parquet", "--rename", "id=nope"],
            "nope",
        ),
        (
            &["good.parquet", "good.parquet", "--threads", "0"],
            "--threads",
        ),
    ];
    for (args, needle) in cases {
        let mut full = vec!["diff"];
        full.extend_from_slice(args);
        assert_clean_error(d, &full, needle);
    }
}

#[test]
fn a_closed_stdout_ends_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dualrun"))
        .args([
            "diff", PROD, CANDIDATE, "--key", "order_id", "--sample", "1000",
        ])
        .current_dir(repo())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(output.status.code(), Some(1), "{err}");
}

#[test]
fn without_a_key_rows_compare_whole_and_key_candidates_are_suggested() {
    let dir = tempfile::tempdir().unwrap();
    write_csv(
        &dir.path().join("a.csv"),
        &[small_batch(
            &[1, 2, 3, 3],
            &[1.0, 2.0, 3.0, 3.0],
            &["x", "y", "z", "z"],
        )],
    );
    write_csv(
        &dir.path().join("b.csv"),
        &[small_batch(&[3, 2, 4], &[3.0, 2.0, 4.0], &["z", "y", "w"])],
    );
    let output = dualrun(dir.path(), &["diff", "a.csv", "b.csv", "--format", "json"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let table = &json_report(&output)["tables"][0];
    assert_eq!(table["key"], serde_json::json!([]));
    let rows = &table["rows"];
    // The multiset {1, 2, 3, 3} against {2, 3, 4}.
    assert_eq!(
        (
            rows["identical"].as_u64(),
            rows["removed"].as_u64(),
            rows["added"].as_u64()
        ),
        (Some(2), Some(2), Some(1))
    );
    assert_eq!(rows["duplicate_keys"]["prod"], 1);
    // `id` repeats in prod, so no single column is a key; no pair is either.
    assert_eq!(table["key_candidates"], serde_json::json!([]));
    let removed = table["samples"]["removed"].as_array().unwrap();
    assert_eq!(removed[0]["values"]["id"], 1);

    write_csv(
        &dir.path().join("c.csv"),
        &[small_batch(&[1, 2], &[1.0, 2.0], &["x", "y"])],
    );
    write_csv(
        &dir.path().join("d.csv"),
        &[small_batch(&[2, 1], &[2.0, 1.5], &["y", "x"])],
    );
    let output = dualrun(dir.path(), &["diff", "c.csv", "d.csv"]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(
        text.contains("key candidates (unique and non-null on both sides): id; amount; name"),
        "{text}"
    );
    assert!(text.contains("hint: rerun with `--key id`"), "{text}");
}

#[test]
fn renamed_and_ignored_columns_are_compared_as_asked() {
    let dir = tempfile::tempdir().unwrap();
    write_parquet(
        &dir.path().join("a.parquet"),
        &[small_batch(&[1, 2], &[1.0, 2.0], &["x", "y"])],
    );
    let renamed = small_batch(&[1, 2], &[1.0, 2.0], &["x", "CHANGED"]);
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("total", DataType::Float64, true),
        Field::new("name", DataType::Utf8, true),
    ]));
    let renamed = RecordBatch::try_new(schema, renamed.columns().to_vec()).unwrap();
    write_parquet(&dir.path().join("b.parquet"), &[renamed]);
    let output = dualrun(
        dir.path(),
        &[
            "diff",
            "a.parquet",
            "b.parquet",
            "--key",
            "id",
            "--rename",
            "amount=total",
            "--ignore",
            "name",
            "--format",
            "json",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let table = &json_report(&output)["tables"][0];
    assert_eq!(table["schema"]["renamed"][0]["candidate"], "total");
    assert_eq!(table["schema"]["ignored"], serde_json::json!(["name"]));
    assert_eq!(table["columns"][0]["name"], "amount");
    assert_eq!(table["rows"]["identical"], 2);
    // Without the rename, `amount` is removed and `total` added.
    let output = dualrun(
        dir.path(),
        &[
            "diff",
            "a.parquet",
            "b.parquet",
            "--key",
            "id",
            "--format",
            "json",
        ],
    );
    let schema = &json_report(&output)["tables"][0]["schema"];
    assert_eq!(schema["removed"], serde_json::json!(["amount"]));
    assert_eq!(schema["added"], serde_json::json!(["total"]));
}

#[test]
fn colour_only_when_asked_or_on_a_terminal() {
    let coloured = stdout(&sample_diff(&["--color", "always"]));
    assert!(
        coloured.starts_with("\x1b[1;31mREJECTED\x1b[0m")
            && coloured.contains("\x1b[1;31mDIFFERENT\x1b[0m"),
        "{coloured}"
    );
    // `auto` on a pipe, and `never`, print no escape codes.
    for mode in ["auto", "never"] {
        let plain = stdout(&sample_diff(&["--color", mode]));
        assert!(!plain.contains('\x1b'), "{mode}: {plain}");
    }
}

#[test]
fn profile_reports_every_column_and_no_stats_drops_them_from_diff() {
    let output = dualrun(repo(), &["profile", CANDIDATE, "--format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report = json_report(&output);
    assert_eq!(report["command"], "profile");
    let columns = report["table"]["profile"].as_array().unwrap();
    assert_eq!(columns.len(), 7);
    let status = columns.iter().find(|c| c["name"] == "status").unwrap();
    assert_eq!(status["stats"]["distinct"], 4);
    assert_eq!(status["stats"]["text"]["top_exact"], true);

    let only = dualrun(
        repo(),
        &[
            "profile",
            CANDIDATE,
            "--columns",
            "amount",
            "--format",
            "json",
        ],
    );
    assert_eq!(
        json_report(&only)["table"]["profile"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let table = stdout(&dualrun(repo(), &["profile", PROD]));
    assert!(
        table.contains("amount") && table.contains("top values"),
        "{table}"
    );

    let with = json_report(&sample_diff(&["--format", "json"]));
    assert!(with["tables"][0]["columns"][0].get("stats").is_some());
    assert!(with["tables"][0]["columns"][0].get("drift").is_some());
    let without = json_report(&sample_diff(&["--format", "json", "--no-stats"]));
    assert!(without["tables"][0]["columns"][0].get("stats").is_none());
    assert!(without["tables"][0]["columns"][0].get("drift").is_none());
    assert_eq!(without["tables"][0]["rows"], with["tables"][0]["rows"]);
}
