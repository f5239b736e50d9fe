//! What a table diff returns: plain serializable data, in the order the JSON
//! report shows it. Nothing here computes or prints.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::compare::Tolerance;
use super::drift::Drift;
use super::schema::SchemaDiff;
use super::stats::ColumnStats;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableDiff {
    /// Key columns (prod names); empty for a whole-row diff.
    pub key: Vec<String>,
    pub rows: RowCounts,
    pub schema: SchemaDiff,
    /// Every compared non-key column, in prod order.
    pub columns: Vec<ColumnDiff>,
    pub samples: Samples,
    /// For a whole-row diff: columns (or pairs) unique and non-null on both
    /// sides, which would make a good `--key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_candidates: Option<Vec<Vec<String>>>,
    /// Where `--diff-rows` wrote every differing row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff_rows: Option<DiffRowsFile>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffRowsFile {
    pub path: String,
    pub rows: u64,
}

impl TableDiff {
    /// Whether the tables differ: a changed, added or removed row, a schema
    /// change, or a different number of rows with a NULL key (which are not
    /// compared).
    pub fn differs(&self) -> bool {
        let rows = &self.rows;
        rows.changed > 0
            || rows.added > 0
            || rows.removed > 0
            || rows.null_keys.prod != rows.null_keys.candidate
            || self.schema.has_changes()
    }
}

/// Row classes. With a key, `identical + within_tolerance + changed +
/// removed + null_keys.prod = prod`, and likewise with `added` for the
/// candidate. Without a key, rows are matched whole (`changed` is 0) and
/// `duplicate_keys` counts rows that occur more than once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowCounts {
    pub prod: u64,
    pub candidate: u64,
    pub identical: u64,
    pub within_tolerance: u64,
    pub changed: u64,
    pub added: u64,
    pub removed: u64,
    /// Distinct keys that occur more than once.
    pub duplicate_keys: PerSide,
    /// Rows whose key occurs more than once.
    pub duplicate_rows: PerSide,
    /// Rows with a NULL in any key column: counted, never matched.
    pub null_keys: PerSide,
    /// Changed rows counted again leaving some columns out, as rules ask
    /// (`rows_changed` with `ignore_columns`, or with `expect`ed columns).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed_ignoring: Vec<ChangedIgnoring>,
}

/// Rows that still differ when `columns` are left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangedIgnoring {
    pub columns: Vec<String>,
    pub changed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PerSide {
    pub prod: u64,
    pub candidate: u64,
}

impl From<[u64; 2]> for PerSide {
    fn from([prod, candidate]: [u64; 2]) -> Self {
        PerSide { prod, candidate }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnDiff {
    pub name: String,
    /// The comparison type (see `canon`).
    pub compared_as: String,
    /// The tolerance applied, when not exact.
    pub tolerance: Option<Tolerance>,
    /// Paired rows compared.
    pub compared: u64,
    pub unequal: u64,
    /// Values that differ within the tolerance.
    pub within_tolerance: u64,
    /// `1 - unequal / compared`; null when no rows were paired.
    pub match_rate: Option<f64>,
    /// Largest |prod - candidate| among unequal numbers; null for other types.
    pub max_abs_diff: Option<f64>,
    /// Unequal values where exactly one side is NULL.
    pub null_mismatch: u64,
    /// Statistics of every row of each side (absent with `--no-stats`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<SideStats>,
    /// How the column's statistics moved (absent with `--no-stats`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drift: Option<Drift>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SideStats {
    pub prod: ColumnStats,
    pub candidate: ColumnStats,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Samples {
    pub changed: Vec<ChangedRow>,
    pub added: Vec<SampleRow>,
    pub removed: Vec<SampleRow>,
}

/// A changed row: its key and the unequal columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangedRow {
    pub key: Map<String, Value>,
    pub columns: Map<String, Value>,
}

/// An added or removed row: its key and compared values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleRow {
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub key: Map<String, Value>,
    pub values: Map<String, Value>,
}
