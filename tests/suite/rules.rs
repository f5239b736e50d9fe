//! Rules end to end: every rule kind passing, warning, failing and erroring
//! on a small generated pair; `expect`; `--strict`; the exit codes of
//! `diff` and `check`; `check` on a saved report; the rule packs; and the
//! messages of broken rules files.

use std::path::Path;
use std::process::Output;
use std::sync::Arc;

use crate::common::*;
use datafusion::arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use serde_json::Value;

/// One side of the test pair, as plain vectors.
struct Side {
    id: Vec<i64>,
    amount: Vec<Option<f64>>,
    status: Vec<&'static str>,
    score: Vec<i64>,
    channel: bool,
}

impl Side {
    fn batch(&self) -> RecordBatch {
        let mut fields = vec![
            Field::new("id", DataType::Int64, false),
            Field::new("amount", DataType::Float64, true),
            Field::new("status", DataType::Utf8, false),
            Field::new("score", DataType::Int64, false),
        ];
        let mut columns: Vec<Arc<dyn datafusion::arrow::array::Array>> = vec![
            Arc::new(Int64Array::from(self.id.clone())),
            Arc::new(Float64Array::from(self.amount.clone())),
            Arc::new(StringArray::from(self.status.clone())),
            Arc::new(Int64Array::from(self.score.clone())),
        ];
        if self.channel {
            fields.push(Field::new("channel", DataType::Utf8, false));
            columns.push(Arc::new(StringArray::from(vec!["web"; self.id.len()])));
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
    }

    fn mean_amount(&self) -> f64 {
        let values: Vec<f64> = self.amount.iter().flatten().copied().collect();
        values.iter().sum::<f64>() / values.len() as f64
    }
}

fn status_of(id: i64) -> &'static str {
    if id % 2 == 0 { "open" } else { "closed" }
}

/// Prod: ids 1-100. The candidate: ids 99 and 100 removed; 101-103 added;
/// id 50 twice (an identical duplicate); amounts of 1 and 2 moved within a
/// cent, of 3 and 4 by 5.0, of 6 and 7 set to NULL; the status of 5
/// flipped; every score shifted by 5; a new column `channel`.
fn pair() -> (Side, Side) {
    let prod_ids: Vec<i64> = (1..=100).collect();
    let prod = Side {
        amount: prod_ids.iter().map(|&i| Some(i as f64 * 10.0)).collect(),
        status: prod_ids.iter().map(|&i| status_of(i)).collect(),
        score: prod_ids.iter().map(|i| i % 10).collect(),
        id: prod_ids,
        channel: false,
    };
    let mut ids: Vec<i64> = (1..=98).collect();
    ids.extend([50, 101, 102, 103]);
    let candidate = Side {
        amount: ids
            .iter()
            .map(|&i| match i {
                1 | 2 => Some(i as f64 * 10.0 + 0.004),
                3 | 4 => Some(i as f64 * 10.0 + 5.0),
                6 | 7 => None,
                _ => Some(i as f64 * 10.0),
            })
            .collect(),
        status: ids
            .iter()
            .map(|&i| {
                if i == 5 {
                    status_of(i + 1)
                } else {
                    status_of(i)
                }
            })
            .collect(),
        score: ids.iter().map(|i| i % 10 + 5).collect(),
        id: ids,
        channel: true,
    };
    (prod, candidate)
}

/// A temp dir holding `prod.parquet` and `candidate.parquet` of `pair()`.
fn pair_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let (prod, candidate) = pair();
    write_parquet(&dir.path().join("prod.parquet"), &[prod.batch()]);
    write_parquet(&dir.path().join("candidate.parquet"), &[candidate.batch()]);
    dir
}

/// Writes `rules` (each a `[[rule]]` body) as `name` in `dir`.
fn write_rules(dir: &Path, name: &str, rules: &[&str]) {
    let text: String = rules
        .iter()
        .map(|body| format!("[[rule]]\n{body}\n\n"))
        .collect();
    std::fs::write(dir.join(name), text).unwrap();
}

fn diff(dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "diff",
        "prod.parquet",
        "candidate.parquet",
        "--name",
        "orders",
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    dualrun(dir, &args)
}

