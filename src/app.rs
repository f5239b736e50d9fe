//! The whole flow, one function per command: plan, read (or run the two
//! sides of a project), diff, judge, report.
//! `main` maps what these return to an exit code.

use std::time::Instant;

use crate::backend;
use crate::cli::{
    CheckArgs, Cli, ClusterCommand, Command, DiffArgs, InitArgs, ProfileArgs, PublishArgs,
    RollbackArgs, VersionsArgs,
};
use crate::error::{Error, Result};
use crate::input::{Table, TableSource};
use crate::input::{open_table, read_table};
use crate::plan::{self, DiffPlan, JudgePlan};
use crate::profile::profile_table;
use crate::project;
use crate::report::{self, ProfileReport, Report, Timings};
use crate::rules::{self, TableColumns};
use crate::threads::Workers;

/// Runs the command and returns the process exit code of its verdict.
pub fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Diff(args) => diff(&args),
        Command::Profile(args) => profile(&args),
        Command::Check(args) => check(&args),
        Command::Run(args) => crate::dual_run::run_project(&args),
        Command::Init(args) => init(&args),
        Command::Publish(args) => publish(&args),
        Command::Rollback(args) => rollback(&args),
        Command::Versions(args) => versions(&args),
        Command::Cluster(command) => cluster(&command),
        Command::Bench(command) => crate::bench::run(&command),
    }
}

/// `dualrun cluster scheduler|executor`: serve until stopped.
#[cfg(feature = "cluster")]
fn cluster(command: &ClusterCommand) -> Result<u8> {
    use crate::cluster::serve;
    match command {
        ClusterCommand::Scheduler(args) => serve::scheduler(args),
        ClusterCommand::Executor(args) => serve::executor(args),
    }
}

#[cfg(not(feature = "cluster"))]
fn cluster(command: &ClusterCommand) -> Result<u8> {
    let what = match command {
        ClusterCommand::Scheduler(_) => "`dualrun cluster scheduler`",
        ClusterCommand::Executor(_) => "`dualrun cluster executor`",
    };
    Err(backend::without_cluster_feature(what))
}

/// `dualrun profile TABLE`: read one table and report its column statistics.
pub fn profile(args: &ProfileArgs) -> Result<u8> {
    let plan = plan::profile_plan(args)?;
    let started = Instant::now();
    let workers = Workers::new(plan.output.threads)?;
    let table = read_tables(&workers, std::slice::from_ref(&plan.table))?.remove(0);
    let read_done = Instant::now();
    let profile = workers.install(|| profile_table(&table, &plan.columns))?;
    let mut report = ProfileReport::of(&plan.name, &table, profile);
    if plan.output.timings {
        report.timings = Some(timings(started, read_done));
    }
    report::emit(&report, &plan.output)?;
    Ok(0)
}

/// Reads tables concurrently with DataFusion on the workers' runtime.
pub(crate) fn read_tables(workers: &Workers, sources: &[TableSource]) -> Result<Vec<Table>> {
    let context = workers.session();
    workers.block_on(futures::future::try_join_all(
        sources.iter().map(|source| read_table(&context, source)),
    ))
}

pub(crate) fn timings(started: Instant, read_done: Instant) -> Timings {
    let millis = |d: std::time::Duration| d.as_millis() as u64;
    Timings {
        read_ms: millis(read_done - started),
        diff_ms: millis(read_done.elapsed()),
        total_ms: millis(started.elapsed()),
    }
}

/// `dualrun diff LEFT RIGHT`: read both tables, diff them, report.
pub fn diff(args: &DiffArgs) -> Result<u8> {
    let plan = plan::diff_plan(args)?;
    crate::interrupt::install();
    let started = Instant::now();
    let report = diff_report(&plan, started)?;
    report::emit(&report, &plan.output)?;
    Ok(report.exit_code())
}

