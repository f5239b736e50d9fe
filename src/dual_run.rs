//! `dualrun run`: both sides of a project over the same (fingerprinted)
//! inputs, then every declared output diffed and judged, the models of SQL
//! sides compared to find where outputs first diverge, and everything kept
//! in a new run directory (`run_dir`).
//!
//! The flow, one function a step: run the sides → compare the outputs →
//! compare the models → judge → keep the run (and publish). Outputs are
//! diffed as `dualrun diff` diffs files: streamed from the run directory's
//! Parquet copies, through the plan's backend.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use crate::app::timings;
use crate::backend::{self, Backend, Diffed, Embedded};
use crate::cli::RunArgs;
use crate::diff::DiffOptions;
use crate::divergence::Divergence;
use crate::error::Result;
use crate::input::{
    FileFormat, Fingerprint, OpenTable, Table, TableFormat, TableSource, copy_to_parquet,
    locate_files, open_table,
};
use crate::plan::{self, RunPlan};
use crate::progress::Progress;
use crate::project::{DeclaredOutput, Project};
use crate::report::SideRun;
use crate::report::{self, Report, TableReport, TableStatus};
use crate::rules::{self, RunProblems, TableColumns, Verdict};
use crate::run_dir::{FileDigest, RunDir, copy_verbatim};
use crate::runner;
use crate::sides::{Side, Sides};
use crate::threads::Workers;

/// `dualrun run [PROJECT]`: run both sides over the same inputs, diff every
/// declared output, judge, and keep everything in a new run directory.
pub fn run_project(args: &RunArgs) -> Result<u8> {
    let mut plan = plan::run_plan(args)?;
    let workers = Workers::new(plan.output.threads)?;
    crate::interrupt::install();
    let run_dir = RunDir::create(&plan.run_dir)?;
    if plan.snapshot_inputs {
        plan.project.inputs =
            crate::input::snapshot(&plan.project.inputs, &run_dir.inputs_dir(), &workers)?;
    }
    let progress = Progress::on_stderr(plan.output.quiet);
    let started = Instant::now();
    let mut ran = run_sides(&plan, &workers, &run_dir, &progress)?;
    let read_done = Instant::now();
    let comparing = if ran.sides.values().any(SideRun::failed) {
        Ok(Compared::default())
    } else {
        compare_outputs(&plan, &workers, &run_dir, &ran.sides, &progress)
    };
    let compared_all = comparing.and_then(|compared| {
        compare_models(&workers, &run_dir, &ran.sides, &compared.tables).map(|m| (compared, m))
    });
    let (mut compared, models) = match compared_all {
        Ok(done) => done,
        Err(error) => {
            // The run stops here; what dbt sides built does not stay.
            if !plan.keep_sides {
                let sides: Vec<SideRun> = ran.sides.into_vec();
                let _ = remove_dbt_builds(&sides, &workers);
            }
            return Err(error);
        }
    };
    if plan.keep_sides {
        say_where_dbt_builds_stay(&mut ran.sides);
    }
    let digests = std::mem::take(&mut compared.candidate_digests);
    let mut report = judge(&plan, ran, compared, models);
    if plan.output.timings {
        report.timings = Some(timings(started, read_done));
    }
    report::write_run_files(&report, &run_dir, &digests)?;
    report::emit(&report, &plan.output)?;
    // Publishing comes before what dbt sides built is removed: a dbt
    // candidate's schema may be what goes live.
    let published = match &plan.publish_to {
        Some(target) => publish_if_approved(&report, &run_dir, target),
        None => Ok(()),
    };
    if !plan.keep_sides {
        remove_dbt_builds(&report.sides, &workers)?;
    }
    published?;
    Ok(report.exit_code())
}

/// Both sides' runs, and the inputs as they were before and after.
struct SidesRan {
    sides: Sides<SideRun>,
    fingerprints: Vec<Fingerprint>,
    /// Inputs whose fingerprint changed while the sides ran.
    changed_inputs: Vec<String>,
}

fn run_sides(
    plan: &RunPlan,
    workers: &Workers,
    run_dir: &RunDir,
    progress: &Progress,
) -> Result<SidesRan> {
    let fingerprints = input_fingerprints(&plan.project, workers)?;
    let sides = runner::run_sides(&plan.project, run_dir, progress, workers);
    // An input that changed while the sides ran may have been read
    // differently by each: the comparison would prove nothing.
    let changed_inputs = input_fingerprints(&plan.project, workers)?
        .iter()
        .zip(&fingerprints)
        .filter(|(after, before)| after != before)
        .map(|(after, _)| after.input.clone())
        .collect();
    Ok(SidesRan {
        sides,
        fingerprints,
        changed_inputs,
    })
}

