//! HCOMPRESS_1: R. White's H-transform codec, byte-compatible with cfitsio's `fits_hcompress`.
//!
//! A tile is transformed with the H-transform (a 2-D Haar-like wavelet that keeps integers
//! exact), optionally quantized by dividing every coefficient by `scale`, and the coefficient
//! magnitudes are coded bit plane by bit plane with a quadtree code, separately for four
//! quadrants of the coefficient array. The stream is:
//!
//! * the magic bytes `0xDD 0x99`;
//! * three big-endian `i32`: the number of rows (the tile's second axis, ZTILE2), the row
//!   length (the fastest axis, ZTILE1) and the scale. cfitsio's hcompress calls the row count
//!   `nx` and the row length `ny` — the reverse of FITS usage — and writes the row count first;
//! * a big-endian `i64`: coefficient 0 (the sum of all pixels, which codes badly);
//! * three bytes: the number of bit planes of quadrant 0, of quadrants 1 and 2 (which share
//!   it), and of quadrant 3;
//! * a bit stream (most significant bit first): for each quadrant and each of its bit planes
//!   from the top, either the nybble `0xF` followed by the quadtree's Huffman codes, or the
//!   nybble `0` followed by the plane's 2x2 blocks as raw nybbles (used where the quadtree would
//!   be longer); then a `0` nybble as end marker and zero bits up to the byte's end;
//! * one sign bit (1 = negative) per non-zero coefficient, in array order, padded to a byte.
//!
//! Decoding checks the stream's dimensions against the tile's, works in place in the caller's
//! buffer with scratch space bounded by the tile's size, uses wrapping arithmetic on untrusted
//! values, and returns a [`CodecError`] on corrupt or truncated input instead of panicking.

use super::CodecError;

/// The two bytes every HCOMPRESS stream starts with.
const MAGIC: [u8; 2] = [0xDD, 0x99];
/// Magic, row count, row length, scale, sum of all pixels, three bit plane counts.
const HEADER_LEN: usize = 2 + 4 + 4 + 4 + 8 + 3;
/// Coefficients are 64-bit, so no quadrant can have more bit planes.
const MAX_PLANES: u8 = 64;

/// Huffman codes of the 4-bit quadtree values 0..=15 (cfitsio's `code`).
const CODE: [u8; 16] = [0x3e, 0x00, 0x01, 0x08, 0x02, 0x09, 0x1a, 0x1b, 0x03, 0x1c, 0x0a, 0x1d, 0x0b, 0x1e, 0x3f, 0x0c];
/// Lengths in bits of those codes (cfitsio's `ncode`).
const CODE_LEN: [u8; 16] = [6, 3, 3, 4, 3, 4, 5, 5, 3, 5, 4, 5, 4, 5, 6, 4];

/// Decoding table indexed by the next 6 bits: (value, code length). The code is complete
/// (its Kraft sum is 1), so every 6-bit pattern starts with exactly one code.
const HUFFMAN: [(u8, u8); 64] = huffman_table();

const fn huffman_table() -> [(u8, u8); 64] {
    let mut table = [(0u8, 0u8); 64];
    let mut v = 0;
    while v < 16 {
        let len = CODE_LEN[v] as usize;
        let first = (CODE[v] as usize) << (6 - len);
        let mut s = 0;
        while s < (1 << (6 - len)) {
            table[first + s] = (v as u8, len as u8);
            s += 1;
        }
        v += 1;
    }
    table
}

/// log2 of `n` rounded up (0 for 0 and 1): the number of H-transform or quadtree levels.
fn ceil_log2(n: usize) -> u32 {
    if n <= 1 { 0 } else { usize::BITS - (n - 1).leading_zeros() }
}

/// One of the four quadrants of the coefficient array that are coded separately.
#[derive(Debug, Clone, Copy)]
struct Quadrant {
    /// Index of the quadrant's first coefficient.
    base: usize,
    /// Rows in the quadrant (may be 0).
    rows: usize,
    /// Coefficients per row in the quadrant (may be 0).
    cols: usize,
    /// Which of the three bit plane counts applies.
    planes: usize,
}

/// The quadrants of a `rows` x `cols` coefficient array, in stream order.
fn quadrants(rows: usize, cols: usize) -> [Quadrant; 4] {
    let (r2, c2) = (rows.div_ceil(2), cols.div_ceil(2));
    [
        Quadrant { base: 0, rows: r2, cols: c2, planes: 0 },
        Quadrant { base: c2, rows: r2, cols: cols / 2, planes: 1 },
        Quadrant { base: cols * r2, rows: rows / 2, cols: c2, planes: 1 },
        Quadrant { base: cols * r2 + c2, rows: rows / 2, cols: cols / 2, planes: 2 },
    ]
}

/// Size of the quadtree scratch array: the largest quadrant's 2x2-block grid, at least 1x1.
fn scratch_len(rows: usize, cols: usize) -> usize {
    let (r2, c2) = (rows.div_ceil(2), cols.div_ceil(2));
    r2.div_ceil(2).max(1) * c2.div_ceil(2).max(1)
}

/// Checks the tile size: non-empty, within the stream's 32-bit fields; returns the pixel count.
fn tile_len(nx: usize, ny: usize) -> Result<usize, CodecError> {
    if nx == 0 || ny == 0 {
        return Err(CodecError::Unsupported { detail: format!("HCOMPRESS of an empty {nx}x{ny} tile") });
    }
    let max = i32::MAX as usize;
    match nx.checked_mul(ny) {
        Some(n) if nx <= max && ny <= max => Ok(n),
        _ => Err(CodecError::Unsupported { detail: format!("HCOMPRESS tile of {nx}x{ny} pixels is too large") }),
    }
}

// ------------------------------------------------------------------------------------------
// Encoding
// ------------------------------------------------------------------------------------------

/// Encodes a tile (`pixels` row after row, `nx` wide, `ny` high) with quantization `scale`
/// (the ZVAL of ZNAME 'SCALE'; 0 = lossless).
///
/// The output is byte-identical to cfitsio's for the same pixels and scale. cfitsio computes
/// the integer scale itself (from a relative SCALE and the tile's noise) before calling the
/// codec; this function takes the final, absolute scale. With `scale` > 1 the coefficients
/// are rounded to multiples of `scale`, so decoded pixels differ from the originals by about
/// `scale / 2` or less.
///
/// Fails with [`CodecError::Unsupported`] for an empty tile, a `pixels` slice that does not
/// hold `nx * ny` values, a negative scale, or pixel values so large that the transform could
/// overflow 64 bits (about `2^58` divided by the tile's larger dimension rounded up to a power
/// of two; 32-bit images are always fine).
pub fn encode(pixels: &[i64], nx: usize, ny: usize, scale: i32) -> Result<Vec<u8>, CodecError> {
    let n = tile_len(nx, ny)?;
    if pixels.len() != n {
        return Err(CodecError::Unsupported {
            detail: format!("{} pixels given for a {nx}x{ny} tile of {n}", pixels.len()),
        });
    }
    if scale < 0 {
        return Err(CodecError::Unsupported { detail: format!("negative HCOMPRESS scale {scale}") });
    }
    // The transform's sums grow by at most 2^(log2n + 2) over the pixels' magnitude; keep them
    // well inside i64.
    let (rows, cols) = (ny, nx);
    let log2n = ceil_log2(rows.max(cols));
    let limit = 1u64 << 58u32.saturating_sub(log2n);
    let max_abs = pixels.iter().map(|v| v.unsigned_abs()).max().unwrap_or(0);
    if max_abs >= limit {
        return Err(CodecError::Unsupported {
            detail: format!("pixel magnitude {max_abs} too large for HCOMPRESS of a {nx}x{ny} tile (limit {limit})"),
        });
    }

    let mut a = pixels.to_vec();
    htrans(&mut a, rows, cols);
    digitize(&mut a, scale);

    let mut out = Vec::with_capacity(HEADER_LEN + n / 2 + 16);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&(rows as i32).to_be_bytes());
    out.extend_from_slice(&(cols as i32).to_be_bytes());
    out.extend_from_slice(&scale.to_be_bytes());
    out.extend_from_slice(&a[0].to_be_bytes());
    a[0] = 0;

    // Sign bits of the non-zero coefficients; the array keeps the magnitudes.
    let mut signs = Vec::with_capacity(n.div_ceil(8));
    let (mut byte, mut nbits) = (0u8, 0u32);
    for v in a.iter_mut() {
        if *v != 0 {
            byte = (byte << 1) | u8::from(*v < 0);
            nbits += 1;
            *v = v.abs();
            if nbits == 8 {
                signs.push(byte);
                (byte, nbits) = (0, 0);
            }
        }
    }
    if nbits > 0 {
        signs.push(byte << (8 - nbits));
    }

    // Bit planes per quadrant: 0 = top left, 1 = top right or bottom left, 2 = bottom right.
    let (r2, c2) = (rows.div_ceil(2), cols.div_ceil(2));
    let mut vmax = [0i64; 3];
    for (k, row) in a.chunks_exact(cols).enumerate() {
        for (j, &v) in row.iter().enumerate() {
            let q = usize::from(j >= c2) + usize::from(k >= r2);
            vmax[q] = vmax[q].max(v);
        }
    }
    let nbitplanes = vmax.map(|v| (64 - v.leading_zeros()) as u8);
    out.extend_from_slice(&nbitplanes);

    let mut w = BitWriter { out, acc: 0, nacc: 0 };
    let mut scratch = vec![0u8; scratch_len(rows, cols)];
    let mut symbols = Vec::new();
    for quad in quadrants(rows, cols) {
        qtree_encode(&mut w, &a, cols, quad, nbitplanes[quad.planes], &mut scratch, &mut symbols);
    }
    w.write(0, 4); // end marker
    let mut out = w.finish();
    out.extend_from_slice(&signs);
    Ok(out)
}

