//! `cargo xtask gen-data`: the deterministic benchmark files described in docs/benchmarks.md.

use fits_core::checksum::{Checksum, set_checksums};
use fits_core::write::image_header;
use fits_core::{Card, DType, Header, Value, padded};
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

type Result<T> = std::result::Result<T, String>;

/// The files gen-data can write (in this order: drc_rice.fits is made from drc_like.fits).
pub(crate) const FILES: [&str; 3] = ["drc_like.fits", "cube_int16.fits", "drc_rice.fits"];

/// Writes the named files (all when `names` is empty) into `dir`, skipping those already present unless `force`.
pub(crate) fn run(dir: &Path, names: &[String], force: bool) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut written = Vec::new();
    for name in FILES {
        if !names.is_empty() && !names.iter().any(|n| n == name) {
            continue;
        }
        let path = dir.join(name);
        if path.exists() && !force {
            written.push(path);
            continue;
        }
        let tmp = dir.join(format!(".{name}.part"));
        let t = std::time::Instant::now();
        match name {
            "drc_like.fits" => drc_like(&tmp)?,
            "cube_int16.fits" => cube(&tmp)?,
            "drc_rice.fits" => drc_rice(&dir.join("drc_like.fits"), &tmp)?,
            _ => unreachable!(),
        }
        std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!("gen-data: wrote {} in {:.1} s", path.display(), t.elapsed().as_secs_f64());
        written.push(path);
    }
    Ok(written)
}

/// The SCI image of `drc_like.fits`, tile-compressed as fpack does by default (RICE_1, one
/// row per tile, floats quantized at q = 4 with SUBTRACTIVE_DITHER_1), by our own `fits compress`.
fn drc_rice(drc: &Path, out: &Path) -> Result<()> {
    if !drc.exists() {
        return Err(format!("{}: needed to make drc_rice.fits (run gen-data for it first)", drc.display()));
    }
    crate::util::cargo(&["build", "--release", "--quiet", "-p", "fits-cli"])?;
    let fits = crate::root().join("target/release/fits");
    crate::util::run(std::process::Command::new(&fits).arg("compress").arg(drc).arg(out).args([
        "--hdu",
        "SCI",
        "--codec",
        "rice",
        "--tile",
        "4220x1",
        "-q",
        "4",
        "--overwrite",
    ]))
}

