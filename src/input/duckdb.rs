//! `duckdb:PATH?table=SCHEMA.TABLE` and `duckdb:PATH?query=SELECT ...`
//! (cargo feature `duckdb`): a DuckDB database file, read by the DuckDB the
//! user already has, its Python module: the file is opened read-only and
//! the relation is written as one Parquet file (DuckDB's own writer, its own
//! types) into a scratch directory that lives as long as the table is read,
//! then diffed like any Parquet file.
//!
//! Why not link DuckDB: its Rust crate compiles the whole DuckDB engine from
//! C++ and brings a second Arrow into the build (see the README's build
//! costs), and a DuckDB file is best read by the DuckDB version that wrote
//! it, the one installed beside the pipeline (dbt-duckdb's, for one).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use super::{Relation, TableSource};
use crate::error::{Error, Result, first_line};

/// The Python that runs the export: `DUALRUN_PYTHON`, else the one set
/// with `prefer_python` (the Python beside dbt-duckdb, which has DuckDB),
/// else `python3`.
pub const PYTHON_VARIABLE: &str = "DUALRUN_PYTHON";

static PREFERRED_PYTHON: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// Reads DuckDB files with `python` unless `DUALRUN_PYTHON` says
/// otherwise; the first call wins.
pub fn prefer_python(python: std::path::PathBuf) {
    let _ = PREFERRED_PYTHON.set(python);
}

fn python() -> String {
    std::env::var(PYTHON_VARIABLE).unwrap_or_else(|_| match PREFERRED_PYTHON.get() {
        Some(python) => python.display().to_string(),
        None => "python3".to_string(),
    })
}

/// Exports the relation; the parameters arrive as arguments, never in the
/// script's text.
const EXPORT: &str = r#"
import sys
try:
    import duckdb
except ImportError:
    sys.stderr.write("dualrun-no-duckdb-module\n")
    sys.exit(3)
database, relation, out = sys.argv[1:4]
connection = duckdb.connect(database, read_only=True)
connection.sql(relation).write_parquet(out)
"#;

/// The exported table: its Parquet file, and the directory that holds it
/// for as long as anything reads it.
pub struct Exported {
    pub file: std::path::PathBuf,
    pub scratch: Arc<tempfile::TempDir>,
}

/// Writes `relation` of the DuckDB file at `path` to Parquet.
pub fn export(source: &TableSource, path: &str, relation: &Relation) -> Result<Exported> {
    let shown = &source.spec;
    if !Path::new(path).is_file() {
        return Err(
            Error::input(shown, "names a DuckDB database file that does not exist")
                .with_hint("check the path after `duckdb:`; a relative one starts at the working directory (or the project's)"),
        );
    }
    let scratch = tempfile::Builder::new()
        .prefix("dualrun-duckdb-")
        .tempdir()
        .map_err(|e| Error::unreadable(shown, e))?;
    let file = scratch.path().join("table.parquet");
    let select = match relation {
        Relation::Table(_) => format!("SELECT * FROM {}", relation.from_clause()),
        Relation::Query(query) => query.clone(),
    };
    let python = python();
    let output = Command::new(&python)
        .args(["-c", EXPORT, path])
        .arg(&select)
        .arg(&file)
        .output()
        .map_err(|e| {
            Error::input(shown, format!("cannot be read: `{python}` does not run ({e})"))
                .with_hint(format!("DuckDB files are read by DuckDB's Python module: install Python and `pip install duckdb`, or set {PYTHON_VARIABLE} to a Python that has it"))
        })?;
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stderr);
        if said.contains("dualrun-no-duckdb-module") {
            return Err(Error::input(
                shown,
                format!("cannot be read: `{python}` has no `duckdb` module"),
            )
            .with_hint(format!(
                "`pip install duckdb` for that Python, or set {PYTHON_VARIABLE} to one that has it"
            )));
        }
        return Err(refused(shown, relation, &said));
    }
    Ok(Exported {
        file,
        scratch: Arc::new(scratch),
    })
}

/// DuckDB's own error, from the end of the Python traceback: the
/// exception's message (`Catalog Error: ...`) and what DuckDB added after
/// it (`Did you mean ...?`), on one line.
fn refused(shown: &str, relation: &Relation, said: &str) -> Error {
    let lines: Vec<&str> = said.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines
        .iter()
        .rposition(|l| l.contains("Exception: ") || l.contains("Error: "))
        .unwrap_or(lines.len().saturating_sub(1));
    let message = lines.get(start..).unwrap_or_default().join(" ");
    // `_duckdb.CatalogException: Catalog Error: ...`: the class adds nothing.
    let message = match message.split_once("Exception: ") {
        Some((class, rest)) if !class.contains(' ') => rest.to_string(),
        _ => message,
    };
    let reason = first_line(&message);
    let error = match relation {
        Relation::Table(table) if reason.contains("does not exist") => Error::input(
            shown,
            format!("the table `{table}` does not exist ({reason})"),
        ),
        Relation::Table(table) => {
            Error::input(shown, format!("cannot read the table `{table}` ({reason})"))
        }
        Relation::Query(_) => Error::input(shown, format!("cannot run its query ({reason})")),
    };
    if reason.contains("not a valid DuckDB database") || reason.contains("IO Error") {
        error.with_hint(
            "the file must be a DuckDB database written by this DuckDB version or an older one",
        )
    } else {
        error
    }
}
