//! The PostgreSQL publish target, `postgres://USER@HOST:PORT/DB?schema=marts`:
//! blue-green by schema. Each version is a schema of its own; the live one
//! is named `marts`, the others `marts__<run id>`. A publish loads the
//! run's outputs into a new schema with binary `COPY` (`copy`), then one
//! short transaction renames the live schema away and the new one in, so
//! a reader's query sees all the old tables or all the new ones. Each
//! schema's comment holds its version record (`dualrun version {...}`), a
//! schema being loaded says `dualrun loading`; the log of every switch is
//! the table `dualrun.dualrun_published`, written in the switch's own
//! transaction, and one publisher at a time holds an advisory lock.

mod catalog;
mod copy;

use std::sync::Arc;
use std::time::Duration;

use datafusion_table_providers_postgres::conn::PostgresConnection;
use datafusion_table_providers_postgres::pool::PostgresConnectionPool;
use url::Url;

use super::{ApprovedRun, PublishRequest, Published, VersionRecord, crash_point};
use crate::error::{Error, Result};
use crate::input::quoted;
use catalog::{copy_grants, prune, state};
use copy::server_said;

/// How a schema's comment marks it as a version dualrun made.
const VERSION_MARK: &str = "dualrun version ";
const LOADING_MARK: &str = "dualrun loading ";
/// Where the log of switches lives, in every target database.
const LOG_TABLE: &str = "dualrun.dualrun_published";
/// How often a switch that could not take its locks at once tries again.
const SWITCH_ATTEMPTS: usize = 40;

/// A PostgreSQL target: the database, and the schema readers query.
#[derive(Debug, Clone)]
pub struct PgTarget {
    /// The connection, password included (never shown).
    url: Url,
    /// The target as shown: the URL with its password masked.
    pub shown: String,
    /// The live schema's name.
    pub schema: String,
}

impl PgTarget {
    /// `postgres://...?schema=NAME`.
    pub fn parse(spec: &str) -> Result<Self> {
        let shown = crate::input::mask(spec);
        let bad = |message: String| {
            Error::publish(std::path::Path::new(&shown), message).with_hint(
                "write the database and the schema readers query: `postgres://USER@HOST:PORT/DB?schema=marts`",
            )
        };
        let mut url = Url::parse(spec).map_err(|e| bad(format!("is not a URL ({e})")))?;
        let mut schema = None;
        let mut rest = Vec::new();
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "schema" => schema = Some(value.into_owned()),
                _ => rest.push((key.into_owned(), value.into_owned())),
            }
        }
        let schema = schema.ok_or_else(|| bad("names no `schema`".to_string()))?;
        let plain = schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if schema.is_empty() || !plain || schema.len() > 30 || schema.starts_with(char::is_numeric)
        {
            return Err(bad(format!(
                "has the schema `{schema}`: dualrun publishes to lower-case names of letters, digits and `_`, at most 30 long (room for the version suffix)"
            )));
        }
        url.set_query(None);
        if !rest.is_empty() {
            url.query_pairs_mut().extend_pairs(rest);
        }
        Ok(PgTarget { url, shown, schema })
    }

    /// The schema a version is parked in when it is not live.
    pub(super) fn parked(&self, version: &str) -> String {
        let slug: String = version
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let name = format!("{}__{slug}", self.schema);
        if name.len() <= 63 {
            return name;
        }
        // Long run ids keep their end (time and random part) and a digest
        // of the whole, so two never share a schema.
        let digest = format!(
            "{:08x}",
            xxhash_rust::xxh3::xxh3_64(version.as_bytes()) as u32
        );
        let keep = 63 - self.schema.len() - 2 - digest.len() - 1;
        format!(
            "{}__{}_{digest}",
            self.schema,
            &slug[slug.len().saturating_sub(keep)..]
        )
    }

    pub(super) fn error(&self, message: impl Into<String>) -> Error {
        Error::publish(std::path::Path::new(&self.shown), message)
    }

    /// Whether `other` is the same database, reached as the same role: a
    /// schema there can be renamed into this target.
    fn same_database(&self, other: &Url) -> bool {
        let key = |u: &Url| {
            (
                u.host_str().map(str::to_string),
                u.port_or_known_default().or(Some(5432)),
                u.path().trim_start_matches('/').to_string(),
                u.username().to_string(),
            )
        };
        key(&self.url) == key(other)
    }

    /// The table a read of `@current/NAME` means: the live schema's.
    pub fn live_table_reference(&self, name: &str) -> String {
        let mut url = self.url.clone();
        url.query_pairs_mut()
            .append_pair("table", &format!("{}.{name}", self.schema));
        url.to_string()
    }
}

