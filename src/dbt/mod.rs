//! dbt projects as sides: what a side built, read from dbt's own artifacts
//! (`manifest`), so models, their DAG and their keys come from the project
//! itself rather than from `[outputs.*]` entries; and where each side
//! builds (`profile`), a location of its own that is removed after the run.

pub mod manifest;
pub mod outputs;
pub mod profile;

pub use manifest::{Artifacts, Built, KeySource, TestResult};
pub use profile::{Adapter, SideLocation, Target};

use crate::error::Result;
use crate::input::TableSource;

/// What one dbt side built, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct SideBuild {
    pub artifacts: Artifacts,
    pub target: Target,
    pub location: SideLocation,
}

impl SideBuild {
    /// The table dualrun reads built node `name` from (its password, if
    /// any, kept: this is what is read, not what is shown).
    pub fn source(&self, name: &str) -> Option<Result<TableSource>> {
        let built = self.artifacts.built.get(name)?;
        let spec = match (&self.target.adapter, &self.location) {
            (Adapter::Postgres(pg), _) => {
                let mut url = pg.url();
                url.query_pairs_mut().append_pair("table", &built.relation);
                url.to_string()
            }
            (Adapter::Duckdb { .. }, SideLocation::DuckdbFile(file)) => {
                format!("duckdb:{}?table={}", file.display(), built.relation)
            }
            (Adapter::Duckdb { .. }, SideLocation::PostgresSchema(_)) => {
                unreachable!("a DuckDB side builds into a file of its own")
            }
        };
        Some(TableSource::parse(&spec, None, Default::default()))
    }

    /// The schemas this side built into: its own, and the custom schemas
    /// dbt derives from it (`<side schema>_<custom>`). A relation outside
    /// them was written somewhere the side does not own.
    pub fn outside_own_schemas(&self) -> Vec<&Built> {
        let SideLocation::PostgresSchema(own) = &self.location else {
            return Vec::new();
        };
        self.artifacts
            .built
            .values()
            .filter(|b| b.schema != *own && !b.schema.starts_with(&format!("{own}_")))
            .collect()
    }

    /// The PostgreSQL schema this side built everything into, when it did
    /// (no custom schemas beside it): a publish to the same database can
    /// take it as it is.
    pub fn schema_of_its_own(&self) -> Option<crate::publish::BuiltSchema> {
        let (SideLocation::PostgresSchema(own), Adapter::Postgres(pg)) =
            (&self.location, &self.target.adapter)
        else {
            return None;
        };
        let alone = self.artifacts.built.values().all(|b| &b.schema == own);
        alone.then(|| crate::publish::BuiltSchema {
            url: pg.url(),
            schema: own.clone(),
        })
    }

    /// Removes what the side built: its DuckDB file, or its schemas.
    pub async fn remove(&self) -> Result<()> {
        match (&self.location, &self.target.adapter) {
            (SideLocation::DuckdbFile(file), _) => {
                for path in [file.clone(), file.with_extension("duckdb.wal")] {
                    match std::fs::remove_file(&path) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                            return Err(crate::Error::Output { path, source: e });
                        }
                        _ => {}
                    }
                }
                Ok(())
            }
            (SideLocation::PostgresSchema(own), Adapter::Postgres(pg)) => {
                let outside = self.outside_own_schemas();
                let mut schemas: Vec<&str> = vec![own.as_str()];
                schemas.extend(
                    self.artifacts
                        .built
                        .values()
                        .filter(|b| !outside.contains(b))
                        .map(|b| b.schema.as_str()),
                );
                schemas.sort_unstable();
                schemas.dedup();
                drop_schemas(pg, &schemas).await
            }
            (SideLocation::PostgresSchema(_), _) => Ok(()),
        }
    }
}

#[cfg(feature = "postgres")]
async fn drop_schemas(pg: &profile::PostgresTarget, schemas: &[&str]) -> Result<()> {
    let statements: Vec<String> = schemas
        .iter()
        .map(|s| {
            format!(
                "DROP SCHEMA IF EXISTS \"{}\" CASCADE",
                s.replace('"', "\"\"")
            )
        })
        .collect();
    let url = pg.url();
    crate::input::postgres::execute(
        &crate::input::mask(url.as_str()),
        &url,
        &statements.join("; "),
    )
    .await
}

#[cfg(not(feature = "postgres"))]
async fn drop_schemas(_: &profile::PostgresTarget, _: &[&str]) -> Result<()> {
    Ok(())
}
