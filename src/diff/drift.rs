//! Drift: how the shape of a column moved between prod and candidate,
//! computed from the two sides' statistics.
//!
//! Relative changes use prod as the denominator; when prod is 0 the change
//! is 0 if the candidate is 0 too, and otherwise null with a note saying so
//! (never NaN). PSI uses 10 bins cut at prod's deciles, with empty bins
//! counted as a share of `PSI_EPSILON`; PSI and the Kolmogorov-Smirnov
//! distance are read from the quantile sketches (CDFs on a 0.1% grid).

use std::collections::BTreeMap;

use datafusion::arrow::datatypes::DataType;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::stats::quantiles::{Cdf, LEVELS};
use super::stats::{CellSource, ColumnStats, KindState, StatsState, TOP_K, TopValues};

/// The share given to an empty PSI bin, so its log term stays finite.
pub const PSI_EPSILON: f64 = 1e-4;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    /// Candidate null rate minus prod null rate, in percentage points.
    pub null_rate_pp: f64,
    pub distinct_change: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub numeric: Option<NumericDrift>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub categories: Option<CategoryDrift>,
    /// Why a value above is null, e.g. a zero prod denominator.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Relative changes (0.02 = +2%) and distribution distances.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NumericDrift {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_change: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stddev_change: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sum_change: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_change: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_change: Option<f64>,
    /// Relative change of each quantile (numbers only).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub quantile_change: BTreeMap<String, Option<f64>>,
    /// Shift of each quantile in seconds (dates, times and timestamps, where
    /// a change relative to the epoch would mean nothing).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub quantile_shift_seconds: BTreeMap<String, f64>,
    pub psi: Option<f64>,
    pub ks: Option<f64>,
    /// Both sides on shared bins, for charts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub histogram: Option<Histogram>,
}

/// Shares of each side's values on shared, equal-width bins spanning both
/// sides' 0.5th to 99.5th percentiles; values beyond count in the end bins.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// `BINS + 1` edges in the column's units.
    pub edges: Vec<f64>,
    /// The edges as text (instants for dates and times).
    pub labels: Vec<String>,
    pub prod: Vec<f64>,
    pub candidate: Vec<f64>,
}

/// Bins of a drift histogram.
pub const BINS: usize = 20;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CategoryDrift {
    /// Values among the candidate's top values that prod does not have.
    pub new: Vec<Value>,
    /// Values among prod's top values that the candidate does not have.
    pub vanished: Vec<Value>,
    /// Largest change of a top value's share of non-null rows, in
    /// percentage points.
    pub top_share_change_pp: f64,
}

/// Relative change `(candidate - prod) / |prod|`, with a note when prod is 0.
fn relative(name: &str, prod: f64, candidate: f64, notes: &mut Vec<String>) -> Option<f64> {
    if !prod.is_finite() || !candidate.is_finite() {
        return None;
    }
    if prod == 0.0 {
        if candidate == 0.0 {
            return Some(0.0);
        }
        notes.push(format!(
            "{name} is 0 in prod, so its relative change is undefined"
        ));
        return None;
    }
    Some((candidate - prod) / prod.abs())
}

fn number(value: &Value) -> Option<f64> {
    value.as_f64()
}

/// One side of a column: its merged state, finished statistics, and where
/// to read its values.
pub struct DriftSide<'a> {
    pub state: &'a StatsState,
    pub stats: &'a ColumnStats,
    pub cells: &'a dyn CellSource,
}

/// Seconds per stored unit of a temporal comparison type.
fn seconds_per_unit(data_type: &DataType) -> Option<f64> {
    use datafusion::arrow::datatypes::TimeUnit;
    let unit = |u: &TimeUnit| match u {
        TimeUnit::Second => 1.0,
        TimeUnit::Millisecond => 1e-3,
        TimeUnit::Microsecond => 1e-6,
        TimeUnit::Nanosecond => 1e-9,
    };
    match data_type {
        DataType::Date32 => Some(86_400.0),
        DataType::Date64 => Some(1e-3),
        DataType::Time64(u) | DataType::Timestamp(u, _) | DataType::Duration(u) => Some(unit(u)),
        _ => None,
    }
}