/// The outcomes of rule `index` (1-based) of `file`.
fn outcomes_of<'a>(report: &'a Value, file: &str, index: usize) -> Vec<&'a Value> {
    let origin = format!("{file}#{index}");
    report["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["origin"] == origin.as_str())
        .collect()
}

fn status_of_rule(report: &Value, file: &str, index: usize) -> String {
    let outcomes = outcomes_of(report, file, index);
    assert_eq!(outcomes.len(), 1, "rule {index}: {outcomes:#?}");
    outcomes[0]["status"].as_str().unwrap().to_string()
}

/// Every kind passing, warning, failing and erroring, in one rules file:
/// (rule body, expected status).
fn kind_cases(mean_change: f64) -> Vec<(String, &'static str)> {
    let c = mean_change.abs();
    let mut cases: Vec<(String, &str)> = [
        // Rows 100 -> 102: +2%.
        ("check = \"row_count\"\nwarn = 0.05", "pass"),
        ("check = \"row_count\"\nwarn = 0.01\nfail = 0.05", "warn"),
        ("check = \"row_count\"\nfail = 0.01", "fail"),
        ("check = \"row_count\"\nfail_abs = 1", "fail"),
        ("check = \"row_count\"\nwarn_abs = 2", "pass"),
        // `channel` added.
        ("check = \"schema\"\nfail_on = [\"removed\"]", "pass"),
        ("check = \"schema\"\nwarn_on = [\"added\"]", "warn"),
        ("check = \"schema\"\nfail_on = [\"added\"]", "fail"),
        // Id 50 twice in the candidate; no NULL key.
        ("check = \"key_integrity\"\nfail_on = [\"null\"]", "pass"),
        ("check = \"key_integrity\"\nwarn_on = [\"duplicate\"]", "warn"),
        ("check = \"key_integrity\"\nfail_on = [\"duplicate\"]", "fail"),
        // 4 of 100 added (101-103 and the second 50).
        ("check = \"rows_added\"\nwarn = 0.05", "pass"),
        ("check = \"rows_added\"\nwarn = 0.01\nfail = 0.05", "warn"),
        ("check = \"rows_added\"\nfail = 0.01", "fail"),
        // 2 of 100 removed.
        ("check = \"rows_removed\"\nwarn = 0.05", "pass"),
        ("check = \"rows_removed\"\nwarn = 0.01\nfail = 0.05", "warn"),
        ("check = \"rows_removed\"\nfail = 0.01", "fail"),
        // Leaving the shifted scores out: ids 3-7 changed, 5 of 100.
        (
            "check = \"rows_changed\"\nignore_columns = [\"score\"]\nwarn = 0.1",
            "pass",
        ),
        (
            "check = \"rows_changed\"\nignore_columns = [\"score\"]\nwarn = 0.01\nfail = 0.1",
            "warn",
        ),
        (
            "check = \"rows_changed\"\nignore_columns = [\"score\"]\nfail = 0.01",
            "fail",
        ),
        // With the scores every paired row changed.
        ("check = \"rows_changed\"\nfail = 0.5", "fail"),
        // Amounts: 4 of 98 paired rows unequal beyond a cent.
        (
            "check = \"column_match\"\ncolumns = [\"amount\"]\ntolerance = { abs = 0.01 }\nfail_below = 0.9",
            "pass",
        ),
        (
            "check = \"column_match\"\ncolumns = [\"amount\"]\ntolerance = { abs = 0.01 }\nwarn_below = 0.99\nfail_below = 0.9",
            "warn",
        ),
        (
            "check = \"column_match\"\ncolumns = [\"amount\"]\nfail_below = 0.99",
            "fail",
        ),
        // A key column is not compared.
        (
            "check = \"column_match\"\ncolumns = [\"id\"]\nfail_below = 0.99",
            "error",
        ),
        // Null rate of amount 0% -> 2 of 102 = 1.96 pp.
        (
            "check = \"stat\"\ncolumns = [\"amount\"]\nmetric = \"null_rate\"\nwarn = 5",
            "pass",
        ),
        (
            "check = \"stat\"\ncolumns = [\"amount\"]\nmetric = \"null_rate\"\nwarn = 1\nfail = 5",
            "warn",
        ),
        (
            "check = \"stat\"\ncolumns = [\"amount\"]\nmetric = \"null_rate\"\nfail = 1",
            "fail",
        ),
        // `mean` needs a number.
        (
            "check = \"stat\"\ncolumns = [\"status\"]\nmetric = \"mean\"\nfail = 1",
            "error",
        ),
        // Scores 0-9 against 5-14: a KS distance of about 0.5.
        (
            "check = \"distribution\"\ncolumns = [\"score\"]\nmethod = \"ks\"\nfail = 0.7",
            "pass",
        ),
        (
            "check = \"distribution\"\ncolumns = [\"score\"]\nmethod = \"ks\"\nwarn = 0.3\nfail = 0.7",
            "warn",
        ),
        (
            "check = \"distribution\"\ncolumns = [\"score\"]\nmethod = \"ks\"\nfail = 0.3",
            "fail",
        ),
        (
            "check = \"distribution\"\ncolumns = [\"status\"]\nmethod = \"psi\"\nfail = 0.3",
            "error",
        ),
    ]
    .iter()
    .map(|(body, status)| (body.to_string(), *status))
    .collect();
    // The mean of amount, bounded around its independently computed change.
    let metric = "check = \"stat\"\ncolumns = [\"amount\"]\nmetric = \"mean\"";
    cases.push((format!("{metric}\nwarn = {}", 2.0 * c), "pass"));
    cases.push((
        format!("{metric}\nwarn = {}\nfail = {}", c / 2.0, 2.0 * c),
        "warn",
    ));
    cases.push((format!("{metric}\nfail = {}", c / 2.0), "fail"));
    // Any kind whose table pattern matches nothing cannot be evaluated.
    for kind in [
        "check = \"row_count\"\nfail = 0.1",
        "check = \"schema\"\nfail_on = [\"removed\"]",
        "check = \"key_integrity\"\nfail_on = [\"null\"]",
        "check = \"rows_added\"\nfail = 0.1",
        "check = \"rows_removed\"\nfail = 0.1",
        "check = \"rows_changed\"\nfail = 0.1",
        "check = \"column_match\"\nfail_below = 0.5",
        "check = \"stat\"\nmetric = \"sum\"\nfail = 0.1",
        "check = \"distribution\"\nmethod = \"psi\"\nfail = 0.1",
        "check = \"expect\"\nreason = \"x\"",
    ] {
        cases.push((format!("{kind}\ntables = [\"nope_*\"]"), "error"));
    }
    cases
}

