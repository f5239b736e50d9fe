//! Column statistics in one pass over comparison-typed columns, mergeable
//! across batches: count, nulls, distinct, min and max for every column;
//! sum, mean, variance, zeros, NaN/infinity counts and quantiles for
//! numbers; quantiles for dates and times; lengths, empty count and top
//! values for strings and binaries; true/false counts for booleans.
//!
//! Every merge is exact and independent of order (exact sums, bucket
//! sketches, set unions), so statistics do not depend on how rows were split
//! into batches or on the thread count; only the top values of a column with
//! more than 10,000 distinct values are approximate.

mod distinct;
mod exact_sum;
pub mod quantiles;
mod summary;
mod top;

use datafusion::arrow::array::{Array, ArrowPrimitiveType, AsArray};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Date64Type, Decimal128Type, Decimal256Type, DurationMicrosecondType,
    DurationMillisecondType, DurationNanosecondType, DurationSecondType, Float64Type, Int64Type,
    Time64NanosecondType, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};

use super::position::Pos;
pub use distinct::Distinct;
use exact_sum::{ExactSum, sum_and_squares};
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

pub struct Sample<'a> {
    key_hashes: &'a [u64],
    /// Keep a row when the low 32 bits of its key hash are below this.
    threshold: u64,
}

impl<'a> Sample<'a> {
    pub fn new(key_hashes: &'a [u64], table_rows: usize) -> Self {
        let threshold = if table_rows <= SKETCH_ROWS {
            1 << 32
        } else {
            (SKETCH_ROWS as f64 / table_rows as f64 * (1u64 << 32) as f64) as u64
        };
        Sample {
            key_hashes,
            threshold,
        }
    }

