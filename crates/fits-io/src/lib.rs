//! Storage drivers: the byte transport under FITS readers, with no knowledge of FITS.
//!
//! A [`StorageDriver`] serves byte ranges of one object (a local file, an
//! HTTP resource, an S3 object). Its contract:
//!
//! - `read_range(a..b)` returns exactly `b - a` bytes, or an error; never fewer, never other bytes.
//! - A range past the end of the object is an [`Error::OutOfRange`].
//! - Every method takes `&self`, so reads may run concurrently.
//! - Errors name the driver and the location.
//!
//! Wrappers (a profiler, a cache, a throttle) are drivers that hold a driver.
//!
//! ```
//! use fits_io::{MemoryDriver, StorageDriver};
//! # tokio_test();
//! # fn tokio_test() {
//! # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
//! # rt.block_on(async {
//! let driver = MemoryDriver::new("example", vec![1u8, 2, 3, 4, 5]);
//! let bytes = driver.read_range(1..4).await.unwrap();
//! assert_eq!(&bytes[..], &[2, 3, 4]);
//! let parts = driver.read_ranges(&[0..1, 4..5]).await.unwrap();
//! assert_eq!(&parts[1][..], &[5]);
//! # });
//! # }
//! ```

mod cache;
mod error;
#[cfg(feature = "http")]
mod http;
mod local;
mod memory;
#[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
mod object;
pub mod plan;
mod retry;
mod write;

pub use cache::CacheDriver;
pub use error::{Error, Result};
#[cfg(feature = "http")]
pub use http::HttpDriver;
pub use local::LocalDriver;
pub use memory::MemoryDriver;
#[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
pub use object::{CloudOptions, ObjectDriver};
pub use plan::ReadOptions;
pub use retry::RetryConfig;
pub use write::{LocalUpdate, LocalWrite, Upload};

use async_trait::async_trait;
use bytes::Bytes;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::time::SystemTime;

/// What a driver knows of an object without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Size in bytes.
    pub size: u64,
    /// A version tag that changes when the object changes (HTTP ETag, S3 ETag, or a local stand-in).
    pub etag: Option<String>,
    /// Last modification time, when known.
    pub last_modified: Option<SystemTime>,
}

/// Byte access to one object.
///
/// Implementors provide [`stat`](StorageDriver::stat) and
/// [`read_range`](StorageDriver::read_range); the other methods have
/// defaults that remote drivers keep and local drivers override.
#[async_trait]
pub trait StorageDriver: Send + Sync + fmt::Debug {
    /// A short name of the driver kind: `local`, `memory`, `http`, `s3`, or a wrapper's name.
    fn name(&self) -> &'static str;

    /// The path or URL, for messages.
    fn location(&self) -> &str;

    /// Size and version of the object.
    async fn stat(&self) -> Result<ObjectInfo>;

    /// Exactly the bytes of `range`.
    async fn read_range(&self, range: Range<u64>) -> Result<Bytes>;

    /// The object's info and its first `len` bytes (fewer if the object is
    /// shorter). Remote drivers answer both from one request.
    async fn read_head(&self, len: u64) -> Result<(ObjectInfo, Bytes)> {
        let info = self.stat().await?;
        let bytes = self.read_range(0..len.min(info.size)).await?;
        Ok((info, bytes))
    }

    /// The bytes of every range, in the order given. The default plans the
    /// requests with [`read_options`](StorageDriver::read_options) (merging
    /// nearby ranges, splitting long ones) and runs them concurrently.
    async fn read_ranges(&self, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        plan::read_planned(self, ranges, &self.read_options()).await
    }

    /// How [`read_ranges`](StorageDriver::read_ranges) plans requests.
    fn read_options(&self) -> ReadOptions {
        ReadOptions::default()
    }

    /// Starts a multipart upload that will replace the object when completed.
    async fn create_upload(&self) -> Result<Box<dyn Upload>> {
        Err(Error::Unsupported {
            driver: self.name(),
            location: self.location().to_string(),
            operation: "multipart upload",
        })
    }

