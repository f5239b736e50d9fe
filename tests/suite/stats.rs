//! Column statistics and drift: exact figures against values computed here
//! independently, sketch accuracy on a million values, merges that do not
//! depend on batching or threads, and drift on known distributions.

use std::sync::Arc;

use crate::common::{shuffled, table};
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampSecondArray,
};
use datafusion::arrow::datatypes::{Field, Schema};
use dualrun::profile::{ProfiledColumn, profile_table};
use dualrun::{DiffOptions, diff_tables};
use proptest::prelude::*;
use serde_json::{Value, json};

fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, array)| Field::new(*name, array.data_type().clone(), true))
        .collect();
    RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .unwrap()
}

fn profile(batches: Vec<RecordBatch>) -> Vec<ProfiledColumn> {
    profile_table(&table("t", batches), &[]).unwrap()
}

fn stats_json(batches: Vec<RecordBatch>) -> Value {
    serde_json::to_value(profile(batches)).unwrap()
}

#[test]
fn exact_statistics_with_nulls_nan_and_infinities() {
    let floats = Float64Array::from(vec![
        Some(1.0),
        Some(2.0),
        Some(f64::NAN),
        Some(f64::INFINITY),
        Some(f64::NEG_INFINITY),
        None,
        Some(4.0),
        Some(0.0),
    ]);
    let stats = stats_json(vec![batch(vec![("x", Arc::new(floats))])]);
    let s = &stats[0]["stats"];
    assert_eq!(s["count"], 8);
    assert_eq!(s["null_count"], 1);
    assert_eq!(s["null_rate"], 0.125);
    assert_eq!(s["distinct"], 7);
    assert_eq!(s["distinct_exact"], true);
    assert_eq!(s["min"], "-inf");
    assert_eq!(s["max"], "inf");
    let n = &s["numeric"];
    // Moments over the finite values 1, 2, 4, 0.
    assert_eq!(n["sum"], 7.0);
    assert_eq!(n["mean"], 1.75);
    assert_eq!(n["variance"], 8.75 / 3.0);
    assert_eq!(n["stddev"], (8.75f64 / 3.0).sqrt());
    assert_eq!(
        (
            n["zeros"].as_u64(),
            n["nan"].as_u64(),
            n["infinite"].as_u64()
        ),
        (Some(1), Some(1), Some(2))
    );
}

#[test]
fn variance_of_a_large_offset_does_not_cancel() {
    // 1e9 + i/1000 for i in 0..1000: the sample variance of i/1000 is
    // n(n + 1) / 12 / 1e6 = 0.0834166...
    let values: Vec<f64> = (0..1000).map(|i| 1e9 + i as f64 / 1000.0).collect();
    let stats = stats_json(vec![batch(vec![(
        "x",
        Arc::new(Float64Array::from(values)),
    )])]);
    let variance = stats[0]["stats"]["numeric"]["variance"].as_f64().unwrap();
    let expected = 1000.0 * 1001.0 / 12.0 / 1e6;
    assert!(
        ((variance - expected) / expected).abs() < 1e-6,
        "{variance}"
    );
}

#[test]
fn empty_all_null_and_single_row_tables() {
    let empty = batch(vec![("x", Arc::new(Float64Array::from(Vec::<f64>::new())))]);
    let s = &stats_json(vec![empty])[0]["stats"];
    assert_eq!(
        (s["count"].as_u64(), s["null_rate"].as_f64()),
        (Some(0), Some(0.0))
    );
    assert_eq!(
        (&s["min"], &s["numeric"]["mean"]),
        (&Value::Null, &Value::Null)
    );

    let nulls = batch(vec![(
        "x",
        Arc::new(Int64Array::from(vec![None, None, None])),
    )]);
    let s = &stats_json(vec![nulls])[0]["stats"];
    assert_eq!(
        (
            s["null_count"].as_u64(),
            s["null_rate"].as_f64(),
            s["distinct"].as_u64()
        ),
        (Some(3), Some(1.0), Some(0))
    );
    assert_eq!(s["numeric"]["quantiles"]["p50"], Value::Null);

    let single = batch(vec![("x", Arc::new(Int64Array::from(vec![42])))]);
    let s = &stats_json(vec![single])[0]["stats"];
    assert_eq!(
        (&s["min"], &s["max"], &s["numeric"]["mean"]),
        (&json!(42), &json!(42), &json!(42.0))
    );
    assert_eq!(s["numeric"]["variance"], Value::Null);
    assert_eq!(s["numeric"]["quantiles"]["p99"], 42.0);
}

