//! The whole flow, one function per command: plan, read (or run the two
//! sides of a project), diff, judge, report.
//! `main` maps what these return to an exit code.

use std::time::Instant;

use datafusion::prelude::{SessionConfig, SessionContext};

use crate::cli::{CheckArgs, Cli, Command, DiffArgs, InitArgs, ProfileArgs, RunArgs};
use crate::diff::DiffOptions;
use crate::diff::diff_tables;
use crate::error::{Error, Result};
use crate::input::read_table;
use crate::input::{CsvOptions, Table, TableSource};
use crate::plan::{self, DiffPlan, JudgePlan};
use crate::profile::profile_table;
use crate::project::{self, Project};
use crate::report::{self, ProfileReport, Report, TableReport, Timings};
use crate::rules::{self, Judgement, RuleOutcome, Status, TableColumns, Verdict};
use crate::runner;

/// Runs the command and returns the process exit code of its verdict.
pub fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Diff(args) => diff(&args),
        Command::Profile(args) => profile(&args),
        Command::Check(args) => check(&args),
        Command::Run(args) => run_project(&args),
        Command::Init(args) => init(&args),
    }
}

/// `dualrun profile TABLE`: read one table and report its column statistics.
pub fn profile(args: &ProfileArgs) -> Result<u8> {
    let plan = plan::profile_plan(args)?;
    let started = Instant::now();
    let threads = plan.output.threads;
    let table = read_tables(threads, std::slice::from_ref(&plan.table))?.remove(0);
    let read_done = Instant::now();
    let profile = thread_pool(threads)?.install(|| profile_table(&table, &plan.columns))?;
    let mut report = ProfileReport::of(&plan.name, &table, profile);
    if plan.output.timings {
        report.timings = Some(timings(started, read_done));
    }
    report::emit(&report, &plan.output)?;
    Ok(0)
}

/// Reads tables concurrently with DataFusion on a runtime of `threads`.
fn read_tables(threads: usize, sources: &[TableSource]) -> Result<Vec<Table>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .map_err(|e| Error::compute("cannot start the reader runtime", e))?;
    let context =
        SessionContext::new_with_config(SessionConfig::new().with_target_partitions(threads));
    runtime.block_on(futures::future::try_join_all(
        sources.iter().map(|source| read_table(&context, source)),
    ))
}

fn thread_pool(threads: usize) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::compute("cannot start the thread pool", e))
}

fn timings(started: Instant, read_done: Instant) -> Timings {
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
    let started = Instant::now();
    let report = diff_report(&plan, started)?;
    report::emit(&report, &plan.output)?;
    Ok(report.exit_code())
}

