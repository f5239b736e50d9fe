//! Most frequent values of a column: exact counts while a column has at most
//! `EXACT_LIMIT` distinct values, then a bounded summary of the
//! `SUMMARY_SIZE` heaviest values whose counts are lower bounds.
//!
//! Values are keyed by their 64-bit hash and remembered by the position of
//! their first occurrence, so counting allocates no strings; the text is read
//! back from the batches only for the values reported. Entries stay sorted
//! by hash, so merging is a linear merge.

use super::distinct::EXACT_LIMIT;
use crate::diff::prepare::Pos;

const SUMMARY_SIZE: usize = 1_000;

#[derive(Debug, Clone)]
pub struct TopValues {
    /// (hash, count, first position), sorted by hash.
    entries: Vec<(u64, u64, Pos)>,
    pub exact: bool,
}

impl Default for TopValues {
    fn default() -> Self {
        TopValues {
            entries: Vec::new(),
            exact: true,
        }
    }
}

impl TopValues {
    /// A batch's counts from its (hash, row) pairs sorted by hash then row.
    pub fn of_sorted(pairs: &[(u64, u32)], batch: u32) -> Self {
        let mut entries: Vec<(u64, u64, Pos)> = Vec::new();
        for &(hash, row) in pairs {
            match entries.last_mut() {
                Some(last) if last.0 == hash => last.1 += 1,
                _ => entries.push((hash, 1, Pos { batch, row })),
            }
        }
        let mut top = TopValues {
            entries,
            exact: true,
        };
        top.bound();
        top
    }

    /// Keeps the summary bounded once a column has too many values.
    fn bound(&mut self) {
        if self.entries.len() > EXACT_LIMIT {
            self.exact = false;
            let heaviest =
                |a: &(u64, u64, Pos), b: &(u64, u64, Pos)| b.1.cmp(&a.1).then(a.0.cmp(&b.0));
            self.entries.select_nth_unstable_by(SUMMARY_SIZE, heaviest);
            self.entries.truncate(SUMMARY_SIZE);
            self.entries.sort_unstable_by_key(|e| e.0);
        }
    }

    pub fn merge(&mut self, other: TopValues) {
        self.exact &= other.exact;
        let (a, b) = (std::mem::take(&mut self.entries), other.entries);
        let mut merged = Vec::with_capacity(a.len() + b.len());
        let (mut i, mut j) = (0, 0);
        while i < a.len() && j < b.len() {
            match a[i].0.cmp(&b[j].0) {
                std::cmp::Ordering::Less => {
                    merged.push(a[i]);
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    merged.push(b[j]);
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    // The earliest position, so the kept occurrence does not
                    // depend on merge order.
                    merged.push((a[i].0, a[i].1 + b[j].1, a[i].2.min(b[j].2)));
                    i += 1;
                    j += 1;
                }
            }
        }
        merged.extend_from_slice(&a[i..]);
        merged.extend_from_slice(&b[j..]);
        self.entries = merged;
        self.bound();
    }

    /// The `k` most frequent (hash, count, position), count descending, ties
    /// by hash so the order is stable.
    pub fn top(&self, k: usize) -> Vec<(u64, u64, Pos)> {
        let mut entries = self.entries.clone();
        entries.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        entries.truncate(k);
        entries
    }

    pub fn count_of(&self, hash: u64) -> Option<u64> {
        self.entries
            .binary_search_by_key(&hash, |e| e.0)
            .ok()
            .map(|i| self.entries[i].1)
    }
}
