//! Distinct counts: exact up to `EXACT_LIMIT` distinct values (a set of
//! value hashes), then a dense HyperLogLog (precision 14: 16,384 registers,
//! about 0.8% standard error). Both merge by union, so the count does not
//! depend on batch order. The dense sketch is used rather than a sparse
//! HyperLogLog++, whose insert path measured several times slower on a
//! 5,000,000-row diff.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use hyperloglogplus::{HyperLogLog, HyperLogLogPF};

/// Up to this many distinct values are counted exactly.
pub const EXACT_LIMIT: usize = 10_000;

const PRECISION: u8 = 14;

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

type Sketch = HyperLogLogPF<u64, BuildHasherDefault<PassThrough>>;

pub type HashSetOfHashes = HashSet<u64, BuildHasherDefault<PassThrough>>;

pub enum Distinct {
    Exact(HashSetOfHashes),
    Approximate(Box<Sketch>),
}

impl Default for Distinct {
    fn default() -> Self {
        Distinct::Exact(HashSetOfHashes::default())
    }
}

fn new_sketch() -> Sketch {
    Sketch::new(PRECISION, BuildHasherDefault::default()).expect("precision 14 is valid")
}

impl Distinct {
    /// Adds the hashes of a batch's non-null values, deciding exact or
    /// approximate once rather than per value.
    pub fn add_all(&mut self, mut hashes: impl Iterator<Item = u64>) {
        if let Distinct::Exact(set) = self {
            for hash in hashes.by_ref() {
                if set.insert(hash) && set.len() > EXACT_LIMIT {
                    break;
                }
            }
            if set.len() <= EXACT_LIMIT {
                return;
            }
            self.overflow();
        }
        if let Distinct::Approximate(sketch) = self {
            hashes.for_each(|hash| sketch.insert(&hash));
        }
    }

    /// Counts approximately from now on.
    pub fn overflow(&mut self) {
        if let Distinct::Exact(set) = self {
            let mut sketch = new_sketch();
            set.iter().for_each(|h| sketch.insert(h));
            *self = Distinct::Approximate(Box::new(sketch));
        }
    }

    pub fn merge(&mut self, other: Distinct) {
        match other {
            Distinct::Exact(set) => self.add_all(set.into_iter()),
            Distinct::Approximate(theirs) => {
                self.overflow();
                if let Distinct::Approximate(sketch) = self {
                    // Same precision, so the merge cannot fail.
                    let _ = sketch.merge(&theirs);
                }
            }
        }
    }

    /// Whether the values are still counted exactly.
    pub fn is_exact(&self) -> bool {
        matches!(self, Distinct::Exact(_))
    }

    /// The count, and whether it is exact.
    pub fn estimate(&self) -> (u64, bool) {
        match self {
            Distinct::Exact(set) => (set.len() as u64, true),
            // Counting needs `&mut`, hence a copy of the registers.
            Distinct::Approximate(sketch) => {
                (sketch.as_ref().clone().count().round() as u64, false)
            }
        }
    }
}
