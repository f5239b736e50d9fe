//! Most frequent values of a column: exact counts while a column has at most
//! `EXACT_LIMIT` distinct values; past that, the sum over batches of each
//! batch's `BATCH_TOP` heaviest values, whose counts are lower bounds.
//!
//! Both merge by addition, so the result does not depend on which thread
//! took which batch or in what order batches merged. Values are keyed by
//! their 64-bit hash and remembered by the position of their earliest
//! occurrence, so counting allocates no strings; the text is read back from
//! the batches only for the values reported.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use super::distinct::{EXACT_LIMIT, PassThrough};
use crate::diff::position::Pos;

/// How many of a batch's heaviest values the summary keeps.
const BATCH_TOP: usize = 64;

/// hash -> (count, earliest position)
pub type Counts = HashMap<u64, (u64, Pos), BuildHasherDefault<PassThrough>>;

#[derive(Debug, Clone, Default)]
pub struct TopValues {
    /// Every value's count; `None` once the column has too many values.
    exact: Option<Counts>,
    /// Sum of every batch's heaviest values.
    summary: Counts,
    /// Whether any batch was added yet (an empty column stays exact).
    started: bool,
}

fn add_into(target: &mut Counts, hash: u64, count: u64, pos: Pos) {
    let entry = target.entry(hash).or_insert((0, pos));
    entry.0 += count;
    entry.1 = entry.1.min(pos);
}

fn heaviest(counts: &Counts, k: usize) -> Vec<(u64, u64, Pos)> {
    let mut entries: Vec<(u64, u64, Pos)> = counts.iter().map(|(h, (c, p))| (*h, *c, *p)).collect();
    let order = |a: &(u64, u64, Pos), b: &(u64, u64, Pos)| b.1.cmp(&a.1).then(a.0.cmp(&b.0));
    if entries.len() > k {
        entries.select_nth_unstable_by(k, order);
        entries.truncate(k);
    }
    entries.sort_unstable_by(order);
    entries
}

impl TopValues {
    /// Adds one batch's exact counts.
    pub fn add_batch(&mut self, counts: &Counts) {
        if !self.started {
            self.started = true;
            self.exact = Some(Counts::default());
        }
        for (hash, count, pos) in heaviest(counts, BATCH_TOP) {
            add_into(&mut self.summary, hash, count, pos);
        }
        if let Some(exact) = &mut self.exact {
            for (hash, (count, pos)) in counts {
                add_into(exact, *hash, *count, *pos);
            }
            if exact.len() > EXACT_LIMIT {
                self.exact = None;
            }
        }
    }

    /// Keeps only the batches' heaviest values from now on, as once the
    /// column has too many values.
    pub fn overflow(&mut self) {
        self.started = true;
        self.exact = None;
    }

    pub fn merge(&mut self, other: TopValues) {
        for (hash, (count, pos)) in other.summary {
            add_into(&mut self.summary, hash, count, pos);
        }
        if !other.started {
            return;
        }
        if !self.started {
            self.started = true;
            self.exact = other.exact;
            return;
        }
        self.exact = match (self.exact.take(), other.exact) {
            (Some(mut mine), Some(theirs)) => {
                for (hash, (count, pos)) in theirs {
                    add_into(&mut mine, hash, count, pos);
                }
                (mine.len() <= EXACT_LIMIT).then_some(mine)
            }
            _ => None,
        };
    }

    /// Moves every remembered position `offset` batches on.
    pub fn shift_batches(&mut self, offset: u32) {
        for counts in self.exact.iter_mut().chain([&mut self.summary]) {
            counts.values_mut().for_each(|(_, pos)| pos.batch += offset);
        }
    }

    /// Whether the counts are exact.
    pub fn exact(&self) -> bool {
        self.exact.is_some() || !self.started
    }

    fn counts(&self) -> &Counts {
        self.exact.as_ref().unwrap_or(&self.summary)
    }

    /// The `k` most frequent (hash, count, position), count descending, ties
    /// by hash so the order is stable.
    pub fn top(&self, k: usize) -> Vec<(u64, u64, Pos)> {
        heaviest(self.counts(), k)
    }

    /// Where up to `k` of these values (most frequent first) are that
    /// `other` never has; none unless `other` counted every value, for only
    /// then is a value's absence known.
    pub fn missing_from(&self, other: &TopValues, k: usize) -> Vec<Pos> {
        if !other.exact() {
            return Vec::new();
        }
        self.top(usize::MAX)
            .into_iter()
            .filter(|(h, _, _)| other.count_of(*h).is_none())
            .take(k)
            .map(|(_, _, pos)| pos)
            .collect()
    }

    pub fn count_of(&self, hash: u64) -> Option<u64> {
        self.counts().get(&hash).map(|(c, _)| *c)
    }
}
