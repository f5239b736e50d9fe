//! `engine = "dbt"`: a dbt project built by the user's own dbt, isolated
//! from the user's relations and from the other side. The side's
//! `profiles.yml` is a copy of the chosen target with only the location
//! changed (`dbt::profile`), and dbt runs with `--profiles-dir`,
//! `--target-path` and `--log-path` in the run directory, so the user's
//! `target/` and `logs/` are untouched; what it built is read from its
//! artifacts (`dbt::manifest`) and becomes the side's outputs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use super::{LOG_TAIL, SideError, command};
use crate::dbt::profile::{self, Adapter, SideLocation, Target};
use crate::dbt::{Artifacts, SideBuild, manifest};
use crate::project::DbtPlan;
use crate::report::{ModelRun, SideRun};
use crate::run_dir::RunDir;
use crate::sides::Side;

/// The oldest dbt whose artifacts carry every field dualrun reads.
pub const OLDEST: (u32, u32) = (1, 5);

/// Builds the side: dbt's commands in order, then what they built read
/// from the artifacts. `run` receives the version, the log, the outputs
/// (each built relation, by its dbt name) and the models' DAG. Once the
/// side's location exists it comes back with any failure, to be removed.
pub fn build(
    plan: &DbtPlan,
    side: Side,
    run_dir: &RunDir,
    run: &mut SideRun,
) -> Result<Arc<SideBuild>, BuildFailure> {
    let python = python_beside(&plan.executable);
    run.engine_version = Some(version(&plan.executable, python.as_deref())?);
    if let Some(python) = python {
        // dbt-duckdb's Python has the DuckDB module the outputs are read with.
        #[cfg(feature = "duckdb")]
        crate::input::duckdb::prefer_python(python);
        #[cfg(not(feature = "duckdb"))]
        let _ = python;
    }
    let target = target(plan)?;
    let dir = run_dir.dbt_dir(side);
    let location = prepare_location(&target, &dir, run_dir, side)?;
    let mut build = SideBuild {
        artifacts: Artifacts::default(),
        target,
        location,
    };
    let log = run_dir.log(side);
    run.log = Some(log.display().to_string());
    match run_commands(plan, &dir, &log, &mut build).and_then(|()| outputs(&build, run)) {
        Ok(()) => Ok(Arc::new(build)),
        Err(error) => {
            run.log_tail = command::tail(&log, LOG_TAIL);
            Err(BuildFailure {
                error,
                built: Some(Arc::new(build)),
            })
        }
    }
}

/// Runs the side's dbt commands in order, gathering their artifacts into
/// `build`; a node that failed to build fails the side.
fn run_commands(
    plan: &DbtPlan,
    dir: &Path,
    log: &Path,
    build: &mut SideBuild,
) -> Result<(), SideError> {
    let started = Instant::now();
    let (profiles, mut env) = build
        .target
        .write_for_side(dir, &build.location)
        .map_err(|e| SideError::Dbt(e.to_string()))?;
    // A plain log, and no usage report to dbt Labs from a CI job, unless
    // the user's environment says otherwise.
    for (variable, value) in [
        ("DBT_USE_COLORS", "false"),
        ("DBT_SEND_ANONYMOUS_USAGE_STATS", "false"),
    ] {
        if std::env::var_os(variable).is_none() {
            env.push((variable.to_string(), value.to_string()));
        }
    }
    let invocation = Invocation {
        project_dir: plan.project_dir.clone(),
        profiles_dir: profiles.parent().unwrap_or(dir).to_path_buf(),
        target_path: dir.join("target"),
        log_path: dir.join("logs"),
    };
    for command in &plan.commands {
        let script = invocation.script(plan, command);
        let left = plan.timeout.saturating_sub(started.elapsed());
        let ran = command::run(&script, &plan.project_dir, left, &env, dir, log);
        // dbt exits with 1 when a node or a test failed: its artifacts say
        // which, and a failing test is a finding, not a failed side.
        let read = match &ran {
            Ok(()) | Err(SideError::Exited { code: 1, .. }) => {
                manifest::read(&invocation.target_path).ok()
            }
            Err(_) => None,
        };
        match (ran, read) {
            (_, Some(later)) => build.artifacts.absorb(later),
            (Err(error), None) => return Err(error),
            (Ok(()), None) => {
                return Err(SideError::Dbt(format!(
                    "`dbt {command}` wrote no artifacts dualrun can read into `{}`",
                    invocation.target_path.display()
                )));
            }
        }
        if !build.artifacts.failed.is_empty() {
            return Err(SideError::DbtNodes {
                failed: build.artifacts.failed.clone(),
            });
        }
    }
    if let Some(outside) = build.outside_own_schemas().first() {
        return Err(SideError::Dbt(format!(
            "dbt built `{}` into the schema `{}`, outside the side's own: the project's `generate_schema_name` does not start from `target.schema`, so the side may have written relations it does not own",
            outside.name, outside.schema
        )));
    }
    Ok(())
}

