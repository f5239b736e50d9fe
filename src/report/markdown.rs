//! The pull-request comment: a hidden marker a bot can find to update one
//! sticky comment, the verdict line, a table of tables, and a folded
//! `<details>` block per table with its rules, columns and samples.
//!
//! Every name and value is escaped (`escape::markdown`). A comment must fit
//! GitHub's 65,536 characters: when the full text does not fit under
//! `LIMIT`, the least important detail is cut first (samples, then column
//! tables, then the details of approved tables, then every detail, then
//! rows of the table of tables), and a note says what was cut.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::escape::{MESSAGE_LIMIT, markdown as esc, markdown_within};
use super::samples::{SampleWriter, walk_samples};
use super::{Report, TableReport};
use crate::format::{count, number, percent, signed_percent};
use crate::rules::{RuleOutcome, Status, StatusCounts, Verdict};

/// The hidden first line a bot looks for to update its comment.
pub const MARKER: &str = "<!-- dualrun -->";

/// Upper bound of the comment's length in characters.
pub const LIMIT: usize = 65_000;

/// How much a rendering shows, from everything to the bare summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Detail {
    Full,
    NoSamples,
    RulesOnly,
    FailingOnly,
    SummaryOnly,
}

impl Detail {
    const ALL: [Detail; 5] = [
        Detail::Full,
        Detail::NoSamples,
        Detail::RulesOnly,
        Detail::FailingOnly,
        Detail::SummaryOnly,
    ];

    fn cut(self) -> &'static str {
        match self {
            Detail::Full => "",
            Detail::NoSamples => "sample rows",
            Detail::RulesOnly => "sample rows and column tables",
            Detail::FailingOnly => "sample rows, column tables and the details of approved tables",
            Detail::SummaryOnly => "every per-table detail",
        }
    }
}

pub fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    out.write_all(comment(report).as_bytes())
}

/// The comment, cut to fit `LIMIT`.
pub fn comment(report: &Report) -> String {
    for detail in Detail::ALL {
        let text = compose(report, detail, report.tables.len());
        if text.chars().count() <= LIMIT {
            return text;
        }
    }
    // Even the bare summary is too long: show fewer tables, worst first.
    let mut shown = report.tables.len();
    loop {
        shown = shown * 3 / 4;
        let text = compose(report, Detail::SummaryOnly, shown);
        if text.chars().count() <= LIMIT || shown == 0 {
            return text;
        }
    }
}

fn message(text: &str) -> String {
    markdown_within(text, MESSAGE_LIMIT)
}

fn verdict_icon(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Approved => "✅",
        Verdict::Rejected => "❌",
        Verdict::Error => "⛔",
    }
}

fn status_icon(status: Status) -> &'static str {
    match status {
        Status::Pass => "✅",
        Status::Info => "ℹ️",
        Status::Warn => "⚠️",
        Status::Fail => "❌",
        Status::Error => "⛔",
    }
}

fn outcomes_of<'a>(report: &'a Report, table: &str) -> Vec<&'a RuleOutcome> {
    report
        .rules
        .iter()
        .filter(|o| o.table.as_deref() == Some(table))
        .collect()
}

