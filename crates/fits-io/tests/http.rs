//! The HTTP driver against a real server with faults: every fault ends in a retry or a clear error, never in wrong data.
#![cfg(feature = "http")]

use bytes::Bytes;
use fits_io::{Error, HttpDriver, ReadOptions, RetryConfig, StorageDriver};
use fits_netsim::{Fault, Server, ServerConfig};
use std::time::{Duration, Instant};

fn data(n: usize) -> Bytes {
    Bytes::from((0..n).map(|i| (i * 7 % 251) as u8).collect::<Vec<u8>>())
}

fn fast_retry() -> RetryConfig {
    RetryConfig {
        max_retries: 3,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        retry_timeout: Duration::from_secs(10),
    }
}

async fn setup(config: ServerConfig, n: usize) -> (Server, HttpDriver, Bytes) {
    let server = Server::start(config).await.unwrap();
    let d = data(n);
    server.put("/f.fits", d.clone());
    let driver = HttpDriver::new(&server.url("/f.fits")).unwrap().with_retry(fast_retry());
    (server, driver, d)
}

#[tokio::test]
async fn head_ranges_and_batches() {
    let (server, driver, d) = setup(ServerConfig::default(), 300_000).await;
    let (info, head) = driver.read_head(66_240).await.unwrap();
    assert_eq!(info.size, 300_000);
    assert!(info.etag.is_some());
    assert_eq!(&head[..], &d[..66_240]);
    assert_eq!(&driver.read_range(1000..2000).await.unwrap()[..], &d[1000..2000]);
    // Later requests carry the pinned ETag.
    assert_eq!(server.requests().last().unwrap().if_match, info.etag);
    server.clear_requests();
    // Many small ranges far apart: one multi-range request.
    let ranges: Vec<_> = (0..50u64).map(|i| i * 5000..i * 5000 + 10).collect();
    let parts = driver.read_ranges(&ranges).await.unwrap();
    for (r, p) in ranges.iter().zip(&parts) {
        assert_eq!(&p[..], &d[r.start as usize..r.end as usize]);
    }
    let log = server.requests();
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0].range.as_deref().unwrap().matches(',').count(), 49);
    // A head longer than the object gets the whole object.
    let (info, all) = driver.read_head(1 << 20).await.unwrap();
    assert_eq!((info.size, all.len()), (300_000, 300_000));
    // Past the end: an error that names the URL and sizes.
    let e = driver.read_range(299_990..300_010).await.unwrap_err().to_string();
    assert!(e.contains("/f.fits") && e.contains("300000"), "{e}");
}

#[tokio::test]
async fn large_reads_are_split_and_joined() {
    let (server, driver, d) = setup(ServerConfig::default(), 3_000_000).await;
    let driver = driver.with_read_options(ReadOptions {
        coalesce_gap: 1 << 20,
        max_request: 1 << 20,
        split_size: 400_000,
        min_part: 100_000,
        fan_out: 4,
        concurrency: 4,
    });
    driver.read_head(100).await.unwrap();
    server.clear_requests();
    let got = driver.read_ranges(&[100..2_900_000]).await.unwrap();
    assert_eq!(&got[0][..], &d[100..2_900_000]);
    // 2.9 MB in parts of at most 400 kB (split_size), no smaller than that when dividing evenly: 7.
    assert_eq!(server.requests().len(), 7);
}

#[tokio::test]
async fn transient_faults_are_retried_to_the_right_bytes() {
    for fault in [
        Fault::ResetMidBody,
        Fault::Status(500),
        Fault::Status(502),
        Fault::ShortBody,
        Fault::WrongContentRange,
        Fault::Status(429),
        Fault::Status(408),
    ] {
        let (server, driver, d) = setup(ServerConfig::default(), 500_000).await;
        driver.read_head(1000).await.unwrap();
        server.clear_requests();
        server.inject([fault.clone()]);
        let got = driver.read_range(10_000..400_000).await.unwrap_or_else(|e| panic!("{fault:?}: {e}"));
        assert_eq!(&got[..], &d[10_000..400_000], "{fault:?}");
        assert_eq!(server.requests().len(), 2, "{fault:?}: one failure, one retry");
        assert_eq!(server.pending_faults(), 0);
    }
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let (server, driver, d) = setup(ServerConfig::default(), 10_000).await;
    driver.read_head(100).await.unwrap();
    server.inject([Fault::RetryAfter(503, 1)]);
    let t = Instant::now();
    let got = driver.read_range(0..100).await.unwrap();
    assert!(t.elapsed() >= Duration::from_millis(950), "{:?}", t.elapsed());
    assert_eq!(&got[..], &d[..100]);
}

