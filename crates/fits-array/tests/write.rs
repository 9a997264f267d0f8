//! Writers: streamed, appended, random-order and updated files are valid FITS (fitsverify),
//! read back to what was written, carry valid checksums, and failures leave nothing behind.

mod common;

use common::fitsverify;

use async_trait::async_trait;
use bytes::Bytes;
use fits_array::{Fits, FitsWriter, RandomWriter, UpdateFile, WriteOptions};
use fits_core::write::image_header;
use fits_core::{Card, DType, Header};
use ndarray::{Array, Array3, ArrayD, s};
use std::process::Command;

/// Every HDU's CHECKSUM and DATASUM verify.
async fn checksums_ok(fits: &Fits) {
    for h in fits.hdus() {
        let v = h.verify_checksums().await.unwrap();
        assert_eq!((v.checksum, v.datasum), (Some(true), Some(true)), "HDU {}", h.index());
    }
}

/// The seed's cube formula.
fn cube_value(k: usize, j: usize, i: usize) -> f64 {
    k as f64 + j as f64 / 100.0 + i as f64 / 10000.0
}

fn scaled_header() -> Header {
    let mut h = image_header(DType::I16, &[30, 40], false);
    h.push(Card::new("BSCALE", 0.25f64));
    h.push(Card::new("BZERO", 1000.0f64));
    h.push(Card::new("BLANK", -32768i64));
    h.push(Card::new("EXTNAME", "SCALED"));
    h
}

#[tokio::test]
async fn streamed_files_hold_several_hdus() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("multi.fits");
    let dest = path.display().to_string();
    let mut w = FitsWriter::create(&dest, WriteOptions::default()).await.unwrap();
    w.begin_image(image_header(DType::F64, &[7, 11, 11], true)).await.unwrap();
    let cube = Array3::from_shape_fn((7, 11, 11), |(k, j, i)| cube_value(k, j, i));
    // Chunks of awkward sizes.
    for chunk in cube.as_slice().unwrap().chunks(333) {
        w.write(chunk).await.unwrap();
    }
    w.end_hdu().await.unwrap();
    w.begin_image(scaled_header()).await.unwrap();
    let physical: Vec<f32> = (0..1200).map(|i| if i == 77 { f32::NAN } else { 1000.0 + i as f32 * 0.25 }).collect();
    w.write(&physical).await.unwrap();
    w.end_hdu().await.unwrap();
    let mut u = image_header(DType::U16, &[2, 3], false);
    u.push(Card::new("EXTNAME", "COUNTS"));
    w.begin_image(u).await.unwrap();
    w.write(&[0u16, 1, 32767, 32768, 65534, 65535]).await.unwrap();
    w.end_hdu().await.unwrap();
    assert!(!path.exists(), "nothing under the final name before finish");
    w.finish().await.unwrap();
    fitsverify(&path);

    let fits = Fits::open(&dest).await.unwrap();
    assert_eq!(fits.len(), 3);
    checksums_ok(&fits).await;
    assert_eq!(fits.image(0).unwrap().read::<f64>().await.unwrap(), cube.into_dyn());
    let back: ArrayD<f32> = fits.image("SCALED").unwrap().read().await.unwrap();
    for (i, (a, b)) in physical.iter().zip(back.iter()).enumerate() {
        assert!(a == b || (a.is_nan() && b.is_nan()), "element {i}: {a} vs {b}");
    }
    let counts: ArrayD<u16> = fits.image("COUNTS").unwrap().read().await.unwrap();
    assert_eq!(counts.as_slice().unwrap(), &[0, 1, 32767, 32768, 65534, 65535]);
}

