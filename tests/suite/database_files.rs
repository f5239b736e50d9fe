//! Database files as tables: SQLite files written by Python's own `sqlite3`
//! module and DuckDB files written by DuckDB, diffed against the Parquet
//! file pyarrow wrote from the same rows, with counts checked against the
//! diff of two Parquet files; and the errors a user meets there.
#![cfg(all(feature = "sqlite", feature = "duckdb"))]

use std::path::Path;

use crate::common::servers::python;
use crate::common::{json_report, stderr};

/// `dualrun ARGS` in `dir`, reading DuckDB files with the test venv's
/// Python (which has the `duckdb` module).
fn dualrun(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_dualrun"))
        .args(args)
        .current_dir(dir)
        .env(
            "DUALRUN_PYTHON",
            std::env::var("DUALRUN_TEST_PYTHON").expect("the venv's python"),
        )
        .env("NO_COLOR", "1")
        .output()
        .expect("the dualrun binary runs")
}

/// Writes `orders.db` (SQLite) and `orders.parquet` (pyarrow) with the same
/// rows, and `changed.db` / `changed.parquet` with the same changes: 3
/// amounts changed, row 7 removed, row 1001 added.
fn write_orders(dir: &Path) {
    python(
        r#"
import datetime, sqlite3
import pyarrow as pa, pyarrow.parquet as pq

def rows(changed):
    out = []
    for i in range(1, 1001):
        if changed and i == 7:
            continue
        amount = i * 1.25 + (0.5 if changed and i in (10, 20, 30) else 0)
        out.append((i, f"name {i % 13}", amount, datetime.date(2026, 1, 1) + datetime.timedelta(days=i % 300),
                    datetime.datetime(2026, 11, 30, 12, 0, 0) + datetime.timedelta(seconds=i * 37), i % 2 == 0,
                    None if i % 11 == 0 else i * 3, bytes([i % 256, 7])))
    if changed:
        out.append((1001, "new", 1.0, datetime.date(2026, 1, 1), datetime.datetime(2026, 1, 1), True, 1, b"x"))
    return out

for name, changed in (("orders", False), ("changed", True)):
    db = sqlite3.connect(f"{name}.db")
    db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, name TEXT, amount REAL, day DATE, "
               "at DATETIME, paid BOOLEAN, points, blob BLOB)")
    db.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   [(i, n, a, d.isoformat(), t.isoformat(sep=' '), int(p), pts, b)
                    for (i, n, a, d, t, p, pts, b) in rows(changed)])
    db.execute("CREATE TABLE strays (id INTEGER, n INTEGER)")
    db.execute("INSERT INTO strays VALUES (1, 5), (2, 'five')")
    db.commit()
    db.close()
    columns = list(zip(*rows(changed)))
    table = pa.table({
        "id": pa.array(columns[0], pa.int64()),
        "name": pa.array(columns[1], pa.string()),
        "amount": pa.array(columns[2], pa.float64()),
        "day": pa.array(columns[3], pa.date32()),
        "at": pa.array(columns[4], pa.timestamp("us")),
        "paid": pa.array(columns[5], pa.bool_()),
        "points": pa.array(columns[6], pa.int64()),
        "blob": pa.array(columns[7], pa.binary()),
    })
    pq.write_table(table, f"{name}.parquet")
"#,
        dir,
    );
}

fn keyed(dir: &Path, left: &str, right: &str) -> serde_json::Value {
    let output = dualrun(
        dir,
        &["diff", left, right, "--key", "id", "--format", "json"],
    );
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{left} vs {right}: {}",
        stderr(&output)
    );
    json_report(&output)
}

fn counts(report: &serde_json::Value) -> Vec<u64> {
    let rows = &report["tables"][0]["rows"];
    ["identical", "changed", "removed", "added"]
        .iter()
        .map(|k| rows[k].as_u64().unwrap_or(u64::MAX))
        .collect()
}

