//! The sans-IO HDU index decoder: handed byte ranges, it answers "need these ranges" or the HDU list.
//!
//! ```
//! use fits_core::{IndexDecoder, Step};
//! # fn fetch(r: std::ops::Range<u64>) -> bytes::Bytes { unimplemented!() }
//! # fn demo(file_len: u64) -> fits_core::Result<()> {
//! let mut decoder = IndexDecoder::new(file_len);
//! loop {
//!     match decoder.step()? {
//!         Step::Need(ranges) => for r in ranges { decoder.push(r.start, fetch(r))?; },
//!         Step::Done => break,
//!     }
//! }
//! let index = decoder.finish()?;
//! # Ok(()) }
//! ```

use crate::error::{Error, Result, Warning};
use crate::hdu::{self, HduKind, HduLayout};
use crate::header::{BLOCK_LEN, Header, HeaderParser};
use bytes::Bytes;
use std::borrow::Cow;
use std::ops::Range;

/// The default size of the first read and of each later header read: 23 blocks (66,240 bytes, about 64 KiB).
pub const DEFAULT_HEADER_READ: u64 = 23 * BLOCK_LEN as u64;

/// One HDU as found by the index decoder.
#[derive(Debug, Clone)]
pub struct HduEntry {
    /// Zero-based position in the file.
    pub index: usize,
    /// The parsed header.
    pub header: Header,
    /// What the HDU holds.
    pub kind: HduKind,
    /// Where header and data lie.
    pub layout: HduLayout,
    /// Defects found while reading this HDU's header and layout.
    pub warnings: Vec<Warning>,
}

impl HduEntry {
    /// `EXTNAME` (or `PRIMARY` for HDU 0 without one, as astropy names it; for a
    /// compressed image, the name of the image rather than the table).
    pub fn name(&self) -> String {
        if self.kind == HduKind::CompressedImage {
            return crate::compressed::image_name(&self.header);
        }
        match self.header.string("EXTNAME") {
            Ok(Some(name)) => name.to_string(),
            _ if self.index == 0 => "PRIMARY".to_string(),
            _ => String::new(),
        }
    }

    /// `EXTVER` (default 1).
    pub fn version(&self) -> i64 {
        self.header.int("EXTVER").ok().flatten().unwrap_or(1)
    }
}

/// The decoded list of HDUs of a file.
#[derive(Debug, Clone)]
pub struct FileIndex {
    /// The HDUs in file order.
    pub hdus: Vec<HduEntry>,
    /// Length of the file in bytes.
    pub file_len: u64,
    /// File-level defects (trailing bytes, for example).
    pub warnings: Vec<Warning>,
}

/// What the decoder wants next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Push these byte ranges, then call [`IndexDecoder::step`] again.
    Need(Vec<Range<u64>>),
    /// Every HDU is known; call [`IndexDecoder::finish`].
    Done,
}

/// Finds every HDU of a file without doing I/O itself.
#[derive(Debug)]
pub struct IndexDecoder {
    file_len: u64,
    read_len: u64,
    chunks: Vec<(u64, Bytes)>,
    hdus: Vec<HduEntry>,
    parser: Option<HeaderParser>,
    header_start: u64,
    pos: u64,
    warnings: Vec<Warning>,
    done: bool,
    /// Header positions guessed in the last request, and how many guesses to make next.
    guesses: Vec<u64>,
    speculate: usize,
}

/// Guesses made at first, and the most ever made in one request.
const SPECULATE_MIN: usize = 2;
const SPECULATE_MAX: usize = 32;

impl IndexDecoder {
    /// A decoder for a file of `file_len` bytes.
    pub fn new(file_len: u64) -> IndexDecoder {
        IndexDecoder::with_read_len(file_len, DEFAULT_HEADER_READ)
    }

