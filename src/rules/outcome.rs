//! What judging returns: one outcome per rule, table and column it applied
//! to, and the verdict they add up to. Plain serde data for the report.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    /// A declared, intended change (`expect`): shown, never failing.
    Info,
    Warn,
    Fail,
    /// The rule could not be evaluated: never a pass.
    Error,
}

impl Status {
    /// Where reports list an outcome: failures first, then errors,
    /// warnings, info and passes.
    pub fn report_order(self) -> u8 {
        match self {
            Status::Fail => 0,
            Status::Error => 1,
            Status::Warn => 2,
            Status::Info => 3,
            Status::Pass => 4,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Info => "info",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Error => "error",
        }
    }
}

/// One rule judged on one table (and column, for per-column rules).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleOutcome {
    /// The rule's `name`, or its check and position (`stat #3`).
    pub rule: String,
    pub check: String,
    /// `FILE#INDEX` of the rule (`built-in#1` without a rules file).
    pub origin: String,
    pub table: Option<String>,
    pub column: Option<String>,
    pub status: Status,
    /// The figure judged: a number (fractions as fractions, null rates in
    /// percentage points), a schema change's name, or null when unbounded
    /// or not computed.
    pub observed: Value,
    /// The bound crossed (or, on a pass, the tightest one).
    pub bound: Value,
    pub message: String,
}

impl RuleOutcome {
    /// `table.column`, `table`, or `-` for a rule tied to no table.
    pub fn place(&self) -> String {
        match (&self.table, &self.column) {
            (Some(t), Some(c)) => format!("{t}.{c}"),
            (Some(t), None) => t.clone(),
            (None, _) => "-".to_string(),
        }
    }
}

/// The decision on promotion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// No rule failed and every rule could be evaluated (warnings allowed).
    Approved,
    /// A rule failed.
    Rejected,
    /// No rule failed, but one could not be evaluated.
    Error,
}

impl Verdict {
    /// A failed rule decides on its own; otherwise an unevaluated rule
    /// leaves the question open.
    /// The verdict as reports and logs spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Approved => "approved",
            Verdict::Rejected => "rejected",
            Verdict::Error => "error",
        }
    }

    pub fn of<'a>(outcomes: impl IntoIterator<Item = &'a RuleOutcome>) -> Self {
        let counts = StatusCounts::of(outcomes);
        if counts.fail > 0 {
            Verdict::Rejected
        } else if counts.error > 0 {
            Verdict::Error
        } else {
            Verdict::Approved
        }
    }

    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Approved => 0,
            Verdict::Rejected => 1,
            Verdict::Error => 2,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Verdict::Approved => "APPROVED",
            Verdict::Rejected => "REJECTED",
            Verdict::Error => "ERROR",
        }
    }
}

/// How many outcomes of each status, for summary lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCounts {
    pub pass: usize,
    pub info: usize,
    pub warn: usize,
    pub fail: usize,
    pub error: usize,
}

impl StatusCounts {
    pub fn of<'a>(outcomes: impl IntoIterator<Item = &'a RuleOutcome>) -> Self {
        let mut counts = StatusCounts::default();
        for outcome in outcomes {
            *match outcome.status {
                Status::Pass => &mut counts.pass,
                Status::Info => &mut counts.info,
                Status::Warn => &mut counts.warn,
                Status::Fail => &mut counts.fail,
                Status::Error => &mut counts.error,
            } += 1;
        }
        counts
    }

    /// `["1 failed", "2 warned", "9 passed"]`: the non-zero counts, worst
    /// first, for summary lines.
    pub fn phrases(&self) -> Vec<String> {
        [
            (self.fail, "failed"),
            (self.error, "could not be evaluated"),
            (self.warn, "warned"),
            (self.info, "info"),
            (self.pass, "passed"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect()
    }
}

/// A finding of one rule on one table, before it is labelled.
#[derive(Debug, Clone)]
pub struct Finding {
    pub column: Option<String>,
    pub status: Status,
    pub observed: Value,
    pub bound: Value,
    pub message: String,
}

impl Finding {
    pub fn error(column: Option<&str>, message: impl Into<String>) -> Self {
        Finding {
            column: column.map(str::to_string),
            status: Status::Error,
            observed: Value::Null,
            bound: Value::Null,
            message: message.into(),
        }
    }
}
