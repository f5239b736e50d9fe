//! `dualrun run` beyond one engine: the same models on DataFusion and on
//! Polars, tables only one side builds, what the run directory keeps (every
//! output as Parquet, the manifest's engines and timings), Ctrl-C in the
//! middle of a run, and the progress display on a real terminal.

use crate::common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// Orders and customers as CSV, and a models folder per side.
fn shop(root: &Path) {
    std::fs::create_dir_all(root.join("data")).unwrap();
    let mut orders = String::from("order_id,customer_id,status,amount,ordered_at\n");
    for i in 1..=60 {
        let status = ["paid", "shipped", "refunded"][i % 3];
        let amount = (i * 37 % 500) as f64 / 4.0;
        orders.push_str(&format!(
            "{i},{},{status},{amount},2026-03-{:02} 10:00:00\n",
            i % 7,
            i % 28 + 1
        ));
    }
    std::fs::write(root.join("data/orders.csv"), orders).unwrap();
    let mut customers = String::from("customer_id,region\n");
    for c in 0..7 {
        customers.push_str(&format!("{c},{}\n", ["eu", "us", "apac"][c % 3]));
    }
    std::fs::write(root.join("data/customers.csv"), customers).unwrap();
}

/// Models both engines run: filters, a join, CAST, COALESCE, CASE and
/// grouped aggregates.
const MODELS: [(&str, &str); 3] = [
    (
        "stg_orders",
        "SELECT order_id, customer_id, status, CAST(amount AS DOUBLE) AS amount \
         FROM orders WHERE status <> 'refunded'",
    ),
    (
        "order_regions",
        "SELECT o.order_id, o.amount, COALESCE(c.region, 'unknown') AS region, \
         CASE WHEN o.amount >= 60 THEN 'large' ELSE 'small' END AS size \
         FROM stg_orders o LEFT JOIN customers c ON o.customer_id = c.customer_id",
    ),
    (
        "revenue",
        "SELECT region, SUM(amount) AS revenue, MIN(amount) AS smallest, \
         MAX(amount) AS largest FROM order_regions GROUP BY region",
    ),
];

fn write_models(dir: &Path, models: &[(&str, &str)]) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, sql) in models {
        std::fs::write(dir.join(format!("{name}.sql")), sql).unwrap();
    }
}

fn write_project(root: &Path, prod: &str, candidate: &str, outputs: &str) {
    std::fs::write(
        root.join("dualrun.toml"),
        format!(
            "[inputs]\norders = \"data/orders.csv\"\ncustomers = \"data/customers.csv\"\n\n\
             [prod]\n{prod}\n\n[candidate]\n{candidate}\n\n{outputs}"
        ),
    )
    .unwrap();
}

const OUTPUTS: &str = "[outputs.revenue]\nkey = [\"region\"]\n\n\
                       [outputs.order_regions]\nkey = [\"order_id\"]\n";

fn run(root: &Path) -> (std::process::Output, serde_json::Value) {
    let output = dualrun(root, &["run", ".", "--format", "json"]);
    let report = json_report(&output);
    (output, report)
}

/// Runs the project whose sides build `prod_models` and `candidate_models`.
fn run_overlays(root: &Path, outputs: &str) -> (std::process::Output, serde_json::Value) {
    write_project(
        root,
        "models = \"prod_models\"",
        "models = \"candidate_models\"",
        outputs,
    );
    run(root)
}

