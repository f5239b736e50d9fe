//! `check = "dbt_test"`: the candidate's own dbt tests as outcomes. A test
//! that fails or errors fails the verdict by default, one that warns
//! warns; a test prod fails the same way is only a warning, because the
//! candidate did not make it fail.

use serde_json::{Value, json};

use crate::report::DbtTestRun;
use crate::rules::model::DbtTestStatus;
use crate::rules::outcome::{Finding, Status};

/// The lists in force where no `dbt_test` rule says otherwise.
pub const DEFAULT_FAIL_ON: [DbtTestStatus; 2] = [DbtTestStatus::Fail, DbtTestStatus::Error];
pub const DEFAULT_WARN_ON: [DbtTestStatus; 1] = [DbtTestStatus::Warn];

/// One finding per test that did not pass; one pass when none failed.
pub fn dbt_tests(
    tests: &[DbtTestRun],
    fail_on: &[DbtTestStatus],
    warn_on: &[DbtTestStatus],
) -> Vec<Finding> {
    if tests.is_empty() {
        return vec![Finding {
            column: None,
            status: Status::Pass,
            observed: json!(0),
            bound: Value::Null,
            message: "every dbt test of the candidate passes".to_string(),
        }];
    }
    tests
        .iter()
        .map(|test| finding(test, fail_on, warn_on))
        .collect()
}

fn finding(test: &DbtTestRun, fail_on: &[DbtTestStatus], warn_on: &[DbtTestStatus]) -> Finding {
    let ended = DbtTestStatus::of(&test.status);
    let mut status = match ended {
        Some(s) if fail_on.contains(&s) => Status::Fail,
        Some(s) if warn_on.contains(&s) => Status::Warn,
        _ => Status::Info,
    };
    let said = test
        .message
        .as_deref()
        .map(|m| format!(": {}", crate::error::first_line(m)))
        .unwrap_or_default();
    let mut message = format!("the dbt test `{}` ended `{}`{said}", test.name, test.status);
    if status == Status::Fail && test.prod_status.as_deref() == Some(test.status.as_str()) {
        status = Status::Warn;
        message.push_str(" (prod fails it too, so the candidate did not break it)");
    }
    Finding {
        column: None,
        status,
        observed: json!(test.status),
        bound: Value::Null,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test(status: &str, prod: Option<&str>) -> DbtTestRun {
        DbtTestRun {
            name: "unique_orders_id".into(),
            status: status.into(),
            prod_status: prod.map(str::to_string),
            message: Some("Got 2 results, configured to fail if != 0".into()),
        }
    }

    #[test]
    fn failures_fail_warnings_warn_and_what_prod_fails_too_only_warns() {
        let judged = |t: DbtTestRun| dbt_tests(&[t], &DEFAULT_FAIL_ON, &DEFAULT_WARN_ON)[0].clone();
        assert_eq!(judged(test("fail", Some("pass"))).status, Status::Fail);
        assert_eq!(judged(test("error", None)).status, Status::Fail);
        assert_eq!(judged(test("warn", None)).status, Status::Warn);
        let both = judged(test("fail", Some("fail")));
        assert_eq!(both.status, Status::Warn);
        assert!(
            both.message.contains("prod fails it too"),
            "{}",
            both.message
        );
        assert!(both.message.contains("Got 2 results"), "{}", both.message);
        let relaxed = dbt_tests(&[test("fail", None)], &[], &[DbtTestStatus::Fail]);
        assert_eq!(relaxed[0].status, Status::Warn);
        assert_eq!(
            dbt_tests(&[], &DEFAULT_FAIL_ON, &[])[0].status,
            Status::Pass
        );
    }
}
