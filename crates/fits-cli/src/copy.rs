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
    let chosen = select_hdus(&fits, hdus)?;
    let total: u64 = chosen.iter().map(|&i| span_len(&fits.hdus()[i])).sum();
    let bar = progress(total);
    let mut w = FitsWriter::create(dst, WriteOptions { overwrite, ..WriteOptions::default() }).await?;
    let result = async {
        if chosen.first() != Some(&0) {
            // Extensions need a primary HDU before them: an empty one.
            w.begin_image(image_header(DType::U8, &[], true)).await?;
            w.end_hdu().await?;
        }
        append_hdus(&fits, &mut w, &chosen, &bar).await
    }
    .await;
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

/// The HDUs `--hdu` names (all when none), in file order, each once.
pub(crate) fn select_hdus(fits: &fits::Fits, hdus: &[String]) -> Result<Vec<usize>> {
    let mut chosen: Vec<usize> = if hdus.is_empty() {
        (0..fits.len()).collect()
    } else {
        hdus.iter().map(|h| fits.hdu(HduSelector::parse(h)).map(|h| h.index())).collect::<fits::Result<_>>()?
    };
    chosen.sort_unstable();
    chosen.dedup();
    Ok(chosen)
}

/// A progress bar counting bytes (drawn only on a terminal).
pub(crate) fn progress(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {bytes}/{total_bytes} ({bytes_per_sec}, {eta}) {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Bytes of an HDU in the file.
pub(crate) fn span_len(hdu: &fits::Hdu) -> u64 {
    let r = hdu_span(hdu);
    r.end - r.start
}

/// An HDU's bytes in the file: header, data and padding.
pub(crate) fn hdu_span(hdu: &fits::Hdu) -> Range<u64> {
    let l = hdu.layout();
    l.header_start..l.data_start + l.data_span()
}

/// Appends HDUs byte for byte (their checksums stay valid), reading ahead; the last HDU's
/// missing padding is completed with zeros. The output must already have a primary HDU unless
/// the first of them is one.
pub(crate) async fn append_hdus(
    fits: &fits::Fits,
    w: &mut FitsWriter,
    indices: &[usize],
    bar: &ProgressBar,
) -> Result<()> {
    let mut spans: Vec<Range<u64>> = Vec::new();
    for &i in indices {
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
        if w.hdus() == 0 && spans.is_empty() && i != 0 {
            bail!("{}: HDU {i}: an extension cannot start the output file", fits.location());
        }
        spans.push(hdu_span(h));
    }
    let driver = fits.driver().clone();
    let pieces: Vec<Range<u64>> = spans
        .iter()
        .flat_map(|r| (r.start..r.end).step_by(PIECE as usize).map(move |s| s..(s + PIECE).min(r.end)))
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
