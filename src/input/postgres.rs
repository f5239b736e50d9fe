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
    let table = match relation {
        Relation::Table(table) => table,
        Relation::Query(_) => {
            return Err(Error::input(
                &shown,
                "`?query=` is not read yet; name a table with `?table=SCHEMA.TABLE`",
            )
            .with_hint("create a view of the query in the database and name the view"));
        }
    };
    let reference = TableReference::from(table.as_str());
    let provider = match PostgresTableFactory::new(Arc::clone(&pool))
        .table_provider(reference.clone())
        .await
    {
        Ok(provider) => provider,
        Err(e) => {
            let error = Error::input(&shown, no_table_reason(table, e.as_ref())).caused_by(e);
            return Err(match tables_of(&pool, &reference).await {
                Some(tables) => error.with_hint(format!(
                    "the schema `{}` holds {}",
                    reference.schema().unwrap_or("public"),
                    tables
                )),
                None => error,
            });
        }
    };
    let frame = ctx
        .read_table(provider)
        .map_err(|e| Error::compute(format!("cannot read `{shown}`"), e))?;
    let frame =
        in_microseconds(frame).map_err(|e| Error::compute(format!("cannot read `{shown}`"), e))?;
    Ok((frame, row_count(&pool, &shown, table).await?))
}

/// The table's row count, counted by the server: the streamed diff sizes
/// its statistics' samples by it before the rows arrive.
async fn row_count(pool: &PostgresConnectionPool, shown: &str, table: &str) -> Result<usize> {
    let failed = |e: &dyn std::fmt::Display| {
        Error::input(
            shown,
            format!("cannot count its rows ({})", first_line(&e.to_string())),
        )
    };
    let connection = pool.connect_direct().await.map_err(|e| failed(&e))?;
    let row = connection
        .conn
        .query_one(format!("SELECT count(*)::int8 FROM {table}").as_str(), &[])
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
async fn connect(shown: &str, url: &Url) -> Result<Arc<PostgresConnectionPool>> {
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
