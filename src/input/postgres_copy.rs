//! Reading a PostgreSQL table with `COPY (SELECT ...) TO STDOUT (FORMAT
//! binary)`, decoded straight into Arrow builders: the server sends each
//! value in its binary form once, with no per-row protocol messages, and
//! the rows become batches without passing through a row type. Used for
//! every scan whose columns all have such a decoder (integers, floats,
//! numerics, text and anything shown as text, booleans, bytea, dates,
//! times, timestamps); any other scan goes through the provider's own.
//! Projections and `--where` filters the unparser can write go into the
//! `SELECT`.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::{Buf, BytesMut};
use datafusion::arrow::array::{
    ArrayBuilder, ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder,
    Float32Builder, Float64Builder, Int16Builder, Int32Builder, Int64Builder, RecordBatch,
    StringBuilder, Time64NanosecondBuilder, TimestampNanosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream};
use datafusion::sql::unparser::Unparser;
use datafusion::sql::unparser::dialect::PostgreSqlDialect;
use datafusion_table_providers_postgres::pool::PostgresConnectionPool;
use futures::{StreamExt, TryStreamExt};

use super::postgres::{EPOCH_DAYS, EPOCH_MICROS};
use super::sql_scan::quoted;

/// Rows per batch, as the other database scans.
const BATCH_ROWS: usize = 8192;

/// A table read by binary `COPY` where its columns allow, by `inner` (the
/// provider's own scan) where they do not.
pub struct CopyTable {
    pub pool: Arc<PostgresConnectionPool>,
    /// The table, as SQL names it (`"schema"."table"`).
    pub from: String,
    pub inner: Arc<dyn TableProvider>,
}

impl std::fmt::Debug for CopyTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CopyTable({})", self.from)
    }
}

/// The PostgreSQL type a column is cast to in the `SELECT`, so its binary
/// form is the one the decoder reads; `None`: no decoder.
fn cast_for(data_type: &DataType) -> Option<&'static str> {
    Some(match data_type {
        DataType::Boolean => "bool",
        DataType::Int16 => "int2",
        DataType::Int32 => "int4",
        DataType::Int64 => "int8",
        DataType::Float32 => "float4",
        DataType::Float64 => "float8",
        DataType::Decimal128(_, scale) if *scale >= 0 => "numeric",
        // uuid, json, jsonb, enums, varchar: all arrive as their text.
        DataType::Utf8 => "text",
        DataType::Binary => "bytea",
        DataType::Date32 => "date",
        DataType::Timestamp(TimeUnit::Nanosecond, None) => "timestamp",
        DataType::Timestamp(TimeUnit::Nanosecond, Some(_)) => "timestamptz",
        DataType::Time64(TimeUnit::Nanosecond) => "time",
        _ => return None,
    })
}

#[async_trait]
impl TableProvider for CopyTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        let unparser = Unparser::new(&PostgreSqlDialect {});
        Ok(filters
            .iter()
            .map(|f| match unparser.expr_to_sql(f) {
                Ok(_) => TableProviderFilterPushDown::Exact,
                Err(_) => TableProviderFilterPushDown::Unsupported,
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let schema = self.inner.schema();
        let columns: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..schema.fields().len()).collect(),
        };
        let casts: Option<Vec<&str>> = columns
            .iter()
            .map(|&i| cast_for(schema.field(i).data_type()))
            .collect();
        let Some(casts) = casts else {
            return self.inner.scan(state, projection, filters, limit).await;
        };
        let list = if columns.is_empty() {
            "1".to_string()
        } else {
            columns
                .iter()
                .zip(&casts)
                .map(|(&i, cast)| format!("{}::{cast}", quoted(schema.field(i).name())))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let conditions = sql_conditions(filters)?;
        let limit_sql = limit.map(|n| format!(" LIMIT {n}")).unwrap_or_default();
        let projected = Arc::new(schema.project(&columns)?);
        // Without a limit the table is read as several ranges of its pages
        // at once, one connection each: the server scans them in parallel
        // and each range's rows are hashed on their own partition.
        let partitions = match limit {
            Some(_) => 1,
            None => state.config().target_partitions().clamp(1, 8),
        };
        let ranges = page_ranges(&self.pool, &self.from, partitions).await?;
        let streams: Vec<Arc<dyn PartitionStream>> = ranges
            .iter()
            .map(|range| {
                let mut conditions = conditions.clone();
                conditions.extend(range.clone());
                let filter = if conditions.is_empty() {
                    String::new()
                } else {
                    format!(" WHERE {}", conditions.join(" AND "))
                };
                Arc::new(CopyScan {
                    pool: Arc::clone(&self.pool),
                    sql: format!(
                        "COPY (SELECT {list} FROM {}{filter}{limit_sql}) TO STDOUT (FORMAT binary)",
                        self.from
                    ),
                    schema: Arc::clone(&projected),
                    counted_only: columns.is_empty(),
                }) as Arc<dyn PartitionStream>
            })
            .collect();
        let exec = datafusion::physical_plan::streaming::StreamingTableExec::try_new(
            projected,
            streams,
            None,
            [],
            false,
            limit,
        )?;
        Ok(Arc::new(exec))
    }
}

