//! The terminal view of `dualrun profile`: one row per column.

use std::io::{self, Write};

use comfy_table::{CellAlignment, ContentArrangement, Table, presets};
use serde_json::Value;

use super::ProfileReport;
use crate::format::{cell, count, number, percent};

pub fn render(report: &ProfileReport, out: &mut dyn Write) -> io::Result<()> {
    let t = &report.table;
    writeln!(
        out,
        "{}: {} ({} rows, {} columns)",
        t.name,
        t.side.source,
        count(t.side.rows),
        t.side.columns
    )?;
    let mut table = Table::new();
    table
        .load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(vec![
            "column",
            "type",
            "nulls",
            "distinct",
            "min",
            "max",
            "mean",
            "stddev",
            "p50",
            "top values",
        ]);
    let value = |v: &Value| match v {
        Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), number),
        other => cell(other),
    };
    for column in &t.profile {
        let s = &column.stats;
        let numeric = s.numeric.as_ref();
        let p50 = numeric
            .and_then(|n| n.quantiles.get("p50"))
            .or_else(|| s.temporal.as_ref().and_then(|t| t.quantiles.get("p50")))
            .map_or_else(|| "-".to_string(), value);
        let top = s.text.as_ref().map_or_else(String::new, |text| {
            text.top
                .iter()
                .take(3)
                .map(|t| format!("{} ({})", cell(&t.value), count(t.count)))
                .collect::<Vec<_>>()
                .join(", ")
        });
        let distinct = format!(
            "{}{}",
            if s.distinct_exact { "" } else { "~" },
            count(s.distinct)
        );
        table.add_row(vec![
            column.name.clone(),
            column.data_type.clone(),
            format!("{} ({})", count(s.null_count), percent(s.null_rate)),
            distinct,
            value(&s.min),
            value(&s.max),
            numeric.map_or_else(|| "-".to_string(), |n| value(&n.mean)),
            numeric.map_or_else(|| "-".to_string(), |n| value(&n.stddev)),
            p50,
            top,
        ]);
    }
    for i in 2..4 {
        if let Some(c) = table.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    writeln!(out, "{table}")
}
