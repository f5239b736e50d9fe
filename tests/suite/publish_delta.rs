//! `dualrun publish --to delta:PATH`, `rollback` and `versions`, read back
//! by the Python `deltalake` package (an independent Delta reader): each
//! publish and rollback a new table version whose commit info names the
//! run, time travel keeping every step, and a publish whose second table
//! fails undone on the first.
#![cfg(feature = "delta")]

use crate::common;

use std::path::Path;

use crate::common::servers::test_python;
use crate::common::{approved_run, dualrun, stderr};

/// What `deltalake` reads of table `name`: each version's `v`/`w` column
/// (the run it holds) and the `dualrun` run of each commit, newest first.
fn read(python: &str, lake: &Path, name: &str) -> serde_json::Value {
    let script = format!(
        r#"
import json, os, deltalake
t = deltalake.DeltaTable("{dir}")
column = "v" if "v" in t.schema().to_arrow().names else "w"
versions = {{}}
for version in range(t.version() + 1):
    old = deltalake.DeltaTable("{dir}", version=version)
    versions[version] = sorted(set(old.to_pyarrow_table().column(column).to_pylist()))
runs = [c.get("dualrun", {{}}).get("run") for c in t.history()]
print(json.dumps({{"latest": t.version(), "versions": versions, "runs": runs}}), flush=True)
# deltalake's runtime can abort the interpreter's shutdown: leave at once.
os._exit(0)
"#,
        dir = lake.join(name).display()
    );
    let output = std::process::Command::new(python)
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn delta_tables_take_each_publish_and_rollback_as_a_version() {
    let Some(python) = test_python("delta_tables_take_each_publish_and_rollback_as_a_version")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let lake = root.join("lake");
    let to = format!("delta:{}", lake.display());

    let r1 = approved_run(root, "r1");
    let output = dualrun(root, &["publish", r1.to_str().unwrap(), "--to", &to]);
    assert!(output.status.success(), "{}", stderr(&output));
    let r2 = approved_run(root, "r2");
    assert!(
        dualrun(root, &["publish", r2.to_str().unwrap(), "--to", &to])
            .status
            .success()
    );
    let t = read(&python, &lake, "t");
    assert_eq!(t["latest"], 1);
    assert_eq!(t["versions"]["0"], serde_json::json!(["r1"]));
    assert_eq!(t["versions"]["1"], serde_json::json!(["r2"]));

    let output = dualrun(root, &["rollback", &to]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(common::stdout(&output).contains("r1 is live again (was r2)"));
    for name in ["t", "u"] {
        let table = read(&python, &lake, name);
        assert_eq!(table["latest"], 2, "{name}: a rollback is a new version");
        assert_eq!(table["versions"]["2"], serde_json::json!(["r1"]));
        assert_eq!(table["runs"], serde_json::json!(["r1", "r2", "r1"]));
    }
    let listed = common::listed_versions(root, &to);
    assert_eq!(listed, [("r1".into(), true), ("r2".into(), false)]);

    // The live table read by the target's name.
    let output = dualrun(
        root,
        &["profile", &format!("{to}@current/t"), "--format", "json"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(common::json_report(&output)["table"]["rows"], 3);

    // The second table cannot take the third publish: the first is undone.
    let r3 = approved_run(root, "r3");
    std::fs::remove_dir_all(lake.join("u/_delta_log")).unwrap();
    std::fs::write(lake.join("u/_delta_log"), "not a log").unwrap();
    let output = dualrun(root, &["publish", r3.to_str().unwrap(), "--to", &to]);
    assert_eq!(output.status.code(), Some(2));
    let said = stderr(&output);
    assert!(said.contains("undone (`t` restored)"), "{said}");
    let t = read(&python, &lake, "t");
    assert_eq!(
        t["latest"], 4,
        "the publish of t and its undoing are both in the log"
    );
    assert_eq!(t["versions"]["3"], serde_json::json!(["r3"]));
    assert_eq!(t["versions"]["4"], serde_json::json!(["r1"]));
}

/// `dualrun ARGS` pointed at the test S3 server.
fn dualrun_s3(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_dualrun"))
        .args(args)
        .current_dir(dir)
        .envs(common::servers::s3_environment())
        .output()
        .unwrap()
}

#[test]
fn delta_tables_in_a_bucket_take_publishes_and_rollbacks_too() {
    if common::servers::s3("delta_tables_in_a_bucket_take_publishes_and_rollbacks_too").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    common::servers::python(
        "import boto3\nboto3.client('s3').create_bucket(Bucket='lake')\n",
        root,
    );
    let to = "delta:s3://lake/marts";
    for version in ["r1", "r2"] {
        let run = approved_run(root, version);
        let output = dualrun_s3(root, &["publish", run.to_str().unwrap(), "--to", to]);
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let output = dualrun_s3(root, &["rollback", to]);
    assert!(output.status.success(), "{}", stderr(&output));
    // The independent reader, from the bucket.
    let script = r#"
import json, os, deltalake
options = {"AWS_ENDPOINT_URL": os.environ["AWS_ENDPOINT_URL"], "AWS_ALLOW_HTTP": "true",
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}
seen = {}
for name, column in (("t", "v"), ("u", "w")):
    t = deltalake.DeltaTable(f"s3://lake/marts/{name}", storage_options=options)
    seen[name] = [sorted(set(deltalake.DeltaTable(f"s3://lake/marts/{name}", version=v, storage_options=options)
                            .to_pyarrow_table().column(column).to_pylist())) for v in range(t.version() + 1)]
print(json.dumps(seen), flush=True)
os._exit(0)
"#;
    let output = std::process::Command::new(std::env::var("DUALRUN_TEST_PYTHON").unwrap())
        .args(["-c", script])
        .envs(common::servers::s3_environment())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    for name in ["t", "u"] {
        assert_eq!(
            seen[name],
            serde_json::json!([["r1"], ["r2"], ["r1"]]),
            "{name}"
        );
    }
    let listed = {
        let output = dualrun_s3(root, &["versions", to, "--json"]);
        assert!(output.status.success(), "{}", stderr(&output));
        serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap()
    };
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert_eq!(listed[0]["live"], true);
}