/// One connection, holding the target's advisory lock for as long as it
/// lives.
struct Session {
    connection: PostgresConnection,
    // The pool owns the connection's driver task.
    _pool: Arc<PostgresConnectionPool>,
}

impl Session {
    pub(super) fn client(&self) -> &tokio_postgres::Client {
        &self.connection.conn
    }
}

/// Connects, takes the one-publisher lock, and makes sure the log exists.
async fn open(target: &PgTarget) -> Result<Session> {
    let pool = crate::input::postgres::connect(&target.shown, &target.url).await?;
    let connection = pool
        .connect_direct()
        .await
        .map_err(|e| target.error(format!("cannot connect ({e})")))?;
    let session = Session {
        connection,
        _pool: pool,
    };
    let key = format!("dualrun publish {}", target.schema);
    let locked: bool = session
        .client()
        .query_one(
            "SELECT pg_try_advisory_lock(hashtextextended($1, 0))",
            &[&key],
        )
        .await
        .map_err(|e| {
            target.error(format!(
                "cannot take the publish lock ({})",
                server_said(&e)
            ))
        })?
        .get(0);
    if !locked {
        return Err(target
            .error(format!(
                "another publisher holds the lock on the schema `{}`",
                target.schema
            ))
            .with_hint("wait for it to finish; one publish or rollback runs at a time"));
    }
    session
        .client()
        .batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS dualrun;
             CREATE TABLE IF NOT EXISTS {LOG_TABLE} (
                 at timestamptz NOT NULL DEFAULT now(),
                 target_schema text NOT NULL,
                 event text NOT NULL,
                 version text NOT NULL,
                 previous text,
                 verdict text,
                 forced_reason text,
                 inputs jsonb,
                 outputs jsonb,
                 pruned jsonb)"
        ))
        .await
        .map_err(|e| {
            target
                .error(format!(
                    "cannot create the schema `dualrun` for the publish log ({})",
                    server_said(&e)
                ))
                .with_hint(
                    "the publishing role needs CREATE on the database: `GRANT CREATE ON DATABASE ... TO ...`",
                )
        })?;
    Ok(session)
}

fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `publish` into PostgreSQL.
pub async fn publish(
    target: &PgTarget,
    request: &PublishRequest,
    run: &ApprovedRun,
) -> Result<Published> {
    let session = open(target).await?;
    let client = session.client();
    let state = state(target, &session).await?;
    for leftover in &state.loading {
        client
            .batch_execute(&format!("DROP SCHEMA {} CASCADE", quoted(leftover)))
            .await
            .map_err(|e| {
                target.error(format!(
                    "cannot remove `{leftover}`, left by a publish that did not finish ({})",
                    server_said(&e)
                ))
            })?;
    }
    let version = run.id.clone();
    if state.versions.iter().any(|v| v.version == version) {
        return Err(target
            .error(format!("the run `{version}` is already published"))
            .with_hint(format!(
                "make it live again with `dualrun rollback \"{}\" --to {version}`",
                target.shown
            )));
    }
    let live_record = state
        .versions
        .iter()
        .find(|v| Some(&v.version) == state.live.as_ref());
    let (outputs, carried) = super::choose_outputs(request, run, live_record, &target.shown)?;
    let mut record = VersionRecord {
        version: version.clone(),
        published_at: crate::clock::now_utc(),
        verdict: run.verdict,
        forced_reason: run.forced_reason.clone(),
        inputs: run.inputs.clone(),
        outputs: Default::default(),
    };
    let (loading, adopted_schema) =
        load_version(target, client, request, run, &outputs, &version).await?;
    for name in &outputs {
        record.outputs.insert(name.clone(), version.clone());
    }
    if let Some(live) = live_record {
        carry_over(target, client, &loading, live, &carried, &mut record).await?;
        copy_grants(target, client, &loading).await?;
    }
    crash_point("staged");
    let previous = state.live.clone();
    let switch = Switch {
        to: (loading.clone(), record),
        from: previous.as_ref().map(|p| (p.clone(), target.parked(p))),
        event: "publish",
        outputs: outputs.clone(),
    };
    switch_schemas(target, &session, &switch).await?;
    crash_point("switched");
    let pruned = match request.keep {
        Some(keep) => prune(target, &session, keep).await?,
        None => Vec::new(),
    };
    Ok(Published {
        version,
        previous,
        outputs,
        carried,
        pruned,
        adopted: adopted_schema,
    })
}

