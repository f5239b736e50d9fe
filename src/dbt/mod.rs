//! dbt projects as sides: what a side built, read from dbt's own artifacts
//! (`manifest`), so models, their DAG and their keys come from the project
//! itself rather than from `[outputs.*]` entries.

pub mod manifest;
pub mod profile;

pub use manifest::{Artifacts, Built, KeySource, TestResult};
