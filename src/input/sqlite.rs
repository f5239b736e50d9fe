//! `sqlite:PATH?table=T` and `sqlite:PATH?query=SELECT ...` (cargo feature
//! `sqlite`): a SQLite database file opened read-only with rusqlite, its
//! rows streamed in Arrow batches from a blocking thread into the same diff
//! as files, fetching only the columns the diff uses.
//!
//! SQLite's columns have no fixed type, so each gets the one its declared
//! type's affinity names (SQLite's own rules, "Datatypes In SQLite" §3.1):
//! `INT` → Int64, `CHAR`/`CLOB`/`TEXT` → Utf8, `REAL`/`FLOA`/`DOUB` →
//! Float64, `BOOL` → Boolean, `DATE` → Date32, `DATETIME`/`TIMESTAMP` →
//! Timestamp(µs); a column with no declared type (or `BLOB`, or another
//! `NUMERIC` one) takes its type from the storage classes its values use.
//! A value its column's type cannot hold is an error naming the column and
//! row, never a silent NULL.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayBuilder, ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Float64Builder,
    Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream};
use datafusion::prelude::{DataFrame, SessionContext};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use super::{Relation, TableSource, sql_scan};
use crate::error::{Error, Result};

/// Rows per Arrow batch sent from the reading thread.
const BATCH_ROWS: usize = 8192;

/// The Arrow type a SQLite column is read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Integer,
    Real,
    Text,
    Blob,
    Boolean,
    Date,
    Timestamp,
}

impl Kind {
    fn data_type(self) -> DataType {
        match self {
            Kind::Integer => DataType::Int64,
            Kind::Real => DataType::Float64,
            Kind::Text => DataType::Utf8,
            Kind::Blob => DataType::Binary,
            Kind::Boolean => DataType::Boolean,
            Kind::Date => DataType::Date32,
            Kind::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
        }
    }

    /// The kind a declared type names, or `None` when the values decide
    /// (no declared type, `BLOB`, or a `NUMERIC` affinity without a more
    /// precise name).
    fn declared(declared: &str) -> Option<Kind> {
        let upper = declared.to_ascii_uppercase();
        let has = |part: &str| upper.contains(part);
        if has("INT") {
            Some(Kind::Integer)
        } else if has("CHAR") || has("CLOB") || has("TEXT") {
            Some(Kind::Text)
        } else if has("BLOB") || upper.trim().is_empty() {
            None
        } else if has("REAL") || has("FLOA") || has("DOUB") {
            Some(Kind::Real)
        } else if has("BOOL") {
            Some(Kind::Boolean)
        } else if has("DATETIME") || has("TIMESTAMP") {
            Some(Kind::Timestamp)
        } else if has("DATE") {
            Some(Kind::Date)
        } else {
            None
        }
    }

    /// The kind that holds every storage class present: integers alone
    /// stay integers, integers and reals are reals, any text makes text,
    /// blobs alone are binary. A column of only NULLs is text.
    fn of_values(integer: bool, real: bool, text: bool, blob: bool) -> Kind {
        match (integer, real, text, blob) {
            (_, _, true, _) => Kind::Text,
            (false, false, false, true) => Kind::Blob,
            (_, _, _, true) => Kind::Text,
            (_, true, _, _) => Kind::Real,
            (true, false, _, _) => Kind::Integer,
            (false, false, false, false) => Kind::Text,
        }
    }
}

/// Opens `relation` of the database file at `path` as a DataFrame that
/// streams, with the row count the database reports.
pub async fn open(
    ctx: &SessionContext,
    source: &TableSource,
    path: &str,
    relation: &Relation,
) -> Result<(DataFrame, usize)> {
    let shown = source.spec.clone();
    let file = PathBuf::from(path);
    let relation = relation.clone();
    let (table, rows) = tokio::task::spawn_blocking(move || describe(&shown, &file, &relation))
        .await
        .map_err(|e| Error::input(&source.spec, format!("cannot be read ({e})")))??;
    let frame = ctx
        .read_table(Arc::new(table))
        .map_err(|e| Error::compute(format!("cannot read `{}`", source.spec), e))?;
    Ok((frame, rows))
}

