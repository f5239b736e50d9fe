//! Tables where pipelines write them: a real PostgreSQL server and a real
//! S3-protocol server (both started by `.ci/test`), diffed against the
//! Parquet files they were loaded from, with counts checked against the
//! diff of the local files; and every error a user meets there.
#![cfg(all(feature = "postgres", feature = "s3"))]

use crate::common;

use std::path::Path;
use std::sync::Arc;

use crate::common::servers::{fresh_database, psql, python, s3_environment};
use crate::common::{json_report, stderr, stdout, write_parquet};
use datafusion::arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array,
    Int16Array, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};

const ROWS: i64 = 300;

/// Runs `dualrun ARGS` in `dir` with the S3 server's credentials.
fn dualrun(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_dualrun"))
        .args(args)
        .current_dir(dir)
        .envs(s3_environment())
        .env_remove("PGPASSWORD")
        .env("NO_COLOR", "1")
        .output()
        .expect("the dualrun binary runs")
}

/// `dualrun diff LEFT RIGHT --key id --format json EXTRA...` in `dir`.
fn keyed_diff(dir: &Path, left: &str, right: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["diff", left, right, "--key", "id", "--format", "json"];
    args.extend_from_slice(extra);
    dualrun(dir, &args)
}

/// Every type PostgreSQL tables are read with, with the edge values each can hold.
fn orders() -> RecordBatch {
    let n = ROWS as usize;
    let ids: Vec<i64> = (1..=ROWS).collect();
    let ratio = |i: i64| match i % 50 {
        0 => f64::NAN,
        1 => -0.0,
        _ => i as f64 / 7.0,
    };
    let columns: Vec<(&str, DataType, ArrayRef)> = vec![
        (
            "id",
            DataType::Int64,
            Arc::new(Int64Array::from(ids.clone())),
        ),
        (
            "amount",
            DataType::Decimal128(12, 2),
            Arc::new(
                Decimal128Array::from(
                    ids.iter()
                        .map(|i| i128::from(i * 1234 - 50_000))
                        .collect::<Vec<_>>(),
                )
                .with_precision_and_scale(12, 2)
                .unwrap(),
            ),
        ),
        (
            "qty",
            DataType::Int32,
            Arc::new(Int32Array::from_iter(
                ids.iter().map(|i| (i % 9 != 0).then_some(*i as i32 * 3)),
            )),
        ),
        (
            "small",
            DataType::Int16,
            Arc::new(Int16Array::from(
                ids.iter()
                    .map(|i| (i % 300) as i16 - 150)
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            "ratio",
            DataType::Float64,
            Arc::new(Float64Array::from(
                ids.iter().map(|i| ratio(*i)).collect::<Vec<_>>(),
            )),
        ),
        (
            "score",
            DataType::Float32,
            Arc::new(Float32Array::from(
                ids.iter().map(|i| *i as f32 / 3.0).collect::<Vec<_>>(),
            )),
        ),
        (
            "name",
            DataType::Utf8,
            Arc::new(StringArray::from_iter(ids.iter().map(|i| {
                (i % 11 != 0).then(|| format!("customer \"{i}\", ünïcode"))
            }))),
        ),
        (
            "active",
            DataType::Boolean,
            Arc::new(BooleanArray::from(
                ids.iter().map(|i| i % 2 == 0).collect::<Vec<_>>(),
            )),
        ),
        (
            "day",
            DataType::Date32,
            Arc::new(Date32Array::from(
                ids.iter().map(|i| 19_000 + *i as i32).collect::<Vec<_>>(),
            )),
        ),
        (
            "at",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            Arc::new(TimestampMicrosecondArray::from(
                ids.iter()
                    .map(|i| 1_700_000_000_000_000 + i * 1_000_123)
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            "at_tz",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Arc::new(
                TimestampMicrosecondArray::from(
                    ids.iter()
                        .map(|i| 1_600_000_000_000_000 + i * 3_600_000_000)
                        .collect::<Vec<_>>(),
                )
                .with_timezone("UTC"),
            ),
        ),
        (
            "uid",
            DataType::Utf8,
            Arc::new(StringArray::from(
                ids.iter()
                    .map(|i| format!("00000000-0000-4000-8000-{i:012x}"))
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            "doc",
            DataType::Utf8,
            Arc::new(StringArray::from(
                ids.iter()
                    .map(|i| format!("{{\"n\": {i}}}"))
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            "raw",
            DataType::Binary,
            Arc::new(BinaryArray::from_iter_values(
                ids.iter().map(|i| i.to_le_bytes()),
            )),
        ),
    ];
    let schema = Schema::new(
        columns
            .iter()
            .map(|(name, data_type, _)| Field::new(*name, data_type.clone(), true))
            .collect::<Vec<_>>(),
    );
    assert!(columns.iter().all(|(_, _, a)| a.len() == n));
    RecordBatch::try_new(
        Arc::new(schema),
        columns.into_iter().map(|(_, _, a)| a).collect(),
    )
    .unwrap()
}

/// Loads `orders()` into `public.orders` through psql's `\copy` from CSV.
fn load_orders(url: &str, dir: &Path) {
    psql(
        url,
        "CREATE TABLE public.orders (id int8 PRIMARY KEY, amount numeric(12,2), qty int4, \
         small int2, ratio float8, score float4, name text, active bool, day date, \
         at timestamp, at_tz timestamptz, uid uuid, doc jsonb, raw bytea)",
    );
    let batch = orders();
    let csv = dir.join("orders.csv");
    let mut text = String::new();
    let col = |name: &str| batch.column_by_name(name).unwrap().clone();
    for row in 0..batch.num_rows() {
        let cell = |name: &str| {
            let array = col(name);
            if array.is_null(row) {
                return String::new();
            }
            datafusion::arrow::util::display::array_value_to_string(&array, row).unwrap()
        };
        let raw = batch
            .column_by_name("raw")
            .unwrap()
            .as_any()
            .downcast_ref::<BinaryArray>()
            .unwrap()
            .value(row)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
        let ratio = cell("ratio");
        let quoted = |s: String| {
            if s.is_empty() {
                s
            } else {
                format!("\"{}\"", s.replace('"', "\"\""))
            }
        };
        text.push_str(
            &[
                cell("id"),
                cell("amount"),
                cell("qty"),
                cell("small"),
                ratio,
                cell("score"),
                quoted(cell("name")),
                cell("active"),
                cell("day"),
                cell("at").replace('T', " "),
                format!(
                    "{}+00",
                    cell("at_tz").replace('T', " ").trim_end_matches('Z')
                ),
                cell("uid"),
                quoted(cell("doc")),
                format!("\\x{raw}"),
            ]
            .join(","),
        );
        text.push('\n');
    }
    std::fs::write(&csv, text).unwrap();
    psql(
        url,
        &format!(
            "\\copy public.orders FROM '{}' WITH (FORMAT csv)",
            csv.display()
        ),
    );
}

fn counts(report: &serde_json::Value) -> [u64; 4] {
    let rows = &report["tables"][0]["rows"];
    ["identical", "changed", "added", "removed"].map(|k| rows[k].as_u64().unwrap_or(u64::MAX))
}

#[test]
fn a_postgres_table_diffs_like_the_parquet_file_it_was_loaded_from() {
    let Some(server) = common::servers::postgres("postgres table vs parquet") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(&server, "dualrun_types");
    load_orders(&url, dir.path());
    write_parquet(&dir.path().join("orders.parquet"), &[orders()]);
    let table = format!("{url}?table=public.orders");
    let same = keyed_diff(dir.path(), &table, "orders.parquet", &[]);
    let report = json_report(&same);
    assert_eq!(same.status.code(), Some(0), "{}{report:#}", stderr(&same));
    assert_eq!(counts(&report), [ROWS as u64, 0, 0, 0], "{report:#}");
    let compared: Vec<&str> = report["tables"][0]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        compared.len(),
        13,
        "every value column is compared: {compared:?}"
    );
    assert!(
        report["tables"][0]["schema"]["skipped"]
            .as_array()
            .is_none_or(Vec::is_empty)
    );

    // Changes made by the database itself, counted as the files' diff counts them.
    psql(
        &url,
        "UPDATE public.orders SET amount = amount + 0.01 WHERE id IN (3, 4); \
         DELETE FROM public.orders WHERE id = 10; \
         INSERT INTO public.orders (id, name) VALUES (9999, 'new')",
    );
    let changed = keyed_diff(dir.path(), "orders.parquet", &table, &[]);
    assert_eq!(changed.status.code(), Some(1), "{}", stderr(&changed));
    let report = json_report(&changed);
    assert_eq!(counts(&report), [ROWS as u64 - 3, 2, 1, 1], "{report:#}");
    let password = url::Url::parse(&url)
        .unwrap()
        .password()
        .unwrap()
        .to_string();
    for text in [stdout(&changed), stderr(&changed)] {
        assert!(!text.contains(&password), "the password leaked: {text}");
    }
    assert!(
        stdout(&changed).contains(":***@"),
        "the source is shown masked"
    );

    // `--where` diffs one slice of both sides.
    let slice = keyed_diff(
        dir.path(),
        "orders.parquet",
        &table,
        &["--where", "id <= 5"],
    );
    let report = json_report(&slice);
    assert_eq!(counts(&report), [3, 2, 0, 0], "{report:#}");
    assert_eq!(report["tables"][0]["prod"]["rows"], 5, "the rows read");

    // A query is a table too: its own WHERE, and `--where` on top of it
    // (applied by dualrun, never spliced into the query's text).
    let query = format!("{url}?query=SELECT id, amount, name FROM public.orders WHERE id %3C= 100");
    let sliced = keyed_diff(dir.path(), "orders.parquet", &query, &["--where", "id > 2"]);
    let report = json_report(&sliced);
    assert_eq!(
        sliced.status.code(),
        Some(1),
        "{}{report:#}",
        stderr(&sliced)
    );
    // Rows 3-300 against 3-100 of the changed table (10 deleted, 9999 past the query's WHERE).
    assert_eq!(counts(&report), [95, 2, 0, 201], "{report:#}");
    assert_eq!(report["tables"][0]["candidate"]["rows"], 97);
    assert!(
        report["tables"][0]["candidate"]["source"]
            .as_str()
            .unwrap()
            .ends_with("query=SELECT id, amount, name FROM public.orders WHERE id <= 100"),
        "{report:#}"
    );
    let bad = keyed_diff(
        dir.path(),
        "orders.parquet",
        &table,
        &["--where", "nope = 1"],
    );
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(
        stderr(&bad).contains("`--where nope = 1` cannot filter"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn postgres_errors_name_the_source_and_never_the_password() {
    let Some(server) = common::servers::postgres("postgres errors") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(&server, "dualrun_errors");
    psql(
        &url,
        "CREATE TABLE public.known (id int8); CREATE TABLE public.other (id int8)",
    );
    let parsed = url::Url::parse(&url).unwrap();
    let password = parsed.password().unwrap().to_string();
    let with = |edit: &dyn Fn(&mut url::Url), query: &str| {
        let mut u = parsed.clone();
        edit(&mut u);
        format!("{u}?{query}")
    };
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let cases: Vec<(String, &str, &str)> = vec![
        (
            with(&|_| {}, "table=public.missing"),
            "the table `public.missing` does not exist",
            "`known`, `other`",
        ),
        (
            with(
                &|u| u.set_password(Some("wrong")).unwrap(),
                "table=public.known",
            ),
            "refused user `dualrun`",
            "PGPASSWORD",
        ),
        (
            with(&|u| u.set_path("/no_such_db"), "table=public.known"),
            "no_such_db",
            "database name",
        ),
        (
            with(
                &|u| u.set_port(Some(closed_port)).unwrap(),
                "table=public.known",
            ),
            "cannot connect",
            "host and port",
        ),
        (
            with(&|_| {}, "sslmode=disable"),
            "names no `table` or `query`",
            "?table=",
        ),
        (
            with(&|_| {}, "query=SELECT nope FROM public.known"),
            "cannot run its query (ERROR: column \"nope\" does not exist)",
            "one SELECT",
        ),
    ];
    for (table, says, hint) in cases {
        let output = dualrun(dir.path(), &["profile", &table]);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{table}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains(says),
            "{says}: {err}"
        );
        assert!(err.contains("hint:") && err.contains(hint), "{hint}: {err}");
        assert!(!err.contains(&password) && !err.contains("wrong"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn a_password_from_pgpass_or_pgpassword_connects() {
    let Some(server) = common::servers::postgres("postgres passwords") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(&server, "dualrun_pgpass");
    psql(&url, "CREATE TABLE public.t AS SELECT 1::int8 AS id");
    let parsed = url::Url::parse(&url).unwrap();
    let password = parsed.password().unwrap().to_string();
    let mut bare = parsed.clone();
    bare.set_password(None).unwrap();
    let table = format!("{bare}?table=public.t");
    let pgpass = dir.path().join("pgpass");
    std::fs::write(
        &pgpass,
        format!("# comment\nother:1:*:*:nope\n127.0.0.1:*:*:dualrun:{password}\n"),
    )
    .unwrap();
    let run = |envs: &[(&str, &str)]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_dualrun"))
            .args(["profile", &table, "--format", "json"])
            .current_dir(dir.path())
            .env_remove("PGPASSWORD")
            .env("PGPASSFILE", dir.path().join("none"))
            .envs(envs.iter().copied())
            .output()
            .unwrap();
        (output.status.code(), stderr(&output))
    };
    assert_eq!(run(&[]).0, Some(2), "no password: refused");
    assert_eq!(run(&[("PGPASSWORD", &password)]).0, Some(0));
    let (code, err) = run(&[("PGPASSFILE", pgpass.to_str().unwrap())]);
    assert_eq!(code, Some(0), "{err}");
}

/// Uploads `files` of `dir` under `s3://BUCKET/PREFIX/` with boto3.
fn upload(dir: &Path, bucket: &str, prefix: &str, files: &[&str]) {
    let files = files
        .iter()
        .map(|f| format!("'{f}'"))
        .collect::<Vec<_>>()
        .join(", ");
    python(
        &format!(
            "import boto3\n\
             s3 = boto3.client('s3')\n\
             s3.create_bucket(Bucket='{bucket}')\n\
             for f in [{files}]:\n\
             \x20   s3.upload_file(f, '{bucket}', '{prefix}/' + f.split('/')[-1])\n\
             s3.put_object(Bucket='{bucket}', Key='{prefix}/_SUCCESS', Body=b'')\n"
        ),
        dir,
    );
}

#[test]
fn an_s3_prefix_diffs_like_the_local_files() {
    if common::servers::s3("s3 prefix vs local").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let expected = common::generate_pair(dir.path(), &["--rows", "20000"]);
    upload(dir.path(), "lake", "prod", &["prod.parquet"]);
    upload(dir.path(), "lake", "candidate", &["candidate.parquet"]);
    let local = keyed_diff(dir.path(), "prod.parquet", "candidate.parquet", &[]);
    for (left, right) in [
        ("s3://lake/prod/", "s3://lake/candidate/"),
        ("s3://lake/prod/prod.parquet", "candidate.parquet"),
        ("s3://lake/prod/*.parquet", "s3://lake/candidate/*.parquet"),
    ] {
        let remote = keyed_diff(dir.path(), left, right, &[]);
        assert_eq!(remote.status.code(), Some(1), "{left}: {}", stderr(&remote));
        let (remote, local) = (json_report(&remote), json_report(&local));
        assert_eq!(counts(&remote), counts(&local), "{left}");
        assert_eq!(
            remote["tables"][0]["columns"], local["tables"][0]["columns"],
            "{left}: per-column tallies"
        );
        assert_eq!(counts(&local)[1], expected["changed"].as_u64().unwrap());
    }
}

#[test]
fn s3_errors_name_the_bucket_key_or_prefix() {
    if common::servers::s3("s3 errors").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write_parquet(&dir.path().join("t.parquet"), &[orders()]);
    upload(dir.path(), "errors", "data", &["t.parquet"]);
    for (table, says) in [
        ("s3://no-such-bucket/data/", "does not exist"),
        ("s3://errors/data/missing.parquet", "no such object"),
        ("s3://errors/empty/", "no data objects under this prefix"),
        ("s3://errors/data/*.csv", "no objects match this glob"),
        ("ftp://errors/data/", "unsupported scheme `ftp://`"),
    ] {
        let output = dualrun(dir.path(), &["profile", table]);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{table}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains(says),
            "{says}: {err}"
        );
        assert!(
            err.contains(table.split('*').next().unwrap()),
            "names the source: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn a_project_reads_postgres_and_s3_inputs_and_fingerprints_them() {
    let (Some(server), Some(_)) = (
        common::servers::postgres("project with postgres and s3 inputs"),
        common::servers::s3("project with postgres and s3 inputs"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(&server, "dualrun_project");
    load_orders(&url, dir.path());
    write_parquet(&dir.path().join("orders.parquet"), &[orders()]);
    upload(dir.path(), "inputs", "orders", &["orders.parquet"]);
    let password = url::Url::parse(&url)
        .unwrap()
        .password()
        .unwrap()
        .to_string();
    std::fs::create_dir(dir.path().join("models")).unwrap();
    std::fs::write(
        dir.path().join("models/totals.sql"),
        "SELECT o.id, o.amount, l.qty FROM db_orders o JOIN lake_orders l ON o.id = l.id",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("dualrun.toml"),
        format!(
            "[inputs]\n\
             db_orders = {{ url = \"{url}\", table = \"public.orders\" }}\n\
             lake_orders = \"s3://inputs/orders/\"\n\n\
             [prod]\nmodels = \"models\"\n\n[candidate]\nmodels = \"models\"\n\n\
             [outputs.totals]\nkey = [\"id\"]\n"
        ),
    )
    .unwrap();
    let run = dualrun(
        dir.path(),
        &["run", ".", "--run-dir", "run", "--format", "json"],
    );
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}{}",
        stderr(&run),
        stdout(&run)
    );
    let report = json_report(&run);
    let inputs = report["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 2, "{report:#}");
    let db = inputs.iter().find(|i| i["input"] == "db_orders").unwrap();
    assert_eq!(db["rows"], ROWS, "{db}");
    assert!(db["path"].as_str().unwrap().contains(":***@"), "{db}");
    let lake = inputs.iter().find(|i| i["input"] == "lake_orders").unwrap();
    assert_eq!(lake["files"], 1, "{lake}");
    assert!(lake["bytes"].as_u64().unwrap() > 0, "{lake}");
    assert_eq!(report["tables"][0]["rows"]["identical"], ROWS);

    // No file of the run, and nothing it printed, holds the password.
    for entry in walk(&dir.path().join("run")) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !bytes
                .windows(password.len())
                .any(|w| w == password.as_bytes()),
            "the password is in {}",
            entry.display()
        );
    }
    assert!(!stdout(&run).contains(&password) && !stderr(&run).contains(&password));

    // A changed table between runs is a changed fingerprint.
    psql(&url, "UPDATE public.orders SET qty = qty + 1 WHERE id = 5");
    let again = dualrun(
        dir.path(),
        &["run", ".", "--run-dir", "run2", "--format", "json"],
    );
    let again = json_report(&again);
    let db_again = again["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["input"] == "db_orders")
        .unwrap();
    assert_ne!(db_again["xxh3"], db["xxh3"]);
    assert_eq!(db_again["rows"], ROWS);
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Writes a Delta table at `dir/name` with the `deltalake` Python package (an
/// independent writer): version 0 from `generate_pair`'s prod, version 1
/// overwritten with its candidate; and uploads it under `s3://BUCKET/name/`
/// when `bucket` is given.
fn write_delta(dir: &Path, name: &str, bucket: Option<&str>) {
    let upload = match bucket {
        Some(bucket) => format!(
            "import boto3, os\n\
             s3 = boto3.client('s3')\n\
             s3.create_bucket(Bucket='{bucket}')\n\
             for root, _, files in os.walk('{name}'):\n\
             \x20   for f in files:\n\
             \x20       path = os.path.join(root, f)\n\
             \x20       s3.upload_file(path, '{bucket}', path)\n"
        ),
        None => String::new(),
    };
    python(
        &format!(
            "import pyarrow.parquet as pq\n\
             from deltalake import write_deltalake\n\
             write_deltalake('{name}', pq.read_table('prod.parquet'))\n\
             write_deltalake('{name}', pq.read_table('candidate.parquet'), mode='overwrite')\n\
             {upload}"
        ),
        dir,
    );
}

#[test]
fn delta_versions_diff_like_the_files_they_were_written_from() {
    let dir = tempfile::tempdir().unwrap();
    if std::env::var("DUALRUN_TEST_PYTHON").is_err() {
        common::servers::s3("delta versions (needs the venv's deltalake)");
        return;
    }
    common::generate_pair(dir.path(), &["--rows", "20000"]);
    write_delta(dir.path(), "orders", None);
    let files = keyed_diff(dir.path(), "prod.parquet", "candidate.parquet", &[]);
    let files = json_report(&files);
    let delta = keyed_diff(dir.path(), "orders?version=0", "orders?version=1", &[]);
    assert_eq!(delta.status.code(), Some(1), "{}", stderr(&delta));
    let delta = json_report(&delta);
    assert_eq!(counts(&delta), counts(&files));
    assert_eq!(delta["tables"][0]["columns"], files["tables"][0]["columns"]);
    assert_eq!(delta["tables"][0]["prod"]["version"], 0);
    assert_eq!(delta["tables"][0]["candidate"]["version"], 1);
    assert_eq!(delta["tables"][0]["prod"]["format"], "delta");

    // The latest version is read without a suffix; a version the log does
    // not hold is a clear error.
    let latest = keyed_diff(dir.path(), "candidate.parquet", "orders", &[]);
    assert_eq!(latest.status.code(), Some(0), "{}", stderr(&latest));
    assert_eq!(json_report(&latest)["tables"][0]["candidate"]["version"], 1);
    let missing = dualrun(dir.path(), &["profile", "orders?version=7"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("orders?version=7"),
        "{}",
        stderr(&missing)
    );
    assert!(stderr(&missing).contains("hint:"), "{}", stderr(&missing));
}

#[test]
fn a_delta_table_in_s3_reads_like_the_local_one() {
    if common::servers::s3("delta in s3").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    common::generate_pair(dir.path(), &["--rows", "5000"]);
    write_delta(dir.path(), "orders", Some("deltas"));
    let local = keyed_diff(dir.path(), "orders?version=0", "orders", &[]);
    let remote = keyed_diff(
        dir.path(),
        "s3://deltas/orders/?version=0",
        "s3://deltas/orders/",
        &[],
    );
    assert_eq!(remote.status.code(), Some(1), "{}", stderr(&remote));
    let (local, remote) = (json_report(&local), json_report(&remote));
    assert_eq!(counts(&remote), counts(&local));
    assert_eq!(remote["tables"][0]["candidate"]["version"], 1);
    assert_eq!(remote["tables"][0]["candidate"]["format"], "delta");
}

#[test]
fn a_project_reads_postgres_and_delta_inputs_and_records_the_delta_version() {
    let Some(server) = common::servers::postgres("project with postgres and delta inputs") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(&server, "dualrun_delta_project");
    load_orders(&url, dir.path());
    let delta = |mode: &str| {
        python(
            &format!(
                "import pyarrow as pa\n\
                 from deltalake import write_deltalake\n\
                 ids = list(range(1, {ROWS} + 1))\n\
                 write_deltalake('weights', pa.table({{'id': pa.array(ids, pa.int64()), \
                 'weight': pa.array([i * 0.5 for i in ids])}}), mode='{mode}')\n"
            ),
            dir.path(),
        )
    };
    delta("error");
    std::fs::create_dir(dir.path().join("models")).unwrap();
    std::fs::write(
        dir.path().join("models/weighted.sql"),
        "SELECT o.id, o.amount, w.weight FROM db_orders o JOIN weights w ON o.id = w.id",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("dualrun.toml"),
        format!(
            "[inputs]\n\
             db_orders = {{ url = \"{url}\", table = \"public.orders\" }}\n\
             weights = \"weights\"\n\n\
             [prod]\nmodels = \"models\"\n\n[candidate]\nmodels = \"models\"\n\n\
             [outputs.weighted]\nkey = [\"id\"]\n"
        ),
    )
    .unwrap();
    let input = |report: &serde_json::Value, name: &str| {
        report["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["input"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no input {name}: {report:#}"))
    };
    let run = dualrun(
        dir.path(),
        &["run", ".", "--run-dir", "run", "--format", "json"],
    );
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}{}",
        stderr(&run),
        stdout(&run)
    );
    let report = json_report(&run);
    assert_eq!(input(&report, "db_orders")["rows"], ROWS);
    assert_eq!(input(&report, "weights")["version"], 0, "{report:#}");
    assert_eq!(report["tables"][0]["rows"]["identical"], ROWS);

    // A new version of the Delta table is a changed fingerprint.
    delta("append");
    let again = dualrun(
        dir.path(),
        &["run", ".", "--run-dir", "run2", "--format", "json"],
    );
    let again = json_report(&again);
    let weights = input(&again, "weights");
    assert_eq!(weights["version"], 1, "{weights}");
    assert_ne!(weights["xxh3"], input(&report, "weights")["xxh3"]);
}