fn only_run_dir(root: &Path) -> std::path::PathBuf {
    let mut runs: Vec<_> = std::fs::read_dir(root.join(".dualrun/runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    runs.sort();
    runs.pop().unwrap()
}

/// The outcome of `check` on `table`.
fn outcome<'a>(report: &'a serde_json::Value, table: &str, check: &str) -> &'a serde_json::Value {
    report["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["table"] == table && o["check"] == check)
        .unwrap_or_else(|| panic!("no {check} on {table}: {report:#}"))
}

#[cfg(feature = "polars")]
#[test]
fn polars_and_datafusion_build_the_same_outputs_from_the_same_models() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    shop(root);
    write_models(&root.join("models"), &MODELS);
    write_project(
        root,
        "engine = \"datafusion\"\nmodels = \"models\"",
        "engine = \"polars\"\nmodels = \"models\"",
        OUTPUTS,
    );
    let (output, report) = run(root);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_eq!(report["verdict"], "approved");
    for name in ["revenue", "order_regions"] {
        let t = report_table(&report, name);
        assert_eq!(t["status"], "equal", "{t:#}");
        assert!(t["rows"]["identical"].as_u64().unwrap() > 0, "{t:#}");
    }
    // 40 orders are not refunded; three regions.
    assert_eq!(report_table(&report, "order_regions")["rows"]["prod"], 40);
    assert_eq!(report_table(&report, "revenue")["rows"]["candidate"], 3);
    let sides = report["sides"].as_array().unwrap();
    assert_eq!(sides[0]["engine"], "datafusion");
    assert_eq!(sides[1]["engine"], "polars");
    assert!(
        sides[1]["engine_version"]
            .as_str()
            .unwrap()
            .starts_with("0.")
    );
    // Every model both built, the undeclared one included, is the same.
    let models = report["models"]["models"].as_array().unwrap();
    assert_eq!(models.len(), 3);
    assert!(models.iter().all(|m| m["differs"] == false), "{models:?}");
    let run_dir = only_run_dir(root);
    assert!(run_dir.join("candidate/stg_orders.parquet").is_file());
    // The converted inputs Polars read are not left behind.
    assert!(!run_dir.join("candidate-inputs").exists());

    // A candidate model Polars cannot run fails the side, naming the file.
    write_models(
        &root.join("bad_models"),
        &[
            MODELS[0],
            MODELS[1],
            (
                "revenue",
                "SELECT region, SUM(amount) FROM order_regions GROUP BY nope",
            ),
        ],
    );
    write_project(
        root,
        "engine = \"datafusion\"\nmodels = \"models\"",
        "engine = \"polars\"\nmodels = \"bad_models\"",
        OUTPUTS,
    );
    let (output, report) = run(root);
    assert_eq!(output.status.code(), Some(2), "{report:#}");
    let message = report["sides"][1]["message"].as_str().unwrap();
    assert!(message.contains("revenue.sql"), "{message}");
}

