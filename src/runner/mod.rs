//! Running the two sides of a project over the same inputs, each with its
//! own engine (`datafusion` and `polars` build SQL models, `command` runs a
//! program, `files` takes outputs already written), at the same time. A
//! side that fails is a finding for the report (with its log's last lines),
//! not an error that hides the rest.

mod command;
mod datafusion;
mod dbt;
mod failure;
mod files;
mod git;
pub mod models;
#[cfg(feature = "polars")]
mod polars;
mod timeline;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::clock::now_utc;
use crate::progress::{Line, Progress};
use crate::project::{OutputsAt, Project, SidePlan, SqlEngine};
use crate::report::{GitRevision, ModelRun, SideRun};
use crate::run_dir::RunDir;
use crate::sides::{Side, Sides};
use crate::threads::Workers;
pub use failure::SideError;
pub use files::find_output;
use timeline::{Timeline, seconds};

/// Lines of a failed side's log the report shows.
pub const LOG_TAIL: usize = 20;

/// Runs both sides at once; `run_dir` receives each side's outputs
/// (`prod/`, `candidate/`) and the logs of command sides.
/// SQL sides share the command's `workers`.
pub fn run_sides(
    project: &Project,
    run_dir: &RunDir,
    progress: &Progress,
    workers: &Workers,
) -> Sides<SideRun> {
    // Lines drawn in side order, whichever side starts first.
    let lines = Sides::by(|side| side_line(progress, side, &project.sides[side]));
    std::thread::scope(|scope| {
        let running = lines.map_sides(|side, line| {
            scope.spawn(move || run_side(project, side, run_dir, line, workers))
        });
        running.map(|h| h.join().expect("a side's thread does not panic"))
    })
}

/// The side's line of the progress display: models built, or the
/// command's elapsed time; a `files` side has nothing to show.
fn side_line(progress: &Progress, side: Side, plan: &SidePlan) -> Line {
    let label = format!("{side} ({})", plan.engine());
    match plan {
        SidePlan::Sql { .. } => progress.counter(&label, 0),
        SidePlan::Command { run, .. } => progress.spinner(&label, run),
        SidePlan::Dbt(dbt) => progress.spinner(&label, &format!("dbt {}", dbt.commands.join(", "))),
        SidePlan::Files { .. } => Line::none(),
    }
}

fn run_side(
    project: &Project,
    side: Side,
    run_dir: &RunDir,
    line: Line,
    workers: &Workers,
) -> SideRun {
    let clock = Instant::now();
    let plan = &project.sides[side];
    let mut run = SideRun::starting(side, plan.engine(), now_utc());
    // Kept alive until the side is done; dropping it removes the worktree.
    let mut _worktree = None;
    let rebased;
    let plan = match &project.git[side] {
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
            Err(error) => {
                run.fail(error.to_string());
                return finished(run, clock);
            }
        },
    };
    if let SidePlan::Dbt(dbt) = plan {
        let built = self::dbt::build(dbt, side, run_dir, &mut run);
        line.finish(if built.is_ok() { "done" } else { "failed" });
        match built {
            Ok(built) => run.dbt = Some(built),
            Err(failure) => {
                run.fail(failure.error.to_string());
                run.dbt = failure.built;
            }
        }
        return finished(run, clock);
    }
    match produce(project, side, plan, run_dir, line, workers, &mut run) {
        Ok(dir) => collect_outputs(project, plan, &dir, &mut run),
        Err(error) => run.fail(error.to_string()),
    }
    finished(run, clock)
}

/// Runs the side's engine; returns the folder its outputs are in.
fn produce(
    project: &Project,
    side: Side,
    plan: &SidePlan,
    run_dir: &RunDir,
    line: Line,
    workers: &Workers,
    run: &mut SideRun,
) -> Result<PathBuf, SideError> {
    let out = run_dir.side_dir(side);
    match plan {
        SidePlan::Files {
            outputs: OutputsAt::Dir(dir),
        } => Ok(dir.clone()),
        // Tables elsewhere: nothing to run, no folder.
        SidePlan::Files {
            outputs: OutputsAt::Tables(_),
        } => Ok(out),
        SidePlan::Sql { engine, models } => {
            run.engine_version = Some(engine_version(*engine).to_string());
            let scratch = run_dir.scratch(side);
            run.models = build_models(project, *engine, models, &out, &scratch, line, workers)?;
            Ok(out)
        }
        SidePlan::Dbt(_) => unreachable!("dbt sides are built by `dbt::build`"),
        SidePlan::Command {
            run: script,
            workdir,
            timeout,
            ..
        } => {
            let log = run_dir.log(side);
            run.log = Some(log.display().to_string());
            let env = command::environment(project, side, &out);
            let result = command::run(script, workdir, *timeout, &env, &out, &log);
            line.finish(if result.is_ok() { "done" } else { "failed" });
            if result.is_err() {
                run.log_tail = command::tail(&log, LOG_TAIL);
            }
            result.map(|()| out)
        }
    }
}

/// Finds each declared output in `dir`. A side other than a SQL side that
/// did not write one failed; a SQL side without one no longer has that
/// model: a finding about the table, not a failure of the side.
fn collect_outputs(project: &Project, plan: &SidePlan, dir: &Path, run: &mut SideRun) {
    if let Some(tables) = plan.output_tables() {
        // Each is read when it is diffed; one that is not there is an
        // error naming the table then.
        for name in project.outputs.keys() {
            match tables.source(name) {
                Ok(source) => {
                    run.outputs.insert(name.clone(), source.spec);
                }
                Err(e) => run.fail(e.to_string()),
            }
        }
        return;
    }
    let mut missing = Vec::new();
    for name in project.outputs.keys() {
        match find_output(dir, name) {
            Some(path) => {
                run.outputs.insert(name.clone(), path.display().to_string());
            }
            None => missing.push(name.clone()),
        }
    }
    if !missing.is_empty() && !matches!(plan, SidePlan::Sql { .. }) {
        let error = SideError::MissingOutputs {
            names: missing,
            dir: dir.to_path_buf(),
        };
        run.fail(error.to_string());
        if let Some(log) = &run.log {
            run.log_tail = command::tail(Path::new(log), LOG_TAIL);
        }
    }
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
    scratch: &Path,
    line: Line,
    workers: &Workers,
) -> Result<BTreeMap<String, ModelRun>, SideError> {
    let names: Vec<String> = project.inputs.keys().cloned().collect();
    let models = models::load(folders, &names)?;
    std::fs::create_dir_all(out).map_err(SideError::io(format!("create `{}`", out.display())))?;
    let timeline = Timeline::new(line.clone(), models.models.len());
    let result = match engine {
        SqlEngine::DataFusion => {
            self::datafusion::build(&models, &project.inputs, out, &timeline, workers)
        }
        #[cfg(feature = "polars")]
        SqlEngine::Polars => {
            // Inputs Polars cannot scan where they are, converted once.
            let built =
                self::polars::build(&models, &project.inputs, out, scratch, &timeline, workers);
            let _ = std::fs::remove_dir_all(scratch);
            built
        }
        #[cfg(not(feature = "polars"))]
        SqlEngine::Polars => {
            let _ = scratch;
            Err(SideError::NotBuilt { engine: "polars" })
        }
    };
    line.finish(if result.is_ok() { "done" } else { "failed" });
    result.map(|()| timeline.into_runs())
}
