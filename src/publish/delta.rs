//! The Delta Lake publish target, `delta:PATH` or `delta:s3://BUCKET/PREFIX`:
//! every output is the Delta table `PATH/NAME`, and a publish commits each as a new table version
//! (an overwrite) whose commit info carries the run id, verdict, forced
//! reason and input fingerprints under `dualrun`. Readers of a table see
//! its old version or its new one; Delta has no transaction across
//! tables, so a publish whose later table fails restores the tables it
//! already committed (new commits, so time travel keeps every step) and
//! says so. `rollback` restores each table to the version the chosen run
//! left it at; `versions` reads the tables' commit history.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use datafusion::arrow::array::RecordBatch;
use deltalake_core::DeltaTable;
use deltalake_core::kernel::transaction::CommitProperties;
use deltalake_core::protocol::SaveMode;
use futures::TryStreamExt;
use serde_json::{Value, json};
use url::Url;

use super::target::Target;
use super::{ApprovedRun, PublishRequest, Published, VersionRecord, choose_outputs, crash_point};
use crate::error::{Error, Result};
use crate::rules::Verdict;

/// A directory (or bucket prefix) of Delta tables, one per output.
#[derive(Debug, Clone)]
pub struct DeltaTarget {
    root: Root,
}

#[derive(Debug, Clone)]
enum Root {
    Local(PathBuf),
    /// `s3://BUCKET/PREFIX/`: commits use S3's conditional writes.
    Objects(Url),
}

/// What dualrun writes into each commit's info, under `dualrun`.
const KEY: &str = "dualrun";

/// One commit of one table that dualrun made.
#[derive(Debug, Clone)]
struct Commit {
    table: String,
    /// The table version the commit made.
    version: u64,
    /// Milliseconds since the epoch.
    at: i64,
    /// `publish`, `rollback` or `undone`.
    event: String,
    /// The run whose outputs the table holds after the commit.
    run: String,
    info: Value,
}

impl DeltaTarget {
    /// `delta:PATH` or `delta:s3://BUCKET/PREFIX`.
    pub fn parse(path: &str) -> Result<Self> {
        if path.starts_with("s3://") {
            let mut url = Url::parse(path).map_err(|e| {
                Error::publish(Path::new(path), format!("is not a URL ({e})"))
                    .with_hint("write `delta:s3://BUCKET/PREFIX`")
            })?;
            if !url.path().ends_with('/') {
                url.set_path(&format!("{}/", url.path()));
            }
            return Ok(DeltaTarget {
                root: Root::Objects(url),
            });
        }
        if path.contains("://") {
            return Err(Error::publish(
                Path::new(&crate::input::mask(path)),
                "is a Delta target in an object store dualrun does not publish to",
            )
            .with_hint("publish to `delta:PATH` on a filesystem, or `delta:s3://BUCKET/PREFIX`"));
        }
        Ok(DeltaTarget {
            root: Root::Local(std::path::absolute(path).unwrap_or_else(|_| PathBuf::from(path))),
        })
    }

    /// How messages name it.
    pub fn shown(&self) -> String {
        match &self.root {
            Root::Local(path) => format!("delta:{}", path.display()),
            Root::Objects(url) => format!("delta:{url}"),
        }
    }

    fn error(&self, message: impl Into<String>) -> Error {
        Error::publish(Path::new(&self.shown()), message)
    }

    fn table_url(&self, name: &str) -> Result<Url> {
        match &self.root {
            Root::Local(root) => Url::from_directory_path(root.join(name))
                .map_err(|()| self.error(format!("`{name}` is not a directory path"))),
            Root::Objects(url) => url
                .join(&format!("{name}/"))
                .map_err(|e| self.error(format!("`{name}` makes no table URL ({e})"))),
        }
    }

    /// Where readers find output `name`'s table.
    pub fn live_table(&self, name: &str) -> String {
        match &self.root {
            Root::Local(root) => root.join(name).display().to_string(),
            Root::Objects(url) => url
                .join(&format!("{name}/"))
                .map(|u| u.to_string())
                .unwrap_or_default(),
        }
    }

    /// One publisher or rollback at a time, on a filesystem: the target's
    /// `.lock`. In a bucket each table's commit is atomic on its own.
    fn lock(&self) -> Result<Option<super::target::Lock>> {
        match &self.root {
            Root::Local(root) => {
                std::fs::create_dir_all(root).map_err(|e| Error::Output {
                    path: root.clone(),
                    source: e,
                })?;
                Target::new(root).lock().map(Some)
            }
            Root::Objects(_) => Ok(None),
        }
    }

    /// The Delta table of output `name`, loaded if it exists.
    async fn table(&self, name: &str) -> Result<DeltaTable> {
        if let Root::Local(root) = &self.root {
            let dir = root.join(name);
            std::fs::create_dir_all(&dir).map_err(|e| Error::Output {
                path: dir.clone(),
                source: e,
            })?;
        }
        let url = self.table_url(name)?;
        crate::input::delta::committable(&url, &self.shown()).await
    }

