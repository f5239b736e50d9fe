//! The rows of the side read first, as a set of (key hash, row hash), that
//! the other side is checked against while it streams: a candidate row
//! whose key hash and row hash prod has too is identical to a prod row, and
//! its values are never compared; every other row keeps its values as it is
//! read, so that side need not be read a second time (see `prepare`).
//!
//! An open-addressed table of 32-bit fingerprints, sized once from the row
//! count and filled by every thread at once: 4 bytes a slot keep the table
//! of 5,000,000 rows in 32 MiB, which a server's last-level cache mostly
//! holds. A row's slot comes from one half of a 64-bit mix of its hashes,
//! its fingerprint from the other. The set only decides where a row's
//! values come from, never what the diff says: a fingerprint shared by
//! chance (about once in 2^32 probes) makes a differing row look identical,
//! and its values are then read again like those of any row not kept.

use std::sync::atomic::{AtomicU32, Ordering};

use rayon::prelude::*;

use super::prepare::PreparedSide;

/// Marks a free slot; no fingerprint is 0.
const FREE: u32 = 0;

pub struct RowSet {
    slots: Vec<AtomicU32>,
    mask: usize,
}

/// One 64-bit value for a row's key hash and row hash, every bit of which
/// depends on every bit of both: key hashes may be the keys themselves
/// (see `hash::exact_key_hashes`), and rows a bit apart must not land in
/// neighbouring slots with equal fingerprints. MurmurHash3's finalizer.
fn mix(key_hash: u64, row_hash: u64) -> u64 {
    let mut mixed = row_hash ^ key_hash.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29);
    mixed ^= mixed >> 33;
    mixed = mixed.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    mixed ^= mixed >> 33;
    mixed = mixed.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    mixed ^ (mixed >> 33)
}

/// A row's fingerprint: the high half of its mix, never `FREE`.
fn fingerprint(mixed: u64) -> u32 {
    ((mixed >> 32) as u32).max(FREE + 1)
}

impl RowSet {
    /// The set of `side`'s rows, built on the current rayon pool.
    pub fn of(side: &PreparedSide) -> Self {
        // At most 60% full: a probe then looks at two or three slots,
        // most often in one cache line.
        let set = RowSet::for_rows(side.num_rows());
        side.batches
            .par_iter()
            .for_each(|batch| set.insert_all(&batch.key_hashes, &batch.row_hashes));
        set
    }

    /// An empty set with room for `rows` rows.
    fn for_rows(rows: usize) -> Self {
        let capacity = (rows * 5 / 3).max(64).next_power_of_two();
        RowSet {
            slots: std::iter::repeat_with(|| AtomicU32::new(FREE))
                .take(capacity)
                .collect(),
            mask: capacity - 1,
        }
    }

    /// A row's first slot: the low half of its mix.
    fn slot_of(&self, mixed: u64) -> usize {
        mixed as usize & self.mask
    }

    /// Adds the rows with these key and row hashes. Each row's first slot
    /// is read before any is written: loads that do not wait on each other
    /// overlap their cache misses, where one probe after the other would
    /// wait out each in turn, and the writes then find the slots cached.
    fn insert_all(&self, key_hashes: &[u64], row_hashes: &[u64]) {
        for (slot, fingerprint, held) in self.first_slots(key_hashes, row_hashes) {
            if held != fingerprint {
                self.insert_from(slot, fingerprint);
            }
        }
    }

    /// Each row's first slot, its fingerprint, and what the slot holds.
    fn first_slots(&self, key_hashes: &[u64], row_hashes: &[u64]) -> Vec<(usize, u32, u32)> {
        key_hashes
            .iter()
            .zip(row_hashes)
            .map(|(&key, &row)| {
                let mixed = mix(key, row);
                let slot = self.slot_of(mixed);
                (
                    slot,
                    fingerprint(mixed),
                    self.slots[slot].load(Ordering::Relaxed),
                )
            })
            .collect()
    }

    fn insert_from(&self, mut slot: usize, fingerprint: u32) {
        loop {
            // Relaxed: the set is read only once every insert has joined.
            match self.slots[slot].compare_exchange(
                FREE,
                fingerprint,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(held) if held == fingerprint => return,
                Err(_) => slot = (slot + 1) & self.mask,
            }
        }
    }

    /// The rows (indexes into the hashes) that are not in the set,
    /// ascending; their first slots read first, as in `insert_all`.
    pub fn missing(&self, key_hashes: &[u64], row_hashes: &[u64]) -> Vec<u32> {
        let first = self.first_slots(key_hashes, row_hashes);
        (0..first.len() as u32)
            .filter(|&row| {
                let (slot, fingerprint, held) = first[row as usize];
                held != fingerprint && (held == FREE || !self.found_after(slot, fingerprint))
            })
            .collect()
    }

    /// Whether `fingerprint` is in the slots after `slot`, its first.
    fn found_after(&self, mut slot: usize, fingerprint: u32) -> bool {
        loop {
            slot = (slot + 1) & self.mask;
            match self.slots[slot].load(Ordering::Relaxed) {
                FREE => return false,
                held if held == fingerprint => return true,
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::{FREE, RowSet};

    #[test]
    fn holds_the_rows_put_in_and_no_others() {
        // Exact key hashes are the keys themselves: small, dense numbers.
        let keys: Vec<u64> = (0..5_000).collect();
        let rows: Vec<u64> = keys
            .iter()
            .map(|key| key.wrapping_mul(0xD6E8_FEB8_6659_FD93) ^ 7)
            .collect();
        let set = RowSet::for_rows(keys.len());
        set.insert_all(&keys, &rows);
        // Inserting again changes nothing.
        set.insert_all(&keys[..10], &rows[..10]);
        let used = set
            .slots
            .iter()
            .filter(|s| s.load(Ordering::Relaxed) != FREE);
        assert_eq!(used.count(), keys.len());
        assert!(set.missing(&keys, &rows).is_empty());
        // The same keys with other values, other keys with the same values,
        // and a mix, where every odd row is missing.
        let other_rows: Vec<u64> = rows.iter().map(|row| row + 1).collect();
        assert_eq!(set.missing(&keys, &other_rows).len(), keys.len());
        let other_keys: Vec<u64> = keys.iter().map(|key| key + 10_000).collect();
        assert_eq!(set.missing(&other_keys, &rows).len(), keys.len());
        let mixed: Vec<u64> = (0..keys.len())
            .map(|i| if i % 2 == 1 { other_rows[i] } else { rows[i] })
            .collect();
        let odd: Vec<u32> = (0..keys.len() as u32).filter(|i| i % 2 == 1).collect();
        assert_eq!(set.missing(&keys, &mixed), odd);
    }
}
