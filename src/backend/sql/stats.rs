//! Column statistics as aggregates the engine computes: one query per side,
//! which a cluster runs as partial aggregates on every executor and merges
//! in a final one, so only one row comes back. Each value column is cast to
//! its comparison type first, as in the embedded diff.
//!
//! What the engine gives is what DataFusion's aggregates give: count, NULLs,
//! min and max are exact; sums, means and variances are floating-point
//! sums in whatever order the partitions finish; distinct counts are
//! HyperLogLog estimates (`approx_distinct`) and quantiles t-digest
//! estimates (`approx_percentile_cont`). Top values, PSI, the
//! Kolmogorov-Smirnov distance and histograms need the values or sketches
//! themselves and are left out.

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;
use serde_json::Value;

use super::{Queries, query};
use crate::diff::drift::{Quantiles, summary_drift};
use crate::diff::schema::ColumnPair;
use crate::diff::stats::quantiles::LEVELS;
use crate::diff::stats::{NumericStats, TemporalStats, TextStats, temporal_to_json};
use crate::diff::value::{cell_to_json, float_to_json};
use crate::diff::{ColumnStats, Side, SideStats, TableDiff};
use crate::error::{Error, Result};

/// One column's statistics on one side, with its quantiles as numbers in
/// the column's units (what drift is computed from).
pub struct EngineStats {
    stats: ColumnStats,
    quantiles: Option<Quantiles>,
}

/// How a comparison type is summarized.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Numeric,
    Temporal,
    Text,
    Boolean,
    Other,
}

fn kind(data_type: &DataType) -> Kind {
    use DataType::*;
    match data_type {
        Int64 | Float64 | Decimal128(..) | Decimal256(..) => Kind::Numeric,
        Date32 | Date64 | Timestamp(..) | Time64(_) | Duration(_) => Kind::Temporal,
        Utf8View | BinaryView => Kind::Text,
        Boolean => Kind::Boolean,
        _ => Kind::Other,
    }
}

/// The statistics of every value column of `side`, in the order of
/// `queries.values`.
pub async fn side_stats(
    ctx: &SessionContext,
    queries: &Queries<'_>,
    side: Side,
) -> Result<Vec<EngineStats>> {
    let batches = query(ctx, &aggregates_sql(queries, side)).await?;
    let Some(row) = batches.first() else {
        return Err(Error::compute(
            "the SQL statistics failed",
            "the engine returned no row",
        ));
    };
    queries
        .values
        .iter()
        .enumerate()
        .map(|(j, pair)| read_column(row, j, &pair.compared_as))
        .collect()
}

/// Attaches both sides' statistics, and the drift between them, to the
/// columns of `diff` (paired by name).
pub fn attach(
    diff: &mut TableDiff,
    values: &[ColumnPair],
    prod: Vec<EngineStats>,
    candidate: Vec<EngineStats>,
) {
    for ((pair, prod), candidate) in values.iter().zip(prod).zip(candidate) {
        let Some(column) = diff.columns.iter_mut().find(|c| c.name == pair.name) else {
            continue;
        };
        let quantiles = prod.quantiles.zip(candidate.quantiles);
        column.drift = Some(summary_drift(
            &prod.stats,
            &candidate.stats,
            quantiles.as_ref(),
            &pair.compared_as,
        ));
        column.stats = Some(SideStats {
            prod: prod.stats,
            candidate: candidate.stats,
        });
    }
}

/// One row: `rows`, then per value column `j` aggregates named `c{j}_...`.
fn aggregates_sql(queries: &Queries<'_>, side: Side) -> String {
    let mut columns = vec!["count(*) AS rows".to_string()];
    for (j, pair) in queries.values.iter().enumerate() {
        let value = super::cast(&queries.column(side, pair), &pair.compared_as);
        let mut add = |name: &str, expression: String| {
            columns.push(format!("{expression} AS c{j}_{name}"));
        };
        add("values", format!("count({value})"));
        add(
            "distinct",
            format!(
                "approx_distinct({})",
                distinct_input(&value, &pair.compared_as)
            ),
        );
        let count_if = |condition: String| format!("sum(CASE WHEN {condition} THEN 1 ELSE 0 END)");
        match kind(&pair.compared_as) {
            Kind::Numeric => {
                let float = super::cast(&value, &DataType::Float64);
                // Finite values only: `x - x` is 0 for them and NaN for NaN
                // and the infinities, which are counted apart.
                let finite = format!("(({float} - {float}) = 0.0)");
                let finite_float = format!("CASE WHEN {finite} THEN {float} END");
                // The extremes include the infinities, not NaN (which
                // DataFusion orders above every number).
                let ordered = format!("CASE WHEN NOT isnan({float}) THEN {value} END");
                add("min", format!("min({ordered})"));
                add("max", format!("max({ordered})"));
                add("finite", format!("count({finite_float})"));
                add("sum", format!("sum({finite_float})"));
                add("variance", format!("var_samp({finite_float})"));
                add("zeros", count_if(format!("({float} = 0.0)")));
                add("nan", count_if(format!("isnan({float})")));
                for (name, q) in LEVELS {
                    add(name, format!("approx_percentile_cont({finite_float}, {q})"));
                }
            }
            Kind::Temporal => {
                add("min", format!("min({value})"));
                add("max", format!("max({value})"));
                let number =
                    super::cast(&super::cast(&value, &DataType::Int64), &DataType::Float64);
                for (name, q) in LEVELS {
                    add(name, format!("approx_percentile_cont({number}, {q})"));
                }
            }
            Kind::Text => {
                add("min", format!("min({value})"));
                add("max", format!("max({value})"));
                let length = format!("octet_length({value})");
                add("min_length", format!("min({length})"));
                add("max_length", format!("max({length})"));
                add("total_length", format!("sum({length})"));
                add("empty", count_if(format!("({length} = 0)")));
            }
            Kind::Boolean => {
                add("trues", count_if(format!("({value} IS TRUE)")));
                add("falses", count_if(format!("({value} IS FALSE)")));
            }
            Kind::Other => {}
        }
    }
    format!(
        "SELECT {} FROM {}",
        columns.join(", "),
        super::ident(queries.table(side).table)
    )
}