    /// Removes the table of output `name` (one a failed publish created).
    async fn remove_table(&self, name: &str) -> Result<()> {
        match &self.root {
            Root::Local(root) => std::fs::remove_dir_all(root.join(name))
                .map_err(|e| self.error(format!("cannot remove `{name}` ({e})"))),
            #[cfg(feature = "s3")]
            Root::Objects(_) => {
                crate::input::delta::remove_table(&self.table_url(name)?, &self.shown()).await
            }
            #[cfg(not(feature = "s3"))]
            Root::Objects(_) => Err(self.error("needs the `s3` feature")),
        }
    }

    /// The outputs already published here: the folders holding a log.
    async fn tables(&self) -> Result<Vec<String>> {
        match &self.root {
            Root::Local(root) => {
                let mut names = Vec::new();
                let entries = match std::fs::read_dir(root) {
                    Ok(entries) => entries,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(names),
                    Err(e) => return Err(Error::unreadable(root.display().to_string(), e)),
                };
                for entry in entries.flatten() {
                    if entry.path().join("_delta_log").is_dir() {
                        names.push(entry.file_name().to_string_lossy().into_owned());
                    }
                }
                names.sort();
                Ok(names)
            }
            #[cfg(feature = "s3")]
            Root::Objects(url) => crate::input::delta::tables_under(url, &self.shown()).await,
            #[cfg(not(feature = "s3"))]
            Root::Objects(_) => Err(self.error("needs the `s3` feature")),
        }
    }

    /// Every commit dualrun made to the target's tables, oldest first.
    async fn commits(&self) -> Result<Vec<Commit>> {
        let mut commits = Vec::new();
        for name in self.tables().await? {
            let table = self.table(&name).await?;
            let latest = table.version().unwrap_or(0) as u64;
            let history: Vec<_> =
                table.history(None).try_collect().await.map_err(|e| {
                    self.error(format!("cannot read the history of `{name}` ({e})"))
                })?;
            // Newest first, one per commit.
            for (back, info) in history.iter().enumerate() {
                let Some(ours) = info.info.get(KEY) else {
                    continue;
                };
                commits.push(Commit {
                    table: name.clone(),
                    version: latest.saturating_sub(back as u64),
                    at: info.timestamp.unwrap_or(0),
                    event: ours["event"].as_str().unwrap_or_default().to_string(),
                    run: ours["run"].as_str().unwrap_or_default().to_string(),
                    info: ours.clone(),
                });
            }
        }
        commits.sort_by_key(|c| (c.at, c.version));
        Ok(commits)
    }
}

/// Each published run, oldest first, and the one the newest commit left
/// live.
fn versions_of(commits: &[Commit]) -> (Vec<VersionRecord>, Option<String>) {
    let mut records: Vec<VersionRecord> = Vec::new();
    for commit in commits.iter().filter(|c| c.event == "publish") {
        let record = match records.iter_mut().find(|r| r.version == commit.run) {
            Some(record) => record,
            None => {
                records.push(VersionRecord {
                    version: commit.run.clone(),
                    published_at: commit.info["published_at"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    verdict: serde_json::from_value(commit.info["verdict"].clone())
                        .unwrap_or(Verdict::Approved),
                    forced_reason: commit.info["forced_reason"].as_str().map(str::to_string),
                    inputs: serde_json::from_value(commit.info["inputs"].clone())
                        .unwrap_or_default(),
                    outputs: BTreeMap::new(),
                });
                records.last_mut().expect("just pushed")
            }
        };
        record
            .outputs
            .insert(commit.table.clone(), commit.run.clone());
    }
    let live = commits.last().map(|c| c.run.clone());
    (records, live)
}

fn read_parquet(path: &Path) -> Result<Vec<RecordBatch>> {
    let shown = path.display().to_string();
    super::run::read_output(path, 8192)?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::input(&shown, format!("cannot be read ({e})")))
}

fn properties(info: Value) -> CommitProperties {
    CommitProperties::default().with_metadata([(KEY.to_string(), info)])
}