/// The table's columns, their kinds and its row count, read through one
/// read-only connection.
fn describe(shown: &str, file: &Path, relation: &Relation) -> Result<(SqliteTable, usize)> {
    let connection = connect(shown, file)?;
    let from = relation.from_clause();
    let columns: Vec<(String, Option<Kind>)> = {
        let statement = connection
            .prepare(&format!("SELECT * FROM {from} LIMIT 0"))
            .map_err(|e| relation_error(shown, &connection, relation, e))?;
        statement
            .columns()
            .iter()
            .map(|c| (c.name().to_string(), c.decl_type().and_then(Kind::declared)))
            .collect()
    };
    let undecided: Vec<usize> = (0..columns.len())
        .filter(|&i| columns[i].1.is_none())
        .collect();
    let by_values = storage_classes(&connection, shown, &from, &columns, &undecided)?;
    let kinds: Vec<Kind> = (0..columns.len())
        .map(|i| columns[i].1.unwrap_or_else(|| by_values[&i]))
        .collect();
    let fields: Vec<Field> = columns
        .iter()
        .zip(&kinds)
        .map(|((name, _), kind)| Field::new(name, kind.data_type(), true))
        .collect();
    let rows: i64 = connection
        .query_row(&format!("SELECT count(*) FROM {from}"), [], |row| {
            row.get(0)
        })
        .map_err(|e| failed(shown, "cannot count its rows", e))?;
    let table = SqliteTable {
        shown: shown.to_string(),
        file: file.to_path_buf(),
        from,
        schema: Arc::new(Schema::new(fields)),
        kinds,
    };
    Ok((table, rows.max(0) as usize))
}

/// Which storage classes the `undecided` columns' values use, in one scan.
fn storage_classes(
    connection: &Connection,
    shown: &str,
    from: &str,
    columns: &[(String, Option<Kind>)],
    undecided: &[usize],
) -> Result<std::collections::HashMap<usize, Kind>> {
    let mut kinds = std::collections::HashMap::new();
    if undecided.is_empty() {
        return Ok(kinds);
    }
    let probes: Vec<String> = undecided
        .iter()
        .flat_map(|&i| {
            let column = sql_scan::quoted(&columns[i].0);
            ["integer", "real", "text", "blob"]
                .map(|class| format!("max(typeof({column}) = '{class}')"))
        })
        .collect();
    let sql = format!("SELECT {} FROM {from}", probes.join(", "));
    connection
        .query_row(&sql, [], |row| {
            for (n, &i) in undecided.iter().enumerate() {
                let present = |k: usize| {
                    row.get::<_, Option<bool>>(n * 4 + k)
                        .map(|v| v.unwrap_or(false))
                };
                kinds.insert(
                    i,
                    Kind::of_values(present(0)?, present(1)?, present(2)?, present(3)?),
                );
            }
            Ok(())
        })
        .map_err(|e| failed(shown, "cannot read its column types", e))?;
    Ok(kinds)
}

/// A read-only connection: the file is never created, written or switched
/// to another journal mode.
fn connect(shown: &str, file: &Path) -> Result<Connection> {
    if !file.is_file() {
        return Err(
            Error::input(shown, "names a SQLite database file that does not exist")
                .with_hint("check the path after `sqlite:`; a relative one starts at the working directory (or the project's)"),
        );
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(file, flags)
        .map_err(|e| failed(shown, "cannot be opened", e))?;
    // Opening is lazy: the first read says whether the file is a database.
    connection
        .query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))
        .map_err(|e| failed(shown, "is not a readable SQLite database", e))?;
    Ok(connection)
}

fn failed(shown: &str, what: &str, error: rusqlite::Error) -> Error {
    Error::input(shown, format!("{what} ({error})")).caused_by(error)
}

