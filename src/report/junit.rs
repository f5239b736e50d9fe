//! JUnit XML for CI test-report views: one test suite per table, one test
//! case per rule outcome. A failure is a `<failure>` with observed against
//! bound, an unevaluated rule an `<error>`; a warning or info passes with
//! its message in `<system-out>`. Outcomes tied to no table (a rule that
//! matched nothing) form a suite of their own.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::Report;
use super::escape::xml;
use crate::rules::{RuleOutcome, Status};

pub fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    out.write_all(document(report).as_bytes())
}

fn document(report: &Report) -> String {
    let mut suites: Vec<(String, Vec<&RuleOutcome>)> = report
        .tables
        .iter()
        .map(|t| {
            let outcomes = report
                .rules
                .iter()
                .filter(|o| o.table.as_deref() == Some(t.name.as_str()))
                .collect();
            (t.name.clone(), outcomes)
        })
        .collect();
    let unattached: Vec<&RuleOutcome> = report.rules.iter().filter(|o| o.table.is_none()).collect();
    if !unattached.is_empty() {
        suites.push(("rules".to_string(), unattached));
    }
    let counts = report.judged_by.counts;
    let mut x = String::new();
    let _ = writeln!(x, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        x,
        r#"<testsuites name="dualrun" tests="{}" failures="{}" errors="{}">"#,
        report.rules.len(),
        counts.fail,
        counts.error
    );
    for (name, outcomes) in &suites {
        let failures = outcomes.iter().filter(|o| o.status == Status::Fail).count();
        let errors = outcomes
            .iter()
            .filter(|o| o.status == Status::Error)
            .count();
        let _ = writeln!(
            x,
            r#"  <testsuite name="{}" tests="{}" failures="{failures}" errors="{errors}" skipped="0">"#,
            xml(name),
            outcomes.len()
        );
        // Test viewers merge cases of one name: number repeats.
        let mut seen: std::collections::HashMap<String, usize> = Default::default();
        for o in outcomes {
            let base = match &o.column {
                Some(column) => format!("{} [{column}]", o.rule),
                None => o.rule.clone(),
            };
            let n = seen.entry(base.clone()).or_insert(0);
            *n += 1;
            let case = if *n == 1 {
                base
            } else {
                format!("{base} ({n})")
            };
            test_case(&mut x, name, &case, o);
        }
        let _ = writeln!(x, "  </testsuite>");
    }
    let _ = writeln!(x, "</testsuites>");
    x
}

fn test_case(x: &mut String, suite: &str, name: &str, o: &RuleOutcome) {
    let _ = write!(
        x,
        r#"    <testcase classname="dualrun.{}" name="{}" file="{}""#,
        xml(suite),
        xml(name),
        xml(&o.origin)
    );
    let detail = format!("observed {}, bound {}", o.observed, o.bound);
    match o.status {
        Status::Pass => {
            let _ = writeln!(x, " />");
        }
        Status::Fail => {
            let _ = writeln!(
                x,
                ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>",
                xml(&o.message),
                xml(&o.check),
                xml(&detail)
            );
        }
        Status::Error => {
            let _ = writeln!(
                x,
                ">\n      <error message=\"{}\" type=\"{}\">{}</error>\n    </testcase>",
                xml(&o.message),
                xml(&o.check),
                xml(&o.message)
            );
        }
        Status::Warn | Status::Info => {
            let _ = writeln!(
                x,
                ">\n      <system-out>{}: {}</system-out>\n    </testcase>",
                o.status.name(),
                xml(&o.message)
            );
        }
    }
}
