//! The table diff: schema pairing, type normalization, hashing, keyed (or
//! whole-row) matching, value comparison with tolerances, and samples.
//!
//! The diff is synchronous and runs on the current rayon pool: the caller
//! decides the thread count, and every parallel step gives the same result
//! on one thread as on many.

mod candidates;
pub(crate) mod canon;
pub(crate) mod compare;
mod differing_pairs;
pub(crate) mod drift;
mod fetch;
mod fetched_rows;
pub(crate) mod hash;
mod matching;
pub(crate) mod position;
pub(crate) mod prepare;
pub(crate) mod reread;
mod result;
mod row_set;
pub(crate) mod rows_out;
mod samples;
pub(crate) mod schema;
mod spill;
pub(crate) mod stats;
pub(crate) mod tolerance;
pub(crate) mod value;

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use compare::{ColumnRule, StringRule, Tolerance};
pub use drift::Drift;
pub use result::{
    ChangedIgnoring, ChangedRow, ColumnDiff, DiffRowsFile, PerSide, RowCounts, SampleRow, Samples,
    SideStats, TableDiff,
};
pub use schema::SchemaDiff;
pub use stats::ColumnStats;
pub use stats::quantiles::LEVELS as QUANTILE_LEVELS;
pub use stats::{BooleanStats, NumericStats, TemporalStats, TextStats, TopValue};

/// The per-batch kernels the diff is made of, public for the benchmarks
/// in `benches/kernels.rs`.
pub mod kernels {
    pub use super::compare::compare;
    pub use super::fetched_rows::FetchedRows;
    pub use super::hash::value_hashes;
    pub use super::stats::{Sample, StatsState};
}

use crate::error::Result;
use crate::input::Table;
use matching::{MatchConfig, MatchResult, Pos, SortedSides, match_hashes, match_rows};
use prepare::{MatchOn, PreparedSide, StatsOf};
pub use prepare::{PartitionBuilder, Side, SideSpec, prepare_side};
pub use reread::ReadAgain;
pub use row_set::RowSet;
use samples::SampleColumns;
use schema::{ColumnPair, Sources, plan_columns};

/// What to compare and how; column names are prod names.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DiffOptions {
    /// Key columns; empty for a whole-row (multiset) diff.
    pub key: Vec<String>,
    /// (prod name, candidate name) of renamed columns.
    pub renames: Vec<(String, String)>,
    /// Columns left out of the comparison.
    pub ignore: Vec<String>,
    /// Tolerance of numeric columns without their own.
    pub default_tolerance: Tolerance,
    pub column_tolerances: BTreeMap<String, Tolerance>,
    pub strings: StringRule,
    /// How many changed, added and removed rows to keep as samples.
    pub sample: usize,
    /// Gather column statistics and drift (in the same pass as hashing).
    pub stats: bool,
    /// Sets of columns for which changed rows are counted again with the
    /// set left out (for rules).
    pub changed_ignoring: Vec<Vec<String>>,
    /// Write every differing row to this Parquet or CSV file.
    pub diff_rows: Option<PathBuf>,
}

/// Diffs `prod` against `candidate`, both in memory.
pub fn diff_tables(prod: &Table, candidate: &Table, options: &DiffOptions) -> Result<TableDiff> {
    let plan = PlannedDiff::new(prod, candidate, options)?;
    let prepare = |spec: &SideSpec, table: &Table| prepare_side(spec, &table.batches);
    let prod_spec = plan.side(Side::Prod, prod.num_rows());
    let candidate_spec = plan.side(Side::Candidate, candidate.num_rows());
    let (prod_side, candidate_side) = rayon::join(
        || prepare(&prod_spec, prod),
        || prepare(&candidate_spec, candidate),
    );
    plan.finish(prod_side?, candidate_side?)
}

