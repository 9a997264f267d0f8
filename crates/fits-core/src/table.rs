//! Binary-table columns: `TFORMn` parsing and the byte position of each column in a row.

use crate::Header;
use crate::error::{Error, Result};

/// The element type of a binary-table column (the letter of `TFORMn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnType {
    /// `L`: logical, one byte.
    Logical,
    /// `X`: bits.
    Bit,
    /// `B`: unsigned byte.
    U8,
    /// `I`: 16-bit integer.
    I16,
    /// `J`: 32-bit integer.
    I32,
    /// `K`: 64-bit integer.
    I64,
    /// `A`: character.
    Char,
    /// `E`: 32-bit float.
    F32,
    /// `D`: 64-bit float.
    F64,
    /// `C`: complex of two 32-bit floats.
    C64,
    /// `M`: complex of two 64-bit floats.
    C128,
}

impl ColumnType {
    fn from_letter(c: char) -> Option<ColumnType> {
        Some(match c {
            'L' => ColumnType::Logical,
            'X' => ColumnType::Bit,
            'B' => ColumnType::U8,
            'I' => ColumnType::I16,
            'J' => ColumnType::I32,
            'K' => ColumnType::I64,
            'A' => ColumnType::Char,
            'E' => ColumnType::F32,
            'D' => ColumnType::F64,
            'C' => ColumnType::C64,
            'M' => ColumnType::C128,
            _ => return None,
        })
    }

    /// Bytes of one element (bits count as one byte each here; see [`ColumnForm::width`]).
    pub fn size(self) -> usize {
        match self {
            ColumnType::Logical | ColumnType::Bit | ColumnType::U8 | ColumnType::Char => 1,
            ColumnType::I16 => 2,
            ColumnType::I32 | ColumnType::F32 => 4,
            ColumnType::I64 | ColumnType::F64 | ColumnType::C64 => 8,
            ColumnType::C128 => 16,
        }
    }
}

/// How a column stores its values: in the row, or in the heap through a descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// `repeat` elements in the row.
    Fixed,
    /// `P`: a descriptor of two 32-bit integers (count, heap offset) in the row.
    Descriptor32,
    /// `Q`: a descriptor of two 64-bit integers (count, heap offset) in the row.
    Descriptor64,
}

/// A parsed `TFORMn` value such as `1J`, `16A`, `1PB(4000)` or `1QE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnForm {
    /// The repeat count (elements per row, or descriptors per row).
    pub repeat: u64,
    /// The element type (of the heap array, for descriptors).
    pub ty: ColumnType,
    /// Where the values live.
    pub storage: Storage,
    /// The largest heap array, as written in parentheses after a descriptor form.
    pub max_len: Option<u64>,
}

impl ColumnForm {
    /// Parses a `TFORMn` value; `keyword` names it in errors.
    pub fn parse(keyword: &str, value: &str) -> Result<ColumnForm> {
        let bad = |reason: &str| Error::invalid(keyword, format!("'{value}'"), reason);
        let s = value.trim();
        let digits = s.bytes().take_while(u8::is_ascii_digit).count();
        let repeat = if digits == 0 {
            1
        } else {
            s[..digits].parse::<u64>().map_err(|_| bad("the repeat count is too large"))?
        };
        let mut rest = s[digits..].chars();
        let letter = rest.next().ok_or_else(|| bad("no type letter"))?.to_ascii_uppercase();
        let (storage, ty) = match letter {
            'P' | 'Q' => {
                let t = rest.next().ok_or_else(|| bad("a descriptor needs an element type letter"))?;
                let ty = ColumnType::from_letter(t.to_ascii_uppercase()).ok_or_else(|| bad("unknown element type"))?;
                (if letter == 'P' { Storage::Descriptor32 } else { Storage::Descriptor64 }, ty)
            }
            other => (Storage::Fixed, ColumnType::from_letter(other).ok_or_else(|| bad("unknown type letter"))?),
        };
        let tail: String = rest.collect();
        let tail = tail.trim();
        let max_len = if storage != Storage::Fixed && tail.starts_with('(') {
            let inner = tail[1..].split(')').next().unwrap_or("");
            Some(inner.trim().parse::<u64>().map_err(|_| bad("the maximum length in parentheses is not a number"))?)
        } else {
            None
        };
        if storage != Storage::Fixed && repeat > 1 {
            return Err(bad("a descriptor column holds one descriptor per row"));
        }
        Ok(ColumnForm { repeat, ty, storage, max_len })
    }

    /// Bytes the column takes in a row.
    pub fn width(&self) -> Result<u64> {
        let per = match self.storage {
            Storage::Descriptor32 => 8,
            Storage::Descriptor64 => 16,
            Storage::Fixed if self.ty == ColumnType::Bit => return Ok(self.repeat.div_ceil(8)),
            Storage::Fixed => self.ty.size() as u64,
        };
        self.repeat.checked_mul(per).ok_or_else(|| Error::SizeOverflow { detail: format!("{} x {per}", self.repeat) })
    }
}