/// The error for a table or query SQLite refuses, listing the database's
/// tables when the table does not exist.
fn relation_error(
    shown: &str,
    connection: &Connection,
    relation: &Relation,
    error: rusqlite::Error,
) -> Error {
    let said = error.to_string();
    match relation {
        Relation::Table(table) if said.contains("no such table") => {
            let tables = tables_of(connection);
            Error::input(shown, format!("the table `{table}` does not exist"))
                .caused_by(error)
                .with_hint(match tables {
                    Some(tables) if !tables.is_empty() => format!("the database holds {tables}"),
                    _ => "the database holds no tables".to_string(),
                })
        }
        Relation::Table(table) => failed(shown, &format!("cannot read the table `{table}`"), error),
        Relation::Query(_) => failed(shown, "cannot run its query", error),
    }
}

/// The database's tables and views, when there are few.
fn tables_of(connection: &Connection) -> Option<String> {
    const FEW: usize = 20;
    let mut statement = connection
        .prepare("SELECT name FROM sqlite_schema WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .ok()?;
    let names: Vec<String> = statement
        .query_map([], |row| row.get(0))
        .ok()?
        .collect::<std::result::Result<_, _>>()
        .ok()?;
    (names.len() <= FEW).then(|| {
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// A SQLite table or query as a DataFusion table: each scan streams the
/// projected columns from its own read-only connection.
#[derive(Debug)]
struct SqliteTable {
    shown: String,
    file: PathBuf,
    /// The `FROM` clause: the quoted table, or the query in parentheses.
    from: String,
    schema: SchemaRef,
    kinds: Vec<Kind>,
}

#[async_trait]
impl TableProvider for SqliteTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let (sql, columns, schema) = sql_scan::select(&self.schema, projection, &self.from, limit)?;
        let scan = SqliteScan {
            shown: self.shown.clone(),
            file: self.file.clone(),
            sql,
            schema: Arc::clone(&schema),
            kinds: columns.iter().map(|&i| self.kinds[i]).collect(),
        };
        sql_scan::one_stream(schema, scan, limit)
    }
}

/// One scan's query, run on a blocking thread when executed.
#[derive(Debug, Clone)]
struct SqliteScan {
    shown: String,
    file: PathBuf,
    sql: String,
    schema: SchemaRef,
    kinds: Vec<Kind>,
}

impl PartitionStream for SqliteScan {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        // Two batches in flight: the reader stays ahead of the diff without
        // holding the table.
        let (sender, receiver) = tokio::sync::mpsc::channel(2);
        let scan = self.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = scan.run(&sender) {
                let _ = sender.blocking_send(Err(e));
            }
        });
        let batches = futures::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|batch| (batch, receiver))
        });
        Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            batches,
        ))
    }
}

type BatchSender = tokio::sync::mpsc::Sender<DfResult<RecordBatch>>;

impl SqliteScan {
    /// Reads every row, sending a batch each `BATCH_ROWS`; stops early when
    /// the diff stops listening.
    fn run(&self, sender: &BatchSender) -> DfResult<()> {
        let external = |e: Error| DataFusionError::Execution(e.to_string());
        let connection = connect(&self.shown, &self.file).map_err(external)?;
        let sqlite = |e: rusqlite::Error| DataFusionError::Execution(e.to_string());
        let mut statement = connection.prepare(&self.sql).map_err(sqlite)?;
        let mut rows = statement.query([]).map_err(sqlite)?;
        let mut batch = Batch::new(&self.kinds);
        let mut row_number = 0usize;
        while let Some(row) = rows.next().map_err(sqlite)? {
            row_number += 1;
            for i in 0..self.kinds.len() {
                let value = row.get_ref(i).map_err(sqlite)?;
                batch.push(i, value).map_err(|why| {
                    DataFusionError::Execution(format!(
                        "the column `{}` holds {why} in row {row_number}, which a {} column cannot hold; read it through `?query=` with a CAST",
                        self.schema.field(i).name(),
                        self.kinds[i].data_type()
                    ))
                })?;
            }
            batch.rows += 1;
            if batch.rows == BATCH_ROWS {
                let full = std::mem::replace(&mut batch, Batch::new(&self.kinds));
                if sender.blocking_send(full.finish(&self.schema)).is_err() {
                    return Ok(());
                }
            }
        }
        if batch.rows > 0 {
            let _ = sender.blocking_send(batch.finish(&self.schema));
        }
        Ok(())
    }
}

