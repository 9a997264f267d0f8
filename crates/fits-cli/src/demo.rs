//! `fits demo`: the main job on a built-in sample: open, list, cut out, check, summarize, and show what it cost.

use crate::commands::section_of;
use crate::source::Session;
use anyhow::{Context, Result};
use fits::core::compress::Compression;
use fits::core::write::image_header;
use fits::core::{Card, DType};
use fits::{Fits, FitsWriter, Stats, WriteOptions};
use std::path::{Path, PathBuf};

/// Side of the square sample image.
const SIDE: usize = 2048;
/// The cutout the demo takes (numpy order).
const SECTION: &str = "900:1250,1000:1250";

/// Writes the sample: a drizzled-like float32 image with a TAN WCS, sky noise and stars.
async fn write_sample(path: &Path) -> Result<()> {
    let mut h = image_header(DType::F32, &[SIDE, SIDE], true);
    for (k, v) in [
        ("OBJECT", fits::core::Value::from("DEMO-FIELD")),
        ("BUNIT", "ELECTRONS/S".into()),
        ("CTYPE1", "RA---TAN".into()),
        ("CTYPE2", "DEC--TAN".into()),
        ("CRPIX1", 1024.5f64.into()),
        ("CRPIX2", 1024.5f64.into()),
        ("CRVAL1", 150.421375f64.into()),
        ("CRVAL2", 2.422383f64.into()),
        ("CD1_1", (-8.3333e-6f64).into()),
        ("CD1_2", 0.0f64.into()),
        ("CD2_1", 0.0f64.into()),
        ("CD2_2", 8.3333e-6f64.into()),
    ] {
        h.push(Card::new(k, v));
    }
    let mut w = FitsWriter::create(&path.display().to_string(), WriteOptions::overwrite()).await?;
    w.begin_image(h).await?;
    let stars: Vec<(f64, f64, f64)> = (0..600u64)
        .map(|k| (unit(1, k) * SIDE as f64, unit(2, k) * SIDE as f64, 1.0 + 60.0 * unit(3, k).powi(5)))
        .collect();
    let mut row = vec![0f32; SIDE];
    for y in 0..SIDE {
        for (x, v) in row.iter_mut().enumerate() {
            *v = (0.02 + 0.01 * (unit(4, (y * SIDE + x) as u64) - 0.5)) as f32;
        }
        for &(sx, sy, amp) in stars.iter().filter(|s| (s.1 - y as f64).abs() < 6.0) {
            let lo = (sx as usize).saturating_sub(6);
            for (x, v) in row.iter_mut().enumerate().take((sx as usize + 7).min(SIDE)).skip(lo) {
                let r2 = (x as f64 - sx).powi(2) + (y as f64 - sy).powi(2);
                *v += (amp * (-r2 / 5.0).exp()) as f32;
            }
        }
        w.write(&row).await?;
    }
    w.end_hdu().await?;
    Ok(w.finish().await?)
}

/// A deterministic value in [0, 1).
fn unit(seed: u64, i: u64) -> f64 {
    let mut z = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ i.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 31)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// The link the demo's loopback server emulates.
const RTT: std::time::Duration = std::time::Duration::from_millis(20);
const BYTES_PER_SEC: u64 = 100_000_000;

