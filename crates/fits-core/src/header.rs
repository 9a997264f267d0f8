//! Headers: ordered cards with typed lookups, editing, incremental parsing and serialization.

use crate::card::{CARD_LEN, Card, RecordKind, record_kind};
use crate::error::{Error, Result, Warning};
use crate::value::Value;

/// Bytes in one FITS block; headers and data are padded to a multiple of it.
pub const BLOCK_LEN: usize = 2880;

/// Records in one block.
const RECORDS_PER_BLOCK: usize = BLOCK_LEN / CARD_LEN;

/// The `END` record.
const END_RECORD: [u8; CARD_LEN] = {
    let mut r = [b' '; CARD_LEN];
    r[0] = b'E';
    r[1] = b'N';
    r[2] = b'D';
    r
};

/// An ordered list of cards.
///
/// Parsed headers remember their bytes: [`Header::to_bytes`] gives back the
/// input byte for byte unless a card was changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Header {
    cards: Vec<Card>,
    /// The END record and the block padding after it, as read.
    tail: Option<Vec<u8>>,
    /// The records count the tail was read with; a different count means fresh padding.
    tail_records: usize,
}

impl Header {
    /// An empty header.
    pub fn new() -> Header {
        Header::default()
    }

    /// Parses records until `END` (or until the bytes run out: then the header
    /// simply ends; use [`HeaderParser`] to insist on an END card).
    pub fn from_records(bytes: &[u8]) -> Result<Header> {
        let mut parser = HeaderParser::new(0, None);
        for chunk in bytes.chunks(BLOCK_LEN) {
            let mut block = [b' '; BLOCK_LEN];
            block[..chunk.len()].copy_from_slice(chunk);
            if parser.push_block(&block)? {
                break;
            }
        }
        Ok(parser.finish_lenient().0)
    }

    /// All cards in order.
    pub fn cards(&self) -> &[Card] {
        &self.cards
    }

