//! `dualrun profile`: the statistics of every column (or the chosen ones) of
//! one table, computed by the same one-pass, parallel code as a diff's.

use serde::Serialize;

use crate::diff::ColumnStats;
use crate::error::{Error, Result};
use crate::input::Table;

#[derive(Debug, Clone, Serialize)]
pub struct ProfiledColumn {
    pub name: String,
    /// The column's type in the table.
    pub data_type: String,
    pub stats: ColumnStats,
}

pub fn profile_table(table: &Table, columns: &[String]) -> Result<Vec<ProfiledColumn>> {
    let schema = &table.schema;
    for column in columns {
        if schema.index_of(column).is_err() {
            let names: Vec<String> = schema
                .fields()
                .iter()
                .map(|f| format!("`{}`", f.name()))
                .collect();
            return Err(Error::schema(
                format!(
                    "`--columns` names `{column}`, which is not a column of `{}`",
                    table.source
                ),
                Some(format!("its columns are {}", names.join(", "))),
            ));
        }
    }
    let chosen: Vec<usize> = schema
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| columns.is_empty() || columns.contains(f.name()))
        .map(|(index, _)| index)
        .collect();
    let stats = crate::diff::column_statistics(table, &chosen)?;
    Ok(chosen
        .into_iter()
        .zip(stats)
        .map(|(index, stats)| {
            let field = schema.field(index);
            ProfiledColumn {
                name: field.name().clone(),
                data_type: field.data_type().to_string(),
                stats,
            }
        })
        .collect())
}
