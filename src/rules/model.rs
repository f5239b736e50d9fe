//! Validated rules: what each rule checks, which tables and columns it
//! applies to, and its bounds. `parse` builds these from TOML; nothing here
//! can hold an invalid bound.

use std::fmt;

use crate::diff::Tolerance;

/// Every rule of every `--rules` file, in file order.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    pub files: Vec<String>,
    pub rules: Vec<Rule>,
}

impl RuleSet {
    /// The rules in force without a rules file: any difference rejects.
    pub fn any_difference_rejects() -> Self {
        RuleSet {
            files: Vec::new(),
            rules: vec![Rule {
                origin: Origin {
                    file: "built-in".to_string(),
                    index: 1,
                    line: 0,
                },
                name: None,
                tables: Selector::all(),
                columns: Selector::all(),
                kind: RuleKind::Identical,
            }],
        }
    }
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub origin: Origin,
    pub name: Option<String>,
    pub tables: Selector,
    pub columns: Selector,
    pub kind: RuleKind,
}

impl Rule {
    /// How reports name the rule: its `name`, or its check and position.
    pub fn label(&self) -> String {
        match &self.name {
            Some(name) => name.clone(),
            None => format!("{} #{}", self.kind.check(), self.origin.index),
        }
    }
}

/// Where a rule was declared: its file, 1-based position and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: String,
    pub index: usize,
    pub line: usize,
}

impl Origin {
    /// `rule 3 (line 12)`, for messages.
    pub fn describe(&self) -> String {
        format!("rule {} (line {})", self.index, self.line)
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.file, self.index)
    }
}

#[derive(Debug, Clone)]
pub enum RuleKind {
    /// The table must not differ at all (the rule in force without a rules
    /// file).
    Identical,
    RowCount {
        relative: Above,
        absolute: Above,
    },
    Schema {
        fail_on: Vec<SchemaChange>,
        warn_on: Vec<SchemaChange>,
    },
    KeyIntegrity {
        fail_on: Vec<KeyProblem>,
        warn_on: Vec<KeyProblem>,
    },
    RowsAdded(Above),
    RowsRemoved(Above),
    RowsChanged {
        bounds: Above,
        ignore_columns: Vec<String>,
    },
    ColumnMatch {
        bounds: Below,
        /// The tolerance the diff compares the column with; `None` keeps the
        /// diff's own.
        tolerance: Option<Tolerance>,
    },
    Stat {
        metric: Metric,
        bounds: Above,
    },
    Distribution {
        method: Method,
        bounds: Above,
    },
    Expect {
        reason: String,
    },
    /// The candidate's dbt tests of the table: how a test that ended in
    /// each status counts.
    DbtTest {
        fail_on: Vec<DbtTestStatus>,
        warn_on: Vec<DbtTestStatus>,
    },
}

impl RuleKind {
    /// The `check` name, as written in rules files.
    pub fn check(&self) -> &'static str {
        match self {
            RuleKind::Identical => "identical",
            RuleKind::RowCount { .. } => "row_count",
            RuleKind::Schema { .. } => "schema",
            RuleKind::KeyIntegrity { .. } => "key_integrity",
            RuleKind::RowsAdded(_) => "rows_added",
            RuleKind::RowsRemoved(_) => "rows_removed",
            RuleKind::RowsChanged { .. } => "rows_changed",
            RuleKind::ColumnMatch { .. } => "column_match",
            RuleKind::Stat { .. } => "stat",
            RuleKind::Distribution { .. } => "distribution",
            RuleKind::Expect { .. } => "expect",
            RuleKind::DbtTest { .. } => "dbt_test",
        }
    }

    /// Whether the rule judges columns one by one (and so takes `columns`).
    pub fn per_column(&self) -> bool {
        matches!(
            self,
            RuleKind::Schema { .. }
                | RuleKind::ColumnMatch { .. }
                | RuleKind::Stat { .. }
                | RuleKind::Distribution { .. }
                | RuleKind::Expect { .. }
        )
    }
}

/// Bounds on a figure that must stay at or below them (`warn`, `fail`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Above {
    pub warn: Option<f64>,
    pub fail: Option<f64>,
}

/// Bounds on a figure that must stay at or above them (`warn_below`,
/// `fail_below`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Below {
    pub warn: Option<f64>,
    pub fail: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaChange {
    Added,
    Removed,
    TypeChanged,
    NullabilityChanged,
    Reordered,
    /// The whole table is new in the candidate.
    TableAdded,
    /// The candidate no longer has the table.
    TableRemoved,
}

