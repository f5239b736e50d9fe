//! Column statistics in one pass over comparison-typed columns, mergeable
//! across batches: count, nulls, distinct, min and max for every column;
//! sum, mean, variance, zeros, NaN/infinity counts and quantiles for
//! numbers; quantiles for dates and times; lengths, empty count and top
//! values for strings and binaries; true/false counts for booleans.
//!
//! Every merge is exact and independent of order (exact sums, bucket
//! sketches, set unions), so statistics do not depend on the thread count;
//! the top values of a column with more than 10,000 distinct values are
//! approximate, and so are quantiles, whose t-digest can answer a little
//! differently when the same rows come in other batches.

mod batch;
mod distinct;
mod exact_sum;
pub mod quantiles;
mod summary;
mod top;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::DataType;

use super::position::Pos;
pub use distinct::Distinct;
use exact_sum::ExactSum;
use quantiles::QuantileSketch;
pub(crate) use summary::temporal_to_json;
pub use summary::{
    BooleanStats, CellSource, ColumnStats, NumericStats, TemporalStats, TextStats, TopValue,
};
pub use top::TopValues;

/// How many top values a column reports.
pub const TOP_K: usize = 10;

/// Rows a quantile sketch sees once a table is large: every row up to
/// `SKETCH_ROWS` rows, then a uniform sample of about that many, chosen by
/// key hash. The sample is independent of the values, the same whatever the
/// batches or threads, and picks the same keys on both sides of a diff; with
/// 2^18 rows its rank error (about 0.1% at the median) is far inside the
/// 1% the sketch promises.
pub const SKETCH_ROWS: usize = 1 << 18;

pub struct Sample {
    /// The rows kept, in order.
    rows: Vec<u32>,
}

impl Sample {
    /// Keeps a row when the low 32 bits of its key hash fall below the
    /// share of `SKETCH_ROWS` in `table_rows`; decided once per batch for
    /// all its columns.
    pub fn new(key_hashes: &[u64], table_rows: usize) -> Self {
        let rows = if table_rows <= SKETCH_ROWS {
            (0..key_hashes.len() as u32).collect()
        } else {
            let threshold = (SKETCH_ROWS as f64 / table_rows as f64 * (1u64 << 32) as f64) as u64;
            (0..key_hashes.len() as u32)
                .filter(|row| (key_hashes[*row as usize] & 0xFFFF_FFFF) < threshold)
                .collect()
        };
        Sample { rows }
    }

    fn rows(&self) -> &[u32] {
        &self.rows
    }
}

/// The mergeable state of one column's statistics.
pub struct StatsState {
    pub rows: u64,
    pub nulls: u64,
    pub distinct: Distinct,
    pub kind: KindState,
}

pub enum KindState {
    Numeric(Box<NumericState>),
    Temporal(Box<TemporalState>),
    Text(Box<TextState>),
    Boolean { trues: u64, falses: u64 },
    Other,
}

pub struct NumericState {
    sum: ExactSum,
    squares: ExactSum,
    finite: u64,
    zeros: u64,
    nan: u64,
    infinite: u64,
    min: Option<(f64, Pos)>,
    max: Option<(f64, Pos)>,
    pub sketch: QuantileSketch,
}

pub struct TemporalState {
    min: Option<(i64, Pos)>,
    max: Option<(i64, Pos)>,
    pub sketch: QuantileSketch,
}

pub struct TextState {
    /// A batch's counts, kept between batches so its memory is reused.
    scratch: top::Counts,
    min: Option<Vec<u8>>,
    max: Option<Vec<u8>>,
    min_length: u64,
    max_length: u64,
    total_length: u64,
    empty: u64,
    pub top: TopValues,
}

/// Keeps the smaller value, and of equal values the earlier position, so a
/// merge gives the same answer in any order.
fn keep_min<T: PartialOrd + Copy>(slot: &mut Option<(T, Pos)>, candidate: Option<(T, Pos)>) {
    if let Some((v, p)) = candidate
        && slot.is_none_or(|(s, sp)| v < s || (v == s && p < sp))
    {
        *slot = Some((v, p));
    }
}

fn keep_max<T: PartialOrd + Copy>(slot: &mut Option<(T, Pos)>, candidate: Option<(T, Pos)>) {
    if let Some((v, p)) = candidate
        && slot.is_none_or(|(s, sp)| v > s || (v == s && p < sp))
    {
        *slot = Some((v, p));
    }
}

