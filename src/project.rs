//! The project file, `dualrun.toml`: a strict serde shape (unknown fields
//! are errors), then a validated plan where every path is resolved against
//! the project's directory and every choice is checked, with errors naming
//! the field and the valid choices.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::backend::ClusterUrl;
use crate::diff::Tolerance;
use crate::diff::tolerance::{parse_column_tolerance, parse_duration_ns};
use crate::error::{Error, Result};
use crate::input::{TableSource, mask};
use crate::sides::{Side, Sides};

/// The file `dualrun run DIR` looks for.
pub const FILE_NAME: &str = "dualrun.toml";

/// How long a `command` side may run unless it says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3600);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProject {
    #[serde(default)]
    inputs: BTreeMap<String, RawInput>,
    prod: RawSide,
    candidate: RawSide,
    outputs: BTreeMap<String, RawOutput>,
    #[serde(default)]
    check: RawCheck,
    cluster: Option<RawCluster>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCluster {
    url: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawInput {
    Path(String),
    Table(RawInputTable),
}

/// `{ path = "..." }`, or `{ url = "postgres://...", table = "s.t" }` (or
/// `query = "SELECT ..."`): the same references as a string, in parts.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInputTable {
    path: Option<String>,
    url: Option<String>,
    table: Option<String>,
    query: Option<String>,
}

impl RawInputTable {
    /// The reference as one string, or what is wrong with the parts.
    fn spec(self) -> std::result::Result<String, &'static str> {
        match (self.path, self.url, self.table, self.query) {
            (Some(path), None, None, None) => Ok(path),
            (None, Some(url), table, query) => {
                let mut parsed =
                    url::Url::parse(&url).map_err(|_| "has a `url` that is not a URL")?;
                for (name, value) in [("table", table), ("query", query)] {
                    if let Some(value) = value {
                        parsed.query_pairs_mut().append_pair(name, &value);
                    }
                }
                Ok(parsed.to_string())
            }
            (Some(_), Some(_), _, _) => Err("has both `path` and `url`"),
            (None, None, _, _) => Err("has neither `path` nor `url`"),
            (Some(_), None, _, _) => Err("has `table` or `query` without `url`"),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSide {
    engine: Option<String>,
    run: Option<String>,
    workdir: Option<String>,
    timeout: Option<String>,
    outputs_dir: Option<String>,
    outputs_at: Option<String>,
    models: Option<RawFolders>,
    git: Option<String>,
}

/// One folder, or several where later ones override earlier ones.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawFolders {
    One(String),
    Several(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutput {
    #[serde(default)]
    key: Vec<String>,
    #[serde(default)]
    ignore: Vec<String>,
    /// Column -> `abs:0.01`, `rel:1e-6`, `dur:5s` (as `--tol` takes them).
    #[serde(default)]
    tolerance: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    #[serde(default)]
    rules: Vec<String>,
    #[serde(default)]
    strict: bool,
}

/// A validated project.
#[derive(Debug, Clone)]
pub struct Project {
    /// The directory holding `dualrun.toml`; relative paths start here.
    pub root: PathBuf,
    pub file: PathBuf,
    /// Input name -> the table: an absolute path, directory or glob, or a
    /// database table or objects in a bucket.
    pub inputs: BTreeMap<String, TableSource>,
    /// How each side produces its outputs.
    pub sides: Sides<SidePlan>,
    /// The git revision each side's files are taken from (`None`: the
    /// working tree).
    pub git: Sides<Option<String>>,
    pub outputs: BTreeMap<String, DeclaredOutput>,
    pub rules: Vec<PathBuf>,
    pub strict: bool,
    /// `[cluster] url`: the Ballista cluster the outputs are diffed on.
    pub cluster: Option<ClusterUrl>,
}

/// How one side produces its outputs.
#[derive(Debug, Clone, PartialEq)]
pub enum SidePlan {
    /// Folders of `NAME.sql` models run by an embedded SQL engine; a model
    /// in a later folder replaces the one of the same name in an earlier one.
    Sql {
        engine: SqlEngine,
        models: Vec<PathBuf>,
    },
    /// A program run with `sh -c`, writing `NAME.parquet` (or csv/ndjson)
    /// per output into `$DUALRUN_OUTPUT_DIR`.
    Command {
        run: String,
        workdir: PathBuf,
        timeout: Duration,
        /// `outputs_at`: the program writes its outputs there instead.
        outputs_at: Option<OutputTables>,
    },
    /// Outputs already written elsewhere.
    Files { outputs: OutputsAt },
}

/// Where a side's outputs are found once it ran.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputsAt {
    /// `outputs_dir`: `NAME.parquet` (or another format, or `NAME/`) in a
    /// local folder.
    Dir(PathBuf),
    /// `outputs_at`: one table reference per output.
    Tables(OutputTables),
}

/// `outputs_at = "postgres://...?table=ci.{name}"`: any table reference
/// with `{name}` where each output's name goes.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputTables {
    template: String,
    root: PathBuf,
}

impl OutputTables {
    const NAME: &'static str = "{name}";

