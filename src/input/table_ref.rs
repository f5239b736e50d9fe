//! The one grammar of table references, wherever a table is named (`diff`,
//! `profile`, a project's inputs and outputs): parsed here, once, into a
//! typed reference. What is shown of a reference (reports, manifests,
//! errors, progress) is `shown`, with any password replaced by `***`.
//!
//! ```text
//! orders.parquet, out/orders/, 'out/*.csv'         local files, directories, globs
//! s3://bucket/key.parquet, s3://bucket/prefix/     objects (also globs)
//! postgres://USER[:PASSWORD]@HOST:PORT/DB?table=SCHEMA.TABLE
//! postgres://USER@HOST:PORT/DB?query=SELECT ...
//! sqlite:shop.db?table=orders, sqlite:shop.db?query=SELECT ...
//! duckdb:warehouse.duckdb?table=main.orders (or ?query=)
//! ```

use std::fmt;

use url::Url;

use crate::error::{Error, Result};

/// What a table reference names.
#[derive(Clone, PartialEq, Eq)]
pub enum TableRef {
    /// A local file, directory or glob, as typed.
    Files(String),
    /// Objects in a bucket: one key, a prefix (ending in `/`) or a glob.
    Objects(Url),
    /// A Delta Lake table: a directory (a local path, or an `s3://` prefix)
    /// holding `_delta_log/`, at its latest version or another.
    Delta {
        location: DeltaLocation,
        at: DeltaAt,
    },
    /// A PostgreSQL table or query; the URL keeps the connection
    /// parameters (user, password, host, port, database, `sslmode`, ...)
    /// without `table`/`query`.
    Postgres { url: Url, relation: Relation },
    /// A table or query of a database file (SQLite or DuckDB), opened
    /// read-only.
    DatabaseFile {
        engine: FileEngine,
        path: String,
        relation: Relation,
    },
}

/// The engines whose databases are one local file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileEngine {
    Sqlite,
    Duckdb,
}

impl FileEngine {
    /// The scheme, as written before the path (`sqlite:`), and the cargo
    /// feature that reads it.
    pub fn scheme(self) -> &'static str {
        match self {
            FileEngine::Sqlite => "sqlite",
            FileEngine::Duckdb => "duckdb",
        }
    }
}

/// Where a Delta table is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeltaLocation {
    Local(String),
    Objects(Url),
}

/// Which version of a Delta table is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeltaAt {
    Latest,
    /// `?version=N`
    Version(u64),
    /// `?as_of=2026-11-30T00:00:00Z`: the last version committed by then.
    AsOf(String),
}

/// The rows a database reference reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Relation {
    /// `SCHEMA.TABLE` (or `TABLE`, in the search path).
    Table(String),
    /// One `SELECT` the database runs.
    Query(String),
}

/// The URL schemes a table reference may start with.
pub const SCHEMES: &str = "`s3://`, `postgres://`, `sqlite:`, `duckdb:` (or a local path)";

impl TableRef {
    /// Parses what the user typed. A string with `://` must use a known
    /// scheme: it never becomes a local path.
    pub fn parse(spec: &str) -> Result<TableRef> {
        for engine in [FileEngine::Sqlite, FileEngine::Duckdb] {
            if let Some(rest) = spec
                .strip_prefix(engine.scheme())
                .and_then(|r| r.strip_prefix(':'))
            {
                return database_file(spec, engine, rest);
            }
        }
        let Some((scheme, _)) = spec.split_once("://") else {
            return local(spec);
        };
        let invalid = |why: String| Error::input(mask(spec), why);
        match scheme.to_ascii_lowercase().as_str() {
            "s3" => {
                let (base, at) = delta_at(spec)?;
                let url = Url::parse(base).map_err(|e| invalid(format!("not a URL ({e})")))?;
                if url.host_str().is_none_or(str::is_empty) {
                    return Err(invalid("names no bucket".to_string())
                        .with_hint("write `s3://BUCKET/KEY` or `s3://BUCKET/PREFIX/`"));
                }
                Ok(match at {
                    Some(at) => TableRef::Delta {
                        location: DeltaLocation::Objects(url),
                        at,
                    },
                    None => TableRef::Objects(url),
                })
            }
            "postgres" | "postgresql" => postgres(spec),
            other => Err(invalid(format!(
                "has the unsupported scheme `{other}://`; dualrun reads {SCHEMES}"
            ))),
        }
    }

