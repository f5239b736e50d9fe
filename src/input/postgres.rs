//! `postgres://` tables (cargo feature `postgres`), through
//! datafusion-table-providers: a connection pool per table, the table as a
//! DataFusion provider that pushes projections and filters down into the
//! SQL it sends, and rows arriving as Arrow batches into the same streamed
//! diff as files.
//!
//! The password comes from the URL, else `PGPASSWORD`, else the password
//! file (`PGPASSFILE` or `~/.pgpass`), as libpq looks for it. It is never
//! shown: every message names the table by its masked URL.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use datafusion::common::TableReference;
use datafusion::prelude::{DataFrame, SessionContext};
use datafusion_table_providers_common::UnsupportedTypeAction;
use datafusion_table_providers_postgres::PostgresTableFactory;
use datafusion_table_providers_postgres::pool::{Error as PoolError, PostgresConnectionPool};
use secrecy::SecretString;
use url::Url;

use super::{Relation, TableSource};
use crate::error::{Error, Result, first_line};

/// PostgreSQL's binary dates and timestamps count from 2000-01-01: the
/// days and microseconds from the Unix epoch to it.
pub const EPOCH_DAYS: i32 = 10_957;
pub const EPOCH_MICROS: i64 = 946_684_800_000_000;

/// How long connecting may take before the server counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The connection parameters of `url`, as the provider's pool takes them.
struct Connection {
    host: String,
    port: u16,
    user: String,
    database: String,
    password: Option<String>,
    /// `sslmode` and the other query parameters of the URL.
    options: Vec<(String, String)>,
}

impl Connection {
    fn of(url: &Url) -> Connection {
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let user = if url.username().is_empty() {
            std::env::var("PGUSER").unwrap_or_else(|_| "postgres".to_string())
        } else {
            decode(url.username())
        };
        let host = url.host_str().unwrap_or("localhost").to_string();
        let port = url.port().unwrap_or(5432);
        let database = decode(url.path().trim_start_matches('/'));
        // `***` is how dualrun shows a password: a URL read back from a
        // report or manifest has none, so the environment's is used.
        let password = url
            .password()
            .filter(|p| *p != "***")
            .map(decode)
            .or_else(|| std::env::var("PGPASSWORD").ok())
            .or_else(|| pgpass::lookup(&host, port, &database, &user));
        Connection {
            host,
            port,
            user,
            database,
            password,
            options: url
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        }
    }

    fn params(&self) -> HashMap<String, SecretString> {
        let mut params = HashMap::new();
        let mut put = |k: &str, v: &str| {
            params.insert(k.to_string(), SecretString::from(v.to_string()));
        };
        put("host", &self.host);
        put("port", &self.port.to_string());
        put("user", &self.user);
        put("db", &self.database);
        // libpq's default: TLS when the server offers it.
        put("sslmode", "prefer");
        for (name, value) in &self.options {
            put(name, value);
        }
        if let Some(password) = &self.password {
            put("pass", password);
        }
        params
    }
}

/// Opens `relation` of the database at `url` as a DataFrame that streams.
pub async fn open(
    ctx: &SessionContext,
    source: &TableSource,
    url: &Url,
    relation: &Relation,
) -> Result<(DataFrame, usize)> {
    let shown = source.spec.clone();
    let pool = connect(&shown, url).await?;
    let (provider, from) = match relation {
        Relation::Table(table) => {
            let inner = table_provider(&pool, &shown, table).await?;
            // Read with binary COPY where the columns allow; the name as
            // the row count below sends it.
            let copying = super::postgres_copy::CopyTable {
                pool: Arc::clone(&pool),
                from: table.clone(),
                inner,
            };
            (
                Arc::new(copying) as Arc<dyn datafusion::catalog::TableProvider>,
                table.clone(),
            )
        }
        Relation::Query(query) => (
            query::provider(&pool, &shown, query).await?,
            format!("({query}) AS dualrun_query"),
        ),
    };
    let frame = ctx
        .read_table(provider)
        .map_err(|e| Error::compute(format!("cannot read `{shown}`"), e))?;
    let frame =
        in_microseconds(frame).map_err(|e| Error::compute(format!("cannot read `{shown}`"), e))?;
    Ok((frame, row_count(&pool, &shown, &from).await?))
}

