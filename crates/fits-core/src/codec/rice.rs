//! RICE_1: Rice coding of pixel differences (R. White's algorithm), bit-compatible with cfitsio.
//!
//! A RICE_1 tile is one bit stream, most significant bit first:
//!
//! * the first pixel as `bytepix` raw big-endian bytes;
//! * then, for every block of `block` pixels (the last block may be shorter), a code of 3, 4 or
//!   5 bits (for 1-, 2- or 4-byte pixels) followed by the block's differences. The differences
//!   are taken between neighbouring pixels (the first against the first pixel itself) in the
//!   pixel's own integer width and mapped to unsigned numbers by the zig-zag mapping
//!   (0, -1, 1, -2, ... become 0, 1, 2, 3, ...). The code says how they are stored:
//!   * 0: every difference is zero, nothing follows;
//!   * 7, 15 or 26 (cfitsio's `FSMAX + 1`): "high entropy", each difference follows as
//!     `8 * bytepix` raw bits (codes 27 to 31 of 4-byte pixels are invalid);
//!   * any other `fs + 1`: each difference `d` follows as `d >> fs` zero bits, a one bit, and the
//!     low `fs` bits of `d`;
//! * zero bits up to the end of the last byte.
//!
//! Decoding reads through a 64-bit bit buffer refilled eight bytes at a time; it checks every
//! block against the end of the input (like cfitsio, which reports "hit end of compressed byte
//! stream"), so corrupt data gives an error after work bounded by the tile's size, never a panic.
//! Bytes left over after the last pixel are ignored, as cfitsio does.

use super::CodecError;

/// Bits of the per-block code for `bytepix`-byte pixels.
const fn code_bits(bytepix: usize) -> u32 {
    match bytepix {
        1 => 3,
        2 => 4,
        _ => 5,
    }
}

/// cfitsio's FSMAX for `bytepix`-byte pixels: a block whose split (`fs`) would be this or more
/// is stored raw, with code `fs_max + 1`; Rice-coded blocks have smaller splits.
const fn fs_max(bytepix: usize) -> u32 {
    match bytepix {
        1 => 6,
        2 => 14,
        _ => 25,
    }
}

fn unsupported(bytepix: usize, block: usize) -> Option<CodecError> {
    if !matches!(bytepix, 1 | 2 | 4) {
        return Some(CodecError::Unsupported {
            detail: format!("RICE_1 with {bytepix} bytes per pixel (BYTEPIX must be 1, 2 or 4)"),
        });
    }
    if block == 0 {
        return Some(CodecError::Unsupported { detail: "RICE_1 with a block size of 0 pixels".to_string() });
    }
    None
}

/// Decodes RICE_1 data into exactly `out.len()` pixels.
///
/// `bytepix` is 1, 2 or 4 (bytes per pixel of the compressed integers, ZNAME `BYTEPIX`);
/// `block` is the block size (ZVAL of ZNAME `BLOCKSIZE`, default 32). The values are the
/// pixels' bit patterns: for `bytepix` 1 unsigned (0..=255, as FITS BITPIX 8), for 2 and 4
/// signed (the `i16` / `i32` range, sign-extended into the `i32`). Without a `BYTEPIX`
/// keyword the convention's default is 4, whatever ZBITPIX is: older cfitsio wrote 16-bit
/// images that way (the corpus file `m13_rice.fits`, for one).
///
/// The result equals cfitsio's `fits_rdecomp_byte` / `fits_rdecomp_short` / `fits_rdecomp` for
/// every stream those accept. Errors: [`CodecError::Unsupported`] for another `bytepix` or a
/// `block` of 0, [`CodecError::Truncated`] when the data ends before the last pixel,
/// [`CodecError::Corrupt`] for a block code no encoder writes (4-byte pixels only). With no
/// pixels to decode, the input is not looked at.
pub fn decode(input: &[u8], bytepix: usize, block: usize, out: &mut [i32]) -> Result<(), CodecError> {
    if let Some(e) = unsupported(bytepix, block) {
        return Err(e);
    }
    if out.is_empty() {
        return Ok(());
    }
    match bytepix {
        1 => decode_dispatch::<1>(input, block, out),
        2 => decode_dispatch::<2>(input, block, out),
        _ => decode_dispatch::<4>(input, block, out),
    }
}

