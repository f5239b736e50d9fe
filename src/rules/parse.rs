//! Reading rules files: TOML into a raw, strict serde shape, then into
//! validated rules. Every error names the file, the rule's position (and
//! line) and the field, and lists the valid choices.

use std::path::Path;

use serde::Deserialize;

use super::model::{
    Above, Below, Method, Metric, Named, Origin, Rule, RuleKind, RuleSet, Selector,
};
use crate::diff::Tolerance;
use crate::diff::tolerance::parse_duration_ns;
use crate::error::{Error, Result};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    rule: Vec<toml::Spanned<toml::Table>>,
}

/// The fields of `RawRule`, to name an unknown one with a suggestion.
const FIELDS: [&str; 17] = [
    "check",
    "name",
    "tables",
    "columns",
    "warn",
    "fail",
    "warn_abs",
    "fail_abs",
    "warn_below",
    "fail_below",
    "warn_on",
    "fail_on",
    "ignore_columns",
    "tolerance",
    "metric",
    "method",
    "reason",
];

/// Every field any rule may have; which ones a rule may use depends on its
/// `check` and is checked after parsing, so errors can say what fits.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRule {
    check: Option<String>,
    name: Option<String>,
    tables: Option<Vec<String>>,
    columns: Option<Vec<String>>,
    warn: Option<f64>,
    fail: Option<f64>,
    warn_abs: Option<f64>,
    fail_abs: Option<f64>,
    warn_below: Option<f64>,
    fail_below: Option<f64>,
    warn_on: Option<Vec<String>>,
    fail_on: Option<Vec<String>>,
    ignore_columns: Option<Vec<String>>,
    tolerance: Option<RawTolerance>,
    metric: Option<String>,
    method: Option<String>,
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTolerance {
    abs: Option<f64>,
    rel: Option<f64>,
    duration: Option<String>,
}

const CHECKS: &str = "`row_count`, `schema`, `key_integrity`, `rows_added`, `rows_removed`, `rows_changed`, `column_match`, `stat`, `distribution`, `expect`, `identical`, `dbt_test`";

/// Reads and validates every rules file, in order.
pub fn load(paths: &[impl AsRef<Path>]) -> Result<RuleSet> {
    let mut set = RuleSet::default();
    for path in paths {
        let path = path.as_ref();
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::config(&file, format!("cannot read the rules file: {e}"))
                .with_hint("pass an existing TOML file to `--rules`")
        })?;
        let rules = parse(&file, &text)?;
        if rules.is_empty() {
            // An empty file would approve anything: surely not what was meant.
            return Err(Error::config(&file, "has no rules")
                .with_hint("add `[[rule]]` tables, or start from `rules/default.toml`"));
        }
        set.rules.extend(rules);
        set.files.push(file);
    }
    Ok(set)
}

/// Parses one rules file's text; `file` names it in errors and origins.
pub fn parse(file: &str, text: &str) -> Result<Vec<Rule>> {
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let at = e
            .span()
            .map(|span| format!(" at line {}", line_of(text, span.start)))
            .unwrap_or_default();
        Error::config(file, format!("invalid TOML{at}: {}", e.message().trim()))
            .with_hint("each rule is a `[[rule]]` table with a `check` field")
    })?;
    raw.rule
        .into_iter()
        .enumerate()
        .map(|(i, spanned)| {
            let origin = Origin {
                file: file.to_string(),
                index: i + 1,
                line: line_of(text, spanned.span().start),
            };
            let at = RuleAt { origin: &origin };
            let raw = raw_rule(spanned.into_inner(), &at)?;
            validate(raw, &at)
        })
        .collect()
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// A rule's position, for error messages.
struct RuleAt<'a> {
    origin: &'a Origin,
}

impl RuleAt<'_> {
    fn error(&self, message: impl AsRef<str>) -> Error {
        Error::config(
            &self.origin.file,
            format!("{}: {}", self.origin.describe(), message.as_ref()),
        )
    }
}

/// `did you mean `fail`?` when `word` is close to one of `choices`.
pub fn suggestion<'a>(word: &str, choices: impl IntoIterator<Item = &'a str>) -> Option<String> {
    choices
        .into_iter()
        .map(|choice| (strsim::jaro_winkler(word, choice), choice))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, choice)| format!("did you mean `{choice}`?"))
}