impl SchemaChange {
    pub const ALL: [SchemaChange; 7] = [
        SchemaChange::Added,
        SchemaChange::Removed,
        SchemaChange::TypeChanged,
        SchemaChange::NullabilityChanged,
        SchemaChange::Reordered,
        SchemaChange::TableAdded,
        SchemaChange::TableRemoved,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SchemaChange::Added => "added",
            SchemaChange::Removed => "removed",
            SchemaChange::TypeChanged => "type_changed",
            SchemaChange::NullabilityChanged => "nullability_changed",
            SchemaChange::Reordered => "reordered",
            SchemaChange::TableAdded => "table_added",
            SchemaChange::TableRemoved => "table_removed",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyProblem {
    Null,
    Duplicate,
}

impl KeyProblem {
    pub const ALL: [KeyProblem; 2] = [KeyProblem::Null, KeyProblem::Duplicate];

    pub fn name(self) -> &'static str {
        match self {
            KeyProblem::Null => "null",
            KeyProblem::Duplicate => "duplicate",
        }
    }
}

/// How a dbt test that did not pass ended, as dbt says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbtTestStatus {
    /// The test found rows (severity `error`).
    Fail,
    /// The test could not run.
    Error,
    /// The test found rows, with severity `warn`.
    Warn,
}

impl DbtTestStatus {
    pub const ALL: [DbtTestStatus; 3] = [
        DbtTestStatus::Fail,
        DbtTestStatus::Error,
        DbtTestStatus::Warn,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DbtTestStatus::Fail => "fail",
            DbtTestStatus::Error => "error",
            DbtTestStatus::Warn => "warn",
        }
    }

    pub fn of(status: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == status)
    }
}

impl Named for DbtTestStatus {
    const CHOICES: &'static [Self] = &DbtTestStatus::ALL;
    fn label(self) -> &'static str {
        self.name()
    }
}

/// Names that pick one of a fixed list, for `fail_on`/`warn_on` parsing.
pub trait Named: Copy + 'static {
    const CHOICES: &'static [Self];
    fn label(self) -> &'static str;
}

impl Named for SchemaChange {
    const CHOICES: &'static [Self] = &SchemaChange::ALL;
    fn label(self) -> &'static str {
        self.name()
    }
}

impl Named for KeyProblem {
    const CHOICES: &'static [Self] = &KeyProblem::ALL;
    fn label(self) -> &'static str {
        self.name()
    }
}

/// A column statistic whose relative change a `stat` rule bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Mean,
    Sum,
    Stddev,
    Min,
    Max,
    /// One of the reported quantiles, by its report name (`p50`).
    Quantile(&'static str),
    /// Change of the null rate in percentage points (not relative).
    NullRate,
    Distinct,
}

impl Metric {
    pub const NAMES: &'static str = "`mean`, `sum`, `stddev`, `min`, `max`, `p01`, `p05`, `p25`, `p50`, `p75`, `p95`, `p99`, `null_rate`, `distinct`";

    pub fn name(self) -> &'static str {
        match self {
            Metric::Mean => "mean",
            Metric::Sum => "sum",
            Metric::Stddev => "stddev",
            Metric::Min => "min",
            Metric::Max => "max",
            Metric::Quantile(level) => level,
            Metric::NullRate => "null_rate",
            Metric::Distinct => "distinct",
        }
    }

    /// Whether the metric exists only for numeric columns.
    pub fn numeric_only(self) -> bool {
        !matches!(self, Metric::NullRate | Metric::Distinct)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Psi,
    Ks,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Psi => "psi",
            Method::Ks => "ks",
        }
    }
}

/// A list of glob patterns over table or column names; empty selects all.
#[derive(Debug, Clone, Default)]
pub struct Selector {
    patterns: Vec<glob::Pattern>,
}

impl Selector {
    pub fn all() -> Self {
        Selector::default()
    }

    pub fn new(patterns: Vec<glob::Pattern>) -> Self {
        Selector { patterns }
    }

    /// Whether the rule named names itself (an empty list selects all).
    pub fn is_explicit(&self) -> bool {
        !self.patterns.is_empty()
    }

    pub fn matches(&self, name: &str) -> bool {
        self.patterns.is_empty() || self.patterns.iter().any(|p| p.matches(name))
    }

    /// Whether `name` is picked by a pattern that is a plain name rather
    /// than a wildcard: such a column must suit the rule.
    pub fn names_literally(&self, name: &str) -> bool {
        self.literals().any(|literal| literal == name)
    }

    /// The patterns without wildcards: names that must exist.
    pub fn literals(&self) -> impl Iterator<Item = &str> {
        self.patterns
            .iter()
            .map(|p| p.as_str())
            .filter(|p| !p.contains(['*', '?', '[']))
    }
}
