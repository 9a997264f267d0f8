//! HTTP(S) range reads on reqwest: validated responses, a pinned ETag, retries, multi-range batches.
//!
//! - No HEAD: the first GET (`read_head`) learns the size from `Content-Range` and pins the ETag.
//! - Every 206 is checked: `Content-Range` must name exactly the range asked for and the body must
//!   have exactly that length; anything else is retried, then reported, never returned.
//! - Later requests carry `If-Match` with the pinned ETag; a 412, or a different ETag or size in a
//!   response, is [`Error::FileChanged`]: data from two versions is never mixed.
//! - Retries with exponential backoff and jitter on 5xx, 408, 429 (honouring `Retry-After`),
//!   timeouts, resets and short bodies; never on other 4xx.
//! - A server that ignores `Range` (status 200) is accepted for objects up to a limit (default
//!   16 MiB), which are then served from memory; beyond it, a clear error.
//! - Many small ranges go out as multi-range requests (`Range: bytes=a-b,c-d,...`, answered with
//!   `multipart/byteranges`), which cuts round trips; servers that answer them with the whole
//!   object are remembered and asked one range at a time.

use crate::plan::{ReadOptions, assemble, plan_requests};
use crate::retry::{RetryConfig, noise, parse_retry_after};
use crate::{Error, ObjectInfo, ObserverSlot, RequestObserver, Result, StorageDriver};
use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};
use std::ops::Range;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Ranges at most this long may travel together in a multi-range request.
const MULTI_SMALL: u64 = 256 * 1024;
/// Ranges per multi-range request (keeps the header well under common 8 KiB limits).
const MULTI_MAX_PARTS: usize = 200;
/// Bytes a multi-range request carries at least before its ranges are spread over several
/// requests in flight at once: a connection's throughput is capped (window over round trip),
/// so a few hundred kilobytes arrive sooner over a few connections than over one.
const MULTI_GROUP_BYTES: u64 = 64 * 1024;
/// Gap merged when ranges can travel in one multi-range request: a separate part costs about
/// 100 bytes of part headers, not a round trip, so only small gaps are worth reading through.
const MULTI_COALESCE_GAP: u64 = 4096;

/// The default client: timeouts, a large idle pool, redirects followed. A `plain` client (for
/// `http://` URLs) loads no TLS roots and stops at a redirect to `https://`, for the driver to
/// switch clients.
fn build_client(url: &str, plain: bool) -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(64)
        .user_agent(concat!("fits-rs/", env!("CARGO_PKG_VERSION")))
        .no_proxy();
    builder = if plain {
        builder.tls_certs_only(Vec::new()).redirect(reqwest::redirect::Policy::custom(|attempt| {
            if attempt.url().scheme() == "https" {
                attempt.stop()
            } else if attempt.previous().len() >= 10 {
                attempt.error("too many redirects")
            } else {
                attempt.follow()
            }
        }))
    } else {
        builder.redirect(reqwest::redirect::Policy::limited(10))
    };
    builder
        .build()
        .map_err(|e| Error::Config { location: url.to_string(), reason: format!("cannot build an HTTP client: {e}") })
}

/// Whether a redirect answer points to an `https://` location.
fn redirects_to_https(headers: &HeaderMap) -> bool {
    headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|l| l.get(..8).is_some_and(|s| s.eq_ignore_ascii_case("https://")))
}

/// How many multi-range requests carry `n` small ranges of `bytes` in all: enough to keep each
/// under [`MULTI_MAX_PARTS`], and more, up to `fan_out`, while each still carries
/// [`MULTI_GROUP_BYTES`] and two ranges.
fn multi_groups(n: usize, bytes: u64, fan_out: usize) -> usize {
    let needed = n.div_ceil(MULTI_MAX_PARTS);
    let by_bytes = (bytes / MULTI_GROUP_BYTES) as usize;
    needed.max(by_bytes.min(fan_out).min(n / 2)).max(1)
}

/// Reads one object over HTTP(S).
#[derive(Debug)]
pub struct HttpDriver {
    client: reqwest::Client,
    /// Whether `client` is the plain-HTTP client of an `http://` URL (no TLS roots loaded),
    /// which hands redirects to `https://` back to the driver.
    plain: bool,
    /// The TLS client, built when a plain-HTTP source redirects to `https://`.
    tls_client: std::sync::OnceLock<reqwest::Client>,
    url: reqwest::Url,
    location: String,
    retry: RetryConfig,
    options: ReadOptions,
    max_whole: u64,
    multi_range: bool,
    state: Mutex<State>,
    observer: ObserverSlot,
}