/// The table of one `[[rule]]` as a `RawRule`. An unknown field gets a
/// suggestion; a value of the wrong type is traced to its field by
/// deserializing the fields one at a time.
fn raw_rule(table: toml::Table, at: &RuleAt) -> Result<RawRule> {
    if let Some(unknown) = table.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        let hint = suggestion(unknown, FIELDS)
            .unwrap_or_else(|| format!("rules take {}", quoted(&FIELDS)));
        return Err(at
            .error(format!("has the unknown field `{unknown}`"))
            .with_hint(hint));
    }
    RawRule::deserialize(toml::Value::Table(table.clone())).map_err(|whole| {
        let culprit = table.iter().find_map(|(key, value)| {
            let alone = toml::Table::from_iter([(key.clone(), value.clone())]);
            RawRule::deserialize(toml::Value::Table(alone))
                .err()
                .map(|e| (key, e))
        });
        match culprit {
            Some((key, e)) => {
                let message = e.message().trim().to_string();
                let hint = if message.contains("expected f64") {
                    format!("write a number, as in `{key} = 0.05`")
                } else if message.contains("sequence") {
                    format!("write a list, as in `{key} = [\"amount\"]`")
                } else {
                    format!("see the rules format for `{key}`")
                };
                if message.starts_with("unknown field") {
                    return at
                        .error(format!("`{key}` has an {message}"))
                        .with_hint("a tolerance takes `abs`, `rel` and `duration`");
                }
                at.error(format!("`{key}` has the wrong type: {message}"))
                    .with_hint(hint)
            }
            None => at.error(whole.message().trim()),
        }
    })
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn validate(raw: RawRule, at: &RuleAt) -> Result<Rule> {
    let Some(check) = raw.check.as_deref() else {
        return Err(at
            .error("has no `check`")
            .with_hint(format!("add `check = ...` with one of {CHECKS}")));
    };
    let kind = match check {
        "identical" => RuleKind::Identical,
        "row_count" => {
            let relative = above(at, raw.warn, raw.fail, ("warn", "fail"))?;
            let absolute = above(at, raw.warn_abs, raw.fail_abs, ("warn_abs", "fail_abs"))?;
            if relative == Above::default() && absolute == Above::default() {
                return Err(no_bound(at, "`warn`, `fail`, `warn_abs` or `fail_abs`"));
            }
            RuleKind::RowCount { relative, absolute }
        }
        "schema" => {
            let (fail_on, warn_on) = on_lists(at, &raw.fail_on, &raw.warn_on)?;
            RuleKind::Schema { fail_on, warn_on }
        }
        "key_integrity" => {
            let (fail_on, warn_on) = on_lists(at, &raw.fail_on, &raw.warn_on)?;
            RuleKind::KeyIntegrity { fail_on, warn_on }
        }
        "rows_added" => RuleKind::RowsAdded(required_above(at, raw.warn, raw.fail)?),
        "rows_removed" => RuleKind::RowsRemoved(required_above(at, raw.warn, raw.fail)?),
        "rows_changed" => RuleKind::RowsChanged {
            bounds: required_above(at, raw.warn, raw.fail)?,
            ignore_columns: raw.ignore_columns.clone().unwrap_or_default(),
        },
        "column_match" => RuleKind::ColumnMatch {
            bounds: below(at, raw.warn_below, raw.fail_below)?,
            tolerance: raw
                .tolerance
                .as_ref()
                .map(|t| tolerance(at, t))
                .transpose()?,
        },
        "stat" => {
            let name = raw.metric.as_deref().ok_or_else(|| {
                at.error("`stat` needs a `metric`")
                    .with_hint(format!("use one of {}", Metric::NAMES))
            })?;
            RuleKind::Stat {
                metric: metric(at, name)?,
                bounds: required_above(at, raw.warn, raw.fail)?,
            }
        }
        "distribution" => {
            let method = match raw.method.as_deref() {
                Some("psi") => Method::Psi,
                Some("ks") => Method::Ks,
                other => {
                    let what = other.map_or("has no `method`".to_string(), |m| {
                        format!("has the unknown method `{m}`")
                    });
                    return Err(at
                        .error(what)
                        .with_hint("use `method = \"psi\"` or `\"ks\"`"));
                }
            };
            RuleKind::Distribution {
                method,
                bounds: required_above(at, raw.warn, raw.fail)?,
            }
        }
        "expect" => {
            let reason = raw.reason.clone().filter(|r| !r.trim().is_empty());
            let Some(reason) = reason else {
                return Err(at
                    .error("`expect` needs a `reason`")
                    .with_hint("say why the change is intended, e.g. the pull request"));
            };
            if raw.tables.is_none() && raw.columns.is_none() {
                return Err(at
                    .error("`expect` needs `tables` or `columns`")
                    .with_hint("name what is meant to change"));
            }
            RuleKind::Expect { reason }
        }
        "dbt_test" => {
            let (fail_on, warn_on) = on_lists(at, &raw.fail_on, &raw.warn_on)?;
            RuleKind::DbtTest { fail_on, warn_on }
        }
        other => {
            let names = CHECKS.split(", ").map(|c| c.trim_matches('`'));
            let hint = match suggestion(other, names) {
                Some(guess) => format!("{guess} Checks: {CHECKS}"),
                None => format!("use one of {CHECKS}"),
            };
            return Err(at
                .error(format!("has the unknown check `{other}`"))
                .with_hint(hint));
        }
    };
    refuse_foreign_fields(&raw, &kind, at)?;
    Ok(Rule {
        origin: at.origin.clone(),
        name: raw.name.clone(),
        tables: selector(at, "tables", raw.tables.as_deref())?,
        columns: selector(at, "columns", raw.columns.as_deref())?,
        kind,
    })
}

