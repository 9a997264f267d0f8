//! Writing tile-compressed images: every codec and pixel type, streamed in awkward chunks,
//! reads back exactly (lossless) or within the quantization step (floats); the files pass
//! fitsverify, carry valid checksums, and cfitsio's funpack decodes them to the same values.

mod common;

use common::{fitsverify, tool_ok};
use fits_array::{Fits, FitsWriter, WriteOptions};
use fits_core::compress::Compression;
use fits_core::quantize::Dither;
use fits_core::tiled::Algorithm;
use fits_core::write::image_header;
use fits_core::{Card, DType, Header};
use std::path::Path;
use std::process::Command;

/// Decodes `path` with funpack into a new file and returns its path (None without the tool).
fn funpack(path: &Path) -> Option<std::path::PathBuf> {
    if !tool_ok("funpack") {
        return None;
    }
    let out_path = path.with_extension("unpacked.fits");
    let _ = std::fs::remove_file(&out_path);
    let out = Command::new("funpack").arg("-O").arg(&out_path).arg(path).output().unwrap();
    assert!(out.status.success(), "funpack {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    Some(out_path)
}

/// Deterministic sky-like values: a smooth background, a few stars, noise.
fn sky(shape: &[usize]) -> Vec<f64> {
    let n: usize = shape.iter().product();
    let w = *shape.last().unwrap();
    let mut s = 0x2545_F491_4F6C_DD1Du64;
    (0..n)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let (y, x) = ((i / w) as f64, (i % w) as f64);
            let star = if (i * 7919) % 997 == 0 { 3000.0 } else { 0.0 };
            200.0 + 0.3 * x + 0.2 * y + star + (s % 1000) as f64 / 50.0
        })
        .collect()
}

async fn write_compressed(path: &Path, header: Header, values: &[f64], dtype: DType, c: &Compression) {
    let mut w = FitsWriter::create(&path.display().to_string(), WriteOptions::overwrite()).await.unwrap();
    w.begin_compressed_image(header, c).await.unwrap();
    // Awkward chunk sizes, in the type the image holds.
    for chunk in values.chunks(1237) {
        match dtype {
            DType::U8 => w.write(&chunk.iter().map(|&v| (v as i64 % 256) as u8).collect::<Vec<_>>()).await,
            DType::I16 => w.write(&chunk.iter().map(|&v| v as i16).collect::<Vec<_>>()).await,
            DType::U16 => w.write(&chunk.iter().map(|&v| (v * 10.0) as u16).collect::<Vec<_>>()).await,
            DType::I32 => w.write(&chunk.iter().map(|&v| (v * 1000.0) as i32).collect::<Vec<_>>()).await,
            DType::F32 => w.write(&chunk.iter().map(|&v| v as f32).collect::<Vec<_>>()).await,
            _ => w.write(chunk).await,
        }
        .unwrap();
    }
    w.end_hdu().await.unwrap();
    w.finish().await.unwrap();
}

async fn read_f64(path: &Path, hdu: usize) -> Vec<f64> {
    let fits = Fits::open(&path.display().to_string()).await.unwrap();
    fits.image(hdu).unwrap().read::<f64>().await.unwrap().iter().copied().collect()
}

/// The exact values the writer was given, as the image type holds them.
fn expected(values: &[f64], dtype: DType) -> Vec<f64> {
    values
        .iter()
        .map(|&v| match dtype {
            DType::U8 => (v as i64 % 256) as f64,
            DType::I16 => v as i16 as f64,
            DType::U16 => (v * 10.0) as u16 as f64,
            DType::I32 => (v * 1000.0) as i32 as f64,
            DType::F32 => v as f32 as f64,
            _ => v,
        })
        .collect()
}

