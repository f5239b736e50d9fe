//! A deterministic prod/candidate pair for benchmarks: `N` rows of an `id`
//! and value columns of the usual families (ints, floats, decimals, strings
//! from a vocabulary and free text, timestamps, booleans), with NULLs at a
//! set rate; the candidate changes one column in a fraction of rows, removes
//! and adds fractions of rows, and shuffles the rest. The `varied` shape
//! mixes what real tables hold: low- and full-range integers, strings from
//! 16 to 1,000,000 distinct values, short and long, dictionary-encoded and
//! plain, NULL-heavy columns. Every value is a function of (seed, row,
//! column), so only the row order is held in memory. The expected counts
//! are returned, for checking any diff tool's answer.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Decimal128Builder, Float64Builder, Int64Array, Int64Builder,
    RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::csv;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::parquet::schema::types::ColumnPath;
use rayon::prelude::*;
use serde::Serialize;

use crate::error::{Error, Result};

const BATCH: usize = 65_536;
const WORDS: [&str; 16] = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
    "kilo", "lima", "mike", "november", "oscar", "papa",
];
/// 2024-01-01T00:00:00Z in microseconds.
const EPOCH_2024_MICROS: i64 = 1_704_067_200_000_000;

/// What to generate.
#[derive(Debug, Clone)]
pub struct PairSpec {
    pub rows: u64,
    pub seed: u64,
    /// How many value columns of each family.
    pub columns: Families,
    /// Fraction of value cells that are NULL.
    pub nulls: f64,
    /// Fractions of prod rows changed (one column each) and removed, and
    /// rows added, relative to `rows`.
    pub changed: f64,
    pub removed: f64,
    pub added: f64,
    /// Also write `prod.csv` and `candidate.csv`.
    pub csv: bool,
    /// Which columns: `columns` with `nulls`, or the varied set.
    pub shape: Shape,
    /// Rows per Parquet row group.
    pub row_group: usize,
}

/// The value columns of a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shape {
    /// `--ints`, `--floats`, ... columns, every one with `--nulls`.
    Counts,
    /// Eleven columns of every kind at once (ignores the family counts and
    /// `--nulls`).
    Varied,
}

#[derive(Debug, Clone, Copy)]
pub struct Families {
    pub ints: usize,
    pub floats: usize,
    pub decimals: usize,
    pub strings: usize,
    pub timestamps: usize,
    pub bools: usize,
}

/// How one column's values are drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Values {
    /// `0..modulus`.
    Int {
        modulus: u64,
    },
    /// Any i64.
    WideInt,
    Float,
    Decimal,
    Text(Text),
    Timestamp,
    Bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Text {
    /// One of 16 words.
    Words,
    /// A word and a number: 16,000 values.
    Numbered,
    /// "customer N of WORD": 100,000 values.
    Customers,
    /// A 7-character code of 1,000,000.
    Codes,
    /// A sentence of 60 to 120 bytes, of 100,000.
    Sentences,
}

/// One value column of the pair.
#[derive(Debug, Clone)]
struct ColumnSpec {
    name: String,
    values: Values,
    /// Fraction of its cells that are NULL.
    nulls: f64,
    /// Whether Parquet may dictionary-encode it.
    dictionary: bool,
}

impl Values {
    fn data_type(self) -> DataType {
        match self {
            Values::Int { .. } | Values::WideInt => DataType::Int64,
            Values::Float => DataType::Float64,
            Values::Decimal => DataType::Decimal128(18, 2),
            Values::Text(_) => DataType::Utf8,
            Values::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            Values::Bool => DataType::Boolean,
        }
    }
}

impl Families {
    /// The columns of the `counts` shape, in file order.
    fn columns(&self, nulls: f64) -> Vec<ColumnSpec> {
        let counts = [
            ("int", self.ints),
            ("float", self.floats),
            ("dec", self.decimals),
            ("str", self.strings),
            ("ts", self.timestamps),
            ("bool", self.bools),
        ];
        counts
            .into_iter()
            .flat_map(|(prefix, n)| (0..n).map(move |i| (prefix, i)))
            .map(|(prefix, i)| {
                let values = match prefix {
                    "int" => Values::Int { modulus: 1_000_000 },
                    "float" => Values::Float,
                    "dec" => Values::Decimal,
                    "str" => Values::Text([Text::Words, Text::Numbered, Text::Customers][i % 3]),
                    "ts" => Values::Timestamp,
                    _ => Values::Bool,
                };
                ColumnSpec {
                    name: format!("{prefix}_{}", i + 1),
                    values,
                    nulls,
                    dictionary: true,
                }
            })
            .collect()
    }
}