    /// A decoder that asks for `read_len` bytes (rounded up to whole blocks) whenever it needs a header.
    pub fn with_read_len(file_len: u64, read_len: u64) -> IndexDecoder {
        IndexDecoder {
            file_len,
            read_len: hdu::padded(read_len.max(1)),
            chunks: Vec::new(),
            hdus: Vec::new(),
            parser: None,
            header_start: 0,
            pos: 0,
            warnings: Vec::new(),
            done: false,
            guesses: Vec::new(),
            speculate: SPECULATE_MIN,
        }
    }

    /// Hands the decoder bytes `offset..offset + data.len()` of the file.
    pub fn push(&mut self, offset: u64, data: Bytes) -> Result<()> {
        let end = offset.checked_add(data.len() as u64).filter(|&e| e <= self.file_len).ok_or_else(|| {
            Error::Usage(format!("pushed bytes {offset}..+{} beyond the file length {}", data.len(), self.file_len))
        })?;
        if end > offset {
            let at = self.chunks.partition_point(|(o, _)| *o < offset);
            self.chunks.insert(at, (offset, data));
        }
        Ok(())
    }

    /// Parses what has been pushed and says what is needed next.
    pub fn step(&mut self) -> Result<Step> {
        loop {
            if self.done {
                return Ok(Step::Done);
            }
            if self.parser.is_none() {
                match self.begin_hdu()? {
                    None => {
                        self.done = true;
                        continue;
                    }
                    Some(Some(need)) => return Ok(Step::Need(vec![need])),
                    Some(None) => {}
                }
            }
            let Some(block) = self.bytes_at(self.pos, BLOCK_LEN) else {
                return Ok(Step::Need(self.missing_ranges()));
            };
            let block = block.into_owned();
            let index = self.hdus.len();
            if self.parser.as_ref().is_some_and(|p| p.blocks() == 0) && !self.check_first_block(&block)? {
                self.done = true;
                continue;
            }
            let parser = self.parser.as_mut().ok_or_else(|| Error::Usage("no header in progress".into()))?;
            let complete = parser.push_block(&block).map_err(|e| e.in_hdu(index))?;
            self.pos += BLOCK_LEN as u64;
            if complete {
                self.complete_hdu()?;
            } else if self.pos + BLOCK_LEN as u64 > self.file_len {
                return Err(Error::MissingEnd {
                    header_start: self.header_start,
                    reason: format!("the file ends at byte {} inside the header", self.file_len),
                }
                .in_hdu(index));
            }
        }
    }

    /// Starts the next HDU at `pos`. `Ok(None)` when the file has no more
    /// HDUs, `Ok(Some(range))` when bytes are needed to decide.
    fn begin_hdu(&mut self) -> Result<Option<Option<Range<u64>>>> {
        let remaining = self.file_len.saturating_sub(self.pos);
        if self.hdus.is_empty() {
            if self.file_len == 0 {
                return Err(Error::Empty);
            }
            if remaining < BLOCK_LEN as u64 {
                return Err(Error::NotFits {
                    reason: format!("the file has {} bytes, less than one 2880-byte header block", self.file_len),
                });
            }
        } else if remaining == 0 {
            return Ok(None);
        } else if remaining < BLOCK_LEN as u64 {
            let Some(tail) = self.bytes_at(self.pos, remaining as usize) else {
                return Ok(Some(Some(self.pos..self.file_len)));
            };
            if tail.starts_with(b"XTENSION=") {
                return Err(Error::MissingEnd {
                    header_start: self.pos,
                    reason: format!("the file ends at byte {} inside the header", self.file_len),
                }
                .in_hdu(self.hdus.len()));
            }
            self.warnings.push(Warning {
                hdu: None,
                offset: Some(self.pos),
                message: format!("{remaining} trailing bytes after the last HDU are ignored"),
            });
            return Ok(None);
        }
        self.header_start = self.pos;
        self.parser = Some(HeaderParser::new(self.pos, Some(self.hdus.len())));
        Ok(Some(None))
    }