    fn parse(section: &Section, template: String, root: &Path) -> Result<Self> {
        if !template.contains(Self::NAME) {
            return Err(section.bad(
                format!("has `outputs_at = \"{}\"`, which has no `{{name}}`", mask(&template)),
                "write where each output is, with `{name}` for its name, e.g. `outputs_at = \"postgres://ci@db/shop?table=ci.{name}\"`",
            ));
        }
        let tables = OutputTables {
            template,
            root: root.to_path_buf(),
        };
        // The grammar is checked now; a published version is resolved when
        // the outputs are read.
        let example = tables.template.replace(Self::NAME, "output");
        TableSource::parse(&example, None, Default::default()).map_err(|e| {
            section.bad(
                format!("has an `outputs_at` that is not a table reference: {e}"),
                INPUT_KINDS,
            )
        })?;
        Ok(tables)
    }

    /// The table output `name` is read from.
    pub fn source(&self, name: &str) -> Result<TableSource> {
        let spec = self.template.replace(Self::NAME, name);
        let source = TableSource::parse(&spec, None, Default::default())?;
        anchored(source, &self.root)
    }
}

/// A reference written in the project file, made independent of the
/// working directory: a relative path or database file starts at `root`,
/// and `TARGET@current/...` is the version live now (pinned from then on).
fn anchored(source: TableSource, root: &Path) -> Result<TableSource> {
    match source.reference.local_path() {
        Some(path) => {
            let path = root.join(path);
            let path = crate::publish::resolve(&path.display().to_string())?.unwrap_or(path);
            Ok(TableSource::of_path(path.display()))
        }
        None => {
            let reference = source.reference.relative_to(root);
            Ok(TableSource {
                spec: reference.shown(),
                reference,
                ..source
            })
        }
    }
}

impl SidePlan {
    /// The same side with its paths under `from` moved under `to` (a git
    /// worktree of the repository at `from`).
    pub fn rebased(&self, from: &Path, to: &Path) -> SidePlan {
        let move_path = |p: &Path| match p.strip_prefix(from) {
            Ok(relative) => to.join(relative),
            Err(_) => p.to_path_buf(),
        };
        match self {
            SidePlan::Sql { engine, models } => SidePlan::Sql {
                engine: *engine,
                models: models.iter().map(|m| move_path(m)).collect(),
            },
            SidePlan::Command {
                run,
                workdir,
                timeout,
                outputs_at,
            } => SidePlan::Command {
                run: run.clone(),
                workdir: move_path(workdir),
                timeout: *timeout,
                outputs_at: outputs_at.clone(),
            },
            SidePlan::Files {
                outputs: OutputsAt::Dir(dir),
            } => SidePlan::Files {
                outputs: OutputsAt::Dir(move_path(dir)),
            },
            // Tables elsewhere are not in the repository.
            SidePlan::Files { outputs } => SidePlan::Files {
                outputs: outputs.clone(),
            },
        }
    }

    /// The tables the side's outputs are read from, when it names them
    /// with `outputs_at` instead of a folder.
    pub fn output_tables(&self) -> Option<&OutputTables> {
        match self {
            SidePlan::Command { outputs_at, .. } => outputs_at.as_ref(),
            SidePlan::Files {
                outputs: OutputsAt::Tables(tables),
            } => Some(tables),
            _ => None,
        }
    }

    pub fn engine(&self) -> &'static str {
        match self {
            SidePlan::Sql { engine, .. } => engine.name(),
            SidePlan::Command { .. } => "command",
            SidePlan::Files { .. } => "files",
        }
    }
}

/// The embedded engines that run a folder of SQL models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlEngine {
    DataFusion,
    /// Polars' SQL engine (cargo feature `polars`).
    Polars,
}

impl SqlEngine {
    pub fn name(self) -> &'static str {
        match self {
            SqlEngine::DataFusion => "datafusion",
            SqlEngine::Polars => "polars",
        }
    }
}

