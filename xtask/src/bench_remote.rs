//! `cargo xtask bench remote`: the seed scenarios over HTTP (nginx) and S3 (Garage), each server
//! behind our link emulator (20 ms added round trip, 100 MB/s per connection), run with our CLI
//! and with astropy + fsspec/s3fs (default settings) in the same run. Requests and bytes are
//! counted by the link for both tools alike (bytes on the wire, HTTP headers included).

use crate::bench::{json_of, machine, ms, publish, today, venv};
use crate::servers::{BUCKET, Servers};
use crate::util::{Result, cargo};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A scenario: id, description, file, our CLI arguments (`{url}`, `{tmp}` substituted),
/// target wall ratio to astropy, byte budget.
struct Scenario {
    id: &'static str,
    what: &'static str,
    file: &'static str,
    ours: &'static [&'static str],
    ratio: f64,
    max_bytes: Option<u64>,
}

/// The cutout of the tile-compressed SCI: rows and columns.
const RICE_ROWS: std::ops::Range<usize> = 1600..1950;
const RICE_COLS: std::ops::Range<usize> = 2000..2250;

/// Files the scenarios read (served by nginx, uploaded to Garage).
const FILES: [&str; 3] = ["drc_like.fits", "cube_int16.fits", "drc_rice.fits"];

const SCENARIOS: [Scenario; 7] = [
    Scenario {
        id: "header4",
        what: "header of HDU 4 (HDRTAB)",
        file: "drc_like.fits",
        ours: &["header", "{url}", "--hdu", "4"],
        ratio: 0.25,
        max_bytes: Some(512_000),
    },
    Scenario {
        id: "cutout1",
        what: "cutout [1600:1950, 2000:2250] of HDU 1",
        file: "drc_like.fits",
        ours: &[
            "cutout",
            "{url}",
            "--hdu",
            "1",
            "--section",
            "1600:1950,2000:2250",
            "-o",
            "{tmp}/c1.fits",
            "--overwrite",
        ],
        ratio: 0.125,
        // Never more than the span of the rows touched: 349 row strides plus one row, plus headers.
        max_bytes: Some(349 * 16_880 + 1000 + 66_240),
    },
    Scenario {
        id: "cutout2",
        what: "cutout [10:20, 30:50] of HDU 2",
        file: "drc_like.fits",
        ours: &["cutout", "{url}", "--hdu", "2", "--section", "10:20,30:50", "-o", "{tmp}/c2.fits", "--overwrite"],
        ratio: 0.25,
        max_bytes: Some(300_000),
    },
    Scenario {
        id: "spectrum",
        what: "spectrum [:, 512, 512] of the 419 MB cube",
        file: "cube_int16.fits",
        ours: &["stats", "{url}", "--section", ":,512,512", "--json"],
        ratio: 0.05,
        max_bytes: Some(2_000_000),
    },
    Scenario {
        id: "plane",
        what: "plane [0, :, :] of the cube",
        file: "cube_int16.fits",
        ours: &["stats", "{url}", "--section", "0,:,:", "--json"],
        ratio: 0.7,
        max_bytes: Some(2_300_000),
    },
    Scenario {
        id: "hdu1",
        what: "all of HDU 1 (71 MB)",
        file: "drc_like.fits",
        ours: &["stats", "{url}", "--hdu", "1", "--json"],
        ratio: 0.7,
        max_bytes: None,
    },
    Scenario {
        id: "rice_cutout",
        what: "cutout [1600:1950, 2000:2250] of the RICE_1 SCI (8.6 MB file)",
        file: "drc_rice.fits",
        ours: &[
            "cutout",
            "{url}",
            "--hdu",
            "1",
            "--section",
            "1600:1950,2000:2250",
            "-o",
            "{tmp}/rice.fits",
            "--overwrite",
        ],
        ratio: 1.0 / 3.0,
        // Twice the touched tiles' compressed bytes and index rows: set from the file at run time.
        max_bytes: None,
    },
];

/// Twice the compressed bytes of the tiles a cutout of HDU 1 of `path` touches, plus their
/// table rows: the byte budget of the compressed cutout.
fn touched_tiles_budget(path: &std::path::Path) -> Result<u64> {
    use fits_core::tiled::TiledImage;
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let index = fits_core::IndexDecoder::decode_all(&bytes).map_err(|e| e.to_string())?;
    let hdu = index.hdus.get(1).ok_or("no HDU 1")?;
    let tiled = TiledImage::from_header(&hdu.header, hdu.layout.data_len).map_err(|e| e.to_string())?;
    let start = hdu.layout.data_start as usize;
    let grid = &tiled.grid;
    let mut total = 0u64;
    for k in 0..tiled.tile_count() {
        let region = grid.region(k);
        let hit = region[0].start < RICE_ROWS.end
            && RICE_ROWS.start < region[0].end
            && region[1].start < RICE_COLS.end
            && RICE_COLS.start < region[1].end;
        if hit {
            let r = tiled.row_range(k);
            let row = tiled
                .read_row(k, &bytes[start + r.start as usize..start + r.end as usize])
                .map_err(|e| e.to_string())?;
            let h = row.heap_range();
            total += (r.end - r.start) + (h.end - h.start);
        }
    }
    Ok(2 * total)
}