#[tokio::test]
async fn appending_keeps_the_file_whole_or_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("base.fits");
    let dest = path.display().to_string();
    fits_array::write_file(&dest, image_header(DType::I32, &[4], true), &[1i32, 2, 3, 4], WriteOptions::default())
        .await
        .unwrap();
    let before = std::fs::read(&path).unwrap();
    // A failed append leaves the file as it was.
    let mut w = FitsWriter::append(&dest, WriteOptions::default()).await.unwrap();
    w.begin_image(scaled_header()).await.unwrap();
    w.write(&[1000.0f32; 10]).await.unwrap();
    let e = w.finish().await.unwrap_err().to_string();
    assert!(e.contains("HDU 1 is incomplete") && e.contains("10 of 1200"), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
    // A finished one adds the HDU.
    let mut w = FitsWriter::append(&dest, WriteOptions::default()).await.unwrap();
    assert_eq!(w.hdus(), 1);
    w.begin_image(scaled_header()).await.unwrap();
    w.write(&vec![1001.5f64; 1200]).await.unwrap();
    w.end_hdu().await.unwrap();
    w.finish().await.unwrap();
    fitsverify(&path);
    let fits = Fits::open(&dest).await.unwrap();
    assert_eq!(fits.len(), 2);
    checksums_ok(&fits).await;
    assert_eq!(std::fs::read(&path).unwrap()[..before.len()], before[..]);
}

#[tokio::test]
async fn bad_input_is_refused_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("bad.fits").display().to_string();
    type Act = Box<dyn Fn(&mut FitsWriter) -> futures::future::BoxFuture<'_, fits_array::Result<()>>>;
    let cases: Vec<(&str, Act)> = vec![
        ("exceed the header's 12 elements", Box::new(|w| Box::pin(async move { w.write(&[0f32; 13]).await }))),
        ("whole number", Box::new(|w| Box::pin(async move { w.write(&[0.5f64]).await }))),
        ("BLANK", Box::new(|w| Box::pin(async move { w.write(&[f32::NAN]).await }))),
        ("range", Box::new(|w| Box::pin(async move { w.write(&[1e10f64]).await }))),
    ];
    for (needle, act) in cases {
        let mut w = FitsWriter::create(&dest, WriteOptions::default()).await.unwrap();
        w.begin_image(image_header(DType::I16, &[3, 4], true)).await.unwrap();
        let e = act(&mut w).await.unwrap_err().to_string();
        assert!(e.contains("bad.fits") && e.contains(needle), "{needle}: {e}");
        let e = w.finish().await.unwrap_err().to_string();
        assert!(e.contains("nothing was written"), "{e}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "{needle}: no file, no temporary");
    }
    // Too few values.
    let mut w = FitsWriter::create(&dest, WriteOptions::default()).await.unwrap();
    w.begin_image(image_header(DType::I16, &[3, 4], true)).await.unwrap();
    w.write(&[1i16; 5]).await.unwrap();
    let e = w.end_hdu().await.unwrap_err().to_string();
    assert!(e.contains("promises 12 elements, 5 were written"), "{e}");
    drop(w);
    // Headers in the wrong place.
    let mut w = FitsWriter::create(&dest, WriteOptions::default()).await.unwrap();
    let e = w.begin_image(image_header(DType::I16, &[3], false)).await.unwrap_err().to_string();
    assert!(e.contains("HDU 0 must start with SIMPLE"), "{e}");
    drop(w);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn random_order_writes_make_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("random.fits");
    let mut w = RandomWriter::create(
        &path.display().to_string(),
        image_header(DType::F64, &[40, 11, 11], true),
        WriteOptions::default(),
    )
    .unwrap();
    let cube = Array3::from_shape_fn((40, 11, 11), |(k, j, i)| cube_value(k, j, i));
    // Chunks of 6 planes in a scrambled order; plane 39 through a strided, reversed section.
    let mut starts: Vec<usize> = (0..39).step_by(6).collect();
    starts.reverse();
    starts.swap(1, 4);
    for k in starts {
        let end = (k + 6).min(39);
        w.write_section(s![k..end, .., ..], &cube.slice(s![k..end, .., ..])).unwrap();
    }
    w.write_section(s![39, .., ..;-2], &cube.slice(s![39, .., ..;-2])).unwrap();
    w.write_section(s![39, .., 1..11;2], &cube.slice(s![39, .., 1..11;2])).unwrap();
    let e = w.write_section(s![0..2, .., ..], &Array3::<f64>::zeros((3, 11, 11)).view()).unwrap_err().to_string();
    assert!(e.contains("random.fits") && e.contains("[3, 11, 11]"), "{e}");
    assert!(!path.exists());
    w.finish().unwrap();
    fitsverify(&path);
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let fits = Fits::open(&path.display().to_string()).await.unwrap();
        checksums_ok(&fits).await;
        assert_eq!(fits.image(0).unwrap().read::<f64>().await.unwrap(), cube.into_dyn());
    });
}

