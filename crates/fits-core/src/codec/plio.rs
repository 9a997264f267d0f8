//! PLIO_1: the IRAF pixel-list "line list" encoding used by the tiled-image convention.
//!
//! A line list is a sequence of signed 16-bit words: a header, then instructions. Each
//! instruction word holds a 3-bit opcode (bits 12 to 14) and a 12-bit datum (bits 0 to 11); the
//! sign bit is never set. The decoder keeps a "high value" (starting at 1) and a position in the
//! line (starting at the first pixel):
//!
//! | opcode | name | effect |
//! |--------|------|--------|
//! | 0 | ZN | output `data` zeros |
//! | 1 | SH | set the high value to `(next word << 12) + data`; the next word is an operand |
//! | 2 | IH | add `data` to the high value |
//! | 3 | DH | subtract `data` from the high value |
//! | 4 | HN | output `data` copies of the high value |
//! | 5 | PN | output `data - 1` zeros, then one high value |
//! | 6 | IS | add `data` to the high value, then output it once |
//! | 7 | DS | subtract `data` from the high value, then output it once |
//!
//! Two header layouts exist. The old one has three words, the third being the list length
//! (header included, so instructions start at word 3). The new one, written by IRAF and by
//! current cfitsio, has seven words: references, header length (7), a negative
//! version code (-100), the list length as low and high 15-bit halves, and two buffer-length
//! words. A positive third word marks the old layout.
//!
//! Decoding follows cfitsio's `pl_l2pi` word for word on well-formed lists, but is strict where
//! cfitsio silently pads or clips: a list that describes another number of pixels than the tile
//! holds is a [`CodecError::WrongSize`], and malformed headers, negative instruction words and
//! an `SH` missing its operand are errors too. Encoding reproduces cfitsio's `pl_p2li` output
//! exactly, except in the one case where that encoder is wrong (a run of zeros whose length is
//! a multiple of 4095 followed by a single high pixel, see [`encode`]).

use super::CodecError;

/// Bits of an instruction word below the opcode.
const OPCODE_SHIFT: u32 = 12;
/// Largest datum of one instruction (and mask of the datum bits).
const DATA_MAX: i32 = 4095;

/// `N` zeros.
const ZN: i32 = 0;
/// Set the high value (two words).
const SH: i32 = 1;
/// Increment the high value.
const IH: i32 = 2;
/// Decrement the high value.
const DH: i32 = 3;
/// `N` high values.
const HN: i32 = 4;
/// `N - 1` zeros and one high value.
const PN: i32 = 5;
/// Increment the high value and output it once.
const IS: i32 = 6;
/// Decrement the high value and output it once.
const DS: i32 = 7;
/// Bit turning IH/DH into IS/DS.
const MOVE_BIT: i32 = 1 << 14;

/// Words of the old header; instructions start right after it.
const OLD_HEADER_LEN: usize = 3;
/// Words of the new header as written (IRAF's `LL_CURHDRLEN`).
const NEW_HEADER_LEN: usize = 7;
/// Words of a new header that the decoder reads (up to the length's high half).
const NEW_HEADER_MIN: usize = 5;
/// Version code of the new header (IRAF's `LL_CURVERSION`).
const NEW_VERSION: i16 = -100;
/// The length is stored in two 15-bit halves.
const HALF: usize = 1 << 15;
/// Longest list the two length halves can describe.
const MAX_LIST_LEN: usize = HALF * HALF - 1;
/// Largest pixel value PLIO can store (24 bits).
const MAX_PIXEL: i32 = (1 << 24) - 1;

