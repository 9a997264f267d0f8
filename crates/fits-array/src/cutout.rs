//! Cutouts: a section written as a new FITS file, its header carried over with the WCS shifted for the cut.

use crate::error::Result;
use crate::geometry::AxisSelection;
use crate::image::Section;
use crate::with_array_data;
use crate::write::{FitsWriter, WriteOptions};
use fits_core::write::{image_header, is_structural};
use fits_core::{Card, DType, Header, Value};
use ndarray::IxDyn;
use std::path::Path;

/// The header of a cutout: mandatory keywords for `dtype` and `shape`, then
/// every non-structural card of `source`, with the pixel-coordinate keywords
/// adjusted to the cut:
///
/// - `CRPIXj` (and alternates `CRPIXja`): `(CRPIX - 1 - first) / step + 1`;
/// - for steps other than 1, `CDi_j`/`PCi_j` columns or `CDELTj` scaled by the step;
/// - IRAF `LTVj`/`LTMj_j` likewise.
///
/// Axes selected by an integer index stay in the file as axes of length 1,
/// so every WCS keyword keeps its axis number.
pub fn cutout_header(source: &Header, selection: &[AxisSelection], dtype: DType) -> Header {
    let naxis = selection.len();
    // FITS axis j (1-based) is numpy axis naxis - j.
    let sel = |j: usize| -> Option<&AxisSelection> { (1..=naxis).contains(&j).then(|| &selection[naxis - j]) };
    let shape: Vec<usize> = selection.iter().map(|s| s.len).collect();
    let mut header = image_header(dtype, &shape, true);
    let has_cd = source.iter().any(|c| parse_matrix(c.keyword(), "CD").is_some());
    let has_pc = source.iter().any(|c| parse_matrix(c.keyword(), "PC").is_some());
    for card in source.iter() {
        let key = card.keyword();
        if is_structural(key) {
            continue;
        }
        let mut card = card.clone();
        if let Some(x) = card.value().and_then(Value::as_f64) {
            if let Some((j, _)) = parse_axis(key, "CRPIX") {
                if let Some(s) = sel(j) {
                    card.set_value((x - 1.0 - s.first as f64) / s.step as f64 + 1.0);
                }
            } else if let Some((j, _)) = parse_axis(key, "LTV") {
                if let Some(s) = sel(j) {
                    card.set_value((x - 1.0 - s.first as f64) / s.step as f64 + 1.0);
                }
            } else if let Some((i, j)) = parse_matrix(key, "LTM") {
                if let Some(s) = sel(j).filter(|_| i == j) {
                    card.set_value(x / s.step as f64);
                }
            } else if let Some((_, j)) = parse_matrix(key, "CD").or_else(|| parse_matrix(key, "PC")) {
                if let Some(s) = sel(j).filter(|s| s.step != 1) {
                    card.set_value(x * s.step as f64);
                }
            } else if let Some((j, _)) = parse_axis(key, "CDELT") {
                if let Some(s) = sel(j).filter(|s| s.step != 1 && !has_cd && !has_pc) {
                    card.set_value(x * s.step as f64);
                }
            }
        }
        header.push(card);
    }
    if has_pc && !has_cd {
        // A PC matrix without a diagonal element means 1 there; a step scales it.
        for j in 1..=naxis {
            let key = format!("PC{j}_{j}");
            if let Some(s) = sel(j).filter(|s| s.step != 1) {
                if !header.contains(&key) {
                    header.push(Card::new(&key, s.step as f64));
                }
            }
        }
    }
    header
}