/// The statistics of one table's columns at `columns` (indexes into its
/// schema), by the same one-pass, parallel code a diff's statistics use:
/// `dualrun profile`.
pub fn column_statistics(table: &Table, columns: &[usize]) -> Result<Vec<ColumnStats>> {
    use prepare::{MatchOn, StatsOf};
    let pairs: Vec<schema::ColumnPair> = columns
        .iter()
        .map(|&index| {
            let field = table.schema.field(index);
            schema::ColumnPair {
                name: field.name().clone(),
                prod_index: index,
                candidate_index: index,
                // A type always compares with itself.
                compared_as: canon::comparison_type(field.data_type(), field.data_type())
                    .unwrap_or_else(|_| field.data_type().clone()),
                rule: compare::ColumnRule::EXACT,
                own_tolerance: false,
            }
        })
        .collect();
    let spec = SideSpec::new(
        Side::Prod,
        &MatchOn {
            columns: &pairs,
            nulls_excluded: false,
        },
        &[],
        StatsOf::Keys,
        table.num_rows(),
    );
    let side = prepare_side(&spec, &table.batches)?;
    pairs
        .iter()
        .zip(&side.stats)
        .enumerate()
        .map(|(index, (pair, state))| {
            ColumnStats::finish(state, &pair.compared_as, &side.stat_cells(index))
        })
        .collect()
}

/// A diff planned from the two schemas, before any row is read: callers
/// that stream batches build each side from `side`'s spec, then `finish`.
pub struct PlannedDiff<'o> {
    options: &'o DiffOptions,
    plan: schema::ColumnPlan,
}

impl<'o> PlannedDiff<'o> {
    pub fn new(prod: &Table, candidate: &Table, options: &'o DiffOptions) -> Result<Self> {
        let sources = Sources {
            prod: &prod.source,
            candidate: &candidate.source,
            same_kind: prod.format.same_kind(candidate.format),
        };
        let plan = plan_columns(&prod.schema, &candidate.schema, options, &sources)?;
        Ok(PlannedDiff { options, plan })
    }

    fn keyed(&self) -> bool {
        !self.plan.keys.is_empty()
    }

    /// Without a key, the whole row is the key and there is nothing else to
    /// compare: matching then is a multiset diff.
    fn match_on(&self) -> (MatchOn<'_>, &[ColumnPair]) {
        let keyed = self.keyed();
        let (columns, values): (&[ColumnPair], &[ColumnPair]) = if keyed {
            (&self.plan.keys, &self.plan.values)
        } else {
            (&self.plan.values, &[])
        };
        (
            MatchOn {
                columns,
                nulls_excluded: keyed,
            },
            values,
        )
    }

    /// How to prepare one side of `rows` rows.
    pub fn side(&self, side: Side, rows: usize) -> SideSpec<'_> {
        let stats_of = match (self.options.stats, self.keyed()) {
            (false, _) => StatsOf::Nothing,
            (true, true) => StatsOf::Values,
            (true, false) => StatsOf::Keys,
        };
        let (match_on, values) = self.match_on();
        SideSpec::new(side, &match_on, values, stats_of, rows)
    }

    /// Matches the prepared sides and assembles the diff.
    pub fn finish(
        self,
        mut prod_side: PreparedSide,
        mut candidate_side: PreparedSide,
    ) -> Result<TableDiff> {
        let options = self.options;
        let keyed = self.keyed();
        let (match_on, values) = self.match_on();
        let match_on = match_on.columns;
        let rules: Vec<ColumnRule> = values.iter().map(|v| v.rule).collect();
        let ignore_sets: Vec<Vec<bool>> = options
            .changed_ignoring
            .iter()
            .map(|set| values.iter().map(|v| set.contains(&v.name)).collect())
            .collect();
        let config = MatchConfig {
            rules: &rules,
            ignore_sets: &ignore_sets,
            null_keys_match: !keyed,
        };
        let matched = match_sides(
            (&mut prod_side, &mut candidate_side),
            &config,
            options.sample,
            options.diff_rows.is_some(),
        )?;
        let (prod_side, candidate_side) = (&prod_side, &candidate_side);

        let key_names: Vec<String> = match_on.iter().map(|c| c.name.clone()).collect();
        let value_names: Vec<String> = values.iter().map(|c| c.name.clone()).collect();
        let columns = SampleColumns {
            keys: &key_names,
            values: &value_names,
            rules: &rules,
            keyed,
        };
        let samples = sample_rows(
            prod_side,
            candidate_side,
            &matched,
            &columns,
            options.sample,
        )?;
        let key_candidates =
            (!keyed).then(|| candidates::key_candidates(prod_side, candidate_side, &key_names));
        let diff_rows = match &options.diff_rows {
            Some(path) => Some(write_diff_rows(
                path,
                prod_side,
                candidate_side,
                &matched,
                &columns,
            )?),
            None => None,
        };

        Ok(TableDiff {
            key: if keyed { key_names } else { Vec::new() },
            rows: row_counts(
                prod_side.num_rows(),
                candidate_side.num_rows(),
                &matched,
                &options.changed_ignoring,
            ),
            schema: self.plan.schema.clone(),
            columns: if keyed {
                column_diffs(values, &matched, prod_side, candidate_side)?
            } else {
                whole_row_columns(match_on, prod_side, candidate_side)?
            },
            samples,
            key_candidates,
            diff_rows,
        })
    }
}

