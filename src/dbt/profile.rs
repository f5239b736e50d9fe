//! The connection a dbt side builds into: the user's `profiles.yml` read,
//! the chosen target found, and a copy of it written for the side with only
//! the location changed (a DuckDB file of its own, or a PostgreSQL schema
//! of its own), so the two sides never write the same relations and never
//! touch the user's.
//!
//! The copy keeps every other setting of the target as written, Jinja
//! included (dbt renders it). dualrun itself needs a few values to read
//! the side's relations (DuckDB's path; PostgreSQL's host, port, user,
//! password and database): it renders `{{ env_var('NAME') }}` and
//! `{{ env_var('NAME', 'default') }}` in those, as dbt would.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::error::{Error, Result};

/// The adapter a target uses, with what dualrun needs of it.
#[derive(Debug, Clone, PartialEq)]
pub enum Adapter {
    /// `type: duckdb`: the database file (`None` for `:memory:`), as dbt
    /// resolves it from the project directory.
    Duckdb { path: Option<PathBuf> },
    /// `type: postgres`.
    Postgres(PostgresTarget),
}

/// The PostgreSQL connection of a target.
#[derive(Clone, PartialEq)]
pub struct PostgresTarget {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<String>,
    pub database: String,
    /// The target's own schema: production relations dualrun never writes.
    pub schema: String,
}

impl std::fmt::Debug for PostgresTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PostgresTarget({}@{}:{}/{} schema {})",
            self.user, self.host, self.port, self.database, self.schema
        )
    }
}

impl PostgresTarget {
    /// The URL dualrun reads the side's relations with; its password is
    /// masked wherever the reference is shown.
    pub fn url(&self) -> url::Url {
        let mut url = url::Url::parse("postgres://localhost/").expect("a URL");
        let _ = url.set_host(Some(&self.host));
        let _ = url.set_port(Some(self.port));
        let _ = url.set_username(&self.user);
        if let Some(password) = &self.password {
            let _ = url.set_password(Some(password));
        }
        url.set_path(&self.database);
        url
    }
}

/// The chosen target of the user's profile.
#[derive(Clone, PartialEq)]
pub struct Target {
    pub profile: String,
    pub target: String,
    pub adapter: Adapter,
    /// The target's block as written (unrendered).
    output: Value,
    file: String,
}

/// Never prints the target's block: it may hold a password.
impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Target({}.{}: {:?})",
            self.profile, self.target, self.adapter
        )
    }
}

/// The variable the side's copy of a target reads a written password from.
pub const PASSWORD_VARIABLE: &str = "DUALRUN_DBT_PASSWORD";

/// The name the side's copy of the target takes.
pub const SIDE_TARGET: &str = "dualrun";

/// Reads target `target` (default: the profile's own `target`) of profile
/// `profile` in `profiles_dir/profiles.yml`; `project_dir` is where dbt
/// runs, which relative DuckDB paths start from.
pub fn read(
    profiles_dir: &Path,
    profile: &str,
    target: Option<&str>,
    project_dir: &Path,
) -> Result<Target> {
    let file = profiles_dir.join("profiles.yml");
    let shown = file.display().to_string();
    let text = std::fs::read_to_string(&file).map_err(|e| {
        Error::unreadable(&shown, e).with_hint("name the folder holding profiles.yml with `profiles_dir` (default: the dbt project's folder, then `DBT_PROFILES_DIR`, then ~/.dbt)")
    })?;
    let profiles: Value = serde_saphyr::from_str(&text).map_err(|e| {
        Error::input(
            &shown,
            format!(
                "not YAML dualrun can read ({})",
                crate::error::first_line(&e.to_string())
            ),
        )
    })?;
    let block = &profiles[profile];
    if block.is_null() {
        return Err(Error::input(&shown, format!("has no profile `{profile}`"))
            .with_hint(format!("the profiles are {}", listed(&profiles))));
    }
    let target = match target {
        Some(target) => target.to_string(),
        None => block["target"].as_str().unwrap_or("dev").to_string(),
    };
    let output = block["outputs"][&target].clone();
    if !output.is_object() {
        return Err(Error::input(
            &shown,
            format!("has no target `{target}` in profile `{profile}`"),
        )
        .with_hint(format!("its targets are {}", listed(&block["outputs"]))));
    }
    let field = |name: &str| -> Result<Option<String>> {
        match &output[name] {
            Value::Null => Ok(None),
            Value::String(s) => render(s).map(Some).map_err(|why| {
                Error::input(&shown, format!("`{profile}.outputs.{target}.{name}` {why}"))
            }),
            other => Ok(Some(other.to_string())),
        }
    };
    let adapter = match output["type"].as_str().unwrap_or_default() {
        "duckdb" => Adapter::Duckdb {
            path: field("path")?
                .filter(|p| p != ":memory:")
                .map(|p| project_dir.join(p)),
        },
        "postgres" => {
            let required = |name: &str| {
                field(name)?.ok_or_else(|| {
                    Error::input(
                        &shown,
                        format!("`{profile}.outputs.{target}` has no `{name}`"),
                    )
                })
            };
            let port = required("port")?;
            Adapter::Postgres(PostgresTarget {
                host: required("host")?,
                port: port.parse().map_err(|_| {
                    Error::input(
                        &shown,
                        format!("`{profile}.outputs.{target}.port` is `{port}`, not a port"),
                    )
                })?,
                user: required("user")?,
                password: field("password")?.or(field("pass")?),
                database: field("dbname")?.or(field("database")?).ok_or_else(|| {
                    Error::input(
                        &shown,
                        format!("`{profile}.outputs.{target}` has no `dbname`"),
                    )
                })?,
                schema: required("schema")?,
            })
        }
        other => {
            return Err(Error::input(
                &shown,
                format!("`{profile}.outputs.{target}` uses the adapter `{other}`, which dualrun cannot isolate yet"),
            )
            .with_hint("dbt sides support the `duckdb` and `postgres` adapters"));
        }
    };
    Ok(Target {
        profile: profile.to_string(),
        target,
        adapter,
        output,
        file: shown,
    })
}