/// The forward H-transform of a `rows` x `cols` array, in place (cfitsio's `htrans`).
fn htrans(a: &mut [i64], rows: usize, cols: usize) {
    let nmax = rows.max(cols);
    let log2n = ceil_log2(nmax);
    let mut tmp = vec![0i64; nmax.div_ceil(2)];
    let mut shift = 0u32;
    let mut mask: i64 = -2;
    let mut mask2 = mask << 1;
    let mut prnd: i64 = 1;
    let mut prnd2 = prnd << 1;
    let mut nrnd2 = prnd2 - 1;
    let round1 = |h: i64, prnd: i64, mask: i64| (if h >= 0 { h + prnd } else { h }) & mask;
    let round2 = |h: i64, prnd2: i64, nrnd2: i64, mask2: i64| (if h >= 0 { h + prnd2 } else { h + nrnd2 }) & mask2;
    let (mut rtop, mut ctop) = (rows, cols);
    for _ in 0..log2n {
        let (oddr, oddc) = (rtop % 2, ctop % 2);
        let mut i = 0;
        while i < rtop - oddr {
            let mut s00 = i * cols;
            let mut s10 = s00 + cols;
            let mut j = 0;
            while j < ctop - oddc {
                let (p00, p01, p10, p11) = (a[s00], a[s00 + 1], a[s10], a[s10 + 1]);
                let h0 = (p11 + p10 + p01 + p00) >> shift;
                let hx = (p11 + p10 - p01 - p00) >> shift;
                let hy = (p11 - p10 + p01 - p00) >> shift;
                let hc = (p11 - p10 - p01 + p00) >> shift;
                a[s10 + 1] = hc;
                a[s10] = round1(hx, prnd, mask);
                a[s00 + 1] = round1(hy, prnd, mask);
                a[s00] = round2(h0, prnd2, nrnd2, mask2);
                s00 += 2;
                s10 += 2;
                j += 2;
            }
            if oddc == 1 {
                // Last element of an odd-length row pair.
                let h0 = (a[s10] + a[s00]) << (1 - shift);
                let hx = (a[s10] - a[s00]) << (1 - shift);
                a[s10] = round1(hx, prnd, mask);
                a[s00] = round2(h0, prnd2, nrnd2, mask2);
            }
            i += 2;
        }
        if oddr == 1 {
            // Last row of an odd number of rows (i == rtop - 1).
            let mut s00 = i * cols;
            let mut j = 0;
            while j < ctop - oddc {
                let h0 = (a[s00 + 1] + a[s00]) << (1 - shift);
                let hy = (a[s00 + 1] - a[s00]) << (1 - shift);
                a[s00 + 1] = round1(hy, prnd, mask);
                a[s00] = round2(h0, prnd2, nrnd2, mask2);
                s00 += 2;
                j += 2;
            }
            if oddc == 1 {
                let h0 = a[s00] << (2 - shift);
                a[s00] = round2(h0, prnd2, nrnd2, mask2);
            }
        }
        // Group the coefficients by order: even positions first, then odd ones.
        for i in 0..rtop {
            shuffle(a, cols * i, ctop, 1, &mut tmp);
        }
        for j in 0..ctop {
            shuffle(a, j, rtop, cols, &mut tmp);
        }
        rtop = rtop.div_ceil(2);
        ctop = ctop.div_ceil(2);
        shift = 1;
        mask = mask2;
        prnd = prnd2;
        mask2 <<= 1;
        prnd2 <<= 1;
        nrnd2 = prnd2 - 1;
    }
}

/// Moves the `n` elements `a[base + i * stride]` at even `i` to the front and those at odd `i`
/// behind them, keeping their order.
fn shuffle(a: &mut [i64], base: usize, n: usize, stride: usize, tmp: &mut [i64]) {
    let odd = n / 2;
    for (t, slot) in tmp[..odd].iter_mut().enumerate() {
        *slot = a[base + (2 * t + 1) * stride];
    }
    for i in 1..n.div_ceil(2) {
        a[base + i * stride] = a[base + 2 * i * stride];
    }
    let half = n.div_ceil(2);
    for (t, v) in tmp[..odd].iter().enumerate() {
        a[base + (half + t) * stride] = *v;
    }
}

/// Rounds the coefficients to multiples of `scale`, keeping the quotients (cfitsio's `digitize`).
fn digitize(a: &mut [i64], scale: i32) {
    if scale <= 1 {
        return;
    }
    let scale = i64::from(scale);
    let d = (scale + 1) / 2 - 1;
    for v in a.iter_mut() {
        *v = (if *v > 0 { *v + d } else { *v - d }) / scale;
    }
}

/// Most-significant-bit-first bit output after the stream's header.
struct BitWriter {
    out: Vec<u8>,
    acc: u32,
    nacc: u32,
}

impl BitWriter {
    /// Appends the low `n` (<= 8) bits of `bits`.
    #[inline]
    fn write(&mut self, bits: u32, n: u32) {
        self.acc = (self.acc << n) | (bits & ((1 << n) - 1));
        self.nacc += n;
        if self.nacc >= 8 {
            self.nacc -= 8;
            self.out.push((self.acc >> self.nacc) as u8);
            self.acc &= (1 << self.nacc) - 1;
        }
    }

    /// Pads the last byte with zero bits and returns the bytes.
    fn finish(mut self) -> Vec<u8> {
        if self.nacc > 0 {
            self.out.push((self.acc << (8 - self.nacc)) as u8);
        }
        self.out
    }
}

/// Writes the bit planes of one quadrant (cfitsio's `qtree_encode`).
///
/// For each plane, the plane's bits are grouped in 2x2 blocks (one 4-bit value per block), then
/// repeatedly in 2x2 blocks of blocks (a value's bit set if that block is non-zero) up to a
/// single value. The non-zero values of all levels are Huffman-coded, finest level first, and
/// written in reverse, so that the decoder meets the coarsest level first. If that takes as
/// many bytes as half the 2x2-block grid, the plane is written directly instead.
fn qtree_encode(
    w: &mut BitWriter,
    a: &[i64],
    stride: usize,
    quad: Quadrant,
    nbitplanes: u8,
    scratch: &mut [u8],
    symbols: &mut Vec<u8>,
) {
    let (nqx, nqy) = (quad.rows, quad.cols);
    let log2n = ceil_log2(nqx.max(nqy));
    let (gx, gy) = (nqx.div_ceil(2), nqy.div_ceil(2));
    // cfitsio gives up on the quadtree once its packed codes fill `bmax` bytes (checked each
    // time a byte fills up, so at least one byte).
    let limit_bytes = ((gx * gy).div_ceil(2)).max(1);
    for bit in (0..u32::from(nbitplanes)).rev() {
        qtree_onebit(a, quad.base, stride, nqx, nqy, scratch, bit);
        symbols.clear();
        let mut total_bits = 0usize;
        let (mut x, mut y) = (gx, gy);
        let mut direct = push_codes(&scratch[..x * y], symbols, &mut total_bits, limit_bytes);
        let mut k = 1;
        while !direct && k < log2n {
            qtree_reduce(scratch, x, y);
            x = x.div_ceil(2);
            y = y.div_ceil(2);
            direct = push_codes(&scratch[..x * y], symbols, &mut total_bits, limit_bytes);
            k += 1;
        }
        if direct {
            w.write(0x0, 4);
            qtree_onebit(a, quad.base, stride, nqx, nqy, scratch, bit);
            for &v in &scratch[..gx * gy] {
                w.write(u32::from(v), 4);
            }
        } else {
            w.write(0xF, 4);
            if symbols.is_empty() {
                w.write(u32::from(CODE[0]), u32::from(CODE_LEN[0]));
            } else {
                for &s in symbols.iter().rev() {
                    w.write(u32::from(CODE[usize::from(s)]), u32::from(CODE_LEN[usize::from(s)]));
                }
            }
        }
    }
}