#[tokio::test]
async fn integer_images_round_trip_exactly_with_every_codec() {
    let dir = tempfile::tempdir().unwrap();
    let shape = [37, 53];
    let values = sky(&shape);
    for (case, (algorithm, tile)) in [
        (Algorithm::Rice { block: 32, bytepix: 4 }, None),
        (Algorithm::Rice { block: 32, bytepix: 4 }, Some(vec![8, 16])),
        (Algorithm::Gzip1, None),
        (Algorithm::Gzip2, Some(vec![37, 53])),
        (Algorithm::Hcompress { scale: 0.0, smooth: false }, None),
        (Algorithm::Plio, Some(vec![5, 53])),
        (Algorithm::NoCompress, None),
    ]
    .into_iter()
    .enumerate()
    {
        for dtype in [DType::U8, DType::I16, DType::U16, DType::I32] {
            if algorithm == Algorithm::Plio && dtype == DType::I32 {
                continue;
            }
            let what = format!("{algorithm:?} {tile:?} {dtype}");
            let path = dir.path().join(format!("{case}-{dtype}.fits"));
            let mut header = image_header(dtype, &shape, false);
            header.push(Card::new("OBJECT", "test field"));
            header.push(Card::new("EXTNAME", "SCI"));
            let c = Compression { algorithm, tile: tile.clone(), ..Compression::default() };
            write_compressed(&path, header, &values, dtype, &c).await;
            fitsverify(&path);
            let want = expected(&values, dtype);
            assert_eq!(read_f64(&path, 1).await, want, "{what}: our reader");
            let fits = Fits::open(&path.display().to_string()).await.unwrap();
            let image = fits.image("SCI").unwrap();
            assert_eq!(image.dtype(), dtype, "{what}");
            assert_eq!(image.header().string("OBJECT").unwrap(), Some("test field"), "{what}");
            for h in fits.hdus() {
                let v = h.verify_checksums().await.unwrap();
                assert_eq!((v.checksum, v.datasum), (Some(true), Some(true)), "{what}: HDU {}", h.index());
            }
            // funpack (cfitsio 4.2) does not decode NOCOMPRESS tables; astropy does.
            if algorithm == Algorithm::NoCompress {
                continue;
            }
            if let Some(unpacked) = funpack(&path) {
                assert_eq!(read_f64(&unpacked, 1).await, want, "{what}: funpack");
            }
        }
    }
}

#[tokio::test]
async fn float_images_are_quantized_or_kept_exact() {
    let dir = tempfile::tempdir().unwrap();
    let shape = [3, 24, 41];
    let mut values = sky(&shape);
    values[17] = f64::NAN;
    values[100] = 0.0;
    for dtype in [DType::F32, DType::F64] {
        for (algorithm, dither, quantize) in [
            (Algorithm::Rice { block: 32, bytepix: 4 }, Dither::Subtractive1, Some(4.0)),
            (Algorithm::Rice { block: 32, bytepix: 4 }, Dither::Subtractive2, Some(16.0)),
            (Algorithm::Gzip2, Dither::None, Some(4.0)),
            (Algorithm::Hcompress { scale: 0.0, smooth: false }, Dither::Subtractive1, Some(4.0)),
            (Algorithm::Gzip1, Dither::Subtractive1, None),
        ] {
            let what = format!("{algorithm:?} {dither:?} {quantize:?} {dtype}");
            let path = dir.path().join(format!("{}-{dtype}-{}.fits", algorithm.keyword(), dither.keyword()));
            let c = Compression { algorithm, dither, quantize, ..Compression::default() };
            write_compressed(&path, image_header(dtype, &shape, true), &values, dtype, &c).await;
            fitsverify(&path);
            let want = expected(&values, dtype);
            let ours = read_f64(&path, 1).await;
            assert!(ours[17].is_nan(), "{what}: NaN kept");
            if dither == Dither::Subtractive2 {
                assert_eq!(ours[100], 0.0, "{what}: zero kept");
            }
            let worst =
                want.iter().zip(&ours).filter(|(a, _)| !a.is_nan()).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            match quantize {
                None => assert_eq!(worst, 0.0, "{what}: lossless"),
                Some(q) => {
                    // The noise is about 5.8 (uniform over 20): steps of 5.8 / q.
                    let bound = 5.8 / q * 1.2;
                    assert!(worst > 0.0 && worst <= bound, "{what}: worst error {worst} > {bound}");
                }
            }
            if let Some(unpacked) = funpack(&path) {
                // funpack restores the primary image; its values equal our decoding bit for bit.
                let theirs = read_f64(&unpacked, 0).await;
                let same = theirs.iter().zip(&ours).all(|(a, b)| a == b || (a.is_nan() && b.is_nan()));
                assert!(same, "{what}: funpack decodes to other values");
            }
        }
    }
}

#[tokio::test]
async fn bad_writes_are_refused_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.fits");
    let dest = path.display().to_string();
    let mut w = FitsWriter::create(&dest, WriteOptions::default()).await.unwrap();
    let lossless_rice = Compression { quantize: None, ..Compression::default() };
    let e = w.begin_compressed_image(image_header(DType::F32, &[4, 4], false), &lossless_rice).await.unwrap_err();
    assert!(e.to_string().contains("lossless"), "{e}");
    // PLIO refuses negative values: the tile is named.
    let plio = Compression { algorithm: Algorithm::Plio, ..Compression::default() };
    w.begin_compressed_image(image_header(DType::I16, &[4, 4], false), &plio).await.unwrap();
    w.write(&[-1i16; 16]).await.unwrap();
    let e = w.end_hdu().await.unwrap_err().to_string();
    assert!(e.contains("tile 1") && e.contains("HDU 1"), "{e}");
    assert!(w.finish().await.is_err());
    assert!(!path.exists());
}
