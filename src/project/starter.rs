//! What `dualrun init` writes: a commented starter project and its rules.

/// The starter project `dualrun init` writes.
pub const STARTER: &str = r#"# dualrun project: runs prod and candidate over the same inputs, diffs every
# declared output and judges the differences by the rules in [check].

# Inputs both sides read, by name: a path, or any table reference
# (s3://..., postgres://...?table=..., sqlite:FILE?table=..., a Delta
# directory). Command sides find each one in $DUALRUN_INPUT_<NAME> (an
# absolute path, or the reference).
[inputs]
# orders = "data/orders.parquet"

# How each side builds its outputs:
#   engine = "datafusion" (the default): `models` is a folder of NAME.sql
#     files, one SELECT each, reading inputs and other models by name (or a
#     list of folders: a model in a later one replaces its namesake).
#   engine = "polars": the same models, run by Polars' SQL engine (to
#     validate a move from one engine to the other).
#   engine = "command": `run` is executed with `sh -c` in `workdir` (default:
#     this directory) and must write NAME.parquet (or .csv, .ndjson) for
#     every output into $DUALRUN_OUTPUT_DIR; `timeout` defaults to 1h.
#   engine = "files": the outputs already exist in `outputs_dir`.
#   engine = "dbt": the dbt project in `project_dir` (default: here), built
#     by dbt into a location of the side's own; every model it builds is
#     an output, keyed by the project's own tests or meta (README: "dbt
#     projects as sides").
#   A files or command side whose outputs are tables elsewhere names them
#     with `outputs_at = "postgres://...?table=ci.{name}"` (any table
#     reference, `{name}` for each output's name).
[prod]
engine = "files"
outputs_dir = "prod"

[candidate]
engine = "command"
run = "python3 build.py"
timeout = "10m"
# Any side may take its files (models, command directory) from a git
# revision instead of the working tree: git = "origin/main"

# One table per output both sides write: its key, the columns left out,
# and per-column tolerances (as `--tol` takes them).
[outputs.daily_revenue]
key = ["day", "region"]
ignore = ["loaded_at"]
tolerance = { revenue = "abs:0.01" }

[check]
rules = ["rules.toml"]
strict = false

# Diff the outputs on an Apache DataFusion Ballista cluster (a binary built
# with the `cluster` feature; the run directory must be on storage the
# executors share). `--cluster` overrides it.
# [cluster]
# url = "df://scheduler-host:50050"
"#;

/// The starter rules `dualrun init` writes beside the project.
pub const STARTER_RULES: &str = r#"# Rules for this project: see the dualrun README ("Rules and the verdict").

[[rule]]
check = "row_count"
warn = 0.01
fail = 0.05

[[rule]]
check = "schema"
fail_on = ["removed", "type_changed"]
warn_on = ["added"]

[[rule]]
check = "key_integrity"
fail_on = ["null", "duplicate"]

[[rule]]
check = "rows_changed"
warn = 0.001
fail = 0.01
"#;
