//! The verdict of a whole `dualrun run`: the rules' judgement of its
//! tables, and the problems that leave nothing trustworthy to decide on (a
//! failed side, an input that changed while the sides ran, a declared
//! output neither side built). Any such problem makes the verdict `error`,
//! whatever the rules found; no table at all does too.

use super::eval::{Judgement, judge};
use super::kinds::dbt_test::{DEFAULT_FAIL_ON, DEFAULT_WARN_ON, dbt_tests};
use super::model::RuleSet;
use super::outcome::{RuleOutcome, Status, Verdict};
use crate::report::{DbtTestRun, TableReport};
use crate::sides::Side;

/// What went wrong with a run outside its tables.
#[derive(Debug, Clone, Default)]
pub struct RunProblems {
    /// Where the run was declared (the project file), for each outcome's
    /// origin.
    pub origin: String,
    /// `(side, engine, message)` of each side that failed.
    pub failed_sides: Vec<(Side, String, String)>,
    /// Inputs whose fingerprint changed while the sides ran.
    pub changed_inputs: Vec<String>,
    /// Declared outputs neither side built.
    pub unbuilt: Vec<String>,
    /// The candidate's dbt tests that did not pass, of no table diffed.
    pub dbt_tests: Vec<DbtTestRun>,
}

/// The check name of the outcomes `RunProblems` give.
const RUN_CHECK: &str = "run";

impl RunProblems {
    fn outcomes(&self) -> Vec<RuleOutcome> {
        let error = |rule: String, message: String| RuleOutcome {
            rule,
            check: RUN_CHECK.to_string(),
            origin: self.origin.clone(),
            table: None,
            column: None,
            status: Status::Error,
            observed: serde_json::Value::Null,
            bound: serde_json::Value::Null,
            message,
        };
        let sides = self.failed_sides.iter().map(|(side, engine, message)| {
            error(
                format!("{side} side"),
                format!("the {side} side ({engine}) failed: {message}"),
            )
        });
        let inputs = self.changed_inputs.iter().map(|input| {
            error(
                format!("input {input}"),
                format!(
                    "the input `{input}` changed while the sides ran, so they may not have read the same data"
                ),
            )
        });
        let unbuilt = self.unbuilt.iter().map(|name| {
            error(
                format!("output {name}"),
                format!("neither side built the declared output `{name}`"),
            )
        });
        let tests = if self.dbt_tests.is_empty() {
            Vec::new()
        } else {
            dbt_tests(&self.dbt_tests, &DEFAULT_FAIL_ON, &DEFAULT_WARN_ON)
        };
        let tests = tests.into_iter().map(|finding| RuleOutcome {
            rule: "dbt tests".to_string(),
            check: "dbt_test".to_string(),
            origin: self.origin.clone(),
            table: None,
            column: None,
            status: finding.status,
            observed: finding.observed,
            bound: finding.bound,
            message: finding.message,
        });
        sides.chain(inputs).chain(unbuilt).chain(tests).collect()
    }
}

/// Judges a run's `tables` by `rules`, then adds its `problems`.
pub fn judge_run(
    tables: &[TableReport],
    rules: &RuleSet,
    strict: bool,
    problems: &RunProblems,
) -> Judgement {
    let mut judgement = if tables.is_empty() {
        Judgement {
            verdict: Verdict::Error,
            outcomes: Vec::new(),
        }
    } else {
        judge(tables, rules, strict)
    };
    let problems = problems.outcomes();
    let undecidable = !problems.is_empty();
    judgement.outcomes.extend(problems);
    judgement.verdict = if undecidable || tables.is_empty() {
        Verdict::Error
    } else {
        Verdict::of(&judgement.outcomes)
    };
    judgement
}
