//! Exactly rounded floating-point sums (Shewchuk's non-overlapping partials,
//! the algorithm behind Python's `math.fsum`).
//!
//! Column statistics merge partial results from batches that arrive in any
//! order and with any boundaries; an exact sum makes the result identical
//! whatever the split, so one thread and many threads report the same
//! mean and variance to the last bit, and a variance of `1e9 + noise` does
//! not cancel catastrophically.

/// A sum kept as non-overlapping partials; `value` rounds it once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExactSum {
    partials: Vec<f64>,
    /// Sum of non-finite inputs (an infinity or NaN makes the sum one).
    special: f64,
}

impl ExactSum {
    pub fn add(&mut self, value: f64) {
        if !value.is_finite() {
            self.special += value;
            return;
        }
        let mut x = value;
        let mut kept = 0;
        for j in 0..self.partials.len() {
            let mut y = self.partials[j];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            let hi = x + y;
            let lo = y - (hi - x);
            if lo != 0.0 {
                self.partials[kept] = lo;
                kept += 1;
            }
            x = hi;
        }
        self.partials.truncate(kept);
        self.partials.push(x);
    }

    /// Adds an integer exactly, as the f64 pieces it splits into.
    pub fn add_integer(&mut self, mut value: i128) {
        while value != 0 {
            let piece = value as f64;
            self.add(piece);
            value -= piece as i128;
        }
    }

    pub fn merge(&mut self, other: &ExactSum) {
        for &p in &other.partials {
            self.add(p);
        }
        self.special += other.special;
    }

    /// The partials, largest last; their exact sum is the sum.
    pub fn partials(&self) -> &[f64] {
        &self.partials
    }

    /// The exact sum rounded once to the nearest f64.
    pub fn value(&self) -> f64 {
        if self.special != 0.0 || self.special.is_nan() {
            return self.special + self.partials.last().copied().unwrap_or(0.0);
        }
        let p = &self.partials;
        let Some(&last) = p.last() else {
            return 0.0;
        };
        let (mut hi, mut lo) = (last, 0.0);
        let mut n = p.len() - 1;
        while n > 0 {
            let x = hi;
            let y = p[n - 1];
            n -= 1;
            hi = x + y;
            lo = y - (hi - x);
            if lo != 0.0 {
                break;
            }
        }
        // Round half to even across the remaining partials.
        if n > 0 && ((lo < 0.0 && p[n - 1] < 0.0) || (lo > 0.0 && p[n - 1] > 0.0)) {
            let y = lo * 2.0;
            let x = hi + y;
            if y == x - hi {
                hi = x;
            }
        }
        hi
    }
}

/// Exponents kept in bins, down from the largest value's.
const BINS: usize = 64;

/// Values per bin pass: squares below 2^106 each, so a u128 bin holds 2^22.
const PASS: usize = 1 << 21;

/// Below this exponent field (values under about 2^-500) squares would
/// leave the normal range when scaled back; such values take the general
/// path.
const LOWEST_BINNED_FIELD: i32 = 575;

/// Exact sum and sum of squares of finite values, binned by exponent: with
/// `x = ±m * 2^(e - 1075)` (`m` the 53-bit mantissa, `e` the exponent
/// field), `±m` is added to an i128 and `m²` (at most 106 bits, one 64-bit
/// multiply) to a u128 of `x`'s bin, and each bin is scaled back once at the
/// end. Values more than 64 binades under the largest take the general
/// (slower) `ExactSum`. The same exact sums as adding value by value, at a
/// few instructions per value.
struct ExponentBins {
    /// Exponent field of bin 0.
    lowest: i32,
    sums: [i128; BINS],
    squares: [u128; BINS],
    rest_sum: ExactSum,
    rest_squares: ExactSum,
}

impl ExponentBins {
    fn new(max_abs: f64) -> Self {
        let top = ((max_abs.to_bits() >> 52) & 0x7ff) as i32;
        ExponentBins {
            lowest: (top - BINS as i32 + 1).max(LOWEST_BINNED_FIELD),
            sums: [0; BINS],
            squares: [0; BINS],
            rest_sum: ExactSum::default(),
            rest_squares: ExactSum::default(),
        }
    }