/// Why a model is not diffed.
const EPHEMERAL: &str = "ephemeral: no table";
const NOT_BUILT: &str = "skipped by dbt after an upstream failure";

/// Every node the side built, as an output read from its relation, and
/// as a model of the DAG.
fn outputs(build: &SideBuild, run: &mut SideRun) -> Result<(), SideError> {
    let artifacts = &build.artifacts;
    for name in &artifacts.ephemeral {
        run.skipped.insert(name.clone(), EPHEMERAL.to_string());
    }
    for name in &artifacts.skipped {
        run.skipped.insert(name.clone(), NOT_BUILT.to_string());
    }
    for (name, built) in &build.artifacts.built {
        let source = build
            .source(name)
            .expect("a built node has a source")
            .map_err(|e| SideError::Dbt(e.to_string()))?;
        run.outputs.insert(name.clone(), source.spec);
        run.models.insert(
            name.clone(),
            ModelRun {
                reads: built.reads.clone(),
                started_at: String::new(),
                seconds: built.seconds,
            },
        );
    }
    Ok(())
}

/// dbt's version, refused when older than `OLDEST`: dbt-core's package
/// version as the Python beside the executable has it installed, else what
/// `dbt --version` says. The package metadata takes a Python start (tens of
/// milliseconds); `dbt --version` imports dbt and its adapters first (about
/// two seconds of CPU, for each side of every run).
fn version(executable: &str, python: Option<&Path>) -> Result<String, SideError> {
    let installed = match python.and_then(installed_dbt_core) {
        Some(installed) => installed,
        None => version_from_dbt(executable)?,
    };
    let mut parts = installed.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if (major, minor) < OLDEST {
        return Err(SideError::Dbt(format!(
            "dbt {installed} is older than {}.{}, the oldest whose artifacts dualrun reads; upgrade dbt-core and its adapter",
            OLDEST.0, OLDEST.1
        )));
    }
    Ok(format!("dbt {installed}"))
}

/// dbt-core's version from the package metadata of `python`, if it has it.
fn installed_dbt_core(python: &Path) -> Option<String> {
    let output = std::process::Command::new(python)
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('dbt-core'))",
        ])
        .output()
        .ok()?;
    let installed = String::from_utf8_lossy(&output.stdout).trim().to_string();
    (output.status.success() && !installed.is_empty()).then_some(installed)
}

/// dbt's version as `dbt --version` prints it (`installed: 1.11.16`).
fn version_from_dbt(executable: &str) -> Result<String, SideError> {
    let output = std::process::Command::new(executable)
        .arg("--version")
        .output()
        .map_err(|e| {
            SideError::Dbt(format!(
                "cannot run `{executable}` ({e}); install dbt with its adapter (`pip install dbt-core dbt-duckdb`), or name it with `executable = \"...\"`"
            ))
        })?;
    let text = String::from_utf8_lossy(&output.stdout);
    let installed = text
        .lines()
        .find_map(|l| {
            let l = l.trim();
            l.strip_prefix("- installed:")
                .or_else(|| l.strip_prefix("installed version:"))
        })
        .map(str::trim)
        .ok_or_else(|| {
            SideError::Dbt(format!(
                "`{executable} --version` did not say which dbt it is; check that it is dbt-core"
            ))
        })?;
    Ok(installed.to_string())
}

