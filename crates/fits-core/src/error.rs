//! The error type of the format layer: every variant says where (HDU, keyword, byte offset).

use std::fmt;

/// A result whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can be wrong with FITS bytes.
///
/// Variants carry the context a reader needs to find the defect: the HDU
/// index, the keyword, the byte offset in the file. An error raised while an
/// HDU is being decoded is wrapped in [`Error::InHdu`], so its message starts
/// with `HDU n:`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file holds no bytes at all.
    #[error("empty file: a FITS file holds at least one 2880-byte header block")]
    Empty,

    /// The first bytes are not a FITS primary header.
    #[error("not a FITS file: {reason}")]
    NotFits {
        /// What was found instead.
        reason: String,
    },

    /// A header has no END card before the bytes run out.
    #[error("header starting at byte {header_start} has no END card: {reason}")]
    MissingEnd {
        /// Offset of the header's first byte.
        header_start: u64,
        /// Why the search stopped (end of file, size limit).
        reason: String,
    },

    /// A required keyword is absent.
    #[error("keyword {keyword} is missing")]
    MissingKeyword {
        /// The keyword that was looked up.
        keyword: String,
    },

    /// A keyword is present but its value is wrong.
    #[error("keyword {keyword} = {value}: {reason}")]
    InvalidKeyword {
        /// The keyword.
        keyword: String,
        /// Its value as written in the card.
        value: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A keyword's value has another type than the one asked for.
    #[error("keyword {keyword}: expected {expected}, found {found}")]
    KeywordType {
        /// The keyword.
        keyword: String,
        /// The type asked for.
        expected: &'static str,
        /// The value as written.
        found: String,
    },

    /// A card cannot be built or formatted.
    #[error("card {keyword}: {reason}")]
    InvalidCard {
        /// The card's keyword.
        keyword: String,
        /// What is wrong.
        reason: String,
    },

    /// The data sizes from NAXISn, PCOUNT, GCOUNT overflow 64-bit arithmetic.
    #[error("data size overflows: {detail}")]
    SizeOverflow {
        /// The factors that overflowed.
        detail: String,
    },

    /// Fewer data bytes are in the file than the header announces.
    #[error("data cut short: the header announces {expected} bytes from offset {data_start}, the file holds {actual}")]
    DataTruncated {
        /// Offset of the data's first byte.
        data_start: u64,
        /// Bytes the header announces.
        expected: u64,
        /// Bytes present in the file.
        actual: u64,
    },

    /// A buffer handed to a decoder has the wrong length.
    #[error("buffer of {actual} bytes where {expected} were needed")]
    BufferSize {
        /// Bytes needed.
        expected: usize,
        /// Bytes given.
        actual: usize,
    },

    /// Stored values cannot be converted to the requested element type.
    #[error("cannot convert {from} to {to}: {reason}")]
    Conversion {
        /// Source description (for example `BITPIX 16 with BSCALE 0.5`).
        from: String,
        /// Target type name.
        to: &'static str,
        /// Why not.
        reason: String,
    },

    /// A feature of the format that this version does not decode.
    #[error("unsupported: {what}")]
    Unsupported {
        /// What is not supported.
        what: String,
    },

    /// A tile of a compressed image cannot be read: damaged, truncated, out of the heap, or of the wrong size.
    #[error("tile {row} (first pixel {origin}): {reason}")]
    Tile {
        /// One-based tile number, which is also its row in the table.
        row: u64,
        /// The tile's first pixel, numpy order (`[y, x]`).
        origin: String,
        /// What is wrong.
        reason: String,
    },

    /// A decoder was driven against its contract (for example handed bytes it did not ask for).
    #[error("decoder misuse: {0}")]
    Usage(String),

    /// An error inside HDU `hdu`.
    #[error("HDU {hdu}: {source}")]
    InHdu {
        /// Zero-based HDU index.
        hdu: usize,
        /// The underlying error.
        source: Box<Error>,
    },
}

impl Error {
    /// Wraps the error with the index of the HDU it happened in (unless it already names one).
    pub fn in_hdu(self, hdu: usize) -> Error {
        match self {
            Error::InHdu { .. } => self,
            other => Error::InHdu { hdu, source: Box::new(other) },
        }
    }

    /// The HDU index this error names, if any.
    pub fn hdu(&self) -> Option<usize> {
        match self {
            Error::InHdu { hdu, .. } => Some(*hdu),
            _ => None,
        }
    }

    /// The innermost error, without HDU context.
    pub fn root(&self) -> &Error {
        match self {
            Error::InHdu { source, .. } => source.root(),
            other => other,
        }
    }

    pub(crate) fn invalid(keyword: &str, value: impl fmt::Display, reason: impl Into<String>) -> Error {
        Error::InvalidKeyword { keyword: keyword.to_string(), value: value.to_string(), reason: reason.into() }
    }
}

/// Something odd but readable: reported, never silently dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// HDU index, when the warning belongs to one.
    pub hdu: Option<usize>,
    /// Byte offset in the file, when known.
    pub offset: Option<u64>,
    /// What was found.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(hdu) = self.hdu {
            write!(f, "HDU {hdu}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(offset) = self.offset {
            write!(f, " (byte {offset})")?;
        }
        Ok(())
    }
}