#[test]
fn strings_booleans_and_timestamps() {
    let b = batch(vec![
        (
            "s",
            Arc::new(StringArray::from(vec![
                Some("b"),
                Some(""),
                Some("abc"),
                None,
                Some("b"),
            ])) as ArrayRef,
        ),
        (
            "f",
            Arc::new(BooleanArray::from(vec![
                Some(true),
                Some(false),
                Some(true),
                None,
                Some(true),
            ])),
        ),
        (
            "t",
            Arc::new(
                TimestampSecondArray::from(vec![Some(0), Some(86_400), None, Some(60), Some(3600)])
                    .with_timezone("UTC"),
            ),
        ),
    ]);
    let stats = stats_json(vec![b]);
    let text = &stats[0]["stats"];
    assert_eq!((&text["min"], &text["max"]), (&json!(""), &json!("b")));
    assert_eq!(text["text"]["min_length"], 0);
    assert_eq!(text["text"]["max_length"], 3);
    // Lengths 1, 0, 3, 1 over the four non-null values.
    assert_eq!(text["text"]["mean_length"], 1.25);
    assert_eq!(text["text"]["empty"], 1);
    assert_eq!(text["text"]["top"][0], json!({"value": "b", "count": 2}));
    assert_eq!(text["text"]["top_exact"], true);
    let flags = &stats[1]["stats"]["boolean"];
    assert_eq!(
        (flags["true_count"].as_u64(), flags["false_count"].as_u64()),
        (Some(3), Some(1))
    );
    let times = &stats[2]["stats"];
    assert_eq!(times["min"], "1970-01-01T00:00:00Z");
    assert_eq!(times["max"], "1970-01-02T00:00:00Z");
}

#[test]
fn sketches_are_accurate_on_a_million_values() {
    let n = 1_000_000u64;
    let values = shuffled(&(0..n).collect::<Vec<u64>>(), 0x2545_F491_4F6C_DD1D);
    let batches: Vec<RecordBatch> = values
        .chunks(8192)
        .map(|chunk| {
            batch(vec![(
                "x",
                Arc::new(Float64Array::from_iter_values(
                    chunk.iter().map(|v| *v as f64),
                )),
            )])
        })
        .collect();
    let stats = stats_json(batches);
    let s = &stats[0]["stats"];
    // Values are 0..n, so a value is its own rank.
    for (name, q) in [
        ("p01", 0.01),
        ("p05", 0.05),
        ("p25", 0.25),
        ("p50", 0.5),
        ("p75", 0.75),
        ("p95", 0.95),
        ("p99", 0.99),
    ] {
        let estimate = s["numeric"]["quantiles"][name].as_f64().unwrap();
        let rank_error = (estimate / n as f64 - q).abs();
        assert!(
            rank_error <= 0.01,
            "{name}: {estimate} is {rank_error} off in rank"
        );
    }
    let distinct = s["distinct"].as_f64().unwrap();
    assert_eq!(s["distinct_exact"], false);
    assert!(
        (distinct / n as f64 - 1.0).abs() <= 0.02,
        "distinct {distinct}"
    );
}

fn float_batches(values: &[Option<f64>], cuts: &[usize]) -> Vec<RecordBatch> {
    let mut batches = Vec::new();
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&values.len())) {
        let end = cut.clamp(start, values.len());
        let floats = Float64Array::from(values[start..end].to_vec());
        let labels = StringArray::from_iter(
            values[start..end]
                .iter()
                .map(|v| v.map(|x| format!("v{}", x.abs() as i64 % 7))),
        );
        batches.push(batch(vec![
            ("x", Arc::new(floats) as ArrayRef),
            ("label", Arc::new(labels)),
        ]));
        start = end;
    }
    batches
}

/// Statistics without the sketch estimates, which may move within their
/// error when the batches are cut elsewhere.
fn exact_part(mut stats: Value) -> Value {
    for column in stats.as_array_mut().unwrap() {
        if let Some(numeric) = column["stats"]["numeric"].as_object_mut() {
            numeric.remove("quantiles");
        }
    }
    stats
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn merges_do_not_depend_on_batches_order_or_threads(
        values in proptest::collection::vec(proptest::option::of(prop_oneof![
            -1e6f64..1e6, Just(0.0), Just(f64::NAN), Just(f64::INFINITY), Just(1e15)
        ]), 1..300),
        cuts in proptest::collection::vec(0usize..300, 0..6),
    ) {
        let mut cuts = cuts;
        cuts.sort();
        let whole = stats_json(float_batches(&values, &[]));
        let split = float_batches(&values, &cuts);
        let mut reversed = split.clone();
        reversed.reverse();
        // Exact statistics: identical however the rows are split.
        prop_assert_eq!(exact_part(stats_json(split.clone())), exact_part(whole));
        // The same batches in another order, or on other threads: identical,
        // sketches included.
        let in_order = stats_json(split.clone());
        prop_assert_eq!(&stats_json(reversed), &in_order);
        let one_thread = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let many = rayon::ThreadPoolBuilder::new().num_threads(4).build().unwrap();
        prop_assert_eq!(&one_thread.install(|| stats_json(split.clone())), &in_order);
        prop_assert_eq!(&many.install(|| stats_json(split)), &in_order);
    }
}

