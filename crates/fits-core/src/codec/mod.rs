//! Tile codecs of the tiled-image convention: RICE_1, GZIP_1, GZIP_2, HCOMPRESS_1, PLIO_1.
//!
//! Each codec works on one tile's bytes and never panics on corrupt input: it returns a
//! [`CodecError`] saying what is wrong, and does work bounded by the sizes it was given.

pub mod gzip;
pub mod hcompress;
pub mod plio;
pub mod rice;
#[cfg(test)]
mod test_rng;

/// What is wrong with a tile's compressed bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The bytes end before the tile is complete.
    #[error("compressed data ends early: {detail}")]
    Truncated {
        /// Where it ended.
        detail: String,
    },
    /// The bytes are not valid for the codec.
    #[error("corrupt compressed data: {detail}")]
    Corrupt {
        /// What is wrong.
        detail: String,
    },
    /// The tile decodes to another number of values than its size.
    #[error("the tile decodes to {got} values, its size is {expected}")]
    WrongSize {
        /// Values the tile holds.
        expected: usize,
        /// Values decoded.
        got: usize,
    },
    /// Parameters the codec does not support (for example RICE with 8-byte pixels).
    #[error("unsupported: {detail}")]
    Unsupported {
        /// What.
        detail: String,
    },
}