/// How one output is diffed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DeclaredOutput {
    pub key: Vec<String>,
    pub ignore: Vec<String>,
    pub tolerances: BTreeMap<String, Tolerance>,
}

const ENGINES: &str = "`datafusion`, `polars`, `command`, `files`";

/// Reads `dualrun.toml` from `path` (the file, or a directory holding it).
pub fn load(path: &Path) -> Result<Project> {
    let file = if path.is_dir() {
        path.join(FILE_NAME)
    } else {
        path.to_path_buf()
    };
    let shown = file.display().to_string();
    let text = std::fs::read_to_string(&file).map_err(|e| {
        Error::unreadable(&shown, e).with_hint(
            "run `dualrun init` to write a starter project, or name the project's directory",
        )
    })?;
    // Canonical, so paths compare with what git reports.
    let parent = file.parent().filter(|p| !p.as_os_str().is_empty());
    let root = std::fs::canonicalize(parent.unwrap_or(Path::new(".")))
        .map_err(|e| Error::unreadable(&shown, e))?;
    parse(&shown, &text, &root).map(|mut p| {
        p.file = file;
        p
    })
}

/// Validates a project file's text; `root` resolves relative paths.
pub fn parse(file: &str, text: &str, root: &Path) -> Result<Project> {
    let bad = |message: String| Error::Config {
        file: file.to_string(),
        message,
        hint: None,
    };
    let raw: RawProject = toml::from_str(text).map_err(|e| {
        let at = e
            .span()
            .map(|s| {
                format!(
                    " at line {}",
                    text[..s.start.min(text.len())].matches('\n').count() + 1
                )
            })
            .unwrap_or_default();
        bad(format!("invalid project file{at}: {}", e.message().trim()))
            .with_hint("see `dualrun init` for a commented example")
    })?;
    let resolve = |p: &str| root.join(p);
    let mut inputs = BTreeMap::new();
    for (name, input) in raw.inputs {
        let spec = match input {
            RawInput::Path(path) => path,
            RawInput::Table(table) => table.spec().map_err(|why| {
                bad(format!("`inputs.{name}` {why}")).with_hint(
                    "write `path = \"...\"`, or `url = \"postgres://...\"` with `table` or `query`",
                )
            })?,
        };
        let source = TableSource::parse(&spec, None, Default::default())
            .map_err(|e| bad(format!("`inputs.{name}`: {e}")).with_hint(INPUT_KINDS))?;
        let source = anchored(source, root)?;
        inputs.insert(name, source);
    }
    let outputs = declared_outputs(raw.outputs, &bad)?;
    let git = Sides::new(raw.prod.git.clone(), raw.candidate.git.clone());
    for (name, rev) in git.iter() {
        if rev
            .as_deref()
            .is_some_and(|r| r.trim().is_empty() || r.starts_with('-'))
        {
            return Err(bad(format!("`[{name}] git` must name a revision"))
                .with_hint("write a branch, tag or commit, e.g. `git = \"origin/main\"`"));
        }
    }
    let cluster = raw
        .cluster
        .map(|c| ClusterUrl::parse(&c.url, "`[cluster] url`"))
        .transpose()
        .map_err(|e| {
            bad(e.to_string())
                .with_hint("write the scheduler's address, as in `url = \"df://10.0.0.5:50050\"`")
        })?;
    Ok(Project {
        root: root.to_path_buf(),
        file: PathBuf::from(file),
        inputs,
        git,
        sides: Sides::new(raw.prod, raw.candidate)
            .try_map_sides(|name, raw| side(file, name, raw, root))?,
        outputs,
        rules: raw.check.rules.iter().map(|r| resolve(r)).collect(),
        strict: raw.check.strict,
        cluster,
    })
}

/// What an input may be, for hints.
const INPUT_KINDS: &str = "a table is a path, directory or glob, `s3://BUCKET/PREFIX/`, `postgres://USER@HOST:PORT/DB?table=SCHEMA.TABLE`, `sqlite:FILE?table=T` or `duckdb:FILE?table=T`";

