//! Writes the seed's N x 11 x 11 float64 cube, bigger than memory if N is large, in bounded memory.
//!
//! ```text
//! cargo run --release --example big_cube -- OUT N [--order sequential|random] [--chunk K]
//! ```
//! The value at `[k, j, i]` is `k + j/100 + i/10000`. OUT is a path or `s3://bucket/key`
//! (credentials and endpoint from the `AWS_*` variables). `--order random` writes chunks of K
//! planes in a scrambled order into a local file created at its final size.

use fits::core::DType;
use fits::core::write::image_header;
use fits::ndarray::{Array3, s};
use fits::{FitsWriter, RandomWriter, WriteOptions};
use indicatif::{ProgressBar, ProgressStyle};
use std::process::ExitCode;

fn chunk(k0: usize, k1: usize) -> Array3<f64> {
    Array3::from_shape_fn((k1 - k0, 11, 11), |(k, j, i)| (k0 + k) as f64 + j as f64 / 100.0 + i as f64 / 10000.0)
}

/// A scrambled but deterministic order of `n` chunks (a full-period linear congruential walk).
fn scrambled(n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for i in (1..n).rev() {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        order.swap(i, (x >> 33) as usize % (i + 1));
    }
    order
}

fn bar(planes: usize) -> ProgressBar {
    let bar = ProgressBar::new(planes as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {pos}/{len} planes ({per_sec}, {eta}) {wide_bar}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

async fn run(out: &str, n: usize, random: bool, k: usize) -> fits::Result<()> {
    let header = image_header(DType::F64, &[n, 11, 11], true);
    let options = WriteOptions::overwrite();
    let progress = bar(n);
    if random {
        let mut w = RandomWriter::create(out, header, options)?;
        let chunks = n.div_ceil(k);
        for c in scrambled(chunks) {
            let (k0, k1) = (c * k, ((c + 1) * k).min(n));
            w.write_section(s![k0..k1, .., ..], &chunk(k0, k1).view())?;
            progress.inc((k1 - k0) as u64);
        }
        progress.set_message("checksums");
        w.finish()?;
    } else {
        let mut w = FitsWriter::create(out, options).await?;
        w.begin_image(header).await?;
        for k0 in (0..n).step_by(k) {
            let k1 = (k0 + k).min(n);
            w.write_array(&chunk(k0, k1).view()).await?;
            progress.inc((k1 - k0) as u64);
        }
        w.end_hdu().await?;
        w.finish().await?;
    }
    progress.finish_and_clear();
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let positional: Vec<&String> = args
        .iter()
        .enumerate()
        .filter(|(i, a)| !a.starts_with("--") && (*i == 0 || !args[i - 1].starts_with("--")))
        .map(|(_, a)| a)
        .collect();
    let (Some(out), Some(n)) = (positional.first(), positional.get(1).and_then(|n| n.parse::<usize>().ok())) else {
        eprintln!("usage: big_cube OUT N [--order sequential|random] [--chunk K]");
        return ExitCode::from(2);
    };
    let random = match flag("--order").as_deref() {
        None | Some("sequential") => false,
        Some("random") => true,
        Some(other) => {
            eprintln!("big_cube: --order must be sequential or random, not {other:?}");
            return ExitCode::from(2);
        }
    };
    let k = flag("--chunk").and_then(|c| c.parse::<usize>().ok()).unwrap_or(8192).max(1);
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("big_cube: {e}");
            return ExitCode::FAILURE;
        }
    };
    let t = std::time::Instant::now();
    match rt.block_on(run(out, n, random, k)) {
        Ok(()) => {
            let bytes = n as f64 * 968.0;
            eprintln!(
                "wrote {out}: {n} x 11 x 11 float64 ({:.2} GB) in {:.2} s",
                bytes / 1e9,
                t.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("big_cube: {e}");
            ExitCode::FAILURE
        }
    }
}