/// Decodes a PLIO_1 line list into exactly `out.len()` pixels. `words` are the list's 16-bit
/// values (the heap stores them big-endian; the caller has converted them).
///
/// Both the old (3-word) and the new (7-word, version -100) headers are read; words after the
/// length the header gives are ignored, as cfitsio does. An empty `words` is accepted only for
/// an empty `out` (the encoder writes nothing for an empty tile).
///
/// # Errors
///
/// - [`CodecError::Truncated`] if the header is incomplete, the header's length exceeds the
///   words given, or an `SH` instruction lacks its operand word;
/// - [`CodecError::Corrupt`] if the header is inconsistent or an instruction word is negative;
/// - [`CodecError::WrongSize`] if the list describes another number of pixels than
///   `out.len()` (`out` may then be partly written).
///
/// The work done is bounded by `words.len() + out.len()`.
pub fn decode(words: &[i16], out: &mut [i32]) -> Result<(), CodecError> {
    if words.is_empty() && out.is_empty() {
        return Ok(());
    }
    let (first, len) = parse_header(words)?;
    let n = out.len();
    // Pixels described so far: the decoder's position in the line. It can pass `n` on a bad
    // list (kept counting for the error); u64 cannot overflow (at most 4095 per word).
    let mut pos: u64 = 0;
    let mut high: i32 = 1;
    let mut ip = first;
    while ip < len {
        let word = i32::from(words[ip]);
        if word < 0 {
            return Err(CodecError::Corrupt {
                detail: format!("instruction word {ip} is negative ({word}); instruction words are 0 to 32767"),
            });
        }
        let opcode = word >> OPCODE_SHIFT;
        let data = word & DATA_MAX;
        match opcode {
            ZN | HN | PN => {
                let count = data as u64;
                if count > 0 {
                    let start = clamp_index(pos, n);
                    let end = clamp_index(pos + count, n);
                    let fill = if opcode == HN { high } else { 0 };
                    out[start..end].fill(fill);
                    // PN ends in one high value, written only if the run ends inside the line.
                    if opcode == PN && pos + count <= n as u64 {
                        out[end - 1] = high;
                    }
                    pos += count;
                }
            }
            SH => {
                let Some(&operand) = words[..len].get(ip + 1) else {
                    return Err(CodecError::Truncated {
                        detail: format!(
                            "the set-high instruction at word {ip} needs an operand word, but the list ends at word {len}"
                        ),
                    });
                };
                high = (i32::from(operand) << OPCODE_SHIFT) + data;
                ip += 1;
            }
            IH => high = high.wrapping_add(data),
            DH => high = high.wrapping_sub(data),
            IS | DS => {
                high = if opcode == IS { high.wrapping_add(data) } else { high.wrapping_sub(data) };
                if let Some(slot) = usize::try_from(pos).ok().and_then(|p| out.get_mut(p)) {
                    *slot = high;
                }
                pos += 1;
            }
            // A non-negative word has an opcode of 0 to 7.
            _ => {}
        }
        ip += 1;
    }
    if pos != n as u64 {
        return Err(CodecError::WrongSize { expected: n, got: usize::try_from(pos).unwrap_or(usize::MAX) });
    }
    Ok(())
}

/// `pos` as an index into a slice of length `n`, clipped to `n`.
fn clamp_index(pos: u64, n: usize) -> usize {
    usize::try_from(pos).map_or(n, |p| p.min(n))
}

/// Reads a list's header: the index of the first instruction and the list length (header
/// included), checked against `words.len()`.
fn parse_header(words: &[i16]) -> Result<(usize, usize), CodecError> {
    let available = words.len();
    if available < OLD_HEADER_LEN {
        return Err(CodecError::Truncated {
            detail: format!("the line list holds {available} words, fewer than the 3 of the smallest header"),
        });
    }
    let (first, len) = if words[2] > 0 {
        // Old format: the third word is the length.
        (OLD_HEADER_LEN, usize::from(words[2].unsigned_abs()))
    } else {
        if available < NEW_HEADER_MIN {
            return Err(CodecError::Truncated {
                detail: format!(
                    "the line list holds {available} words; its header (version {}) needs at least {NEW_HEADER_MIN}",
                    words[2]
                ),
            });
        }
        let header_len = words[1];
        let first =
            usize::try_from(header_len).ok().filter(|&h| h >= NEW_HEADER_MIN).ok_or_else(|| CodecError::Corrupt {
                detail: format!(
                    "header length (word 1) is {header_len}; a version {} header has at least {NEW_HEADER_MIN} words",
                    words[2]
                ),
            })?;
        let (lo, hi) = (words[3], words[4]);
        let (Ok(lo), Ok(hi)) = (usize::try_from(lo), usize::try_from(hi)) else {
            return Err(CodecError::Corrupt {
                detail: format!("list length halves (words 3 and 4) are {lo} and {hi}; both must be non-negative"),
            });
        };
        (first, hi * HALF + lo)
    };
    if len < first {
        return Err(CodecError::Corrupt {
            detail: format!("the header gives a list length of {len} words, shorter than its own {first} words"),
        });
    }
    if len > available {
        return Err(CodecError::Truncated {
            detail: format!("the header gives a list length of {len} words, only {available} are present"),
        });
    }
    Ok((first, len))
}

