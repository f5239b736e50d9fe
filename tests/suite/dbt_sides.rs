//! dbt projects as sides, run by real dbt (dbt-core with dbt-duckdb and
//! dbt-postgres, from the test venv): every model both sides built diffed
//! with the key its project declares, the DAG from dbt's manifest, dbt's
//! own tests as outcomes, failures of dbt as failed sides, and isolation:
//! the user's `target/`, DuckDB file and production schema untouched, what
//! the sides built removed after the run (kept with `--keep-sides`), and
//! no password in anything the run writes.
#![cfg(all(feature = "duckdb", feature = "postgres"))]

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::servers::{dbt, fresh_database, postgres, psql, python};
use crate::common::{git, json_report, report_table, stderr};

fn write(root: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

/// Seeds, an ephemeral staging model, a model keyed by a `unique` test,
/// one keyed by `meta.dualrun.key`, one reading a source in the user's
/// own database; `var('change')` changes revenue for customer 2,
/// `var('duplicate')` breaks the unique test, `var('broken')` the model.
const PROJECT: [(&str, &str); 9] = [
    (
        "dbt_project.yml",
        "name: shop\nversion: '1.0'\nprofile: shop\nmodel-paths: [models]\nseed-paths: [seeds]\n",
    ),
    ("seeds/customers.csv", "id,name\n1,ada\n2,bo\n3,cai\n"),
    (
        "seeds/orders.csv",
        "id,customer_id,amount\n1,1,10.5\n2,1,3\n3,2,7\n4,3,1.25\n5,3,2\n",
    ),
    (
        "models/stg_orders.sql",
        "{{ config(materialized='ephemeral') }}\nselect * from {{ ref('orders') }}\n",
    ),
    (
        "models/revenue.sql",
        "{{ config(materialized='table') }}
{% if var('broken', false) %} select * from no_such_relation {% else %}
select c.id as customer_id, c.name,
       sum(o.amount) + case when {{ var('change', false) }} and c.id = 2 then 1 else 0 end as revenue
from {{ ref('customers') }} c join {{ ref('stg_orders') }} o on o.customer_id = c.id
group by 1, 2
{% if var('duplicate', false) %} union all select 1, 'ada', 0 {% endif %}
{% endif %}
",
    ),
    (
        "models/flat.sql",
        "{{ config(materialized='table', meta={'dualrun': {'key': ['customer_id']}}) }}
select customer_id, revenue * 2 as doubled from {{ ref('revenue') }}
",
    ),
    (
        "models/paid.sql",
        "{{ config(materialized='table') }}
select order_id, paid_at from {{ source('raw', 'payments') }}
",
    ),
    (
        "models/sources.yml",
        "version: 2
sources:
  - name: raw
    schema: raw
    tables: [{name: payments}]
",
    ),
    (
        "models/schema.yml",
        "version: 2
models:
  - name: revenue
    columns:
      - name: customer_id
        data_tests: [unique, not_null]
  - name: paid
    columns:
      - name: order_id
        data_tests: [unique]
",
    ),
];

/// The project in `root` with a DuckDB profile whose database (the user's
/// own, with the source table `raw.payments`) is `warehouse.duckdb`.
fn duckdb_project(root: &Path) {
    write(root, &PROJECT);
    write(
        root,
        &[(
            "profiles.yml",
            "shop:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: warehouse.duckdb\n      threads: 2\n",
        )],
    );
    python(
        "import duckdb\n\
         db = duckdb.connect('warehouse.duckdb')\n\
         db.execute(\"create schema raw\")\n\
         db.execute(\"create table raw.payments as select range as order_id, timestamp '2026-11-30 10:00:00' + to_seconds(range) as paid_at from range(1, 6)\")\n\
         db.close()",
        root,
    );
}

/// `[prod]` and `[candidate]` dbt sides with `prod` and `candidate` lines
/// added, run by the test venv's dbt.
fn project_file(root: &Path, prod: &str, candidate: &str, extra: &str) {
    let executable = dbt("project_file").unwrap_or_default();
    write(
        root,
        &[(
            "dualrun.toml",
            &format!(
                "[prod]\nengine = \"dbt\"\nexecutable = \"{executable}\"\n{prod}\n\n\
                 [candidate]\nengine = \"dbt\"\nexecutable = \"{executable}\"\n{candidate}\n\n{extra}\n"
            ),
        )],
    );
}

fn run(root: &Path, run_dir: &Path, extra: &[&str]) -> Output {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dualrun"))
        .arg("run")
        .arg(root)
        .arg("--run-dir")
        .arg(run_dir)
        .args(["--format", "json"])
        .args(extra)
        .env("NO_COLOR", "1")
        .env_remove("DUALRUN_PYTHON")
        .output()
        .expect("dualrun runs");
    assert!(!stderr(&output).contains("panicked"), "{}", stderr(&output));
    output
}

fn names(values: &serde_json::Value) -> Vec<String> {
    values
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            v.as_str()
                .unwrap_or_else(|| v["name"].as_str().unwrap())
                .to_string()
        })
        .collect()
}

