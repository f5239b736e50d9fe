//! The keyed diff as SQL, for an engine that need not be this process: the
//! embedded DataFusion context, or one whose plans run on a Ballista
//! cluster. The engine does the heavy part with functions a stock cluster
//! has (DataFusion built-ins and `xxhash64` from `datafusion-spark`):
//!
//! 1. per side, a projection of the key (cast to its comparison type) and a
//!    row hash over the comparison-typed value columns, each preceded by its
//!    NULL flag (Spark's `xxhash64` skips NULLs, so without the flag
//!    `(NULL, 'a')` and `('a', NULL)` would hash alike); per key-hash bucket
//!    a checksum of those rows (`checksum`), so that buckets equal on both
//!    sides are done and only the others go on;
//! 2. per side, the rows of each key (count, hash) and a full outer join of
//!    the two on the key: keys with one row a side and equal hashes are
//!    identical and never leave the engine;
//! 3. every other key (changed, added, removed, duplicated) is sent back
//!    with its full rows, fetched by a semi-join in the same query.
//!
//! The client diffs the fetched rows with the same code as an embedded
//! diff (tolerances, duplicates, samples) and adds the keys the engine
//! proved identical, so counts, per-column tallies and samples equal the
//! embedded diff's. Column statistics are engine aggregates (`stats`).
//!
//! Every `IS [NOT] DISTINCT FROM` and every boolean term is parenthesised:
//! DataFusion 55's parser mis-groups `IS NOT DISTINCT FROM` inside `OR`.

use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;

use crate::diff::schema::{ColumnPair, Sources, plan_columns};
use crate::diff::{DiffOptions, Side, TableDiff, diff_tables};
use crate::error::{Error, Result};
use crate::input::Table;
use checksum::Scope;

mod checksum;
mod stats;

/// The functions the SQL diff calls beyond DataFusion's built-ins, which a
/// cluster must have on its scheduler and every executor.
pub const CLUSTER_FUNCTIONS: [&str; 1] = ["xxhash64"];

/// A side as the engine knows it: a registered table name and its schema.
pub struct SqlSide<'a> {
    /// The table's name in the engine's catalog.
    pub table: &'a str,
    /// The source, as the report names it.
    pub source: &'a str,
    pub schema: SchemaRef,
}

/// Registers Spark's `xxhash64` in `ctx`, as Ballista's `spark-compat`
/// feature does on a cluster's scheduler and executors.
pub fn register_functions(ctx: &SessionContext) {
    ctx.register_udf(
        datafusion_spark::function::hash::xxhash64()
            .as_ref()
            .clone(),
    );
}

/// Diffs `prod` against `candidate` by key in `ctx`.
pub async fn sql_diff(
    ctx: &SessionContext,
    prod: &SqlSide<'_>,
    candidate: &SqlSide<'_>,
    options: &DiffOptions,
) -> Result<TableDiff> {
    // The cluster reads Parquet files on both sides.
    let sources = Sources {
        prod: prod.source,
        candidate: candidate.source,
        same_kind: true,
    };
    let plan = plan_columns(&prod.schema, &candidate.schema, options, &sources)?;
    if plan.keys.is_empty() {
        return Err(
            Error::usage("the SQL diff needs a key").with_hint("name the key columns with `--key`")
        );
    }
    let queries = Queries {
        prod,
        candidate,
        keys: &plan.keys,
        values: &plan.values,
        buckets: None,
    };
    // Statistics are independent of the key join: both go to the engine
    // at once.
    let engine_stats = async {
        if !options.stats {
            return Ok(None);
        }
        futures::future::try_join(
            stats::side_stats(ctx, &queries, Side::Prod),
            stats::side_stats(ctx, &queries, Side::Candidate),
        )
        .await
        .map(Some)
    };
    let (mut diff, engine_stats) =
        futures::future::try_join(keyed_diff(ctx, queries.clone(), options), engine_stats).await?;
    if let Some((prod_stats, candidate_stats)) = engine_stats {
        stats::attach(&mut diff, &plan.values, prod_stats, candidate_stats);
    }
    Ok(diff)
}