/// A running link emulator process and its stats file.
struct LinkProc {
    child: Child,
    addr: String,
    stats: PathBuf,
}

impl Drop for LinkProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl LinkProc {
    fn start(upstream: &str, stats: PathBuf) -> Result<LinkProc> {
        let bin = crate::root().join("target/release/fits-netsim");
        let mut child = Command::new(&bin)
            .args(["link", "--upstream", upstream, "--rtt-ms", "20", "--mbps", "100", "--stats"])
            .arg(&stats)
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{}: {e}", bin.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout from fits-netsim")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map_err(|e| e.to_string())?;
        let addr =
            line.trim().strip_prefix("listening ").ok_or_else(|| format!("fits-netsim said {line:?}"))?.to_string();
        Ok(LinkProc { child, addr, stats })
    }

    /// (requests, bytes down) so far, once the stats file has caught up.
    fn counters(&self) -> (u64, u64) {
        std::thread::sleep(Duration::from_millis(120));
        let v: Value =
            std::fs::read(&self.stats).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or(Value::Null);
        (v["requests"].as_u64().unwrap_or(0), v["bytes_down"].as_u64().unwrap_or(0))
    }
}

/// The round trip the link adds, as a client sees it: the median time of one-byte range
/// requests over a kept-alive connection (the server's own time included).
fn link_round_trip(addr: &str, path: &str) -> Result<f64> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).map_err(|e| format!("{addr}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    let request = format!("GET /{path} HTTP/1.1\r\nHost: {addr}\r\nRange: bytes=0-0\r\n\r\n");
    let mut times = Vec::new();
    for _ in 0..9 {
        let t = Instant::now();
        stream.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
        // The answer is headers and one byte of body.
        let mut got = Vec::new();
        let mut byte = [0u8; 1];
        while !got.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).map_err(|e| format!("{addr}: reading a response: {e}"))?;
            got.push(byte[0]);
        }
        stream.read_exact(&mut byte).map_err(|e| format!("{addr}: reading a response body: {e}"))?;
        times.push(t.elapsed().as_secs_f64());
    }
    Ok(median_of(&mut times))
}

