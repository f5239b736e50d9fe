//! Command-line types (clap derive) and nothing else: validation happens in
//! `plan`, so these structs stay a faithful picture of what was typed.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "dualrun",
    version,
    about = "Diff prod and candidate outputs of a data pipeline, and approve promotion only within declared tolerances",
    after_help = "Exit codes: 0 approved, 1 rejected (a rule failed; without --rules: the tables differ), 2 could not decide (bad input, a rule that could not be evaluated)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Diff two tables now: Parquet, CSV, NDJSON or Arrow IPC files, directories or globs of them
    Diff(Box<DiffArgs>),
    /// Column statistics of one table
    Profile(ProfileArgs),
    /// Judge a saved JSON report again under other rules, without reading the data
    Check(CheckArgs),
    /// Run prod and candidate of a project (dualrun.toml), diff every output, judge
    Run(RunArgs),
    /// Write a commented starter dualrun.toml and rules.toml
    Init(InitArgs),
    /// Make an approved run's candidate outputs the live version of a target, atomically
    Publish(PublishArgs),
    /// Make the version before the live one (or a named one) live again, atomically
    Rollback(RollbackArgs),
    /// List a target's published versions
    Versions(VersionsArgs),
    /// Start a Ballista scheduler or executor with dualrun's functions (cargo feature `cluster`)
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Tools for benchmarks: generate a pair, time a full scan
    #[command(hide = true, subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Run a Ballista scheduler: clients connect with `--cluster df://HOST:PORT`
    Scheduler(SchedulerArgs),
    /// Run a Ballista executor that registers with a scheduler and runs its tasks
    Executor(ExecutorArgs),
}

#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// Address to listen on (0.0.0.0 for every interface)
    #[arg(long, default_value = "127.0.0.1", value_name = "HOST")]
    pub bind: String,

    /// Port clients and executors connect to
    #[arg(long, default_value_t = 50050, value_name = "PORT")]
    pub port: u16,

    /// Host name executors and clients reach this machine by (default: the bind address)
    #[arg(long, value_name = "HOST")]
    pub external_host: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExecutorArgs {
    /// The scheduler to register with
    #[arg(
        long,
        default_value = "df://127.0.0.1:50050",
        value_name = "df://HOST:PORT"
    )]
    pub scheduler: String,

    /// Address to listen on (0.0.0.0 for every interface)
    #[arg(long, default_value = "127.0.0.1", value_name = "HOST")]
    pub bind: String,

    /// Port of the Arrow Flight service other executors fetch shuffle data from
    #[arg(long, default_value_t = 50051, value_name = "PORT")]
    pub port: u16,

    /// Port of the executor's gRPC service
    #[arg(long, default_value_t = 50052, value_name = "PORT")]
    pub grpc_port: u16,

    /// Host name the scheduler and other executors reach this machine by (default: the bind address)
    #[arg(long, value_name = "HOST")]
    pub external_host: Option<String>,

    /// Tasks run at once (default: one per core)
    #[arg(long, value_name = "N")]
    pub concurrent_tasks: Option<usize>,

    /// Directory for shuffle files (default: a new directory under TMPDIR, removed on exit)
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,

    /// Leave a function out of the executor's registry, as an executor built without Ballista's `spark-compat` feature lacks it (to see how clients report such a cluster)
    #[arg(long, hide = true, value_name = "NAME")]
    pub omit_function: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Write a deterministic prod/candidate Parquet pair and print the counts a diff must find
    Generate(GenerateArgs),
    /// Decode every column of Parquet files with DataFusion (the yardstick of benchmarks)
    Scan(ScanArgs),
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// A new directory (or one without a pair yet) for prod.parquet and candidate.parquet
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Rows of prod
    #[arg(long, default_value_t = 5_000_000, value_name = "N")]
    pub rows: u64,

    #[arg(long, default_value_t = 1, value_name = "N")]
    pub seed: u64,

    /// Int64 columns
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub ints: usize,

    /// Float64 columns
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub floats: usize,

    /// Decimal(18,2) columns
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub decimals: usize,

    /// Utf8 columns (a word of a vocabulary, a word with a number, free text, in turn)
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub strings: usize,

    /// Timestamp (microseconds) columns
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub timestamps: usize,

    /// Boolean columns
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub bools: usize,

    /// Fraction of value cells that are NULL
    #[arg(long, default_value_t = 0.0, value_name = "FRACTION")]
    pub nulls: f64,

    /// Fraction of rows the candidate changes (one column each)
    #[arg(long, default_value_t = 0.01, value_name = "FRACTION")]
    pub changed: f64,

    /// Fraction of rows the candidate removes
    #[arg(long, default_value_t = 0.001, value_name = "FRACTION")]
    pub removed: f64,

    /// Rows the candidate adds, as a fraction of prod's
    #[arg(long, default_value_t = 0.001, value_name = "FRACTION")]
    pub added: f64,

    /// Also write prod.csv and candidate.csv
    #[arg(long)]
    pub csv: bool,

    /// Which value columns: the family counts above, or `varied` (eleven
    /// columns: low- and full-range integers, a NULL-heavy float, strings
    /// of 16 to 1,000,000 distinct values, short and long, dictionary and
    /// plain encoded)
    #[arg(long, value_enum, default_value = "counts")]
    pub shape: crate::bench::generate::Shape,

    /// Rows per Parquet row group
    #[arg(long, default_value_t = 1 << 20, value_name = "ROWS")]
    pub row_group: usize,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Parquet files, scanned concurrently
    #[arg(required = true)]
    pub files: Vec<String>,

    /// Worker threads (default: one per core)
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// A run directory written by `dualrun run`
    pub run_dir: PathBuf,

    /// Where readers read: a directory (TARGET/current/NAME.parquet), or a PostgreSQL schema (`postgres://USER@HOST:PORT/DB?schema=marts`)
    #[arg(long, value_name = "TARGET")]
    pub to: String,

    /// Publish a rejected run (needs --reason, which is recorded)
    #[arg(long, requires = "reason")]
    pub force: bool,

    /// Why a rejected run is published anyway
    #[arg(long, value_name = "TEXT", requires = "force")]
    pub reason: Option<String>,

    /// Publish only the outputs matching this glob; the others stay as the live version has them
    #[arg(long, value_name = "GLOB")]
    pub only: Option<String>,

    /// Keep only the newest N versions (never the live one or the one before it)
    #[arg(long, value_name = "N")]
    pub keep: Option<usize>,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The target: a directory, or `postgres://...?schema=NAME`
    pub target: String,

    /// The version (run id) to make live; default: the one published before the live one
    #[arg(long, value_name = "RUN_ID")]
    pub to: Option<String>,
}