/// Encodes pixels (each must be >= 0 and < 2^24, as PLIO requires; otherwise an error naming
/// the first bad pixel) into a line list.
///
/// The list has the new 7-word header and is word for word what cfitsio's `pl_p2li` writes,
/// with one exception: where cfitsio would fold a final chunk of exactly 4095 zeros and a single
/// high pixel into one `PN` word (which overflows into an `IS` instruction and loses the
/// zeros), this encoder keeps the `ZN` word and adds an `HN` word of one pixel. An empty input
/// gives an empty list.
///
/// # Errors
///
/// - [`CodecError::Unsupported`] if a pixel is negative or above 16777215, or if the list would
///   exceed the 2^30 - 1 words the header can describe.
pub fn encode(pixels: &[i32]) -> Result<Vec<i16>, CodecError> {
    if let Some((index, value)) = pixels.iter().enumerate().find(|&(_, v)| !(0..=MAX_PIXEL).contains(v)) {
        return Err(CodecError::Unsupported {
            detail: format!("pixel {index} is {value}; PLIO_1 stores only values 0 to {MAX_PIXEL}"),
        });
    }
    if pixels.is_empty() {
        return Ok(Vec::new());
    }
    let mut encoder = Encoder { list: Vec::with_capacity(NEW_HEADER_LEN + 16), high: 1 };
    encoder.list.extend_from_slice(&[0, NEW_HEADER_LEN as i16, NEW_VERSION, 0, 0, 0, 0]);

    // The line is cut into segments, each a (possibly empty) run of zeros followed by a run of
    // one nonzero value; trailing zeros form a last segment of their own.
    let mut zeros = 0usize;
    let mut rest = pixels;
    while let Some(&value) = rest.first() {
        let run = rest.iter().position(|&p| p != value).unwrap_or(rest.len());
        rest = &rest[run..];
        if value == 0 {
            zeros += run;
        } else {
            encoder.segment(zeros, value, run);
            zeros = 0;
        }
    }
    if zeros > 0 {
        encoder.zeros(zeros);
    }

    let len = encoder.list.len();
    if len > MAX_LIST_LEN {
        return Err(CodecError::Unsupported {
            detail: format!(
                "the line list would take {len} words, more than the {MAX_LIST_LEN} its header can describe"
            ),
        });
    }
    // Both halves are below 2^15 here.
    encoder.list[3] = (len % HALF) as i16;
    encoder.list[4] = (len / HALF) as i16;
    Ok(encoder.list)
}

/// State of the encoder: the list so far and the decoder's high value at its end.
struct Encoder {
    list: Vec<i16>,
    high: i32,
}

impl Encoder {
    /// Appends one instruction word (`data` is at most 4095, or fits the operand word).
    fn push(&mut self, opcode: i32, data: usize) {
        // Opcode below 8 and data below 4096 make a word below 32768.
        self.list.push(((opcode << OPCODE_SHIFT) + data as i32) as i16);
    }

    /// Appends `ZN` words for `count` zeros, in chunks of at most 4095.
    fn zeros(&mut self, mut count: usize) {
        while count > 0 {
            let chunk = count.min(DATA_MAX as usize);
            self.push(ZN, chunk);
            count -= chunk;
        }
    }

