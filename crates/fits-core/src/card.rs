//! Header cards: one 80-byte record (or a run of CONTINUE records) parsed into keyword, value and comment.

use crate::error::{Error, Result};
use crate::value::{ParsedField, Value, format_float, parse_value_field};

/// Bytes in one header record.
pub const CARD_LEN: usize = 80;

/// Longest string piece a CONTINUE record can hold, quotes excluded.
const CONTINUE_PIECE: usize = 67;

/// One logical header card.
///
/// A card parsed from a file keeps its original record bytes, so an unmodified
/// header writes back byte for byte. A long string spread over `CONTINUE`
/// records is one card whose value is the joined string.
#[derive(Debug, Clone, PartialEq)]
pub struct Card {
    keyword: String,
    hierarch: bool,
    body: Body,
    /// The record bytes as read; `None` for cards built or modified in memory.
    raw: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq)]
enum Body {
    /// A keyword with a value indicator.
    Value { value: Value, comment: Option<String> },
    /// COMMENT, HISTORY, blank keyword, or any keyword without `= `: free text.
    Text(String),
}

/// What kind of card a record holds, seen from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecordKind {
    End,
    Continue,
    Other,
}

impl Card {
    /// A value card. Keywords longer than 8 characters, or with characters
    /// outside `A-Z 0-9 - _`, are written with the HIERARCH convention.
    pub fn new(keyword: &str, value: impl Into<Value>) -> Card {
        let keyword = keyword.trim();
        let keyword = keyword.strip_prefix("HIERARCH ").map(str::trim).unwrap_or(keyword);
        let hierarch = !is_standard_keyword(keyword);
        Card {
            keyword: keyword.to_string(),
            hierarch,
            body: Body::Value { value: value.into(), comment: None },
            raw: None,
        }
    }

    /// The same card with a comment.
    pub fn with_comment(mut self, comment: impl Into<String>) -> Card {
        if let Body::Value { comment: c, .. } = &mut self.body {
            *c = Some(comment.into());
        }
        self.raw = None;
        self
    }

    /// A `COMMENT` card.
    pub fn comment(text: impl Into<String>) -> Card {
        Card::text("COMMENT", text)
    }

    /// A `HISTORY` card.
    pub fn history(text: impl Into<String>) -> Card {
        Card::text("HISTORY", text)
    }

    /// A commentary card with any keyword (blank keyword for a blank card).
    pub fn text(keyword: &str, text: impl Into<String>) -> Card {
        Card { keyword: keyword.trim().to_string(), hierarch: false, body: Body::Text(text.into()), raw: None }
    }

    /// The keyword, upper case as written, without a `HIERARCH ` prefix.
    pub fn keyword(&self) -> &str {
        &self.keyword
    }

    /// Whether the keyword uses the HIERARCH convention.
    pub fn is_hierarch(&self) -> bool {
        self.hierarch
    }

    /// The value, or `None` for commentary cards.
    pub fn value(&self) -> Option<&Value> {
        match &self.body {
            Body::Value { value, .. } => Some(value),
            Body::Text(_) => None,
        }
    }

    /// The comment of a value card, or the text of a commentary card.
    pub fn comment_text(&self) -> Option<&str> {
        match &self.body {
            Body::Value { comment, .. } => comment.as_deref(),
            Body::Text(text) => Some(text),
        }
    }

    /// Whether this is a commentary card (COMMENT, HISTORY, blank, or no value indicator).
    pub fn is_commentary(&self) -> bool {
        matches!(self.body, Body::Text(_))
    }

    /// Replaces the value (the comment stays).
    pub fn set_value(&mut self, value: impl Into<Value>) {
        let value = value.into();
        match &mut self.body {
            Body::Value { value: v, .. } => *v = value,
            Body::Text(_) => self.body = Body::Value { value, comment: None },
        }
        self.raw = None;
    }

    /// Whether the card still holds the record bytes it was read from.
    pub fn is_verbatim(&self) -> bool {
        self.raw.is_some()
    }

    /// Whether the keyword matches `name` (case-insensitive; a `HIERARCH ` prefix on `name` is ignored).
    pub fn is(&self, name: &str) -> bool {
        let name = name.trim();
        let name = name.strip_prefix("HIERARCH ").map(str::trim).unwrap_or(name);
        self.keyword.eq_ignore_ascii_case(name)
    }