/// The columns of the `varied` shape.
fn varied_columns() -> Vec<ColumnSpec> {
    let column = |name: &str, values, nulls, dictionary| ColumnSpec {
        name: name.to_string(),
        values,
        nulls,
        dictionary,
    };
    vec![
        column("int_small", Values::Int { modulus: 16 }, 0.0, true),
        column("int_wide", Values::WideInt, 0.0, false),
        column("float_1", Values::Float, 0.0, true),
        column("float_sparse", Values::Float, 0.6, true),
        column("dec_1", Values::Decimal, 0.02, true),
        column("str_words", Values::Text(Text::Words), 0.0, true),
        column("str_codes", Values::Text(Text::Codes), 0.0, false),
        column("str_long", Values::Text(Text::Sentences), 0.05, true),
        column("str_sparse", Values::Text(Text::Numbered), 0.4, true),
        column("ts_1", Values::Timestamp, 0.0, true),
        column("bool_1", Values::Bool, 0.1, true),
    ]
}

/// The counts a correct diff of the pair finds, keyed by `id`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Expected {
    pub rows: u64,
    pub changed: u64,
    pub removed: u64,
    pub added: u64,
    pub identical: u64,
}

fn mix(mut x: u64) -> u64 {
    // splitmix64's finalizer
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A uniform draw in [0, 1) from a hash.
fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

#[derive(Clone, Copy, PartialEq)]
enum Fate {
    Kept,
    Changed,
    Removed,
}

/// One cell's value before it goes into a builder.
enum Cell {
    Null,
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
}

struct Generator {
    spec: PairSpec,
    layout: Vec<ColumnSpec>,
    schema: SchemaRef,
}

impl Generator {
    fn new(spec: PairSpec) -> Self {
        let layout = match spec.shape {
            Shape::Counts => spec.columns.columns(spec.nulls),
            Shape::Varied => varied_columns(),
        };
        let mut fields = vec![Field::new("id", DataType::Int64, false)];
        for column in &layout {
            let data_type = column.values.data_type();
            fields.push(Field::new(&column.name, data_type, column.nulls > 0.0));
        }
        Generator {
            spec,
            layout,
            schema: Arc::new(Schema::new(fields)),
        }
    }

    fn value(&self, row: u64, column: u64) -> u64 {
        mix(self.spec.seed ^ mix(row.wrapping_mul(64).wrapping_add(column)))
    }

    fn fate(&self, row: u64) -> Fate {
        let u = unit(mix(self.spec.seed ^ 0xfa7e ^ mix(row)));
        if u < self.spec.removed {
            Fate::Removed
        } else if u < self.spec.removed + self.spec.changed {
            Fate::Changed
        } else {
            Fate::Kept
        }
    }

    fn added(&self) -> u64 {
        (self.spec.rows as f64 * self.spec.added).round() as u64
    }

    /// Column `c`'s cell of row `id`; `changed` alters it (a NULL becomes
    /// the value it would have had, so the change is always real).
    fn cell(&self, id: u64, c: usize, changed: bool) -> Cell {
        let column = &self.layout[c];
        let v = self.value(id, c as u64);
        let null = column.nulls > 0.0 && unit(mix(v ^ 0x6e11)) < column.nulls;
        if null && !changed {
            return Cell::Null;
        }
        let bump = changed && !null;
        match column.values {
            Values::Int { modulus } => Cell::Int((v % modulus) as i64 + i64::from(bump)),
            Values::WideInt => Cell::Int((v as i64).wrapping_add(i64::from(bump))),
            Values::Float => {
                Cell::Float((v % 10_000_000) as f64 / 100.0 + if bump { 0.5 } else { 0.0 })
            }
            // cents: up to 1,000,000.00
            Values::Decimal => Cell::Int((v % 100_000_000) as i64 + i64::from(bump)),
            Values::Text(text) => {
                let word = |bits: u64| WORDS[(bits % 16) as usize];
                let mut text = match text {
                    Text::Words => word(v).to_string(),
                    Text::Numbered => format!("{}-{}", word(v), (v >> 8) % 1000),
                    Text::Customers => {
                        format!("customer {} of {}", (v >> 4) % 100_000, word(v >> 20))
                    }
                    Text::Codes => format!("K{:06}", (v >> 4) % 1_000_000),
                    Text::Sentences => {
                        let n = (v >> 4) % 100_000;
                        let words = 6 + (n % 7) as usize;
                        let mut sentence = format!("order note {n}:");
                        for w in 0..words {
                            sentence.push(' ');
                            sentence.push_str(word(mix(n ^ w as u64)));
                            sentence.push_str(" item");
                        }
                        sentence
                    }
                };
                if bump {
                    text.push('!');
                }
                Cell::Str(text)
            }
            // a second within 2024
            Values::Timestamp => Cell::Int(
                EPOCH_2024_MICROS + ((v % 31_536_000) as i64 + i64::from(bump)) * 1_000_000,
            ),
            Values::Bool => Cell::Bool((v & 1 == 1) != bump),
        }
    }

    /// The column a changed row changes, chosen by the row.
    fn changed_column(&self, id: u64) -> usize {
        (self.value(id, 63) % self.layout.len() as u64) as usize
    }

    fn batch(&self, rows: &[(u64, bool)]) -> Result<RecordBatch> {
        let mut columns: Vec<ArrayRef> = vec![Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| r.0 as i64),
        ))];
        for (c, spec) in self.layout.iter().enumerate() {
            let cells = rows
                .iter()
                .map(|&(id, changed)| self.cell(id, c, changed && self.changed_column(id) == c));
            columns.push(column(spec.values.data_type(), rows.len(), cells)?);
        }
        RecordBatch::try_new(self.schema.clone(), columns)
            .map_err(|e| Error::compute("cannot build a generated batch", e))
    }
}

