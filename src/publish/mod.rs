//! Publish and rollback: the P of write-audit-publish. `publish` makes an
//! approved run's candidate outputs the live version of a target without
//! rebuilding them, `rollback` makes an earlier version live again,
//! `versions` lists them. Two kinds of target take the same commands
//! (`PublishTarget`): a directory (`dir`: a `current` symlink switched by
//! one atomic rename) and a PostgreSQL schema (`postgres`: a schema
//! renamed in one transaction). Every switch is logged, one publisher at a
//! time.

#[cfg(feature = "delta")]
mod delta;
mod dir;
mod log;
#[cfg(feature = "postgres")]
mod postgres;
mod run;
mod target;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
pub use dir::resolve;
pub use log::LogEntry;
pub use run::ApprovedRun;
pub use target::{Target, VersionRecord};

/// What `publish` is asked to do.
#[derive(Debug, Clone, Default)]
pub struct PublishRequest {
    pub run_dir: PathBuf,
    /// The target as the user wrote it: a directory or a URL.
    pub target: String,
    /// Publish a rejected run, for this reason.
    pub forced_reason: Option<String>,
    /// Publish only the outputs matching this pattern; the others are
    /// carried over from the live version.
    pub only: Option<glob::Pattern>,
    /// Keep only this many versions (never the live one or the one before).
    pub keep: Option<usize>,
    /// The schema a dbt candidate side built and the run audited, in its
    /// database: a PostgreSQL target in that database takes it as the new
    /// version as it is, without copying a row.
    pub built_schema: Option<BuiltSchema>,
}

/// Where a dbt side's relations are: its database (password included) and
/// schema.
#[derive(Debug, Clone)]
pub struct BuiltSchema {
    pub url: url::Url,
    pub schema: String,
}

/// What a publish did.
#[derive(Debug, Clone)]
pub struct Published {
    pub version: String,
    pub previous: Option<String>,
    pub outputs: Vec<String>,
    pub carried: Vec<String>,
    pub pruned: Vec<String>,
    /// The schema a dbt candidate built, taken as the version as it is.
    pub adopted: Option<String>,
}

/// The steps of a publish after which a crash can be simulated
/// (`DUALRUN_CRASH_AT=STEP`), so tests can prove each leaves `current`
/// whole.
const CRASH_STEPS: [&str; 4] = ["loading", "staged", "versioned", "switched"];

fn crash_point(step: &str) {
    debug_assert!(CRASH_STEPS.contains(&step));
    if std::env::var("DUALRUN_CRASH_AT").is_ok_and(|s| s == step) {
        std::process::abort();
    }
}

