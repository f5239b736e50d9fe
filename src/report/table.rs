//! The terminal report: the verdict first, the rules that did not pass,
//! then per table where each side came from, the row classes, schema
//! changes, the unequal columns, drift and sample rows.

use std::io::{self, Write};

use comfy_table::{CellAlignment, ContentArrangement, Table, presets};
use serde_json::{Map, Value};

use super::{Report, TableReport, TableStatus};
use crate::diff::{SampleRow, SchemaDiff};
use crate::format::{cell, count, number, percent, signed_percent};
use crate::rules::{Status, Verdict};

pub fn render(report: &Report, color: bool, out: &mut dyn Write) -> io::Result<()> {
    render_verdict(report, color, out)?;
    render_rules(report, out)?;
    render_failed_sides(report, out)?;
    if let Some(models) = &report.models {
        let first = if models.first_divergent.is_empty() {
            "none".to_string()
        } else {
            models.first_divergent.join(", ")
        };
        writeln!(
            out,
            "\nfirst divergent models: {first} ({})",
            models.summary()
        )?;
    }
    for table in &report.tables {
        writeln!(out)?;
        render_table(table, color, out)?;
    }
    if let Some(t) = &report.timings {
        writeln!(
            out,
            "\ntimings: read {} ms, diff {} ms, total {} ms",
            t.read_ms, t.diff_ms, t.total_ms
        )?;
    }
    Ok(())
}

pub fn new_table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.to_vec());
    table
}