/// `n` draws of a normal distribution (Box-Muller on a fixed generator).
fn normal(n: usize, mean: f64, seed: u64) -> Vec<f64> {
    let mut state = seed | 1;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| {
            let (u, v) = (uniform().max(1e-300), uniform());
            mean + (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
        })
        .collect()
}

fn drift_of(prod: Vec<f64>, candidate: Vec<f64>, labels: (Vec<&str>, Vec<&str>)) -> Value {
    let make = |values: Vec<f64>, labels: Vec<&str>| {
        let n = values.len();
        batch(vec![
            (
                "id",
                Arc::new(Int64Array::from_iter_values(0..n as i64)) as ArrayRef,
            ),
            ("x", Arc::new(Float64Array::from(values))),
            (
                "label",
                Arc::new(StringArray::from_iter_values(
                    (0..n).map(|i| labels[i % labels.len()]),
                )),
            ),
        ])
    };
    let options = DiffOptions {
        key: vec!["id".into()],
        stats: true,
        ..Default::default()
    };
    let diff = diff_tables(
        &table("p", vec![make(prod, labels.0)]),
        &table("c", vec![make(candidate, labels.1)]),
        &options,
    )
    .unwrap();
    serde_json::to_value(&diff.columns).unwrap()
}

#[test]
fn identical_tables_do_not_drift() {
    let values = normal(5_000, 10.0, 7);
    let columns = drift_of(values.clone(), values, (vec!["a", "b"], vec!["a", "b"]));
    let x = &columns[0]["drift"];
    assert_eq!(x["null_rate_pp"], 0.0);
    assert_eq!(x["numeric"]["mean_change"], 0.0);
    assert_eq!(x["numeric"]["psi"], 0.0);
    assert_eq!(x["numeric"]["ks"], 0.0);
    let label = &columns[1]["drift"]["categories"];
    assert_eq!(label["new"], json!([]));
    assert_eq!(label["top_share_change_pp"], 0.0);
}

#[test]
fn a_shifted_normal_drifts_as_theory_says_and_new_categories_show() {
    // N(0,1) against N(0.5,1): KS = 2*Phi(0.25) - 1 = 0.197; PSI on deciles
    // is about 0.24.
    let columns = drift_of(
        normal(20_000, 0.0, 3),
        normal(20_000, 0.5, 5),
        (vec!["a", "b"], vec!["a", "b", "c"]),
    );
    let numeric = &columns[0]["drift"]["numeric"];
    let (psi, ks) = (
        numeric["psi"].as_f64().unwrap(),
        numeric["ks"].as_f64().unwrap(),
    );
    assert!((0.17..0.32).contains(&psi), "psi {psi}");
    assert!((0.17..0.23).contains(&ks), "ks {ks}");
    let categories = &columns[1]["drift"]["categories"];
    assert_eq!(categories["new"], json!(["c"]));
    assert_eq!(categories["vanished"], json!([]));
}

#[test]
fn zero_denominators_are_said_not_nan() {
    let columns = drift_of(vec![0.0, 0.0], vec![1.0, 1.0], (vec!["a"], vec!["a"]));
    let drift = &columns[0]["drift"];
    assert_eq!(drift["numeric"]["mean_change"], Value::Null);
    let notes = drift["notes"].as_array().unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n.as_str().unwrap().starts_with("mean is 0 in prod")),
        "{notes:?}"
    );
}

#[test]
fn integer_moments_are_exact() {
    // Integer sums take an exact integer path: check it against i128 math.
    let values: Vec<i64> = (0..5000).map(|i| (i * 7919) % 100_003 - 50_000).collect();
    let n = values.len() as i128;
    let sum: i128 = values.iter().map(|v| i128::from(*v)).sum();
    let squares: i128 = values.iter().map(|v| i128::from(*v) * i128::from(*v)).sum();
    let variance = (n * squares - sum * sum) as f64 / (n * (n - 1)) as f64;
    let stats = stats_json(vec![batch(vec![("x", Arc::new(Int64Array::from(values)))])]);
    let numeric = &stats[0]["stats"]["numeric"];
    assert_eq!(numeric["sum"], sum as f64);
    assert_eq!(numeric["variance"], variance);
}