#[tokio::test]
async fn updates_in_place_keep_checksums_valid() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checksum.fits");
    std::fs::copy(format!("{}/../../testdata/corpus/checksum.fits", env!("CARGO_MANIFEST_DIR")), &path).unwrap();
    let dest = path.display().to_string();
    let mut u = UpdateFile::open(&dest).await.unwrap();
    let patch = Array::from_shape_fn((3, 4), |(j, i)| (j * 10 + i) as i16);
    u.write_section(0, s![5..8, 10..14], &patch.view()).unwrap();
    u.finish().await.unwrap();
    fitsverify(&path);
    let fits = Fits::open(&dest).await.unwrap();
    checksums_ok(&fits).await;
    let back = fits.image(0).unwrap().section().slice(s![5..8, 10..14]).unwrap().read::<i16>().await.unwrap();
    assert_eq!(back, patch);
}

/// An upload that fails at one part, over a real one.
#[derive(Debug)]
struct FailingUpload {
    inner: Box<dyn fits_io::Upload>,
    fail_at: usize,
}

#[async_trait]
impl fits_io::Upload for FailingUpload {
    fn location(&self) -> &str {
        self.inner.location()
    }
    fn min_part_size(&self) -> u64 {
        self.inner.min_part_size()
    }
    async fn put_part(&self, index: usize, data: Bytes) -> fits_io::Result<()> {
        if index == self.fail_at {
            return Err(fits_io::Error::Network {
                driver: "test",
                location: self.location().into(),
                detail: format!("part {index} refused by the test"),
                source: None,
            });
        }
        self.inner.put_part(index, data).await
    }
    async fn complete(&self, parts: usize) -> fits_io::Result<()> {
        self.inner.complete(parts).await
    }
    async fn abort(&self) -> fits_io::Result<()> {
        self.inner.abort().await
    }
}

/// The S3 writer tests count unfinished uploads bucket-wide: one at a time.
static S3_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn bucket() -> Option<String> {
    match std::env::var("FITS_TEST_S3_BUCKET") {
        Ok(b) => Some(b),
        Err(_) if std::env::var_os("FITS_REQUIRE_TOOLS").is_some() => {
            panic!("FITS_TEST_S3_BUCKET is required (run `cargo xtask test`)")
        }
        Err(_) => None,
    }
}