fn column(data_type: DataType, len: usize, cells: impl Iterator<Item = Cell>) -> Result<ArrayRef> {
    let int = |cell: Cell| match cell {
        Cell::Int(v) => Some(v),
        _ => None,
    };
    Ok(match data_type {
        DataType::Int64 => {
            let mut b = Int64Builder::with_capacity(len);
            cells.for_each(|c| b.append_option(int(c)));
            Arc::new(b.finish())
        }
        DataType::Float64 => {
            let mut b = Float64Builder::with_capacity(len);
            cells.for_each(|c| {
                b.append_option(match c {
                    Cell::Float(v) => Some(v),
                    _ => None,
                })
            });
            Arc::new(b.finish())
        }
        DataType::Decimal128(..) => {
            let mut b = Decimal128Builder::with_capacity(len);
            cells.for_each(|c| b.append_option(int(c).map(i128::from)));
            Arc::new(
                b.finish()
                    .with_precision_and_scale(18, 2)
                    .map_err(|e| Error::compute("cannot build a decimal column", e))?,
            )
        }
        DataType::Utf8 => {
            let mut b = StringBuilder::with_capacity(len, len * 16);
            cells.for_each(|c| match c {
                Cell::Str(s) => b.append_value(s),
                _ => b.append_null(),
            });
            Arc::new(b.finish())
        }
        DataType::Timestamp(..) => {
            let mut b = TimestampMicrosecondBuilder::with_capacity(len);
            cells.for_each(|c| b.append_option(int(c)));
            Arc::new(b.finish())
        }
        _ => {
            let mut b = BooleanBuilder::with_capacity(len);
            cells.for_each(|c| {
                b.append_option(match c {
                    Cell::Bool(v) => Some(v),
                    _ => None,
                })
            });
            Arc::new(b.finish())
        }
    })
}

/// Writes `prod.parquet` and `candidate.parquet` (and CSV copies) into
/// `out`, which must not hold them already, and returns the expected counts.
pub fn generate(spec: PairSpec, out: &Path) -> Result<Expected> {
    check_spec(&spec)?;
    std::fs::create_dir_all(out).map_err(|e| Error::unreadable(out.display().to_string(), e))?;
    let generator = Generator::new(spec);
    let rows = generator.spec.rows;
    let prod: Vec<(u64, bool)> = (0..rows).map(|id| (id, false)).collect();
    let mut candidate: Vec<(u64, bool)> = Vec::with_capacity(prod.len());
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
    // Fisher-Yates with the generator's own mixing: the order is fixed by the seed.
    let seed = generator.spec.seed;
    for i in (1..candidate.len()).rev() {
        let j = (mix(seed ^ 0x5ed ^ i as u64) % (i as u64 + 1)) as usize;
        candidate.swap(i, j);
    }
    let paths = |name: &str| {
        let csv = generator.spec.csv.then(|| out.join(format!("{name}.csv")));
        (out.join(format!("{name}.parquet")), csv)
    };
    for (name, rows) in [("prod", &prod), ("candidate", &candidate)] {
        let (parquet, csv) = paths(name);
        write(&generator, rows, &parquet, csv.as_deref())?;
    }
    Ok(Expected {
        rows,
        changed,
        removed,
        added: generator.added(),
        identical: rows - changed - removed,
    })
}