    #[inline]
    fn keeps(&self, row: usize) -> bool {
        (self.key_hashes[row] & 0xFFFF_FFFF) < self.threshold
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

    /// Adds one batch's column; `hashes` are its value hashes.
    /// Adds one batch's column. `hashes` are its value hashes; `sample`
    /// says which rows feed the quantile sketch.
    pub fn add_batch(&mut self, array: &dyn Array, hashes: &[u64], batch: u32, sample: &Sample) {
        self.rows += array.len() as u64;
        self.nulls += array.null_count() as u64;
        let pos = |row: usize| Pos {
            batch,
            row: row as u32,
        };
        let nulls = array.nulls();
        let valid = |i: &usize| nulls.is_none_or(|n| n.is_valid(*i));
        let distinct = &mut self.distinct;
        match &mut self.kind {
            KindState::Text(text) => {
                let mut counts = std::mem::take(&mut text.scratch);
                counts.clear();
                for i in (0..hashes.len()).filter(valid) {
                    counts.entry(hashes[i]).or_insert((0, pos(i))).0 += 1;
                }
                counts.keys().for_each(|h| distinct.add(*h));
                text.top.add_batch(&counts);
                text.scratch = counts;
                text_batch(text, array);
            }
            kind => {
                (0..hashes.len())
                    .filter(valid)
                    .for_each(|i| distinct.add(hashes[i]));
                match kind {
                    KindState::Numeric(n) => numeric_batch(n, array, pos, sample),
                    KindState::Temporal(t) => temporal_batch(t, array, pos, sample),
                    KindState::Boolean { trues, falses } => {
                        let values = array.as_boolean();
                        let batch_trues = values.true_count() as u64;
                        *trues += batch_trues;
                        *falses += (values.len() - values.null_count()) as u64 - batch_trues;
                    }
                    KindState::Text(_) | KindState::Other => {}
                }
            }
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

fn numeric_batch(
    state: &mut NumericState,
    array: &dyn Array,
    pos: impl Fn(usize) -> Pos,
    sample: &Sample,
) {
    let mut sketched = Vec::with_capacity(array.len());
    let mut finite = Vec::with_capacity(array.len());
    // Extremes as (value, row) of this batch; the earliest row wins ties.
    let mut low: Option<(f64, usize)> = None;
    let mut high: Option<(f64, usize)> = None;
    let mut add = |i: usize, v: f64| {
        if v.is_nan() {
            state.nan += 1;
            return;
        }
        if low.is_none_or(|(m, _)| v < m) {
            low = Some((v, i));
        }
        if high.is_none_or(|(m, _)| v > m) {
            high = Some((v, i));
        }
        if v.is_infinite() {
            state.infinite += 1;
            return;
        }
        state.zeros += u64::from(v == 0.0);
        finite.push(v);
        if sample.keeps(i) {
            sketched.push(v);
        }
    };
    // Integers below 2^56 in batches of at most 2^13 rows (DataFusion's
    // default batch is exactly 2^13) are summed in integers: each square is
    // below 2^112, so the sum of squares stays below 2^125 and fits an
    // i128; exact, and far cheaper than float expansions.
    let mut integer_sums: Option<(i128, i128)> = None;
    match array.data_type() {
        DataType::Int64 => {
            let ints = array.as_primitive::<Int64Type>();
            let small =
                ints.len() <= 1 << 13 && ints.values().iter().all(|v| v.unsigned_abs() < 1 << 56);
            if small {
                let (mut sum, mut squares) = (0i128, 0i128);
                each_value::<Int64Type>(array, |i, v| {
                    sum += i128::from(v);
                    squares += i128::from(v) * i128::from(v);
                    add(i, v as f64)
                });
                integer_sums = Some((sum, squares));
            } else {
                each_value::<Int64Type>(array, |i, v| add(i, v as f64));
            }
        }
        DataType::Float64 => each_value::<Float64Type>(array, add),
        DataType::Decimal128(_, scale) => {
            let unit = 10f64.powi(i32::from(*scale));
            each_value::<Decimal128Type>(array, |i, v| add(i, v as f64 / unit));
        }
        DataType::Decimal256(_, scale) => {
            let unit = 10f64.powi(i32::from(*scale));
            each_value::<Decimal256Type>(array, |i, v| {
                let as_f64 = v
                    .to_i128()
                    .map_or_else(|| v.to_parts().1 as f64 * 2f64.powi(128), |x| x as f64);
                add(i, as_f64 / unit)
            });
        }
        _ => {}
    }
    keep_min(&mut state.min, low.map(|(v, i)| (v, pos(i))));
    keep_max(&mut state.max, high.map(|(v, i)| (v, pos(i))));
    state.finite += finite.len() as u64;
    match integer_sums {
        Some((sum, squares)) => {
            state.sum.add_integer(sum);
            state.squares.add_integer(squares);
        }
        None => {
            let (sum, squares) = sum_and_squares(&finite);
            state.sum.merge(&sum);
            state.squares.merge(&squares);
        }
    }
    state.sketch.merge(QuantileSketch::of_values(sketched));
}

fn each_value<T: ArrowPrimitiveType>(array: &dyn Array, mut f: impl FnMut(usize, T::Native)) {
    let values = array.as_primitive::<T>();
    for i in 0..values.len() {
        if values.is_valid(i) {
            f(i, values.value(i));
        }
    }
}

fn temporal_batch(
    state: &mut TemporalState,
    array: &dyn Array,
    pos: impl Fn(usize) -> Pos,
    sample: &Sample,
) {
    let mut values = Vec::with_capacity(array.len());
    let mut add = |i: usize, v: i64| {
        keep_min(&mut state.min, Some((v, pos(i))));
        keep_max(&mut state.max, Some((v, pos(i))));
        if sample.keeps(i) {
            values.push(v as f64);
        }
    };
    use DataType::*;
    match array.data_type() {
        Date32 => each_value::<Date32Type>(array, |i, v| add(i, i64::from(v))),
        Date64 => each_value::<Date64Type>(array, &mut add),
        Time64(_) => each_value::<Time64NanosecondType>(array, &mut add),
        Timestamp(TimeUnit::Second, _) => each_value::<TimestampSecondType>(array, &mut add),
        Timestamp(TimeUnit::Millisecond, _) => {
            each_value::<TimestampMillisecondType>(array, &mut add)
        }
        Timestamp(TimeUnit::Microsecond, _) => {
            each_value::<TimestampMicrosecondType>(array, &mut add)
        }
        Timestamp(TimeUnit::Nanosecond, _) => {
            each_value::<TimestampNanosecondType>(array, &mut add)
        }
        Duration(TimeUnit::Second) => each_value::<DurationSecondType>(array, &mut add),
        Duration(TimeUnit::Millisecond) => each_value::<DurationMillisecondType>(array, &mut add),
        Duration(TimeUnit::Microsecond) => each_value::<DurationMicrosecondType>(array, &mut add),
        Duration(TimeUnit::Nanosecond) => each_value::<DurationNanosecondType>(array, &mut add),
        _ => {}
    }
    state.sketch.merge(QuantileSketch::of_values(values));
}

fn text_batch(state: &mut TextState, array: &dyn Array) {
    let mut add = |bytes: &[u8]| {
        let length = bytes.len() as u64;
        state.min_length = state.min_length.min(length);
        state.max_length = state.max_length.max(length);
        state.total_length += length;
        state.empty += u64::from(length == 0);
        if state.min.as_deref().is_none_or(|m| bytes < m) {
            state.min = Some(bytes.to_vec());
        }
        if state.max.as_deref().is_none_or(|m| bytes > m) {
            state.max = Some(bytes.to_vec());
        }
    };
    match array.data_type() {
        DataType::Utf8View => {
            let values = array.as_string_view();
            (0..values.len())
                .filter(|i| values.is_valid(*i))
                .for_each(|i| add(values.value(i).as_bytes()));
        }
        DataType::BinaryView => {
            let values = array.as_binary_view();
            (0..values.len())
                .filter(|i| values.is_valid(*i))
                .for_each(|i| add(values.value(i)));
        }
        _ => {}
    }
}