#[derive(Debug, Default)]
struct State {
    info: Option<ObjectInfo>,
    whole: Option<Bytes>,
    multi_unsupported: bool,
    /// A plain-HTTP source redirected to `https://`: use the TLS client from now on.
    use_tls: bool,
}

/// The outcome of one attempt.
enum Attempt<T> {
    Done(T),
    Retry(Error, Option<Duration>),
    /// Try again at once, without counting a retry (the client changed).
    Again,
    Fatal(Error),
}

impl HttpDriver {
    /// A driver for `url` with a default client (rustls, HTTP/2 when offered, redirects followed).
    ///
    /// For an `http://` URL the client starts without TLS (loading the system's root
    /// certificates costs a few milliseconds at every start); a redirect to `https://` switches
    /// the driver to a TLS client, which follows it.
    pub fn new(url: &str) -> Result<HttpDriver> {
        let plain = url.get(..7).is_some_and(|s| s.eq_ignore_ascii_case("http://"));
        let client = build_client(url, plain)?;
        let mut driver = HttpDriver::with_client(url, client)?;
        driver.plain = plain;
        Ok(driver)
    }

    /// A driver for `url` using `client`.
    pub fn with_client(url: &str, client: reqwest::Client) -> Result<HttpDriver> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| Error::Config { location: url.to_string(), reason: format!("invalid URL: {e}") })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::Config { location: url.to_string(), reason: "not an http(s) URL".into() });
        }
        Ok(HttpDriver {
            client,
            plain: false,
            tls_client: std::sync::OnceLock::new(),
            location: url.to_string(),
            url: parsed,
            retry: RetryConfig::default(),
            options: ReadOptions::default(),
            max_whole: 16 << 20,
            multi_range: true,
            state: Mutex::new(State::default()),
            observer: ObserverSlot::default(),
        })
    }

    /// Sets the retry policy.
    pub fn with_retry(mut self, retry: RetryConfig) -> HttpDriver {
        self.retry = retry;
        self
    }

    /// Sets how batched reads are planned.
    pub fn with_read_options(mut self, options: ReadOptions) -> HttpDriver {
        self.options = options;
        self
    }

    /// Largest object taken whole from a server that ignores `Range` (default 16 MiB).
    pub fn with_max_whole_object(mut self, bytes: u64) -> HttpDriver {
        self.max_whole = bytes;
        self
    }

    /// Whether to send multi-range requests (default true).
    pub fn with_multi_range(mut self, enabled: bool) -> HttpDriver {
        self.multi_range = enabled;
        self
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn pinned_etag(&self) -> Option<String> {
        self.state().info.as_ref().and_then(|i| i.etag.clone())
    }

    fn err_http(&self, status: StatusCode, detail: &str) -> Error {
        Error::Http { location: self.location.clone(), status: status.as_u16(), detail: detail.to_string() }
    }

    fn invalid(&self, detail: String) -> Error {
        Error::InvalidResponse { location: self.location.clone(), detail }
    }

    fn network(&self, e: reqwest::Error, what: &str) -> Error {
        let kind = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "connection failed"
        } else if e.is_body() || e.is_decode() {
            "response body broken off"
        } else {
            "request failed"
        };
        Error::Network {
            driver: "http",
            location: self.location.clone(),
            detail: format!("{what}: {kind}"),
            source: Some(Box::new(e)),
        }
    }

    /// Runs `attempt` until it succeeds, fails for good, or the retry policy gives up.
    async fn with_retries<T, F, Fut>(&self, mut attempt: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Attempt<T>>,
    {
        let started = Instant::now();
        let mut tries = 0;
        loop {
            match attempt().await {
                Attempt::Done(v) => return Ok(v),
                Attempt::Fatal(e) => return Err(e),
                Attempt::Again => {}
                Attempt::Retry(e, retry_after) => {
                    let wait = self.retry.backoff(tries, retry_after, noise());
                    if tries >= self.retry.max_retries || started.elapsed() + wait > self.retry.retry_timeout {
                        return Err(Error::GaveUp {
                            location: self.location.clone(),
                            attempts: tries + 1,
                            source: Box::new(e),
                        });
                    }
                    tokio::time::sleep(wait).await;
                    tries += 1;
                }
            }
        }
    }

    /// Checks a response's ETag and total size against the pinned ones; pins them on first sight.
    fn check_identity(&self, headers: &HeaderMap, total: Option<u64>) -> Result<()> {
        let etag = headers.get(header::ETAG).and_then(|v| v.to_str().ok()).map(str::to_string);
        let mut state = self.state();
        match &mut state.info {
            None => {
                if let Some(size) = total {
                    state.info = Some(ObjectInfo { size, etag, last_modified: None });
                }
            }
            Some(info) => {
                if let (Some(pinned), Some(now)) = (&info.etag, &etag) {
                    if pinned != now {
                        return Err(Error::FileChanged {
                            location: self.location.clone(),
                            detail: format!("ETag {pinned} became {now}"),
                        });
                    }
                }
                if let Some(t) = total {
                    if t != info.size {
                        return Err(Error::FileChanged {
                            location: self.location.clone(),
                            detail: format!("size {} became {t}", info.size),
                        });
                    }
                }
                if info.etag.is_none() {
                    info.etag = etag;
                }
            }
        }
        Ok(())
    }

    /// Takes a 200 answer (range ignored) whole if it is small enough; remembers it for later reads.
    async fn take_whole(&self, resp: reqwest::Response) -> Attempt<Bytes> {
        let announced = resp.content_length();
        if announced.is_some_and(|n| n > self.max_whole) {
            return Attempt::Fatal(Error::RangeNotSupported {
                location: self.location.clone(),
                size: announced.unwrap_or(0),
                limit: self.max_whole,
            });
        }
        if let Err(e) = self.check_identity(resp.headers(), None) {
            return Attempt::Fatal(e);
        }
        let mut body = Vec::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(c) => {
                    body.extend_from_slice(&c);
                    if body.len() as u64 > self.max_whole {
                        return Attempt::Fatal(Error::RangeNotSupported {
                            location: self.location.clone(),
                            size: body.len() as u64,
                            limit: self.max_whole,
                        });
                    }
                }
                Err(e) => return Attempt::Retry(self.network(e, "reading the whole object"), None),
            }
        }
        if announced.is_some_and(|n| n != body.len() as u64) {
            return Attempt::Retry(
                self.invalid(format!("body of {} bytes where {:?} were announced", body.len(), announced)),
                None,
            );
        }
        let whole = Bytes::from(body);
        let mut state = self.state();
        match &state.info {
            Some(info) if info.size != whole.len() as u64 => {
                return Attempt::Fatal(Error::FileChanged {
                    location: self.location.clone(),
                    detail: format!("size {} became {}", info.size, whole.len()),
                });
            }
            Some(_) => {}
            None => state.info = Some(ObjectInfo { size: whole.len() as u64, etag: None, last_modified: None }),
        }
        state.whole = Some(whole.clone());
        Attempt::Done(whole)
    }

    /// Maps an error status to a retry or a final error.
    fn status_error<T>(&self, status: StatusCode, headers: &HeaderMap) -> Attempt<T> {
        let retry_after = headers.get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
        match status.as_u16() {
            401 | 403 => Attempt::Fatal(Error::PermissionDenied { driver: "http", location: self.location.clone() }),
            404 | 410 => Attempt::Fatal(Error::NotFound { driver: "http", location: self.location.clone() }),
            412 => Attempt::Fatal(Error::FileChanged {
                location: self.location.clone(),
                detail: "If-Match failed (412)".into(),
            }),
            408 | 429 | 500..=599 => Attempt::Retry(self.err_http(status, "server busy or failing"), retry_after),
            300..=399 if self.plain && !self.state().use_tls && redirects_to_https(headers) => {
                self.state().use_tls = true;
                Attempt::Again
            }
            _ => Attempt::Fatal(self.err_http(status, "unexpected status")),
        }
    }

    /// The client for the next request: the TLS one once a plain-HTTP source redirected to HTTPS.
    fn client(&self) -> &reqwest::Client {
        if self.plain && self.state().use_tls {
            return self
                .tls_client
                .get_or_init(|| build_client(&self.location, false).unwrap_or_else(|_| self.client.clone()));
        }
        &self.client
    }

    fn request(&self, range_header: &str) -> reqwest::RequestBuilder {
        let mut req = self.client().get(self.url.clone()).header(header::RANGE, range_header);
        if let Some(etag) = self.pinned_etag().filter(|e| !e.starts_with("W/")) {
            req = req.header(header::IF_MATCH, etag);
        }
        req
    }

    /// One attempt at `range`, reported to the observer.
    async fn try_range(&self, range: Range<u64>, head: bool) -> Attempt<Bytes> {
        let started = Instant::now();
        let mut seen = (None, None);
        let attempt = self.attempt_range(range.clone(), head, &mut seen).await;
        let bytes = seen.1.unwrap_or(if let Attempt::Done(b) = &attempt { b.len() as u64 } else { 0 });
        self.observer.report(started, vec![range], bytes, seen.0);
        attempt
    }

    /// One attempt at `range`; `head` accepts a shorter answer that ends at the object's end.
    /// `seen` receives the status and, when the body was not the range itself, the body's length.
    async fn attempt_range(
        &self,
        range: Range<u64>,
        head: bool,
        seen: &mut (Option<u16>, Option<u64>),
    ) -> Attempt<Bytes> {
        let resp = match self.request(&format!("bytes={}-{}", range.start, range.end - 1)).send().await {
            Ok(r) => r,
            Err(e) => return Attempt::Retry(self.network(e, "sending the request"), None),
        };
        let status = resp.status();
        seen.0 = Some(status.as_u16());
        match status {
            StatusCode::PARTIAL_CONTENT => {}
            StatusCode::OK => {
                let taken = self.take_whole(resp).await;
                if let Attempt::Done(whole) = &taken {
                    seen.1 = Some(whole.len() as u64);
                }
                return match taken {
                    Attempt::Done(whole) if range.end <= whole.len() as u64 => {
                        Attempt::Done(whole.slice(range.start as usize..range.end as usize))
                    }
                    Attempt::Done(whole) if head => {
                        Attempt::Done(whole.slice(range.start.min(whole.len() as u64) as usize..))
                    }
                    Attempt::Done(whole) => Attempt::Fatal(Error::OutOfRange {
                        location: self.location.clone(),
                        range,
                        size: whole.len() as u64,
                    }),
                    Attempt::Retry(e, r) => Attempt::Retry(e, r),
                    Attempt::Again => Attempt::Again,
                    Attempt::Fatal(e) => Attempt::Fatal(e),
                };
            }
            StatusCode::RANGE_NOT_SATISFIABLE => {
                let total = resp
                    .headers()
                    .get(header::CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("bytes */"))
                    .and_then(|n| n.trim().parse::<u64>().ok());
                return match total {
                    Some(size) if head => {
                        if let Err(e) = self.check_identity(resp.headers(), Some(size)) {
                            return Attempt::Fatal(e);
                        }
                        Attempt::Done(Bytes::new())
                    }
                    Some(size) => Attempt::Fatal(Error::OutOfRange { location: self.location.clone(), range, size }),
                    None => Attempt::Fatal(self.err_http(status, "range not satisfiable")),
                };
            }
            other => return self.status_error(other, resp.headers()),
        }
        let Some((got, total)) =
            resp.headers().get(header::CONTENT_RANGE).and_then(|v| v.to_str().ok()).and_then(parse_content_range)
        else {
            return Attempt::Retry(self.invalid("206 without a valid Content-Range".into()), None);
        };
        let expected_end = if head { range.end.min(total.unwrap_or(range.end)) } else { range.end };
        if got.start != range.start || got.end != expected_end {
            return Attempt::Retry(
                self.invalid(format!(
                    "asked for bytes {}..{}, Content-Range says {}..{}",
                    range.start, range.end, got.start, got.end
                )),
                None,
            );
        }
        if let Err(e) = self.check_identity(resp.headers(), total) {
            return Attempt::Fatal(e);
        }
        let body = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => return Attempt::Retry(self.network(e, "reading the body"), None),
        };
        if body.len() as u64 != got.end - got.start {
            return Attempt::Retry(
                self.invalid(format!("body of {} bytes for a range of {}", body.len(), got.end - got.start)),
                None,
            );
        }
        Attempt::Done(body)
    }

    /// One multi-range attempt, reported to the observer (body bytes, multipart headers included).
    async fn try_multi(&self, ranges: &[Range<u64>]) -> Attempt<Option<Vec<Bytes>>> {
        let started = Instant::now();
        let mut seen = (None, 0u64);
        let attempt = self.attempt_multi(ranges, &mut seen).await;
        self.observer.report(started, ranges.to_vec(), seen.1, seen.0);
        attempt
    }

    /// One attempt at several ranges in one multi-range request. `Ok(None)` when the server
    /// answered them with the whole object and that object is too large: ask one range at a time.
    async fn attempt_multi(&self, ranges: &[Range<u64>], seen: &mut (Option<u16>, u64)) -> Attempt<Option<Vec<Bytes>>> {
        let spec: Vec<String> = ranges.iter().map(|r| format!("{}-{}", r.start, r.end - 1)).collect();
        let resp = match self.request(&format!("bytes={}", spec.join(","))).send().await {
            Ok(r) => r,
            Err(e) => return Attempt::Retry(self.network(e, "sending a multi-range request"), None),
        };
        let status = resp.status();
        seen.0 = Some(status.as_u16());
        match status {
            StatusCode::PARTIAL_CONTENT => {}
            StatusCode::OK => {
                if resp.content_length().is_some_and(|n| n > self.max_whole) {
                    self.state().multi_unsupported = true;
                    return Attempt::Done(None);
                }
                return match self.take_whole(resp).await {
                    Attempt::Done(whole) => {
                        self.state().multi_unsupported = true;
                        match ranges.iter().map(|r| slice_checked(&whole, r)).collect::<Option<Vec<_>>>() {
                            Some(parts) => Attempt::Done(Some(parts)),
                            None => Attempt::Fatal(Error::OutOfRange {
                                location: self.location.clone(),
                                range: ranges[0].clone(),
                                size: whole.len() as u64,
                            }),
                        }
                    }
                    Attempt::Retry(e, r) => Attempt::Retry(e, r),
                    Attempt::Again => Attempt::Again,
                    Attempt::Fatal(Error::RangeNotSupported { .. }) => {
                        self.state().multi_unsupported = true;
                        Attempt::Done(None)
                    }
                    Attempt::Fatal(e) => Attempt::Fatal(e),
                };
            }
            other => return self.status_error(other, resp.headers()),
        }
        let content_type =
            resp.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let single =
            resp.headers().get(header::CONTENT_RANGE).and_then(|v| v.to_str().ok()).and_then(parse_content_range);
        let headers = resp.headers().clone();
        let body = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => return Attempt::Retry(self.network(e, "reading a multi-range body"), None),
        };
        seen.1 = body.len() as u64;
        let parts: Vec<Part> = if let Some(boundary) = multipart_boundary(&content_type) {
            match parse_multipart(&body, &boundary) {
                Ok(p) => p,
                Err(detail) => return Attempt::Retry(self.invalid(detail), None),
            }
        } else if let Some((r, total)) = single {
            // The server merged the ranges into one.
            if body.len() as u64 != r.end - r.start {
                return Attempt::Retry(
                    self.invalid(format!("body of {} bytes for a range of {}", body.len(), r.end - r.start)),
                    None,
                );
            }
            vec![(r, total, body)]
        } else {
            return Attempt::Retry(
                self.invalid("206 to a multi-range request without multipart body or Content-Range".into()),
                None,
            );
        };
        let total = parts.iter().find_map(|p| p.1);
        if let Err(e) = self.check_identity(&headers, total) {
            return Attempt::Fatal(e);
        }
        let mut out = Vec::with_capacity(ranges.len());
        for r in ranges {
            let Some((pr, _, data)) = parts.iter().find(|(pr, _, _)| pr.start <= r.start && r.end <= pr.end) else {
                return Attempt::Retry(
                    self.invalid(format!("multi-range answer lacks bytes {}..{}", r.start, r.end)),
                    None,
                );
            };
            out.push(data.slice((r.start - pr.start) as usize..(r.end - pr.start) as usize));
        }
        Attempt::Done(Some(out))
    }

    async fn fetch(&self, range: Range<u64>) -> Result<Bytes> {
        self.with_retries(|| self.try_range(range.clone(), false)).await
    }

    async fn fetch_multi(&self, ranges: Vec<Range<u64>>) -> Result<Vec<Bytes>> {
        if !self.state().multi_unsupported {
            if let Some(parts) = self.with_retries(|| self.try_multi(&ranges)).await? {
                return Ok(parts);
            }
        }
        // One range per request: plan again with the ordinary gap, which merges more.
        let requests = plan_requests(&ranges, &self.options);
        let fetched: Vec<Bytes> = futures::stream::iter(requests.iter().cloned())
            .map(|r| self.fetch(r))
            .buffered(self.options.concurrency.max(1))
            .try_collect()
            .await?;
        Ok(assemble(&ranges, &requests, &fetched))
    }
}