fn check_spec(spec: &PairSpec) -> Result<()> {
    let fractions = [
        ("--nulls", spec.nulls),
        ("--changed", spec.changed),
        ("--removed", spec.removed),
        ("--added", spec.added),
    ];
    if let Some((flag, value)) = fractions
        .iter()
        .find(|(_, v)| !(0.0..=1.0).contains(v) || v.is_nan())
    {
        return Err(Error::usage(format!(
            "`{flag}` is {value}, not a fraction between 0 and 1"
        )));
    }
    if spec.changed + spec.removed > 1.0 {
        return Err(Error::usage(
            "`--changed` and `--removed` add up to more than every row",
        ));
    }
    if spec.row_group == 0 {
        return Err(Error::usage(
            "`--row-group` is 0; a row group holds at least one row",
        ));
    }
    if spec.shape == Shape::Counts && spec.columns.columns(spec.nulls).is_empty() {
        return Err(Error::usage("the pair needs at least one value column")
            .with_hint("give one of --ints, --floats, --decimals, --strings, --timestamps, --bools a count above 0"));
    }
    Ok(())
}

/// Writes one side; batches are built in parallel, written in order.
fn write_error(path: &Path, e: &dyn std::fmt::Display) -> Error {
    Error::compute(format!("cannot write `{}`", path.display()), e.to_string())
}

fn write(
    generator: &Generator,
    rows: &[(u64, bool)],
    parquet: &Path,
    csv: Option<&Path>,
) -> Result<()> {
    let create = |path: &Path| -> Result<File> {
        File::create_new(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Error::usage(format!("`{}` already exists", path.display()))
                    .with_hint("generate into a new --out directory")
            } else {
                write_error(path, &e)
            }
        })
    };
    let parquet = parquet.to_path_buf();
    let mut properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(generator.spec.row_group));
    for column in generator.layout.iter().filter(|c| !c.dictionary) {
        properties =
            properties.set_column_dictionary_enabled(ColumnPath::from(column.name.as_str()), false);
    }
    let properties = properties.build();
    let mut parquet_writer = ArrowWriter::try_new(
        create(&parquet)?,
        generator.schema.clone(),
        Some(properties),
    )
    .map_err(|e| write_error(&parquet, &e))?;
    let csv = csv.map(Path::to_path_buf);
    let mut csv_writer = match &csv {
        Some(path) => Some(
            csv::WriterBuilder::new()
                .with_header(true)
                .build(create(path)?),
        ),
        None => None,
    };
    for group in rows.chunks(BATCH * 16) {
        let batches: Vec<RecordBatch> = group
            .par_chunks(BATCH)
            .map(|chunk| generator.batch(chunk))
            .collect::<Result<_>>()?;
        for batch in &batches {
            parquet_writer
                .write(batch)
                .map_err(|e| write_error(&parquet, &e))?;
            if let (Some(writer), Some(path)) = (csv_writer.as_mut(), &csv) {
                writer.write(batch).map_err(|e| write_error(path, &e))?;
            }
        }
    }
    parquet_writer
        .close()
        .map_err(|e| write_error(&parquet, &e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(rows: u64) -> PairSpec {
        PairSpec {
            rows,
            seed: 7,
            columns: Families {
                ints: 1,
                floats: 1,
                decimals: 1,
                strings: 3,
                timestamps: 1,
                bools: 1,
            },
            nulls: 0.1,
            changed: 0.05,
            removed: 0.02,
            added: 0.03,
            csv: false,
            shape: Shape::Counts,
            row_group: 1 << 20,
        }
    }

    #[test]
    fn a_changed_cell_always_differs_from_the_original() {
        let varied = PairSpec {
            shape: Shape::Varied,
            ..spec(1000)
        };
        for generator in [Generator::new(spec(1000)), Generator::new(varied)] {
            every_changed_cell_differs(&generator);
        }
    }

    fn every_changed_cell_differs(generator: &Generator) {
        for id in 0..1000 {
            for c in 0..generator.layout.len() {
                let (a, b) = (generator.cell(id, c, false), generator.cell(id, c, true));
                let same = match (a, b) {
                    (Cell::Null, Cell::Null) => true,
                    (Cell::Int(x), Cell::Int(y)) => x == y,
                    (Cell::Float(x), Cell::Float(y)) => x == y,
                    (Cell::Str(x), Cell::Str(y)) => x == y,
                    (Cell::Bool(x), Cell::Bool(y)) => x == y,
                    _ => false,
                };
                assert!(!same, "row {id} column {c} did not change");
            }
        }
    }

    #[test]
    fn refuses_to_overwrite_a_pair() {
        let dir = tempfile::tempdir().unwrap();
        let expected = generate(spec(500), dir.path()).unwrap();
        assert_eq!(expected.rows, 500);
        assert_eq!(expected.added, 15);
        let again = generate(spec(500), dir.path()).unwrap_err();
        assert!(again.to_string().contains("prod.parquet"), "{again}");
        assert_eq!(again.hint(), Some("generate into a new --out directory"));
    }
}