    /// Iterates over the cards.
    pub fn iter(&self) -> std::slice::Iter<'_, Card> {
        self.cards.iter()
    }

    /// Number of cards (a CONTINUE run counts once).
    pub fn len(&self) -> usize {
        self.cards.len()
    }

    /// Whether the header has no cards.
    pub fn is_empty(&self) -> bool {
        self.cards.is_empty()
    }

    /// The first card with this keyword.
    pub fn card(&self, keyword: &str) -> Option<&Card> {
        self.cards.iter().find(|c| c.is(keyword))
    }

    /// Position of the first card with this keyword.
    pub fn position(&self, keyword: &str) -> Option<usize> {
        self.cards.iter().position(|c| c.is(keyword))
    }

    /// Whether a card with this keyword exists.
    pub fn contains(&self, keyword: &str) -> bool {
        self.card(keyword).is_some()
    }

    /// The value of the first card with this keyword (`None` if absent or commentary).
    pub fn value(&self, keyword: &str) -> Option<&Value> {
        self.card(keyword).and_then(Card::value)
    }

    /// An integer value; an error if present with another type.
    pub fn int(&self, keyword: &str) -> Result<Option<i64>> {
        match self.value(keyword) {
            None | Some(Value::Undefined) => Ok(None),
            Some(Value::Integer(i)) => Ok(Some(*i)),
            Some(Value::BigInteger(t)) => Err(Error::invalid(keyword, t, "integer beyond the 64-bit range")),
            Some(Value::Float(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(*f as i64)),
            Some(other) => Err(type_error(keyword, "integer", other)),
        }
    }

    /// A numeric value as `f64` (integers accepted).
    pub fn float(&self, keyword: &str) -> Result<Option<f64>> {
        match self.value(keyword) {
            None | Some(Value::Undefined) => Ok(None),
            Some(v) => v.as_f64().map(Some).ok_or_else(|| type_error(keyword, "number", v)),
        }
    }

    /// A string value.
    pub fn string(&self, keyword: &str) -> Result<Option<&str>> {
        match self.value(keyword) {
            None | Some(Value::Undefined) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(type_error(keyword, "string", other)),
        }
    }

    /// A logical value.
    pub fn logical(&self, keyword: &str) -> Result<Option<bool>> {
        match self.value(keyword) {
            None | Some(Value::Undefined) => Ok(None),
            Some(Value::Logical(b)) => Ok(Some(*b)),
            Some(other) => Err(type_error(keyword, "logical", other)),
        }
    }

    /// An integer value that must be present.
    pub fn required_int(&self, keyword: &str) -> Result<i64> {
        self.int(keyword)?.ok_or_else(|| Error::MissingKeyword { keyword: keyword.to_string() })
    }

    /// The texts of all commentary cards with this keyword (`COMMENT`, `HISTORY`).
    pub fn commentary<'a>(&'a self, keyword: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.cards.iter().filter(move |c| c.is_commentary() && c.is(keyword)).filter_map(Card::comment_text)
    }

    /// Sets a keyword's value: updates the first card with it (keeping its
    /// comment), or appends a new card.
    pub fn set(&mut self, keyword: &str, value: impl Into<Value>) {
        match self.cards.iter_mut().find(|c| c.is(keyword) && !c.is_commentary()) {
            Some(card) => card.set_value(value),
            None => self.cards.push(Card::new(keyword, value)),
        }
    }

    /// Sets a keyword's value and comment, replacing the first card with it or appending.
    pub fn set_with_comment(&mut self, keyword: &str, value: impl Into<Value>, comment: &str) {
        let card = Card::new(keyword, value).with_comment(comment);
        match self.cards.iter().position(|c| c.is(keyword) && !c.is_commentary()) {
            Some(i) => self.cards[i] = card,
            None => self.cards.push(card),
        }
    }

    /// Appends a card.
    pub fn push(&mut self, card: Card) {
        self.cards.push(card);
    }

    /// Inserts a card at `index` (clamped to the end).
    pub fn insert(&mut self, index: usize, card: Card) {
        let index = index.min(self.cards.len());
        self.cards.insert(index, card);
    }

    /// Removes and returns the first card with this keyword.
    pub fn remove(&mut self, keyword: &str) -> Option<Card> {
        let i = self.position(keyword)?;
        Some(self.cards.remove(i))
    }

    /// Keeps only the cards for which `keep` returns true.
    pub fn retain(&mut self, keep: impl FnMut(&Card) -> bool) {
        self.cards.retain(keep);
    }

    /// Serializes the cards, the END record and blank padding to whole blocks.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity((self.cards.len() + 1) * CARD_LEN);
        for card in &self.cards {
            out.extend_from_slice(&card.to_records()?);
        }
        let records = out.len() / CARD_LEN;
        match &self.tail {
            Some(tail) if records == self.tail_records => out.extend_from_slice(tail),
            _ => {
                out.extend_from_slice(&END_RECORD);
                let padded = out.len().div_ceil(BLOCK_LEN) * BLOCK_LEN;
                out.resize(padded, b' ');
            }
        }
        Ok(out)
    }

    /// Bytes the serialized header takes (a multiple of 2880).
    pub fn byte_len(&self) -> usize {
        let records: usize = self.cards.iter().map(Card::record_count).sum::<usize>() + 1;
        records.div_ceil(RECORDS_PER_BLOCK) * BLOCK_LEN
    }
}

fn type_error(keyword: &str, expected: &'static str, found: &Value) -> Error {
    Error::KeywordType { keyword: keyword.to_string(), expected, found: format!("{} {}", found.type_name(), found) }
}

/// Largest header accepted before END: beyond this the bytes are not a header.
pub const MAX_HEADER_BYTES: u64 = 64 * 1024 * 1024;

