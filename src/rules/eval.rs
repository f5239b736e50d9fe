//! Judging: every rule on every table and column it selects, over the
//! report model alone (so `check` can judge a saved report the same way),
//! then `expect` turns intended findings into info, `--strict` turns
//! warnings into failures, and the outcomes add up to a verdict.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::kinds::evaluate;
use super::model::{Rule, RuleKind, RuleSet, SchemaChange};

use super::outcome::{Finding, RuleOutcome, Status, Verdict};
use crate::report::{TableReport, TableStatus};

/// The outcomes of every rule, and the verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    pub verdict: Verdict,
    pub outcomes: Vec<RuleOutcome>,
}

pub fn judge(tables: &[TableReport], rules: &RuleSet, strict: bool) -> Judgement {
    let mut outcomes = Vec::new();
    for rule in &rules.rules {
        let selected: Vec<&TableReport> = tables
            .iter()
            .filter(|t| rule.tables.matches(&t.name))
            .collect();
        let mut found = 0;
        for table in &selected {
            for finding in evaluate(rule, rules, table) {
                found += 1;
                outcomes.push(labelled(rule, Some(&table.name), finding));
            }
        }
        if found == 0 {
            outcomes.push(labelled(
                rule,
                None,
                matched_nothing(rule, selected.is_empty()),
            ));
        }
    }
    outcomes.extend(unjudged_presence(tables, rules));
    outcomes.extend(unjudged_dbt_tests(tables, rules));
    apply_expectations(&mut outcomes, rules);
    if strict {
        for outcome in outcomes.iter_mut().filter(|o| o.status == Status::Warn) {
            outcome.status = Status::Fail;
            outcome
                .message
                .push_str(" (a warning, failing under `--strict`)");
        }
    }
    Judgement {
        verdict: Verdict::of(&outcomes),
        outcomes,
    }
}

fn labelled(rule: &Rule, table: Option<&str>, finding: Finding) -> RuleOutcome {
    RuleOutcome {
        rule: rule.label(),
        check: rule.kind.check().to_string(),
        origin: rule.origin.to_string(),
        table: table.map(str::to_string),
        column: finding.column,
        status: finding.status,
        observed: finding.observed,
        bound: finding.bound,
        message: finding.message,
    }
}

/// A rule that selected nothing is an error when it named tables or
/// columns (most likely a typo), and only worth a note when it meant "every
/// column this applies to" and there was none.
fn matched_nothing(rule: &Rule, no_table: bool) -> Finding {
    let what = if no_table { "table" } else { "column" };
    let message = format!(
        "rule {} `{}` matched no {what}",
        rule.origin.index,
        rule.kind.check()
    );
    if (no_table && rule.tables.is_explicit()) || rule.columns.is_explicit() {
        Finding::error(None, message)
    } else {
        Finding {
            column: None,
            status: Status::Info,
            observed: Value::Null,
            bound: Value::Null,
            message: format!("{message} it applies to"),
        }
    }
}

/// dbt tests that did not pass count even without a `dbt_test` rule: by
/// the default lists (a failure or error fails, a warning warns).
fn unjudged_dbt_tests(tables: &[TableReport], rules: &RuleSet) -> Vec<RuleOutcome> {
    use super::kinds::dbt_test::{DEFAULT_FAIL_ON, DEFAULT_WARN_ON, dbt_tests};
    tables
        .iter()
        .filter(|t| !t.dbt_tests.is_empty())
        .filter(|t| {
            !rules
                .rules
                .iter()
                .any(|r| matches!(r.kind, RuleKind::DbtTest { .. }) && r.tables.matches(&t.name))
        })
        .flat_map(|t| {
            dbt_tests(&t.dbt_tests, &DEFAULT_FAIL_ON, &DEFAULT_WARN_ON)
                .into_iter()
                .map(|finding| RuleOutcome {
                    rule: "dbt tests".to_string(),
                    check: "dbt_test".to_string(),
                    origin: "built-in".to_string(),
                    table: Some(t.name.clone()),
                    column: finding.column,
                    status: finding.status,
                    observed: finding.observed,
                    bound: finding.bound,
                    message: finding.message,
                })
        })
        .collect()
}