/// The provider of a table, or an error that lists the schema's tables.
async fn table_provider(
    pool: &Arc<PostgresConnectionPool>,
    shown: &str,
    table: &str,
) -> Result<Arc<dyn datafusion::catalog::TableProvider>> {
    let reference = TableReference::from(table);
    match PostgresTableFactory::new(Arc::clone(pool))
        .table_provider(reference.clone())
        .await
    {
        Ok(provider) => Ok(provider),
        Err(e) => {
            let error = Error::input(shown, no_table_reason(table, e.as_ref())).caused_by(e);
            Err(match tables_of(pool, &reference).await {
                Some(tables) => error.with_hint(format!(
                    "the schema `{}` holds {}",
                    reference.schema().unwrap_or("public"),
                    tables
                )),
                None => error,
            })
        }
    }
}

/// The row count of `from` (a table, or a query with its alias), counted
/// by the server: the streamed diff sizes its statistics' samples by it
/// before the rows arrive.
async fn row_count(pool: &PostgresConnectionPool, shown: &str, from: &str) -> Result<usize> {
    let failed = |e: &dyn std::fmt::Display| {
        Error::input(
            shown,
            format!("cannot count its rows ({})", first_line(&e.to_string())),
        )
    };
    let connection = pool.connect_direct().await.map_err(|e| failed(&e))?;
    let row = connection
        .conn
        .query_one(format!("SELECT count(*)::int8 FROM {from}").as_str(), &[])
        .await
        .map_err(|e| failed(&e))?;
    Ok(row.get::<_, i64>(0).max(0) as usize)
}

/// PostgreSQL keeps times to the microsecond; the provider hands them over
/// in nanoseconds. Cast back, so a timestamp column compares with the same
/// column written to Parquet by any tool without a schema change.
fn in_microseconds(frame: DataFrame) -> datafusion::error::Result<DataFrame> {
    use datafusion::arrow::datatypes::{DataType, TimeUnit};
    use datafusion::prelude::{cast, ident};
    let columns: Vec<_> = frame
        .schema()
        .fields()
        .iter()
        .map(|field| {
            let column = ident(field.name());
            let micro = match field.data_type() {
                DataType::Timestamp(TimeUnit::Nanosecond, zone) => {
                    Some(DataType::Timestamp(TimeUnit::Microsecond, zone.clone()))
                }
                DataType::Time64(TimeUnit::Nanosecond) => {
                    Some(DataType::Time64(TimeUnit::Microsecond))
                }
                _ => None,
            };
            match micro {
                Some(to) => cast(column, to).alias(field.name()),
                None => column,
            }
        })
        .collect();
    frame.select(columns)
}

/// A pool of connections to the database at `url`, tested; jsonb columns
/// arrive as their text, like json.
pub async fn connect(shown: &str, url: &Url) -> Result<Arc<PostgresConnectionPool>> {
    let connection = Connection::of(url);
    let pool = tokio::time::timeout(
        CONNECT_TIMEOUT,
        PostgresConnectionPool::new(connection.params()),
    )
    .await
    .map_err(|_| {
        Error::input(
            shown,
            format!(
                "the server at {}:{} did not answer within {} s",
                connection.host,
                connection.port,
                CONNECT_TIMEOUT.as_secs()
            ),
        )
        .with_hint("check the host and port, and that the server accepts connections from here")
    })?
    .map_err(|e| connection_error(shown, &connection, e))?;
    Ok(Arc::new(pool.with_unsupported_type_action(
        UnsupportedTypeAction::String,
    )))
}

/// The fingerprint the database computes of `relation` in one scan: its
/// row count and an order-independent checksum (the sum of each row's
/// `hashtextextended` over its text form).
pub async fn fingerprint(
    source: &TableSource,
    url: &Url,
    relation: &Relation,
) -> Result<(u64, String)> {
    let pool = connect(&source.spec, url).await?;
    let from = match relation {
        Relation::Table(table) => table.clone(),
        Relation::Query(query) => format!("({query})"),
    };
    let sql = format!(
        "SELECT count(*)::int8, coalesce(sum(hashtextextended(t::text, 0)::numeric), 0)::text FROM {from} AS t"
    );
    let failed = |e: &dyn std::fmt::Display| {
        Error::input(
            &source.spec,
            format!("cannot fingerprint it ({})", first_line(&e.to_string())),
        )
        .with_hint("copy it into the run with `--snapshot-inputs`")
    };
    let connection = pool.connect_direct().await.map_err(|e| failed(&e))?;
    let row = connection
        .conn
        .query_one(sql.as_str(), &[])
        .await
        .map_err(|e| failed(&e))?;
    let rows: i64 = row.get(0);
    let checksum: String = row.get(1);
    Ok((rows.max(0) as u64, checksum))
}