impl StatsState {
    pub fn empty(data_type: &DataType) -> Self {
        use DataType::*;
        let kind = match data_type {
            Int64 | Float64 | Decimal128(..) | Decimal256(..) => {
                KindState::Numeric(Box::new(NumericState {
                    sum: ExactSum::default(),
                    squares: ExactSum::default(),
                    finite: 0,
                    zeros: 0,
                    nan: 0,
                    infinite: 0,
                    min: None,
                    max: None,
                    sketch: QuantileSketch::default(),
                }))
            }
            Date32 | Date64 | Timestamp(..) | Time64(_) | Duration(_) => {
                KindState::Temporal(Box::new(TemporalState {
                    min: None,
                    max: None,
                    sketch: QuantileSketch::default(),
                }))
            }
            Utf8View | BinaryView => KindState::Text(Box::new(TextState {
                scratch: top::Counts::default(),
                min: None,
                max: None,
                min_length: u64::MAX,
                max_length: 0,
                total_length: 0,
                empty: 0,
                top: TopValues::default(),
            })),
            Boolean => KindState::Boolean {
                trues: 0,
                falses: 0,
            },
            _ => KindState::Other,
        };
        StatsState {
            rows: 0,
            nulls: 0,
            distinct: Distinct::default(),
            kind,
        }
    }

    /// Adds one batch's column. `hashes` are its value hashes; `sample`
    /// says which rows feed the quantile sketch.
    pub fn add_batch(&mut self, array: &dyn Array, hashes: &[u64], batch: u32, sample: &Sample) {
        self.rows += array.len() as u64;
        self.nulls += array.null_count() as u64;
        let nulls = batch::nulls_of(array);
        let distinct = &mut self.distinct;
        match &mut self.kind {
            KindState::Text(text) => {
                let mut counts = std::mem::take(&mut text.scratch);
                counts.clear();
                let mut count = |row: usize| {
                    let pos = Pos {
                        batch,
                        row: row as u32,
                    };
                    counts.entry(hashes[row]).or_insert((0, pos)).0 += 1;
                };
                match nulls {
                    None => (0..hashes.len()).for_each(&mut count),
                    Some(nulls) => nulls.valid_indices().for_each(&mut count),
                }
                distinct.add_all(counts.keys().copied());
                text.top.add_batch(&counts);
                batch::text_batch(text, array, &counts);
                text.scratch = counts;
            }
            KindState::Boolean { trues, falses } => {
                let values = array.as_boolean();
                let batch_trues = values.true_count() as u64;
                *trues += batch_trues;
                *falses += (values.len() - values.null_count()) as u64 - batch_trues;
                // Two values at most: the hash of each one's first row.
                for wanted in [true, false] {
                    let first = (0..values.len())
                        .find(|row| values.is_valid(*row) && values.value(*row) == wanted);
                    distinct.add_all(first.map(|row| hashes[row]).into_iter());
                }
            }
            kind => {
                match nulls {
                    None => distinct.add_all(hashes.iter().copied()),
                    Some(nulls) => distinct.add_all(nulls.valid_indices().map(|i| hashes[i])),
                }
                match kind {
                    KindState::Numeric(n) => batch::numeric_batch(n, array, batch, sample),
                    KindState::Temporal(t) => batch::temporal_batch(t, array, batch, sample),
                    KindState::Boolean { .. } | KindState::Text(_) | KindState::Other => {}
                }
            }
        }
    }

    /// Whether distinct values (and a text column's top values) are still
    /// counted exactly.
    pub fn counts_exactly(&self) -> bool {
        self.distinct.is_exact()
    }

    /// Counts distinct and top values approximately from now on: what
    /// a column comes to once any part of it has more than 10,000 distinct
    /// values, since merging with that part makes the whole approximate.
    /// Other parts of a side give up their exact counts early this way,
    /// with the same result, rather than fill them to the limit first.
    pub fn stop_counting_exactly(&mut self) {
        self.distinct.overflow();
        if let KindState::Text(text) = &mut self.kind {
            text.top.overflow();
        }
    }

    /// Moves every position `offset` batches on: a partition's batches are
    /// numbered from 0 until the side's partitions are put end to end.
    pub fn shift_batches(&mut self, offset: u32) {
        let shift = |pos: &mut Pos| pos.batch += offset;
        match &mut self.kind {
            KindState::Numeric(n) => {
                n.min
                    .iter_mut()
                    .chain(&mut n.max)
                    .for_each(|(_, p)| shift(p));
            }
            KindState::Temporal(t) => {
                t.min
                    .iter_mut()
                    .chain(&mut t.max)
                    .for_each(|(_, p)| shift(p));
            }
            KindState::Text(t) => t.top.shift_batches(offset),
            KindState::Boolean { .. } | KindState::Other => {}
        }
    }

    /// The rows whose cells the statistics and their drift against `other`
    /// (the same column of the other side) show: extremes, top values,
    /// values the other side never has.
    pub fn cell_positions(&self, other: &StatsState) -> Vec<Pos> {
        match (&self.kind, &other.kind) {
            (KindState::Numeric(n), _) => n.min.iter().chain(&n.max).map(|(_, p)| *p).collect(),
            (KindState::Temporal(t), _) => t.min.iter().chain(&t.max).map(|(_, p)| *p).collect(),
            (KindState::Text(mine), theirs) => {
                let mut positions: Vec<Pos> =
                    mine.top.top(TOP_K).into_iter().map(|(_, _, p)| p).collect();
                if let KindState::Text(theirs) = theirs {
                    positions.extend(mine.top.missing_from(&theirs.top, TOP_K));
                }
                positions
            }
            (KindState::Boolean { .. } | KindState::Other, _) => Vec::new(),
        }
    }