/// The columns of one batch being built.
struct Batch {
    builders: Vec<Builder>,
    rows: usize,
}

enum Builder {
    Integer(Int64Builder),
    Real(Float64Builder),
    Text(StringBuilder),
    Blob(BinaryBuilder),
    Boolean(BooleanBuilder),
    Date(Date32Builder),
    Timestamp(TimestampMicrosecondBuilder),
}

impl Batch {
    fn new(kinds: &[Kind]) -> Batch {
        let builders = kinds
            .iter()
            .map(|kind| match kind {
                Kind::Integer => Builder::Integer(Int64Builder::with_capacity(BATCH_ROWS)),
                Kind::Real => Builder::Real(Float64Builder::with_capacity(BATCH_ROWS)),
                Kind::Text => Builder::Text(StringBuilder::new()),
                Kind::Blob => Builder::Blob(BinaryBuilder::new()),
                Kind::Boolean => Builder::Boolean(BooleanBuilder::with_capacity(BATCH_ROWS)),
                Kind::Date => Builder::Date(Date32Builder::with_capacity(BATCH_ROWS)),
                Kind::Timestamp => {
                    Builder::Timestamp(TimestampMicrosecondBuilder::with_capacity(BATCH_ROWS))
                }
            })
            .collect();
        Batch { builders, rows: 0 }
    }

    /// Appends `value` to column `i`, or says what it was when the column's
    /// type cannot hold it.
    fn push(&mut self, i: usize, value: ValueRef<'_>) -> std::result::Result<(), String> {
        let refused = || match value {
            ValueRef::Text(t) => format!("the text `{}`", String::from_utf8_lossy(t)),
            ValueRef::Real(r) => format!("the real {r}"),
            ValueRef::Integer(n) => format!("the integer {n}"),
            ValueRef::Blob(b) => format!("a {}-byte blob", b.len()),
            ValueRef::Null => "NULL".to_string(),
        };
        let text = |t: &[u8]| {
            std::str::from_utf8(t)
                .map(str::to_string)
                .map_err(|_| refused())
        };
        match (&mut self.builders[i], value) {
            (builder, ValueRef::Null) => builder.append_null(),
            (Builder::Integer(b), ValueRef::Integer(n)) => b.append_value(n),
            // SQLite keeps an integral REAL as written; one with a fraction
            // is not an integer.
            (Builder::Integer(b), ValueRef::Real(r)) if r.fract() == 0.0 && r.abs() < 9.2e18 => {
                b.append_value(r as i64)
            }
            (Builder::Real(b), ValueRef::Real(r)) => b.append_value(r),
            (Builder::Real(b), ValueRef::Integer(n)) => b.append_value(n as f64),
            (Builder::Text(b), ValueRef::Text(t)) => b.append_value(text(t)?),
            (Builder::Text(b), ValueRef::Integer(n)) => b.append_value(n.to_string()),
            (Builder::Text(b), ValueRef::Real(r)) => b.append_value(r.to_string()),
            (Builder::Blob(b), ValueRef::Blob(bytes)) => b.append_value(bytes),
            (Builder::Boolean(b), ValueRef::Integer(n @ (0 | 1))) => b.append_value(n == 1),
            (Builder::Date(b), ValueRef::Text(t)) => {
                b.append_value(date(&text(t)?).ok_or_else(refused)?)
            }
            (Builder::Timestamp(b), ValueRef::Text(t)) => {
                b.append_value(timestamp(&text(t)?).ok_or_else(refused)?)
            }
            // Unix seconds, SQLite's other common way to keep a time.
            (Builder::Timestamp(b), ValueRef::Integer(seconds)) => {
                b.append_value(seconds.checked_mul(1_000_000).ok_or_else(refused)?)
            }
            _ => return Err(refused()),
        }
        Ok(())
    }

