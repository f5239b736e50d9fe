//! One batch's column folded into its statistics state at batch speed: the
//! valid values are taken as one slice (borrowed when the column has no
//! nulls), extremes, zero and infinity counts come from tight loops over it
//! (Arrow's own kernels for dates, times and strings), a value's row is
//! looked up only when the batch's extreme beats the state's, and the
//! quantile sample is gathered from the rows `Sample` picked once for the
//! whole batch. Every result is the one a value-by-value fold gives.

use std::borrow::Cow;

use datafusion::arrow::array::{Array, ArrowPrimitiveType, AsArray, PrimitiveArray};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::{max, min};
use datafusion::arrow::datatypes::{
    ArrowNativeType, DataType, Date32Type, Date64Type, Decimal128Type, Decimal256Type,
    DurationMicrosecondType, DurationMillisecondType, DurationNanosecondType, DurationSecondType,
    Float64Type, Int64Type, Time64NanosecondType, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
};

use super::exact_sum::sum_and_squares;
use super::quantiles::QuantileSketch;
use super::top::Counts;
use super::{NumericState, Sample, TemporalState, TextState, keep_max, keep_min};
use crate::diff::position::Pos;

/// Integers below this magnitude are summed exactly in `i128` (a chunk's
/// squares stay below 2^125).
const SMALL_INTEGER: i64 = 1 << 56;

/// Rows per `i128` chunk of squares: 2^13 squares below 2^112 each.
const INTEGER_CHUNK: usize = 1 << 13;

/// A batch's valid values as one slice and, when nulls were left out, the
/// row each value came from.
struct Dense<'a, T: Clone> {
    values: Cow<'a, [T]>,
    rows: Option<Vec<u32>>,
}

impl<T: ArrowNativeType> Dense<'_, T> {
    fn of<P: ArrowPrimitiveType<Native = T>>(array: &PrimitiveArray<P>) -> Dense<'_, T> {
        match nulls_of(array) {
            None => Dense {
                values: Cow::Borrowed(array.values().as_ref()),
                rows: None,
            },
            Some(nulls) => {
                let rows: Vec<u32> = nulls.valid_indices().map(|i| i as u32).collect();
                let values = rows.iter().map(|r| array.value(*r as usize)).collect();
                Dense {
                    values: Cow::Owned(values),
                    rows: Some(rows),
                }
            }
        }
    }

    /// The same rows with each value mapped.
    fn map<U: ArrowNativeType>(&self, f: impl Fn(T) -> U) -> Dense<'static, U> {
        Dense {
            values: Cow::Owned(self.values.iter().map(|v| f(*v)).collect()),
            rows: self.rows.clone(),
        }
    }

    /// Only the values `keep` accepts, with their rows.
    fn retain(self, keep: impl Fn(T) -> bool) -> Dense<'static, T> {
        let mut values = Vec::with_capacity(self.values.len());
        let mut rows = Vec::with_capacity(self.values.len());
        for (i, v) in self.values.iter().enumerate() {
            if keep(*v) {
                values.push(*v);
                rows.push(self.row(i) as u32);
            }
        }
        Dense {
            values: Cow::Owned(values),
            rows: Some(rows),
        }
    }

    fn row(&self, index: usize) -> usize {
        self.rows
            .as_ref()
            .map_or(index, |rows| rows[index] as usize)
    }

    /// The row of the first value `matches` accepts.
    fn first_row(&self, matches: impl Fn(T) -> bool) -> u32 {
        let index = self.values.iter().position(|v| matches(*v)).unwrap_or(0);
        self.row(index) as u32
    }
}

pub(super) fn nulls_of(array: &dyn Array) -> Option<&NullBuffer> {
    array.nulls().filter(|nulls| nulls.null_count() > 0)
}

/// Whether a batch's minimum `value` can replace the kept one: smaller, or
/// equal and from an earlier batch.
fn beats_min<T: PartialOrd>(slot: &Option<(T, Pos)>, value: T, batch: u32) -> bool {
    slot.as_ref()
        .is_none_or(|(kept, at)| value < *kept || (value == *kept && batch < at.batch))
}

fn beats_max<T: PartialOrd>(slot: &Option<(T, Pos)>, value: T, batch: u32) -> bool {
    slot.as_ref()
        .is_none_or(|(kept, at)| value > *kept || (value == *kept && batch < at.batch))
}

/// Keeps a batch's extremes `low` and `high` where they beat the kept ones,
/// looking up their rows (`row_of(true)` for `low`, `row_of(false)` for
/// `high`) only then.
fn keep_extremes<T: PartialOrd + Copy>(
    min_slot: &mut Option<(T, Pos)>,
    max_slot: &mut Option<(T, Pos)>,
    (low, high): (T, T),
    batch: u32,
    row_of: impl Fn(bool) -> u32,
) {
    if beats_min(min_slot, low, batch) {
        let row = row_of(true);
        keep_min(min_slot, Some((low, Pos { batch, row })));
    }
    if beats_max(max_slot, high, batch) {
        let row = row_of(false);
        keep_max(max_slot, Some((high, Pos { batch, row })));
    }
}