/// The `dbt_test` outcome on `table`.
fn dbt_test_outcome<'a>(report: &'a serde_json::Value, table: &str) -> &'a serde_json::Value {
    report["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["check"] == "dbt_test" && o["table"] == table)
        .unwrap_or_else(|| panic!("no dbt_test outcome on {table} in {:#}", report["rules"]))
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

fn duckdb_files(dir: &Path) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "duckdb"))
        .collect()
}

#[test]
fn a_dbt_project_is_diffed_against_its_main_branch_model_by_model() {
    if dbt("a_dbt_project_is_diffed_against_its_main_branch_model_by_model").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    std::fs::create_dir_all(&root).unwrap();
    duckdb_project(&root);
    project_file(&root, "git = \"HEAD~1\"", "", "");
    // What the user has in their own target/ stays theirs.
    write(&root, &[("target/mine.txt", "the user's own")]);
    git(&root, &["init", "-q"]);
    git(
        &root,
        &[
            "add",
            "dbt_project.yml",
            "seeds",
            "models",
            "profiles.yml",
            "dualrun.toml",
        ],
    );
    git(&root, &["commit", "-qm", "main"]);
    let user_db = std::fs::read(root.join("warehouse.duckdb")).unwrap();
    // The change under review, committed: customer 2's revenue.
    let revenue = std::fs::read_to_string(root.join("models/revenue.sql")).unwrap();
    std::fs::write(
        root.join("models/revenue.sql"),
        revenue.replace("var('change', false)", "var('change', true)"),
    )
    .unwrap();
    git(&root, &["commit", "-qam", "change"]);

    let run_dir = dir.path().join("run");
    let output = run(&root, &run_dir, &[]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}{}",
        stderr(&output),
        common::stdout(&output)
    );
    let report = json_report(&output);
    assert_eq!(report["verdict"], "rejected");
    let mut tables = names(&report["tables"]);
    tables.sort();
    assert_eq!(tables, ["customers", "flat", "orders", "paid", "revenue"]);

    let revenue = report_table(&report, "revenue");
    assert_eq!(revenue["key"], serde_json::json!(["customer_id"]));
    assert_eq!(revenue["key_from"], "from a unique test");
    assert_eq!(revenue["dbt_node"], "model.shop.revenue");
    assert_eq!(revenue["rows"]["changed"], 1);
    assert_eq!(revenue["rows"]["identical"], 2);
    let flat = report_table(&report, "flat");
    assert_eq!(flat["key_from"], "from meta.dualrun.key");
    assert_eq!(flat["rows"]["changed"], 1);
    // The source in the user's database was read by both sides.
    assert_eq!(report_table(&report, "paid")["rows"]["identical"], 5);
    assert_eq!(report_table(&report, "paid")["status"], "equal");
    let seeds = report_table(&report, "customers");
    assert_eq!(seeds["key"], serde_json::json!([]));
    assert!(
        seeds["key_from"].as_str().unwrap().contains("no key"),
        "{seeds:#}"
    );

    // dbt's graph, through the ephemeral model: revenue is where it starts.
    assert_eq!(names(&report["models"]["first_divergent"]), ["revenue"]);
    for side in report["sides"].as_array().unwrap() {
        assert_eq!(side["engine"], "dbt");
        assert!(
            side["engine_version"]
                .as_str()
                .unwrap()
                .starts_with("dbt 1.")
        );
        assert_eq!(side["skipped"]["stg_orders"], "ephemeral: no table");
        assert!(side.get("kept").is_none(), "{side:#}");
    }
    assert_eq!(report["sides"][0]["git"]["rev"], "HEAD~1");

    // Isolation: the user's target/, database and folder as they were;
    // the sides' databases gone, their Parquet copies kept.
    assert_eq!(
        std::fs::read_to_string(root.join("target/mine.txt")).unwrap(),
        "the user's own"
    );
    assert!(!root.join("target/manifest.json").exists());
    assert!(!root.join("logs").exists());
    assert_eq!(
        std::fs::read(root.join("warehouse.duckdb")).unwrap(),
        user_db
    );
    assert_eq!(duckdb_files(&run_dir), Vec::<PathBuf>::new());
    assert!(run_dir.join("candidate/revenue.parquet").is_file());
    assert!(run_dir.join("candidate-dbt/target/manifest.json").is_file());

    // --keep-sides: the sides' databases stay, and the report says where.
    let kept_dir = dir.path().join("kept");
    let output = run(&root, &kept_dir, &["--keep-sides"]);
    let report = json_report(&output);
    assert_eq!(
        duckdb_files(&kept_dir).len(),
        2,
        "{:?}",
        files_under(&kept_dir)
    );
    let kept = report["sides"][1]["kept"].as_str().unwrap();
    assert!(kept.contains("candidate-dbt/warehouse.duckdb"), "{kept}");
}

