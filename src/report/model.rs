//! The report model: what every renderer reads. Field order here is the JSON
//! field order, and it is part of the API (`schema_version`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::diff::TableDiff;
use crate::divergence::Divergence;
use crate::input::{Fingerprint, Table};
use crate::profile::ProfiledColumn;
use crate::report::SideRun;
use crate::rules::{Judgement, RuleOutcome, StatusCounts, Verdict};

/// Bumped when a field changes meaning or disappears; new fields don't bump it.
pub const SCHEMA_VERSION: u32 = 3;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub tool: Tool,
    pub command: String,
    pub verdict: Verdict,
    pub judged_by: JudgedBy,
    /// Every rule's outcome on every table and column it applied to.
    pub rules: Vec<RuleOutcome>,
    /// The inputs both sides read, fingerprinted before they ran
    /// (`dualrun run` only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<Fingerprint>,
    /// How each side ran (`dualrun run` only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sides: Vec<SideRun>,
    /// For SQL sides: every shared model, and where outputs first diverge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<Divergence>,
    pub tables: Vec<TableReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timings: Option<Timings>,
}

/// Which rules judged the report, and how their outcomes add up.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JudgedBy {
    /// The rules files, in order; empty for the built-in rule that any
    /// difference rejects.
    pub rules_files: Vec<String>,
    /// Whether warnings failed (`--strict`).
    pub strict: bool,
    pub counts: StatusCounts,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

impl Default for Tool {
    fn default() -> Self {
        Tool {
            name: env!("CARGO_PKG_NAME").to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

/// Whether a table differs at all, whatever the rules make of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TableStatus {
    Equal,
    Different,
    /// Only the candidate has the table (a SQL side's new model).
    Added,
    /// Only prod has the table: the candidate no longer builds it.
    Removed,
}

impl TableStatus {
    pub fn name(self) -> &'static str {
        match self {
            TableStatus::Equal => "equal",
            TableStatus::Different => "different",
            TableStatus::Added => "added",
            TableStatus::Removed => "removed",
        }
    }

    /// The side that has a table present on one side only.
    pub fn only_on(self) -> Option<&'static str> {
        match self {
            TableStatus::Added => Some("candidate"),
            TableStatus::Removed => Some("prod"),
            TableStatus::Equal | TableStatus::Different => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableReport {
    pub name: String,
    pub status: TableStatus,
    pub prod: SideInfo,
    pub candidate: SideInfo,
    /// Where the key came from when the project did not declare it (a dbt
    /// model's `unique` test, ...), or why there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_from: Option<String>,
    /// dbt sides: the node's unique id (`model.shop.orders`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dbt_node: Option<String>,
    /// dbt sides: the candidate's tests of this model that did not pass.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dbt_tests: Vec<DbtTestRun>,
    #[serde(flatten)]
    pub diff: TableDiff,
}

/// A dbt test of the candidate that did not pass, and how the same test
/// ended in prod.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DbtTestRun {
    pub name: String,
    /// `fail`, `error` or `warn`, as dbt says.
    pub status: String,
    /// The same test in prod: `None` when prod did not run it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prod_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl TableReport {
    /// How rows were matched: the key and where it came from, or that
    /// whole rows were compared and why.
    pub fn key_phrase(&self) -> String {
        match (self.diff.key.is_empty(), &self.key_from) {
            (true, Some(why)) => why.clone(),
            (true, None) => "no key: whole rows compared".to_string(),
            (false, Some(from)) => format!("key: {}, {from}", self.diff.key.join(", ")),
            (false, None) => format!("key: {}", self.diff.key.join(", ")),
        }
    }

    pub fn of(name: &str, prod: &Table, candidate: &Table, diff: TableDiff) -> Self {
        TableReport {
            name: name.to_string(),
            status: if diff.differs() {
                TableStatus::Different
            } else {
                TableStatus::Equal
            },
            prod: SideInfo::of(prod),
            candidate: SideInfo::of(candidate),
            key_from: None,
            dbt_node: None,
            dbt_tests: Vec::new(),
            diff,
        }
    }

    /// A table only one side has: `diff` compares it with an empty table of
    /// the same columns (so its rows count as added or removed and its
    /// columns have statistics), and the absent side says it is absent.
    pub fn one_sided(name: &str, status: TableStatus, present: &Table, diff: TableDiff) -> Self {
        let (prod, candidate) = match status {
            TableStatus::Added => (SideInfo::absent(), SideInfo::of(present)),
            _ => (SideInfo::of(present), SideInfo::absent()),
        };
        TableReport {
            name: name.to_string(),
            status,
            prod,
            candidate,
            key_from: None,
            dbt_node: None,
            dbt_tests: Vec::new(),
            diff,
        }
    }
}

/// Where one side's table came from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SideInfo {
    pub source: String,
    pub format: String,
    pub files: usize,
    pub rows: u64,
    pub columns: usize,
    /// The version read, of a Delta table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
}

impl SideInfo {
    pub fn of(table: &Table) -> Self {
        SideInfo {
            source: table.source.clone(),
            format: table.format.name().to_string(),
            files: table.files.len(),
            rows: table.num_rows() as u64,
            columns: table.schema.fields().len(),
            version: table.format.version(),
        }
    }