/// `[outputs.NAME]`: at least one, each tolerance valid and with a key.
fn declared_outputs(
    raw: BTreeMap<String, RawOutput>,
    bad: &dyn Fn(String) -> Error,
) -> Result<BTreeMap<String, DeclaredOutput>> {
    if raw.is_empty() {
        return Err(bad("`[outputs]` declares no output".to_string())
            .with_hint("add `[outputs.NAME]` with a `key` for each table both sides write"));
    }
    let mut outputs = BTreeMap::new();
    for (name, output) in raw {
        let mut tolerances = BTreeMap::new();
        for (column, spec) in output.tolerance {
            let (_, tolerance) =
                parse_column_tolerance(&format!("{column}={spec}")).map_err(|e| {
                    bad(format!("`outputs.{name}.tolerance.{column}`: {e}"))
                        .with_hint("write `abs:0.01`, `rel:1e-6` or `dur:5s`")
                })?;
            tolerances.insert(column, tolerance);
        }
        if output.key.is_empty() && !tolerances.is_empty() {
            return Err(bad(format!(
                "`outputs.{name}.tolerance` needs a key: without `key` rows are matched whole, so no tolerance can apply"
            ))
            .with_hint(format!("add `key = [...]` to `[outputs.{name}]`")));
        }
        outputs.insert(
            name,
            DeclaredOutput {
                key: output.key,
                ignore: output.ignore,
                tolerances,
            },
        );
    }
    Ok(outputs)
}

fn side(file: &str, name: Side, raw: RawSide, root: &Path) -> Result<SidePlan> {
    let engine = raw
        .engine
        .clone()
        .unwrap_or_else(|| "datafusion".to_string());
    let section = Section {
        file,
        side: name,
        engine: &engine,
    };
    match engine.as_str() {
        "datafusion" => sql_side(&section, SqlEngine::DataFusion, raw, root),
        "polars" if !cfg!(feature = "polars") => Err(section.bad(
            "asks for the `polars` engine, which this build of dualrun leaves out".to_string(),
            "build it with `cargo install --path . --features polars` (a default feature)",
        )),
        "polars" => sql_side(&section, SqlEngine::Polars, raw, root),
        "command" => command_side(&section, raw, root),
        "files" => files_side(&section, raw, root),
        other => Err(section.bad(
            format!("has the unknown engine `{other}`"),
            &format!("use one of {ENGINES}"),
        )),
    }
}

/// One side's section of the project file, for its errors.
struct Section<'a> {
    file: &'a str,
    side: Side,
    engine: &'a str,
}

impl Section<'_> {
    fn bad(&self, message: String, hint: &str) -> Error {
        Error::Config {
            file: self.file.to_string(),
            message: format!("`[{}]` {message}", self.side),
            hint: Some(hint.to_string()),
        }
    }

    /// Refuses the first of `fields` that is present: the engine does not
    /// take it.
    fn refuse(&self, fields: &[(&str, bool)]) -> Result<()> {
        match fields.iter().find(|(_, present)| *present) {
            Some((field, _)) => Err(self.bad(
                format!(
                    "has `{field}`, which the `{}` engine does not take",
                    self.engine
                ),
                "remove it, or choose the engine that takes it",
            )),
            None => Ok(()),
        }
    }
}

fn sql_side(section: &Section, engine: SqlEngine, raw: RawSide, root: &Path) -> Result<SidePlan> {
    section.refuse(&[
        ("run", raw.run.is_some()),
        ("timeout", raw.timeout.is_some()),
        ("workdir", raw.workdir.is_some()),
        ("outputs_dir", raw.outputs_dir.is_some()),
        ("outputs_at", raw.outputs_at.is_some()),
    ])?;
    let models = raw.models.ok_or_else(|| {
        section.bad(
            "has no `models`".to_string(),
            "name the folder of `NAME.sql` models, e.g. `models = \"models\"`",
        )
    })?;
    let folders = match models {
        RawFolders::One(folder) => vec![folder],
        RawFolders::Several(folders) if !folders.is_empty() => folders,
        RawFolders::Several(_) => {
            return Err(section.bad(
                "has an empty `models` list".to_string(),
                "name at least one folder of `NAME.sql` models",
            ));
        }
    };
    Ok(SidePlan::Sql {
        engine,
        models: folders.iter().map(|f| root.join(f)).collect(),
    })
}

fn command_side(section: &Section, raw: RawSide, root: &Path) -> Result<SidePlan> {
    section.refuse(&[
        ("outputs_dir", raw.outputs_dir.is_some()),
        ("models", raw.models.is_some()),
    ])?;
    let run = raw.run.filter(|r| !r.trim().is_empty()).ok_or_else(|| {
        section.bad(
            "has no `run`".to_string(),
            "give the command that builds the outputs, e.g. `run = \"python3 build.py\"`",
        )
    })?;
    let timeout = match raw.timeout.as_deref() {
        None => DEFAULT_TIMEOUT,
        Some(text) => parse_duration_ns(text)
            .filter(|ns| *ns > 0)
            .map(|ns| Duration::from_nanos(ns as u64))
            .ok_or_else(|| {
                section.bad(
                    format!("has the timeout `{text}`, which is not a duration"),
                    "write a duration like `90s`, `10m` or `1h`",
                )
            })?,
    };
    let outputs_at = raw
        .outputs_at
        .map(|template| OutputTables::parse(section, template, root))
        .transpose()?;
    Ok(SidePlan::Command {
        run,
        workdir: root.join(raw.workdir.as_deref().unwrap_or(".")),
        timeout,
        outputs_at,
    })
}

