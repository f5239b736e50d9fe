//! The embedded backend: diffs two tables in this process while DataFusion
//! reads them: every scan partition feeds
//! its own side builder on the rayon pool, so each decoded batch is hashed,
//! counted into statistics and spilled as it arrives, and no side is ever
//! held in memory whole. The diff itself stays synchronous: a partition's
//! worker only waits for its stream's next batch.
//!
//! The statistics' sampling needs a side's row count before its first row,
//! which Parquet footers give; a table without one (CSV, JSON, Arrow IPC) is
//! read into memory first and prepared from there.

use rayon::prelude::*;
use tokio::runtime::Runtime;

use super::{Backend, Diffed};
use crate::diff::{DiffOptions, PlannedDiff, Side, SideSpec, prepare_side};
use crate::error::Result;
use crate::input::{OpenTable, PartitionStream, Table};
use crate::threads::Workers;

/// This process, on the command's workers.
pub struct Embedded;

impl Backend for Embedded {
    fn diff(
        &self,
        workers: &Workers,
        prod: OpenTable,
        candidate: OpenTable,
        options: &DiffOptions,
    ) -> Result<Diffed> {
        workers.install(|| diff_streamed(&workers.runtime, prod, candidate, options))
    }
}

/// Diffs `prod` against `candidate`, reading both on `runtime`; returns the
/// tables (without their rows) for the report, and the diff.
pub fn diff_streamed(
    runtime: &Runtime,
    prod: OpenTable,
    candidate: OpenTable,
    options: &DiffOptions,
) -> Result<Diffed> {
    let plan = PlannedDiff::new(&prod.table, &candidate.table, options)?;
    let (prod, prod_streams) = open(runtime, prod)?;
    let (candidate, candidate_streams) = open(runtime, candidate)?;
    let prod_spec = plan.side(Side::Prod, prod.num_rows())?;
    let candidate_spec = plan.side(Side::Candidate, candidate.num_rows())?;
    let (prod_side, candidate_side) = rayon::join(
        || prepare(runtime, &prod_spec, &prod, prod_streams),
        || prepare(runtime, &candidate_spec, &candidate, candidate_streams),
    );
    let (prod_side, candidate_side) = (prod_side?, candidate_side?);
    // The rows read, which a `--where` or a table that grew since it was
    // counted make differ from the count the statistics were sized by.
    let read = (prod_side.num_rows(), candidate_side.num_rows());
    Ok(Diffed {
        diff: plan.finish(prod_side, candidate_side)?,
        prod: without_rows(prod).with_rows(read.0),
        candidate: without_rows(candidate).with_rows(read.1),
    })
}

/// The table and its partition streams, or the table read into memory when
/// its row count is not known before reading.
fn open(runtime: &Runtime, table: OpenTable) -> Result<(Table, Option<Vec<PartitionStream>>)> {
    if table.known_rows.is_some() {
        let (table, streams) = runtime.block_on(table.partitions())?;
        Ok((table, Some(streams)))
    } else {
        Ok((runtime.block_on(table.collect())?, None))
    }
}

fn prepare(
    runtime: &Runtime,
    spec: &SideSpec,
    table: &Table,
    streams: Option<Vec<PartitionStream>>,
) -> Result<crate::diff::prepare::PreparedSide> {
    let Some(streams) = streams else {
        return prepare_side(spec, &table.batches);
    };
    let partitions = streams
        .into_par_iter()
        .enumerate()
        .map(|(partition, mut stream)| {
            let mut builder = spec.partition(partition);
            while let Some(batch) = runtime.block_on(stream.next()) {
                builder.push(&batch?)?;
            }
            Ok(builder)
        })
        .collect::<Result<Vec<_>>>()?;
    spec.finish(partitions)
}

/// The report needs a table's source, files, schema and row count, not its
/// rows: memory read for the diff is given back before the report is made.
fn without_rows(mut table: Table) -> Table {
    table.batches = Vec::new();
    table
}
