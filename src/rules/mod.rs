//! Rules: declared tolerances that turn a diff into a verdict on promotion.
//!
//! `parse` reads strict TOML rules files into validated rules (`model`);
//! `names` ties them to the tables at hand (plain names must exist) and says
//! what the diff must compute for them; `eval` and `kinds` judge a report's
//! tables, giving one outcome per rule, table and column (`outcome`) and a
//! verdict. Judging reads only the report model, so a saved report can be
//! judged again (`dualrun check`) exactly as the original run was.

mod eval;
mod kinds;
pub mod model;
mod names;
pub mod outcome;
mod parse;
mod run;

pub use eval::{Judgement, judge};
pub use model::{Rule, RuleKind, RuleSet};
pub use names::{DiffNeeds, TableColumns, check_names, check_table_names, diff_needs};
pub use outcome::{RuleOutcome, Status, StatusCounts, Verdict};
pub use parse::{load, parse};
pub use run::{RunProblems, judge_run};