/// Runs the decoder built for LZCNT/BMI where the processor has them (counting the unary
/// prefix of each value is then one instruction).
fn decode_dispatch<const B: usize>(input: &[u8], block: usize, out: &mut [i32]) -> Result<(), CodecError> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("lzcnt") && std::arch::is_x86_feature_detected!("bmi2") {
        // SAFETY: the processor supports the features the function is compiled for.
        return unsafe { decode_width_bmi::<B>(input, block, out) };
    }
    decode_width::<B>(input, block, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "lzcnt,bmi1,bmi2")]
unsafe fn decode_width_bmi<const B: usize>(input: &[u8], block: usize, out: &mut [i32]) -> Result<(), CodecError> {
    decode_width::<B>(input, block, out)
}

/// Encodes pixels with `block` pixels per block, producing the bytes cfitsio's `fits_rcomp_byte`
/// / `fits_rcomp_short` / `fits_rcomp` write for the same pixels and block size.
///
/// The pixels must lie in the range of `bytepix` as described for [`decode`] (0..=255 for 1,
/// the `i16` range for 2, anything for 4); otherwise the result is [`CodecError::Unsupported`]
/// naming the first bad pixel, as it is for another `bytepix` or a `block` of 0. No pixels
/// encode to no bytes.
pub fn encode(pixels: &[i32], bytepix: usize, block: usize) -> Result<Vec<u8>, CodecError> {
    if let Some(e) = unsupported(bytepix, block) {
        return Err(e);
    }
    let (lo, hi) = match bytepix {
        1 => (0, 255),
        2 => (i32::from(i16::MIN), i32::from(i16::MAX)),
        _ => (i32::MIN, i32::MAX),
    };
    if let Some((i, v)) = pixels.iter().enumerate().find(|&(_, v)| !(lo..=hi).contains(v)) {
        return Err(CodecError::Unsupported {
            detail: format!("RICE_1 with BYTEPIX {bytepix} cannot hold pixel {i} = {v} (range {lo}..={hi})"),
        });
    }
    Ok(match bytepix {
        1 => encode_width::<1>(pixels, block),
        2 => encode_width::<2>(pixels, block),
        _ => encode_width::<4>(pixels, block),
    })
}

// ---------------------------------------------------------------------------------------------
// Decoding

/// Undoes the zig-zag mapping: even `d` is `d / 2`, odd `d` is `-(d + 1) / 2`, in wrapping
/// 32-bit arithmetic (only the low `8 * bytepix` bits of the sum with the previous pixel count).
#[inline(always)]
fn unzigzag(d: u32) -> u32 {
    (d >> 1) ^ (d & 1).wrapping_neg()
}

/// The pixel value of the low `8 * B` bits of `v`.
#[inline(always)]
fn to_pixel<const B: usize>(v: u32) -> i32 {
    match B {
        1 => (v & 0xff) as i32,
        2 => i32::from(v as u16 as i16),
        _ => v as i32,
    }
}

/// Reads bits most significant first through a 64-bit buffer.
///
/// The top `nbits` bits of `buf` are the next bits of the stream; the bits below them are
/// either zero or the stream's following bits (a refill may load more than it counts), so
/// OR-ing the same stream bits in again is harmless. Past the end of the input the stream
/// reads as zero bits; `consumed_bits` then exceeds the input's bits, which the decoder checks.
struct BitReader<'a> {
    input: &'a [u8],
    /// The next byte to load.
    pos: usize,
    buf: u64,
    nbits: u32,
}

