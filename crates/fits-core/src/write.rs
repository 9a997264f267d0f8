//! Building headers for data we write: the mandatory keywords in order, and which source keywords to carry over.

use crate::{Card, DType, Header};

/// Whether a keyword describes the data's structure or integrity, so a writer
/// must set it itself rather than copy it from a source HDU.
pub fn is_structural(keyword: &str) -> bool {
    let k = keyword.to_ascii_uppercase();
    if matches!(
        k.as_str(),
        "SIMPLE"
            | "XTENSION"
            | "BITPIX"
            | "NAXIS"
            | "PCOUNT"
            | "GCOUNT"
            | "EXTEND"
            | "GROUPS"
            | "BSCALE"
            | "BZERO"
            | "BLANK"
            | "CHECKSUM"
            | "DATASUM"
            | "END"
            | "TFIELDS"
            | "THEAP"
    ) {
        return true;
    }
    let indexed =
        |prefix: &str| k.strip_prefix(prefix).is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if indexed("NAXIS") {
        return true;
    }
    // Table column descriptions and the tile-compression keywords describe the stored table, not an image.
    const TABLE: [&str; 11] =
        ["TTYPE", "TFORM", "TUNIT", "TDIM", "TSCAL", "TZERO", "TNULL", "TDISP", "TBCOL", "TDMIN", "TDMAX"];
    if TABLE.iter().any(|p| indexed(p)) {
        return true;
    }
    k.starts_with('Z')
        && (matches!(
            k.as_str(),
            "ZIMAGE"
                | "ZSIMPLE"
                | "ZTENSION"
                | "ZBITPIX"
                | "ZNAXIS"
                | "ZCMPTYPE"
                | "ZEXTEND"
                | "ZBLOCKED"
                | "ZPCOUNT"
                | "ZGCOUNT"
                | "ZHECKSUM"
                | "ZDATASUM"
                | "ZQUANTIZ"
                | "ZDITHER0"
                | "ZMASKCMP"
                | "ZBLANK"
                | "ZSCALE"
                | "ZZERO"
        ) || ["ZNAXIS", "ZTILE", "ZNAME", "ZVAL"].iter().any(|p| indexed(p)))
}

/// The mandatory header of an image of `dtype` with `shape` in numpy order
/// (slowest axis first). Unsigned and `i8` types get the BZERO of their convention.
pub fn image_header(dtype: DType, shape: &[usize], primary: bool) -> Header {
    let (bitpix, zero) = dtype.storage();
    let mut h = Header::new();
    if primary {
        h.push(Card::new("SIMPLE", true).with_comment("conforms to FITS standard"));
    } else {
        h.push(Card::new("XTENSION", "IMAGE").with_comment("image extension"));
    }
    h.push(Card::new("BITPIX", bitpix.value()).with_comment(format!("{dtype} data")));
    h.push(Card::new("NAXIS", shape.len()).with_comment("number of data axes"));
    for (i, n) in shape.iter().rev().enumerate() {
        h.push(Card::new(&format!("NAXIS{}", i + 1), *n).with_comment(format!("length of data axis {}", i + 1)));
    }
    if primary {
        h.push(Card::new("EXTEND", true).with_comment("FITS dataset may contain extensions"));
    } else {
        h.push(Card::new("PCOUNT", 0i64).with_comment("number of group parameters"));
        h.push(Card::new("GCOUNT", 1i64).with_comment("number of groups"));
    }
    if zero != 0 {
        h.push(Card::new("BSCALE", 1i64).with_comment("physical = stored * BSCALE + BZERO"));
        let z: crate::Value = match i64::try_from(zero) {
            Ok(z) => z.into(),
            Err(_) => crate::Value::BigInteger(zero.to_string()),
        };
        h.push(Card::new("BZERO", z).with_comment(format!("offset of the {dtype} convention")));
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ImageInfo, IndexDecoder};

    #[test]
    fn structural_keywords() {
        for k in ["NAXIS", "NAXIS12", "BZERO", "CHECKSUM", "TFORM3", "ZTILE1", "ZIMAGE"] {
            assert!(is_structural(k), "{k}");
        }
        for k in ["NAXISX", "OBJECT", "CRPIX1", "TFORMAT", "ZENITH", "EXTNAME"] {
            assert!(!is_structural(k), "{k}");
        }
    }

    #[test]
    fn image_headers_describe_their_type() {
        for dtype in DType::ALL {
            let h = image_header(dtype, &[3, 4], true);
            let info = ImageInfo::from_header(&h).unwrap();
            assert_eq!(info.dtype(), dtype);
            assert_eq!(info.shape, vec![3, 4]);
            let idx = IndexDecoder::decode_all(&{
                let mut b = h.to_bytes().unwrap();
                b.resize(b.len() + 2880, 0);
                b
            })
            .unwrap();
            assert!(idx.hdus[0].warnings.is_empty(), "{:?}", idx.hdus[0].warnings);
        }
    }
}
