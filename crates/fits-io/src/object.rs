//! Object stores (S3, and GCS and Azure behind features) through the `object_store` crate.
//!
//! `object_store` types stay private: the public type is [`ObjectDriver`], built from a URL and
//! [`CloudOptions`]. Credentials and endpoints come from the standard environment variables
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL`,
//! `AWS_SKIP_SIGNATURE`, `AWS_ALLOW_HTTP`, ...); an `http://` endpoint is allowed without further
//! setting, for loopback stores such as Garage or MinIO.
//!
//! The first response's ETag is pinned: later reads send it as `If-Match`, and a 412 or a
//! different ETag or size is [`Error::FileChanged`]. S3 has no multi-range requests, so batched
//! reads are planned (merged, split) and run concurrently.

use crate::Upload;
use crate::plan::ReadOptions;
use crate::retry::RetryConfig;
use crate::{Error, ObjectInfo, ObserverSlot, RequestObserver, Result, StorageDriver};
use async_trait::async_trait;
use bytes::Bytes;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, MultipartId, ObjectStore};
use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};

/// object_store's multipart interface (which has no `Debug`).
#[derive(Clone)]
struct Multipart(Arc<dyn MultipartStore>);

impl std::fmt::Debug for Multipart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MultipartStore")
    }
}

/// Settings for object-store sources beyond the environment.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CloudOptions {
    /// Send unsigned requests (public buckets); also set by `AWS_SKIP_SIGNATURE=true`.
    pub anonymous: bool,
    /// Endpoint URL, overriding `AWS_ENDPOINT_URL`.
    pub endpoint: Option<String>,
    /// Region, overriding `AWS_REGION`.
    pub region: Option<String>,
    /// Retry policy (object_store retries internally with these settings).
    pub retry: Option<RetryConfig>,
}

impl CloudOptions {
    /// Options for anonymous access.
    pub fn anonymous() -> CloudOptions {
        CloudOptions { anonymous: true, ..CloudOptions::default() }
    }
}

/// Reads one object of an object store.
#[derive(Debug)]
pub struct ObjectDriver {
    store: Arc<dyn ObjectStore>,
    multipart: Multipart,
    path: Path,
    location: String,
    name: &'static str,
    options: ReadOptions,
    info: Mutex<Option<ObjectInfo>>,
    observer: ObserverSlot,
}

fn object_retry(r: &RetryConfig) -> object_store::RetryConfig {
    object_store::RetryConfig {
        backoff: object_store::BackoffConfig { init_backoff: r.initial_backoff, max_backoff: r.max_backoff, base: 2.0 },
        max_retries: r.max_retries,
        retry_timeout: r.retry_timeout,
    }
}

/// Splits `scheme://bucket/key`.
fn split_url<'a>(url: &'a str, scheme: &str) -> Result<(&'a str, &'a str)> {
    let rest = url
        .get(scheme.len() + 3..)
        .filter(|_| url[..scheme.len()].eq_ignore_ascii_case(scheme) && url[scheme.len()..].starts_with("://"))
        .ok_or_else(|| Error::Config { location: url.to_string(), reason: format!("not a {scheme}:// URL") })?;
    match rest.split_once('/') {
        Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => Ok((bucket, key)),
        _ => Err(Error::Config { location: url.to_string(), reason: format!("expected {scheme}://bucket/key") }),
    }
}

