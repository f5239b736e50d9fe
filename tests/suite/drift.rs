//! Drift on real files, checked against the definitions computed here from
//! the very values written (no dualrun code): quantiles by rank, their
//! relative changes and shifts in seconds, PSI on prod's deciles, the
//! Kolmogorov-Smirnov distance of the two empirical CDFs, and the histogram's
//! edges and shares. dualrun reads these from t-digests (200 centroids), so
//! each comparison states the tolerance a rank error of at most 0.2% allows.

use std::sync::Arc;

use crate::common::*;
use datafusion::arrow::array::{Float64Array, Int64Array, RecordBatch, TimestampSecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use dualrun::diff::QUANTILE_LEVELS as LEVELS;
use serde_json::Value;

const ROWS: usize = 10_000;
/// The rank error allowed of a sketch, as a share of the rows.
const RANK_ERROR: f64 = 0.002;

/// Prod: `amount` uniform on 0..10,000 and instants a minute apart. The
/// candidate: amounts squared onto the same range (a skewed shape, same
/// min and max) and instants an hour later.
fn columns() -> [(Vec<f64>, Vec<i64>); 2] {
    let amounts: Vec<f64> = (0..ROWS).map(|i| i as f64).collect();
    let squared: Vec<f64> = amounts.iter().map(|a| a * a / (ROWS - 1) as f64).collect();
    let start = 1_767_225_600; // 2026-01-01T00:00:00Z
    let instants: Vec<i64> = (0..ROWS as i64).map(|i| start + 60 * i).collect();
    let later: Vec<i64> = instants.iter().map(|t| t + 3_600).collect();
    [(amounts, instants), (squared, later)]
}

fn batch(amounts: &[f64], instants: &[i64], order: u64) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("amount", DataType::Float64, false),
        Field::new("at", DataType::Timestamp(TimeUnit::Second, None), false),
    ]));
    // Rows shuffled, so no order in the file helps the sketch.
    let rows = shuffled(&(0..amounts.len()).collect::<Vec<_>>(), order);
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|&i| i as i64))),
            Arc::new(Float64Array::from_iter_values(
                rows.iter().map(|&i| amounts[i]),
            )),
            Arc::new(TimestampSecondArray::from_iter_values(
                rows.iter().map(|&i| instants[i]),
            )),
        ],
    )
    .unwrap()
}

/// The `q` quantile of sorted `values` by linear interpolation between
/// closest ranks.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let rank = q * (sorted.len() - 1) as f64;
    let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[low] + (sorted[high] - sorted[low]) * (rank - low as f64)
}

/// Share of `sorted` values at or below `x`.
fn cdf(sorted: &[f64], x: f64) -> f64 {
    sorted.partition_point(|v| *v <= x) as f64 / sorted.len() as f64
}

/// The largest value gap a rank error of `RANK_ERROR` can make near `q`.
fn value_tolerance(sorted: &[f64], q: f64) -> f64 {
    let (low, high) = ((q - RANK_ERROR).max(0.0), (q + RANK_ERROR).min(1.0));
    quantile(sorted, high) - quantile(sorted, low) + 1e-9
}

