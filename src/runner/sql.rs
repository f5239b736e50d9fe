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
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::prelude::SessionContext;

use super::models::{self, Model};
use crate::error::first_line;
use crate::input::{CsvOptions, TableSource, read_table};

/// Builds every model of `models_dir`; returns what each model reads, or
/// says which model or input failed and why.
pub fn run(
    models_dirs: &[PathBuf],
    inputs: &BTreeMap<String, PathBuf>,
    out_dir: &Path,
) -> Result<BTreeMap<String, Vec<String>>, String> {
    let names: Vec<String> = inputs.keys().cloned().collect();
    let models = models::load(models_dirs, &names)?;
    let graph = models
        .models
        .iter()
        .map(|(name, m)| (name.clone(), m.reads.iter().cloned().collect()))
        .collect();
    std::fs::create_dir_all(out_dir)
        .map_err(|e| format!("cannot create `{}`: {e}", out_dir.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the SQL runtime: {e}"))?;
    runtime.block_on(async {
        let ctx = SessionContext::new();
        for (name, path) in inputs {
            let source = TableSource {
                spec: path.display().to_string(),
                format: None,
                csv: CsvOptions::default(),
            };
            let table = read_table(&ctx, &source)
                .await
                .map_err(|e| format!("input `{name}`: {e}"))?;
            register(&ctx, &name.to_lowercase(), table.schema, table.batches)?;
        }
        for level in &models.levels {
            let built = futures::future::try_join_all(
                level
                    .iter()
                    .map(|name| build(&ctx, name, &models.models[name], out_dir)),
            )
            .await?;
            for (name, schema, batches) in built {
                register(&ctx, &name, schema, batches)?;
            }
        }
        Ok(graph)
    })
}

fn register(
    ctx: &SessionContext,
    name: &str,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<(), String> {
    let table = MemTable::try_new(schema, vec![batches])
        .map_err(|e| format!("cannot hold `{name}`: {}", first_line(&e.to_string())))?;
    ctx.register_table(name, Arc::new(table))
        .map_err(|e| format!("cannot register `{name}`: {}", first_line(&e.to_string())))?;
    Ok(())
}

async fn build(
    ctx: &SessionContext,
    name: &str,
    model: &Model,
    out_dir: &Path,
) -> Result<(String, SchemaRef, Vec<RecordBatch>), String> {
    let failed = |e: &dyn std::fmt::Display| {
        format!(
            "model `{}`: {}",
            model.file.display(),
            first_line(&e.to_string())
        )
    };
    let frame = ctx.sql(&model.sql).await.map_err(|e| failed(&e))?;
    let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
    let batches = frame.collect().await.map_err(|e| failed(&e))?;
    let path = out_dir.join(format!("{name}.parquet"));
    let file = std::fs::File::create(&path).map_err(|e| failed(&e))?;
    let mut writer =
        ArrowWriter::try_new(file, Arc::clone(&schema), None).map_err(|e| failed(&e))?;
    for batch in &batches {
        writer.write(batch).map_err(|e| failed(&e))?;
    }
    writer.close().map_err(|e| failed(&e))?;
    Ok((name.to_string(), schema, batches))
}
