//! Row and key hashing: xxh3 over a canonical encoding of comparison-typed
//! columns, computed column by column.
//!
//! Each value is hashed with the running hash of the row as its seed, so the
//! row hash is positional (`("a,b","c")` and `("a","b,c")` differ: every value
//! is its own hash input, never a concatenation). NULL hashes a tag no value
//! can produce in its column, so NULL and `""` differ. Floats are normalized
//! first (-0.0 as 0.0, every NaN as one NaN), so equal values hash equal.
//! Columns must already be cast to their comparison type (see `canon`), which
//! is what makes int32 5 and int64 5 hash alike.

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
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Seed of key hashes.
pub const KEY_SEED: u64 = 0x6475_616c_6b65_7931;
/// Seed of row hashes.
pub const ROW_SEED: u64 = 0x6475_616c_726f_7731;
const NULL_TAG: &[u8] = b"\x00dualrun:null\x00";

/// Hashes `columns` (all of `rows` rows) into one u64 per row.
pub fn hash_rows(columns: &[ArrayRef], rows: usize, seed: u64) -> Result<Vec<u64>, ArrowError> {
    let mut hashes = vec![seed; rows];
    for column in columns {
        mix_column(column.as_ref(), &mut hashes)?;
    }
    Ok(hashes)
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

#[inline]
fn mix_null(seed: u64) -> u64 {
    xxh3_64_with_seed(NULL_TAG, seed)
}

/// Mixes one primitive column into the running hashes.
fn mix_primitive<T: ArrowPrimitiveType>(
    array: &dyn Array,
    hashes: &mut [u64],
    mix: impl Fn(T::Native, u64) -> u64,
) {
    let values = array.as_primitive::<T>();
    match values.nulls().filter(|n| n.null_count() > 0) {
        None => {
            for (hash, value) in hashes.iter_mut().zip(values.values().iter()) {
                *hash = mix(*value, *hash);
            }
        }
        Some(nulls) => {
            for (i, hash) in hashes.iter_mut().enumerate() {
                *hash = if nulls.is_valid(i) {
                    mix(values.value(i), *hash)
                } else {
                    mix_null(*hash)
                };
            }
        }
    }
}

/// Mixes a column of byte strings (or anything read as bytes) into the
/// running hashes.
fn mix_bytes<'a>(array: &dyn Array, hashes: &mut [u64], value: impl Fn(usize) -> &'a [u8]) {
    for (i, hash) in hashes.iter_mut().enumerate() {
        *hash = if array.is_valid(i) {
            xxh3_64_with_seed(value(i), *hash)
        } else {
            mix_null(*hash)
        };
    }
}

macro_rules! le_bytes {
    () => {
        |v, seed| xxh3_64_with_seed(&v.to_le_bytes(), seed)
    };
}

fn mix_column(array: &dyn Array, hashes: &mut [u64]) -> Result<(), ArrowError> {
    use DataType::*;
    match array.data_type() {
        Null => hashes.iter_mut().for_each(|h| *h = mix_null(*h)),
        Boolean => {
            let values = array.as_boolean();
            for (i, hash) in hashes.iter_mut().enumerate() {
                *hash = if values.is_valid(i) {
                    xxh3_64_with_seed(&[values.value(i) as u8], *hash)
                } else {
                    mix_null(*hash)
                };
            }
        }
        Int64 => mix_primitive::<Int64Type>(array, hashes, le_bytes!()),
        Float64 => mix_primitive::<Float64Type>(array, hashes, |v, seed| {
            xxh3_64_with_seed(&canonical_f64(v).to_le_bytes(), seed)
        }),
        Decimal128(_, _) => mix_primitive::<Decimal128Type>(array, hashes, le_bytes!()),
        Decimal256(_, _) => mix_primitive::<Decimal256Type>(array, hashes, le_bytes!()),
        Date32 => mix_primitive::<Date32Type>(array, hashes, le_bytes!()),
        Date64 => mix_primitive::<Date64Type>(array, hashes, le_bytes!()),
        Time64(TimeUnit::Nanosecond) => {
            mix_primitive::<Time64NanosecondType>(array, hashes, le_bytes!())
        }
        Timestamp(TimeUnit::Second, _) => {
            mix_primitive::<TimestampSecondType>(array, hashes, le_bytes!())
        }
        Timestamp(TimeUnit::Millisecond, _) => {
            mix_primitive::<TimestampMillisecondType>(array, hashes, le_bytes!())
        }
        Timestamp(TimeUnit::Microsecond, _) => {
            mix_primitive::<TimestampMicrosecondType>(array, hashes, le_bytes!())
        }
        Timestamp(TimeUnit::Nanosecond, _) => {
            mix_primitive::<TimestampNanosecondType>(array, hashes, le_bytes!())
        }
        Duration(TimeUnit::Second) => {
            mix_primitive::<DurationSecondType>(array, hashes, le_bytes!())
        }
        Duration(TimeUnit::Millisecond) => {
            mix_primitive::<DurationMillisecondType>(array, hashes, le_bytes!())
        }
        Duration(TimeUnit::Microsecond) => {
            mix_primitive::<DurationMicrosecondType>(array, hashes, le_bytes!())
        }
        Duration(TimeUnit::Nanosecond) => {
            mix_primitive::<DurationNanosecondType>(array, hashes, le_bytes!())
        }
        Utf8View => {
            let values = array.as_string_view();
            mix_bytes(array, hashes, |i| values.value(i).as_bytes());
        }
        BinaryView => {
            let values = array.as_binary_view();
            mix_bytes(array, hashes, |i| values.value(i));
        }
        _ => mix_encoded(array, hashes)?,
    }
    Ok(())
}

/// Nested and other whole-value types are hashed through Arrow's row format,
/// a canonical byte encoding of any value, NULL included; the few types it
/// cannot encode (maps) are hashed through their display text.
fn mix_encoded(array: &dyn Array, hashes: &mut [u64]) -> Result<(), ArrowError> {
    let column = datafusion::arrow::array::make_array(array.to_data());
    match RowConverter::new(vec![SortField::new(array.data_type().clone())]) {
        Ok(converter) => {
            let rows = converter.convert_columns(&[column])?;
            for (i, hash) in hashes.iter_mut().enumerate() {
                *hash = xxh3_64_with_seed(rows.row(i).as_ref(), *hash);
            }
        }
        Err(_) => {
            let formatter = ArrayFormatter::try_new(array, &FormatOptions::default())?;
            for (i, hash) in hashes.iter_mut().enumerate() {
                *hash = if array.is_valid(i) {
                    xxh3_64_with_seed(formatter.value(i).to_string().as_bytes(), *hash)
                } else {
                    mix_null(*hash)
                };
            }
        }
    }
    Ok(())
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
    fn column_order_matters() {
        let a: ArrayRef = Arc::new(Int64Array::from(vec![1]));
        let b: ArrayRef = Arc::new(Int64Array::from(vec![2]));
        let ab = hash_rows(&[a.clone(), b.clone()], 1, ROW_SEED).unwrap();
        let ba = hash_rows(&[b, a], 1, ROW_SEED).unwrap();
        assert_ne!(ab, ba);
    }
}