    /// The card's records: the original bytes when unmodified, otherwise freshly formatted.
    pub fn to_records(&self) -> Result<Vec<u8>> {
        if let Some(raw) = &self.raw {
            return Ok(raw.clone());
        }
        self.format()
    }

    fn format(&self) -> Result<Vec<u8>> {
        match &self.body {
            Body::Text(text) => self.format_text(text),
            Body::Value { value, comment } => self.format_value(value, comment.as_deref()),
        }
    }

    fn format_text(&self, text: &str) -> Result<Vec<u8>> {
        if self.keyword.len() > 8 {
            return Err(self.error("commentary keywords have at most 8 characters"));
        }
        check_ascii(&self.keyword, text)?;
        let mut out = Vec::new();
        let chunks: Vec<&str> = if text.is_empty() { vec![""] } else { split_chars(text, 72) };
        for chunk in chunks {
            out.extend_from_slice(&pad_record(&format!("{:<8}{chunk}", self.keyword)));
        }
        Ok(out)
    }

    fn format_value(&self, value: &Value, comment: Option<&str>) -> Result<Vec<u8>> {
        check_ascii(&self.keyword, comment.unwrap_or(""))?;
        let prefix =
            if self.hierarch { format!("HIERARCH {} = ", self.keyword) } else { format!("{:<8}= ", self.keyword) };
        if prefix.len() >= CARD_LEN {
            return Err(self.error("keyword too long for one card"));
        }
        if let Value::String(s) = value {
            check_ascii(&self.keyword, s)?;
            return Ok(self.format_string(&prefix, s, comment));
        }
        let text = match value {
            Value::Float(x) => format_float(*x).ok_or_else(|| self.error("NaN and infinities cannot be written"))?,
            Value::Complex(re, im) => {
                let re = format_float(*re).ok_or_else(|| self.error("NaN and infinities cannot be written"))?;
                let im = format_float(*im).ok_or_else(|| self.error("NaN and infinities cannot be written"))?;
                format!("({re}, {im})")
            }
            Value::Invalid(t) => return Err(self.error(&format!("value {t:?} is not valid FITS"))),
            other => other.to_string(),
        };
        let mut line = if self.hierarch { format!("{prefix}{text}") } else { format!("{prefix}{text:>20}") };
        if line.len() > CARD_LEN {
            return Err(self.error("value too long for one card"));
        }
        append_comment(&mut line, comment);
        Ok(pad_record(&line).to_vec())
    }

    /// Formats a string value, spreading it over CONTINUE records when it does not fit.
    fn format_string(&self, prefix: &str, s: &str, comment: Option<&str>) -> Vec<u8> {
        let escaped_len = s.len() + s.matches('\'').count();
        let room = CARD_LEN - prefix.len() - 2;
        if escaped_len <= room {
            let quoted = format!("'{:<8}'", s.replace('\'', "''"));
            // Pad the value field to 20 columns as cfitsio and astropy do (comments then start in
            // column 32): readers that re-format a card, as astropy does when it checks CHECKSUM,
            // then reproduce these exact bytes.
            let mut line = if self.hierarch { format!("{prefix}{quoted}") } else { format!("{prefix}{quoted:<20}") };
            append_comment(&mut line, comment);
            return pad_record(&line).to_vec();
        }
        // Long string: pieces end with '&' except the last; never split a doubled quote.
        let mut out = Vec::new();
        let mut rest = s;
        let mut first = true;
        loop {
            let limit = if first { room - 1 } else { CONTINUE_PIECE - 1 };
            let piece = take_escaped(rest, limit);
            rest = &rest[piece.len()..];
            let escaped = piece.replace('\'', "''");
            let last = rest.is_empty();
            let amp = if last { "" } else { "&" };
            let head = if first { prefix.to_string() } else { "CONTINUE  ".to_string() };
            let mut line = format!("{head}'{escaped}{amp}'");
            if last {
                append_comment(&mut line, comment);
            }
            out.extend_from_slice(&pad_record(&line));
            first = false;
            if last {
                break;
            }
        }
        out
    }

    fn error(&self, reason: &str) -> Error {
        Error::InvalidCard { keyword: self.keyword.clone(), reason: reason.to_string() }
    }

