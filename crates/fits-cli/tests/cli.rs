//! The `fits` command against its contract: JSON forms checked with astropy's numbers, cutouts checked by fitsverify.

mod common;

use common::{corpus, fits, fitsverify, ok};
use serde_json::Value;

fn manifest() -> Value {
    serde_json::from_slice(&std::fs::read(corpus("manifest.json")).unwrap()).unwrap()
}

#[test]
fn layout_json_matches_astropy_for_every_file() {
    for file in manifest()["files"].as_array().unwrap() {
        let name = file["file"].as_str().unwrap();
        let rows: Value = serde_json::from_str(&ok(&["layout", &corpus(name), "--json"])).unwrap();
        let expected = file["hdus"].as_array().unwrap();
        assert_eq!(rows.as_array().unwrap().len(), expected.len(), "{name}");
        for (row, exp) in rows.as_array().unwrap().iter().zip(expected) {
            for key in ["header_start", "data_start"] {
                assert_eq!(row[key], exp[key], "{name} HDU {} {key}", exp["index"]);
            }
            assert_eq!(row["data_span"], exp["data_span"], "{name} HDU {} data_span", exp["index"]);
            assert_eq!(row["index"], exp["index"]);
            assert_eq!(row["name"], exp["name"]);
            assert!(row["kind"].is_string() && row["data_len"].is_u64());
        }
    }
}

#[test]
fn info_lists_every_hdu() {
    let text = ok(&["info", &corpus("o4sp040b0_raw.fits")]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 8, "{text}");
    assert!(lines[2].contains("SCI") && lines[2].contains("(44, 62)") && lines[2].contains("uint16"), "{text}");
    let json: Value = serde_json::from_str(&ok(&["info", &corpus("test0.fits"), "--json"])).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 5);
    assert_eq!(json[1]["shape"], serde_json::json!([40, 40]));
    assert_eq!(json[1]["dtype"], "int16");
    assert_eq!(json[0]["kind"], "primary");
}

#[test]
fn header_prints_80_column_cards_to_end() {
    let text = ok(&["header", &corpus("o4sp040b0_raw.fits"), "--hdu", "SCI,2"]);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.iter().all(|l| l.len() == 80), "lines are not 80 columns");
    assert!(lines[0].starts_with("XTENSION= 'IMAGE   '"));
    assert!(lines.last().unwrap().starts_with("END"));
    assert!(text.contains("EXTVER  =                    2"), "{text}");
    // Default: the first HDU with data.
    let first = ok(&["header", &corpus("test0.fits")]);
    assert!(first.starts_with("XTENSION"), "{first}");
}

#[test]
fn stats_json_matches_astropy() {
    let m = manifest();
    for name in ["m13.fits", "arange.fits", "scale.fits", "blank.fits", "fixed-1890.fits"] {
        let exp = m["files"].as_array().unwrap().iter().find(|f| f["file"] == name).unwrap()["hdus"][0]["data"].clone();
        let s: Value = serde_json::from_str(&ok(&["stats", &corpus(name), "--json"])).unwrap();
        assert_eq!(s["nan"], exp["nan"], "{name}");
        assert_eq!(s["count"].as_u64().unwrap() + s["nan"].as_u64().unwrap(), exp["size"].as_u64().unwrap(), "{name}");
        let (a, b) = (s["sum"].as_f64().unwrap(), exp["sum"].as_f64().unwrap());
        assert!((a - b).abs() <= 1e-6 * b.abs().max(1.0), "{name}: sum {a} vs {b}");
        assert_eq!(s["min"].as_f64(), exp["min"].as_f64(), "{name}");
        assert_eq!(s["max"].as_f64(), exp["max"].as_f64(), "{name}");
        for key in ["shape", "count", "sum", "min", "max", "mean", "std", "nan"] {
            assert!(s.get(key).is_some(), "{name}: {key} missing");
        }
    }
}

#[test]
fn per_plane_stats_stream_along_the_first_axis() {
    let all: Value = serde_json::from_str(&ok(&["stats", &corpus("arange.fits"), "--json"])).unwrap();
    let planes: Value = serde_json::from_str(&ok(&["stats", &corpus("arange.fits"), "--per-plane", "--json"])).unwrap();
    let planes = planes["planes"].as_array().unwrap();
    assert_eq!(planes.len(), 7);
    let total: f64 = planes.iter().map(|p| p["sum"].as_f64().unwrap()).sum();
    assert_eq!(total, all["sum"].as_f64().unwrap());
    assert_eq!(planes[0]["shape"], serde_json::json!([10, 11]));
    assert_eq!(planes[6]["max"], 769.0);
    let spec: Value =
        serde_json::from_str(&ok(&["stats", &corpus("arange.fits"), "--section", ":,5,5", "--json"])).unwrap();
    assert_eq!(spec["shape"], serde_json::json!([7]));
    assert_eq!(spec["min"], 60.0);
}

