//! The benchmarks' yardstick S: decode every column of each table with
//! DataFusion, as dualrun's reader does, and fold each into an aggregate
//! the Parquet footer cannot answer (`count(*)`, `min` and `max` can be
//! answered from statistics without decoding anything).

use datafusion::arrow::datatypes::DataType;
use datafusion::prelude::{ParquetReadOptions, SessionContext};

use crate::error::{Error, Result};
use crate::threads::Workers;

/// One aggregate per column that forces its values to be decoded.
fn decode_expression(name: &str, data_type: &DataType) -> String {
    let column = format!("\"{}\"", name.replace('"', "\"\""));
    if data_type.is_numeric() {
        format!("sum(CAST({column} AS DOUBLE))")
    } else if matches!(
        data_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    ) {
        format!("sum(length({column}))")
    } else {
        format!("sum(CAST(CAST({column} AS BIGINT) AS DOUBLE))")
    }
}

async fn scan_one(context: &SessionContext, path: &str, index: usize) -> Result<Vec<String>> {
    let name = format!("t{index}");
    let options = ParquetReadOptions {
        file_extension: "",
        ..Default::default()
    };
    context
        .register_parquet(&name, path, options)
        .await
        .map_err(|e| Error::unreadable(path, e))?;
    let schema = context
        .table(&name)
        .await
        .map_err(|e| Error::unreadable(path, e))?
        .schema()
        .as_arrow()
        .clone();
    let expressions: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| decode_expression(f.name(), f.data_type()))
        .collect();
    let sql = format!("SELECT {} FROM {name}", expressions.join(", "));
    let batches = context
        .sql(&sql)
        .await
        .map_err(|e| Error::compute(format!("cannot scan {path}"), e))?
        .collect()
        .await
        .map_err(|e| Error::compute(format!("cannot scan {path}"), e))?;
    let batch = batches
        .first()
        .ok_or_else(|| Error::input(path, "the scan returned nothing"))?;
    Ok(batch
        .columns()
        .iter()
        .map(|c| datafusion::arrow::util::display::array_value_to_string(c, 0).unwrap_or_default())
        .collect())
}

/// Scans the Parquet files concurrently on the workers' threads and returns,
/// per file, the aggregate of each column (printed, so nothing is skipped).
pub fn scan(paths: &[String], workers: &Workers) -> Result<Vec<Vec<String>>> {
    let context = workers.session();
    workers.block_on(futures::future::try_join_all(
        paths
            .iter()
            .enumerate()
            .map(|(i, path)| scan_one(&context, path, i)),
    ))
}
