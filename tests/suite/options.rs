//! Command-line options of `diff`, `profile` and `check` that change what
//! is read or compared, each on small files whose answer is known by
//! construction: CSV dialects, string rules, duration tolerances, timings,
//! the refusal of comparison rules without a key, `--diff-rows` content,
//! `check` into an output directory, profile options, approximate top
//! values, and schema changes that are only an order or a nullability.

use std::path::Path;
use std::sync::Arc;

use crate::common::*;
use datafusion::arrow::array::{Array, AsArray, Float64Array, Int32Array, Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use serde_json::Value;

/// Prod and candidate as CSV text: five rows, of which the candidate
/// changes id 2, drops id 4 and adds id 6.
const PROD: &str = "id,v,w\n1,a,10\n2,b,20\n3,c,30\n4,d,40\n5,e,50\n";
const CANDIDATE: &str = "id,v,w\n1,a,10\n2,B,20\n3,c,30\n5,e,50\n6,f,60\n";

fn rows_of(report: &Value) -> &Value {
    &report["tables"][0]["rows"]
}

fn assert_known_counts(report: &Value) {
    let rows = rows_of(report);
    for (class, count) in [
        ("identical", 3),
        ("changed", 1),
        ("removed", 1),
        ("added", 1),
    ] {
        assert_eq!(rows[class], count, "{class} in {rows}");
    }
}

/// `dualrun diff` in `dir` with JSON output; the exit code and report.
fn diff_json(dir: &Path, args: &[&str]) -> (i32, Value) {
    let mut all = vec!["diff"];
    all.extend_from_slice(args);
    all.extend(["--format", "json"]);
    let output = dualrun(dir, &all);
    let code = output.status.code().unwrap();
    assert!(code < 2, "{}", stderr(&output));
    (code, json_report(&output))
}

#[test]
fn tsv_files_custom_delimiters_and_headerless_csv_read_alike() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("p.csv"), PROD).unwrap();
    std::fs::write(root.join("c.csv"), CANDIDATE).unwrap();
    let (code, csv) = diff_json(root, &["p.csv", "c.csv", "--key", "id"]);
    assert_eq!(code, 1);
    assert_known_counts(&csv);

    // `.tsv` reads with tabs by its extension alone.
    std::fs::write(root.join("p.tsv"), PROD.replace(',', "\t")).unwrap();
    std::fs::write(root.join("c.tsv"), CANDIDATE.replace(',', "\t")).unwrap();
    let (_, tsv) = diff_json(root, &["p.tsv", "c.tsv", "--key", "id"]);
    assert_known_counts(&tsv);
    assert_eq!(tsv["tables"][0]["columns"].as_array().unwrap().len(), 2);

    // Another delimiter, given, and no header: columns are numbered.
    let headerless = |text: &str| {
        text.lines()
            .skip(1)
            .collect::<Vec<_>>()
            .join("\n")
            .replace(',', ";")
    };
    std::fs::write(root.join("p.txt"), headerless(PROD)).unwrap();
    std::fs::write(root.join("c.txt"), headerless(CANDIDATE)).unwrap();
    let (_, plain) = diff_json(
        root,
        &[
            "p.txt",
            "c.txt",
            "--format-left",
            "csv",
            "--format-right",
            "csv",
            "--no-header",
            "--delimiter",
            ";",
            "--key",
            "column_1",
        ],
    );
    assert_known_counts(&plain);
    assert_eq!(plain["tables"][0]["key"], serde_json::json!(["column_1"]));

    // `--delimiter tab` on `.csv` names.
    std::fs::write(root.join("p-tab.csv"), PROD.replace(',', "\t")).unwrap();
    std::fs::write(root.join("c-tab.csv"), CANDIDATE.replace(',', "\t")).unwrap();
    let (_, tabbed) = diff_json(
        root,
        &[
            "p-tab.csv",
            "c-tab.csv",
            "--key",
            "id",
            "--delimiter",
            "tab",
        ],
    );
    assert_known_counts(&tabbed);
}