    /// Checks that a header's first block starts as a header should.
    fn check_first_block(&mut self, block: &[u8]) -> Result<bool> {
        if self.hdus.is_empty() {
            if block.starts_with(&[0x1f, 0x8b]) {
                return Err(Error::NotFits { reason: "the bytes are gzip-compressed (they start with 1f 8b)".into() });
            }
            if !block.starts_with(b"SIMPLE  =") {
                let shown: String = block[..block.len().min(30)]
                    .iter()
                    .map(|&b| if (0x20..0x7f).contains(&b) { b as char } else { '.' })
                    .collect();
                return Err(Error::NotFits { reason: format!("the first card is not SIMPLE (found {shown:?})") });
            }
            return Ok(true);
        }
        if block.starts_with(b"XTENSION=") {
            return Ok(true);
        }
        let what = if block.iter().all(|&b| b == 0) { "zero bytes" } else { "bytes that are not an extension header" };
        self.warnings.push(Warning {
            hdu: None,
            offset: Some(self.pos),
            message: format!("{} {what} after the last HDU are ignored", self.file_len - self.pos),
        });
        self.parser = None;
        Ok(false)
    }

    fn complete_hdu(&mut self) -> Result<()> {
        let index = self.hdus.len();
        let parser = self.parser.take().ok_or_else(|| Error::Usage("no header in progress".into()))?;
        let (header, mut warnings) = parser.finish().map_err(|e| e.in_hdu(index))?;
        let kind = hdu::kind_of(&header, index).map_err(|e| e.in_hdu(index))?;
        let data_len = hdu::data_len(&header, &kind).map_err(|e| e.in_hdu(index))?;
        warnings.extend(hdu::check_mandatory_order(&header, index, &kind));
        if index == 0 && header.logical("SIMPLE").ok().flatten() == Some(false) {
            warnings.push(Warning {
                hdu: Some(0),
                offset: Some(0),
                message: "SIMPLE = F: the file says it does not conform".into(),
            });
        }
        let layout = HduLayout { header_start: self.header_start, data_start: self.pos, data_len };
        let available = self.file_len.saturating_sub(layout.data_start);
        if layout.data_len > available {
            warnings.push(Warning {
                hdu: Some(index),
                offset: Some(layout.data_start),
                message: format!(
                    "data cut short: the header announces {} bytes, the file holds {available}",
                    layout.data_len
                ),
            });
        } else if layout.data_span() > available {
            warnings.push(Warning {
                hdu: Some(index),
                offset: Some(layout.data_start + layout.data_len),
                message: "the data's padding to a whole block is missing".into(),
            });
        }
        self.pos = layout.end();
        self.hdus.push(HduEntry { index, header, kind, layout, warnings });
        if self.pos >= self.file_len {
            self.done = true;
        }
        self.chunks.retain(|(o, b)| o + b.len() as u64 > self.pos);
        Ok(())
    }

