//! Most frequent values of a column: exact counts while a column has at most
//! `EXACT_LIMIT` distinct values, then a bounded summary of the
//! `SUMMARY_SIZE` heaviest values whose counts are lower bounds.
//!
//! Values are keyed by their 64-bit hash and remembered by the position of
//! their first occurrence, so counting allocates no strings; the text is read
//! back from the batches only for the values reported.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use super::distinct::{EXACT_LIMIT, PassThrough};
use crate::diff::prepare::Pos;

const SUMMARY_SIZE: usize = 1_000;

#[derive(Debug, Clone)]
pub struct TopValues {
    /// hash -> (count, earliest position seen)
    counts: HashMap<u64, (u64, Pos), BuildHasherDefault<PassThrough>>,
    pub exact: bool,
}

impl Default for TopValues {
    fn default() -> Self {
        TopValues {
            counts: HashMap::default(),
            exact: true,
        }
    }
}

impl TopValues {
    #[inline]
    pub fn add(&mut self, hash: u64, pos: Pos) {
        self.counts.entry(hash).or_insert((0, pos)).0 += 1;
    }

    /// Keeps the summary bounded once a column has too many values; call
    /// after each batch.
    pub fn bound(&mut self) {
        if self.counts.len() > EXACT_LIMIT {
            self.exact = false;
            let mut entries: Vec<(u64, (u64, Pos))> = self.counts.drain().collect();
            entries
                .select_nth_unstable_by(SUMMARY_SIZE, |a, b| b.1.0.cmp(&a.1.0).then(a.0.cmp(&b.0)));
            entries.truncate(SUMMARY_SIZE);
            self.counts.extend(entries);
        }
    }

    pub fn merge(&mut self, other: TopValues) {
        self.exact &= other.exact;
        for (hash, (count, pos)) in other.counts {
            let entry = self.counts.entry(hash).or_insert((0, pos));
            entry.0 += count;
            // The earliest position, so the kept occurrence does not depend
            // on merge order.
            entry.1 = entry.1.min(pos);
        }
        self.bound();
    }

    /// The `k` most frequent (hash, count, position), count descending, ties
    /// by hash so the order is stable.
    pub fn top(&self, k: usize) -> Vec<(u64, u64, Pos)> {
        let mut entries: Vec<(u64, u64, Pos)> =
            self.counts.iter().map(|(h, (c, p))| (*h, *c, *p)).collect();
        entries.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        entries.truncate(k);
        entries
    }

    pub fn count_of(&self, hash: u64) -> Option<u64> {
        self.counts.get(&hash).map(|(c, _)| *c)
    }
}