/// Tables on one side only that no `schema` (or `identical`) rule judged
/// are not let through silently: a removed table fails (its readers would
/// break), a new one warns.
fn unjudged_presence(tables: &[TableReport], rules: &RuleSet) -> Vec<RuleOutcome> {
    tables
        .iter()
        .filter_map(|t| Some((t, t.status.only_on()?)))
        .filter(|(t, _)| {
            !rules.rules.iter().any(|r| {
                matches!(r.kind, RuleKind::Schema { .. } | RuleKind::Identical)
                    && r.tables.matches(&t.name)
            })
        })
        .map(|(t, side)| {
            let (change, status) = if t.status == TableStatus::Removed {
                (SchemaChange::TableRemoved, Status::Fail)
            } else {
                (SchemaChange::TableAdded, Status::Warn)
            };
            RuleOutcome {
                rule: "table presence".to_string(),
                check: "schema".to_string(),
                origin: "built-in".to_string(),
                table: Some(t.name.clone()),
                column: None,
                status,
                observed: json!(change.name()),
                bound: Value::Null,
                message: format!(
                    "the table is only in {side}, and no `schema` rule says what that means: {}",
                    if status == Status::Fail {
                        "a removed table fails"
                    } else {
                        "a new table warns"
                    }
                ),
            }
        })
        .collect()
}

/// Turns warnings and failures that an `expect` rule declares intended into
/// info, with the reason beside them. A table-wide expectation (no
/// `columns`) covers every finding on the table; one with columns covers
/// findings on those columns.
fn apply_expectations(outcomes: &mut [RuleOutcome], rules: &RuleSet) {
    let expectations: Vec<(&Rule, &str)> = rules
        .rules
        .iter()
        .filter_map(|r| match &r.kind {
            RuleKind::Expect { reason } => Some((r, reason.as_str())),
            _ => None,
        })
        .collect();
    // Findings covered per expectation, table and (for expectations that
    // name columns) column: the keys of the expectations' own outcomes.
    let mut covered: BTreeMap<(usize, String, Option<String>), usize> = BTreeMap::new();
    for outcome in outcomes.iter_mut() {
        if !matches!(outcome.status, Status::Warn | Status::Fail) {
            continue;
        }
        let Some(table) = outcome.table.clone() else {
            continue;
        };
        let hit = expectations.iter().position(|(rule, _)| {
            rule.tables.matches(&table)
                && match &outcome.column {
                    Some(column) => rule.columns.matches(column),
                    None => !rule.columns.is_explicit(),
                }
        });
        if let Some(i) = hit {
            let column = outcome
                .column
                .clone()
                .filter(|_| expectations[i].0.columns.is_explicit());
            *covered.entry((i, table, column)).or_default() += 1;
            outcome.message = format!(
                "{} (was {}; expected: {})",
                outcome.message,
                outcome.status.name(),
                expectations[i].1
            );
            outcome.status = Status::Info;
        }
    }
    for outcome in outcomes.iter_mut().filter(|o| o.check == "expect") {
        let Some(i) = expectations
            .iter()
            .position(|(rule, _)| rule.origin.to_string() == outcome.origin)
        else {
            continue;
        };
        let (Some(table), Status::Info) = (&outcome.table, outcome.status) else {
            continue;
        };
        let n = covered
            .get(&(i, table.clone(), outcome.column.clone()))
            .copied()
            .unwrap_or(0);
        outcome.observed = json!(n);
        outcome.message = if n == 0 {
            format!("{}; no rule found a change here", outcome.message)
        } else {
            format!("{}; {n} finding(s) turned into info", outcome.message)
        };
    }
}
