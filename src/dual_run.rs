//! `dualrun run`: both sides of a project over the same (fingerprinted)
//! inputs, then every declared output diffed and judged, the models of SQL
//! sides compared to find where outputs first diverge, and everything kept
//! in a new run directory: each side's outputs as Parquet, logs, reports
//! and the manifest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::app::{read_tables, timings};
use crate::backend::{self, Backend, ClusterUrl};
use crate::cli::RunArgs;
use crate::diff::{DiffOptions, diff_tables};
use crate::divergence::Divergence;
use crate::error::{Error, Result};
use crate::input::{Fingerprint, Table, TableSource, open_table};
use crate::plan;
use crate::progress::Progress;
use crate::project::{self, OutputPlan as OutputSpec, Project};
use crate::report::{self, Report, TableReport, TableStatus};
use crate::rules::{self, Judgement, RuleOutcome, Status, TableColumns, Verdict};
use crate::runner::{self, SideRun};
use crate::threads::rayon_pool;

const SIDES: [&str; 2] = ["prod", "candidate"];

/// `dualrun run [PROJECT]`: run both sides over the same inputs, diff every
/// declared output, judge, and keep everything in a new run directory.
pub fn run_project(args: &RunArgs) -> Result<u8> {
    let mut project = project::load(&args.project)?;
    let output = plan::output_plan(&args.output)?;
    let mut rule_files = project.rules.clone();
    rule_files.extend(args.judge.rules.iter().cloned());
    let judge_plan = plan::judge_plan(&crate::cli::JudgeArgs {
        rules: rule_files,
        strict: args.judge.strict || project.strict,
    })?;
    // A cluster that cannot be used fails the run before the sides run.
    let cluster = match &args.cluster {
        Some(url) => Some(ClusterUrl::parse(url, "`--cluster`")?),
        None => project.cluster.clone(),
    };
    let remote = cluster
        .as_ref()
        .map(|url| backend::choose(Some(url), output.threads))
        .transpose()?;
    crate::threads::bound_polars(output.threads);
    crate::interrupt::install();
    let run_dir = new_run_dir(&project, args.run_dir.as_deref())?;
    if args.snapshot_inputs {
        project.inputs = crate::input::snapshot(&project.inputs, &run_dir.join("inputs"))?;
    }
    let progress = Progress::on_stderr(output.quiet);
    let fingerprints = input_fingerprints(&project)?;
    let started = Instant::now();
    let sides = runner::run_sides(&project, &run_dir, &progress, output.threads);
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
    let mut unbuilt = Vec::new();
    if !sides.iter().any(SideRun::failed) {
        let line = progress.counter("diff", project.outputs.len() as u64);
        let pool = rayon_pool(output.threads)?;
        // One output at a time, so only one pair of tables is in memory.
        for (name, spec) in &project.outputs {
            line.working_on(name);
            let paths = sides.each_ref().map(|s| s.outputs.get(name));
            if paths.iter().all(Option::is_none) {
                unbuilt.push(name.clone());
                continue;
            }
            let read = read_outputs(&paths, output.threads)?;
            keep_in_run_dir(&run_dir, name, &paths, &read)?;
            let options = diff_options(
                spec,
                !args.no_stats,
                if output.no_samples {
                    0
                } else {
                    args.output.sample
                },
            );
            let table = match read {
                [Some(prod), Some(candidate)] => {
                    let columns = TableColumns::of_schemas(
                        name,
                        &prod.schema,
                        &candidate.schema,
                        &options.renames,
                    );
                    let needs = rules::diff_needs(&judge_plan.rules, &columns)?;
                    let options = plan::with_rule_needs(&options, needs)?;
                    let diff = match &remote {
                        Some(backend) => {
                            remote_diff(backend.as_ref(), &run_dir, name, &options, output.threads)?
                        }
                        None => pool.install(|| diff_tables(&prod, &candidate, &options))?,
                    };
                    TableReport::of(name, &prod, &candidate, diff)
                }
                [Some(prod), None] => {
                    let empty = Table::from_batches("", prod.schema.clone(), Vec::new());
                    let diff = pool.install(|| diff_tables(&prod, &empty, &options))?;
                    TableReport::one_sided(name, TableStatus::Removed, &prod, diff)
                }
                [None, Some(candidate)] => {
                    let empty = Table::from_batches("", candidate.schema.clone(), Vec::new());
                    let diff = pool.install(|| diff_tables(&empty, &candidate, &options))?;
                    TableReport::one_sided(name, TableStatus::Added, &candidate, diff)
                }
                [None, None] => unreachable!("outputs built by neither side were set aside"),
            };
            tables.push(table);
            line.step();
        }
        line.finish("done");
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
    judgement
        .outcomes
        .extend(run_errors(&project, &sides, &tampered, &unbuilt));
    // A failed side, a changed input or an output nobody built leaves
    // nothing trustworthy to decide on, whatever the rules found.
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
    if let Some(target) = &args.publish_to {
        publish_if_approved(&report, &run_dir, target)?;
    }
    Ok(report.exit_code())
}

/// `--publish-to`: an approved run goes live; any other stays where it is.
fn publish_if_approved(report: &Report, run_dir: &Path, target: &Path) -> Result<()> {
    if report.verdict != Verdict::Approved {
        eprintln!(
            "not published to {}: the verdict is {}",
            target.display(),
            crate::publish::verdict_word(report.verdict)
        );
        return Ok(());
    }
    let published = crate::publish::publish(&crate::publish::PublishRequest {
        run_dir: run_dir.to_path_buf(),
        target: target.to_path_buf(),
        ..Default::default()
    })?;
    eprintln!(
        "published {} to {} ({})",
        published.version,
        target.display(),
        published.outputs.join(", ")
    );
    Ok(())
}

fn diff_options(spec: &OutputSpec, stats: bool, sample: usize) -> DiffOptions {
    DiffOptions {
        key: spec.key.clone(),
        ignore: spec.ignore.clone(),
        column_tolerances: spec.tolerances.clone(),
        sample,
        stats,
        ..Default::default()
    }
}

/// Diffs both sides' copies of output `name` in the run directory on a
/// cluster: the copies are Parquet, and the cluster's executors read them
/// (the run directory must be on storage they share).
fn remote_diff(
    backend: &dyn Backend,
    run_dir: &Path,
    name: &str,
    options: &DiffOptions,
    threads: usize,
) -> Result<crate::diff::TableDiff> {
    let runtime = crate::threads::tokio_runtime(threads)
        .map_err(|e| Error::compute("cannot start the reader runtime", e))?;
    let context = crate::threads::session(threads);
    let copy = |side: &str| {
        TableSource::of_path(run_dir.join(side).join(format!("{name}.parquet")).display())
    };
    let (prod, candidate) = runtime.block_on(futures::future::try_join(
        open_table(&context, &copy("prod")),
        open_table(&context, &copy("candidate")),
    ))?;
    let (_, _, diff) = backend.diff(&runtime, prod, candidate, options)?;
    Ok(diff)
}

/// Each side's table of one output, where that side has it.
fn read_outputs(paths: &[Option<&String>; 2], threads: usize) -> Result<[Option<Table>; 2]> {
    let sources: Vec<TableSource> = paths.iter().flatten().map(TableSource::of_path).collect();
    let mut read = read_tables(threads, &sources)?.into_iter();
    Ok(paths.map(|p| p.and_then(|_| read.next())))
}

/// The run directory keeps every output as `SIDE/NAME.parquet`, whatever
/// the side wrote or pointed at: the audit copy that outlives the sources.
fn keep_in_run_dir(
    run_dir: &Path,
    name: &str,
    paths: &[Option<&String>; 2],
    tables: &[Option<Table>; 2],
) -> Result<()> {
    for ((side, path), table) in SIDES.iter().zip(paths).zip(tables) {
        let (Some(path), Some(table)) = (path, table) else {
            continue;
        };
        let copy = run_dir.join(side).join(format!("{name}.parquet"));
        if Path::new(path) == copy {
            continue;
        }
        let failed = |message: String| Error::Output {
            path: copy.clone(),
            source: std::io::Error::other(message),
        };
        std::fs::create_dir_all(run_dir.join(side)).map_err(|e| failed(e.to_string()))?;
        runner::write_parquet(&copy, &table.schema, &table.batches).map_err(failed)?;
    }
    Ok(())
}

/// The findings that make a run undecidable: a failed side, an input that
/// changed while the sides ran, a declared output neither side built.
fn run_errors(
    project: &Project,
    sides: &[SideRun; 2],
    tampered: &[String],
    unbuilt: &[String],
) -> Vec<RuleOutcome> {
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
    let mut errors = Vec::new();
    for s in sides.iter().filter(|s| s.failed()) {
        errors.push(run_error(
            format!("{} side", s.side),
            format!("the {} side ({}) failed: {}", s.side, s.engine, s.message),
        ));
    }
    for input in tampered {
        errors.push(run_error(
            format!("input {input}"),
            format!(
                "the input `{input}` changed while the sides ran, so they may not have read the same data"
            ),
        ));
    }
    for name in unbuilt {
        errors.push(run_error(
            format!("output {name}"),
            format!("neither side built the declared output `{name}`"),
        ));
    }
    errors
}

fn input_fingerprints(project: &Project) -> Result<Vec<Fingerprint>> {
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
    sides: &[SideRun; 2],
    run_dir: &Path,
    tables: &[TableReport],
    threads: usize,
) -> Result<Divergence> {
    let pool = rayon_pool(threads)?;
    let mut differs = BTreeMap::new();
    for name in sides[0]
        .models
        .keys()
        .filter(|m| sides[1].models.contains_key(*m))
    {
        if let Some(table) = tables.iter().find(|t| &t.name == name) {
            differs.insert(name.clone(), table.status == TableStatus::Different);
            continue;
        }
        let sources: Vec<TableSource> = SIDES
            .iter()
            .map(|side| {
                TableSource::of_path(run_dir.join(side).join(format!("{name}.parquet")).display())
            })
            .collect();
        let mut read = read_tables(threads, &sources)?;
        let (prod, candidate) = (read.remove(0), read.remove(0));
        let options = DiffOptions::default();
        let diff = pool.install(|| diff_tables(&prod, &candidate, &options))?;
        differs.insert(name.clone(), diff.differs());
    }
    Ok(crate::divergence::divergence(
        [&sides[0].model_graph(), &sides[1].model_graph()],
        &differs,
    ))
}

/// A new run directory: the one asked for, which must not exist yet, or
/// `.dualrun/runs/<UTC time>-<short id>` in the project.
fn new_run_dir(project: &Project, asked: Option<&Path>) -> Result<PathBuf> {
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
    let time = chrono::DateTime::from_timestamp(now.as_secs() as i64, 0)
        .map(|t| t.format("%Y%m%dT%H%M%SZ").to_string())
        .unwrap_or_else(|| now.as_secs().to_string());
    let salt =
        xxhash_rust::xxh3::xxh3_64(format!("{}-{}", now.as_nanos(), std::process::id()).as_bytes());
    format!("{time}-{:06x}", salt & 0xff_ffff)
}
