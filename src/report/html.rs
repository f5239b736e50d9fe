//! One self-contained HTML page: the verdict, the rules that did not pass,
//! a table of tables, and per table its row classes, schema changes,
//! columns with both sides' statistics side by side, inline SVG charts
//! (prod against candidate on shared bins for numbers, dates and times; top
//! values for strings) and samples. No script, font, style sheet or image
//! is fetched: the file opens offline. Every name and value is escaped.

use std::fmt::Write as _;
use std::io::{self, Write};

use serde_json::Value;

use super::escape::{CELL_LIMIT, html as esc, shorten};
use super::samples::{SampleWriter, walk_samples};
use super::{Report, TableReport};
use crate::diff::drift::Histogram;
use crate::diff::{ColumnDiff, ColumnStats};
use crate::format::{count, percent, signed_percent};
use crate::rules::{RuleOutcome, Status, Verdict};

const STYLE: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:72rem;color:#1f2328;padding:0 1rem}
h1{font-size:1.6rem;margin:.2rem 0}h2{font-size:1.25rem;margin-top:2.2rem;border-bottom:1px solid #d0d7de;padding-bottom:.3rem}
h3{font-size:1rem;margin:1.4rem 0 .4rem}
.badge{display:inline-block;padding:.25rem .7rem;border-radius:.4rem;color:#fff;font-weight:700;letter-spacing:.04em}
.approved{background:#1a7f37}.rejected{background:#cf222e}.error{background:#9a6700}
table{border-collapse:collapse;margin:.4rem 0 1rem;font-size:.88rem}
th,td{border:1px solid #d0d7de;padding:.25rem .55rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums}
.s-fail{color:#cf222e;font-weight:700}.s-error{color:#9a6700;font-weight:700}.s-warn{color:#bc4c00}.s-info{color:#0969da}.s-pass{color:#1a7f37}
.muted{color:#656d76}.charts{display:flex;flex-wrap:wrap;gap:1rem}
figure{margin:0;border:1px solid #d0d7de;border-radius:.4rem;padding:.5rem}figcaption{font-size:.85rem;font-weight:600}
";

const PROD_COLOUR: &str = "#0969da";
const CANDIDATE_COLOUR: &str = "#e16f24";

pub fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    out.write_all(page(report).as_bytes())
}

fn verdict_class(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Approved => "approved",
        Verdict::Rejected => "rejected",
        Verdict::Error => "error",
    }
}

fn page(report: &Report) -> String {
    let mut h = String::new();
    let word = report.verdict.word();
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>dualrun: {word}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
    );
    let _ = writeln!(
        h,
        "<header><span class=\"badge {}\" id=\"verdict\">{word}</span>\
         <h1>dualrun {}</h1><p class=\"muted\">{} · {}{}</p></header>",
        verdict_class(report.verdict),
        esc(&report.command),
        report.judged_by.counts.phrases().join(" · "),
        if report.judged_by.rules_files.is_empty() {
            "no rules file: any difference rejects".to_string()
        } else {
            format!("rules: {}", esc(&report.judged_by.rules_files.join(", ")))
        },
        if report.judged_by.strict {
            " · strict"
        } else {
            ""
        }
    );
    let notable: Vec<&RuleOutcome> = report
        .rules
        .iter()
        .filter(|o| o.status != Status::Pass)
        .collect();
    if !notable.is_empty() {
        h.push_str("<h2>Rules that did not pass</h2>\n");
        rules_table(&mut h, &notable);
    }
    if let Some(models) = &report.models {
        let _ = writeln!(
            h,
            "<p id=\"first-divergent\"><b>First divergent models:</b> {} <span class=\"muted\">({})</span></p>",
            if models.first_divergent.is_empty() {
                "none".to_string()
            } else {
                esc(&models.first_divergent.join(", "))
            },
            esc(&models.summary())
        );
    }
    for side in report.sides.iter().filter(|s| s.failed()) {
        let _ = writeln!(
            h,
            "<h2>The {} side ({}) failed</h2><p>{}</p><pre>{}</pre>",
            esc(side.side.name()),
            esc(&side.engine),
            esc(&side.message),
            esc(&side.log_tail.join("\n"))
        );
    }
    h.push_str("<h2>Tables</h2>\n<table><tr><th>table</th><th>status</th><th class=\"n\">rows prod</th><th class=\"n\">rows candidate</th><th class=\"n\">identical</th><th class=\"n\">changed</th><th class=\"n\">added</th><th class=\"n\">removed</th></tr>\n");
    for t in &report.tables {
        let r = &t.diff.rows;
        let _ = writeln!(
            h,
            "<tr><td><a href=\"#t-{}\">{}</a></td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            anchor(&t.name),
            esc(&t.name),
            t.status.name(),
            count(r.prod),
            count(r.candidate),
            count(r.identical),
            count(r.changed),
            count(r.added),
            count(r.removed)
        );
    }
    h.push_str("</table>\n");
    for t in &report.tables {
        table_section(&mut h, t);
    }
    h.push_str("</body>\n</html>\n");
    h
}

/// An id made only of safe characters.
fn anchor(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

fn rules_table(h: &mut String, outcomes: &[&RuleOutcome]) {
    h.push_str("<table><tr><th>status</th><th>rule</th><th>where</th><th>finding</th></tr>\n");
    let mut sorted = outcomes.to_vec();
    sorted.sort_by_key(|o| o.status.report_order());
    for o in sorted {
        let place = o.place();
        let _ = writeln!(
            h,
            "<tr><td class=\"s-{0}\">{0}</td><td>{1}</td><td>{2}</td><td>{3}</td></tr>",
            o.status.name(),
            esc(&o.rule),
            esc(&place),
            esc(&o.message)
        );
    }
    h.push_str("</table>\n");
}

fn table_section(h: &mut String, t: &TableReport) {
    let _ = writeln!(
        h,
        "<section id=\"t-{}\"><h2>{}</h2>",
        anchor(&t.name),
        esc(&t.name)
    );
    let _ = writeln!(
        h,
        "<p class=\"muted\">prod: {} ({} rows) · candidate: {} ({} rows) · {}</p>",
        esc(&t.prod.source),
        count(t.prod.rows),
        esc(&t.candidate.source),
        count(t.candidate.rows),
        esc(&t.key_phrase())
    );
    let r = &t.diff.rows;
    h.push_str(
        "<table><tr><th>rows</th><th class=\"n\">prod</th><th class=\"n\">candidate</th></tr>\n",
    );
    for (label, p, c) in [
        ("identical", r.identical, r.identical),
        ("within tolerance", r.within_tolerance, r.within_tolerance),
        ("changed", r.changed, r.changed),
        ("only in prod (removed)", r.removed, 0),
        ("only in candidate (added)", 0, r.added),
        (
            "duplicate keys",
            r.duplicate_keys.prod,
            r.duplicate_keys.candidate,
        ),
        ("NULL keys", r.null_keys.prod, r.null_keys.candidate),
        ("total", r.prod, r.candidate),
    ] {
        let _ = writeln!(
            h,
            "<tr><td>{label}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            count(p),
            count(c)
        );
    }
    h.push_str("</table>\n");
    schema(h, t);
    columns(h, t);
    charts(h, t);
    samples(h, t);
    h.push_str("</section>\n");
}

fn schema(h: &mut String, t: &TableReport) {
    let s = &t.diff.schema;
    let mut items: Vec<String> = Vec::new();
    items.extend(s.added.iter().map(|c| format!("added: {}", esc(c))));
    items.extend(s.removed.iter().map(|c| format!("removed: {}", esc(c))));
    items.extend(s.retyped.iter().map(|r| {
        format!(
            "retyped: {} ({} → {})",
            esc(&r.column),
            esc(&r.prod),
            esc(&r.candidate)
        )
    }));
    items.extend(
        s.nullability_changed
            .iter()
            .map(|n| format!("nullability changed: {}", esc(&n.column))),
    );
    if s.reordered {
        items.push("shared columns reordered".to_string());
    }
    items.extend(
        s.skipped
            .iter()
            .map(|k| format!("skipped: {} ({})", esc(&k.column), esc(&k.reason))),
    );
    if !items.is_empty() {
        h.push_str("<h3>Schema</h3><ul>");
        for item in items {
            let _ = write!(h, "<li>{item}</li>");
        }
        h.push_str("</ul>\n");
    }
}

fn value(v: &Value) -> String {
    match v {
        Value::Null => "NULL".to_string(),
        Value::Number(n) if n.is_f64() => n.as_f64().map_or(String::new(), crate::format::number),
        Value::String(s) => esc(&shorten(s, CELL_LIMIT)),
        other => esc(&shorten(&other.to_string(), CELL_LIMIT)),
    }
}

fn stat_pair(
    stats: Option<(&ColumnStats, &ColumnStats)>,
    pick: impl Fn(&ColumnStats) -> String,
) -> String {
    match stats {
        Some((p, c)) => {
            let (a, b) = (pick(p), pick(c));
            if a == b { a } else { format!("{a} → {b}") }
        }
        None => "—".to_string(),
    }
}

fn columns(h: &mut String, t: &TableReport) {
    if t.diff.columns.is_empty() {
        return;
    }
    h.push_str("<h3>Columns</h3><table><tr><th>column</th><th>type</th><th class=\"n\">unequal</th><th class=\"n\">match rate</th><th>nulls</th><th>distinct</th><th>min</th><th>max</th><th>mean</th><th>p50</th><th>PSI</th></tr>\n");
    for c in &t.diff.columns {
        let stats = c.stats.as_ref().map(|s| (&s.prod, &s.candidate));
        let numeric = |f: fn(&crate::diff::stats::NumericStats) -> &Value| {
            move |s: &ColumnStats| s.numeric.as_ref().map_or("—".to_string(), |n| value(f(n)))
        };
        let psi = c
            .drift
            .as_ref()
            .and_then(|d| d.numeric.as_ref())
            .and_then(|n| n.psi)
            .map_or("—".to_string(), |v| format!("{v:.4}"));
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{psi}</td></tr>",
            esc(&c.name),
            esc(&c.compared_as),
            count(c.unequal),
            c.match_rate.map_or("—".to_string(), percent),
            stat_pair(stats, |s| percent(s.null_rate)),
            stat_pair(stats, |s| count(s.distinct)),
            stat_pair(stats, |s| value(&s.min)),
            stat_pair(stats, |s| value(&s.max)),
            stat_pair(stats, numeric(|n| &n.mean)),
            stat_pair(
                stats,
                numeric(|n| n.quantiles.get("p50").unwrap_or(&Value::Null))
            ),
        );
    }
    h.push_str("</table>\n");
}

fn charts(h: &mut String, t: &TableReport) {
    let mut figures = Vec::new();
    for c in &t.diff.columns {
        if let Some(hist) = c
            .drift
            .as_ref()
            .and_then(|d| d.numeric.as_ref())
            .and_then(|n| n.histogram.as_ref())
        {
            figures.push(histogram_svg(c, hist));
        } else if let Some(svg) = top_values_svg(c) {
            figures.push(svg);
        }
    }
    if figures.is_empty() {
        return;
    }
    h.push_str("<h3>Distributions, prod against candidate</h3><div class=\"charts\">\n");
    for figure in figures {
        h.push_str(&figure);
    }
    h.push_str("</div>\n");
}

const WIDTH: f64 = 420.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 48.0;
const BOTTOM: f64 = 34.0;
const TOP: f64 = 26.0;

fn legend(svg: &mut String) {
    let _ = write!(
        svg,
        "<rect x=\"{x}\" y=\"6\" width=\"10\" height=\"10\" fill=\"{PROD_COLOUR}\"/><text x=\"{tx}\" y=\"15\" font-size=\"11\">prod</text>\
         <rect x=\"{x2}\" y=\"6\" width=\"10\" height=\"10\" fill=\"{CANDIDATE_COLOUR}\"/><text x=\"{tx2}\" y=\"15\" font-size=\"11\">candidate</text>",
        x = LEFT,
        tx = LEFT + 14.0,
        x2 = LEFT + 60.0,
        tx2 = LEFT + 74.0
    );
}

/// Prod and candidate bars side by side on each shared bin, with the
/// share axis on the left and the bin edges below.
fn histogram_svg(c: &ColumnDiff, hist: &Histogram) -> String {
    let bins = hist.prod.len().max(1);
    let top = hist
        .prod
        .iter()
        .chain(&hist.candidate)
        .copied()
        .fold(0.0, f64::max)
        .max(1e-9);
    let plot_w = WIDTH - LEFT - 10.0;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let bin_w = plot_w / bins as f64;
    let mut svg = format!(
        "<figure><figcaption>{}</figcaption><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" role=\"img\" aria-label=\"distribution of {}\">",
        esc(&c.name),
        esc(&c.name)
    );
    legend(&mut svg);
    for (i, (p, q)) in hist.prod.iter().zip(&hist.candidate).enumerate() {
        let x = LEFT + i as f64 * bin_w;
        for (j, (share, colour)) in [(p, PROD_COLOUR), (q, CANDIDATE_COLOUR)]
            .into_iter()
            .enumerate()
        {
            let bar_h = share / top * plot_h;
            let _ = write!(
                svg,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{colour}\"><title>{}</title></rect>",
                x + 1.0 + j as f64 * (bin_w - 2.0) / 2.0,
                TOP + plot_h - bar_h,
                ((bin_w - 2.0) / 2.0).max(0.5),
                bar_h,
                percent(*share)
            );
        }
    }
    let axis_y = TOP + plot_h;
    let _ = write!(
        svg,
        "<line x1=\"{LEFT}\" y1=\"{axis_y}\" x2=\"{}\" y2=\"{axis_y}\" stroke=\"#57606a\"/>\
         <line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{axis_y}\" stroke=\"#57606a\"/>\
         <text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"end\">{}</text>\
         <text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"end\">0%</text>",
        LEFT + plot_w,
        LEFT - 4.0,
        TOP + 8.0,
        percent(top),
        LEFT - 4.0,
        axis_y
    );
    let last = hist.labels.len().saturating_sub(1);
    for (i, anchor) in [(0, "start"), (last / 2, "middle"), (last, "end")] {
        if let Some(label) = hist.labels.get(i) {
            let x = LEFT + i as f64 * bin_w;
            let _ = write!(
                svg,
                "<text x=\"{x:.1}\" y=\"{}\" font-size=\"10\" text-anchor=\"{anchor}\">{}</text>",
                axis_y + 14.0,
                esc(label)
            );
        }
    }
    let _ = write!(
        svg,
        "<text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\" fill=\"#57606a\">{} (share of values per bin)</text></svg></figure>",
        LEFT + plot_w / 2.0,
        HEIGHT - 4.0,
        esc(&c.name)
    );
    svg
}

/// Horizontal bars of the most frequent values' shares, prod over candidate.
fn top_values_svg(c: &ColumnDiff) -> Option<String> {
    let stats = c.stats.as_ref()?;
    let (pt, ct) = (stats.prod.text.as_ref()?, stats.candidate.text.as_ref()?);
    let non_null = |s: &ColumnStats| (s.count - s.null_count).max(1) as f64;
    let (pn, cn) = (non_null(&stats.prod), non_null(&stats.candidate));
    let mut values: Vec<&Value> = Vec::new();
    for top in pt.top.iter().chain(&ct.top) {
        if !values.contains(&&top.value) && values.len() < 8 {
            values.push(&top.value);
        }
    }
    if values.is_empty() {
        return None;
    }
    let share = |tops: &[crate::diff::stats::TopValue], n: f64, v: &Value| {
        tops.iter()
            .find(|t| &t.value == v)
            .map_or(0.0, |t| t.count as f64 / n)
    };
    let widest = values
        .iter()
        .flat_map(|v| [share(&pt.top, pn, v), share(&ct.top, cn, v)])
        .fold(0.0, f64::max)
        .max(1e-9);
    let row_h = 22.0;
    let height = TOP + row_h * values.len() as f64 + 20.0;
    let label_w = 120.0;
    let plot_w = WIDTH - label_w - 60.0;
    let mut svg = format!(
        "<figure><figcaption>{} (top values)</figcaption><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" role=\"img\" aria-label=\"top values of {}\">",
        esc(&c.name),
        esc(&c.name)
    );
    legend(&mut svg);
    for (i, v) in values.iter().enumerate() {
        let y = TOP + i as f64 * row_h;
        let label = match v {
            Value::String(s) => shorten(s, 18),
            other => shorten(&other.to_string(), 18),
        };
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\">{}</text>",
            label_w - 4.0,
            y + 14.0,
            esc(&label)
        );
        for (j, (s, colour)) in [
            (share(&pt.top, pn, v), PROD_COLOUR),
            (share(&ct.top, cn, v), CANDIDATE_COLOUR),
        ]
        .into_iter()
        .enumerate()
        {
            let _ = write!(
                svg,
                "<rect x=\"{label_w}\" y=\"{:.1}\" width=\"{:.1}\" height=\"9\" fill=\"{colour}\"><title>{}</title></rect>",
                y + 2.0 + j as f64 * 10.0,
                (s / widest * plot_w).max(0.5),
                percent(s)
            );
        }
        let p = share(&pt.top, pn, v);
        let q = share(&ct.top, cn, v);
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"9\" fill=\"#57606a\">{}</text>",
            label_w + p.max(q) / widest * plot_w + 4.0,
            y + 14.0,
            if (q - p).abs() > 0.0 {
                signed_percent(q - p).replace('%', " pp")
            } else {
                String::new()
            }
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\" fill=\"#57606a\">share of non-null values</text></svg></figure>",
        label_w + plot_w / 2.0,
        height - 4.0
    );
    Some(svg)
}

fn samples(h: &mut String, t: &TableReport) {
    walk_samples(t, &mut HtmlSamples(h));
}

/// The sample tables as HTML.
struct HtmlSamples<'a>(&'a mut String);

impl SampleWriter for HtmlSamples<'_> {
    fn value(&self, v: &Value) -> String {
        value(v)
    }

    fn name(&self, name: &str) -> String {
        esc(name)
    }

    fn table_start(&mut self, title: &str, note: &str, columns: &[&str]) {
        let _ = write!(
            self.0,
            "<h3>{title} <span class=\"muted\">{note}</span></h3><table>"
        );
        // A table of whole rows is one column: its title says what it is.
        if columns.len() > 1 {
            let header: String = columns.iter().map(|c| format!("<th>{c}</th>")).collect();
            let _ = write!(self.0, "<tr>{header}</tr>");
        }
        self.0.push('\n');
    }

    fn row(&mut self, cells: &[String]) {
        let cells: String = cells.iter().map(|c| format!("<td>{c}</td>")).collect();
        let _ = writeln!(self.0, "<tr>{cells}</tr>");
    }

    fn table_end(&mut self) {
        self.0.push_str("</table>\n");
    }
}