#[test]
fn a_sqlite_table_diffs_like_the_parquet_file_of_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    write_orders(dir.path());
    let same = keyed(
        dir.path(),
        "sqlite:orders.db?table=orders",
        "orders.parquet",
    );
    assert_eq!(counts(&same), [1000, 0, 0, 0], "{same:#}");
    let table = &same["tables"][0];
    for change in ["added", "removed", "retyped", "nullability_changed"] {
        assert_eq!(table["schema"][change], serde_json::json!([]), "{table:#}");
    }
    assert_eq!(table["prod"]["format"], "sqlite");

    let parquet = keyed(dir.path(), "orders.parquet", "changed.parquet");
    let sqlite = keyed(
        dir.path(),
        "sqlite:orders.db?table=orders",
        "sqlite:changed.db?table=orders",
    );
    assert_eq!(counts(&parquet), [996, 3, 1, 1]);
    assert_eq!(counts(&sqlite), counts(&parquet));
    let unequal = |report: &serde_json::Value| {
        report["tables"][0]["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["name"].clone(), c["unequal"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(unequal(&sqlite), unequal(&parquet));

    // A query, and --where on top of it, read only what they select.
    let query = keyed(
        dir.path(),
        "sqlite:orders.db?query=SELECT id, amount FROM orders WHERE id <= 500",
        "sqlite:changed.db?query=SELECT id, amount FROM orders WHERE id <= 500",
    );
    assert_eq!(counts(&query), [496, 3, 1, 0], "{query:#}");
    let output = dualrun(
        dir.path(),
        &[
            "diff",
            "sqlite:orders.db?table=orders",
            "changed.parquet",
            "--key",
            "id",
            "--where",
            "id > 15",
            "--format",
            "json",
        ],
    );
    assert_eq!(counts(&json_report(&output)), [983, 2, 0, 1]);
}

#[test]
fn sqlite_errors_name_the_file_and_table() {
    let dir = tempfile::tempdir().unwrap();
    write_orders(dir.path());
    std::fs::write(dir.path().join("notes.db"), "not a database\n").unwrap();
    for (left, says) in [
        (
            "sqlite:missing.db?table=orders",
            "names a SQLite database file that does not exist",
        ),
        (
            "sqlite:orders.db?table=order",
            "the table `order` does not exist",
        ),
        (
            "sqlite:notes.db?table=orders",
            "is not a readable SQLite database",
        ),
        (
            "sqlite:orders.db?query=SELEC id FROM orders",
            "cannot run its query",
        ),
        ("sqlite:orders.db", "names no `table` or `query`"),
    ] {
        let output = dualrun(dir.path(), &["diff", left, "orders.parquet", "--key", "id"]);
        let error = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{left}: {error}");
        assert!(error.contains(says), "{left}: {error}");
        assert!(!error.contains("panicked"), "{error}");
    }
    // A value is read, and refused, where it is compared; a column left out
    // of the comparison (`--ignore`, or one the other table lacks) is never
    // read, so its stray value cannot fail the diff.
    let strays = "sqlite:orders.db?table=strays";
    let compared = dualrun(dir.path(), &["diff", strays, strays, "--key", "id"]);
    assert_eq!(compared.status.code(), Some(2), "{}", stderr(&compared));
    assert!(
        stderr(&compared).contains("the column `n` holds the text `five` in row 2"),
        "{}",
        stderr(&compared)
    );
    let ignored = dualrun(
        dir.path(),
        &["diff", strays, strays, "--key", "id", "--ignore", "n"],
    );
    assert_eq!(ignored.status.code(), Some(0), "{}", stderr(&ignored));
    let elsewhere = dualrun(
        dir.path(),
        &["diff", strays, "orders.parquet", "--key", "id"],
    );
    assert_ne!(elsewhere.status.code(), Some(2), "{}", stderr(&elsewhere));
    let error = stderr(&dualrun(
        dir.path(),
        &["profile", "sqlite:orders.db?table=order"],
    ));
    assert!(
        error.contains("hint: the database holds `orders`, `strays`"),
        "{error}"
    );
    assert!(
        !dir.path().join("missing.db").exists(),
        "a missing database is never created"
    );
}

#[test]
fn a_project_reads_side_outputs_from_database_tables() {
    let dir = tempfile::tempdir().unwrap();
    write_orders(dir.path());
    std::fs::write(
        dir.path().join("dualrun.toml"),
        "[prod]\nengine = \"files\"\noutputs_at = \"sqlite:orders.db?table={name}\"\n\
         [candidate]\nengine = \"command\"\nrun = \"cp changed.db built.db\"\n\
         outputs_at = \"sqlite:built.db?table={name}\"\n\
         [outputs.orders]\nkey = [\"id\"]\n",
    )
    .unwrap();
    let output = dualrun(
        dir.path(),
        &["run", ".", "--run-dir", "run", "--format", "json"],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let report = json_report(&output);
    assert_eq!(counts(&report), [996, 3, 1, 1], "{report:#}");
    let table = &report["tables"][0];
    assert_eq!(table["candidate"]["format"], "sqlite", "{table:#}");
    assert!(
        table["candidate"]["source"]
            .as_str()
            .unwrap()
            .ends_with("built.db?table=orders"),
        "{table:#}"
    );
    for side in ["prod", "candidate"] {
        let copy = dir.path().join("run").join(side).join("orders.parquet");
        assert!(copy.is_file(), "the audit copy {} is kept", copy.display());
    }

    // A template without `{name}` is refused before anything runs.
    std::fs::write(
        dir.path().join("dualrun.toml"),
        "[prod]\nengine = \"files\"\noutputs_at = \"sqlite:orders.db?table=orders\"\n\
         [candidate]\nengine = \"files\"\noutputs_dir = \".\"\n[outputs.orders]\nkey = [\"id\"]\n",
    )
    .unwrap();
    let output = dualrun(dir.path(), &["run", "."]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("has no `{name}`"),
        "{}",
        stderr(&output)
    );
}

/// `orders.duckdb` and `changed.duckdb`, written by DuckDB from the
/// Parquet files: DuckDB's own types (DECIMAL, TIMESTAMP, BLOB, ...).
fn write_duckdb(dir: &Path) {
    write_orders(dir);
    python(
        r#"
import duckdb
for name in ("orders", "changed"):
    db = duckdb.connect(f"{name}.duckdb")
    db.execute("CREATE SCHEMA shop")
    db.execute(f"CREATE TABLE shop.orders AS SELECT * FROM '{name}.parquet'")
    db.execute("CREATE TABLE shop.priced AS SELECT id, CAST(amount AS DECIMAL(12, 2)) AS price FROM shop.orders")
    db.close()
"#,
        dir,
    );
}

#[test]
fn a_duckdb_table_diffs_like_the_parquet_file_it_was_made_from() {
    let dir = tempfile::tempdir().unwrap();
    write_duckdb(dir.path());
    let same = keyed(
        dir.path(),
        "duckdb:orders.duckdb?table=shop.orders",
        "orders.parquet",
    );
    assert_eq!(counts(&same), [1000, 0, 0, 0], "{same:#}");
    assert_eq!(same["tables"][0]["prod"]["format"], "duckdb");
    let parquet = keyed(dir.path(), "orders.parquet", "changed.parquet");
    let duckdb = keyed(
        dir.path(),
        "duckdb:orders.duckdb?table=shop.orders",
        "duckdb:changed.duckdb?table=shop.orders",
    );
    assert_eq!(counts(&duckdb), counts(&parquet));
    // Across engines: the SQLite file and the DuckDB file of the same rows.
    let across = keyed(
        dir.path(),
        "sqlite:orders.db?table=orders",
        "duckdb:changed.duckdb?table=shop.orders",
    );
    assert_eq!(counts(&across), counts(&parquet), "{across:#}");
    let decimal = keyed(
        dir.path(),
        "duckdb:orders.duckdb?query=SELECT * FROM shop.priced WHERE id <= 100",
        "duckdb:changed.duckdb?table=shop.priced",
    );
    assert_eq!(counts(&decimal), [96, 3, 1, 901], "{decimal:#}");
    let price = &decimal["tables"][0]["columns"][0];
    let compared_as = price["compared_as"].as_str().unwrap();
    assert!(
        compared_as.starts_with("Decimal128(") && compared_as.ends_with(", 2)"),
        "DuckDB's DECIMAL stays a decimal: {price:#}"
    );
}

#[test]
fn duckdb_errors_name_the_file_table_and_the_python_that_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    write_duckdb(dir.path());
    std::fs::write(dir.path().join("notes.duckdb"), "not a database\n").unwrap();
    for (left, says) in [
        (
            "duckdb:missing.duckdb?table=orders",
            "names a DuckDB database file that does not exist",
        ),
        (
            "duckdb:orders.duckdb?table=shop.order",
            "the table `shop.order` does not exist",
        ),
        (
            "duckdb:notes.duckdb?table=orders",
            "cannot read the table `orders`",
        ),
        ("duckdb:orders.duckdb?query=SELEC 1", "cannot run its query"),
    ] {
        let output = dualrun(dir.path(), &["diff", left, "orders.parquet", "--key", "id"]);
        let error = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{left}: {error}");
        assert!(error.contains(says), "{left}: {error}");
        assert!(
            !error.contains("panicked") && !error.contains("Traceback"),
            "{error}"
        );
    }
    // A Python without the module: `-S` leaves site-packages out.
    let bare = dir.path().join("bare-python");
    std::fs::write(&bare, "#!/bin/sh\nexec python3 -S \"$@\"\n").unwrap();
    std::fs::set_permissions(&bare, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dualrun"))
        .args(["profile", "duckdb:orders.duckdb?table=shop.orders"])
        .current_dir(dir.path())
        .env("DUALRUN_PYTHON", &bare)
        .output()
        .unwrap();
    let error = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{error}");
    assert!(error.contains("has no `duckdb` module"), "{error}");
    assert!(error.contains("hint: `pip install duckdb`"), "{error}");
}