pub(crate) async fn run(session: &mut Session, keep: Option<PathBuf>) -> Result<()> {
    let tmp;
    let dir = match keep {
        Some(d) => {
            std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
            d
        }
        None => {
            tmp = tempfile::tempdir().context("creating a temporary folder")?;
            tmp.path().to_path_buf()
        }
    };
    let sample = dir.join("demo_sample.fits");
    write_sample(&sample).await?;
    let size = std::fs::metadata(&sample)?.len();
    println!("1. wrote the sample {} ({:.1} MB, {SIDE}x{SIDE} float32, TAN WCS)", sample.display(), size as f64 / 1e6);

    let server = fits_netsim::Server::start(fits_netsim::ServerConfig {
        latency: RTT,
        bytes_per_sec: Some(BYTES_PER_SEC),
        ..Default::default()
    })
    .await
    .context("starting the loopback server")?;
    server.put("/demo_sample.fits", std::fs::read(&sample)?);
    let url = server.url("/demo_sample.fits");
    println!("2. serving it at {url} with a {} ms round trip and {} MB/s", RTT.as_millis(), BYTES_PER_SEC / 1_000_000);

    let started = std::time::Instant::now();
    let (fits, profiler) = session.open_profiled(&url).await?;
    let image = fits.image(0)?;
    println!(
        "3. opened it remotely: {} HDU, image {:?} {} ({} request)",
        fits.len(),
        image.shape(),
        image.dtype(),
        server.requests().len()
    );

    let cut = dir.join("demo_cutout.fits");
    let section = section_of(&image, Some(SECTION))?;
    let rows = section.byte_ranges().len();
    let summary = fits::write_cutout(&section, &cut, WriteOptions::overwrite()).await?;
    let cut_wall = started.elapsed();
    let requests = server.requests();
    println!("4. cut out [{SECTION}] ({rows} rows) into {} ({} bytes)", cut.display(), summary.file_bytes);

    let out = Fits::open(&cut.display().to_string()).await?;
    let hdu = out.hdu(0)?;
    let v = hdu.verify_checksums().await?;
    let crpix1 = hdu.header().float("CRPIX1")?.unwrap_or(f64::NAN);
    let crpix2 = hdu.header().float("CRPIX2")?.unwrap_or(f64::NAN);
    println!(
        "5. checked the cutout: CHECKSUM {}, DATASUM {}; CRPIX shifted to ({crpix1}, {crpix2})",
        ok(v.checksum),
        ok(v.datasum)
    );
    let data = out.image(0)?.read::<f32>().await?;
    let s = Stats::of(data.as_slice().unwrap_or(&[]));
    println!(
        "6. statistics of the cutout: count {} mean {:.5} std {:.5} min {:.5} max {:.3}",
        s.count,
        s.mean(),
        s.std(),
        s.min,
        s.max
    );

    let t = std::time::Instant::now();
    let whole = fits::io::open(&url, &Default::default()).await?.read_range(0..size).await?;
    let whole_wall = t.elapsed();
    let report = profiler.report();
    println!("7. what the cutout cost, next to downloading the whole file over the same link:");
    println!("   {:<28} {:>9} {:>12} {:>10}", "", "requests", "bytes", "wall");
    println!(
        "   {:<28} {:>9} {:>12} {:>8.0} ms",
        "open + cutout (this library)",
        requests.len(),
        report.bytes,
        cut_wall.as_secs_f64() * 1e3
    );
    println!(
        "   {:<28} {:>9} {:>12} {:>8.0} ms",
        "whole-file download",
        1,
        whole.len(),
        whole_wall.as_secs_f64() * 1e3
    );
    println!(
        "   the cutout moved {:.1}% of the bytes in {:.0}% of the time (`fits --profile demo` lists every request)",
        100.0 * report.bytes as f64 / whole.len().max(1) as f64,
        100.0 * cut_wall.as_secs_f64() / whole_wall.as_secs_f64().max(1e-9)
    );

    // The same cutout from a tile-compressed copy, as archives store big images.
    let packed = dir.join("demo_sample.fits.fz");
    let values = fits.image(0)?.read_raw::<f32>().await?;
    let mut w = FitsWriter::create(&packed.display().to_string(), WriteOptions::overwrite()).await?;
    w.begin_compressed_image(fits.hdu(0)?.header().clone(), &Compression::default()).await?;
    w.write_raw(values.as_slice().context("the sample is contiguous")?).await?;
    w.end_hdu().await?;
    w.finish().await?;
    let packed_size = std::fs::metadata(&packed)?.len();
    server.put("/demo_sample.fits.fz", std::fs::read(&packed)?);
    let before = server.requests().len();
    let started = std::time::Instant::now();
    let (zfits, zprofiler) = session.open_profiled(&server.url("/demo_sample.fits.fz")).await?;
    let zimage = zfits.image(1)?;
    let zsection = section_of(&zimage, Some(SECTION))?;
    let tiles = zsection.tiles().len();
    let zdata = zsection.read::<f32>().await?;
    let z_wall = started.elapsed();
    let worst = zdata.iter().zip(data.iter()).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    println!(
        "8. the same cutout from a tile-compressed copy ({}, {:.1} MB: RICE_1, a row per tile, floats quantized at noise/4):",
        packed.display(),
        packed_size as f64 / 1e6
    );
    println!(
        "   {tiles} tiles read in {} requests, {} bytes, {:.0} ms; largest difference from the plain cutout {worst:.5}",
        server.requests().len() - before,
        zprofiler.report().bytes,
        z_wall.as_secs_f64() * 1e3
    );
    Ok(())
}

fn ok(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "valid",
        Some(false) => "INVALID",
        None => "absent",
    }
}
