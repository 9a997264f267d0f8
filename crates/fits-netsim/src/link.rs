//! A TCP link emulator: forwards connections to an upstream server, adding one-way latency
//! and a per-connection bandwidth cap in each direction.
//!
//! The cap is per connection, as a wide-area TCP flow's throughput is (bounded by window over
//! round trip); clients that open several connections get more, as they do from object stores.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use std::time::Instant;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// How the emulated link behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkConfig {
    /// Delay added in each direction (half the added round trip).
    pub one_way: Duration,
    /// Bytes per second per connection and direction; `None` for no cap.
    pub bytes_per_sec: Option<u64>,
}

impl LinkConfig {
    /// A link with `rtt` added round trip and a cap in MB/s (10^6 bytes).
    pub fn new(rtt: Duration, mb_per_sec: Option<f64>) -> LinkConfig {
        LinkConfig { one_way: rtt / 2, bytes_per_sec: mb_per_sec.map(|m| (m * 1e6) as u64) }
    }
}

/// Traffic through a link: what both tools in a benchmark are measured by.
#[derive(Debug, Default)]
pub struct LinkStats {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// HTTP requests seen going upstream (request lines: `GET /`, `HEAD /`, `PUT /`, `POST /`, `DELETE /`).
    pub requests: AtomicU64,
    /// Bytes sent upstream (client to server).
    pub bytes_up: AtomicU64,
    /// Bytes sent downstream (server to client), headers included.
    pub bytes_down: AtomicU64,
}

impl LinkStats {
    /// `(connections, requests, bytes_up, bytes_down)` now.
    pub fn snapshot(&self) -> (u64, u64, u64, u64) {
        (
            self.connections.load(Ordering::Relaxed),
            self.requests.load(Ordering::Relaxed),
            self.bytes_up.load(Ordering::Relaxed),
            self.bytes_down.load(Ordering::Relaxed),
        )
    }
}

/// Counts HTTP request lines in a byte stream that arrives in chunks of any size.
#[derive(Debug, Default)]
struct RequestCounter {
    /// The first bytes of the current line (at most 8).
    prefix: Vec<u8>,
    /// Whether the current line was already counted or ruled out.
    settled: bool,
}