    /// Appends the instructions for `zeros` zeros followed by `count` pixels of `value` (> 0).
    fn segment(&mut self, zeros: usize, value: i32, count: usize) {
        let step = value - self.high;
        if step != 0 {
            self.high = value;
            if step.abs() > DATA_MAX {
                // Set high: low 12 bits here, the rest (< 2^12 for 24-bit values) as operand.
                self.push(SH, (value & DATA_MAX) as usize);
                self.list.push((value >> OPCODE_SHIFT) as i16);
            } else {
                self.push(if step > 0 { IH } else { DH }, step.unsigned_abs() as usize);
                if count == 1 && zeros == 0 {
                    // IH/DH plus one pixel is IS/DS.
                    if let Some(last) = self.list.last_mut() {
                        *last |= MOVE_BIT as i16;
                    }
                    return;
                }
            }
        }
        if zeros > 0 {
            self.zeros(zeros);
            // ZN(k) plus one pixel is PN(k + 1), if k + 1 still fits the datum.
            if count == 1 {
                if let Some(last) = self.list.last_mut() {
                    if i32::from(*last) < DATA_MAX {
                        *last += ((PN << OPCODE_SHIFT) + 1) as i16;
                        return;
                    }
                }
            }
        }
        let mut count = count;
        while count > 0 {
            let chunk = count.min(DATA_MAX as usize);
            self.push(HN, chunk);
            count -= chunk;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodes, decodes and compares; returns the list.
    fn round_trip(pixels: &[i32]) -> Vec<i16> {
        let list = encode(pixels).unwrap_or_else(|e| panic!("encode failed: {e}"));
        let mut out = vec![-7; pixels.len()];
        decode(&list, &mut out).unwrap_or_else(|e| panic!("decode failed: {e} (list {list:?})"));
        assert_eq!(out, pixels, "list {list:?}");
        list
    }

    /// A small deterministic generator.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    #[test]
    fn known_encodings() {
        // Header: refs 0, header length 7, version -100, length lo/hi, buffer length 0/0.
        assert_eq!(encode(&[0; 5]).unwrap(), vec![0, 7, -100, 8, 0, 0, 0, 5]);
        // One pixel of 1 (the initial high value): HN(1).
        assert_eq!(encode(&[1]).unwrap(), vec![0, 7, -100, 8, 0, 0, 0, 0x4001]);
        // 3 zeros then a single 1: PN(4).
        assert_eq!(encode(&[0, 0, 0, 1]).unwrap(), vec![0, 7, -100, 8, 0, 0, 0, 0x5004]);
        // A single 5: IS(4); then 2 (DS(3)), then two zeros ZN(2).
        assert_eq!(encode(&[5, 2, 0, 0]).unwrap(), vec![0, 7, -100, 10, 0, 0, 0, 0x6004, 0x7003, 2]);
        // A big value: SH with operand, then HN(3).
        let v = 0x12_3456;
        assert_eq!(encode(&[v, v, v]).unwrap(), vec![0, 7, -100, 10, 0, 0, 0, 0x1456, 0x123, 0x4003]);
        // Zeros then a run: IH(2), ZN(2), HN(2).
        assert_eq!(encode(&[0, 0, 3, 3]).unwrap(), vec![0, 7, -100, 10, 0, 0, 0, 0x2002, 2, 0x4002]);
        assert_eq!(encode(&[]).unwrap(), Vec::<i16>::new());
    }

    #[test]
    fn decodes_old_header() {
        // Old 3-word header: the third word is the list length.
        let list = [0i16, 0, 6, 0x2004, 2, 0x4003];
        let mut out = [9; 5];
        decode(&list, &mut out).unwrap();
        assert_eq!(out, [0, 0, 5, 5, 5]);
        // Words past the stated length are ignored.
        let list = [0i16, 0, 4, 0x4002, 0x4005];
        let mut out = [9; 2];
        decode(&list, &mut out).unwrap();
        assert_eq!(out, [1, 1]);
    }

    #[test]
    fn round_trips() {
        round_trip(&[]);
        for len in 1..=1000usize {
            round_trip(&vec![0; len]);
            round_trip(&vec![1; len]);
            round_trip(&vec![77; len]);
            round_trip(&vec![MAX_PIXEL; len]);
            round_trip(&(0..len as i32).collect::<Vec<_>>());
            round_trip(&(0..len as i32).map(|i| MAX_PIXEL - i * 16_000).collect::<Vec<_>>());
            let sparse: Vec<i32> = (0..len).map(|i| i32::from(i % 37 == 5 || i % 101 == 0)).collect();
            round_trip(&sparse);
        }
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for _ in 0..2000 {
            let len = 1 + rng.below(1000) as usize;
            let mut pixels = Vec::with_capacity(len);
            while pixels.len() < len {
                let value = match rng.below(6) {
                    0 | 1 => 0,
                    2 => rng.below(8) as i32,
                    3 => rng.below(9000) as i32,
                    4 => rng.below(1 << 24) as i32,
                    _ => pixels.last().copied().unwrap_or(0) + rng.below(9000) as i32 - 4500,
                };
                let value = value.clamp(0, MAX_PIXEL);
                let longest = if rng.below(4) == 0 { 20 } else { 3 };
                let run = 1 + rng.below(longest) as usize;
                pixels.extend(std::iter::repeat_n(value, run.min(len - pixels.len())));
            }
            round_trip(&pixels);
        }
    }

    #[test]
    fn long_runs_and_chunk_edges() {
        for zeros in [4094usize, 4095, 4096, 8189, 8190, 8191, 12285] {
            // Zeros then one high pixel then another value: the PN fold case.
            let mut pixels = vec![0; zeros];
            pixels.extend([3, 4]);
            let list = round_trip(&pixels);
            if zeros % 4095 == 0 {
                // cfitsio would write 24576 (IS 0) here; the chunk must stay a ZN word.
                assert!(list.contains(&4095), "{list:?}");
                assert!(!list.contains(&24576), "{list:?}");
            }
            for tail in [1usize, 4094, 4095, 4096, 9000] {
                let mut pixels = vec![0; zeros];
                pixels.extend(std::iter::repeat_n(MAX_PIXEL, tail));
                pixels.extend(std::iter::repeat_n(0, tail));
                round_trip(&pixels);
            }
        }
        round_trip(&vec![0; 100_000]);
        round_trip(&vec![12_345; 100_000]);
    }

    #[test]
    fn rejects_out_of_range_pixels() {
        for (pixels, index, value) in
            [(vec![0, 1, -1, 5], 2, -1), (vec![1 << 24], 0, 1 << 24), (vec![3, 4, 5, i32::MAX, -3], 3, i32::MAX)]
        {
            match encode(&pixels) {
                Err(CodecError::Unsupported { detail }) => {
                    assert!(detail.contains(&format!("pixel {index} is {value}")), "{detail}");
                }
                other => panic!("expected an error, got {other:?}"),
            }
        }
        round_trip(&[MAX_PIXEL, 0, MAX_PIXEL]);
    }

    #[test]
    fn size_and_header_errors() {
        let list = encode(&[0, 2, 2, 0, 9]).unwrap();
        let mut short = [0; 4];
        assert_eq!(decode(&list, &mut short), Err(CodecError::WrongSize { expected: 4, got: 5 }));
        let mut long = [0; 6];
        assert_eq!(decode(&list, &mut long), Err(CodecError::WrongSize { expected: 6, got: 5 }));
        assert!(matches!(decode(&list[..list.len() - 1], &mut [0; 5]), Err(CodecError::Truncated { .. })));
        assert!(matches!(decode(&[], &mut [0; 5]), Err(CodecError::Truncated { .. })));
        assert_eq!(decode(&[], &mut []), Ok(()));
        // Header length too small, negative length halves, length below the header.
        assert!(matches!(decode(&[0, 2, -100, 8, 0, 0, 0, 5], &mut [0; 5]), Err(CodecError::Corrupt { .. })));
        assert!(matches!(decode(&[0, 7, -100, -8, 0, 0, 0, 5], &mut [0; 5]), Err(CodecError::Corrupt { .. })));
        assert!(matches!(decode(&[0, 7, -100, 3, 0, 0, 0, 5], &mut [0; 5]), Err(CodecError::Corrupt { .. })));
        // Negative instruction word.
        assert!(matches!(decode(&[0, 7, -100, 8, 0, 0, 0, -5], &mut [0; 5]), Err(CodecError::Corrupt { .. })));
        // SH without its operand.
        assert!(matches!(decode(&[0, 7, -100, 8, 0, 0, 0, 0x1001], &mut [0; 5]), Err(CodecError::Truncated { .. })));
    }

    /// Bytes of a file from the test corpus.
    fn corpus(name: &str) -> Vec<u8> {
        let path = format!("{}/../../testdata/corpus/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn be_i32(bytes: &[u8], at: usize) -> i32 {
        i32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
    }

    #[test]
    fn m13_plio_matches_m13() {
        let plain = corpus("m13.fits");
        let packed = corpus("m13_plio.fits");
        let (width, height) = (300usize, 300usize);
        // m13.fits: BITPIX 16 big-endian after a single 2880-byte header block.
        let image: Vec<i32> = plain[2880..2880 + width * height * 2]
            .chunks_exact(2)
            .map(|b| i32::from(i16::from_be_bytes([b[0], b[1]])))
            .collect();

        let index = crate::IndexDecoder::decode_all(&packed).unwrap();
        let hdu = &index.hdus[1];
        assert_eq!(hdu.header.string("ZCMPTYPE").unwrap(), Some("PLIO_1"));
        assert_eq!(hdu.header.string("TFORM1").unwrap(), Some("1PI(301)"));
        let row_len = hdu.header.int("NAXIS1").unwrap().unwrap() as usize;
        let rows = hdu.header.int("NAXIS2").unwrap().unwrap() as usize;
        assert_eq!((row_len, rows), (8, height));
        let data_start = hdu.layout.data_start as usize;
        let heap = data_start + row_len * rows;

        let mut identical = 0;
        for row in 0..rows {
            let at = data_start + row * row_len;
            let count = be_i32(&packed, at) as usize;
            let offset = be_i32(&packed, at + 4) as usize;
            let words: Vec<i16> = packed[heap + offset..heap + offset + 2 * count]
                .chunks_exact(2)
                .map(|b| i16::from_be_bytes([b[0], b[1]]))
                .collect();
            let expected = &image[row * width..(row + 1) * width];
            let mut out = vec![-1; width];
            decode(&words, &mut out).unwrap_or_else(|e| panic!("row {row}: {e}"));
            assert_eq!(out, expected, "row {row}");

            let list = encode(expected).unwrap();
            let mut again = vec![-1; width];
            decode(&list, &mut again).unwrap();
            assert_eq!(again, expected, "row {row} re-encoded");
            if list == words {
                identical += 1;
            }
        }
        // cfitsio wrote this file; the encoder reproduces its lists word for word.
        assert_eq!(identical, rows, "re-encoded lists identical to the file's");
    }

    #[test]
    fn corrupt_lists_never_panic() {
        let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
        let samples: Vec<(Vec<i32>, Vec<i16>)> = [
            vec![0, 0, 5, 5, 5, 0, 1, 2, 3, 40_000, 40_000, 0, 0, 0, 7],
            (0..200).map(|i| (i * i * 97) % 70_000).collect(),
            vec![0; 300],
            (0..300).map(|i| i32::from(i % 17 == 3) * 9).collect(),
        ]
        .into_iter()
        .map(|p| {
            let list = encode(&p).unwrap();
            (p, list)
        })
        .collect();

        let mut calls = 0usize;
        let mut try_decode = |words: &[i16], n: usize| {
            let mut out = vec![0; n];
            let _ = decode(words, &mut out);
            calls += 1;
        };
        for (pixels, list) in &samples {
            let n = pixels.len();
            // Every truncation, with the right size and two wrong ones.
            for cut in 0..=list.len() {
                try_decode(&list[..cut], n);
                try_decode(&list[..cut], n / 2);
                try_decode(&list[..cut], n + 3);
            }
            // Every word replaced by special values.
            for at in 0..list.len() {
                for value in [0, 1, -1, 7, 4095, 4096, 0x1fff, 0x4fff, 0x5000, 0x7fff, i16::MIN, -100] {
                    let mut changed = list.clone();
                    changed[at] = value;
                    try_decode(&changed, n);
                }
            }
            // Random word changes.
            for _ in 0..500 {
                let mut changed = list.clone();
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(changed.len() as u64) as usize;
                    changed[at] = rng.next() as i16;
                }
                try_decode(&changed, n);
            }
        }
        // Garbage behind plausible and random headers.
        for _ in 0..3000 {
            let len = rng.below(64) as usize;
            let mut words: Vec<i16> = (0..len).map(|_| rng.next() as i16).collect();
            if len >= 7 && rng.below(2) == 0 {
                words[..7].copy_from_slice(&[0, 7, -100, len as i16, 0, 0, 0]);
            } else if len >= 3 && rng.below(2) == 0 {
                words[2] = len as i16;
            }
            try_decode(&words, rng.below(3000) as usize);
        }
        // Huge claimed runs with a small tile and vice versa stay bounded.
        try_decode(&[0, 7, -100, 8, 0, 0, 0, 0x4fff], 1);
        try_decode(&[0, 0, 32767], 10);
        assert!(calls > 3000, "{calls} variations");
    }
}