/// The committed sample, copied: rejected by its rules with the changed
/// model first divergent, approved once the change is declared intended.
#[test]
fn the_dbt_sample_is_rejected_then_approved_with_an_expect_rule() {
    if dbt("the_dbt_sample_is_rejected_then_approved_with_an_expect_rule").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sample = dir.path().join("dbt_shop");
    let committed = common::repo().join("samples/dbt_shop");
    for file in files_under(&committed) {
        let to = sample.join(file.strip_prefix(&committed).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&file, to).unwrap();
    }
    // The sample's `dbt` is the one on PATH.
    let executable = dbt("sample").unwrap();
    let path = format!(
        "{}:{}",
        Path::new(&executable).parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run_sample = |file: &str, run_dir: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_dualrun"))
            .arg("run")
            .arg(sample.join(file))
            .arg("--run-dir")
            .arg(dir.path().join(run_dir))
            .args(["--format", "json"])
            .env("PATH", &path)
            .env_remove("DUALRUN_PYTHON")
            .output()
            .unwrap()
    };
    let output = run_sample("dualrun.toml", "rejected");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let report = json_report(&output);
    assert_eq!(names(&report["models"]["first_divergent"]), ["stg_orders"]);
    assert_eq!(report_table(&report, "stg_orders")["rows"]["removed"], 3);
    assert_eq!(
        report_table(&report, "customer_revenue")["key_from"],
        "from a unique test"
    );
    assert_eq!(
        report_table(&report, "daily_orders")["key_from"],
        "from meta.dualrun.key"
    );
    assert_eq!(report_table(&report, "customers")["status"], "equal");
    assert_eq!(
        report["sides"][1]["skipped"]["stg_customers"],
        "ephemeral: no table"
    );

    let output = run_sample("expected.toml", "approved");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(json_report(&output)["verdict"], "approved");
    // Nothing was written into the sample.
    let mut left: Vec<_> = files_under(&sample)
        .into_iter()
        .map(|f| f.strip_prefix(&sample).unwrap().to_path_buf())
        .collect();
    left.sort();
    let mut committed_files: Vec<_> = files_under(&committed)
        .into_iter()
        .map(|f| f.strip_prefix(&committed).unwrap().to_path_buf())
        .collect();
    committed_files.sort();
    assert_eq!(left, committed_files);
}

