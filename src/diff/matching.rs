//! Matching rows of the two sides by key, and classifying each row.
//!
//! Each row becomes a 24-byte entry (key hash, row hash, position). Both sides
//! are sorted by (key hash, row hash), cut into key-hash ranges, and the
//! ranges are merged in parallel. Equal key hashes are only candidates: keys
//! are checked for real equality, so a hash collision never pairs two rows.
//! Within one key, rows with equal row hashes pair up first (identical);
//! the rest pair in the order of their values, so duplicates are never
//! cross-multiplied. Paired rows whose row hashes differ are compared value
//! by value, where tolerances apply.

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::row::{OwnedRow, RowConverter, SortField};
use rayon::prelude::*;

use super::compare::{ColumnRule, Outcome, cells_equal};
use super::differing_pairs::compare_pairs;
pub use super::position::Pos;
use super::prepare::{PreparedBatch, PreparedSide};

#[derive(Debug, Clone, Copy)]
struct Entry {
    key_hash: u64,
    row_hash: u64,
    pos: Pos,
}

/// Per-column mismatch counts among paired rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ColumnTally {
    pub unequal: u64,
    pub within_tolerance: u64,
    pub null_mismatch: u64,
    pub max_abs_diff: Option<f64>,
}

impl ColumnTally {
    pub(super) fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Equal => {}
            Outcome::WithinTolerance => self.within_tolerance += 1,
            Outcome::Unequal {
                abs_diff,
                null_mismatch,
            } => {
                self.unequal += 1;
                self.null_mismatch += u64::from(null_mismatch);
                self.max_abs_diff = max_option(self.max_abs_diff, abs_diff);
            }
        }
    }

    pub(super) fn merge(&mut self, other: &ColumnTally) {
        self.unequal += other.unequal;
        self.within_tolerance += other.within_tolerance;
        self.null_mismatch += other.null_mismatch;
        self.max_abs_diff = max_option(self.max_abs_diff, other.max_abs_diff);
    }
}

fn max_option(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// Counts per side: `[prod, candidate]`.
pub type PerSide = [u64; 2];

/// Everything matching found, with the positions samples are drawn from.
#[derive(Debug, Default)]
pub struct MatchResult {
    pub identical: u64,
    pub within_tolerance: u64,
    pub changed: u64,
    /// Distinct keys that occur more than once.
    pub duplicate_keys: PerSide,
    /// Rows whose key occurs more than once.
    pub duplicate_rows: PerSide,
    pub null_keys: PerSide,
    /// One tally per value column.
    pub columns: Vec<ColumnTally>,
    /// Changed pairs still unequal outside each of `MatchConfig::ignore_sets`.
    pub changed_ignoring: Vec<u64>,
    /// (prod, candidate) positions of changed pairs.
    pub changed_pairs: Vec<(Pos, Pos)>,
    /// Candidate positions of rows only in the candidate.
    pub added: Vec<Pos>,
    /// Prod positions of rows only in prod.
    pub removed: Vec<Pos>,
}

impl MatchResult {
    fn for_config(config: &MatchConfig) -> Self {
        MatchResult {
            columns: vec![ColumnTally::default(); config.rules.len()],
            changed_ignoring: vec![0; config.ignore_sets.len()],
            ..Default::default()
        }
    }

    fn merge(&mut self, other: MatchResult) {
        self.identical += other.identical;
        self.within_tolerance += other.within_tolerance;
        self.changed += other.changed;
        for s in 0..2 {
            self.duplicate_keys[s] += other.duplicate_keys[s];
            self.duplicate_rows[s] += other.duplicate_rows[s];
            self.null_keys[s] += other.null_keys[s];
        }
        for (mine, theirs) in self.columns.iter_mut().zip(&other.columns) {
            mine.merge(theirs);
        }
        for (mine, theirs) in self
            .changed_ignoring
            .iter_mut()
            .zip(&other.changed_ignoring)
        {
            *mine += theirs;
        }
        self.changed_pairs.extend(other.changed_pairs);
        self.added.extend(other.added);
        self.removed.extend(other.removed);
    }
}

/// How to match: the comparison rule of each value column, and whether rows
/// with NULL in a key take part (they do when the "key" is the whole row).
pub struct MatchConfig<'a> {
    pub rules: &'a [ColumnRule],
    /// Sets of value columns (a flag per column: left out) for which changed
    /// rows are counted again.
    pub ignore_sets: &'a [Vec<bool>],
    pub null_keys_match: bool,
}