#[derive(Debug, Args)]
pub struct VersionsArgs {
    /// The target: a directory, or `postgres://...?schema=NAME`
    pub target: String,

    /// Print the versions as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The project: a directory holding dualrun.toml, or the file itself
    #[arg(default_value = ".")]
    pub project: PathBuf,

    /// Where this run's outputs, logs, manifest and report go (default: .dualrun/runs/RUN-ID in the project); must not exist
    #[arg(long, value_name = "DIR")]
    pub run_dir: Option<PathBuf>,

    /// Copy the inputs into the run directory first, and give the sides the copies
    #[arg(long)]
    pub snapshot_inputs: bool,

    /// Keep what dbt sides built (their DuckDB files, their PostgreSQL schemas) after the run, instead of removing it once the outputs are copied
    #[arg(long)]
    pub keep_sides: bool,

    /// Publish the candidate's outputs to this target when, and only when, the verdict is approved
    #[arg(long, value_name = "TARGET")]
    pub publish_to: Option<String>,

    #[command(flatten)]
    pub compute: ComputeArgs,

    #[command(flatten)]
    pub judge: JudgeArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to write the project (default: here)
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// A JSON report written by `dualrun diff --format json`
    pub report: PathBuf,

    #[command(flatten)]
    pub judge: JudgeArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// How a diff is judged.
#[derive(Debug, Args)]
pub struct JudgeArgs {
    /// Rules file (TOML; repeatable; added to a project's). Without any, any difference rejects
    #[arg(long = "rules", value_name = "FILE")]
    pub rules: Vec<PathBuf>,

    /// Warnings fail too
    #[arg(long)]
    pub strict: bool,
}

#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// The table: a file, a directory or a glob
    pub table: String,

    /// Columns to profile, comma separated (default: all)
    #[arg(long, value_delimiter = ',', value_name = "COLS")]
    pub columns: Vec<String>,

    /// Format of the table, overriding its extension: parquet, csv, json (NDJSON) or arrow (IPC)
    #[arg(long, value_name = "FORMAT")]
    pub table_format: Option<String>,