#[test]
fn dbt_tests_are_outcomes_and_a_model_that_fails_fails_its_side() {
    if dbt("dbt_tests_are_outcomes_and_a_model_that_fails_fails_its_side").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("p");
    duckdb_project(&root);

    // The candidate breaks the unique test of revenue: a failed outcome.
    project_file(&root, "", "vars = { duplicate = true }", "");
    let output = run(&root, &dir.path().join("r1"), &[]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}{}",
        stderr(&output),
        common::stdout(&output)
    );
    let report = json_report(&output);
    let outcome = report["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["check"] == "dbt_test" && o["status"] != "pass")
        .unwrap_or_else(|| panic!("no dbt_test outcome in {:#}", report["rules"]));
    assert_eq!(outcome["status"], "fail");
    assert_eq!(outcome["table"], "revenue");
    // dbt skipped what depends on the failing test: not diffed, listed.
    assert!(
        report["tables"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["name"] != "flat")
    );
    assert_eq!(
        report["sides"][1]["skipped"]["flat"],
        "skipped by dbt after an upstream failure"
    );
    assert!(
        outcome["message"]
            .as_str()
            .unwrap()
            .contains("unique_revenue_customer_id"),
        "{outcome:#}"
    );

    // Both sides fail it: the candidate did not break it, a warning.
    project_file(
        &root,
        "vars = { duplicate = true }",
        "vars = { duplicate = true }",
        "",
    );
    let report = json_report(&run(&root, &dir.path().join("r2"), &[]));
    let outcome = dbt_test_outcome(&report, "revenue");
    assert_eq!(outcome["status"], "warn", "{outcome:#}");
    assert!(
        outcome["message"]
            .as_str()
            .unwrap()
            .contains("prod fails it too")
    );

    // A rules file may say how a failing dbt test counts.
    write(
        &root,
        &[(
            "rules.toml",
            "[[rule]]\ncheck = \"dbt_test\"\nwarn_on = [\"fail\"]\n\n[[rule]]\ncheck = \"identical\"\n",
        )],
    );
    project_file(
        &root,
        "",
        "vars = { duplicate = true }",
        "[check]\nrules = [\"rules.toml\"]",
    );
    let report = json_report(&run(&root, &dir.path().join("r3"), &[]));
    let outcome = dbt_test_outcome(&report, "revenue");
    assert_eq!(outcome["status"], "warn", "{outcome:#}");

    // A model that does not build fails the candidate side with dbt's own
    // words and its log, and the verdict is an error.
    project_file(&root, "", "vars = { broken = true }", "");
    let run_dir = dir.path().join("r4");
    let output = run(&root, &run_dir, &[]);
    let report = json_report(&output);
    assert_eq!(report["verdict"], "error", "{}", stderr(&output));
    let candidate = &report["sides"][1];
    assert_eq!(candidate["status"], "failed");
    let message = candidate["message"].as_str().unwrap();
    assert!(
        message.contains("dbt could not build `revenue`"),
        "{message}"
    );
    assert!(message.contains("no_such_relation"), "{message}");
    assert!(!candidate["log_tail"].as_array().unwrap().is_empty());
    // Even a failed side's database goes.
    assert_eq!(duckdb_files(&run_dir), Vec::<PathBuf>::new());

    // A rule naming a table dbt did not build stops the run once the sides
    // ran, and what they built is removed all the same.
    write(
        &root,
        &[(
            "typo.toml",
            "[[rule]]\ncheck = \"identical\"\ntables = [\"revenu\"]\n",
        )],
    );
    project_file(&root, "", "", "[check]\nrules = [\"typo.toml\"]");
    let run_dir = dir.path().join("r6");
    let output = run(&root, &run_dir, &[]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("`revenu`"), "{}", stderr(&output));
    assert_eq!(duckdb_files(&run_dir), Vec::<PathBuf>::new());

    // No dbt where it was said to be.
    write(
        &root,
        &[(
            "dualrun.toml",
            "[prod]\nengine = \"dbt\"\nexecutable = \"/nonexistent/dbt\"\n[candidate]\nengine = \"dbt\"\nexecutable = \"/nonexistent/dbt\"\n",
        )],
    );
    let report = json_report(&run(&root, &dir.path().join("r5"), &[]));
    assert_eq!(report["verdict"], "error");
    let message = report["sides"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("cannot run `/nonexistent/dbt`"),
        "{message}"
    );
    assert!(message.contains("pip install dbt-core"), "{message}");
}

#[test]
fn profiles_dualrun_cannot_isolate_are_refused_by_name() {
    if dbt("profiles_dualrun_cannot_isolate_are_refused_by_name").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, &PROJECT);
    write(
        root,
        &[(
            "profiles.yml",
            "shop:\n  target: dev\n  outputs:\n    dev:\n      type: snowflake\n      account: x\n",
        )],
    );
    project_file(root, "", "", "");
    let report = json_report(&run(root, &root.join("run"), &[]));
    let message = report["sides"][0]["message"].as_str().unwrap();
    assert!(message.contains("the adapter `snowflake`"), "{message}");
    assert!(message.contains("duckdb"), "{message}");
    project_file(root, "target = \"nope\"", "", "");
    let report = json_report(&run(root, &root.join("run2"), &[]));
    let message = report["sides"][0]["message"].as_str().unwrap();
    assert!(message.contains("has no target `nope`"), "{message}");
}

