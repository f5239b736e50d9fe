//! What the database sources that run their own SQL share: the `SELECT`
//! of a scan's projected columns, and the plan of one stream of batches.

use std::sync::Arc;

use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::error::Result;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};

pub(super) use super::table_ref::quoted;

/// A scan's `SELECT cols FROM from [LIMIT n]`: the projected columns
/// quoted (or `1` when none is needed, as for a count), and their schema.
pub fn select(
    schema: &Schema,
    projection: Option<&Vec<usize>>,
    from: &str,
    limit: Option<usize>,
) -> Result<(String, Vec<usize>, SchemaRef)> {
    let columns: Vec<usize> = match projection {
        Some(projection) => projection.clone(),
        None => (0..schema.fields().len()).collect(),
    };
    let list = if columns.is_empty() {
        // A count reads no column; SQL still needs one to select.
        "1".to_string()
    } else {
        columns
            .iter()
            .map(|&i| quoted(schema.field(i).name()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let limit = limit.map(|n| format!(" LIMIT {n}")).unwrap_or_default();
    let projected = Arc::new(schema.project(&columns)?);
    Ok((
        format!("SELECT {list} FROM {from}{limit}"),
        columns,
        projected,
    ))
}

/// The plan of a scan that is one stream of batches. It takes no filters
/// into its SQL: DataFusion filters the rows above it.
pub fn one_stream(
    schema: SchemaRef,
    stream: impl PartitionStream + 'static,
    limit: Option<usize>,
) -> Result<Arc<dyn ExecutionPlan>> {
    let exec = StreamingTableExec::try_new(
        schema,
        vec![Arc::new(stream) as Arc<dyn PartitionStream>],
        None,
        [],
        false,
        limit,
    )?;
    Ok(Arc::new(exec))
}