    #[inline]
    fn add(&mut self, x: f64) {
        let bits = x.to_bits();
        let field = ((bits >> 52) & 0x7ff) as i32;
        let bin = field - self.lowest;
        if bin < 0 {
            if x != 0.0 {
                self.rest_sum.add(x);
                let (p, e) = two_product(x, x);
                self.rest_squares.add(p);
                self.rest_squares.add(e);
            }
            return;
        }
        // `bin < BINS` because no value exceeds the one the bins were made for.
        let mantissa = (bits & ((1 << 52) - 1)) | (1 << 52);
        let negative = (bits >> 63) as i64;
        let signed = ((mantissa as i64) ^ -negative) + negative;
        self.sums[bin as usize] += i128::from(signed);
        self.squares[bin as usize] += u128::from(mantissa) * u128::from(mantissa);
    }

    /// Moves the bins into the general sums and empties them.
    fn flush(&mut self) {
        for bin in 0..BINS {
            let scale = self.lowest + bin as i32 - 1075;
            let sum = std::mem::take(&mut self.sums[bin]);
            let sign = if sum < 0 { -1.0 } else { 1.0 };
            add_scaled(&mut self.rest_sum, sum.unsigned_abs(), scale, sign);
            let squares = std::mem::take(&mut self.squares[bin]);
            add_scaled(&mut self.rest_squares, squares, 2 * scale, 1.0);
        }
    }
}

/// The exact sum and exact sum of squares of finite values.
pub fn sum_and_squares(values: &[f64]) -> (ExactSum, ExactSum) {
    let max_abs = values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if max_abs == 0.0 {
        return (ExactSum::default(), ExactSum::default());
    }
    let mut bins = ExponentBins::new(max_abs);
    for pass in values.chunks(PASS) {
        pass.iter().for_each(|x| bins.add(*x));
        bins.flush();
    }
    (bins.rest_sum, bins.rest_squares)
}

/// Adds `sign * value * 2^exponent` exactly, in 43-bit chunks (each exact
/// in an f64, and so is its scaling by a power of two).
fn add_scaled(sum: &mut ExactSum, mut value: u128, exponent: i32, sign: f64) {
    const CHUNK: u32 = 43;
    let mut offset = 0;
    while value != 0 {
        let chunk = (value & ((1 << CHUNK) - 1)) as f64;
        if chunk != 0.0 {
            sum.add(sign * chunk * 2f64.powi(exponent + offset));
        }
        value >>= CHUNK;
        offset += CHUNK as i32;
    }
}

/// `a * b` as an exact pair (product, rounding error), by Dekker's split
/// rather than `mul_add`, which is a slow library call on CPUs built
/// without FMA (the x86-64 baseline).
pub fn two_product(a: f64, b: f64) -> (f64, f64) {
    fn split(x: f64) -> (f64, f64) {
        const SPLITTER: f64 = 134_217_729.0; // 2^27 + 1
        let c = SPLITTER * x;
        let hi = c - (c - x);
        (hi, x - hi)
    }
    let p = a * b;
    if !p.is_finite() || a.abs() > 1e150 || b.abs() > 1e150 {
        // The split itself would overflow; such products are not exact
        // anyway once they overflow.
        return (p, 0.0);
    }
    let ((ah, al), (bh, bl)) = (split(a), split(b));
    let error = ((ah * bh - p) + ah * bl + al * bh) + al * bl;
    (p, error)
}

