//! HDU kinds, byte layouts and the data-size arithmetic of the standard (checked, never trusted).

use crate::element::{Bitpix, DType, Scaling};
use crate::error::{Error, Result, Warning};
use crate::header::{BLOCK_LEN, Header};
use std::fmt;

/// What an HDU holds.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HduKind {
    /// The primary HDU: an image (possibly empty).
    Primary,
    /// `XTENSION = 'IMAGE'`.
    Image,
    /// `XTENSION = 'BINTABLE'`.
    BinaryTable,
    /// `XTENSION = 'TABLE'`: an ASCII table.
    AsciiTable,
    /// A primary HDU with `GROUPS = T`: random groups.
    RandomGroups,
    /// A binary table with `ZIMAGE = T`: a tile-compressed image.
    CompressedImage,
    /// Any other `XTENSION`; its data is skipped using PCOUNT and GCOUNT.
    Unknown(String),
}

impl HduKind {
    /// A short lower-case name: `primary`, `image`, `bintable`, `table`, `groups`, `compressed`, or the XTENSION.
    pub fn name(&self) -> &str {
        match self {
            HduKind::Primary => "primary",
            HduKind::Image => "image",
            HduKind::BinaryTable => "bintable",
            HduKind::AsciiTable => "table",
            HduKind::RandomGroups => "groups",
            HduKind::CompressedImage => "compressed",
            HduKind::Unknown(x) => x,
        }
    }

    /// Whether the HDU is an image (primary, IMAGE extension or compressed image).
    pub fn is_image(&self) -> bool {
        matches!(self, HduKind::Primary | HduKind::Image | HduKind::CompressedImage)
    }
}

impl fmt::Display for HduKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where an HDU's header and data lie in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HduLayout {
    /// Offset of the header's first byte (astropy's `hdrLoc`).
    pub header_start: u64,
    /// Offset of the data's first byte (astropy's `datLoc`).
    pub data_start: u64,
    /// Bytes of data the header announces, before padding.
    pub data_len: u64,
}

impl HduLayout {
    /// Data bytes including padding to a whole block (astropy's `datSpan`).
    pub fn data_span(&self) -> u64 {
        padded(self.data_len)
    }

    /// Offset just past the padded data: where the next HDU starts.
    pub fn end(&self) -> u64 {
        self.data_start + self.data_span()
    }

    /// Bytes of the header, END and padding included.
    pub fn header_len(&self) -> u64 {
        self.data_start - self.header_start
    }
}

/// `len` rounded up to a whole number of 2880-byte blocks.
pub fn padded(len: u64) -> u64 {
    len.div_ceil(BLOCK_LEN as u64) * BLOCK_LEN as u64
}

/// Reads the kind of HDU number `index` from its header.
pub fn kind_of(header: &Header, index: usize) -> Result<HduKind> {
    if index == 0 {
        return Ok(if header.logical("GROUPS").ok().flatten() == Some(true) {
            HduKind::RandomGroups
        } else {
            HduKind::Primary
        });
    }
    let xtension = match header.value("XTENSION") {
        Some(crate::Value::String(s)) => s.trim().to_ascii_uppercase(),
        Some(other) => return Err(Error::invalid("XTENSION", other, "must be a string")),
        None => {
            return Err(Error::MissingKeyword { keyword: "XTENSION".into() });
        }
    };
    Ok(match xtension.as_str() {
        "IMAGE" | "IUEIMAGE" => HduKind::Image,
        "BINTABLE" | "A3DTABLE" => {
            if header.logical("ZIMAGE").ok().flatten() == Some(true) {
                HduKind::CompressedImage
            } else {
                HduKind::BinaryTable
            }
        }
        "TABLE" => HduKind::AsciiTable,
        _ => HduKind::Unknown(xtension),
    })
}

/// Reads and checks `BITPIX`.
pub fn bitpix(header: &Header) -> Result<Bitpix> {
    bitpix_with_key(header, "BITPIX")
}

/// Reads and checks a BITPIX-like keyword (`ZBITPIX` for compressed images).
pub fn bitpix_with_key(header: &Header, key: &str) -> Result<Bitpix> {
    let value = header.required_int(key)?;
    Bitpix::from_value(value).ok_or_else(|| Error::invalid(key, value, "must be one of 8, 16, 32, 64, -32, -64"))
}