    /// Bytes `pos..pos + len`, if pushed (borrowed when one chunk holds them all).
    fn bytes_at(&self, pos: u64, len: usize) -> Option<Cow<'_, [u8]>> {
        let mut out: Option<Vec<u8>> = None;
        let mut next = pos;
        loop {
            let (o, b) = self.chunks.iter().find(|(o, b)| *o <= next && next < o + b.len() as u64)?;
            let from = (next - o) as usize;
            let avail = b.len() - from;
            if out.is_none() && avail >= len {
                return Some(Cow::Borrowed(&b[from..from + len]));
            }
            let buf = out.get_or_insert_with(|| Vec::with_capacity(len));
            let take = (len - buf.len()).min(avail);
            buf.extend_from_slice(&b[from..from + take]);
            next += take as u64;
            if buf.len() == len {
                return out.map(Cow::Owned);
            }
        }
    }

    /// The ranges to ask for when the block at `pos` is missing: the header there and, when
    /// the last extension suggests a pattern, guesses at the next headers.
    ///
    /// Multi-extension files often repeat one extension size (every CCD of a mosaic, SCI/WHT/CTX
    /// of a drizzled image), so the next headers are likely at `pos + k * size`. Fetching those
    /// with the header that is needed turns one round trip per header into one per batch. Guesses
    /// double while they hit and fall back to two after a miss; a miss costs only bytes.
    fn missing_ranges(&mut self) -> Vec<Range<u64>> {
        let covered = |d: &IndexDecoder, at: u64| d.chunks.iter().any(|(o, b)| *o <= at && at < o + b.len() as u64);
        let mut have = self.pos;
        while let Some((o, b)) = self.chunks.iter().find(|(o, b)| *o <= have && have < o + b.len() as u64) {
            have = o + b.len() as u64;
        }
        let end = (self.pos + self.read_len).max(have + BLOCK_LEN as u64).min(self.file_len);
        let mut ranges = vec![have..end];
        let hits = self.guesses.iter().filter(|g| self.hdus.iter().any(|h| h.layout.header_start == **g)).count();
        self.speculate = if !self.guesses.is_empty() && hits == self.guesses.len() {
            (self.speculate * 2).min(SPECULATE_MAX)
        } else {
            SPECULATE_MIN
        };
        self.guesses.clear();
        let Some(last) = self.hdus.last().filter(|h| h.index > 0) else { return ranges };
        let size = last.layout.end() - last.layout.header_start;
        for k in 1..=self.speculate as u64 {
            let Some(at) = k.checked_mul(size).and_then(|d| d.checked_add(self.pos)) else { break };
            if at.saturating_add(BLOCK_LEN as u64) > self.file_len {
                break;
            }
            if !covered(self, at) {
                ranges.push(at..(at + self.read_len).min(self.file_len));
                self.guesses.push(at);
            }
        }
        ranges
    }

    /// The HDUs found so far (complete ones only).
    pub fn found(&self) -> &[HduEntry] {
        &self.hdus
    }

    /// The HDUs found so far, without decoding the rest (for readers that stop early).
    pub fn finish_partial(self) -> FileIndex {
        FileIndex { hdus: self.hdus, file_len: self.file_len, warnings: self.warnings }
    }

    /// The HDU list; an error if decoding is not finished.
    pub fn finish(self) -> Result<FileIndex> {
        if !self.done {
            return Err(Error::Usage("finish called before step returned Done".into()));
        }
        Ok(FileIndex { hdus: self.hdus, file_len: self.file_len, warnings: self.warnings })
    }

    /// Decodes the index of a file held in memory.
    pub fn decode_all(bytes: &[u8]) -> Result<FileIndex> {
        let mut decoder = IndexDecoder::new(bytes.len() as u64);
        loop {
            match decoder.step()? {
                Step::Done => return decoder.finish(),
                Step::Need(ranges) => {
                    for r in ranges {
                        let data = Bytes::copy_from_slice(&bytes[r.start as usize..r.end as usize]);
                        decoder.push(r.start, data)?;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Card, Value};

    fn hdu_bytes(cards: &[(&str, Value)], data_len: usize) -> Vec<u8> {
        let mut h = Header::new();
        for (k, v) in cards {
            h.push(Card::new(k, v.clone()));
        }
        let mut out = h.to_bytes().unwrap();
        out.extend(std::iter::repeat_n(7u8, data_len));
        out.resize(out.len().div_ceil(BLOCK_LEN) * BLOCK_LEN, 0);
        out
    }

    fn two_hdus() -> Vec<u8> {
        let mut f = hdu_bytes(&[("SIMPLE", true.into()), ("BITPIX", 8i64.into()), ("NAXIS", 0i64.into())], 0);
        f.extend(hdu_bytes(
            &[
                ("XTENSION", "IMAGE".into()),
                ("BITPIX", 16i64.into()),
                ("NAXIS", 2i64.into()),
                ("NAXIS1", 100i64.into()),
                ("NAXIS2", 50i64.into()),
                ("PCOUNT", 0i64.into()),
                ("GCOUNT", 1i64.into()),
                ("EXTNAME", "SCI".into()),
            ],
            10000,
        ));
        f
    }

    #[test]
    fn finds_hdus_and_layouts() {
        let f = two_hdus();
        let idx = IndexDecoder::decode_all(&f).unwrap();
        assert_eq!(idx.hdus.len(), 2);
        assert_eq!(idx.hdus[1].layout, HduLayout { header_start: 2880, data_start: 5760, data_len: 10000 });
        assert_eq!(idx.hdus[1].layout.data_span(), 11520);
        assert_eq!(idx.hdus[1].name(), "SCI");
        assert_eq!(idx.hdus[0].name(), "PRIMARY");
        assert!(idx.hdus.iter().all(|h| h.warnings.is_empty()), "{:?}", idx.hdus);
    }

    #[test]
    fn asks_for_one_read_per_header() {
        let mut f = two_hdus();
        // A large data block pushes the third header beyond the first read.
        f.extend(hdu_bytes(
            &[
                ("XTENSION", "IMAGE".into()),
                ("BITPIX", 8i64.into()),
                ("NAXIS", 1i64.into()),
                ("NAXIS1", 200_000i64.into()),
                ("PCOUNT", 0i64.into()),
                ("GCOUNT", 1i64.into()),
            ],
            200_000,
        ));
        f.extend(hdu_bytes(
            &[
                ("XTENSION", "IMAGE".into()),
                ("BITPIX", 8i64.into()),
                ("NAXIS", 0i64.into()),
                ("PCOUNT", 0i64.into()),
                ("GCOUNT", 1i64.into()),
            ],
            0,
        ));
        let mut d = IndexDecoder::new(f.len() as u64);
        let mut requests = Vec::new();
        while let Step::Need(ranges) = d.step().unwrap() {
            for r in ranges {
                requests.push(r.clone());
                d.push(r.start, Bytes::copy_from_slice(&f[r.start as usize..r.end as usize])).unwrap();
            }
        }
        let idx = d.finish().unwrap();
        assert_eq!(idx.hdus.len(), 4);
        assert_eq!(requests.len(), 2, "{requests:?}");
        assert_eq!(requests[0], 0..DEFAULT_HEADER_READ);
        assert_eq!(requests[1].start, idx.hdus[3].layout.header_start);
    }

    #[test]
    fn broken_files_name_their_defect() {
        assert!(matches!(IndexDecoder::decode_all(&[]), Err(Error::Empty)));
        let e = IndexDecoder::decode_all(&[b'x'; 5760]).unwrap_err().to_string();
        assert!(e.contains("not a FITS file") && e.contains("SIMPLE"), "{e}");
        let f = two_hdus();
        let e = IndexDecoder::decode_all(&f[..2880 + 1000]).unwrap_err().to_string();
        assert!(e.starts_with("HDU 1:") && e.contains("ends at byte 3880"), "{e}");
        let e = IndexDecoder::decode_all(&f[..5760 - 80]).unwrap_err().to_string();
        assert!(e.starts_with("HDU 1:") && e.contains("END"), "{e}");
        let mut junk = f[..2880].to_vec();
        junk.extend([b'z'; 100]);
        let idx = IndexDecoder::decode_all(&junk).unwrap();
        assert!(idx.warnings[0].message.contains("100 trailing bytes"), "{:?}", idx.warnings);
        let mut no_end = f[..2880].to_vec();
        no_end[..2880].copy_from_slice(&[b' '; 2880]);
        no_end[..30].copy_from_slice(b"SIMPLE  =                    T");
        let e = IndexDecoder::decode_all(&no_end).unwrap_err().to_string();
        assert!(e.contains("no END"), "{e}");
    }

    #[test]
    fn equal_extensions_are_found_with_guesses() {
        // A primary and twelve equal extensions, each larger than one read: without guesses
        // this takes one request per header; with doubling guesses, a few batches.
        let mut f = hdu_bytes(&[("SIMPLE", true.into()), ("BITPIX", 8i64.into()), ("NAXIS", 0i64.into())], 0);
        for _ in 0..12 {
            f.extend(hdu_bytes(
                &[
                    ("XTENSION", "IMAGE".into()),
                    ("BITPIX", 8i64.into()),
                    ("NAXIS", 1i64.into()),
                    ("NAXIS1", 100_000i64.into()),
                    ("PCOUNT", 0i64.into()),
                    ("GCOUNT", 1i64.into()),
                ],
                100_000,
            ));
        }
        let mut d = IndexDecoder::new(f.len() as u64);
        let mut batches = 0;
        while let Step::Need(ranges) = d.step().unwrap() {
            batches += 1;
            for r in ranges {
                d.push(r.start, Bytes::copy_from_slice(&f[r.start as usize..r.end as usize])).unwrap();
            }
        }
        let idx = d.finish().unwrap();
        assert_eq!(idx.hdus.len(), 13);
        assert!(batches <= 4, "{batches} batches");
        // Irregular sizes: guesses miss, decoding is still right.
        let mut g = hdu_bytes(&[("SIMPLE", true.into()), ("BITPIX", 8i64.into()), ("NAXIS", 0i64.into())], 0);
        for n in [100_000i64, 250_000, 90_000, 310_000] {
            g.extend(hdu_bytes(
                &[
                    ("XTENSION", "IMAGE".into()),
                    ("BITPIX", 8i64.into()),
                    ("NAXIS", 1i64.into()),
                    ("NAXIS1", n.into()),
                    ("PCOUNT", 0i64.into()),
                    ("GCOUNT", 1i64.into()),
                ],
                n as usize,
            ));
        }
        let idx = IndexDecoder::decode_all(&g).unwrap();
        assert_eq!(
            idx.hdus.iter().map(|h| h.layout.data_len).collect::<Vec<_>>(),
            [0, 100_000, 250_000, 90_000, 310_000]
        );
    }

    #[test]
    fn unknown_extensions_are_skipped_by_their_sizes() {
        let mut f = two_hdus();
        f.extend(hdu_bytes(
            &[
                ("XTENSION", "FOREIGN".into()),
                ("BITPIX", 8i64.into()),
                ("NAXIS", 1i64.into()),
                ("NAXIS1", 100i64.into()),
                ("PCOUNT", 3000i64.into()),
                ("GCOUNT", 2i64.into()),
            ],
            2 * (100 + 3000),
        ));
        f.extend(hdu_bytes(
            &[
                ("XTENSION", "IMAGE".into()),
                ("BITPIX", 8i64.into()),
                ("NAXIS", 0i64.into()),
                ("PCOUNT", 0i64.into()),
                ("GCOUNT", 1i64.into()),
            ],
            0,
        ));
        let idx = IndexDecoder::decode_all(&f).unwrap();
        assert_eq!(idx.hdus.len(), 4);
        assert_eq!(idx.hdus[2].kind, HduKind::Unknown("FOREIGN".into()));
        assert_eq!(idx.hdus[2].layout.data_len, 6200);
        assert_eq!(idx.hdus[3].layout.header_start, idx.hdus[2].layout.data_start + 8640);
    }

    #[test]
    fn short_data_and_trailing_bytes_are_warnings() {
        let f = two_hdus();
        let cut = &f[..5760 + 4000];
        let idx = IndexDecoder::decode_all(cut).unwrap();
        let w = &idx.hdus[1].warnings;
        assert!(w.iter().any(|w| w.message.contains("10000") && w.message.contains("4000")), "{w:?}");
        let mut padded = f.clone();
        padded.extend([0u8; 2880]);
        let idx = IndexDecoder::decode_all(&padded).unwrap();
        assert_eq!(idx.hdus.len(), 2);
        assert!(idx.warnings[0].message.contains("zero bytes"), "{:?}", idx.warnings);
    }
}