/// Key-hash ranges merged in parallel; a fixed count, so the work split does
/// not depend on the thread count.
const RANGES: usize = 256;

/// Top key-hash bits that pick an entry's sorting bucket: 4,096 buckets,
/// about 30 KB each at 5,000,000 rows.
const BUCKET_BITS: u32 = 12;

/// One side's entries sorted by (key hash, row hash, position), with its
/// NULL-key count and range cut points.
pub struct SortedEntries {
    entries: Vec<Entry>,
    null_keys: u64,
    /// `RANGES + 1` cut points.
    bounds: Vec<usize>,
}

impl SortedEntries {
    pub fn of(side: &PreparedSide, null_keys_match: bool) -> Self {
        let (entries, null_keys) = sorted_entries(side, null_keys_match);
        SortedEntries {
            bounds: range_bounds(&entries),
            entries,
            null_keys,
        }
    }

    /// The entries of range `r`.
    fn range(&self, r: usize) -> &[Entry] {
        &self.entries[self.bounds[r]..self.bounds[r + 1]]
    }
}

/// Both sides' entries, sorted.
pub struct SortedSides {
    prod: SortedEntries,
    candidate: SortedEntries,
}

impl SortedSides {
    pub fn of(prod: &PreparedSide, candidate: &PreparedSide, null_keys_match: bool) -> Self {
        let (prod, candidate) = rayon::join(
            || SortedEntries::of(prod, null_keys_match),
            || SortedEntries::of(candidate, null_keys_match),
        );
        SortedSides { prod, candidate }
    }

    /// The entries of range `r` on each side.
    fn range(&self, r: usize) -> (&[Entry], &[Entry]) {
        (self.prod.range(r), self.candidate.range(r))
    }

    fn null_keys(&self) -> PerSide {
        [self.prod.null_keys, self.candidate.null_keys]
    }
}

/// Rows whose values matching will read, from what hashes and keys
/// settled (`HashMatch::value_needs`).
#[derive(Debug, Default)]
pub struct ValueNeeds {
    /// Rows of pairs whose row hashes differ, and of key hashes that wait
    /// for values (duplicates, collisions). `[prod, candidate]`.
    pub compared: [Vec<Pos>; 2],
    /// Rows of key hashes on one side only: certainly removed (prod) or
    /// added (candidate), in key-hash order.
    pub one_sided: [Vec<Pos>; 2],
}

fn positions(entries: &[Entry]) -> impl Iterator<Item = Pos> + '_ {
    entries.iter().map(|e| e.pos)
}

/// Calls `f` with the entries of each key hash, in hash order; one of the
/// two slices may be empty.
fn for_each_hash_group(prod: &[Entry], candidate: &[Entry], mut f: impl FnMut(&[Entry], &[Entry])) {
    let (mut i, mut j) = (0, 0);
    while i < prod.len() || j < candidate.len() {
        let hash = match (prod.get(i), candidate.get(j)) {
            (Some(p), Some(c)) => p.key_hash.min(c.key_hash),
            (Some(p), None) => p.key_hash,
            (None, Some(c)) => c.key_hash,
            (None, None) => unreachable!("loop condition"),
        };
        let i_end = i + prod[i..].iter().take_while(|e| e.key_hash == hash).count();
        let j_end = j + candidate[j..]
            .iter()
            .take_while(|e| e.key_hash == hash)
            .count();
        f(&prod[i..i_end], &candidate[j..j_end]);
        (i, j) = (i_end, j_end);
    }
}

/// What matching settles on hashes and keys alone, before any value is
/// fetched: every one-to-one pair (identical, or left to compare), every
/// row of a key only one side has. Key hashes shared by several rows on
/// both sides (duplicate keys, collisions) need values to pair their rows
/// and wait, entries copied, for `match_rows`. The sorted entries (24
/// bytes a row) are let go of before the values are fetched.
pub struct HashMatch {
    ranges: Vec<RangeMatch>,
    null_keys: PerSide,
}

