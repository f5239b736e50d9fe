//! Turns raw command-line arguments into a validated plan: every default is
//! filled and every value parsed here, so nothing past this point holds an
//! `Option` that means "use the default".

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;

use crate::backend::ClusterUrl;
use crate::cli::{
    CheckArgs, ColorChoice, CsvArgs, DiffArgs, JudgeArgs, OutputArgs, ProfileArgs, ReportFormat,
    RunArgs,
};
use crate::diff::tolerance::{non_negative, parse_column_tolerance};
use crate::diff::{DiffOptions, StringRule, Tolerance};
use crate::error::{Error, Result};
use crate::input::{CsvOptions, FileFormat, TableRef, TableSource};
use crate::project::{self, Project};
use crate::rules::{self, DiffNeeds, RuleSet};

/// Everything `dualrun diff` needs, validated.
#[derive(Debug, Clone)]
pub struct DiffPlan {
    pub left: TableSource,
    pub right: TableSource,
    pub name: String,
    pub options: DiffOptions,
    pub judge: JudgePlan,
    pub output: OutputPlan,
    /// The Ballista cluster to run the diff on; `None`: this process.
    pub cluster: Option<ClusterUrl>,
}

/// The rules a diff is judged by.
#[derive(Debug, Clone)]
pub struct JudgePlan {
    pub rules: RuleSet,
    pub strict: bool,
}

pub fn judge_plan(args: &JudgeArgs) -> Result<JudgePlan> {
    rules_plan(&args.rules, args.strict)
}

/// The rules of `files` (every file parsed now); none: any difference
/// rejects.
fn rules_plan(files: &[PathBuf], strict: bool) -> Result<JudgePlan> {
    let rules = if files.is_empty() {
        RuleSet::any_difference_rejects()
    } else {
        rules::load(files)?
    };
    Ok(JudgePlan { rules, strict })
}

/// Everything `dualrun run` needs, from the project file and the flags,
/// merged once and checked before either side runs.
#[derive(Debug, Clone)]
pub struct RunPlan {
    pub project: Project,
    /// The project's rules files, then `--rules`; strict if either says so.
    pub judge: JudgePlan,
    pub output: OutputPlan,
    /// `--cluster`, else the project's `[cluster] url`; `None`: this process.
    pub cluster: Option<ClusterUrl>,
    /// `--run-dir`, else a new one under the project's `.dualrun/runs/`.
    pub run_dir: PathBuf,
    pub snapshot_inputs: bool,
    /// `--keep-sides`: what dbt sides built outlives the run.
    pub keep_sides: bool,
    /// Column statistics and drift for every output.
    pub stats: bool,
    /// Sample rows per class in reports (0 with `--no-samples`).
    pub sample: usize,
    /// `--publish-to`: where an approved run goes live.
    /// `--publish-to`, checked to be a target.
    pub publish_to: Option<String>,
}

pub fn run_plan(args: &RunArgs) -> Result<RunPlan> {
    let project = project::load(&args.project)?;
    let output = output_plan(&args.output)?;
    let mut rule_files = project.rules.clone();
    rule_files.extend(args.judge.rules.iter().cloned());
    let judge = rules_plan(&rule_files, args.judge.strict || project.strict)?;
    // A rule about an output the project does not declare would only fail
    // after both sides ran. A dbt side's outputs are known only once it
    // ran: its names are checked then.
    if !project.has_dbt_side() {
        let declared: Vec<&str> = project.outputs.keys().map(String::as_str).collect();
        rules::check_table_names(&judge.rules, &declared)?;
    }
    let cluster = match &args.compute.cluster {
        Some(url) => Some(ClusterUrl::parse(url, "`--cluster`")?),
        None => project.cluster.clone(),
    };
    // A cluster this build cannot reach fails the run before the sides run.
    crate::backend::choose(cluster.as_ref())?;
    let run_dir = args
        .run_dir
        .clone()
        .unwrap_or_else(|| crate::run_dir::RunDir::default_path(&project.root));
    Ok(RunPlan {
        sample: if output.no_samples {
            0
        } else {
            args.output.sample
        },
        project,
        judge,
        output,
        cluster,
        run_dir,
        snapshot_inputs: args.snapshot_inputs,
        keep_sides: args.keep_sides,
        stats: !args.compute.no_stats,
        publish_to: args
            .publish_to
            .as_deref()
            .map(|spec| crate::publish::target(spec).map(|_| spec.to_string()))
            .transpose()?,
    })
}

/// Everything `dualrun check` needs, validated.
#[derive(Debug, Clone)]
pub struct CheckPlan {
    pub report: PathBuf,
    pub judge: JudgePlan,
    pub output: OutputPlan,
}

pub fn check_plan(args: &CheckArgs) -> Result<CheckPlan> {
    Ok(CheckPlan {
        report: args.report.clone(),
        judge: judge_plan(&args.judge)?,
        output: output_plan(&args.output)?,
    })
}