fn slice_checked(whole: &Bytes, r: &Range<u64>) -> Option<Bytes> {
    (r.end <= whole.len() as u64).then(|| whole.slice(r.start as usize..r.end as usize))
}

/// Parses `bytes a-b/total` (total may be `*`) into (a..b+1, total).
pub(crate) fn parse_content_range(value: &str) -> Option<(Range<u64>, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (span, total) = rest.split_once('/')?;
    let (a, b) = span.trim().split_once('-')?;
    let (a, b): (u64, u64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    if b < a {
        return None;
    }
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    Some((a..b + 1, total))
}

fn multipart_boundary(content_type: &str) -> Option<String> {
    let lower = content_type.to_ascii_lowercase();
    if !lower.trim_start().starts_with("multipart/byteranges") {
        return None;
    }
    content_type.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim().eq_ignore_ascii_case("boundary").then(|| v.trim().trim_matches('"').to_string())
    })
}

/// One part of a multipart answer: its range, the object's total size if given, its bytes.
pub(crate) type Part = (Range<u64>, Option<u64>, Bytes);

/// Splits a `multipart/byteranges` body into (range, total, bytes) parts, zero-copy.
pub(crate) fn parse_multipart(body: &Bytes, boundary: &str) -> std::result::Result<Vec<Part>, String> {
    let delim = format!("--{boundary}");
    let find =
        |from: usize, needle: &[u8]| body[from..].windows(needle.len()).position(|w| w == needle).map(|p| p + from);
    let mut parts = Vec::new();
    let mut pos = find(0, delim.as_bytes()).ok_or("multipart body without its boundary")?;
    loop {
        pos += delim.len();
        if body[pos..].starts_with(b"--") {
            return Ok(parts);
        }
        let headers_end = find(pos, b"\r\n\r\n").ok_or("multipart part without the end of its headers")?;
        let head = std::str::from_utf8(&body[pos..headers_end]).map_err(|_| "multipart part headers are not text")?;
        let cr = head
            .lines()
            .find_map(|l| {
                l.split_once(':')
                    .filter(|(k, _)| k.trim().eq_ignore_ascii_case("content-range"))
                    .map(|(_, v)| v.trim().to_string())
            })
            .ok_or("multipart part without Content-Range")?;
        let (range, total) = parse_content_range(&cr).ok_or_else(|| format!("bad part Content-Range {cr:?}"))?;
        let start = headers_end + 4;
        let end = start
            .checked_add((range.end - range.start) as usize)
            .filter(|&e| e <= body.len())
            .ok_or("multipart part shorter than its Content-Range")?;
        parts.push((range, total, body.slice(start..end)));
        pos = find(end, delim.as_bytes()).ok_or("multipart body ends without its closing boundary")?;
    }
}

