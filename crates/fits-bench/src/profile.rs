//! The network profiler: a driver wrapper that records every request (start, end, offset, length).

use async_trait::async_trait;
use bytes::Bytes;
use fits_io::{ObjectInfo, ReadOptions, RequestEvent, RequestObserver, Result, StorageDriver};
use serde::Serialize;
use std::fmt::Write;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// One request as the inner driver sent it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequestRecord {
    /// Seconds since the profiler started, when the request was issued.
    pub start_s: f64,
    /// Seconds since the profiler started, when it completed.
    pub end_s: f64,
    /// First byte asked for.
    pub offset: u64,
    /// Body bytes received.
    pub len: u64,
    /// Byte ranges in the request (more than one for a multi-range request).
    pub parts: usize,
    /// The response status, when the driver reports it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}

/// The shared log an inner driver reports to.
#[derive(Debug)]
struct Log {
    started: Instant,
    records: Mutex<Vec<RequestRecord>>,
}

impl RequestObserver for Log {
    fn observe(&self, e: RequestEvent) {
        let at = |t: Instant| t.saturating_duration_since(self.started).as_secs_f64();
        let record = RequestRecord {
            start_s: at(e.started),
            end_s: at(e.finished),
            offset: e.ranges.first().map_or(0, |r| r.start),
            len: e.bytes,
            parts: e.ranges.len(),
            status: e.status,
        };
        self.records.lock().unwrap_or_else(|p| p.into_inner()).push(record);
    }
}

/// Wraps any driver and records each request it sends.
///
/// Drivers that report their own requests (HTTP, object stores) are given an
/// observer and left to plan and send as they always do, so the log shows
/// exactly what goes over the network, multi-range requests and retries
/// included. For other drivers the profiler records each read at its own level.
#[derive(Debug)]
pub struct Profiler {
    inner: Arc<dyn StorageDriver>,
    log: Arc<Log>,
    observed: bool,
}

impl Profiler {
    /// Starts profiling `inner`; times are measured from now.
    pub fn new(inner: Arc<dyn StorageDriver>) -> Arc<Profiler> {
        let log = Arc::new(Log { started: Instant::now(), records: Mutex::new(Vec::new()) });
        let observed = inner.set_observer(log.clone());
        Arc::new(Profiler { inner, log, observed })
    }

    /// Whether the inner driver reports its own requests.
    pub fn is_observing_driver(&self) -> bool {
        self.observed
    }

    async fn timed<T>(
        &self,
        offset: u64,
        fut: impl std::future::Future<Output = Result<T>>,
        len: impl Fn(&T) -> u64,
    ) -> Result<T> {
        if self.observed {
            return fut.await;
        }
        let started = Instant::now();
        let out = fut.await;
        if let Ok(v) = &out {
            let bytes = len(v);
            self.log.observe(RequestEvent {
                started,
                finished: Instant::now(),
                ranges: vec![offset..offset + bytes],
                bytes,
                status: None,
            });
        }
        out
    }

    /// The requests so far and totals.
    pub fn report(&self) -> ProfileReport {
        let mut log = self.log.records.lock().unwrap_or_else(|p| p.into_inner()).clone();
        log.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
        ProfileReport {
            requests: log.len(),
            bytes: log.iter().map(|r| r.len).sum(),
            wall_s: self.log.started.elapsed().as_secs_f64(),
            log,
        }
    }
}

#[async_trait]
impl StorageDriver for Profiler {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn location(&self) -> &str {
        self.inner.location()
    }

    async fn stat(&self) -> Result<ObjectInfo> {
        self.inner.stat().await
    }

    async fn read_range(&self, range: Range<u64>) -> Result<Bytes> {
        self.timed(range.start, self.inner.read_range(range.clone()), |b: &Bytes| b.len() as u64).await
    }

    async fn read_head(&self, len: u64) -> Result<(ObjectInfo, Bytes)> {
        self.timed(0, self.inner.read_head(len), |(_, b): &(ObjectInfo, Bytes)| b.len() as u64).await
    }

    async fn read_ranges(&self, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        if self.observed {
            // The inner driver plans and sends as it would unprofiled; its requests are reported.
            return self.inner.read_ranges(ranges).await;
        }
        fits_io::plan::read_planned(self, ranges, &self.inner.read_options()).await
    }

    fn read_options(&self) -> ReadOptions {
        self.inner.read_options()
    }
}

/// What a profiled run did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProfileReport {
    /// Number of requests.
    pub requests: usize,
    /// Body bytes received.
    pub bytes: u64,
    /// Seconds from the profiler's start to the report.
    pub wall_s: f64,
    /// Every request, by start time.
    pub log: Vec<RequestRecord>,
}

impl ProfileReport {
    /// A table of requests followed by a summary line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:>4}  {:>9}  {:>9}  {:>14}  {:>12}  {:>5}  {:>6}",
            "#", "start_s", "end_s", "offset", "len", "parts", "status"
        );
        for (i, r) in self.log.iter().enumerate() {
            let status = r.status.map_or("-".to_string(), |s| s.to_string());
            let _ = writeln!(
                out,
                "{:>4}  {:>9.4}  {:>9.4}  {:>14}  {:>12}  {:>5}  {:>6}",
                i, r.start_s, r.end_s, r.offset, r.len, r.parts, status
            );
        }
        let _ = writeln!(out, "{}", self.summary());
        out
    }

    /// One line: requests, bytes, wall time.
    pub fn summary(&self) -> String {
        format!(
            "requests: {}  bytes: {} ({:.2} MB)  wall: {:.3} s",
            self.requests,
            self.bytes,
            self.bytes as f64 / 1e6,
            self.wall_s
        )
    }

    /// The JSON form (`{"requests","bytes","wall_s","log":[...]}`).
    pub fn to_json(&self) -> String {
        // Serializing plain numbers and strings cannot fail.
        serde_json::to_string_pretty(self).expect("report serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fits_io::MemoryDriver;

    #[tokio::test]
    async fn records_each_read_of_a_driver_that_does_not_report() {
        let inner: Arc<dyn StorageDriver> = Arc::new(MemoryDriver::new("m", vec![7u8; 10_000]));
        let p = Profiler::new(inner);
        assert!(!p.is_observing_driver());
        p.read_range(10..20).await.unwrap();
        p.read_ranges(&[0..5, 100..200, 9000..9100]).await.unwrap();
        assert!(p.read_range(9990..10_010).await.is_err());
        let r = p.report();
        assert_eq!(r.requests, 4, "{:?}", r.log);
        assert_eq!(r.bytes, 10 + 5 + 100 + 100);
        assert!(r.log.iter().all(|x| x.end_s >= x.start_s && x.parts == 1));
        let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(json["requests"], 4);
        assert_eq!(json["log"][0]["offset"], 10);
        assert!(r.render().contains("requests: 4"));
    }
}
