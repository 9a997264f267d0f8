//! A loopback HTTP file server with ranges (single and multipart), ETags, `If-Match`, added
//! latency, a bandwidth cap, and scripted faults for the requests that follow.

use crate::multipart::{parse_ranges, write_multipart};
use bytes::Bytes;
use futures::stream::{self, StreamExt};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::Frame;
use hyper::header::{self, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

type Body = BoxBody<Bytes, io::Error>;

/// How the server behaves when no fault is scripted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerConfig {
    /// Delay before each response (an added round trip).
    pub latency: Duration,
    /// Bytes per second of each response body; `None` for no cap.
    pub bytes_per_sec: Option<u64>,
    /// Answer several ranges with `multipart/byteranges` (otherwise with the whole object, status 200).
    pub multi_range: bool,
    /// Answer `If-Match` mismatches with 412 (otherwise ignore the header, as some servers do).
    pub honor_if_match: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig { latency: Duration::ZERO, bytes_per_sec: None, multi_range: true, honor_if_match: true }
    }
}

/// Something to do wrong on one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status and an empty body.
    Status(u16),
    /// Answer with this status and `Retry-After: seconds`.
    RetryAfter(u16, u64),
    /// Send the headers and half the body, then break the connection.
    ResetMidBody,
    /// Announce the full length but send only half the body.
    ShortBody,
    /// Answer a range with the bytes and `Content-Range` of the range one byte further on.
    WrongContentRange,
    /// Answer with the whole object and status 200, as servers without range support do.
    IgnoreRange,
    /// Wait this long before answering.
    Delay(Duration),
    /// Answer `302 Found` with this `Location`.
    Redirect(String),
}

/// One request as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// `GET`, `HEAD`, ...
    pub method: String,
    /// The path.
    pub path: String,
    /// The `Range` header.
    pub range: Option<String>,
    /// The `If-Match` header.
    pub if_match: Option<String>,
}

#[derive(Debug)]
struct File {
    data: Bytes,
    etag: String,
}

#[derive(Debug)]
struct State {
    config: ServerConfig,
    files: Mutex<HashMap<String, File>>,
    faults: Mutex<VecDeque<Fault>>,
    log: Mutex<Vec<RequestRecord>>,
    versions: Mutex<u64>,
}

