//! Which rows of a batch have their values fetched, and where each one's
//! values are: a bitmap with a running count every 64 rows.
//!
//! Comparing changed pairs looks up every pair's two rows; the candidate's
//! come in prod's order, not their own, so each of those lands in a random
//! batch. A binary search over the batch's fetched rows took a dozen
//! dependent reads, a cache miss each when a million pairs changed; the
//! bitmap's word and its count share one entry, so a lookup is one read and
//! a popcount.

/// 64 rows: which are fetched, and how many fetched rows come before them.
#[derive(Debug, Clone, Copy, Default)]
struct Word {
    fetched: u64,
    before: u32,
}

/// The fetched rows of one batch.
#[derive(Debug, Default)]
pub struct FetchedRows {
    words: Vec<Word>,
}

impl FetchedRows {
    /// From the fetched rows, ascending and without repeats.
    pub fn of_sorted(rows: &[u32]) -> Self {
        let Some(&last) = rows.last() else {
            return Self::default();
        };
        let mut words = vec![Word::default(); last as usize / 64 + 1];
        for &row in rows {
            words[row as usize / 64].fetched |= 1 << (row % 64);
        }
        let mut before = 0;
        for word in &mut words {
            word.before = before;
            before += word.fetched.count_ones();
        }
        Self { words }
    }

    /// Whether no row is fetched.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The fetched rows, ascending.
    pub fn rows(&self) -> Vec<u32> {
        let mut rows = Vec::new();
        for (at, word) in self.words.iter().enumerate() {
            let mut bits = word.fetched;
            while bits != 0 {
                rows.push(at as u32 * 64 + bits.trailing_zeros());
                bits &= bits - 1;
            }
        }
        rows
    }

    /// Where row `row`'s values are among the fetched ones, if fetched.
    pub fn index_of(&self, row: u32) -> Option<usize> {
        let word = self.words.get(row as usize / 64)?;
        let bit = 1u64 << (row % 64);
        (word.fetched & bit != 0)
            .then(|| (word.before + (word.fetched & (bit - 1)).count_ones()) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::FetchedRows;

    #[test]
    fn each_fetched_row_is_found_at_its_rank_and_no_other_row_is() {
        // Rows across word boundaries, a full word, and gaps of whole words.
        let mut rows: Vec<u32> = vec![0, 1, 63, 64, 65, 127, 300, 301, 8191];
        rows.extend(512..576);
        rows.sort_unstable();
        let fetched = FetchedRows::of_sorted(&rows);
        for row in 0..8300 {
            assert_eq!(
                fetched.index_of(row),
                rows.binary_search(&row).ok(),
                "row {row}"
            );
        }
        assert_eq!(fetched.rows(), rows);
        assert!(!fetched.is_empty());
        assert_eq!(FetchedRows::of_sorted(&[]).index_of(0), None);
        assert!(FetchedRows::of_sorted(&[]).is_empty());
    }
}
