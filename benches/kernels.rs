//! Micro benchmarks of the diff's hot kernels, on 65,536-row batches (the
//! reader's batch size is 8,192; these are larger so a run is long enough to
//! time): value hashing per type family, value comparison with and without a
//! tolerance, statistics accumulation per family, finding a fetched row's
//! values (every changed pair does it twice), and the whole in-memory
//! diff of two 200,000-row tables (hashing, matching, comparison, samples),
//! and a Parquet file read in a range and read again by row (what a Parquet
//! side does instead of spilling).
//!
//!     cargo bench --bench kernels

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Decimal128Array, Float64Array, Int64Array, RecordBatch,
    StringViewArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use divan::{Bencher, black_box};
use dualrun::diff::kernels::FetchedRows;
use dualrun::diff::kernels::compare;
use dualrun::diff::kernels::value_hashes;
use dualrun::diff::kernels::{Sample, StatsState};
use dualrun::diff::{ColumnRule, Tolerance};
use dualrun::input::ParquetRows;
use dualrun::{DiffOptions, Table, diff_tables};

const ROWS: usize = 65_536;

fn main() {
    divan::main();
}

/// A deterministic stream of pseudo-random numbers.
fn numbers(seed: u64, n: usize) -> impl Iterator<Item = u64> {
    (0..n as u64).map(move |i| {
        let mut x = (i ^ seed).wrapping_add(0x9E37_79B9_7F4A_7C15);
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^ (x >> 31)
    })
}

/// One column of each family the diff compares, as the canonical types it
/// compares them in.
fn column(family: &str, seed: u64, n: usize) -> ArrayRef {
    let values = numbers(seed, n);
    match family {
        "int64" => Arc::new(Int64Array::from_iter_values(
            values.map(|v| (v % 1_000_000) as i64),
        )),
        "float64" => Arc::new(Float64Array::from_iter_values(
            values.map(|v| (v % 10_000_000) as f64 / 100.0),
        )),
        "decimal" => Arc::new(
            Decimal128Array::from_iter_values(values.map(|v| (v % 100_000_000) as i128))
                .with_precision_and_scale(18, 2)
                .expect("valid precision"),
        ),
        // Strings are compared as views: 100,000 distinct values, and 16.
        "string" => Arc::new(StringViewArray::from_iter_values(
            values.map(|v| format!("customer {} of {}", v % 100_000, v % 16)),
        )),
        "string-16" => Arc::new(StringViewArray::from_iter_values(
            values.map(|v| format!("segment {}", v % 16)),
        )),
        "timestamp" => Arc::new(TimestampMicrosecondArray::from_iter_values(
            values.map(|v| 1_704_067_200_000_000 + (v % 31_536_000) as i64 * 1_000_000),
        )),
        "boolean" => Arc::new(BooleanArray::from_iter(values.map(|v| Some(v & 1 == 1)))),
        other => unreachable!("no family {other}"),
    }
}

const FAMILIES: [&str; 7] = [
    "int64",
    "float64",
    "decimal",
    "string",
    "string-16",
    "timestamp",
    "boolean",
];

#[divan::bench(args = FAMILIES)]
fn hash_values(bencher: Bencher, family: &str) {
    let array = column(family, 1, ROWS);
    bencher
        .counter(divan::counter::ItemsCount::new(ROWS))
        .bench(|| value_hashes(black_box(array.as_ref())).expect("hashable"));
}

/// Compares every row with its counterpart in a column where one row in
/// ten differs: what matching does for pairs whose row hashes differ.
#[divan::bench(args = ["int64", "float64", "string"], consts = [false, true])]
fn compare_values<const TOLERANCE: bool>(bencher: Bencher, family: &str) {
    let left = column(family, 1, ROWS);
    let right = column(family, 1, ROWS);
    let right = datafusion::arrow::compute::take(
        right.as_ref(),
        &datafusion::arrow::array::UInt32Array::from_iter_values((0..ROWS as u32).map(|i| {
            if i % 10 == 0 {
                (i + 1) % ROWS as u32
            } else {
                i
            }
        })),
        None,
    )
    .expect("take");
    let rule = ColumnRule {
        tolerance: if TOLERANCE {
            Tolerance {
                abs: 0.01,
                rel: 0.0,
                duration_ns: None,
            }
        } else {
            Tolerance::default()
        },
        ..ColumnRule::default()
    };
    bencher
        .counter(divan::counter::ItemsCount::new(ROWS))
        .bench(|| {
            (0..ROWS)
                .filter(|&i| compare(left.as_ref(), i, right.as_ref(), i, &rule).is_unequal())
                .count()
        });
}