#[test]
fn trim_ignore_case_and_duration_tolerances_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // Row 1: the name differs in spaces and case; row 2: the instant by 3 s;
    // row 3: by 10 s.
    std::fs::write(
        root.join("p.csv"),
        "id,name,at\n1,Alice,2026-01-01T00:00:00\n2,Bob,2026-01-01T00:00:00\n3,Carl,2026-01-01T00:00:00\n",
    )
    .unwrap();
    std::fs::write(
        root.join("c.csv"),
        "id,name,at\n1, alice ,2026-01-01T00:00:00\n2,Bob,2026-01-01T00:00:03\n3,Carl,2026-01-01T00:00:10\n",
    )
    .unwrap();
    let name_outcome = |flags: &[&str]| {
        let mut args = vec!["p.csv", "c.csv", "--key", "id"];
        args.extend_from_slice(flags);
        let (_, report) = diff_json(root, &args);
        let name = report_column(&report, "name");
        (
            name["unequal"].as_u64().unwrap(),
            name["within_tolerance"].as_u64().unwrap(),
        )
    };
    assert_eq!(name_outcome(&[]), (1, 0));
    assert_eq!(name_outcome(&["--trim"]), (1, 0), "the case still differs");
    assert_eq!(
        name_outcome(&["--ignore-case"]),
        (1, 0),
        "the spaces still differ"
    );
    assert_eq!(name_outcome(&["--trim", "--ignore-case"]), (0, 1));

    let (_, report) = diff_json(
        root,
        &[
            "p.csv",
            "c.csv",
            "--key",
            "id",
            "--trim",
            "--ignore-case",
            "--tol",
            "at=dur:5s",
        ],
    );
    let at = report_column(&report, "at");
    assert_eq!(
        (at["unequal"].as_u64(), at["within_tolerance"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(at["tolerance"]["duration_ns"], 5_000_000_000u64);
    let rows = rows_of(&report);
    assert_eq!(
        (rows["changed"].as_u64(), rows["within_tolerance"].as_u64()),
        (Some(1), Some(2))
    );
}

#[test]
fn timings_appear_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.csv"), PROD).unwrap();
    std::fs::write(dir.path().join("c.csv"), CANDIDATE).unwrap();
    let (_, plain) = diff_json(dir.path(), &["p.csv", "c.csv", "--key", "id"]);
    assert!(plain.get("timings").is_none(), "{plain}");
    let (_, timed) = diff_json(dir.path(), &["p.csv", "c.csv", "--key", "id", "--timings"]);
    let timings = &timed["timings"];
    let ms = |phase: &str| {
        timings[phase]
            .as_u64()
            .unwrap_or_else(|| panic!("{phase} in {timings}"))
    };
    assert!(
        ms("total_ms") >= ms("read_ms").max(ms("diff_ms")),
        "{timings}"
    );
    assert!(
        ms("total_ms") + 1 >= ms("read_ms") + ms("diff_ms"),
        "phases are parts of the whole: {timings}"
    );
}

#[test]
fn comparison_rules_without_a_key_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("p.csv"), PROD).unwrap();
    std::fs::write(root.join("c.csv"), CANDIDATE).unwrap();
    for flags in [
        &["--abs-tol", "1"][..],
        &["--rel-tol", "0.1"],
        &["--tol", "w=abs:1"],
        &["--trim"],
        &["--ignore-case"],
    ] {
        let mut args = vec!["diff", "p.csv", "c.csv"];
        args.extend_from_slice(flags);
        let output = dualrun(root, &args);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{flags:?}: {message}");
        assert!(message.contains(&format!("`{}`", flags[0])), "{message}");
        assert!(message.contains("hint: give the key columns"), "{message}");
    }
    // The same in a project: a tolerance on an output without a key.
    std::fs::create_dir_all(root.join("prod")).unwrap();
    std::fs::create_dir_all(root.join("cand")).unwrap();
    std::fs::write(root.join("prod/t.csv"), PROD).unwrap();
    std::fs::write(root.join("cand/t.csv"), CANDIDATE).unwrap();
    std::fs::write(
        root.join("dualrun.toml"),
        "[prod]\nengine = \"files\"\noutputs_dir = \"prod\"\n[candidate]\nengine = \"files\"\n\
         outputs_dir = \"cand\"\n[outputs.t]\ntolerance = { w = \"abs:1\" }\n",
    )
    .unwrap();
    let output = dualrun(root, &["run", "."]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("`outputs.t.tolerance` needs a key"),
        "{}",
        stderr(&output)
    );
    assert!(
        !root.join(".dualrun").exists(),
        "refused before any side ran"
    );
}

