//! The `polars` engine (cargo feature `polars`): runs the same folder of SQL
//! models with Polars' SQL engine, so a move from one engine to the other
//! is validated like any change. Polars has its own Arrow implementation:
//! everything crosses into and out of this module as Parquet files. Inputs
//! are first read by dualrun's own reader (so both engines start from the
//! same typed values); a single Parquet input is scanned where it is.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use polars::prelude::*;
use polars::sql::SQLContext;

use super::failure::SideError;
use super::models::{Model, Models};
use super::timeline::Timeline;
use crate::input::TableSource;
use crate::threads::Workers;

/// The engine's version, for the manifest.
pub const VERSION: &str = polars::VERSION;

/// Builds every model into `out_dir`, or says which model or input failed
/// and why. `scratch` holds inputs converted to Parquet for Polars.
pub fn build(
    models: &Models,
    inputs: &BTreeMap<String, TableSource>,
    out_dir: &Path,
    scratch: &Path,
    timeline: &Timeline,
    workers: &Workers,
) -> Result<(), SideError> {
    let mut ctx = SQLContext::new();
    for (name, source) in inputs {
        let parquet = as_parquet(name, source, scratch, workers)?;
        let frame = LazyFrame::scan_parquet(
            PlRefPath::new(parquet.display().to_string()),
            ScanArgsParquet::default(),
        )
        .map_err(|e| SideError::Input {
            name: name.clone(),
            source: e.into(),
        })?;
        ctx.register(&name.to_lowercase(), frame);
    }
    for level in &models.levels {
        // Polars runs each query on all cores itself: models go one by one.
        for name in level {
            let model = &models.models[name];
            let building = timeline.start(name);
            let frame = build_model(&mut ctx, model, &out_dir.join(format!("{name}.parquet")))?;
            ctx.register(name, frame.lazy());
            timeline.done(building, model.reads.iter().cloned());
        }
    }
    Ok(())
}

fn build_model(ctx: &mut SQLContext, model: &Model, out: &Path) -> Result<DataFrame, SideError> {
    // Polars' SQL front end still panics on some statements it does not
    // support; that is this model's failure, not the whole run's.
    let result = catch_unwind(AssertUnwindSafe(|| {
        ctx.execute(&model.sql).and_then(LazyFrame::collect)
    }));
    let mut frame = match result {
        Ok(frame) => frame.map_err(|e| SideError::in_model(&model.file, e))?,
        Err(panic) => {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "Polars stopped on it".to_string());
            return Err(SideError::in_model(
                &model.file,
                format!("Polars cannot run it: {why}"),
            ));
        }
    };
    let file = std::fs::File::create(out).map_err(|e| SideError::in_model(&model.file, e))?;
    ParquetWriter::new(file)
        .finish(&mut frame)
        .map_err(|e| SideError::in_model(&model.file, e))?;
    Ok(frame)
}

/// A Parquet file holding input `name`: the input itself when it is one
/// Parquet file, or else a copy read by dualrun's reader.
fn as_parquet(
    name: &str,
    source: &TableSource,
    scratch: &Path,
    workers: &Workers,
) -> Result<PathBuf, SideError> {
    if let Some(path) = source.reference.local_path().map(Path::new)
        && path.is_file()
        && path.extension().is_some_and(|x| x == "parquet")
    {
        return Ok(path.to_path_buf());
    }
    let ctx = workers.session();
    let (schema, batches) = workers.block_on(super::datafusion::read_input(&ctx, name, source))?;
    std::fs::create_dir_all(scratch)
        .map_err(SideError::io(format!("create `{}`", scratch.display())))?;
    let copy = scratch.join(format!("{name}.parquet"));
    super::datafusion::write_parquet(&copy, &schema, &batches).map_err(|e| SideError::Input {
        name: name.to_string(),
        source: e.into(),
    })?;
    Ok(copy)
}