    /// Replaces the whole object with `data` (atomically where the store allows it).
    async fn put(&self, data: Bytes) -> Result<()> {
        let _ = data;
        Err(Error::Unsupported { driver: self.name(), location: self.location().to_string(), operation: "put" })
    }

    /// Installs an observer told of every request the driver sends (ranges, bytes, timing).
    /// Returns false if the driver cannot report its requests; wrappers such as a profiler then
    /// record at their own level instead.
    fn set_observer(&self, observer: Arc<dyn RequestObserver>) -> bool {
        let _ = observer;
        false
    }

    /// Synchronous access, for drivers whose reads never wait on a network
    /// (local files, memory). Readers use it to fill output buffers directly
    /// from several threads. Remote drivers and wrappers return `None`.
    fn as_sync(&self) -> Option<&dyn SyncRead> {
        None
    }
}

/// Reads that complete without waiting on a network: a local file's `pread`, a copy from memory.
pub trait SyncRead: Send + Sync {
    /// Fills `buf` with the bytes at `offset..offset + buf.len()`, exactly, or fails.
    fn read_into(&self, offset: u64, buf: &mut [u8]) -> Result<()>;
}

#[async_trait]
impl<D: StorageDriver + ?Sized> StorageDriver for Arc<D> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn location(&self) -> &str {
        (**self).location()
    }
    async fn stat(&self) -> Result<ObjectInfo> {
        (**self).stat().await
    }
    async fn read_range(&self, range: Range<u64>) -> Result<Bytes> {
        (**self).read_range(range).await
    }
    async fn read_head(&self, len: u64) -> Result<(ObjectInfo, Bytes)> {
        (**self).read_head(len).await
    }
    async fn read_ranges(&self, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        (**self).read_ranges(ranges).await
    }
    fn read_options(&self) -> ReadOptions {
        (**self).read_options()
    }
    fn as_sync(&self) -> Option<&dyn SyncRead> {
        (**self).as_sync()
    }
    fn set_observer(&self, observer: Arc<dyn RequestObserver>) -> bool {
        (**self).set_observer(observer)
    }
    async fn put(&self, data: Bytes) -> Result<()> {
        (**self).put(data).await
    }
    async fn create_upload(&self) -> Result<Box<dyn Upload>> {
        (**self).create_upload().await
    }
}

/// One request a driver sent, as reported to a [`RequestObserver`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestEvent {
    /// When it was sent.
    pub started: std::time::Instant,
    /// When its body was complete (or it failed).
    pub finished: std::time::Instant,
    /// The byte ranges asked for (several for a multi-range request).
    pub ranges: Vec<Range<u64>>,
    /// Body bytes received (multipart headers included).
    pub bytes: u64,
    /// The response status, when there was a response.
    pub status: Option<u16>,
}

/// Told of every request a driver sends.
pub trait RequestObserver: Send + Sync + fmt::Debug {
    /// Records one request.
    fn observe(&self, event: RequestEvent);
}

/// A driver's slot for an observer.
#[derive(Debug, Default)]
pub(crate) struct ObserverSlot(std::sync::Mutex<Option<Arc<dyn RequestObserver>>>);

impl ObserverSlot {
    #[cfg_attr(not(any(feature = "http", feature = "s3", feature = "gcs", feature = "azure")), allow(dead_code))]
    pub(crate) fn set(&self, o: Arc<dyn RequestObserver>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(o);
    }

    #[cfg_attr(not(any(feature = "http", feature = "s3", feature = "gcs", feature = "azure")), allow(dead_code))]
    pub(crate) fn report(&self, started: std::time::Instant, ranges: Vec<Range<u64>>, bytes: u64, status: Option<u16>) {
        let o = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(o) = o {
            o.observe(RequestEvent { started, finished: std::time::Instant::now(), ranges, bytes, status });
        }
    }
}

