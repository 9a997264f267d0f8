//! The HDU byte-layout printer: where each header and data unit lies (astropy's hdrLoc, datLoc, datSpan).

use fits_array::Fits;
use serde::Serialize;
use std::fmt::Write;

/// One HDU's place in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LayoutRow {
    /// Zero-based HDU index.
    pub index: usize,
    /// EXTNAME (or PRIMARY).
    pub name: String,
    /// HDU kind (`primary`, `image`, `bintable`, `table`, `groups`, `compressed`).
    pub kind: String,
    /// Offset of the header.
    pub header_start: u64,
    /// Offset of the data.
    pub data_start: u64,
    /// Data bytes announced by the header.
    pub data_len: u64,
    /// Data bytes including the padding to whole blocks.
    pub data_span: u64,
}

/// The layout of every HDU of an open file.
pub fn layout(fits: &Fits) -> Vec<LayoutRow> {
    fits.hdus()
        .iter()
        .map(|h| {
            let l = h.layout();
            LayoutRow {
                index: h.index(),
                name: h.name(),
                kind: h.kind().to_string(),
                header_start: l.header_start,
                data_start: l.data_start,
                data_len: l.data_len,
                data_span: l.data_span(),
            }
        })
        .collect()
}

/// The layout as an aligned text table.
pub fn render_layout(rows: &[LayoutRow]) -> String {
    let name_w = rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>5}  {:<name_w$}  {:<10}  {:>14}  {:>14}  {:>14}  {:>14}",
        "index", "name", "kind", "header_start", "data_start", "data_len", "data_span"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{:>5}  {:<name_w$}  {:<10}  {:>14}  {:>14}  {:>14}  {:>14}",
            r.index, r.name, r.kind, r.header_start, r.data_start, r.data_len, r.data_span
        );
    }
    out
}