pub(super) fn numeric_batch(
    state: &mut NumericState,
    array: &dyn Array,
    batch: u32,
    sample: &Sample,
) {
    match array.data_type() {
        DataType::Int64 => {
            let ints = array.as_primitive::<Int64Type>();
            integer_values(state, Dense::of(ints), batch);
            sketch_sample(&mut state.sketch, ints, sample, |v| v as f64);
        }
        DataType::Float64 => {
            let floats = array.as_primitive::<Float64Type>();
            float_values(state, Dense::of(floats), batch);
            sketch_sample(&mut state.sketch, floats, sample, |v| v);
        }
        DataType::Decimal128(_, scale) => {
            let unit = 10f64.powi(i32::from(*scale));
            let decimals = array.as_primitive::<Decimal128Type>();
            // Through i64 where it fits: i128 to f64 is a slow library call,
            // and both round to the nearest f64.
            let as_f64 = |v: i128| i64::try_from(v).map_or_else(|_| v as f64, |v| v as f64) / unit;
            float_values(state, Dense::of(decimals).map(as_f64), batch);
            sketch_sample(&mut state.sketch, decimals, sample, as_f64);
        }
        DataType::Decimal256(_, scale) => {
            let unit = 10f64.powi(i32::from(*scale));
            let decimals = array.as_primitive::<Decimal256Type>();
            let as_f64 = |v: datafusion::arrow::datatypes::i256| {
                v.to_i128()
                    .map_or_else(|| v.to_parts().1 as f64 * 2f64.powi(128), |x| x as f64)
                    / unit
            };
            float_values(state, Dense::of(decimals).map(as_f64), batch);
            sketch_sample(&mut state.sketch, decimals, sample, as_f64);
        }
        _ => {}
    }
}

/// Integers: exact sums in `i128` while every value is small, as floats
/// otherwise (the extremes are the same either way).
fn integer_values(state: &mut NumericState, dense: Dense<i64>, batch: u32) {
    let values = &dense.values;
    let (Some(&low), Some(&high)) = (values.iter().min(), values.iter().max()) else {
        return;
    };
    if low <= -SMALL_INTEGER || high >= SMALL_INTEGER {
        return float_values(state, dense.map(|v| v as f64), batch);
    }
    let extremes = (low as f64, high as f64);
    keep_extremes(&mut state.min, &mut state.max, extremes, batch, |x| {
        let target = if x { low } else { high };
        dense.first_row(|v| v == target)
    });
    state.finite += values.len() as u64;
    state.zeros += values.iter().filter(|v| **v == 0).count() as u64;
    for chunk in values.chunks(INTEGER_CHUNK) {
        let sum: i128 = chunk.iter().map(|v| i128::from(*v)).sum();
        let squares: i128 = chunk.iter().map(|v| i128::from(*v) * i128::from(*v)).sum();
        state.sum.add_integer(sum);
        state.squares.add_integer(squares);
    }
}

/// Floats: NaN counted apart, infinities in the extremes but not the sums.
fn float_values(state: &mut NumericState, dense: Dense<f64>, batch: u32) {
    let nan = dense.values.iter().filter(|v| v.is_nan()).count();
    let dense = if nan > 0 {
        state.nan += nan as u64;
        dense.retain(|v| !v.is_nan())
    } else {
        dense
    };
    let values = &dense.values;
    if values.is_empty() {
        return;
    }
    let (mut low, mut high) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut zeros, mut infinite) = (0u64, 0u64);
    // Written as comparisons (no NaN is left) so they compile to vector
    // min and max.
    for &v in values.iter() {
        low = if v < low { v } else { low };
        high = if v > high { v } else { high };
        zeros += u64::from(v == 0.0);
        infinite += u64::from(v.is_infinite());
    }
    // `==` finds the first zero whichever sign `min` returned, as `<` would.
    keep_extremes(&mut state.min, &mut state.max, (low, high), batch, |x| {
        let target = if x { low } else { high };
        dense.first_row(|v| v == target)
    });
    state.zeros += zeros;
    state.infinite += infinite;
    state.finite += values.len() as u64 - infinite;
    let (sum, squares) = if infinite == 0 {
        sum_and_squares(values)
    } else {
        let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        sum_and_squares(&finite)
    };
    state.sum.merge(&sum);
    state.squares.merge(&squares);
}

/// The finite values of the sampled rows into the quantile sketch.
fn sketch_sample<P: ArrowPrimitiveType>(
    sketch: &mut QuantileSketch,
    array: &PrimitiveArray<P>,
    sample: &Sample,
    as_f64: impl Fn(P::Native) -> f64,
) {
    let values: Vec<f64> = sample
        .rows()
        .iter()
        .map(|row| *row as usize)
        .filter(|row| array.is_valid(*row))
        .map(|row| as_f64(array.value(row)))
        .filter(|v| v.is_finite())
        .collect();
    sketch.merge(QuantileSketch::of_values(values));
}