/// One batch into a column's statistics state, as in the middle of a large
/// table: the state has seen a batch already (a column with many distinct
/// values has left the exact counts behind) and 5% of rows feed the
/// quantile sketch, as at 5,000,000 rows.
#[divan::bench(args = FAMILIES)]
fn stats_batch(bencher: Bencher, family: &str) {
    let array = column(family, 1, ROWS);
    let hashes = value_hashes(array.as_ref()).expect("hashable");
    let key_hashes: Vec<u64> = numbers(7, ROWS).collect();
    let earlier = column(family, 2, ROWS);
    let earlier_hashes = value_hashes(earlier.as_ref()).expect("hashable");
    let table_rows = 5_000_000;
    bencher
        .counter(divan::counter::ItemsCount::new(ROWS))
        .with_inputs(|| {
            let mut state = StatsState::empty(array.data_type());
            let sample = Sample::new(&key_hashes, table_rows);
            state.add_batch(earlier.as_ref(), &earlier_hashes, 0, &sample);
            state
        })
        .bench_local_values(|mut state| {
            let sample = Sample::new(&key_hashes, table_rows);
            state.add_batch(array.as_ref(), &hashes, 1, &sample);
            state
        });
}

/// Two in-memory tables of `rows` rows (id, int, float, string), the
/// candidate with every `changed_every`-th row's int changed and its rows
/// reversed.
fn table_pair(rows: usize, changed_every: usize) -> (Table, Table) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("int", DataType::Int64, false),
        Field::new("float", DataType::Float64, false),
        Field::new("text", DataType::Utf8View, false),
    ]));
    let batch = |order: &[usize], changed: bool| {
        let take = |array: ArrayRef| {
            datafusion::arrow::compute::take(
                array.as_ref(),
                &datafusion::arrow::array::UInt32Array::from_iter_values(
                    order.iter().map(|&i| i as u32),
                ),
                None,
            )
            .expect("take")
        };
        let ints: ArrayRef = Arc::new(Int64Array::from_iter_values(
            numbers(2, rows)
                .enumerate()
                .map(|(i, v)| (v % 1000) as i64 + i64::from(changed && i % changed_every == 0)),
        ));
        RecordBatch::try_new(
            schema.clone(),
            vec![
                take(Arc::new(Int64Array::from_iter_values(0..rows as i64))),
                take(ints),
                take(column("float64", 3, rows)),
                take(column("string", 4, rows)),
            ],
        )
        .expect("columns match")
    };
    let forward: Vec<usize> = (0..rows).collect();
    let backward: Vec<usize> = (0..rows).rev().collect();
    let chunks = |batch: RecordBatch| -> Vec<RecordBatch> {
        (0..batch.num_rows())
            .step_by(8192)
            .map(|start| batch.slice(start, 8192.min(batch.num_rows() - start)))
            .collect()
    };
    (
        Table::from_batches("prod", schema.clone(), chunks(batch(&forward, false))),
        Table::from_batches("candidate", schema.clone(), chunks(batch(&backward, true))),
    )
}

/// Where a fetched row's values are, looked up in random order as changed
/// pairs do, with a third of an 8,192-row batch fetched.
#[divan::bench]
fn fetched_row_lookup(bencher: Bencher) {
    const BATCH: u32 = 8_192;
    let rows: Vec<u32> = (0..BATCH).filter(|row| row % 3 == 0).collect();
    let fetched = FetchedRows::of_sorted(&rows);
    let lookups: Vec<u32> = numbers(5, ROWS)
        .map(|x| rows[(x % rows.len() as u64) as usize])
        .collect();
    bencher
        .counter(divan::counter::ItemsCount::new(ROWS))
        .bench(|| {
            lookups
                .iter()
                .map(|&row| fetched.index_of(black_box(row)).unwrap_or(0))
                .sum::<usize>()
        });
}