/// The fields each check takes besides `check`, `name` and `tables`.
fn fields_of(kind: &RuleKind) -> &'static [&'static str] {
    match kind {
        RuleKind::Identical => &[],
        RuleKind::RowCount { .. } => &["warn", "fail", "warn_abs", "fail_abs"],
        RuleKind::Schema { .. } => &["columns", "fail_on", "warn_on"],
        RuleKind::KeyIntegrity { .. } => &["fail_on", "warn_on"],
        RuleKind::RowsAdded(_) | RuleKind::RowsRemoved(_) => &["warn", "fail"],
        RuleKind::RowsChanged { .. } => &["warn", "fail", "ignore_columns"],
        RuleKind::ColumnMatch { .. } => &["columns", "warn_below", "fail_below", "tolerance"],
        RuleKind::Stat { .. } => &["columns", "metric", "warn", "fail"],
        RuleKind::Distribution { .. } => &["columns", "method", "warn", "fail"],
        RuleKind::Expect { .. } => &["columns", "reason"],
        RuleKind::DbtTest { .. } => &["fail_on", "warn_on"],
    }
}

fn refuse_foreign_fields(raw: &RawRule, kind: &RuleKind, at: &RuleAt) -> Result<()> {
    let present = [
        ("columns", raw.columns.is_some()),
        ("warn", raw.warn.is_some()),
        ("fail", raw.fail.is_some()),
        ("warn_abs", raw.warn_abs.is_some()),
        ("fail_abs", raw.fail_abs.is_some()),
        ("warn_below", raw.warn_below.is_some()),
        ("fail_below", raw.fail_below.is_some()),
        ("warn_on", raw.warn_on.is_some()),
        ("fail_on", raw.fail_on.is_some()),
        ("ignore_columns", raw.ignore_columns.is_some()),
        ("tolerance", raw.tolerance.is_some()),
        ("metric", raw.metric.is_some()),
        ("method", raw.method.is_some()),
        ("reason", raw.reason.is_some()),
    ];
    let allowed = fields_of(kind);
    match present
        .iter()
        .find(|(field, here)| *here && !allowed.contains(field))
    {
        None => Ok(()),
        Some((field, _)) => {
            let mut takes: Vec<String> = ["name", "tables"]
                .iter()
                .chain(allowed)
                .map(|f| format!("`{f}`"))
                .collect();
            takes.sort();
            Err(at
                .error(format!("`{}` does not take `{field}`", kind.check()))
                .with_hint(format!("`{}` takes {}", kind.check(), takes.join(", "))))
        }
    }
}

fn no_bound(at: &RuleAt, fields: &str) -> Error {
    at.error("has no bound").with_hint(format!("give {fields}"))
}

fn bound(at: &RuleAt, field: &str, value: Option<f64>) -> Result<Option<f64>> {
    match value {
        Some(v) if !(v.is_finite() && v >= 0.0) => Err(at.error(format!(
            "`{field}` must be a finite number of at least 0, not `{v}`"
        ))),
        _ => Ok(value),
    }
}

fn above(
    at: &RuleAt,
    warn: Option<f64>,
    fail: Option<f64>,
    (warn_name, fail_name): (&str, &str),
) -> Result<Above> {
    let warn = bound(at, warn_name, warn)?;
    let fail = bound(at, fail_name, fail)?;
    if let (Some(w), Some(f)) = (warn, fail)
        && w > f
    {
        return Err(at
            .error(format!(
                "`{warn_name}` ({w}) is above `{fail_name}` ({f}), so it could never warn"
            ))
            .with_hint(format!("`{warn_name}` is the lower, earlier alarm")));
    }
    Ok(Above { warn, fail })
}

