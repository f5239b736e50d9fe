//! Order-independent checksums that prove most of two tables equal before
//! any row crosses the shuffle. Each side's rows (with a non-NULL key) fall
//! into `BUCKETS` buckets by key hash; per bucket the engine sums up the row
//! count, the exact sum of the row hashes (as `DECIMAL(38,0)`) and their
//! XOR, merged by partial aggregation so only one row per bucket travels.
//! The row hash covers the key and every compared value, so equal checksums
//! mean equal multisets of rows in that bucket (up to a 64-bit hash
//! collision that also agrees in count, sum and XOR).
//!
//! Only buckets whose checksums differ go through the key join. That is
//! exact only when no key repeats, because the join is where duplicates
//! are found: a side with duplicate keys is diffed whole.

use std::collections::BTreeMap;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;

use super::{Queries, query};
use crate::diff::Side;
use crate::error::{Error, Result};

/// Key-hash buckets per side: enough that a few thousand changed rows
/// leave most buckets equal, few enough that the checksums stay small.
pub const BUCKETS: i64 = 1 << 14;

/// The most differing buckets the join is limited to.
const MAX_DIFFERING: i64 = BUCKETS / 16;

/// Which keys the join must look at.
pub enum Scope {
    /// Every key.
    All,
    /// Only keys in these buckets: every other bucket holds identical rows.
    Buckets(Vec<i64>),
}

/// Compares both sides' bucket checksums; decides the join's scope.
pub async fn scope(ctx: &SessionContext, queries: &Queries<'_>) -> Result<Scope> {
    let (prod, candidate) = futures::future::try_join(
        query(ctx, &checksums_sql(queries, Side::Prod)),
        query(ctx, &checksums_sql(queries, Side::Candidate)),
    )
    .await?;
    let (prod, candidate) = (by_bucket(&prod)?, by_bucket(&candidate)?);
    let mut differing: Vec<i64> = prod
        .keys()
        .chain(candidate.keys().filter(|b| !prod.contains_key(b)))
        .filter(|b| prod.get(b) != candidate.get(b))
        .copied()
        .collect();
    // Past a sixteenth of the buckets the join saves little by skipping
    // the rest, and the list of buckets would swell every plan.
    if differing.len() as i64 > MAX_DIFFERING || duplicated_keys(ctx, queries).await? {
        return Ok(Scope::All);
    }
    differing.sort_unstable();
    Ok(Scope::Buckets(differing))
}

/// `(xxhash64(keys) & (BUCKETS - 1))`: a side's bucket of each row.
pub fn bucket(queries: &Queries<'_>, side: Side) -> String {
    let keys = queries.compared_keys(side).join(", ");
    format!("(xxhash64({keys}) & {})", BUCKETS - 1)
}

fn checksums_sql(queries: &Queries<'_>, side: Side) -> String {
    let mut inputs = queries.compared_keys(side);
    inputs.extend(queries.hash_inputs(side));
    let hash = format!("xxhash64({})", inputs.join(", "));
    format!(
        "SELECT b, count(*) AS n, sum(arrow_cast(h, 'Decimal128(38, 0)')) AS s, bit_xor(h) AS x \
         FROM (SELECT {} AS b, {hash} AS h FROM {} WHERE {}) GROUP BY b",
        bucket(queries, side),
        super::ident(queries.table(side).table),
        queries.keys_not_null(side),
    )
}

/// Whether prod repeats a key. The candidate need not be asked: where its
/// checksums equal prod's, so do its rows, and the other buckets are joined.
async fn duplicated_keys(ctx: &SessionContext, queries: &Queries<'_>) -> Result<bool> {
    let keys = queries.per_key(", ", |_, k| queries.column(Side::Prod, k));
    let sql = format!(
        "SELECT count(*) FROM (SELECT {keys} FROM {} WHERE {} GROUP BY {keys} \
         HAVING count(*) > 1)",
        super::ident(queries.prod.table),
        queries.keys_not_null(Side::Prod),
    );
    let batches = query(ctx, &sql).await?;
    Ok(batches.first().is_some_and(|b| super::value_u64(b, 0) > 0))
}

/// Bucket -> (rows, hash sum as text, hash XOR).
fn by_bucket(batches: &[RecordBatch]) -> Result<BTreeMap<i64, (u64, String, i64)>> {
    let failed =
        |e: datafusion::arrow::error::ArrowError| Error::compute("the SQL checksums failed", e);
    let mut out = BTreeMap::new();
    for batch in batches {
        let ints = |i: usize| cast(batch.column(i), &DataType::Int64).map_err(failed);
        let texts = cast(batch.column(2), &DataType::Utf8).map_err(failed)?;
        let (buckets, rows, xors) = (ints(0)?, ints(1)?, ints(3)?);
        let (buckets, rows, xors) = (
            buckets.as_primitive::<Int64Type>(),
            rows.as_primitive::<Int64Type>(),
            xors.as_primitive::<Int64Type>(),
        );
        let texts = texts.as_string::<i32>();
        for i in 0..batch.num_rows() {
            let sum = if texts.is_null(i) {
                String::new()
            } else {
                texts.value(i).to_string()
            };
            out.insert(
                buckets.value(i),
                (rows.value(i).max(0) as u64, sum, xors.value(i)),
            );
        }
    }
    Ok(out)
}
