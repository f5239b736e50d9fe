//! Value-by-value comparison of two comparison-typed cells, where tolerances
//! apply. Hashing only filters: rows whose hashes differ end up here.
//!
//! Semantics: NULL equals NULL and NULL against a value is unequal; NaN
//! equals NaN and -0.0 equals 0.0; a numeric tolerance is symmetric,
//! `|a-b| <= abs + rel * max(|a|,|b|)`; decimals compare exactly unless a
//! tolerance is given; date/time columns take a duration tolerance; strings
//! may be trimmed or compared without case.

use datafusion::arrow::array::{Array, ArrowPrimitiveType, AsArray, make_comparator};
use datafusion::arrow::compute::SortOptions;
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Date64Type, Decimal128Type, Decimal256Type, DurationMicrosecondType,
    DurationMillisecondType, DurationNanosecondType, DurationSecondType, Float64Type, Int64Type,
    Time64NanosecondType, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, i256,
};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use serde::{Deserialize, Serialize};

use super::hash::canonical_f64;

/// A numeric (`abs`, `rel`) and temporal (`duration_ns`) tolerance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Tolerance {
    pub abs: f64,
    pub rel: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ns: Option<i64>,
}

impl Tolerance {
    pub fn is_zero(&self) -> bool {
        self.abs == 0.0 && self.rel == 0.0 && self.duration_ns.unwrap_or(0) == 0
    }

    fn allows(&self, diff: f64, a: f64, b: f64) -> bool {
        diff <= self.abs + self.rel * a.abs().max(b.abs())
    }
}

/// String comparison options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StringRule {
    pub trim: bool,
    pub ignore_case: bool,
}

/// How one column's values are compared.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ColumnRule {
    pub tolerance: Tolerance,
    pub strings: StringRule,
}

impl ColumnRule {
    /// Exact equality, as used for keys.
    pub const EXACT: ColumnRule = ColumnRule {
        tolerance: Tolerance {
            abs: 0.0,
            rel: 0.0,
            duration_ns: None,
        },
        strings: StringRule {
            trim: false,
            ignore_case: false,
        },
    };
}

/// The result of comparing two cells.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    Equal,
    /// Different, but within the column's tolerance (or equal after trimming
    /// or case folding).
    WithinTolerance,
    Unequal {
        /// |a - b| for numbers (in the column's units), when both are finite.
        abs_diff: Option<f64>,
        /// One side NULL, the other not.
        null_mismatch: bool,
    },
}

impl Outcome {
    pub fn is_unequal(&self) -> bool {
        matches!(self, Outcome::Unequal { .. })
    }
}

/// Whether two cells are exactly equal (canonical floats aside).
pub fn cells_equal(a: &dyn Array, i: usize, b: &dyn Array, j: usize) -> bool {
    compare(a, i, b, j, &ColumnRule::EXACT) == Outcome::Equal
}

/// Compares cell `i` of `a` with cell `j` of `b`; both arrays have the same
/// comparison type.
pub fn compare(a: &dyn Array, i: usize, b: &dyn Array, j: usize, rule: &ColumnRule) -> Outcome {
    match (a.is_null(i), b.is_null(j)) {
        (true, true) => return Outcome::Equal,
        (true, false) | (false, true) => {
            return Outcome::Unequal {
                abs_diff: None,
                null_mismatch: true,
            };
        }
        (false, false) => {}
    }
    let tolerance = &rule.tolerance;
    use DataType::*;
    match a.data_type() {
        Null => Outcome::Equal,
        Boolean => exact(a.as_boolean().value(i) == b.as_boolean().value(j)),
        Int64 => {
            let (x, y) = values::<Int64Type>(a, i, b, j);
            let diff = (x as i128 - y as i128).unsigned_abs() as f64;
            numeric(x == y, diff, x as f64, y as f64, tolerance)
        }
        Float64 => {
            let (x, y) = values::<Float64Type>(a, i, b, j);
            compare_floats(x, y, tolerance)
        }
        Decimal128(_, scale) => {
            let (x, y) = values::<Decimal128Type>(a, i, b, j);
            let unit = 10f64.powi(i32::from(*scale));
            let diff = match x.checked_sub(y) {
                Some(d) => d.unsigned_abs() as f64 / unit,
                None => (x as f64 - y as f64).abs() / unit,
            };
            numeric(x == y, diff, x as f64 / unit, y as f64 / unit, tolerance)
        }
        Decimal256(_, scale) => {
            let (x, y) = values::<Decimal256Type>(a, i, b, j);
            let unit = 10f64.powi(i32::from(*scale));
            let (fx, fy) = (i256_to_f64(x) / unit, i256_to_f64(y) / unit);
            numeric(x == y, (fx - fy).abs(), fx, fy, tolerance)
        }
        Date32 => temporal::<Date32Type>(a, i, b, j, 86_400_000_000_000, tolerance),
        Date64 => temporal::<Date64Type>(a, i, b, j, 1_000_000, tolerance),
        Time64(TimeUnit::Nanosecond) => temporal::<Time64NanosecondType>(a, i, b, j, 1, tolerance),
        Timestamp(unit, _) | Duration(unit) => compare_time_units(a, i, b, j, *unit, tolerance),
        Utf8View => compare_strings(
            a.as_string_view().value(i),
            b.as_string_view().value(j),
            rule,
        ),
        BinaryView => exact(a.as_binary_view().value(i) == b.as_binary_view().value(j)),
        _ => exact(whole_values_equal(a, i, b, j)),
    }
}

