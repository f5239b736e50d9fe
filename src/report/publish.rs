//! What `publish`, `rollback`, `versions` and `run --publish-to` say: one
//! line per switch of a target, and the listing of its versions, each
//! written to the writer it is given.

use std::io::{self, Write};

use crate::publish::{Published, VersionRecord};
use crate::report::table::new_table;
use crate::rules::Verdict;

/// `published r2 to TARGET (a, b); kept c as they were; previous version r1`.
pub fn write_published(out: &mut dyn Write, published: &Published, target: &str) -> io::Result<()> {
    let mut line = format!(
        "published {} to {} ({})",
        published.version,
        target,
        published.outputs.join(", ")
    );
    if !published.carried.is_empty() {
        line.push_str(&format!(
            "; kept {} as they were",
            published.carried.join(", ")
        ));
    }
    if let Some(previous) = &published.previous {
        line.push_str(&format!("; previous version {previous}"));
    }
    if let Some(schema) = &published.adopted {
        line.push_str(&format!(
            "; the audited schema `{schema}` went live as it is (no row copied)"
        ));
    }
    if !published.pruned.is_empty() {
        line.push_str(&format!("; removed {}", published.pruned.join(", ")));
    }
    writeln!(out, "{line}")
}

/// `--publish-to` with a run that was not approved.
pub fn write_not_published(out: &mut dyn Write, verdict: Verdict, target: &str) -> io::Result<()> {
    writeln!(
        out,
        "not published to {}: the verdict is {}",
        target,
        verdict.as_str()
    )
}

pub fn write_rolled_back(out: &mut dyn Write, from: &str, to: &str) -> io::Result<()> {
    writeln!(out, "{to} is live again (was {from})")
}

/// Every version, oldest first, the live one marked: a table, or JSON.
pub fn write_versions(
    out: &mut dyn Write,
    versions: &[VersionRecord],
    current: Option<&str>,
    json: bool,
) -> io::Result<()> {
    let live = |v: &VersionRecord| Some(v.version.as_str()) == current;
    if json {
        let listed: Vec<serde_json::Value> = versions
            .iter()
            .map(|v| {
                let mut value = serde_json::to_value(v).expect("a version record serializes");
                value["live"] = serde_json::json!(live(v));
                value
            })
            .collect();
        let text = serde_json::to_string_pretty(&listed).expect("versions serialize");
        return writeln!(out, "{text}");
    }
    let mut table = new_table(&["", "version", "published at", "verdict", "outputs"]);
    for v in versions {
        let verdict = match &v.forced_reason {
            Some(reason) => format!("{} (forced: {reason})", v.verdict.as_str()),
            None => v.verdict.as_str().to_string(),
        };
        let outputs: Vec<&str> = v.outputs.keys().map(String::as_str).collect();
        table.add_row([
            if live(v) { "live" } else { "" }.to_string(),
            v.version.clone(),
            v.published_at.clone(),
            verdict,
            outputs.join(", "),
        ]);
    }
    writeln!(out, "{table}")
}

/// What a dbt side built that could not be removed after the run.
pub fn write_left_behind(
    out: &mut dyn Write,
    side: crate::sides::Side,
    place: &str,
    why: &str,
) -> io::Result<()> {
    writeln!(
        out,
        "warning: what the {side} side built stays in {place}: it could not be removed ({why})"
    )
}
