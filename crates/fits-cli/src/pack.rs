//! `fits compress` and `fits decompress`: tile-compress the images of a file (fpack's job) or
//! restore them (funpack's), streamed band by band in bounded memory, other HDUs copied as they are.

use crate::copy::{append_hdus, progress, select_hdus, span_len};
use crate::source::Session;
use anyhow::{Context, Result, bail};
use fits::core::compress::Compression;
use fits::core::quantize::Dither;
use fits::core::tiled::Algorithm;
use fits::core::write::{image_header, is_structural};
use fits::core::{Bitpix, HduKind, Header};
use fits::{FitsWriter, Hdu, Image, WriteOptions};
use futures::{StreamExt, TryStreamExt};
use indicatif::ProgressBar;
use ndarray::Slice;

/// Uncompressed bytes read per band (two bands are in flight).
const BAND_BYTES: usize = 32 << 20;

/// The codecs `fits compress` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Codec {
    /// RICE_1 (fpack's default): fast, good for integers and quantized floats.
    Rice,
    /// GZIP_1: gzip of the pixels' bytes; keeps floats exact with `-q 0`.
    Gzip1,
    /// GZIP_2: gzip of byte-shuffled pixels (usually smaller than GZIP_1).
    Gzip2,
    /// HCOMPRESS_1: wavelet coding of 2-D tiles (16 rows by default); lossless with `--scale 0`.
    Hcompress,
    /// PLIO_1: run lengths, for masks (integers from 0 to 2^24 - 1).
    Plio,
}

/// Dithering of quantized floats (`ZQUANTIZ`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum DitherArg {
    /// SUBTRACTIVE_DITHER_1 (fpack's default).
    Subtractive1,
    /// SUBTRACTIVE_DITHER_2: as 1, and exact zeros stay exact.
    Subtractive2,
    /// NO_DITHER.
    None,
}

/// The options of `fits compress`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct CompressArgs {
    /// The tile codec.
    #[arg(long, value_enum, default_value = "rice")]
    codec: Codec,
    /// Tile lengths along NAXIS1, NAXIS2, ... (FITS order, as fpack -t), e.g. `100x100` or
    /// `4220x1`; axes left out get length 1. Default: one image row per tile (16 rows for hcompress).
    #[arg(long, value_name = "AxB")]
    tile: Option<String>,
    /// Floating-point quantization: step = noise / Q (negative: step = -Q); 0 keeps floats
    /// exact (gzip1 or gzip2 only).
    #[arg(short = 'q', long = "quantize", value_name = "Q", default_value_t = 4.0, allow_negative_numbers = true)]
    quantize: f64,
    /// Dithering of quantized floats.
    #[arg(long, value_enum, default_value = "subtractive1")]
    dither: DitherArg,
    /// ZDITHER0, 1 to 10000 (default: derived from the data).
    #[arg(long)]
    seed: Option<i64>,
    /// HCOMPRESS scale: 0 lossless (default), positive relative to the noise, negative absolute.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    scale: f64,
}

impl CompressArgs {
    fn compression(&self, image: &Image) -> Result<Compression> {
        let algorithm = match self.codec {
            Codec::Rice => Algorithm::Rice { block: 32, bytepix: 4 },
            Codec::Gzip1 => Algorithm::Gzip1,
            Codec::Gzip2 => Algorithm::Gzip2,
            Codec::Hcompress => Algorithm::Hcompress { scale: self.scale, smooth: false },
            Codec::Plio => Algorithm::Plio,
        };
        let tile = match &self.tile {
            None => None,
            Some(text) => Some(parse_tile(text, image.ndim()).with_context(|| format!("--tile {text:?}"))?),
        };
        let dither = match self.dither {
            DitherArg::Subtractive1 => Dither::Subtractive1,
            DitherArg::Subtractive2 => Dither::Subtractive2,
            DitherArg::None => Dither::None,
        };
        let quantize = (self.quantize != 0.0).then_some(self.quantize);
        Ok(Compression { algorithm, tile, quantize, dither, seed: self.seed })
    }
}

/// Parses `AxBxC` (or `A,B,C`) in FITS order into a tile shape in numpy order for `ndim` axes.
fn parse_tile(text: &str, ndim: usize) -> Result<Vec<usize>> {
    let lens: Vec<usize> = text
        .split(['x', 'X', ','])
        .map(|p| p.trim().parse::<usize>().map_err(|_| anyhow::anyhow!("{p:?} is not a tile length")))
        .collect::<Result<_>>()?;
    if lens.is_empty() || lens.len() > ndim || lens.contains(&0) {
        bail!("give 1 to {ndim} positive lengths, NAXIS1 first");
    }
    let mut fits_order = lens;
    fits_order.resize(ndim, 1);
    fits_order.reverse();
    Ok(fits_order)
}

/// Whether an HDU holds an uncompressed image with pixels.
fn plain_image(hdu: &Hdu) -> Option<Image> {
    if !matches!(hdu.kind(), HduKind::Primary | HduKind::Image) {
        return None;
    }
    hdu.image().ok().filter(|i| !i.is_empty())
}