/// Each quantile of `LEVELS` of one side, in the column's units.
pub type Quantiles = [Option<f64>; LEVELS.len()];

/// Drift of one column whose comparison type is `data_type`.
pub fn drift(
    prod_side: &DriftSide,
    candidate_side: &DriftSide,
    data_type: &DataType,
) -> crate::error::Result<Drift> {
    let (prod, candidate) = (prod_side.state, candidate_side.state);
    let sketches = match (&prod.kind, &candidate.kind) {
        (KindState::Numeric(p), KindState::Numeric(c)) => Some((&p.sketch, &c.sketch)),
        (KindState::Temporal(p), KindState::Temporal(c)) => Some((&p.sketch, &c.sketch)),
        _ => None,
    };
    let quantiles = sketches.map(|(ps, cs)| {
        let of = |sketch: &super::stats::quantiles::QuantileSketch| -> Quantiles {
            LEVELS.map(|(_, q)| sketch.quantile(q))
        };
        (of(ps), of(cs))
    });
    let mut drift = summary_drift(
        prod_side.stats,
        candidate_side.stats,
        quantiles.as_ref(),
        data_type,
    );
    if let (Some((ps, cs)), Some(numeric)) = (sketches, drift.numeric.as_mut())
        && let (Some(p), Some(c)) = (Cdf::of(ps), Cdf::of(cs))
    {
        numeric.psi = Some(psi(&p, &c));
        numeric.ks = Some(ks(&p, &c));
        numeric.histogram = Some(histogram(&p, &c, data_type));
    }
    if let (KindState::Text(pt), KindState::Text(ct)) = (&prod.kind, &candidate.kind) {
        let prod_values = (prod.rows - prod.nulls).max(1) as f64;
        let candidate_values = (candidate.rows - candidate.nulls).max(1) as f64;
        let shares = [&pt.top, &ct.top].map(|top| top.top(TOP_K));
        let hashes: std::collections::BTreeSet<u64> =
            shares.iter().flatten().map(|(h, _, _)| *h).collect();
        drift.categories = Some(CategoryDrift {
            new: missing_from(&ct.top, &pt.top, candidate_side.cells)?,
            vanished: missing_from(&pt.top, &ct.top, prod_side.cells)?,
            top_share_change_pp: hashes
                .into_iter()
                .map(|h| {
                    let share_p = pt.top.count_of(h).unwrap_or(0) as f64 / prod_values;
                    let share_c = ct.top.count_of(h).unwrap_or(0) as f64 / candidate_values;
                    ((share_c - share_p) * 100.0).abs()
                })
                .fold(0.0, f64::max),
        });
    }
    Ok(drift)
}

/// The drift that summaries give: null rate, distinct count, and for
/// numbers and instants (those with `quantiles`, prod's then the
/// candidate's) the moments and quantiles. No distances: PSI and KS need
/// the sketches themselves.
pub fn summary_drift(
    prod: &ColumnStats,
    candidate: &ColumnStats,
    quantiles: Option<&(Quantiles, Quantiles)>,
    data_type: &DataType,
) -> Drift {
    let mut notes = Vec::new();
    let distinct_change = relative(
        "distinct",
        prod.distinct as f64,
        candidate.distinct as f64,
        &mut notes,
    );
    let mut drift = Drift {
        null_rate_pp: (candidate.null_rate - prod.null_rate) * 100.0,
        distinct_change,
        ..Default::default()
    };
    if let Some((prod_quantiles, candidate_quantiles)) = quantiles {
        let mut numeric = NumericDrift::default();
        if let (Some(p), Some(c)) = (&prod.numeric, &candidate.numeric) {
            let mut change = |name: &str, a: &Value, b: &Value| match (number(a), number(b)) {
                (Some(x), Some(y)) => relative(name, x, y, &mut notes),
                _ => None,
            };
            numeric.mean_change = change("mean", &p.mean, &c.mean);
            numeric.stddev_change = change("stddev", &p.stddev, &c.stddev);
            numeric.sum_change = change("sum", &p.sum, &c.sum);
            numeric.min_change = change("min", &prod.min, &candidate.min);
            numeric.max_change = change("max", &prod.max, &candidate.max);
        }
        let levels = LEVELS
            .iter()
            .zip(prod_quantiles.iter().zip(candidate_quantiles));
        for ((name, _), (a, b)) in levels {
            let (Some(a), Some(b)) = (*a, *b) else {
                continue;
            };
            match seconds_per_unit(data_type) {
                Some(seconds) => {
                    numeric
                        .quantile_shift_seconds
                        .insert(name.to_string(), (b - a) * seconds);
                }
                None => {
                    let change = relative(name, a, b, &mut notes);
                    numeric.quantile_change.insert(name.to_string(), change);
                }
            }
        }
        drift.numeric = Some(numeric);
    }
    drift.notes = notes;
    drift
}

