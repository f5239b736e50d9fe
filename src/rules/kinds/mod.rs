//! Each rule kind judged on one table of a report: the figure it bounds,
//! read from the report model, and a message a person can act on.
//!
//! Relative changes use prod as the denominator; a change away from a prod
//! figure of 0 is unbounded (observed null, beyond every bound).

use serde_json::{Value, json};

use super::model::{Above, Below, KeyProblem, Rule, RuleKind, RuleSet, SchemaChange};
use super::names::{TableColumns, changed_ignore_set};
use super::outcome::{Finding, Status};
use crate::format::{count, number, percent, signed_percent};
use crate::report::{TableReport, TableStatus};

mod columns;
pub mod dbt_test;
use columns::{column_match, distribution, per_column, stat};

pub fn evaluate(rule: &Rule, rules: &RuleSet, t: &TableReport) -> Vec<Finding> {
    let rows = &t.diff.rows;
    // A table on one side only is a schema matter: figures comparing the
    // two sides would only restate that one of them is empty.
    if let Some(side) = t.status.only_on()
        && !matches!(
            rule.kind,
            RuleKind::Identical
                | RuleKind::Schema { .. }
                | RuleKind::Expect { .. }
                | RuleKind::DbtTest { .. }
        )
    {
        return vec![Finding {
            column: None,
            status: Status::Info,
            observed: Value::Null,
            bound: Value::Null,
            message: format!("not evaluated: the table is only in {side}"),
        }];
    }
    match &rule.kind {
        RuleKind::Identical => vec![identical(t)],
        RuleKind::RowCount { relative, absolute } => row_count(t, relative, absolute),
        RuleKind::Schema { fail_on, warn_on } => schema(rule, t, fail_on, warn_on),
        RuleKind::KeyIntegrity { fail_on, warn_on } => key_integrity(t, fail_on, warn_on),
        RuleKind::RowsAdded(bounds) => vec![row_share("added", rows.added, rows.prod, bounds, "")],
        RuleKind::RowsRemoved(bounds) => {
            vec![row_share("removed", rows.removed, rows.prod, bounds, "")]
        }
        RuleKind::RowsChanged { bounds, .. } => vec![rows_changed(rule, rules, t, bounds)],
        RuleKind::ColumnMatch { bounds, tolerance } => {
            if t.diff.key.is_empty() {
                return vec![needs_key("column_match")];
            }
            per_column(rule, t, |c, _| {
                Some(column_match(c, bounds, tolerance.as_ref()))
            })
        }
        RuleKind::Stat { metric, bounds } => {
            if t.diff.columns.iter().any(|c| c.stats.is_none()) {
                return vec![needs_stats("stat")];
            }
            per_column(rule, t, |c, literal| stat(c, literal, *metric, bounds))
        }
        RuleKind::Distribution { method, bounds } => {
            if t.diff.columns.iter().any(|c| c.drift.is_none()) {
                return vec![needs_stats("distribution")];
            }
            per_column(rule, t, |c, literal| {
                distribution(c, literal, *method, bounds)
            })
        }
        RuleKind::Expect { reason } => expect(rule, t, reason),
        RuleKind::DbtTest { fail_on, warn_on } => {
            dbt_test::dbt_tests(&t.dbt_tests, fail_on, warn_on)
        }
    }
}

/// Every column name of a table a rule may use: keys, compared columns,
/// columns only on one side, ignored and skipped ones.
pub fn table_columns(t: &TableReport) -> Vec<String> {
    let d = &t.diff;
    let mut names: Vec<String> = d.key.clone();
    names.extend(d.columns.iter().map(|c| c.name.clone()));
    names.extend(d.schema.added.iter().cloned());
    names.extend(d.schema.removed.iter().cloned());
    names.extend(d.schema.ignored.iter().cloned());
    names.extend(d.schema.skipped.iter().map(|s| s.column.clone()));
    names
}

impl TableColumns {
    /// The names of a table already diffed, from its report.
    pub fn of_report(t: &TableReport) -> Self {
        TableColumns {
            name: t.name.clone(),
            columns: table_columns(t),
        }
    }
}

fn needs_key(check: &str) -> Finding {
    Finding::error(
        None,
        format!("`{check}` needs a keyed diff; this one compared whole rows (add a key)"),
    )
}