    #[command(flatten)]
    pub csv: CsvArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// How CSV tables are read, for every command that reads tables by name.
#[derive(Debug, Args)]
pub struct CsvArgs {
    /// CSV files have no header row (columns are named column_1, column_2, ...)
    #[arg(long)]
    pub no_header: bool,

    /// CSV field delimiter: one character, or `tab` (default: a tab for `.tsv` files, else `,`)
    #[arg(long, value_name = "CHAR")]
    pub delimiter: Option<String>,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The prod (left, old) table: a file, a directory or a glob
    pub left: String,

    /// The candidate (right, new) table: a file, a directory or a glob
    pub right: String,

    /// Key columns, comma separated (prod names); without a key the diff compares whole rows as multisets
    #[arg(long, value_delimiter = ',', value_name = "COLS")]
    pub key: Vec<String>,

    /// Table name in the report (default: the RIGHT file's stem)
    #[arg(long)]
    pub name: Option<String>,

    /// Format of LEFT, overriding its extension: parquet, csv, json (NDJSON) or arrow (IPC)
    #[arg(long, value_name = "FORMAT")]
    pub format_left: Option<String>,

    /// Format of RIGHT, overriding its extension
    #[arg(long, value_name = "FORMAT")]
    pub format_right: Option<String>,

    #[command(flatten)]
    pub csv: CsvArgs,

    /// A column renamed in the candidate: prod name = candidate name (repeatable)
    #[arg(long, value_name = "OLD=NEW")]
    pub rename: Vec<String>,

    /// Absolute tolerance for every numeric column
    #[arg(long, value_name = "X")]
    pub abs_tol: Option<f64>,

    /// Relative tolerance for every numeric column
    #[arg(long, value_name = "X")]
    pub rel_tol: Option<f64>,

    /// Tolerance of one column: `amount=abs:0.01`, `price=rel:1e-6`, `ts=dur:5s` (repeatable; several kinds joined by `,`)
    #[arg(long = "tol", value_name = "COL=KIND:VALUE")]
    pub tolerances: Vec<String>,

    /// Compare strings with leading and trailing white space removed
    #[arg(long)]
    pub trim: bool,

    /// Compare strings ignoring case
    #[arg(long)]
    pub ignore_case: bool,

    /// Columns left out of the comparison (still in the schema diff), comma separated
    #[arg(long, value_delimiter = ',', value_name = "COLS")]
    pub ignore: Vec<String>,

    /// Write every differing row (not only samples) to this Parquet or CSV file
    #[arg(long, value_name = "FILE")]
    pub diff_rows: Option<PathBuf>,

    /// Diff only the rows this SQL predicate keeps, on both sides (prod names; pushed down into a database or Parquet scan): `--where "day = '2026-11-30'"`
    #[arg(long = "where", value_name = "PREDICATE")]
    pub filter: Option<String>,

    #[command(flatten)]
    pub compute: ComputeArgs,

    #[command(flatten)]
    pub judge: JudgeArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// What a diff computes and where: `diff` and `run` share these.
#[derive(Debug, Args)]
pub struct ComputeArgs {
    /// Skip column statistics and drift
    #[arg(long)]
    pub no_stats: bool,

    /// Run the diff on this Ballista cluster: Parquet tables at paths every executor sees (for `run`, overrides `[cluster] url` of dualrun.toml)
    #[arg(long, value_name = "df://HOST:PORT")]
    pub cluster: Option<String>,
}

/// Options every reporting command shares.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Report format (repeatable together with --output-dir)
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Vec<ReportFormat>,

    /// Write every requested format into this directory instead of stdout
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,

    /// How many changed, added and removed rows to show
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub sample: usize,

    /// Show no sample rows at all (for sensitive data)
    #[arg(long)]
    pub no_samples: bool,

    /// Worker threads (default: one per core)
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,

    /// Print nothing on stdout; the exit code tells the verdict
    #[arg(long)]
    pub quiet: bool,

    /// Colour in the table report
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// Include phase timings in the report (makes the output vary between runs)
    #[arg(long)]
    pub timings: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// A terminal report
    Table,
    /// The report model, for machines
    Json,
    /// A pull-request comment
    Markdown,
    /// A self-contained page with charts
    Html,
    /// JUnit XML, one test case per rule outcome
    Junit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}