fn exact(equal: bool) -> Outcome {
    if equal {
        Outcome::Equal
    } else {
        Outcome::Unequal {
            abs_diff: None,
            null_mismatch: false,
        }
    }
}

fn values<T: ArrowPrimitiveType>(
    a: &dyn Array,
    i: usize,
    b: &dyn Array,
    j: usize,
) -> (T::Native, T::Native) {
    (
        a.as_primitive::<T>().value(i),
        b.as_primitive::<T>().value(j),
    )
}

fn numeric(equal: bool, diff: f64, x: f64, y: f64, tolerance: &Tolerance) -> Outcome {
    if equal {
        Outcome::Equal
    } else if tolerance.allows(diff, x, y) {
        Outcome::WithinTolerance
    } else {
        Outcome::Unequal {
            abs_diff: Some(diff),
            null_mismatch: false,
        }
    }
}

fn compare_floats(x: f64, y: f64, tolerance: &Tolerance) -> Outcome {
    let (x, y) = (canonical_f64(x), canonical_f64(y));
    if x == y || (x.is_nan() && y.is_nan()) {
        return Outcome::Equal;
    }
    if x.is_finite() && y.is_finite() {
        numeric(false, (x - y).abs(), x, y, tolerance)
    } else {
        exact(false)
    }
}

fn i256_to_f64(value: i256) -> f64 {
    match value.to_i128() {
        Some(v) => v as f64,
        None => {
            let (low, high) = value.to_parts();
            high as f64 * 2f64.powi(128) + low as f64
        }
    }
}

/// Dates, times, timestamps and durations: exact, or within a duration.
fn temporal<T>(
    a: &dyn Array,
    i: usize,
    b: &dyn Array,
    j: usize,
    nanos_per_unit: i128,
    tolerance: &Tolerance,
) -> Outcome
where
    T: ArrowPrimitiveType,
    T::Native: Into<i64>,
{
    let (x, y) = values::<T>(a, i, b, j);
    let (x, y): (i64, i64) = (x.into(), y.into());
    if x == y {
        return Outcome::Equal;
    }
    let diff_ns = (x as i128 - y as i128).abs() * nanos_per_unit;
    match tolerance.duration_ns {
        Some(allowed) if diff_ns <= i128::from(allowed) => Outcome::WithinTolerance,
        _ => exact(false),
    }
}

fn compare_time_units(
    a: &dyn Array,
    i: usize,
    b: &dyn Array,
    j: usize,
    unit: TimeUnit,
    tolerance: &Tolerance,
) -> Outcome {
    let timestamp = matches!(a.data_type(), DataType::Timestamp(..));
    match (unit, timestamp) {
        (TimeUnit::Second, true) => {
            temporal::<TimestampSecondType>(a, i, b, j, 1_000_000_000, tolerance)
        }
        (TimeUnit::Millisecond, true) => {
            temporal::<TimestampMillisecondType>(a, i, b, j, 1_000_000, tolerance)
        }
        (TimeUnit::Microsecond, true) => {
            temporal::<TimestampMicrosecondType>(a, i, b, j, 1_000, tolerance)
        }
        (TimeUnit::Nanosecond, true) => {
            temporal::<TimestampNanosecondType>(a, i, b, j, 1, tolerance)
        }
        (TimeUnit::Second, false) => {
            temporal::<DurationSecondType>(a, i, b, j, 1_000_000_000, tolerance)
        }
        (TimeUnit::Millisecond, false) => {
            temporal::<DurationMillisecondType>(a, i, b, j, 1_000_000, tolerance)
        }
        (TimeUnit::Microsecond, false) => {
            temporal::<DurationMicrosecondType>(a, i, b, j, 1_000, tolerance)
        }
        (TimeUnit::Nanosecond, false) => {
            temporal::<DurationNanosecondType>(a, i, b, j, 1, tolerance)
        }
    }
}

fn compare_strings(x: &str, y: &str, rule: &ColumnRule) -> Outcome {
    if x == y {
        return Outcome::Equal;
    }
    let StringRule { trim, ignore_case } = rule.strings;
    let (x, y) = if trim { (x.trim(), y.trim()) } else { (x, y) };
    let equal = if ignore_case {
        x.chars()
            .flat_map(char::to_lowercase)
            .eq(y.chars().flat_map(char::to_lowercase))
    } else {
        x == y
    };
    if equal && (trim || ignore_case) {
        Outcome::WithinTolerance
    } else {
        exact(false)
    }
}

