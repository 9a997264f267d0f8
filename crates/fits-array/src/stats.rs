//! Streaming statistics over physical values: count, sum, min, max, mean, standard deviation, NaN count.

use fits_core::Element;

/// Summary statistics that can be accumulated piece by piece and merged.
///
/// NaN values are counted in `nan` and left out of everything else. Sums are
/// compensated (Neumaier) and the variance is merged with Chan's formula, so
/// accumulating plane by plane gives the same answer as all at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    /// Values counted (NaN excluded).
    pub count: u64,
    sum: f64,
    compensation: f64,
    /// Smallest value (`NaN` when `count` is 0).
    pub min: f64,
    /// Largest value (`NaN` when `count` is 0).
    pub max: f64,
    mean: f64,
    m2: f64,
    /// NaN values seen.
    pub nan: u64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats { count: 0, sum: 0.0, compensation: 0.0, min: f64::NAN, max: f64::NAN, mean: 0.0, m2: 0.0, nan: 0 }
    }
}

/// Values handled per block: small enough to stay in cache for the two passes.
const BLOCK: usize = 4096;

impl Stats {
    /// Empty statistics.
    pub fn new() -> Stats {
        Stats::default()
    }

    /// Statistics of a slice.
    pub fn of<T: Element>(values: &[T]) -> Stats {
        let mut s = Stats::new();
        s.add(values);
        s
    }

    /// Adds values.
    pub fn add<T: Element>(&mut self, values: &[T]) {
        let mut buf = [0f64; BLOCK];
        for chunk in values.chunks(BLOCK) {
            let mut n = 0;
            for v in chunk {
                let x = v.to_f64();
                if x.is_nan() {
                    self.nan += 1;
                } else {
                    buf[n] = x;
                    n += 1;
                }
            }
            if n == 0 {
                continue;
            }
            let block = &buf[..n];
            let (mut sum, mut lo, mut hi) = (0.0f64, f64::INFINITY, f64::NEG_INFINITY);
            for &x in block {
                sum += x;
                lo = lo.min(x);
                hi = hi.max(x);
            }
            let mean = sum / n as f64;
            let m2: f64 = block.iter().map(|&x| (x - mean) * (x - mean)).sum();
            self.merge(&Stats { count: n as u64, sum, compensation: 0.0, min: lo, max: hi, mean, m2, nan: 0 });
        }
    }

    /// Merges statistics of other values into these.
    pub fn merge(&mut self, other: &Stats) {
        self.nan += other.nan;
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            let nan = self.nan;
            *self = *other;
            self.nan = nan;
            return;
        }
        let n = self.count as f64 + other.count as f64;
        let delta = other.mean - self.mean;
        self.m2 += other.m2 + delta * delta * self.count as f64 * other.count as f64 / n;
        self.mean += delta * other.count as f64 / n;
        // Neumaier summation of the block sums.
        let t = self.sum + other.sum;
        if self.sum.abs() >= other.sum.abs() {
            self.compensation += (self.sum - t) + other.sum;
        } else {
            self.compensation += (other.sum - t) + self.sum;
        }
        self.compensation += other.compensation;
        self.sum = t;
        self.count += other.count;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Sum of the values.
    pub fn sum(&self) -> f64 {
        self.sum + self.compensation
    }

    /// Mean (`NaN` when empty).
    pub fn mean(&self) -> f64 {
        if self.count == 0 { f64::NAN } else { self.mean }
    }

    /// Population standard deviation (numpy's default, `ddof = 0`; `NaN` when empty).
    pub fn std(&self) -> f64 {
        if self.count == 0 { f64::NAN } else { (self.m2 / self.count as f64).sqrt() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_two_pass_values_and_merges() {
        let v: Vec<f64> = (0..10_000).map(|i| ((i * 37) % 101) as f64 * 0.5 + 1e6).collect();
        let s = Stats::of(&v);
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64;
        assert!((s.mean() - mean).abs() < 1e-9);
        assert!((s.std() - var.sqrt()).abs() < 1e-9);
        let mut parts = Stats::new();
        for c in v.chunks(333) {
            parts.merge(&Stats::of(c));
        }
        assert!((parts.std() - s.std()).abs() < 1e-9);
        assert_eq!(parts.sum(), s.sum());
        assert_eq!((parts.min, parts.max, parts.count), (s.min, s.max, s.count));
    }

    #[test]
    fn nan_is_counted_apart() {
        let s = Stats::of(&[1.0f32, f32::NAN, 3.0]);
        assert_eq!((s.count, s.nan, s.sum(), s.min, s.max, s.mean()), (2, 1, 4.0, 1.0, 3.0, 2.0));
        let e = Stats::of(&[f64::NAN]);
        assert!(e.min.is_nan() && e.mean().is_nan() && e.nan == 1);
    }
}