/// What `approx_distinct` counts for `value`: the value itself, or where
/// DataFusion's `approx_distinct` lacks the type, an integer that is equal
/// exactly when the values are (durations as their count of units, floats
/// as their hash, NULL kept NULL).
fn distinct_input(value: &str, data_type: &DataType) -> String {
    match data_type {
        DataType::Duration(_) => super::cast(value, &DataType::Int64),
        DataType::Float64 => format!("CASE WHEN {value} IS NOT NULL THEN xxhash64({value}) END"),
        _ => value.to_string(),
    }
}

/// The aggregate `name` of the row, as a single-cell array.
fn cell(row: &RecordBatch, name: &str) -> Result<ArrayRef> {
    row.column_by_name(name).cloned().ok_or_else(|| {
        Error::compute(
            "the SQL statistics failed",
            format!("the engine returned no `{name}`"),
        )
    })
}

fn number(row: &RecordBatch, name: &str) -> Result<Option<f64>> {
    let array = cell(row, name)?;
    let floats = cast(&array, &DataType::Float64)
        .map_err(|e| Error::compute("the SQL statistics failed", e))?;
    let floats = floats.as_primitive::<Float64Type>();
    Ok((!floats.is_empty() && floats.is_valid(0)).then(|| floats.value(0)))
}

fn count(row: &RecordBatch, name: &str) -> Result<u64> {
    Ok(number(row, name)?.map_or(0, |n| n.max(0.0) as u64))
}

/// The typed JSON value of aggregate `name`, cast back to `data_type`.
fn typed(row: &RecordBatch, name: &str, data_type: &DataType) -> Result<Value> {
    let array = cell(row, name)?;
    let array =
        cast(&array, data_type).map_err(|e| Error::compute("the SQL statistics failed", e))?;
    Ok(if array.is_empty() {
        Value::Null
    } else {
        cell_to_json(&array, 0)
    })
}

fn read_column(row: &RecordBatch, j: usize, data_type: &DataType) -> Result<EngineStats> {
    let name = |what: &str| format!("c{j}_{what}");
    let rows = count(row, "rows")?;
    let values = count(row, &name("values"))?;
    let nulls = rows - values.min(rows);
    let mut stats = ColumnStats::of_counts(rows, nulls, count(row, &name("distinct"))?, false);
    let quantiles = |row: &RecordBatch| -> Result<Quantiles> {
        let mut out = [None; LEVELS.len()];
        for (slot, (level, _)) in out.iter_mut().zip(LEVELS) {
            *slot = number(row, &name(level))?;
        }
        Ok(out)
    };
    let mut numbers = None;
    match kind(data_type) {
        Kind::Numeric => {
            stats.min = typed(row, &name("min"), data_type)?;
            stats.max = typed(row, &name("max"), data_type)?;
            let finite = count(row, &name("finite"))?;
            let nan = count(row, &name("nan"))?;
            let sum = number(row, &name("sum"))?.unwrap_or(0.0);
            let variance = number(row, &name("variance"))?.filter(|_| finite > 1);
            let levels = quantiles(row)?;
            stats.numeric = Some(NumericStats {
                sum: float_to_json(sum),
                mean: if finite > 0 {
                    float_to_json(sum / finite as f64)
                } else {
                    Value::Null
                },
                variance: variance.map_or(Value::Null, float_to_json),
                stddev: variance.map_or(Value::Null, |v| float_to_json(v.sqrt())),
                zeros: count(row, &name("zeros"))?,
                nan,
                infinite: values.saturating_sub(finite + nan),
                quantiles: quantile_values(&levels, float_to_json),
            });
            numbers = Some(levels);
        }
        Kind::Temporal => {
            stats.min = typed(row, &name("min"), data_type)?;
            stats.max = typed(row, &name("max"), data_type)?;
            let levels = quantiles(row)?;
            stats.temporal = Some(TemporalStats {
                quantiles: quantile_values(&levels, |v| {
                    temporal_to_json(v.round() as i64, data_type)
                }),
            });
            numbers = Some(levels);
        }
        Kind::Text => {
            stats.min = typed(row, &name("min"), data_type)?;
            stats.max = typed(row, &name("max"), data_type)?;
            let length = |what: &str| -> Result<Option<u64>> {
                Ok(number(row, &name(what))?
                    .filter(|_| values > 0)
                    .map(|n| n as u64))
            };
            stats.text = Some(TextStats {
                min_length: length("min_length")?,
                max_length: length("max_length")?,
                mean_length: length("total_length")?.map(|total| total as f64 / values as f64),
                empty: count(row, &name("empty"))?,
                top: Vec::new(),
                top_exact: false,
            });
        }
        Kind::Boolean => {
            stats.set_booleans(count(row, &name("trues"))?, count(row, &name("falses"))?);
        }
        Kind::Other => {}
    }
    Ok(EngineStats {
        stats,
        quantiles: numbers,
    })
}

fn quantile_values(
    levels: &Quantiles,
    to_json: impl Fn(f64) -> Value,
) -> std::collections::BTreeMap<String, Value> {
    LEVELS
        .iter()
        .zip(levels)
        .map(|((name, _), value)| (name.to_string(), value.map_or(Value::Null, &to_json)))
        .collect()
}
