//! `duckdb:PATH?table=SCHEMA.TABLE` and `duckdb:PATH?query=SELECT ...`
//! (cargo feature `duckdb`): a DuckDB database file, read by the DuckDB the
//! user already has, its Python module: the file is opened read-only and
//! the relation is written as one Parquet file (DuckDB's own writer, its own
//! types) into a scratch directory that lives as long as the table is read,
//! then diffed like any Parquet file. The Python stays running between
//! exports (one for each export running at the same moment), so DuckDB is
//! imported once a run, not once a table.
//!
//! Why not link DuckDB: its Rust crate compiles the whole DuckDB engine from
//! C++ and brings a second Arrow into the build (see the README's build
//! costs), and a DuckDB file is best read by the DuckDB version that wrote
//! it, the one installed beside the pipeline (dbt-duckdb's, for one).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};

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

/// The exporter: a Python that imports DuckDB once, then answers one JSON
/// request a line (`database`, `select`, `out`) with one line: `ok`, or
/// the traceback DuckDB raised. Parameters arrive as data, never in the
/// script's text. A connection lives for one request, so no lock on a
/// database file outlasts its export.
const EXPORTER: &str = r#"
import json, os, sys, traceback
try:
    import duckdb
except ImportError:
    sys.stderr.write("dualrun-no-duckdb-module\n")
    sys.exit(3)
# Nobody reads stderr from here on: a full pipe would stop the exporter.
os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
answer_prefix = sys.argv[1]
for line in sys.stdin:
    request = json.loads(line)
    try:
        connection = duckdb.connect(request["database"], read_only=True)
        try:
            connection.execute("SET enable_progress_bar = false")
            connection.sql(request["select"]).write_parquet(request["out"])
        finally:
            connection.close()
        answer = {"ok": True}
    except Exception:
        answer = {"error": traceback.format_exc()}
    sys.stdout.write(answer_prefix + json.dumps(answer) + "\n")
    sys.stdout.flush()
"#;

/// What starts each answer line, so nothing else DuckDB may print is
/// taken for one.
const ANSWER: &str = "dualrun-export ";

/// A running exporter, and the Python it runs on.
struct Exporter {
    python: String,
    child: Child,
    requests: ChildStdin,
    answers: BufReader<ChildStdout>,
}

/// Exporters between requests. Starting Python and importing DuckDB takes
/// about 0.4 s, the export of a small table a tenth of that: a dbt project
/// of many models exports each of them on each side, and did so in a
/// Python of its own. Each export takes an idle exporter (or starts one),
/// so exports from several threads still run side by side.
static IDLE: Mutex<Vec<Exporter>> = Mutex::new(Vec::new());

/// What an exporter said of one request.
enum Answer {
    Written,
    /// DuckDB refused it; the traceback.
    Refused(String),
}

impl Exporter {
    /// An idle exporter on `python`, if there is one.
    fn idle(python: &str) -> Option<Exporter> {
        let mut idle = IDLE.lock().unwrap_or_else(|e| e.into_inner());
        let found = idle.iter().position(|e| e.python == python)?;
        Some(idle.swap_remove(found))
    }

    fn start(python: &str) -> std::io::Result<Exporter> {
        let mut child = Command::new(python)
            .args(["-c", EXPORTER, ANSWER])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let requests = child.stdin.take().expect("stdin is piped");
        let answers = BufReader::new(child.stdout.take().expect("stdout is piped"));
        Ok(Exporter {
            python: python.to_string(),
            child,
            requests,
            answers,
        })
    }