/// Appends the non-zero values of one quadtree level; true once the codes are too long.
fn push_codes(level: &[u8], symbols: &mut Vec<u8>, total_bits: &mut usize, limit_bytes: usize) -> bool {
    for &v in level {
        if v != 0 {
            symbols.push(v);
            *total_bits += usize::from(CODE_LEN[usize::from(v)]);
            if *total_bits / 8 >= limit_bytes {
                return true;
            }
        }
    }
    false
}

/// Bit `bit` of the quadrant's coefficients in 2x2 blocks: for each block, a 4-bit value with
/// bit 3 = (i, j), bit 2 = (i, j + 1), bit 1 = (i + 1, j), bit 0 = (i + 1, j + 1); positions
/// off the edge count as 0. The grid is `nqx.div_ceil(2)` x `nqy.div_ceil(2)`, row after row.
fn qtree_onebit(a: &[i64], base: usize, stride: usize, nqx: usize, nqy: usize, out: &mut [u8], bit: u32) {
    let b = |v: i64| ((v >> bit) & 1) as u8;
    let mut k = 0;
    for i in (0..nqx).step_by(2) {
        let s00 = base + i * stride;
        let s10 = s00 + stride;
        let has_next_row = i + 1 < nqx;
        for j in (0..nqy).step_by(2) {
            let mut v = b(a[s00 + j]) << 3;
            if j + 1 < nqy {
                v |= b(a[s00 + j + 1]) << 2;
            }
            if has_next_row {
                v |= b(a[s10 + j]) << 1;
                if j + 1 < nqy {
                    v |= b(a[s10 + j + 1]);
                }
            }
            out[k] = v;
            k += 1;
        }
    }
}

/// One quadtree reduction of an `x` x `y` grid, in place: each 2x2 block becomes a 4-bit value
/// whose bits say which of the block's entries are non-zero (cfitsio's `qtree_reduce`).
fn qtree_reduce(s: &mut [u8], x: usize, y: usize) {
    let mut k = 0;
    for i in (0..x).step_by(2) {
        let s00 = i * y;
        let s10 = s00 + y;
        let has_next_row = i + 1 < x;
        for j in (0..y).step_by(2) {
            let mut v = u8::from(s[s00 + j] != 0) << 3;
            if j + 1 < y {
                v |= u8::from(s[s00 + j + 1] != 0) << 2;
            }
            if has_next_row {
                v |= u8::from(s[s10 + j] != 0) << 1;
                if j + 1 < y {
                    v |= u8::from(s[s10 + j + 1] != 0);
                }
            }
            // k <= s00 + j, and every entry not yet read lies beyond s00 + j + 1.
            s[k] = v;
            k += 1;
        }
    }
}

// ------------------------------------------------------------------------------------------
// Decoding
// ------------------------------------------------------------------------------------------

/// Decodes HCOMPRESS_1 data of a tile `nx` pixels wide (the fastest axis, the tile's ZTILE1) and
/// `ny` rows high, into `out` (ny*nx values, row after row, fastest axis first).
/// `smooth` is the ZVAL of ZNAME 'SMOOTH' (non-zero: apply the decoder's smoothing).
///
/// Smoothing only changes anything for lossy streams (scale > 1): it nudges coefficients, by at
/// most half the scale, towards values interpolated from their neighbours, as cfitsio does.
///
/// Errors: [`CodecError::Corrupt`] for a bad magic code, impossible bit plane counts or codes,
/// [`CodecError::WrongSize`] (or `Corrupt`) when the stream is for another tile size,
/// [`CodecError::Truncated`] when the bytes end early, and [`CodecError::Unsupported`] for an
/// empty tile or an `out` that does not hold `nx * ny` values. After an error `out` holds
/// unspecified values.
pub fn decode(input: &[u8], nx: usize, ny: usize, smooth: bool, out: &mut [i64]) -> Result<(), CodecError> {
    let n = tile_len(nx, ny)?;
    if out.len() != n {
        return Err(CodecError::Unsupported {
            detail: format!("output buffer of {} values for a {nx}x{ny} tile of {n}", out.len()),
        });
    }
    if input.len() < HEADER_LEN {
        return Err(CodecError::Truncated {
            detail: format!("HCOMPRESS header needs {HEADER_LEN} bytes, the tile has {}", input.len()),
        });
    }
    if input[..2] != MAGIC {
        return Err(CodecError::Corrupt {
            detail: format!("HCOMPRESS magic code is {:02X} {:02X}, not DD 99", input[0], input[1]),
        });
    }
    let be32 = |at: usize| i32::from_be_bytes([input[at], input[at + 1], input[at + 2], input[at + 3]]);
    let (rows, cols, scale) = (be32(2), be32(6), be32(10));
    let mut sum_bytes = [0u8; 8];
    sum_bytes.copy_from_slice(&input[14..22]);
    let sumall = i64::from_be_bytes(sum_bytes);
    let nbitplanes = [input[22], input[23], input[24]];

    if i64::from(rows) != ny as i64 || i64::from(cols) != nx as i64 {
        let transposed =
            if i64::from(rows) == nx as i64 && i64::from(cols) == ny as i64 { " (axes swapped)" } else { "" };
        let detail = format!(
            "HCOMPRESS stream is for a tile {cols} wide and {rows} high{transposed}, expected {nx} wide and {ny} high"
        );
        return match (usize::try_from(rows), usize::try_from(cols)) {
            (Ok(r), Ok(c)) if transposed.is_empty() && r.checked_mul(c).is_some_and(|got| got != n) => {
                Err(CodecError::WrongSize { expected: n, got: r * c })
            }
            _ => Err(CodecError::Corrupt { detail }),
        };
    }
    if let Some(q) = nbitplanes.iter().position(|&p| p > MAX_PLANES) {
        return Err(CodecError::Corrupt {
            detail: format!("HCOMPRESS bit plane count {} (entry {q}) exceeds {MAX_PLANES}", nbitplanes[q]),
        });
    }

    let (rows, cols) = (ny, nx);
    let a = out;
    a.fill(0);
    let mut r = BitReader { data: &input[HEADER_LEN..], pos: 0 };
    let mut scratch = vec![0u8; scratch_len(rows, cols)];
    for (qi, quad) in quadrants(rows, cols).into_iter().enumerate() {
        qtree_decode(&mut r, a, cols, quad, qi, nbitplanes[quad.planes], &mut scratch)?;
    }
    let end = r.read(4);
    if r.overrun() {
        return Err(CodecError::Truncated { detail: "HCOMPRESS stream ends before its end marker".to_string() });
    }
    if end != 0 {
        return Err(CodecError::Corrupt {
            detail: format!("HCOMPRESS end marker is {end:X}, not 0 (bad bit plane values)"),
        });
    }

    // Sign bits, starting at the next byte.
    let signs = &input[HEADER_LEN + r.pos.div_ceil(8)..];
    let (mut idx, mut mask) = (0usize, 0x80u8);
    for v in a.iter_mut() {
        if *v != 0 {
            let Some(&byte) = signs.get(idx) else {
                return Err(CodecError::Truncated {
                    detail: format!("HCOMPRESS sign bits end after {} bytes", signs.len()),
                });
            };
            if byte & mask != 0 {
                *v = v.wrapping_neg();
            }
            mask >>= 1;
            if mask == 0 {
                (idx, mask) = (idx + 1, 0x80);
            }
        }
    }
    a[0] = sumall;

    if scale > 1 {
        let s = i64::from(scale);
        for v in a.iter_mut() {
            *v = v.wrapping_mul(s);
        }
    }
    hinv(a, rows, cols, smooth, scale);
    Ok(())
}

