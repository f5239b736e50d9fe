//! Loading a Parquet file into a new PostgreSQL table with binary `COPY`:
//! each Arrow type mapped to the PostgreSQL type readers expect (the table
//! in the README), each value encoded as PostgreSQL's binary format takes
//! it, streamed batch by batch.

use std::error::Error as StdError;
use std::path::Path;

use bytes::{BufMut, BytesMut};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Date64Type, Decimal128Type, Float16Type, Float32Type, Float64Type,
    Int8Type, Int16Type, Int32Type, Int64Type, Time32MillisecondType, Time32SecondType,
    Time64MicrosecondType, Time64NanosecondType, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use datafusion::arrow::record_batch::RecordBatchReader;
use futures::pin_mut;
use tokio_postgres::Client;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use crate::error::{Error, Result};
use crate::input::postgres::{EPOCH_DAYS, EPOCH_MICROS};
use crate::input::quoted;

/// One output column as PostgreSQL stores it.
#[derive(Debug, Clone)]
pub struct PgColumn {
    pub name: String,
    /// The type as written in `CREATE TABLE`.
    pub sql_type: String,
    pub pg_type: Type,
    /// What the Arrow column is cast to before encoding (dictionaries,
    /// views and large types become their plain form).
    pub read_as: DataType,
}

/// The PostgreSQL column of an Arrow column, or why there is none.
pub fn pg_column(name: &str, data_type: &DataType) -> std::result::Result<PgColumn, String> {
    use DataType::*;
    let plain = match data_type {
        Dictionary(_, value) => value.as_ref().clone(),
        Utf8View | LargeUtf8 => Utf8,
        BinaryView | LargeBinary | FixedSizeBinary(_) => Binary,
        other => other.clone(),
    };
    let (sql_type, pg_type) = match &plain {
        Boolean => ("boolean".to_string(), Type::BOOL),
        Int8 | Int16 | UInt8 => ("smallint".to_string(), Type::INT2),
        Int32 | UInt16 => ("integer".to_string(), Type::INT4),
        Int64 | UInt32 => ("bigint".to_string(), Type::INT8),
        UInt64 => ("numeric(20, 0)".to_string(), Type::NUMERIC),
        Float16 | Float32 => ("real".to_string(), Type::FLOAT4),
        Float64 => ("double precision".to_string(), Type::FLOAT8),
        Decimal128(p, s) if *s >= 0 => (format!("numeric({p}, {s})"), Type::NUMERIC),
        Utf8 => ("text".to_string(), Type::TEXT),
        Binary => ("bytea".to_string(), Type::BYTEA),
        Date32 | Date64 => ("date".to_string(), Type::DATE),
        Timestamp(_, None) => ("timestamp".to_string(), Type::TIMESTAMP),
        Timestamp(_, Some(_)) => ("timestamptz".to_string(), Type::TIMESTAMPTZ),
        Time32(_) | Time64(_) => ("time".to_string(), Type::TIME),
        other => {
            return Err(format!(
                "has the type {other}, which dualrun does not publish into PostgreSQL"
            ));
        }
    };
    Ok(PgColumn {
        name: name.to_string(),
        sql_type,
        pg_type,
        read_as: plain,
    })
}

/// Creates `schema.table` with the columns of `parquet` and copies its
/// rows in; returns the rows copied.
pub async fn load(client: &Client, schema: &str, table: &str, parquet: &Path) -> Result<u64> {
    let shown = parquet.display().to_string();
    let reader = crate::publish::run::read_output(parquet, 65_536)?;
    let schema_ref = reader.schema();
    let columns: Vec<PgColumn> = schema_ref
        .fields()
        .iter()
        .map(|f| {
            pg_column(f.name(), f.data_type())
                .map_err(|why| Error::input(&shown, format!("column `{}` {why}", f.name())))
        })
        .collect::<Result<_>>()?;
    let relation = format!("{}.{}", quoted(schema), quoted(table));
    let definition: Vec<String> = columns
        .iter()
        .map(|c| format!("{} {}", quoted(&c.name), c.sql_type))
        .collect();
    let failed = |what: &str, e: tokio_postgres::Error| {
        Error::input(&relation, format!("{what} failed: {}", server_said(&e)))
    };
    client
        .batch_execute(&format!(
            "CREATE TABLE {relation} ({})",
            definition.join(", ")
        ))
        .await
        .map_err(|e| failed("CREATE TABLE", e))?;
    let sink = client
        .copy_in(&format!("COPY {relation} FROM STDIN (FORMAT binary)"))
        .await
        .map_err(|e| failed("COPY", e))?;
    let types: Vec<Type> = columns.iter().map(|c| c.pg_type.clone()).collect();
    let writer = BinaryCopyInWriter::new(sink, &types);
    pin_mut!(writer);
    for batch in reader {
        let batch = batch.map_err(|e| Error::input(&shown, format!("cannot be read ({e})")))?;
        write_batch(writer.as_mut(), &batch, &columns, &relation)
            .await
            .map_err(|e| match e {
                Written::Value(message) => Error::input(&shown, message),
                Written::Server(e) => failed("COPY", e),
            })?;
    }
    writer.finish().await.map_err(|e| failed("COPY", e))
}