/// Unfinished multipart uploads in the test bucket, as Garage reports them.
fn unfinished_uploads(bucket: &str) -> usize {
    let Ok(config) = std::env::var("FITS_TEST_GARAGE_CONFIG") else { return 0 };
    let out = Command::new("garage").args(["-c", &config, "bucket", "info", bucket]).output().expect("garage runs");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find(|l| l.trim_start().starts_with("Unfinished uploads:"))
        .and_then(|l| l.split(':').nth(1)?.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn streamed_to_s3_in_parts_with_the_header_sent_last() {
    let Some(bucket) = bucket() else { return };
    let _one_at_a_time = S3_LOCK.lock().await;
    let url = format!("s3://{bucket}/writer-tests/cube.fits");
    let options = WriteOptions { part_size: 5 << 20, ..WriteOptions::default() };
    let mut w = FitsWriter::create(&url, options).await.unwrap();
    let planes = 20_000usize; // 19.4 MB of float64: four parts
    w.begin_image(image_header(DType::F64, &[planes, 11, 11], true)).await.unwrap();
    for k0 in (0..planes).step_by(1500) {
        let k1 = (k0 + 1500).min(planes);
        let chunk = Array3::from_shape_fn((k1 - k0, 11, 11), |(k, j, i)| cube_value(k0 + k, j, i));
        w.write_array(&chunk.view()).await.unwrap();
    }
    w.end_hdu().await.unwrap();
    let mut ext = image_header(DType::I32, &[5], false);
    ext.push(Card::new("EXTNAME", "TAIL"));
    w.begin_image(ext).await.unwrap();
    w.write(&[1i32, 2, 3, 4, 5]).await.unwrap();
    w.end_hdu().await.unwrap();
    w.finish().await.unwrap();
    let fits = Fits::open(&url).await.unwrap();
    assert_eq!(fits.len(), 2);
    checksums_ok(&fits).await;
    let plane = fits.image(0).unwrap().section().slice(s![17_777, .., ..]).unwrap().read::<f64>().await.unwrap();
    assert_eq!(plane[[3usize, 7usize]], cube_value(17_777, 3, 7));
    assert_eq!(unfinished_uploads(&bucket), 0);
}

#[tokio::test]
async fn a_failed_part_aborts_the_upload() {
    let Some(bucket) = bucket() else { return };
    let _one_at_a_time = S3_LOCK.lock().await;
    let url = format!("s3://{bucket}/writer-tests/never.fits");
    let driver = fits_io::open(&url, &Default::default()).await.unwrap();
    let upload = FailingUpload { inner: driver.create_upload().await.unwrap(), fail_at: 2 };
    let options = WriteOptions { part_size: 5 << 20, ..WriteOptions::default() };
    let mut w = FitsWriter::to_upload(Box::new(upload), options);
    w.begin_image(image_header(DType::F64, &[20_000, 11, 11], true)).await.unwrap();
    // The failure surfaces at a later write, at end_hdu, or at finish: whichever comes first.
    let chunk = vec![1.5f64; 121 * 1000];
    let mut first_error = None;
    for _ in 0..20 {
        if let Err(e) = w.write(&chunk).await {
            first_error = Some(e.to_string());
            break;
        }
    }
    if first_error.is_none() {
        first_error = w.end_hdu().await.err().map(|e| e.to_string());
    }
    let finished = w.finish().await.unwrap_err().to_string();
    assert!(finished.contains("nothing was written"), "{finished}");
    let e = first_error.unwrap_or(finished);
    assert!(e.contains("part 2 refused"), "{e}");
    let gone = Fits::open(&url).await.unwrap_err().to_string();
    assert!(gone.contains("not found"), "{gone}");
    assert_eq!(unfinished_uploads(&bucket), 0, "the multipart upload was aborted");
}

#[tokio::test]
async fn tile_compressed_to_s3_in_parts() {
    let Some(bucket) = bucket() else { return };
    let _one_at_a_time = S3_LOCK.lock().await;
    let url = format!("s3://{bucket}/writer-tests/compressed.fits");
    let options = WriteOptions { part_size: 5 << 20, ..WriteOptions::default() };
    let mut w = FitsWriter::create(&url, options).await.unwrap();
    // Noise compresses badly: about 12 MB of heap, three parts, the header and rows held back.
    let (rows, cols) = (1000usize, 3000usize);
    let value = |i: usize| (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) as i32;
    let mut header = image_header(DType::I32, &[rows, cols], false);
    header.push(Card::new("EXTNAME", "NOISE"));
    let gzip = fits_core::compress::Compression {
        algorithm: fits_core::tiled::Algorithm::Gzip1,
        ..fits_core::compress::Compression::default()
    };
    w.begin_compressed_image(header, &gzip).await.unwrap();
    let all: Vec<i32> = (0..rows * cols).map(value).collect();
    for chunk in all.chunks(250_000) {
        w.write(chunk).await.unwrap();
    }
    w.end_hdu().await.unwrap();
    w.finish().await.unwrap();
    let fits = Fits::open(&url).await.unwrap();
    assert_eq!(fits.len(), 2);
    assert!(fits.file_len() > 10 << 20, "{} bytes: more than two parts", fits.file_len());
    checksums_ok(&fits).await;
    let image = fits.image("NOISE").unwrap();
    assert!(image.is_compressed());
    let back: Vec<i32> = image.read::<i32>().await.unwrap().iter().copied().collect();
    assert!(back == all, "the image reads back exactly");
    let cut = image.section().slice(s![500..510, 2990..]).unwrap().read::<i32>().await.unwrap();
    assert_eq!(cut[[3, 4]], value(503 * cols + 2994));
    assert_eq!(unfinished_uploads(&bucket), 0);
}