    /// Sends one request and reads its answer; `Err` with what the
    /// exporter wrote on stderr when it ended instead of answering.
    fn export(&mut self, database: &str, select: &str, out: &Path) -> Result<Answer, String> {
        let request = serde_json::json!({"database": database, "select": select, "out": out});
        let sent = writeln!(self.requests, "{request}").and_then(|()| self.requests.flush());
        if sent.is_ok() {
            let mut line = String::new();
            while self.answers.read_line(&mut line).is_ok_and(|read| read > 0) {
                if let Some(answer) = line.strip_prefix(ANSWER) {
                    let answer: serde_json::Value = serde_json::from_str(answer.trim())
                        .map_err(|e| format!("an answer that is not JSON ({e})"))?;
                    return Ok(match answer["error"].as_str() {
                        Some(traceback) => Answer::Refused(traceback.to_string()),
                        None => Answer::Written,
                    });
                }
                line.clear();
            }
        }
        let mut said = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            let _ = stderr.read_to_string(&mut said);
        }
        let _ = self.child.wait();
        Err(said)
    }

    fn put_back(self) {
        IDLE.lock().unwrap_or_else(|e| e.into_inner()).push(self);
    }
}

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
    // An idle exporter that has ended since its last export is replaced by
    // a new one.
    let reused = Exporter::idle(&python).and_then(|mut exporter| {
        let answer = exporter.export(path, &select, &file).ok()?;
        Some((answer, exporter))
    });
    let answer = match reused {
        Some(answered) => Ok(answered),
        None => {
            let mut exporter = Exporter::start(&python).map_err(|e| {
                Error::input(shown, format!("cannot be read: `{python}` does not run ({e})"))
                    .with_hint(format!("DuckDB files are read by DuckDB's Python module: install Python and `pip install duckdb`, or set {PYTHON_VARIABLE} to a Python that has it"))
            })?;
            exporter
                .export(path, &select, &file)
                .map(|answer| (answer, exporter))
        }
    };
    match answer {
        Ok((Answer::Written, exporter)) => exporter.put_back(),
        Ok((Answer::Refused(traceback), exporter)) => {
            exporter.put_back();
            return Err(refused(shown, relation, &traceback));
        }
        Err(said) if said.contains("dualrun-no-duckdb-module") => {
            return Err(Error::input(
                shown,
                format!("cannot be read: `{python}` has no `duckdb` module"),
            )
            .with_hint(format!(
                "`pip install duckdb` for that Python, or set {PYTHON_VARIABLE} to one that has it"
            )));
        }
        Err(said) if said.trim().is_empty() => {
            return Err(Error::input(
                shown,
                format!("cannot be read: the DuckDB export in `{python}` ended without a word"),
            ));
        }
        Err(said) => return Err(refused(shown, relation, &said)),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The tests' Python with DuckDB, which `.ci/servers.sh` names.
    fn test_python() -> Option<String> {
        match std::env::var("DUALRUN_TEST_PYTHON") {
            Ok(python) if !python.is_empty() => Some(python),
            _ => {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "DUALRUN_TEST_PYTHON is unset; run the tests with `bash .ci/test`"
                );
                eprintln!("the DuckDB exporter's test did not run: DUALRUN_TEST_PYTHON is unset");
                None
            }
        }
    }

    #[test]
    fn one_exporter_answers_export_after_export_and_a_refusal_between() {
        let Some(python) = test_python() else { return };
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("shop.duckdb");
        let made = Command::new(&python)
            .args(["-c", "import duckdb, sys; duckdb.connect(sys.argv[1]).execute('CREATE TABLE t AS SELECT range AS id FROM range(5)')"])
            .arg(&database)
            .status()
            .unwrap();
        assert!(made.success());
        let database = database.to_str().unwrap();
        let mut exporter = Exporter::start(&python).unwrap();
        let (first, second) = (dir.path().join("1.parquet"), dir.path().join("2.parquet"));
        match exporter.export(database, "SELECT * FROM missing", &first) {
            Ok(Answer::Refused(traceback)) => {
                assert!(traceback.contains("missing"), "{traceback}")
            }
            _ => panic!("a missing table is refused"),
        }
        assert!(!first.exists());
        assert!(matches!(
            exporter.export(database, "SELECT * FROM t", &second),
            Ok(Answer::Written)
        ));
        let written = std::fs::read(&second).unwrap();
        assert!(written.starts_with(b"PAR1") && written.ends_with(b"PAR1"));
        // The same process answered both, and waits for more.
        assert!(exporter.child.try_wait().unwrap().is_none());
        // One that has ended says so instead of answering.
        exporter.child.kill().unwrap();
        assert!(
            exporter
                .export(database, "SELECT * FROM t", &first)
                .is_err()
        );
    }
}
