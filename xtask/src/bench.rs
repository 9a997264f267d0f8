//! `cargo xtask bench`: our reads against astropy and fitsio on the generated files, in one run; writes docs/benchmarks.md.
//!
//! Our timings come from criterion (`benches/local.rs`, median of the samples);
//! astropy's and fitsio's from `benches/python/bench_local.py` (median of
//! repeats) in a virtual environment made here from PyPI. Peak memory of
//! whole processes is measured by `benches/python/rss.py` for every tool alike.

use crate::util::{self, Result, cargo};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Python packages of the comparison, pinned so runs compare like with like.
const PY_PACKAGES: [&str; 6] = ["astropy==8.0.2", "fitsio==1.4.2", "numpy<3", "fsspec", "aiohttp", "s3fs"];

/// (criterion name, description, target ratio to the faster reference, which reference).
const LOCAL: [(&str, &str, f64, &str); 5] = [
    ("sci_full_f32", "all of SCI (71 MB float32) into a native array", 0.5, "best"),
    ("cube_full_f32", "200x1024x1024 int16 cube, scaled to float32", 0.3, "fitsio"),
    ("sci_cutout_350x250", "cutout [1600:1950, 2000:2250] of SCI", 1.0, "fitsio"),
    ("cube_spectrum", "spectrum [:, 512, 512] of the cube", 1.0, "fitsio"),
    ("cube_plane0", "plane [0, :, :] of the cube", 1.0, "best"),
];

/// Tile-compressed scenarios: (criterion name, description, target ratio to astropy).
const COMPRESSED: [(&str, &str, f64); 2] = [
    ("rice_sci_full_f32", "all of SCI, RICE_1 (8.6 MB file, 71 MB decoded)", 0.4),
    ("rice_sci_cutout_350x250", "cutout [1600:1950, 2000:2250] of the RICE_1 SCI", 0.2),
];

pub(crate) fn run(args: &[String]) -> Result {
    let which = args.first().map(String::as_str).unwrap_or("local");
    match which {
        "local" => local().and_then(|_| compressed()),
        "remote" => crate::bench_remote::run(),
        "write" => crate::bench_write::run(),
        "compressed" => compressed(),
        "all" => local()
            .and_then(|_| compressed())
            .and_then(|_| crate::bench_remote::run())
            .and_then(|_| crate::bench_write::run()),
        other => Err(format!("unknown benchmark set {other:?} (try: local, compressed, remote, write, all)")),
    }
}

