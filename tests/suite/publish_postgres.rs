//! `dualrun publish`, `rollback` and `versions` into a real PostgreSQL
//! server: versions as schemas switched in one transaction, read back with
//! `psql`; a reader querying two tables in a loop while publishes,
//! rollbacks and a publisher killed mid-load switch under it never sees an
//! error or a mix of versions; the log table; the types; the refusals.
#![cfg(feature = "postgres")]

use crate::common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use datafusion::arrow::array::{
    BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int32Array, Int64Array,
    RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};

use crate::common::servers::{fresh_database, postgres, psql};
use crate::common::{approved_run, dualrun, stderr, write_parquet};

fn target(url: &str) -> String {
    format!("{url}?schema=marts")
}

fn publish(root: &Path, run: &Path, to: &str, extra: &[&str]) -> Output {
    let mut args = vec!["publish", run.to_str().unwrap(), "--to", to];
    args.extend_from_slice(extra);
    dualrun(root, &args)
}

fn live(url: &str) -> String {
    psql(
        url,
        "SELECT t.v || '|' || u.w FROM marts.t, marts.u WHERE t.id = 1",
    )
    .trim()
    .to_string()
}

#[test]
fn publish_rollback_and_versions_switch_whole_schemas() {
    let Some(server) = postgres("publish_rollback_and_versions_switch_whole_schemas") else {
        return;
    };
    let url = fresh_database(&server, "dualrun_publish");
    let to = target(&url);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();

    let r1 = approved_run(root, "r1");
    let output = publish(root, &r1, &to, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let said = common::stdout(&output);
    assert!(said.contains("published r1 to"), "{said}");
    let password = url::Url::parse(&url)
        .unwrap()
        .password()
        .unwrap()
        .to_string();
    assert!(!said.contains(&password), "{said}");
    assert_eq!(live(&url), "r1|r1");
    // A reader with access to the live schema keeps it across switches.
    psql(
        &url,
        "CREATE ROLE reader LOGIN PASSWORD 'reader'; GRANT USAGE ON SCHEMA marts TO reader; \
         GRANT SELECT ON ALL TABLES IN SCHEMA marts TO reader",
    );

    let r2 = approved_run(root, "r2");
    assert!(publish(root, &r2, &to, &[]).status.success());
    assert_eq!(live(&url), "r2|r2");
    let grants = psql(
        &url,
        "SELECT count(*) FROM information_schema.role_table_grants \
         WHERE grantee = 'reader' AND table_schema = 'marts'",
    );
    assert_eq!(grants.trim(), "2", "the reader's grants follow the switch");
    assert_eq!(psql(&url, "SELECT count(*) FROM marts.t").trim(), "3");

    let output = dualrun(root, &["rollback", &to]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(live(&url), "r1|r1");
    let listed = common::listed_versions(root, &to);
    assert_eq!(listed, [("r1".into(), true), ("r2".into(), false)]);

    // The log table holds every switch, in order.
    let log = psql(
        &url,
        "SELECT event || ' ' || version || ' ' || coalesce(previous, '-') FROM dualrun.dualrun_published ORDER BY at",
    );
    assert_eq!(
        log.lines().collect::<Vec<_>>(),
        ["publish r1 -", "publish r2 r1", "rollback r1 r2"]
    );

    // --only carries the other table over from the live version (r1).
    let r3 = approved_run(root, "r3");
    assert!(publish(root, &r3, &to, &["--only", "t"]).status.success());
    assert_eq!(live(&url), "r3|r1");
    // --keep 2 drops the oldest versions, never the live one or the one before.
    let r4 = approved_run(root, "r4");
    let output = publish(root, &r4, &to, &["--keep", "2"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let schemas = psql(
        &url,
        "SELECT string_agg(nspname, ',' ORDER BY nspname) FROM pg_namespace WHERE nspname LIKE 'marts%'",
    );
    assert_eq!(schemas.trim(), "marts,marts__r3");
    // The same run twice is refused.
    let output = publish(root, &r4, &to, &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("already published"),
        "{}",
        stderr(&output)
    );

    // Reading the live table by the target's name.
    let output = dualrun(
        root,
        &["profile", &format!("{to}@current/t"), "--format", "json"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(common::json_report(&output)["table"]["rows"], 3);
}

#[test]
fn a_reader_never_sees_an_error_or_a_mix_while_versions_switch() {
    let Some(server) = postgres("a_reader_never_sees_an_error_or_a_mix_while_versions_switch")
    else {
        return;
    };
    let url = fresh_database(&server, "dualrun_readers");
    let to = target(&url);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for version in ["r1", "r2", "r3"] {
        let run = approved_run(root, version);
        assert!(publish(root, &run, &to, &[]).status.success());
    }
    let crashed = approved_run(root, "r4");

    // 1,000 queries across both tables, each its own transaction.
    let mut script = String::new();
    for _ in 0..1000 {
        script.push_str("SELECT t.v || '|' || u.w FROM marts.t, marts.u WHERE t.id = 1 AND u.id = 1;\nSELECT pg_sleep(0.01);\n");
    }
    let mut reader = Command::new("psql")
        .args([url.as_str(), "-v", "ON_ERROR_STOP=1", "-qAt", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = reader.stdin.take().unwrap();
    let feeding = std::thread::spawn(move || {
        use std::io::Write;
        stdin.write_all(script.as_bytes()).unwrap();
    });
    let mut switches = 0;
    let mut crashed_once = false;
    while reader.try_wait().unwrap().is_none() {
        let version = ["r1", "r2", "r3"][switches % 3];
        let output = dualrun(root, &["rollback", &to, "--to", version]);
        if output.status.success() {
            switches += 1;
        } else {
            assert!(
                stderr(&output).contains("already live"),
                "{}",
                stderr(&output)
            );
        }
        if switches == 10 && !crashed_once {
            // A publisher killed while loading: the readers see nothing of it.
            let output = Command::new(env!("CARGO_BIN_EXE_dualrun"))
                .args(["publish", crashed.to_str().unwrap(), "--to", &to])
                .env("DUALRUN_CRASH_AT", "loading")
                .output()
                .unwrap();
            assert!(!output.status.success());
            crashed_once = true;
        }
    }
    feeding.join().unwrap();
    let output = reader.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "the reader failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    assert_eq!(lines.len(), 1000);
    for line in &lines {
        let (t, u) = line.split_once('|').unwrap();
        assert_eq!(t, u, "a mixed read: {line}");
    }
    assert!(
        switches >= 20,
        "only {switches} switches happened during the reads"
    );
    assert!(crashed_once);
    // The killed publisher's schema is cleared by the next publish.
    let output = publish(root, &crashed, &to, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(live(&url), "r4|r4");
}

#[test]
fn arrow_types_arrive_as_their_postgres_types() {
    let Some(server) = postgres("arrow_types_arrive_as_their_postgres_types") else {
        return;
    };
    let url = fresh_database(&server, "dualrun_types");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int32, false),
        Field::new("big", DataType::Int64, true),
        Field::new("x", DataType::Float64, true),
        Field::new("amount", DataType::Decimal128(12, 3), true),
        Field::new("name", DataType::Utf8, true),
        Field::new("ok", DataType::Boolean, true),
        Field::new("day", DataType::Date32, true),
        Field::new("at", DataType::Timestamp(TimeUnit::Microsecond, None), true),
        Field::new(
            "at_utc",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new("blob", DataType::Binary, true),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int32Array::from(vec![1, 2])),
            Arc::new(Int64Array::from(vec![Some(-9_007_199_254_740_993), None])),
            Arc::new(Float64Array::from(vec![Some(-0.5), Some(f64::NAN)])),
            Arc::new(
                Decimal128Array::from(vec![Some(-12_345_678), Some(5)])
                    .with_precision_and_scale(12, 3)
                    .unwrap(),
            ),
            Arc::new(StringArray::from(vec![Some("naïve 'q'"), None])),
            Arc::new(BooleanArray::from(vec![Some(true), Some(false)])),
            Arc::new(Date32Array::from(vec![Some(20_423), Some(-1)])),
            Arc::new(TimestampMicrosecondArray::from(vec![
                Some(1_764_547_200_123_456),
                Some(-1),
            ])),
            Arc::new(TimestampMicrosecondArray::from(vec![Some(0), None]).with_timezone("UTC")),
            Arc::new(BinaryArray::from(vec![
                Some(&[0u8, 255][..]),
                Some(&b""[..]),
            ])),
        ],
    )
    .unwrap();
    for side in ["prod", "cand"] {
        std::fs::create_dir_all(root.join(side)).unwrap();
        write_parquet(
            &root.join(side).join("typed.parquet"),
            std::slice::from_ref(&batch),
        );
    }
    std::fs::write(
        root.join("dualrun.toml"),
        "[prod]\nengine = \"files\"\noutputs_dir = \"prod\"\n[candidate]\nengine = \"files\"\noutputs_dir = \"cand\"\n[outputs.typed]\nkey = [\"id\"]\n",
    )
    .unwrap();
    let run = root.join("run");
    let output = dualrun(
        root,
        &["run", ".", "--run-dir", run.to_str().unwrap(), "--quiet"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let output = publish(root, &run, &target(&url), &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let types = psql(
        &url,
        "SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position) \
         FROM information_schema.columns WHERE table_schema = 'marts' AND table_name = 'typed'",
    );
    assert_eq!(
        types.trim(),
        "id integer, big bigint, x double precision, amount numeric, name text, ok boolean, \
         day date, at timestamp without time zone, at_utc timestamp with time zone, blob bytea"
    );
    let rows = psql(
        &url,
        "SET TIME ZONE 'UTC'; SELECT id, big, x, amount, name, ok, day, at, at_utc, encode(blob, 'hex') FROM marts.typed ORDER BY id",
    );
    assert_eq!(
        rows.lines().collect::<Vec<_>>(),
        [
            "1|-9007199254740993|-0.5|-12345.678|naïve 'q'|t|2025-12-01|2025-12-01 00:00:00.123456|1970-01-01 00:00:00+00|00ff",
            "2||NaN|0.005||f|1969-12-31|1969-12-31 23:59:59.999999||",
        ]
    );
}

#[test]
fn publish_refusals_name_the_target_and_change_nothing() {
    let Some(server) = postgres("publish_refusals_name_the_target_and_change_nothing") else {
        return;
    };
    let url = fresh_database(&server, "dualrun_refusals");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let run = approved_run(root, "r1");

    // A URL is never a local path: an unknown scheme is an error.
    let output = publish(root, &run, "mysql://db/x", &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("`mysql://`"),
        "{}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("postgres://"),
        "{}",
        stderr(&output)
    );
    assert!(!root.join("mysql:").exists());

    // A schema of the same name that dualrun did not make.
    psql(
        &url,
        "CREATE SCHEMA marts; CREATE TABLE marts.keep (x int); INSERT INTO marts.keep VALUES (7)",
    );
    let output = publish(root, &run, &target(&url), &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("was not made by dualrun"),
        "{}",
        stderr(&output)
    );
    assert_eq!(psql(&url, "SELECT x FROM marts.keep").trim(), "7");

    // Another publisher holds the lock.
    let holder = Command::new("psql")
        .args([
            url.as_str(),
            "-qAt",
            "-c",
            "SELECT pg_advisory_lock(hashtextextended('dualrun publish other', 0)), pg_sleep(4)",
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(800));
    let output = publish(root, &run, &format!("{url}?schema=other"), &[]);
    let mut holder = holder;
    let _ = holder.kill();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("another publisher holds the lock"),
        "{}",
        stderr(&output)
    );

    // A role that may not create schemas.
    psql(
        &url,
        "CREATE ROLE weak LOGIN PASSWORD 'weak'; REVOKE CREATE ON DATABASE dualrun_refusals FROM PUBLIC",
    );
    let mut weak = url::Url::parse(&url).unwrap();
    weak.set_username("weak").unwrap();
    weak.set_password(Some("weak")).unwrap();
    let output = publish(root, &run, &format!("{weak}?schema=fresh"), &[]);
    assert_eq!(output.status.code(), Some(2));
    let said = stderr(&output);
    assert!(
        said.contains("cannot create the schema `dualrun`"),
        "{said}"
    );
    assert!(said.contains("GRANT CREATE ON DATABASE"), "{said}");
    assert!(
        !said.contains("weak@") || !said.contains(":weak@"),
        "{said}"
    );

    // A server that does not answer.
    let output = publish(
        root,
        &run,
        "postgres://nobody@127.0.0.1:9/db?schema=marts",
        &[],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("127.0.0.1"), "{}", stderr(&output));
}