/// One key-hash range, matched on hashes.
struct RangeMatch {
    result: MatchResult,
    differing: Vec<(Pos, Pos)>,
    waiting: Vec<Waiting>,
    /// The waiting groups' entries, one after the other.
    prod: Vec<Entry>,
    candidate: Vec<Entry>,
}

/// A key-hash group that needs values: where its entries end in
/// `RangeMatch::prod`/`candidate`, and how far the range's outputs had got
/// when it was met, so its own go where they would have gone.
#[derive(Clone, Copy, Default)]
struct Waiting {
    prod_end: usize,
    candidate_end: usize,
    differing: usize,
    added: usize,
    removed: usize,
}

impl HashMatch {
    /// The rows the second phase reads values of, so the fetch plan is
    /// what matching left open and cannot drift from it.
    pub fn value_needs(&self) -> ValueNeeds {
        let mut needs = ValueNeeds::default();
        for range in &self.ranges {
            let [prod, candidate] = &mut needs.compared;
            prod.extend(range.differing.iter().map(|(p, _)| *p));
            prod.extend(positions(&range.prod));
            candidate.extend(range.differing.iter().map(|(_, c)| *c));
            candidate.extend(positions(&range.candidate));
            needs.one_sided[0].extend_from_slice(&range.result.removed);
            needs.one_sided[1].extend_from_slice(&range.result.added);
        }
        needs
    }
}

/// Matches sorted sides on hashes and keys (see `HashMatch`).
pub fn match_hashes(
    prod: &PreparedSide,
    candidate: &PreparedSide,
    sorted: SortedSides,
    config: &MatchConfig,
) -> HashMatch {
    let matcher = Matcher::new(prod, candidate, config);
    let ranges = (0..RANGES)
        .into_par_iter()
        .map(|r| {
            let (prod, candidate) = sorted.range(r);
            matcher.match_range_on_hashes(prod, candidate)
        })
        .collect();
    HashMatch {
        ranges,
        null_keys: sorted.null_keys(),
    }
}

/// Finishes matching once the values `value_needs` named are fetched:
/// pairs the rows of the waiting groups, then compares every pair whose
/// row hashes differ.
pub fn match_rows(
    prod: &PreparedSide,
    candidate: &PreparedSide,
    hashed: HashMatch,
    config: &MatchConfig,
) -> MatchResult {
    let matcher = Matcher::new(prod, candidate, config);
    let parts: Vec<(MatchResult, Vec<(Pos, Pos)>)> = hashed
        .ranges
        .into_par_iter()
        .map(|range| matcher.finish_range(range))
        .collect();
    let mut result = MatchResult::for_config(config);
    let mut differing = Vec::with_capacity(parts.iter().map(|(_, d)| d.len()).sum());
    for (part, part_differing) in parts {
        result.merge(part);
        differing.extend(part_differing);
    }
    result.null_keys = hashed.null_keys;
    // All ranges' pairs at once: gathering a column's cells in prod's row
    // order reads prod's fetched values front to back.
    compare_pairs(prod, candidate, &differing, config, &mut result);
    result
}