    /// The reference as reports, errors and progress show it: a password
    /// is `***`.
    pub fn shown(&self) -> String {
        match self {
            TableRef::Files(path) => path.clone(),
            TableRef::Objects(url) => url.to_string(),
            TableRef::Delta { location, at } => {
                let location = match location {
                    DeltaLocation::Local(path) => path.clone(),
                    DeltaLocation::Objects(url) => url.to_string(),
                };
                match at {
                    DeltaAt::Latest => location,
                    DeltaAt::Version(v) => format!("{location}?version={v}"),
                    DeltaAt::AsOf(time) => format!("{location}?as_of={time}"),
                }
            }
            TableRef::Postgres { url, relation } => relation.appended_to(&masked(url)),
            TableRef::DatabaseFile {
                engine,
                path,
                relation,
            } => {
                format!("{}:{path}?{}", engine.scheme(), relation.parameter_text())
            }
        }
    }

    /// The name a report gives the table when none is given: the file's
    /// (or the directory's, or the glob's literal part's) stem, the
    /// database table's name, or `query`.
    pub fn name(&self) -> String {
        match self {
            TableRef::Files(path) => path_stem(path),
            TableRef::Objects(url) => path_stem(url.path()),
            TableRef::Delta { location, .. } => match location {
                DeltaLocation::Local(path) => path_stem(path),
                DeltaLocation::Objects(url) => path_stem(url.path()),
            },
            TableRef::Postgres { relation, .. } | TableRef::DatabaseFile { relation, .. } => {
                match relation {
                    Relation::Table(table) => table.rsplit('.').next().unwrap_or(table).to_string(),
                    Relation::Query(_) => "query".to_string(),
                }
            }
        }
    }

    /// The reference with its password, for a program the user runs on
    /// the same data (a `command` side's `DUALRUN_INPUT_<NAME>`); never
    /// for anything dualrun shows or writes.
    pub fn unmasked(&self) -> String {
        match self {
            TableRef::Files(_)
            | TableRef::Objects(_)
            | TableRef::Delta { .. }
            | TableRef::DatabaseFile { .. } => self.shown(),
            TableRef::Postgres { url, relation } => relation.appended_to(url),
        }
    }

    /// Whether its rows come over a network (a bucket, a database server),
    /// where each fetch waits on the other end.
    pub fn over_network(&self) -> bool {
        match self {
            TableRef::Objects(_) | TableRef::Postgres { .. } => true,
            TableRef::Delta { location, .. } => matches!(location, DeltaLocation::Objects(_)),
            TableRef::Files(_) | TableRef::DatabaseFile { .. } => false,
        }
    }

    /// The local path, for a reference to local files (not a Delta table).
    pub fn local_path(&self) -> Option<&str> {
        match self {
            TableRef::Files(path) => Some(path),
            _ => None,
        }
    }

    /// The reference with a relative database file's path taken from
    /// `root` (a project's directory), as a relative input path is.
    pub fn relative_to(self, root: &std::path::Path) -> TableRef {
        match self {
            TableRef::DatabaseFile {
                engine,
                path,
                relation,
            } if std::path::Path::new(&path).is_relative() => TableRef::DatabaseFile {
                engine,
                path: root.join(path).display().to_string(),
                relation,
            },
            other => other,
        }
    }
}

/// What a `table=` or `query=` parameter's parsing would misread: only
/// these are escaped, so a query stays readable where it is shown.
const MISREAD: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b'%')
    .add(b'&')
    .add(b'+')
    .add(b'#');

impl Relation {
    /// `table=...` or `query=...`, escaped as little as parsing allows.
    fn parameter_text(&self) -> String {
        let (name, value) = match self {
            Relation::Table(table) => ("table", table),
            Relation::Query(query) => ("query", query),
        };
        format!(
            "{name}={}",
            percent_encoding::utf8_percent_encode(value, MISREAD)
        )
    }

    /// `url` with the relation's parameter after its own.
    fn appended_to(&self, url: &Url) -> String {
        let separator = if url.query().is_some() { '&' } else { '?' };
        format!("{url}{separator}{}", self.parameter_text())
    }

    /// The relation as SQL's `FROM` takes it: a table name quoted part by
    /// part (`schema.table`), or the query in parentheses.
    pub fn from_clause(&self) -> String {
        match self {
            Relation::Table(table) => table.split('.').map(quoted).collect::<Vec<_>>().join("."),
            Relation::Query(query) => format!("({query})"),
        }
    }
}

/// An SQL identifier in double quotes, inner quotes doubled.
pub(crate) fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Never prints a password: `Debug` is what `shown` says.
impl fmt::Debug for TableRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TableRef({})", self.shown())
    }
}

/// A local reference: a Delta table when it names a directory holding
/// `_delta_log/` or asks for a version, else files.
fn local(spec: &str) -> Result<TableRef> {
    let (path, at) = delta_at(spec)?;
    let is_delta = std::path::Path::new(path).join("_delta_log").is_dir();
    Ok(match (at, is_delta) {
        (Some(at), _) => TableRef::Delta {
            location: DeltaLocation::Local(path.to_string()),
            at,
        },
        (None, true) => TableRef::Delta {
            location: DeltaLocation::Local(path.to_string()),
            at: DeltaAt::Latest,
        },
        (None, false) => TableRef::Files(spec.to_string()),
    })
}

