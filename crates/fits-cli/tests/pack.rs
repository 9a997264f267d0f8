//! `fits compress` and `fits decompress` against the reference tools: what we compress funpack
//! restores, what fpack compresses we restore, every file passes fitsverify, and the images
//! and their keywords come back as they were.

use fits::core::{DType, write::image_header};
use fits::{Fits, WriteOptions};
use std::path::{Path, PathBuf};

mod common;

use common::{corpus, fits as fits_cmd, fitsverify, ok, tool};

/// The shape and physical values of every image with pixels.
async fn images(path: &Path) -> Vec<(Vec<usize>, Vec<f64>)> {
    let fits = Fits::open(&path.display().to_string()).await.unwrap();
    let mut out = Vec::new();
    for h in fits.hdus() {
        if let Ok(image) = h.image() {
            if !image.is_empty() {
                let v: Vec<f64> = image.read::<f64>().await.unwrap().iter().copied().collect();
                out.push((image.shape().to_vec(), v));
            }
        }
    }
    out
}

#[tokio::test]
async fn every_codec_round_trips_m13_through_funpack_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let original = PathBuf::from(corpus("m13.fits"));
    let want = images(&original).await;
    for codec in ["rice", "gzip1", "gzip2", "hcompress", "plio"] {
        let packed = dir.path().join(format!("m13-{codec}.fits"));
        ok(&["compress", &corpus("m13.fits"), &packed.display().to_string(), "--codec", codec]);
        fitsverify(&packed);
        let fits = Fits::open(&packed.display().to_string()).await.unwrap();
        assert_eq!(fits.len(), 2, "{codec}: an empty primary and the compressed image");
        let image = fits.image(1).unwrap();
        assert!(image.is_compressed());
        assert!(image.header().contains("ZSIMPLE") || image.hdu().header().contains("ZSIMPLE"), "{codec}");
        assert_eq!(image.header().string("CTYPE1").unwrap(), Some("RA---TAN"), "{codec}: keywords kept");
        assert!(images(&packed).await == want, "{codec}: our reader");
        let unpacked = dir.path().join(format!("m13-{codec}-funpack.fits"));
        if tool("funpack", &["-O", &unpacked.display().to_string(), &packed.display().to_string()]).is_some() {
            assert!(images(&unpacked).await == want, "{codec}: funpack");
        }
        let restored = dir.path().join(format!("m13-{codec}-restored.fits"));
        ok(&["decompress", &packed.display().to_string(), &restored.display().to_string()]);
        fitsverify(&restored);
        assert!(images(&restored).await == want, "{codec}: decompress");
        let fits = Fits::open(&restored.display().to_string()).await.unwrap();
        assert_eq!(fits.len(), 1, "{codec}: the image is primary again");
        let h = fits.hdu(0).unwrap().header();
        assert_eq!(h.float("CRVAL1").unwrap(), Some(250.4226), "{codec}");
        assert!(!h.contains("ZIMAGE") && !h.contains("TFORM1"), "{codec}");
    }
}

#[tokio::test]
async fn multi_extension_files_keep_their_tables_and_names() {
    let dir = tempfile::tempdir().unwrap();
    let src = PathBuf::from(corpus("o4sp040b0_raw.fits"));
    let packed = dir.path().join("packed.fits");
    ok(&["compress", &src.display().to_string(), &packed.display().to_string(), "--tile", "20x5"]);
    fitsverify(&packed);
    let before = Fits::open(&src.display().to_string()).await.unwrap();
    let after = Fits::open(&packed.display().to_string()).await.unwrap();
    assert_eq!(before.len(), after.len());
    for (a, b) in before.hdus().iter().zip(after.hdus()) {
        assert_eq!(a.name(), b.name(), "HDU {}", a.index());
        let image = a.image().ok().filter(|i| !i.is_empty());
        assert_eq!(*b.kind() == fits::core::HduKind::CompressedImage, image.is_some(), "HDU {}", a.index());
        if image.is_some() {
            let z = b.image().unwrap();
            assert_eq!(z.tiled().unwrap().grid.tile, vec![5, 20], "--tile is NAXIS1 first");
            assert_eq!(z.header().int("EXTVER").unwrap(), a.header().int("EXTVER").unwrap());
        }
    }
    assert!(images(&packed).await == images(&src).await);
    let restored = dir.path().join("restored.fits");
    ok(&["decompress", &packed.display().to_string(), &restored.display().to_string()]);
    fitsverify(&restored);
    assert!(images(&restored).await == images(&src).await);
}