fn compose(report: &Report, detail: Detail, max_tables: usize) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "{MARKER}");
    let _ = writeln!(
        md,
        "### {} dualrun: {}\n",
        verdict_icon(report.verdict),
        report.verdict.word().to_lowercase()
    );
    let mut parts = vec![format!(
        "{} table{}",
        report.tables.len(),
        if report.tables.len() == 1 { "" } else { "s" }
    )];
    parts.extend(report.judged_by.counts.phrases());
    let rules = if report.judged_by.rules_files.is_empty() {
        "no rules file: any difference rejects".to_string()
    } else {
        let files: Vec<String> = report
            .judged_by
            .rules_files
            .iter()
            .map(|f| esc(f))
            .collect();
        format!("rules: {}", files.join(", "))
    };
    let strict = if report.judged_by.strict {
        " · strict"
    } else {
        ""
    };
    let _ = writeln!(md, "{} · {rules}{strict}\n", parts.join(" · "));
    if let Some(models) = &report.models
        && !models.first_divergent.is_empty()
    {
        let first: Vec<String> = models.first_divergent.iter().map(|m| esc(m)).collect();
        let _ = writeln!(
            md,
            "**First divergent models**: {} ({})\n",
            first.join(", "),
            esc(&models.summary())
        );
    }

    // Tables, worst first.
    let mut tables: Vec<(&TableReport, Vec<&RuleOutcome>, Verdict)> = report
        .tables
        .iter()
        .map(|t| {
            let outcomes = outcomes_of(report, &t.name);
            let verdict = Verdict::of(outcomes.iter().copied());
            (t, outcomes, verdict)
        })
        .collect();
    tables.sort_by_key(|(_, _, v)| match v {
        Verdict::Rejected => 0,
        Verdict::Error => 1,
        Verdict::Approved => 2,
    });
    if !tables.is_empty() {
        summary_table(&mut md, &tables[..max_tables.min(tables.len())]);
    }
    if max_tables < tables.len() {
        let _ = writeln!(
            md,
            "\n…and {} more tables, not shown to fit one comment.",
            tables.len() - max_tables
        );
    }

    let unattached: Vec<&RuleOutcome> = report
        .rules
        .iter()
        .filter(|o| o.table.is_none() && o.status != Status::Pass)
        .collect();
    if !unattached.is_empty() {
        let _ = writeln!(md, "\n**Findings tied to no table**\n");
        rules_table(&mut md, &unattached, false);
    }

    for side in report.sides.iter().filter(|s| s.failed()) {
        let _ = writeln!(
            md,
            "\n**The {} side ({}) failed**: {}\n",
            esc(side.side.name()),
            esc(&side.engine),
            message(&side.message)
        );
        // An indented code block shows the log literally: no markup, no
        // mentions, nothing to close.
        for line in &side.log_tail {
            let _ = writeln!(
                md,
                "    {}",
                super::escape::shorten(&line.replace(['\r', '\t'], " "), 200)
            );
        }
    }

    for (who, skipped) in report.skipped_models() {
        let names: Vec<String> = skipped
            .iter()
            .map(|(name, why)| format!("`{}` ({})", esc(name), esc(why)))
            .collect();
        let _ = writeln!(md, "\nNot diffed by {who}: {}", names.join(", "));
    }
    for side in &report.sides {
        if let Some(kept) = &side.kept {
            let _ = writeln!(
                md,
                "\nWhat the {} side built is kept in {}.",
                esc(side.side.name()),
                esc(kept)
            );
        }
    }

    if detail < Detail::SummaryOnly {
        for (t, outcomes, verdict) in &tables[..max_tables.min(tables.len())] {
            if detail == Detail::FailingOnly && *verdict == Verdict::Approved {
                continue;
            }
            table_details(&mut md, t, outcomes, *verdict, detail);
        }
    }
    if detail != Detail::Full || max_tables < tables.len() {
        let cut = if detail == Detail::Full {
            "tables".to_string()
        } else {
            detail.cut().to_string()
        };
        let _ = writeln!(
            md,
            "\n> ✂️ Shortened to fit one comment: {cut} left out. The full report is in `report.html` and `report.json`."
        );
    }
    md
}

fn summary_table(md: &mut String, tables: &[(&TableReport, Vec<&RuleOutcome>, Verdict)]) {
    let _ = writeln!(
        md,
        "| | table | rows prod → candidate | added | removed | changed | columns changed | worst rule |"
    );
    let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|---|");
    for (t, outcomes, verdict) in tables {
        let rows = &t.diff.rows;
        let delta = if let Some(side) = t.status.only_on() {
            format!(" (only in {side})")
        } else if rows.prod == 0 {
            String::new()
        } else {
            format!(
                " ({})",
                signed_percent((rows.candidate as f64 - rows.prod as f64) / rows.prod as f64)
            )
        };
        let columns_changed = t.diff.columns.iter().filter(|c| c.unequal > 0).count();
        let worst = outcomes
            .iter()
            .filter(|o| o.status != Status::Pass)
            .min_by_key(|o| o.status.report_order())
            .map_or_else(
                || "—".to_string(),
                |o| {
                    format!(
                        "{} {}: {}",
                        status_icon(o.status),
                        esc(&o.rule),
                        message(&o.message)
                    )
                },
            );
        let _ = writeln!(
            md,
            "| {} | {} | {} → {}{delta} | {} | {} | {} | {columns_changed} | {worst} |",
            verdict_icon(*verdict),
            esc(&t.name),
            count(rows.prod),
            count(rows.candidate),
            count(rows.added),
            count(rows.removed),
            count(rows.changed),
        );
    }
}

