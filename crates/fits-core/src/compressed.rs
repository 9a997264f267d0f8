//! Tile-compressed images (`ZIMAGE = T`): the image header a user sees, translated from the table header.

use crate::error::Result;
use crate::write::is_structural;
use crate::{Card, Header, Value};

/// The default `EXTNAME` of compressed tables; it names the table, not the image.
pub const DEFAULT_COMPRESSED_EXTNAME: &str = "COMPRESSED_IMAGE";

/// Translates a compressed image's table header into the header of the image
/// it holds, as the tiled-image convention describes: `ZBITPIX`, `ZNAXISn`,
/// `ZSIMPLE`/`ZTENSION`, `ZPCOUNT`/`ZGCOUNT`, `ZEXTEND`, `ZBLOCKED`,
/// `ZHECKSUM`/`ZDATASUM` and `ZBLANK` become their image keywords; table and
/// compression keywords are dropped; other cards are kept in order. A first
/// `EXTNAME = 'COMPRESSED_IMAGE'` (the table's default name) is dropped.
pub fn image_header(table: &Header) -> Result<Header> {
    let get = |k: &str| table.card(k).and_then(Card::value).cloned();
    let comment = |k: &str| table.card(k).and_then(Card::comment_text).unwrap_or("").to_string();
    let mut h = Header::new();
    let primary = table.contains("ZSIMPLE");
    if primary {
        h.push(Card::new("SIMPLE", get("ZSIMPLE").unwrap_or(Value::Logical(true))).with_comment(comment("ZSIMPLE")));
    } else {
        h.push(Card::new("XTENSION", "IMAGE").with_comment(comment("ZTENSION")));
    }
    h.push(Card::new("BITPIX", table.required_int("ZBITPIX")?).with_comment(comment("ZBITPIX")));
    let axes = crate::hdu::axes_with_prefix(table, "ZNAXIS")?;
    h.push(Card::new("NAXIS", axes.len()).with_comment(comment("ZNAXIS")));
    for (i, n) in axes.iter().enumerate() {
        let key = format!("ZNAXIS{}", i + 1);
        h.push(Card::new(&key[1..], *n).with_comment(comment(&key)));
    }
    if !primary {
        h.push(Card::new("PCOUNT", get("ZPCOUNT").unwrap_or(Value::Integer(0))));
        h.push(Card::new("GCOUNT", get("ZGCOUNT").unwrap_or(Value::Integer(1))));
    }
    let mut dropped_default_name = false;
    for card in table.iter() {
        let k = card.keyword();
        let keep_scaling = matches!(k, "BSCALE" | "BZERO" | "BLANK");
        if is_structural(k) && !keep_scaling {
            continue;
        }
        if card.is("EXTNAME")
            && !dropped_default_name
            && card.value().and_then(Value::as_str) == Some(DEFAULT_COMPRESSED_EXTNAME)
        {
            dropped_default_name = true;
            continue;
        }
        h.push(card.clone());
    }
    for (from, to) in
        [("ZEXTEND", "EXTEND"), ("ZBLOCKED", "BLOCKED"), ("ZHECKSUM", "CHECKSUM"), ("ZDATASUM", "DATASUM")]
    {
        if let Some(v) = get(from) {
            h.set_with_comment(to, v, &comment(from));
        }
    }
    if table.required_int("ZBITPIX")? > 0 && !h.contains("BLANK") {
        if let Some(v) = get("ZBLANK") {
            h.set("BLANK", v);
        }
    }
    Ok(h)
}

/// The name a compressed image goes by: its image header's `EXTNAME`, or the table's.
pub fn image_name(table: &Header) -> String {
    let names: Vec<&str> = table.iter().filter(|c| c.is("EXTNAME")).filter_map(|c| c.value()?.as_str()).collect();
    match names.as_slice() {
        [] => String::new(),
        [only] => only.to_string(),
        [first, second, ..] if *first == DEFAULT_COMPRESSED_EXTNAME => second.to_string(),
        [first, ..] => first.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ImageInfo;

    #[test]
    fn translates_the_table_header() {
        let mut t = Header::new();
        for (k, v) in [
            ("XTENSION", Value::from("BINTABLE")),
            ("BITPIX", 8i64.into()),
            ("NAXIS", 2i64.into()),
            ("NAXIS1", 8i64.into()),
            ("NAXIS2", 300i64.into()),
            ("PCOUNT", 1000i64.into()),
            ("GCOUNT", 1i64.into()),
            ("TFIELDS", 1i64.into()),
            ("TTYPE1", "COMPRESSED_DATA".into()),
            ("TFORM1", "1PB(80)".into()),
            ("ZIMAGE", true.into()),
            ("ZBITPIX", 16i64.into()),
            ("ZNAXIS", 2i64.into()),
            ("ZNAXIS1", 440i64.into()),
            ("ZNAXIS2", 300i64.into()),
            ("ZTILE1", 440i64.into()),
            ("ZTILE2", 1i64.into()),
            ("ZCMPTYPE", "RICE_1".into()),
            ("EXTNAME", "COMPRESSED_IMAGE".into()),
            ("BZERO", 32768i64.into()),
            ("OBJECT", "M13".into()),
        ] {
            t.push(Card::new(k, v));
        }
        let h = image_header(&t).unwrap();
        let info = ImageInfo::from_header(&h).unwrap();
        assert_eq!(info.shape, vec![300, 440]);
        assert_eq!(info.dtype(), crate::DType::U16);
        assert_eq!(h.string("OBJECT").unwrap(), Some("M13"));
        assert!(!h.contains("EXTNAME") && !h.contains("TFORM1") && !h.contains("ZTILE1"));
        assert_eq!(h.string("XTENSION").unwrap(), Some("IMAGE"));
        assert_eq!(image_name(&t), "COMPRESSED_IMAGE");
        t.push(Card::new("EXTNAME", "ccd00"));
        assert_eq!(image_name(&t), "ccd00");
    }
}
