//! The directory publish target: each version a folder under
//! `TARGET/versions/`, the live one named by the `current` symlink, which
//! every switch replaces with one atomic rename (see `target`), each
//! logged (see `log`). Nothing outside the target is written or removed:
//! outputs are hard-linked (or copied) from the run directory, which is
//! left as it was.

use std::fs;
use std::path::{Path, PathBuf};

use super::log::{self, LogEntry};
use super::target::{Target, VERSION_FILE, VersionRecord, sync_dir};
use super::{ApprovedRun, PublishRequest, Published, choose_outputs, crash_point};
use crate::error::{Error, Result};

pub fn publish(target: &Target, request: &PublishRequest, run: &ApprovedRun) -> Result<Published> {
    let run = run.clone();
    let _lock = target.lock()?;
    log::reconcile(target)?;
    let version = run.id.clone();
    let final_dir = target.version_dir(&version);
    if final_dir.exists() {
        return Err(Error::publish(
            &target.root,
            format!("the run `{version}` is already published"),
        )
        .with_hint(format!(
            "make it live again with `dualrun rollback {} --to {version}`",
            target.root.display()
        )));
    }
    let previous = target.current()?;
    let previous_record = match &previous {
        Some(v) => target.versions()?.into_iter().find(|r| &r.version == v),
        None => None,
    };
    let shown = target.root.display().to_string();
    let (outputs, carried) = choose_outputs(request, &run, previous_record.as_ref(), &shown)?;
    let staged = Staged {
        version: &version,
        outputs: &outputs,
        carried: &carried,
        previous: previous.as_deref().zip(previous_record.as_ref()),
    };
    stage_version(target, &run, &staged)?;
    crash_point("staged");
    let versions_dir = target.versions_dir();
    fs::rename(staged_dir(target, &version), &final_dir)
        .map_err(|e| target.io_error(&final_dir, e))?;
    sync_dir(&versions_dir).map_err(|e| target.io_error(&versions_dir, e))?;
    crash_point("versioned");
    target.switch_to(&version)?;
    crash_point("switched");

    let pruned = match request.keep {
        Some(keep) => prune(target, keep)?,
        None => Vec::new(),
    };
    let mut entry = LogEntry::new("publish", &version, previous.clone());
    entry.verdict = Some(run.verdict);
    entry.forced_reason = run.forced_reason.clone();
    entry.inputs = run.inputs.clone();
    entry.outputs = outputs.clone();
    entry.pruned = pruned.clone();
    log::append(target, &entry)?;
    Ok(Published {
        version,
        previous,
        outputs,
        carried,
        pruned,
        adopted: None,
    })
}

/// What goes into a new version.
struct Staged<'a> {
    version: &'a str,
    outputs: &'a [String],
    carried: &'a [String],
    /// The live version and its record, which carried outputs come from.
    previous: Option<(&'a str, &'a VersionRecord)>,
}

/// Where a version is built before it is renamed into place.
fn staged_dir(target: &Target, version: &str) -> PathBuf {
    target.versions_dir().join(format!(".{version}.partial"))
}

/// Builds the version under a hidden name, synced, so it appears whole or
/// not at all; leftovers of a crashed publish are cleared first.
fn stage_version(target: &Target, run: &ApprovedRun, staged: &Staged) -> Result<()> {
    let versions_dir = target.versions_dir();
    fs::create_dir_all(&versions_dir).map_err(|e| target.io_error(&versions_dir, e))?;
    clear_leftovers(target)?;
    let staging = staged_dir(target, staged.version);
    fs::create_dir_all(&staging).map_err(|e| target.io_error(&staging, e))?;
    let mut record = VersionRecord {
        version: staged.version.to_string(),
        published_at: crate::clock::now_utc(),
        verdict: run.verdict,
        forced_reason: run.forced_reason.clone(),
        inputs: run.inputs.clone(),
        outputs: Default::default(),
    };
    for name in staged.outputs {
        let file = staging.join(format!("{name}.parquet"));
        place(target, &run.outputs[name], &file)?;
        record
            .outputs
            .insert(name.clone(), staged.version.to_string());
    }
    if let Some((live, from)) = staged.previous {
        for name in staged.carried {
            let file = target.version_dir(live).join(format!("{name}.parquet"));
            place(target, &file, &staging.join(format!("{name}.parquet")))?;
            record
                .outputs
                .insert(name.clone(), from.outputs[name].clone());
        }
    }
    write_synced(
        target,
        &staging.join(VERSION_FILE),
        &serde_json::to_vec_pretty(&record).expect("a version record serializes"),
    )?;
    sync_dir(&staging).map_err(|e| target.io_error(&staging, e))
}

