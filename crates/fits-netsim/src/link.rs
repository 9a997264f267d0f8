//! A TCP link emulator: forwards connections to an upstream server, adding one-way latency
//! and a per-connection bandwidth cap in each direction.
//!
//! The cap is per connection, as a wide-area TCP flow's throughput is (bounded by window over
//! round trip); clients that open several connections get more, as they do from object stores.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

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
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        let _ = client.set_nodelay(true);
                        let _ = server.set_nodelay(true);
                        let (cr, cw) = client.into_split();
                        let (sr, sw) = server.into_split();
                        let up = tokio::spawn(pipe(cr, sw, config, stats.clone(), Direction::Up));
                        let down = tokio::spawn(pipe(sr, cw, config, stats, Direction::Down));
                        let _ = tokio::join!(up, down);
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

/// Acknowledges received data at once (Linux `TCP_QUICKACK`, which the kernel clears again
/// after a while, so it is set after every read). Without it, a server that leaves Nagle's
/// algorithm on (Garage does) waits for our delayed ACK, 40 ms, before sending the rest of
/// a small response; real object stores do not stall like that.
fn quick_ack(stream: &tokio::net::tcp::OwnedReadHalf) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let fd = stream.as_ref().as_raw_fd();
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

/// Forwards one direction: chunks become visible `one_way` after they were read, no faster than the cap.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    config: LinkConfig,
    stats: Arc<LinkStats>,
    direction: Direction,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let reader = tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        let mut counter = RequestCounter::default();
        loop {
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if direction == Direction::Down {
                        quick_ack(&from);
                    }
                    match direction {
                        Direction::Up => {
                            stats.bytes_up.fetch_add(n as u64, Ordering::Relaxed);
                            stats.requests.fetch_add(counter.count(&buf[..n]), Ordering::Relaxed);
                        }
                        Direction::Down => {
                            stats.bytes_down.fetch_add(n as u64, Ordering::Relaxed);
                        }
                    }
                    if tx.send((Instant::now() + config.one_way, buf[..n].to_vec())).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let mut next_free = Instant::now();
    while let Some((due, chunk)) = rx.recv().await {
        let start = due.max(next_free);
        tokio::time::sleep_until(start).await;
        if to.write_all(&chunk).await.is_err() {
            break;
        }
        next_free = match config.bytes_per_sec {
            Some(rate) if rate > 0 => start + Duration::from_secs_f64(chunk.len() as f64 / rate as f64),
            _ => start,
        };
    }
    let _ = to.shutdown().await;
    reader.abort();
}

#[cfg(test)]
mod tests {
    use super::*;

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