/// The sample variance `(n*Σx² - (Σx)²) / (n(n-1))` with the numerator
/// computed exactly and rounded once.
pub fn sample_variance(n: u64, sum: &ExactSum, sum_of_squares: &ExactSum) -> Option<f64> {
    if n < 2 {
        return None;
    }
    let count = n as f64;
    let mut numerator = ExactSum::default();
    for &q in sum_of_squares.partials() {
        let (p, e) = two_product(count, q);
        numerator.add(p);
        numerator.add(e);
    }
    for &a in sum.partials() {
        for &b in sum.partials() {
            let (p, e) = two_product(a, b);
            numerator.add(-p);
            numerator.add(-e);
        }
    }
    let variance = numerator.value().max(0.0) / (count * (count - 1.0));
    variance.is_finite().then_some(variance)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum_of(values: &[f64]) -> ExactSum {
        let mut s = ExactSum::default();
        values.iter().for_each(|v| s.add(*v));
        s
    }

    #[test]
    fn sums_are_exact_and_order_free() {
        let values = [1e100, 1.0, -1e100, 1e-100, 3.0];
        assert_eq!(sum_of(&values).value(), 4.0);
        let mut reversed = values;
        reversed.reverse();
        assert_eq!(sum_of(&reversed).value(), 4.0);
        let (mut a, b) = (sum_of(&values[..2]), sum_of(&values[2..]));
        a.merge(&b);
        assert_eq!(a.value(), 4.0);
        assert_eq!(sum_of(&[0.1; 10]).value(), 1.0);
    }

    #[test]
    fn variance_does_not_cancel() {
        // 1e9 + {0, 1, 2, 3}: variance 5/3 exactly.
        let values: Vec<f64> = (0..4).map(|i| 1e9 + i as f64).collect();
        let sum = sum_of(&values);
        let squares = {
            let mut s = ExactSum::default();
            for v in &values {
                let (p, e) = two_product(*v, *v);
                s.add(p);
                s.add(e);
            }
            s
        };
        assert_eq!(sample_variance(4, &sum, &squares), Some(5.0 / 3.0));
        assert_eq!(sample_variance(1, &sum, &squares), None);
    }

    #[test]
    fn binned_sums_equal_the_general_sum() {
        let values: Vec<f64> = (0..5000)
            .map(|i| {
                ((i * 7919) % 1000) as f64 * 0.37 - 150.0 + if i % 97 == 0 { 1e-13 } else { 0.0 }
            })
            .collect();
        let (sum, squares) = sum_and_squares(&values);
        let general = sum_of(&values);
        let mut general_squares = ExactSum::default();
        for v in &values {
            let (p, e) = two_product(*v, *v);
            general_squares.add(p);
            general_squares.add(e);
        }
        assert_eq!(sum.value(), general.value());
        assert_eq!(squares.value(), general_squares.value());
        assert_eq!(sum_and_squares(&[0.0, 0.0]).0.value(), 0.0);
        // Values far below the bins take the general path.
        let wide = [1e15, 3.3e-9, -7.25, 1e15 + 2.0, 1e-300];
        let (_, squares) = sum_and_squares(&wide);
        let mut general = ExactSum::default();
        for v in wide {
            let (p, e) = two_product(v, v);
            general.add(p);
            general.add(e);
        }
        assert_eq!(squares.value(), general.value());
    }

    #[test]
    fn binned_sums_are_exact_across_every_magnitude() {
        // Signs, mantissas and exponents from 2^-480 to 2^480 mixed, so
        // values land in bins, below them and in the general path.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let values: Vec<f64> = (0..3_000)
            .map(|_| {
                let r = next();
                let exponent = (r % 961) as i32 - 480;
                let mantissa = 1.0 + (r >> 12) as f64 / (1u64 << 52) as f64;
                let sign = if r & (1 << 11) == 0 { 1.0 } else { -1.0 };
                sign * mantissa * 2f64.powi(exponent)
            })
            .collect();
        for slice in [&values[..], &values[..7], &values[2_000..2_100]] {
            let (sum, squares) = sum_and_squares(slice);
            let mut general_squares = ExactSum::default();
            for v in slice {
                let (p, e) = two_product(*v, *v);
                general_squares.add(p);
                general_squares.add(e);
            }
            assert_eq!(sum.value(), sum_of(slice).value());
            assert_eq!(squares.value(), general_squares.value());
        }
    }

    #[test]
    fn infinities_and_nan_pass_through() {
        assert_eq!(sum_of(&[1.0, f64::INFINITY]).value(), f64::INFINITY);
        assert!(sum_of(&[f64::INFINITY, f64::NEG_INFINITY]).value().is_nan());
    }
}