/// Everything of `diff` but the output, for callers that want the report:
/// read, tie the rules to the tables (and let them set what the diff
/// computes), diff, judge.
pub fn diff_report(plan: &DiffPlan, started: Instant) -> Result<Report> {
    let workers = Workers::new(plan.output.threads)?;
    let context = workers.streaming_session();
    let (prod, candidate) = workers.block_on(futures::future::try_join(
        open_table(&context, &plan.left),
        open_table(&context, &plan.right),
    ))?;
    // Reading goes on during the diff (it streams): `read` is the opening
    // of the files (footers, schemas).
    let read_done = Instant::now();
    let columns = TableColumns::of_schemas(
        &plan.name,
        &prod.table.schema,
        &candidate.table.schema,
        &plan.options.renames,
    );
    rules::check_names(&plan.judge.rules, std::slice::from_ref(&columns))?;
    let needs = rules::diff_needs(&plan.judge.rules, &columns)?;
    let options = plan::with_rule_needs(&plan.options, needs)?;
    let backend = backend::choose(plan.cluster.as_ref())?;
    let diffed = backend.diff(&workers, prod, candidate, &options)?;
    let mut report = Report::of_diff(&plan.name, &diffed.prod, &diffed.candidate, diffed.diff);
    judge(&mut report, &plan.judge);
    if plan.output.timings {
        report.timings = Some(timings(started, read_done));
    }
    Ok(report)
}

fn judge(report: &mut Report, plan: &JudgePlan) {
    let judgement = rules::judge(&report.tables, &plan.rules, plan.strict);
    report.set_judgement(judgement, &plan.rules.files, plan.strict);
}

/// `dualrun check REPORT.json`: judge a saved report again under the given
/// rules; the data is not read.
pub fn check(args: &CheckArgs) -> Result<u8> {
    let plan = plan::check_plan(args)?;
    let mut report = report::json::read(&plan.report)?;
    let tables: Vec<TableColumns> = report.tables.iter().map(TableColumns::of_report).collect();
    rules::check_names(&plan.judge.rules, &tables)?;
    report.command = "check".to_string();
    if plan.output.no_samples {
        for table in &mut report.tables {
            table.diff.samples = Default::default();
        }
    }
    judge(&mut report, &plan.judge);
    report::emit(&report, &plan.output)?;
    Ok(report.exit_code())
}

/// `dualrun init [DIR]`: a commented starter project and rules file; never
/// writes over a file that exists.
pub fn init(args: &InitArgs) -> Result<u8> {
    std::fs::create_dir_all(&args.dir).map_err(|source| Error::Output {
        path: args.dir.clone(),
        source,
    })?;
    let files = [
        (args.dir.join(project::FILE_NAME), project::STARTER),
        (args.dir.join("rules.toml"), project::STARTER_RULES),
    ];
    for (path, _) in &files {
        if path.exists() {
            return Err(Error::usage(format!(
                "`{}` exists, and `init` never writes over a file",
                path.display()
            ))
            .with_hint("edit it, or run `dualrun init` in another directory"));
        }
    }
    for (path, text) in files {
        std::fs::write(&path, text).map_err(|source| Error::Output { path, source })?;
    }
    Ok(0)
}

/// `dualrun publish RUN_DIR --to TARGET`: the run's candidate outputs become
/// the target's live version.
pub fn publish(args: &PublishArgs) -> Result<u8> {
    let only = args
        .only
        .as_deref()
        .map(|text| {
            glob::Pattern::new(text).map_err(|e| {
                Error::usage(format!("`--only {text}` is not a glob: {e}"))
                    .with_hint("write a pattern like `mart_*`")
            })
        })
        .transpose()?;
    let request = crate::publish::PublishRequest {
        run_dir: args.run_dir.clone(),
        target: args.to.clone(),
        forced_reason: args.reason.clone(),
        only,
        keep: args.keep,
        built_schema: None,
    };
    let published = crate::publish::publish(&request)?;
    let shown = crate::input::mask(&args.to);
    report::publish::write_published(&mut std::io::stdout(), &published, &shown)
        .map_err(stdout_error)?;
    Ok(0)
}

/// `dualrun rollback TARGET [--to RUN_ID]`.
pub fn rollback(args: &RollbackArgs) -> Result<u8> {
    let target = crate::publish::target(&args.target)?;
    let (from, to) = target.rollback(args.to.as_deref())?;
    report::publish::write_rolled_back(&mut std::io::stdout(), &from, &to).map_err(stdout_error)?;
    Ok(0)
}

/// `dualrun versions TARGET`: every version, oldest first, the live one
/// marked.
pub fn versions(args: &VersionsArgs) -> Result<u8> {
    let target = crate::publish::target(&args.target)?;
    let (versions, current) = target.versions()?;
    report::publish::write_versions(
        &mut std::io::stdout(),
        &versions,
        current.as_deref(),
        args.json,
    )
    .map_err(stdout_error)?;
    Ok(0)
}

/// Standard output could not be written (a closed pipe, a full disk).
fn stdout_error(source: std::io::Error) -> Error {
    Error::Output {
        path: "standard output".into(),
        source,
    }
}
