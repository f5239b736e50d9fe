//! One side's section of the project file: the raw shape every engine
//! shares (unknown fields are errors), and one function per engine that
//! validates what it takes and refuses what it does not.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::{DEFAULT_TIMEOUT, DbtPlan, ENGINES, OutputTables, OutputsAt, SidePlan, SqlEngine};
use crate::diff::tolerance::parse_duration_ns;
use crate::error::{Error, Result};
use crate::sides::Side;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSide {
    engine: Option<String>,
    run: Option<String>,
    workdir: Option<String>,
    timeout: Option<String>,
    outputs_dir: Option<String>,
    outputs_at: Option<String>,
    models: Option<RawFolders>,
    pub(super) git: Option<String>,
    // `engine = "dbt"`
    project_dir: Option<String>,
    profiles_dir: Option<String>,
    profile: Option<String>,
    target: Option<String>,
    command: Option<RawFolders>,
    select: Option<RawFolders>,
    exclude: Option<RawFolders>,
    vars: Option<toml::Table>,
    threads: Option<u32>,
    args: Option<Vec<String>>,
    executable: Option<String>,
}

/// One word, or several: model folders (later ones override earlier
/// ones), dbt commands, selectors.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawFolders {
    One(String),
    Several(Vec<String>),
}

pub(super) fn side(file: &str, name: Side, raw: RawSide, root: &Path) -> Result<SidePlan> {
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
        "dbt" => dbt_side(&section, raw, root),
        other => Err(section.bad(
            format!("has the unknown engine `{other}`"),
            &format!("use one of {ENGINES}"),
        )),
    }
}

/// One side's section of the project file, for its errors.
pub(super) struct Section<'a> {
    file: &'a str,
    side: Side,
    engine: &'a str,
}

impl Section<'_> {
    pub(super) fn bad(&self, message: String, hint: &str) -> Error {
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
    section.refuse(&raw.dbt_fields())?;
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
    let folders = words(Some(models)).unwrap_or_default();
    if folders.is_empty() {
        return Err(section.bad(
            "has an empty `models` list".to_string(),
            "name at least one folder of `NAME.sql` models",
        ));
    }
    Ok(SidePlan::Sql {
        engine,
        models: folders.iter().map(|f| root.join(f)).collect(),
    })
}

fn command_side(section: &Section, raw: RawSide, root: &Path) -> Result<SidePlan> {
    section.refuse(&raw.dbt_fields())?;
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
    let timeout = timeout(section, raw.timeout.as_deref())?;
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
    section.refuse(&raw.dbt_fields())?;
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

/// `timeout`, or the default.
fn timeout(section: &Section, text: Option<&str>) -> Result<Duration> {
    let Some(text) = text else {
        return Ok(DEFAULT_TIMEOUT);
    };
    parse_duration_ns(text)
        .filter(|ns| *ns > 0)
        .map(|ns| Duration::from_nanos(ns as u64))
        .ok_or_else(|| {
            section.bad(
                format!("has the timeout `{text}`, which is not a duration"),
                "write a duration like `90s`, `10m` or `1h`",
            )
        })
}

impl RawSide {
    /// The fields only `engine = "dbt"` takes, and whether each is here.
    fn dbt_fields(&self) -> [(&'static str, bool); 11] {
        [
            ("project_dir", self.project_dir.is_some()),
            ("profiles_dir", self.profiles_dir.is_some()),
            ("profile", self.profile.is_some()),
            ("target", self.target.is_some()),
            ("command", self.command.is_some()),
            ("select", self.select.is_some()),
            ("exclude", self.exclude.is_some()),
            ("vars", self.vars.is_some()),
            ("threads", self.threads.is_some()),
            ("args", self.args.is_some()),
            ("executable", self.executable.is_some()),
        ]
    }
}

/// The dbt commands a side may run: each builds or tests relations in the
/// side's own location, and none removes anything of the user's.
const DBT_COMMANDS: [&str; 5] = ["build", "run", "seed", "snapshot", "test"];

fn dbt_side(section: &Section, raw: RawSide, root: &Path) -> Result<SidePlan> {
    section.refuse(&[
        ("run", raw.run.is_some()),
        ("models", raw.models.is_some()),
        ("workdir", raw.workdir.is_some()),
        ("outputs_dir", raw.outputs_dir.is_some()),
        ("outputs_at", raw.outputs_at.is_some()),
    ])?;
    let project_dir = root.join(raw.project_dir.as_deref().unwrap_or("."));
    let commands = words(raw.command).unwrap_or_else(|| vec!["build".to_string()]);
    if commands.is_empty() {
        return Err(section.bad(
            "has an empty `command` list".to_string(),
            "leave `command` out to run `dbt build`, or list commands, e.g. `command = [\"seed\", \"run\"]`",
        ));
    }
    if let Some(other) = commands
        .iter()
        .find(|c| !DBT_COMMANDS.contains(&c.as_str()))
    {
        return Err(section.bad(
            format!("has the dbt command `{other}`, which builds nothing to diff"),
            &format!("use {}", DBT_COMMANDS.map(|c| format!("`{c}`")).join(", ")),
        ));
    }
    let vars = raw
        .vars
        .map(|vars| serde_json::to_string(&vars))
        .transpose()
        .map_err(|e| {
            section.bad(
                format!("has `vars` dbt cannot take ({e})"),
                "write a table of values, e.g. `vars = { start_date = \"2026-01-01\" }`",
            )
        })?;
    if raw.threads == Some(0) {
        return Err(section.bad(
            "has `threads = 0`".to_string(),
            "give dbt at least one thread, or leave `threads` out for the profile's",
        ));
    }
    Ok(SidePlan::Dbt(DbtPlan {
        profiles_dir: profiles_dir(raw.profiles_dir.as_deref(), root, &project_dir),
        profile_root: project_dir.clone(),
        project_dir,
        profile: raw.profile,
        target: raw.target,
        commands,
        select: words(raw.select).unwrap_or_default(),
        exclude: words(raw.exclude).unwrap_or_default(),
        vars,
        threads: raw.threads,
        args: raw.args.unwrap_or_default(),
        executable: raw.executable.unwrap_or_else(|| "dbt".to_string()),
        timeout: timeout(section, raw.timeout.as_deref())?,
    }))
}

fn words(raw: Option<RawFolders>) -> Option<Vec<String>> {
    raw.map(|words| match words {
        RawFolders::One(word) => vec![word],
        RawFolders::Several(words) => words,
    })
}

/// Where dbt would look for `profiles.yml`, resolved now (so a side taken
/// from a git revision uses the credentials of the working tree): the
/// side's `profiles_dir`, `DBT_PROFILES_DIR`, the dbt project's folder
/// when it has one, then `~/.dbt`.
fn profiles_dir(configured: Option<&str>, root: &Path, project_dir: &Path) -> PathBuf {
    if let Some(dir) = configured {
        return root.join(dir);
    }
    if let Some(dir) = std::env::var_os("DBT_PROFILES_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if project_dir.join("profiles.yml").is_file() {
        return project_dir.to_path_buf();
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    home.join(".dbt")
}