/// Reads `NAXIS` and `NAXIS1..NAXISn` (FITS order: fastest axis first), checking each.
pub fn axes(header: &Header) -> Result<Vec<u64>> {
    axes_with_prefix(header, "NAXIS")
}

/// Reads `{prefix}` and `{prefix}1..n`, as [`axes`] does (`ZNAXIS` for compressed images).
pub fn axes_with_prefix(header: &Header, prefix: &str) -> Result<Vec<u64>> {
    let naxis = header.required_int(prefix)?;
    if !(0..=999).contains(&naxis) {
        return Err(Error::invalid(prefix, naxis, "must be between 0 and 999"));
    }
    (1..=naxis)
        .map(|i| {
            let key = format!("{prefix}{i}");
            let n = header.required_int(&key)?;
            u64::try_from(n).map_err(|_| Error::invalid(&key, n, "an axis length cannot be negative"))
        })
        .collect()
}

fn count(header: &Header, keyword: &str, default: i64) -> Result<u64> {
    let v = header.int(keyword)?.unwrap_or(default);
    u64::try_from(v).map_err(|_| Error::invalid(keyword, v, "cannot be negative"))
}

/// The data size in bytes the header announces:
/// `|BITPIX|/8 × GCOUNT × (PCOUNT + NAXIS1 × … × NAXISn)`, with NAXIS1
/// left out for random groups. Every product is checked for overflow.
pub fn data_len(header: &Header, kind: &HduKind) -> Result<u64> {
    let bitpix = bitpix(header)?;
    let axes = axes(header)?;
    if axes.is_empty() {
        return Ok(0);
    }
    let (pcount, gcount) = match kind {
        HduKind::Primary => (0, 1),
        _ => (count(header, "PCOUNT", 0)?, count(header, "GCOUNT", 1)?),
    };
    let dims: &[u64] = if *kind == HduKind::RandomGroups && axes[0] == 0 { &axes[1..] } else { &axes };
    let overflow = || Error::SizeOverflow {
        detail: format!("BITPIX {bitpix}, NAXISn {axes:?}, PCOUNT {pcount}, GCOUNT {gcount}"),
    };
    let elements = dims.iter().try_fold(1u64, |acc, &n| acc.checked_mul(n)).ok_or_else(overflow)?;
    let elements = if *kind == HduKind::RandomGroups || pcount > 0 || gcount != 1 {
        elements.checked_add(pcount).and_then(|e| e.checked_mul(gcount)).ok_or_else(overflow)?
    } else {
        elements
    };
    let bytes = elements.checked_mul(bitpix.size() as u64).ok_or_else(overflow)?;
    // The padded span must also fit, and an offset past it must stay representable.
    bytes.checked_add(BLOCK_LEN as u64).ok_or_else(overflow)?;
    Ok(bytes)
}

/// Checks the order of the mandatory keywords and reports departures as warnings.
pub(crate) fn check_mandatory_order(header: &Header, index: usize, kind: &HduKind) -> Vec<Warning> {
    let first = if index == 0 { "SIMPLE" } else { "XTENSION" };
    let mut expected = vec![first.to_string(), "BITPIX".into(), "NAXIS".into()];
    if let Ok(axes) = axes(header) {
        expected.extend((1..=axes.len()).map(|i| format!("NAXIS{i}")));
    }
    if !matches!(kind, HduKind::Primary | HduKind::RandomGroups) {
        expected.push("PCOUNT".into());
        expected.push("GCOUNT".into());
    }
    let mut warnings = Vec::new();
    for (i, key) in expected.iter().enumerate() {
        match header.position(key) {
            Some(p) if p == i => {}
            Some(p) => warnings.push(Warning {
                hdu: Some(index),
                offset: None,
                message: format!("mandatory keyword {key} is card {} instead of card {}", p + 1, i + 1),
            }),
            None if key == "PCOUNT" || key == "GCOUNT" => warnings.push(Warning {
                hdu: Some(index),
                offset: None,
                message: format!(
                    "mandatory keyword {key} is missing (assumed {})",
                    if key == "PCOUNT" { 0 } else { 1 }
                ),
            }),
            None => {}
        }
    }
    warnings
}