/// Rows of a `--diff-rows` Parquet file, with the row group sizes.
fn read_diff_rows(path: &Path) -> (Vec<RecordBatch>, Vec<usize>) {
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap()).unwrap();
    let groups = builder
        .metadata()
        .row_groups()
        .iter()
        .map(|g| g.num_rows() as usize)
        .collect();
    let batches = builder.build().unwrap().map(|b| b.unwrap()).collect();
    (batches, groups)
}

#[test]
fn diff_rows_hold_every_differing_row_in_chunks() {
    // 70,000 prod rows; the candidate changes `amount` of every row but
    // the last 10 (dropped), and adds 5: 69,990 changed rows, more than one
    // 65,536-row chunk. `n` is Int32 in prod and Int64 in the candidate,
    // so it is written in its comparison type, Int64.
    const N: i64 = 70_000;
    let dir = tempfile::tempdir().unwrap();
    let side = |ids: Vec<i64>, amount: &dyn Fn(i64) -> f64, wide: bool| {
        let n: Arc<dyn Array> = if wide {
            Arc::new(Int64Array::from_iter_values(ids.iter().map(|i| i % 7)))
        } else {
            Arc::new(Int32Array::from_iter_values(
                ids.iter().map(|i| (i % 7) as i32),
            ))
        };
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("amount", DataType::Float64, false),
            Field::new("n", n.data_type().clone(), false),
            Field::new("label", DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from_iter_values(ids.iter().copied())),
                Arc::new(Float64Array::from_iter_values(
                    ids.iter().map(|i| amount(*i)),
                )),
                n,
                Arc::new(StringArray::from_iter(
                    ids.iter().map(|i| (i % 3 != 0).then(|| format!("l{i}"))),
                )),
            ],
        )
        .unwrap()
    };
    let diff_rows_to = |file: &str| {
        let args = [
            "diff",
            "p.parquet",
            "c.parquet",
            "--key",
            "id",
            "--diff-rows",
            file,
        ];
        dualrun(
            dir.path(),
            &[&args[..], &["--quiet", "--no-stats"]].concat(),
        )
    };
    let prod_ids: Vec<i64> = (0..N).collect();
    let candidate_ids: Vec<i64> = (0..N - 10).chain(1_000_000..1_000_005).collect();
    write_parquet(
        &dir.path().join("p.parquet"),
        &[side(prod_ids, &|i| i as f64, false)],
    );
    write_parquet(
        &dir.path().join("c.parquet"),
        &[side(candidate_ids, &|i| i as f64 + 0.5, true)],
    );
    let output = diff_rows_to("rows.parquet");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let (batches, groups) = read_diff_rows(&dir.path().join("rows.parquet"));
    assert_eq!(groups.iter().sum::<usize>(), 69_990 + 10 + 5);
    assert!(
        groups.len() >= 2 && groups.iter().all(|g| *g <= 65_536),
        "{groups:?}"
    );
    let schema = batches[0].schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        names,
        [
            "id",
            "_change",
            "prod_amount",
            "candidate_amount",
            "prod_n",
            "candidate_n",
            "prod_label",
            "candidate_label"
        ]
    );
    assert_eq!(
        schema.field_with_name("prod_n").unwrap().data_type(),
        &DataType::Int64
    );
    let mut changes = Vec::new();
    for batch in &batches {
        let id = batch.column(0).as_primitive::<Int64Type>();
        let change = batch.column(1).as_string::<i32>();
        let (prod_amount, candidate_amount) = (
            batch.column(2).as_primitive::<Float64Type>(),
            batch.column(3).as_primitive::<Float64Type>(),
        );
        for row in 0..batch.num_rows() {
            let (id, change) = (id.value(row), change.value(row));
            match change {
                "changed" => {
                    assert_eq!(prod_amount.value(row), id as f64);
                    assert_eq!(candidate_amount.value(row), id as f64 + 0.5);
                }
                "removed" => {
                    assert!(id >= N - 10, "{id}");
                    assert!(candidate_amount.is_null(row) && batch.column(5).is_null(row));
                    assert_eq!(prod_amount.value(row), id as f64);
                }
                "added" => {
                    assert!(id >= 1_000_000, "{id}");
                    assert!(prod_amount.is_null(row) && batch.column(4).is_null(row));
                }
                other => panic!("unknown change {other}"),
            }
            // A NULL label stays NULL on the side that has the row.
            if change != "added" {
                assert_eq!(batch.column(6).is_null(row), id % 3 == 0, "{id}");
            }
            if changes.last() != Some(&change.to_string()) {
                changes.push(change.to_string());
            }
        }
    }
    assert_eq!(
        changes,
        ["changed", "removed", "added"],
        "changed first, then removed, then added"
    );

    // The CSV form: the same header, one line a row.
    let output = diff_rows_to("rows.csv");
    assert_eq!(output.status.code(), Some(1));
    let text = std::fs::read_to_string(dir.path().join("rows.csv")).unwrap();
    assert_eq!(text.lines().next().unwrap(), names.join(","));
    assert_eq!(text.lines().count(), 1 + 69_990 + 10 + 5);
    // An existing file is never replaced.
    let again = dualrun(
        dir.path(),
        &[
            "diff",
            "p.parquet",
            "c.parquet",
            "--key",
            "id",
            "--diff-rows",
            "rows.csv",
        ],
    );
    assert_eq!(again.status.code(), Some(2));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("rows.csv")).unwrap(),
        text
    );
}

