//! The whole flow, one function per command: plan, read, diff, report.
//! `main` maps what these return to an exit code.

use std::time::Instant;

use datafusion::prelude::{SessionConfig, SessionContext};

use crate::cli::{Cli, Command, DiffArgs};
use crate::diff::diff_tables;
use crate::error::{Error, Result};
use crate::input::read_table;
use crate::plan::{self, DiffPlan};
use crate::report::{self, Report, Timings};

/// Runs the command and returns the process exit code of its verdict.
pub fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Diff(args) => diff(&args),
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

/// Everything of `diff` but the output, for callers that want the report.
pub fn diff_report(plan: &DiffPlan, started: Instant) -> Result<Report> {
    let threads = plan.output.threads;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .map_err(|e| Error::compute("cannot start the reader runtime", e))?;
    let context =
        SessionContext::new_with_config(SessionConfig::new().with_target_partitions(threads));
    let (prod, candidate) = runtime.block_on(async {
        futures::try_join!(
            read_table(&context, &plan.left),
            read_table(&context, &plan.right)
        )
    })?;
    let read_done = Instant::now();

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::compute("cannot start the diff thread pool", e))?;
    let diff = pool.install(|| diff_tables(&prod, &candidate, &plan.options))?;
    let mut report = Report::of_diff(&plan.name, &prod, &candidate, diff);
    if plan.output.timings {
        let millis = |d: std::time::Duration| d.as_millis() as u64;
        report.timings = Some(Timings {
            read_ms: millis(read_done - started),
            diff_ms: millis(read_done.elapsed()),
            total_ms: millis(started.elapsed()),
        });
    }
    Ok(report)
}
