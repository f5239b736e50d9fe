//! Schema diff and column pairing: which prod column is compared with which
//! candidate column, as what type, and what changed between the schemas.
//!
//! Columns match by name (case-sensitive), after the user's renames. Names in
//! options (key, ignore, tolerances) are prod names. Logically equal layouts
//! (`Utf8` and `Utf8View`, a dictionary and its values) are not reported as
//! retyped: they hold the same values.

use std::collections::BTreeSet;

use datafusion::arrow::datatypes::{DataType, Schema};
use serde::{Deserialize, Serialize};

use super::DiffOptions;
use super::canon::comparison_type;
use super::compare::{ColumnRule, Tolerance};
use crate::error::{Error, Result};

/// What changed between the two schemas.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SchemaDiff {
    /// Columns only in the candidate.
    pub added: Vec<String>,
    /// Columns only in prod.
    pub removed: Vec<String>,
    pub retyped: Vec<Retyped>,
    pub nullability_changed: Vec<NullabilityChange>,
    /// The shared columns appear in another order.
    pub reordered: bool,
    pub renamed: Vec<Renamed>,
    /// Columns left out of the comparison on request.
    pub ignored: Vec<String>,
    /// Shared columns whose types cannot be compared.
    pub skipped: Vec<Skipped>,
}