fn mean_change() -> f64 {
    let (prod, candidate) = pair();
    (candidate.mean_amount() - prod.mean_amount()) / prod.mean_amount()
}

#[test]
fn every_kind_passes_warns_fails_and_errors() {
    let dir = pair_dir();
    let change = mean_change();
    let cases = kind_cases(change);
    let bodies: Vec<&str> = cases.iter().map(|(b, _)| b.as_str()).collect();
    write_rules(dir.path(), "kinds.toml", &bodies);
    let output = diff(dir.path(), &["--key", "id", "--rules", "kinds.toml"]);
    let report = json_report(&output);

    // The pair is what the cases assume.
    let rows = &report["tables"][0]["rows"];
    assert_eq!(rows["prod"], 100);
    assert_eq!(rows["candidate"], 102);
    assert_eq!(rows["added"], 4);
    assert_eq!(rows["removed"], 2);
    assert_eq!(rows["duplicate_keys"]["candidate"], 1);

    for (i, (body, expected)) in cases.iter().enumerate() {
        let status = status_of_rule(&report, "kinds.toml", i + 1);
        assert_eq!(&status, expected, "rule {}:\n{body}\n{report:#}", i + 1);
    }
    // Some rule failed and some could not be evaluated: a failure decides.
    assert_eq!(report["verdict"], "rejected");
    assert_eq!(output.status.code(), Some(1));

    // Observed figures are the ones computed here independently.
    let mean_index = cases
        .iter()
        .position(|(b, s)| b.contains("\"mean\"") && *s == "pass");
    let observed = &outcomes_of(&report, "kinds.toml", mean_index.unwrap() + 1)[0]["observed"];
    assert!(
        (observed.as_f64().unwrap() - change).abs() < 1e-12,
        "{observed}"
    );
    let rows_changed = &outcomes_of(&report, "kinds.toml", 18)[0];
    assert_eq!(rows_changed["observed"], 0.05, "{rows_changed:#}");
    let null_rate = &outcomes_of(&report, "kinds.toml", 26)[0];
    let expected_pp = 2.0 / 102.0 * 100.0;
    assert!((null_rate["observed"].as_f64().unwrap() - expected_pp).abs() < 1e-9);
    let matched = &outcomes_of(&report, "kinds.toml", 22)[0];
    assert!((matched["observed"].as_f64().unwrap() - 94.0 / 98.0).abs() < 1e-12);
    // The rule's tolerance was the one the diff compared amounts with.
    let amount = report["tables"][0]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "amount")
        .unwrap();
    assert_eq!(amount["tolerance"]["abs"], 0.01);
    assert_eq!(amount["within_tolerance"], 2);
    let nothing = outcomes_of(&report, "kinds.toml", cases.len())[0];
    assert_eq!(nothing["message"], "rule 46 `expect` matched no table");
}

