//! Key candidates for a whole-row diff: columns, or pairs of columns, that
//! are unique and never NULL on both sides, so the user can rerun with a key.
//!
//! Uniqueness is tested on 64-bit value hashes; a collision can only hide a
//! candidate, never propose a column that is not unique.

use rayon::prelude::*;

use super::hash::{KEY_SEED, hash_rows};
use super::prepare::PreparedSide;

/// Columns tried alone, and pairs tried among the first few.
const SINGLE_LIMIT: usize = 32;
const PAIR_LIMIT: usize = 12;
const MAX_CANDIDATES: usize = 5;

/// `names` are the matching columns of the prepared sides, in order.
pub fn key_candidates(
    prod: &PreparedSide,
    candidate: &PreparedSide,
    names: &[String],
) -> Vec<Vec<String>> {
    let unique =
        |columns: &[usize]| is_unique_key(prod, columns) && is_unique_key(candidate, columns);
    let singles: Vec<Vec<String>> = (0..names.len().min(SINGLE_LIMIT))
        .into_par_iter()
        .filter(|&c| unique(&[c]))
        .map(|c| vec![names[c].clone()])
        .collect();
    if !singles.is_empty() {
        return singles.into_iter().take(MAX_CANDIDATES).collect();
    }
    let limit = names.len().min(PAIR_LIMIT);
    let pairs: Vec<(usize, usize)> = (0..limit)
        .flat_map(|a| (a + 1..limit).map(move |b| (a, b)))
        .collect();
    pairs
        .into_par_iter()
        .filter(|&(a, b)| unique(&[a, b]))
        .map(|(a, b)| vec![names[a].clone(), names[b].clone()])
        .collect::<Vec<_>>()
        .into_iter()
        .take(MAX_CANDIDATES)
        .collect()
}

fn is_unique_key(side: &PreparedSide, columns: &[usize]) -> bool {
    let mut hashes = Vec::new();
    for batch in &side.batches {
        let arrays: Vec<_> = columns.iter().map(|&c| batch.keys[c].clone()).collect();
        if arrays.iter().any(|a| a.null_count() > 0) {
            return false;
        }
        match hash_rows(&arrays, batch.num_rows(), KEY_SEED) {
            Ok(h) => hashes.extend(h),
            Err(_) => return false,
        }
    }
    if hashes.is_empty() {
        return false;
    }
    hashes.par_sort_unstable();
    hashes.windows(2).all(|w| w[0] != w[1])
}