/// The filters pushed down, as SQL.
fn sql_conditions(filters: &[Expr]) -> DfResult<Vec<String>> {
    let unparser = Unparser::new(&PostgreSqlDialect {});
    filters
        .iter()
        .map(|f| unparser.expr_to_sql(f).map(|sql| format!("({sql})")))
        .collect()
}

/// `partitions` ranges of the table's pages, as `ctid` conditions (a TID
/// range scan each); the last is open-ended so pages added meanwhile are
/// read too. One range, without a condition, for a small table.
async fn page_ranges(
    pool: &PostgresConnectionPool,
    from: &str,
    partitions: usize,
) -> DfResult<Vec<Option<String>>> {
    if partitions < 2 {
        return Ok(vec![None]);
    }
    let connection = pool.connect_direct().await.map_err(external)?;
    let pages: i64 = connection
        .conn
        .query_one(
            "SELECT (pg_relation_size($1::text::regclass) / current_setting('block_size')::int8)::int8",
            &[&from],
        )
        .await
        .map_err(external)?
        .get(0);
    // Below a few thousand pages one stream is as fast.
    if pages < 1024 {
        return Ok(vec![None]);
    }
    let step = pages / partitions as i64 + 1;
    Ok((0..partitions as i64)
        .map(|i| {
            let start = format!("ctid >= '({},0)'::tid", i * step);
            Some(if i + 1 == partitions as i64 {
                start
            } else {
                format!("{start} AND ctid < '({},0)'::tid", (i + 1) * step)
            })
        })
        .collect())
}

/// One `COPY` of the table.
struct CopyScan {
    pool: Arc<PostgresConnectionPool>,
    sql: String,
    schema: SchemaRef,
    /// No column is read (a count): the `1` each row sends is skipped.
    counted_only: bool,
}

impl std::fmt::Debug for CopyScan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CopyScan({})", self.sql)
    }
}

impl PartitionStream for CopyScan {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let pool = Arc::clone(&self.pool);
        let sql = self.sql.clone();
        let schema = Arc::clone(&self.schema);
        let counted_only = self.counted_only;
        let batches = async move {
            let connection = pool.connect_direct().await.map_err(external)?;
            let copy = connection
                .conn
                .copy_out(sql.as_str())
                .await
                .map_err(external)?;
            // The connection lives as long as the stream reads from it.
            let decoder = Decoder::new(Arc::clone(&schema), counted_only);
            let chunks = copy.map_err(external).map(move |chunk| {
                let _ = &connection;
                chunk
            });
            Ok::<_, DataFusionError>(decode(chunks, decoder))
        };
        Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            futures::stream::once(batches).try_flatten(),
        ))
    }
}

fn external(e: impl std::error::Error + Send + Sync + 'static) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

fn bad(message: String) -> DataFusionError {
    DataFusionError::Execution(format!("the binary COPY from PostgreSQL {message}"))
}

/// The batches of the `COPY` data in `chunks`.
fn decode(
    chunks: impl futures::Stream<Item = DfResult<bytes::Bytes>> + Send + 'static,
    decoder: Decoder,
) -> impl futures::Stream<Item = DfResult<RecordBatch>> + Send + 'static {
    futures::stream::try_unfold(
        (Box::pin(chunks), decoder, false),
        |(mut chunks, mut decoder, mut done)| async move {
            loop {
                if done {
                    return Ok(None);
                }
                if let Some(batch) = decoder.take_full()? {
                    return Ok(Some((batch, (chunks, decoder, done))));
                }
                match chunks.next().await {
                    Some(chunk) => decoder.feed(&chunk?)?,
                    None => {
                        done = true;
                        if let Some(batch) = decoder.finish()? {
                            return Ok(Some((batch, (chunks, decoder, done))));
                        }
                    }
                }
            }
        },
    )
}