/// A counter-based generator: the value at an index never depends on evaluation order.
fn hash(seed: u64, i: u64) -> u64 {
    let mut z = seed.wrapping_add(i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn uniform(seed: u64, i: u64) -> f64 {
    (hash(seed, i) >> 11) as f64 / (1u64 << 53) as f64
}

/// Approximately normal noise (sum of four uniforms, unit variance).
fn normal(seed: u64, i: u64) -> f64 {
    let s: f64 = (0..4).map(|k| uniform(seed ^ (k * 0x1234_5678), i)).sum();
    (s - 2.0) * (3.0f64).sqrt()
}

/// Streams HDUs into a file: each header is written first with room for its checksums, then patched.
struct HduStream {
    out: BufWriter<File>,
    path: String,
}

impl HduStream {
    fn create(path: &Path) -> Result<HduStream> {
        let f = File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(HduStream { out: BufWriter::with_capacity(4 << 20, f), path: path.display().to_string() })
    }

    fn err(&self, e: impl std::fmt::Display) -> String {
        format!("{}: {e}", self.path)
    }

    /// Writes one HDU; `fill` is called with a buffer to append the next data bytes to and returns false when done.
    fn hdu(&mut self, mut header: Header, data_len: u64, mut fill: impl FnMut(&mut Vec<u8>) -> bool) -> Result<()> {
        set_checksums(&mut header, 0).map_err(|e| self.err(e))?;
        let start = self.out.stream_position().map_err(|e| self.err(e))?;
        let bytes = header.to_bytes().map_err(|e| self.err(e))?;
        self.out.write_all(&bytes).map_err(|e| self.err(e))?;
        let mut sum = Checksum::new();
        let mut buf = Vec::with_capacity(1 << 20);
        let mut written = 0u64;
        loop {
            buf.clear();
            let more = fill(&mut buf);
            sum.update(&buf);
            written += buf.len() as u64;
            self.out.write_all(&buf).map_err(|e| self.err(e))?;
            if !more {
                break;
            }
        }
        if written != data_len {
            return Err(self.err(format!("generated {written} data bytes, header announces {data_len}")));
        }
        let pad = vec![0u8; (padded(data_len) - data_len) as usize];
        self.out.write_all(&pad).map_err(|e| self.err(e))?;
        set_checksums(&mut header, sum.value()).map_err(|e| self.err(e))?;
        let end = self.out.stream_position().map_err(|e| self.err(e))?;
        self.out.seek(SeekFrom::Start(start)).map_err(|e| self.err(e))?;
        self.out.write_all(&header.to_bytes().map_err(|e| self.err(e))?).map_err(|e| self.err(e))?;
        self.out.seek(SeekFrom::Start(end)).map_err(|e| self.err(e))?;
        Ok(())
    }

    fn finish(mut self) -> Result<()> {
        self.out.flush().map_err(|e| self.err(e))?;
        self.out.get_ref().sync_all().map_err(|e| self.err(e))
    }
}

fn cards(h: &mut Header, list: &[(&str, Value, &str)]) {
    for (k, v, c) in list {
        h.push(Card::new(k, v.clone()).with_comment(*c));
    }
}

const NX: usize = 4220;
const NY: usize = 4200;

/// Whether pixel (x, y) lies in the rotated footprint of the drizzled exposure.
fn inside(x: usize, y: usize) -> bool {
    let (cx, cy) = (NX as f64 / 2.0, NY as f64 / 2.0);
    let (dx, dy) = (x as f64 - cx, y as f64 - cy);
    let (c, s) = (0.17f64.cos(), 0.17f64.sin());
    let (u, v) = (c * dx + s * dy, -s * dx + c * dy);
    u.abs() < 1800.0 && v.abs() < 1850.0
}

fn sky_wcs(h: &mut Header) {
    let scale = 0.03 / 3600.0;
    let (c, s) = (0.17f64.cos(), 0.17f64.sin());
    cards(
        h,
        &[
            ("WCSAXES", 2i64.into(), "number of World Coordinate System axes"),
            ("CRPIX1", 2110.5f64.into(), "x-coordinate of reference pixel"),
            ("CRPIX2", 2100.5f64.into(), "y-coordinate of reference pixel"),
            ("CRVAL1", 150.421375f64.into(), "first axis value at reference pixel"),
            ("CRVAL2", 2.422383f64.into(), "second axis value at reference pixel"),
            ("CTYPE1", "RA---TAN".into(), "the coordinate type for the first axis"),
            ("CTYPE2", "DEC--TAN".into(), "the coordinate type for the second axis"),
            ("CD1_1", (-scale * c).into(), "partial of first axis coordinate w.r.t. x"),
            ("CD1_2", (scale * s).into(), "partial of first axis coordinate w.r.t. y"),
            ("CD2_1", (scale * s).into(), "partial of second axis coordinate w.r.t. x"),
            ("CD2_2", (scale * c).into(), "partial of second axis coordinate w.r.t. y"),
            ("RADESYS", "ICRS".into(), "reference frame of celestial coordinates"),
        ],
    );
}

fn primary_header() -> Header {
    let mut h = image_header(DType::U8, &[], true);
    cards(
        &mut h,
        &[
            ("NEXTEND", 4i64.into(), "number of standard extensions"),
            ("DATE", "2026-01-15T00:00:00".into(), "date this file was written (yyyy-mm-dd)"),
            ("FILENAME", "drc_like.fits".into(), "name of file"),
            ("FILETYPE", "SCI".into(), "type of data found in data file"),
            ("TELESCOP", "HST".into(), "telescope used to acquire data"),
            ("INSTRUME", "ACS".into(), "identifier for instrument used to acquire data"),
            ("EQUINOX", 2000.0f64.into(), "equinox of celestial coord. system"),
            ("ROOTNAME", "jsyn01010".into(), "rootname of the observation set"),
            ("PRIMESI", "ACS".into(), "instrument designated as prime"),
            ("TARGNAME", "COSMOS-SYNTH".into(), "proposer's target name"),
            ("RA_TARG", 150.421375f64.into(), "right ascension of the target (deg) (J2000)"),
            ("DEC_TARG", 2.422383f64.into(), "declination of the target (deg) (J2000)"),
            ("DETECTOR", "WFC".into(), "detector in use: WFC, HRC, or SBC"),
            ("FILTER1", "F814W".into(), "element selected from filter wheel 1"),
            ("FILTER2", "CLEAR2L".into(), "element selected from filter wheel 2"),
            ("EXPTIME", 2028.0f64.into(), "exposure duration (seconds)--calculated"),
            ("PHOTFLAM", 7.0723600e-20f64.into(), "inverse sensitivity, ergs/cm2/Ang/electron"),
            ("PHOTZPT", (-21.1f64).into(), "ST magnitude zero point"),
            ("PHOTPLAM", 8045.0f64.into(), "Pivot wavelength (Angstroms)"),
        ],
    );
    // A long history, as pipeline products carry.
    for i in 0..180 {
        h.push(Card::history(format!(
            "drizzle step {i:03}: pixfrac=0.8 kernel='square' wt_scl='exptime' fillval=INDEF"
        )));
    }
    h
}

fn table_header() -> Header {
    let mut h = Header::new();
    cards(
        &mut h,
        &[
            ("XTENSION", "BINTABLE".into(), "binary table extension"),
            ("BITPIX", 8i64.into(), "array data type"),
            ("NAXIS", 2i64.into(), "number of array dimensions"),
            ("NAXIS1", 57i64.into(), "length of dimension 1"),
            ("NAXIS2", 4i64.into(), "length of dimension 2"),
            ("PCOUNT", 0i64.into(), "number of group parameters"),
            ("GCOUNT", 1i64.into(), "number of groups"),
            ("TFIELDS", 5i64.into(), "number of table fields"),
            ("TTYPE1", "ROOTNAME".into(), ""),
            ("TFORM1", "9A".into(), ""),
            ("TTYPE2", "EXPTIME".into(), ""),
            ("TFORM2", "D".into(), ""),
            ("TTYPE3", "CRVAL1".into(), ""),
            ("TFORM3", "D".into(), ""),
            ("TTYPE4", "CRVAL2".into(), ""),
            ("TFORM4", "D".into(), ""),
            ("TTYPE5", "FILTER".into(), ""),
            ("TFORM5", "24A".into(), ""),
            ("EXTNAME", "HDRTAB".into(), "extension name"),
        ],
    );
    h
}

fn table_rows() -> Vec<u8> {
    let mut out = Vec::new();
    for r in 0..4u64 {
        let mut name = format!("jsyn0101{r}").into_bytes();
        name.resize(9, b' ');
        out.extend(name);
        out.extend(507.0f64.to_be_bytes());
        out.extend((150.421375 + r as f64 * 1e-4).to_be_bytes());
        out.extend((2.422383 - r as f64 * 1e-4).to_be_bytes());
        let mut f = b"F814W;CLEAR2L".to_vec();
        f.resize(24, b' ');
        out.extend(f);
    }
    out
}

fn image_ext(dtype: DType, name: &str, bunit: &str) -> Header {
    let mut h = image_header(dtype, &[NY, NX], false);
    cards(
        &mut h,
        &[
            ("EXTNAME", name.into(), "extension name"),
            ("EXTVER", 1i64.into(), "extension version number"),
            ("BUNIT", bunit.into(), "brightness units"),
            ("INHERIT", true.into(), "inherit the primary header"),
        ],
    );
    sky_wcs(&mut h);
    for i in 0..60 {
        h.push(Card::new(&format!("D{i:03}VER"), "WCS Version 1.1").with_comment("drizzle, task version"));
    }
    h
}

/// Stars: (x, y, amplitude), sorted by y.
fn stars() -> Vec<(f64, f64, f64)> {
    let mut s: Vec<(f64, f64, f64)> = (0..4000u64)
        .map(|k| (uniform(11, k) * NX as f64, uniform(12, k) * NY as f64, 0.5 + 80.0 * uniform(13, k).powi(6)))
        .collect();
    s.sort_by(|a, b| a.1.total_cmp(&b.1));
    s
}

fn sci_row(y: usize, stars: &[(f64, f64, f64)], row: &mut [f32]) {
    for (x, v) in row.iter_mut().enumerate() {
        *v = if inside(x, y) { (0.02 + 0.01 * normal(7, (y * NX + x) as u64)) as f32 } else { 0.0 };
    }
    let lo = stars.partition_point(|s| s.1 < y as f64 - 6.0);
    for &(sx, sy, amp) in stars[lo..].iter().take_while(|s| s.1 <= y as f64 + 6.0) {
        let x0 = (sx as isize - 6).max(0) as usize;
        let x1 = ((sx as usize) + 7).min(NX);
        for (x, v) in row.iter_mut().enumerate().take(x1).skip(x0) {
            if *v != 0.0 {
                let r2 = (x as f64 - sx).powi(2) + (y as f64 - sy).powi(2);
                *v += (amp * (-r2 / (2.0 * 1.6 * 1.6)).exp()) as f32;
            }
        }
    }
}

/// An HST/ACS drizzled-image layout: PRIMARY, SCI f32, WHT f32, CTX i32 (4220 x 4200), HDRTAB.
fn drc_like(path: &Path) -> Result<()> {
    let mut out = HduStream::create(path)?;
    out.hdu(primary_header(), 0, |_| false)?;
    let stars = stars();
    let plane = (NX * NY * 4) as u64;
    let mut y = 0;
    let mut row = vec![0f32; NX];
    out.hdu(image_ext(DType::F32, "SCI", "ELECTRONS/S"), plane, |buf| {
        for _ in 0..64 {
            if y == NY {
                break;
            }
            sci_row(y, &stars, &mut row);
            for v in &row {
                buf.extend_from_slice(&v.to_be_bytes());
            }
            y += 1;
        }
        y < NY
    })?;
    let mut y = 0;
    out.hdu(image_ext(DType::F32, "WHT", "UNITLESS"), plane, |buf| {
        for _ in 0..64 {
            if y == NY {
                break;
            }
            for x in 0..NX {
                let w = if inside(x, y) {
                    1800.0 + 200.0 * ((x as f64 / 700.0).sin() * (y as f64 / 900.0).cos())
                } else {
                    0.0
                };
                buf.extend_from_slice(&(w as f32).to_be_bytes());
            }
            y += 1;
        }
        y < NY
    })?;
    let mut y = 0;
    out.hdu(image_ext(DType::I32, "CTX", "UNITLESS"), plane, |buf| {
        for _ in 0..64 {
            if y == NY {
                break;
            }
            for x in 0..NX {
                let c: i32 = if !inside(x, y) {
                    0
                } else if (x / 512 + y / 512) % 3 == 0 {
                    3
                } else {
                    1
                };
                buf.extend_from_slice(&c.to_be_bytes());
            }
            y += 1;
        }
        y < NY
    })?;
    let rows = table_rows();
    let mut done = false;
    out.hdu(table_header(), rows.len() as u64, |buf| {
        if !done {
            buf.extend_from_slice(&rows);
            done = true;
        }
        false
    })?;
    out.finish()
}

/// A 200 x 1024 x 1024 int16 cube with BSCALE, BZERO and BLANK.
fn cube(path: &Path) -> Result<()> {
    const NZ: usize = 200;
    const N: usize = 1024;
    const BLANK: i16 = -32768;
    let mut out = HduStream::create(path)?;
    let mut h = image_header(DType::I16, &[NZ, N, N], true);
    cards(
        &mut h,
        &[
            ("BSCALE", 0.02f64.into(), "physical = stored * BSCALE + BZERO"),
            ("BZERO", 600.0f64.into(), "physical = stored * BSCALE + BZERO"),
            ("BLANK", (BLANK as i64).into(), "stored value of undefined pixels"),
            ("BUNIT", "K".into(), "brightness temperature"),
            ("CTYPE1", "RA---SIN".into(), ""),
            ("CTYPE2", "DEC--SIN".into(), ""),
            ("CTYPE3", "FREQ".into(), ""),
            ("CRPIX1", 512.5f64.into(), ""),
            ("CRPIX2", 512.5f64.into(), ""),
            ("CRPIX3", 1.0f64.into(), ""),
            ("CRVAL1", 83.8221f64.into(), ""),
            ("CRVAL2", (-5.3911f64).into(), ""),
            ("CRVAL3", 1.42e9f64.into(), ""),
            ("CDELT1", (-1.0e-4f64).into(), ""),
            ("CDELT2", 1.0e-4f64.into(), ""),
            ("CDELT3", 1.0e5f64.into(), ""),
        ],
    );
    let len = (NZ * N * N * 2) as u64;
    let mut plane = 0usize;
    let mut row = 0usize;
    out.hdu(h, len, |buf| {
        for _ in 0..64 {
            if plane == NZ {
                break;
            }
            let line = 1.0 + 3.0 * (-((plane as f64 - 120.0) / 8.0).powi(2)).exp();
            // Physical values from about 4 to 620 K: stored = (value - BZERO) / BSCALE stays inside int16.
            for x in 0..N {
                let i = ((plane * N + row) * N + x) as u64;
                let (dx, dy) = (x as f64 - 512.0, row as f64 - 512.0);
                let blob = 150.0 * line * (-(dx * dx + dy * dy) / (2.0 * 150.0f64.powi(2))).exp();
                let v = if dx.abs() < 20.0 && (dy - 300.0).abs() < 20.0 || hash(3, i).is_multiple_of(5000) {
                    BLANK
                } else {
                    ((10.0 + blob + 2.0 * normal(5, i) - 600.0) / 0.02).round().clamp(-32767.0, 32767.0) as i16
                };
                buf.extend_from_slice(&v.to_be_bytes());
            }
            row += 1;
            if row == N {
                row = 0;
                plane += 1;
            }
        }
        plane < NZ
    })?;
    out.finish()
}