pub(super) fn temporal_batch(
    state: &mut TemporalState,
    array: &dyn Array,
    batch: u32,
    sample: &Sample,
) {
    use DataType::*;
    match array.data_type() {
        Date32 => temporal_values::<Date32Type>(state, array, batch, sample),
        Date64 => temporal_values::<Date64Type>(state, array, batch, sample),
        Time64(_) => temporal_values::<Time64NanosecondType>(state, array, batch, sample),
        Timestamp(TimeUnit::Second, _) => {
            temporal_values::<TimestampSecondType>(state, array, batch, sample)
        }
        Timestamp(TimeUnit::Millisecond, _) => {
            temporal_values::<TimestampMillisecondType>(state, array, batch, sample)
        }
        Timestamp(TimeUnit::Microsecond, _) => {
            temporal_values::<TimestampMicrosecondType>(state, array, batch, sample)
        }
        Timestamp(TimeUnit::Nanosecond, _) => {
            temporal_values::<TimestampNanosecondType>(state, array, batch, sample)
        }
        Duration(TimeUnit::Second) => {
            temporal_values::<DurationSecondType>(state, array, batch, sample)
        }
        Duration(TimeUnit::Millisecond) => {
            temporal_values::<DurationMillisecondType>(state, array, batch, sample)
        }
        Duration(TimeUnit::Microsecond) => {
            temporal_values::<DurationMicrosecondType>(state, array, batch, sample)
        }
        Duration(TimeUnit::Nanosecond) => {
            temporal_values::<DurationNanosecondType>(state, array, batch, sample)
        }
        _ => {}
    }
}

fn temporal_values<P>(state: &mut TemporalState, array: &dyn Array, batch: u32, sample: &Sample)
where
    P: ArrowPrimitiveType,
    P::Native: Into<i64>,
{
    let values = array.as_primitive::<P>();
    if let (Some(low), Some(high)) = (min(values), max(values)) {
        keep_extremes(
            &mut state.min,
            &mut state.max,
            (low.into(), high.into()),
            batch,
            |x| {
                let target = if x { low } else { high };
                (0..values.len())
                    .find(|i| values.is_valid(*i) && values.value(*i) == target)
                    .unwrap_or(0) as u32
            },
        );
    }
    sketch_sample(&mut state.sketch, values, sample, |v| {
        let v: i64 = v.into();
        v as f64
    });
}

/// A text column's lengths, and its extremes among the batch's distinct
/// values: `counts` holds each distinct value's first row (values are told
/// apart by their 64-bit hash here, as distinct counts and top values tell
/// them apart), so a column of a few values costs a few comparisons.
pub(super) fn text_batch(state: &mut TextState, array: &dyn Array, counts: &Counts) {
    match array.data_type() {
        DataType::Utf8View => {
            let values = array.as_string_view();
            let value = |row: usize| values.value(row).as_bytes();
            text_values(state, array, values.views(), value, counts);
        }
        DataType::BinaryView => {
            let values = array.as_binary_view();
            text_values(
                state,
                array,
                values.views(),
                |row| values.value(row),
                counts,
            );
        }
        _ => {}
    }
}

fn text_values<'a>(
    state: &mut TextState,
    array: &dyn Array,
    views: &[u128],
    value: impl Fn(usize) -> &'a [u8],
    counts: &Counts,
) {
    // A column of few values compares its distinct values; one of many
    // compares row by row, in order (the distinct values' first rows are
    // scattered through the batch's data).
    let extremes = if counts.len() * 4 <= array.len() - array.null_count() {
        min_max(counts.values().map(|(_, at)| value(at.row as usize)))
    } else {
        match nulls_of(array) {
            None => min_max((0..array.len()).map(&value)),
            Some(nulls) => min_max(nulls.valid_indices().map(&value)),
        }
    };
    if let Some((low, high)) = extremes {
        if state.min.as_deref().is_none_or(|kept| low < kept) {
            state.min = Some(low.to_vec());
        }
        if state.max.as_deref().is_none_or(|kept| high > kept) {
            state.max = Some(high.to_vec());
        }
    }
    // A view's low 32 bits are its value's length in bytes.
    let (mut shortest, mut longest, mut total, mut empty) = (u32::MAX, 0u32, 0u64, 0u64);
    let mut fold = |view: u128| {
        let length = view as u32;
        shortest = shortest.min(length);
        longest = longest.max(length);
        total += u64::from(length);
        empty += u64::from(length == 0);
    };
    match nulls_of(array) {
        None => views.iter().for_each(|view| fold(*view)),
        Some(nulls) => nulls.valid_indices().for_each(|i| fold(views[i])),
    }
    if longest > 0 || empty > 0 {
        state.min_length = state.min_length.min(u64::from(shortest));
        state.max_length = state.max_length.max(u64::from(longest));
        state.total_length += total;
        state.empty += empty;
    }
}

fn min_max<'a>(mut values: impl Iterator<Item = &'a [u8]>) -> Option<(&'a [u8], &'a [u8])> {
    let first = values.next()?;
    Some(values.fold((first, first), |(low, high), v| {
        (
            if v < low { v } else { low },
            if v > high { v } else { high },
        )
    }))
}