#[test]
fn a_declared_output_on_one_side_only_is_an_added_or_removed_table() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    shop(root);
    write_models(&root.join("prod_models"), &MODELS);
    // The candidate drops `revenue` and adds `large_orders`.
    write_models(
        &root.join("candidate_models"),
        &[
            MODELS[0],
            MODELS[1],
            (
                "large_orders",
                "SELECT order_id, amount FROM order_regions WHERE size = 'large'",
            ),
        ],
    );
    let outputs = format!("{OUTPUTS}\n[outputs.large_orders]\nkey = [\"order_id\"]\n");
    let (output, report) = run_overlays(root, &outputs);
    assert_eq!(output.status.code(), Some(1), "{report:#}");
    let removed = report_table(&report, "revenue");
    assert_eq!(removed["status"], "removed");
    assert_eq!(removed["candidate"]["format"], "absent");
    assert_eq!(removed["rows"]["removed"], 3);
    let added = report_table(&report, "large_orders");
    assert_eq!(added["status"], "added");
    assert_eq!(added["prod"]["format"], "absent");
    assert_eq!(
        added["rows"]["added"], added["candidate"]["rows"],
        "{added:#}"
    );
    assert_eq!(report_table(&report, "order_regions")["status"], "equal");
    assert_eq!(
        report["models"]["only_in_prod"],
        serde_json::json!(["revenue"])
    );
    assert_eq!(
        report["models"]["only_in_candidate"],
        serde_json::json!(["large_orders"])
    );
    // Without rules, any difference rejects.
    assert_eq!(outcome(&report, "revenue", "identical")["status"], "fail");
    assert!(
        outcome(&report, "large_orders", "identical")["message"]
            .as_str()
            .unwrap()
            .contains("only in candidate")
    );

    // Under a schema rule, a new table warns and a vanished one fails; a
    // rule about rows does not pretend to measure a table on one side.
    std::fs::write(
        root.join("rules.toml"),
        "[[rule]]\ncheck = \"schema\"\nfail_on = [\"table_removed\"]\nwarn_on = [\"table_added\"]\n\n\
         [[rule]]\ncheck = \"rows_changed\"\nfail = 0.1\n",
    )
    .unwrap();
    let output = dualrun(
        root,
        &["run", ".", "--format", "json", "--rules", "rules.toml"],
    );
    let report = json_report(&output);
    assert_eq!(output.status.code(), Some(1), "{report:#}");
    assert_eq!(outcome(&report, "revenue", "schema")["status"], "fail");
    assert_eq!(
        outcome(&report, "revenue", "schema")["observed"],
        "table_removed"
    );
    assert_eq!(outcome(&report, "large_orders", "schema")["status"], "warn");
    assert_eq!(
        outcome(&report, "large_orders", "rows_changed")["status"],
        "info"
    );
    assert_eq!(
        outcome(&report, "order_regions", "rows_changed")["status"],
        "pass"
    );

    // Without a schema rule, the built-in presence check still judges.
    std::fs::write(
        root.join("rules.toml"),
        "[[rule]]\ncheck = \"rows_changed\"\nfail = 0.1\n",
    )
    .unwrap();
    let output = dualrun(
        root,
        &["run", ".", "--format", "json", "--rules", "rules.toml"],
    );
    let report = json_report(&output);
    assert_eq!(output.status.code(), Some(1), "{report:#}");
    let presence: Vec<_> = report["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["rule"] == "table presence")
        .map(|o| (o["table"].clone(), o["status"].clone()))
        .collect();
    assert_eq!(
        presence,
        vec![
            (serde_json::json!("large_orders"), serde_json::json!("warn")),
            (serde_json::json!("revenue"), serde_json::json!("fail")),
        ]
    );

    // A declared output neither side builds cannot be decided.
    let outputs = format!("{outputs}\n[outputs.nowhere]\nkey = [\"id\"]\n");
    let (output, report) = run_overlays(root, &outputs);
    assert_eq!(output.status.code(), Some(2), "{report:#}");
    assert!(
        report["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["message"] == "neither side built the declared output `nowhere`"),
        "{report:#}"
    );
}

#[test]
fn the_run_directory_keeps_every_output_as_parquet_and_a_full_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    shop(root);
    write_models(&root.join("models"), &MODELS);
    std::fs::create_dir_all(root.join("published")).unwrap();
    std::fs::write(
        root.join("published/revenue.csv"),
        "region,revenue\neu,1.5\nus,2.5\napac,3.5\n",
    )
    .unwrap();
    write_project(
        root,
        "engine = \"files\"\noutputs_dir = \"published\"",
        "models = \"models\"",
        "[outputs.revenue]\nkey = [\"region\"]\n",
    );
    let (output, report) = run(root);
    assert_eq!(output.status.code(), Some(1), "{report:#}");
    let run_dir = only_run_dir(root);
    // The files side's CSV is kept as Parquet, with the same rows.
    let copy = run_dir.join("prod/revenue.parquet");
    assert!(copy.is_file());
    let diffed = dualrun(
        root,
        &[
            "diff",
            copy.to_str().unwrap(),
            "published/revenue.csv",
            "--key",
            "region",
            "--format",
            "json",
        ],
    );
    assert_eq!(
        json_report(&diffed)["verdict"],
        "approved",
        "{}",
        stderr(&diffed)
    );

    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["tool"]["name"], "dualrun");
    let sql_side = &manifest["sides"][1];
    assert_eq!(sql_side["engine"], "datafusion");
    assert_eq!(
        sql_side["engine_version"].as_str().unwrap(),
        datafusion::DATAFUSION_VERSION
    );
    let (started, ended) = (
        sql_side["started_at"].as_str().unwrap(),
        sql_side["ended_at"].as_str().unwrap(),
    );
    assert!(
        started.ends_with('Z') && started <= ended,
        "{started} {ended}"
    );
    let models = sql_side["models"].as_object().unwrap();
    assert_eq!(models.len(), 3);
    // Models start in dependency order, within the side's time.
    let start = |m: &str| models[m]["started_at"].as_str().unwrap().to_string();
    assert!(start("stg_orders") <= start("order_regions"));
    assert!(start("order_regions") <= start("revenue"));
    assert!(started <= start("stg_orders").as_str() && start("revenue").as_str() <= ended);
    // A model's time is part of its side's time.
    let side_seconds = |s: &str| {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_micros() as f64
            / 1e6
    };
    let model_seconds = models["revenue"]["seconds"].as_f64().unwrap();
    let side_span = side_seconds(ended) - side_seconds(started);
    assert!(
        (0.0..=side_span + 0.002).contains(&model_seconds),
        "revenue took {model_seconds} s of a side of {side_span} s"
    );
    assert_eq!(
        models["revenue"]["reads"],
        serde_json::json!(["order_regions"])
    );
    assert_eq!(manifest["inputs"].as_array().unwrap().len(), 2);
}

fn worktrees(dir: &Path) -> usize {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["worktree", "list"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).lines().count()
}

