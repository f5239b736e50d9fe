//! Writes a deterministic prod/candidate pair of Parquet files for
//! benchmarks: `N` rows of id, 3 ints, 3 floats, 3 strings in prod; the
//! candidate changes 1% of rows (one column each), removes 0.1%, adds 0.1%
//! and shuffles the rest. Every value is a function of (seed, row, column),
//! so nothing but the row order is held in memory.
//!
//! cargo bench --bench generate -- --rows 5000000 --out /tmp/pair [--seed 1]
//!
//! Prints the expected counts as JSON, for checking any diff tool's answer.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;

const BATCH: usize = 65_536;
const WORDS: [&str; 16] = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
    "kilo", "lima", "mike", "november", "oscar", "papa",
];

fn mix(mut x: u64) -> u64 {
    // splitmix64 finalizer
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

struct Generator {
    seed: u64,
    rows: u64,
}

#[derive(Clone, Copy, PartialEq)]
enum Fate {
    Kept,
    Changed,
    Removed,
}

impl Generator {
    fn value(&self, row: u64, column: u64) -> u64 {
        mix(self.seed ^ mix(row.wrapping_mul(16) + column))
    }

    fn fate(&self, row: u64) -> Fate {
        match mix(self.seed ^ 0xfa7e ^ mix(row)) % 1000 {
            0 => Fate::Removed,
            1..=10 => Fate::Changed,
            _ => Fate::Kept,
        }
    }

    fn added(&self) -> u64 {
        self.rows / 1000
    }

    /// The values of one row; `changed` alters one column chosen by the row.
    fn row(&self, id: u64, changed: bool) -> ([i64; 3], [f64; 3], [String; 3]) {
        let v = |c| self.value(id, c);
        let mut ints = [0, 1, 2].map(|c| (v(c) % 1_000_000) as i64);
        let mut floats = [3, 4, 5].map(|c| (v(c) % 10_000_000) as f64 / 100.0);
        let mut strings = [
            WORDS[(v(6) % 16) as usize].to_string(),
            format!("{}-{}", WORDS[(v(7) % 16) as usize], v(7) % 1000),
            format!(
                "customer {} of {}",
                v(8) % 100_000,
                WORDS[(v(8) >> 20) as usize % 16]
            ),
        ];
        if changed {
            match self.value(id, 9) % 3 {
                0 => ints[(id % 3) as usize] += 1,
                1 => floats[(id % 3) as usize] += 0.5,
                _ => strings[(id % 3) as usize].push('!'),
            }
        }
        (ints, floats, strings)
    }
}

fn schema() -> SchemaRef {
    let mut fields = vec![Field::new("id", DataType::Int64, false)];
    for i in 1..=3 {
        fields.push(Field::new(format!("int_{i}"), DataType::Int64, false));
    }
    for i in 1..=3 {
        fields.push(Field::new(format!("float_{i}"), DataType::Float64, false));
    }
    for i in 1..=3 {
        fields.push(Field::new(format!("str_{i}"), DataType::Utf8, false));
    }
    Arc::new(Schema::new(fields))
}

fn batch(generator: &Generator, rows: &[(u64, bool)]) -> RecordBatch {
    let mut ints: [Vec<i64>; 3] = Default::default();
    let mut floats: [Vec<f64>; 3] = Default::default();
    let mut strings: [Vec<String>; 3] = Default::default();
    for &(id, changed) in rows {
        let (i, f, s) = generator.row(id, changed);
        for c in 0..3 {
            ints[c].push(i[c]);
            floats[c].push(f[c]);
            strings[c].push(s[c].clone());
        }
    }
    let mut columns: Vec<ArrayRef> = vec![Arc::new(Int64Array::from_iter_values(
        rows.iter().map(|r| r.0 as i64),
    ))];
    columns.extend(
        ints.into_iter()
            .map(|v| Arc::new(Int64Array::from(v)) as ArrayRef),
    );
    columns.extend(
        floats
            .into_iter()
            .map(|v| Arc::new(Float64Array::from(v)) as ArrayRef),
    );
    columns.extend(
        strings
            .into_iter()
            .map(|v| Arc::new(StringArray::from(v)) as ArrayRef),
    );
    RecordBatch::try_new(schema(), columns).expect("columns match the schema")
}

fn write(path: &Path, generator: &Generator, rows: &[(u64, bool)]) {
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(1 << 20))
        .build();
    let file =
        File::create(path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
    let mut writer =
        ArrowWriter::try_new(file, schema(), Some(properties)).expect("parquet writer");
    for chunk in rows.chunks(BATCH) {
        writer.write(&batch(generator, chunk)).expect("write batch");
    }
    writer.close().expect("close parquet file");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let rows: u64 = flag("--rows").map_or(5_000_000, |v| v.parse().expect("--rows N"));
    let seed: u64 = flag("--seed").map_or(1, |v| v.parse().expect("--seed N"));
    let out = PathBuf::from(flag("--out").unwrap_or_else(|| "bench-pair".to_string()));
    std::fs::create_dir_all(&out).expect("create the output directory");
    let generator = Generator { seed, rows };

    let prod: Vec<(u64, bool)> = (0..rows).map(|id| (id, false)).collect();
    write(&out.join("prod.parquet"), &generator, &prod);

    let mut candidate: Vec<(u64, bool)> =
        Vec::with_capacity(rows as usize + generator.added() as usize);
    let (mut changed, mut removed) = (0u64, 0u64);
    for id in 0..rows {
        match generator.fate(id) {
            Fate::Removed => removed += 1,
            Fate::Changed => {
                changed += 1;
                candidate.push((id, true));
            }
            Fate::Kept => candidate.push((id, false)),
        }
    }
    candidate.extend((rows..rows + generator.added()).map(|id| (id, false)));
    // Fisher-Yates with the generator's own mixing, so the order is fixed by the seed.
    for i in (1..candidate.len()).rev() {
        let j = (mix(seed ^ 0x5ed ^ i as u64) % (i as u64 + 1)) as usize;
        candidate.swap(i, j);
    }
    write(&out.join("candidate.parquet"), &generator, &candidate);
    println!(
        "{{\"rows\": {rows}, \"changed\": {changed}, \"removed\": {removed}, \"added\": {}, \"identical\": {}}}",
        generator.added(),
        rows - changed - removed
    );
}