impl ObjectDriver {
    /// An S3 object, `s3://bucket/key`.
    #[cfg(feature = "s3")]
    pub fn s3(url: &str, options: &CloudOptions) -> Result<ObjectDriver> {
        use object_store::aws::AmazonS3Builder;
        let (bucket, key) = split_url(url, "s3")?;
        let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
        let env_endpoint = std::env::var("AWS_ENDPOINT_URL").or_else(|_| std::env::var("AWS_ENDPOINT")).ok();
        let endpoint = options.endpoint.clone().or(env_endpoint);
        if let Some(e) = &endpoint {
            b = b.with_endpoint(e.clone());
            if e.starts_with("http://") {
                // Every request goes to this plain-HTTP endpoint: loading the system's TLS roots
                // (a file per certificate) would only delay the first request.
                use object_store::ClientConfigKey;
                use object_store::aws::AmazonS3ConfigKey;
                b = b
                    .with_allow_http(true)
                    .with_config(AmazonS3ConfigKey::Client(ClientConfigKey::NoSystemCertificates), "true");
            }
        }
        if let Some(r) = &options.region {
            b = b.with_region(r.clone());
        } else if std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none() {
            b = b.with_region("us-east-1");
        }
        if options.anonymous {
            b = b.with_skip_signature(true);
        }
        if let Some(r) = &options.retry {
            b = b.with_retry(object_retry(r));
        }
        let store = b.build().map_err(|e| Error::Config { location: url.to_string(), reason: e.to_string() })?;
        let store = Arc::new(store);
        Ok(ObjectDriver::new(store.clone(), store, key, url, "s3"))
    }

    /// A Google Cloud Storage object, `gs://bucket/key`.
    #[cfg(feature = "gcs")]
    pub fn gcs(url: &str, options: &CloudOptions) -> Result<ObjectDriver> {
        use object_store::gcp::GoogleCloudStorageBuilder;
        let (bucket, key) = split_url(url, "gs")?;
        let mut b = GoogleCloudStorageBuilder::from_env().with_bucket_name(bucket);
        if options.anonymous {
            b = b.with_skip_signature(true);
        }
        if let Some(r) = &options.retry {
            b = b.with_retry(object_retry(r));
        }
        let store = b.build().map_err(|e| Error::Config { location: url.to_string(), reason: e.to_string() })?;
        let store = Arc::new(store);
        Ok(ObjectDriver::new(store.clone(), store, key, url, "gcs"))
    }

    /// An Azure Blob Storage object, `az://container/key` (account from `AZURE_STORAGE_ACCOUNT_NAME`).
    #[cfg(feature = "azure")]
    pub fn azure(url: &str, options: &CloudOptions) -> Result<ObjectDriver> {
        use object_store::azure::MicrosoftAzureBuilder;
        let (container, key) = split_url(url, "az")?;
        let mut b = MicrosoftAzureBuilder::from_env().with_container_name(container);
        if options.anonymous {
            b = b.with_skip_signature(true);
        }
        if let Some(r) = &options.retry {
            b = b.with_retry(object_retry(r));
        }
        let store = b.build().map_err(|e| Error::Config { location: url.to_string(), reason: e.to_string() })?;
        let store = Arc::new(store);
        Ok(ObjectDriver::new(store.clone(), store, key, url, "azure"))
    }

    fn new(
        store: Arc<dyn ObjectStore>,
        multipart: Arc<dyn MultipartStore>,
        key: &str,
        url: &str,
        name: &'static str,
    ) -> ObjectDriver {
        ObjectDriver {
            store,
            multipart: Multipart(multipart),
            path: Path::from(key),
            location: url.to_string(),
            name,
            options: ReadOptions::default(),
            info: Mutex::new(None),
            observer: ObserverSlot::default(),
        }
    }

    /// Sets how batched reads are planned.
    pub fn with_read_options(mut self, options: ReadOptions) -> ObjectDriver {
        self.options = options;
        self
    }