    /// Merges the quantile sketch's parts; call once every batch is in.
    pub fn finalize(&mut self) {
        match &mut self.kind {
            KindState::Numeric(n) => n.sketch.finalize(),
            KindState::Temporal(t) => t.sketch.finalize(),
            _ => {}
        }
    }

    pub fn merge(&mut self, other: StatsState) {
        self.rows += other.rows;
        self.nulls += other.nulls;
        self.distinct.merge(other.distinct);
        match (&mut self.kind, other.kind) {
            (KindState::Numeric(a), KindState::Numeric(b)) => {
                a.sum.merge(&b.sum);
                a.squares.merge(&b.squares);
                a.finite += b.finite;
                a.zeros += b.zeros;
                a.nan += b.nan;
                a.infinite += b.infinite;
                keep_min(&mut a.min, b.min);
                keep_max(&mut a.max, b.max);
                a.sketch.merge(b.sketch);
            }
            (KindState::Temporal(a), KindState::Temporal(b)) => {
                keep_min(&mut a.min, b.min);
                keep_max(&mut a.max, b.max);
                a.sketch.merge(b.sketch);
            }
            (KindState::Text(a), KindState::Text(b)) => {
                if b.min.is_some() && (a.min.is_none() || b.min < a.min) {
                    a.min = b.min;
                }
                if b.max > a.max {
                    a.max = b.max;
                }
                a.min_length = a.min_length.min(b.min_length);
                a.max_length = a.max_length.max(b.max_length);
                a.total_length += b.total_length;
                a.empty += b.empty;
                a.top.merge(b.top);
            }
            (
                KindState::Boolean { trues, falses },
                KindState::Boolean {
                    trues: t,
                    falses: f,
                },
            ) => {
                *trues += t;
                *falses += f;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Array, StringViewArray};
    use datafusion::arrow::datatypes::DataType;

    use super::{Sample, StatsState, TOP_K};
    use crate::diff::hash::value_hashes;

    /// Text values `from..to`, the values below 100 ten times each.
    fn column(from: usize, to: usize) -> Arc<dyn Array> {
        let values = (from..to).flat_map(|i| {
            let copies = if i < 100 { 10 } else { 1 };
            std::iter::repeat_n(format!("value {i}"), copies)
        });
        Arc::new(StringViewArray::from_iter_values(values))
    }

    /// One part of a side: its statistics over the batches of `column`,
    /// stopping exact counts first when `stop`.
    fn part(column: &Arc<dyn Array>, stop: bool) -> StatsState {
        let mut state = StatsState::empty(&DataType::Utf8View);
        if stop {
            state.stop_counting_exactly();
        }
        let hashes = value_hashes(column.as_ref()).unwrap();
        let sample = Sample::new(&hashes, column.len());
        for (batch, at) in (0..column.len()).step_by(1_000).enumerate() {
            let rows = 1_000.min(column.len() - at);
            let slice = column.slice(at, rows);
            state.add_batch(
                slice.as_ref(),
                &hashes[at..at + rows],
                batch as u32,
                &sample,
            );
        }
        state
    }

    fn summary(state: &StatsState) -> (u64, bool, Vec<(u64, u64)>, bool) {
        let (distinct, exact) = state.distinct.estimate();
        let super::KindState::Text(text) = &state.kind else {
            panic!("a text column");
        };
        let top = text.top.top(TOP_K).into_iter().map(|(h, c, _)| (h, c));
        (distinct, exact, top.collect(), text.top.exact())
    }

    #[test]
    fn parts_that_stop_counting_exactly_once_another_overflowed_change_nothing() {
        // One part overflows the exact counts on its own; the others, far
        // below the limit, overlap it and each other.
        let columns = [
            column(0, 12_000),
            column(5_000, 9_000),
            column(8_000, 10_500),
        ];
        let merged = |stop_others: bool| {
            let mut whole = part(&columns[0], false);
            assert!(!whole.counts_exactly());
            for column in &columns[1..] {
                let other = part(column, stop_others);
                assert_eq!(other.counts_exactly(), !stop_others);
                whole.merge(other);
            }
            summary(&whole)
        };
        let counted_in_full = merged(false);
        assert!(!counted_in_full.1 && !counted_in_full.3);
        assert_eq!(merged(true), counted_in_full);

        // Parts below the limit together stay exact.
        let mut exact = part(&column(0, 3_000), false);
        exact.merge(part(&column(2_000, 5_000), false));
        assert_eq!(summary(&exact).0, 5_000);
        assert!(summary(&exact).1 && summary(&exact).3);
    }
}