/// The outputs to publish (`--only`'s, or all) and those carried over from
/// the live version (with `--only`, the ones it leaves out).
fn choose_outputs(
    request: &PublishRequest,
    run: &ApprovedRun,
    previous: Option<&VersionRecord>,
    target: &str,
) -> Result<(Vec<String>, Vec<String>)> {
    let chosen: Vec<String> = run
        .outputs
        .keys()
        .filter(|name| request.only.as_ref().is_none_or(|p| p.matches(name)))
        .cloned()
        .collect();
    if chosen.is_empty() {
        return Err(Error::publish(
            Path::new(target),
            format!(
                "`--only` matches none of the run's outputs ({})",
                run.outputs.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    let carried = match (&request.only, previous) {
        (Some(_), Some(record)) => record
            .outputs
            .keys()
            .filter(|name| !chosen.contains(name))
            .cloned()
            .collect(),
        _ => Vec::new(),
    };
    Ok((chosen, carried))
}

/// A place approved outputs are published to: the same commands, each
/// target with its own way to switch versions.
pub trait PublishTarget {
    /// How messages name it (a URL's password masked).
    fn shown(&self) -> String;

    /// Makes the run's outputs (`request.only`'s, or all) the live version.
    fn publish(&self, request: &PublishRequest, run: &ApprovedRun) -> Result<Published>;

    /// Makes the version before the live one (or `to`) live again;
    /// returns the versions live before and after.
    fn rollback(&self, to: Option<&str>) -> Result<(String, String)>;

    /// Every version, oldest first, and the live one.
    fn versions(&self) -> Result<(Vec<VersionRecord>, Option<String>)>;

    /// `TARGET@current/NAME` for a target read where it is (a database, a
    /// lake): the table reference of the live table. `None`: the target
    /// resolves such references itself (a directory pins the version).
    fn live_table(&self, _name: &str) -> Option<String> {
        None
    }
}

/// The targets `--to` takes, for errors.
const TARGET_KINDS: &str = "a directory, `postgres://USER@HOST:PORT/DB?schema=NAME`, or `delta:PATH` (a directory of Delta tables)";

/// The target `spec` names: `delta:PATH`, `postgres://...?schema=NAME`, or
/// a directory. A URL is never taken for a directory.
pub fn target(spec: &str) -> Result<Box<dyn PublishTarget>> {
    if let Some(path) = spec.strip_prefix("delta:") {
        #[cfg(feature = "delta")]
        return Ok(Box::new(delta::DeltaTarget::parse(path)?));
        #[cfg(not(feature = "delta"))]
        return Err(Error::publish(
            Path::new(path),
            "is a Delta Lake target, which this build of dualrun leaves out",
        )
        .with_hint("build it with the `delta` feature (a default feature)"));
    }
    let Some((scheme, _)) = spec.split_once("://") else {
        return Ok(Box::new(Target::new(Path::new(spec))));
    };
    let shown = crate::input::mask(spec);
    match scheme {
        #[cfg(feature = "postgres")]
        "postgres" | "postgresql" => Ok(Box::new(postgres::PgTarget::parse(spec)?)),
        #[cfg(not(feature = "postgres"))]
        "postgres" | "postgresql" => Err(Error::publish(
            Path::new(&shown),
            "is a PostgreSQL target, which this build of dualrun leaves out",
        )
        .with_hint("build it with the `postgres` feature (a default feature)")),
        other => Err(Error::publish(
            Path::new(&shown),
            format!("has the scheme `{other}://`, which is not a publish target"),
        )
        .with_hint(format!("publish to {TARGET_KINDS}"))),
    }
}

impl PublishTarget for Target {
    fn shown(&self) -> String {
        self.root.display().to_string()
    }

    fn publish(&self, request: &PublishRequest, run: &ApprovedRun) -> Result<Published> {
        dir::publish(self, request, run)
    }

    fn rollback(&self, to: Option<&str>) -> Result<(String, String)> {
        dir::rollback(&self.root, to)
    }

    fn versions(&self) -> Result<(Vec<VersionRecord>, Option<String>)> {
        let target = Target::existing(&self.root)?;
        Ok((target.versions()?, target.current()?))
    }
}

#[cfg(feature = "postgres")]
impl PublishTarget for postgres::PgTarget {
    fn shown(&self) -> String {
        self.shown.clone()
    }

    fn publish(&self, request: &PublishRequest, run: &ApprovedRun) -> Result<Published> {
        on_runtime(postgres::publish(self, request, run))
    }

    fn rollback(&self, to: Option<&str>) -> Result<(String, String)> {
        on_runtime(postgres::rollback(self, to))
    }

    fn versions(&self) -> Result<(Vec<VersionRecord>, Option<String>)> {
        on_runtime(postgres::versions(self))
    }

    fn live_table(&self, name: &str) -> Option<String> {
        Some(self.live_table_reference(name))
    }
}

#[cfg(feature = "delta")]
impl PublishTarget for delta::DeltaTarget {
    fn shown(&self) -> String {
        delta::DeltaTarget::shown(self)
    }

    fn publish(&self, request: &PublishRequest, run: &ApprovedRun) -> Result<Published> {
        on_runtime(delta::publish(self, request, run))
    }

    fn rollback(&self, to: Option<&str>) -> Result<(String, String)> {
        on_runtime(delta::rollback(self, to))
    }

    fn versions(&self) -> Result<(Vec<VersionRecord>, Option<String>)> {
        on_runtime(delta::versions(self))
    }

    fn live_table(&self, name: &str) -> Option<String> {
        Some(delta::DeltaTarget::live_table(self, name))
    }
}

/// A database or lake target's work, on a runtime of its own: publishing
/// is one connection's sequence of statements, not the diff's parallel
/// work.
#[cfg(any(feature = "postgres", feature = "delta"))]
fn on_runtime<T>(work: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    crate::threads::Workers::new(1)?.block_on(work)
}

/// `publish`: checks the run, then makes its outputs the target's live
/// version.
pub fn publish(request: &PublishRequest) -> Result<Published> {
    let target = target(&request.target)?;
    let run = ApprovedRun::open(&request.run_dir, request.forced_reason.as_deref())?;
    target.publish(request, &run)
}

/// `TARGET@current/NAME` of a database or lake target: the live table,
/// read where it is. `None` when `spec` is not such a reference.
pub fn resolve_table(spec: &str) -> Result<Option<String>> {
    let Some((target_spec, reference)) = spec.rsplit_once('@') else {
        return Ok(None);
    };
    let database = target_spec.contains("://") && target_spec.contains("schema=");
    if !database && !target_spec.starts_with("delta:") {
        return Ok(None);
    }
    let target = target(target_spec)?;
    let name = reference.strip_prefix("current/").filter(|n| !n.is_empty());
    match name.and_then(|name| target.live_table(name)) {
        Some(table) => Ok(Some(table)),
        None => Err(Error::publish(
            Path::new(&target.shown()),
            format!("`@{reference}` names no live table"),
        )
        .with_hint(format!(
            "read the live version's table as `{}@current/NAME`",
            target.shown()
        ))),
    }
}
