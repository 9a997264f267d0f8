//! Against real servers started by `cargo xtask test`: nginx (HTTP ranges, multipart answers,
//! ETags) and Garage (S3). Skipped without them, unless `FITS_REQUIRE_TOOLS` is set.

mod common;

use bytes::Bytes;
use common::same_as_local;
use fits_array::Fits;
use fits_io::{ObjectDriver, RequestEvent, RequestObserver, StorageDriver};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

fn env(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(v) => Some(v),
        Err(_) if std::env::var_os("FITS_REQUIRE_TOOLS").is_some() => {
            panic!("{name} is required (run `cargo xtask test`)")
        }
        Err(_) => {
            eprintln!("{name} not set: skipping");
            None
        }
    }
}

fn corpus_files() -> Vec<(String, PathBuf)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/corpus");
    let mut v: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".fits"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().to_string(), p))
        .collect();
    v.sort();
    v
}

#[derive(Debug, Default)]
struct Count(Mutex<Vec<RequestEvent>>);
impl RequestObserver for Count {
    fn observe(&self, e: RequestEvent) {
        self.0.lock().unwrap().push(e);
    }
}

#[tokio::test]
async fn corpus_through_nginx() {
    let (Some(url), Some(root)) = (env("FITS_TEST_NGINX_URL"), env("FITS_TEST_NGINX_ROOT")) else { return };
    let mut images = 0;
    for (name, path) in corpus_files() {
        std::fs::copy(&path, PathBuf::from(&root).join(&name)).unwrap();
        let local = Fits::open(&path.display().to_string()).await.unwrap();
        let remote = Fits::open(&format!("{url}/{name}")).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        images += same_as_local(&local, &remote, &name).await;
    }
    assert!(images > 15);
}

#[tokio::test]
async fn nginx_answers_multi_range_requests_and_pins_etags() {
    let (Some(url), Some(root)) = (env("FITS_TEST_NGINX_URL"), env("FITS_TEST_NGINX_ROOT")) else { return };
    let data: Vec<u8> = (0..2_000_000u32).map(|i| (i % 247) as u8).collect();
    let path = PathBuf::from(&root).join("multi.bin");
    std::fs::write(&path, &data).unwrap();
    let driver = fits_io::HttpDriver::new(&format!("{url}/multi.bin")).unwrap();
    let seen = Arc::new(Count::default());
    assert!(driver.set_observer(seen.clone()));
    driver.read_head(1000).await.unwrap();
    let ranges: Vec<_> = (0..150u64).map(|i| i * 13_000..i * 13_000 + 7).collect();
    let parts = driver.read_ranges(&ranges).await.unwrap();
    for (r, p) in ranges.iter().zip(&parts) {
        assert_eq!(&p[..], &data[r.start as usize..r.end as usize]);
    }
    let events = seen.0.lock().unwrap().clone();
    assert_eq!(events.len(), 2, "one head, one multi-range request");
    assert_eq!((events[1].ranges.len(), events[1].status), (150, Some(206)));
    // The file is rewritten: nginx's ETag changes, and the read fails instead of mixing versions.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::write(&path, vec![0u8; 2_000_001]).unwrap();
    let e = driver.read_range(0..10).await.unwrap_err();
    assert!(matches!(e, fits_io::Error::FileChanged { .. }), "{e}");
}

#[tokio::test]
async fn corpus_through_garage() {
    let Some(bucket) = env("FITS_TEST_S3_BUCKET") else { return };
    let mut images = 0;
    for (name, path) in corpus_files() {
        let url = format!("s3://{bucket}/corpus/{name}");
        let up = ObjectDriver::s3(&url, &Default::default()).unwrap();
        up.put(Bytes::from(std::fs::read(&path).unwrap())).await.unwrap();
        let local = Fits::open(&path.display().to_string()).await.unwrap();
        let remote = Fits::open(&url).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        images += same_as_local(&local, &remote, &name).await;
    }
    assert!(images > 15);
}