/// A running server; stops when dropped.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Server {
    /// Starts a server on a free loopback port.
    pub async fn start(config: ServerConfig) -> io::Result<Server> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            config,
            files: Mutex::new(HashMap::new()),
            faults: Mutex::new(VecDeque::new()),
            log: Mutex::new(Vec::new()),
            versions: Mutex::new(0),
        });
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, io::Error>(handle(&state, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Server { addr, state, task })
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Serves `data` at `path`, with a new ETag (replacing any earlier content).
    pub fn put(&self, path: &str, data: impl Into<Bytes>) {
        let mut v = lock(&self.state.versions);
        *v += 1;
        let file = File { data: data.into(), etag: format!("\"v{}\"", *v) };
        lock(&self.state.files).insert(path.to_string(), file);
    }

    /// Scripts faults for the next requests, one each, in order.
    pub fn inject(&self, faults: impl IntoIterator<Item = Fault>) {
        lock(&self.state.faults).extend(faults);
    }

    /// Faults scripted but not yet used.
    pub fn pending_faults(&self) -> usize {
        lock(&self.state.faults).len()
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.state.log).clone()
    }

    /// Forgets the requests so far.
    pub fn clear_requests(&self) {
        lock(&self.state.log).clear();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn full(data: Bytes) -> Body {
    Full::new(data).map_err(|never| match never {}).boxed()
}

fn status(code: StatusCode) -> Response<Body> {
    let mut r = Response::new(full(Bytes::new()));
    *r.status_mut() = code;
    r
}

/// A body sent in chunks, paced to `rate` against absolute deadlines (so timer granularity does
/// not accumulate), possibly cut short (`cut`: bytes to send, then `fail` or end).
fn paced(data: Bytes, rate: Option<u64>, cut: Option<usize>, fail: bool) -> Body {
    const CHUNK: usize = 64 * 1024;
    let send = cut.unwrap_or(data.len()).min(data.len());
    let pieces: Vec<(usize, Bytes)> =
        (0..send).step_by(CHUNK).map(|i| (i, data.slice(i..(i + CHUNK).min(send)))).collect();
    let start = tokio::time::Instant::now();
    let s = stream::iter(pieces).then(move |(offset, piece)| async move {
        if let Some(rate) = rate.filter(|r| *r > 0) {
            tokio::time::sleep_until(start + Duration::from_secs_f64(offset as f64 / rate as f64)).await;
        }
        Ok::<_, io::Error>(Frame::data(piece))
    });
    if fail {
        let tail = stream::once(async {
            Err(io::Error::new(io::ErrorKind::ConnectionReset, "connection reset by fault injection"))
        });
        BodyExt::boxed(StreamBody::new(s.chain(tail)))
    } else {
        BodyExt::boxed(StreamBody::new(s))
    }
}

async fn handle(state: &State, req: Request<hyper::body::Incoming>) -> Response<Body> {
    let header = |name: header::HeaderName| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let record = RequestRecord {
        method: req.method().to_string(),
        path: req.uri().path().to_string(),
        range: header(header::RANGE),
        if_match: header(header::IF_MATCH),
    };
    lock(&state.log).push(record.clone());
    if !state.config.latency.is_zero() {
        tokio::time::sleep(state.config.latency).await;
    }
    let fault = lock(&state.faults).pop_front();
    match &fault {
        Some(Fault::Status(code)) => {
            return status(StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
        }
        Some(Fault::RetryAfter(code, secs)) => {
            let mut r = status(StatusCode::from_u16(*code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE));
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*secs));
            return r;
        }
        Some(Fault::Delay(d)) => tokio::time::sleep(*d).await,
        Some(Fault::Redirect(to)) => {
            let mut r = status(StatusCode::FOUND);
            if let Ok(v) = HeaderValue::from_str(to) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            return r;
        }
        _ => {}
    }
    let (data, etag) = match lock(&state.files).get(&record.path) {
        Some(f) => (f.data.clone(), f.etag.clone()),
        None => return status(StatusCode::NOT_FOUND),
    };
    if state.config.honor_if_match {
        if let Some(want) = &record.if_match {
            if want != "*" && want.split(',').all(|w| w.trim() != etag) {
                return status(StatusCode::PRECONDITION_FAILED);
            }
        }
    }
    let size = data.len() as u64;
    let rate = state.config.bytes_per_sec;
    let ranges = if fault == Some(Fault::IgnoreRange) {
        None
    } else {
        record.range.as_deref().and_then(|h| parse_ranges(h, size))
    };
    let mut response = Response::builder().header(header::ETAG, etag.as_str()).header(header::ACCEPT_RANGES, "bytes");
    let cut = matches!(fault, Some(Fault::ResetMidBody | Fault::ShortBody));
    let fail = fault == Some(Fault::ResetMidBody);
    let built = match ranges {
        None => {
            let n = data.len();
            response = response.status(StatusCode::OK).header(header::CONTENT_LENGTH, n);
            response.body(paced(data, rate, cut.then_some(n / 2), fail))
        }
        Some(r) if r.is_empty() => response
            .status(StatusCode::RANGE_NOT_SATISFIABLE)
            .header(header::CONTENT_RANGE, format!("bytes */{size}"))
            .body(full(Bytes::new())),
        Some(r) if r.len() == 1 || !state.config.multi_range => {
            if r.len() > 1 {
                // A server without multi-range support answers with the whole object.
                response = response.status(StatusCode::OK).header(header::CONTENT_LENGTH, data.len());
                return response
                    .body(paced(data, rate, None, false))
                    .unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR));
            }
            let mut range = r[0].clone();
            if fault == Some(Fault::WrongContentRange) && range.end < size {
                range = range.start + 1..range.end + 1;
            }
            let body = data.slice(range.start as usize..range.end as usize);
            let n = body.len();
            response
                .status(StatusCode::PARTIAL_CONTENT)
                .header(header::CONTENT_RANGE, format!("bytes {}-{}/{size}", range.start, range.end - 1))
                .header(header::CONTENT_LENGTH, n)
                .body(paced(body, rate, cut.then_some(n / 2), fail))
        }
        Some(r) => {
            let boundary = "FITSNETSIMBOUNDARY";
            let body = Bytes::from(write_multipart(&data, &r, boundary, "application/fits"));
            let n = body.len();
            response
                .status(StatusCode::PARTIAL_CONTENT)
                .header(header::CONTENT_TYPE, format!("multipart/byteranges; boundary={boundary}"))
                .header(header::CONTENT_LENGTH, n)
                .body(paced(body, rate, cut.then_some(n / 2), fail))
        }
    };
    built.unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR))
}