#[test]
fn ctrl_c_removes_the_worktree_and_kills_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    git(root, &["init", "-q", "-b", "main"]);
    std::fs::write(root.join("t.csv"), "id\n1\n").unwrap();
    // Prod, from git, starts a long command and says its process id.
    std::fs::write(
        root.join("dualrun.toml"),
        "[inputs]\nt = \"t.csv\"\n[prod]\nengine = \"command\"\ngit = \"main\"\n\
         run = \"echo $$ > \\\"$DUALRUN_OUTPUT_DIR/../pid\\\"; sleep 60\"\n\
         [candidate]\nengine = \"files\"\noutputs_dir = \".\"\n[outputs.t]\nkey = [\"id\"]\n",
    )
    .unwrap();
    std::fs::write(root.join(".gitignore"), ".dualrun/\n").unwrap();
    git(root, &["add", "."]);
    git(root, &["commit", "-q", "-m", "first"]);
    let run_dir = root.join("the-run");
    let child = Command::new(env!("CARGO_BIN_EXE_dualrun"))
        .args(["run", ".", "--run-dir", run_dir.to_str().unwrap()])
        .current_dir(root)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid_file = run_dir.join("pid");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(pid_file.is_file() && std::fs::read_to_string(&pid_file).unwrap().ends_with('\n')) {
        assert!(Instant::now() < deadline, "the command never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let command_pid = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(worktrees(root), 2, "the prod worktree is checked out");
    common::interrupt(child);
    assert_eq!(worktrees(root), 1, "the worktree is removed");
    // The command's process is gone (a zombie at most, until reaped).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let state = std::fs::read_to_string(format!("/proc/{command_pid}/stat"));
        match state {
            Err(_) => break,
            Ok(stat) if stat.split_whitespace().nth(2) == Some("Z") => break,
            Ok(_) => {
                assert!(Instant::now() < deadline, "the command still runs");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

#[test]
fn progress_shows_on_a_terminal_and_nowhere_else() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    shop(root);
    write_models(&root.join("models"), &MODELS);
    write_project(root, "models = \"models\"", "models = \"models\"", OUTPUTS);
    // `script` gives the run a real terminal and records what it drew.
    let script = require_tool(&["script"], "apt-get install bsdutils");
    let on_terminal = |extra: &str| -> String {
        let typescript = root.join("typescript");
        let command = format!("{} run . {extra}", env!("CARGO_BIN_EXE_dualrun"));
        let status = Command::new(&script)
            .args(["-q", "-e", "-c", &command])
            .arg(&typescript)
            .current_dir(root)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(0));
        std::fs::read_to_string(&typescript).unwrap()
    };
    let drawn = on_terminal("");
    for expected in [
        "prod (datafusion)",
        "candidate (datafusion)",
        "3/3",
        "diff",
        "2/2",
    ] {
        assert!(drawn.contains(expected), "{expected:?} in {drawn:?}");
    }
    let quiet = on_terminal("--quiet");
    assert!(!quiet.contains("prod (datafusion)"), "{quiet:?}");
    // Not a terminal: nothing but the report.
    let output = dualrun(root, &["run", "."]);
    assert_eq!(output.status.code(), Some(0));
    assert!(
        !stderr(&output).contains("prod (datafusion)"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn ctrl_c_while_models_build_stops_the_run_unfinished() {
    for engine in ["datafusion", "polars"] {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        shop(root);
        write_models(&root.join("models"), &MODELS);
        let side = format!("engine = \"{engine}\"\nmodels = \"models\"");
        write_project(root, &side, &side, OUTPUTS);
        let run_dir = root.join("the-run");
        let paused = start_paused(
            Command::new(env!("CARGO_BIN_EXE_dualrun"))
                .args(["run", ".", "--run-dir", run_dir.to_str().unwrap()])
                .current_dir(root),
            "building-model",
            Duration::from_secs(120),
        );
        let said = paused.interrupt();
        assert!(said.contains("interrupted"), "{engine}: {said}");
        // No report or manifest: the run cannot pass for a finished one.
        assert!(!run_dir.join("report.json").exists(), "{engine}");
        let refused = dualrun(
            root,
            &["publish", run_dir.to_str().unwrap(), "--to", "target"],
        );
        assert_eq!(refused.status.code(), Some(2), "{engine}");
        assert!(
            stderr(&refused).contains("not a complete run directory"),
            "{engine}: {}",
            stderr(&refused)
        );
    }
}
