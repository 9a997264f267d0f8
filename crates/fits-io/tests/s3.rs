//! The S3 driver against a real S3-compatible store (Garage, started by `cargo xtask test`).
//!
//! Needs `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION` and
//! `FITS_TEST_S3_BUCKET`; without them the tests are skipped, unless `FITS_REQUIRE_TOOLS` is set.
#![cfg(feature = "s3")]

use bytes::Bytes;
use fits_io::{CloudOptions, Error, ObjectDriver, StorageDriver};

fn bucket() -> Option<String> {
    match std::env::var("FITS_TEST_S3_BUCKET") {
        Ok(b) => Some(b),
        Err(_) if std::env::var_os("FITS_REQUIRE_TOOLS").is_some() => {
            panic!("FITS_TEST_S3_BUCKET is required (run `cargo xtask test`)")
        }
        Err(_) => {
            eprintln!("no S3 test store configured: skipping");
            None
        }
    }
}

fn data(n: usize, seed: u8) -> Bytes {
    Bytes::from((0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect::<Vec<u8>>())
}

#[tokio::test]
async fn reads_ranges_and_detects_changes() {
    let Some(bucket) = bucket() else { return };
    let url = format!("s3://{bucket}/fits-io-tests/ranges.bin");
    let d = data(3_000_000, 1);
    let writer = ObjectDriver::s3(&url, &CloudOptions::default()).unwrap();
    writer.put(d.clone()).await.unwrap();

    let driver = ObjectDriver::s3(&url, &CloudOptions::default()).unwrap();
    let (info, head) = driver.read_head(66_240).await.unwrap();
    assert_eq!(info.size, 3_000_000);
    assert!(info.etag.is_some());
    assert_eq!(&head[..], &d[..66_240]);
    assert_eq!(&driver.read_range(2_999_000..3_000_000).await.unwrap()[..], &d[2_999_000..]);
    let ranges: Vec<_> = (0..20u64).map(|i| i * 140_000..i * 140_000 + 1000).collect();
    for (r, b) in ranges.iter().zip(driver.read_ranges(&ranges).await.unwrap()) {
        assert_eq!(&b[..], &d[r.start as usize..r.end as usize]);
    }
    let e = driver.read_range(2_999_999..3_000_001).await.unwrap_err().to_string();
    assert!(e.contains("ranges.bin") && e.contains("3000000"), "{e}");

    // The object is replaced: the pinned ETag no longer matches.
    writer.put(data(3_000_000, 2)).await.unwrap();
    let e = driver.read_range(0..10).await.unwrap_err();
    assert!(matches!(e, Error::FileChanged { .. }), "{e}");
}

#[tokio::test]
async fn small_objects_and_missing_ones() {
    let Some(bucket) = bucket() else { return };
    let url = format!("s3://{bucket}/fits-io-tests/small.bin");
    let d = data(100, 3);
    ObjectDriver::s3(&url, &CloudOptions::default()).unwrap().put(d.clone()).await.unwrap();
    let (info, head) = ObjectDriver::s3(&url, &CloudOptions::default()).unwrap().read_head(66_240).await.unwrap();
    assert_eq!((info.size, &head[..]), (100, &d[..]));
    let missing = format!("s3://{bucket}/fits-io-tests/does-not-exist.fits");
    let e = ObjectDriver::s3(&missing, &CloudOptions::default()).unwrap().read_head(100).await.unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    assert!(e.to_string().contains("does-not-exist.fits"));
    // Unsigned requests to a private bucket are refused.
    let e = ObjectDriver::s3(&url, &CloudOptions::anonymous()).unwrap().read_head(100).await.unwrap_err();
    assert!(matches!(e, Error::PermissionDenied { .. } | Error::NotFound { .. }), "{e}");
}