/// The first `n` changed, added and removed rows, in key order.
fn sample_rows(
    prod_side: &PreparedSide,
    candidate_side: &PreparedSide,
    matched: &MatchResult,
    columns: &SampleColumns,
    n: usize,
) -> Result<Samples> {
    let first = |side, positions: &[Pos]| -> Result<Vec<Pos>> {
        let order = samples::first_in_key_order(side, positions, n)?;
        Ok(order.into_iter().map(|i| positions[i]).collect())
    };
    let changed_prod: Vec<_> = matched.changed_pairs.iter().map(|(p, _)| *p).collect();
    let changed_pairs: Vec<_> = samples::first_in_key_order(prod_side, &changed_prod, n)?
        .into_iter()
        .map(|i| matched.changed_pairs[i])
        .collect();
    let added = first(candidate_side, &matched.added)?;
    let removed = first(prod_side, &matched.removed)?;
    Ok(Samples {
        changed: samples::changed_rows(prod_side, candidate_side, &changed_pairs, columns),
        added: samples::whole_rows(candidate_side, &added, columns),
        removed: samples::whole_rows(prod_side, &removed, columns),
    })
}

/// `--diff-rows`: every differing row, written to `path`.
fn write_diff_rows(
    path: &std::path::Path,
    prod_side: &PreparedSide,
    candidate_side: &PreparedSide,
    matched: &MatchResult,
    columns: &SampleColumns,
) -> Result<DiffRowsFile> {
    let rows = rows_out::DiffRows {
        key_names: columns.keys,
        value_names: columns.values,
        changed: &matched.changed_pairs,
        removed: &matched.removed,
        added: &matched.added,
    };
    let written = rows_out::write(path, prod_side, candidate_side, &rows)?;
    Ok(DiffRowsFile {
        path: path.display().to_string(),
        rows: written,
    })
}

/// Matches prepared sides in two phases: on hashes and keys alone, which
/// pairs most rows and names the rows whose values matching reads, then,
/// once those rows' values are fetched back from the spill or the source,
/// for real. The sorted entries are gone before the fetch, so they and the
/// fetched values never take memory at the same time. Of rows only one
/// side has, the values fetched are the first `sample` in key order, or all
/// of them for `--diff-rows` (`all_one_sided`).
fn match_sides(
    (prod, candidate): (&mut PreparedSide, &mut PreparedSide),
    config: &MatchConfig,
    sample: usize,
    all_one_sided: bool,
) -> Result<MatchResult> {
    let sorted = SortedSides::of(prod, candidate, config.null_keys_match);
    let hashed = match_hashes(prod, candidate, sorted, config);
    let needs = hashed.value_needs();
    let [mut prod_compared, mut candidate_compared] = needs.compared;
    let [prod_only, candidate_only] = needs.one_sided;
    // The cells statistics show, read in the same pass: one at a time they
    // could each cost a read of the source.
    if prod.stats_of == StatsOf::Values {
        for (p, c) in prod.stats.iter().zip(&candidate.stats) {
            prod_compared.extend(p.cell_positions(c));
            candidate_compared.extend(c.cell_positions(p));
        }
    }
    let fetch = |side: &mut PreparedSide, mut rows: Vec<Pos>, only: Vec<Pos>| -> Result<()> {
        if all_one_sided {
            rows.extend(only);
        } else {
            let first = samples::first_in_key_order(side, &only, sample)?;
            rows.extend(first.into_iter().map(|i| only[i]));
        }
        side.fetch_values(&rows)
    };
    let (prod_fetched, candidate_fetched) = rayon::join(
        || fetch(prod, prod_compared, prod_only),
        || fetch(candidate, candidate_compared, candidate_only),
    );
    prod_fetched?;
    candidate_fetched?;
    Ok(match_rows(prod, candidate, hashed, config))
}

