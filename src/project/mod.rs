//! The project file, `dualrun.toml`: a strict serde shape (unknown fields
//! are errors), then a validated plan where every path is resolved against
//! the project's directory and every choice is checked, with errors naming
//! the field and the valid choices.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

mod side;
mod starter;

use side::{RawSide, Section, side};
pub use starter::{STARTER, STARTER_RULES};

use crate::backend::ClusterUrl;
use crate::diff::Tolerance;
use crate::diff::tolerance::parse_column_tolerance;
use crate::error::{Error, Result};
use crate::input::{TableSource, mask};
use crate::sides::Sides;

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
    #[serde(default)]
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

impl Project {
    /// Whether a side is a dbt project, whose outputs are known once it ran.
    pub fn has_dbt_side(&self) -> bool {
        self.sides.values().any(SidePlan::is_dbt)
    }
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
    /// A dbt project, built by dbt into a location of the side's own; its
    /// outputs are what dbt built, read from its artifacts.
    Dbt(DbtPlan),
}

/// `engine = "dbt"`: how the side runs dbt.
#[derive(Debug, Clone, PartialEq)]
pub struct DbtPlan {
    /// Holds `dbt_project.yml`.
    pub project_dir: PathBuf,
    /// Holds the `profiles.yml` the side's target is copied from.
    pub profiles_dir: PathBuf,
    /// Where relative paths of the profile (a DuckDB file) start: the
    /// working tree's dbt project, also for a side taken from a git
    /// revision, since the user's database is seldom committed.
    pub profile_root: PathBuf,
    /// `None`: the profile `dbt_project.yml` names.
    pub profile: Option<String>,
    /// `None`: the profile's default target.
    pub target: Option<String>,
    /// `build`, or the commands in order (`seed`, `run`).
    pub commands: Vec<String>,
    pub select: Vec<String>,
    pub exclude: Vec<String>,
    /// `--vars`, as JSON.
    pub vars: Option<String>,
    pub threads: Option<u32>,
    /// Passed to every command as they are.
    pub args: Vec<String>,
    pub executable: String,
    /// For all the side's commands together.
    pub timeout: Duration,
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
            // The profiles stay the working tree's: they hold the user's
            // credentials, seldom committed.
            SidePlan::Dbt(dbt) => SidePlan::Dbt(DbtPlan {
                project_dir: move_path(&dbt.project_dir),
                ..dbt.clone()
            }),
        }
    }

    pub fn is_dbt(&self) -> bool {
        matches!(self, SidePlan::Dbt(_))
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
            SidePlan::Dbt(_) => "dbt",
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

const ENGINES: &str = "`datafusion`, `polars`, `command`, `files`, `dbt`";

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
        let spec = crate::publish::resolve_table(&spec)?.unwrap_or(spec);
        let source = TableSource::parse(&spec, None, Default::default())
            .map_err(|e| bad(format!("`inputs.{name}`: {e}")).with_hint(INPUT_KINDS))?;
        let source = anchored(source, root)?;
        inputs.insert(name, source);
    }
    let sides = Sides::new(raw.prod, raw.candidate);
    let git = sides.as_ref().map(|raw| raw.git.clone());
    let sides = sides.try_map_sides(|name, raw| side(file, name, raw, root))?;
    let dbt = sides.values().any(SidePlan::is_dbt);
    let outputs = declared_outputs(raw.outputs, dbt, &bad)?;
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
        sides,
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
    dbt: bool,
    bad: &dyn Fn(String) -> Error,
) -> Result<BTreeMap<String, DeclaredOutput>> {
    // A dbt side names its outputs itself: `[outputs.NAME]` then only
    // overrides how one is diffed.
    if raw.is_empty() && !dbt {
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
        if output.key.is_empty() && !tolerances.is_empty() && !dbt {
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
            (
                "[prod]\nengine = \"files\"\noutputs_dir = \"p\"\nselect = \"x\"\n",
                "has `select`, which the `files` engine does not take",
            ),
            (
                "[prod]\nengine = \"dbt\"\ncommand = \"clean\"\n",
                "has the dbt command `clean`",
            ),
            (
                "[prod]\nengine = \"dbt\"\nrun = \"dbt build\"\n",
                "has `run`, which the `dbt` engine does not take",
            ),
            (
                "[prod]\nengine = \"dbt\"\nthreads = 0\n",
                "has `threads = 0`",
            ),
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
    fn dbt_sides_need_no_outputs_and_take_dbt_settings() {
        let text = r#"
[prod]
engine = "dbt"
git = "origin/main"

[candidate]
engine = "dbt"
project_dir = "transform"
profiles_dir = "ci"
target = "ci"
command = ["seed", "run"]
select = ["marts+", "tag:daily"]
vars = { start = "2026-01-01", days = 3 }
threads = 4
args = ["--full-refresh"]
executable = "/venv/bin/dbt"
timeout = "20m"

[outputs.orders]
tolerance = { amount = "abs:0.01" }
"#;
        let project = parse("dualrun.toml", text, Path::new("/p")).unwrap();
        assert!(project.has_dbt_side());
        let SidePlan::Dbt(candidate) = &project.sides.candidate else {
            panic!("{:?}", project.sides.candidate)
        };
        assert_eq!(candidate.project_dir, Path::new("/p/transform"));
        assert_eq!(candidate.profiles_dir, Path::new("/p/ci"));
        assert_eq!(candidate.commands, ["seed", "run"]);
        assert_eq!(candidate.select, ["marts+", "tag:daily"]);
        assert_eq!(
            candidate.vars.as_deref(),
            Some(r#"{"days":3,"start":"2026-01-01"}"#)
        );
        assert_eq!(candidate.timeout, Duration::from_secs(1200));
        let SidePlan::Dbt(prod) = &project.sides.prod else {
            panic!("{:?}", project.sides.prod)
        };
        assert_eq!(prod.commands, ["build"]);
        assert_eq!(prod.executable, "dbt");
        assert_eq!(project.git.prod.as_deref(), Some("origin/main"));
        // The key of `orders` comes from its dbt project.
        assert!(project.outputs["orders"].key.is_empty());
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