/// The Python of the environment dbt is installed in, if it has one.
fn python_beside(executable: &str) -> Option<PathBuf> {
    let found = if executable.contains('/') {
        let path = PathBuf::from(executable);
        if !path.is_file() {
            return None;
        }
        path
    } else {
        std::env::split_paths(&std::env::var_os("PATH")?)
            .map(|dir| dir.join(executable))
            .find(|p| p.is_file())?
    };
    let python = found.parent()?.join("python");
    python.is_file().then_some(python)
}

/// The target the side copies: the side's `profile` (or the one
/// `dbt_project.yml` names) and `target` (or the profile's default).
fn target(plan: &DbtPlan) -> Result<Target, SideError> {
    let profile = match &plan.profile {
        Some(profile) => profile.clone(),
        None => project_profile(&plan.project_dir)?,
    };
    let target = profile::read(
        &plan.profiles_dir,
        &profile,
        plan.target.as_deref(),
        &plan.profile_root,
    )
    .map_err(|e| match e.hint() {
        Some(hint) => SideError::Dbt(format!("{e}; {hint}")),
        None => SideError::Dbt(e.to_string()),
    })?;
    if matches!(target.adapter, Adapter::Postgres(_)) && !cfg!(feature = "postgres") {
        return Err(SideError::NotBuilt {
            engine: "postgres (for dbt-postgres sides)",
        });
    }
    Ok(target)
}

/// The `profile` of `dbt_project.yml`.
fn project_profile(project_dir: &Path) -> Result<String, SideError> {
    let file = project_dir.join("dbt_project.yml");
    let text = std::fs::read_to_string(&file).map_err(|e| {
        SideError::Dbt(format!(
            "cannot read `{}` ({e}); name the dbt project's folder with `project_dir`",
            file.display()
        ))
    })?;
    let project: serde_json::Value = serde_saphyr::from_str(&text).map_err(|e| {
        SideError::Dbt(format!(
            "`{}` is not YAML dualrun can read ({})",
            file.display(),
            crate::error::first_line(&e.to_string())
        ))
    })?;
    project["profile"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| {
            SideError::Dbt(format!(
                "`{}` names no `profile`; name it with `profile = \"...\"` in the side",
                file.display()
            ))
        })
}