/// The keyed diff without statistics: checksums, then the join of the
/// buckets they could not prove equal, then the comparison of the rows of
/// every key that is not one identical row a side.
async fn keyed_diff(
    ctx: &SessionContext,
    mut queries: Queries<'_>,
    options: &DiffOptions,
) -> Result<TableDiff> {
    let join_needed = match checksum::scope(ctx, &queries).await? {
        Scope::All => true,
        Scope::Buckets(differing) => {
            let join_needed = !differing.is_empty();
            queries.buckets = Some(differing);
            join_needed
        }
    };
    let totals = query(ctx, &queries.totals()).await?;
    let count = |column: usize| -> u64 {
        totals
            .first()
            .map(|b| value_u64(b, column))
            .unwrap_or_default()
    };
    let (prod_rows, candidate_rows) = (count(0), count(1));
    let (prod_null_keys, candidate_null_keys) = (count(2), count(3));
    let (prod_fetched, candidate_fetched) = if join_needed {
        futures::future::try_join(
            query(ctx, &queries.fetch(Side::Prod)),
            query(ctx, &queries.fetch(Side::Candidate)),
        )
        .await?
    } else {
        (Vec::new(), Vec::new())
    };
    // Every prod row with a key is either the one row of an identical key
    // or fetched, so the identical keys need no query of their own.
    let fetched_prod_rows: usize = prod_fetched.iter().map(RecordBatch::num_rows).sum();
    let identical = (prod_rows - prod_null_keys).saturating_sub(fetched_prod_rows as u64);
    let fetched_options = DiffOptions {
        stats: false,
        ..options.clone()
    };
    let (prod, candidate) = (queries.prod, queries.candidate);
    let diff = diff_tables(
        &Table::from_batches(prod.source, prod.schema.clone(), prod_fetched),
        &Table::from_batches(
            candidate.source,
            candidate.schema.clone(),
            candidate_fetched,
        ),
        &fetched_options,
    )?;
    Ok(with_identical(
        diff,
        [prod_rows, candidate_rows],
        identical,
        [prod_null_keys, candidate_null_keys],
    ))
}

/// Adds what the engine proved identical to the diff of the fetched rows.
fn with_identical(
    mut diff: TableDiff,
    [prod, candidate]: [u64; 2],
    identical: u64,
    null_keys: [u64; 2],
) -> TableDiff {
    diff.rows.prod = prod;
    diff.rows.candidate = candidate;
    diff.rows.identical += identical;
    diff.rows.null_keys = null_keys.into();
    for column in &mut diff.columns {
        column.compared += identical;
        column.match_rate =
            (column.compared > 0).then(|| 1.0 - column.unequal as f64 / column.compared as f64);
    }
    diff
}

#[derive(Clone)]
struct Queries<'a> {
    prod: &'a SqlSide<'a>,
    candidate: &'a SqlSide<'a>,
    keys: &'a [ColumnPair],
    values: &'a [ColumnPair],
    /// The key-hash buckets the join is limited to (`checksum`); `None`:
    /// every key.
    buckets: Option<Vec<i64>>,
}

