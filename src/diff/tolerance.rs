//! Tolerances as people write them: `--tol amount=abs:0.01`, a project's
//! `tolerance = { ts = "dur:5s" }`, a rule's `tolerance`. Parsed here once
//! for the command line, project files and rules files alike.

use super::Tolerance;
use crate::error::{Error, Result};

/// `value` when it is a finite number of at least 0; `flag` names it.
pub fn non_negative(value: f64, flag: &str) -> Result<f64> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(Error::usage(format!(
            "`{flag}` must be a finite number of at least 0, not `{value}`"
        )))
    }
}

/// Parses `amount=abs:0.01`, `price=rel:1e-6`, `ts=dur:5s` or several kinds
/// joined by `,` (`amount=abs:0.01,rel:1e-6`).
pub fn parse_column_tolerance(spec: &str) -> Result<(String, Tolerance)> {
    let bad = |why: &str| {
        Error::usage(format!("`--tol {spec}` {why}")).with_hint(
            "write `--tol COLUMN=abs:0.01`, `--tol COLUMN=rel:1e-6` or `--tol COLUMN=dur:5s`",
        )
    };
    let (column, kinds) = spec
        .split_once('=')
        .filter(|(c, k)| !c.is_empty() && !k.is_empty())
        .ok_or_else(|| bad("is not of the form `COLUMN=KIND:VALUE`"))?;
    let mut tolerance = Tolerance::default();
    for part in kinds.split(',') {
        let (kind, value) = part
            .split_once(':')
            .ok_or_else(|| bad("is missing `:` between the kind and the value"))?;
        match kind {
            "abs" | "rel" => {
                let number: f64 = value
                    .parse()
                    .map_err(|_| bad(&format!("has `{value}`, which is not a number")))?;
                let number = non_negative(number, "--tol")?;
                if kind == "abs" {
                    tolerance.abs = number;
                } else {
                    tolerance.rel = number;
                }
            }
            "dur" => {
                tolerance.duration_ns = Some(parse_duration_ns(value).ok_or_else(|| {
                    bad(&format!(
                        "has `{value}`, which is not a duration like `5s` or `250ms`"
                    ))
                })?);
            }
            other => {
                return Err(bad(&format!(
                    "has the unknown kind `{other}` (valid: `abs`, `rel`, `dur`)"
                )));
            }
        }
    }
    Ok((column.to_string(), tolerance))
}

/// `250ms`, `5s`, `2m`, `1h`, `1d`, `10us`, `100ns` as nanoseconds.
pub fn parse_duration_ns(text: &str) -> Option<i64> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match unit {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" | "" => 1e9,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        "d" => 86_400e9,
        _ => return None,
    };
    let ns = number * scale;
    (ns.is_finite() && ns >= 0.0 && ns < i64::MAX as f64).then_some(ns.round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_tolerance_kinds_parse() {
        let (column, t) = parse_column_tolerance("amount=abs:0.01,rel:1e-6").unwrap();
        assert_eq!(column, "amount");
        assert_eq!(t.abs, 0.01);
        assert_eq!(t.rel, 1e-6);
        let (_, t) = parse_column_tolerance("ts=dur:250ms").unwrap();
        assert_eq!(t.duration_ns, Some(250_000_000));
    }

    #[test]
    fn column_tolerance_errors_name_the_flag() {
        for bad in [
            "amount",
            "amount=abs",
            "amount=abs:x",
            "amount=pct:1",
            "a=abs:-1",
            "t=dur:5 parsecs",
        ] {
            let error = parse_column_tolerance(bad).unwrap_err();
            assert!(error.to_string().contains("--tol"), "{bad}: {error}");
        }
    }
}