/// Entries sorted by (key hash, row hash, position). A counting sort on the
/// key hash's top bits spreads them over buckets small enough for the cache,
/// then buckets are sorted in parallel: much less memory traffic than a
/// comparison sort of the whole side.
fn sorted_entries(side: &PreparedSide, null_keys_match: bool) -> (Vec<Entry>, u64) {
    const BUCKETS: usize = 1 << BUCKET_BITS;
    let bucket_of = |hash: u64| (hash >> (64 - BUCKET_BITS)) as usize;
    // Asked once per batch: most batches have no NULL key, and asking each
    // row goes through every key column's array.
    let all_take_part =
        |batch: &PreparedBatch| null_keys_match || batch.keys.iter().all(|k| k.null_count() == 0);
    let takes_part = |batch: &PreparedBatch, all: bool, row: usize| all || !batch.has_null_key(row);
    // Bucket sizes (and NULL keys) counted in parallel, then every entry
    // written once, straight into its bucket.
    let (sizes, nulls) = side
        .batches
        .par_iter()
        .fold(
            || (vec![0usize; BUCKETS], 0u64),
            |(mut sizes, mut nulls), batch| {
                let all = all_take_part(batch);
                for (row, &hash) in batch.key_hashes.iter().enumerate() {
                    if takes_part(batch, all, row) {
                        sizes[bucket_of(hash)] += 1;
                    } else {
                        nulls += 1;
                    }
                }
                (sizes, nulls)
            },
        )
        .reduce(
            || (vec![0usize; BUCKETS], 0u64),
            |(mut a, x), (b, y)| {
                a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
                (a, x + y)
            },
        );
    // Where each bucket's next entry goes: first its start.
    let mut next: Vec<usize> = sizes
        .iter()
        .scan(0, |start, size| {
            let this = *start;
            *start += size;
            Some(this)
        })
        .collect();
    let placeholder = Entry {
        key_hash: 0,
        row_hash: 0,
        pos: Pos { batch: 0, row: 0 },
    };
    let mut entries = vec![placeholder; sizes.iter().sum()];
    for (b, batch) in side.batches.iter().enumerate() {
        let all = all_take_part(batch);
        for (row, (&key_hash, &row_hash)) in
            batch.key_hashes.iter().zip(&batch.row_hashes).enumerate()
        {
            if takes_part(batch, all, row) {
                let slot = &mut next[bucket_of(key_hash)];
                entries[*slot] = Entry {
                    key_hash,
                    row_hash,
                    pos: Pos {
                        batch: b as u32,
                        row: row as u32,
                    },
                };
                *slot += 1;
            }
        }
    }
    let mut buckets = Vec::with_capacity(BUCKETS);
    let mut rest = entries.as_mut_slice();
    for size in sizes {
        let (bucket, tail) = rest.split_at_mut(size);
        buckets.push(bucket);
        rest = tail;
    }
    buckets
        .into_par_iter()
        .for_each(|bucket| bucket.sort_unstable_by_key(|e| (e.key_hash, e.row_hash, e.pos)));
    (entries, nulls)
}

/// `RANGES + 1` cut points of entries sorted by key hash, by the hash's top byte.
fn range_bounds(entries: &[Entry]) -> Vec<usize> {
    let mut bounds: Vec<usize> = (0..RANGES)
        .map(|r| entries.partition_point(|e| ((e.key_hash >> 56) as usize) < r))
        .collect();
    bounds.push(entries.len());
    bounds
}

struct Matcher<'a> {
    /// Both sides' key hashes are injective: only hashes need comparing.
    exact_keys: bool,
    prod: &'a PreparedSide,
    candidate: &'a PreparedSide,
    config: &'a MatchConfig<'a>,
}

impl<'a> Matcher<'a> {
    fn new(prod: &'a PreparedSide, candidate: &'a PreparedSide, config: &'a MatchConfig) -> Self {
        Matcher {
            exact_keys: prod.exact_keys && candidate.exact_keys,
            prod,
            candidate,
            config,
        }
    }

    fn batch(&self, candidate: bool, pos: Pos) -> &PreparedBatch {
        let side = if candidate { self.candidate } else { self.prod };
        &side.batches[pos.batch as usize]
    }

    fn keys_equal(&self, a_candidate: bool, a: Pos, b_candidate: bool, b: Pos) -> bool {
        if self.exact_keys {
            return true; // equal key hashes are equal keys
        }
        let (left, right) = (self.batch(a_candidate, a), self.batch(b_candidate, b));
        left.keys
            .iter()
            .zip(&right.keys)
            .all(|(x, y)| cells_equal(x.as_ref(), a.row as usize, y.as_ref(), b.row as usize))
    }

    /// Matches one key-hash range as far as hashes and keys go; pairs whose
    /// row hashes differ are kept, in hash order, for `compare_pairs`.
    fn match_range_on_hashes(&self, prod: &[Entry], candidate: &[Entry]) -> RangeMatch {
        let mut range = RangeMatch {
            result: MatchResult::for_config(self.config),
            differing: Vec::new(),
            waiting: Vec::new(),
            prod: Vec::new(),
            candidate: Vec::new(),
        };
        for_each_hash_group(prod, candidate, |p, c| match (p, c) {
            ([one], [other]) if self.keys_equal(false, one.pos, true, other.pos) => {
                pair(one, other, &mut range.result, &mut range.differing)
            }
            // One side only: every row is added or removed.
            ([], _) | (_, []) => {
                self.match_hash_group(p, c, &mut range.result, &mut range.differing)
            }
            _ => {
                range.prod.extend_from_slice(p);
                range.candidate.extend_from_slice(c);
                range.waiting.push(Waiting {
                    prod_end: range.prod.len(),
                    candidate_end: range.candidate.len(),
                    differing: range.differing.len(),
                    added: range.result.added.len(),
                    removed: range.result.removed.len(),
                });
            }
        });
        range
    }