/// Runs `statements` (one string, `;`-separated) on the database at
/// `url`: for what dualrun itself creates there and removes again.
pub async fn execute(shown: &str, url: &Url, statements: &str) -> Result<()> {
    let pool = connect(shown, url).await?;
    let failed = |e: &(dyn std::error::Error + 'static)| {
        Error::input(
            shown,
            format!("refused `{statements}` ({})", server_said(e)),
        )
    };
    let connection = pool.connect_direct().await.map_err(|e| failed(&e))?;
    connection
        .conn
        .batch_execute(statements)
        .await
        .map_err(|e| failed(&e))
}

/// Why a table could not be opened, in the database's own words.
fn no_table_reason(table: &str, error: &(dyn std::error::Error + 'static)) -> String {
    let said = server_said(error);
    if said.contains("does not exist") || said.contains("doesn't exist") {
        format!("the table `{table}` does not exist")
    } else {
        format!("cannot read the table `{table}` ({said})")
    }
}

/// The tables of the reference's schema, listed when there are few.
async fn tables_of(pool: &PostgresConnectionPool, reference: &TableReference) -> Option<String> {
    use datafusion_table_providers_common::sql::db_connection_pool::dbconnection::AsyncDbConnection;
    const FEW: usize = 20;
    let connection = pool.connect_direct().await.ok()?;
    let tables = connection
        .tables(reference.schema().unwrap_or("public"))
        .await
        .ok()?;
    if tables.is_empty() {
        return Some("no tables".to_string());
    }
    (tables.len() <= FEW).then(|| {
        tables
            .iter()
            .map(|t| format!("`{t}`"))
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// One sentence for a failed connection, naming the server (never the
/// password).
fn connection_error(shown: &str, connection: &Connection, error: PoolError) -> Error {
    let server = format!("{}:{}", connection.host, connection.port);
    let (reason, hint) = match &error {
        PoolError::InvalidHostOrPortError { .. } => (
            format!("cannot connect to a server at {server}"),
            "check the host and port, and that the server is running".to_string(),
        ),
        PoolError::InvalidUsernameOrPassword { .. } => (
            format!("the server at {server} refused user `{}`", connection.user),
            "check the password: in the URL, `PGPASSWORD` or `~/.pgpass`".to_string(),
        ),
        other => {
            let said = server_said(other);
            let hint = if said.contains("does not exist") && said.contains("database") {
                format!(
                    "check the database name `{}` in the URL",
                    connection.database
                )
            } else {
                "check the URL's user, host, port and database".to_string()
            };
            (said, hint)
        }
    };
    Error::input(shown, reason).with_hint(hint)
}

/// The database server's own words under an error (its deepest cause),
/// first line, any URL in it masked.
fn server_said(error: &(dyn std::error::Error + 'static)) -> String {
    let mut deepest = error;
    while let Some(cause) = deepest.source() {
        deepest = cause;
    }
    crate::input::mask(&first_line(&deepest.to_string()))
}

/// `?query=SELECT ...`: the query as a table whose scans select the used
/// columns from it as a subquery. Its column types are PostgreSQL's own,
/// read the way a table's are: from the catalog entry of a temporary view
/// of the query, made and dropped on one connection (temporary objects
/// live only in that session; nothing the user owns is touched).
mod query {
    use std::sync::Arc;

    use async_trait::async_trait;
    use datafusion::arrow::datatypes::SchemaRef;
    use datafusion::catalog::{Session, TableProvider};
    use datafusion::common::TableReference;
    use datafusion::datasource::TableType;
    use datafusion::error::Result as DfResult;
    use datafusion::execution::TaskContext;
    use datafusion::logical_expr::Expr;
    use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
    use datafusion::physical_plan::streaming::PartitionStream;
    use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream};
    use datafusion_table_providers_common::sql::db_connection_pool::dbconnection::AsyncDbConnection;
    use datafusion_table_providers_common::sql::sql_provider_datafusion::get_stream;
    use datafusion_table_providers_postgres::DynPostgresConnectionPool;
    use datafusion_table_providers_postgres::pool::PostgresConnectionPool;

    use crate::error::{Error, Result};
    use crate::input::sql_scan;

    const VIEW: &str = "dualrun_query";

    pub async fn provider(
        pool: &Arc<PostgresConnectionPool>,
        shown: &str,
        query: &str,
    ) -> Result<Arc<dyn TableProvider>> {
        let failed = |what: &str, e: &(dyn std::error::Error + 'static)| {
            Error::input(shown, format!("{what} ({})", super::server_said(e)))
        };
        let connection = pool
            .connect_direct()
            .await
            .map_err(|e| failed("cannot connect", &e))?;
        connection
            .conn
            .batch_execute(&format!("CREATE OR REPLACE TEMP VIEW {VIEW} AS {query}"))
            .await
            .map_err(|e| failed("cannot run its query", &e).with_hint("the query must be one SELECT the server can run, with `+`, `&` and `#` written as %2B, %26 and %23 in a URL"))?;
        let temp_schema: String = connection
            .conn
            .query_one(
                "SELECT nspname::text FROM pg_namespace WHERE oid = pg_my_temp_schema()",
                &[],
            )
            .await
            .map_err(|e| failed("cannot read the query's columns", &e))?
            .get(0);
        let schema = connection
            .get_schema(&TableReference::partial(temp_schema, VIEW))
            .await
            .map_err(|e| failed("cannot read the query's columns", &e));
        // The connection goes back to the pool: leave nothing behind in it.
        let _ = connection
            .conn
            .batch_execute(&format!("DROP VIEW IF EXISTS {VIEW}"))
            .await;
        let dyn_pool: Arc<DynPostgresConnectionPool> = Arc::clone(pool) as _;
        Ok(Arc::new(QueryTable {
            pool: dyn_pool,
            query: query.to_string(),
            schema: schema?,
        }))
    }

    struct QueryTable {
        pool: Arc<DynPostgresConnectionPool>,
        query: String,
        schema: SchemaRef,
    }

    impl std::fmt::Debug for QueryTable {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "QueryTable({})", self.query)
        }
    }

    #[async_trait]
    impl TableProvider for QueryTable {
        fn schema(&self) -> SchemaRef {
            Arc::clone(&self.schema)
        }

        fn table_type(&self) -> TableType {
            TableType::View
        }

        async fn scan(
            &self,
            _state: &dyn Session,
            projection: Option<&Vec<usize>>,
            _filters: &[Expr],
            limit: Option<usize>,
        ) -> DfResult<Arc<dyn ExecutionPlan>> {
            let from = format!("({}) AS {VIEW}", self.query);
            let (sql, _, schema) = sql_scan::select(&self.schema, projection, &from, limit)?;
            let scan = QueryScan {
                pool: Arc::clone(&self.pool),
                sql,
                schema: Arc::clone(&schema),
            };
            // A predicate is never spliced into the user's query text.
            sql_scan::one_stream(schema, scan, limit)
        }
    }

    /// One scan of the query: its rows arrive as the provider converts them.
    struct QueryScan {
        pool: Arc<DynPostgresConnectionPool>,
        sql: String,
        schema: SchemaRef,
    }

    impl std::fmt::Debug for QueryScan {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "QueryScan({})", self.sql)
        }
    }

    impl PartitionStream for QueryScan {
        fn schema(&self) -> &SchemaRef {
            &self.schema
        }

        fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
            use futures::TryStreamExt;
            let rows = get_stream(
                Arc::clone(&self.pool),
                self.sql.clone(),
                Arc::clone(&self.schema),
            );
            Box::pin(RecordBatchStreamAdapter::new(
                Arc::clone(&self.schema),
                futures::stream::once(rows).try_flatten(),
            ))
        }
    }
}