    /// Parses one record. CONTINUE records are joined by [`crate::Header`].
    pub(crate) fn parse_record(record: &[u8; CARD_LEN]) -> (Card, Option<String>) {
        let text = record_text(record);
        let kw_field = &text[..8];
        let raw = Some(record.to_vec());
        if kw_field == "HIERARCH" {
            if let Some(eq) = text[8..].find('=') {
                let keyword = text[8..8 + eq].trim().to_string();
                let field: ParsedField = parse_value_field(&text[8 + eq + 1..]);
                let card = Card {
                    keyword,
                    hierarch: true,
                    body: Body::Value { value: field.value, comment: field.comment },
                    raw,
                };
                return (card, field.defect);
            }
        }
        let keyword = kw_field.trim_end().to_string();
        let mut defect = None;
        if !keyword.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_') {
            defect = Some(format!("keyword {keyword:?} has characters outside A-Z 0-9 - _"));
        } else if kw_field.trim_start().len() != kw_field.len() && !keyword.is_empty() {
            defect = Some(format!("keyword {keyword:?} does not start in column 1"));
        }
        let has_value = &text[8..10] == "= " && !matches!(keyword.as_str(), "COMMENT" | "HISTORY" | "");
        if has_value {
            let field = parse_value_field(&text[10..]);
            let card = Card {
                keyword,
                hierarch: false,
                body: Body::Value { value: field.value, comment: field.comment },
                raw,
            };
            (card, defect.or(field.defect))
        } else {
            let body = text[8..].trim_end().to_string();
            (Card { keyword, hierarch: false, body: Body::Text(body), raw }, defect)
        }
    }

    /// Joins a CONTINUE record to a long-string card. Returns false when this card cannot take one.
    pub(crate) fn absorb_continue(&mut self, record: &[u8; CARD_LEN]) -> bool {
        let Body::Value { value: Value::String(s), comment } = &mut self.body else {
            return false;
        };
        if !s.ends_with('&') {
            return false;
        }
        let text = record_text(record);
        let field = parse_value_field(&text[8..]);
        let Value::String(more) = field.value else {
            return false;
        };
        s.pop();
        s.push_str(&more);
        if let Some(c) = field.comment {
            match comment {
                Some(existing) if !existing.is_empty() => {
                    existing.push(' ');
                    existing.push_str(&c);
                }
                _ => *comment = Some(c),
            }
        }
        if let Some(raw) = &mut self.raw {
            raw.extend_from_slice(record);
        }
        true
    }

    /// The number of 80-byte records this card occupies in its current form.
    pub fn record_count(&self) -> usize {
        match &self.raw {
            Some(raw) => raw.len() / CARD_LEN,
            None => self.format().map(|r| r.len() / CARD_LEN).unwrap_or(1),
        }
    }
}

/// Classifies a record by its keyword field.
pub(crate) fn record_kind(record: &[u8; CARD_LEN]) -> RecordKind {
    if &record[..8] == b"END     " {
        RecordKind::End
    } else if &record[..8] == b"CONTINUE" && &record[8..10] != b"= " {
        RecordKind::Continue
    } else {
        RecordKind::Other
    }
}

/// The record as text; bytes outside printable ASCII become `?` (callers warn about them).
fn record_text(record: &[u8; CARD_LEN]) -> String {
    record.iter().map(|&b| if (0x20..=0x7e).contains(&b) { b as char } else { '?' }).collect()
}

/// Whether a keyword can be written in the standard 8-column form.
pub(crate) fn is_standard_keyword(keyword: &str) -> bool {
    !keyword.is_empty()
        && keyword.len() <= 8
        && keyword.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn check_ascii(keyword: &str, text: &str) -> Result<()> {
    if text.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        Ok(())
    } else {
        Err(Error::InvalidCard { keyword: keyword.to_string(), reason: "header text must be printable ASCII".into() })
    }
}

fn append_comment(line: &mut String, comment: Option<&str>) {
    if let Some(c) = comment.filter(|c| !c.is_empty()) {
        let room = CARD_LEN.saturating_sub(line.len() + 3);
        if room > 0 {
            line.push_str(" / ");
            line.extend(c.chars().take(room));
        }
    }
}

fn pad_record(line: &str) -> [u8; CARD_LEN] {
    let mut rec = [b' '; CARD_LEN];
    let n = line.len().min(CARD_LEN);
    rec[..n].copy_from_slice(&line.as_bytes()[..n]);
    rec
}

