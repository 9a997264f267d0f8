//! Quantization of floating-point tiles: the standard random sequence, subtractive dithering
//! (`ZQUANTIZ`, `ZDITHER0`), and the noise estimate that picks the quantization step.
//!
//! A quantized tile stores integers `q`; the reader restores `(q - r + 0.5) * ZSCALE + ZZERO`
//! where `r` walks the standard sequence of 10000 uniform numbers from a start that depends
//! on the tile and `ZDITHER0` (or `q * ZSCALE + ZZERO` without dithering). The sequence and
//! the walk are those of the tiled-image convention, so files agree with every other reader.

use std::sync::OnceLock;

/// Length of the standard random sequence.
pub const N_RANDOM: usize = 10_000;
/// The quantized value that marks an undefined (NaN) pixel.
pub const NULL_VALUE: i32 = -2_147_483_647;
/// The quantized value of an exact zero under `SUBTRACTIVE_DITHER_2`.
pub const ZERO_VALUE: i32 = -2_147_483_646;
/// Quantized values reserved at the bottom of the range (starting with [`NULL_VALUE`]).
const N_RESERVED: f64 = 10.0;

/// How quantized values were dithered (`ZQUANTIZ`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dither {
    /// `NO_DITHER` (or no `ZQUANTIZ` at all): `q * scale + zero`.
    None,
    /// `SUBTRACTIVE_DITHER_1`.
    Subtractive1,
    /// `SUBTRACTIVE_DITHER_2`: as 1, and exact zeros are kept as [`ZERO_VALUE`].
    Subtractive2,
}

impl Dither {
    /// The `ZQUANTIZ` value.
    pub fn keyword(self) -> &'static str {
        match self {
            Dither::None => "NO_DITHER",
            Dither::Subtractive1 => "SUBTRACTIVE_DITHER_1",
            Dither::Subtractive2 => "SUBTRACTIVE_DITHER_2",
        }
    }
}

/// The standard sequence: Park and Miller's minimal generator (a = 16807,
/// m = 2^31 - 1) from seed 1, each value `seed / m` rounded to `f32`.
pub fn random_values() -> &'static [f32] {
    static VALUES: OnceLock<Vec<f32>> = OnceLock::new();
    VALUES.get_or_init(|| {
        let (a, m) = (16807.0f64, 2147483647.0f64);
        let mut seed = 1.0f64;
        (0..N_RANDOM)
            .map(|_| {
                let t = a * seed;
                seed = t - m * (t / m).trunc();
                (seed / m) as f32
            })
            .collect()
    })
}

/// The walk through the random sequence for one tile.
struct Walk {
    rand: &'static [f32],
    iseed: usize,
    next: usize,
}

impl Walk {
    /// `row` is the tile's one-based row in the table plus `ZDITHER0 - 1`.
    fn new(row: i64) -> Walk {
        let rand = random_values();
        let iseed = (row - 1).rem_euclid(N_RANDOM as i64) as usize;
        Walk { rand, iseed, next: (rand[iseed] * 500.0) as usize }
    }

    /// Moves past `n` pixels.
    fn skip(&mut self, mut n: usize) {
        while n > 0 {
            let k = n.min(N_RANDOM - self.next);
            n -= k;
            self.next += k;
            if self.next == N_RANDOM {
                self.iseed = (self.iseed + 1) % N_RANDOM;
                self.next = (self.rand[self.iseed] * 500.0) as usize;
            }
        }
    }

    /// The random values for the next pixels: at most `n`, up to the end of the sequence.
    #[inline(always)]
    fn segment(&mut self, n: usize) -> &'static [f32] {
        let k = n.min(N_RANDOM - self.next);
        let seg = &self.rand[self.next..self.next + k];
        self.skip(k);
        seg
    }

    /// The random values for the next `n` pixels, in pieces.
    #[inline(always)]
    fn run(&mut self, mut n: usize, mut f: impl FnMut(&[f32])) {
        while n > 0 {
            let k = n.min(N_RANDOM - self.next);
            f(&self.rand[self.next..self.next + k]);
            n -= k;
            self.next += k;
            if self.next == N_RANDOM {
                self.iseed = (self.iseed + 1) % N_RANDOM;
                self.next = (self.rand[self.iseed] * 500.0) as usize;
            }
        }
    }
}

