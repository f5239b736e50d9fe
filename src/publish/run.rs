//! The run a publish promotes, checked before anything is written: a
//! complete run directory of `dualrun run`, a verdict that allows it, the
//! candidate's output files unchanged since the run, and inputs that are
//! still those the run read (what was proven is what goes live).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::input::Fingerprint;
use crate::input::TableSource;
use crate::rules::Verdict;
use crate::run_dir::{FileDigest, MANIFEST, Manifest, REPORT_JSON, RunDir};

/// A run that may be published.
#[derive(Debug, Clone)]
pub struct ApprovedRun {
    /// The run directory's name.
    pub id: String,
    pub verdict: Verdict,
    pub forced_reason: Option<String>,
    pub inputs: Vec<Fingerprint>,
    /// Output name -> the candidate's Parquet file in the run directory.
    pub outputs: BTreeMap<String, PathBuf>,
}

impl ApprovedRun {
    /// Checks `dir`; `forced_reason` allows a rejected run.
    pub fn open(dir: &Path, forced_reason: Option<&str>) -> Result<Self> {
        let refuse = |message: String| Error::publish(dir, message);
        let incomplete = |what: &str| {
            refuse(format!("is not a complete run directory: {what}"))
                .with_hint("publish a directory that `dualrun run` wrote and finished")
        };
        let run_dir = RunDir::existing(dir);
        for file in [REPORT_JSON, MANIFEST] {
            if !run_dir.file(file).is_file() {
                return Err(incomplete(&format!("`{file}` is missing")));
            }
        }
        let report = crate::report::json::read(&run_dir.file(REPORT_JSON))?;
        if report.command != "run" {
            return Err(incomplete("its report is not of `dualrun run`"));
        }
        let manifest = run_dir
            .read_manifest()
            .ok_or_else(|| incomplete(&format!("`{MANIFEST}` is not a manifest")))?;
        if manifest.verdict != report.verdict || manifest.inputs != report.inputs {
            return Err(refuse(
                "its report and its manifest disagree on the verdict or the inputs".to_string(),
            )
            .with_hint("a run directory must not be edited; run again"));
        }
        let forced_reason = match (report.verdict, forced_reason) {
            (Verdict::Approved, _) => None,
            (Verdict::Rejected, Some(reason)) => Some(reason.to_string()),
            (Verdict::Rejected, None) => {
                return Err(refuse("the run was rejected".to_string()).with_hint(
                    "fix the candidate, or publish it anyway with `--force --reason \"...\"`",
                ));
            }
            (Verdict::Error, _) => {
                return Err(refuse(
                    "the run could not decide (verdict `error`), so there is nothing proven to publish"
                        .to_string(),
                )
                .with_hint("fix what its report says and run again"));
            }
        };
        let outputs = candidate_outputs(&run_dir, &manifest)?;
        check_inputs(dir, &report.inputs)?;
        let id = dir
            .canonicalize()
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .ok_or_else(|| incomplete("it has no name to publish it under"))?;
        Ok(ApprovedRun {
            id,
            verdict: report.verdict,
            forced_reason,
            inputs: report.inputs,
            outputs,
        })
    }
}

/// The candidate's files the manifest lists, each still as the run left it.
fn candidate_outputs(run_dir: &RunDir, manifest: &Manifest) -> Result<BTreeMap<String, PathBuf>> {
    let dir = run_dir.root();
    if manifest.candidate_outputs.is_empty() {
        return Err(
            Error::publish(dir, "its manifest lists no candidate output to publish")
                .with_hint("publish a run whose candidate built its outputs"),
        );
    }
    let mut outputs = BTreeMap::new();
    for (name, expected) in &manifest.candidate_outputs {
        let file = run_dir.output(crate::sides::Side::Candidate, name);
        match FileDigest::of(&file).ok() {
            None => {
                return Err(Error::publish(
                    dir,
                    format!(
                        "is not a complete run directory: `candidate/{name}.parquet` is missing"
                    ),
                )
                .with_hint("publish a directory that `dualrun run` wrote and finished"));
            }
            Some(found) if &found != expected => {
                return Err(Error::publish(
                    dir,
                    format!("`candidate/{name}.parquet` changed after the run"),
                )
                .with_hint("a run directory must not be edited; run again"));
            }
            Some(_) => {
                outputs.insert(name.clone(), file);
            }
        }
    }
    Ok(outputs)
}

/// Every input fingerprinted again where the run read it. A database
/// input is reached with the password from `PGPASSWORD` or the password
/// file: the run recorded its URL without one.
fn check_inputs(dir: &Path, inputs: &[Fingerprint]) -> Result<()> {
    if inputs.is_empty() {
        return Ok(());
    }
    let workers = crate::threads::Workers::new(1)?;
    for recorded in inputs {
        let now = TableSource::parse(&recorded.path, None, Default::default())
            .and_then(|source| crate::input::fingerprint(&recorded.input, &source, &workers))
            .ok();
        if now.as_ref() != Some(recorded) {
            let what = if now.is_none() {
                "can no longer be read"
            } else {
                "has changed"
            };
            return Err(Error::publish(
                dir,
                format!(
                    "the input `{}` (`{}`) {what} since the run, so its outputs are not what the inputs give now",
                    recorded.input, recorded.path
                ),
            )
            .with_hint(
                "run again on the current inputs (`--snapshot-inputs` keeps a run's inputs in its run directory)",
            ));
        }
    }
    Ok(())
}

/// The rows of one of the run's Parquet copies, in batches of
/// `batch_rows`: what a database or lake target loads.
#[cfg(any(feature = "postgres", feature = "delta"))]
pub fn read_output(
    path: &Path,
    batch_rows: usize,
) -> Result<datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReader> {
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let shown = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| Error::unreadable(&shown, e))?;
    ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.with_batch_size(batch_rows).build())
        .map_err(|e| Error::input(&shown, format!("is not Parquet dualrun can read ({e})")))
}