/// The declared outputs, diffed; those neither side built.
#[derive(Default)]
struct Compared {
    tables: Vec<TableReport>,
    unbuilt: Vec<String>,
    /// The candidate's audit copies digested as they were made.
    candidate_digests: BTreeMap<String, FileDigest>,
    /// The candidate's dbt tests that did not pass, of no table diffed.
    other_dbt_tests: Vec<crate::report::DbtTestRun>,
}

/// Diffs every declared output, one at a time, each streamed from its
/// copies in the run directory.
fn compare_outputs(
    plan: &RunPlan,
    workers: &Workers,
    run_dir: &RunDir,
    sides: &Sides<SideRun>,
    progress: &Progress,
) -> Result<Compared> {
    let backend = backend::choose(plan.cluster.as_ref())?;
    let outputs = crate::dbt::outputs::to_compare(&plan.project.outputs, sides.as_ref());
    let mut tests = crate::dbt::outputs::unpassed_tests(sides.as_ref());
    let line = progress.counter("diff", outputs.len() as u64);
    let mut compared = Compared::default();
    for (name, output) in &outputs {
        line.working_on(name);
        let written = sides.as_ref().try_map_sides(|side, run| {
            run.outputs
                .contains_key(name)
                .then(|| output_source(plan, side, run, name))
                .transpose()
        })?;
        if written.values().all(Option::is_none) {
            compared.unbuilt.push(name.clone());
            continue;
        }
        let (mut table, digest) = compare_output(
            plan,
            workers,
            backend.as_ref(),
            run_dir,
            name,
            &output.declared,
            written.as_ref().map(Option::as_ref),
        )?;
        table.key_from = output.key_from.clone();
        table.dbt_node = output.dbt_node.clone();
        table.dbt_tests = tests.remove(&Some(name.clone())).unwrap_or_default();
        compared.tables.push(table);
        if let Some(digest) = digest {
            compared.candidate_digests.insert(name.clone(), digest);
        }
        line.step();
    }
    // Tests of no table diffed (of a source, or of several models) still
    // count, as the run's own outcomes.
    compared.other_dbt_tests = tests.into_values().flatten().collect();
    line.finish("done");
    let columns: Vec<TableColumns> = compared
        .tables
        .iter()
        .map(TableColumns::of_report)
        .collect();
    rules::check_names(&plan.judge.rules, &columns)?;
    Ok(compared)
}

/// Where `side` wrote output `name`: the relation a dbt side built, the
/// table its `outputs_at` names (the template again, not the shown
/// reference: that one has its password masked), or the file it wrote.
fn output_source(plan: &RunPlan, side: Side, run: &SideRun, name: &str) -> Result<TableSource> {
    if let Some(source) = run.dbt.as_ref().and_then(|built| built.source(name)) {
        return source;
    }
    match plan.project.sides[side].output_tables() {
        Some(tables) => tables.source(name),
        None => Ok(TableSource::of_path(&run.outputs[name])),
    }
}