/// Most-significant-bit-first bit input; reading past the end gives zero bits and is noticed
/// through [`BitReader::overrun`].
struct BitReader<'a> {
    data: &'a [u8],
    /// Bits consumed.
    pos: usize,
}

impl BitReader<'_> {
    /// The next `n` (1..=8) bits, without consuming them.
    #[inline]
    fn peek(&self, n: u32) -> u32 {
        let at = self.pos >> 3;
        let b0 = u32::from(self.data.get(at).copied().unwrap_or(0));
        let b1 = u32::from(self.data.get(at + 1).copied().unwrap_or(0));
        let window = ((b0 << 8) | b1) << (self.pos & 7);
        (window >> (16 - n)) & ((1 << n) - 1)
    }

    /// Consumes and returns the next `n` (1..=8) bits.
    #[inline]
    fn read(&mut self, n: u32) -> u32 {
        let v = self.peek(n);
        self.pos += n as usize;
        v
    }

    /// Consumes one Huffman-coded quadtree value.
    #[inline]
    fn huffman(&mut self) -> u8 {
        let (v, len) = HUFFMAN[self.peek(6) as usize];
        self.pos += usize::from(len);
        v
    }

    /// Whether more bits were consumed than the data holds.
    fn overrun(&self) -> bool {
        self.pos > self.data.len() * 8
    }
}

/// Reads the bit planes of one quadrant into `a` (zeroed beforehand) (cfitsio's `qtree_decode`).
fn qtree_decode(
    r: &mut BitReader<'_>,
    a: &mut [i64],
    stride: usize,
    quad: Quadrant,
    qi: usize,
    nbitplanes: u8,
    scratch: &mut [u8],
) -> Result<(), CodecError> {
    let (nqx, nqy) = (quad.rows, quad.cols);
    let log2n = ceil_log2(nqx.max(nqy));
    let grid = nqx.div_ceil(2) * nqy.div_ceil(2);
    for bit in (0..u32::from(nbitplanes)).rev() {
        match r.read(4) {
            0x0 => {
                // Written directly: one nybble per 2x2 block.
                for s in &mut scratch[..grid] {
                    *s = r.read(4) as u8;
                }
            }
            0xF => {
                scratch[0] = r.huffman();
                // Expand level by level; the sizes follow n[k-1] = (n[k] + 1) / 2 with
                // n[log2n] = nqx or nqy (written as cfitsio does, which keeps an empty
                // dimension at 1; the scratch array allows for that).
                let (mut x, mut y) = (1usize, 1usize);
                let (mut fx, mut fy) = (nqx, nqy);
                let mut c = 1usize << log2n;
                for _ in 1..log2n {
                    c >>= 1;
                    grow_level(&mut x, &mut fx, c);
                    grow_level(&mut y, &mut fy, c);
                    qtree_expand(r, scratch, x, y);
                    if r.overrun() {
                        break;
                    }
                }
            }
            code => {
                return Err(CodecError::Corrupt {
                    detail: format!("HCOMPRESS bit plane {bit} of quadrant {qi} has format code {code:X}, not 0 or F"),
                });
            }
        }
        if r.overrun() {
            return Err(CodecError::Truncated {
                detail: format!("HCOMPRESS stream ends in bit plane {bit} of quadrant {qi}"),
            });
        }
        qtree_bitins(scratch, nqx, nqy, a, quad.base, stride, bit);
    }
    Ok(())
}

/// One quadtree expansion, in place: the `x.div_ceil(2)` x `y.div_ceil(2)` grid of 4-bit
/// values becomes an `x` x `y` grid of 0/1 flags, and each set flag is replaced by the next
/// Huffman value, reading the grid backwards (cfitsio's `qtree_expand`).
fn qtree_expand(r: &mut BitReader<'_>, s: &mut [u8], x: usize, y: usize) {
    let (x2, y2) = (x.div_ceil(2), y.div_ceil(2));
    // Spread the values to the even positions, from the end so nothing is overwritten unread.
    for i in (0..x2).rev() {
        for j in (0..y2).rev() {
            s[2 * (i * y + j)] = s[i * y2 + j];
        }
    }
    for i in (0..x).step_by(2) {
        let s00 = i * y;
        let s10 = s00 + y;
        let has_next_row = i + 1 < x;
        for j in (0..y).step_by(2) {
            let v = s[s00 + j];
            s[s00 + j] = (v >> 3) & 1;
            if j + 1 < y {
                s[s00 + j + 1] = (v >> 2) & 1;
            }
            if has_next_row {
                s[s10 + j] = (v >> 1) & 1;
                if j + 1 < y {
                    s[s10 + j + 1] = v & 1;
                }
            }
        }
    }
    for v in s[..x * y].iter_mut().rev() {
        if *v != 0 {
            *v = r.huffman();
        }
    }
}

/// Sets bit `bit` of the quadrant's coefficients from the grid of 2x2-block values (the
/// inverse of [`qtree_onebit`]; cfitsio's `qtree_bitins`).
fn qtree_bitins(s: &[u8], nqx: usize, nqy: usize, a: &mut [i64], base: usize, stride: usize, bit: u32) {
    let plane = 1i64 << bit;
    let mut k = 0;
    for i in (0..nqx).step_by(2) {
        let s00 = base + i * stride;
        let s10 = s00 + stride;
        let has_next_row = i + 1 < nqx;
        for j in (0..nqy).step_by(2) {
            let v = s[k];
            k += 1;
            if v == 0 {
                continue;
            }
            if v & 8 != 0 {
                a[s00 + j] |= plane;
            }
            if v & 4 != 0 && j + 1 < nqy {
                a[s00 + j + 1] |= plane;
            }
            if has_next_row {
                if v & 2 != 0 {
                    a[s10 + j] |= plane;
                }
                if v & 1 != 0 && j + 1 < nqy {
                    a[s10 + j + 1] |= plane;
                }
            }
        }
    }
}

/// Rounds `h` to a multiple of a power of two (`mask`), upwards by `prnd` for `h >= 0` and by
/// `nrnd` otherwise.
#[inline]
fn round_to(h: i64, prnd: i64, nrnd: i64, mask: i64) -> i64 {
    h.wrapping_add(if h >= 0 { prnd } else { nrnd }) & mask
}