/// Makes the version before the live one (or `to`) live again.
pub fn rollback(target: &Path, to: Option<&str>) -> Result<(String, String)> {
    let target = Target::existing(target)?;
    let _lock = target.lock()?;
    log::reconcile(&target)?;
    let versions = target.versions()?;
    let current = target
        .current()?
        .ok_or_else(|| Error::publish(&target.root, "has no live version to roll back from"))?;
    let chosen = match to {
        Some(id) => versions
            .iter()
            .find(|r| r.version == id)
            .ok_or_else(|| {
                Error::publish(&target.root, format!("has no version `{id}`")).with_hint(format!(
                    "`dualrun versions {}` lists them",
                    target.root.display()
                ))
            })?
            .version
            .clone(),
        None => {
            // The newest older version that was ever live: a version a
            // crashed publish left complete but never switched to is not
            // a place to go back to.
            let logged: Vec<String> = log::read(&target)?.into_iter().map(|e| e.version).collect();
            let position = versions.iter().position(|r| r.version == current);
            let previous = position.and_then(|p| {
                versions[..p]
                    .iter()
                    .rev()
                    .find(|r| logged.contains(&r.version))
            });
            match previous {
                Some(record) => record.version.clone(),
                None => {
                    return Err(Error::publish(
                        &target.root,
                        format!("has no version older than the live `{current}`"),
                    ));
                }
            }
        }
    };
    if chosen == current {
        return Err(Error::publish(
            &target.root,
            format!("`{chosen}` is already live"),
        ));
    }
    target.switch_to(&chosen)?;
    log::append(
        &target,
        &LogEntry::new("rollback", &chosen, Some(current.clone())),
    )?;
    Ok((current, chosen))
}

/// Removes all but the newest `keep` versions, never the live one or the
/// one before it (the rollback target).
fn prune(target: &Target, keep: usize) -> Result<Vec<String>> {
    let versions = target.versions()?;
    let current = target.current()?;
    let live = versions
        .iter()
        .position(|r| Some(&r.version) == current.as_ref());
    let protected: Vec<&str> = live
        .into_iter()
        .flat_map(|p| [Some(p), p.checked_sub(1)])
        .flatten()
        .map(|p| versions[p].version.as_str())
        .collect();
    let surplus = versions.len().saturating_sub(keep);
    let mut pruned = Vec::new();
    for record in versions.iter().take(surplus) {
        if protected.contains(&record.version.as_str()) {
            continue;
        }
        // Renamed away first, so a half-removed version is never listed.
        let dir = target.version_dir(&record.version);
        let doomed = target
            .versions_dir()
            .join(format!(".{}.removing", record.version));
        fs::rename(&dir, &doomed).map_err(|e| target.io_error(&dir, e))?;
        fs::remove_dir_all(&doomed).map_err(|e| target.io_error(&doomed, e))?;
        pruned.push(record.version.clone());
    }
    Ok(pruned)
}

/// Hidden directories a crashed publish or prune left in `versions/`.
fn clear_leftovers(target: &Target) -> Result<()> {
    let dir = target.versions_dir();
    for entry in fs::read_dir(&dir).map_err(|e| target.io_error(&dir, e))? {
        let path = entry.map_err(|e| target.io_error(&dir, e))?.path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        {
            fs::remove_dir_all(&path).map_err(|e| target.io_error(&path, e))?;
        }
    }
    Ok(())
}

/// Hard-links `from` to `to` (same filesystem), or copies and syncs it.
fn place(target: &Target, from: &Path, to: &Path) -> Result<()> {
    if fs::hard_link(from, to).is_ok() {
        return Ok(());
    }
    fs::copy(from, to)
        .and_then(|_| fs::File::open(to)?.sync_all())
        .map(|_| ())
        .map_err(|e| target.io_error(to, e))
}

fn write_synced(target: &Target, path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut file = fs::File::create(path).map_err(|e| target.io_error(path, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| target.io_error(path, e))
}

/// `TARGET@current/NAME` or `TARGET@RUN_ID/NAME` (or without `/NAME` when
/// the version has one output): the file of that output in that version,
/// pinned now, so a publish while the caller reads changes nothing.
/// `None` when `spec` is not such a reference.
pub fn resolve(spec: &str) -> Result<Option<PathBuf>> {
    let Some((root, reference)) = spec.rsplit_once('@') else {
        return Ok(None);
    };
    let root = Path::new(root);
    if !root.join("versions").is_dir() {
        return Ok(None);
    }
    let target = Target::existing(root)?;
    let (version, name) = match reference.split_once('/') {
        Some((version, name)) => (version, Some(name)),
        None => (reference, None),
    };
    let version = if version == "current" {
        target.current()?.ok_or_else(|| {
            Error::publish(root, "has no live version").with_hint("publish a run to it first")
        })?
    } else {
        version.to_string()
    };
    let record = target
        .versions()?
        .into_iter()
        .find(|r| r.version == version)
        .ok_or_else(|| {
            Error::publish(root, format!("has no version `{version}`"))
                .with_hint(format!("`dualrun versions {}` lists them", root.display()))
        })?;
    let outputs: Vec<&String> = record.outputs.keys().collect();
    let name = match name {
        Some(name) if record.outputs.contains_key(name) => name.to_string(),
        None if outputs.len() == 1 => outputs[0].clone(),
        asked => {
            let listed: Vec<String> = outputs.iter().map(|o| format!("`{o}`")).collect();
            let problem = match asked {
                Some(name) => format!("has no output `{name}`"),
                None => "has several outputs".to_string(),
            };
            return Err(Error::publish(
                root,
                format!("version `{version}` {problem}: {}", listed.join(", ")),
            )
            .with_hint(format!("name one: `{}@{version}/NAME`", root.display())));
        }
    };
    Ok(Some(
        target.version_dir(&version).join(format!("{name}.parquet")),
    ))
}