/// One declared output: its audit copies kept, then diffed (on `backend`
/// when both sides built it, here when only one did); the digest of the
/// candidate's copy when it was made by copying.
fn compare_output(
    plan: &RunPlan,
    workers: &Workers,
    backend: &dyn Backend,
    run_dir: &RunDir,
    name: &str,
    declared: &DeclaredOutput,
    written: Sides<Option<&TableSource>>,
) -> Result<(TableReport, Option<FileDigest>)> {
    let context = workers.streaming_session();
    // Both sides' copies at once: copying is IO, and the two do not share
    // a disk queue with anything else of the run's until the diff starts.
    let kept = std::thread::scope(|scope| {
        written
            .map_sides(|side, source| {
                scope.spawn(move || {
                    source
                        .map(|source| keep_audit_copy(workers, run_dir, side, name, source))
                        .transpose()
                })
            })
            .map(|copying| copying.join().expect("an audit copy does not panic"))
    })
    .try_map_sides(|_, kept| kept)?;
    let opened = kept.as_ref().try_map_sides(|_, kept| {
        kept.as_ref()
            .map(|copy| {
                let source = TableSource::of_path(copy.path.display());
                workers.block_on(open_table(&context, &source))
            })
            .transpose()
    })?;
    let Sides { prod, candidate } = opened;
    let options = DiffOptions {
        key: declared.key.clone(),
        ignore: declared.ignore.clone(),
        column_tolerances: declared.tolerances.clone(),
        sample: plan.sample,
        stats: plan.stats,
        ..Default::default()
    };
    let (status, prod, candidate, backend) = match (prod, candidate) {
        (Some(prod), Some(candidate)) => (TableStatus::Different, prod, candidate, backend),
        (Some(prod), None) => {
            let empty = OpenTable::empty(&context, prod.table.schema.clone())?;
            (TableStatus::Removed, prod, empty, &Embedded as &dyn Backend)
        }
        (None, Some(candidate)) => {
            let empty = OpenTable::empty(&context, candidate.table.schema.clone())?;
            (
                TableStatus::Added,
                empty,
                candidate,
                &Embedded as &dyn Backend,
            )
        }
        (None, None) => unreachable!("outputs built by neither side were set aside"),
    };
    let columns = TableColumns::of_schemas(
        name,
        &prod.table.schema,
        &candidate.table.schema,
        &options.renames,
    );
    let needs = rules::diff_needs(&plan.judge.rules, &columns)?;
    let options = plan::with_rule_needs(&options, needs)?;
    let Diffed {
        prod,
        candidate,
        diff,
    } = backend.diff(workers, prod, candidate, &options)?;
    // The report names what each side wrote, not the audit copy.
    let (prod, candidate) = (
        as_written(prod, kept.prod.as_ref()),
        as_written(candidate, kept.candidate.as_ref()),
    );
    let table = match status {
        TableStatus::Removed => TableReport::one_sided(name, status, &prod, diff),
        TableStatus::Added => TableReport::one_sided(name, status, &candidate, diff),
        _ => TableReport::of(name, &prod, &candidate, diff),
    };
    let candidate_digest = kept.candidate.and_then(|k| k.digest);
    Ok((table, candidate_digest))
}

/// One side's output, kept in the run directory.
struct Kept {
    /// The audit copy.
    path: std::path::PathBuf,
    /// Its digest, when copying made one.
    digest: Option<FileDigest>,
    /// What the side wrote: its path, files and format.
    written: (String, Vec<std::path::PathBuf>, TableFormat),
}

/// `table` (read from an audit copy) described as the side wrote it: its
/// path, format and files.
fn as_written(mut table: Table, kept: Option<&Kept>) -> Table {
    if let Some(Kept {
        written: (source, files, format),
        ..
    }) = kept
    {
        table.source = source.clone();
        table.format = *format;
        table.files = files.clone();
    }
    table
}

/// The run directory keeps every output as `SIDE/NAME.parquet`, whatever
/// the side wrote or pointed at: the audit copy that outlives the sources.
/// A Parquet file is copied byte for byte; anything else (other formats,
/// tables in databases or object stores) is converted once, streaming. SQL
/// sides write their copies themselves.
fn keep_audit_copy(
    workers: &Workers,
    run_dir: &RunDir,
    side: Side,
    name: &str,
    source: &TableSource,
) -> Result<Kept> {
    let Some(path) = source.reference.local_path().map(Path::new) else {
        return copy_table(workers, run_dir, side, name, source);
    };
    let (files, format) = locate_files(source)?;
    let mut kept = Kept {
        path: run_dir.output(side, name),
        digest: None,
        written: (source.spec.clone(), files, TableFormat::File(format)),
    };
    if path == kept.path {
        return Ok(kept);
    }
    create_side_dir(run_dir, side)?;
    let (_, files, format) = &kept.written;
    if *format == TableFormat::File(FileFormat::Parquet) && files.len() == 1 && files[0] == path {
        kept.digest = Some(copy_verbatim(path, &kept.path)?);
        return Ok(kept);
    }
    copy_to_parquet(workers, source, &kept.path)?;
    Ok(kept)
}

fn create_side_dir(run_dir: &RunDir, side: Side) -> Result<()> {
    std::fs::create_dir_all(run_dir.side_dir(side)).map_err(|source| crate::Error::Output {
        path: run_dir.side_dir(side),
        source,
    })
}

/// A table that is not local files, read once into its audit copy.
fn copy_table(
    workers: &Workers,
    run_dir: &RunDir,
    side: Side,
    name: &str,
    source: &TableSource,
) -> Result<Kept> {
    let path = run_dir.output(side, name);
    create_side_dir(run_dir, side)?;
    let table = copy_to_parquet(workers, source, &path)?;
    let written = (source.spec.clone(), table.files, table.format);
    Ok(Kept {
        path,
        digest: None,
        written,
    })
}

