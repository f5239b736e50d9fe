//! `published.jsonl`: one JSON line per publish and rollback, appended and
//! synced before the command reports success. A crash between switching
//! `current` and writing its line is noticed by the next command that takes
//! the lock, which writes a `recovered` line for it.

use std::fs::OpenOptions;
use std::io::Write;

use serde::{Deserialize, Serialize};

use super::target::Target;
use crate::error::{Error, Result};
use crate::input::Fingerprint;
use crate::rules::Verdict;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    pub at: String,
    /// `publish`, `rollback` or `recovered`.
    pub event: String,
    /// The version live after the event.
    pub version: String,
    /// The version live before it.
    pub previous: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forced_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<Fingerprint>,
    /// The outputs this publish took from its run (all, or `--only`'s).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<String>,
    /// Versions `--keep` removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pruned: Vec<String>,
}

impl LogEntry {
    pub fn new(event: &str, version: &str, previous: Option<String>) -> Self {
        LogEntry {
            at: crate::clock::now_utc(),
            event: event.to_string(),
            version: version.to_string(),
            previous,
            verdict: None,
            forced_reason: None,
            inputs: Vec::new(),
            outputs: Vec::new(),
            pruned: Vec::new(),
        }
    }
}

/// Appends `entry` and syncs it to disk.
pub fn append(target: &Target, entry: &LogEntry) -> Result<()> {
    let path = target.log_path();
    let mut line = serde_json::to_string(entry).expect("a log entry serializes");
    line.push('\n');
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| target.io_error(&path, e))?;
    file.write_all(line.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| target.io_error(&path, e))
}

/// Every entry, oldest first.
pub fn read(target: &Target) -> Result<Vec<LogEntry>> {
    let path = target.log_path();
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(target.io_error(&path, e)),
    };
    text.lines()
        .enumerate()
        // A crash mid-append can leave a last line cut short: it never
        // reported success, so it is skipped.
        .filter(|(_, line)| !line.trim().is_empty())
        .filter_map(|(i, line)| match serde_json::from_str(line) {
            Ok(entry) => Some(Ok(entry)),
            Err(_) if i + 1 == text.lines().count() => None,
            Err(e) => Some(Err(Error::publish(
                &target.root,
                format!(
                    "line {} of `{}` is not a log entry: {e}",
                    i + 1,
                    path.display()
                ),
            ))),
        })
        .collect()
}

/// After a crash between switching `current` and logging it, the log's
/// last version is not the live one: log what is live now.
pub fn reconcile(target: &Target) -> Result<()> {
    let live = target.current()?;
    let logged = read(target)?.last().map(|e| e.version.clone());
    if let Some(live) = live
        && logged.as_deref() != Some(live.as_str())
    {
        append(target, &LogEntry::new("recovered", &live, logged))?;
    }
    Ok(())
}