fn needs_stats(check: &str) -> Finding {
    Finding::error(
        None,
        format!(
            "`{check}` needs column statistics, which this diff skipped (`--no-stats`); rerun without it"
        ),
    )
}

/// The status of a figure against bounds it must stay at or below.
fn judge_above(bounds: &Above, magnitude: f64) -> (Status, Option<f64>) {
    match (bounds.fail, bounds.warn) {
        (Some(fail), _) if magnitude > fail => (Status::Fail, Some(fail)),
        (_, Some(warn)) if magnitude > warn => (Status::Warn, Some(warn)),
        _ => (Status::Pass, bounds.warn.or(bounds.fail)),
    }
}

/// The status of a figure against bounds it must stay at or above.
fn judge_below(bounds: &Below, share: f64) -> (Status, Option<f64>) {
    match (bounds.fail, bounds.warn) {
        (Some(fail), _) if share < fail => (Status::Fail, Some(fail)),
        (_, Some(warn)) if share < warn => (Status::Warn, Some(warn)),
        _ => (Status::Pass, bounds.warn.or(bounds.fail)),
    }
}

/// "above the fail bound 5.00%", or on a pass "within warn 1.00%, fail 5.00%".
fn bound_phrase(
    status: Status,
    bound: Option<f64>,
    (warn, fail): (Option<f64>, Option<f64>),
    side: &str,
    show: impl Fn(f64) -> String,
) -> String {
    match (status, bound) {
        (Status::Fail | Status::Warn, Some(b)) => {
            format!("{side} the {} bound {}", status.name(), show(b))
        }
        _ => {
            let parts: Vec<String> = [("warn", warn), ("fail", fail)]
                .iter()
                .filter_map(|(name, b)| b.map(|b| format!("{name} {}", show(b))))
                .collect();
            format!("within bounds ({})", parts.join(", "))
        }
    }
}

/// Judges a figure whose magnitude is bounded from above; `shown` is how
/// the observed figure reads in the message.
fn above_finding(
    column: Option<&str>,
    observed: f64,
    bounds: &Above,
    shown: String,
    show_bound: impl Fn(f64) -> String,
) -> Finding {
    let (status, bound) = judge_above(bounds, observed.abs());
    let phrase = bound_phrase(
        status,
        bound,
        (bounds.warn, bounds.fail),
        "above",
        show_bound,
    );
    Finding {
        column: column.map(str::to_string),
        status,
        observed: Value::from(observed),
        bound: bound.map_or(Value::Null, Value::from),
        message: format!("{shown}: {phrase}"),
    }
}

/// `(candidate - prod) / |prod|`; unbounded when prod is 0 and the
/// candidate is not.
fn relative(prod: f64, candidate: f64) -> f64 {
    if prod == candidate {
        0.0
    } else if prod == 0.0 || !prod.is_finite() || !candidate.is_finite() {
        f64::INFINITY
    } else {
        (candidate - prod) / prod.abs()
    }
}

/// A bound on a fraction, as a percentage with the precision it was given.
fn percent_bound(bound: f64) -> String {
    format!("{}%", number(bound * 100.0))
}

fn change_text(change: f64) -> String {
    if change.is_finite() {
        signed_percent(change)
    } else {
        "unbounded change".to_string()
    }
}

fn identical(t: &TableReport) -> Finding {
    let rows = &t.diff.rows;
    let differing = rows.changed + rows.added + rows.removed;
    let mut parts = vec![format!(
        "{} changed, {} added, {} removed rows",
        count(rows.changed),
        count(rows.added),
        count(rows.removed)
    )];
    if let Some(side) = t.status.only_on() {
        parts = vec![format!("the table is only in {side}")];
    } else if t.diff.schema.has_changes() {
        parts.push("the schema changed".to_string());
    }
    if rows.null_keys.prod != rows.null_keys.candidate {
        parts.push(format!(
            "NULL keys {} -> {}",
            count(rows.null_keys.prod),
            count(rows.null_keys.candidate)
        ));
    }
    let differs = t.status != TableStatus::Equal;
    Finding {
        column: None,
        status: if differs { Status::Fail } else { Status::Pass },
        observed: json!(differing),
        bound: json!(0),
        message: if differs {
            format!("{}; any difference rejects", parts.join("; "))
        } else {
            "no difference".to_string()
        },
    }
}