/// How one tile's integers map back to floats.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Unquantize {
    /// `ZSCALE` of the tile.
    pub scale: f64,
    /// `ZZERO` of the tile.
    pub zero: f64,
    /// The dithering method.
    pub dither: Dither,
    /// The tile's row in the table (one-based) plus `ZDITHER0 - 1`.
    pub row: i64,
    /// The quantized value of undefined pixels (`ZBLANK`), if any.
    pub blank: Option<i64>,
}

impl Unquantize {
    /// Restores a tile's floats from its quantized integers (`out.len() == q.len()`).
    pub fn to_f32(&self, q: &[i32], out: &mut [f32]) {
        // SAFETY: f32 has no padding and every byte pattern written is a valid f32.
        let bytes =
            unsafe { std::slice::from_raw_parts_mut(out.as_mut_ptr().cast::<u8>(), std::mem::size_of_val(out)) };
        self.dispatch::<4, false>(q, 0, bytes);
    }

    /// Restores a tile's floats from its quantized integers (`out.len() == q.len()`).
    pub fn to_f64(&self, q: &[i32], out: &mut [f64]) {
        // SAFETY: f64 has no padding and every byte pattern written is a valid f64.
        let bytes =
            unsafe { std::slice::from_raw_parts_mut(out.as_mut_ptr().cast::<u8>(), std::mem::size_of_val(out)) };
        self.dispatch::<8, false>(q, 0, bytes);
    }

    /// Restores the pixels `first..first + q.len()` of a tile (`q` holds just those) as
    /// big-endian `f32` (or `f64` when `double`) bytes into `out`.
    pub fn to_be_bytes(&self, q: &[i32], first: usize, double: bool, out: &mut [u8]) {
        if double {
            self.dispatch::<8, true>(q, first, out);
        } else {
            self.dispatch::<4, true>(q, first, out);
        }
    }

    fn dispatch<const W: usize, const BE: bool>(&self, q: &[i32], first: usize, out: &mut [u8]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the processor supports AVX2.
            return unsafe { self.restore_avx2::<W, BE>(q, first, out) };
        }
        self.restore::<W, BE>(q, first, out);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn restore_avx2<const W: usize, const BE: bool>(&self, q: &[i32], first: usize, out: &mut [u8]) {
        self.restore::<W, BE>(q, first, out);
    }

    /// The loops: `W`-byte floats, big-endian or native. Values are computed in `f64` as
    /// `(q - r + 0.5) * scale + zero` and then rounded to the output type, as the convention's
    /// reference decoder does, so results agree bit for bit.
    #[inline(always)]
    fn restore<const W: usize, const BE: bool>(&self, q: &[i32], first: usize, out: &mut [u8]) {
        #[inline(always)]
        fn put<const W: usize, const BE: bool>(o: &mut [u8], x: f64) {
            if W == 4 {
                let v = x as f32;
                o.copy_from_slice(&if BE { v.to_be_bytes() } else { v.to_ne_bytes() });
            } else {
                o.copy_from_slice(&if BE { x.to_be_bytes() } else { x.to_ne_bytes() });
            }
        }
        let (scale, zero) = (self.scale, self.zero);
        // A blank that no 32-bit value can equal never matches.
        let blank = self.blank.and_then(|b| i32::try_from(b).ok());
        let out = &mut out[..q.len() * W];
        if self.dither == Dither::None {
            for (o, &v) in out.chunks_exact_mut(W).zip(q) {
                put::<W, BE>(o, if Some(v) == blank { f64::NAN } else { v as f64 * scale + zero });
            }
            return;
        }
        let keep_zero = self.dither == Dither::Subtractive2;
        let mut walk = Walk::new(self.row);
        walk.skip(first);
        let mut at = 0;
        while at < q.len() {
            let rand = walk.segment(q.len() - at);
            let qs = &q[at..at + rand.len()];
            let os = &mut out[at * W..(at + rand.len()) * W];
            at += rand.len();
            match (blank, keep_zero) {
                (None, false) => {
                    for ((o, &v), &r) in os.chunks_exact_mut(W).zip(qs).zip(rand) {
                        put::<W, BE>(o, (v as f64 - r as f64 + 0.5) * scale + zero);
                    }
                }
                (Some(b), false) => {
                    for ((o, &v), &r) in os.chunks_exact_mut(W).zip(qs).zip(rand) {
                        let x = (v as f64 - r as f64 + 0.5) * scale + zero;
                        put::<W, BE>(o, if v == b { f64::NAN } else { x });
                    }
                }
                _ => {
                    for ((o, &v), &r) in os.chunks_exact_mut(W).zip(qs).zip(rand) {
                        let x = if Some(v) == blank {
                            f64::NAN
                        } else if v == ZERO_VALUE {
                            0.0
                        } else {
                            (v as f64 - r as f64 + 0.5) * scale + zero
                        };
                        put::<W, BE>(o, x);
                    }
                }
            }
        }
    }
}