    /// Matches a range's waiting groups, now that their values are there,
    /// each one's outputs put where its key hash falls among the others'.
    fn finish_range(&self, range: RangeMatch) -> (MatchResult, Vec<(Pos, Pos)>) {
        if range.waiting.is_empty() {
            return (range.result, range.differing);
        }
        let mut result = range.result;
        let added = std::mem::take(&mut result.added);
        let removed = std::mem::take(&mut result.removed);
        let mut differing = Vec::with_capacity(range.differing.len());
        let mut done = Waiting::default();
        for group in range.waiting {
            differing.extend_from_slice(&range.differing[done.differing..group.differing]);
            result
                .added
                .extend_from_slice(&added[done.added..group.added]);
            result
                .removed
                .extend_from_slice(&removed[done.removed..group.removed]);
            self.match_hash_group(
                &range.prod[done.prod_end..group.prod_end],
                &range.candidate[done.candidate_end..group.candidate_end],
                &mut result,
                &mut differing,
            );
            done = group;
        }
        differing.extend_from_slice(&range.differing[done.differing..]);
        result.added.extend_from_slice(&added[done.added..]);
        result.removed.extend_from_slice(&removed[done.removed..]);
        (result, differing)
    }

    /// Entries sharing one key hash: almost always one key, one row a side.
    /// Pairs whose row hashes differ go to `differing`.
    fn match_hash_group(
        &self,
        prod: &[Entry],
        candidate: &[Entry],
        result: &mut MatchResult,
        differing: &mut Vec<(Pos, Pos)>,
    ) {
        if let ([p], [c]) = (prod, candidate)
            && self.keys_equal(false, p.pos, true, c.pos)
        {
            pair(p, c, result, differing);
            return;
        }
        // Split by real key: duplicates, or a hash collision.
        let mut keys: Vec<(Vec<Entry>, Vec<Entry>)> = Vec::new();
        for p in prod {
            match keys
                .iter_mut()
                .find(|(ps, _)| self.keys_equal(false, ps[0].pos, false, p.pos))
            {
                Some((ps, _)) => ps.push(*p),
                None => keys.push((vec![*p], Vec::new())),
            }
        }
        for c in candidate {
            let found = keys
                .iter_mut()
                .find(|(ps, cs)| match (ps.first(), cs.first()) {
                    (Some(p), _) => self.keys_equal(false, p.pos, true, c.pos),
                    (None, Some(first)) => self.keys_equal(true, first.pos, true, c.pos),
                    (None, None) => false,
                });
            match found {
                Some((_, cs)) => cs.push(*c),
                None => keys.push((Vec::new(), vec![*c])),
            }
        }
        for (ps, cs) in keys {
            self.match_one_key(ps, cs, result, differing);
        }
    }

    /// All rows of one key on each side, each sorted by row hash.
    fn match_one_key(
        &self,
        prod: Vec<Entry>,
        candidate: Vec<Entry>,
        result: &mut MatchResult,
        differing: &mut Vec<(Pos, Pos)>,
    ) {
        for (s, rows) in [&prod, &candidate].into_iter().enumerate() {
            if rows.len() > 1 {
                result.duplicate_keys[s] += 1;
                result.duplicate_rows[s] += rows.len() as u64;
            }
        }
        // Identical rows first: a merge of the two row-hash-sorted lists.
        let (mut prod_left, mut candidate_left) = (Vec::new(), Vec::new());
        let (mut i, mut j) = (0, 0);
        while i < prod.len() && j < candidate.len() {
            match prod[i].row_hash.cmp(&candidate[j].row_hash) {
                std::cmp::Ordering::Equal => {
                    result.identical += 1;
                    i += 1;
                    j += 1;
                }
                std::cmp::Ordering::Less => {
                    prod_left.push(prod[i]);
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    candidate_left.push(candidate[j]);
                    j += 1;
                }
            }
        }
        prod_left.extend_from_slice(&prod[i..]);
        candidate_left.extend_from_slice(&candidate[j..]);
        if !prod_left.is_empty() && !candidate_left.is_empty() {
            self.sort_by_values(false, &mut prod_left);
            self.sort_by_values(true, &mut candidate_left);
        }
        let paired = prod_left.len().min(candidate_left.len());
        for (p, c) in prod_left.iter().zip(&candidate_left) {
            pair(p, c, result, differing);
        }
        result
            .removed
            .extend(prod_left[paired..].iter().map(|e| e.pos));
        result
            .added
            .extend(candidate_left[paired..].iter().map(|e| e.pos));
    }