#[test]
fn rules_that_need_statistics_or_a_key_error_without_them() {
    let dir = pair_dir();
    write_rules(
        dir.path(),
        "needs.toml",
        &[
            "check = \"stat\"\nmetric = \"mean\"\nfail = 0.5",
            "check = \"distribution\"\nmethod = \"psi\"\nfail = 0.5",
            "check = \"row_count\"\nfail = 0.5",
        ],
    );
    let output = diff(
        dir.path(),
        &["--key", "id", "--no-stats", "--rules", "needs.toml"],
    );
    let report = json_report(&output);
    for index in [1, 2] {
        let outcome = outcomes_of(&report, "needs.toml", index)[0];
        assert_eq!(outcome["status"], "error");
        assert!(outcome["message"].as_str().unwrap().contains("--no-stats"));
    }
    assert_eq!(status_of_rule(&report, "needs.toml", 3), "pass");
    assert_eq!(report["verdict"], "error");
    assert_eq!(output.status.code(), Some(2));

    write_rules(
        dir.path(),
        "keyed.toml",
        &[
            "check = \"key_integrity\"\nfail_on = [\"duplicate\"]",
            "check = \"rows_changed\"\nfail = 0.5",
            "check = \"column_match\"\nfail_below = 0.5",
        ],
    );
    let whole_rows = json_report(&diff(dir.path(), &["--rules", "keyed.toml"]));
    for index in 1..=3 {
        let outcome = outcomes_of(&whole_rows, "keyed.toml", index)[0];
        assert_eq!(outcome["status"], "error", "{outcome:#}");
        assert!(outcome["message"].as_str().unwrap().contains("keyed diff"));
    }
}

