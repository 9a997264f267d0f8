//! Network simulation on loopback: an HTTP file server with latency and fault injection ([`Server`]),
//! and a TCP link emulator that adds latency and a bandwidth cap in front of any server ([`Link`]).
//!
//! Used by the HTTP driver's tests (every fault ends in a retry or a clear error), by `fits demo`
//! (a sample served with a realistic round trip), and by `cargo xtask bench remote` (nginx and
//! Garage behind a 20 ms, 100 MB/s link).

mod link;
mod multipart;
mod server;

pub use link::{Link, LinkConfig, LinkStats};
pub use multipart::{parse_ranges, write_multipart};
pub use server::{Fault, RequestRecord, Server, ServerConfig};