pub(crate) fn venv() -> Result<PathBuf> {
    let dir = crate::root().join("target/bench-venv");
    let python = dir.join("bin/python");
    if !python.exists() {
        util::run(Command::new("python3").args(["-m", "venv"]).arg(&dir))?;
    }
    let ok = Command::new(&python)
        .args(["-c", "import astropy, fitsio, numpy, fsspec, aiohttp, s3fs; assert astropy.__version__ == '8.0.2'"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        util::run(Command::new(&python).args(["-m", "pip", "install", "--quiet", "--upgrade", "pip"]))?;
        util::run(Command::new(&python).args(["-m", "pip", "install", "--quiet"]).args(PY_PACKAGES))?;
    }
    Ok(python)
}

pub(crate) fn json_of(cmd: &mut Command) -> Result<Value> {
    let shown = format!("{cmd:?}");
    let out = cmd.current_dir(crate::root()).output().map_err(|e| format!("{shown}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{shown} failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().unwrap_or("");
    serde_json::from_str(last).map_err(|e| format!("{shown}: bad JSON {last:?}: {e}"))
}

/// Median of a criterion benchmark, in seconds.
fn criterion_median(group: &str, name: &str) -> Result<f64> {
    let p = crate::root().join(format!("target/criterion/{group}/{name}/new/estimates.json"));
    let v: Value = serde_json::from_slice(&std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?)
        .map_err(|e| format!("{}: {e}", p.display()))?;
    v["median"]["point_estimate"].as_f64().map(|ns| ns / 1e9).ok_or_else(|| format!("{}: no median", p.display()))
}

pub(crate) fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cores} cores, {cpu}, Linux {}", kernel.trim())
}

fn local() -> Result {
    let data = crate::data_dir();
    crate::gendata::run(&data, &[], false)?;
    let drc = data.join("drc_like.fits");
    let cube = data.join("cube_int16.fits");
    let python = venv()?;
    cargo(&["build", "--release", "--quiet", "-p", "fits-cli"])?;
    cargo(&["bench", "--quiet", "-p", "fits-benches", "--bench", "local"])?;
    let theirs = json_of(Command::new(&python).arg("benches/python/bench_local.py").arg(&drc).arg(&cube).arg("10"))?;
    let fits_bin = crate::root().join("target/release/fits");
    let ours_rss = json_of(
        Command::new(&python)
            .arg("benches/python/rss.py")
            .arg(&fits_bin)
            .args(["stats"])
            .arg(&cube)
            .args(["--per-plane", "--json"]),
    )?;
    let astropy_rss = json_of(
        Command::new(&python)
            .arg("benches/python/rss.py")
            .arg(&python)
            .arg("benches/python/astropy_per_plane.py")
            .arg(&cube),
    )?;
    let mut rows = Vec::new();
    let mut results = Vec::new();
    for (name, what, target, reference) in LOCAL {
        let ours = criterion_median("local", name)?;
        let astropy = theirs["astropy"][name].as_f64().ok_or(format!("astropy result {name} missing"))?;
        let fitsio = theirs["fitsio"][name].as_f64().ok_or(format!("fitsio result {name} missing"))?;
        let base = if reference == "fitsio" { fitsio } else { astropy.min(fitsio) };
        let ratio = ours / base;
        let met = ratio <= target;
        let target_text =
            if target == 1.0 { format!("≤ 1x {reference}") } else { format!("≤ {target}x {reference}") };
        rows.push(format!(
            "| {what} | {} | {} | {} | {ratio:.2}x {reference} | {target_text} | {} |",
            ms(ours),
            ms(astropy),
            ms(fitsio),
            if met { "yes" } else { "**no**" }
        ));
        results.push(json!({"scenario": name, "ours_s": ours, "astropy_s": astropy, "fitsio_s": fitsio, "ratio": ratio, "target": target, "met": met}));
    }
    let rss = ours_rss["maxrss_mb"].as_f64().unwrap_or(f64::NAN);
    rows.push(format!(
        "| `fits stats --per-plane` on the 419 MB cube: peak RSS | {rss:.1} MB ({:.2} s) | {:.1} MB ({:.2} s, `.section` per plane) | – | – | ≤ 64 MB | {} |",
        ours_rss["wall_s"].as_f64().unwrap_or(f64::NAN),
        astropy_rss["maxrss_mb"].as_f64().unwrap_or(f64::NAN),
        astropy_rss["wall_s"].as_f64().unwrap_or(f64::NAN),
        if rss <= 64.0 { "yes" } else { "**no**" }
    ));
    let versions = &theirs["versions"];
    let section = format!(
        "Measured {date} on {machine}; astropy {}, fitsio {}, numpy {}. Times are medians; files in the page cache; every measurement opens the file and reads into a native-endian array.\n\n\
         | scenario | ours | astropy | fitsio | ours / reference | target | met |\n|---|---|---|---|---|---|---|\n{}\n",
        versions["astropy"].as_str().unwrap_or("?"),
        versions["fitsio"].as_str().unwrap_or("?"),
        versions["numpy"].as_str().unwrap_or("?"),
        rows.join("\n"),
        date = today(),
        machine = machine(),
    );
    let record = json!({"date": today(), "machine": machine(), "versions": versions, "results": results, "rss": {"ours": ours_rss, "astropy": astropy_rss}});
    publish("local", &record, &section)
}

/// Local reads of the tile-compressed SCI against astropy (and fitsio, for reference).
fn compressed() -> Result {
    let data = crate::data_dir();
    crate::gendata::run(&data, &[], false)?;
    let rice = data.join("drc_rice.fits");
    let python = venv()?;
    cargo(&["bench", "--quiet", "-p", "fits-benches", "--bench", "compressed"])?;
    let theirs = json_of(Command::new(&python).arg("benches/python/bench_compressed.py").arg(&rice).arg("10"))?;
    let mut rows = Vec::new();
    let mut results = Vec::new();
    for (name, what, target) in COMPRESSED {
        let ours = criterion_median("compressed", name)?;
        let astropy = theirs["astropy"][name].as_f64().ok_or(format!("astropy result {name} missing"))?;
        let fitsio = theirs["fitsio"][name].as_f64().ok_or(format!("fitsio result {name} missing"))?;
        let ratio = ours / astropy;
        let met = ratio <= target;
        rows.push(format!(
            "| {what} | {} | {} | {} | {ratio:.2}x astropy ({:.2}x fitsio) | ≤ {target}x astropy | {} |",
            ms(ours),
            ms(astropy),
            ms(fitsio),
            ours / fitsio,
            if met { "yes" } else { "**no**" }
        ));
        results.push(json!({"scenario": name, "ours_s": ours, "astropy_s": astropy, "fitsio_s": fitsio, "ratio": ratio, "target": target, "met": met}));
    }
    let section = format!(
        "Measured {date} on {machine}. Times are medians; the file in the page cache; every measurement opens the file and decodes into a native-endian float32 array.\n\n\
         | scenario | ours | astropy | fitsio | ours / reference | target | met |\n|---|---|---|---|---|---|---|\n{}\n",
        rows.join("\n"),
        date = today(),
        machine = machine(),
    );
    publish("compressed", &json!({"date": today(), "machine": machine(), "results": results}), &section)
}

pub(crate) fn ms(s: f64) -> String {
    if s < 0.01 { format!("{:.3} ms", s * 1e3) } else { format!("{:.1} ms", s * 1e3) }
}

pub(crate) fn today() -> String {
    let out = Command::new("date").arg("-u").arg("+%Y-%m-%d").output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).unwrap_or_default()
}

/// Records a benchmark set: its results as `target/bench-results/{key}.json`, its table in
/// docs/benchmarks.md between the `{key}` markers, and on standard output.
pub(crate) fn publish(key: &str, record: &Value, section: &str) -> Result {
    let dir = crate::root().join("target/bench-results");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(format!("{key}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(record).unwrap_or_default())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    update_doc(&crate::root().join("docs/benchmarks.md"), key, section)?;
    println!("{section}");
    Ok(())
}

/// Replaces the text between `<!-- {key}:begin -->` and `<!-- {key}:end -->` in a document.
fn update_doc(path: &Path, key: &str, body: &str) -> Result {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let (begin, end) = (format!("<!-- {key}:begin -->"), format!("<!-- {key}:end -->"));
    let (Some(a), Some(b)) = (text.find(&begin), text.find(&end)) else {
        return Err(format!("{}: markers {begin} / {end} not found", path.display()));
    };
    let updated = format!("{}{begin}\n{body}{}", &text[..a], &text[b..]);
    std::fs::write(path, updated).map_err(|e| format!("{}: {e}", path.display()))
}
