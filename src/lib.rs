//! dualrun: a dual-run diff validator for data pipelines.
//!
//! The flow (see `app`): a command line becomes a validated plan (`plan`,
//! or `project` for `dualrun.toml`), a project's two sides are run
//! (`runner`), tables are read with DataFusion (`input`) and streamed into
//! the diff in this process or sent to a Ballista cluster (`backend`),
//! diffed by key with parallel hashing and tolerance-aware comparison
//! (`diff`), the run directory keeps a run's copies and manifest
//! (`run_dir`), rules
//! judge the result (`rules`), and it all becomes a report model that
//! renderers turn into text (`report`). Exit codes are API: 0 approved, 1 rejected, 2 could not
//! decide.

pub mod app;
pub mod backend;
pub mod bench;
pub mod cli;
pub mod clock;
#[cfg(feature = "cluster")]
pub mod cluster;
pub mod dbt;
pub mod diff;
pub mod divergence;
pub mod dual_run;
pub mod error;
pub mod format;
pub mod input;
pub mod interrupt;
pub mod plan;
pub mod profile;
pub mod progress;
pub mod project;
pub mod publish;
pub mod report;
pub mod rules;
pub mod run_dir;
pub mod runner;
pub mod sides;
pub mod threads;

pub use diff::{DiffOptions, TableDiff, diff_tables};
pub use error::{Error, Result};
pub use input::Table;