/// The binary `COPY` format, parsed as it arrives: a signature header,
/// then per row a 16-bit field count and per field a 32-bit length (-1
/// for NULL) and the value, then a count of -1.
struct Decoder {
    schema: SchemaRef,
    counted_only: bool,
    buffer: BytesMut,
    header_read: bool,
    ended: bool,
    builders: Vec<Box<dyn ArrayBuilder>>,
    rows: usize,
    /// Where each value of the row being read starts and how long it is
    /// (`None`: NULL), kept between rows so no row allocates.
    spans: Vec<Option<(usize, usize)>>,
}

const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

impl Decoder {
    fn new(schema: SchemaRef, counted_only: bool) -> Self {
        let builders = builders(&schema);
        Decoder {
            schema,
            counted_only,
            buffer: BytesMut::new(),
            header_read: false,
            ended: false,
            builders,
            rows: 0,
            spans: Vec::new(),
        }
    }

    fn feed(&mut self, chunk: &[u8]) -> DfResult<()> {
        self.buffer.extend_from_slice(chunk);
        if !self.header_read {
            if self.buffer.len() < SIGNATURE.len() + 8 {
                return Ok(());
            }
            if &self.buffer[..SIGNATURE.len()] != SIGNATURE {
                return Err(bad("did not start with its signature".to_string()));
            }
            let extension = u32::from_be_bytes(
                self.buffer[SIGNATURE.len() + 4..SIGNATURE.len() + 8]
                    .try_into()
                    .expect("4 bytes"),
            ) as usize;
            if self.buffer.len() < SIGNATURE.len() + 8 + extension {
                return Ok(());
            }
            self.buffer.advance(SIGNATURE.len() + 8 + extension);
            self.header_read = true;
        }
        while self.rows < BATCH_ROWS && !self.ended && self.row()? {}
        Ok(())
    }

    /// Decodes one whole row from the buffer; `false` when it is not all
    /// there yet (or the data ended).
    fn row(&mut self) -> DfResult<bool> {
        let data = &self.buffer[..];
        if data.len() < 2 {
            return Ok(false);
        }
        let fields = i16::from_be_bytes([data[0], data[1]]);
        if fields == -1 {
            self.ended = true;
            self.buffer.advance(2);
            return Ok(false);
        }
        // Find the row's end before decoding anything of it.
        let mut at = 2;
        let spans = &mut self.spans;
        spans.clear();
        for _ in 0..fields {
            if data.len() < at + 4 {
                return Ok(false);
            }
            let length = i32::from_be_bytes(data[at..at + 4].try_into().expect("4 bytes"));
            at += 4;
            if length < 0 {
                spans.push(None);
                continue;
            }
            let length = length as usize;
            if data.len() < at + length {
                return Ok(false);
            }
            spans.push(Some((at, length)));
            at += length;
        }
        if !self.counted_only {
            if spans.len() != self.builders.len() {
                return Err(bad(format!(
                    "sent {} fields in a row, not {}",
                    spans.len(),
                    self.builders.len()
                )));
            }
            for (column, span) in spans.iter().enumerate() {
                let value = span.map(|(start, length)| &data[start..start + length]);
                let field = self.schema.field(column);
                append(self.builders[column].as_mut(), field.data_type(), value)
                    .map_err(|why| bad(format!("sent a value of `{}` that {why}", field.name())))?;
            }
        }
        self.buffer.advance(at);
        self.rows += 1;
        Ok(true)
    }

    /// A full batch, when one is decoded; then decoding resumes from the
    /// bytes already received.
    fn take_full(&mut self) -> DfResult<Option<RecordBatch>> {
        if self.rows < BATCH_ROWS {
            return Ok(None);
        }
        let batch = self.batch()?;
        while self.rows < BATCH_ROWS && !self.ended && self.row()? {}
        Ok(Some(batch))
    }