/// Where one side builds.
#[derive(Debug, Clone, PartialEq)]
pub enum SideLocation {
    /// A DuckDB file of the side's own.
    DuckdbFile(PathBuf),
    /// A PostgreSQL schema of the side's own.
    PostgresSchema(String),
}

impl SideLocation {
    /// Where it is, for the report.
    pub fn describe(&self) -> String {
        match self {
            SideLocation::DuckdbFile(file) => format!("the DuckDB file `{}`", file.display()),
            SideLocation::PostgresSchema(schema) => format!("the PostgreSQL schema `{schema}`"),
        }
    }
}

impl Target {
    /// Writes the side's `profiles.yml` into `dir`: the target as the user
    /// wrote it, under the name `dualrun`, building at `location`. The file
    /// is JSON, which is YAML too. A password written in the user's file is
    /// not copied into the run directory: the copy reads it from the
    /// environment variable returned with the file, set for dbt only.
    pub fn write_for_side(
        &self,
        dir: &Path,
        location: &SideLocation,
    ) -> Result<(PathBuf, Vec<(String, String)>)> {
        let mut output = self.output.clone();
        match location {
            SideLocation::DuckdbFile(path) => output["path"] = json!(path.display().to_string()),
            SideLocation::PostgresSchema(schema) => output["schema"] = json!(schema),
        }
        let mut env = Vec::new();
        for field in ["password", "pass"] {
            if let Value::String(written) = &output[field]
                && !written.contains("{{")
            {
                env.push((PASSWORD_VARIABLE.to_string(), written.clone()));
                output[field] = json!(format!("{{{{ env_var('{PASSWORD_VARIABLE}') }}}}"));
            }
        }
        let profiles = json!({
            self.profile.as_str(): {
                "target": SIDE_TARGET,
                "outputs": { SIDE_TARGET: output },
            }
        });
        std::fs::create_dir_all(dir).map_err(|e| Error::Output {
            path: dir.to_path_buf(),
            source: e,
        })?;
        let file = dir.join("profiles.yml");
        let text = serde_json::to_string_pretty(&profiles).expect("JSON of JSON values");
        std::fs::write(&file, text).map_err(|e| Error::Output {
            path: file.clone(),
            source: e,
        })?;
        Ok((file, env))
    }

    /// The profiles file the target was read from, for messages.
    pub fn file(&self) -> &str {
        &self.file
    }
}

