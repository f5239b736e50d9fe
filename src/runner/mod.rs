//! Running the two sides of a project over the same inputs, each with its
//! own engine (`datafusion` and `polars` build SQL models, `command` runs a
//! program, `files` takes outputs already written), at the same time. A
//! side that fails is a finding for the report (with its log's last lines),
//! not an error that hides the rest.

mod command;
mod datafusion;
mod files;
mod git;
pub mod models;
#[cfg(feature = "polars")]
mod polars;
mod timeline;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

pub use self::datafusion::write_parquet;
use crate::clock::now_utc;
use crate::progress::{Line, Progress};
use crate::project::{Project, SidePlan, SqlEngine};
use crate::threads::Workers;
pub use files::find_output;
pub use timeline::ModelRun;
use timeline::{Timeline, seconds};

/// Lines of a failed side's log the report shows.
pub const LOG_TAIL: usize = 20;

/// How one side ran, as the report shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SideRun {
    /// `prod` or `candidate`.
    pub side: String,
    pub engine: String,
    /// The embedded engine's version (SQL sides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_version: Option<String>,
    /// `ok` or `failed`.
    pub status: String,
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

    /// SQL sides: each model and the tables it reads.
    pub fn model_graph(&self) -> BTreeMap<String, Vec<String>> {
        self.models
            .iter()
            .map(|(name, run)| (name.clone(), run.reads.clone()))
            .collect()
    }

    fn fail(&mut self, message: String) {
        self.status = "failed".to_string();
        self.message = message;
    }
}

/// Runs both sides at once; `run_dir` receives each side's outputs
/// (`prod/`, `candidate/`) and the logs of command sides.
/// SQL sides share the command's `workers`.
pub fn run_sides(
    project: &Project,
    run_dir: &Path,
    progress: &Progress,
    workers: &Workers,
) -> [SideRun; 2] {
    // Lines drawn in side order, whichever side starts first.
    let prod_line = side_line(progress, "prod", &project.prod);
    let candidate_line = side_line(progress, "candidate", &project.candidate);
    std::thread::scope(|scope| {
        let prod = scope.spawn(|| run_side(project, 0, &project.prod, run_dir, prod_line, workers));
        let candidate = scope.spawn(|| {
            run_side(
                project,
                1,
                &project.candidate,
                run_dir,
                candidate_line,
                workers,
            )
        });
        [prod, candidate].map(|h| h.join().expect("a side's thread does not panic"))
    })
}

/// The side's line of the progress display: models built, or the
/// command's elapsed time; a `files` side has nothing to show.
fn side_line(progress: &Progress, side: &str, plan: &SidePlan) -> Line {
    let label = format!("{side} ({})", plan.engine());
    match plan {
        SidePlan::Sql { .. } => progress.counter(&label, 0),
        SidePlan::Command { run, .. } => progress.spinner(&label, run),
        SidePlan::Files { .. } => Line::none(),
    }
}

fn run_side(
    project: &Project,
    index: usize,
    plan: &SidePlan,
    run_dir: &Path,
    line: Line,
    workers: &Workers,
) -> SideRun {
    let side = ["prod", "candidate"][index];
    let clock = Instant::now();
    let mut run = SideRun {
        side: side.to_string(),
        engine: plan.engine().to_string(),
        engine_version: None,
        status: "ok".to_string(),
        message: String::new(),
        started_at: now_utc(),
        ended_at: String::new(),
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
                run.fail(message);
                return finished(run, clock);
            }
        },
    };
    let out = run_dir.join(side);
    let outputs_dir: Result<PathBuf, String> = match plan {
        SidePlan::Files { outputs_dir } => Ok(outputs_dir.clone()),
        SidePlan::Sql { engine, models } => {
            run.engine_version = Some(engine_version(*engine).to_string());
            build_models(project, *engine, models, &out, run_dir, line, workers).map(|built| {
                run.models = built;
                out
            })
        }
        SidePlan::Command {
            run: script,
            workdir,
            timeout,
        } => {
            let log = run_dir.join(format!("{side}.log"));
            run.log = Some(log.display().to_string());
            let env = command::environment(project, side, &out);
            let result = command::run(script, workdir, *timeout, &env, &out, &log);
            line.finish(if result.is_ok() { "done" } else { "failed" });
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
            // A SQL side without a declared output no longer has that
            // model: a finding about the table, not a failure of the side.
            if !missing.is_empty() && !matches!(plan, SidePlan::Sql { .. }) {
                run.fail(format!(
                    "wrote no output {} into `{}`",
                    missing.join(", "),
                    dir.display()
                ));
                if let Some(log) = &run.log {
                    run.log_tail = command::tail(Path::new(log), LOG_TAIL);
                }
            }
        }
        Err(message) => run.fail(message),
    }
    finished(run, clock)
}

fn finished(mut run: SideRun, clock: Instant) -> SideRun {
    run.ended_at = now_utc();
    run.seconds = seconds(clock);
    run
}

fn engine_version(engine: SqlEngine) -> &'static str {
    match engine {
        SqlEngine::DataFusion => self::datafusion::VERSION,
        #[cfg(feature = "polars")]
        SqlEngine::Polars => self::polars::VERSION,
        #[cfg(not(feature = "polars"))]
        SqlEngine::Polars => "not built",
    }
}

/// Builds a SQL side's models into `out`; returns each model's run.
fn build_models(
    project: &Project,
    engine: SqlEngine,
    folders: &[PathBuf],
    out: &Path,
    run_dir: &Path,
    line: Line,
    workers: &Workers,
) -> Result<BTreeMap<String, ModelRun>, String> {
    let names: Vec<String> = project.inputs.keys().cloned().collect();
    let models = models::load(folders, &names)?;
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create `{}`: {e}", out.display()))?;
    let timeline = Timeline::new(line.clone(), models.models.len());
    let result = match engine {
        SqlEngine::DataFusion => {
            self::datafusion::build(&models, &project.inputs, out, &timeline, workers)
        }
        #[cfg(feature = "polars")]
        SqlEngine::Polars => {
            // Inputs Polars cannot scan where they are, converted once.
            let scratch = run_dir.join(format!(
                "{}-inputs",
                out.file_name()
                    .map_or_else(Default::default, |n| n.to_string_lossy())
            ));
            let built = self::polars::build(&models, &project.inputs, out, &scratch, &timeline);
            let _ = std::fs::remove_dir_all(&scratch);
            built
        }
        #[cfg(not(feature = "polars"))]
        SqlEngine::Polars => {
            let _ = run_dir;
            Err("this build of dualrun has no `polars` engine".to_string())
        }
    };
    line.finish(if result.is_ok() { "done" } else { "failed" });
    result.map(|()| timeline.into_runs())
}