fn required_above(at: &RuleAt, warn: Option<f64>, fail: Option<f64>) -> Result<Above> {
    let bounds = above(at, warn, fail, ("warn", "fail"))?;
    if bounds == Above::default() {
        return Err(no_bound(at, "`warn` and/or `fail`"));
    }
    Ok(bounds)
}

fn below(at: &RuleAt, warn: Option<f64>, fail: Option<f64>) -> Result<Below> {
    for (field, value) in [("warn_below", warn), ("fail_below", fail)] {
        if let Some(v) = value
            && !(0.0..=1.0).contains(&v)
        {
            return Err(at
                .error(format!(
                    "`{field}` must be a share between 0 and 1, not `{v}`"
                ))
                .with_hint("write 0.999 for 99.9% of compared rows"));
        }
    }
    if let (Some(w), Some(f)) = (warn, fail)
        && w < f
    {
        return Err(at
            .error(format!(
                "`warn_below` ({w}) is below `fail_below` ({f}), so it could never warn"
            ))
            .with_hint("`warn_below` is the higher, earlier alarm"));
    }
    if warn.is_none() && fail.is_none() {
        return Err(no_bound(at, "`warn_below` and/or `fail_below`"));
    }
    Ok(Below { warn, fail })
}

fn on_lists<T: Named>(
    at: &RuleAt,
    fail_on: &Option<Vec<String>>,
    warn_on: &Option<Vec<String>>,
) -> Result<(Vec<T>, Vec<T>)> {
    let parse = |field: &str, names: &Option<Vec<String>>| -> Result<Vec<T>> {
        names
            .iter()
            .flatten()
            .map(|name| {
                T::CHOICES
                    .iter()
                    .copied()
                    .find(|choice| choice.label() == name)
                    .ok_or_else(|| {
                        let valid: Vec<String> = T::CHOICES
                            .iter()
                            .map(|c| format!("`{}`", c.label()))
                            .collect();
                        at.error(format!("`{field}` has the unknown value `{name}`"))
                            .with_hint(format!("use {}", valid.join(", ")))
                    })
            })
            .collect()
    };
    let fail = parse("fail_on", fail_on)?;
    let warn = parse("warn_on", warn_on)?;
    if fail.is_empty() && warn.is_empty() {
        return Err(no_bound(at, "`fail_on` and/or `warn_on`"));
    }
    if let Some(both) = fail
        .iter()
        .find(|f| warn.iter().any(|w| w.label() == f.label()))
    {
        return Err(at.error(format!(
            "`{}` is in both `fail_on` and `warn_on`",
            both.label()
        )));
    }
    Ok((fail, warn))
}

fn metric(at: &RuleAt, name: &str) -> Result<Metric> {
    use crate::diff::stats::quantiles::LEVELS;
    let metric = match name {
        "mean" => Metric::Mean,
        "sum" => Metric::Sum,
        "stddev" => Metric::Stddev,
        "min" => Metric::Min,
        "max" => Metric::Max,
        "null_rate" => Metric::NullRate,
        "distinct" => Metric::Distinct,
        _ => match LEVELS.iter().find(|(level, _)| *level == name) {
            Some((level, _)) => Metric::Quantile(level),
            None => {
                return Err(at
                    .error(format!("`metric` has the unknown value `{name}`"))
                    .with_hint(format!("use one of {}", Metric::NAMES)));
            }
        },
    };
    Ok(metric)
}

fn tolerance(at: &RuleAt, raw: &RawTolerance) -> Result<Tolerance> {
    let duration_ns = raw
        .duration
        .as_deref()
        .map(|text| {
            parse_duration_ns(text).ok_or_else(|| {
                at.error(format!(
                    "`tolerance.duration` is `{text}`, which is not a duration like `5s` or `250ms`"
                ))
            })
        })
        .transpose()?;
    Ok(Tolerance {
        abs: bound(at, "tolerance.abs", raw.abs)?.unwrap_or(0.0),
        rel: bound(at, "tolerance.rel", raw.rel)?.unwrap_or(0.0),
        duration_ns,
    })
}

fn selector(at: &RuleAt, field: &str, patterns: Option<&[String]>) -> Result<Selector> {
    let Some(patterns) = patterns else {
        return Ok(Selector::all());
    };
    if patterns.is_empty() {
        return Err(at
            .error(format!("`{field}` is an empty list"))
            .with_hint(format!("leave `{field}` out to select every one")));
    }
    let compiled = patterns
        .iter()
        .map(|p| {
            glob::Pattern::new(p).map_err(|e| {
                at.error(format!("`{field}` has the bad pattern `{p}`: {}", e.msg))
                    .with_hint("patterns use `*`, `?` and `[abc]`, as in `marts.*`")
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Selector::new(compiled))
}