/// Up to `TOP_K` of `side`'s values (most frequent first) that `other` never
/// has. Only said when `other` counted every value, or absence is unknown.
fn missing_from(
    side: &TopValues,
    other: &TopValues,
    cells: &dyn CellSource,
) -> crate::error::Result<Vec<Value>> {
    side.missing_from(other, TOP_K)
        .into_iter()
        .map(|pos| cells.cell(pos))
        .collect()
}

fn histogram(prod: &Cdf, candidate: &Cdf, data_type: &DataType) -> Histogram {
    let low = prod.quantile(0.005).min(candidate.quantile(0.005));
    let high = prod.quantile(0.995).max(candidate.quantile(0.995));
    let bins = if high > low { BINS } else { 1 };
    let width = (high - low) / bins as f64;
    let edges: Vec<f64> = (0..=bins).map(|i| low + width * i as f64).collect();
    let shares = |cdf: &Cdf| {
        let inner: Vec<f64> = edges[1..bins].iter().map(|e| cdf.at(*e)).collect();
        let mut below = 0.0;
        let mut shares: Vec<f64> = inner
            .iter()
            .map(|at| {
                let share = at - below;
                below = *at;
                share
            })
            .collect();
        shares.push(1.0 - below);
        shares
    };
    Histogram {
        labels: edges.iter().map(|e| edge_label(*e, data_type)).collect(),
        prod: shares(prod),
        candidate: shares(candidate),
        edges,
    }
}

/// An edge as text: a number, or for dates and times an instant.
fn edge_label(edge: f64, data_type: &DataType) -> String {
    use datafusion::arrow::temporal_conversions::timestamp_ns_to_datetime;
    match (seconds_per_unit(data_type), data_type) {
        (Some(seconds), DataType::Date32 | DataType::Date64 | DataType::Timestamp(..)) => {
            let ns = edge * seconds * 1e9;
            timestamp_ns_to_datetime(ns as i64)
                .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_else(|| crate::format::number(edge))
        }
        (Some(seconds), _) => format!("{}s", crate::format::number(edge * seconds)),
        (None, _) => crate::format::number(edge),
    }
}

/// Population stability index on prod's deciles.
fn psi(prod: &Cdf, candidate: &Cdf) -> f64 {
    let edges: Vec<f64> = (1..10).map(|i| prod.quantile(i as f64 / 10.0)).collect();
    let shares = |cdf: &Cdf| {
        let mut below = 0.0;
        let mut shares = Vec::with_capacity(10);
        for edge in &edges {
            let at = cdf.at(*edge);
            shares.push(at - below);
            below = at;
        }
        shares.push(1.0 - below);
        shares
    };
    let (p, c) = (shares(prod), shares(candidate));
    p.iter()
        .zip(&c)
        .map(|(a, b)| {
            let (a, b) = (a.max(PSI_EPSILON), b.max(PSI_EPSILON));
            (b - a) * (b / a).ln()
        })
        .sum::<f64>()
        .max(0.0)
}

/// Kolmogorov-Smirnov distance: the largest gap between the two CDFs.
fn ks(prod: &Cdf, candidate: &Cdf) -> f64 {
    prod.points()
        .iter()
        .chain(candidate.points())
        .map(|x| (prod.at(*x) - candidate.at(*x)).abs())
        .fold(0.0, f64::max)
}