impl BitReader<'_> {
    /// Makes at least 56 bits valid.
    #[inline(always)]
    fn refill(&mut self) {
        if let Some(chunk) = self.input.get(self.pos..).and_then(<[u8]>::first_chunk::<8>) {
            // nbits <= 63, so the shift is in range, and the whole bytes that fit are counted.
            self.buf |= u64::from_be_bytes(*chunk) >> self.nbits;
            self.pos += ((63 - self.nbits) >> 3) as usize;
            self.nbits |= 56;
        } else {
            self.refill_tail();
        }
    }

    /// Refills byte by byte within the last eight bytes, with zero bytes past the end.
    #[inline(never)]
    fn refill_tail(&mut self) {
        while self.nbits <= 55 {
            let byte = self.input.get(self.pos).copied().unwrap_or(0);
            self.buf |= u64::from(byte) << (56 - self.nbits);
            self.pos += 1;
            self.nbits += 8;
        }
    }

    /// Takes `n` bits (1 ..= 32, at most `nbits`).
    #[inline(always)]
    fn take(&mut self, n: u32) -> u32 {
        let v = (self.buf >> (64 - n)) as u32;
        self.buf <<= n;
        self.nbits -= n;
        v
    }

    /// Bits used so far, counting the first pixel's bytes.
    #[inline(always)]
    fn consumed_bits(&self) -> usize {
        self.pos * 8 - self.nbits as usize
    }

    /// Whether more bits were used than the input holds.
    #[inline(always)]
    fn overrun(&self) -> bool {
        self.consumed_bits() > self.input.len() * 8
    }

    /// Reads one Rice-coded value with split `fs` (< 25): from the buffer when it holds the
    /// whole value, else through [`Self::rice_slow`]. `None` when the input ends first.
    #[inline(always)]
    fn rice_value(&mut self, fs: u32) -> Option<u32> {
        let lz = self.buf.leading_zeros();
        let need = lz + 1 + fs;
        if need <= self.nbits {
            // The one bit and the fs bits after it are in the buffer (lz <= 62, fs <= 24, so
            // nothing here overflows).
            let rest = self.buf << (lz + 1);
            let low = ((rest >> 1) >> (63 - fs)) as u32;
            self.buf = rest << fs;
            self.nbits -= need;
            Some((lz << fs) | low)
        } else {
            self.rice_slow(fs)
        }
    }

    /// Reads one Rice-coded value whose run of zeros does not fit in the buffer: counts the
    /// zeros buffer by buffer. `None` when the input ends first.
    #[cold]
    #[inline(never)]
    fn rice_slow(&mut self, fs: u32) -> Option<u32> {
        let mut nzero: u32 = 0;
        loop {
            self.refill();
            let lz = self.buf.leading_zeros();
            if lz < self.nbits {
                nzero = nzero.wrapping_add(lz);
                self.buf <<= lz + 1;
                self.nbits -= lz + 1;
                break;
            }
            // All valid bits are zeros: use them up (nbits <= 63 after a refill).
            nzero = nzero.wrapping_add(self.nbits);
            self.buf <<= self.nbits;
            self.nbits = 0;
            if self.overrun() {
                return None;
            }
        }
        self.refill();
        let low = if fs == 0 { 0 } else { self.take(fs) };
        Some(nzero.wrapping_shl(fs) | low)
    }
}

#[inline(always)]
fn decode_width<const B: usize>(input: &[u8], block: usize, out: &mut [i32]) -> Result<(), CodecError> {
    let code_bits = code_bits(B);
    let fs_max = fs_max(B);
    let raw_bits = 8 * B as u32;
    let Some(first) = input.first_chunk::<B>() else {
        return Err(CodecError::Truncated {
            detail: format!("RICE_1 tile of {} bytes is shorter than its first pixel ({B} bytes)", input.len()),
        });
    };
    let mut last = first.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b));
    let mut r = BitReader { input, pos: B, buf: 0, nbits: 0 };

    for (k, chunk) in out.chunks_mut(block).enumerate() {
        r.refill();
        let code = r.take(code_bits);
        let complete = if code == 0 {
            // Low entropy: all differences zero.
            chunk.fill(to_pixel::<B>(last));
            true
        } else if code == fs_max + 1 {
            // High entropy: raw differences.
            for px in chunk.iter_mut() {
                r.refill();
                last = last.wrapping_add(unzigzag(r.take(raw_bits)));
                *px = to_pixel::<B>(last);
            }
            true
        } else if code <= fs_max {
            rice_block::<B>(&mut r, code - 1, chunk, &mut last)
        } else {
            return Err(CodecError::Corrupt {
                detail: format!(
                    "RICE_1 block {k} (pixels from {}) has code {code}; {B}-byte pixels use codes up to {}",
                    k * block,
                    fs_max + 1
                ),
            });
        };
        if !complete || r.overrun() {
            let first_px = k * block;
            return Err(CodecError::Truncated {
                detail: format!(
                    "RICE_1 data of {} bytes ends inside block {k} (pixels {first_px}..{}) of a {}-pixel tile",
                    input.len(),
                    first_px + chunk.len(),
                    out.len()
                ),
            });
        }
    }
    Ok(())
}