fn split_chars(text: &str, n: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let cut = rest.char_indices().nth(n).map(|(i, _)| i).unwrap_or(rest.len());
        out.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    out
}

/// The longest prefix of `s` whose escaped length (quotes doubled) is at most `limit`.
fn take_escaped(s: &str, limit: usize) -> &str {
    let mut used = 0;
    for (i, c) in s.char_indices() {
        let w = if c == '\'' { 2 } else { c.len_utf8() };
        if used + w > limit {
            return &s[..i];
        }
        used += w;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(s: &str) -> [u8; CARD_LEN] {
        pad_record(s)
    }

    #[test]
    fn parses_value_cards() {
        let (c, d) = Card::parse_record(&rec("NAXIS1  =                 4220 / length of axis 1"));
        assert!(d.is_none());
        assert_eq!(c.keyword(), "NAXIS1");
        assert_eq!(c.value(), Some(&Value::Integer(4220)));
        assert_eq!(c.comment_text(), Some("length of axis 1"));
        let (c, _) = Card::parse_record(&rec("HISTORY this is history / with a slash"));
        assert!(c.is_commentary());
        assert_eq!(c.comment_text(), Some("this is history / with a slash"));
    }

    #[test]
    fn parses_hierarch() {
        let (c, d) = Card::parse_record(&rec("HIERARCH ESO DET CHIP NAME = 'CCD-44' / chip"));
        assert!(d.is_none());
        assert!(c.is_hierarch());
        assert_eq!(c.keyword(), "ESO DET CHIP NAME");
        assert_eq!(c.value(), Some(&Value::String("CCD-44".into())));
        assert!(c.is("HIERARCH ESO DET CHIP NAME"));
    }

    #[test]
    fn reports_odd_keywords() {
        let (_, d) = Card::parse_record(&rec("lower   =                    1"));
        assert!(d.unwrap().contains("lower"));
    }

    #[test]
    fn formats_fixed_values() {
        let c = Card::new("NAXIS", 2i64).with_comment("number of axes");
        let r = c.to_records().unwrap();
        assert_eq!(&r[..], &rec("NAXIS   =                    2 / number of axes")[..]);
        let c = Card::new("EXTNAME", "SCI");
        assert_eq!(&c.to_records().unwrap()[..], &rec("EXTNAME = 'SCI     '")[..]);
        let c = Card::new("CHECKSUM", "0000000000000000").with_comment("HDU checksum");
        assert_eq!(&c.to_records().unwrap()[..], &rec("CHECKSUM= '0000000000000000'   / HDU checksum")[..]);
        let c = Card::new("SIMPLE", true);
        assert_eq!(&c.to_records().unwrap()[..], &rec("SIMPLE  =                    T")[..]);
        let c = Card::new("UNDEF", Value::Undefined).with_comment("x");
        assert_eq!(&c.to_records().unwrap()[..], &rec("UNDEF   =                      / x")[..]);
        assert!(Card::new("BAD", f64::NAN).to_records().is_err());
    }

    #[test]
    fn long_strings_round_trip_through_continue() {
        let long: String = (0..200).map(|i| if i % 17 == 0 { '\'' } else { (b'a' + (i % 26) as u8) as char }).collect();
        let card = Card::new("LONGSTR", long.as_str()).with_comment("a comment");
        let bytes = card.to_records().unwrap();
        assert!(bytes.len() > CARD_LEN);
        let mut header = crate::Header::default();
        header.push(card);
        let again = crate::Header::from_records(&bytes).unwrap();
        assert_eq!(again.cards()[0].value(), Some(&Value::String(long)));
        assert_eq!(again.cards()[0].comment_text(), Some("a comment"));
    }

    #[test]
    fn hierarch_formatting() {
        let c = Card::new("ESO TEL ALT", 45.5f64);
        let r = c.to_records().unwrap();
        assert!(r.starts_with(b"HIERARCH ESO TEL ALT = 45.5"));
        let (back, _) = Card::parse_record(&r[..CARD_LEN].try_into().unwrap());
        assert_eq!(back.value(), Some(&Value::Float(45.5)));
    }

    #[test]
    fn long_commentary_splits() {
        let text = "x".repeat(100);
        let r = Card::history(text).to_records().unwrap();
        assert_eq!(r.len(), 2 * CARD_LEN);
        assert!(Card::comment("caf\u{e9}").to_records().is_err());
    }
}