fn row_count(t: &TableReport, relative_bounds: &Above, absolute: &Above) -> Vec<Finding> {
    let rows = &t.diff.rows;
    let (prod, candidate) = (rows.prod as f64, rows.candidate as f64);
    let shown = |extra: String| {
        format!(
            "rows {} -> {} ({extra})",
            count(rows.prod),
            count(rows.candidate)
        )
    };
    let mut findings = Vec::new();
    if *relative_bounds != Above::default() {
        let change = relative(prod, candidate);
        findings.push(above_finding(
            None,
            change,
            relative_bounds,
            shown(change_text(change)),
            percent_bound,
        ));
    }
    if *absolute != Above::default() {
        let delta = candidate - prod;
        findings.push(above_finding(
            None,
            delta,
            absolute,
            shown(format!("{delta:+} rows")),
            |b| format!("{} rows", count(b as u64)),
        ));
    }
    findings
}

fn row_share(what: &str, rows: u64, prod: u64, bounds: &Above, note: &str) -> Finding {
    let share = if rows == 0 {
        0.0
    } else if prod == 0 {
        f64::INFINITY
    } else {
        rows as f64 / prod as f64
    };
    let share_text = if share.is_finite() {
        percent(share)
    } else {
        "all (prod is empty)".to_string()
    };
    above_finding(
        None,
        share,
        bounds,
        format!(
            "{share_text} of prod rows {what} ({} of {}{note})",
            count(rows),
            count(prod)
        ),
        percent_bound,
    )
}

fn rows_changed(rule: &Rule, rules: &RuleSet, t: &TableReport, bounds: &Above) -> Finding {
    if t.diff.key.is_empty() {
        return needs_key("rows_changed");
    }
    let rows = &t.diff.rows;
    let compared: Vec<&str> = t.diff.columns.iter().map(|c| c.name.as_str()).collect();
    let wanted: Vec<String> = changed_ignore_set(rules, rule, &t.name, &table_columns(t))
        .into_iter()
        .filter(|c| compared.contains(&c.as_str()))
        .collect();
    if wanted.is_empty() {
        return row_share("changed", rows.changed, rows.prod, bounds, "");
    }
    let entry = rows.changed_ignoring.iter().find(|e| {
        let mut set: Vec<&String> = e
            .columns
            .iter()
            .filter(|c| compared.contains(&c.as_str()))
            .collect();
        set.sort();
        set == wanted.iter().collect::<Vec<_>>()
    });
    let left_out = wanted
        .iter()
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(", ");
    match entry {
        Some(e) => row_share(
            "changed",
            e.changed,
            rows.prod,
            bounds,
            &format!("; leaving out {left_out}"),
        ),
        None => Finding::error(
            None,
            format!(
                "the report has no count of rows changed leaving out {left_out}; rerun the diff with these rules"
            ),
        ),
    }
}

fn schema(
    rule: &Rule,
    t: &TableReport,
    fail_on: &[SchemaChange],
    warn_on: &[SchemaChange],
) -> Vec<Finding> {
    let s = &t.diff.schema;
    let mut changes: Vec<(SchemaChange, Option<String>, String)> = Vec::new();
    match t.status {
        TableStatus::Added => changes.push((
            SchemaChange::TableAdded,
            None,
            "the table is only in the candidate".into(),
        )),
        TableStatus::Removed => changes.push((
            SchemaChange::TableRemoved,
            None,
            "the table is only in prod".into(),
        )),
        TableStatus::Equal | TableStatus::Different => {}
    }
    for c in &s.added {
        changes.push((
            SchemaChange::Added,
            Some(c.clone()),
            "only in the candidate".into(),
        ));
    }
    for c in &s.removed {
        changes.push((
            SchemaChange::Removed,
            Some(c.clone()),
            "only in prod".into(),
        ));
    }
    for r in &s.retyped {
        let how = format!("type {} -> {}", r.prod, r.candidate);
        changes.push((SchemaChange::TypeChanged, Some(r.column.clone()), how));
    }
    for n in &s.nullability_changed {
        let word = |nullable: bool| if nullable { "nullable" } else { "not null" };
        let how = format!("{} -> {}", word(n.prod), word(n.candidate));
        changes.push((
            SchemaChange::NullabilityChanged,
            Some(n.column.clone()),
            how,
        ));
    }
    if s.reordered {
        changes.push((
            SchemaChange::Reordered,
            None,
            "shared columns reordered".into(),
        ));
    }
    let listed: Vec<String> = fail_on
        .iter()
        .chain(warn_on)
        .map(|c| c.name().to_string())
        .collect();
    let mut findings = Vec::new();
    for (change, column, how) in changes {
        if column.as_deref().is_some_and(|c| !rule.columns.matches(c)) {
            continue;
        }
        let (status, list, field) = if fail_on.contains(&change) {
            (Status::Fail, fail_on, "fail_on")
        } else if warn_on.contains(&change) {
            (Status::Warn, warn_on, "warn_on")
        } else {
            continue;
        };
        let subject = column
            .as_ref()
            .map_or(String::new(), |c| format!("column `{c}` "));
        findings.push(Finding {
            column,
            status,
            observed: json!(change.name()),
            bound: json!(list.iter().map(|c| c.name()).collect::<Vec<_>>()),
            message: format!("{subject}{how}: `{}` is in `{field}`", change.name()),
        });
    }
    if findings.is_empty() {
        findings.push(Finding {
            column: None,
            status: Status::Pass,
            observed: Value::Null,
            bound: json!(listed),
            message: format!("no schema change of the kinds {}", listed.join(", ")),
        });
    }
    findings
}