/// Decodes one Rice-coded block with split `fs` (< 25). `false` when the input ended inside a
/// run of zeros (the caller reports it).
#[inline(always)]
fn rice_block<const B: usize>(r: &mut BitReader<'_>, fs: u32, chunk: &mut [i32], last: &mut u32) -> bool {
    // After a refill the buffer holds at least 56 bits: refill once per group of values that
    // typically fit (a value takes fs + 1 bits plus its run of zeros, usually 0 to 3). A value
    // that does not fit takes the slow path, which refills.
    let done = if fs <= 9 {
        rice_groups::<B, 3>(r, fs, chunk, last)
    } else if fs <= 15 {
        rice_groups::<B, 2>(r, fs, chunk, last)
    } else {
        rice_groups::<B, 1>(r, fs, chunk, last)
    };
    done.is_some()
}

/// [`rice_block`] refilling once per `G` values.
#[inline(always)]
fn rice_groups<const B: usize, const G: usize>(
    r: &mut BitReader<'_>,
    fs: u32,
    chunk: &mut [i32],
    last: &mut u32,
) -> Option<()> {
    let mut groups = chunk.chunks_exact_mut(G);
    for group in &mut groups {
        r.refill();
        for px in group.iter_mut() {
            *last = last.wrapping_add(unzigzag(r.rice_value(fs)?));
            *px = to_pixel::<B>(*last);
        }
    }
    for px in groups.into_remainder() {
        r.refill();
        *last = last.wrapping_add(unzigzag(r.rice_value(fs)?));
        *px = to_pixel::<B>(*last);
    }
    Some(())
}

// ---------------------------------------------------------------------------------------------
// Encoding

/// Writes bits most significant first. The low `n` bits of `acc` are pending (`n < 32` between
/// calls); the bits above them are stale.
struct BitWriter {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl BitWriter {
    /// Appends the low `bits` bits (0 ..= 32) of `v`.
    #[inline(always)]
    fn put(&mut self, v: u32, bits: u32) {
        let mask = (1u64 << bits) - 1;
        self.acc = (self.acc << bits) | (u64::from(v) & mask);
        self.n += bits;
        if self.n >= 32 {
            self.n -= 32;
            self.out.extend_from_slice(&((self.acc >> self.n) as u32).to_be_bytes());
        }
    }

    /// Appends `count` zero bits.
    fn zeros(&mut self, mut count: u32) {
        while count > 32 {
            self.put(0, 32);
            count -= 32;
        }
        self.put(0, count);
    }