/// The inverse H-transform of a `rows` x `cols` array, in place, with optional smoothing
/// (cfitsio's `hinv64`). Arithmetic wraps, so corrupt coefficients give garbage, not panics.
fn hinv(a: &mut [i64], rows: usize, cols: usize, smooth: bool, scale: i32) {
    let nmax = rows.max(cols);
    let log2n = ceil_log2(nmax);
    if log2n == 0 {
        // A single pixel: the transform did nothing.
        return;
    }
    let mut tmp = vec![0i64; nmax.div_ceil(2)];
    let mut shift = 1u32;
    let mut bit0: i64 = 1 << (log2n - 1);
    let mut bit1 = bit0 << 1;
    let bit2 = bit0 << 2;
    let mut mask0 = bit0.wrapping_neg();
    let mut mask1 = mask0 << 1;
    let mask2 = mask0 << 2;
    let mut prnd0 = bit0 >> 1;
    let mut prnd1 = bit1 >> 1;
    let prnd2 = bit2 >> 1;
    let mut nrnd0 = prnd0 - 1;
    let mut nrnd1 = prnd1 - 1;
    let nrnd2 = prnd2 - 1;
    // The sum of all pixels is a multiple of bit2.
    a[0] = round_to(a[0], prnd2, nrnd2, mask2);

    let (mut rtop, mut ctop) = (1usize, 1usize);
    let (mut rf, mut cf) = (rows, cols);
    let mut c = 1usize << log2n;
    for k in (0..log2n).rev() {
        // Sizes at this level: ntop[k] = (ntop[k+1] + 1) / 2 with ntop[log2n] = rows or cols.
        c >>= 1;
        grow_level(&mut rtop, &mut rf, c);
        grow_level(&mut ctop, &mut cf, c);
        if k == 0 {
            // Last pass: divide by 4, no rounding of hc below bit0.
            nrnd0 = 0;
            shift = 2;
        }
        for i in 0..rtop {
            unshuffle(a, cols * i, ctop, 1, &mut tmp);
        }
        for j in 0..ctop {
            unshuffle(a, j, rtop, cols, &mut tmp);
        }
        if smooth {
            hsmooth(a, rtop, ctop, cols, scale);
        }
        let (oddr, oddc) = (rtop % 2, ctop % 2);
        let mut i = 0;
        while i < rtop - oddr {
            let mut s00 = cols * i;
            let mut s10 = s00 + cols;
            let mut j = 0;
            while j < ctop - oddc {
                let mut h0 = a[s00];
                // Round hx and hy to multiples of bit1, hc to a multiple of bit0.
                let mut hx = round_to(a[s10], prnd1, nrnd1, mask1);
                let mut hy = round_to(a[s00 + 1], prnd1, nrnd1, mask1);
                let hc = round_to(a[s10 + 1], prnd0, nrnd0, mask0);
                // Propagate bit0 of hc to hx and hy, bits 0 and 1 of hc, hx, hy to h0.
                let lowbit0 = hc & bit0;
                hx = if hx >= 0 { hx.wrapping_sub(lowbit0) } else { hx.wrapping_add(lowbit0) };
                hy = if hy >= 0 { hy.wrapping_sub(lowbit0) } else { hy.wrapping_add(lowbit0) };
                let lowbit1 = (hc ^ hx ^ hy) & bit1;
                h0 = if h0 >= 0 {
                    h0.wrapping_add(lowbit0).wrapping_sub(lowbit1)
                } else if lowbit0 == 0 {
                    h0.wrapping_add(lowbit1)
                } else {
                    h0.wrapping_add(lowbit0.wrapping_sub(lowbit1))
                };
                let (p, m) = (h0.wrapping_add(hx), h0.wrapping_sub(hx));
                a[s10 + 1] = p.wrapping_add(hy).wrapping_add(hc) >> shift;
                a[s10] = p.wrapping_sub(hy).wrapping_sub(hc) >> shift;
                a[s00 + 1] = m.wrapping_add(hy).wrapping_sub(hc) >> shift;
                a[s00] = m.wrapping_sub(hy).wrapping_add(hc) >> shift;
                s00 += 2;
                s10 += 2;
                j += 2;
            }
            if oddc == 1 {
                let mut h0 = a[s00];
                let hx = round_to(a[s10], prnd1, nrnd1, mask1);
                let lowbit1 = hx & bit1;
                h0 = if h0 >= 0 { h0.wrapping_sub(lowbit1) } else { h0.wrapping_add(lowbit1) };
                a[s10] = h0.wrapping_add(hx) >> shift;
                a[s00] = h0.wrapping_sub(hx) >> shift;
            }
            i += 2;
        }
        if oddr == 1 {
            let mut s00 = cols * i;
            let mut j = 0;
            while j < ctop - oddc {
                let mut h0 = a[s00];
                let hy = round_to(a[s00 + 1], prnd1, nrnd1, mask1);
                let lowbit1 = hy & bit1;
                h0 = if h0 >= 0 { h0.wrapping_sub(lowbit1) } else { h0.wrapping_add(lowbit1) };
                a[s00 + 1] = h0.wrapping_add(hy) >> shift;
                a[s00] = h0.wrapping_sub(hy) >> shift;
                s00 += 2;
                j += 2;
            }
            if oddc == 1 {
                a[s00] >>= shift;
            }
        }
        bit1 = bit0;
        bit0 >>= 1;
        mask1 = mask0;
        mask0 >>= 1;
        prnd1 = prnd0;
        prnd0 >>= 1;
        nrnd1 = nrnd0;
        nrnd0 = prnd0 - 1;
    }
}

/// The inverse of [`shuffle`]: interleaves the first half (to even positions) and the second
/// half (to odd positions) of the `n` elements `a[base + i * stride]`.
fn unshuffle(a: &mut [i64], base: usize, n: usize, stride: usize, tmp: &mut [i64]) {
    let half = n.div_ceil(2);
    let odd = n / 2;
    for (t, slot) in tmp[..odd].iter_mut().enumerate() {
        *slot = a[base + (half + t) * stride];
    }
    for i in (1..half).rev() {
        a[base + 2 * i * stride] = a[base + i * stride];
    }
    for (t, v) in tmp[..odd].iter().enumerate() {
        a[base + (2 * t + 1) * stride] = *v;
    }
}

/// Smooths the coefficients of the `rtop` x `ctop` corner (rows `stride` long) towards values
/// interpolated from neighbouring blocks, by at most `scale / 2` each (cfitsio's `hsmooth64`).
/// Coefficients on the edges are left alone.
fn hsmooth(a: &mut [i64], rtop: usize, ctop: usize, stride: usize, scale: i32) {
    let smax = i64::from(scale >> 1);
    if smax <= 0 {
        return;
    }
    let ny2 = stride * 2;
    // Limits the change `diff - coef * 2^k` (divided by 2^k, rounded towards zero) to +-smax.
    let change = |diff: i64, coef: i64, k: u32| {
        let s = diff.wrapping_sub(coef << k);
        let s = if s >= 0 { s >> k } else { s.wrapping_add((1 << k) - 1) >> k };
        s.clamp(-smax, smax)
    };
    // Slope limits keeping the interpolation monotonic between h0's neighbours hm and hp.
    let limits = |hm: i64, h0: i64, hp: i64| {
        let (up, down) = (hp.wrapping_sub(h0), h0.wrapping_sub(hm));
        (up.min(down).max(0) << 2, up.max(down).min(0) << 2)
    };

    // x differences hx.
    let mut i = 2;
    while i + 2 < rtop {
        let mut s00 = stride * i;
        let mut s10 = s00 + stride;
        let mut j = 0;
        while j < ctop {
            let (hm, h0, hp) = (a[s00 - ny2], a[s00], a[s00 + ny2]);
            let (dmax, dmin) = limits(hm, h0, hp);
            if dmin < dmax {
                let diff = hp.wrapping_sub(hm).min(dmax).max(dmin);
                a[s10] = a[s10].wrapping_add(change(diff, a[s10], 3));
            }
            s00 += 2;
            s10 += 2;
            j += 2;
        }
        i += 2;
    }
    // y differences hy.
    let mut i = 0;
    while i < rtop {
        let mut s00 = stride * i + 2;
        let mut j = 2;
        while j + 2 < ctop {
            let (hm, h0, hp) = (a[s00 - 2], a[s00], a[s00 + 2]);
            let (dmax, dmin) = limits(hm, h0, hp);
            if dmin < dmax {
                let diff = hp.wrapping_sub(hm).min(dmax).max(dmin);
                a[s00 + 1] = a[s00 + 1].wrapping_add(change(diff, a[s00 + 1], 3));
            }
            s00 += 2;
            j += 2;
        }
        i += 2;
    }
    // Curvature differences hc.
    let mut i = 2;
    while i + 2 < rtop {
        let mut s00 = stride * i + 2;
        let mut s10 = s00 + stride;
        let mut j = 2;
        while j + 2 < ctop {
            let hmm = a[s00 - ny2 - 2];
            let hpm = a[s00 + ny2 - 2];
            let hmp = a[s00 - ny2 + 2];
            let hpp = a[s00 + ny2 + 2];
            let h0 = a[s00];
            let diff = hpp.wrapping_add(hmm).wrapping_sub(hmp).wrapping_sub(hpm);
            let hx2 = a[s10] << 1;
            let hy2 = a[s00 + 1] << 1;
            let (pp, pm) = (hpp.wrapping_sub(h0), h0.wrapping_sub(hpm));
            let (mp, mm) = (h0.wrapping_sub(hmp), hmm.wrapping_sub(h0));
            let (sxy, dxy) = (hx2.wrapping_add(hy2), hx2.wrapping_sub(hy2));
            let m1 = pp.max(0).wrapping_sub(sxy).min(pm.max(0).wrapping_add(dxy));
            let m2 = mp.max(0).wrapping_sub(dxy).min(mm.max(0).wrapping_add(sxy));
            let dmax = m1.min(m2) << 4;
            let m1 = pp.min(0).wrapping_sub(sxy).max(pm.min(0).wrapping_add(dxy));
            let m2 = mp.min(0).wrapping_sub(dxy).max(mm.min(0).wrapping_add(sxy));
            let dmin = m1.max(m2) << 4;
            if dmin < dmax {
                let diff = diff.min(dmax).max(dmin);
                a[s10 + 1] = a[s10 + 1].wrapping_add(change(diff, a[s10 + 1], 6));
            }
            s00 += 2;
            s10 += 2;
            j += 2;
        }
        i += 2;
    }
}

