//! The rule kinds judged column by column: `column_match` (match rate
//! within a tolerance), `stat` (a statistic's change) and `distribution`
//! (PSI or KS), over the compared columns a rule selects.

use serde_json::{Value, json};

use super::{above_finding, bound_phrase, change_text, judge_below, percent_bound, relative};
use crate::diff::{ColumnDiff, ColumnStats, Tolerance};
use crate::format::{count, number, percent};
use crate::report::TableReport;
use crate::rules::model::{Above, Below, Method, Metric, Rule};
use crate::rules::outcome::{Finding, Status};

/// Runs `judge` on every compared column the rule selects (with whether it
/// was named literally), and reports literally named columns that were not
/// compared.
pub(super) fn per_column(
    rule: &Rule,
    t: &TableReport,
    mut judge: impl FnMut(&ColumnDiff, bool) -> Option<Finding>,
) -> Vec<Finding> {
    let mut findings: Vec<Finding> = t
        .diff
        .columns
        .iter()
        .filter(|c| rule.columns.matches(&c.name))
        .filter_map(|c| judge(c, rule.columns.names_literally(&c.name)))
        .collect();
    for literal in rule.columns.literals() {
        if t.diff.columns.iter().any(|c| c.name == literal) {
            continue;
        }
        if let Some(why) = not_compared(t, literal) {
            findings.push(Finding::error(
                Some(literal),
                format!(
                    "column `{literal}` is {why}, so `{}` cannot judge it",
                    rule.kind.check()
                ),
            ));
        }
    }
    findings
}

fn not_compared(t: &TableReport, name: &str) -> Option<String> {
    let d = &t.diff;
    let has = |list: &[String]| list.iter().any(|c| c == name);
    if has(&d.key) {
        Some("a key column".to_string())
    } else if has(&d.schema.added) {
        Some("only in the candidate".to_string())
    } else if has(&d.schema.removed) {
        Some("only in prod".to_string())
    } else if has(&d.schema.ignored) {
        Some("ignored".to_string())
    } else {
        d.schema
            .skipped
            .iter()
            .find(|s| s.column == name)
            .map(|s| format!("not compared ({})", s.reason))
    }
}

fn tolerance_text(t: &Tolerance) -> String {
    let mut parts = Vec::new();
    if t.abs > 0.0 {
        parts.push(format!("abs {}", number(t.abs)));
    }
    if t.rel > 0.0 {
        parts.push(format!("rel {}", number(t.rel)));
    }
    if let Some(ns) = t.duration_ns.filter(|ns| *ns > 0) {
        parts.push(format!("duration {}s", number(ns as f64 / 1e9)));
    }
    if parts.is_empty() {
        "exact".to_string()
    } else {
        parts.join(", ")
    }
}

pub(super) fn column_match(
    c: &ColumnDiff,
    bounds: &Below,
    tolerance: Option<&Tolerance>,
) -> Finding {
    let used = c.tolerance.unwrap_or_default();
    let unequal = match tolerance {
        None => c.unequal,
        Some(wanted) if *wanted == used => c.unequal,
        // Values equal only within a tolerance are unequal without one.
        Some(wanted) if wanted.is_zero() => c.unequal + c.within_tolerance,
        Some(wanted) => {
            return Finding::error(
                Some(&c.name),
                format!(
                    "the report compared `{}` with tolerance {}, not the rule's {}, and cannot tell which values match under it; rerun the diff with these rules",
                    c.name,
                    tolerance_text(&used),
                    tolerance_text(wanted)
                ),
            );
        }
    };
    let tolerance_note = match tolerance.copied().unwrap_or(used) {
        t if t.is_zero() => String::new(),
        t => format!(", tolerance {}", tolerance_text(&t)),
    };
    if c.compared == 0 {
        return Finding {
            column: Some(c.name.clone()),
            status: Status::Pass,
            observed: Value::Null,
            bound: bounds.warn.or(bounds.fail).map_or(Value::Null, Value::from),
            message: "no paired rows to compare".to_string(),
        };
    }
    let share = 1.0 - unequal as f64 / c.compared as f64;
    let (status, bound) = judge_below(bounds, share);
    let phrase = bound_phrase(
        status,
        bound,
        (bounds.warn, bounds.fail),
        "below",
        percent_bound,
    );
    Finding {
        column: Some(c.name.clone()),
        status,
        observed: Value::from(share),
        bound: bound.map_or(Value::Null, Value::from),
        message: format!(
            "{} of {} paired rows match ({} unequal{tolerance_note}): {phrase}",
            percent(share),
            count(c.compared),
            count(unequal)
        ),
    }
}