#[tokio::test]
async fn files_fpack_made_decompress_as_funpack_does() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("float.fits");
    let shape = [50, 70];
    let values: Vec<f32> = (0..50 * 70).map(|i| 100.0 + ((i * 7919) % 113) as f32 * 0.37 + (i / 70) as f32).collect();
    fits::write_file(
        &src.display().to_string(),
        image_header(DType::F32, &shape, true),
        &values,
        WriteOptions::default(),
    )
    .await
    .unwrap();
    let fz = dir.path().join("float.fits.fz");
    if tool("fpack", &["-O", &fz.display().to_string(), &src.display().to_string()]).is_none() {
        return;
    }
    let theirs = dir.path().join("theirs.fits");
    tool("funpack", &["-O", &theirs.display().to_string(), &fz.display().to_string()]);
    let ours = dir.path().join("ours.fits");
    ok(&["decompress", &fz.display().to_string(), &ours.display().to_string()]);
    fitsverify(&ours);
    let (a, b) = (images(&ours).await, images(&theirs).await);
    assert_eq!(a.len(), 1);
    assert!(a[0].1.iter().zip(&b[0].1).all(|(x, y)| x.to_bits() == y.to_bits()), "bit for bit as funpack");
}

#[tokio::test]
async fn float_options_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("float.fits");
    let shape = [40, 64];
    let values: Vec<f64> = (0..40 * 64).map(|i| 10.0 + ((i * 7919) % 101) as f64 * 0.5).collect();
    fits::write_file(
        &src.display().to_string(),
        image_header(DType::F64, &shape, true),
        &values,
        WriteOptions::default(),
    )
    .await
    .unwrap();
    let s = src.display().to_string();
    // Lossless needs gzip.
    let out = fits_cmd(&["compress", &s, &dir.path().join("x.fits").display().to_string(), "-q", "0"]);
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("lossless") && e.contains("GZIP"), "{e}");
    assert!(!dir.path().join("x.fits").exists(), "nothing is left behind");
    let exact = dir.path().join("exact.fits");
    ok(&["compress", &s, &exact.display().to_string(), "-q", "0", "--codec", "gzip2"]);
    assert!(images(&exact).await[0].1 == values);
    // A fixed step of 0.01 with zeros kept: errors stay within the step.
    let fine = dir.path().join("fine.fits");
    ok(&["compress", &s, &fine.display().to_string(), "-q", "-0.01", "--dither", "subtractive2", "--seed", "77"]);
    fitsverify(&fine);
    let fits = Fits::open(&fine.display().to_string()).await.unwrap();
    let table = fits.hdu(1).unwrap().header();
    assert_eq!(table.string("ZQUANTIZ").unwrap(), Some("SUBTRACTIVE_DITHER_2"));
    assert_eq!(table.int("ZDITHER0").unwrap(), Some(77));
    let got = &images(&fine).await[0].1;
    let worst = values.iter().zip(got).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(worst > 0.0 && worst <= 0.01, "{worst}");
    let bad = fits_cmd(&["compress", &s, &dir.path().join("y.fits").display().to_string(), "--tile", "0x3"]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("--tile"));
}

#[tokio::test]
async fn compress_to_s3_and_decompress_from_it() {
    let Ok(bucket) = std::env::var("FITS_TEST_S3_BUCKET") else {
        assert!(
            std::env::var_os("FITS_REQUIRE_TOOLS").is_none(),
            "FITS_TEST_S3_BUCKET is required (run `cargo xtask test`)"
        );
        return;
    };
    let url = format!("s3://{bucket}/pack-tests/m13.fits.fz");
    ok(&["compress", &corpus("m13.fits"), &url, "--overwrite"]);
    let dir = tempfile::tempdir().unwrap();
    let restored = dir.path().join("m13.fits");
    ok(&["decompress", &url, &restored.display().to_string()]);
    fitsverify(&restored);
    assert!(images(&restored).await == images(Path::new(&corpus("m13.fits"))).await);
}