fn rules_table(md: &mut String, outcomes: &[&RuleOutcome], with_column: bool) {
    if with_column {
        let _ = writeln!(
            md,
            "| status | rule | column | finding |\n|---|---|---|---|"
        );
    } else {
        let _ = writeln!(md, "| status | rule | finding |\n|---|---|---|");
    }
    let mut sorted = outcomes.to_vec();
    sorted.sort_by_key(|o| o.status.report_order());
    for o in sorted {
        let column = o.column.as_deref().map(esc).unwrap_or_default();
        let status = format!("{} {}", status_icon(o.status), o.status.name());
        if with_column {
            let _ = writeln!(
                md,
                "| {status} | {} | {column} | {} |",
                esc(&o.rule),
                message(&o.message)
            );
        } else {
            let _ = writeln!(
                md,
                "| {status} | {} | {} |",
                esc(&o.rule),
                message(&o.message)
            );
        }
    }
}

fn table_details(
    md: &mut String,
    t: &TableReport,
    outcomes: &[&RuleOutcome],
    verdict: Verdict,
    detail: Detail,
) {
    let shown: Vec<&RuleOutcome> = outcomes
        .iter()
        .copied()
        .filter(|o| o.status != Status::Pass)
        .collect();
    // The summary line names what needs a look: not info, not passes.
    let mut counts = StatusCounts {
        info: 0,
        pass: 0,
        ..StatusCounts::of(shown.iter().copied())
    }
    .phrases();
    if counts.is_empty() {
        counts.push("every rule passed".to_string());
    }
    let _ = writeln!(
        md,
        "\n<details>\n<summary>{} <b>{}</b>: {}</summary>\n",
        verdict_icon(verdict),
        esc(&t.name),
        counts.join(", ")
    );
    if t.key_from.is_some() {
        let _ = writeln!(md, "Rows matched by {}.\n", esc(&t.key_phrase()));
    }
    if shown.is_empty() {
        let _ = writeln!(md, "Every rule passed.\n");
    } else {
        rules_table(md, &shown, true);
        md.push('\n');
    }
    if detail <= Detail::NoSamples {
        columns_table(md, t);
    }
    if detail == Detail::Full {
        samples(md, t);
    }
    let _ = writeln!(md, "</details>");
}

fn columns_table(md: &mut String, t: &TableReport) {
    let moved: Vec<_> = t
        .diff
        .columns
        .iter()
        .filter(|c| {
            c.unequal > 0
                || c.drift.as_ref().is_some_and(|d| {
                    d.null_rate_pp != 0.0
                        || d.numeric
                            .as_ref()
                            .is_some_and(|n| n.mean_change.is_some_and(|m| m != 0.0))
                })
        })
        .collect();
    if moved.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "| column | unequal | match rate | max abs diff | null Δpp | mean Δ | PSI | KS |\n|---|---:|---:|---:|---:|---:|---:|---:|"
    );
    let dash = || "—".to_string();
    for c in moved {
        let drift = c.drift.as_ref();
        let numeric = drift.and_then(|d| d.numeric.as_ref());
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            esc(&c.name),
            count(c.unequal),
            c.match_rate.map_or_else(dash, percent),
            c.max_abs_diff.map_or_else(dash, number),
            drift.map_or_else(dash, |d| format!("{:+.2}", d.null_rate_pp)),
            numeric
                .and_then(|n| n.mean_change)
                .map_or_else(dash, signed_percent),
            numeric
                .and_then(|n| n.psi)
                .map_or_else(dash, |v| format!("{v:.4}")),
            numeric
                .and_then(|n| n.ks)
                .map_or_else(dash, |v| format!("{v:.4}")),
        );
    }
    md.push('\n');
}

fn value_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => "NULL".to_string(),
        serde_json::Value::String(s) => esc(s),
        other => esc(&other.to_string()),
    }
}

fn samples(md: &mut String, t: &TableReport) {
    walk_samples(t, &mut MarkdownSamples(md));
}

/// The sample tables as markdown.
struct MarkdownSamples<'a>(&'a mut String);

impl SampleWriter for MarkdownSamples<'_> {
    fn value(&self, value: &serde_json::Value) -> String {
        value_text(value)
    }

    fn name(&self, name: &str) -> String {
        esc(name)
    }

    fn table_start(&mut self, title: &str, note: &str, columns: &[&str]) {
        let rule = vec!["---"; columns.len()].join("|");
        let _ = writeln!(
            self.0,
            "**{title}** {note}\n\n| {} |\n|{rule}|",
            columns.join(" | ")
        );
    }

    fn row(&mut self, cells: &[String]) {
        let _ = writeln!(self.0, "| {} |", cells.join(" | "));
    }

    fn table_end(&mut self) {
        self.0.push('\n');
    }
}
