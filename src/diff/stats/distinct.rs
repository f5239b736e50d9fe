//! Distinct counts: exact up to `EXACT_LIMIT` distinct values, then a
//! HyperLogLog++ (precision 14: 16,384 registers, about 0.8% standard
//! error). Both merge by union, so the count does not depend on batch order.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use hyperloglogplus::{HyperLogLog, HyperLogLogPlus};

/// Up to this many distinct values are counted exactly.
pub const EXACT_LIMIT: usize = 10_000;

/// The inputs are xxh3 value hashes already: hashing them again is waste.
#[derive(Default)]
pub struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

pub type HashSetOfHashes = HashSet<u64, BuildHasherDefault<PassThrough>>;

type Sketch = HyperLogLogPlus<u64, BuildHasherDefault<PassThrough>>;

const PRECISION: u8 = 14;

pub enum Distinct {
    Exact(HashSetOfHashes),
    Approximate(Box<Sketch>),
}

impl std::fmt::Debug for Distinct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (count, exact) = self.estimate();
        write!(f, "Distinct({count}, exact: {exact})")
    }
}

impl Default for Distinct {
    fn default() -> Self {
        Distinct::Exact(HashSetOfHashes::default())
    }
}

impl Distinct {
    /// Adds the hash of a non-null value.
    pub fn add(&mut self, hash: u64) {
        match self {
            Distinct::Exact(set) => {
                set.insert(hash);
                if set.len() > EXACT_LIMIT {
                    self.overflow();
                }
            }
            Distinct::Approximate(hll) => hll.insert(&hash),
        }
    }

    fn overflow(&mut self) {
        if let Distinct::Exact(set) = self {
            let mut hll = Sketch::new(PRECISION, BuildHasherDefault::default())
                .expect("precision 14 is valid");
            set.iter().for_each(|h| hll.insert(h));
            *self = Distinct::Approximate(Box::new(hll));
        }
    }

    pub fn merge(&mut self, other: Distinct) {
        match other {
            Distinct::Exact(set) => set.into_iter().for_each(|h| self.add(h)),
            Distinct::Approximate(other_hll) => {
                self.overflow();
                if let Distinct::Approximate(hll) = self {
                    // Same precision and hasher, so the merge cannot fail.
                    let _ = hll.merge(&other_hll);
                }
            }
        }
    }

    /// The count, and whether it is exact.
    pub fn estimate(&self) -> (u64, bool) {
        match self {
            Distinct::Exact(set) => (set.len() as u64, true),
            // Counting folds the sparse buffer in, hence a copy.
            Distinct::Approximate(hll) => (hll.as_ref().clone().count().round() as u64, false),
        }
    }
}
