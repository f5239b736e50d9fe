//! Every type family through the diff: each column is changed in exactly one
//! row, so each column must report exactly one unequal value, both through
//! the library on in-memory batches and through the binary on Parquet files.

use std::sync::Arc;

use crate::common::*;
use datafusion::arrow::array::*;
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Fields, Int32Type, Schema};
use dualrun::{DiffOptions, TableDiff, diff_tables};
use serde_json::Value;

const ROWS: usize = 16;

/// A prod column, its candidate counterpart, and the row changed (if any).
struct Case {
    name: &'static str,
    prod: ArrayRef,
    candidate: ArrayRef,
    changed_row: Option<usize>,
}

fn ids() -> Vec<i64> {
    (0..ROWS as i64).collect()
}

fn cases() -> Vec<Case> {
    let n = ROWS;
    let change = |row: usize, i: usize| i == row;
    let mut cases = vec![
        Case {
            name: "small_int",
            prod: Arc::new(Int16Array::from_iter_values((0..n).map(|i| i as i16))),
            candidate: Arc::new(Int64Array::from_iter_values(
                (0..n).map(|i| if change(1, i) { 100 } else { i as i64 }),
            )),
            changed_row: Some(1),
        },
        Case {
            name: "big_unsigned",
            prod: Arc::new(UInt64Array::from_iter_values(
                (0..n).map(|i| u64::MAX - i as u64),
            )),
            candidate: Arc::new(UInt64Array::from_iter_values(
                (0..n).map(|i| u64::MAX - i as u64 - u64::from(change(2, i))),
            )),
            changed_row: Some(2),
        },
        Case {
            name: "float",
            // NaN = NaN, -0.0 = 0.0, NULL = NULL; row 3 really changes.
            prod: Arc::new(Float64Array::from_iter((0..n).map(|i| match i {
                0 => Some(f64::NAN),
                4 => Some(-0.0),
                5 => None,
                _ => Some(i as f64 / 4.0),
            }))),
            candidate: Arc::new(Float32Array::from_iter((0..n).map(|i| match i {
                0 => Some(f32::NAN),
                4 => Some(0.0),
                5 => None,
                3 => Some(99.5),
                _ => Some(i as f32 / 4.0),
            }))),
            changed_row: Some(3),
        },
        Case {
            name: "decimal",
            prod: Arc::new(
                Decimal128Array::from_iter_values((0..n).map(|i| i as i128 * 125))
                    .with_precision_and_scale(10, 2)
                    .unwrap(),
            ),
            // Same values at scale 3, except row 4 (one thousandth off).
            candidate: Arc::new(
                Decimal128Array::from_iter_values(
                    (0..n).map(|i| i as i128 * 1250 + i128::from(change(4, i))),
                )
                .with_precision_and_scale(12, 3)
                .unwrap(),
            ),
            changed_row: Some(4),
        },
        Case {
            name: "text",
            prod: Arc::new(StringArray::from_iter(
                (0..n).map(|i| (i != 6).then(|| format!("v{i}"))),
            )),
            candidate: Arc::new(LargeStringArray::from_iter((0..n).map(|i| match i {
                5 => Some(String::new()), // NULL in neither: "" vs "v5" is a change
                6 => None,
                _ => Some(format!("v{i}")),
            }))),
            changed_row: Some(5),
        },
        Case {
            name: "flag",
            prod: Arc::new(BooleanArray::from_iter((0..n).map(|i| Some(i % 2 == 0)))),
            candidate: Arc::new(BooleanArray::from_iter(
                (0..n).map(|i| if change(6, i) { None } else { Some(i % 2 == 0) }),
            )),
            changed_row: Some(6),
        },
        Case {
            name: "day",
            prod: Arc::new(Date32Array::from_iter_values(
                (0..n).map(|i| 19_000 + i as i32),
            )),
            candidate: Arc::new(Date64Array::from_iter_values(
                (0..n).map(|i| (19_000 + i as i64 + i64::from(change(7, i))) * 86_400_000),
            )),
            changed_row: Some(7),
        },
        Case {
            name: "moment",
            // The same instants in two zones and units, except row 8.
            prod: Arc::new(
                TimestampMillisecondArray::from_iter_values(
                    (0..n).map(|i| 1_700_000_000_000 + i as i64),
                )
                .with_timezone("+02:00"),
            ),
            candidate: Arc::new(
                TimestampMicrosecondArray::from_iter_values(
                    (0..n).map(|i| (1_700_000_000_000 + i as i64) * 1000 + i64::from(change(8, i))),
                )
                .with_timezone("UTC"),
            ),
            changed_row: Some(8),
        },
        Case {
            name: "bytes",
            prod: Arc::new(BinaryArray::from_iter_values(
                (0..n).map(|i| vec![i as u8, 0]),
            )),
            candidate: Arc::new(LargeBinaryArray::from_iter_values(
                (0..n).map(|i| vec![i as u8, u8::from(change(9, i))]),
            )),
            changed_row: Some(9),
        },
        Case {
            name: "category",
            prod: Arc::new(
                (0..n)
                    .map(|i| if i % 2 == 0 { "even" } else { "odd" })
                    .collect::<DictionaryArray<Int32Type>>(),
            ),
            candidate: Arc::new(StringViewArray::from_iter_values((0..n).map(|i| {
                if change(10, i) {
                    "ten"
                } else if i % 2 == 0 {
                    "even"
                } else {
                    "odd"
                }
            }))),
            changed_row: Some(10),
        },
        Case {
            name: "tags",
            prod: Arc::new(ListArray::from_iter_primitive::<
                datafusion::arrow::datatypes::Int64Type,
                _,
                _,
            >(
                (0..n).map(|i| Some(vec![Some(i as i64), None]))
            )),
            candidate: Arc::new(ListArray::from_iter_primitive::<
                datafusion::arrow::datatypes::Int64Type,
                _,
                _,
            >((0..n).map(|i| {
                Some(if change(11, i) {
                    vec![Some(i as i64)]
                } else {
                    vec![Some(i as i64), None]
                })
            }))),
            changed_row: Some(11),
        },
        Case {
            name: "address",
            prod: struct_array((0..n).map(|i| format!("street {i}")).collect()),
            candidate: struct_array(
                (0..n)
                    .map(|i| {
                        if change(12, i) {
                            "moved".to_string()
                        } else {
                            format!("street {i}")
                        }
                    })
                    .collect(),
            ),
            changed_row: Some(12),
        },
        Case {
            name: "always_null",
            prod: Arc::new(NullArray::new(n)),
            candidate: Arc::new(Int64Array::from(vec![None; n])),
            changed_row: None,
        },
    ];
    // An incomparable pair, which must be skipped and said so.
    cases.push(Case {
        name: "incomparable",
        prod: Arc::new(StringArray::from_iter_values((0..n).map(|i| i.to_string()))),
        candidate: Arc::new(Int64Array::from_iter_values((0..n).map(|i| i as i64))),
        changed_row: None,
    });
    cases
}

