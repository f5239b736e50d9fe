//! Finished statistics of a column, as reports show and rules read them:
//! counts, extremes, moments, quantiles, text lengths and top values, made
//! from a column's merged state (`StatsState`) once every batch is in.

use std::collections::BTreeMap;

use datafusion::arrow::array::{
    ArrayRef, Date32Array, Date64Array, DurationMicrosecondArray, DurationMillisecondArray,
    DurationNanosecondArray, DurationSecondArray, Time64NanosecondArray, TimestampMicrosecondArray,
    TimestampMillisecondArray, TimestampNanosecondArray, TimestampSecondArray,
};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::exact_sum::sample_variance;
use super::quantiles::LEVELS;
use super::{KindState, StatsState, TOP_K};
use crate::diff::position::Pos;
use crate::diff::value::{cell_to_json, float_to_json};

/// Finished statistics of one column, as the report shows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnStats {
    pub count: u64,
    pub null_count: u64,
    /// `null_count / count`; 0 for an empty table.
    pub null_rate: f64,
    pub distinct: u64,
    /// Whether `distinct` is exact (at most 10,000 distinct values).
    pub distinct_exact: bool,
    pub min: Value,
    pub max: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub numeric: Option<NumericStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temporal: Option<TemporalStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<TextStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boolean: Option<BooleanStats>,
}