/// `options` with what the rules need of the diff: their column
/// tolerances and the changed-row counts they read. A rule and `--tol`
/// giving one column two tolerances is refused rather than silently
/// resolved.
pub fn with_rule_needs(options: &DiffOptions, needs: DiffNeeds) -> Result<DiffOptions> {
    let mut options = options.clone();
    for (column, tolerance) in needs.tolerances {
        match options.column_tolerances.get(&column) {
            Some(given) if *given != tolerance => {
                return Err(Error::usage(format!(
                    "`--tol {column}=...` and a `column_match` rule give column `{column}` different tolerances"
                ))
                .with_hint("keep the tolerance in one place: the rule or `--tol`"));
            }
            _ => {
                options.column_tolerances.insert(column, tolerance);
            }
        }
    }
    options.changed_ignoring = needs.changed_ignoring;
    Ok(options)
}

/// Where and how the report goes.
#[derive(Debug, Clone)]
pub struct OutputPlan {
    pub formats: Vec<ReportFormat>,
    pub dir: Option<PathBuf>,
    /// Worker threads; 0 never reaches here.
    pub threads: usize,
    pub quiet: bool,
    pub color: bool,
    pub timings: bool,
    /// Reports show no sample rows (`--no-samples`).
    pub no_samples: bool,
}

/// A table argument, with `TARGET@current/NAME` (or `@RUN_ID`) resolved to
/// the published file, pinned now.
fn published_or(spec: &str) -> Result<String> {
    if let Some(table) = crate::publish::resolve_table(spec)? {
        return Ok(table);
    }
    if spec.contains("://") {
        return Ok(spec.to_string());
    }
    Ok(crate::publish::resolve(spec)?
        .map(|path| path.display().to_string())
        .unwrap_or_else(|| spec.to_string()))
}

/// `--no-header` and `--delimiter`, checked.
fn csv_options(args: &CsvArgs) -> Result<CsvOptions> {
    Ok(CsvOptions {
        has_header: !args.no_header,
        delimiter: args.delimiter.as_deref().map(parse_delimiter).transpose()?,
    })
}

pub fn diff_plan(args: &DiffArgs) -> Result<DiffPlan> {
    let csv = csv_options(&args.csv)?;
    let mut left = TableSource::parse(
        &published_or(&args.left)?,
        parse_format(args.format_left.as_deref(), "--format-left")?,
        csv,
    )?;
    let mut right = TableSource::parse(
        &published_or(&args.right)?,
        parse_format(args.format_right.as_deref(), "--format-right")?,
        csv,
    )?;
    if let Some(filter) = &args.filter {
        if filter.trim().is_empty() {
            return Err(Error::usage("`--where` is empty")
                .with_hint("write a SQL predicate, e.g. `--where \"day = '2026-11-30'\"`"));
        }
        left.filter = Some(filter.clone());
        right.filter = Some(filter.clone());
    }
    let default_tolerance = Tolerance {
        abs: non_negative(args.abs_tol.unwrap_or(0.0), "--abs-tol")?,
        rel: non_negative(args.rel_tol.unwrap_or(0.0), "--rel-tol")?,
        duration_ns: None,
    };
    let mut column_tolerances = BTreeMap::new();
    for spec in &args.tolerances {
        let (column, tolerance) = parse_column_tolerance(spec)?;
        column_tolerances.insert(column, tolerance);
    }
    let renames = args
        .rename
        .iter()
        .map(|spec| parse_rename(spec))
        .collect::<Result<Vec<_>>>()?;
    for column in args.key.iter().chain(&args.ignore) {
        if column.trim().is_empty() {
            return Err(
                Error::usage("`--key` and `--ignore` take non-empty column names")
                    .with_hint("separate several columns with `,`, as in `--key day,region`"),
            );
        }
    }
    // Without a key rows are matched whole, as multisets: no pair of rows
    // is ever compared cell by cell, so a comparison rule could not apply.
    let rules = [
        ("--abs-tol", args.abs_tol.is_some()),
        ("--rel-tol", args.rel_tol.is_some()),
        ("--tol", !args.tolerances.is_empty()),
        ("--trim", args.trim),
        ("--ignore-case", args.ignore_case),
    ];
    if let (true, Some((flag, _))) = (args.key.is_empty(), rules.iter().find(|(_, set)| *set)) {
        return Err(Error::usage(format!(
            "`{flag}` compares paired rows, and a diff without `--key` pairs none (it matches whole rows as multisets)"
        ))
        .with_hint("give the key columns with `--key COLS`; a diff without a key suggests candidates"));
    }
    if let Some(path) = &args.diff_rows {
        if crate::diff::rows_out::RowsFormat::of(path).is_none() {
            return Err(Error::usage(format!(
                "`--diff-rows {}` needs a `.parquet` or `.csv` file",
                path.display()
            ))
            .with_hint("name the file `diff.parquet` or `diff.csv`"));
        }
        if path.exists() {
            return Err(Error::usage(format!(
                "`--diff-rows {}` exists, and dualrun never replaces a file",
                path.display()
            ))
            .with_hint("remove it or choose another path"));
        }
    }
    let options = DiffOptions {
        key: args.key.clone(),
        renames,
        ignore: args.ignore.clone(),
        default_tolerance,
        column_tolerances,
        strings: StringRule {
            trim: args.trim,
            ignore_case: args.ignore_case,
        },
        sample: if args.output.no_samples {
            0
        } else {
            args.output.sample
        },
        stats: !args.compute.no_stats,
        changed_ignoring: Vec::new(),
        diff_rows: args.diff_rows.clone(),
    };
    Ok(DiffPlan {
        name: args
            .name
            .clone()
            .unwrap_or_else(|| table_name_from_spec(&args.right)),
        left,
        right,
        options,
        judge: judge_plan(&args.judge)?,
        output: output_plan(&args.output)?,
        cluster: args
            .compute
            .cluster
            .as_deref()
            .map(|url| ClusterUrl::parse(url, "`--cluster`"))
            .transpose()?,
    })
}