/// The median of `values` (the upper one of an even count).
fn median_of(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// One measured run: wall seconds, requests, bytes.
type Run = (f64, u64, u64);

fn median(runs: &mut [Run]) -> Run {
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    runs[runs.len() / 2]
}

fn measure(link: &LinkProc, repeat: usize, mut run: impl FnMut() -> Result<f64>) -> Result<Run> {
    let mut runs = Vec::new();
    for _ in 0..repeat {
        let (r0, b0) = link.counters();
        let wall = run()?;
        let (r1, b1) = link.counters();
        runs.push((wall, r1 - r0, b1 - b0));
    }
    Ok(median(&mut runs))
}

pub(crate) fn run() -> Result {
    let data = crate::data_dir();
    crate::gendata::run(&data, &[], false)?;
    let python = venv()?;
    cargo(&["build", "--release", "--quiet", "-p", "fits-cli", "-p", "fits-netsim"])?;
    crate::servers::ensure_garage()?;
    let servers = Servers::start()?;
    let env = |k: &str| servers.env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let www = PathBuf::from(env("FITS_TEST_NGINX_ROOT"));
    let rice_budget = touched_tiles_budget(&data.join("drc_rice.fits"))?;
    for f in FILES {
        let _ = std::fs::remove_file(www.join(f));
        std::os::unix::fs::symlink(data.join(f), www.join(f)).map_err(|e| e.to_string())?;
    }
    let s3_direct = env("AWS_ENDPOINT_URL");
    let aws: Vec<(String, String)> = servers.env.iter().filter(|(k, _)| k.starts_with("AWS_")).cloned().collect();
    let mut up = Command::new(&python);
    up.arg("benches/python/s3_upload.py").arg(&s3_direct).arg(BUCKET).args(FILES.map(|f| data.join(f)));
    crate::util::run(up.envs(aws.iter().cloned()))?;

    let tmp = std::env::temp_dir().join(format!("fits-bench-remote-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
    let nginx_host = env("FITS_TEST_NGINX_URL").trim_start_matches("http://").to_string();
    let s3_host = s3_direct.trim_start_matches("http://").to_string();
    let http_link = LinkProc::start(&nginx_host, tmp.join("http-link.json"))?;
    let s3_link = LinkProc::start(&s3_host, tmp.join("s3-link.json"))?;
    let fits_bin = crate::root().join("target/release/fits");
    let link_rtt = link_round_trip(&http_link.addr, FILES[0])?;
    let direct_rtt = link_round_trip(&nginx_host, FILES[0])?;
    eprintln!("bench remote: round trip through the link {}, straight to nginx {}", ms(link_rtt), ms(direct_rtt));

    let mut rows = Vec::new();
    let mut results = Vec::new();
    for transport in ["HTTP", "S3"] {
        let link = if transport == "HTTP" { &http_link } else { &s3_link };
        let endpoint = format!("http://{}", link.addr);
        for sc in &SCENARIOS {
            let url = if transport == "HTTP" {
                format!("{endpoint}/{}", sc.file)
            } else {
                format!("s3://{BUCKET}/{}", sc.file)
            };
            let args: Vec<String> =
                sc.ours.iter().map(|a| a.replace("{url}", &url).replace("{tmp}", &tmp.display().to_string())).collect();
            let ours = measure(link, 5, || {
                let t = Instant::now();
                let out = Command::new(&fits_bin)
                    .args(&args)
                    .envs(aws.iter().cloned())
                    .env("AWS_ENDPOINT_URL", &endpoint)
                    .stdout(Stdio::null())
                    .output()
                    .map_err(|e| e.to_string())?;
                if !out.status.success() {
                    return Err(format!("fits {args:?}: {}", String::from_utf8_lossy(&out.stderr)));
                }
                Ok(t.elapsed().as_secs_f64())
            })?;
            let mut reads = Vec::new();
            let astropy = measure(link, 3, || {
                let mut c = Command::new(&python);
                c.arg("benches/python/astropy_remote.py").arg(sc.id).arg(&url).arg(&endpoint).envs(aws.iter().cloned());
                let v = json_of(&mut c)?;
                reads.push(v["read_s"].as_f64().unwrap_or(f64::NAN));
                Ok(v["wall_s"].as_f64().unwrap_or(f64::NAN))
            })?;
            let astropy_read = median_of(&mut reads);
            let ratio = ours.0 / astropy.0;
            let max_bytes = if sc.id == "rice_cutout" { Some(rice_budget) } else { sc.max_bytes };
            let bytes_ok = max_bytes.is_none_or(|m| ours.2 <= m);
            let met = ratio <= sc.ratio && bytes_ok;
            let budget = max_bytes.map(|m| format!(", ≤ {}", kb(m))).unwrap_or_default();
            eprintln!("bench remote: {transport} {} ours {} astropy {} ({ratio:.3})", sc.id, ms(ours.0), ms(astropy.0));
            rows.push(format!(
                "| {transport} | {} | {} · {} req · {} | {} · {} req · {} | {ratio:.3}x | {:.3}x | ≤ {}x{budget} | {} |",
                sc.what,
                ms(ours.0),
                ours.1,
                kb(ours.2),
                ms(astropy.0),
                astropy.1,
                kb(astropy.2),
                ours.0 / astropy_read,
                if (sc.ratio - 1.0 / 3.0).abs() < 1e-9 { "1/3".to_string() } else { sc.ratio.to_string() },
                if met { "yes" } else { "**no**" }
            ));
            results.push(json!({"transport": transport, "scenario": sc.id, "ours": {"wall_s": ours.0, "requests": ours.1, "bytes": ours.2},
                "astropy": {"wall_s": astropy.0, "read_s": astropy_read, "requests": astropy.1, "bytes": astropy.2}, "ratio": ratio, "target": sc.ratio, "max_bytes": max_bytes, "met": met}));
        }
    }
    let versions = json_of(Command::new(&python).args([
        "-c",
        "import json, astropy, fsspec, s3fs, aiohttp; print(json.dumps({'astropy': astropy.__version__, 'fsspec': fsspec.__version__, 's3fs': s3fs.__version__, 'aiohttp': aiohttp.__version__}))",
    ]))?;
    let section = format!(
        "Measured {} on {}; astropy {}, fsspec {}, s3fs {}, aiohttp {}. Each cell: median wall time · requests · bytes on the wire \
         (counted by the link for both tools, HTTP headers included). Ours runs the `fits` command (process start included); \
         astropy's time covers `fits.open(..., use_fsspec=True)`, the read and the same output as our command \
         (the cutout written to a FITS file, the statistics computed, the header formatted), imports excluded; \
         the column after the ratio compares with astropy's open and read alone. \
         A one-byte request took {} through the link and {} straight to nginx (median of 9).\n\n\
         | via | scenario | ours | astropy + fsspec/s3fs | ours / astropy | ours / astropy's read alone | target | met |\n|---|---|---|---|---|---|---|---|\n{}\n",
        today(),
        machine(),
        versions["astropy"].as_str().unwrap_or("?"),
        versions["fsspec"].as_str().unwrap_or("?"),
        versions["s3fs"].as_str().unwrap_or("?"),
        versions["aiohttp"].as_str().unwrap_or("?"),
        ms(link_rtt),
        ms(direct_rtt),
        rows.join("\n")
    );
    publish(
        "remote",
        &json!({"date": today(), "machine": machine(), "versions": versions, "link_round_trip_s": link_rtt,
            "direct_round_trip_s": direct_rtt, "results": results}),
        &section,
    )?;
    drop(servers);
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}

fn kb(bytes: u64) -> String {
    if bytes >= 1_000_000 { format!("{:.1} MB", bytes as f64 / 1e6) } else { format!("{:.0} kB", bytes as f64 / 1e3) }
}