/// A statistic as a number: JSON numbers, and exact decimals or `inf`
/// written as strings.
fn as_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn metric_value(stats: &ColumnStats, metric: Metric) -> Option<f64> {
    let numeric = stats.numeric.as_ref();
    match metric {
        Metric::Mean => numeric.and_then(|n| as_number(&n.mean)),
        Metric::Sum => numeric.and_then(|n| as_number(&n.sum)),
        Metric::Stddev => numeric.and_then(|n| as_number(&n.stddev)),
        Metric::Min => as_number(&stats.min),
        Metric::Max => as_number(&stats.max),
        Metric::Quantile(level) => numeric.and_then(|n| n.quantiles.get(level).and_then(as_number)),
        Metric::NullRate => Some(stats.null_rate),
        Metric::Distinct => Some(stats.distinct as f64),
    }
}

pub(super) fn stat(
    c: &ColumnDiff,
    literal: bool,
    metric: Metric,
    bounds: &Above,
) -> Option<Finding> {
    let stats = c.stats.as_ref()?;
    let numeric = stats.prod.numeric.is_some() && stats.candidate.numeric.is_some();
    if metric.numeric_only() && !numeric {
        return literal.then(|| {
            Finding::error(
                Some(&c.name),
                format!(
                    "column `{}` is {}, and `{}` needs a numeric column",
                    c.name,
                    c.compared_as,
                    metric.name()
                ),
            )
        });
    }
    let name = metric.name();
    let (prod, candidate) = (
        metric_value(&stats.prod, metric),
        metric_value(&stats.candidate, metric),
    );
    let shown = |v: Option<f64>| v.map_or_else(|| "none".to_string(), number);
    let finding = match (prod, candidate) {
        (None, None) => Finding {
            column: Some(c.name.clone()),
            status: Status::Pass,
            observed: json!(0.0),
            bound: bounds.warn.or(bounds.fail).map_or(Value::Null, Value::from),
            message: format!("{name}: no values on either side"),
        },
        _ if metric == Metric::NullRate => {
            let (p, q) = (prod.unwrap_or(0.0), candidate.unwrap_or(0.0));
            let points = (q - p) * 100.0;
            above_finding(
                Some(&c.name),
                points,
                bounds,
                format!(
                    "null rate {} -> {} ({points:+.2} pp)",
                    percent(p),
                    percent(q)
                ),
                |b| format!("{b} pp"),
            )
        }
        (p, q) => {
            let change = match (p, q) {
                (Some(p), Some(q)) => relative(p, q),
                _ => f64::INFINITY,
            };
            above_finding(
                Some(&c.name),
                change,
                bounds,
                format!(
                    "{name} {} -> {} ({})",
                    shown(p),
                    shown(q),
                    change_text(change)
                ),
                percent_bound,
            )
        }
    };
    Some(finding)
}

pub(super) fn distribution(
    c: &ColumnDiff,
    literal: bool,
    method: Method,
    bounds: &Above,
) -> Option<Finding> {
    let drift = c.drift.as_ref()?;
    let Some(numeric) = &drift.numeric else {
        return literal.then(|| {
            Finding::error(
                Some(&c.name),
                format!(
                    "column `{}` is {}, and `{}` needs a numeric or temporal column",
                    c.name,
                    c.compared_as,
                    method.name()
                ),
            )
        });
    };
    let (label, value) = match method {
        Method::Psi => ("PSI", numeric.psi),
        Method::Ks => ("KS", numeric.ks),
    };
    Some(match value {
        Some(v) => above_finding(Some(&c.name), v, bounds, format!("{label} {v:.4}"), |b| {
            number(b)
        }),
        None => {
            let why = if drift.notes.is_empty() {
                "a side has no values".to_string()
            } else {
                drift.notes.join("; ")
            };
            Finding::error(Some(&c.name), format!("{label} is undefined: {why}"))
        }
    })
}
