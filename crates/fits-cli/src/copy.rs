//! `fits copy`: whole files or selected HDUs between any two sources, streamed in bounded memory.

use crate::source::Session;
use anyhow::{Result, bail};
use fits::core::DType;
use fits::core::write::image_header;
use fits::{FitsWriter, HduSelector, WriteOptions};
use futures::{StreamExt, TryStreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use std::ops::Range;

/// Bytes per read; four are in flight at once.
const PIECE: u64 = 8 << 20;
const AHEAD: usize = 4;

pub(crate) async fn run(session: &mut Session, src: &str, dst: &str, hdus: &[String], overwrite: bool) -> Result<()> {
    let fits = session.open(src).await?;
    let mut chosen: Vec<usize> = if hdus.is_empty() {
        (0..fits.len()).collect()
    } else {
        hdus.iter().map(|h| fits.hdu(HduSelector::parse(h)).map(|h| h.index())).collect::<fits::Result<_>>()?
    };
    chosen.sort_unstable();
    chosen.dedup();
    // Byte ranges to copy verbatim: whole HDUs, header and padded data.
    let mut spans: Vec<(usize, Range<u64>)> = Vec::new();
    for &i in &chosen {
        let h = fits.hdu(i)?;
        let l = h.layout();
        if h.available_data() < l.data_len {
            bail!(
                "{}: HDU {i}: data cut short: the header announces {} bytes, the file holds {}",
                fits.location(),
                l.data_len,
                h.available_data()
            );
        }
        spans.push((i, l.header_start..l.data_start + l.data_span()));
    }
    let total: u64 = spans.iter().map(|(_, r)| r.end - r.start).sum();
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {bytes}/{total_bytes} ({bytes_per_sec}, {eta}) {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut w = FitsWriter::create(dst, WriteOptions { overwrite, ..WriteOptions::default() }).await?;
    let result = copy_spans(&fits, &mut w, &spans, chosen.first() != Some(&0), &bar).await;
    bar.finish_and_clear();
    match result {
        Ok(()) => {
            w.finish().await?;
            eprintln!("copied {} HDU(s), {total} bytes, to {dst}", chosen.len());
            Ok(())
        }
        Err(e) => {
            let _ = w.abort().await;
            Err(e)
        }
    }
}

async fn copy_spans(
    fits: &fits::Fits,
    w: &mut FitsWriter,
    spans: &[(usize, Range<u64>)],
    needs_primary: bool,
    bar: &ProgressBar,
) -> Result<()> {
    if needs_primary {
        // Extensions need a primary HDU before them: an empty one.
        w.begin_image(image_header(DType::U8, &[], true)).await?;
        w.end_hdu().await?;
    }
    let driver = fits.driver().clone();
    let pieces: Vec<Range<u64>> = spans
        .iter()
        .flat_map(|(_, r)| (r.start..r.end).step_by(PIECE as usize).map(move |s| s..(s + PIECE).min(r.end)))
        .collect();
    let file_len = fits.file_len();
    let mut reads = futures::stream::iter(pieces)
        .map(|r| {
            let d = driver.clone();
            async move {
                // The last HDU may lack its padding in the file: complete it with zeros.
                let have = r.end.min(file_len);
                let mut bytes = if have > r.start { d.read_range(r.start..have).await?.to_vec() } else { Vec::new() };
                bytes.resize((r.end - r.start) as usize, 0);
                Ok::<_, fits::io::Error>(bytes)
            }
        })
        .buffered(AHEAD);
    while let Some(bytes) = reads.try_next().await? {
        w.append_raw(&bytes).await?;
        bar.inc(bytes.len() as u64);
    }
    w.raw_hdus_done(spans.len());
    Ok(())
}