    /// The side of a table only the other side has.
    pub fn absent() -> Self {
        SideInfo {
            source: String::new(),
            format: "absent".to_string(),
            files: 0,
            rows: 0,
            columns: 0,
            version: None,
        }
    }
}

/// Wall-clock phases in milliseconds, only with `--timings`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Timings {
    pub read_ms: u64,
    pub diff_ms: u64,
    pub total_ms: u64,
}

impl Report {
    /// The models dbt sides did not diff, and why, by who skipped them:
    /// once for both sides when they skipped the same, else per side.
    pub fn skipped_models(&self) -> Vec<(String, &BTreeMap<String, String>)> {
        let skipping: Vec<&SideRun> = self
            .sides
            .iter()
            .filter(|s| !s.skipped.is_empty())
            .collect();
        match skipping.as_slice() {
            [one, other] if one.skipped == other.skipped => {
                vec![("both sides".to_string(), &one.skipped)]
            }
            sides => sides
                .iter()
                .map(|s| (format!("the {} side", s.side), &s.skipped))
                .collect(),
        }
    }

    /// The report of one `dualrun diff`, not judged yet.
    pub fn of_diff(name: &str, prod: &Table, candidate: &Table, diff: TableDiff) -> Self {
        Report::of_tables("diff", vec![TableReport::of(name, prod, candidate, diff)])
    }

    /// A report of `command` over `tables`, not judged yet.
    pub fn of_tables(command: &str, tables: Vec<TableReport>) -> Self {
        Report {
            schema_version: SCHEMA_VERSION,
            tool: Tool::default(),
            command: command.to_string(),
            verdict: Verdict::Error,
            judged_by: JudgedBy::default(),
            rules: Vec::new(),
            inputs: Vec::new(),
            sides: Vec::new(),
            models: None,
            tables,
            timings: None,
        }
    }

    /// Replaces any earlier judgement with `judgement`.
    pub fn set_judgement(&mut self, judgement: Judgement, rules_files: &[String], strict: bool) {
        self.judged_by = JudgedBy {
            rules_files: rules_files.to_vec(),
            strict,
            counts: StatusCounts::of(&judgement.outcomes),
        };
        self.verdict = judgement.verdict;
        self.rules = judgement.outcomes;
    }

    pub fn exit_code(&self) -> u8 {
        self.verdict.exit_code()
    }
}

/// The report of `dualrun profile`.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileReport {
    pub schema_version: u32,
    pub tool: Tool,
    pub command: String,
    pub table: ProfiledTable,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timings: Option<Timings>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProfiledTable {
    pub name: String,
    #[serde(flatten)]
    pub side: SideInfo,
    pub profile: Vec<ProfiledColumn>,
}

impl ProfileReport {
    pub fn of(name: &str, table: &Table, profile: Vec<ProfiledColumn>) -> Self {
        ProfileReport {
            schema_version: SCHEMA_VERSION,
            tool: Tool::default(),
            command: "profile".to_string(),
            table: ProfiledTable {
                name: name.to_string(),
                side: SideInfo::of(table),
                profile,
            },
            timings: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sides::Side;

    #[test]
    fn models_both_sides_skipped_are_listed_once() {
        let mut report = Report::of_tables("run", Vec::new());
        let mut prod = SideRun::starting(Side::Prod, "dbt", String::new());
        prod.skipped
            .insert("stg".into(), "ephemeral: no table".into());
        let mut candidate = SideRun::starting(Side::Candidate, "dbt", String::new());
        candidate.skipped = prod.skipped.clone();
        report.sides = vec![prod, candidate];
        let listed = report.skipped_models();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].0, "both sides");
        report.sides[1].skipped.insert(
            "flat".into(),
            "skipped by dbt after an upstream failure".into(),
        );
        let listed: Vec<String> = report
            .skipped_models()
            .into_iter()
            .map(|(who, _)| who)
            .collect();
        assert_eq!(listed, ["the prod side", "the candidate side"]);
    }
}
