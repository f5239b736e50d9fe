//! Quantiles from t-digests (DataFusion's implementation, 200 centroids),
//! and the estimated CDFs that PSI and the Kolmogorov-Smirnov distance are
//! read from.
//!
//! Each batch gets its own digest; the digests of a column are merged once,
//! in a canonical order (by min, max, count, centroids), so the estimate does
//! not depend on which thread finished first. A t-digest bounds rank error
//! (tighter at the tails), unlike a relative-value sketch, which would blur
//! timestamps (a 0.5% error on an epoch instant is months).

use std::cmp::Ordering;

use datafusion_functions_aggregate_common::tdigest::TDigest;

/// Centroids per digest.
const CENTROIDS: usize = 200;

/// The quantiles reported per numeric and temporal column.
pub const LEVELS: [(&str, f64); 7] = [
    ("p01", 0.01),
    ("p05", 0.05),
    ("p25", 0.25),
    ("p50", 0.50),
    ("p75", 0.75),
    ("p95", 0.95),
    ("p99", 0.99),
];

/// A mergeable quantile sketch.
#[derive(Clone, Default)]
pub struct QuantileSketch {
    parts: Vec<TDigest>,
    merged: Option<TDigest>,
}

fn canonical_order(a: &TDigest, b: &TDigest) -> Ordering {
    a.min()
        .total_cmp(&b.min())
        .then(a.max().total_cmp(&b.max()))
        .then(a.count().total_cmp(&b.count()))
        .then_with(|| {
            let key = |d: &TDigest| -> Vec<(u64, u64)> {
                d.centroids()
                    .iter()
                    .map(|c| (c.mean().to_bits(), c.weight().to_bits()))
                    .collect()
            };
            key(a).cmp(&key(b))
        })
}

impl QuantileSketch {
    /// The sketch of one batch's finite values.
    pub fn of_values(mut values: Vec<f64>) -> Self {
        if values.is_empty() {
            return QuantileSketch::default();
        }
        values.sort_unstable_by(f64::total_cmp);
        QuantileSketch {
            parts: vec![TDigest::new(CENTROIDS).merge_sorted_f64(&values)],
            merged: None,
        }
    }

    pub fn merge(&mut self, other: QuantileSketch) {
        self.parts.extend(other.parts);
        self.parts.extend(other.merged);
        if let Some(merged) = self.merged.take() {
            self.parts.push(merged);
        }
    }

    /// Merges the parts into one digest; call once all batches are in.
    pub fn finalize(&mut self) {
        let mut parts = std::mem::take(&mut self.parts);
        if let Some(merged) = self.merged.take() {
            parts.push(merged);
        }
        if parts.is_empty() {
            return;
        }
        parts.sort_by(canonical_order);
        self.merged = Some(TDigest::merge_digests(&parts));
    }

    fn digest(&self) -> Option<&TDigest> {
        self.merged.as_ref().filter(|d| d.count() > 0.0)
    }

    pub fn quantile(&self, q: f64) -> Option<f64> {
        self.digest().map(|d| d.estimate_quantile(q))
    }
}

/// A sketch's distribution as a grid of quantiles (0.1% apart), enough to
/// read a CDF from.
pub struct Cdf {
    grid: Vec<f64>,
}

const GRID_STEPS: usize = 1_000;

impl Cdf {
    pub fn of(sketch: &QuantileSketch) -> Option<Cdf> {
        let digest = sketch.digest()?;
        let grid = (0..=GRID_STEPS)
            .map(|i| digest.estimate_quantile(i as f64 / GRID_STEPS as f64))
            .collect();
        Some(Cdf { grid })
    }

    /// Estimated share of values at or below `x`.
    pub fn at(&self, x: f64) -> f64 {
        let below = self.grid.partition_point(|v| *v <= x);
        below as f64 / self.grid.len() as f64
    }

    pub fn points(&self) -> &[f64] {
        &self.grid
    }

    pub fn quantile(&self, q: f64) -> f64 {
        self.grid[((q * GRID_STEPS as f64).round() as usize).min(GRID_STEPS)]
    }
}
