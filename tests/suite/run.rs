//! `dualrun run` on small projects in temp dirs, with real subprocesses:
//! a `files` side against a `command` side, failing, timing out and
//! missing-output commands, run directories that are never reused, and
//! `dualrun init`.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::*;

/// A project whose prod side is `prod/t.csv` and whose candidate runs
/// `candidate_run` with `timeout`.
fn project(dir: &Path, candidate_run: &str, timeout: &str, rules: Option<&str>) {
    std::fs::create_dir_all(dir.join("prod")).unwrap();
    std::fs::write(
        dir.join("prod/t.csv"),
        "id,amount\n1,10.0\n2,20.0\n3,30.0\n",
    )
    .unwrap();
    let check = match rules {
        Some(text) => {
            std::fs::write(dir.join("rules.toml"), text).unwrap();
            "[check]\nrules = [\"rules.toml\"]\n"
        }
        None => "",
    };
    std::fs::write(
        dir.join("dualrun.toml"),
        format!(
            "[inputs]\nseed = \"prod/t.csv\"\n\n[prod]\nengine = \"files\"\noutputs_dir = \"prod\"\n\n\
             [candidate]\nengine = \"command\"\nrun = {candidate_run:?}\ntimeout = {timeout:?}\n\n\
             [outputs.t]\nkey = [\"id\"]\ntolerance = {{ amount = \"abs:0.01\" }}\n\n{check}"
        ),
    )
    .unwrap();
}

fn run(dir: &Path, extra: &[&str]) -> (std::process::Output, serde_json::Value) {
    let mut args = vec!["run", ".", "--format", "json"];
    args.extend_from_slice(extra);
    let output = dualrun(dir, &args);
    let report = json_report(&output);
    (output, report)
}