/// The password file, as libpq reads it: `host:port:database:user:password`
/// lines, `*` matching anything, `\` escaping `:` and `\`.
mod pgpass {
    pub fn lookup(host: &str, port: u16, database: &str, user: &str) -> Option<String> {
        let file = std::env::var_os("PGPASSFILE")
            .map(std::path::PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".pgpass"))
            })?;
        let text = std::fs::read_to_string(file).ok()?;
        let port = port.to_string();
        let wanted = [host, port.as_str(), database, user];
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .map(fields)
            .find(|fields| {
                fields.len() == 5
                    && fields[..4]
                        .iter()
                        .zip(wanted)
                        .all(|(field, value)| field == "*" || field == value)
            })
            .map(|fields| fields[4].clone())
    }

    fn fields(line: &str) -> Vec<String> {
        let mut fields = vec![String::new()];
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if let Some(next) = chars.next() {
                        fields.last_mut().expect("one field").push(next);
                    }
                }
                ':' => fields.push(String::new()),
                c => fields.last_mut().expect("one field").push(c),
            }
        }
        fields
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn fields_unescape_and_split() {
            assert_eq!(
                super::fields(r"db\:1:5432:*:ana:p\:w\\d"),
                ["db:1", "5432", "*", "ana", r"p:w\d"]
            );
        }
    }
}
