//! Why a side failed: the typed error every engine returns. It becomes the
//! side's `message` in the report (a failed side is a finding, not an error
//! that stops the run); the library errors under it are kept as sources.

use std::path::PathBuf;

use crate::error::first_line;

type Cause = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum SideError {
    /// A file or directory the side needs could not be made, read or
    /// waited on; `what` says which and how (`create `out/``).
    #[error("cannot {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },

    /// The project is not in a git repository.
    #[error("`git = \"{rev}\"` needs the project in a git repository: {message}")]
    NotARepository { rev: String, message: String },

    #[error("the git revision `{rev}` is unknown")]
    UnknownRevision { rev: String },

    /// git refused to do something; `message` is the first line it said.
    #[error("{action}: {message}")]
    Git { action: String, message: String },

    #[error("`{script}` exited with code {code}")]
    Exited { script: String, code: i32 },

    #[error("`{script}` was killed by a signal")]
    Killed { script: String },

    #[error("`{script}` timed out after {seconds} s and was killed with everything it started")]
    TimedOut { script: String, seconds: f64 },

    /// A models folder that cannot be built from: no models, a model that
    /// is not one query, an unknown table, a cycle.
    #[error("{0}")]
    Models(String),

    /// One model failed in the engine.
    #[error("model `{}`: {}", file.display(), first_line(&source.to_string()))]
    Model {
        file: PathBuf,
        #[source]
        source: Cause,
    },

    /// One input could not be read for the engine.
    #[error("input `{name}`: {}", first_line(&source.to_string()))]
    Input {
        name: String,
        #[source]
        source: Cause,
    },

    /// The engine refused a table it was given (`cannot register `x``).
    #[error("{what}: {}", first_line(&source.to_string()))]
    Engine {
        what: String,
        #[source]
        source: Cause,
    },

    /// The side ran but did not write every declared output.
    #[error("wrote no output {} into `{}`", list(names), dir.display())]
    MissingOutputs { names: Vec<String>, dir: PathBuf },

    /// dbt could not be run, or its project or profile not used.
    #[error("{0}")]
    Dbt(String),

    /// dbt ran, and nodes failed to build (`name`, dbt's message).
    #[error("dbt could not build {}", failed_nodes(failed))]
    DbtNodes { failed: Vec<(String, String)> },

    #[error("this build of dualrun has no `{engine}` engine")]
    NotBuilt { engine: &'static str },
}

impl SideError {
    /// For `map_err`: an IO error while doing `what`.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> SideError {
        let what = what.into();
        move |source| SideError::Io { what, source }
    }

    /// Model `file` failed with `source`.
    pub fn in_model(file: &std::path::Path, source: impl Into<Cause>) -> SideError {
        SideError::Model {
            file: file.to_path_buf(),
            source: source.into(),
        }
    }
}

/// The first failed node with dbt's first line about it, and how many more.
fn failed_nodes(failed: &[(String, String)]) -> String {
    let Some((name, message)) = failed.first() else {
        return "every node".to_string();
    };
    let more = match failed.len() - 1 {
        0 => String::new(),
        n => format!(
            " (and {n} more: {})",
            list(
                &failed[1..]
                    .iter()
                    .map(|(n, _)| n.clone())
                    .collect::<Vec<_>>()
            )
        ),
    };
    format!("`{name}`: {}{more}", one_line(message))
}

/// dbt's message on one line: its first line says where, the next ones
/// what the database said.
fn one_line(message: &str) -> String {
    let joined = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    match joined.char_indices().nth(400) {
        Some((at, _)) => format!("{}…", &joined[..at]),
        None => joined,
    }
}

fn list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
