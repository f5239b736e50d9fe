//! Row and key hashing: xxh3 over a canonical encoding of comparison-typed
//! columns, computed column by column.
//!
//! Every value gets its own 64-bit hash (`value_hashes`), which column
//! statistics reuse for distinct counts and top values; a row's hash folds
//! its values' hashes in column order with a mixer that is a bijection in
//! each argument, so two rows that differ in one value never share a row
//! hash, and `("a,b","c")` and `("a","b,c")` differ (values are hashed one by
//! one, never concatenated). NULL hashes to a constant no value produces,
//! so NULL and `""` differ. Floats are normalized first (-0.0 as 0.0, every
//! NaN as one NaN), so equal values hash equal. Columns must already be cast
//! to their comparison type (see `canon`), which is what makes int32 5 and
//! int64 5 hash alike.

use datafusion::arrow::array::{Array, ArrayRef, ArrowPrimitiveType, AsArray};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Date64Type, Decimal128Type, Decimal256Type, DurationMicrosecondType,
    DurationMillisecondType, DurationNanosecondType, DurationSecondType, Float64Type, Int64Type,
    Time64NanosecondType, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use xxhash_rust::xxh3::xxh3_64;

/// Seed of key hashes.
pub const KEY_SEED: u64 = 0x6475_616c_6b65_7931;
/// Seed of row hashes.
pub const ROW_SEED: u64 = 0x6475_616c_726f_7731;
/// The hash of NULL in every column.
pub const NULL_HASH: u64 = 0x6e75_6c6c_d1a1_5eed;

/// Hashes `columns` (all of `rows` rows) into one u64 per row.
pub fn hash_rows(columns: &[ArrayRef], rows: usize, seed: u64) -> Result<Vec<u64>, ArrowError> {
    let mut hashes = vec![seed; rows];
    for column in columns {
        fold_into(&mut hashes, &value_hashes(column.as_ref())?);
    }
    Ok(hashes)
}

