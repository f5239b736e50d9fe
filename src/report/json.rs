//! The JSON report: the model itself, pretty-printed, field order stable;
//! and reading one back for `dualrun check`.

use std::io::{self, Write};
use std::path::Path;

use serde::Serialize;

use super::model::{Report, SCHEMA_VERSION};
use crate::error::{Error, Result};

pub fn render(report: &impl Serialize, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    writeln!(out)
}

/// Reads a report written by `--format json` of this report schema version.
pub fn read(path: &Path) -> Result<Report> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| Error::unreadable(&shown, e))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Error::input(&shown, format!("not JSON: {e}"))
            .caused_by(e)
            .with_hint("pass a report written by `dualrun diff --format json`")
    })?;
    let version = value.get("schema_version").and_then(|v| v.as_u64());
    if version != Some(u64::from(SCHEMA_VERSION)) {
        let found = version.map_or("no report schema version".to_string(), |v| {
            format!("report schema version {v}")
        });
        return Err(Error::input(
            &shown,
            format!("has {found}, and this dualrun reads version {SCHEMA_VERSION}"),
        )
        .with_hint("write the report again with this dualrun's `diff --format json`"));
    }
    serde_json::from_value(value).map_err(|e| {
        Error::input(&shown, format!("is not a dualrun diff report: {e}"))
            .caused_by(e)
            .with_hint("pass a report written by `dualrun diff --format json`")
    })
}