/// `value` with `{{ env_var('NAME') }}` and `{{ env_var('NAME', 'default') }}`
/// rendered; any other Jinja is refused (dualrun does not run Jinja).
fn render(value: &str) -> std::result::Result<String, String> {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find("}}")
            .map(|e| start + e)
            .ok_or_else(|| "has a `{{` without `}}`".to_string())?;
        let expression = rest[start + 2..end].trim();
        out.push_str(&env_var(expression)?);
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn env_var(expression: &str) -> std::result::Result<String, String> {
    let unsupported = || {
        format!(
            "uses the Jinja `{{{{ {expression} }}}}`; dualrun reads only `env_var('NAME')` and `env_var('NAME', 'default')` there"
        )
    };
    let arguments = expression
        .strip_prefix("env_var(")
        .and_then(|a| a.strip_suffix(')'))
        .ok_or_else(unsupported)?;
    let quoted: Vec<&str> = arguments.split(',').map(str::trim).collect();
    let unquote = |s: &str| {
        s.strip_prefix('\'')
            .and_then(|s| s.strip_suffix('\''))
            .or_else(|| s.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
            .map(str::to_string)
    };
    match quoted.as_slice() {
        [name] => {
            let name = unquote(name).ok_or_else(unsupported)?;
            std::env::var(&name)
                .map_err(|_| format!("reads the environment variable `{name}`, which is not set"))
        }
        [name, default] => {
            let name = unquote(name).ok_or_else(unsupported)?;
            let default = unquote(default).ok_or_else(unsupported)?;
            Ok(std::env::var(&name).unwrap_or(default))
        }
        _ => Err(unsupported()),
    }
}

fn listed(map: &Value) -> String {
    match map.as_object() {
        Some(map) if !map.is_empty() => map
            .keys()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", "),
        _ => "none".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILES: &str = r#"
shop:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: warehouse.duckdb
      threads: 4
    ci:
      type: postgres
      host: "{{ env_var('DUALRUN_TEST_PG_HOST', '127.0.0.1') }}"
      port: 5433
      user: ci
      password: "{{ env_var('DUALRUN_TEST_PG_PASS_UNSET_X', 's3cret') }}"
      dbname: shop
      schema: marts
    literal:
      type: postgres
      host: 127.0.0.1
      port: 5433
      user: ci
      pass: hunter2x
      dbname: shop
      schema: marts
    spark:
      type: spark
"#;

    fn profiles() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("profiles.yml"), PROFILES).unwrap();
        dir
    }

    #[test]
    fn targets_are_read_and_copied_with_only_the_location_changed() {
        let dir = profiles();
        let dev = read(dir.path(), "shop", None, Path::new("/p")).unwrap();
        assert_eq!(dev.target, "dev");
        assert_eq!(
            dev.adapter,
            Adapter::Duckdb {
                path: Some("/p/warehouse.duckdb".into())
            }
        );
        let side = dir.path().join("side");
        let written = dev
            .write_for_side(&side, &SideLocation::DuckdbFile("/run/prod.duckdb".into()))
            .unwrap()
            .0;
        let copy: Value =
            serde_saphyr::from_str(&std::fs::read_to_string(written).unwrap()).unwrap();
        assert_eq!(copy["shop"]["target"], SIDE_TARGET);
        assert_eq!(
            copy["shop"]["outputs"][SIDE_TARGET]["path"],
            "/run/prod.duckdb"
        );
        assert_eq!(copy["shop"]["outputs"][SIDE_TARGET]["threads"], 4);

        let ci = read(dir.path(), "shop", Some("ci"), Path::new("/p")).unwrap();
        let Adapter::Postgres(pg) = &ci.adapter else {
            panic!("{ci:?}")
        };
        assert_eq!(
            (pg.host.as_str(), pg.port, pg.password.as_deref()),
            ("127.0.0.1", 5433, Some("s3cret"))
        );
        assert!(!format!("{ci:?}").contains("s3cret"));
        let side = dir.path().join("ci");
        let written = ci
            .write_for_side(
                &side,
                &SideLocation::PostgresSchema("dualrun_r1_prod".into()),
            )
            .unwrap()
            .0;
        let copy: Value =
            serde_saphyr::from_str(&std::fs::read_to_string(written).unwrap()).unwrap();
        let output = &copy["shop"]["outputs"][SIDE_TARGET];
        assert_eq!(output["schema"], "dualrun_r1_prod");
        assert_eq!(
            output["password"], "{{ env_var('DUALRUN_TEST_PG_PASS_UNSET_X', 's3cret') }}",
            "dbt renders it"
        );

        let literal = read(dir.path(), "shop", Some("literal"), Path::new("/p")).unwrap();
        let (written, env) = literal
            .write_for_side(
                &dir.path().join("literal"),
                &SideLocation::PostgresSchema("dualrun_r1_prod".into()),
            )
            .unwrap();
        let text = std::fs::read_to_string(written).unwrap();
        assert!(!text.contains("hunter2x"), "{text}");
        assert!(text.contains(PASSWORD_VARIABLE), "{text}");
        assert_eq!(
            env,
            [(PASSWORD_VARIABLE.to_string(), "hunter2x".to_string())]
        );
    }

    #[test]
    fn missing_profiles_targets_and_adapters_are_named() {
        let dir = profiles();
        for (profile, target, says) in [
            ("nope", None, "has no profile `nope`"),
            (
                "shop",
                Some("prod"),
                "has no target `prod` in profile `shop`",
            ),
            ("shop", Some("spark"), "the adapter `spark`"),
        ] {
            let error = read(dir.path(), profile, target, Path::new("/p"))
                .unwrap_err()
                .to_string();
            assert!(error.contains(says), "{error}");
        }
        assert!(
            render("{{ var('x') }}")
                .unwrap_err()
                .contains("only `env_var")
        );
    }
}
