//! Type normalization: the comparison type of a prod/candidate column pair,
//! and the cast of each side to it, so that int32 5 equals int64 5, `Utf8`
//! equals `Utf8View`, and a retyped column is still compared.
//!
//! Families and their comparison types:
//! - integers: `Int64` (`Decimal128(20, 0)` when a side is `UInt64`, which
//!   `Int64` cannot hold);
//! - floats, or a float against an integer or decimal: `Float64`;
//! - decimals, or a decimal against an integer: `Decimal128(38, wider scale)`
//!   (`Decimal256(76, ..)` when a side is 256-bit);
//! - strings of every layout: `Utf8View`; binaries: `BinaryView`;
//! - dates: `Date32`, or `Date64` when a side is `Date64`;
//! - timestamps (and a date against a timestamp): UTC instants in the finer
//!   unit; a timestamp without a time zone is read as UTC;
//! - times: `Time64(ns)`; durations: the finer unit;
//! - dictionaries: their value type; a `Null` column: the other side's type;
//! - nested and other types: compared only when both sides have the same type.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, make_array, new_null_array};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::arrow::error::ArrowError;

/// A type family: which values can meaningfully be compared with which.
#[derive(Debug, Clone, PartialEq)]
enum Family {
    Null,
    Boolean,
    Integer {
        unsigned64: bool,
    },
    Float,
    Decimal {
        scale: i8,
        wide: bool,
    },
    String,
    Binary,
    Date {
        millis: bool,
    },
    Timestamp(TimeUnit),
    Time,
    Duration(TimeUnit),
    /// Compared only against the very same type.
    Exact(DataType),
}

fn family(data_type: &DataType) -> Family {
    use DataType::*;
    match data_type {
        Null => Family::Null,
        Boolean => Family::Boolean,
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 => {
            Family::Integer { unsigned64: false }
        }
        UInt64 => Family::Integer { unsigned64: true },
        Float16 | Float32 | Float64 => Family::Float,
        Decimal32(_, s) | Decimal64(_, s) | Decimal128(_, s) => Family::Decimal {
            scale: *s,
            wide: false,
        },
        Decimal256(_, s) => Family::Decimal {
            scale: *s,
            wide: true,
        },
        Utf8 | LargeUtf8 | Utf8View => Family::String,
        Binary | LargeBinary | BinaryView | FixedSizeBinary(_) => Family::Binary,
        Date32 => Family::Date { millis: false },
        Date64 => Family::Date { millis: true },
        Timestamp(unit, _) => Family::Timestamp(*unit),
        Time32(_) | Time64(_) => Family::Time,
        Duration(unit) => Family::Duration(*unit),
        Dictionary(_, value) => family(value),
        other => Family::Exact(other.clone()),
    }
}

fn finer(a: TimeUnit, b: TimeUnit) -> TimeUnit {
    fn rank(unit: TimeUnit) -> u8 {
        match unit {
            TimeUnit::Second => 0,
            TimeUnit::Millisecond => 1,
            TimeUnit::Microsecond => 2,
            TimeUnit::Nanosecond => 3,
        }
    }
    if rank(a) >= rank(b) { a } else { b }
}

fn utc(unit: TimeUnit) -> DataType {
    DataType::Timestamp(unit, Some(Arc::from("UTC")))
}

/// A short family name for messages ("string vs number").
fn family_name(family: &Family) -> String {
    match family {
        Family::Null => "null".into(),
        Family::Boolean => "boolean".into(),
        Family::Integer { .. } | Family::Float | Family::Decimal { .. } => "number".into(),
        Family::String => "string".into(),
        Family::Binary => "binary".into(),
        Family::Date { .. } | Family::Timestamp(_) => "date/time".into(),
        Family::Time => "time of day".into(),
        Family::Duration(_) => "duration".into(),
        Family::Exact(t) => format!("`{t}`"),
    }
}