/// The schema that holds the new version once loaded, and the name of the
/// dbt candidate's schema when that one is taken as it is; otherwise a new
/// schema the outputs are copied into.
async fn load_version(
    target: &PgTarget,
    client: &tokio_postgres::Client,
    request: &PublishRequest,
    run: &ApprovedRun,
    outputs: &[String],
    version: &str,
) -> Result<(String, Option<String>)> {
    let adopted = request
        .built_schema
        .as_ref()
        .filter(|built| request.only.is_none() && target.same_database(&built.url));
    if let Some(built) = adopted {
        // The audited relations themselves become the version.
        mark_loading(target, client, &built.schema, version).await?;
        return Ok((built.schema.clone(), Some(built.schema.clone())));
    }
    let loading = target.parked(version);
    client
        .batch_execute(&format!("CREATE SCHEMA {}", quoted(&loading)))
        .await
        .map_err(|e| {
            target
                .error(format!(
                    "cannot create the schema `{loading}` ({})",
                    server_said(&e)
                ))
                .with_hint("the publishing role needs CREATE on the database")
        })?;
    mark_loading(target, client, &loading, version).await?;
    for (done, name) in outputs.iter().enumerate() {
        copy::load(client, &loading, name, &run.outputs[name]).await?;
        if done == 0 {
            crash_point("loading");
        }
    }
    Ok((loading, None))
}

/// `--only`: the outputs it leaves out are copied over from the live
/// version, inside the database.
async fn carry_over(
    target: &PgTarget,
    client: &tokio_postgres::Client,
    loading: &str,
    live: &VersionRecord,
    carried: &[String],
    record: &mut VersionRecord,
) -> Result<()> {
    for name in carried {
        client
            .batch_execute(&format!(
                "CREATE TABLE {new}.{t} (LIKE {live}.{t} INCLUDING ALL); INSERT INTO {new}.{t} SELECT * FROM {live}.{t}",
                new = quoted(loading),
                live = quoted(&target.schema),
                t = quoted(name)
            ))
            .await
            .map_err(|e| {
                target.error(format!(
                    "cannot carry `{name}` over from the live version ({})",
                    server_said(&e)
                ))
            })?;
        record
            .outputs
            .insert(name.clone(), live.outputs[name].clone());
    }
    Ok(())
}

/// Marks `schema` as a version being loaded: never read as a version,
/// dropped by the next publish if this one does not finish.
async fn mark_loading(
    target: &PgTarget,
    client: &tokio_postgres::Client,
    schema: &str,
    version: &str,
) -> Result<()> {
    client
        .batch_execute(&format!(
            "COMMENT ON SCHEMA {} IS {}",
            quoted(schema),
            literal(&format!("{LOADING_MARK}{version}"))
        ))
        .await
        .map_err(|e| {
            target.error(format!(
                "cannot mark the schema `{schema}` ({})",
                server_said(&e)
            ))
        })
}

/// One switch: the schema that becomes live (and its record), the name the
/// live one is parked under.
struct Switch {
    to: (String, VersionRecord),
    /// The live version, and the schema it is parked in.
    from: Option<(String, String)>,
    event: &'static str,
    outputs: Vec<String>,
}

