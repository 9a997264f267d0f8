//! A TCP link emulator: forwards connections to an upstream server, adding one-way latency
//! and a per-connection bandwidth cap in each direction.
//!
//! The cap is per connection, as a wide-area TCP flow's throughput is (bounded by window over
//! round trip); clients that open several connections get more, as they do from object stores.

use std::io;
use std::net::SocketAddr;
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

/// A running link emulator; stops when dropped.
#[derive(Debug)]
pub struct Link {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Link {
    /// Listens on `listen` (port 0 for any) and forwards every connection to `upstream`.
    pub async fn start(listen: SocketAddr, upstream: SocketAddr, config: LinkConfig) -> io::Result<Link> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        let _ = client.set_nodelay(true);
                        let _ = server.set_nodelay(true);
                        let (cr, cw) = client.into_split();
                        let (sr, sw) = server.into_split();
                        let up = tokio::spawn(pipe(cr, sw, config));
                        let down = tokio::spawn(pipe(sr, cw, config));
                        let _ = tokio::join!(up, down);
                    }
                });
            }
        });
        Ok(Link { addr, task })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Forwards one direction: chunks become visible `one_way` after they were read, no faster than the cap.
async fn pipe(mut from: tokio::net::tcp::OwnedReadHalf, mut to: tokio::net::tcp::OwnedWriteHalf, config: LinkConfig) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let reader = tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
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