/// `publish` into Delta tables.
pub async fn publish(
    target: &DeltaTarget,
    request: &PublishRequest,
    run: &ApprovedRun,
) -> Result<Published> {
    let _lock = target.lock()?;
    let commits = target.commits().await?;
    let (records, live) = versions_of(&commits);
    if records.iter().any(|r| r.version == run.id) {
        return Err(target.error(format!("the run `{}` is already published", run.id)));
    }
    let live_record = records.iter().find(|r| Some(&r.version) == live.as_ref());
    let (outputs, carried) = choose_outputs(request, run, live_record, &target.shown())?;
    let info = json!({
        "event": "publish",
        "run": run.id,
        "published_at": crate::clock::now_utc(),
        "verdict": run.verdict,
        "forced_reason": run.forced_reason,
        "inputs": run.inputs,
        "outputs": outputs,
    });
    // (table, its version before this publish) for each table committed.
    let mut committed: Vec<(String, Option<u64>)> = Vec::new();
    for (done, name) in outputs.iter().enumerate() {
        let written = async {
            let batches = read_parquet(&run.outputs[name])?;
            let table = target.table(name).await?;
            let before = table.version();
            table
                .write(batches)
                .with_save_mode(SaveMode::Overwrite)
                .with_schema_mode(deltalake_core::operations::write::SchemaMode::Overwrite)
                .with_commit_properties(properties(info.clone()))
                .await
                .map_err(|e| target.error(format!("cannot commit `{name}` ({e})")))?;
            Ok::<_, Error>(before)
        }
        .await;
        match written {
            Ok(before) => committed.push((name.clone(), before)),
            Err(error) => return Err(undo(target, &commits, &committed, error).await),
        }
        if done == 0 {
            crash_point("loading");
        }
    }
    Ok(Published {
        version: run.id.clone(),
        previous: live,
        outputs,
        carried,
        pruned: Vec::new(),
        adopted: None,
    })
}

/// A publish that failed part-way: the tables it committed are restored to
/// their versions before it (a table it created is removed), and the error
/// says what was undone.
async fn undo(
    target: &DeltaTarget,
    commits: &[Commit],
    committed: &[(String, Option<u64>)],
    error: Error,
) -> Error {
    let mut undone = Vec::new();
    for (name, before) in committed {
        // The run the table held before, as its last commit says.
        let held = commits
            .iter()
            .rfind(|c| &c.table == name)
            .map(|c| c.run.clone())
            .unwrap_or_default();
        let result = match before {
            Some(version) => {
                restore(
                    target,
                    name,
                    *version,
                    json!({"event": "undone", "run": held}),
                )
                .await
            }
            None => target.remove_table(name).await,
        };
        undone.push(match result {
            Ok(()) => format!("`{name}` restored"),
            Err(e) => format!("`{name}` NOT restored ({e})"),
        });
    }
    if undone.is_empty() {
        return error;
    }
    target.error(format!(
        "the publish failed and was undone ({}): {error}",
        undone.join(", ")
    ))
}

async fn restore(target: &DeltaTarget, name: &str, version: u64, info: Value) -> Result<()> {
    let table = target.table(name).await?;
    table
        .restore()
        .with_version_to_restore(version)
        .with_commit_properties(properties(info))
        .await
        .map(|_| ())
        .map_err(|e| {
            target.error(format!(
                "cannot restore `{name}` to version {version} ({e})"
            ))
        })
}

/// `rollback`: each table back to the version the chosen run (default:
/// the one published before the live one) left it at.
pub async fn rollback(target: &DeltaTarget, to: Option<&str>) -> Result<(String, String)> {
    let _lock = target.lock()?;
    let commits = target.commits().await?;
    let (records, live) = versions_of(&commits);
    let current = live.ok_or_else(|| target.error("has no live version to roll back from"))?;
    let chosen = match to {
        Some(id) => records
            .iter()
            .find(|r| r.version == id)
            .ok_or_else(|| target.error(format!("has no version `{id}`")))?
            .version
            .clone(),
        None => {
            let position = records.iter().position(|r| r.version == current);
            position
                .and_then(|p| records[..p].last())
                .ok_or_else(|| {
                    target.error(format!("has no version older than the live `{current}`"))
                })?
                .version
                .clone()
        }
    };
    if chosen == current {
        return Err(target.error(format!("`{chosen}` is already live")));
    }
    // The moment the chosen run's publish was complete: every table goes
    // back to the version it had then.
    let published_at = commits
        .iter()
        .filter(|c| c.event == "publish" && c.run == chosen)
        .map(|c| c.at)
        .max()
        .unwrap_or(0);
    let tables: Vec<String> = commits
        .iter()
        .map(|c| c.table.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    for table in tables {
        let then = commits
            .iter()
            .rfind(|c| c.table == table && c.at <= published_at && c.event == "publish");
        let now = commits.iter().rfind(|c| c.table == table);
        if let (Some(then), Some(now)) = (then, now)
            && now.run != then.run
        {
            restore(
                target,
                &table,
                then.version,
                json!({"event": "rollback", "run": chosen}),
            )
            .await?;
        }
    }
    Ok((current, chosen))
}

/// `versions`: every published run, oldest first, and the live one.
pub async fn versions(target: &DeltaTarget) -> Result<(Vec<VersionRecord>, Option<String>)> {
    if target.tables().await?.is_empty() {
        return Err(target
            .error("has no Delta table dualrun published")
            .with_hint("publish a run to it first: `dualrun publish RUN_DIR --to delta:PATH`"));
    }
    Ok(versions_of(&target.commits().await?))
}