/// Splits a `?version=N` or `?as_of=TIME` off a Delta reference. Any other
/// `?` is not one (in a local path it is a glob character).
fn delta_at(spec: &str) -> Result<(&str, Option<DeltaAt>)> {
    let Some((base, query)) = spec.rsplit_once('?') else {
        return Ok((spec, None));
    };
    let bad = |why: String| {
        Error::input(mask(spec), why).with_hint(
            "write `?version=3` or `?as_of=2026-11-30T00:00:00Z` after the Delta table's directory",
        )
    };
    if let Some(version) = query.strip_prefix("version=") {
        let version = version.parse::<u64>().ok().ok_or_else(|| {
            bad(format!(
                "has the version `{version}`, which is not a version number"
            ))
        })?;
        return Ok((base, Some(DeltaAt::Version(version))));
    }
    if let Some(time) = query.strip_prefix("as_of=") {
        if chrono::DateTime::parse_from_rfc3339(time).is_err() {
            return Err(bad(format!(
                "has `as_of={time}`, which is not an RFC 3339 time"
            )));
        }
        return Ok((base, Some(DeltaAt::AsOf(time.to_string()))));
    }
    Ok((spec, None))
}

/// The stem of the last component before any glob character.
fn path_stem(path: &str) -> String {
    let literal: std::path::PathBuf = std::path::Path::new(path)
        .components()
        .take_while(|c| !c.as_os_str().to_string_lossy().contains(['*', '?', '[']))
        .collect();
    let stem = literal
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if stem.is_empty() || stem == "." || stem == "/" {
        "table".to_string()
    } else {
        stem
    }
}

/// `sqlite:PATH?table=T` (or `?query=`), `duckdb:` alike; `rest` is what
/// follows the scheme's colon. `sqlite:///abs/path.db` is `/abs/path.db`.
fn database_file(spec: &str, engine: FileEngine, rest: &str) -> Result<TableRef> {
    let scheme = engine.scheme();
    let hint = format!("write `{scheme}:PATH?table=TABLE` or `{scheme}:PATH?query=SELECT ...`");
    let invalid = |why: String| Error::input(spec, why).with_hint(hint.clone());
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() {
        return Err(invalid("names no database file".to_string()));
    }
    let mut relation = None;
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let this = match name.as_ref() {
            "table" => Relation::Table(value.to_string()),
            "query" => Relation::Query(value.to_string()),
            other => return Err(invalid(format!("has the unknown parameter `{other}`"))),
        };
        if relation.replace(this).is_some() {
            return Err(invalid(
                "names more than one `table` or `query`".to_string(),
            ));
        }
    }
    match relation {
        Some(Relation::Table(t)) if t.trim().is_empty() => None,
        Some(Relation::Query(q)) if q.trim().is_empty() => None,
        other => other,
    }
    .map(|relation| TableRef::DatabaseFile {
        engine,
        path: path.to_string(),
        relation,
    })
    .ok_or_else(|| invalid("names no `table` or `query`".to_string()))
}

fn postgres(spec: &str) -> Result<TableRef> {
    let invalid = |why: String| Error::input(mask(spec), why);
    let hint = "write `postgres://USER@HOST:PORT/DB?table=SCHEMA.TABLE` or `...?query=SELECT ...`";
    let parsed = Url::parse(spec).map_err(|e| invalid(format!("not a URL ({e})")))?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid("names no host".to_string()).with_hint(hint));
    }
    if parsed.path().trim_matches('/').is_empty() {
        return Err(invalid("names no database".to_string()).with_hint(hint));
    }
    let mut relation = None;
    let mut url = parsed.clone();
    url.set_query(None);
    {
        let mut kept = url.query_pairs_mut();
        for (name, value) in parsed.query_pairs() {
            let this = match name.as_ref() {
                "table" => Relation::Table(value.to_string()),
                "query" => Relation::Query(value.to_string()),
                _ => {
                    kept.append_pair(&name, &value);
                    continue;
                }
            };
            if relation.replace(this).is_some() {
                return Err(
                    invalid("names more than one `table` or `query`".to_string()).with_hint(hint),
                );
            }
        }
    }
    if url.query() == Some("") {
        url.set_query(None);
    }
    let relation = match relation {
        Some(Relation::Table(t)) if t.trim().is_empty() => None,
        Some(Relation::Query(q)) if q.trim().is_empty() => None,
        other => other,
    }
    .ok_or_else(|| invalid("names no `table` or `query`".to_string()).with_hint(hint))?;
    Ok(TableRef::Postgres { url, relation })
}

