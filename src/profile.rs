//! `dualrun profile`: the statistics of every column (or the chosen ones) of
//! one table, computed by the same one-pass, parallel code as a diff's.

use serde::Serialize;

use crate::diff::ColumnStats;
use crate::diff::canon::comparison_type;
use crate::diff::compare::ColumnRule;
use crate::diff::prepare::{MatchOn, Side, SideSpec, StatsOf, prepare_side};
use crate::diff::schema::ColumnPair;
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
    let pairs: Vec<ColumnPair> = schema
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| columns.is_empty() || columns.contains(f.name()))
        .map(|(index, field)| ColumnPair {
            name: field.name().clone(),
            prod_index: index,
            candidate_index: index,
            // A type always compares with itself.
            compared_as: comparison_type(field.data_type(), field.data_type())
                .unwrap_or_else(|_| field.data_type().clone()),
            rule: ColumnRule::EXACT,
            own_tolerance: false,
        })
        .collect();
    let spec = SideSpec::new(
        Side::Prod,
        &MatchOn {
            columns: &pairs,
            nulls_excluded: false,
        },
        &[],
        StatsOf::Keys,
        table.num_rows(),
    )?;
    let side = prepare_side(&spec, &table.batches)?;
    pairs
        .iter()
        .zip(&side.stats)
        .enumerate()
        .map(|(index, (pair, state))| {
            Ok(ProfiledColumn {
                name: pair.name.clone(),
                data_type: schema.field(pair.prod_index).data_type().to_string(),
                stats: ColumnStats::finish(state, &pair.compared_as, &side.stat_cells(index))?,
            })
        })
        .collect()
}