impl SchemaDiff {
    /// Whether the schema changed what a reader gets: columns added,
    /// removed, retyped or reordered. A nullability flag alone changes no
    /// value (CSV cannot even say it), so it is reported but does not make
    /// the tables differ; renames and ignores are requests, not changes.
    pub fn has_changes(&self) -> bool {
        !self.added.is_empty()
            || !self.removed.is_empty()
            || !self.retyped.is_empty()
            || self.reordered
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Retyped {
    pub column: String,
    pub prod: String,
    pub candidate: String,
    /// The type both sides were compared as; `None` when skipped.
    pub compared_as: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NullabilityChange {
    pub column: String,
    pub prod: bool,
    pub candidate: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Renamed {
    pub prod: String,
    pub candidate: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    pub column: String,
    pub prod: String,
    pub candidate: String,
    pub reason: String,
}

/// One prod column paired with one candidate column.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnPair {
    /// The prod name, used in reports.
    pub name: String,
    pub prod_index: usize,
    pub candidate_index: usize,
    pub compared_as: DataType,
    pub rule: ColumnRule,
    /// Whether the user gave this column its own tolerance.
    pub own_tolerance: bool,
}

impl ColumnPair {
    /// The column's index in `side`'s table.
    pub fn index(&self, side: crate::sides::Side) -> usize {
        match side {
            crate::sides::Side::Prod => self.prod_index,
            crate::sides::Side::Candidate => self.candidate_index,
        }
    }
}

/// The pairing of two schemas for one diff.
#[derive(Debug, Clone)]
pub struct ColumnPlan {
    pub keys: Vec<ColumnPair>,
    /// Compared non-key columns, in prod order.
    pub values: Vec<ColumnPair>,
    pub schema: SchemaDiff,
}

/// Labels for messages: which table is prod and which is the candidate.
pub struct Sources<'a> {
    pub prod: &'a str,
    pub candidate: &'a str,
    /// Whether the two sides declare nullability alike (both files, or both
    /// one database), so a difference in it is a schema change; across
    /// kinds it says only how each container declares columns.
    pub same_kind: bool,
}

pub fn plan_columns(
    prod: &Schema,
    candidate: &Schema,
    options: &DiffOptions,
    sources: &Sources,
) -> Result<ColumnPlan> {
    check_named_columns(prod, candidate, options, sources)?;
    let mut schema = SchemaDiff {
        renamed: options
            .renames
            .iter()
            .map(|(old, new)| Renamed {
                prod: old.clone(),
                candidate: new.clone(),
            })
            .collect(),
        ..Default::default()
    };
    let shared = shared_columns(prod, candidate, options, &mut schema);
    let mut keys = Vec::new();
    let mut values = Vec::new();
    for (prod_index, candidate_index) in shared {
        let Some(pair) = pair_column(
            (prod, candidate),
            (prod_index, candidate_index),
            options,
            sources.same_kind,
            &mut schema,
        )?
        else {
            continue;
        };
        if options.key.contains(&pair.name) {
            keys.push(pair);
        } else {
            values.push(pair);
        }
    }
    // Keys in the order the user named them.
    keys.sort_by_key(|pair| options.key.iter().position(|k| *k == pair.name));
    check_tolerances(options, prod, &keys, &values, sources)?;
    Ok(ColumnPlan {
        keys,
        values,
        schema,
    })
}

/// `--rename`, `--ignore` and `--key` must name columns that are there, and
/// a key column only once.
fn check_named_columns(
    prod: &Schema,
    candidate: &Schema,
    options: &DiffOptions,
    sources: &Sources,
) -> Result<()> {
    for (old, new) in &options.renames {
        require_column(prod, old, "`--rename` names", "prod", sources.prod)?;
        require_column(
            candidate,
            new,
            "`--rename` names",
            "candidate",
            sources.candidate,
        )?;
    }
    for column in &options.ignore {
        if prod.index_of(column).is_err() && candidate.index_of(column).is_err() {
            return Err(unknown_column(
                "`--ignore` names",
                column,
                prod,
                &format!("prod `{}`", sources.prod),
            ));
        }
    }
    for key in &options.key {
        require_column(prod, key, "`--key` names", "prod", sources.prod)?;
        require_column(
            candidate,
            &candidate_name(options, key),
            "`--key` names",
            "candidate",
            sources.candidate,
        )?;
    }
    let mut seen = BTreeSet::new();
    if let Some(duplicate) = options.key.iter().find(|k| !seen.insert(k.as_str())) {
        return Err(Error::usage(format!(
            "key column `{duplicate}` is named twice in `--key`"
        )));
    }
    Ok(())
}

/// The candidate's name of prod column `prod_name` (after `--rename`).
fn candidate_name(options: &DiffOptions, prod_name: &str) -> String {
    options
        .renames
        .iter()
        .find(|(old, _)| old == prod_name)
        .map_or_else(|| prod_name.to_string(), |(_, new)| new.clone())
}

/// The (prod index, candidate index) of each column both sides have, in
/// prod order; the columns only one side has, and whether the shared ones
/// were reordered, go into `schema`.
fn shared_columns(
    prod: &Schema,
    candidate: &Schema,
    options: &DiffOptions,
    schema: &mut SchemaDiff,
) -> Vec<(usize, usize)> {
    let mut shared = Vec::new();
    for (prod_index, field) in prod.fields().iter().enumerate() {
        match candidate.index_of(&candidate_name(options, field.name())) {
            Ok(candidate_index) => shared.push((prod_index, candidate_index)),
            Err(_) => schema.removed.push(field.name().clone()),
        }
    }
    let renamed_targets: BTreeSet<&str> = options.renames.iter().map(|(_, n)| n.as_str()).collect();
    for field in candidate.fields() {
        let renamed_to = renamed_targets.contains(field.name().as_str());
        if !renamed_to && prod.index_of(field.name()).is_err() {
            schema.added.push(field.name().clone());
        }
    }
    schema.reordered = shared.windows(2).any(|w| w[0].1 > w[1].1);
    shared
}

/// One shared column, paired for comparison with its rule; a type change
/// or nullability change is noted in `schema`. `None` for a column left
/// out: ignored, or of types that cannot be compared (a key column of such
/// types is an error).
fn pair_column(
    (prod, candidate): (&Schema, &Schema),
    (prod_index, candidate_index): (usize, usize),
    options: &DiffOptions,
    same_kind: bool,
    schema: &mut SchemaDiff,
) -> Result<Option<ColumnPair>> {
    let (pf, cf) = (prod.field(prod_index), candidate.field(candidate_index));
    let name = pf.name().clone();
    let compared = comparison_type(pf.data_type(), cf.data_type());
    if !same_logical_type(pf.data_type(), cf.data_type()) {
        schema.retyped.push(Retyped {
            column: name.clone(),
            prod: pf.data_type().to_string(),
            candidate: cf.data_type().to_string(),
            compared_as: compared.as_ref().ok().map(ToString::to_string),
        });
    }
    if same_kind && pf.is_nullable() != cf.is_nullable() {
        schema.nullability_changed.push(NullabilityChange {
            column: name.clone(),
            prod: pf.is_nullable(),
            candidate: cf.is_nullable(),
        });
    }
    let is_key = options.key.contains(&name);
    let compared_as = match compared {
        Ok(t) => t,
        Err(reason) if is_key => {
            return Err(Error::schema(
                format!("key column `{name}` cannot be compared: {reason}"),
                Some("cast the key to one type on both sides, or choose another key".into()),
            ));
        }
        Err(reason) => {
            schema.skipped.push(Skipped {
                column: name,
                prod: pf.data_type().to_string(),
                candidate: cf.data_type().to_string(),
                reason,
            });
            return Ok(None);
        }
    };
    if !is_key && options.ignore.contains(&name) {
        schema.ignored.push(name);
        return Ok(None);
    }
    let own = options.column_tolerances.get(&name);
    // `--abs-tol`/`--rel-tol` speak of numbers; other columns stay exact.
    let default = if is_numeric(&compared_as) {
        options.default_tolerance
    } else {
        Tolerance::default()
    };
    Ok(Some(ColumnPair {
        rule: ColumnRule {
            tolerance: own.copied().unwrap_or(default),
            strings: options.strings,
        },
        own_tolerance: own.is_some(),
        name,
        prod_index,
        candidate_index,
        compared_as,
    }))
}

/// Tolerances must name compared columns of a type they apply to.
fn check_tolerances(
    options: &DiffOptions,
    prod: &Schema,
    keys: &[ColumnPair],
    values: &[ColumnPair],
    sources: &Sources,
) -> Result<()> {
    for (column, tolerance) in &options.column_tolerances {
        if keys.iter().any(|k| &k.name == column) {
            return Err(Error::usage(format!(
                "`--tol` names key column `{column}`, and keys always compare exactly"
            )));
        }
        let Some(pair) = values.iter().find(|v| &v.name == column) else {
            if prod.index_of(column).is_err() {
                return Err(unknown_column(
                    "`--tol` names",
                    column,
                    prod,
                    &format!("prod `{}`", sources.prod),
                ));
            }
            return Err(Error::usage(format!(
                "`--tol` names column `{column}`, which is not compared (ignored, skipped or missing in the candidate)"
            )));
        };
        check_tolerance_kind(column, tolerance, &pair.compared_as)?;
    }
    Ok(())
}

fn check_tolerance_kind(column: &str, tolerance: &Tolerance, compared_as: &DataType) -> Result<()> {
    use DataType::*;
    let temporal = matches!(
        compared_as,
        Date32 | Date64 | Timestamp(..) | Time64(_) | Duration(_)
    );
    let numeric = matches!(
        compared_as,
        Int64 | Float64 | Decimal128(..) | Decimal256(..)
    );
    if tolerance.duration_ns.is_some() && !temporal {
        return Err(Error::usage(format!(
            "`--tol {column}=dur:..` needs a date or time column, and `{column}` is compared as `{compared_as}`"
        ))
        .with_hint(format!("use `--tol {column}=abs:X` or `rel:X` for numbers")));
    }
    if (tolerance.abs > 0.0 || tolerance.rel > 0.0) && !numeric {
        let hint = if temporal {
            format!("use a duration for date/time columns: `--tol {column}=dur:5s`")
        } else {
            "numeric tolerances apply to integers, floats and decimals".to_string()
        };
        return Err(Error::usage(format!(
            "`--tol {column}=abs/rel` needs a numeric column, and `{column}` is compared as `{compared_as}`"
        ))
        .with_hint(hint));
    }
    Ok(())
}

fn is_numeric(compared_as: &DataType) -> bool {
    use DataType::*;
    matches!(
        compared_as,
        Int64 | Float64 | Decimal128(..) | Decimal256(..)
    )
}

fn require_column(
    schema: &Schema,
    column: &str,
    what: &str,
    side: &str,
    source: &str,
) -> Result<()> {
    if schema.index_of(column).is_ok() {
        Ok(())
    } else {
        Err(unknown_column(
            what,
            column,
            schema,
            &format!("{side} `{source}`"),
        ))
    }
}

/// `label` names the table, e.g. "prod `orders.csv`".
fn unknown_column(what: &str, column: &str, schema: &Schema, label: &str) -> Error {
    let names: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| format!("`{}`", f.name()))
        .collect();
    Error::schema(
        format!("{what} `{column}`, which is not a column of {label}"),
        Some(format!("its columns are {}", names.join(", "))),
    )
}

/// Types that hold the same values in another layout.
fn same_logical_type(a: &DataType, b: &DataType) -> bool {
    fn logical(t: &DataType) -> DataType {
        match t {
            DataType::Dictionary(_, value) => logical(value),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => DataType::Utf8,
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView => DataType::Binary,
            other => other.clone(),
        }
    }
    logical(a).equals_datatype(&logical(b))
}