fn struct_array(streets: Vec<String>) -> ArrayRef {
    let fields = Fields::from(vec![
        Field::new("street", DataType::Utf8, true),
        Field::new("zip", DataType::Int32, true),
    ]);
    let n = streets.len();
    Arc::new(StructArray::new(
        fields,
        vec![
            Arc::new(StringArray::from(streets)),
            Arc::new(Int32Array::from_iter_values((0..n).map(|i| i as i32))),
        ],
        None,
    ))
}

fn batches() -> (RecordBatch, RecordBatch) {
    let cases = cases();
    let build = |prod: bool| {
        let mut fields = vec![Field::new(
            "id",
            if prod {
                DataType::Int32
            } else {
                DataType::Int64
            },
            false,
        )];
        let mut columns: Vec<ArrayRef> = vec![if prod {
            Arc::new(Int32Array::from_iter_values(
                ids().into_iter().map(|i| i as i32),
            ))
        } else {
            Arc::new(Int64Array::from(ids()))
        }];
        for case in &cases {
            let array = if prod { &case.prod } else { &case.candidate };
            fields.push(Field::new(case.name, array.data_type().clone(), true));
            columns.push(Arc::clone(array));
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
    };
    (build(true), build(false))
}

fn check_report(columns: &[Value], rows: &Value, schema: &Value) {
    let cases = cases();
    let changed_cases = cases.iter().filter(|c| c.changed_row.is_some()).count();
    for case in cases.iter().filter(|c| c.name != "incomparable") {
        let column = columns
            .iter()
            .find(|c| c["name"] == case.name)
            .unwrap_or_else(|| panic!("{} is compared", case.name));
        let want = u64::from(case.changed_row.is_some());
        assert_eq!(column["unequal"], want, "{}: {column}", case.name);
    }
    assert_eq!(rows["changed"], changed_cases as u64, "{rows}");
    assert_eq!(rows["identical"], (ROWS - changed_cases) as u64, "{rows}");
    let skipped = schema["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0]["column"], "incomparable");
    assert_eq!(skipped[0]["reason"], "string vs number");
}

fn diff_in_memory(prod: RecordBatch, candidate: RecordBatch, options: &DiffOptions) -> TableDiff {
    diff_tables(
        &table("prod", vec![prod]),
        &table("candidate", vec![candidate]),
        options,
    )
    .unwrap()
}

#[test]
fn every_type_family_compares_in_memory() {
    let (prod, candidate) = batches();
    let options = DiffOptions {
        key: vec!["id".into()],
        sample: 20,
        ..Default::default()
    };
    let diff = diff_in_memory(prod, candidate, &options);
    let json = serde_json::to_value(&diff).unwrap();
    check_report(
        json["columns"].as_array().unwrap(),
        &json["rows"],
        &json["schema"],
    );
    // The retyped key is reported and still matched.
    let retyped: Vec<&str> = json["schema"]["retyped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["column"].as_str().unwrap())
        .collect();
    for column in ["id", "small_int", "float", "decimal", "day", "moment"] {
        assert!(retyped.contains(&column), "{column} in {retyped:?}");
    }
    for column in ["text", "bytes", "category"] {
        assert!(
            !retyped.contains(&column),
            "{column} holds the same values in another layout"
        );
    }
    // Samples carry typed values.
    let changed = json["samples"]["changed"].as_array().unwrap();
    let float_row = changed.iter().find(|r| r["key"]["id"] == 3).unwrap();
    assert_eq!(float_row["columns"]["float"]["candidate"], 99.5);
    let decimal_row = changed.iter().find(|r| r["key"]["id"] == 4).unwrap();
    assert_eq!(decimal_row["columns"]["decimal"]["prod"], "5.000");
    assert_eq!(decimal_row["columns"]["decimal"]["candidate"], "5.001");
}

#[test]
fn every_type_family_compares_through_parquet_files() {
    let (prod, candidate) = batches();
    let dir = tempfile::tempdir().unwrap();
    write_parquet(&dir.path().join("prod.parquet"), &[prod]);
    write_parquet(&dir.path().join("candidate.parquet"), &[candidate]);
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
    let report = json_report(&output);
    let table = &report["tables"][0];
    check_report(
        table["columns"].as_array().unwrap(),
        &table["rows"],
        &table["schema"],
    );
}

#[test]
fn decimal_tolerance_and_duration_tolerance_apply() {
    let (prod, candidate) = batches();
    let options = DiffOptions {
        key: vec!["id".into()],
        column_tolerances: [
            (
                "decimal".to_string(),
                dualrun::diff::Tolerance {
                    abs: 0.001,
                    ..Default::default()
                },
            ),
            (
                "moment".to_string(),
                dualrun::diff::Tolerance {
                    duration_ns: Some(1_000),
                    ..Default::default()
                },
            ),
        ]
        .into(),
        ..Default::default()
    };
    let diff = diff_in_memory(prod, candidate, &options);
    let column = |name: &str| diff.columns.iter().find(|c| c.name == name).unwrap();
    assert_eq!(column("decimal").unequal, 0);
    assert_eq!(column("decimal").within_tolerance, 1);
    assert_eq!(column("moment").unequal, 0);
    assert_eq!(column("moment").within_tolerance, 1);
    assert_eq!(diff.rows.within_tolerance, 2);
}

#[test]
fn nested_lists_offsets_do_not_matter_only_values() {
    // The same list values behind different offsets compare equal.
    let values = Int64Array::from(vec![9, 1, 2, 3]);
    let shifted = ListArray::new(
        Arc::new(Field::new_list_field(DataType::Int64, true)),
        OffsetBuffer::new(vec![1, 3, 4].into()),
        Arc::new(values),
        None,
    );
    let plain =
        ListArray::from_iter_primitive::<datafusion::arrow::datatypes::Int64Type, _, _>(vec![
            Some(vec![Some(1), Some(2)]),
            Some(vec![Some(3)]),
        ]);
    let schema = |list: &ListArray| {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("l", list.data_type().clone(), true),
        ]))
    };
    let prod = RecordBatch::try_new(
        schema(&shifted),
        vec![
            Arc::new(Int64Array::from(vec![1, 2])),
            Arc::new(shifted.clone()),
        ],
    )
    .unwrap();
    let candidate = RecordBatch::try_new(
        schema(&plain),
        vec![Arc::new(Int64Array::from(vec![1, 2])), Arc::new(plain)],
    )
    .unwrap();
    let options = DiffOptions {
        key: vec!["id".into()],
        ..Default::default()
    };
    let diff = diff_in_memory(prod, candidate, &options);
    assert_eq!(diff.rows.identical, 2, "{:?}", diff.rows);
}

#[test]
fn map_columns_compare_as_whole_values() {
    use datafusion::arrow::array::{MapBuilder, StringBuilder};
    let map = |values: &[i64]| -> ArrayRef {
        let mut builder = MapBuilder::new(None, StringBuilder::new(), Int64Builder::new());
        for v in values {
            builder.keys().append_value("k");
            builder.values().append_value(*v);
            builder.append(true).unwrap();
        }
        Arc::new(builder.finish())
    };
    let batch = |values: &[i64]| {
        let m = map(values);
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("m", m.data_type().clone(), true),
        ]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![1, 2, 3])), m]).unwrap()
    };
    let options = DiffOptions {
        key: vec!["id".into()],
        ..Default::default()
    };
    let diff = diff_in_memory(batch(&[1, 2, 3]), batch(&[1, 2, 4]), &options);
    assert_eq!(
        (diff.rows.identical, diff.rows.changed),
        (2, 1),
        "{:?}",
        diff.rows
    );
}