impl RequestCounter {
    const METHODS: [&'static [u8]; 5] = [b"GET /", b"HEAD /", b"PUT /", b"POST /", b"DELETE /"];

    fn count(&mut self, chunk: &[u8]) -> u64 {
        let mut n = 0;
        for &b in chunk {
            if b == b'\n' {
                self.prefix.clear();
                self.settled = false;
                continue;
            }
            if self.settled {
                continue;
            }
            self.prefix.push(b);
            if Self::METHODS.contains(&self.prefix.as_slice()) {
                n += 1;
                self.settled = true;
            } else if !Self::METHODS.iter().any(|m| m.starts_with(&self.prefix)) {
                self.settled = true;
            }
        }
        n
    }
}

/// A running link emulator; stops when dropped.
#[derive(Debug)]
pub struct Link {
    addr: SocketAddr,
    task: JoinHandle<()>,
    stats: Arc<LinkStats>,
}

impl Link {
    /// Listens on `listen` (port 0 for any) and forwards every connection to `upstream`.
    ///
    /// Each connection is relayed by plain threads that sleep with the operating system's
    /// high-resolution timer: an async timer wheel rounds every delay up to the next
    /// millisecond, which added about 2.6 ms to each round trip.
    pub async fn start(listen: SocketAddr, upstream: SocketAddr, config: LinkConfig) -> io::Result<Link> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let stats = Arc::new(LinkStats::default());
        let shared = stats.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                shared.connections.fetch_add(1, Ordering::Relaxed);
                let stats = shared.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await
                        && let (Ok(client), Ok(server)) = (blocking(client), blocking(server))
                    {
                        relay(client, server, config, stats);
                    }
                });
            }
        });
        Ok(Link { addr, task, stats })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The traffic so far.
    pub fn stats(&self) -> &Arc<LinkStats> {
        &self.stats
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A tokio stream as a blocking std one, Nagle off.
fn blocking(stream: TcpStream) -> io::Result<std::net::TcpStream> {
    let stream = stream.into_std()?;
    stream.set_nonblocking(false)?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Relays one connection in both directions on threads of its own.
fn relay(client: std::net::TcpStream, server: std::net::TcpStream, config: LinkConfig, stats: Arc<LinkStats>) {
    let ends = (|| Ok::<_, io::Error>((client.try_clone()?, server.try_clone()?)))();
    let Ok((client_w, server_w)) = ends else { return };
    let up_stats = stats.clone();
    spawn("link-up", move || forward(client, server_w, config, up_stats, Direction::Up));
    spawn("link-down", move || forward(server, client_w, config, stats, Direction::Down));
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) {
    // A thread that cannot start leaves the connection unserved; the client sees it stall
    // or close, as on a real network.
    let _ = std::thread::Builder::new().name(name.to_string()).stack_size(256 * 1024).spawn(f);
}

/// Acknowledges received data at once (Linux `TCP_QUICKACK`, which the kernel clears again
/// after a while, so it is set after every read). Without it, a server that leaves Nagle's
/// algorithm on (Garage does) waits for our delayed ACK, 40 ms, before sending the rest of
/// a small response; real object stores do not stall like that.
fn quick_ack(stream: &std::net::TcpStream) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let fd = stream.as_raw_fd();
        let one: libc::c_int = 1;
        // SAFETY: fd is a live TCP socket owned by `stream`; the option value is a c_int.
        unsafe {
            libc::setsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_QUICKACK,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = stream;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Up,
    Down,
}

/// Forwards one direction: chunks become visible `one_way` after they were read, no faster
/// than the cap. A reader thread timestamps the chunks; this thread delivers them on time.
fn forward(
    from: std::net::TcpStream,
    mut to: std::net::TcpStream,
    config: LinkConfig,
    stats: Arc<LinkStats>,
    direction: Direction,
) {
    let (tx, rx) = std::sync::mpsc::channel::<(Instant, Vec<u8>)>();
    let Ok(mut source) = from.try_clone() else { return };
    spawn("link-read", move || {
        let mut buf = vec![0u8; 64 * 1024];
        let mut counter = RequestCounter::default();
        loop {
            match source.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let due = Instant::now() + config.one_way;
                    match direction {
                        Direction::Up => {
                            stats.bytes_up.fetch_add(n as u64, Ordering::Relaxed);
                            stats.requests.fetch_add(counter.count(&buf[..n]), Ordering::Relaxed);
                        }
                        Direction::Down => {
                            quick_ack(&source);
                            stats.bytes_down.fetch_add(n as u64, Ordering::Relaxed);
                        }
                    }
                    if tx.send((due, buf[..n].to_vec())).is_err() {
                        break;
                    }
                }
            }
        }
    });
    // When the emulated wire is free again; a chunk is delivered once all of it has crossed.
    let mut wire_free = Instant::now();
    for (due, chunk) in rx {
        let crossed = due.max(wire_free)
            + match config.bytes_per_sec {
                Some(rate) if rate > 0 => Duration::from_secs_f64(chunk.len() as f64 / rate as f64),
                _ => Duration::ZERO,
            };
        let now = Instant::now();
        if crossed > now {
            std::thread::sleep(crossed - now);
        }
        if to.write_all(&chunk).is_err() {
            break;
        }
        wire_free = crossed;
    }
    let _ = to.shutdown(Shutdown::Write);
    // Wakes the reader if the far end went away first.
    let _ = from.shutdown(Shutdown::Read);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An upstream that echoes everything back, and a link in front of it.
    async fn echo_link(config: LinkConfig) -> (Link, tokio::task::JoinHandle<()>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = echo.local_addr().unwrap();
        let server = tokio::spawn(async move {
            while let Ok((mut s, _)) = echo.accept().await {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        (Link::start("127.0.0.1:0".parse().unwrap(), upstream, config).await.unwrap(), server)
    }

    /// Sends `data` through the link and reads it back, returning the echo and the time taken.
    fn round_trip(addr: SocketAddr, data: &[u8]) -> (Vec<u8>, Duration) {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        let t = Instant::now();
        let writer = {
            let mut w = s.try_clone().unwrap();
            let data = data.to_vec();
            std::thread::spawn(move || w.write_all(&data).unwrap())
        };
        let mut back = vec![0u8; data.len()];
        s.read_exact(&mut back).unwrap();
        let took = t.elapsed();
        writer.join().unwrap();
        (back, took)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn relays_bytes_unchanged_after_the_round_trip() {
        let rtt = Duration::from_millis(30);
        let (link, _server) = echo_link(LinkConfig::new(rtt, None)).await;
        let addr = link.addr();
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let (back, took) = tokio::task::spawn_blocking(move || round_trip(addr, &data)).await.unwrap();
        assert!(back == (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect::<Vec<u8>>(), "the echo differs");
        assert!(took >= rtt, "took {took:?}, less than the added round trip {rtt:?}");
        let (_, requests, up, down) = link.stats().snapshot();
        assert_eq!((requests, up, down), (0, 200_000, 200_000));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn caps_each_direction() {
        // 1 MB each way at 10 MB/s: at least 100 ms down after the first bytes went up.
        let (link, _server) = echo_link(LinkConfig::new(Duration::ZERO, Some(10.0))).await;
        let addr = link.addr();
        let data = vec![42u8; 1_000_000];
        let (back, took) = tokio::task::spawn_blocking(move || round_trip(addr, &data)).await.unwrap();
        assert_eq!(back.len(), 1_000_000);
        assert!(back.iter().all(|&b| b == 42));
        assert!(took >= Duration::from_millis(100), "1 MB at 10 MB/s took only {took:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_closed_upstream_closes_the_client() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = listener.local_addr().unwrap();
        // The upstream greets and hangs up.
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let (mut s, _) = listener.accept().await.unwrap();
            s.write_all(b"bye").await.unwrap();
        });
        let link =
            Link::start("127.0.0.1:0".parse().unwrap(), upstream, LinkConfig::new(Duration::ZERO, None)).await.unwrap();
        let addr = link.addr();
        let got = tokio::task::spawn_blocking(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut all = Vec::new();
            s.read_to_end(&mut all).map(|_| all)
        })
        .await
        .unwrap();
        assert_eq!(got.unwrap(), b"bye");
    }

    #[test]
    fn counts_request_lines_across_chunks() {
        let stream =
            b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nHEAD /b HTTP/1.1\r\nX-GET /: no\r\n\r\nGET /c HTTP/1.1\r\n\r\n";
        for cut in 1..stream.len() {
            let mut c = RequestCounter::default();
            let n = c.count(&stream[..cut]) + c.count(&stream[cut..]);
            assert_eq!(n, 3, "cut at {cut}");
        }
        let mut c = RequestCounter::default();
        assert_eq!(c.count(b"POST /x\r\nbody GET / inside\nGETX /\n"), 1);
    }
}