#[test]
fn a_dbt_postgres_project_builds_into_schemas_of_its_own() {
    let Some(server) = postgres("a_dbt_postgres_project_builds_into_schemas_of_its_own") else {
        return;
    };
    if dbt("a_dbt_postgres_project_builds_into_schemas_of_its_own").is_none() {
        return;
    }
    let url = fresh_database(&server, "dualrun_dbt");
    let parsed = url::Url::parse(&url).unwrap();
    let password = parsed.password().unwrap().to_string();
    // The source, and the user's production relations dbt must not touch.
    psql(
        &url,
        "CREATE SCHEMA raw; CREATE TABLE raw.payments AS \
         SELECT g AS order_id, timestamp '2026-11-30 10:00:00' + g * interval '1 second' AS paid_at \
         FROM generate_series(1, 5) g; \
         CREATE SCHEMA analytics; CREATE TABLE analytics.revenue (customer_id int, note text); \
         INSERT INTO analytics.revenue VALUES (1, 'production')",
    );
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, &PROJECT);
    // The password written in the profile, as many users do.
    write(
        root,
        &[(
            "profiles.yml",
            &format!(
                "shop:\n  target: prod\n  outputs:\n    prod:\n      type: postgres\n      host: {}\n      port: {}\n      user: {}\n      password: \"{password}\"\n      dbname: dualrun_dbt\n      schema: analytics\n      threads: 2\n",
                parsed.host_str().unwrap(),
                parsed.port().unwrap(),
                parsed.username()
            ),
        )],
    );
    project_file(root, "", "vars = { change = true }", "");
    let run_dir = root.join("run");
    let output = run(root, &run_dir, &[]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}{}",
        stderr(&output),
        common::stdout(&output)
    );
    let report = json_report(&output);
    let revenue = report_table(&report, "revenue");
    assert_eq!(revenue["rows"]["changed"], 1);
    assert_eq!(revenue["key_from"], "from a unique test");
    assert_eq!(report_table(&report, "paid")["rows"]["identical"], 5);
    assert_eq!(names(&report["models"]["first_divergent"]), ["revenue"]);
    let source = revenue["candidate"]["source"].as_str().unwrap();
    assert!(
        source.contains("table=dualrun_run_candidate.revenue"),
        "{source}"
    );

    // The user's schema as it was; the sides' schemas gone.
    assert_eq!(
        psql(&url, "SELECT customer_id, note FROM analytics.revenue").trim(),
        "1|production"
    );
    assert_eq!(
        psql(
            &url,
            "SELECT count(*) FROM information_schema.schemata WHERE schema_name LIKE 'dualrun%'"
        )
        .trim(),
        "0"
    );
    // Nothing the run wrote holds the password: not the report, not the
    // side's profiles.yml, not dbt's logs.
    for file in files_under(&run_dir) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&password),
            "{} holds the password",
            file.display()
        );
    }
    assert!(!stderr(&output).contains(&password));

    // An approved run published to the same database: the candidate's
    // audited schema itself goes live, no row copied.
    project_file(root, "", "", "");
    let output = run(
        root,
        &root.join("approved"),
        &["--publish-to", &format!("{url}?schema=shop")],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let said = stderr(&output);
    assert!(
        said.contains("the audited schema `dualrun_approved_candidate` went live as it is"),
        "{said}"
    );
    assert!(!said.contains(&password), "{said}");
    assert_eq!(psql(&url, "SELECT count(*) FROM shop.revenue").trim(), "3");
    assert_eq!(
        psql(
            &url,
            "SELECT count(*) FROM information_schema.schemata WHERE schema_name LIKE 'dualrun\\_%'"
        )
        .trim(),
        "0",
        "the prod side's schema removed, the candidate's renamed into place"
    );
    assert_eq!(
        psql(
            &url,
            "SELECT event || ' ' || version FROM dualrun.dualrun_published"
        )
        .trim(),
        "publish approved"
    );

    // --keep-sides leaves the schemas for a look, and says which.
    let output = run(root, &root.join("kept"), &["--keep-sides"]);
    let report = json_report(&output);
    let kept = report["sides"][0]["kept"].as_str().unwrap();
    assert!(kept.contains("dualrun_kept_prod"), "{kept}");
    assert_eq!(
        psql(&url, "SELECT count(*) FROM dualrun_kept_prod.revenue").trim(),
        "3"
    );
}
