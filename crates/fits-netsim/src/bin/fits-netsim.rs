//! `fits-netsim link`: a link emulator in front of a server, for benchmarks run by other processes.
//!
//! ```text
//! fits-netsim link --upstream 127.0.0.1:8080 [--listen 127.0.0.1:0] [--rtt-ms 20] [--mbps 100] [--stats FILE]
//! ```
//! Prints `listening ADDR` once ready; with `--stats`, rewrites FILE every 50 ms with
//! `{"connections":N,"requests":N,"bytes_up":N,"bytes_down":N}`. Runs until killed.

use fits_netsim::{Link, LinkConfig};
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

fn arg<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map(String::as_str)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) != Some("link") {
        eprintln!(
            "usage: fits-netsim link --upstream HOST:PORT [--listen ADDR] [--rtt-ms MS] [--mbps MB/s] [--stats FILE]"
        );
        std::process::exit(2);
    }
    let parse = |name: &str, default: &str| -> String { arg(&args, name).unwrap_or(default).to_string() };
    let upstream: SocketAddr = match parse("--upstream", "").parse() {
        Ok(a) => a,
        Err(_) => {
            eprintln!("fits-netsim: --upstream HOST:PORT is required");
            std::process::exit(2);
        }
    };
    let listen: SocketAddr = parse("--listen", "127.0.0.1:0").parse().unwrap_or_else(|e| {
        eprintln!("fits-netsim: --listen: {e}");
        std::process::exit(2)
    });
    let rtt: f64 = parse("--rtt-ms", "20").parse().unwrap_or(20.0);
    let mbps: f64 = parse("--mbps", "100").parse().unwrap_or(100.0);
    let stats_file = arg(&args, "--stats").map(std::path::PathBuf::from);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap_or_else(|e| {
        eprintln!("fits-netsim: {e}");
        std::process::exit(1)
    });
    rt.block_on(async move {
        let config = LinkConfig::new(Duration::from_secs_f64(rtt / 1e3), (mbps > 0.0).then_some(mbps));
        let link = match Link::start(listen, upstream, config).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("fits-netsim: cannot listen on {listen}: {e}");
                std::process::exit(1);
            }
        };
        println!("listening {}", link.addr());
        let _ = std::io::stdout().flush();
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if let Some(path) = &stats_file {
                let (c, r, up, down) = link.stats().snapshot();
                let tmp = path.with_extension("tmp");
                let text = format!("{{\"connections\":{c},\"requests\":{r},\"bytes_up\":{up},\"bytes_down\":{down}}}");
                if std::fs::write(&tmp, text).is_ok() {
                    let _ = std::fs::rename(&tmp, path);
                }
            }
        }
    });
}
