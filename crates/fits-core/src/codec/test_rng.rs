//! A small deterministic generator (xorshift64*) for the codecs' tests.

/// xorshift64* from a non-zero seed.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        let span = (hi as i128 - lo as i128 + 1) as u64;
        lo + (self.next() % span) as i64
    }

    /// Roughly Gaussian with standard deviation `sigma`.
    pub(crate) fn gauss(&mut self, sigma: f64) -> f64 {
        let s: f64 = (0..12).map(|_| (self.next() >> 11) as f64 / (1u64 << 53) as f64).sum();
        (s - 6.0) * sigma
    }
}
