//! The walk over a table's sample rows that every human report shares:
//! changed rows cell by cell (key, column, both values), then removed and
//! added rows whole. Each renderer says how a part looks (`SampleWriter`);
//! what comes in which order is decided once, here.

use serde_json::{Map, Value};

use super::TableReport;

/// How one report format writes the parts of the sample tables.
pub trait SampleWriter {
    /// Before the changed rows: `shown` of `total`.
    fn changed_start(&mut self, shown: usize, total: u64);
    /// One unequal column of one changed row.
    fn changed_cell(
        &mut self,
        key: &Map<String, Value>,
        column: &str,
        prod: &Value,
        candidate: &Value,
    );
    fn changed_end(&mut self);
    /// Before the rows of one side only (`Removed rows`, `Added rows`).
    fn one_sided_start(&mut self, title: &str, shown: usize, total: u64);
    /// One such row: its key cells, then its values, by name.
    fn one_sided_row(&mut self, cells: &[(&String, &Value)]);
    fn one_sided_end(&mut self);
}

/// Writes `table`'s samples through `out`; sections without rows are left
/// out.
pub fn walk_samples(table: &TableReport, out: &mut dyn SampleWriter) {
    let samples = &table.diff.samples;
    let rows = &table.diff.rows;
    if !samples.changed.is_empty() {
        out.changed_start(samples.changed.len(), rows.changed);
        for row in &samples.changed {
            for (column, pair) in &row.columns {
                out.changed_cell(&row.key, column, &pair["prod"], &pair["candidate"]);
            }
        }
        out.changed_end();
    }
    for (title, sampled, total) in [
        ("Removed rows", &samples.removed, rows.removed),
        ("Added rows", &samples.added, rows.added),
    ] {
        if sampled.is_empty() {
            continue;
        }
        out.one_sided_start(title, sampled.len(), total);
        for row in sampled {
            let cells: Vec<(&String, &Value)> = row.key.iter().chain(&row.values).collect();
            out.one_sided_row(&cells);
        }
        out.one_sided_end();
    }
}