/// Nested and other types compare as whole values: Arrow's comparator where
/// it supports the type, their display text otherwise.
fn whole_values_equal(a: &dyn Array, i: usize, b: &dyn Array, j: usize) -> bool {
    match make_comparator(a, b, SortOptions::default()) {
        Ok(comparator) => comparator(i, j).is_eq(),
        Err(_) => {
            let options = FormatOptions::default();
            match (
                ArrayFormatter::try_new(a, &options),
                ArrayFormatter::try_new(b, &options),
            ) {
                (Ok(fa), Ok(fb)) => fa.value(i).to_string() == fb.value(j).to_string(),
                _ => false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{
        Decimal128Array, Float64Array, Int64Array, StringViewArray, TimestampMillisecondArray,
    };

    fn rule(abs: f64, rel: f64) -> ColumnRule {
        ColumnRule {
            tolerance: Tolerance {
                abs,
                rel,
                duration_ns: None,
            },
            ..ColumnRule::default()
        }
    }

    #[test]
    fn floats_follow_the_documented_semantics() {
        let a = Float64Array::from(vec![
            Some(f64::NAN),
            Some(-0.0),
            Some(1.0),
            Some(100.0),
            None,
            None,
        ]);
        let b = Float64Array::from(vec![
            Some(f64::NAN),
            Some(0.0),
            Some(1.005),
            Some(101.0),
            None,
            Some(1.0),
        ]);
        let exact = ColumnRule::EXACT;
        assert_eq!(compare(&a, 0, &b, 0, &exact), Outcome::Equal);
        assert_eq!(compare(&a, 1, &b, 1, &exact), Outcome::Equal);
        assert!(compare(&a, 2, &b, 2, &exact).is_unequal());
        assert_eq!(
            compare(&a, 2, &b, 2, &rule(0.01, 0.0)),
            Outcome::WithinTolerance
        );
        // rel is symmetric: 1 <= 0.01 * max(100, 101)
        assert_eq!(
            compare(&a, 3, &b, 3, &rule(0.0, 0.01)),
            Outcome::WithinTolerance
        );
        assert!(compare(&a, 3, &b, 3, &rule(0.0, 0.009)).is_unequal());
        assert_eq!(compare(&a, 4, &b, 4, &exact), Outcome::Equal);
        assert_eq!(
            compare(&a, 5, &b, 5, &rule(1e9, 0.0)),
            Outcome::Unequal {
                abs_diff: None,
                null_mismatch: true
            }
        );
    }

    #[test]
    fn decimals_are_exact_unless_given_a_tolerance() {
        let a = Decimal128Array::from(vec![1250])
            .with_precision_and_scale(38, 2)
            .unwrap();
        let b = Decimal128Array::from(vec![1251])
            .with_precision_and_scale(38, 2)
            .unwrap();
        assert_eq!(
            compare(&a, 0, &b, 0, &ColumnRule::EXACT),
            Outcome::Unequal {
                abs_diff: Some(0.01),
                null_mismatch: false
            }
        );
        assert_eq!(
            compare(&a, 0, &b, 0, &rule(0.011, 0.0)),
            Outcome::WithinTolerance
        );
    }

    #[test]
    fn integers_report_their_difference() {
        let a = Int64Array::from(vec![i64::MIN]);
        let b = Int64Array::from(vec![i64::MAX]);
        match compare(&a, 0, &b, 0, &ColumnRule::EXACT) {
            Outcome::Unequal {
                abs_diff: Some(d), ..
            } => assert!(d > 1.8e19),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn timestamps_take_a_duration_tolerance() {
        let a = TimestampMillisecondArray::from(vec![1_000]);
        let b = TimestampMillisecondArray::from(vec![3_000]);
        let mut within = ColumnRule::EXACT;
        within.tolerance.duration_ns = Some(2_000_000_000);
        assert_eq!(compare(&a, 0, &b, 0, &within), Outcome::WithinTolerance);
        within.tolerance.duration_ns = Some(1_999_999_999);
        assert!(compare(&a, 0, &b, 0, &within).is_unequal());
    }

    #[test]
    fn strings_trim_and_fold_case_only_when_asked() {
        let a = StringViewArray::from(vec![" Paris "]);
        let b = StringViewArray::from(vec!["paris"]);
        assert!(compare(&a, 0, &b, 0, &ColumnRule::EXACT).is_unequal());
        let mut lenient = ColumnRule::EXACT;
        lenient.strings = StringRule {
            trim: true,
            ignore_case: true,
        };
        assert_eq!(compare(&a, 0, &b, 0, &lenient), Outcome::WithinTolerance);
        lenient.strings.ignore_case = false;
        assert!(compare(&a, 0, &b, 0, &lenient).is_unequal());
    }
}