#[tokio::test]
async fn persistent_failure_gives_up_with_the_cause() {
    let (server, driver, _) = setup(ServerConfig::default(), 10_000).await;
    driver.read_head(100).await.unwrap();
    server.clear_requests();
    server.inject(std::iter::repeat_n(Fault::Status(503), 10));
    let e = driver.read_range(0..100).await.unwrap_err();
    assert!(matches!(e, Error::GaveUp { attempts: 4, .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("/f.fits") && msg.contains("503") && msg.contains("4 attempts"), "{msg}");
    assert_eq!(server.requests().len(), 4);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    for (fault, check) in [(403u16, "permission denied"), (404, "not found"), (400, "HTTP status 400")] {
        let (server, driver, _) = setup(ServerConfig::default(), 10_000).await;
        server.inject([Fault::Status(fault)]);
        let e = driver.read_head(100).await.unwrap_err().to_string();
        assert!(e.contains(check) && e.contains("/f.fits"), "{fault}: {e}");
        assert_eq!(server.requests().len(), 1, "{fault}: no retry");
    }
    let server = Server::start(ServerConfig::default()).await.unwrap();
    let e = HttpDriver::new(&server.url("/missing.fits")).unwrap().read_head(10).await.unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
}

#[tokio::test]
async fn a_changed_file_is_an_error_not_mixed_data() {
    // A server that honours If-Match answers 412.
    let (server, driver, _) = setup(ServerConfig::default(), 50_000).await;
    driver.read_head(1000).await.unwrap();
    server.put("/f.fits", data(50_000).slice(1..));
    let e = driver.read_range(0..10).await.unwrap_err();
    assert!(matches!(e, Error::FileChanged { .. }), "{e}");
    // A server that ignores If-Match: the new ETag gives it away.
    let (server, driver, _) = setup(ServerConfig { honor_if_match: false, ..ServerConfig::default() }, 50_000).await;
    driver.read_head(1000).await.unwrap();
    server.put("/f.fits", Bytes::from(vec![1u8; 50_000]));
    let e = driver.read_range(0..10).await.unwrap_err().to_string();
    assert!(e.contains("changed") && e.contains("ETag"), "{e}");
    let e = driver.read_ranges(&[0..10, 30_000..30_010]).await.unwrap_err().to_string();
    assert!(e.contains("changed"), "{e}");
}

#[tokio::test]
async fn servers_that_ignore_ranges() {
    // A small object is taken whole once and then served from memory.
    let (server, driver, d) = setup(ServerConfig::default(), 100_000).await;
    server.inject([Fault::IgnoreRange]);
    let (info, head) = driver.read_head(2880).await.unwrap();
    assert_eq!((info.size, &head[..]), (100_000, &d[..2880]));
    server.clear_requests();
    assert_eq!(&driver.read_range(50_000..50_100).await.unwrap()[..], &d[50_000..50_100]);
    assert_eq!(&driver.read_ranges(&[0..1, 99_999..100_000]).await.unwrap()[1][..], &d[99_999..]);
    assert!(server.requests().is_empty());
    // A large one is refused with a clear message.
    let (server, driver, _) = setup(ServerConfig::default(), 100_000).await;
    let driver = driver.with_max_whole_object(10_000);
    server.inject([Fault::IgnoreRange]);
    let e = driver.read_head(2880).await.unwrap_err().to_string();
    assert!(e.contains("ignores range requests") && e.contains("100000"), "{e}");
}

#[tokio::test]
async fn multi_range_falls_back_to_single_ranges() {
    let (server, driver, d) = setup(ServerConfig { multi_range: false, ..ServerConfig::default() }, 2_000_000).await;
    let driver = driver.with_max_whole_object(100_000);
    driver.read_head(100).await.unwrap();
    server.clear_requests();
    let ranges: Vec<_> = (0..10u64).map(|i| i * 150_000..i * 150_000 + 100).collect();
    let parts = driver.read_ranges(&ranges).await.unwrap();
    for (r, p) in ranges.iter().zip(&parts) {
        assert_eq!(&p[..], &d[r.start as usize..r.end as usize]);
    }
    // One refused multi-range request, then the ranges planned again for single requests:
    // ten fit one round, so each goes alone (100 bytes each, not the 1.35 MB between them).
    let log = server.requests();
    assert!(log[0].range.as_deref().unwrap().contains(','), "{log:?}");
    assert_eq!(log.len(), 11, "{log:?}");
    assert!(log[1..].iter().all(|r| !r.range.as_deref().unwrap().contains(',')));
    server.clear_requests();
    driver.read_ranges(&ranges).await.unwrap();
    assert_eq!(server.requests().len(), 10, "later batches go straight to single ranges");
}

#[tokio::test]
async fn timeouts_are_retried() {
    let server = Server::start(ServerConfig::default()).await.unwrap();
    let d = data(10_000);
    server.put("/f.fits", d.clone());
    let client = reqwest::Client::builder().read_timeout(Duration::from_millis(200)).build().unwrap();
    let driver = HttpDriver::with_client(&server.url("/f.fits"), client).unwrap().with_retry(fast_retry());
    server.inject([Fault::Delay(Duration::from_millis(600))]);
    let (_, head) = driver.read_head(100).await.unwrap();
    assert_eq!(&head[..], &d[..100]);
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn redirects_are_followed() {
    let server = Server::start(ServerConfig::default()).await.unwrap();
    let moved = data(20_000);
    server.put("/moved.fits", moved.clone());
    server.inject([Fault::Redirect("/moved.fits".into())]);
    let driver = HttpDriver::new(&server.url("/old.fits")).unwrap().with_retry(fast_retry());
    let (info, head) = driver.read_head(100).await.unwrap();
    assert_eq!((info.size, &head[..]), (20_000, &moved[..100]));
    let log = server.requests();
    assert_eq!((log[0].path.as_str(), log[1].path.as_str()), ("/old.fits", "/moved.fits"));
}

#[tokio::test]
async fn a_redirect_to_https_switches_to_the_tls_client() {
    // The plain-HTTP client loads no TLS roots; a redirect to https:// hands over to the TLS
    // client, which follows it (here to a closed port: a network error, not a 302 refused).
    let server = Server::start(ServerConfig::default()).await.unwrap();
    server.inject([Fault::Redirect("https://127.0.0.1:9/moved.fits".into())]);
    let driver = HttpDriver::new(&server.url("/old.fits")).unwrap().with_retry(fast_retry());
    let e = driver.read_head(100).await.unwrap_err().to_string();
    assert!(!e.contains("302") && !e.contains("unexpected status"), "{e}");
    // The plain client asked once and stopped at the redirect; the TLS client asked again.
    let log = server.requests();
    assert!(log.len() >= 2 && log.iter().all(|r| r.path == "/old.fits"), "{log:?}");
}