impl Queries<'_> {
    fn table(&self, side: Side) -> &SqlSide<'_> {
        match side {
            Side::Prod => self.prod,
            Side::Candidate => self.candidate,
        }
    }

    /// The quoted name of `pair`'s column on `side`.
    fn column(&self, side: Side, pair: &ColumnPair) -> String {
        let index = match side {
            Side::Prod => pair.prod_index,
            Side::Candidate => pair.candidate_index,
        };
        ident(self.table(side).schema.field(index).name())
    }

    /// `each(i, key)` for every key column, joined by `separator`.
    fn per_key(&self, separator: &str, each: impl Fn(usize, &ColumnPair) -> String) -> String {
        let parts: Vec<String> = self
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| each(i, k))
            .collect();
        parts.join(separator)
    }

    /// `k0, k1, ...`: the key columns of the projections.
    fn key_list(&self) -> String {
        self.per_key(", ", |i, _| format!("k{i}"))
    }

    /// Row counts and NULL-key counts: one row of four.
    fn totals(&self) -> String {
        let count = |side: Side, null_keys: bool| {
            let filter = if null_keys {
                let any_null =
                    self.per_key(" OR ", |_, k| format!("({} IS NULL)", self.column(side, k)));
                format!(" WHERE {any_null}")
            } else {
                String::new()
            };
            format!(
                "(SELECT count(*) FROM {}{filter})",
                ident(self.table(side).table)
            )
        };
        format!(
            "SELECT {} AS prod_rows, {} AS candidate_rows, {} AS prod_null_keys, \
             {} AS candidate_null_keys",
            count(Side::Prod, false),
            count(Side::Candidate, false),
            count(Side::Prod, true),
            count(Side::Candidate, true),
        )
    }

    /// `(k1 IS NOT NULL) AND ...` over `side`'s key columns.
    fn keys_not_null(&self, side: Side) -> String {
        self.per_key(" AND ", |_, k| {
            format!("({} IS NOT NULL)", self.column(side, k))
        })
    }

    /// `side`'s key columns cast to their comparison types, in key order.
    fn compared_keys(&self, side: Side) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| cast(&self.column(side, k), &k.compared_as))
            .collect()
    }

    /// What a row hash covers: each comparison-typed value after its NULL
    /// flag.
    fn hash_inputs(&self, side: Side) -> Vec<String> {
        self.values
            .iter()
            .flat_map(|v| {
                let value = cast(&self.column(side, v), &v.compared_as);
                [format!("({value} IS NULL)"), value]
            })
            .collect()
    }

    /// `side`'s rows the join looks at: keys not NULL, in the buckets the
    /// checksums could not prove equal.
    fn in_scope(&self, side: Side) -> String {
        let not_null = self.keys_not_null(side);
        match &self.buckets {
            None => not_null,
            Some(buckets) if buckets.is_empty() => format!("{not_null} AND FALSE"),
            Some(buckets) => {
                let list: Vec<String> = buckets.iter().map(i64::to_string).collect();
                format!(
                    "{not_null} AND ({} IN ({}))",
                    checksum::bucket(self, side),
                    list.join(", ")
                )
            }
        }
    }

    /// `WITH ... joined AS (...)`: per key, each side's row count and hash.
    fn joined(&self) -> String {
        let key_list = self.key_list();
        let side = |side: Side, alias: &str| {
            let keys: Vec<String> = self
                .compared_keys(side)
                .iter()
                .enumerate()
                .map(|(i, key)| format!("{key} AS k{i}"))
                .collect();
            let keys = keys.join(", ");
            let hashed = self.hash_inputs(side);
            let hash = if hashed.is_empty() {
                "0".to_string()
            } else {
                format!("xxhash64({})", hashed.join(", "))
            };
            format!(
                "{alias} AS (SELECT {key_list}, count(*) AS n, min(h) AS h \
                 FROM (SELECT {}, {hash} AS h FROM {} WHERE {}) \
                 GROUP BY {key_list})",
                keys,
                ident(self.table(side).table),
                self.in_scope(side),
            )
        };
        let on = self.per_key(" AND ", |i, _| format!("(p.k{i} = c.k{i})"));
        let key_columns = self.per_key(", ", |i, _| format!("coalesce(p.k{i}, c.k{i}) AS k{i}"));
        format!(
            "WITH {}, {}, joined AS (SELECT {key_columns}, p.n AS p_n, c.n AS c_n, \
             p.h AS p_h, c.h AS c_h FROM p FULL OUTER JOIN c ON {on})",
            side(Side::Prod, "p"),
            side(Side::Candidate, "c"),
        )
    }

    /// A side's full rows whose key is not one identical row a side. The
    /// differing keys are a common table expression of the same query, not
    /// a table sent from here: a cluster plans and runs it where the data is.
    fn fetch(&self, side: Side) -> String {
        let on = self.per_key(" AND ", |i, k| {
            let column = format!("s.{}", self.column(side, k));
            format!("({} = d.k{i})", cast(&column, &k.compared_as))
        });
        format!(
            "{}, differing AS (SELECT {} FROM joined \
             WHERE NOT coalesce((p_n = 1) AND (c_n = 1) AND (p_h = c_h), false)) \
             SELECT s.* FROM {} AS s LEFT SEMI JOIN differing AS d ON {on}",
            self.joined(),
            self.key_list(),
            ident(self.table(side).table)
        )
    }
}

/// A quoted SQL identifier.
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The SQL `expression` cast to the comparison type `to`.
fn cast(expression: &str, to: &DataType) -> String {
    format!("arrow_cast({expression}, '{to}')")
}

async fn query(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    let error = |e: datafusion::error::DataFusionError| {
        Error::compute("the SQL diff failed", e.find_root().to_string())
    };
    let frame = ctx.sql(sql).await.map_err(error)?;
    let batches = frame.collect().await.map_err(error)?;
    Ok(batches.into_iter().filter(|b| b.num_rows() > 0).collect())
}

fn value_u64(batch: &RecordBatch, column: usize) -> u64 {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::Int64Type;
    let array = batch.column(column);
    if array.is_empty() || array.is_null(0) {
        return 0;
    }
    array.as_primitive::<Int64Type>().value(0).max(0) as u64
}