    fn pinned(&self) -> Option<ObjectInfo> {
        self.info.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn map_err(&self, e: object_store::Error) -> Error {
        use object_store::Error as E;
        match e {
            E::NotFound { .. } => Error::NotFound { driver: self.name, location: self.location.clone() },
            E::PermissionDenied { .. } | E::Unauthenticated { .. } => {
                Error::PermissionDenied { driver: self.name, location: self.location.clone() }
            }
            E::Precondition { .. } => {
                Error::FileChanged { location: self.location.clone(), detail: "If-Match failed (412)".into() }
            }
            other => Error::Network {
                driver: self.name,
                location: self.location.clone(),
                detail: "request failed".into(),
                source: Some(Box::new(other)),
            },
        }
    }

    /// Pins the first response's identity; checks later ones against it.
    fn check(&self, meta: &object_store::ObjectMeta) -> Result<()> {
        let mut info = self.info.lock().unwrap_or_else(|p| p.into_inner());
        match &*info {
            None => {
                let last_modified = Some(std::time::SystemTime::from(meta.last_modified));
                *info = Some(ObjectInfo { size: meta.size, etag: meta.e_tag.clone(), last_modified });
                Ok(())
            }
            Some(pinned) => {
                if let (Some(a), Some(b)) = (&pinned.etag, &meta.e_tag) {
                    if a != b {
                        return Err(Error::FileChanged {
                            location: self.location.clone(),
                            detail: format!("ETag {a} became {b}"),
                        });
                    }
                }
                if pinned.size != meta.size {
                    return Err(Error::FileChanged {
                        location: self.location.clone(),
                        detail: format!("size {} became {}", pinned.size, meta.size),
                    });
                }
                Ok(())
            }
        }
    }

    /// One GET (object_store retries inside it), reported to the observer.
    async fn get(
        &self,
        range: Option<Range<u64>>,
        head: bool,
    ) -> Result<(object_store::ObjectMeta, Range<u64>, Bytes)> {
        let started = std::time::Instant::now();
        let result = self.get_unobserved(range.clone(), head).await;
        let (bytes, status) = match &result {
            Ok((_, _, b)) => (b.len() as u64, Some(if range.is_some() { 206 } else { 200 })),
            Err(_) => (0, None),
        };
        self.observer.report(started, range.into_iter().collect(), bytes, status);
        result
    }

    async fn get_unobserved(
        &self,
        range: Option<Range<u64>>,
        head: bool,
    ) -> Result<(object_store::ObjectMeta, Range<u64>, Bytes)> {
        let opts = GetOptions {
            range: range.clone().map(GetRange::Bounded),
            if_match: self.pinned().and_then(|i| i.etag),
            head,
            ..GetOptions::default()
        };
        let result = self.store.get_opts(&self.path, opts).await.map_err(|e| self.map_err(e))?;
        let meta = result.meta.clone();
        let got = result.range.clone();
        self.check(&meta)?;
        let bytes = if head { Bytes::new() } else { result.bytes().await.map_err(|e| self.map_err(e))? };
        Ok((meta, got, bytes))
    }
}

#[async_trait]
impl StorageDriver for ObjectDriver {
    fn name(&self) -> &'static str {
        self.name
    }

    fn location(&self) -> &str {
        &self.location
    }

    async fn stat(&self) -> Result<ObjectInfo> {
        if let Some(i) = self.pinned() {
            return Ok(i);
        }
        self.get(None, true).await?;
        self.pinned().ok_or_else(|| Error::InvalidResponse {
            location: self.location.clone(),
            detail: "no object metadata".into(),
        })
    }

    async fn read_head(&self, len: u64) -> Result<(ObjectInfo, Bytes)> {
        // One request: the ranged GET also carries the object's size and ETag.
        match self.get(Some(0..len.max(1)), false).await {
            Ok((meta, got, bytes)) => {
                let want = len.min(meta.size);
                if got.start != 0 || got.end < want || (bytes.len() as u64) < want {
                    return Err(Error::InvalidResponse {
                        location: self.location.clone(),
                        detail: format!(
                            "asked for bytes 0..{want}, got {}..{} ({} bytes)",
                            got.start,
                            got.end,
                            bytes.len()
                        ),
                    });
                }
                let info = self.pinned().ok_or_else(|| Error::InvalidResponse {
                    location: self.location.clone(),
                    detail: "no object metadata".into(),
                })?;
                Ok((info, bytes.slice(..want as usize)))
            }
            // An empty object cannot satisfy any range: learn its size without one.
            Err(Error::Network { .. }) if self.pinned().is_none() => {
                let info = self.stat().await?;
                let bytes = if info.size == 0 { Bytes::new() } else { self.read_range(0..len.min(info.size)).await? };
                Ok((info, bytes))
            }
            Err(e) => Err(e),
        }
    }