/// `url` with its password, if any, replaced by `***`.
pub fn masked(url: &Url) -> Url {
    let mut url = url.clone();
    if url.password().is_some() {
        let _ = url.set_password(Some("***"));
    }
    url
}

/// `text` with the password of every URL in it replaced by `***`: for
/// strings that are not parsed yet (an invalid reference in an error).
pub fn mask(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        // The authority ends at the first `/`, `?`, `#` or white space.
        let end = after
            .find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace())
            .unwrap_or(after.len());
        let authority = &after[..end];
        match authority.rsplit_once('@') {
            Some((userinfo, host)) if userinfo.contains(':') => {
                let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
                out.push_str(&format!("{user}:***@{host}"));
            }
            _ => out.push_str(authority),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_parses_and_shows_no_password() {
        assert_eq!(
            TableRef::parse("out/orders.parquet").unwrap(),
            TableRef::Files("out/orders.parquet".into())
        );
        let pg = TableRef::parse(
            "postgres://ana:s3cret@127.0.0.1:5432/shop?table=public.orders&sslmode=disable",
        )
        .unwrap();
        let TableRef::Postgres { url, relation } = &pg else {
            panic!("{pg:?}")
        };
        assert_eq!(relation, &Relation::Table("public.orders".into()));
        assert_eq!(url.password(), Some("s3cret"));
        assert_eq!(url.query(), Some("sslmode=disable"));
        let shown = pg.shown();
        assert!(
            !shown.contains("s3cret") && shown.contains("ana:***@"),
            "{shown}"
        );
        assert!(!format!("{pg:?}").contains("s3cret"));
        let query = TableRef::parse("postgres://ana@db/shop?query=SELECT+1").unwrap();
        assert!(
            matches!(&query, TableRef::Postgres { relation: Relation::Query(q), .. } if q == "SELECT 1")
        );
        let plus =
            TableRef::parse("postgres://ana@db/shop?sslmode=disable&query=SELECT a %2B 1 AS b")
                .unwrap();
        assert_eq!(
            plus.shown(),
            "postgres://ana@db/shop?sslmode=disable&query=SELECT a %2B 1 AS b"
        );
        assert_eq!(TableRef::parse(&plus.shown()).unwrap(), plus);
        assert!(matches!(
            TableRef::parse("s3://bucket/prefix/").unwrap(),
            TableRef::Objects(_)
        ));
        let sqlite = TableRef::parse("sqlite:shop.db?query=SELECT%20a%2Bb%20FROM%20t").unwrap();
        assert_eq!(
            sqlite,
            TableRef::DatabaseFile {
                engine: FileEngine::Sqlite,
                path: "shop.db".into(),
                relation: Relation::Query("SELECT a+b FROM t".into()),
            }
        );
        assert_eq!(TableRef::parse(&sqlite.shown()).unwrap(), sqlite);
        assert!(matches!(
            TableRef::parse("duckdb:///tmp/w.duckdb?table=main.orders").unwrap(),
            TableRef::DatabaseFile { engine: FileEngine::Duckdb, path, relation: Relation::Table(t) }
                if path == "/tmp/w.duckdb" && t == "main.orders"
        ));
        assert_eq!(
            Relation::Table("main.we\"ird".into()).from_clause(),
            "\"main\".\"we\"\"ird\""
        );
    }

    #[test]
    fn bad_references_are_errors_that_never_show_the_password() {
        for (spec, says) in [
            (
                "postgres://ana:s3cret@db/shop",
                "names no `table` or `query`",
            ),
            ("postgres://ana:s3cret@db/?table=t", "names no database"),
            (
                "postgres://ana:s3cret@db/shop?table=t&query=q",
                "more than one",
            ),
            (
                "mysql://ana:s3cret@db/shop?table=t",
                "unsupported scheme `mysql://`",
            ),
            ("s3:///key", "names no bucket"),
            ("sqlite:shop.db", "names no `table` or `query`"),
            ("sqlite:?table=t", "names no database file"),
            ("duckdb:w.duckdb?tabel=t", "unknown parameter `tabel`"),
        ] {
            let error = TableRef::parse(spec).unwrap_err().to_string();
            assert!(error.contains(says), "{spec}: {error}");
            assert!(!error.contains("s3cret"), "{error}");
        }
    }

    #[test]
    fn mask_hides_every_password_in_a_text() {
        assert_eq!(
            mask("from postgres://a:pw@h:1/d?x=1 to s3://bucket/k and postgres://b@h/d"),
            "from postgres://a:***@h:1/d?x=1 to s3://bucket/k and postgres://b@h/d"
        );
    }
}
