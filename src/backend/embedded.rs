//! The embedded backend: diffs two tables in this process while DataFusion
//! reads them: every scan partition feeds
//! its own side builder on the rayon pool, so each decoded batch is hashed,
//! counted into statistics and spilled as it arrives, and no side is ever
//! held in memory whole. The diff itself stays synchronous: a partition's
//! worker only waits for its stream's next batch, and for a table read over
//! a network (a bucket, a database) that batch is usually fetched already,
//! by a reader running ahead on the runtime.
//!
//! Both sides are read at once, unless both are local Parquet files cut
//! into enough ranges: then prod is read first and the candidate, checked
//! against prod's rows as it streams, keeps the values of its rows that
//! differ, so that only prod is read a second time (`read_in_turn`).
//!
//! The statistics' sampling needs a side's row count before its first row,
//! which Parquet footers give; a table without one (CSV, JSON, Arrow IPC) is
//! read into memory first and prepared from there.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use rayon::prelude::*;
use tokio::runtime::Runtime;

use super::{Backend, Diffed};
use crate::diff::{
    DiffOptions, PartitionBuilder, PlannedDiff, RowSet, Side, SideSpec, prepare_side,
};
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
    let (prod, prod_spec, prod_streams) = open(runtime, &plan, Side::Prod, prod)?;
    let (candidate, candidate_spec, candidate_streams) =
        open(runtime, &plan, Side::Candidate, candidate)?;
    let (prod_side, candidate_side) = if read_in_turn(
        &prod_spec,
        &candidate_spec,
        [&prod_streams, &candidate_streams],
    ) {
        let prod_side = prepare(runtime, &prod_spec, &prod, prod_streams)?;
        let candidate_spec = candidate_spec.checked_against(Arc::new(RowSet::of(&prod_side)));
        let candidate_side = prepare(runtime, &candidate_spec, &candidate, candidate_streams)?;
        (prod_side, candidate_side)
    } else {
        let (prod_side, candidate_side) = rayon::join(
            || prepare(runtime, &prod_spec, &prod, prod_streams),
            || prepare(runtime, &candidate_spec, &candidate, candidate_streams),
        );
        (prod_side?, candidate_side?)
    };
    // The rows read, which a `--where` or a table that grew since it was
    // counted make differ from the count the statistics were sized by.
    let read = (prod_side.num_rows(), candidate_side.num_rows());
    Ok(Diffed {
        diff: plan.finish(prod_side, candidate_side)?,
        prod: without_rows(prod).with_rows(read.0),
        candidate: without_rows(candidate).with_rows(read.1),
    })
}

/// One side's table and how to prepare it: its partition streams, with
/// only the columns the diff reads (values read again from the source
/// where it can be), or the table read into memory when its row count is
/// not known before reading.
fn open<'p>(
    runtime: &Runtime,
    plan: &'p PlannedDiff,
    side: Side,
    table: OpenTable,
) -> Result<(Table, SideSpec<'p>, Option<Vec<PartitionStream>>)> {
    match table.known_rows {
        Some(rows) => {
            let spec = plan.side(side, rows).projected();
            let columns = spec.columns_read();
            let (table, streams, again) = runtime.block_on(table.partitions(Some(&columns)))?;
            let spec = match again {
                Some(source) => spec.reading_again(source),
                None => spec,
            };
            Ok((table, spec, Some(streams)))
        }
        None => {
            let table = runtime.block_on(table.collect())?;
            let spec = plan.side(side, table.num_rows());
            Ok((table, spec, None))
        }
    }
}

/// Ranges a side read alone needs per thread to keep every thread busy to
/// its end: with fewer, the last range of a side runs while other threads
/// wait, which costs more than a second read saves.
const RANGES_PER_THREAD_ALONE: usize = 4;

/// Whether prod is read first and the candidate, checked against prod's
/// rows as it streams, keeps the values of the rows that differ instead of
/// being read again (see `SideSpec::checked_against`): when both sides are
/// local Parquet files read again by row, each in enough ranges to keep
/// every thread busy on its own. Reading them in turn gives up reading
/// them at once, which is what evens out a side of a few row groups.
fn read_in_turn(
    prod: &SideSpec,
    candidate: &SideSpec,
    streams: [&Option<Vec<PartitionStream>>; 2],
) -> bool {
    let enough = rayon::current_num_threads() * RANGES_PER_THREAD_ALONE;
    prod.reads_again()
        && candidate.holds_values_when_checked()
        && streams
            .iter()
            .all(|s| s.as_ref().is_some_and(|s| s.len() >= enough))
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
    if streams.iter().any(PartitionStream::over_network) {
        return prepare_reading_ahead(runtime, spec, streams);
    }
    let partitions = streams
        .into_par_iter()
        .enumerate()
        .map(|(partition, stream)| consume(runtime, spec, partition, stream))
        .collect::<Result<Vec<_>>>()?;
    spec.finish(partitions)
}

/// Batches a partition read over a network fetches before they are asked
/// for: enough to keep a request in flight while the last batches are
/// hashed, few enough that memory stays a few batches per partition.
const READ_AHEAD_BATCHES: usize = 4;

/// Prepares a side whose rows come over a network. Each partition reads
/// ahead of the worker hashing it, and the next partition waiting starts
/// reading when a worker takes one, so the workers seldom wait on a fetch
/// (a local file needs neither: its reads come from the page cache). At
/// most twice the workers' partitions read at once.
fn prepare_reading_ahead(
    runtime: &Runtime,
    spec: &SideSpec,
    streams: Vec<PartitionStream>,
) -> Result<crate::diff::prepare::PreparedSide> {
    let waiting = Mutex::new(streams.into_iter().enumerate().collect::<VecDeque<_>>());
    // Takes the next partition, reading ahead, and starts the one after it.
    let take = || {
        let mut waiting = waiting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (partition, mut stream) = waiting.pop_front()?;
        stream.read_ahead(runtime, READ_AHEAD_BATCHES);
        if let Some((_, next)) = waiting.front_mut() {
            next.read_ahead(runtime, READ_AHEAD_BATCHES);
        }
        Some((partition, stream))
    };
    let workers = rayon::current_num_threads();
    let mut partitions = (0..workers)
        .into_par_iter()
        .map(|_| {
            let mut built = Vec::new();
            while let Some((partition, stream)) = take() {
                built.push(consume(runtime, spec, partition, stream)?);
            }
            Ok(built)
        })
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect::<Vec<_>>();
    partitions.sort_by_key(|builder| builder.partition());
    spec.finish(partitions)
}

/// One partition's batches, hashed, counted and spilled as they arrive.
fn consume<'s, 'a>(
    runtime: &Runtime,
    spec: &'s SideSpec<'a>,
    partition: usize,
    mut stream: PartitionStream,
) -> Result<PartitionBuilder<'s, 'a>> {
    let mut builder = spec.partition(partition);
    while let Some(batch) = runtime.block_on(stream.next()) {
        builder.push(&batch?)?;
    }
    Ok(builder)
}

/// The report needs a table's source, files, schema and row count, not its
/// rows: memory read for the diff is given back before the report is made.
fn without_rows(mut table: Table) -> Table {
    table.batches = Vec::new();
    table
}