#[test]
fn check_writes_each_format_into_an_output_directory() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("p.csv"), PROD).unwrap();
    std::fs::write(root.join("c.csv"), CANDIDATE).unwrap();
    let saved = dualrun(
        root,
        &["diff", "p.csv", "c.csv", "--key", "id", "--format", "json"],
    );
    std::fs::write(root.join("saved.json"), &saved.stdout).unwrap();
    // Rules that let one change, one addition and one removal through.
    std::fs::write(
        root.join("lenient.toml"),
        "[[rule]]\ncheck = \"rows_changed\"\nfail = 0.5\n[[rule]]\ncheck = \"rows_added\"\nfail = 0.5\n\
         [[rule]]\ncheck = \"rows_removed\"\nfail = 0.5\n",
    )
    .unwrap();
    let output = dualrun(
        root,
        &[
            "check",
            "saved.json",
            "--rules",
            "lenient.toml",
            "--format",
            "markdown",
            "--format",
            "junit",
            "--format",
            "html",
            "--output-dir",
            "out",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stdout(&output).is_empty(),
        "nothing on stdout with --output-dir"
    );
    let read = |name: &str| std::fs::read_to_string(root.join("out").join(name)).unwrap();
    assert!(
        read("report.md").contains("dualrun: approved"),
        "{}",
        read("report.md")
    );
    let xml = read("report.xml");
    let document = roxmltree::Document::parse(&xml).unwrap();
    let suite = document
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .unwrap();
    assert_eq!(suite.attribute("failures"), Some("0"), "{xml}");
    assert!(read("report.html").contains("APPROVED"));
    assert!(
        !root.join("out/report.json").exists(),
        "only the formats asked for"
    );

    // The same saved report under the built-in rules is rejected.
    let strict = dualrun(root, &["check", "saved.json", "--format", "junit"]);
    assert_eq!(strict.status.code(), Some(1));
    let xml = stdout(&strict);
    let document = roxmltree::Document::parse(&xml).unwrap();
    let suite = document
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .unwrap();
    assert_eq!(suite.attribute("failures"), Some("1"), "{xml}");
}

#[test]
fn profile_reads_the_columns_format_and_dialect_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let body = PROD
        .lines()
        .skip(1)
        .collect::<Vec<_>>()
        .join("\n")
        .replace(',', "|");
    std::fs::write(root.join("t.data"), body).unwrap();
    let profile_columns = |columns: &str| {
        let dialect = ["--table-format", "csv", "--no-header", "--delimiter", "|"];
        let mut args = vec![
            "profile",
            "t.data",
            "--columns",
            columns,
            "--format",
            "json",
        ];
        args.extend(dialect);
        dualrun(root, &args)
    };
    let output = profile_columns("column_1,column_3");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report = json_report(&output);
    let profile = report["table"]["profile"].as_array().unwrap();
    let names: Vec<&str> = profile
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["column_1", "column_3"]);
    assert_eq!(report["table"]["rows"], 5);
    assert_eq!(profile[1]["stats"]["min"], 10);
    assert_eq!(profile[1]["stats"]["max"], 50);
    assert_eq!(profile[1]["stats"]["numeric"]["sum"].as_f64(), Some(150.0));
    let unknown = profile_columns("nope");
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("nope"), "{}", stderr(&unknown));
}