/// A column of a binary table: its name, form and byte offset in the row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// One-based column number (the `n` of `TTYPEn`).
    pub number: usize,
    /// `TTYPEn` (empty if absent).
    pub name: String,
    /// `TFORMn`.
    pub form: ColumnForm,
    /// Byte offset of the column in a row.
    pub offset: u64,
}

/// The columns of a binary table, with their row offsets, checked against `NAXIS1`.
pub fn columns(header: &Header) -> Result<Vec<Column>> {
    let tfields = header.required_int("TFIELDS")?;
    if !(0..=999).contains(&tfields) {
        return Err(Error::invalid("TFIELDS", tfields, "must be between 0 and 999"));
    }
    let row_len = header.required_int("NAXIS1")?;
    let mut out = Vec::with_capacity(tfields as usize);
    let mut offset = 0u64;
    for n in 1..=tfields as usize {
        let key = format!("TFORM{n}");
        let value = header.string(&key)?.ok_or_else(|| Error::MissingKeyword { keyword: key.clone() })?;
        let form = ColumnForm::parse(&key, value)?;
        let name = header.string(&format!("TTYPE{n}"))?.unwrap_or("").trim().to_string();
        out.push(Column { number: n, name, form, offset });
        offset = offset
            .checked_add(form.width()?)
            .ok_or_else(|| Error::SizeOverflow { detail: format!("row length at column {n}") })?;
    }
    if offset != row_len as u64 {
        return Err(Error::invalid("NAXIS1", row_len, format!("the columns' TFORMs add up to {offset} bytes per row")));
    }
    Ok(out)
}

/// Reads a descriptor (element count, heap offset) from a row at `offset`.
pub fn read_descriptor(row: &[u8], offset: usize, storage: Storage) -> Option<(u64, u64)> {
    match storage {
        Storage::Descriptor32 => {
            let b = row.get(offset..offset + 8)?;
            let n = i32::from_be_bytes(b[..4].try_into().ok()?);
            let at = i32::from_be_bytes(b[4..].try_into().ok()?);
            Some((u64::try_from(n).ok()?, u64::try_from(at).ok()?))
        }
        Storage::Descriptor64 => {
            let b = row.get(offset..offset + 16)?;
            let n = i64::from_be_bytes(b[..8].try_into().ok()?);
            let at = i64::from_be_bytes(b[8..].try_into().ok()?);
            Some((u64::try_from(n).ok()?, u64::try_from(at).ok()?))
        }
        Storage::Fixed => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Card;

    #[test]
    fn parses_forms() {
        let f = ColumnForm::parse("TFORM1", "1PB(4000)").unwrap();
        assert_eq!((f.repeat, f.ty, f.storage, f.max_len), (1, ColumnType::U8, Storage::Descriptor32, Some(4000)));
        assert_eq!(f.width().unwrap(), 8);
        let f = ColumnForm::parse("TFORM1", "QI").unwrap();
        assert_eq!((f.ty, f.storage, f.width().unwrap()), (ColumnType::I16, Storage::Descriptor64, 16));
        assert_eq!(ColumnForm::parse("T", "16A").unwrap().width().unwrap(), 16);
        assert_eq!(ColumnForm::parse("T", "1D").unwrap().width().unwrap(), 8);
        assert_eq!(ColumnForm::parse("T", "13X").unwrap().width().unwrap(), 2);
        assert_eq!(ColumnForm::parse("T", "0J").unwrap().width().unwrap(), 0);
        for bad in ["", "1", "1Z", "1P", "2PB", "1PB(x)", "99999999999999999999J"] {
            assert!(ColumnForm::parse("TFORM2", bad).is_err(), "{bad}");
        }
        assert!(ColumnForm::parse("TFORM2", "1Z").unwrap_err().to_string().contains("TFORM2"));
    }

    #[test]
    fn lays_out_columns_and_checks_the_row_length() {
        let mut h = Header::new();
        for (k, v) in [("NAXIS1", 8 + 4 + 8), ("TFIELDS", 3)] {
            h.push(Card::new(k, v as i64));
        }
        for (k, v) in [("TTYPE1", "COMPRESSED_DATA"), ("TFORM1", "1PB(10)"), ("TFORM2", "1E"), ("TFORM3", "1D")] {
            h.push(Card::new(k, v));
        }
        let cols = columns(&h).unwrap();
        assert_eq!(cols.iter().map(|c| c.offset).collect::<Vec<_>>(), vec![0, 8, 12]);
        assert_eq!(cols[0].name, "COMPRESSED_DATA");
        h.set("NAXIS1", 21i64);
        assert!(columns(&h).unwrap_err().to_string().contains("NAXIS1"));
    }

    #[test]
    fn reads_descriptors() {
        let mut row = Vec::new();
        row.extend_from_slice(&7i32.to_be_bytes());
        row.extend_from_slice(&100i32.to_be_bytes());
        assert_eq!(read_descriptor(&row, 0, Storage::Descriptor32), Some((7, 100)));
        assert_eq!(read_descriptor(&row, 4, Storage::Descriptor32), None);
        row[0] = 0x80;
        assert_eq!(read_descriptor(&row, 0, Storage::Descriptor32), None, "negative counts are invalid");
    }
}