fn key_integrity(t: &TableReport, fail_on: &[KeyProblem], warn_on: &[KeyProblem]) -> Vec<Finding> {
    if t.diff.key.is_empty() {
        return vec![needs_key("key_integrity")];
    }
    let rows = &t.diff.rows;
    fail_on
        .iter()
        .map(|p| (p, Status::Fail))
        .chain(warn_on.iter().map(|p| (p, Status::Warn)))
        .map(|(problem, status)| {
            let (per_side, what) = match problem {
                KeyProblem::Null => (rows.null_keys, "rows with a NULL key"),
                KeyProblem::Duplicate => (rows.duplicate_keys, "duplicate keys"),
            };
            let total = per_side.prod + per_side.candidate;
            Finding {
                column: None,
                status: if total > 0 { status } else { Status::Pass },
                observed: json!(total),
                bound: json!(0),
                message: format!(
                    "{what}: {} (prod {}, candidate {})",
                    count(total),
                    count(per_side.prod),
                    count(per_side.candidate)
                ),
            }
        })
        .collect()
}

fn expect(rule: &Rule, t: &TableReport, reason: &str) -> Vec<Finding> {
    let info = |column: Option<String>| Finding {
        column,
        status: Status::Info,
        observed: Value::Null,
        bound: Value::Null,
        message: format!("expected change: {reason}"),
    };
    if !rule.columns.is_explicit() {
        return vec![info(None)];
    }
    table_columns(t)
        .into_iter()
        .filter(|c| rule.columns.matches(c))
        .map(|c| info(Some(c)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_inclusive_and_fail_outranks_warn() {
        let bounds = Above {
            warn: Some(0.01),
            fail: Some(0.05),
        };
        assert_eq!(judge_above(&bounds, 0.01), (Status::Pass, Some(0.01)));
        assert_eq!(judge_above(&bounds, 0.02), (Status::Warn, Some(0.01)));
        assert_eq!(judge_above(&bounds, 0.05), (Status::Warn, Some(0.01)));
        assert_eq!(
            judge_above(&bounds, f64::INFINITY),
            (Status::Fail, Some(0.05))
        );
        let below = Below {
            warn: Some(0.999),
            fail: Some(0.99),
        };
        assert_eq!(judge_below(&below, 0.999), (Status::Pass, Some(0.999)));
        assert_eq!(judge_below(&below, 0.995), (Status::Warn, Some(0.999)));
        assert_eq!(judge_below(&below, 0.5), (Status::Fail, Some(0.99)));
    }

    #[test]
    fn relative_changes_use_prod_and_never_divide_by_zero() {
        assert_eq!(relative(100.0, 102.0), 0.02);
        assert_eq!(relative(-100.0, -102.0), -0.02);
        assert_eq!(relative(0.0, 0.0), 0.0);
        assert_eq!(relative(0.0, 1.0), f64::INFINITY);
        assert_eq!(relative(f64::INFINITY, f64::INFINITY), 0.0);
        assert_eq!(relative(1.0, f64::NAN), f64::INFINITY);
    }
}