#[test]
fn expect_turns_intended_changes_into_info() {
    let dir = pair_dir();
    write_rules(
        dir.path(),
        "expect.toml",
        &[
            "check = \"expect\"\ncolumns = [\"score\", \"channel\"]\nreason = \"scores moved to the 5-14 scale\"",
            "check = \"distribution\"\ncolumns = [\"score\"]\nmethod = \"ks\"\nfail = 0.3",
            "check = \"schema\"\nfail_on = [\"added\"]",
            // Leaves the expected columns out: ids 1-7 (no tolerance on
            // amounts here), 7 of 100.
            "check = \"rows_changed\"\nwarn = 0.1",
            "check = \"row_count\"\nfail = 0.5",
        ],
    );
    let output = diff(dir.path(), &["--key", "id", "--rules", "expect.toml"]);
    let report = json_report(&output);
    let ks = outcomes_of(&report, "expect.toml", 2)[0];
    assert_eq!(ks["status"], "info");
    let message = ks["message"].as_str().unwrap();
    assert!(
        message.contains("was fail") && message.contains("scores moved to the 5-14 scale"),
        "{message}"
    );
    assert_eq!(status_of_rule(&report, "expect.toml", 3), "info");
    let changed = outcomes_of(&report, "expect.toml", 4)[0];
    assert_eq!(changed["status"], "pass");
    assert_eq!(changed["observed"], 0.07);
    let rows = &report["tables"][0]["rows"];
    assert_eq!(
        rows["changed_ignoring"],
        serde_json::json!([{"columns": ["channel", "score"], "changed": 7}])
    );
    // One outcome per expected column, saying what it covered.
    let expected = outcomes_of(&report, "expect.toml", 1);
    assert_eq!(expected.len(), 2);
    assert!(expected.iter().all(|o| o["status"] == "info"));
    assert_eq!(expected[0]["column"], "score");
    assert_eq!(expected[0]["observed"], 1);
    // Nothing failed: intended changes do not block promotion.
    assert_eq!(report["verdict"], "approved");
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn exit_codes_of_diff_and_check_follow_the_verdict() {
    let dir = pair_dir();
    write_rules(
        dir.path(),
        "approve.toml",
        &["check = \"row_count\"\nfail = 0.5"],
    );
    write_rules(
        dir.path(),
        "warn.toml",
        &["check = \"row_count\"\nwarn = 0.01\nfail = 0.5"],
    );
    write_rules(
        dir.path(),
        "reject.toml",
        &["check = \"row_count\"\nfail = 0.01"],
    );
    write_rules(
        dir.path(),
        "error.toml",
        &["check = \"stat\"\nmetric = \"mean\"\nfail = 0.5"],
    );
    let saved = dir.path().join("saved");
    let output = dualrun(
        dir.path(),
        &[
            "diff",
            "prod.parquet",
            "candidate.parquet",
            "--key",
            "id",
            "--no-stats",
            "--rules",
            "approve.toml",
            "--format",
            "json",
            "--output-dir",
            saved.to_str().unwrap(),
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report_path = saved.join("report.json");
    let report_arg = report_path.to_str().unwrap();
    for (rules, strict, code) in [
        ("approve.toml", false, 0),
        ("warn.toml", false, 0),
        ("warn.toml", true, 1),
        ("reject.toml", false, 1),
        ("error.toml", false, 2),
    ] {
        let mut args = vec!["--key", "id", "--no-stats", "--rules", rules];
        if strict {
            args.push("--strict");
        }
        let diffed = diff(dir.path(), &args);
        assert_eq!(diffed.status.code(), Some(code), "diff {rules} {strict}");
        let mut check_args = vec!["check", report_arg, "--rules", rules, "--format", "json"];
        if strict {
            check_args.push("--strict");
        }
        let checked = dualrun(dir.path(), &check_args);
        assert_eq!(checked.status.code(), Some(code), "check {rules} {strict}");
        assert_eq!(
            json_report(&checked)["verdict"],
            json_report(&diffed)["verdict"]
        );
    }
    // Without rules, any difference rejects, in `diff` and in `check`.
    assert_eq!(diff(dir.path(), &["--key", "id"]).status.code(), Some(1));
    assert_eq!(
        dualrun(dir.path(), &["check", report_arg]).status.code(),
        Some(1)
    );
    // `--strict` shows in the outcome it turned.
    let strict = json_report(&diff(
        dir.path(),
        &["--key", "id", "--rules", "warn.toml", "--strict"],
    ));
    assert_eq!(strict["judged_by"]["strict"], true);
    assert!(
        strict["rules"][0]["message"]
            .as_str()
            .unwrap()
            .contains("--strict")
    );
}

#[test]
fn check_judges_a_saved_report_as_the_original_run_did() {
    let dir = pair_dir();
    let cases = kind_cases(mean_change());
    let bodies: Vec<&str> = cases.iter().map(|(b, _)| b.as_str()).collect();
    write_rules(dir.path(), "kinds.toml", &bodies);
    let saved = dir.path().join("saved");
    let original = dualrun(
        dir.path(),
        &[
            "diff",
            "prod.parquet",
            "candidate.parquet",
            "--name",
            "orders",
            "--key",
            "id",
            "--rules",
            "kinds.toml",
            "--format",
            "json",
            "--output-dir",
            saved.to_str().unwrap(),
        ],
    );
    assert_eq!(original.status.code(), Some(1));
    let report_path = saved.join("report.json");
    let original: Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
    let checked = dualrun(
        dir.path(),
        &[
            "check",
            report_path.to_str().unwrap(),
            "--rules",
            "kinds.toml",
            "--format",
            "json",
        ],
    );
    assert_eq!(checked.status.code(), Some(1));
    let checked = json_report(&checked);
    assert_eq!(checked["command"], "check");
    assert_eq!(checked["verdict"], original["verdict"]);
    assert_eq!(checked["rules"], original["rules"]);
    assert_eq!(checked["tables"], original["tables"]);

    // One thread judges as many do (the rules' changed-row counts included).
    let one_thread = diff(
        dir.path(),
        &["--key", "id", "--rules", "kinds.toml", "--threads", "1"],
    );
    let mut one_thread = json_report(&one_thread);
    one_thread["command"] = original["command"].clone();
    assert_eq!(one_thread["rules"], original["rules"]);
    assert_eq!(one_thread["tables"], original["tables"]);

    // Facts the report does not hold are errors that say so.
    write_rules(
        dir.path(),
        "other.toml",
        &[
            "check = \"column_match\"\ncolumns = [\"amount\"]\ntolerance = { abs = 0.001 }\nfail_below = 0.5",
            "check = \"column_match\"\ncolumns = [\"amount\"]\ntolerance = { abs = 0 }\nfail_below = 0.99",
            "check = \"rows_changed\"\nignore_columns = [\"status\"]\nfail = 0.5",
        ],
    );
    let other = json_report(&dualrun(
        dir.path(),
        &[
            "check",
            report_path.to_str().unwrap(),
            "--rules",
            "other.toml",
            "--format",
            "json",
        ],
    ));
    let tighter = outcomes_of(&other, "other.toml", 1)[0];
    assert_eq!(tighter["status"], "error");
    assert!(
        tighter["message"]
            .as_str()
            .unwrap()
            .contains("rerun the diff")
    );
    // Exact comparison is answerable: within-tolerance values count as unequal.
    let exact = outcomes_of(&other, "other.toml", 2)[0];
    assert_eq!(exact["status"], "fail");
    assert!((exact["observed"].as_f64().unwrap() - 92.0 / 98.0).abs() < 1e-12);
    let ignoring = outcomes_of(&other, "other.toml", 3)[0];
    assert_eq!(ignoring["status"], "error");
    assert!(ignoring["message"].as_str().unwrap().contains("`status`"));
    assert_eq!(other["verdict"], "rejected");
}

#[test]
fn rule_packs_load_and_judge_the_sample() {
    for (pack, verdict) in [
        ("default", "rejected"),
        ("strict", "rejected"),
        ("lenient", "rejected"),
    ] {
        let path = format!("rules/{pack}.toml");
        let output = orders_diff(&["--rules", &path, "--format", "json"]);
        let report = json_report(&output);
        assert_eq!(report["verdict"], verdict, "{pack}: {report:#}");
        let outcomes = report["rules"].as_array().unwrap();
        assert!(!outcomes.is_empty());
        // A pack must be evaluable on an ordinary keyed table.
        assert!(
            outcomes.iter().all(|o| o["status"] != "error"),
            "{pack}: {outcomes:#?}"
        );
        // Every rule of the pack produced an outcome.
        let rules = std::fs::read_to_string(repo().join(&path))
            .unwrap()
            .lines()
            .filter(|line| line.trim_end() == "[[rule]]")
            .count();
        for index in 1..=rules {
            let origin = format!("{path}#{index}");
            assert!(
                outcomes.iter().any(|o| o["origin"] == origin.as_str()),
                "{pack}: no outcome for {origin}"
            );
        }
    }
    // On identical tables every pack approves.
    for pack in ["default", "strict", "lenient"] {
        let path = format!("rules/{pack}.toml");
        let output = dualrun(
            repo(),
            &[
                "diff",
                "samples/orders_prod.csv",
                "samples/orders_prod.csv",
                "--key",
                "order_id",
                "--rules",
                &path,
            ],
        );
        // The prod sample has one NULL key, which the strict pack fails on.
        let expected = if pack == "strict" { 1 } else { 0 };
        assert_eq!(
            output.status.code(),
            Some(expected),
            "{pack}: {}",
            stdout(&output)
        );
    }
}

#[test]
fn sample_rules_reject_on_the_duplicate_key_only() {
    let output = orders_diff(&["--name", "orders", "--rules", "samples/orders_rules.toml"]);
    assert_eq!(output.status.code(), Some(1));
    insta::assert_snapshot!(stdout(&output));
}

/// The one-line error of a broken rules file, with its hint.
fn rules_error(rules: &str) -> String {
    let dir = pair_dir();
    std::fs::write(dir.path().join("bad.toml"), rules).unwrap();
    let output = diff(dir.path(), &["--key", "id", "--rules", "bad.toml"]);
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    assert!(stdout(&output).is_empty());
    stderr(&output)
}

#[test]
fn broken_rules_files_get_one_clear_error() {
    let cases = [
        (
            "unknown_field",
            "[[rule]]\ncheck = \"row_count\"\nfial = 0.1\n",
        ),
        (
            "unknown_column",
            "[[rule]]\ncheck = \"row_count\"\nfail = 0.1\n\n[[rule]]\ncheck = \"stat\"\ncolumns = [\"amout\"]\nmetric = \"mean\"\nfail = 0.1\n",
        ),
        (
            "unknown_table",
            "[[rule]]\ncheck = \"rows_added\"\ntables = [\"order\"]\nfail = 0.1\n",
        ),
        (
            "bad_glob",
            "[[rule]]\ncheck = \"stat\"\ncolumns = [\"am[ount\"]\nmetric = \"mean\"\nfail = 0.1\n",
        ),
        (
            "wrong_type",
            "[[rule]]\ncheck = \"row_count\"\nfail = \"five percent\"\n",
        ),
        (
            "warn_above_fail",
            "[[rule]]\ncheck = \"rows_changed\"\nwarn = 0.2\nfail = 0.1\n",
        ),
        (
            "negative_bound",
            "[[rule]]\ncheck = \"rows_removed\"\nfail = -1\n",
        ),
        (
            "foreign_field",
            "[[rule]]\ncheck = \"row_count\"\nfail = 0.1\nmetric = \"mean\"\n",
        ),
        (
            "unknown_check",
            "[[rule]]\ncheck = \"rowcount\"\nfail = 0.1\n",
        ),
        (
            "unknown_metric",
            "[[rule]]\ncheck = \"stat\"\nmetric = \"median\"\nfail = 0.1\n",
        ),
        ("no_bound", "[[rule]]\ncheck = \"rows_added\"\n"),
        ("not_toml", "[[rule]\ncheck = \"row_count\"\n"),
        ("no_rules", "# nothing yet\n"),
        (
            "bad_tolerance",
            "[[rule]]\ncheck = \"column_match\"\ncolumns = [\"amount\"]\ntolerance = { abss = 0.01 }\nfail_below = 0.9\n",
        ),
    ];
    for (name, rules) in cases {
        insta::assert_snapshot!(name, rules_error(rules));
    }
}

#[test]
fn a_rule_and_tol_giving_one_column_two_tolerances_is_refused() {
    let dir = pair_dir();
    write_rules(
        dir.path(),
        "tol.toml",
        &[
            "check = \"column_match\"\ncolumns = [\"amount\"]\ntolerance = { abs = 0.01 }\nfail_below = 0.5",
        ],
    );
    let output = diff(
        dir.path(),
        &[
            "--key",
            "id",
            "--rules",
            "tol.toml",
            "--tol",
            "amount=abs:0.1",
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("different tolerances"),
        "{}",
        stderr(&output)
    );
    // The same tolerance in both places is fine.
    let same = diff(
        dir.path(),
        &[
            "--key",
            "id",
            "--rules",
            "tol.toml",
            "--tol",
            "amount=abs:0.01",
        ],
    );
    assert_eq!(same.status.code(), Some(0), "{}", stderr(&same));
}

#[test]
fn check_refuses_what_is_not_a_report() {
    let dir = pair_dir();
    std::fs::write(dir.path().join("not.json"), "{\"schema_version\": 1}").unwrap();
    let output = dualrun(dir.path(), &["check", "not.json"]);
    assert_eq!(output.status.code(), Some(2));
    let error = stderr(&output);
    assert!(
        error.contains("not.json") && error.contains("version 1"),
        "{error}"
    );
    let missing = dualrun(dir.path(), &["check", "missing.json"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("missing.json"));
}
