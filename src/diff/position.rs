//! Where a row lives, the one coordinate every stage of the diff shares
//! (preparing, matching, statistics, samples, `--diff-rows`).

/// Where a row lives: batch and row index within its side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pos {
    pub batch: u32,
    pub row: u32,
}