    /// Pads the last byte with zero bits and returns the bytes.
    fn finish(mut self) -> Vec<u8> {
        while self.n >= 8 {
            self.n -= 8;
            self.out.push((self.acc >> self.n) as u8);
        }
        if self.n > 0 {
            self.out.push((self.acc << (8 - self.n)) as u8);
        }
        self.out
    }
}

/// The zig-zag mapped difference `p - prev` in the width of `B`-byte pixels.
#[inline(always)]
fn zigzag<const B: usize>(delta: u32) -> u32 {
    let shift = 32 - 8 * B as u32;
    // Sign-extend the difference from the pixel width, then map to 0, 1, 2, ...; the result is
    // below 2^(8 B).
    let d = ((delta << shift) as i32) >> shift;
    ((d << 1) ^ (d >> 31)) as u32
}

/// The split cfitsio chooses for a block of `n` mapped differences summing to `sum`
/// (the arithmetic of `fits_rcomp`, in double precision as there).
fn choose_split(diffs: &[u32], sum: u64) -> u32 {
    let n = diffs.len();
    // cfitsio sums in a double; below 2^53 every partial sum is exact, so the integer sum is the
    // same number. Only absurd block sizes could exceed it: then sum as cfitsio does.
    let pixelsum = if sum < (1u64 << 53) { sum as f64 } else { diffs.iter().fold(0.0, |a, &d| a + f64::from(d)) };
    let dpsum = ((pixelsum - (n / 2) as f64 - 1.0) / n as f64).max(0.0);
    // dpsum is at most the largest difference, so it fits the pixel width's unsigned type.
    let psum = (dpsum as u32) >> 1;
    32 - psum.leading_zeros()
}

fn encode_width<const B: usize>(pixels: &[i32], block: usize) -> Vec<u8> {
    let Some(&first) = pixels.first() else {
        return Vec::new();
    };
    let code_bits = code_bits(B);
    let fs_max = fs_max(B);
    let raw_bits = 8 * B as u32;
    let mut w = BitWriter { out: Vec::with_capacity(pixels.len() * B / 2 + 16), acc: 0, n: 0 };
    w.put(first as u32, raw_bits);
    let mut last = first as u32;
    let mut diffs = vec![0u32; block.min(pixels.len())];

    for chunk in pixels.chunks(block) {
        let d = &mut diffs[..chunk.len()];
        let mut sum = 0u64;
        for (slot, &p) in d.iter_mut().zip(chunk) {
            let p = p as u32;
            *slot = zigzag::<B>(p.wrapping_sub(last));
            sum += u64::from(*slot);
            last = p;
        }
        let fs = choose_split(d, sum);
        if fs >= fs_max {
            w.put(fs_max + 1, code_bits);
            for &v in d.iter() {
                w.put(v, raw_bits);
            }
        } else if sum == 0 {
            // fs is 0 here.
            w.put(0, code_bits);
        } else {
            w.put(fs + 1, code_bits);
            let low_mask = (1u32 << fs) - 1;
            for &v in d.iter() {
                let top = v >> fs;
                let tail = (1u32 << fs) | (v & low_mask);
                if top + 1 + fs <= 32 {
                    w.put(tail, top + 1 + fs);
                } else {
                    w.zeros(top);
                    w.put(tail, fs + 1);
                }
            }
        }
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::test_rng::Rng;

    fn range_of(bytepix: usize) -> (i64, i64) {
        match bytepix {
            1 => (0, 255),
            2 => (i16::MIN.into(), i16::MAX.into()),
            _ => (i32::MIN.into(), i32::MAX.into()),
        }
    }

    fn clamp(v: i64, bytepix: usize) -> i32 {
        let (lo, hi) = range_of(bytepix);
        v.clamp(lo, hi) as i32
    }

    fn round_trip(pixels: &[i32], bytepix: usize, block: usize) -> Vec<u8> {
        let enc = encode(pixels, bytepix, block).expect("encode");
        let mut out = vec![7i32; pixels.len()];
        decode(&enc, bytepix, block, &mut out)
            .unwrap_or_else(|e| panic!("decode bytepix {bytepix} block {block} n {}: {e}", pixels.len()));
        assert_eq!(out, pixels, "bytepix {bytepix} block {block} n {}", pixels.len());
        enc
    }

    /// Data sets of `n` pixels in the range of `bytepix`.
    fn data_sets(bytepix: usize, n: usize, rng: &mut Rng) -> Vec<(String, Vec<i32>)> {
        let (lo, hi) = range_of(bytepix);
        let mid = (lo + hi) / 2;
        let mut sets = vec![
            ("zeros".to_string(), vec![0; n]),
            ("min".to_string(), vec![lo as i32; n]),
            ("max".to_string(), vec![hi as i32; n]),
            ("ramp".to_string(), (0..n).map(|i| clamp(mid + i as i64, bytepix)).collect()),
            ("wrapping ramp".to_string(), (0..n).map(|i| (lo + (i as i64 * 37) % (hi - lo + 1)) as i32).collect()),
            ("alternating extremes".to_string(), (0..n).map(|i| (if i % 2 == 0 { lo } else { hi }) as i32).collect()),
            ("uniform noise".to_string(), (0..n).map(|_| rng.range(lo, hi) as i32).collect()),
            (
                "sky".to_string(),
                (0..n).map(|i| clamp(mid / 3 + 100 + (i as i64 % 97) + rng.gauss(6.0) as i64, bytepix)).collect(),
            ),
        ];
        for sigma in [0.3, 2.0, 40.0, 3000.0, 1e6, 1e9] {
            let base = if bytepix == 1 { 128 } else { 0 };
            sets.push((
                format!("noise {sigma}"),
                (0..n).map(|_| clamp(base + rng.gauss(sigma) as i64, bytepix)).collect(),
            ));
        }
        // Mostly constant with rare spikes: long runs of zeros in the Rice code.
        sets.push((
            "spikes".to_string(),
            (0..n)
                .map(|i| {
                    if i % 29 == 5 {
                        hi as i32
                    } else if i % 31 == 7 {
                        lo as i32
                    } else {
                        mid as i32
                    }
                })
                .collect(),
        ));
        sets
    }

    #[test]
    fn rice_round_trips() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for bytepix in [1, 2, 4] {
            for n in [0, 1, 2, 15, 16, 17, 31, 32, 33, 64, 100, 1000, 1001] {
                for (name, data) in data_sets(bytepix, n, &mut rng) {
                    for block in [16, 32, 1, 7, 64] {
                        let enc = round_trip(&data, bytepix, block);
                        if n == 0 {
                            assert!(enc.is_empty(), "{name}");
                        } else {
                            assert!(enc.len() > bytepix, "{name}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn rice_known_streams() {
        // Three equal 16-bit pixels: the first pixel, then code 0 (4 bits), padded.
        assert_eq!(encode(&[5, 5, 5], 2, 32).unwrap(), [0x00, 0x05, 0x00]);
        // Bytes 10, 11, 9 with blocks of 32: differences 0, 1, -2 map to 0, 2, 3; sum 5, so
        // dpsum = (5 - 1 - 1) / 3 = 1, psum = 0, fs = 0: code 1 (3 bits), then 1, 001, 0001.
        // Bits: 00001010 | 001 1 001 0 | 001 + padding.
        assert_eq!(encode(&[10, 11, 9], 1, 32).unwrap(), [0x0a, 0b0011_0010, 0b0010_0000]);
        let mut out = [0; 3];
        decode(&[0x0a, 0b0011_0010, 0b0010_0000], 1, 32, &mut out).unwrap();
        assert_eq!(out, [10, 11, 9]);
        // A 4-byte pixel with high entropy: code 26 then 32 raw bits.
        let enc = encode(&[0, i32::MIN], 4, 32).unwrap();
        let mut out = [0; 2];
        decode(&enc, 4, 32, &mut out).unwrap();
        assert_eq!(out, [0, i32::MIN]);
        assert_eq!(enc[4] >> 3, 26);
    }

    #[test]
    fn rice_signedness() {
        // Bit patterns: bytes decode unsigned, 16 and 32 bits signed.
        let mut out = [0; 2];
        decode(&encode(&[255, 0], 1, 32).unwrap(), 1, 32, &mut out).unwrap();
        assert_eq!(out, [255, 0]);
        decode(&encode(&[-1, i16::MIN.into()], 2, 32).unwrap(), 2, 32, &mut out).unwrap();
        assert_eq!(out, [-1, -32768]);
        // 0xFFFF followed by zero differences decodes to -1 for 2-byte pixels.
        decode(&[0xff, 0xff, 0x00], 2, 32, &mut out).unwrap();
        assert_eq!(out, [-1, -1]);
        decode(&[0xff, 0x00], 1, 32, &mut out).unwrap();
        assert_eq!(out, [255, 255]);
    }

    #[test]
    fn rice_rejects_bad_parameters() {
        for (pixels, bytepix) in [(vec![0, 256], 1), (vec![-1], 1), (vec![0, 1, 40000], 2), (vec![-32769], 2)] {
            match encode(&pixels, bytepix, 32) {
                Err(CodecError::Unsupported { detail }) => assert!(detail.contains("pixel"), "{detail}"),
                other => panic!("{other:?}"),
            }
        }
        for bytepix in [0, 3, 8] {
            assert!(matches!(encode(&[1], bytepix, 32), Err(CodecError::Unsupported { .. })));
            assert!(matches!(decode(&[0; 8], bytepix, 32, &mut [0; 2]), Err(CodecError::Unsupported { .. })));
        }
        assert!(matches!(encode(&[1], 2, 0), Err(CodecError::Unsupported { .. })));
        assert!(matches!(decode(&[0; 8], 2, 0, &mut [0; 2]), Err(CodecError::Unsupported { .. })));
        // Too short for the first pixel; empty output never looks at the input.
        assert!(matches!(decode(&[1], 2, 32, &mut [0; 1]), Err(CodecError::Truncated { .. })));
        assert!(decode(&[], 4, 32, &mut []).is_ok());
        // Code 27 does not exist for 4-byte pixels.
        assert!(matches!(decode(&[0, 0, 0, 0, 27 << 3, 0], 4, 32, &mut [0; 2]), Err(CodecError::Corrupt { .. })));
        // A stream cut short.
        let enc = encode(&(0..100).collect::<Vec<_>>(), 2, 32).unwrap();
        match decode(&enc[..enc.len() - 2], 2, 32, &mut [0; 100]) {
            Err(CodecError::Truncated { detail }) => assert!(detail.contains("block"), "{detail}"),
            other => panic!("{other:?}"),
        }
    }

    fn corpus(name: &str) -> Vec<u8> {
        let path = format!("{}/../../testdata/corpus/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn be_i32(b: &[u8], at: usize) -> i32 {
        i32::from_be_bytes(b[at..at + 4].try_into().unwrap())
    }

    /// The compressed bytes of every row of a tile-compressed HDU whose first column is a 'P'
    /// descriptor; the heap follows the rows directly.
    fn tiles(file: &[u8], hdu: usize, row_len: usize, rows: usize) -> Vec<&[u8]> {
        let index = crate::IndexDecoder::decode_all(file).expect("index");
        let start = index.hdus[hdu].layout.data_start as usize;
        let heap = start + row_len * rows;
        (0..rows)
            .map(|r| {
                let count = be_i32(file, start + r * row_len) as usize;
                let offset = be_i32(file, start + r * row_len + 4) as usize;
                &file[heap + offset..heap + offset + count]
            })
            .collect()
    }

    fn m13_rows() -> Vec<Vec<i32>> {
        let plain = corpus("m13.fits");
        let index = crate::IndexDecoder::decode_all(&plain).expect("index");
        let start = index.hdus[0].layout.data_start as usize;
        assert_eq!(start, 2880);
        plain[start..start + 300 * 300 * 2]
            .chunks_exact(600)
            .map(|row| row.chunks_exact(2).map(|p| i32::from(i16::from_be_bytes([p[0], p[1]]))).collect())
            .collect()
    }

    /// The RICE_1 m13 file (cfitsio, 2006) has no BYTEPIX keyword, so its 16-bit pixels were
    /// coded with the default of 4 bytes per pixel (the tiles start with a 4-byte first pixel).
    #[test]
    fn rice_m13_matches_plain_image() {
        let file = corpus("m13_rice.fits");
        let index = crate::IndexDecoder::decode_all(&file).expect("index");
        assert_eq!(index.hdus[1].layout.data_start, 8640);
        let rows = m13_rows();
        let tiles = tiles(&file, 1, 8, 300);
        let mut out = vec![0i32; 300];
        for (r, (tile, row)) in tiles.iter().zip(&rows).enumerate() {
            decode(tile, 4, 32, &mut out).unwrap_or_else(|e| panic!("row {r}: {e}"));
            assert_eq!(&out, row, "row {r}");
            // cfitsio wrote the file: our encoder writes the same bytes.
            let enc = encode(row, 4, 32).expect("encode");
            assert_eq!(&enc, tile, "row {r} re-encoded byte for byte");
            // Decoding with the wrong width must not panic (it fails or gives other pixels).
            let _ = decode(tile, 2, 32, &mut out);
            let _ = decode(tile, 1, 32, &mut out);
            // The same rows as 2-byte RICE_1 (what cfitsio writes today, with BYTEPIX = 2).
            let enc2 = encode(row, 2, 32).expect("encode");
            assert!(enc2.len() < enc.len());
            decode(&enc2, 2, 32, &mut out).expect("decode 2-byte");
            assert_eq!(&out, row, "row {r}, 2 bytes per pixel");
        }
    }

    #[test]
    fn rice_compressed_with_nan_tiles_decode() {
        let file = corpus("compressed_with_nan.fits");
        let mut out = [0i32; 36];
        for (t, tile) in tiles(&file, 1, 24, 4).into_iter().enumerate() {
            decode(tile, 4, 32, &mut out).unwrap_or_else(|e| panic!("tile {t}: {e}"));
            // Re-encoding gives a stream that decodes to the same pixels.
            let enc = encode(&out, 4, 32).unwrap();
            let mut back = [0i32; 36];
            decode(&enc, 4, 32, &mut back).unwrap();
            assert_eq!(back, out);
            assert_eq!(enc, tile, "tile {t} re-encoded byte for byte");
        }
    }

    #[test]
    fn rice_corrupt_input_never_panics() {
        let mut rng = Rng(12345);
        let mut streams = Vec::new();
        for bytepix in [1, 2, 4] {
            for (_, data) in data_sets(bytepix, 200, &mut rng).into_iter().step_by(2) {
                streams.push((bytepix, encode(&data, bytepix, 32).unwrap(), data.len()));
            }
        }
        let file = corpus("m13_rice.fits");
        for tile in tiles(&file, 1, 8, 300).into_iter().step_by(50) {
            streams.push((4, tile.to_vec(), 300));
        }
        let mut calls = 0usize;
        let mut out = vec![0i32; 400];
        let mut run = |input: &[u8], bytepix: usize, n: usize, block: usize| {
            let _ = decode(input, bytepix, block, &mut out[..n]);
            calls += 1;
        };
        for (bytepix, enc, n) in &streams {
            for cut in 0..enc.len() {
                let r = decode(&enc[..cut], *bytepix, 32, &mut vec![0; *n]);
                assert!(r.is_err() || *n == 0, "cut {cut} of {}", enc.len());
                run(&enc[..cut], *bytepix, *n, 32);
            }
            for _ in 0..60 {
                let mut bad = enc.clone();
                for _ in 0..1 + rng.next() % 4 {
                    let at = (rng.next() % bad.len() as u64) as usize;
                    bad[at] ^= 1 << (rng.next() % 8);
                }
                run(&bad, *bytepix, *n, 32);
                let at = (rng.next() % bad.len() as u64) as usize;
                bad[at] = rng.next() as u8;
                run(&bad, *bytepix, *n, [32, 16, 1, 5][(rng.next() % 4) as usize]);
                // More pixels than were encoded: must stop at the end of the data.
                run(&bad, *bytepix, 400, 32);
            }
        }
        for _ in 0..3000 {
            let len = (rng.next() % 64) as usize;
            let garbage: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let bytepix = [1, 2, 4][(rng.next() % 3) as usize];
            let n = (rng.next() % 400) as usize;
            run(&garbage, bytepix, n, [32, 16, 1, 3][(rng.next() % 4) as usize]);
        }
        // Long runs of zero bytes and of 0xff bytes.
        for byte in [0x00, 0xff, 0x01, 0x80] {
            for bytepix in [1, 2, 4] {
                let mut data = vec![byte; 300];
                run(&data, bytepix, 400, 32);
                data[bytepix] = 0x20; // a small split code, then the run
                run(&data, bytepix, 400, 32);
            }
        }
        assert!(calls > 5000, "{calls}");
    }

    #[test]
    fn rice_huge_zero_run_is_bounded() {
        // A Rice block whose first value's run of zeros covers a megabyte: slow but bounded,
        // and reported as truncated.
        let mut data = vec![0u8; 1 << 20];
        data[2] = 0x10; // 16-bit pixels, code 1 (fs = 0)
        let mut out = vec![0; 10];
        assert!(matches!(decode(&data, 2, 32, &mut out), Err(CodecError::Truncated { .. })));
        // The same run ended by a one bit decodes to a huge (wrapped) difference.
        let last = data.len() - 1;
        data[last] = 1;
        assert!(decode(&data, 2, 32, &mut out[..1]).is_ok());
    }

    #[test]
    fn rice_decode_speed() {
        let mut rng = Rng(777);
        let n = 4_000_000;
        // A sky-like 16-bit image: background, gradient, noise of a few counts.
        let pixels: Vec<i32> =
            (0..n).map(|i| clamp(1000 + (i % 4000) as i64 / 40 + rng.gauss(8.0).round() as i64, 2)).collect();
        let rows: Vec<Vec<u8>> = pixels.chunks(4000).map(|row| encode(row, 2, 32).unwrap()).collect();
        let bytes: usize = rows.iter().map(Vec::len).sum();
        let mut out = vec![0i32; 4000];
        let mut best = f64::INFINITY;
        for _ in 0..5 {
            let t = std::time::Instant::now();
            for row in &rows {
                decode(row, 2, 32, &mut out).unwrap();
            }
            best = best.min(t.elapsed().as_secs_f64());
        }
        decode(&rows[rows.len() - 1], 2, 32, &mut out).unwrap();
        assert_eq!(out, pixels[n - 4000..]);
        let t = std::time::Instant::now();
        for row in pixels.chunks(4000) {
            std::hint::black_box(encode(row, 2, 32).unwrap());
        }
        let enc_time = t.elapsed().as_secs_f64();
        println!(
            "RICE_1 16-bit sky, {:.2} bits/pixel: decode {:.0} Mpixel/s, encode {:.0} Mpixel/s",
            bytes as f64 * 8.0 / n as f64,
            n as f64 / best / 1e6,
            n as f64 / enc_time / 1e6
        );

        // m13, row by row.
        let file = corpus("m13_rice.fits");
        let tiles = tiles(&file, 1, 8, 300);
        let mut out = vec![0i32; 300];
        let mut best = f64::INFINITY;
        for _ in 0..20 {
            let t = std::time::Instant::now();
            for tile in &tiles {
                decode(tile, 4, 32, &mut out).unwrap();
            }
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!("RICE_1 m13 (300 tiles of 300 pixels): decode {:.0} Mpixel/s", 90_000.0 / best / 1e6);
    }
}