pub(crate) async fn compress(
    session: &mut Session,
    src: &str,
    dst: &str,
    args: &CompressArgs,
    hdus: &[String],
    overwrite: bool,
) -> Result<()> {
    let fits = session.open(src).await?;
    let chosen = select_hdus(&fits, hdus)?;
    let bar = progress(chosen.iter().map(|&i| span_len(&fits.hdus()[i])).sum());
    let mut w = FitsWriter::create(dst, WriteOptions { overwrite, ..WriteOptions::default() }).await?;
    let mut compressed = 0;
    let result = async {
        for &i in &chosen {
            let hdu = &fits.hdus()[i];
            bar.set_message(format!("HDU {i}"));
            if w.hdus() == 0 && i != 0 && plain_image(hdu).is_none() {
                // An extension that stays as it is needs a primary HDU before it: an empty one.
                w.begin_image(fits::core::write::image_header(fits::core::DType::U8, &[], true)).await?;
                w.end_hdu().await?;
            }
            match plain_image(hdu) {
                Some(image) => {
                    let c = args.compression(&image)?;
                    w.begin_compressed_image(hdu.header().clone(), &c).await?;
                    stream_image(&image, &mut w, 1, &bar).await?;
                    w.end_hdu().await?;
                    bar.inc(span_len(hdu) - hdu.layout().data_len);
                    compressed += 1;
                }
                None => append_hdus(&fits, &mut w, &[i], &bar).await?,
            }
        }
        anyhow::Ok(())
    }
    .await;
    finish(w, result, &bar, dst, &format!("compressed {compressed} image(s)")).await
}

pub(crate) async fn decompress(session: &mut Session, src: &str, dst: &str, overwrite: bool) -> Result<()> {
    let fits = session.open(src).await?;
    let mut w = FitsWriter::create(dst, WriteOptions { overwrite, ..WriteOptions::default() }).await?;
    // An empty primary HDU followed by a compressed primary image (ZSIMPLE) gives way to it.
    let skip_primary = fits.len() > 1
        && fits.hdus()[0].layout().data_len == 0
        && *fits.hdus()[1].kind() == HduKind::CompressedImage
        && fits.hdus()[1].header().contains("ZSIMPLE");
    // Progress counts decoded pixel bytes for compressed images, the file's bytes for the rest.
    let weight = |hdu: &Hdu| match hdu.image() {
        Ok(image) if image.is_compressed() => (image.len() * image.bitpix().size()) as u64,
        _ if skip_primary && hdu.index() == 0 => 0,
        _ => span_len(hdu),
    };
    let bar = progress(fits.hdus().iter().map(weight).sum());
    let mut restored = 0;
    let result = async {
        for hdu in fits.hdus() {
            if skip_primary && hdu.index() == 0 {
                continue;
            }
            bar.set_message(format!("HDU {}", hdu.index()));
            if *hdu.kind() != HduKind::CompressedImage {
                append_hdus(&fits, &mut w, &[hdu.index()], &bar).await?;
                continue;
            }
            let image = hdu.image()?;
            let header = plain_header(&image, w.hdus() == 0);
            w.begin_image(header).await?;
            if !image.is_empty() {
                let rows = image.tiled()?.grid.tile[0];
                stream_image(&image, &mut w, rows, &bar).await?;
            }
            w.end_hdu().await?;
            restored += 1;
        }
        anyhow::Ok(())
    }
    .await;
    finish(w, result, &bar, dst, &format!("restored {restored} image(s)")).await
}

async fn finish(w: FitsWriter, result: Result<()>, bar: &ProgressBar, dst: &str, done: &str) -> Result<()> {
    bar.finish_and_clear();
    match result {
        Ok(()) => {
            w.finish().await?;
            eprintln!("{done}; wrote {dst}");
            Ok(())
        }
        Err(e) => {
            let _ = w.abort().await;
            Err(e)
        }
    }
}

/// The header of an uncompressed image holding what a compressed image shows: its stored
/// type and shape, then every other card of its translated header (scaling, WCS, history).
fn plain_header(image: &Image, primary: bool) -> Header {
    let mut h = image_header(image.bitpix().raw_dtype(), image.shape(), primary);
    for card in image.header().iter() {
        let k = card.keyword();
        if is_structural(k) && !matches!(k, "BSCALE" | "BZERO" | "BLANK") {
            continue;
        }
        h.push(card.clone());
    }
    h
}

/// Streams an image's stored values into the open HDU of `w`, in bands of whole multiples of
/// `align` rows along the first axis, the next band read while the current one is written.
async fn stream_image(image: &Image, w: &mut FitsWriter, align: usize, bar: &ProgressBar) -> Result<()> {
    let shape = image.shape().to_vec();
    let elem = image.bitpix().size();
    let row_bytes = shape[1..].iter().product::<usize>() * elem;
    let rows = (BAND_BYTES / row_bytes.max(1)).max(1).div_ceil(align.max(1)) * align.max(1);
    let bands: Vec<_> = (0..shape[0])
        .step_by(rows)
        .map(|r| image.section().slice_axis(0, Slice::from(r..(r + rows).min(shape[0]))))
        .collect::<fits::Result<_>>()?;
    macro_rules! run {
        ($t:ty) => {{
            let mut reads = futures::stream::iter(bands).map(|s| async move { s.read_raw::<$t>().await }).buffered(2);
            while let Some(band) = reads.try_next().await? {
                let values = band.as_slice().context("a band read is not contiguous")?;
                w.write_raw(values).await?;
                bar.inc((values.len() * elem) as u64);
            }
        }};
    }
    match image.bitpix() {
        Bitpix::U8 => run!(u8),
        Bitpix::I16 => run!(i16),
        Bitpix::I32 => run!(i32),
        Bitpix::I64 => run!(i64),
        Bitpix::F32 => run!(f32),
        Bitpix::F64 => run!(f64),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_tile;

    #[test]
    fn tiles_are_given_in_fits_order() {
        assert_eq!(parse_tile("100x20", 2).unwrap(), vec![20, 100]);
        assert_eq!(parse_tile("4220,1", 2).unwrap(), vec![1, 4220]);
        assert_eq!(parse_tile("64", 3).unwrap(), vec![1, 1, 64]);
        for bad in ["", "0x3", "ax3", "1x2x3x4"] {
            assert!(parse_tile(bad, 3).is_err(), "{bad}");
        }
    }
}