fn row_counts(
    prod: usize,
    candidate: usize,
    matched: &MatchResult,
    changed_ignoring: &[Vec<String>],
) -> RowCounts {
    RowCounts {
        prod: prod as u64,
        candidate: candidate as u64,
        identical: matched.identical,
        within_tolerance: matched.within_tolerance,
        changed: matched.changed,
        added: matched.added.len() as u64,
        removed: matched.removed.len() as u64,
        duplicate_keys: matched.duplicate_keys.into(),
        duplicate_rows: matched.duplicate_rows.into(),
        null_keys: matched.null_keys.into(),
        changed_ignoring: changed_ignoring
            .iter()
            .zip(&matched.changed_ignoring)
            .map(|(columns, &changed)| ChangedIgnoring {
                columns: columns.clone(),
                changed,
            })
            .collect(),
    }
}

fn column_diffs(
    values: &[ColumnPair],
    matched: &MatchResult,
    prod: &PreparedSide,
    candidate: &PreparedSide,
) -> Result<Vec<ColumnDiff>> {
    let compared = matched.identical + matched.within_tolerance + matched.changed;
    values
        .iter()
        .zip(&matched.columns)
        .enumerate()
        .map(|(index, (pair, tally))| {
            let (stats, drift) = column_stats(index, pair, prod, candidate)?;
            Ok(ColumnDiff {
                name: pair.name.clone(),
                compared_as: pair.compared_as.to_string(),
                tolerance: (!pair.rule.tolerance.is_zero()).then_some(pair.rule.tolerance),
                compared,
                unequal: tally.unequal,
                within_tolerance: tally.within_tolerance,
                match_rate: (compared > 0).then(|| 1.0 - tally.unequal as f64 / compared as f64),
                max_abs_diff: tally.max_abs_diff,
                null_mismatch: tally.null_mismatch,
                stats,
                drift,
            })
        })
        .collect()
}

/// Without a key no value is compared on its own: columns carry only their
/// statistics and drift.
fn whole_row_columns(
    columns: &[ColumnPair],
    prod: &PreparedSide,
    candidate: &PreparedSide,
) -> Result<Vec<ColumnDiff>> {
    columns
        .iter()
        .enumerate()
        .map(|(index, pair)| {
            let (stats, drift) = column_stats(index, pair, prod, candidate)?;
            Ok(ColumnDiff {
                name: pair.name.clone(),
                compared_as: pair.compared_as.to_string(),
                tolerance: None,
                compared: 0,
                unequal: 0,
                within_tolerance: 0,
                match_rate: None,
                max_abs_diff: None,
                null_mismatch: 0,
                stats,
                drift,
            })
        })
        .collect()
}

/// Both sides' statistics of statistics column `index`, and their drift;
/// `None` when statistics are off.
fn column_stats(
    index: usize,
    pair: &ColumnPair,
    prod: &PreparedSide,
    candidate: &PreparedSide,
) -> Result<(Option<SideStats>, Option<Drift>)> {
    let (Some(p), Some(c)) = (prod.stats.get(index), candidate.stats.get(index)) else {
        return Ok((None, None));
    };
    let (prod_cells, candidate_cells) = (prod.stat_cells(index), candidate.stat_cells(index));
    let prod_stats = ColumnStats::finish(p, &pair.compared_as, &prod_cells)?;
    let candidate_stats = ColumnStats::finish(c, &pair.compared_as, &candidate_cells)?;
    let drift = drift::drift(
        &drift::DriftSide {
            state: p,
            stats: &prod_stats,
            cells: &prod_cells,
        },
        &drift::DriftSide {
            state: c,
            stats: &candidate_stats,
            cells: &candidate_cells,
        },
        &pair.compared_as,
    )?;
    Ok((
        Some(SideStats {
            prod: prod_stats,
            candidate: candidate_stats,
        }),
        Some(drift),
    ))
}