/// The whole diff with 1% of rows changed: hashing, matching and
/// statistics dominate.
#[divan::bench(args = [false, true])]
fn diff_200k_rows(bencher: Bencher, stats: bool) {
    diff_pair(bencher, stats, 100);
}

/// The whole diff with a third of rows changed: fetching the changed rows'
/// values and comparing them column by column (`differing_pairs`) dominate.
#[divan::bench(args = [false, true])]
fn diff_200k_rows_a_third_changed(bencher: Bencher, stats: bool) {
    diff_pair(bencher, stats, 3);
}

fn diff_pair(bencher: Bencher, stats: bool, changed_every: usize) {
    const TABLE_ROWS: usize = 200_000;
    let (prod, candidate) = table_pair(TABLE_ROWS, changed_every);
    let options = DiffOptions {
        key: vec!["id".to_string()],
        sample: 10,
        stats,
        ..DiffOptions::default()
    };
    let changed = TABLE_ROWS.div_ceil(changed_every) as u64;
    bencher
        .counter(divan::counter::ItemsCount::new(2 * TABLE_ROWS))
        .bench(|| {
            let diff = diff_tables(&prod, &candidate, &options).expect("diff");
            assert_eq!(diff.rows.changed, changed);
            diff
        });
}

/// Rows in the Parquet file the read benches read: one row group, as
/// `MIN_RANGE_ROWS` cuts them.
const FILE_ROWS: usize = 262_144;

/// A Snappy Parquet file of `FILE_ROWS` rows of the in-memory diff's
/// columns in one row group of 20,000-row pages (as `bench generate`
/// writes them), in `dir`; the reader's view of it and its column indexes.
fn parquet_file(dir: &std::path::Path) -> (ParquetRows, Vec<usize>) {
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::basic::Compression;
    use datafusion::parquet::file::properties::WriterProperties;

    let (table, _) = table_pair(FILE_ROWS, 100);
    let schema = table.schema.clone();
    let path = dir.join("prod.parquet");
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(FILE_ROWS))
        .set_data_page_row_count_limit(20_000)
        .build();
    let file = std::fs::File::create(&path).expect("a temporary file");
    let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(properties)).expect("writer");
    for batch in &table.batches {
        writer.write(batch).expect("write");
    }
    writer.close().expect("close");
    let rows = ParquetRows::open(&[path], &schema, 1)
        .expect("readable")
        .expect("the file takes its own schema");
    assert_eq!(rows.ranges(), 1);
    (rows, (0..schema.fields().len()).collect())
}

/// The first pass over a Parquet side: one range read whole, every column.
#[divan::bench]
fn parquet_read_range(bencher: Bencher) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (rows, columns) = parquet_file(dir.path());
    bencher
        .counter(divan::counter::ItemsCount::new(FILE_ROWS))
        .bench(|| {
            let read: usize = rows
                .read(0, &columns)
                .expect("range")
                .map(|batch| batch.expect("batch").num_rows())
                .sum();
            assert_eq!(read, FILE_ROWS);
        });
}

/// Reading back the rows that differ (`ParquetRows::fetch`): one row in
/// `every`, spread evenly (1%: every page holds some; a third), all columns.
#[divan::bench(args = [100, 3])]
fn parquet_fetch_rows(bencher: Bencher, every: usize) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (rows, columns) = parquet_file(dir.path());
    let offsets: Vec<u32> = (0..FILE_ROWS as u32).step_by(every).collect();
    bencher
        .counter(divan::counter::ItemsCount::new(offsets.len()))
        .bench(|| {
            let batch = rows.fetch(0, &offsets, &columns).expect("rows");
            assert_eq!(batch.num_rows(), offsets.len());
            batch
        });
}