    /// The last rows, once the data ended.
    fn finish(&mut self) -> DfResult<Option<RecordBatch>> {
        if !self.ended && !self.buffer.is_empty() {
            return Err(bad("ended in the middle of a row".to_string()));
        }
        if self.rows == 0 {
            return Ok(None);
        }
        self.batch().map(Some)
    }

    fn batch(&mut self) -> DfResult<RecordBatch> {
        let rows = std::mem::take(&mut self.rows);
        if self.counted_only {
            let options =
                datafusion::arrow::array::RecordBatchOptions::new().with_row_count(Some(rows));
            return Ok(RecordBatch::try_new_with_options(
                Arc::clone(&self.schema),
                vec![],
                &options,
            )?);
        }
        let arrays: Vec<ArrayRef> = self.builders.iter_mut().map(|b| b.finish()).collect();
        Ok(RecordBatch::try_new(Arc::clone(&self.schema), arrays)?)
    }
}

fn builders(schema: &SchemaRef) -> Vec<Box<dyn ArrayBuilder>> {
    schema
        .fields()
        .iter()
        .map(|f| -> Box<dyn ArrayBuilder> {
            match f.data_type() {
                DataType::Boolean => Box::new(BooleanBuilder::with_capacity(BATCH_ROWS)),
                DataType::Int16 => Box::new(Int16Builder::with_capacity(BATCH_ROWS)),
                DataType::Int32 => Box::new(Int32Builder::with_capacity(BATCH_ROWS)),
                DataType::Int64 => Box::new(Int64Builder::with_capacity(BATCH_ROWS)),
                DataType::Float32 => Box::new(Float32Builder::with_capacity(BATCH_ROWS)),
                DataType::Float64 => Box::new(Float64Builder::with_capacity(BATCH_ROWS)),
                DataType::Decimal128(p, s) => Box::new(
                    Decimal128Builder::with_capacity(BATCH_ROWS)
                        .with_precision_and_scale(*p, *s)
                        .expect("the provider's precision and scale"),
                ),
                DataType::Utf8 => {
                    Box::new(StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 16))
                }
                DataType::Binary => {
                    Box::new(BinaryBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 16))
                }
                DataType::Date32 => Box::new(Date32Builder::with_capacity(BATCH_ROWS)),
                DataType::Timestamp(_, zone) => Box::new(
                    TimestampNanosecondBuilder::with_capacity(BATCH_ROWS)
                        .with_timezone_opt(zone.clone()),
                ),
                DataType::Time64(_) => Box::new(Time64NanosecondBuilder::with_capacity(BATCH_ROWS)),
                other => unreachable!("no COPY decoder was chosen for {other}"),
            }
        })
        .collect()
}

fn fixed<const N: usize>(value: &[u8]) -> Result<[u8; N], String> {
    value
        .try_into()
        .map_err(|_| format!("has {} bytes, not {N}", value.len()))
}

