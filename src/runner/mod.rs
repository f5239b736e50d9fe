//! Running the two sides of a project over the same inputs, each with its
//! own engine (`datafusion` builds SQL models, `command` runs a program,
//! `files` takes outputs already written), at the same time. A side that fails is a finding for the
//! report (with its log's last lines), not an error that hides the rest.

mod command;
mod files;
mod git;
pub mod models;
mod sql;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::project::{Project, SidePlan};
pub use files::find_output;

/// Lines of a failed side's log the report shows.
pub const LOG_TAIL: usize = 20;

/// How one side ran, as the report shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SideRun {
    /// `prod` or `candidate`.
    pub side: String,
    pub engine: String,
    /// `ok` or `failed`.
    pub status: String,
    /// Why it failed; empty when it did not.
    pub message: String,
    pub seconds: f64,
    /// Where its output and error streams went (command sides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    /// The log's last lines, when the side failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_tail: Vec<String>,
    /// Output name -> the file read for it.
    pub outputs: BTreeMap<String, String>,
    /// The git revision the side's files came from, and its commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitRevision>,
    /// SQL sides: each model and the tables (inputs or models) it reads.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub models: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GitRevision {
    pub rev: String,
    pub commit: String,
}

impl SideRun {
    pub fn failed(&self) -> bool {
        self.status != "ok"
    }
}

/// Runs both sides at once; `run_dir` receives the outputs of command
/// sides (`prod/`, `candidate/`) and their logs.
pub fn run_sides(project: &Project, run_dir: &Path) -> [SideRun; 2] {
    std::thread::scope(|scope| {
        let prod = scope.spawn(|| run_side(project, 0, &project.prod, run_dir));
        let candidate = scope.spawn(|| run_side(project, 1, &project.candidate, run_dir));
        [prod, candidate].map(|h| h.join().expect("a side's thread does not panic"))
    })
}

fn run_side(project: &Project, index: usize, plan: &SidePlan, run_dir: &Path) -> SideRun {
    let side = ["prod", "candidate"][index];
    let started = Instant::now();
    let mut run = SideRun {
        side: side.to_string(),
        engine: plan.engine().to_string(),
        status: "ok".to_string(),
        message: String::new(),
        seconds: 0.0,
        log: None,
        log_tail: Vec::new(),
        outputs: BTreeMap::new(),
        git: None,
        models: BTreeMap::new(),
    };
    // Kept alive until the side is done; dropping it removes the worktree.
    let mut _worktree = None;
    let rebased;
    let plan = match &project.git[index] {
        None => plan,
        Some(rev) => match git::Worktree::checkout(&project.root, rev) {
            Ok(tree) => {
                run.git = Some(GitRevision {
                    rev: rev.clone(),
                    commit: tree.commit.clone(),
                });
                rebased = plan.rebased(&tree.top, &tree.path);
                _worktree = Some(tree);
                &rebased
            }
            Err(message) => {
                run.status = "failed".to_string();
                run.message = message;
                return run;
            }
        },
    };
    let outputs_dir: Result<PathBuf, String> = match plan {
        SidePlan::Files { outputs_dir } => Ok(outputs_dir.clone()),
        SidePlan::DataFusion { models } => {
            let out = run_dir.join(side);
            sql::run(models, &project.inputs, &out).map(|graph| {
                run.models = graph;
                out
            })
        }
        SidePlan::Command {
            run: script,
            workdir,
            timeout,
        } => {
            let out = run_dir.join(side);
            let log = run_dir.join(format!("{side}.log"));
            run.log = Some(log.display().to_string());
            let env = command::environment(project, side, &out);
            let result = command::run(script, workdir, *timeout, &env, &out, &log);
            if result.is_err() {
                run.log_tail = command::tail(&log, LOG_TAIL);
            }
            result.map(|()| out)
        }
    };
    match outputs_dir {
        Ok(dir) => {
            let mut missing = Vec::new();
            for name in project.outputs.keys() {
                match find_output(&dir, name) {
                    Some(path) => {
                        run.outputs.insert(name.clone(), path.display().to_string());
                    }
                    None => missing.push(format!("`{name}`")),
                }
            }
            if !missing.is_empty() {
                run.status = "failed".to_string();
                run.message = format!(
                    "wrote no output {} into `{}`",
                    missing.join(", "),
                    dir.display()
                );
                if let Some(log) = &run.log {
                    run.log_tail = command::tail(Path::new(log), LOG_TAIL);
                }
            }
        }
        Err(message) => {
            run.status = "failed".to_string();
            run.message = message;
        }
    }
    run.seconds = (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
    run
}
