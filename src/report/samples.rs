//! The walk over a table's sample rows that every human report shares:
//! changed rows cell by cell (key, column, both values), then removed and
//! added rows whole. Each renderer says how a part looks (`SampleWriter`);
//! what comes in which order is decided once, here.

use serde_json::Value;

use super::TableReport;
use crate::format::count;

/// How one report format writes a sample table; the walk decides what is
/// in it.
pub trait SampleWriter {
    /// A cell's value, escaped for the format.
    fn value(&self, value: &Value) -> String;
    /// A column name, escaped for the format.
    fn name(&self, name: &str) -> String;
    /// A section's title, the note after it (`(first 5 of 12)`), and the
    /// header of its table.
    fn table_start(&mut self, title: &str, note: &str, columns: &[&str]);
    fn row(&mut self, cells: &[String]);
    fn table_end(&mut self);
}

/// Writes `table`'s samples through `out`: changed rows cell by cell (key,
/// column, both values), then removed and added rows whole (`name=value`
/// pairs, key first). Sections without rows are left out.
pub fn walk_samples(table: &TableReport, out: &mut dyn SampleWriter) {
    let samples = &table.diff.samples;
    let rows = &table.diff.rows;
    if !samples.changed.is_empty() {
        let note = format!(
            "(first {} of {}, in key order)",
            samples.changed.len(),
            count(rows.changed)
        );
        out.table_start(
            "Changed rows",
            &note,
            &["key", "column", "prod", "candidate"],
        );
        for row in &samples.changed {
            let key: Vec<String> = row.key.values().map(|v| out.value(v)).collect();
            for (column, pair) in &row.columns {
                let cells = [
                    key.join(", "),
                    out.name(column),
                    out.value(&pair["prod"]),
                    out.value(&pair["candidate"]),
                ];
                out.row(&cells);
            }
        }
        out.table_end();
    }
    for (title, sampled, total) in [
        ("Removed rows", &samples.removed, rows.removed),
        ("Added rows", &samples.added, rows.added),
    ] {
        if sampled.is_empty() {
            continue;
        }
        let note = format!("(first {} of {})", sampled.len(), count(total));
        out.table_start(title, &note, &["row"]);
        for row in sampled {
            let cells: Vec<String> = row
                .key
                .iter()
                .chain(&row.values)
                .map(|(name, value)| format!("{}={}", out.name(name), out.value(value)))
                .collect();
            out.row(&[cells.join(" ")]);
        }
        out.table_end();
    }
}