fn right_align(table: &mut Table, columns: std::ops::Range<usize>) {
    for i in columns {
        if let Some(column) = table.column_mut(i) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
}

fn paint(text: &str, ansi: &str, color: bool) -> String {
    if color {
        format!("{ansi}{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

const GREEN: &str = "\x1b[1;32m";
const RED: &str = "\x1b[1;31m";
const YELLOW: &str = "\x1b[1;33m";

/// `REJECTED: 1 failed, 2 warned, 9 passed (rules: rules/default.toml)`.
fn render_verdict(report: &Report, color: bool, out: &mut dyn Write) -> io::Result<()> {
    let ansi = match report.verdict {
        Verdict::Approved => GREEN,
        Verdict::Rejected => RED,
        Verdict::Error => YELLOW,
    };
    let word = paint(report.verdict.word(), ansi, color);
    let judged = &report.judged_by;
    let parts = judged.counts.phrases();
    let rules = if judged.rules_files.is_empty() {
        "no rules file: any difference rejects".to_string()
    } else {
        format!("rules: {}", judged.rules_files.join(", "))
    };
    let strict = if judged.strict { "; strict" } else { "" };
    writeln!(out, "{word}: {} ({rules}{strict})", parts.join(", "))
}

/// The outcomes worth a look: failures, errors, warnings and info.
fn render_rules(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let mut shown: Vec<_> = report
        .rules
        .iter()
        .filter(|o| o.status != Status::Pass)
        .collect();
    if shown.is_empty() {
        return Ok(());
    }
    // Worst first; the order within a status stays the rules' order.
    shown.sort_by_key(|o| o.status.report_order());
    let mut table = new_table(&["status", "rule", "where", "finding"]);
    for o in shown {
        let place = o.place();
        table.add_row(vec![
            o.status.name().to_uppercase(),
            o.rule.clone(),
            place,
            o.message.clone(),
        ]);
    }
    writeln!(out, "{table}")
}

/// A side that failed, with the end of its log.
fn render_failed_sides(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    for side in report.sides.iter().filter(|s| s.failed()) {
        writeln!(
            out,
            "\n{} side ({}) failed: {}",
            side.side, side.engine, side.message
        )?;
        if let Some(log) = &side.log {
            writeln!(out, "  log: {log}")?;
        }
        for line in &side.log_tail {
            writeln!(out, "  | {}", line.escape_debug())?;
        }
    }
    for (who, skipped) in report.skipped_models() {
        for (name, why) in skipped {
            writeln!(out, "\n`{name}` not diffed by {who} ({why})")?;
        }
    }
    for side in &report.sides {
        if let Some(kept) = &side.kept {
            writeln!(out, "\n{} side: what it built is kept in {kept}", side.side)?;
        }
    }
    Ok(())
}

fn render_table(t: &TableReport, color: bool, out: &mut dyn Write) -> io::Result<()> {
    let rows = &t.diff.rows;
    let word = match t.status {
        TableStatus::Equal => paint("EQUAL", GREEN, color),
        TableStatus::Different => paint("DIFFERENT", RED, color),
        TableStatus::Added => paint("ADDED", YELLOW, color),
        TableStatus::Removed => paint("REMOVED", RED, color),
    };
    let key = t.key_phrase();
    writeln!(
        out,
        "{word} {}: {} changed, {} added, {} removed ({key})",
        t.name,
        count(rows.changed),
        count(rows.added),
        count(rows.removed)
    )?;
    for (label, side) in [("prod:     ", &t.prod), ("candidate:", &t.candidate)] {
        if side.source.is_empty() {
            writeln!(out, "  {label} (no such table)")?;
        } else {
            writeln!(
                out,
                "  {label} {} ({} rows, {} columns)",
                side.source,
                count(side.rows),
                side.columns
            )?;
        }
    }

    let mut classes = new_table(&["rows", "prod", "candidate"]);
    let both = |n: u64| vec![count(n), count(n)];
    let mut add = |label: &str, values: Vec<String>| {
        let mut row = vec![label.to_string()];
        row.extend(values);
        classes.add_row(row);
    };
    add("identical", both(rows.identical));
    if rows.within_tolerance > 0 {
        add("within tolerance", both(rows.within_tolerance));
    }
    add("changed", both(rows.changed));
    add(
        "removed (only in prod)",
        vec![count(rows.removed), String::new()],
    );
    add(
        "added (only in candidate)",
        vec![String::new(), count(rows.added)],
    );
    let duplicate_label = if t.diff.key.is_empty() {
        "duplicate rows"
    } else {
        "duplicate keys"
    };
    if rows.duplicate_keys.prod + rows.duplicate_keys.candidate > 0 {
        add(
            duplicate_label,
            vec![
                count(rows.duplicate_keys.prod),
                count(rows.duplicate_keys.candidate),
            ],
        );
    }
    if rows.null_keys.prod + rows.null_keys.candidate > 0 {
        add(
            "null keys (not compared)",
            vec![count(rows.null_keys.prod), count(rows.null_keys.candidate)],
        );
    }
    add("total", vec![count(rows.prod), count(rows.candidate)]);
    right_align(&mut classes, 1..3);
    writeln!(out, "{classes}")?;

    render_schema(&t.diff.schema, out)?;
    render_columns(t, out)?;
    render_drift(t, out)?;
    render_samples(t, out)?;
    if let Some(candidates) = &t.diff.key_candidates {
        if candidates.is_empty() {
            writeln!(
                out,
                "\nno column or pair of columns is unique and non-null on both sides"
            )?;
        } else {
            let list: Vec<String> = candidates.iter().map(|c| c.join(",")).collect();
            writeln!(
                out,
                "\nkey candidates (unique and non-null on both sides): {}",
                list.join("; ")
            )?;
            writeln!(
                out,
                "hint: rerun with `--key {}` to see changed rows",
                list[0]
            )?;
        }
    }
    Ok(())
}

fn render_schema(schema: &SchemaDiff, out: &mut dyn Write) -> io::Result<()> {
    let mut lines = Vec::new();
    for c in &schema.added {
        lines.push(format!("+ {c} (only in candidate)"));
    }
    for c in &schema.removed {
        lines.push(format!("- {c} (only in prod)"));
    }
    for r in &schema.retyped {
        let how = match &r.compared_as {
            Some(t) => format!("compared as {t}"),
            None => "not compared".to_string(),
        };
        lines.push(format!(
            "~ {}: {} -> {} ({how})",
            r.column, r.prod, r.candidate
        ));
    }
    for n in &schema.nullability_changed {
        let word = |nullable: bool| if nullable { "nullable" } else { "not null" };
        lines.push(format!(
            "~ {}: {} -> {}",
            n.column,
            word(n.prod),
            word(n.candidate)
        ));
    }
    if schema.reordered {
        lines.push("~ shared columns are in another order".to_string());
    }
    for r in &schema.renamed {
        lines.push(format!("= {} renamed to {}", r.prod, r.candidate));
    }
    for s in &schema.skipped {
        lines.push(format!(
            "! {} skipped: {} vs {} ({})",
            s.column, s.prod, s.candidate, s.reason
        ));
    }
    if !schema.ignored.is_empty() {
        lines.push(format!("  ignored: {}", schema.ignored.join(", ")));
    }
    if !lines.is_empty() {
        writeln!(out, "\nschema:")?;
        for line in lines {
            writeln!(out, "  {line}")?;
        }
    }
    Ok(())
}

fn render_columns(t: &TableReport, out: &mut dyn Write) -> io::Result<()> {
    let columns: Vec<_> = t
        .diff
        .columns
        .iter()
        .filter(|c| c.unequal > 0 || c.within_tolerance > 0)
        .collect();
    if columns.is_empty() {
        return Ok(());
    }
    let mut table = new_table(&[
        "column",
        "compared as",
        "unequal",
        "match rate",
        "max abs diff",
        "null mismatch",
        "within tolerance",
    ]);
    for c in columns {
        table.add_row(vec![
            c.name.clone(),
            c.compared_as.clone(),
            count(c.unequal),
            c.match_rate.map_or_else(|| "-".to_string(), percent),
            c.max_abs_diff.map_or_else(|| "-".to_string(), number),
            count(c.null_mismatch),
            count(c.within_tolerance),
        ]);
    }
    right_align(&mut table, 2..7);
    writeln!(out, "\ncolumns with differences:\n{table}")
}

/// Thresholds above which a drift figure is marked `!` in the table.
const NOTABLE_NULL_PP: f64 = 1.0;
const NOTABLE_CHANGE: f64 = 0.01;
const NOTABLE_DISTANCE: f64 = 0.1;

fn render_drift(t: &TableReport, out: &mut dyn Write) -> io::Result<()> {
    let with_drift: Vec<_> = t
        .diff
        .columns
        .iter()
        .filter_map(|c| c.drift.as_ref().map(|d| (c, d)))
        .collect();
    if with_drift.is_empty() {
        return Ok(());
    }
    let mut table = new_table(&[
        "column",
        "null Δpp",
        "mean Δ",
        "p50 Δ",
        "PSI",
        "KS",
        "categories",
        "",
    ]);
    let mut shown = 0;
    for (column, drift) in with_drift {
        let numeric = drift.numeric.as_ref();
        let mean = numeric.and_then(|n| n.mean_change);
        let p50 = numeric.and_then(|n| {
            n.quantile_change
                .get("p50")
                .copied()
                .flatten()
                .map(signed_percent)
                .or_else(|| {
                    n.quantile_shift_seconds
                        .get("p50")
                        .map(|s| format!("{s:+.0}s"))
                })
        });
        let psi = numeric.and_then(|n| n.psi);
        let ks = numeric.and_then(|n| n.ks);
        let categories = drift.categories.as_ref().map(|c| {
            let mut parts = Vec::new();
            if !c.new.is_empty() {
                parts.push(format!("+{} new", c.new.len()));
            }
            if !c.vanished.is_empty() {
                parts.push(format!("-{} vanished", c.vanished.len()));
            }
            if c.top_share_change_pp > 0.0 {
                parts.push(format!("top share {:.2}pp", c.top_share_change_pp));
            }
            parts.join(", ")
        });
        let moved = drift.null_rate_pp != 0.0
            || mean.is_some_and(|m| m != 0.0)
            || psi.is_some_and(|v| v > 0.0)
            || ks.is_some_and(|v| v > 0.0)
            || categories.as_deref().is_some_and(|c| !c.is_empty());
        if !moved {
            continue;
        }
        let notable = drift.null_rate_pp.abs() >= NOTABLE_NULL_PP
            || mean.is_some_and(|m| m.abs() >= NOTABLE_CHANGE)
            || psi.is_some_and(|v| v >= NOTABLE_DISTANCE)
            || ks.is_some_and(|v| v >= NOTABLE_DISTANCE)
            || drift
                .categories
                .as_ref()
                .is_some_and(|c| !c.new.is_empty() || !c.vanished.is_empty());
        let dash = || "-".to_string();
        table.add_row(vec![
            column.name.clone(),
            format!("{:+.2}", drift.null_rate_pp),
            mean.map_or_else(dash, signed_percent),
            p50.unwrap_or_else(dash),
            psi.map_or_else(dash, |v| format!("{v:.4}")),
            ks.map_or_else(dash, |v| format!("{v:.4}")),
            categories.filter(|c| !c.is_empty()).unwrap_or_else(dash),
            if notable {
                "!".to_string()
            } else {
                String::new()
            },
        ]);
        shown += 1;
    }
    if shown == 0 {
        return writeln!(
            out,
            "
column statistics: no drift"
        );
    }
    right_align(&mut table, 1..6);
    writeln!(
        out,
        "
drift of column statistics (prod -> candidate, all rows; ! notable):\n{table}"
    )
}

fn key_text(key: &Map<String, Value>) -> String {
    key.values().map(cell).collect::<Vec<_>>().join(", ")
}

fn render_samples(t: &TableReport, out: &mut dyn Write) -> io::Result<()> {
    let samples = &t.diff.samples;
    if !samples.changed.is_empty() {
        let mut table = new_table(&["key", "column", "prod", "candidate"]);
        for row in &samples.changed {
            for (column, pair) in &row.columns {
                table.add_row(vec![
                    key_text(&row.key),
                    column.clone(),
                    cell(&pair["prod"]),
                    cell(&pair["candidate"]),
                ]);
            }
        }
        writeln!(
            out,
            "\nchanged rows (first {} in key order):\n{table}",
            samples.changed.len()
        )?;
    }
    for (title, rows) in [
        ("removed rows (only in prod)", &samples.removed),
        ("added rows (only in candidate)", &samples.added),
    ] {
        if !rows.is_empty() {
            writeln!(
                out,
                "\n{title}, first {}:\n{}",
                rows.len(),
                whole_rows_table(rows)
            )?;
        }
    }
    Ok(())
}

fn whole_rows_table(rows: &[SampleRow]) -> Table {
    let keyed = rows.first().is_some_and(|r| !r.key.is_empty());
    let mut table = new_table(if keyed { &["key", "values"] } else { &["row"] });
    for row in rows {
        let values = row
            .values
            .iter()
            .map(|(name, value)| format!("{name}={}", cell(value)))
            .collect::<Vec<_>>()
            .join(" ");
        if keyed {
            table.add_row(vec![key_text(&row.key), values]);
        } else {
            table.add_row(vec![values]);
        }
    }
    table
}