/// The type both sides are cast to before hashing and comparing, or why the
/// pair cannot be compared.
pub fn comparison_type(prod: &DataType, candidate: &DataType) -> Result<DataType, String> {
    use Family as F;
    let (a, b) = (family(prod), family(candidate));
    let decimal = |scale: i8, wide: bool| {
        if wide {
            DataType::Decimal256(76, scale)
        } else {
            DataType::Decimal128(38, scale)
        }
    };
    let compared = match (&a, &b) {
        (F::Null, F::Null) => DataType::Null,
        (F::Null, _) => return comparison_type(candidate, candidate),
        (_, F::Null) => return comparison_type(prod, prod),
        (F::Boolean, F::Boolean) => DataType::Boolean,
        (F::Integer { unsigned64: u1 }, F::Integer { unsigned64: u2 }) => {
            if *u1 || *u2 {
                DataType::Decimal128(20, 0)
            } else {
                DataType::Int64
            }
        }
        (F::Float, F::Float | F::Integer { .. } | F::Decimal { .. })
        | (F::Integer { .. } | F::Decimal { .. }, F::Float) => DataType::Float64,
        (
            F::Decimal {
                scale: s1,
                wide: w1,
            },
            F::Decimal {
                scale: s2,
                wide: w2,
            },
        ) => decimal(*s1.max(s2), *w1 || *w2),
        (F::Decimal { scale, wide }, F::Integer { .. })
        | (F::Integer { .. }, F::Decimal { scale, wide }) => decimal(*scale, *wide),
        (F::String, F::String) => DataType::Utf8View,
        (F::Binary, F::Binary) => DataType::BinaryView,
        (F::Date { millis: m1 }, F::Date { millis: m2 }) => {
            if *m1 || *m2 {
                DataType::Date64
            } else {
                DataType::Date32
            }
        }
        (F::Timestamp(u1), F::Timestamp(u2)) => utc(finer(*u1, *u2)),
        (F::Timestamp(unit), F::Date { .. }) | (F::Date { .. }, F::Timestamp(unit)) => {
            utc(finer(*unit, TimeUnit::Millisecond))
        }
        (F::Time, F::Time) => DataType::Time64(TimeUnit::Nanosecond),
        (F::Duration(u1), F::Duration(u2)) => DataType::Duration(finer(*u1, *u2)),
        (F::Exact(t1), F::Exact(t2)) if t1.equals_datatype(t2) => t1.clone(),
        _ => {
            return Err(if family_name(&a) == family_name(&b) {
                format!("`{prod}` and `{candidate}` have no common comparison type")
            } else {
                format!("{} vs {}", family_name(&a), family_name(&b))
            });
        }
    };
    Ok(compared)
}

/// Casts one column to its comparison type. Casts are checked: a value that
/// does not fit is an error, never a silent null.
pub fn to_comparison(array: &ArrayRef, target: &DataType) -> Result<ArrayRef, ArrowError> {
    if array.data_type() == target {
        return Ok(Arc::clone(array));
    }
    if array.data_type() == &DataType::Null {
        return Ok(new_null_array(target, array.len()));
    }
    let options = CastOptions {
        safe: false,
        ..Default::default()
    };
    let array = match array.data_type() {
        DataType::Dictionary(_, value) => cast_with_options(array, value, &options)?,
        // Arrow has no direct fixed-size-binary to view cast.
        DataType::FixedSizeBinary(_) => cast_with_options(array, &DataType::Binary, &options)?,
        _ => Arc::clone(array),
    };
    if array.data_type() == target {
        return Ok(array);
    }
    if let (DataType::Timestamp(_, None), DataType::Timestamp(unit, Some(zone))) =
        (array.data_type(), target)
        && zone.as_ref() == "UTC"
    {
        // A timestamp without a zone is read as UTC: the same numbers in
        // the target unit, relabelled. Arrow's cast would look every value
        // up in the time zone database.
        let naive = cast_with_options(&array, &DataType::Timestamp(*unit, None), &options)?;
        return in_utc(&naive, target);
    }
    cast_with_options(&array, target, &options)
}