/// Moments and quantiles over the finite values (NaN and infinities are
/// counted apart).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumericStats {
    pub sum: Value,
    pub mean: Value,
    /// Sample variance (n - 1); null below two values.
    pub variance: Value,
    pub stddev: Value,
    pub zeros: u64,
    pub nan: u64,
    pub infinite: u64,
    pub quantiles: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemporalStats {
    pub quantiles: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextStats {
    /// Lengths in bytes.
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub mean_length: Option<f64>,
    pub empty: u64,
    pub top: Vec<TopValue>,
    /// Whether `top` counts are exact (at most 10,000 distinct values).
    pub top_exact: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopValue {
    pub value: Value,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BooleanStats {
    pub true_count: u64,
    pub false_count: u64,
}

/// Reads one column's cell back from the batches statistics positions point
/// into.
pub trait CellSource {
    fn cell(&self, pos: Pos) -> crate::error::Result<Value>;
}

impl ColumnStats {
    /// Statistics with their counts filled in and nothing else yet.
    pub fn of_counts(rows: u64, nulls: u64, distinct: u64, distinct_exact: bool) -> Self {
        ColumnStats {
            count: rows,
            null_count: nulls,
            null_rate: if rows == 0 {
                0.0
            } else {
                nulls as f64 / rows as f64
            },
            distinct,
            distinct_exact,
            min: Value::Null,
            max: Value::Null,
            numeric: None,
            temporal: None,
            text: None,
            boolean: None,
        }
    }

    /// A boolean column's counts, and the min and max they imply.
    pub fn set_booleans(&mut self, trues: u64, falses: u64) {
        let (min, max) = match (trues, falses) {
            (0, 0) => (Value::Null, Value::Null),
            (0, _) => (Value::Bool(false), Value::Bool(false)),
            (_, 0) => (Value::Bool(true), Value::Bool(true)),
            _ => (Value::Bool(false), Value::Bool(true)),
        };
        self.min = min;
        self.max = max;
        self.boolean = Some(BooleanStats {
            true_count: trues,
            false_count: falses,
        });
    }

    /// Finishes a state into report values. `data_type` is the column's
    /// comparison type; `cells` resolves positions to typed values.
    pub fn finish(
        state: &StatsState,
        data_type: &DataType,
        cells: &dyn CellSource,
    ) -> crate::error::Result<Self> {
        let (distinct, distinct_exact) = state.distinct.estimate();
        let mut stats = ColumnStats::of_counts(state.rows, state.nulls, distinct, distinct_exact);
        match &state.kind {
            KindState::Numeric(n) => {
                stats.min = n.min.map_or(Ok(Value::Null), |(_, p)| cells.cell(p))?;
                stats.max = n.max.map_or(Ok(Value::Null), |(_, p)| cells.cell(p))?;
                let variance = sample_variance(n.finite, &n.sum, &n.squares);
                let has_values = n.finite > 0;
                stats.numeric = Some(NumericStats {
                    sum: float_to_json(n.sum.value()),
                    mean: if has_values {
                        float_to_json(n.sum.value() / n.finite as f64)
                    } else {
                        Value::Null
                    },
                    variance: variance.map_or(Value::Null, float_to_json),
                    stddev: variance.map_or(Value::Null, |v| float_to_json(v.sqrt())),
                    zeros: n.zeros,
                    nan: n.nan,
                    infinite: n.infinite,
                    quantiles: LEVELS
                        .iter()
                        .map(|(name, q)| {
                            (
                                name.to_string(),
                                n.sketch.quantile(*q).map_or(Value::Null, float_to_json),
                            )
                        })
                        .collect(),
                });
            }
            KindState::Temporal(t) => {
                stats.min = t.min.map_or(Ok(Value::Null), |(_, p)| cells.cell(p))?;
                stats.max = t.max.map_or(Ok(Value::Null), |(_, p)| cells.cell(p))?;
                stats.temporal = Some(TemporalStats {
                    quantiles: LEVELS
                        .iter()
                        .map(|(name, q)| {
                            let value = t.sketch.quantile(*q).map_or(Value::Null, |v| {
                                temporal_to_json(v.round() as i64, data_type)
                            });
                            (name.to_string(), value)
                        })
                        .collect(),
                });
            }
            KindState::Text(t) => {
                let text = |bytes: &Option<Vec<u8>>| match bytes {
                    None => Value::Null,
                    Some(b) if *data_type == DataType::Utf8View => {
                        Value::String(String::from_utf8_lossy(b).into_owned())
                    }
                    Some(b) => Value::String(format!(
                        "0x{}",
                        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
                    )),
                };
                stats.min = text(&t.min);
                stats.max = text(&t.max);
                let values = state.rows - state.nulls;
                stats.text = Some(TextStats {
                    min_length: (values > 0).then_some(t.min_length),
                    max_length: (values > 0).then_some(t.max_length),
                    mean_length: (values > 0).then(|| t.total_length as f64 / values as f64),
                    empty: t.empty,
                    top: t
                        .top
                        .top(TOP_K)
                        .into_iter()
                        .map(|(_, count, pos)| {
                            Ok(TopValue {
                                value: cells.cell(pos)?,
                                count,
                            })
                        })
                        .collect::<crate::error::Result<_>>()?,
                    top_exact: t.top.exact(),
                });
            }
            KindState::Boolean { trues, falses } => stats.set_booleans(*trues, *falses),
            KindState::Other => {}
        }
        Ok(stats)
    }
}

/// A temporal instant (in the column's unit) as its typed display value.
pub(crate) fn temporal_to_json(value: i64, data_type: &DataType) -> Value {
    let array: ArrayRef = match data_type {
        DataType::Date32 => std::sync::Arc::new(Date32Array::from(vec![value as i32])),
        DataType::Date64 => std::sync::Arc::new(Date64Array::from(vec![value])),
        DataType::Time64(_) => std::sync::Arc::new(Time64NanosecondArray::from(vec![value])),
        DataType::Timestamp(unit, tz) => match unit {
            TimeUnit::Second => std::sync::Arc::new(
                TimestampSecondArray::from(vec![value]).with_timezone_opt(tz.clone()),
            ),
            TimeUnit::Millisecond => std::sync::Arc::new(
                TimestampMillisecondArray::from(vec![value]).with_timezone_opt(tz.clone()),
            ),
            TimeUnit::Microsecond => std::sync::Arc::new(
                TimestampMicrosecondArray::from(vec![value]).with_timezone_opt(tz.clone()),
            ),
            TimeUnit::Nanosecond => std::sync::Arc::new(
                TimestampNanosecondArray::from(vec![value]).with_timezone_opt(tz.clone()),
            ),
        },
        DataType::Duration(unit) => match unit {
            TimeUnit::Second => std::sync::Arc::new(DurationSecondArray::from(vec![value])),
            TimeUnit::Millisecond => {
                std::sync::Arc::new(DurationMillisecondArray::from(vec![value]))
            }
            TimeUnit::Microsecond => {
                std::sync::Arc::new(DurationMicrosecondArray::from(vec![value]))
            }
            TimeUnit::Nanosecond => std::sync::Arc::new(DurationNanosecondArray::from(vec![value])),
        },
        _ => return Value::from(value),
    };
    cell_to_json(array.as_ref(), 0)
}