/// Robust noise estimates of an image (rows of `nx` pixels; NaNs ignored): the scaled
/// medians of the 2nd, 3rd and 5th order absolute differences along rows (the median of
/// per-row medians), with the minimum and maximum and the count of defined pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Noise {
    /// Defined pixels.
    pub good: usize,
    /// Smallest defined value.
    pub min: f64,
    /// Largest defined value.
    pub max: f64,
    /// 2nd order estimate (0 when it cannot be computed).
    pub n2: f64,
    /// 3rd order estimate.
    pub n3: f64,
    /// 5th order estimate.
    pub n5: f64,
}

impl Noise {
    /// Estimates the noise of `data`, taken as rows of `nx` pixels.
    pub fn estimate(data: &[f64], nx: usize) -> Noise {
        let mut nx = nx.max(1);
        if nx < 9 {
            nx = data.len().max(1);
        }
        let mut good = 0usize;
        let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
        let (mut rows2, mut rows3, mut rows5) = (Vec::new(), Vec::new(), Vec::new());
        let (mut d2, mut d3, mut d5) = (Vec::new(), Vec::new(), Vec::new());
        for row in data.chunks(nx) {
            let vals: Vec<f64> = row.iter().copied().filter(|v| !v.is_nan()).collect();
            good += vals.len();
            for &v in &vals {
                min = min.min(v);
                max = max.max(v);
            }
            if vals.len() < 9 {
                continue;
            }
            d2.clear();
            d3.clear();
            d5.clear();
            for w in vals.windows(9) {
                let (v1, v3, v5, v6, v7, v9) = (w[0], w[2], w[4], w[5], w[6], w[8]);
                if !(v5 == v6 && v6 == v7) {
                    d2.push((v5 - v7).abs());
                }
                if !(v3 == w[3] && w[3] == v5 && v5 == v6 && v6 == v7) {
                    d3.push((2.0 * v5 - v3 - v7).abs());
                    d5.push((6.0 * v5 - 4.0 * v3 - 4.0 * v7 + v1 + v9).abs());
                }
            }
            if !d2.is_empty() {
                rows2.push(median(&mut d2));
            }
            if !d3.is_empty() {
                rows3.push(median(&mut d3));
                rows5.push(median(&mut d5));
            }
        }
        if good == 0 {
            min = 0.0;
            max = 0.0;
        }
        let m = |v: &mut Vec<f64>| if v.is_empty() { 0.0 } else { median(v) };
        Noise {
            good,
            min,
            max,
            n2: 1.0483579 * m(&mut rows2),
            n3: 0.6052697 * m(&mut rows3),
            n5: 0.1772048 * m(&mut rows5),
        }
    }

    /// The estimate used for the quantization step: the 3rd order one, or a smaller non-zero one.
    pub fn sigma(&self) -> f64 {
        let mut s = self.n3;
        for n in [self.n2, self.n5] {
            if n != 0.0 && n < s {
                s = n;
            }
        }
        s
    }
}

fn median(v: &mut [f64]) -> f64 {
    let n = v.len();
    v.sort_unstable_by(f64::total_cmp);
    (v[(n - 1) / 2] + v[n / 2]) / 2.0
}

/// The result of quantizing a tile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quantized {
    /// `ZSCALE`: one integer step in data units.
    pub scale: f64,
    /// `ZZERO`.
    pub zero: f64,
    /// Whether some pixels were NaN (stored as [`NULL_VALUE`]).
    pub any_null: bool,
}