/// Diffs every model both SQL sides built (declared outputs reuse their
/// keyed diff; the others are compared as whole rows) and finds where the
/// outputs first diverge. `None` unless both sides are SQL sides that ran.
fn compare_models(
    workers: &Workers,
    run_dir: &RunDir,
    sides: &Sides<SideRun>,
    tables: &[TableReport],
) -> Result<Option<Divergence>> {
    if !sides.values().all(|s| !s.models.is_empty() && !s.failed()) {
        return Ok(None);
    }
    let context = workers.streaming_session();
    let mut differs = BTreeMap::new();
    for name in sides
        .prod
        .models
        .keys()
        .filter(|m| sides.candidate.models.contains_key(*m))
    {
        if let Some(table) = tables.iter().find(|t| &t.name == name) {
            differs.insert(name.clone(), table.status == TableStatus::Different);
            continue;
        }
        let open = |side: Side| {
            let copy = TableSource::of_path(run_dir.output(side, name).display());
            workers.block_on(open_table(&context, &copy))
        };
        let diffed = Embedded.diff(
            workers,
            open(Side::Prod)?,
            open(Side::Candidate)?,
            &DiffOptions::default(),
        )?;
        differs.insert(name.clone(), diffed.diff.differs());
    }
    Ok(Some(crate::divergence::divergence(
        sides.as_ref().map(SideRun::model_graph).as_ref(),
        &differs,
    )))
}

/// `--keep-sides`: the report says where what each dbt side built stays.
fn say_where_dbt_builds_stay(sides: &mut Sides<SideRun>) {
    for side in [Side::Prod, Side::Candidate] {
        let run = &mut sides[side];
        run.kept = run.dbt.as_ref().map(|built| built.location.describe());
    }
}

/// Removes what each dbt side built (its DuckDB file, its schemas) once
/// everything is in the run directory; one that cannot be removed is said.
fn remove_dbt_builds(sides: &[SideRun], workers: &Workers) -> Result<()> {
    for run in sides {
        let Some(built) = &run.dbt else {
            continue;
        };
        if let Err(error) = workers.block_on(built.remove()) {
            report::publish::write_left_behind(
                &mut std::io::stderr(),
                run.side,
                &built.location.describe(),
                &error.to_string(),
            )
            .map_err(|source| crate::Error::Output {
                path: "standard error".into(),
                source,
            })?;
        }
    }
    Ok(())
}

/// The report of the run, judged: the rules on its tables, and the run's
/// own problems (a failed side, a changed input, an unbuilt output).
fn judge(plan: &RunPlan, ran: SidesRan, compared: Compared, models: Option<Divergence>) -> Report {
    let problems = RunProblems {
        origin: plan.project.file.display().to_string(),
        failed_sides: ran
            .sides
            .values()
            .filter(|s| s.failed())
            .map(|s| (s.side, s.engine.clone(), s.message.clone()))
            .collect(),
        changed_inputs: ran.changed_inputs,
        unbuilt: compared.unbuilt,
        dbt_tests: compared.other_dbt_tests,
    };
    let judgement = rules::judge_run(
        &compared.tables,
        &plan.judge.rules,
        plan.judge.strict,
        &problems,
    );
    let mut report = Report::of_tables("run", compared.tables);
    report.models = models;
    report.set_judgement(judgement, &plan.judge.rules.files, plan.judge.strict);
    report.inputs = ran.fingerprints;
    report.sides = ran.sides.into_vec();
    report
}

/// `--publish-to`: an approved run goes live; any other stays where it is.
fn publish_if_approved(report: &Report, run_dir: &RunDir, target: &str) -> Result<()> {
    let mut said = std::io::stderr();
    let said_error = |source| crate::Error::Output {
        path: "standard error".into(),
        source,
    };
    let shown = crate::input::mask(target);
    if report.verdict != Verdict::Approved {
        return report::publish::write_not_published(&mut said, report.verdict, &shown)
            .map_err(said_error);
    }
    let built_schema = report
        .sides
        .iter()
        .find(|s| s.side == Side::Candidate)
        .and_then(|s| s.dbt.as_ref())
        .and_then(|built| built.schema_of_its_own());
    let published = crate::publish::publish(&crate::publish::PublishRequest {
        run_dir: run_dir.root().to_path_buf(),
        target: target.to_string(),
        built_schema,
        ..Default::default()
    })?;
    report::publish::write_published(&mut said, &published, &shown).map_err(said_error)
}

fn input_fingerprints(project: &Project, workers: &Workers) -> Result<Vec<Fingerprint>> {
    project
        .inputs
        .iter()
        .map(|(name, source)| crate::input::fingerprint(name, source, workers))
        .collect()
}