fn files_side(section: &Section, raw: RawSide, root: &Path) -> Result<SidePlan> {
    section.refuse(&[
        ("run", raw.run.is_some()),
        ("models", raw.models.is_some()),
        ("timeout", raw.timeout.is_some()),
        ("workdir", raw.workdir.is_some()),
    ])?;
    let outputs = match (raw.outputs_dir, raw.outputs_at) {
        (Some(dir), None) => OutputsAt::Dir(root.join(dir)),
        (None, Some(template)) => OutputsAt::Tables(OutputTables::parse(section, template, root)?),
        (Some(_), Some(_)) => {
            return Err(section.bad(
                "has both `outputs_dir` and `outputs_at`".to_string(),
                "keep the one that says where the outputs are",
            ));
        }
        (None, None) => {
            return Err(section.bad(
                "has no `outputs_dir` or `outputs_at`".to_string(),
                "name the directory holding the side's `NAME.parquet` files, or `outputs_at = \"...{name}...\"` for tables elsewhere",
            ));
        }
    };
    Ok(SidePlan::Files { outputs })
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_starter_project_is_valid() {
        let project = parse("dualrun.toml", STARTER, Path::new("/p")).unwrap();
        assert_eq!(project.sides.prod.engine(), "files");
        assert_eq!(
            project.outputs["daily_revenue"].tolerances["revenue"].abs,
            0.01
        );
        assert_eq!(project.rules, vec![PathBuf::from("/p/rules.toml")]);
        crate::rules::parse("rules.toml", STARTER_RULES).unwrap();
    }

    #[test]
    fn bad_projects_name_the_field() {
        for (text, needle) in [
            ("[prod]\nengine = \"spark\"\n", "unknown engine `spark`"),
            (
                "[prod]\nengine = \"files\"\nrun = \"x\"\n",
                "has `run`, which the `files` engine does not take",
            ),
            ("[prod]\nengine = \"command\"\n", "has no `run`"),
            (
                "[prod]\nengine = \"command\"\nrun = \"x\"\ntimeout = \"soon\"\n",
                "not a duration",
            ),
            (
                "[prod]\nmodels = \"m\"\nrun = \"x\"\n",
                "has `run`, which the `datafusion` engine does not take",
            ),
            ("[prod]\nengine = \"datafusion\"\n", "has no `models`"),
        ] {
            let full = format!(
                "{text}\n[candidate]\nengine = \"files\"\noutputs_dir = \"c\"\n[outputs.t]\nkey = [\"id\"]\n"
            );
            let error = parse("dualrun.toml", &full, Path::new("/p")).unwrap_err();
            assert!(error.to_string().contains(needle), "{error}");
        }
        let typo = "[prod]\nengine = \"files\"\noutput_dir = \"p\"\n";
        let error = parse("dualrun.toml", typo, Path::new("/p")).unwrap_err();
        assert!(error.to_string().contains("output_dir"), "{error}");
    }

    #[test]
    fn a_cluster_url_is_checked_and_kept() {
        let with = |cluster: &str| format!("{STARTER}\n[cluster]\n{cluster}\n");
        let project = parse(
            "dualrun.toml",
            &with("url = \"df://10.0.0.5:50050\""),
            Path::new("/p"),
        )
        .unwrap();
        assert_eq!(
            project.cluster.map(|c| c.to_string()).as_deref(),
            Some("df://10.0.0.5:50050")
        );
        let error =
            parse("dualrun.toml", &with("url = \"10.0.0.5\""), Path::new("/p")).unwrap_err();
        assert!(
            error.to_string().contains("`[cluster] url` `10.0.0.5`"),
            "{error}"
        );
        assert!(error.hint().unwrap().contains("df://"), "{error}");
        let error = parse("dualrun.toml", &with("address = \"x\""), Path::new("/p")).unwrap_err();
        assert!(error.to_string().contains("address"), "{error}");
        assert!(
            parse("dualrun.toml", STARTER, Path::new("/p"))
                .unwrap()
                .cluster
                .is_none()
        );
    }
}