#[test]
fn top_values_past_the_exact_limit_are_lower_bounds_in_the_right_order() {
    // 40,000 rows over 8,000-row batches: `heavy-a` 4,000 times, `heavy-b`
    // 2,000 times, every other value once (more distinct values than are
    // counted exactly).
    let dir = tempfile::tempdir().unwrap();
    let values: Vec<String> = (0..40_000)
        .map(|i| match i % 20 {
            0 | 1 => "heavy-a".to_string(),
            2 => "heavy-b".to_string(),
            _ => format!("value-{i}"),
        })
        .collect();
    let schema = Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, false)]));
    let batches: Vec<RecordBatch> = values
        .chunks(8_000)
        .map(|c| {
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![Arc::new(StringArray::from_iter_values(c))],
            )
            .unwrap()
        })
        .collect();
    write_parquet(&dir.path().join("t.parquet"), &batches);
    let output = dualrun(dir.path(), &["profile", "t.parquet", "--format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report = json_report(&output);
    let stats = &report["table"]["profile"][0]["stats"];
    assert_eq!(stats["text"]["top_exact"], false, "{stats}");
    assert_eq!(stats["distinct_exact"], false);
    let distinct = stats["distinct"].as_f64().unwrap();
    let truth = (40_000 - 6_000 + 2) as f64;
    assert!(
        (distinct - truth).abs() <= 0.03 * truth,
        "distinct {distinct} vs {truth}"
    );
    let top = stats["text"]["top"].as_array().unwrap();
    assert_eq!(top[0]["value"], "heavy-a");
    assert_eq!(top[1]["value"], "heavy-b");
    let (a, b) = (
        top[0]["count"].as_u64().unwrap(),
        top[1]["count"].as_u64().unwrap(),
    );
    assert!(
        a <= 4_000 && b <= 2_000,
        "counts are lower bounds: {a}, {b}"
    );
    assert!(a > b, "{a} {b}");
}

#[test]
fn a_reorder_or_a_nullability_change_alone_is_reported_and_judged() {
    let dir = tempfile::tempdir().unwrap();
    // The same three rows under the fields given, in their order.
    let batch = |fields: Vec<Field>| {
        let columns: Vec<Arc<dyn Array>> = fields
            .iter()
            .map(|f| -> Arc<dyn Array> {
                match f.name().as_str() {
                    "id" => Arc::new(Int64Array::from(vec![1, 2, 3])),
                    _ => Arc::new(StringArray::from(vec!["a", "b", "c"])),
                }
            })
            .collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
    };
    let id = Field::new("id", DataType::Int64, false);
    let v = |nullable| Field::new("v", DataType::Utf8, nullable);
    write_parquet(
        &dir.path().join("p.parquet"),
        &[batch(vec![id.clone(), v(false)])],
    );
    write_parquet(
        &dir.path().join("reordered.parquet"),
        &[batch(vec![v(false), id.clone()])],
    );
    write_parquet(
        &dir.path().join("nullable.parquet"),
        &[batch(vec![id.clone(), v(true)])],
    );

    let (code, report) = diff_json(
        dir.path(),
        &["p.parquet", "reordered.parquet", "--key", "id"],
    );
    let schema = &report["tables"][0]["schema"];
    assert_eq!(schema["reordered"], true, "{schema}");
    assert_eq!(rows_of(&report)["identical"], 3);
    assert_eq!(code, 1, "a schema change rejects under the built-in rules");

    // A nullability flag alone changes no value: reported, approved by the
    // built-in rules, and a schema rule can still fail on it.
    let (code, report) = diff_json(
        dir.path(),
        &["p.parquet", "nullable.parquet", "--key", "id"],
    );
    let schema = &report["tables"][0]["schema"];
    assert_eq!(
        schema["nullability_changed"],
        serde_json::json!([{"column": "v", "prod": false, "candidate": true}]),
        "{schema}"
    );
    assert_eq!(schema["reordered"], false);
    assert_eq!(rows_of(&report)["identical"], 3);
    assert_eq!(code, 0, "{report}");
    std::fs::write(
        dir.path().join("schema.toml"),
        "[[rule]]\ncheck = \"schema\"\nfail_on = [\"nullability_changed\"]\n",
    )
    .unwrap();
    let (code, report) = diff_json(
        dir.path(),
        &[
            "p.parquet",
            "nullable.parquet",
            "--key",
            "id",
            "--rules",
            "schema.toml",
        ],
    );
    assert_eq!(code, 1, "{}", report["rules"]);
}