/// The switch, in one transaction: the live tables locked (so a reader's
/// query that already opened one of them finishes on the old version), the
/// live schema parked, the new one renamed in with its record, the log row
/// written. A lock that is not free within a second gives up and tries
/// again rather than wait, so a reader is never the one a deadlock check
/// cancels.
async fn switch_schemas(target: &PgTarget, session: &Session, switch: &Switch) -> Result<()> {
    let client = session.client();
    let (new_schema, record) = &switch.to;
    let live_tables: Vec<String> = client
        .query(
            "SELECT quote_ident(table_name::text) FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name",
            &[&target.schema],
        )
        .await
        .map_err(|e| target.error(format!("cannot list the live tables ({})", server_said(&e))))?
        .iter()
        .map(|r| format!("{}.{}", quoted(&target.schema), r.get::<_, String>(0)))
        .collect();
    let mut sql = String::from("SET LOCAL lock_timeout = '1s';\n");
    if !live_tables.is_empty() {
        sql.push_str(&format!(
            "LOCK TABLE {} IN ACCESS EXCLUSIVE MODE;\n",
            live_tables.join(", ")
        ));
    }
    if let Some((_, parked)) = &switch.from {
        sql.push_str(&format!(
            "ALTER SCHEMA {} RENAME TO {};\n",
            quoted(&target.schema),
            quoted(parked)
        ));
    }
    sql.push_str(&format!(
        "ALTER SCHEMA {} RENAME TO {};\nCOMMENT ON SCHEMA {} IS {};\n",
        quoted(new_schema),
        quoted(&target.schema),
        quoted(&target.schema),
        literal(&format!(
            "{VERSION_MARK}{}",
            serde_json::to_string(record).expect("a version record serializes")
        ))
    ));
    let previous = switch.from.as_ref().map(|(version, _)| version.as_str());
    let insert = format!(
        "INSERT INTO {LOG_TABLE} (target_schema, event, version, previous, verdict, forced_reason, inputs, outputs)
         VALUES ({}, {}, {}, {}, {}, {}, {}::jsonb, {}::jsonb);",
        literal(&target.schema),
        literal(switch.event),
        literal(&record.version),
        previous.map_or("NULL".to_string(), literal),
        literal(record.verdict.as_str()),
        record.forced_reason.as_deref().map_or("NULL".to_string(), literal),
        literal(&serde_json::to_string(&record.inputs).expect("fingerprints serialize")),
        literal(&serde_json::to_string(&switch.outputs).expect("names serialize")),
    );
    sql.push_str(&insert);
    let mut last = None;
    for _ in 0..SWITCH_ATTEMPTS {
        match client
            .batch_execute(&format!("BEGIN;\n{sql}\nCOMMIT;"))
            .await
        {
            Ok(()) => return Ok(()),
            Err(e) => {
                let _ = client.batch_execute("ROLLBACK").await;
                let busy = e.code() == Some(&tokio_postgres::error::SqlState::LOCK_NOT_AVAILABLE)
                    || e.code() == Some(&tokio_postgres::error::SqlState::T_R_DEADLOCK_DETECTED);
                if !busy {
                    return Err(target.error(format!(
                        "the switch failed and changed nothing ({})",
                        server_said(&e)
                    )));
                }
                last = Some(e);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    Err(target.error(format!(
        "the switch could not lock the live tables in {SWITCH_ATTEMPTS} tries ({}); nothing changed",
        last.map(|e| server_said(&e)).unwrap_or_default()
    ))
    .with_hint("a long query holds them: try again when it is done"))
}

/// `rollback`: the version before the live one (or `to`) is live again.
pub async fn rollback(target: &PgTarget, to: Option<&str>) -> Result<(String, String)> {
    let session = open(target).await?;
    let state = state(target, &session).await?;
    let current = state
        .live
        .clone()
        .ok_or_else(|| target.error("has no live version to roll back from"))?;
    let chosen = match to {
        Some(id) => state
            .versions
            .iter()
            .find(|r| r.version == id)
            .ok_or_else(|| {
                target
                    .error(format!("has no version `{id}`"))
                    .with_hint(format!(
                        "`dualrun versions \"{}\"` lists them",
                        target.shown
                    ))
            })?
            .clone(),
        None => {
            let position = state.versions.iter().position(|r| r.version == current);
            position
                .and_then(|p| state.versions[..p].last())
                .cloned()
                .ok_or_else(|| {
                    target.error(format!("has no version older than the live `{current}`"))
                })?
        }
    };
    if chosen.version == current {
        return Err(target.error(format!("`{current}` is already live")));
    }
    let switch = Switch {
        to: (target.parked(&chosen.version), chosen.clone()),
        from: Some((current.clone(), target.parked(&current))),
        event: "rollback",
        outputs: chosen.outputs.keys().cloned().collect(),
    };
    switch_schemas(target, &session, &switch).await?;
    Ok((current, chosen.version))
}

/// `versions`: every version, oldest first, and the live one.
pub async fn versions(target: &PgTarget) -> Result<(Vec<VersionRecord>, Option<String>)> {
    let session = open(target).await?;
    let state = state(target, &session).await?;
    Ok((state.versions, state.live))
}