fn diff_report() -> Value {
    let dir = tempfile::tempdir().unwrap();
    let [(prod_amounts, prod_at), (candidate_amounts, candidate_at)] = columns();
    write_parquet(
        &dir.path().join("prod.parquet"),
        &[batch(&prod_amounts, &prod_at, 3)],
    );
    write_parquet(
        &dir.path().join("candidate.parquet"),
        &[batch(&candidate_amounts, &candidate_at, 5)],
    );
    let output = dualrun(
        dir.path(),
        &[
            "diff",
            "prod.parquet",
            "candidate.parquet",
            "--key",
            "id",
            "--format",
            "json",
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    json_report(&output)
}

#[test]
fn quantiles_and_their_changes_follow_the_ranks() {
    let report = diff_report();
    let [(prod, prod_at), (candidate, candidate_at)] = columns();
    let mut sorted = [prod, candidate];
    for side in &mut sorted {
        side.sort_by(f64::total_cmp);
    }
    let amount = report_column(&report, "amount");
    for (level, q) in LEVELS {
        let exact = [quantile(&sorted[0], q), quantile(&sorted[1], q)];
        for (s, side) in ["prod", "candidate"].into_iter().enumerate() {
            let reported = amount["stats"][side]["numeric"]["quantiles"][level]
                .as_f64()
                .unwrap();
            let tolerance = value_tolerance(&sorted[s], q);
            assert!(
                (reported - exact[s]).abs() <= tolerance,
                "{side} {level}: {reported} vs {} (±{tolerance})",
                exact[s]
            );
        }
        let change = amount["drift"]["numeric"]["quantile_change"][level]
            .as_f64()
            .unwrap();
        let exact_change = (exact[1] - exact[0]) / exact[0].abs();
        let tolerance = (value_tolerance(&sorted[0], q) + value_tolerance(&sorted[1], q))
            / (exact[0].abs() - value_tolerance(&sorted[0], q));
        assert!(
            (change - exact_change).abs() <= tolerance,
            "{level} change: {change} vs {exact_change} (±{tolerance})"
        );
    }
    // Instants moved an hour: every quantile shifts by 3,600 seconds,
    // within the rank error of a minute-spaced column.
    let at = report_column(&report, "at");
    let shifts = &at["drift"]["numeric"]["quantile_shift_seconds"];
    let spacing = (prod_at[1] - prod_at[0]) as f64;
    assert_eq!(candidate_at[0] - prod_at[0], 3_600);
    for (level, _) in LEVELS {
        let shift = shifts[level].as_f64().unwrap();
        let tolerance = 2.0 * RANK_ERROR * ROWS as f64 * spacing;
        assert!(
            (shift - 3_600.0).abs() <= tolerance,
            "{level}: {shift} s (±{tolerance})"
        );
    }
    assert!(at["drift"]["numeric"]["quantile_change"].is_null());
}

#[test]
fn psi_ks_and_the_histogram_follow_their_definitions() {
    let report = diff_report();
    let [(mut prod, _), (mut candidate, _)] = columns();
    prod.sort_by(f64::total_cmp);
    candidate.sort_by(f64::total_cmp);
    let drift = &report_column(&report, "amount")["drift"]["numeric"];

    // PSI: ten bins cut at prod's deciles, an empty bin counted as 1e-4.
    let edges: Vec<f64> = (1..10).map(|i| quantile(&prod, i as f64 / 10.0)).collect();
    let shares = |sorted: &[f64]| {
        let mut below = 0.0;
        let mut out: Vec<f64> = edges
            .iter()
            .map(|e| {
                let at = cdf(sorted, *e);
                let share = at - below;
                below = at;
                share
            })
            .collect();
        out.push(1.0 - below);
        out
    };
    let psi: f64 = shares(&prod)
        .iter()
        .zip(shares(&candidate))
        .map(|(p, c)| {
            let (p, c) = (p.max(1e-4), c.max(1e-4));
            (c - p) * (c / p).ln()
        })
        .sum();
    let reported_psi = drift["psi"].as_f64().unwrap();
    assert!(psi > 0.1, "the shapes differ: PSI {psi}");
    assert!(
        (reported_psi - psi).abs() <= 0.05 * psi,
        "PSI {reported_psi} vs {psi} (±5%)"
    );

    // KS: the largest gap between the empirical CDFs, over every value.
    let ks = prod
        .iter()
        .chain(&candidate)
        .map(|x| (cdf(&prod, *x) - cdf(&candidate, *x)).abs())
        .fold(0.0, f64::max);
    let reported_ks = drift["ks"].as_f64().unwrap();
    assert!(
        (reported_ks - ks).abs() <= 2.0 * RANK_ERROR,
        "KS {reported_ks} vs {ks}"
    );

    // Histogram: 20 equal bins over both sides' 0.5th to 99.5th
    // percentiles; values beyond count in the end bins.
    let histogram = &drift["histogram"];
    let reported_edges: Vec<f64> = histogram["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_f64().unwrap())
        .collect();
    assert_eq!(reported_edges.len(), 21);
    let low = quantile(&prod, 0.005).min(quantile(&candidate, 0.005));
    let high = quantile(&prod, 0.995).max(quantile(&candidate, 0.995));
    let width = (high - low) / 20.0;
    let edge_tolerance = value_tolerance(&prod, 0.995).max(value_tolerance(&candidate, 0.005));
    for (i, edge) in reported_edges.iter().enumerate() {
        let exact = low + width * i as f64;
        assert!(
            (edge - exact).abs() <= edge_tolerance,
            "edge {i}: {edge} vs {exact} (±{edge_tolerance})"
        );
    }
    for (side, sorted) in [("prod", &prod), ("candidate", &candidate)] {
        let reported: Vec<f64> = histogram[side]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_f64().unwrap())
            .collect();
        assert_eq!(reported.len(), 20);
        assert!((reported.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{side}");
        // Shares on the reported edges, counted here from the values.
        let mut below = 0.0;
        for (i, share) in reported.iter().enumerate() {
            let at = if i == 19 {
                1.0
            } else {
                cdf(sorted, reported_edges[i + 1])
            };
            let exact = at - below;
            below = at;
            assert!(
                (share - exact).abs() <= 2.0 * RANK_ERROR,
                "{side} bin {i}: {share} vs {exact}"
            );
        }
    }
}

#[test]
fn quantiles_of_few_values_are_within_one_rank() {
    // 41 values: a digest of 200 centroids keeps each one, so a quantile
    // `q` lies between the values one rank either side of `q × 41`.
    let dir = tempfile::tempdir().unwrap();
    let values: Vec<f64> = (0..41).map(|i| (i * i) as f64 / 4.0).collect();
    let instants: Vec<i64> = (0..41).collect();
    write_parquet(
        &dir.path().join("t.parquet"),
        &[batch(&values, &instants, 9)],
    );
    let output = dualrun(dir.path(), &["profile", "t.parquet", "--format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report = json_report(&output);
    let columns = report["table"]["profile"]
        .as_array()
        .unwrap_or_else(|| panic!("{report}"));
    let amount = columns.iter().find(|c| c["name"] == "amount").unwrap();
    for (level, q) in LEVELS {
        let reported = amount["stats"]["numeric"]["quantiles"][level]
            .as_f64()
            .unwrap_or_else(|| panic!("{level} in {amount}"));
        let rank = q * 41.0;
        let low = values[(rank.floor() as usize).saturating_sub(1)];
        let high = values[(rank.ceil() as usize).min(40)];
        assert!(
            (low..=high).contains(&reported),
            "{level}: {reported} not in [{low}, {high}]"
        );
    }
    // The middle of an odd count is its middle value.
    assert_eq!(amount["stats"]["numeric"]["quantiles"]["p50"], 100.0);
}