#[test]
fn cutout_is_valid_fits_with_shifted_wcs_and_checksums() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cut.fits");
    let out_s = out.display().to_string();
    ok(&["cutout", &corpus("m13.fits"), "--section", "100:150,50:90", "-o", &out_s]);
    fitsverify(&out);
    let header = ok(&["header", &out_s]);
    let src_header = ok(&["header", &corpus("m13.fits")]);
    let value = |text: &str, key: &str| -> f64 {
        let line =
            text.lines().find(|l| l.starts_with(&format!("{key:<8}="))).unwrap_or_else(|| panic!("{key} missing"));
        line[10..].split('/').next().unwrap().trim().parse().unwrap()
    };
    assert_eq!(value(&header, "CRPIX1"), value(&src_header, "CRPIX1") - 50.0);
    assert_eq!(value(&header, "CRPIX2"), value(&src_header, "CRPIX2") - 100.0);
    assert!(header.contains("CHECKSUM=") && header.contains("DATASUM ="));
    // Every non-structural source card is carried over.
    for key in ["CDELT2", "CROTA1", "EQUINOX"] {
        assert_eq!(value(&header, key), value(&src_header, key), "{key}");
    }
    // The cutout's values are the source section's values.
    let a: Value = serde_json::from_str(&ok(&["stats", &out_s, "--json"])).unwrap();
    let b: Value =
        serde_json::from_str(&ok(&["stats", &corpus("m13.fits"), "--section", "100:150,50:90", "--json"])).unwrap();
    assert_eq!(a, b);
    // Existing output is not replaced without --overwrite.
    let again = fits(&["cutout", &corpus("m13.fits"), "-o", &out_s]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("cut.fits"));
    ok(&["cutout", &corpus("m13.fits"), "-o", &out_s, "--overwrite", "--section", "::2,::-3"]);
    fitsverify(&out);
}

#[test]
fn cutout_of_scaled_and_indexed_data() {
    let dir = tempfile::tempdir().unwrap();
    // BSCALE/BZERO source: physical float values are written.
    let out = dir.path().join("scaled.fits");
    ok(&["cutout", &corpus("scale.fits"), "--section", "2:10,3:7", "-o", &out.display().to_string()]);
    fitsverify(&out);
    let info: Value = serde_json::from_str(&ok(&["info", &out.display().to_string(), "--json"])).unwrap();
    assert_eq!(info[0]["dtype"], "float32");
    // An integer index keeps its axis with length 1 so the WCS axes keep their numbers.
    let out = dir.path().join("plane.fits");
    ok(&["cutout", &corpus("arange.fits"), "--section", "3,:,2:5", "-o", &out.display().to_string()]);
    fitsverify(&out);
    let info: Value = serde_json::from_str(&ok(&["info", &out.display().to_string(), "--json"])).unwrap();
    assert_eq!(info[0]["shape"], serde_json::json!([1, 10, 3]));
    // Unsigned data keeps its type.
    let out = dir.path().join("u16.fits");
    ok(&["cutout", &corpus("o4sp040b0_raw.fits"), "--hdu", "1", "-o", &out.display().to_string()]);
    fitsverify(&out);
    let info: Value = serde_json::from_str(&ok(&["info", &out.display().to_string(), "--json"])).unwrap();
    assert_eq!(info[0]["dtype"], "uint16");
}

#[test]
fn errors_name_the_file_and_the_problem() {
    let out = fits(&["info", "/nonexistent/file.fits"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/file.fits") && err.contains("not found"), "{err}");
    let out = fits(&["stats", &corpus("m13.fits"), "--section", "0:400"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("m13.fits") && err.contains("out of bounds"), "{err}");
    let out = fits(&["stats", &corpus("table.fits")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("HDU 1 is a bintable HDU, not an image"), "{err}");
    let out = fits(&["stats", &corpus("m13.fits"), "--section", "a:b"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an integer"));
    let out = fits(&["info", "ftp://example.org/x.fits"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown scheme"));
}

#[test]
fn profile_json_records_requests() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("profile.json");
    ok(&["--profile-json", &p.display().to_string(), "stats", &corpus("m13.fits"), "--section", "10:20,30:50"]);
    let prof: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    let log = prof["log"].as_array().unwrap();
    assert_eq!(prof["requests"].as_u64().unwrap() as usize, log.len());
    // The header read, then one request per row of the section.
    assert_eq!(log.len(), 1 + 10);
    assert_eq!(log[1]["len"], 40);
    let bytes: u64 = log.iter().map(|r| r["len"].as_u64().unwrap()).sum();
    assert_eq!(prof["bytes"].as_u64().unwrap(), bytes);
    assert!(prof["wall_s"].as_f64().unwrap() > 0.0);
    let out = fits(&["--profile", "info", &corpus("m13.fits")]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("requests: 1"));
}

#[test]
fn demo_runs_the_main_job() {
    let dir = tempfile::tempdir().unwrap();
    let text = ok(&["demo", "--keep", &dir.path().display().to_string()]);
    assert!(text.contains("CHECKSUM valid, DATASUM valid"), "{text}");
    fitsverify(&dir.path().join("demo_cutout.fits"));
    fitsverify(&dir.path().join("demo_sample.fits"));
    fitsverify(&dir.path().join("demo_sample.fits.fz"));
    // The compressed copy's cutout: 350 tiles (one per row), close to the plain cutout.
    let line = text.lines().find(|l| l.contains("tiles read in")).unwrap_or_else(|| panic!("{text}"));
    assert!(line.trim_start().starts_with("350 tiles"), "{line}");
    let diff: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(diff > 0.0 && diff < 0.002, "quantized at noise/4 (noise about 0.003): {line}");
}