/// Why a batch could not be written.
enum Written {
    /// A value PostgreSQL cannot hold as the column's type.
    Value(String),
    Server(tokio_postgres::Error),
}

async fn write_batch(
    mut writer: std::pin::Pin<&mut BinaryCopyInWriter>,
    batch: &RecordBatch,
    columns: &[PgColumn],
    relation: &str,
) -> std::result::Result<(), Written> {
    let arrays: Vec<std::sync::Arc<dyn Array>> = batch
        .columns()
        .iter()
        .zip(columns)
        .map(|(array, column)| {
            if array.data_type() == &column.read_as {
                Ok(array.clone())
            } else {
                cast(array, &column.read_as).map_err(|e| {
                    Written::Value(format!(
                        "column `{}` cannot be read as {} ({e})",
                        column.name, column.read_as
                    ))
                })
            }
        })
        .collect::<std::result::Result<_, _>>()?;
    let mut cells: Vec<Cell> = Vec::with_capacity(columns.len());
    for row in 0..batch.num_rows() {
        cells.clear();
        for (array, column) in arrays.iter().zip(columns) {
            let cell = cell(array.as_ref(), row).map_err(|why| {
                Written::Value(format!(
                    "column `{}`, row {}: {why}, so it cannot go into {relation}",
                    column.name,
                    row + 1
                ))
            })?;
            cells.push(cell);
        }
        let values: Vec<&(dyn ToSql + Sync)> =
            cells.iter().map(|c| c as &(dyn ToSql + Sync)).collect();
        writer
            .as_mut()
            .write(&values)
            .await
            .map_err(Written::Server)?;
    }
    Ok(())
}

/// One value, ready for PostgreSQL's binary format.
#[derive(Debug)]
enum Cell<'a> {
    Null,
    Bool(bool),
    I16(i16),
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
    Bytes(&'a [u8]),
    /// Days since 2000-01-01.
    Date(i32),
    /// Microseconds since 2000-01-01 (timestamps) or midnight (times).
    Micros(i64),
    /// An integer of `scale` decimal places.
    Numeric(i128, i8),
}

fn cell(array: &dyn Array, row: usize) -> std::result::Result<Cell<'_>, String> {
    use DataType::*;
    if array.is_null(row) {
        return Ok(Cell::Null);
    }
    Ok(match array.data_type() {
        Boolean => Cell::Bool(array.as_boolean().value(row)),
        Int8 => Cell::I16(array.as_primitive::<Int8Type>().value(row) as i16),
        UInt8 => Cell::I16(array.as_primitive::<UInt8Type>().value(row) as i16),
        Int16 => Cell::I16(array.as_primitive::<Int16Type>().value(row)),
        UInt16 => Cell::I32(array.as_primitive::<UInt16Type>().value(row) as i32),
        Int32 => Cell::I32(array.as_primitive::<Int32Type>().value(row)),
        UInt32 => Cell::I64(array.as_primitive::<UInt32Type>().value(row) as i64),
        Int64 => Cell::I64(array.as_primitive::<Int64Type>().value(row)),
        UInt64 => Cell::Numeric(array.as_primitive::<UInt64Type>().value(row) as i128, 0),
        Float16 => Cell::F32(array.as_primitive::<Float16Type>().value(row).to_f32()),
        Float32 => Cell::F32(array.as_primitive::<Float32Type>().value(row)),
        Float64 => Cell::F64(array.as_primitive::<Float64Type>().value(row)),
        Decimal128(_, scale) => {
            Cell::Numeric(array.as_primitive::<Decimal128Type>().value(row), *scale)
        }
        Utf8 => Cell::Bytes(array.as_string::<i32>().value(row).as_bytes()),
        Binary => Cell::Bytes(array.as_binary::<i32>().value(row)),
        Date32 => Cell::Date(array.as_primitive::<Date32Type>().value(row) - EPOCH_DAYS),
        Date64 => {
            let ms = array.as_primitive::<Date64Type>().value(row);
            Cell::Date((ms.div_euclid(86_400_000)) as i32 - EPOCH_DAYS)
        }
        Timestamp(unit, _) => {
            let value = match unit {
                TimeUnit::Second => array.as_primitive::<TimestampSecondType>().value(row),
                TimeUnit::Millisecond => {
                    array.as_primitive::<TimestampMillisecondType>().value(row)
                }
                TimeUnit::Microsecond => {
                    array.as_primitive::<TimestampMicrosecondType>().value(row)
                }
                TimeUnit::Nanosecond => array.as_primitive::<TimestampNanosecondType>().value(row),
            };
            Cell::Micros(micros(value, *unit)? - EPOCH_MICROS)
        }
        Time32(unit) => {
            let value = match unit {
                TimeUnit::Second => array.as_primitive::<Time32SecondType>().value(row),
                _ => array.as_primitive::<Time32MillisecondType>().value(row),
            };
            Cell::Micros(micros(value as i64, *unit)?)
        }
        Time64(unit) => {
            let value = match unit {
                TimeUnit::Nanosecond => array.as_primitive::<Time64NanosecondType>().value(row),
                _ => array.as_primitive::<Time64MicrosecondType>().value(row),
            };
            Cell::Micros(micros(value, *unit)?)
        }
        other => return Err(format!("a {other} value")),
    })
}

