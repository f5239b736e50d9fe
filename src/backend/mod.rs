//! Where a diff runs. `Embedded` streams both tables through this process
//! (`embedded`); the cluster backend (cargo feature `cluster`, `cluster`)
//! sends the SQL form of the diff (`sql`) to a Ballista scheduler and
//! compares only the rows that come back. Both end in the same
//! value-by-value comparison, so their reports agree.

use crate::diff::{DiffOptions, TableDiff};
use crate::error::{Error, Result};
use crate::input::{OpenTable, Table};
use crate::threads::Workers;

#[cfg(feature = "cluster")]
pub mod cluster;
pub mod embedded;
pub mod sql;

pub use embedded::Embedded;

/// What a backend's diff gives back: both tables, described without their
/// rows (source, files, schema, row count) for the report, and the diff.
pub struct Diffed {
    pub prod: Table,
    pub candidate: Table,
    pub diff: TableDiff,
}

/// Runs the diff of two opened tables somewhere.
pub trait Backend {
    /// Diffs `prod` against `candidate`. `workers` are the command's own:
    /// their runtime reads local files and awaits remote answers, their
    /// pool compares.
    fn diff(
        &self,
        workers: &Workers,
        prod: OpenTable,
        candidate: OpenTable,
        options: &DiffOptions,
    ) -> Result<Diffed>;
}

/// The address of a Ballista scheduler, `df://HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterUrl {
    pub host: String,
    pub port: u16,
}

impl ClusterUrl {
    /// Parses `text`; `given_as` names where it came from for the error
    /// (`--cluster`, a project's `[cluster] url`).
    pub fn parse(text: &str, given_as: &str) -> Result<Self> {
        let invalid = || {
            Error::usage(format!(
                "{given_as} `{text}` is not a cluster address of the form `df://HOST:PORT`"
            ))
            .with_hint("give the scheduler's host and port, as in `df://10.0.0.5:50050`")
        };
        let rest = text.strip_prefix("df://").ok_or_else(invalid)?;
        let (host, port) = rest.rsplit_once(':').ok_or_else(invalid)?;
        let port: u16 = port.parse().map_err(|_| invalid())?;
        if host.is_empty() || host.contains('/') || port == 0 {
            return Err(invalid());
        }
        Ok(ClusterUrl {
            host: host.to_string(),
            port,
        })
    }
}

impl std::fmt::Display for ClusterUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "df://{}:{}", self.host, self.port)
    }
}

/// The backend for `cluster` (none: embedded).
pub fn choose(cluster: Option<&ClusterUrl>) -> Result<Box<dyn Backend>> {
    match cluster {
        None => Ok(Box::new(Embedded)),
        Some(url) => remote(url),
    }
}

#[cfg(feature = "cluster")]
fn remote(url: &ClusterUrl) -> Result<Box<dyn Backend>> {
    Ok(Box::new(crate::backend::cluster::Remote {
        url: url.clone(),
    }))
}

#[cfg(not(feature = "cluster"))]
fn remote(url: &ClusterUrl) -> Result<Box<dyn Backend>> {
    Err(without_cluster_feature(&format!("`--cluster {url}`")))
}

/// The error of a cluster feature asked of a build without it.
#[cfg(not(feature = "cluster"))]
pub fn without_cluster_feature(what: &str) -> Error {
    Error::usage(format!(
        "{what} needs dualrun built with the `cluster` feature, and this one was not"
    ))
    .with_hint("build it with `cargo install --path . --features cluster`")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_urls_parse_and_print_back() {
        let url = ClusterUrl::parse("df://10.0.0.5:50050", "--cluster").unwrap();
        assert_eq!(url.host, "10.0.0.5");
        assert_eq!(url.port, 50050);
        assert_eq!(url.to_string(), "df://10.0.0.5:50050");
        for bad in [
            "10.0.0.5:50050",
            "df://host",
            "df://:1",
            "df://h:0",
            "df://h:x",
        ] {
            let error = ClusterUrl::parse(bad, "--cluster").unwrap_err();
            assert!(error.to_string().contains(bad), "{error}");
            assert!(error.hint().is_some());
        }
    }
}
