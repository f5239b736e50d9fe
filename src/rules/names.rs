//! Tying rules to the tables at hand: plain (wildcard-free) table and
//! column names must exist, and what the diff must compute for the rules
//! (column tolerances, rows changed with some columns left out).

use std::collections::BTreeMap;

use datafusion::arrow::datatypes::Schema;

use super::model::{Rule, RuleKind, RuleSet};
use super::parse::suggestion;
use crate::diff::Tolerance;
use crate::error::{Error, Result};

/// A table's name and every column name a rule may use: prod names, and
/// candidate names of columns only in the candidate.
#[derive(Debug, Clone)]
pub struct TableColumns {
    pub name: String,
    pub columns: Vec<String>,
}

impl TableColumns {
    /// The names of a table about to be diffed: prod's columns, then the
    /// candidate's that prod lacks and no rename points to.
    pub fn of_schemas(
        name: &str,
        prod: &Schema,
        candidate: &Schema,
        renames: &[(String, String)],
    ) -> Self {
        let mut columns: Vec<String> = prod.fields().iter().map(|f| f.name().clone()).collect();
        for field in candidate.fields() {
            let renamed = renames.iter().any(|(_, new)| new == field.name());
            if !renamed && !columns.contains(field.name()) {
                columns.push(field.name().clone());
            }
        }
        TableColumns {
            name: name.to_string(),
            columns,
        }
    }
}

/// The error of `rule` naming `name`, which is not among `valid`.
fn unknown_name(rule: &Rule, what: &str, name: &str, valid: Vec<&str>) -> Error {
    let list: Vec<String> = valid.iter().map(|v| format!("`{v}`")).collect();
    let guess = suggestion(name, valid.iter().copied())
        .map(|g| format!("{g} "))
        .unwrap_or_default();
    Error::config(
        &rule.origin.file,
        format!(
            "rule {} (`{}`, line {}): {what} `{name}`",
            rule.origin.index,
            rule.kind.check(),
            rule.origin.line
        ),
    )
    .with_hint(format!("{guess}valid names: {}", list.join(", ")))
}

/// Refuses a rule that names (without wildcards) a table not in `tables`:
/// what a run can check before either side runs, from the declared outputs.
pub fn check_table_names(rules: &RuleSet, tables: &[&str]) -> Result<()> {
    for rule in &rules.rules {
        for literal in rule.tables.literals() {
            if !tables.contains(&literal) {
                return Err(unknown_name(
                    rule,
                    "names the unknown table",
                    literal,
                    tables.to_vec(),
                ));
            }
        }
    }
    Ok(())
}

/// Refuses a rule that names (without wildcards) a table or column that is
/// not there, listing the valid names.
pub fn check_names(rules: &RuleSet, tables: &[TableColumns]) -> Result<()> {
    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    check_table_names(rules, &names)?;
    for rule in &rules.rules {
        let error =
            |what: &str, name: &str, valid: Vec<&str>| unknown_name(rule, what, name, valid);
        let selected: Vec<&TableColumns> = tables
            .iter()
            .filter(|t| rule.tables.matches(&t.name))
            .collect();
        if selected.is_empty() {
            continue;
        }
        let known = |name: &str| selected.iter().any(|t| t.columns.iter().any(|c| c == name));
        let mut valid: Vec<&str> = selected
            .iter()
            .flat_map(|t| t.columns.iter().map(String::as_str))
            .collect();
        valid.sort_unstable();
        valid.dedup();
        for literal in rule.columns.literals() {
            if !known(literal) {
                return Err(error("names the unknown column", literal, valid.clone()));
            }
        }
        if let RuleKind::RowsChanged { ignore_columns, .. } = &rule.kind {
            for column in ignore_columns {
                if !known(column) {
                    return Err(error(
                        "`ignore_columns` names the unknown column",
                        column,
                        valid.clone(),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// What the diff of one table must compute for the rules.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DiffNeeds {
    /// Column tolerances set by `column_match` rules.
    pub tolerances: BTreeMap<String, Tolerance>,
    /// Sets of columns to leave out when counting changed rows, one per
    /// `rows_changed` rule that leaves some out.
    pub changed_ignoring: Vec<Vec<String>>,
}

/// What `rules` need from the diff of `table`.
pub fn diff_needs(rules: &RuleSet, table: &TableColumns) -> Result<DiffNeeds> {
    let mut needs = DiffNeeds::default();
    let mut set_by: BTreeMap<String, &Rule> = BTreeMap::new();
    for rule in rules.rules.iter().filter(|r| r.tables.matches(&table.name)) {
        match &rule.kind {
            RuleKind::ColumnMatch {
                tolerance: Some(tolerance),
                ..
            } => {
                for column in table.columns.iter().filter(|c| rule.columns.matches(c)) {
                    if let Some(earlier) = set_by.get(column)
                        && needs.tolerances.get(column) != Some(tolerance)
                    {
                        return Err(Error::config(
                            &rule.origin.file,
                            format!(
                                "{} gives column `{column}` of `{}` another tolerance than {}",
                                rule.origin.describe(),
                                table.name,
                                earlier.origin
                            ),
                        )
                        .with_hint("give each column one tolerance"));
                    }
                    needs.tolerances.insert(column.clone(), *tolerance);
                    set_by.insert(column.clone(), rule);
                }
            }
            RuleKind::RowsChanged { .. } => {
                let set = changed_ignore_set(rules, rule, &table.name, &table.columns);
                if !set.is_empty() && !needs.changed_ignoring.contains(&set) {
                    needs.changed_ignoring.push(set);
                }
            }
            _ => {}
        }
    }
    Ok(needs)
}

/// The columns a `rows_changed` rule leaves out on `table`: its
/// `ignore_columns` and every column an `expect` rule declares changed,
/// among `columns`, sorted.
pub fn changed_ignore_set(
    rules: &RuleSet,
    rule: &Rule,
    table: &str,
    columns: &[String],
) -> Vec<String> {
    let RuleKind::RowsChanged { ignore_columns, .. } = &rule.kind else {
        return Vec::new();
    };
    let expected = |column: &str| {
        rules.rules.iter().any(|r| {
            matches!(r.kind, RuleKind::Expect { .. })
                && r.tables.matches(table)
                && r.columns.is_explicit()
                && r.columns.matches(column)
        })
    };
    let mut set: Vec<String> = columns
        .iter()
        .filter(|c| ignore_columns.contains(c) || expected(c))
        .cloned()
        .collect();
    set.sort();
    set.dedup();
    set
}