/// `value` in `unit` as microseconds; a nanosecond value PostgreSQL cannot
/// hold exactly is refused, never rounded.
fn micros(value: i64, unit: TimeUnit) -> std::result::Result<i64, String> {
    match unit {
        TimeUnit::Second => value
            .checked_mul(1_000_000)
            .ok_or_else(|| "a time out of range".to_string()),
        TimeUnit::Millisecond => value
            .checked_mul(1_000)
            .ok_or_else(|| "a time out of range".to_string()),
        TimeUnit::Microsecond => Ok(value),
        TimeUnit::Nanosecond if value % 1_000 == 0 => Ok(value / 1_000),
        TimeUnit::Nanosecond => Err(format!(
            "the time {value} ns has nanoseconds, which PostgreSQL (microseconds) would lose"
        )),
    }
}

impl ToSql for Cell<'_> {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match *self {
            Cell::Null => return Ok(IsNull::Yes),
            Cell::Bool(v) => out.put_u8(v as u8),
            Cell::I16(v) => out.put_i16(v),
            Cell::I32(v) | Cell::Date(v) => out.put_i32(v),
            Cell::I64(v) | Cell::Micros(v) => out.put_i64(v),
            Cell::F32(v) => out.put_f32(v),
            Cell::F64(v) => out.put_f64(v),
            Cell::Bytes(v) => out.put_slice(v),
            Cell::Numeric(v, scale) => put_numeric(out, v, scale.max(0) as u32),
        }
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// PostgreSQL's binary `numeric`: base-10000 digits around the decimal
/// point, a weight, a sign and the display scale.
fn put_numeric(out: &mut BytesMut, value: i128, scale: u32) {
    let digits = value.unsigned_abs().to_string();
    let scale_len = scale as usize;
    let padded = if digits.len() <= scale_len {
        format!("{}{digits}", "0".repeat(scale_len + 1 - digits.len()))
    } else {
        digits
    };
    let (int_part, frac_part) = padded.split_at(padded.len() - scale_len);
    let int_pad = (4 - int_part.len() % 4) % 4;
    let int_text = format!("{}{int_part}", "0".repeat(int_pad));
    let frac_pad = (4 - frac_part.len() % 4) % 4;
    let frac_text = format!("{frac_part}{}", "0".repeat(frac_pad));
    let group = |text: &str| -> Vec<i16> {
        text.as_bytes()
            .chunks(4)
            .map(|c| {
                std::str::from_utf8(c)
                    .expect("ASCII digits")
                    .parse()
                    .expect("four digits")
            })
            .collect()
    };
    let int_groups = group(&int_text);
    let mut groups: Vec<i16> = int_groups
        .iter()
        .chain(group(&frac_text).iter())
        .copied()
        .collect();
    let mut weight = int_groups.len() as i16 - 1;
    while groups.first() == Some(&0) {
        groups.remove(0);
        weight -= 1;
    }
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    out.put_i16(groups.len() as i16);
    out.put_i16(weight);
    out.put_u16(if value < 0 { 0x4000 } else { 0 });
    out.put_u16(scale as u16);
    for g in groups {
        out.put_i16(g);
    }
}

/// What the server said, without the driver's wrapping.
pub fn server_said(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => db.message().to_string(),
        None => crate::error::first_line(&error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(value: i128, scale: u32) -> Vec<i16> {
        let mut out = BytesMut::new();
        put_numeric(&mut out, value, scale);
        out.chunks(2)
            .map(|c| i16::from_be_bytes([c[0], c[1]]))
            .collect()
    }

    #[test]
    fn numerics_are_base_10000_digits_around_the_point() {
        // 12345.678 -> digits 1, 2345, 6780; weight 1; scale 3.
        assert_eq!(numeric(12_345_678, 3), [3, 1, 0, 3, 1, 2345, 6780]);
        // -0.05 -> digit 500 at weight -1.
        assert_eq!(numeric(-5, 2), [1, -1, 0x4000, 2, 500]);
        assert_eq!(numeric(0, 2), [0, 0, 0, 2]);
        // 10000 -> one digit 1 at weight 1.
        assert_eq!(numeric(10_000, 0), [1, 1, 0, 0, 1]);
    }

    #[test]
    fn nanoseconds_postgres_cannot_hold_are_refused() {
        assert!(
            micros(1_500, TimeUnit::Nanosecond)
                .unwrap_err()
                .contains("nanoseconds")
        );
        assert_eq!(micros(2_000, TimeUnit::Nanosecond), Ok(2));
        assert_eq!(micros(3, TimeUnit::Second), Ok(3_000_000));
    }
}