/// Parses a header block by block, so a reader can feed blocks as they arrive.
#[derive(Debug)]
pub struct HeaderParser {
    start: u64,
    hdu: Option<usize>,
    cards: Vec<Card>,
    warnings: Vec<Warning>,
    blocks: usize,
    records: usize,
    tail: Option<Vec<u8>>,
    tail_records: usize,
    done: bool,
}

impl HeaderParser {
    /// A parser for the header starting at byte `start` of the file (for messages).
    pub fn new(start: u64, hdu: Option<usize>) -> HeaderParser {
        HeaderParser {
            start,
            hdu,
            cards: Vec::new(),
            warnings: Vec::new(),
            blocks: 0,
            records: 0,
            tail: None,
            tail_records: 0,
            done: false,
        }
    }

    /// Blocks consumed so far.
    pub fn blocks(&self) -> usize {
        self.blocks
    }

    /// Feeds the next 2880-byte block. Returns `true` once END has been seen.
    pub fn push_block(&mut self, block: &[u8]) -> Result<bool> {
        if self.done {
            return Ok(true);
        }
        if block.len() != BLOCK_LEN {
            return Err(Error::BufferSize { expected: BLOCK_LEN, actual: block.len() });
        }
        if (self.blocks as u64 + 1) * BLOCK_LEN as u64 > MAX_HEADER_BYTES {
            return Err(Error::MissingEnd {
                header_start: self.start,
                reason: format!("no END within {MAX_HEADER_BYTES} bytes"),
            });
        }
        let block_start = self.start + (self.blocks * BLOCK_LEN) as u64;
        for (i, chunk) in block.chunks_exact(CARD_LEN).enumerate() {
            // chunks_exact(CARD_LEN) yields exactly CARD_LEN bytes.
            let record: &[u8; CARD_LEN] = chunk.try_into().expect("chunk of CARD_LEN");
            let offset = block_start + (i * CARD_LEN) as u64;
            if let Some(pos) = record.iter().position(|b| !(0x20..=0x7e).contains(b)) {
                self.warn(
                    offset + pos as u64,
                    format!(
                        "card {} has a byte 0x{:02x} outside printable ASCII (shown as '?')",
                        self.records + 1,
                        record[pos]
                    ),
                );
            }
            match record_kind(record) {
                RecordKind::End => {
                    if record[3..].iter().any(|&b| b != b' ') {
                        self.warn(offset, "END card has text after END".into());
                    }
                    let tail_bytes = &block[i * CARD_LEN..];
                    if tail_bytes[CARD_LEN..].iter().any(|&b| b != b' ') {
                        self.warn(offset + CARD_LEN as u64, "header padding after END is not blank".into());
                    }
                    self.tail = Some(tail_bytes.to_vec());
                    self.tail_records = self.records;
                    self.done = true;
                    self.blocks += 1;
                    return Ok(true);
                }
                RecordKind::Continue => {
                    let joined = self.cards.last_mut().is_some_and(|c| c.absorb_continue(record));
                    if !joined {
                        let (card, _) = Card::parse_record(record);
                        self.warn(offset, "CONTINUE card that continues no long string".into());
                        self.cards.push(card);
                    }
                }
                RecordKind::Other => {
                    let (card, defect) = Card::parse_record(record);
                    if let Some(defect) = defect {
                        self.warn(offset, format!("card {} ({}): {defect}", self.records + 1, card.keyword()));
                    }
                    self.cards.push(card);
                }
            }
            self.records += 1;
        }
        self.blocks += 1;
        Ok(false)
    }

    fn warn(&mut self, offset: u64, message: String) {
        self.warnings.push(Warning { hdu: self.hdu, offset: Some(offset), message });
    }

    /// Whether END has been seen.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The header and its warnings; an error if END was not seen.
    pub fn finish(self) -> Result<(Header, Vec<Warning>)> {
        if !self.done {
            return Err(Error::MissingEnd {
                header_start: self.start,
                reason: format!("the bytes end after {} blocks", self.blocks),
            });
        }
        Ok(self.finish_lenient())
    }