/// Folds one column's value hashes into running row hashes. For a fixed
/// running hash the step is injective in the value hash, and for a fixed
/// value hash injective in the running hash: rotate, xor and an odd
/// multiplier are all bijections.
pub fn fold_into(rows: &mut [u64], values: &[u64]) {
    for (row, value) in rows.iter_mut().zip(values) {
        *row = (row.rotate_left(23) ^ value).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// The canonical bits of a float: -0.0 becomes 0.0 and every NaN one NaN.
pub fn canonical_f64(value: f64) -> f64 {
    if value.is_nan() {
        f64::NAN
    } else if value == 0.0 {
        0.0
    } else {
        value
    }
}

/// One hash per value of a primitive column.
fn primitive_hashes<T: ArrowPrimitiveType>(
    array: &dyn Array,
    hash: impl Fn(T::Native) -> u64,
) -> Vec<u64> {
    let values = array.as_primitive::<T>();
    match values.nulls().filter(|n| n.null_count() > 0) {
        None => values.values().iter().map(|v| hash(*v)).collect(),
        Some(nulls) => (0..values.len())
            .map(|i| {
                if nulls.is_valid(i) {
                    hash(values.value(i))
                } else {
                    NULL_HASH
                }
            })
            .collect(),
    }
}

/// One hash per value of a column read as bytes.
fn byte_hashes<'a>(array: &dyn Array, value: impl Fn(usize) -> &'a [u8]) -> Vec<u64> {
    (0..array.len())
        .map(|i| {
            if array.is_valid(i) {
                xxh3_64(value(i))
            } else {
                NULL_HASH
            }
        })
        .collect()
}

macro_rules! le_bytes {
    () => {
        |v| xxh3_64(&v.to_le_bytes())
    };
}

/// One hash per value of a comparison-typed column, NULL as `NULL_HASH`.
pub fn value_hashes(array: &dyn Array) -> Result<Vec<u64>, ArrowError> {
    use DataType::*;
    let hashes = match array.data_type() {
        Null => vec![NULL_HASH; array.len()],
        Boolean => {
            let values = array.as_boolean();
            (0..array.len())
                .map(|i| {
                    if values.is_valid(i) {
                        xxh3_64(&[values.value(i) as u8])
                    } else {
                        NULL_HASH
                    }
                })
                .collect()
        }
        Int64 => primitive_hashes::<Int64Type>(array, le_bytes!()),
        Float64 => {
            primitive_hashes::<Float64Type>(array, |v| xxh3_64(&canonical_f64(v).to_le_bytes()))
        }
        Decimal128(_, _) => primitive_hashes::<Decimal128Type>(array, le_bytes!()),
        Decimal256(_, _) => primitive_hashes::<Decimal256Type>(array, le_bytes!()),
        Date32 => primitive_hashes::<Date32Type>(array, le_bytes!()),
        Date64 => primitive_hashes::<Date64Type>(array, le_bytes!()),
        Time64(TimeUnit::Nanosecond) => {
            primitive_hashes::<Time64NanosecondType>(array, le_bytes!())
        }
        Timestamp(TimeUnit::Second, _) => {
            primitive_hashes::<TimestampSecondType>(array, le_bytes!())
        }
        Timestamp(TimeUnit::Millisecond, _) => {
            primitive_hashes::<TimestampMillisecondType>(array, le_bytes!())
        }
        Timestamp(TimeUnit::Microsecond, _) => {
            primitive_hashes::<TimestampMicrosecondType>(array, le_bytes!())
        }
        Timestamp(TimeUnit::Nanosecond, _) => {
            primitive_hashes::<TimestampNanosecondType>(array, le_bytes!())
        }
        Duration(TimeUnit::Second) => primitive_hashes::<DurationSecondType>(array, le_bytes!()),
        Duration(TimeUnit::Millisecond) => {
            primitive_hashes::<DurationMillisecondType>(array, le_bytes!())
        }
        Duration(TimeUnit::Microsecond) => {
            primitive_hashes::<DurationMicrosecondType>(array, le_bytes!())
        }
        Duration(TimeUnit::Nanosecond) => {
            primitive_hashes::<DurationNanosecondType>(array, le_bytes!())
        }
        Utf8View => {
            let values = array.as_string_view();
            byte_hashes(array, |i| values.value(i).as_bytes())
        }
        BinaryView => {
            let values = array.as_binary_view();
            byte_hashes(array, |i| values.value(i))
        }
        _ => encoded_hashes(array)?,
    };
    Ok(hashes)
}

/// A bijection of u64 (splitmix64's finalizer: xor-shifts and odd
/// multipliers, each invertible), so distinct inputs never share an output.
fn bijective_mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Key hashes that are injective on the key's values, for a single key
/// column whose canonical value fits in 64 bits (integers, dates, times,
/// timestamps, durations, canonical floats): equal hashes then prove equal
/// keys, so matching never reads the key columns. `None` for other types.
/// NULL keys get `NULL_HASH`, which some value shares: callers leave rows
/// with NULL keys out of matching.
pub fn exact_key_hashes(array: &dyn Array) -> Option<Vec<u64>> {
    use DataType::*;
    fn exact<T: ArrowPrimitiveType>(
        array: &dyn Array,
        bits: impl Fn(T::Native) -> u64,
    ) -> Vec<u64> {
        primitive_hashes::<T>(array, |v| bijective_mix(bits(v) ^ KEY_SEED))
    }
    let as_bits = |v: i64| v as u64;
    Some(match array.data_type() {
        Int64 => exact::<Int64Type>(array, as_bits),
        Float64 => exact::<Float64Type>(array, |v| canonical_f64(v).to_bits()),
        Date32 => exact::<Date32Type>(array, |v| i64::from(v) as u64),
        Date64 => exact::<Date64Type>(array, as_bits),
        Time64(TimeUnit::Nanosecond) => exact::<Time64NanosecondType>(array, as_bits),
        Timestamp(TimeUnit::Second, _) => exact::<TimestampSecondType>(array, as_bits),
        Timestamp(TimeUnit::Millisecond, _) => exact::<TimestampMillisecondType>(array, as_bits),
        Timestamp(TimeUnit::Microsecond, _) => exact::<TimestampMicrosecondType>(array, as_bits),
        Timestamp(TimeUnit::Nanosecond, _) => exact::<TimestampNanosecondType>(array, as_bits),
        Duration(TimeUnit::Second) => exact::<DurationSecondType>(array, as_bits),
        Duration(TimeUnit::Millisecond) => exact::<DurationMillisecondType>(array, as_bits),
        Duration(TimeUnit::Microsecond) => exact::<DurationMicrosecondType>(array, as_bits),
        Duration(TimeUnit::Nanosecond) => exact::<DurationNanosecondType>(array, as_bits),
        _ => return None,
    })
}

/// Nested and other whole-value types are hashed through Arrow's row format,
/// a canonical byte encoding of any value; the few types it cannot encode
/// (maps) are hashed through their display text.
fn encoded_hashes(array: &dyn Array) -> Result<Vec<u64>, ArrowError> {
    let column = datafusion::arrow::array::make_array(array.to_data());
    match RowConverter::new(vec![SortField::new(array.data_type().clone())]) {
        Ok(converter) => {
            let rows = converter.convert_columns(&[column])?;
            Ok((0..array.len())
                .map(|i| {
                    if array.is_valid(i) {
                        xxh3_64(rows.row(i).as_ref())
                    } else {
                        NULL_HASH
                    }
                })
                .collect())
        }
        Err(_) => {
            let formatter = ArrayFormatter::try_new(array, &FormatOptions::default())?;
            Ok((0..array.len())
                .map(|i| {
                    if array.is_valid(i) {
                        xxh3_64(formatter.value(i).to_string().as_bytes())
                    } else {
                        NULL_HASH
                    }
                })
                .collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Float64Array, Int64Array, StringViewArray};
    use std::sync::Arc;

    fn strings(values: &[Option<&str>]) -> ArrayRef {
        Arc::new(StringViewArray::from(values.to_vec()))
    }

    #[test]
    fn value_boundaries_are_part_of_the_hash() {
        let left = hash_rows(
            &[strings(&[Some("a,b")]), strings(&[Some("c")])],
            1,
            ROW_SEED,
        );
        let right = hash_rows(
            &[strings(&[Some("a")]), strings(&[Some("b,c")])],
            1,
            ROW_SEED,
        );
        assert_ne!(left.unwrap(), right.unwrap());
    }

    #[test]
    fn null_and_empty_string_differ() {
        let hashes = hash_rows(&[strings(&[None, Some("")])], 2, ROW_SEED).unwrap();
        assert_ne!(hashes[0], hashes[1]);
    }

    #[test]
    fn negative_zero_and_nans_hash_alike() {
        let other_nan = f64::from_bits(f64::NAN.to_bits() | 1);
        let floats: ArrayRef = Arc::new(Float64Array::from(vec![0.0, -0.0, f64::NAN, other_nan]));
        let hashes = hash_rows(&[floats], 4, ROW_SEED).unwrap();
        assert_eq!(hashes[0], hashes[1]);
        assert_eq!(hashes[2], hashes[3]);
        assert_ne!(hashes[0], hashes[2]);
    }

    #[test]
    fn exact_key_hashes_are_injective_where_xxh3_need_not_be() {
        // Neighbouring and sign-flipped values, and the float zeros.
        let ints: ArrayRef = Arc::new(Int64Array::from(vec![0, 1, -1, i64::MIN, i64::MAX]));
        let hashes = exact_key_hashes(ints.as_ref()).unwrap();
        let distinct: std::collections::HashSet<_> = hashes.iter().collect();
        assert_eq!(distinct.len(), 5);
        let zeros: ArrayRef = Arc::new(Float64Array::from(vec![0.0, -0.0]));
        let zeros = exact_key_hashes(zeros.as_ref()).unwrap();
        assert_eq!(zeros[0], zeros[1]);
        assert!(exact_key_hashes(strings(&[Some("a")]).as_ref()).is_none());
    }

    #[test]
    fn column_order_matters() {
        let a: ArrayRef = Arc::new(Int64Array::from(vec![1]));
        let b: ArrayRef = Arc::new(Int64Array::from(vec![2]));
        let ab = hash_rows(&[a.clone(), b.clone()], 1, ROW_SEED).unwrap();
        let ba = hash_rows(&[b, a], 1, ROW_SEED).unwrap();
        assert_ne!(ab, ba);
    }
}
