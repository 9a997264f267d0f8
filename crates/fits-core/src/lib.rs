//! The FITS format with no I/O: cards, headers, HDU layouts, element decoding and checksums.
//!
//! Everything here works on bytes handed in by the caller. The HDU index is
//! found by the sans-IO [`IndexDecoder`], which answers "need these byte
//! ranges" until it knows every HDU's layout; the same decoder serves local
//! files, HTTP and S3.
//!
//! ```
//! use fits_core::{Card, Header, IndexDecoder};
//!
//! let mut header = Header::new();
//! header.push(Card::new("SIMPLE", true));
//! header.push(Card::new("BITPIX", 8i64));
//! header.push(Card::new("NAXIS", 0i64));
//! let bytes = header.to_bytes()?;
//! let index = IndexDecoder::decode_all(&bytes)?;
//! assert_eq!(index.hdus.len(), 1);
//! assert_eq!(index.hdus[0].layout.data_start, 2880);
//! # Ok::<(), fits_core::Error>(())
//! ```

mod card;
pub mod checksum;
pub mod codec;
pub mod compress;
pub mod compressed;
mod element;
mod error;
mod hdu;
mod header;
mod index;
pub mod quantize;
pub mod table;
pub mod tiled;
mod value;
pub mod write;

pub use card::{CARD_LEN, Card};
pub use element::{Bitpix, Conversion, DType, Element, Scaling, decode_in_place, decode_into, encode_physical};
pub use error::{Error, Result, Warning};
pub use hdu::{
    GroupsInfo, HduKind, HduLayout, ImageInfo, axes, axes_with_prefix, bitpix, bitpix_with_key, data_len, kind_of,
    padded, scaling,
};
pub use header::{BLOCK_LEN, Header, HeaderParser, MAX_HEADER_BYTES};
pub use index::{DEFAULT_HEADER_READ, FileIndex, HduEntry, IndexDecoder, Step};
pub use value::{Value, format_float};