/// The one run directory of a project.
fn run_dir(dir: &Path) -> std::path::PathBuf {
    let runs: Vec<_> = std::fs::read_dir(dir.join(".dualrun/runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs[0].clone()
}

#[test]
fn a_command_side_is_diffed_against_a_files_side() {
    let dir = tempfile::tempdir().unwrap();
    // The candidate reads the input it is given and moves one amount by
    // less than the tolerance, another by more.
    let script = "echo \"$DUALRUN_SIDE reads $DUALRUN_INPUT_SEED\"; \
                  sed -e 's/^1,10.0/1,10.004/' -e 's/^3,30.0/3,31.0/' \"$DUALRUN_INPUT_SEED\" > \"$DUALRUN_OUTPUT_DIR/t.csv\"";
    project(
        dir.path(),
        script,
        "30s",
        Some("[[rule]]\ncheck = \"rows_changed\"\nwarn = 0.1\nfail = 0.5\n"),
    );
    let (output, report) = run(dir.path(), &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(report["command"], "run");
    assert_eq!(report["verdict"], "approved");
    let rows = &report["tables"][0]["rows"];
    assert_eq!(rows["within_tolerance"], 1);
    assert_eq!(rows["changed"], 1);
    assert_eq!(report["rules"][0]["status"], "warn", "{report:#}");
    let sides = report["sides"].as_array().unwrap();
    assert_eq!(sides[0]["engine"], "files");
    assert_eq!(sides[1]["engine"], "command");
    assert_eq!(sides[1]["status"], "ok");

    let run_dir = run_dir(dir.path());
    for file in [
        "report.json",
        "report.md",
        "report.html",
        "manifest.json",
        "candidate.log",
        "candidate/t.csv",
    ] {
        assert!(
            run_dir.join(file).exists(),
            "{file} in {}",
            run_dir.display()
        );
    }
    let log = std::fs::read_to_string(run_dir.join("candidate.log")).unwrap();
    let input = dir.path().join("prod/t.csv");
    assert!(
        log.contains(&format!(
            "candidate reads {}",
            std::path::absolute(&input).unwrap().display()
        )),
        "{log}"
    );
    // The saved report can be judged again.
    let checked = dualrun(
        dir.path(),
        &[
            "check",
            run_dir.join("report.json").to_str().unwrap(),
            "--rules",
            "rules.toml",
        ],
    );
    assert_eq!(checked.status.code(), Some(0), "{}", stderr(&checked));

    // A second run gets a directory of its own; a named one must be new.
    let again = dualrun(
        dir.path(),
        &["run", ".", "--run-dir", run_dir.to_str().unwrap()],
    );
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains("never writes over another"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn failing_commands_give_an_error_verdict_with_the_log_tail() {
    for (name, script, timeout, expect) in [
        (
            "exit",
            "for i in $(seq 1 30); do echo line $i; done; echo broke >&2; exit 3",
            "30s",
            "exited with code 3",
        ),
        (
            "missing",
            "echo wrote nothing",
            "30s",
            "wrote no output `t`",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        project(dir.path(), script, timeout, None);
        let (output, report) = run(dir.path(), &[]);
        assert_eq!(output.status.code(), Some(2), "{name}");
        assert_eq!(report["verdict"], "error", "{name}");
        let side = &report["sides"][1];
        assert_eq!(side["status"], "failed");
        assert!(
            side["message"].as_str().unwrap().contains(expect),
            "{name}: {side:#}"
        );
        let outcome = report["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["check"] == "run")
            .unwrap();
        assert_eq!(outcome["status"], "error");
        if name == "exit" {
            let tail = side["log_tail"].as_array().unwrap();
            assert_eq!(tail.len(), 20);
            assert_eq!(tail.last().unwrap(), "broke");
            assert_eq!(tail[0], "line 12");
            let table = dualrun(dir.path(), &["run", "."]);
            assert!(stdout(&table).contains("  | broke"), "{}", stdout(&table));
        }
    }
}

#[test]
fn a_timeout_kills_the_command_and_everything_it_started() {
    let dir = tempfile::tempdir().unwrap();
    // A background child says its process id, and would leave a file
    // behind if it survived.
    let script = "sh -c 'echo $$ > child.pid; sleep 3; touch survived' & sleep 30";
    project(dir.path(), script, "1s", None);
    let (output, report) = run(dir.path(), &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        report["sides"][1]["message"]
            .as_str()
            .unwrap()
            .contains("timed out")
    );
    let pid = std::fs::read_to_string(dir.path().join("child.pid")).expect("the child started");
    let stat = format!("/proc/{}/stat", pid.trim());
    // Gone (or a zombie until reaped) soon after the side ended; the guard
    // only stops a hang.
    let guard = Instant::now() + Duration::from_secs(30);
    while let Ok(state) = std::fs::read_to_string(&stat) {
        if state.split_whitespace().nth(2) == Some("Z") {
            break;
        }
        assert!(Instant::now() < guard, "a child outlived the timeout");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !dir.path().join("survived").exists(),
        "a child outlived the timeout"
    );
}

#[test]
fn init_writes_a_starter_once_and_bad_projects_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let output = dualrun(dir.path(), &["init"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = std::fs::read_to_string(dir.path().join("dualrun.toml")).unwrap();
    assert!(text.contains("[outputs.daily_revenue]"));
    assert!(dir.path().join("rules.toml").is_file());
    let again = dualrun(dir.path(), &["init"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("never writes over a file"));

    std::fs::write(
        dir.path().join("dualrun.toml"),
        "[prod]\nengine = \"spark\"\n[candidate]\nengine = \"files\"\noutputs_dir = \"c\"\n[outputs.t]\nkey = [\"id\"]\n",
    )
    .unwrap();
    let bad = dualrun(dir.path(), &["run"]);
    assert_eq!(bad.status.code(), Some(2));
    let error = stderr(&bad);
    assert!(
        error.contains("unknown engine `spark`") && error.contains("`command`, `files`"),
        "{error}"
    );
    let none = dualrun(&dir.path().join(".."), &["run", "no-such-project"]);
    assert_eq!(none.status.code(), Some(2));
    assert!(stderr(&none).contains("dualrun init"));
}

#[test]
fn sql_models_are_built_in_order_on_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("data")).unwrap();
    std::fs::write(
        root.join("data/orders.csv"),
        "id,region,amount\n1,eu,10.4\n2,eu,20.2\n3,us,5.3\n4,us,7.9\n",
    )
    .unwrap();
    for (side, amount) in [("prod", "amount"), ("candidate", "ROUND(amount, 0)")] {
        let models = root.join(format!("{side}_models"));
        std::fs::create_dir_all(&models).unwrap();
        std::fs::write(
            models.join("stg_orders.sql"),
            format!("SELECT id, region, {amount} AS amount FROM orders"),
        )
        .unwrap();
        std::fs::write(
            models.join("revenue.sql"),
            "SELECT region, SUM(amount) AS revenue FROM stg_orders GROUP BY region",
        )
        .unwrap();
    }
    std::fs::write(
        root.join("dualrun.toml"),
        "[inputs]\norders = \"data/orders.csv\"\n\n[prod]\nmodels = \"prod_models\"\n\n\
         [candidate]\nengine = \"datafusion\"\nmodels = \"candidate_models\"\n\n\
         [outputs.revenue]\nkey = [\"region\"]\ntolerance = { revenue = \"abs:0.5\" }\n\n\
         [outputs.stg_orders]\nkey = [\"id\"]\n",
    )
    .unwrap();
    let (output, report) = run(root, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let table = |name: &str| {
        report["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap()
            .clone()
    };
    // Rounding moved every amount.
    assert_eq!(table("stg_orders")["rows"]["changed"], 4);
    // eu: 30.6 -> 30 (beyond 0.5), us: 13.2 -> 13 (within).
    assert_eq!(table("revenue")["rows"]["changed"], 1);
    assert_eq!(table("revenue")["rows"]["within_tolerance"], 1);
    assert_eq!(report["sides"][0]["engine"], "datafusion");
    let run_dir = run_dir(root);
    assert!(run_dir.join("prod/revenue.parquet").is_file());
    assert!(run_dir.join("candidate/stg_orders.parquet").is_file());

    // A broken model fails its side, naming the file.
    std::fs::write(
        root.join("candidate_models/revenue.sql"),
        "SELECT region, SUM(amount) AS revenue FROM stg_orders GROUP BY nope",
    )
    .unwrap();
    let (output, report) = run(root, &[]);
    assert_eq!(output.status.code(), Some(2));
    let message = report["sides"][1]["message"].as_str().unwrap();
    assert!(
        message.contains("revenue.sql") && message.contains("nope"),
        "{message}"
    );
}

#[test]
fn the_first_divergent_model_is_where_the_change_entered() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("orders.csv"), "id,amount\n1,1.5\n2,2.5\n").unwrap();
    // orders -> staged -> scaled -> total, and staged -> counted.
    for (side, factor) in [("prod", "2"), ("candidate", "3")] {
        let models = root.join(side);
        std::fs::create_dir_all(&models).unwrap();
        for (name, sql) in [
            ("staged", "SELECT id, amount FROM orders".to_string()),
            (
                "scaled",
                format!("SELECT id, amount * {factor} AS x FROM staged"),
            ),
            ("total", "SELECT SUM(x) AS total FROM scaled".to_string()),
            ("counted", "SELECT COUNT(*) AS n FROM staged".to_string()),
        ] {
            std::fs::write(models.join(format!("{name}.sql")), sql).unwrap();
        }
    }
    std::fs::write(
        root.join("dualrun.toml"),
        "[inputs]\norders = \"orders.csv\"\n[prod]\nmodels = \"prod\"\n[candidate]\nmodels = \"candidate\"\n[outputs.total]\n",
    )
    .unwrap();
    let (output, report) = run(root, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let models = &report["models"];
    assert_eq!(
        models["first_divergent"],
        serde_json::json!(["scaled"]),
        "{models:#}"
    );
    let differs: Vec<(String, bool)> = models["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_string(),
                m["differs"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        differs,
        vec![
            ("counted".to_string(), false),
            ("scaled".to_string(), true),
            ("staged".to_string(), false),
            ("total".to_string(), true),
        ]
    );
    let table = dualrun(root, &["run", "."]);
    assert!(
        stdout(&table).contains("first divergent models: scaled (2 of 4 shared models differ)"),
        "{}",
        stdout(&table)
    );
}

#[test]
fn prod_from_a_git_revision_against_the_working_tree() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    git(root, &["init", "-q", "-b", "main"]);
    std::fs::write(root.join("orders.csv"), "id,amount\n1,1.5\n2,2.5\n").unwrap();
    std::fs::create_dir_all(root.join("models")).unwrap();
    std::fs::write(
        root.join("models/scaled.sql"),
        "SELECT id, amount * 2 AS x FROM orders",
    )
    .unwrap();
    std::fs::write(
        root.join("dualrun.toml"),
        "[inputs]\norders = \"orders.csv\"\n[prod]\nmodels = \"models\"\ngit = \"main\"\n[candidate]\nmodels = \"models\"\n[outputs.scaled]\nkey = [\"id\"]\n",
    )
    .unwrap();
    std::fs::write(root.join(".gitignore"), ".dualrun/\n").unwrap();
    git(root, &["add", "."]);
    git(root, &["commit", "-q", "-m", "first"]);
    let commit = git(root, &["rev-parse", "HEAD"]);
    // The working tree changes the model; the committed one stays prod.
    std::fs::write(
        root.join("models/scaled.sql"),
        "SELECT id, amount * 3 AS x FROM orders",
    )
    .unwrap();
    let (output, report) = run(root, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(report["tables"][0]["rows"]["changed"], 2);
    assert_eq!(report["sides"][0]["git"]["commit"], commit.as_str());
    assert!(report["sides"][1].get("git").is_none());
    // The worktree is gone afterwards.
    let worktrees = git(root, &["worktree", "list"]);
    assert_eq!(worktrees.lines().count(), 1, "{worktrees}");

    // An unknown revision fails the side, naming it.
    let text = std::fs::read_to_string(root.join("dualrun.toml")).unwrap();
    std::fs::write(
        root.join("dualrun.toml"),
        text.replace("git = \"main\"", "git = \"no-such-branch\""),
    )
    .unwrap();
    let (output, report) = run(root, &[]);
    assert_eq!(output.status.code(), Some(2));
    let message = report["sides"][0]["message"].as_str().unwrap();
    assert!(message.contains("`no-such-branch` is unknown"), "{message}");
}

#[test]
fn inputs_are_fingerprinted_and_tampering_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    // The candidate copies the input, then writes to it behind prod's back.
    let script = "cp \"$DUALRUN_INPUT_SEED\" \"$DUALRUN_OUTPUT_DIR/t.csv\"; echo 4,40.0 >> \"$DUALRUN_INPUT_SEED\"";
    project(dir.path(), script, "30s", None);
    let (output, report) = run(dir.path(), &[]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let inputs = report["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 1);
    assert_eq!(inputs[0]["input"], "seed");
    assert_eq!(inputs[0]["files"], 1);
    // The size before the run: "id,amount\n" and three 7-byte rows.
    assert_eq!(inputs[0]["bytes"], 31);
    assert_eq!(inputs[0]["xxh3"].as_str().unwrap().len(), 16);
    let tampered = report["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["rule"] == "input seed")
        .unwrap();
    assert_eq!(tampered["status"], "error");
    assert!(
        tampered["message"]
            .as_str()
            .unwrap()
            .contains("changed while the sides ran")
    );
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(run_dir(dir.path()).join("manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["inputs"][0]["xxh3"], inputs[0]["xxh3"]);
}

#[test]
fn the_shop_sample_is_rejected_at_its_changed_join_and_approved_in_cents() {
    let dir = tempfile::tempdir().unwrap();
    for (project, code, verdict, first) in [
        (
            "samples/shop",
            1,
            "rejected",
            serde_json::json!(["int_order_lines"]),
        ),
        (
            "samples/shop/cents.toml",
            0,
            "approved",
            serde_json::json!([]),
        ),
    ] {
        let run_dir = dir.path().join(code.to_string());
        let output = dualrun(
            repo(),
            &[
                "run",
                project,
                "--run-dir",
                run_dir.to_str().unwrap(),
                "--format",
                "json",
            ],
        );
        assert_eq!(
            output.status.code(),
            Some(code),
            "{project}: {}",
            stderr(&output)
        );
        let report = json_report(&output);
        assert_eq!(report["verdict"], verdict);
        assert_eq!(report["models"]["first_divergent"], first, "{project}");
        assert_eq!(report["tables"].as_array().unwrap().len(), 3);
    }
    // The rejection is the dropped lines: three discontinued products vanish
    // from the ranking.
    let rejected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("1/report.json")).unwrap())
            .unwrap();
    let ranking = rejected["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "product_ranking")
        .unwrap();
    assert_eq!(ranking["rows"]["removed"], 3);
}

#[cfg(feature = "polars")]
#[test]
fn the_shop_moved_to_polars_matches_in_values_and_warns_on_types() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let output = dualrun(
        repo(),
        &[
            "run",
            "samples/shop/polars.toml",
            "--run-dir",
            run_dir.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report = json_report(&output);
    assert_eq!(report["verdict"], "approved");
    assert_eq!(report["judged_by"]["counts"]["fail"], 0);
    assert!(report["judged_by"]["counts"]["warn"].as_u64().unwrap() > 0);
    for table in report["tables"].as_array().unwrap() {
        let rows = &table["rows"];
        assert_eq!(rows["changed"], 0, "{}", table["name"]);
        assert_eq!(rows["added"], 0, "{}", table["name"]);
        assert_eq!(rows["removed"], 0, "{}", table["name"]);
    }
    // Polars keeps timestamps in microseconds: the first model to differ
    // is the one that casts them.
    assert_eq!(
        report["models"]["first_divergent"],
        serde_json::json!(["stg_orders"])
    );
}

#[test]
fn snapshot_inputs_shields_the_run_from_a_changing_source() {
    // The candidate changes the original input behind the run's back.
    let script =
        "cp \"$DUALRUN_INPUT_SEED\" \"$DUALRUN_OUTPUT_DIR/t.csv\"; echo 9,90.0 >> data/seed.csv";
    for (snapshot, code) in [(false, 2), (true, 0)] {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        project(root, script, "30s", None);
        std::fs::create_dir_all(root.join("data")).unwrap();
        std::fs::copy(root.join("prod/t.csv"), root.join("data/seed.csv")).unwrap();
        let text = std::fs::read_to_string(root.join("dualrun.toml")).unwrap();
        std::fs::write(
            root.join("dualrun.toml"),
            text.replace("seed = \"prod/t.csv\"", "seed = \"data/seed.csv\""),
        )
        .unwrap();
        let extra: &[&str] = if snapshot {
            &["--snapshot-inputs"]
        } else {
            &[]
        };
        let (output, report) = run(root, extra);
        assert_eq!(
            output.status.code(),
            Some(code),
            "snapshot {snapshot}: {report:#}"
        );
        if snapshot {
            let copy = run_dir(root).join("inputs/seed.csv");
            assert_eq!(
                std::fs::read_to_string(copy).unwrap(),
                "id,amount\n1,10.0\n2,20.0\n3,30.0\n",
                "the copy is the input as it was"
            );
        }
    }
}

#[test]
fn a_rule_on_an_undeclared_output_fails_before_either_side_runs() {
    let dir = tempfile::tempdir().unwrap();
    // The candidate would leave a file behind if it ran.
    project(
        dir.path(),
        "touch ran; cp \"$DUALRUN_INPUT_SEED\" \"$DUALRUN_OUTPUT_DIR/t.csv\"",
        "30s",
        Some("[[rule]]\ncheck = \"rows_changed\"\ntables = [\"revenue\"]\nfail = 0.0\n"),
    );
    let output = dualrun(dir.path(), &["run", ".", "--run-dir", "the-run"]);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{message}");
    assert!(
        message.contains("names the unknown table `revenue`"),
        "{message}"
    );
    assert!(message.contains("valid names: `t`"), "{message}");
    assert!(!dir.path().join("ran").exists(), "no side ran");
    assert!(
        !dir.path().join("the-run").exists(),
        "no run directory was made"
    );
}

/// A project whose sides are `files` folders, `prod/` and `cand/`, with
/// one output `t` keyed by `id`.
fn files_project(dir: &Path, outputs: &str) {
    std::fs::write(
        dir.join("dualrun.toml"),
        format!(
            "[prod]\nengine = \"files\"\noutputs_dir = \"prod\"\n[candidate]\nengine = \"files\"\n\
             outputs_dir = \"cand\"\n{outputs}"
        ),
    )
    .unwrap();
}

#[test]
fn audit_copies_keep_parquet_bytes_and_convert_other_formats() {
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::arrow::record_batch::RecordBatch;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for side in ["prod", "cand"] {
        std::fs::create_dir_all(root.join(side)).unwrap();
    }
    let schema = std::sync::Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("v", DataType::Utf8, true),
    ]));
    let batch = |ids: Vec<i64>| {
        let values: Vec<String> = ids.iter().map(|i| format!("v{i}")).collect();
        RecordBatch::try_new(
            schema.clone(),
            vec![
                std::sync::Arc::new(Int64Array::from(ids)),
                std::sync::Arc::new(StringArray::from(values)),
            ],
        )
        .unwrap()
    };
    // `t`: Parquet on both sides; `u`: CSV on prod, a directory of two
    // Parquet files on the candidate.
    write_parquet(&root.join("prod/t.parquet"), &[batch((0..1000).collect())]);
    write_parquet(&root.join("cand/t.parquet"), &[batch((0..1001).collect())]);
    std::fs::write(root.join("prod/u.csv"), "id,v\n1,v1\n2,v2\n").unwrap();
    std::fs::create_dir_all(root.join("cand/u")).unwrap();
    write_parquet(&root.join("cand/u/part-0.parquet"), &[batch(vec![1])]);
    write_parquet(&root.join("cand/u/part-1.parquet"), &[batch(vec![2])]);
    files_project(
        root,
        "[outputs.t]\nkey = [\"id\"]\n[outputs.u]\nkey = [\"id\"]\n",
    );
    let output = dualrun(
        root,
        &["run", ".", "--run-dir", "the-run", "--format", "json"],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let report = json_report(&output);
    let run = root.join("the-run");
    // Parquet outputs are kept byte for byte, as copies (not links).
    for (side, from) in [("prod", "prod/t.parquet"), ("candidate", "cand/t.parquet")] {
        let copy = run.join(side).join("t.parquet");
        assert_eq!(
            std::fs::read(&copy).unwrap(),
            std::fs::read(root.join(from)).unwrap()
        );
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(&copy).unwrap().nlink(), 1, "{side}");
    }
    // Others are converted to one Parquet file with the same rows.
    for side in ["prod", "candidate"] {
        let converted = dualrun(
            root,
            &[
                "profile",
                &format!("the-run/{side}/u.parquet"),
                "--format",
                "json",
            ],
        );
        assert_eq!(json_report(&converted)["table"]["rows"], 2, "{side}");
    }
    let tables = report["tables"].as_array().unwrap();
    let table = |name: &str| tables.iter().find(|t| t["name"] == name).unwrap();
    // The report names what each side wrote, not the copy.
    assert!(
        table("u")["prod"]["source"]
            .as_str()
            .unwrap()
            .ends_with("prod/u.csv")
    );
    assert_eq!(table("u")["prod"]["format"], "csv");
    assert_eq!(table("u")["candidate"]["files"], 2);
    assert_eq!(table("u")["status"], "equal");
    assert_eq!(table("t")["rows"]["added"], 1);
    assert_eq!(table("t")["rows"]["identical"], 1000);
    // The manifest lists the candidate's copies with their digests.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("manifest.json")).unwrap()).unwrap();
    let listed = manifest["candidate_outputs"].as_object().unwrap();
    assert_eq!(listed.keys().collect::<Vec<_>>(), ["t", "u"]);
    assert_eq!(
        listed["t"]["bytes"],
        std::fs::metadata(root.join("cand/t.parquet"))
            .unwrap()
            .len()
    );
}