/// Nearest integer, halves away from zero, as the convention's writers round.
fn nint(x: f64) -> i32 {
    if x >= 0.0 { (x + 0.5) as i32 } else { (x - 0.5) as i32 }
}

/// Quantizes one tile of floats (rows of `nx` pixels) into `out`.
///
/// `level > 0` sets the step to `sigma / level` (the noise estimate of [`Noise`]); `level < 0`
/// sets the step to `-level` directly. `row` is the tile's one-based table row plus
/// `ZDITHER0 - 1` (used when dithering). Returns `None` when the tile cannot be quantized
/// (constant data, a zero step, or a range too wide for 32-bit integers): store it losslessly.
pub fn quantize(
    data: &[f64],
    nx: usize,
    level: f64,
    dither: Dither,
    row: i64,
    out: &mut Vec<i32>,
) -> Option<Quantized> {
    out.clear();
    if data.len() <= 1 || level == 0.0 || !level.is_finite() {
        return None;
    }
    if data.iter().any(|v| v.is_infinite()) {
        return None;
    }
    let noise = Noise::estimate(data, nx);
    let (delta, min, max) = if noise.good == 0 {
        (1.0, 0.0, 1.0)
    } else if level > 0.0 {
        (noise.sigma() / level, noise.min, noise.max)
    } else {
        (-level, noise.min, noise.max)
    };
    if delta == 0.0 || !delta.is_finite() {
        return None;
    }
    let range = (max - min) / delta;
    if range > 2.0 * 2147483647.0 - N_RESERVED {
        return None;
    }
    let any_null = noise.good < data.len();
    let zero = if any_null || dither == Dither::Subtractive2 {
        min - delta * (NULL_VALUE as f64 + N_RESERVED)
    } else if range < 2147483647.0 - N_RESERVED {
        // A multiple of the step, so that repeated compression keeps the same levels.
        ((min / delta + 0.5) as i64) as f64 * delta
    } else {
        (min + max) / 2.0
    };
    out.reserve(data.len());
    let keep_zero = dither == Dither::Subtractive2;
    if dither == Dither::None {
        out.extend(data.iter().map(|&v| if v.is_nan() { NULL_VALUE } else { nint((v - zero) / delta) }));
    } else {
        let mut walk = Walk::new(row);
        let mut at = 0;
        walk.run(data.len(), |rand| {
            for (&v, &r) in data[at..at + rand.len()].iter().zip(rand) {
                out.push(if v.is_nan() {
                    NULL_VALUE
                } else if keep_zero && v == 0.0 {
                    ZERO_VALUE
                } else {
                    nint((v - zero) / delta + r as f64 - 0.5)
                });
            }
            at += rand.len();
        });
    }
    Some(Quantized { scale: delta, zero, any_null })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_sequence() {
        let r = random_values();
        assert_eq!(r.len(), N_RANDOM);
        // The published check: the generator's 10000th seed is 1043618065.
        assert_eq!(r[N_RANDOM - 1], (1043618065.0f64 / 2147483647.0) as f32);
        assert_eq!(r[0], (16807.0f64 / 2147483647.0) as f32);
        assert!(r.iter().all(|&v| v > 0.0 && v < 1.0));
    }

    fn noisy(n: usize) -> Vec<f64> {
        // A deterministic pseudo-noise field around 100 with sigma about 3.
        let mut s = 12345u64;
        (0..n)
            .map(|_| {
                let mut acc = 0.0;
                for _ in 0..12 {
                    s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    acc += (s >> 11) as f64 / (1u64 << 53) as f64;
                }
                100.0 + 3.0 * (acc - 6.0)
            })
            .collect()
    }

    #[test]
    fn noise_estimate_finds_sigma() {
        let data = noisy(100 * 100);
        let n = Noise::estimate(&data, 100);
        assert_eq!(n.good, 10_000);
        assert!((n.sigma() - 3.0).abs() < 0.3, "{n:?}");
    }

    #[test]
    fn round_trip_within_the_step_for_every_method() {
        let mut data = noisy(64 * 20);
        data[5] = f64::NAN;
        data[17] = 0.0;
        for dither in [Dither::None, Dither::Subtractive1, Dither::Subtractive2] {
            let mut q = Vec::new();
            let row = 7;
            let z = quantize(&data, 64, 4.0, dither, row, &mut q).unwrap();
            assert!(z.any_null);
            let un = Unquantize { scale: z.scale, zero: z.zero, dither, row, blank: Some(NULL_VALUE as i64) };
            let mut back = vec![0f64; data.len()];
            un.to_f64(&q, &mut back);
            assert!(back[5].is_nan());
            if dither == Dither::Subtractive2 {
                assert_eq!(back[17], 0.0);
            }
            let worst =
                data.iter().zip(&back).filter(|(a, _)| !a.is_nan()).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            let bound = if dither == Dither::None { 0.5 } else { 1.0 } * z.scale;
            assert!(worst <= bound * 1.000001, "{dither:?}: {worst} > {bound}");
            assert!((z.scale - 0.75).abs() < 0.1, "step is sigma/4: {}", z.scale);
            let mut f = vec![0f32; data.len()];
            un.to_f32(&q, &mut f);
            assert!(f.iter().zip(&back).all(|(a, b)| (a.is_nan() && b.is_nan()) || *a == *b as f32));
        }
    }

    #[test]
    fn dithering_walks_the_sequence_across_its_end() {
        // A tile longer than the sequence wraps to the next seed; quantize and unquantize agree.
        let data = noisy(25_000);
        let mut q = Vec::new();
        let z = quantize(&data, 250, 4.0, Dither::Subtractive1, 9999, &mut q).unwrap();
        let un = Unquantize { scale: z.scale, zero: z.zero, dither: Dither::Subtractive1, row: 9999, blank: None };
        let mut back = vec![0f64; data.len()];
        un.to_f64(&q, &mut back);
        assert!(data.iter().zip(&back).all(|(a, b)| (a - b).abs() <= z.scale));
        // A different row gives different integers (the dither moves).
        let mut q2 = Vec::new();
        quantize(&data, 250, 4.0, Dither::Subtractive1, 1, &mut q2).unwrap();
        assert_ne!(q, q2);
    }

    #[test]
    fn part_of_a_tile_restores_as_the_whole() {
        let data = noisy(23_000);
        let mut q = Vec::new();
        let z = quantize(&data, 230, 4.0, Dither::Subtractive2, 9998, &mut q).unwrap();
        for dither in [Dither::None, Dither::Subtractive1, Dither::Subtractive2] {
            let un = Unquantize { scale: z.scale, zero: z.zero, dither, row: 9998, blank: Some(q[40] as i64) };
            let mut whole = vec![0f64; q.len()];
            un.to_f64(&q, &mut whole);
            assert!(whole[40].is_nan());
            for (first, last) in [(0, 1), (17, 9000), (9999, 10001), (12_345, 23_000)] {
                let mut be = vec![0u8; (last - first) * 4];
                un.to_be_bytes(&q[first..last], first, false, &mut be);
                for (i, b) in be.chunks_exact(4).enumerate() {
                    let v = f32::from_be_bytes(b.try_into().unwrap());
                    let w = whole[first + i] as f32;
                    assert!(v == w || (v.is_nan() && w.is_nan()), "{dither:?} pixel {}", first + i);
                }
            }
        }
    }

    #[test]
    fn constant_or_degenerate_tiles_are_not_quantized() {
        let mut q = Vec::new();
        assert!(quantize(&[5.0; 100], 10, 4.0, Dither::Subtractive1, 1, &mut q).is_none());
        assert!(quantize(&[1.0], 1, 4.0, Dither::Subtractive1, 1, &mut q).is_none());
        assert!(quantize(&[1.0, f64::INFINITY, 2.0], 3, 4.0, Dither::None, 1, &mut q).is_none());
        let z = quantize(&[f64::NAN; 50], 10, 4.0, Dither::Subtractive1, 1, &mut q).unwrap();
        assert!(z.any_null && q.iter().all(|&v| v == NULL_VALUE));
        // An explicit step.
        let z = quantize(&[0.0, 1.0, 2.0, 3.0], 4, -0.5, Dither::None, 1, &mut q).unwrap();
        assert_eq!(z.scale, 0.5);
        assert_eq!(q, vec![0, 2, 4, 6]);
    }
}