    fn finish_lenient(self) -> (Header, Vec<Warning>) {
        let header = Header { cards: self.cards, tail: self.tail, tail_records: self.tail_records };
        (header, self.warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_of(lines: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        for l in lines {
            let mut r = [b' '; CARD_LEN];
            r[..l.len()].copy_from_slice(l.as_bytes());
            out.extend_from_slice(&r);
        }
        out.resize(out.len().div_ceil(BLOCK_LEN) * BLOCK_LEN, b' ');
        out
    }

    #[test]
    fn round_trip_is_byte_identical() {
        let bytes = block_of(&[
            "SIMPLE  =                    T / conforms",
            "BITPIX  =                  -32",
            "NAXIS   =                    0",
            "LONG    = 'abc&'",
            "CONTINUE  'def' / tail",
            "ODD     =   1.50000D+02  /   spaced   comment",
            "COMMENT   free text",
            "END",
        ]);
        let mut p = HeaderParser::new(0, Some(0));
        assert!(p.push_block(&bytes).unwrap());
        let (h, w) = p.finish().unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(h.string("LONG").unwrap(), Some("abcdef"));
        assert_eq!(h.float("ODD").unwrap(), Some(150.0));
        assert_eq!(h.to_bytes().unwrap(), bytes);
    }

    #[test]
    fn edits_reformat_only_what_changed() {
        let bytes = block_of(&["SIMPLE  =                    T", "NAXIS   =                    0", "END"]);
        let mut h = Header::from_records(&bytes).unwrap();
        h.set("NAXIS", 2i64);
        h.push(Card::new("NAXIS1", 10i64));
        let out = h.to_bytes().unwrap();
        assert_eq!(out.len(), BLOCK_LEN);
        let again = Header::from_records(&out).unwrap();
        assert_eq!(again.int("NAXIS").unwrap(), Some(2));
        assert_eq!(again.int("NAXIS1").unwrap(), Some(10));
        assert_eq!(&out[..80], &bytes[..80]);
    }

    #[test]
    fn typed_lookup_errors_name_the_keyword() {
        let h =
            Header::from_records(&block_of(&["BITPIX  = 'sixteen'", "BIG     = 99999999999999999999", "END"])).unwrap();
        let e = h.int("BITPIX").unwrap_err().to_string();
        assert!(e.contains("BITPIX") && e.contains("integer"), "{e}");
        let e = h.int("BIG").unwrap_err().to_string();
        assert!(e.contains("BIG") && e.contains("64-bit"), "{e}");
        assert_eq!(h.float("BIG").unwrap(), Some(1e20));
        assert!(matches!(h.required_int("NAXIS"), Err(Error::MissingKeyword { .. })));
    }

    #[test]
    fn missing_end_is_an_error() {
        let mut p = HeaderParser::new(2880, Some(1));
        assert!(!p.push_block(&block_of(&["XTENSION= 'IMAGE   '"])).unwrap());
        let e = p.finish().unwrap_err().to_string();
        assert!(e.contains("2880") && e.contains("END"), "{e}");
    }

    #[test]
    fn non_ascii_bytes_are_reported() {
        let mut bytes = block_of(&["SIMPLE  =                    T", "COMMENT caf", "END"]);
        bytes[80 + 11] = 0xe9;
        let mut p = HeaderParser::new(0, Some(0));
        p.push_block(&bytes).unwrap();
        let (_, w) = p.finish().unwrap();
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].offset, Some(91));
        assert!(w[0].message.contains("0xe9"));
    }

    #[test]
    fn commentary_and_removal() {
        let mut h = Header::new();
        h.push(Card::history("one"));
        h.push(Card::history("two"));
        h.set("OBJECT", "M13");
        assert_eq!(h.commentary("HISTORY").collect::<Vec<_>>(), ["one", "two"]);
        assert!(h.remove("OBJECT").is_some());
        assert!(!h.contains("OBJECT"));
        assert_eq!(h.byte_len(), BLOCK_LEN);
    }
}