/// What an image HDU holds: stored type, shape and scaling.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageInfo {
    /// The stored element type.
    pub bitpix: Bitpix,
    /// The shape in numpy order (slowest axis first: `[NAXISn, ..., NAXIS1]`).
    pub shape: Vec<usize>,
    /// BSCALE, BZERO, BLANK.
    pub scaling: Scaling,
}

impl ImageInfo {
    /// Reads an uncompressed image's description (primary or IMAGE extension).
    pub fn from_header(header: &Header) -> Result<ImageInfo> {
        let bitpix = bitpix(header)?;
        let shape = to_shape(&axes(header)?)?;
        Ok(ImageInfo { bitpix, shape, scaling: scaling(header, bitpix, "")? })
    }

    /// Reads a tile-compressed image's description from its table header (see [`crate::compressed::image_header`]).
    pub fn from_compressed_header(table: &Header) -> Result<ImageInfo> {
        ImageInfo::from_header(&crate::compressed::image_header(table)?)
    }

    /// Number of elements (0 when `NAXIS = 0`: FITS has no data there, unlike a 0-d array).
    pub fn len(&self) -> usize {
        if self.shape.is_empty() { 0 } else { self.shape.iter().product() }
    }

    /// Whether the image has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The natural type of the physical values.
    pub fn dtype(&self) -> DType {
        self.scaling.physical_dtype(self.bitpix)
    }
}

fn to_shape(axes: &[u64]) -> Result<Vec<usize>> {
    axes.iter()
        .rev()
        .map(|&n| usize::try_from(n).map_err(|_| Error::SizeOverflow { detail: format!("axis length {n}") }))
        .collect()
}

/// Reads `{prefix}BSCALE`, `{prefix}BZERO`, `{prefix}BLANK` (BLANK only applies to integer data).
pub fn scaling(header: &Header, bitpix: Bitpix, prefix: &str) -> Result<Scaling> {
    let key = |k: &str| format!("{prefix}{k}");
    let bscale = header.float(&key("BSCALE"))?.unwrap_or(1.0);
    let bzero = header.float(&key("BZERO"))?.unwrap_or(0.0);
    if !bscale.is_finite() || bscale == 0.0 {
        return Err(Error::invalid(&key("BSCALE"), bscale, "must be a finite, non-zero number"));
    }
    if !bzero.is_finite() {
        return Err(Error::invalid(&key("BZERO"), bzero, "must be finite"));
    }
    let blank = if bitpix.is_float() { None } else { header.int(&key("BLANK"))? };
    Ok(Scaling { bscale, bzero, blank })
}

/// The structure of a random-groups HDU.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupsInfo {
    /// The stored element type (parameters and arrays share it).
    pub bitpix: Bitpix,
    /// Parameters per group (`PCOUNT`).
    pub pcount: usize,
    /// Number of groups (`GCOUNT`).
    pub gcount: usize,
    /// The shape of each group's array in numpy order (`[NAXISn, ..., NAXIS2]`).
    pub shape: Vec<usize>,
    /// Scaling of the array values (BSCALE, BZERO, BLANK).
    pub scaling: Scaling,
    /// Scaling of each parameter (PSCALn, PZEROn).
    pub params: Vec<(String, Scaling)>,
}

impl GroupsInfo {
    /// Reads a random-groups header; an error naming the defect if it has no group structure.
    pub fn from_header(header: &Header) -> Result<GroupsInfo> {
        let bitpix = bitpix(header)?;
        let axes = axes(header)?;
        if axes.first() != Some(&0) {
            return Err(Error::invalid(
                "NAXIS1",
                axes.first().map_or("absent".to_string(), |n| n.to_string()),
                "random groups need NAXIS >= 1 and NAXIS1 = 0",
            ));
        }
        let pcount = to_usize("PCOUNT", count(header, "PCOUNT", 0)?)?;
        let gcount = to_usize("GCOUNT", count(header, "GCOUNT", 1)?)?;
        let shape = to_shape(&axes[1..])?;
        let mut params = Vec::with_capacity(pcount.min(1024));
        for i in 1..=pcount {
            let name = header.string(&format!("PTYPE{i}")).ok().flatten().unwrap_or("").to_string();
            let s = Scaling {
                bscale: header.float(&format!("PSCAL{i}"))?.unwrap_or(1.0),
                bzero: header.float(&format!("PZERO{i}"))?.unwrap_or(0.0),
                blank: None,
            };
            params.push((name, s));
        }
        Ok(GroupsInfo { bitpix, pcount, gcount, shape, scaling: scaling(header, bitpix, "")?, params })
    }

