//! Every integration test, as one test binary. One binary is linked once
//! (each of twenty linked DataFusion, Polars, Ballista and Delta anew, a
//! minute and a half of every cold CI run), and its harness runs the slow
//! tests (real dbt, a Ballista cluster, PostgreSQL) beside the quick ones
//! instead of one file after another. Run one file's tests by its module,
//! `cargo test --all-features --test suite sources::`, or one test by any
//! part of its name.
//!
//! `tests/without_features.rs` stays a binary of its own: it runs on the
//! build without features.

#[path = "../common/mod.rs"]
mod common;

mod benchmarks;
mod cli;
mod cluster;
mod database_files;
mod dbt_sides;
mod drift;
mod options;
mod properties;
mod publish;
mod publish_delta;
mod publish_postgres;
mod reports;
mod rules;
mod run;
mod run_sides;
mod sources;
mod sql_diff;
mod stats;
mod streaming;
mod types;