/// One step of the level sizes both coders walk: a dimension doubles at each finer level,
/// less one while the remaining count `rest` fits in half the current span `c`.
fn grow_level(size: &mut usize, rest: &mut usize, c: usize) {
    *size <<= 1;
    if *rest <= c {
        *size -= 1;
    } else {
        *rest -= c;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    use super::super::test_rng::Rng;

    fn round_trip(pixels: &[i64], nx: usize, ny: usize) -> Vec<u8> {
        let z = encode(pixels, nx, ny, 0).unwrap_or_else(|e| panic!("encode {nx}x{ny}: {e}"));
        let mut out = vec![0i64; nx * ny];
        decode(&z, nx, ny, false, &mut out).unwrap_or_else(|e| panic!("decode {nx}x{ny}: {e}"));
        assert_eq!(out, pixels, "lossless round trip of a {nx}x{ny} tile");
        // Smoothing does nothing to a lossless stream.
        decode(&z, nx, ny, true, &mut out).unwrap_or_else(|e| panic!("decode {nx}x{ny}: {e}"));
        assert_eq!(out, pixels, "lossless round trip of a {nx}x{ny} tile with smoothing");
        z
    }

    /// An image with structure: a gradient, a few blobs and noise.
    fn image(nx: usize, ny: usize, seed: u64, base: i64, noise: i64) -> Vec<i64> {
        let mut rng = Rng(seed | 1);
        let mut v = Vec::with_capacity(nx * ny);
        for y in 0..ny {
            for x in 0..nx {
                let (fx, fy) = (x as f64, y as f64);
                let blob = 800.0 * (-((fx - 0.3 * nx as f64).powi(2) + (fy - 0.6 * ny as f64).powi(2)) / 40.0).exp();
                v.push(base + (3.0 * fx + 2.0 * fy + blob) as i64 + rng.range(-noise, noise));
            }
        }
        v
    }

    const SHAPES: [(usize, usize); 17] = [
        (1, 1),
        (2, 2),
        (4, 4),
        (16, 16),
        (37, 11),
        (11, 37),
        (1, 50),
        (50, 1),
        (300, 1),
        (1, 300),
        (2, 9),
        (9, 2),
        (3, 5),
        (40, 13),
        (64, 64),
        (65, 33),
        (100, 7),
    ];

    #[test]
    fn lossless_round_trips_of_many_shapes() {
        for (i, &(nx, ny)) in SHAPES.iter().enumerate() {
            let n = nx * ny;
            let seed = 0x9E37_79B9_7F4A_7C15 ^ i as u64;
            round_trip(&vec![0; n], nx, ny);
            round_trip(&vec![1234; n], nx, ny);
            round_trip(&vec![-7; n], nx, ny);
            round_trip(&image(nx, ny, seed, 1000, 20), nx, ny);
            round_trip(&image(nx, ny, seed, -30000, 500), nx, ny);
            let mut rng = Rng(seed);
            let noise16: Vec<i64> = (0..n).map(|_| rng.range(-32768, 32767)).collect();
            round_trip(&noise16, nx, ny);
            let noise32: Vec<i64> = (0..n).map(|_| rng.range(i64::from(i32::MIN), i64::from(i32::MAX))).collect();
            round_trip(&noise32, nx, ny);
            let big: Vec<i64> = (0..n).map(|_| rng.range(-(1 << 40), 1 << 40)).collect();
            round_trip(&big, nx, ny);
            let sparse: Vec<i64> = (0..n).map(|_| if rng.next() % 17 == 0 { rng.range(-5, 5) } else { 0 }).collect();
            round_trip(&sparse, nx, ny);
            let extremes: Vec<i64> =
                (0..n).map(|k| if k % 3 == 0 { i64::from(i32::MIN) } else { i64::from(i32::MAX) }).collect();
            round_trip(&extremes, nx, ny);
        }
    }

    #[test]
    fn header_stores_rows_first() {
        let z = encode(&image(37, 11, 5, 100, 3), 37, 11, 0).expect("encode");
        assert_eq!(z[..2], MAGIC);
        assert_eq!(i32::from_be_bytes([z[2], z[3], z[4], z[5]]), 11, "rows (ZTILE2) first");
        assert_eq!(i32::from_be_bytes([z[6], z[7], z[8], z[9]]), 37, "row length (ZTILE1) second");
        let mut out = vec![0; 37 * 11];
        let swapped = decode(&z, 11, 37, false, &mut out).expect_err("swapped axes");
        assert!(matches!(&swapped, CodecError::Corrupt { detail } if detail.contains("swapped")), "{swapped}");
        let mut out = vec![0; 36 * 11];
        assert!(matches!(decode(&z, 36, 11, false, &mut out), Err(CodecError::WrongSize { expected: 396, got: 407 })));
        let mut out = vec![0; 10];
        assert!(matches!(decode(&z, 37, 11, false, &mut out), Err(CodecError::Unsupported { .. })));
    }

    #[test]
    fn encoder_rejects_what_it_cannot_code() {
        assert!(matches!(encode(&[], 0, 5, 0), Err(CodecError::Unsupported { .. })));
        assert!(matches!(encode(&[1, 2, 3], 2, 2, 0), Err(CodecError::Unsupported { .. })));
        assert!(matches!(encode(&[1, 2, 3, 4], 2, 2, -1), Err(CodecError::Unsupported { .. })));
        assert!(matches!(encode(&[i64::MAX, 0, 0, 0], 2, 2, 0), Err(CodecError::Unsupported { .. })));
        assert!(matches!(encode(&[i64::MIN, 0, 0, 0], 2, 2, 0), Err(CodecError::Unsupported { .. })));
        // Just below the limit for a 2x2 tile (2^57) still round-trips.
        let v = (1i64 << 57) - 1;
        round_trip(&[v, -v, v, 3], 2, 2);
    }

    #[test]
    fn lossy_round_trips_stay_close() {
        for &(nx, ny) in &[(64usize, 48usize), (37, 11), (11, 37), (300, 5), (5, 300)] {
            let pixels = image(nx, ny, 77, 2000, 30);
            for scale in [2, 3, 4, 8, 16, 50] {
                let z = encode(&pixels, nx, ny, scale).expect("encode");
                let zl = encode(&pixels, nx, ny, 0).expect("encode");
                assert!(z.len() < zl.len(), "scale {scale} compresses better than lossless");
                for smooth in [false, true] {
                    let mut out = vec![0i64; nx * ny];
                    decode(&z, nx, ny, smooth, &mut out).expect("decode");
                    let errs: Vec<f64> = out.iter().zip(&pixels).map(|(a, b)| (a - b) as f64).collect();
                    let max = errs.iter().fold(0f64, |m, e| m.max(e.abs()));
                    let rms = (errs.iter().map(|e| e * e).sum::<f64>() / errs.len() as f64).sqrt();
                    let mean = errs.iter().sum::<f64>() / errs.len() as f64;
                    let s = f64::from(scale);
                    // cfitsio documents errors of about scale / 2 (seen: at most 0.54 * scale + 1);
                    // smoothing moves pixels by up to about scale / 2 more (seen: at most 0.64 * scale).
                    let max_allowed = if smooth { s + 1.0 } else { 0.6 * s + 1.5 };
                    assert!(rms <= 0.25 * s + 0.5, "{nx}x{ny} scale {scale} smooth {smooth}: rms error {rms}");
                    assert!(max <= max_allowed, "{nx}x{ny} scale {scale} smooth {smooth}: max error {max}");
                    assert!(mean.abs() <= 0.1 * s + 0.5, "{nx}x{ny} scale {scale} smooth {smooth}: bias {mean}");
                }
            }
        }
    }

    /// The tiles and geometry of a tile-compressed image in HDU 1 of a file.
    struct Fz {
        ztile: (usize, usize),
        naxis: (usize, usize),
        zbitpix: i64,
        tiles: Vec<Vec<u8>>,
    }

    /// Width in bytes and type code of a binary table TFORM.
    fn tform_width(tform: &str) -> (usize, char) {
        let digits = tform.chars().take_while(char::is_ascii_digit).count();
        let repeat: usize = if digits == 0 { 1 } else { tform[..digits].parse().expect("TFORM repeat") };
        let code = tform[digits..].chars().next().expect("TFORM code");
        let width = match code {
            'L' | 'B' | 'A' => repeat,
            'I' => 2 * repeat,
            'J' | 'E' => 4 * repeat,
            'K' | 'D' | 'C' | 'P' => 8 * repeat,
            'M' | 'Q' => 16 * repeat,
            'X' => repeat.div_ceil(8),
            other => panic!("TFORM code {other}"),
        };
        (width, code)
    }

    fn read_fz(bytes: &[u8]) -> Fz {
        let index = crate::IndexDecoder::decode_all(bytes).expect("index the file");
        let hdu = &index.hdus[1];
        let h = &hdu.header;
        let int = |k: &str| h.int(k).expect(k).unwrap_or_else(|| panic!("{k} missing")) as usize;
        assert_eq!(h.string("ZCMPTYPE").expect("ZCMPTYPE"), Some("HCOMPRESS_1"));
        let (naxis1, naxis2) = (int("NAXIS1"), int("NAXIS2"));
        let mut offset = 0;
        let mut column = None;
        for i in 1..=int("TFIELDS") {
            let ttype = h.string(&format!("TTYPE{i}")).expect("TTYPE").unwrap_or("").trim().to_string();
            let tform = h.string(&format!("TFORM{i}")).expect("TFORM").expect("TFORM").trim().to_string();
            let (width, code) = tform_width(&tform);
            if ttype == "COMPRESSED_DATA" {
                column = Some((offset, code));
            }
            offset += width;
        }
        let (col, code) = column.expect("a COMPRESSED_DATA column");
        let data_start = hdu.layout.data_start as usize;
        let theap = h.int("THEAP").expect("THEAP").map_or(naxis1 * naxis2, |t| t as usize);
        let heap = data_start + theap;
        let be = |at: usize, len: usize| bytes[at..at + len].iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        let tiles = (0..naxis2)
            .map(|row| {
                let at = data_start + row * naxis1 + col;
                let (count, off) = match code {
                    'P' => (be(at, 4) as usize, be(at + 4, 4) as usize),
                    'Q' => (be(at, 8) as usize, be(at + 8, 8) as usize),
                    other => panic!("COMPRESSED_DATA of type {other}"),
                };
                bytes[heap + off..heap + off + count].to_vec()
            })
            .collect();
        Fz {
            ztile: (int("ZTILE1"), int("ZTILE2")),
            naxis: (int("ZNAXIS1"), int("ZNAXIS2")),
            zbitpix: h.int("ZBITPIX").expect("ZBITPIX").expect("ZBITPIX"),
            tiles,
        }
    }

    /// The pixels of one tile of a `nx`-wide image, and its size.
    fn tile_of(image: &[i64], nx: usize, ny: usize, ztile: (usize, usize), t: usize) -> (Vec<i64>, usize, usize) {
        let ntx = nx.div_ceil(ztile.0);
        let (x0, y0) = ((t % ntx) * ztile.0, (t / ntx) * ztile.1);
        let (w, h) = (ztile.0.min(nx - x0), ztile.1.min(ny - y0));
        let mut v = Vec::with_capacity(w * h);
        for y in y0..y0 + h {
            v.extend_from_slice(&image[y * nx + x0..y * nx + x0 + w]);
        }
        (v, w, h)
    }

    /// Decodes every tile of `fz` and compares it with `expected` (the whole image).
    fn check_tiles(fz: &Fz, expected: &[i64], smooth: bool) {
        let (nx, ny) = fz.naxis;
        let ntiles = nx.div_ceil(fz.ztile.0) * ny.div_ceil(fz.ztile.1);
        assert_eq!(fz.tiles.len(), ntiles);
        for (t, tile) in fz.tiles.iter().enumerate() {
            let (want, w, h) = tile_of(expected, nx, ny, fz.ztile, t);
            let mut out = vec![0i64; w * h];
            decode(tile, w, h, smooth, &mut out).unwrap_or_else(|e| panic!("tile {t} ({w}x{h}): {e}"));
            assert_eq!(out, want, "tile {t} ({w}x{h}), smooth {smooth}");
        }
    }

    /// Pixels of the primary image of a simple FITS file (BITPIX 16 or 32, no scaling).
    fn read_image(bytes: &[u8]) -> (usize, usize, Vec<i64>) {
        let index = crate::IndexDecoder::decode_all(bytes).expect("index the file");
        let hdu = &index.hdus[0];
        let h = &hdu.header;
        let int = |k: &str| h.int(k).expect(k).unwrap_or_else(|| panic!("{k} missing"));
        let (nx, ny) = (int("NAXIS1") as usize, int("NAXIS2") as usize);
        assert_eq!(h.float("BSCALE").expect("BSCALE").unwrap_or(1.0), 1.0);
        assert_eq!(h.float("BZERO").expect("BZERO").unwrap_or(0.0), 0.0);
        let data = &bytes[hdu.layout.data_start as usize..];
        let v = match int("BITPIX") {
            16 => data.chunks_exact(2).take(nx * ny).map(|b| i64::from(i16::from_be_bytes([b[0], b[1]]))).collect(),
            32 => data
                .chunks_exact(4)
                .take(nx * ny)
                .map(|b| i64::from(i32::from_be_bytes([b[0], b[1], b[2], b[3]])))
                .collect(),
            other => panic!("BITPIX {other}"),
        };
        (nx, ny, v)
    }

    /// Writes a minimal FITS image (BITPIX 16 or 32).
    fn write_image(path: &Path, bitpix: i32, nx: usize, ny: usize, pixels: &[i64]) {
        let mut h = String::new();
        for card in [
            "SIMPLE  =                    T".to_string(),
            format!("BITPIX  = {bitpix:>20}"),
            "NAXIS   =                    2".to_string(),
            format!("NAXIS1  = {nx:>20}"),
            format!("NAXIS2  = {ny:>20}"),
            "END".to_string(),
        ] {
            h.push_str(&format!("{card:<80}"));
        }
        let mut bytes = h.into_bytes();
        bytes.resize(2880, b' ');
        for &p in pixels {
            match bitpix {
                16 => bytes.extend_from_slice(&i16::try_from(p).expect("16-bit pixel").to_be_bytes()),
                32 => bytes.extend_from_slice(&i32::try_from(p).expect("32-bit pixel").to_be_bytes()),
                other => panic!("BITPIX {other}"),
            }
        }
        bytes.resize(bytes.len().div_ceil(2880) * 2880, 0);
        std::fs::write(path, bytes).expect("write the test image");
    }

    /// Whether fpack and funpack can be run; panics instead of skipping if FITS_REQUIRE_TOOLS is set.
    fn tools_available() -> bool {
        let runs = |tool: &str| Command::new(tool).arg("-V").output().is_ok();
        if runs("fpack") && runs("funpack") {
            return true;
        }
        if std::env::var_os("FITS_REQUIRE_TOOLS").is_some() {
            panic!("fpack/funpack are not installed (apt-get install libcfitsio-bin) and FITS_REQUIRE_TOOLS is set");
        }
        eprintln!("skipping: fpack/funpack are not installed (apt-get install libcfitsio-bin)");
        false
    }

    /// A scratch directory removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let dir = std::env::temp_dir().join(format!("fits-core-hcompress-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("create a temporary directory");
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn run(cmd: &mut Command) {
        let out = cmd.output().unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
        assert!(
            out.status.success(),
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Compresses `pixels` with `fpack -h -t 40,13 <extra>` and returns the parsed result.
    fn fpack(dir: &Path, name: &str, bitpix: i32, nx: usize, ny: usize, pixels: &[i64], extra: &[&str]) -> Fz {
        let src = dir.join(format!("{name}.fits"));
        let dst = dir.join(format!("{name}.fits.fz"));
        write_image(&src, bitpix, nx, ny, pixels);
        run(Command::new("fpack").args(["-h", "-t", "40,13"]).args(extra).arg("-O").arg(&dst).arg(&src));
        let fz = read_fz(&std::fs::read(&dst).expect("read the fpack output"));
        assert_eq!(fz.naxis, (nx, ny));
        assert_eq!(fz.zbitpix, i64::from(bitpix));
        assert_eq!(fz.ztile, (40, 13), "fpack kept the requested tile size");
        fz
    }

    #[test]
    fn decodes_m13_and_encodes_it_identically() {
        let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/corpus/m13.fits")).expect("m13");
        let packed =
            std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/corpus/m13_hcomp.fits")).expect("m13");
        let expected: Vec<i64> = raw[2880..2880 + 2 * 300 * 300]
            .chunks_exact(2)
            .map(|b| i64::from(i16::from_be_bytes([b[0], b[1]])))
            .collect();
        let fz = read_fz(&packed);
        assert_eq!((fz.ztile, fz.naxis, fz.tiles.len()), ((300, 300), (300, 300), 1));
        check_tiles(&fz, &expected, false);
        let z = encode(&expected, 300, 300, 0).expect("encode m13");
        assert_eq!(z.len(), fz.tiles[0].len());
        assert!(z == fz.tiles[0], "our encoding of m13 is byte-identical to the file's");
    }

    #[test]
    fn fpack_non_square_tiles_lossless() {
        if !tools_available() {
            return;
        }
        let dir = TempDir::new("lossless");
        let (nx, ny) = (100, 30);
        let mut rng = Rng(42);
        let img16 = image(nx, ny, 7, -200, 40);
        let img32: Vec<i64> = (0..nx * ny)
            .map(|k| if k % 7 == 0 { rng.range(-2_000_000_000, 2_000_000_000) } else { img16[k] * 40_000 })
            .collect();
        for (name, bitpix, pixels) in [("i16", 16, &img16), ("i32", 32, &img32)] {
            let fz = fpack(&dir.0, name, bitpix, nx, ny, pixels, &[]);
            // Tiles of 40x13, 20x13, 40x4 and 20x4 pixels.
            check_tiles(&fz, pixels, false);
            for (t, tile) in fz.tiles.iter().enumerate() {
                let (want, w, h) = tile_of(pixels, nx, ny, fz.ztile, t);
                let z = encode(&want, w, h, 0).expect("encode");
                assert!(z == *tile, "{name} tile {t} ({w}x{h}): our encoding is byte-identical to fpack's");
            }
        }
    }

    #[test]
    fn fpack_lossy_and_smoothing_match_funpack() {
        if !tools_available() {
            return;
        }
        let dir = TempDir::new("lossy");
        let (nx, ny) = (100, 30);
        let pixels = image(nx, ny, 11, 1000, 25);
        // A negative -s is an absolute scale: every tile is quantized with scale 8.
        let fz = fpack(&dir.0, "lossy", 16, nx, ny, &pixels, &["-s", "-8"]);
        for (t, tile) in fz.tiles.iter().enumerate() {
            assert_eq!(i32::from_be_bytes([tile[10], tile[11], tile[12], tile[13]]), 8, "tile {t} scale");
            let (want, w, h) = tile_of(&pixels, nx, ny, fz.ztile, t);
            let z = encode(&want, w, h, 8).expect("encode");
            assert!(z == *tile, "tile {t} ({w}x{h}): our lossy encoding is byte-identical to fpack's");
        }
        let packed = std::fs::read(dir.0.join("lossy.fits.fz")).expect("read");

        // Without smoothing (ZVAL2 = 0, as fpack writes it).
        run(Command::new("funpack").arg("-O").arg(dir.0.join("plain.fits")).arg(dir.0.join("lossy.fits.fz")));
        let (_, _, plain) = read_image(&std::fs::read(dir.0.join("plain.fits")).expect("read"));
        assert_ne!(plain, pixels, "scale 8 is lossy");
        check_tiles(&fz, &plain, false);

        // With smoothing: fpack has no option for it, so set ZVAL2 = 1 in the header.
        let card = packed.chunks_exact(80).position(|c| c.starts_with(b"ZVAL2   =")).expect("a ZVAL2 card");
        let mut patched = packed.clone();
        patched[card * 80..card * 80 + 80]
            .copy_from_slice(format!("{:<80}", format!("ZVAL2   = {:>20}", 1)).as_bytes());
        std::fs::write(dir.0.join("smooth.fits.fz"), &patched).expect("write");
        run(Command::new("funpack").arg("-O").arg(dir.0.join("smooth.fits")).arg(dir.0.join("smooth.fits.fz")));
        let (_, _, smoothed) = read_image(&std::fs::read(dir.0.join("smooth.fits")).expect("read"));
        assert_ne!(smoothed, plain, "smoothing changes a scale-8 image");
        check_tiles(&fz, &smoothed, true);
    }

    /// Streams to damage: lossless and lossy, square and not.
    fn sample_streams() -> Vec<(Vec<u8>, usize, usize)> {
        let mut v = Vec::new();
        for &(nx, ny, scale) in &[(37usize, 11usize, 0), (11, 37, 0), (40, 13, 8), (1, 20, 0), (9, 2, 0), (16, 16, 3)] {
            let pixels = image(nx, ny, (nx * 31 + ny) as u64, 500, 60);
            v.push((encode(&pixels, nx, ny, scale).expect("encode"), nx, ny));
        }
        v
    }

    #[test]
    fn corrupt_and_truncated_streams_never_panic() {
        let start = std::time::Instant::now();
        let mut calls = 0usize;
        for (z, nx, ny) in sample_streams() {
            let mut out = vec![0i64; nx * ny];
            decode(&z, nx, ny, false, &mut out).expect("intact stream");
            // Every truncation is noticed: the last byte always holds needed bits.
            for len in 0..z.len() {
                let r = decode(&z[..len], nx, ny, false, &mut out);
                assert!(r.is_err(), "{nx}x{ny} stream cut to {len} of {} bytes decoded", z.len());
                calls += 1;
            }
            // Flipped bytes and bits.
            let mut rng = Rng(z.len() as u64 * 7919);
            for pos in 0..z.len() {
                for flip in [0xFFu8, 1 << (rng.next() % 8), rng.next() as u8 | 1] {
                    let mut bad = z.clone();
                    bad[pos] ^= flip;
                    let _ = decode(&bad, nx, ny, pos % 2 == 0, &mut out);
                    calls += 1;
                }
            }
            // A valid header followed by garbage, with random bit plane counts.
            for round in 0..400 {
                let mut bad = z[..HEADER_LEN].to_vec();
                for p in &mut bad[22..25] {
                    *p = (rng.next() % 65) as u8;
                }
                bad[10..14].copy_from_slice(&((rng.next() % 20) as i32).to_be_bytes());
                let len = (rng.next() % (2 * z.len() as u64 + 8)) as usize;
                bad.extend((0..len).map(|_| if round % 3 == 0 { 0xFF } else { rng.next() as u8 }));
                let _ = decode(&bad, nx, ny, round % 2 == 1, &mut out);
                calls += 1;
            }
            // Entirely random bytes.
            for _ in 0..100 {
                let len = (rng.next() % 64) as usize;
                let bad: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                assert!(decode(&bad, nx, ny, false, &mut out).is_err());
                calls += 1;
            }
        }
        // A large real tile whose planes are partly written directly (m13), damaged at spaced places.
        let packed =
            std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/corpus/m13_hcomp.fits")).expect("m13");
        let z = read_fz(&packed).tiles.swap_remove(0);
        let mut out = vec![0i64; 300 * 300];
        let mut rng = Rng(13);
        for k in 0..200 {
            let pos = k * z.len() / 200 + (rng.next() % 50) as usize;
            let pos = pos.min(z.len() - 1);
            assert!(decode(&z[..pos], 300, 300, false, &mut out).is_err(), "m13 cut to {pos} bytes decoded");
            let mut bad = z.clone();
            bad[pos] ^= rng.next() as u8 | 1;
            let _ = decode(&bad, 300, 300, k % 2 == 0, &mut out);
            calls += 2;
        }
        // Impossible bit plane counts are refused before any decoding.
        let (mut z, nx, ny) = sample_streams().swap_remove(0);
        z[23] = 65;
        let mut out = vec![0i64; nx * ny];
        assert!(matches!(decode(&z, nx, ny, false, &mut out), Err(CodecError::Corrupt { .. })));
        eprintln!("{calls} damaged streams decoded in {:?}", start.elapsed());
    }

    #[test]
    fn decoding_is_reasonably_fast() {
        let (nx, ny) = (500, 400);
        let pixels = image(nx, ny, 3, 100, 200);
        let start = std::time::Instant::now();
        let z = encode(&pixels, nx, ny, 0).expect("encode");
        let mut out = vec![0i64; nx * ny];
        decode(&z, nx, ny, false, &mut out).expect("decode");
        assert_eq!(out, pixels);
        eprintln!("{nx}x{ny}: {} bytes, encode + decode in {:?}", z.len(), start.elapsed());
    }
}