/// Appends one value (`None`: NULL) in PostgreSQL's binary form.
fn append(
    builder: &mut dyn ArrayBuilder,
    data_type: &DataType,
    value: Option<&[u8]>,
) -> Result<(), String> {
    macro_rules! put {
        ($builder:ty, $convert:expr) => {{
            let b = builder
                .as_any_mut()
                .downcast_mut::<$builder>()
                .expect("the builder of the column's type");
            match value {
                None => b.append_null(),
                Some(bytes) => b.append_value($convert(bytes)?),
            }
        }};
    }
    match data_type {
        DataType::Boolean => put!(BooleanBuilder, |b: &[u8]| fixed::<1>(b).map(|v| v[0] != 0)),
        DataType::Int16 => put!(Int16Builder, |b: &[u8]| fixed::<2>(b)
            .map(i16::from_be_bytes)),
        DataType::Int32 => put!(Int32Builder, |b: &[u8]| fixed::<4>(b)
            .map(i32::from_be_bytes)),
        DataType::Int64 => put!(Int64Builder, |b: &[u8]| fixed::<8>(b)
            .map(i64::from_be_bytes)),
        DataType::Float32 => put!(Float32Builder, |b: &[u8]| fixed::<4>(b)
            .map(f32::from_be_bytes)),
        DataType::Float64 => put!(Float64Builder, |b: &[u8]| fixed::<8>(b)
            .map(f64::from_be_bytes)),
        DataType::Decimal128(_, scale) => {
            let scale = *scale as i32;
            put!(Decimal128Builder, |b: &[u8]| numeric(b, scale))
        }
        DataType::Utf8 => put!(StringBuilder, text),
        DataType::Binary => put!(BinaryBuilder, raw),
        DataType::Date32 => put!(Date32Builder, |b: &[u8]| fixed::<4>(b)
            .map(i32::from_be_bytes)
            .and_then(|days| days
                .checked_add(EPOCH_DAYS)
                .ok_or_else(|| "is an infinite date".to_string()))),
        DataType::Timestamp(..) => put!(TimestampNanosecondBuilder, |b: &[u8]| fixed::<8>(b)
            .map(i64::from_be_bytes)
            .and_then(|us| us
                .checked_add(EPOCH_MICROS)
                .and_then(|us| us.checked_mul(1_000))
                .ok_or_else(|| "is out of the nanosecond range (or infinite)".to_string()))),
        DataType::Time64(_) => put!(Time64NanosecondBuilder, |b: &[u8]| fixed::<8>(b)
            .map(|v| i64::from_be_bytes(v) * 1_000)),
        other => return Err(format!("is of the type {other}, which has no decoder")),
    }
    Ok(())
}

fn text(bytes: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(bytes).map_err(|_| "is not UTF-8".to_string())
}

fn raw(bytes: &[u8]) -> Result<&[u8], String> {
    Ok(bytes)
}

/// PostgreSQL's binary `numeric` as an integer of `scale` decimal places:
/// base-10000 digits, the weight of the first, a sign and a display scale.
fn numeric(bytes: &[u8], scale: i32) -> Result<i128, String> {
    if bytes.len() < 8 {
        return Err("is a truncated numeric".to_string());
    }
    let word = |i: usize| u16::from_be_bytes([bytes[i], bytes[i + 1]]);
    let digits = word(0) as usize;
    let weight = word(2) as i16 as i32;
    let sign = word(4);
    if sign == 0xC000 {
        return Err("is NaN, which a decimal cannot hold".to_string());
    }
    if bytes.len() < 8 + 2 * digits {
        return Err("is a truncated numeric".to_string());
    }
    let mut value: i128 = 0;
    for i in 0..digits {
        let digit = word(8 + 2 * i) as i128;
        // The digit's power of ten in the scaled integer.
        let exponent = 4 * (weight - i as i32) + scale;
        let term = if exponent >= 0 {
            10i128
                .checked_pow(exponent as u32)
                .and_then(|p| digit.checked_mul(p))
        } else {
            let p = 10i128.pow((-exponent) as u32);
            if digit % p != 0 {
                return Err(format!("has more than {scale} decimal places"));
            }
            Some(digit / p)
        };
        value = term
            .and_then(|t| value.checked_add(t))
            .ok_or_else(|| "is too large for a 128-bit decimal".to_string())?;
    }
    Ok(if sign == 0x4000 { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(ndigits: i16, weight: i16, sign: u16, dscale: u16, digits: &[i16]) -> Vec<u8> {
        let mut out = Vec::new();
        for v in [ndigits as u16, weight as u16, sign, dscale] {
            out.extend(v.to_be_bytes());
        }
        for d in digits {
            out.extend(d.to_be_bytes());
        }
        out
    }

    #[test]
    fn numerics_decode_to_scaled_integers() {
        // 12345.678
        assert_eq!(
            numeric(&encoded(3, 1, 0, 3, &[1, 2345, 6780]), 3),
            Ok(12_345_678)
        );
        // -0.05 at scale 4
        assert_eq!(numeric(&encoded(1, -1, 0x4000, 2, &[500]), 4), Ok(-500));
        assert_eq!(numeric(&encoded(0, 0, 0, 0, &[]), 2), Ok(0));
        assert!(
            numeric(&encoded(1, -1, 0, 4, &[1234]), 2)
                .unwrap_err()
                .contains("decimal places")
        );
        assert!(
            numeric(&encoded(0, 0, 0xC000, 0, &[]), 2)
                .unwrap_err()
                .contains("NaN")
        );
    }
}
