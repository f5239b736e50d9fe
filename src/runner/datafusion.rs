//! The `datafusion` engine: runs a folder of SQL models on an embedded
//! DataFusion context. Inputs are registered by name, models are built
//! level by level (the models of one level at once), each result is
//! registered for the models after it and written as `NAME.parquet` into
//! the side's output folder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use super::failure::SideError;
use super::models::{Model, Models};
use super::timeline::Timeline;
use crate::input::{TableSource, read_table};
use crate::threads::Workers;

/// The engine's name and version, for the manifest.
pub const VERSION: &str = datafusion::DATAFUSION_VERSION;

/// Builds every model into `out_dir`, or says which model or input failed
/// and why.
pub fn build(
    models: &Models,
    inputs: &BTreeMap<String, TableSource>,
    out_dir: &Path,
    timeline: &Timeline,
    workers: &Workers,
) -> Result<(), SideError> {
    workers.block_on(async {
        let ctx = workers.session();
        for (name, source) in inputs {
            let (schema, batches) = read_input(&ctx, name, source).await?;
            register(&ctx, &name.to_lowercase(), schema, batches)?;
        }
        for level in &models.levels {
            let built = futures::future::try_join_all(
                level
                    .iter()
                    .map(|name| build_model(&ctx, name, &models.models[name], out_dir, timeline)),
            )
            .await?;
            for (name, schema, batches) in built {
                register(&ctx, &name, schema, batches)?;
            }
        }
        Ok(())
    })
}

/// One input as dualrun reads any table (format from the path, CSV types
/// inferred), so every engine starts from the same typed values.
pub async fn read_input(
    ctx: &SessionContext,
    name: &str,
    source: &TableSource,
) -> Result<(SchemaRef, Vec<RecordBatch>), SideError> {
    let table = read_table(ctx, source)
        .await
        .map_err(|e| SideError::Input {
            name: name.to_string(),
            source: e.into(),
        })?;
    Ok((table.schema, table.batches))
}

fn register(
    ctx: &SessionContext,
    name: &str,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<(), SideError> {
    let refused = |what: &str| {
        let what = format!("cannot {what} `{name}`");
        move |e: datafusion::error::DataFusionError| SideError::Engine {
            what,
            source: e.into(),
        }
    };
    let table = MemTable::try_new(schema, vec![batches]).map_err(refused("hold"))?;
    ctx.register_table(name, Arc::new(table))
        .map_err(refused("register"))?;
    Ok(())
}

async fn build_model(
    ctx: &SessionContext,
    name: &str,
    model: &Model,
    out_dir: &Path,
    timeline: &Timeline,
) -> Result<(String, SchemaRef, Vec<RecordBatch>), SideError> {
    let building = timeline.start(name);
    let frame = ctx
        .sql(&model.sql)
        .await
        .map_err(|e| SideError::in_model(&model.file, e))?;
    let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
    let batches = frame
        .collect()
        .await
        .map_err(|e| SideError::in_model(&model.file, e))?;
    write_parquet(&out_dir.join(format!("{name}.parquet")), &schema, &batches)
        .map_err(|e| SideError::in_model(&model.file, e))?;
    timeline.done(building, model.reads.iter().cloned());
    Ok((name.to_string(), schema, batches))
}

/// Why a Parquet file could not be written, with the file's name.
#[derive(Debug, thiserror::Error)]
#[error("cannot write `{}`: {source}", path.display())]
pub struct WriteError {
    path: PathBuf,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

/// Writes `batches` as one Parquet file.
pub fn write_parquet(
    path: &Path,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<(), WriteError> {
    use datafusion::parquet::arrow::ArrowWriter;
    let failed = |e: Box<dyn std::error::Error + Send + Sync>| WriteError {
        path: path.to_path_buf(),
        source: e,
    };
    let file = std::fs::File::create(path).map_err(|e| failed(e.into()))?;
    let mut writer =
        ArrowWriter::try_new(file, Arc::clone(schema), None).map_err(|e| failed(e.into()))?;
    for batch in batches {
        writer.write(batch).map_err(|e| failed(e.into()))?;
    }
    writer.close().map_err(|e| failed(e.into()))?;
    Ok(())
}