    async fn read_range(&self, range: Range<u64>) -> Result<Bytes> {
        if range.start >= range.end {
            return Ok(Bytes::new());
        }
        if let Some(info) = self.pinned() {
            crate::check_range(&self.location, &range, info.size)?;
        }
        let (_, got, bytes) = self.get(Some(range.clone()), false).await?;
        if got != range || bytes.len() as u64 != range.end - range.start {
            return Err(Error::InvalidResponse {
                location: self.location.clone(),
                detail: format!(
                    "asked for bytes {}..{}, got {}..{} ({} bytes)",
                    range.start,
                    range.end,
                    got.start,
                    got.end,
                    bytes.len()
                ),
            });
        }
        Ok(bytes)
    }

    fn read_options(&self) -> ReadOptions {
        self.options
    }

    fn set_observer(&self, observer: Arc<dyn RequestObserver>) -> bool {
        self.observer.set(observer);
        true
    }

    async fn create_upload(&self) -> Result<Box<dyn Upload>> {
        let id = self.multipart.0.create_multipart(&self.path).await.map_err(|e| self.map_err(e))?;
        *self.info.lock().unwrap_or_else(|p| p.into_inner()) = None;
        Ok(Box::new(ObjectUpload {
            store: self.multipart.clone(),
            path: self.path.clone(),
            id,
            location: self.location.clone(),
            name: self.name,
            parts: Mutex::new(BTreeMap::new()),
        }))
    }

    async fn put(&self, data: Bytes) -> Result<()> {
        let started = std::time::Instant::now();
        let n = data.len() as u64;
        let r = self
            .store
            .put_opts(&self.path, data.into(), object_store::PutOptions::default())
            .await
            .map_err(|e| self.map_err(e));
        self.observer.report(started, Vec::new(), n, r.as_ref().ok().map(|_| 200));
        *self.info.lock().unwrap_or_else(|p| p.into_inner()) = None;
        r.map(|_| ())
    }
}

/// A multipart upload to an object store.
#[derive(Debug)]
struct ObjectUpload {
    store: Multipart,
    path: Path,
    id: MultipartId,
    location: String,
    name: &'static str,
    parts: Mutex<BTreeMap<usize, PartId>>,
}

impl ObjectUpload {
    fn err(&self, what: &str, e: object_store::Error) -> Error {
        Error::Network {
            driver: self.name,
            location: self.location.clone(),
            detail: what.to_string(),
            source: Some(Box::new(e)),
        }
    }
}

#[async_trait]
impl Upload for ObjectUpload {
    fn location(&self) -> &str {
        &self.location
    }

    fn min_part_size(&self) -> u64 {
        5 << 20
    }

    async fn put_part(&self, index: usize, data: Bytes) -> Result<()> {
        let id = self
            .store
            .0
            .put_part(&self.path, &self.id, index, data.into())
            .await
            .map_err(|e| self.err(&format!("uploading part {index}"), e))?;
        self.parts.lock().unwrap_or_else(|p| p.into_inner()).insert(index, id);
        Ok(())
    }

    async fn complete(&self, parts: usize) -> Result<()> {
        let ids: Vec<PartId> = {
            let held = self.parts.lock().unwrap_or_else(|p| p.into_inner());
            match (0..parts).map(|i| held.get(&i).cloned()).collect::<Option<Vec<_>>>() {
                Some(ids) => ids,
                None => {
                    return Err(Error::InvalidResponse {
                        location: self.location.clone(),
                        detail: format!("cannot complete the upload: not all of parts 0..{parts} were uploaded"),
                    });
                }
            }
        };
        self.store
            .0
            .complete_multipart(&self.path, &self.id, ids)
            .await
            .map_err(|e| self.err("completing the upload", e))?;
        Ok(())
    }

    async fn abort(&self) -> Result<()> {
        self.store.0.abort_multipart(&self.path, &self.id).await.map_err(|e| self.err("aborting the upload", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(split_url("s3://bucket/a/b.fits", "s3").unwrap(), ("bucket", "a/b.fits"));
        assert!(split_url("s3://bucket", "s3").is_err());
        assert!(split_url("s3:///key", "s3").is_err());
        assert!(split_url("gs://b/k", "s3").is_err());
    }
}