    /// Orders rows of one key by their compared values (Arrow's row format
    /// gives a total order over any type).
    fn sort_by_values(&self, candidate: bool, entries: &mut [Entry]) {
        if entries.len() < 2 {
            return;
        }
        let first = self.batch(candidate, entries[0].pos);
        let fields = first
            .values
            .iter()
            .map(|a| SortField::new(a.data_type().clone()))
            .collect();
        let Ok(converter) = RowConverter::new(fields) else {
            return; // an unorderable type keeps row-hash order, still deterministic
        };
        let mut keyed: Vec<(OwnedRow, Entry)> = Vec::with_capacity(entries.len());
        for entry in entries.iter() {
            let batch = self.batch(candidate, entry.pos);
            let row = batch.value_index(entry.pos.row);
            let columns: Vec<ArrayRef> = batch.values.iter().map(|a| a.slice(row, 1)).collect();
            match converter.convert_columns(&columns) {
                Ok(rows) => keyed.push((rows.row(0).owned(), *entry)),
                Err(_) => return,
            }
        }
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        for (slot, (_, entry)) in entries.iter_mut().zip(keyed) {
            *slot = entry;
        }
    }
}

/// A pair of rows of one key: identical when the row hashes agree, else
/// left to `compare_pairs`.
fn pair(p: &Entry, c: &Entry, result: &mut MatchResult, differing: &mut Vec<(Pos, Pos)>) {
    if p.row_hash == c.row_hash {
        result.identical += 1;
    } else {
        differing.push((p.pos, c.pos));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::*;
    use crate::diff::DiffOptions;
    use crate::diff::prepare::{MatchOn, Side, SideSpec, StatsOf, prepare_side};
    use crate::diff::schema::{Sources, plan_columns};

    fn batch(ids: &[Option<i64>], names: &[&str]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, false),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(ids.to_vec())),
                Arc::new(StringArray::from(names.to_vec())),
            ],
        )
        .unwrap()
    }

    fn counts(result: &MatchResult) -> [u64; 8] {
        [
            result.identical,
            result.changed,
            result.added.len() as u64,
            result.removed.len() as u64,
            result.duplicate_keys[0],
            result.duplicate_keys[1],
            result.null_keys[0],
            result.null_keys[1],
        ]
    }

    /// Runs matching, optionally with every key hash forced to one value.
    fn run(prod: RecordBatch, candidate: RecordBatch, collide: bool) -> MatchResult {
        run_sides(prod, candidate, collide).2
    }

    /// `run`, with the prepared sides.
    fn run_sides(
        prod: RecordBatch,
        candidate: RecordBatch,
        collide: bool,
    ) -> (PreparedSide, PreparedSide, MatchResult) {
        let options = DiffOptions {
            key: vec!["id".into()],
            ..Default::default()
        };
        let sources = Sources {
            prod: "p",
            candidate: "c",
            same_kind: true,
        };
        let plan = plan_columns(&prod.schema(), &candidate.schema(), &options, &sources).unwrap();
        let [mut prod, mut candidate] =
            [(Side::Prod, prod), (Side::Candidate, candidate)].map(|(side, batch)| {
                let match_on = MatchOn {
                    columns: &plan.keys,
                    nulls_excluded: true,
                };
                let spec = SideSpec::new(
                    side,
                    &match_on,
                    &plan.values,
                    StatsOf::Nothing,
                    batch.num_rows(),
                );
                prepare_side(&spec, &[batch]).unwrap()
            });
        if collide {
            for side in [&mut prod, &mut candidate] {
                // Forced collisions stand for xxh3 keys (strings, several
                // columns); injective key hashes cannot collide.
                side.exact_keys = false;
                for batch in &mut side.batches {
                    batch.key_hashes.iter_mut().for_each(|h| *h = 42);
                }
            }
        }
        let rules: Vec<_> = plan.values.iter().map(|v| v.rule).collect();
        let config = MatchConfig {
            rules: &rules,
            ignore_sets: &[],
            null_keys_match: false,
        };
        let result =
            crate::diff::match_sides((&mut prod, &mut candidate), &config, 0, false).unwrap();
        (prod, candidate, result)
    }

    #[test]
    fn keys_that_wait_for_values_keep_their_place_in_key_hash_order() {
        // Unique keys changed, removed and added, and every 5th key
        // duplicated: 2 rows in prod, 3 in the candidate, one changed, so
        // its group waits for values and yields a changed pair and an
        // added row among the unique keys' ones.
        let (mut prod_rows, mut candidate_rows) = (Vec::new(), Vec::new());
        for id in 0..3000i64 {
            let name = format!("n{id}");
            if id % 5 == 0 {
                prod_rows.extend([(id, name.clone()), (id, format!("{name}b"))]);
                candidate_rows.extend([(id, name.clone()), (id, format!("{name}c"))]);
                candidate_rows.push((id, format!("{name}d")));
                continue;
            }
            match id % 7 {
                0 => prod_rows.push((id, name)),
                1 => candidate_rows.push((id, name)),
                2 => {
                    prod_rows.push((id, name.clone()));
                    candidate_rows.push((id, format!("{name}x")));
                }
                _ => {
                    prod_rows.push((id, name.clone()));
                    candidate_rows.push((id, name));
                }
            }
        }
        candidate_rows.reverse();
        let as_batch = |rows: &[(i64, String)]| {
            let ids: Vec<_> = rows.iter().map(|(id, _)| Some(*id)).collect();
            let names: Vec<_> = rows.iter().map(|(_, n)| n.as_str()).collect();
            batch(&ids, &names)
        };
        let (prod, candidate, result) =
            run_sides(as_batch(&prod_rows), as_batch(&candidate_rows), false);
        let hash = |side: &PreparedSide, pos: &Pos| {
            side.batches[pos.batch as usize].key_hashes[pos.row as usize]
        };
        let in_order = |hashes: Vec<u64>| hashes.windows(2).all(|w| w[0] <= w[1]);
        let changed: Vec<_> = result
            .changed_pairs
            .iter()
            .map(|(p, _)| hash(&prod, p))
            .collect();
        let added: Vec<_> = result.added.iter().map(|c| hash(&candidate, c)).collect();
        let removed: Vec<_> = result.removed.iter().map(|p| hash(&prod, p)).collect();
        // 600 duplicated keys: one changed pair and one added row each.
        let unique = |r: i64| (0..3000).filter(|id| id % 5 != 0 && id % 7 == r).count() as u64;
        assert_eq!(result.changed, 600 + unique(2));
        assert_eq!(result.added.len() as u64, 600 + unique(1));
        assert_eq!(result.removed.len() as u64, unique(0));
        assert!(in_order(changed), "changed pairs in key-hash order");
        assert!(in_order(added), "added rows in key-hash order");
        assert!(in_order(removed), "removed rows in key-hash order");
    }

    #[test]
    fn key_hash_collisions_never_pair_different_keys() {
        let prod = || {
            batch(
                &[Some(1), Some(2), Some(3), Some(3), None],
                &["a", "b", "c", "d", "e"],
            )
        };
        let candidate = || {
            batch(
                &[Some(1), Some(2), Some(4), Some(3), None],
                &["a", "x", "c", "d", "e"],
            )
        };
        let honest = run(prod(), candidate(), false);
        let colliding = run(prod(), candidate(), true);
        // 1 identical, 2 changed, 3 duplicated in prod (one pairs identically,
        // one is removed), 4 added, NULL keys counted apart.
        assert_eq!(counts(&honest), [2, 1, 1, 1, 1, 0, 1, 1]);
        assert_eq!(counts(&colliding), counts(&honest));
    }
}