/// Checks a range against an object size, as every driver must.
pub fn check_range(location: &str, range: &Range<u64>, size: u64) -> Result<()> {
    if range.start > range.end || range.end > size {
        return Err(Error::OutOfRange { location: location.to_string(), range: range.clone(), size });
    }
    Ok(())
}

/// Options for [`open`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct OpenOptions {
    /// Unsigned requests to object stores (public buckets).
    pub anonymous: bool,
    /// Retry policy for remote drivers (their default when `None`).
    pub retry: Option<RetryConfig>,
    /// Read planning for remote drivers (their default when `None`).
    pub read_options: Option<ReadOptions>,
}

impl OpenOptions {
    /// Sets anonymous access.
    pub fn anonymous(mut self, yes: bool) -> OpenOptions {
        self.anonymous = yes;
        self
    }

    /// Sets the retry policy.
    pub fn retry(mut self, retry: RetryConfig) -> OpenOptions {
        self.retry = Some(retry);
        self
    }

    /// Sets the read planning.
    pub fn read_options(mut self, options: ReadOptions) -> OpenOptions {
        self.read_options = Some(options);
        self
    }
}

#[cfg_attr(all(feature = "http", feature = "s3", feature = "gcs", feature = "azure"), allow(dead_code))]
fn unsupported(source: &str, feature: &str) -> Error {
    Error::UnsupportedSource {
        location: source.to_string(),
        reason: format!("this build has no driver for it (feature \"{feature}\")"),
    }
}

/// Opens a driver for a source: a path, `file://` URL, `http(s)://` URL, `s3://bucket/key`,
/// `gs://bucket/key` or `az://container/key` (remote schemes as the build's features allow).
pub async fn open(source: &str, options: &OpenOptions) -> Result<Arc<dyn StorageDriver>> {
    let _ = options; // unused when no remote driver is compiled in
    let lower = source.to_ascii_lowercase();
    if let Some(path) = source.strip_prefix("file://") {
        return Ok(Arc::new(LocalDriver::open(path)?));
    }
    if lower.starts_with("http://") || lower.starts_with("https://") {
        #[cfg(feature = "http")]
        {
            let mut d = HttpDriver::new(source)?;
            if let Some(r) = options.retry {
                d = d.with_retry(r);
            }
            if let Some(o) = options.read_options {
                d = d.with_read_options(o);
            }
            return Ok(Arc::new(d));
        }
        #[cfg(not(feature = "http"))]
        return Err(unsupported(source, "http"));
    }
    #[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
    let cloud = CloudOptions {
        anonymous: options.anonymous
            || std::env::var("AWS_SKIP_SIGNATURE").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1"),
        retry: options.retry,
        ..CloudOptions::default()
    };
    #[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
    let with_plan = |d: ObjectDriver| -> Arc<dyn StorageDriver> {
        Arc::new(match options.read_options {
            Some(o) => d.with_read_options(o),
            None => d,
        })
    };
    if lower.starts_with("s3://") {
        #[cfg(feature = "s3")]
        return Ok(with_plan(ObjectDriver::s3(source, &cloud)?));
        #[cfg(not(feature = "s3"))]
        return Err(unsupported(source, "s3"));
    }
    if lower.starts_with("gs://") {
        #[cfg(feature = "gcs")]
        return Ok(with_plan(ObjectDriver::gcs(source, &cloud)?));
        #[cfg(not(feature = "gcs"))]
        return Err(unsupported(source, "gcs"));
    }
    if lower.starts_with("az://") {
        #[cfg(feature = "azure")]
        return Ok(with_plan(ObjectDriver::azure(source, &cloud)?));
        #[cfg(not(feature = "azure"))]
        return Err(unsupported(source, "azure"));
    }
    if let Some((scheme, _)) = source.split_once("://") {
        return Err(Error::UnsupportedSource {
            location: source.to_string(),
            reason: format!("unknown scheme {scheme:?}"),
        });
    }
    Ok(Arc::new(LocalDriver::open(source)?))
}