/// The same values and buffers under the target type, a zone added.
fn in_utc(naive: &ArrayRef, target: &DataType) -> Result<ArrayRef, ArrowError> {
    let data = naive
        .to_data()
        .into_builder()
        .data_type(target.clone())
        .build()?;
    Ok(make_array(data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{
        AsArray, DictionaryArray, Int32Array, StringArray, TimestampSecondArray,
    };
    use datafusion::arrow::datatypes::{Int8Type, TimestampMillisecondType};

    #[test]
    fn families_meet_at_the_documented_types() {
        use DataType::*;
        let ms = TimeUnit::Millisecond;
        let cases = [
            (Int32, Int64, Int64),
            (UInt64, Int8, Decimal128(20, 0)),
            (Float32, Int64, Float64),
            (Decimal128(10, 2), Decimal128(12, 4), Decimal128(38, 4)),
            (Decimal128(10, 2), Int32, Decimal128(38, 2)),
            (Utf8, LargeUtf8, Utf8View),
            (Binary, FixedSizeBinary(4), BinaryView),
            (Date32, Date64, Date64),
            (
                Timestamp(TimeUnit::Second, None),
                Timestamp(ms, Some("+02:00".into())),
                utc(ms),
            ),
            (Null, Utf8, Utf8View),
            (Dictionary(Box::new(Int8), Box::new(Utf8)), Utf8, Utf8View),
        ];
        for (a, b, want) in cases {
            assert_eq!(comparison_type(&a, &b).unwrap(), want, "{a} vs {b}");
            assert_eq!(comparison_type(&b, &a).unwrap(), want, "{b} vs {a}");
        }
    }

    #[test]
    fn naive_timestamps_are_relabelled_as_arrow_would_cast_them() {
        let naive: ArrayRef = Arc::new(TimestampSecondArray::from(vec![
            Some(-86_400 * 365 * 300),
            None,
            Some(0),
            Some(1_700_000_000),
        ]));
        let target = utc(TimeUnit::Millisecond);
        let relabelled = to_comparison(&naive, &target).unwrap();
        let cast = cast_with_options(&naive, &target, &CastOptions::default()).unwrap();
        assert_eq!(relabelled.data_type(), &target);
        assert_eq!(&relabelled, &cast);
    }

    #[test]
    fn incomparable_pairs_say_why() {
        let reason = comparison_type(&DataType::Utf8, &DataType::Int64).unwrap_err();
        assert_eq!(reason, "string vs number");
    }

    #[test]
    fn timestamps_become_utc_instants_in_the_finer_unit() {
        let seconds: ArrayRef =
            Arc::new(TimestampSecondArray::from(vec![1_700_000_000]).with_timezone("+05:00"));
        let cast = to_comparison(&seconds, &utc(TimeUnit::Millisecond)).unwrap();
        let values = cast.as_primitive::<TimestampMillisecondType>();
        // The instant is kept: only the unit changes, never the moment.
        assert_eq!(values.value(0), 1_700_000_000_000);
    }

    #[test]
    fn dictionaries_and_ints_cast_to_their_values() {
        let dict: DictionaryArray<Int8Type> = vec!["a", "b", "a"].into_iter().collect();
        let cast = to_comparison(&(Arc::new(dict) as ArrayRef), &DataType::Utf8View).unwrap();
        assert_eq!(cast.as_string_view().value(2), "a");
        let ints: ArrayRef = Arc::new(Int32Array::from(vec![5]));
        let cast = to_comparison(&ints, &DataType::Int64).unwrap();
        assert_eq!(
            cast.as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                .value(0),
            5
        );
        let strings: ArrayRef = Arc::new(StringArray::from(vec!["x"]));
        assert!(to_comparison(&strings, &DataType::Int64).is_err());
    }
}