/// The PostgreSQL schema a side builds into: from the run's directory name
/// and the side, as PostgreSQL takes an unquoted identifier (lower case,
/// at most 63 bytes).
fn side_schema(run_dir: &RunDir, side: Side) -> String {
    let run = run_dir
        .root()
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let clean: String = format!("dualrun_{run}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let suffix = format!("_{side}");
    let keep = 63 - suffix.len();
    format!("{}{suffix}", &clean[..clean.len().min(keep)])
}

/// Where this side builds, prepared. DuckDB: a copy of the user's database
/// (so the sources the project reads are there, and nothing of the user's
/// is written), named like it so relations qualified by the database name
/// resolve. PostgreSQL: a schema of the side's own in the same database,
/// which reads the sources where they are.
fn prepare_location(
    target: &Target,
    dir: &Path,
    run_dir: &RunDir,
    side: Side,
) -> Result<SideLocation, SideError> {
    match &target.adapter {
        Adapter::Duckdb { path } => {
            std::fs::create_dir_all(dir)
                .map_err(SideError::io(format!("create `{}`", dir.display())))?;
            let name = path
                .as_ref()
                .and_then(|p| p.file_name())
                .map(|n| n.to_os_string())
                .unwrap_or_else(|| "dbt.duckdb".into());
            let file = dir.join(name);
            if let Some(user) = path.as_ref().filter(|p| p.is_file()) {
                std::fs::copy(user, &file).map_err(SideError::io(format!(
                    "copy `{}` for the side",
                    user.display()
                )))?;
            }
            Ok(SideLocation::DuckdbFile(file))
        }
        Adapter::Postgres(_) => Ok(SideLocation::PostgresSchema(side_schema(run_dir, side))),
    }
}

/// Where one side's dbt reads its settings and writes its artifacts.
struct Invocation {
    project_dir: PathBuf,
    profiles_dir: PathBuf,
    target_path: PathBuf,
    log_path: PathBuf,
}

impl Invocation {
    /// `dbt COMMAND ...` as a shell script, each argument quoted.
    fn script(&self, plan: &DbtPlan, command: &str) -> String {
        let path = |p: &Path| p.display().to_string();
        let mut words: Vec<String> = vec![
            plan.executable.clone(),
            command.to_string(),
            "--project-dir".into(),
            path(&self.project_dir),
            "--profiles-dir".into(),
            path(&self.profiles_dir),
            "--target".into(),
            profile::SIDE_TARGET.into(),
            "--target-path".into(),
            path(&self.target_path),
            "--log-path".into(),
            path(&self.log_path),
        ];
        for (flag, selectors) in [("--select", &plan.select), ("--exclude", &plan.exclude)] {
            if !selectors.is_empty() {
                words.push(flag.into());
                words.extend(selectors.iter().cloned());
            }
        }
        if let Some(vars) = &plan.vars {
            words.extend(["--vars".to_string(), vars.clone()]);
        }
        if let Some(threads) = plan.threads {
            words.extend(["--threads".to_string(), threads.to_string()]);
        }
        words.extend(plan.args.iter().cloned());
        words
            .iter()
            .map(|w| format!("'{}'", w.replace('\'', r"'\''")))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A side that failed, with what it had built by then (removed after the
/// run like any side's).
pub struct BuildFailure {
    pub error: SideError,
    pub built: Option<Arc<SideBuild>>,
}

impl From<SideError> for BuildFailure {
    fn from(error: SideError) -> Self {
        BuildFailure { error, built: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An executable script `name` in `dir` that prints `output`.
    fn script(dir: &Path, name: &str, output: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\necho '{output}'\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn the_version_comes_from_the_python_beside_dbt_else_from_dbt() {
        let dir = tempfile::tempdir().unwrap();
        let dbt = script(dir.path(), "dbt", "Core:\n  - installed: 1.4.9");
        let dbt = dbt.to_str().unwrap();
        let refused = version(dbt, python_beside(dbt).as_deref()).unwrap_err();
        assert!(
            refused.to_string().contains("dbt 1.4.9 is older than 1.5"),
            "{refused}"
        );
        script(dir.path(), "python", "1.10.2");
        let python = python_beside(dbt).expect("the python beside dbt");
        assert_eq!(version(dbt, Some(&python)).unwrap(), "dbt 1.10.2");
        assert!(python_beside(&format!("{}/missing/dbt", dir.path().display())).is_none());
    }

    #[test]
    fn side_schemas_are_identifiers_of_at_most_63_bytes() {
        let run_dir = RunDir::existing(Path::new("/runs/2026-12-01T10-00-00.123Z-Ab"));
        let schema = side_schema(&run_dir, Side::Candidate);
        assert_eq!(schema, "dualrun_2026_12_01t10_00_00_123z_ab_candidate");
        let long = RunDir::existing(&Path::new("/runs").join("x".repeat(80)));
        let schema = side_schema(&long, Side::Prod);
        assert_eq!(schema.len(), 63);
        assert!(schema.ends_with("_prod"), "{schema}");
    }

    #[test]
    fn every_argument_is_quoted_for_the_shell() {
        let plan = DbtPlan {
            project_dir: "/p".into(),
            profiles_dir: "/p".into(),
            profile_root: "/p".into(),
            profile: None,
            target: None,
            commands: vec!["build".into()],
            select: vec!["tag:it's".into(), "orders+".into()],
            exclude: vec![],
            vars: Some(r#"{"a":1}"#.into()),
            threads: Some(2),
            args: vec!["--full-refresh".into()],
            executable: "dbt".into(),
            timeout: std::time::Duration::from_secs(1),
        };
        let invocation = Invocation {
            project_dir: "/p".into(),
            profiles_dir: "/run/prod-dbt".into(),
            target_path: "/run/prod-dbt/target".into(),
            log_path: "/run/prod-dbt/logs".into(),
        };
        let script = invocation.script(&plan, "build");
        assert!(
            script.contains(r"'--select' 'tag:it'\''s' 'orders+'"),
            "{script}"
        );
        assert!(script.contains(r#"'--vars' '{"a":1}'"#), "{script}");
        assert!(
            script.ends_with("'--threads' '2' '--full-refresh'"),
            "{script}"
        );
    }
}