    fn finish(self, schema: &SchemaRef) -> DfResult<RecordBatch> {
        let columns: Vec<ArrayRef> = self
            .builders
            .into_iter()
            .map(|builder| builder.finish())
            .collect();
        let options = RecordBatchOptions::new().with_row_count(Some(self.rows));
        Ok(RecordBatch::try_new_with_options(
            Arc::clone(schema),
            columns,
            &options,
        )?)
    }
}

impl Builder {
    fn append_null(&mut self) {
        match self {
            Builder::Integer(b) => b.append_null(),
            Builder::Real(b) => b.append_null(),
            Builder::Text(b) => b.append_null(),
            Builder::Blob(b) => b.append_null(),
            Builder::Boolean(b) => b.append_null(),
            Builder::Date(b) => b.append_null(),
            Builder::Timestamp(b) => b.append_null(),
        }
    }

    fn finish(mut self) -> ArrayRef {
        match &mut self {
            Builder::Integer(b) => Arc::new(b.finish()),
            Builder::Real(b) => Arc::new(b.finish()),
            Builder::Text(b) => Arc::new(b.finish()),
            Builder::Blob(b) => Arc::new(b.finish()),
            Builder::Boolean(b) => Arc::new(b.finish()),
            Builder::Date(b) => Arc::new(b.finish()),
            Builder::Timestamp(b) => ArrayBuilder::finish(b),
        }
    }
}

/// `YYYY-MM-DD` as days since 1970-01-01.
fn date(text: &str) -> Option<i32> {
    let day = chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()?;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?;
    i32::try_from((day - epoch).num_days()).ok()
}

/// `YYYY-MM-DD HH:MM[:SS[.fff]]` (or with `T`), as microseconds since the
/// epoch; a date alone is its midnight.
fn timestamp(text: &str) -> Option<i64> {
    let text = text.trim();
    let parsed = [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|format| chrono::NaiveDateTime::parse_from_str(text, format).ok())
    .or_else(|| {
        chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()?
            .and_hms_opt(0, 0, 0)
    })?;
    Some(parsed.and_utc().timestamp_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_types_follow_sqlites_affinity_rules() {
        for (declared, kind) in [
            ("INTEGER", Some(Kind::Integer)),
            ("BIGINT", Some(Kind::Integer)),
            ("VARCHAR(20)", Some(Kind::Text)),
            ("CLOB", Some(Kind::Text)),
            ("DOUBLE PRECISION", Some(Kind::Real)),
            ("BOOLEAN", Some(Kind::Boolean)),
            ("DATE", Some(Kind::Date)),
            ("DATETIME", Some(Kind::Timestamp)),
            ("BLOB", None),
            ("", None),
            ("DECIMAL(10,2)", None),
        ] {
            assert_eq!(Kind::declared(declared), kind, "{declared}");
        }
        assert_eq!(Kind::of_values(true, false, false, false), Kind::Integer);
        assert_eq!(Kind::of_values(true, true, false, false), Kind::Real);
        assert_eq!(Kind::of_values(true, true, true, false), Kind::Text);
        assert_eq!(Kind::of_values(false, false, false, true), Kind::Blob);
    }

    #[test]
    fn times_parse_as_sqlite_writes_them() {
        assert_eq!(date("1970-01-02"), Some(1));
        assert_eq!(timestamp("1970-01-01 00:00:01.5"), Some(1_500_000));
        assert_eq!(timestamp("1970-01-01T00:01"), Some(60_000_000));
        assert_eq!(timestamp("yesterday"), None);
    }
}