/// Everything of `diff` but the output, for callers that want the report:
/// read, tie the rules to the tables (and let them set what the diff
/// computes), diff, judge.
pub fn diff_report(plan: &DiffPlan, started: Instant) -> Result<Report> {
    let threads = plan.output.threads;
    let mut tables = read_tables(threads, &[plan.left.clone(), plan.right.clone()])?;
    let (prod, candidate) = (tables.remove(0), tables.remove(0));
    let read_done = Instant::now();
    let columns = TableColumns::of_schemas(
        &plan.name,
        &prod.schema,
        &candidate.schema,
        &plan.options.renames,
    );
    rules::check_names(&plan.judge.rules, std::slice::from_ref(&columns))?;
    let needs = rules::diff_needs(&plan.judge.rules, &columns)?;
    let options = plan::with_rule_needs(&plan.options, needs)?;
    let diff = thread_pool(threads)?.install(|| diff_tables(&prod, &candidate, &options))?;
    let mut report = Report::of_diff(&plan.name, &prod, &candidate, diff);
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

/// `dualrun run [PROJECT]`: run both sides over the same inputs, diff every
/// declared output, judge, and keep everything in a new run directory.
pub fn run_project(args: &RunArgs) -> Result<u8> {
    let project = project::load(&args.project)?;
    let output = plan::output_plan(&args.output)?;
    let mut rule_files = project.rules.clone();
    rule_files.extend(args.judge.rules.iter().cloned());
    let judge_plan = plan::judge_plan(&crate::cli::JudgeArgs {
        rules: rule_files,
        strict: args.judge.strict || project.strict,
    })?;
    let mut project = project;
    let run_dir = new_run_dir(&project, args.run_dir.as_deref())?;
    if args.snapshot_inputs {
        project.inputs = crate::input::snapshot(&project.inputs, &run_dir.join("inputs"))?;
    }
    let fingerprints = input_fingerprints(&project)?;
    let started = Instant::now();
    let sides = runner::run_sides(&project, &run_dir);
    // An input that changed while the sides ran may have been read
    // differently by each: the comparison would prove nothing.
    let tampered: Vec<String> = input_fingerprints(&project)?
        .iter()
        .zip(&fingerprints)
        .filter(|(after, before)| after != before)
        .map(|(after, _)| after.input.clone())
        .collect();
    let read_done = Instant::now();

    let mut tables = Vec::new();
    if !sides.iter().any(|s| s.failed()) {
        let pool = thread_pool(output.threads)?;
        // One output at a time, so only one pair of tables is in memory.
        for name in project.outputs.keys() {
            let sources: Vec<TableSource> = sides
                .iter()
                .map(|side| TableSource {
                    spec: side.outputs[name].clone(),
                    format: None,
                    csv: CsvOptions::default(),
                })
                .collect();
            let mut read = read_tables(output.threads, &sources)?;
            let (prod, candidate) = (read.remove(0), read.remove(0));
            let spec = &project.outputs[name];
            let options = DiffOptions {
                key: spec.key.clone(),
                ignore: spec.ignore.clone(),
                column_tolerances: spec.tolerances.clone(),
                sample: if output.no_samples {
                    0
                } else {
                    args.output.sample
                },
                stats: !args.no_stats,
                ..Default::default()
            };
            let columns =
                TableColumns::of_schemas(name, &prod.schema, &candidate.schema, &options.renames);
            let needs = rules::diff_needs(&judge_plan.rules, &columns)?;
            let options = plan::with_rule_needs(&options, needs)?;
            let diff = pool.install(|| diff_tables(&prod, &candidate, &options))?;
            tables.push(TableReport::of(name, &prod, &candidate, diff));
        }
        let columns: Vec<TableColumns> = tables.iter().map(TableColumns::of_report).collect();
        rules::check_names(&judge_plan.rules, &columns)?;
    }
    let models = if sides.iter().all(|s| !s.models.is_empty() && !s.failed()) {
        Some(model_divergence(&sides, &run_dir, &tables, output.threads)?)
    } else {
        None
    };
    let mut report = Report::of_tables("run", tables);
    report.models = models;
    let mut judgement = if report.tables.is_empty() {
        Judgement {
            verdict: Verdict::Error,
            outcomes: Vec::new(),
        }
    } else {
        rules::judge(&report.tables, &judge_plan.rules, judge_plan.strict)
    };
    let run_error = |rule: String, message: String| RuleOutcome {
        rule,
        check: "run".to_string(),
        origin: project.file.display().to_string(),
        table: None,
        column: None,
        status: Status::Error,
        observed: serde_json::Value::Null,
        bound: serde_json::Value::Null,
        message,
    };
    for s in sides.iter().filter(|s| s.failed()) {
        judgement.outcomes.push(run_error(
            format!("{} side", s.side),
            format!("the {} side ({}) failed: {}", s.side, s.engine, s.message),
        ));
    }
    for input in &tampered {
        judgement.outcomes.push(run_error(
            format!("input {input}"),
            format!(
                "the input `{input}` changed while the sides ran, so they may not have read the same data"
            ),
        ));
    }
    // A failed side or a changed input leaves nothing trustworthy to
    // decide on, whatever the rules found.
    let run_failed = judgement
        .outcomes
        .iter()
        .any(|o| o.check == "run" && o.status == Status::Error);
    judgement.verdict = if run_failed {
        Verdict::Error
    } else {
        Verdict::of(&judgement.outcomes)
    };
    report.set_judgement(judgement, &judge_plan.rules.files, judge_plan.strict);
    report.inputs = fingerprints;
    report.sides = sides.to_vec();
    if output.timings {
        report.timings = Some(timings(started, read_done));
    }
    report::write_run_files(&report, &run_dir)?;
    report::emit(&report, &output)?;
    Ok(report.exit_code())
}

fn input_fingerprints(project: &Project) -> Result<Vec<crate::input::Fingerprint>> {
    project
        .inputs
        .iter()
        .map(|(name, path)| crate::input::fingerprint(name, path))
        .collect()
}

/// Diffs every model both SQL sides built (declared outputs reuse their
/// keyed diff; the others are compared as whole rows) and finds where the
/// outputs first diverge.
fn model_divergence(
    sides: &[runner::SideRun; 2],
    run_dir: &std::path::Path,
    tables: &[TableReport],
    threads: usize,
) -> Result<crate::divergence::Divergence> {
    let pool = thread_pool(threads)?;
    let mut differs = std::collections::BTreeMap::new();
    for name in sides[0]
        .models
        .keys()
        .filter(|m| sides[1].models.contains_key(*m))
    {
        if let Some(table) = tables.iter().find(|t| &t.name == name) {
            differs.insert(name.clone(), table.status == report::TableStatus::Different);
            continue;
        }
        let sources: Vec<TableSource> = ["prod", "candidate"]
            .iter()
            .map(|side| TableSource {
                spec: run_dir
                    .join(side)
                    .join(format!("{name}.parquet"))
                    .display()
                    .to_string(),
                format: None,
                csv: CsvOptions::default(),
            })
            .collect();
        let mut read = read_tables(threads, &sources)?;
        let (prod, candidate) = (read.remove(0), read.remove(0));
        let options = DiffOptions::default();
        let diff = pool.install(|| diff_tables(&prod, &candidate, &options))?;
        differs.insert(name.clone(), diff.differs());
    }
    Ok(crate::divergence::divergence(
        [&sides[0].models, &sides[1].models],
        &differs,
    ))
}

/// A new run directory: the one asked for, which must not exist yet, or
/// `.dualrun/runs/<UTC time>-<short id>` in the project.
fn new_run_dir(project: &Project, asked: Option<&std::path::Path>) -> Result<std::path::PathBuf> {
    let dir = match asked {
        Some(dir) => dir.to_path_buf(),
        None => project.root.join(".dualrun/runs").join(run_id()),
    };
    if dir.exists() {
        return Err(Error::usage(format!(
            "the run directory `{}` exists, and a run never writes over another",
            dir.display()
        ))
        .with_hint("leave `--run-dir` out for a new one, or name a new directory"));
    }
    std::fs::create_dir_all(&dir).map_err(|source| Error::Output {
        path: dir.clone(),
        source,
    })?;
    Ok(dir)
}

/// `20261122T041000Z-3fa2c1`: sortable by time, unique by a hash of the
/// clock and the process.
fn run_id() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let time =
        datafusion::arrow::temporal_conversions::timestamp_s_to_datetime(now.as_secs() as i64)
            .map(|t| t.format("%Y%m%dT%H%M%SZ").to_string())
            .unwrap_or_else(|| now.as_secs().to_string());
    let salt =
        xxhash_rust::xxh3::xxh3_64(format!("{}-{}", now.as_nanos(), std::process::id()).as_bytes());
    format!("{time}-{:06x}", salt & 0xff_ffff)
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
