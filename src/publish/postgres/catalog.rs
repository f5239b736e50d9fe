//! What the database holds for a PostgreSQL target: its version schemas
//! (read from their comments), schemas a killed publisher left, the grants
//! a new version inherits, and the old versions `--keep` drops.

use super::copy::server_said;
use super::{LOADING_MARK, PgTarget, Session, VERSION_MARK};
use crate::error::Result;
use crate::input::quoted;
use crate::publish::VersionRecord;

/// What the database holds for the target: its versions (the live one
/// included), and schemas a publisher was killed while loading.
pub(super) struct State {
    pub versions: Vec<VersionRecord>,
    pub live: Option<String>,
    pub loading: Vec<String>,
}

pub(super) async fn state(target: &PgTarget, session: &Session) -> Result<State> {
    let pattern = format!("{}\\_\\_%", target.schema);
    let rows = session
        .client()
        .query(
            "SELECT nspname::text, coalesce(obj_description(oid, 'pg_namespace'), '')
             FROM pg_namespace WHERE nspname = $1 OR nspname LIKE $2",
            &[&target.schema, &pattern],
        )
        .await
        .map_err(|e| target.error(format!("cannot list its schemas ({})", server_said(&e))))?;
    let mut state = State {
        versions: Vec::new(),
        live: None,
        loading: Vec::new(),
    };
    for row in rows {
        let (name, comment): (String, String) = (row.get(0), row.get(1));
        if let Some(record) = comment.strip_prefix(VERSION_MARK) {
            let record: VersionRecord = serde_json::from_str(record).map_err(|e| {
                target.error(format!(
                    "the schema `{name}` has a version record dualrun cannot read ({e})"
                ))
            })?;
            if name == target.schema {
                state.live = Some(record.version.clone());
            }
            state.versions.push(record);
        } else if comment.starts_with(LOADING_MARK) {
            state.loading.push(name);
        } else if name == target.schema {
            return Err(target
                .error(format!(
                    "the schema `{name}` exists and was not made by dualrun: it is never overwritten"
                ))
                .with_hint("publish to a schema of dualrun's own, or rename that one away"));
        }
    }
    state
        .versions
        .sort_by(|a, b| a.published_at.cmp(&b.published_at));
    Ok(state)
}

/// The grants of the live schema and its tables, given to the new one's
/// too, so readers keep their access across the switch.
pub(super) async fn copy_grants(
    target: &PgTarget,
    client: &tokio_postgres::Client,
    new_schema: &str,
) -> Result<()> {
    let rows = client
        .query(
            "SELECT 'GRANT ' || a.privilege_type || ' ON SCHEMA ' || quote_ident($2) || ' TO ' ||
                    CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END
             FROM pg_namespace n, aclexplode(n.nspacl) a
             WHERE n.nspname = $1 AND a.grantee <> n.nspowner
             UNION ALL
             SELECT 'GRANT ' || a.privilege_type || ' ON TABLE ' || quote_ident($2) || '.' || quote_ident(c.relname) || ' TO ' ||
                    CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a
             WHERE n.nspname = $1 AND a.grantee <> c.relowner
               AND EXISTS (SELECT 1 FROM pg_class c2 JOIN pg_namespace n2 ON n2.oid = c2.relnamespace
                           WHERE n2.nspname = $2 AND c2.relname = c.relname)",
            &[&target.schema, &new_schema],
        )
        .await
        .map_err(|e| target.error(format!("cannot read the live schema's grants ({})", server_said(&e))))?;
    let grants: Vec<String> = rows.iter().map(|r| r.get::<_, String>(0)).collect();
    if grants.is_empty() {
        return Ok(());
    }
    client
        .batch_execute(&grants.join(";\n"))
        .await
        .map_err(|e| {
            target.error(format!(
                "cannot give the new version the live one's grants ({})",
                server_said(&e)
            ))
        })
}

/// `--keep N`: drops the oldest version schemas beyond `keep`, never the
/// live one or the one before it.
pub(super) async fn prune(
    target: &PgTarget,
    session: &Session,
    keep: usize,
) -> Result<Vec<String>> {
    let state = state(target, session).await?;
    let live = state
        .versions
        .iter()
        .position(|r| Some(&r.version) == state.live.as_ref());
    let protected: Vec<usize> = live
        .into_iter()
        .flat_map(|p| [Some(p), p.checked_sub(1)])
        .flatten()
        .collect();
    let surplus = state.versions.len().saturating_sub(keep);
    let mut pruned = Vec::new();
    for (index, record) in state.versions.iter().enumerate().take(surplus) {
        if protected.contains(&index) {
            continue;
        }
        let schema = target.parked(&record.version);
        session
            .client()
            .batch_execute(&format!("DROP SCHEMA {} CASCADE", quoted(&schema)))
            .await
            .map_err(|e| {
                target.error(format!(
                    "cannot remove the version `{}` ({})",
                    record.version,
                    server_said(&e)
                ))
            })?;
        pruned.push(record.version.clone());
    }
    Ok(pruned)
}