/// Everything `dualrun profile` needs, validated.
#[derive(Debug, Clone)]
pub struct ProfilePlan {
    pub table: TableSource,
    pub name: String,
    /// Columns to profile; empty means all.
    pub columns: Vec<String>,
    pub output: OutputPlan,
}

pub fn profile_plan(args: &ProfileArgs) -> Result<ProfilePlan> {
    if let Some(other) = args
        .output
        .format
        .iter()
        .find(|f| !matches!(f, ReportFormat::Table | ReportFormat::Json))
    {
        return Err(Error::usage(format!(
            "`profile` writes `table` or `json`, not `{}`",
            format!("{other:?}").to_lowercase()
        ))
        .with_hint("use `--format table` or `--format json`"));
    }
    Ok(ProfilePlan {
        table: TableSource::parse(
            &published_or(&args.table)?,
            parse_format(args.table_format.as_deref(), "--table-format")?,
            csv_options(&args.csv)?,
        )?,
        name: table_name_from_spec(&args.table),
        columns: args.columns.clone(),
        output: output_plan(&args.output)?,
    })
}

/// `--threads`, checked; one per core when not given.
pub fn thread_count(threads: Option<usize>) -> Result<usize> {
    match threads {
        Some(0) => Err(Error::usage("`--threads` must be at least 1")
            .with_hint("leave it out to use one thread per core")),
        Some(n) => Ok(n),
        None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
    }
}

pub fn output_plan(args: &OutputArgs) -> Result<OutputPlan> {
    let mut formats = args.format.clone();
    formats.dedup();
    if formats.is_empty() {
        formats.push(ReportFormat::Table);
    }
    if formats.len() > 1 && args.output_dir.is_none() {
        return Err(
            Error::usage("several `--format` values need a directory to write them to")
                .with_hint("add `--output-dir DIR`"),
        );
    }
    let threads = thread_count(args.threads)?;
    let color = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stdout().is_terminal()
        }
    };
    Ok(OutputPlan {
        formats,
        dir: args.output_dir.clone(),
        threads,
        quiet: args.quiet,
        color,
        timings: args.timings,
        no_samples: args.no_samples,
    })
}

fn parse_format(value: Option<&str>, flag: &str) -> Result<Option<FileFormat>> {
    value
        .map(|name| {
            FileFormat::from_name(name).ok_or_else(|| {
                Error::usage(format!("`{flag}` does not know the format `{name}`"))
                    .with_hint(format!("use one of {}", FileFormat::NAMES))
            })
        })
        .transpose()
}

fn parse_delimiter(text: &str) -> Result<u8> {
    match text {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        _ if text.len() == 1 && text.is_ascii() => Ok(text.as_bytes()[0]),
        _ => Err(Error::usage(format!(
            "`--delimiter` takes one ASCII character, not `{text}`"
        ))
        .with_hint("write `--delimiter ';'` or `--delimiter tab`")),
    }
}

fn parse_rename(spec: &str) -> Result<(String, String)> {
    match spec.split_once('=') {
        Some((old, new)) if !old.is_empty() && !new.is_empty() => {
            Ok((old.to_string(), new.to_string()))
        }
        _ => Err(
            Error::usage(format!("`--rename {spec}` is not of the form `OLD=NEW`")).with_hint(
                "name the prod column, then the candidate column: `--rename amt=amount`",
            ),
        ),
    }
}

/// The report name of a table given as a file, a directory or a glob: the
/// stem of the last path component that holds no wildcard.
pub fn table_name_from_spec(spec: &str) -> String {
    TableRef::parse(spec).map_or_else(|_| "table".to_string(), |r| r.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_come_from_the_last_literal_component() {
        assert_eq!(table_name_from_spec("data/orders.parquet"), "orders");
        assert_eq!(table_name_from_spec("data/orders/*.parquet"), "orders");
        assert_eq!(table_name_from_spec("data/orders/"), "orders");
        assert_eq!(table_name_from_spec("*.csv"), "table");
    }

    #[test]
    fn delimiters_parse() {
        assert_eq!(parse_delimiter(";").unwrap(), b';');
        assert_eq!(parse_delimiter("tab").unwrap(), b'\t');
        assert!(parse_delimiter(";;").is_err());
    }
}
