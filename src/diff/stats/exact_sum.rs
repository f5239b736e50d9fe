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

/// Bits kept below a window's top: sum terms stay under 2^(53+40), so an
/// i128 holds the sum of 2^33 of them (squares: 2^186 in 256 bits).
const WINDOW_BITS: i32 = 40;

/// `x = ±m * 2^q` with an integer mantissa `m`.
fn decompose(x: f64) -> (i128, i32) {
    let bits = x.to_bits();
    let field = ((bits >> 52) & 0x7ff) as i32;
    let fraction = (bits & ((1 << 52) - 1)) as i128;
    let (m, q) = if field == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1 << 52), field - 1075)
    };
    (if x < 0.0 { -m } else { m }, q)
}

/// Exact sum and sum of squares of finite values in fixed-point windows
/// under the largest value's exponent. With `x = ±m * 2^q`, `m * 2^(q-floor)`
/// goes into an i128 and `m² * 2^(2(q-floor))` (`m²` has at most 106 bits)
/// into a (high, low) pair of u128 words. Values too small for the window go
/// through the general (slower) `ExactSum`. Result: the same exact sums, at a
/// fraction of the cost per value.
struct MomentWindow {
    /// Smallest exponent `q` kept in the window.
    floor: i32,
    sum: i128,
    low: u128,
    high: u128,
    rest_sum: ExactSum,
    rest_squares: ExactSum,
}

impl MomentWindow {
    fn new(max_abs: f64) -> Self {
        let (_, top) = decompose(max_abs);
        MomentWindow {
            floor: top - WINDOW_BITS,
            sum: 0,
            low: 0,
            high: 0,
            rest_sum: ExactSum::default(),
            rest_squares: ExactSum::default(),
        }
    }

    #[inline]
    fn add(&mut self, x: f64) {
        if x == 0.0 {
            return;
        }
        let (m, q) = decompose(x);
        // Below -500 the squares' scale would leave the normal range.
        if q < self.floor || self.floor < -500 {
            self.rest_sum.add(x);
            let (p, e) = two_product(x, x);
            self.rest_squares.add(p);
            self.rest_squares.add(e);
            return;
        }
        let shift = (q - self.floor) as u32; // <= WINDOW_BITS
        self.sum += m << shift;
        let square = m.unsigned_abs() * m.unsigned_abs(); // < 2^106
        let shift = 2 * shift;
        let (low_part, high_part) = if shift == 0 {
            (square, 0)
        } else if shift < 128 {
            (square << shift, square >> (128 - shift))
        } else {
            (0, square << (shift - 128))
        };
        let (low, carry) = self.low.overflowing_add(low_part);
        self.low = low;
        self.high += high_part + u128::from(carry);
    }

    /// (sum, sum of squares), the windows turned into exact f64 pieces.
    fn finish(mut self) -> (ExactSum, ExactSum) {
        let sign = if self.sum < 0 { -1.0 } else { 1.0 };
        add_scaled(
            &mut self.rest_sum,
            self.sum.unsigned_abs(),
            self.floor,
            sign,
        );
        add_scaled(&mut self.rest_squares, self.low, 2 * self.floor, 1.0);
        add_scaled(&mut self.rest_squares, self.high, 2 * self.floor + 128, 1.0);
        (self.rest_sum, self.rest_squares)
    }
}

/// The exact sum and exact sum of squares of finite values.
pub fn sum_and_squares(values: &[f64]) -> (ExactSum, ExactSum) {
    let max_abs = values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if max_abs == 0.0 {
        return (ExactSum::default(), ExactSum::default());
    }
    let mut window = MomentWindow::new(max_abs);
    values.iter().for_each(|x| window.add(*x));
    window.finish()
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
    fn window_sums_equal_the_general_sum() {
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
        // Values far below the window take the general path.
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
    fn infinities_and_nan_pass_through() {
        assert_eq!(sum_of(&[1.0, f64::INFINITY]).value(), f64::INFINITY);
        assert!(sum_of(&[f64::INFINITY, f64::NEG_INFINITY]).value().is_nan());
    }
}