/// Splits `PREFIXj` or `PREFIXja` (a = alternate WCS letter) into (j, a).
fn parse_axis(key: &str, prefix: &str) -> Option<(usize, Option<char>)> {
    let rest = key.strip_prefix(prefix)?;
    let (digits, alt) = match rest.chars().last() {
        Some(c) if c.is_ascii_uppercase() => (&rest[..rest.len() - 1], Some(c)),
        _ => (rest, None),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((digits.parse().ok()?, alt))
}

/// Splits `PREFIXi_j` (optionally with an alternate letter) into (i, j).
fn parse_matrix(key: &str, prefix: &str) -> Option<(usize, usize)> {
    let rest = key.strip_prefix(prefix)?;
    let rest = rest.strip_suffix(|c: char| c.is_ascii_uppercase()).unwrap_or(rest);
    let (i, j) = rest.split_once('_')?;
    if i.is_empty() || j.is_empty() || !i.bytes().chain(j.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((i.parse().ok()?, j.parse().ok()?))
}

/// What a cutout wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct CutoutSummary {
    /// Shape written (integer-indexed axes kept with length 1).
    pub shape: Vec<usize>,
    /// Element type written.
    pub dtype: DType,
    /// Bytes of the file.
    pub file_bytes: u64,
}

/// Reads `section` (physical values) and writes it to `path` as a one-HDU
/// FITS file with the source's keywords (see [`cutout_header`]), CHECKSUM
/// and DATASUM.
pub async fn write_cutout(
    section: &Section<IxDyn>,
    path: impl AsRef<Path>,
    options: WriteOptions,
) -> Result<CutoutSummary> {
    let image = section.image();
    let data = section.read_dyn().await?;
    let selection = section.axis_selections();
    let mut header = cutout_header(image.header(), selection, data.dtype());
    let source = image.hdu();
    header.push(Card::history(format!(
        "cutout of HDU {} of {}",
        source.index(),
        source.location().rsplit('/').next().unwrap_or("")
    )));
    let ranges: Vec<String> = selection
        .iter()
        .map(|s| {
            if s.index {
                s.first.to_string()
            } else {
                format!("{}:{}:{}", s.first, s.first as isize + s.step * s.len as isize, s.step)
            }
        })
        .collect();
    header.push(Card::history(format!("section [{}] (numpy order, 0-based)", ranges.join(","))));
    let shape: Vec<usize> = selection.iter().map(|s| s.len).collect();
    let dtype = data.dtype();
    let file_bytes = crate::write::file_size(&header, dtype, data.len() as u64);
    let dest = path.as_ref().display().to_string();
    let mut writer = FitsWriter::create(&dest, options).await?;
    writer.begin_image(header).await?;
    with_array_data!(&data, a => writer.write_array(&a.view()).await?);
    writer.end_hdu().await?;
    writer.finish().await?;
    Ok(CutoutSummary { shape, dtype, file_bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(first: usize, step: isize, len: usize) -> AxisSelection {
        AxisSelection { first, step, len, index: false }
    }

    #[test]
    fn shifts_and_scales_wcs() {
        let mut src = Header::new();
        for (k, v) in [
            ("SIMPLE", Value::Logical(true)),
            ("BITPIX", (-32i64).into()),
            ("NAXIS", 2i64.into()),
            ("NAXIS1", 100i64.into()),
            ("NAXIS2", 50i64.into()),
            ("CRPIX1", 50.5f64.into()),
            ("CRPIX2", 25.0f64.into()),
            ("CRPIX1A", 10.0f64.into()),
            ("CD1_1", 0.5f64.into()),
            ("CD2_1", 0.25f64.into()),
            ("CD1_2", 3.0f64.into()),
            ("CDELT1", 9.0f64.into()),
            ("OBJECT", "M13".into()),
            ("BZERO", 0.0f64.into()),
            ("LTV1", 0.0f64.into()),
        ] {
            src.push(Card::new(k, v));
        }
        // numpy axis 0 = FITS axis 2 (rows 10..30), axis 1 = FITS axis 1 (columns 20, 22, ...).
        let h = cutout_header(&src, &[sel(10, 1, 20), sel(20, 2, 10)], DType::F32);
        assert_eq!(h.int("NAXIS1").unwrap(), Some(10));
        assert_eq!(h.int("NAXIS2").unwrap(), Some(20));
        assert_eq!(h.float("CRPIX1").unwrap(), Some((50.5 - 1.0 - 20.0) / 2.0 + 1.0));
        assert_eq!(h.float("CRPIX2").unwrap(), Some(15.0));
        assert_eq!(h.float("CRPIX1A").unwrap(), Some((10.0 - 21.0) / 2.0 + 1.0));
        assert_eq!(h.float("CD1_1").unwrap(), Some(1.0));
        assert_eq!(h.float("CD2_1").unwrap(), Some(0.5));
        assert_eq!(h.float("CD1_2").unwrap(), Some(3.0));
        assert_eq!(h.float("CDELT1").unwrap(), Some(9.0), "CDELT untouched when CD is present");
        assert_eq!(h.float("LTV1").unwrap(), Some(-10.0 + 0.5));
        assert_eq!(h.string("OBJECT").unwrap(), Some("M13"));
        assert!(!h.contains("BZERO"));
    }

    #[test]
    fn keyword_patterns() {
        assert_eq!(parse_axis("CRPIX12", "CRPIX"), Some((12, None)));
        assert_eq!(parse_axis("CRPIX2B", "CRPIX"), Some((2, Some('B'))));
        assert_eq!(parse_axis("CRPIXX", "CRPIX"), None);
        assert_eq!(parse_matrix("PC1_2", "PC"), Some((1, 2)));
        assert_eq!(parse_matrix("CD2_1A", "CD"), Some((2, 1)));
        assert_eq!(parse_matrix("CDELT1", "CD"), None);
    }
}