    /// Elements in each group's array.
    pub fn group_len(&self) -> usize {
        self.shape.iter().product()
    }
}

fn to_usize(key: &str, v: u64) -> Result<usize> {
    usize::try_from(v).map_err(|_| Error::invalid(key, v, "too large for this machine"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Card;

    fn header(cards: &[(&str, crate::Value)]) -> Header {
        let mut h = Header::new();
        for (k, v) in cards {
            h.push(Card::new(k, v.clone()));
        }
        h
    }

    #[test]
    fn image_sizes() {
        let h = header(&[
            ("SIMPLE", true.into()),
            ("BITPIX", (-32i64).into()),
            ("NAXIS", 2i64.into()),
            ("NAXIS1", 4220i64.into()),
            ("NAXIS2", 4200i64.into()),
        ]);
        assert_eq!(data_len(&h, &HduKind::Primary).unwrap(), 4220 * 4200 * 4);
        let info = ImageInfo::from_header(&h).unwrap();
        assert_eq!(info.shape, vec![4200, 4220]);
        assert_eq!(info.dtype(), DType::F32);
    }

    #[test]
    fn overflow_and_negative_axes_are_errors() {
        let h = header(&[
            ("BITPIX", 64i64.into()),
            ("NAXIS", 3i64.into()),
            ("NAXIS1", i64::MAX.into()),
            ("NAXIS2", 4i64.into()),
            ("NAXIS3", 4i64.into()),
        ]);
        let e = data_len(&h, &HduKind::Primary).unwrap_err();
        assert!(matches!(e, Error::SizeOverflow { .. }), "{e}");
        let h = header(&[("BITPIX", 8i64.into()), ("NAXIS", 1i64.into()), ("NAXIS1", (-5i64).into())]);
        let e = data_len(&h, &HduKind::Primary).unwrap_err().to_string();
        assert!(e.contains("NAXIS1") && e.contains("-5"), "{e}");
        let h = header(&[("BITPIX", 17i64.into()), ("NAXIS", 0i64.into())]);
        let e = data_len(&h, &HduKind::Primary).unwrap_err().to_string();
        assert!(e.contains("BITPIX") && e.contains("17"), "{e}");
    }

    #[test]
    fn groups_and_tables() {
        let h = header(&[
            ("SIMPLE", true.into()),
            ("BITPIX", (-32i64).into()),
            ("NAXIS", 3i64.into()),
            ("NAXIS1", 0i64.into()),
            ("NAXIS2", 5i64.into()),
            ("NAXIS3", 3i64.into()),
            ("GROUPS", true.into()),
            ("PCOUNT", 3i64.into()),
            ("GCOUNT", 10i64.into()),
        ]);
        assert_eq!(kind_of(&h, 0).unwrap(), HduKind::RandomGroups);
        assert_eq!(data_len(&h, &HduKind::RandomGroups).unwrap(), 4 * 10 * (3 + 15));
        let g = GroupsInfo::from_header(&h).unwrap();
        assert_eq!((g.pcount, g.gcount, g.shape.clone()), (3, 10, vec![3, 5]));
        let t = header(&[
            ("XTENSION", "BINTABLE".into()),
            ("BITPIX", 8i64.into()),
            ("NAXIS", 2i64.into()),
            ("NAXIS1", 12i64.into()),
            ("NAXIS2", 500i64.into()),
            ("PCOUNT", 8000i64.into()),
            ("GCOUNT", 1i64.into()),
        ]);
        assert_eq!(kind_of(&t, 1).unwrap(), HduKind::BinaryTable);
        assert_eq!(data_len(&t, &HduKind::BinaryTable).unwrap(), 12 * 500 + 8000);
        assert_eq!(padded(5760), 5760);
        assert_eq!(padded(5761), 8640);
        assert_eq!(padded(0), 0);
    }

    #[test]
    fn mandatory_order_is_checked() {
        let h = header(&[("SIMPLE", true.into()), ("NAXIS", 0i64.into()), ("BITPIX", 8i64.into())]);
        let w = check_mandatory_order(&h, 0, &HduKind::Primary);
        assert_eq!(w.len(), 2, "{w:?}");
    }
}