#[async_trait]
impl StorageDriver for HttpDriver {
    fn name(&self) -> &'static str {
        "http"
    }

    fn location(&self) -> &str {
        &self.location
    }

    async fn stat(&self) -> Result<ObjectInfo> {
        if let Some(info) = self.state().info.clone() {
            return Ok(info);
        }
        Ok(self.read_head(1).await?.0)
    }

    async fn read_head(&self, len: u64) -> Result<(ObjectInfo, Bytes)> {
        let bytes = self.with_retries(|| self.try_range(0..len.max(1), true)).await?;
        let info =
            self.state().info.clone().ok_or_else(|| self.invalid("no object size in the first response".into()))?;
        let bytes = bytes.slice(..(len.min(bytes.len() as u64)) as usize);
        Ok((info, bytes))
    }

    async fn read_range(&self, range: Range<u64>) -> Result<Bytes> {
        if range.start >= range.end {
            return Ok(Bytes::new());
        }
        if let Some(whole) = self.state().whole.clone() {
            return slice_checked(&whole, &range).ok_or(Error::OutOfRange {
                location: self.location.clone(),
                range,
                size: whole.len() as u64,
            });
        }
        if let Some(info) = &self.state().info {
            crate::check_range(&self.location, &range, info.size)?;
        }
        self.fetch(range).await
    }

    async fn read_ranges(&self, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        let use_multi = self.multi_range && !self.state().multi_unsupported && self.state().whole.is_none();
        let plan = if use_multi {
            ReadOptions { coalesce_gap: self.options.coalesce_gap.min(MULTI_COALESCE_GAP), ..self.options }
        } else {
            self.options
        };
        let requests = plan_requests(ranges, &plan);
        // Small requests travel together in multi-range requests; large ones go alone; all concurrently.
        let small: Vec<usize> =
            (0..requests.len()).filter(|&i| use_multi && requests[i].end - requests[i].start <= MULTI_SMALL).collect();
        let mut jobs: Vec<Vec<usize>> = if small.len() >= 2 {
            let bytes: u64 = small.iter().map(|&i| requests[i].end - requests[i].start).sum();
            let groups = multi_groups(small.len(), bytes, self.options.fan_out);
            small.chunks(small.len().div_ceil(groups)).map(<[usize]>::to_vec).collect()
        } else {
            Vec::new()
        };
        let grouped: std::collections::HashSet<usize> = jobs.iter().flatten().copied().collect();
        jobs.extend((0..requests.len()).filter(|i| !grouped.contains(i)).map(|i| vec![i]));
        let results: Vec<(Vec<usize>, Vec<Bytes>)> = futures::stream::iter(jobs)
            .map(|job| async {
                let parts = if job.len() == 1 {
                    vec![self.read_range(requests[job[0]].clone()).await?]
                } else {
                    self.fetch_multi(job.iter().map(|&i| requests[i].clone()).collect()).await?
                };
                Ok::<_, Error>((job, parts))
            })
            .buffer_unordered(self.options.concurrency.max(1))
            .try_collect()
            .await?;
        let mut fetched = vec![Bytes::new(); requests.len()];
        for (job, parts) in results {
            for (i, b) in job.into_iter().zip(parts) {
                fetched[i] = b;
            }
        }
        Ok(assemble(ranges, &requests, &fetched))
    }

    fn read_options(&self) -> ReadOptions {
        self.options
    }

    fn set_observer(&self, observer: Arc<dyn RequestObserver>) -> bool {
        self.observer.set(observer);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_range_groups() {
        // Tiny ranges: one request, unless there are more than 200.
        assert_eq!(multi_groups(200, 400, 16), 1);
        assert_eq!(multi_groups(350, 700, 16), 2);
        // 350 rows of 1000 bytes: spread over five connections of about 70 kB.
        assert_eq!(multi_groups(350, 350_000, 16), 5);
        // Never more than fan_out, never fewer than two ranges a request.
        assert_eq!(multi_groups(1000, 100 << 20, 16), 16);
        assert_eq!(multi_groups(3, 1 << 20, 16), 1);
        assert_eq!(multi_groups(4, 1 << 20, 16), 2);
    }

    #[test]
    fn content_ranges() {
        assert_eq!(parse_content_range("bytes 0-9/100"), Some((0..10, Some(100))));
        assert_eq!(parse_content_range("bytes 5-5/*"), Some((5..6, None)));
        assert_eq!(parse_content_range("bytes 9-5/100"), None);
        assert_eq!(parse_content_range("items 0-1/2"), None);
    }

    #[test]
    fn multipart_bodies() {
        let data: Vec<u8> = (0..200u8).collect();
        let body = Bytes::from(fits_netsim::write_multipart(&data, &[3..7, 100..150], "XyZ", "application/fits"));
        let parts = parse_multipart(&body, "XyZ").unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].0, 3..7);
        assert_eq!(&parts[0].2[..], &data[3..7]);
        assert_eq!(&parts[1].2[..], &data[100..150]);
        assert_eq!(parts[1].1, Some(200));
        // Truncated or malformed bodies are errors, not short data.
        for cut in [10, 60, body.len() - 5] {
            assert!(parse_multipart(&body.slice(..cut), "XyZ").is_err(), "cut at {cut}");
        }
        assert_eq!(multipart_boundary("multipart/byteranges; boundary=\"abc\""), Some("abc".into()));
        assert_eq!(multipart_boundary("application/octet-stream"), None);
    }
}
