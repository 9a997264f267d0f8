//! Reading over HTTP from a loopback server: the same values as locally, with the requests a slice needs and no more.

mod common;

use bytes::Bytes;
use common::{fits_bytes, same_as_local};
use fits_array::Fits;
use fits_netsim::{Server, ServerConfig};
use ndarray::s;
use std::path::PathBuf;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/corpus")
}

#[tokio::test]
async fn the_corpus_reads_the_same_over_http() {
    let server = Server::start(ServerConfig::default()).await.unwrap();
    let mut checked = 0;
    for entry in std::fs::read_dir(corpus_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.contains(".fits") {
            continue;
        }
        server.put(&format!("/{name}"), Bytes::from(std::fs::read(&path).unwrap()));
        let local = Fits::open(&path.display().to_string()).await.unwrap();
        let remote = Fits::open(&server.url(&format!("/{name}"))).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        checked += same_as_local(&local, &remote, &name).await;
    }
    assert!(checked > 15, "{checked}");
}

#[tokio::test]
async fn a_cutout_asks_only_for_its_rows() {
    // Rows of 2000 pixels: 8000 bytes apart, beyond the 4 KiB gap the HTTP driver reads through.
    let values: Vec<f32> = (0..1000 * 2000).map(|i| i as f32).collect();
    let bytes = fits_bytes(&[1000, 2000], &values, &[]);
    let server = Server::start(ServerConfig::default()).await.unwrap();
    server.put("/img.fits", Bytes::from(bytes));
    let fits = Fits::open(&server.url("/img.fits")).await.unwrap();
    // Opening: one request (the header fits in the first read).
    assert_eq!(server.requests().len(), 1);
    server.clear_requests();
    let cut = fits.image(0).unwrap().section().slice(s![100..110, 50..60]).unwrap().read::<f32>().await.unwrap();
    assert_eq!(cut[[0, 0]], (100 * 2000 + 50) as f32);
    assert_eq!(cut[[9, 9]], (109 * 2000 + 59) as f32);
    let log = server.requests();
    assert_eq!(log.len(), 1, "{log:?}");
    // Ten rows of 40 bytes: one multi-range request naming exactly those rows.
    let expected: Vec<String> = (100..110u64)
        .map(|r| {
            let start = 2880 + (r * 2000 + 50) * 4;
            format!("{}-{}", start, start + 39)
        })
        .collect();
    assert_eq!(log[0].range.as_deref().unwrap(), format!("bytes={}", expected.join(",")));
}

#[tokio::test]
async fn a_spectrum_is_one_request_for_many_scattered_elements() {
    let values: Vec<i16> = (0..60 * 100 * 100).map(|i| (i % 30000) as i16).collect();
    let bytes = fits_bytes(&[60, 100, 100], &values, &[("BSCALE", 0.5f64.into()), ("BZERO", 10.0f64.into())]);
    let server = Server::start(ServerConfig::default()).await.unwrap();
    server.put("/cube.fits", Bytes::from(bytes));
    let fits = Fits::open(&server.url("/cube.fits")).await.unwrap();
    server.clear_requests();
    let spectrum = fits.image(0).unwrap().section().slice(s![.., 50, 50]).unwrap().read::<f64>().await.unwrap();
    for (k, v) in spectrum.iter().enumerate() {
        let raw = ((k * 10_000 + 5050) % 30000) as f64;
        assert_eq!(*v, raw * 0.5 + 10.0);
    }
    let log = server.requests();
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0].range.as_deref().unwrap().matches(',').count(), 59);
}

/// A primary and three extensions; the last one's shape is `last`.
fn mef(last: [usize; 2]) -> Vec<u8> {
    let mut bytes = fits_bytes::<u8>(&[], &[], &[]);
    for (k, shape) in [[300, 400], [300, 400], last].into_iter().enumerate() {
        let values: Vec<f32> = (0..shape[0] * shape[1]).map(|i| (i + k * 1_000_000) as f32).collect();
        common::push_extension(&mut bytes, &shape, &values, &format!("E{k}"));
    }
    bytes
}

#[tokio::test]
async fn a_section_of_a_later_extension_travels_with_its_header() {
    let server = Server::start(ServerConfig::default()).await.unwrap();
    server.put("/mef.fits", Bytes::from(mef([300, 400])));
    // Rows 150..160: well beyond what the header read brings along.
    let hint = fits_array::SectionHint { hdu: 3, section: "150:160,30:50".into() };
    let fits = Fits::open_for_section(&server.url("/mef.fits"), &Default::default(), hint).await.unwrap();
    let before = server.requests().len();
    let cut = fits.image(3).unwrap().section().slice(s![150..160, 30..50]).unwrap().read::<f32>().await.unwrap();
    assert_eq!(server.requests().len(), before, "the section was already fetched with the header");
    assert_eq!(cut[[0, 0]], (150 * 400 + 30 + 2_000_000) as f32);
    assert_eq!(cut[[9, 19]], (159 * 400 + 49 + 2_000_000) as f32);
}

#[tokio::test]
async fn a_wrong_guess_costs_bytes_not_correctness() {
    let server = Server::start(ServerConfig::default()).await.unwrap();
    // The last extension has another shape: the guessed rows are the wrong bytes.
    server.put("/mef.fits", Bytes::from(mef([200, 333])));
    let hint = fits_array::SectionHint { hdu: 3, section: "150:160,30:50".into() };
    let fits = Fits::open_for_section(&server.url("/mef.fits"), &Default::default(), hint).await.unwrap();
    let before = server.requests().len();
    let cut = fits.image(3).unwrap().section().slice(s![150..160, 30..50]).unwrap().read::<f32>().await.unwrap();
    assert_eq!(server.requests().len(), before + 1, "the real rows are read");
    assert_eq!(cut[[0, 0]], (150 * 333 + 30 + 2_000_000) as f32);
    assert_eq!(cut[[9, 19]], (159 * 333 + 49 + 2_000_000) as f32);
}
