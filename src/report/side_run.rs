//! How each side of a run ran, as the report and the manifest record it:
//! its engine, status, timing, log, outputs, git revision and models.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::sides::Side;

/// How one side ran, as the report shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SideRun {
    pub side: Side,
    pub engine: String,
    /// The embedded engine's version (SQL sides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_version: Option<String>,
    pub status: SideStatus,
    /// Why it failed; empty when it did not.
    pub message: String,
    /// UTC, to the millisecond.
    #[serde(default)]
    pub started_at: String,
    #[serde(default)]
    pub ended_at: String,
    pub seconds: f64,
    /// Where its output and error streams went (command sides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    /// The log's last lines, when the side failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_tail: Vec<String>,
    /// Output name -> the file read for it. A SQL side that did not build
    /// a declared output leaves it out (the output is then only on the
    /// other side); other engines must write every one.
    pub outputs: BTreeMap<String, String>,
    /// The git revision the side's files came from, and its commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitRevision>,
    /// SQL sides: each model, the tables (inputs or models) it reads, and
    /// when it was built.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub models: BTreeMap<String, ModelRun>,
    /// dbt sides: models not diffed, and why (ephemeral: no table; or
    /// not built by dbt after an upstream failure).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub skipped: BTreeMap<String, String>,
    /// dbt sides: where what the side built remains after the run
    /// (`--keep-sides`, or why it could not be removed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept: Option<String>,
    /// dbt sides: what was built and where, to read it and remove it.
    #[serde(skip)]
    pub dbt: Option<std::sync::Arc<crate::dbt::SideBuild>>,
}

/// Whether a side did its work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SideStatus {
    Ok,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GitRevision {
    pub rev: String,
    pub commit: String,
}

/// One model as a side built it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRun {
    /// The tables (inputs or models) it reads.
    pub reads: Vec<String>,
    /// UTC, to the millisecond.
    pub started_at: String,
    pub seconds: f64,
}

impl SideRun {
    /// A side that has not run yet, started now.
    pub fn starting(side: Side, engine: &str, started_at: String) -> Self {
        SideRun {
            side,
            engine: engine.to_string(),
            engine_version: None,
            status: SideStatus::Ok,
            message: String::new(),
            started_at,
            ended_at: String::new(),
            seconds: 0.0,
            log: None,
            log_tail: Vec::new(),
            outputs: BTreeMap::new(),
            git: None,
            models: BTreeMap::new(),
            skipped: BTreeMap::new(),
            kept: None,
            dbt: None,
        }
    }

    pub fn failed(&self) -> bool {
        self.status == SideStatus::Failed
    }

    /// SQL sides: each model and the tables it reads.
    pub fn model_graph(&self) -> BTreeMap<String, Vec<String>> {
        self.models
            .iter()
            .map(|(name, run)| (name.clone(), run.reads.clone()))
            .collect()
    }

    pub fn fail(&mut self, message: String) {
        self.status = SideStatus::Failed;
        self.message = message;
    }
}
