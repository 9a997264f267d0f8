//! Conformance with astropy on every corpus file: HDUs, kinds, layouts, shapes and statistics of the physical values.

use fits_array::{Fits, Stats};
use fits_core::HduKind;
use serde_json::Value;
use std::path::PathBuf;

fn corpus(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/corpus").join(name).display().to_string()
}

fn manifest() -> Value {
    serde_json::from_slice(&std::fs::read(corpus("manifest.json")).unwrap()).unwrap()
}

fn kind_name(class: &str) -> HduKind {
    match class {
        "PrimaryHDU" => HduKind::Primary,
        "ImageHDU" => HduKind::Image,
        "BinTableHDU" => HduKind::BinaryTable,
        "TableHDU" => HduKind::AsciiTable,
        "GroupsHDU" => HduKind::RandomGroups,
        "CompImageHDU" => HduKind::CompressedImage,
        other => panic!("unknown class {other}"),
    }
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    a == b || (a - b).abs() <= rel * a.abs().max(b.abs()).max(1e-300)
}

fn check_stats(what: &str, values: &[f64], expected: &Value) {
    let s = Stats::of(values);
    assert_eq!(values.len() as u64, expected["size"].as_u64().unwrap(), "{what}: size");
    assert_eq!(s.nan, expected["nan"].as_u64().unwrap(), "{what}: nan");
    let sum = expected["sum"].as_f64().unwrap();
    assert!(close(s.sum(), sum, 1e-6), "{what}: sum {} vs astropy {sum}", s.sum());
    for (key, ours) in [
        ("min", s.min),
        ("max", s.max),
        ("first", values.first().copied().unwrap_or(f64::NAN)),
        ("last", values.last().copied().unwrap_or(f64::NAN)),
    ] {
        match expected[key].as_f64() {
            Some(v) => assert!(close(ours, v, 1e-6), "{what}: {key} {ours} vs astropy {v}"),
            None => assert!(ours.is_nan() || values.is_empty(), "{what}: {key} {ours}, astropy has none"),
        }
    }
}

#[tokio::test]
async fn every_file_matches_astropy() {
    let manifest = manifest();
    let mut images = 0;
    let mut compressed = 0;
    for file in manifest["files"].as_array().unwrap() {
        let name = file["file"].as_str().unwrap();
        let fits = Fits::open(&corpus(name)).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        let expected = file["hdus"].as_array().unwrap();
        assert_eq!(fits.len(), expected.len(), "{name}: HDU count");
        for (hdu, exp) in fits.hdus().iter().zip(expected) {
            let what = format!("{name} HDU {}", hdu.index());
            assert_eq!(*hdu.kind(), kind_name(exp["class"].as_str().unwrap()), "{what}: kind");
            let layout = hdu.layout();
            assert_eq!(layout.header_start, exp["header_start"].as_u64().unwrap(), "{what}: header_start");
            assert_eq!(layout.data_start, exp["data_start"].as_u64().unwrap(), "{what}: data_start");
            assert_eq!(layout.data_span(), exp["data_span"].as_u64().unwrap(), "{what}: data_span");
            assert_eq!(hdu.name(), exp["name"].as_str().unwrap(), "{what}: name");
            if let Some(shape) = exp.get("shape").and_then(Value::as_array) {
                let shape: Vec<usize> = shape.iter().map(|v| v.as_u64().unwrap() as usize).collect();
                let image = hdu.image().unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_eq!(image.shape(), &shape[..], "{what}: shape");
                let data = &exp["data"];
                if let Some(dtype) = data.get("dtype").and_then(Value::as_str) {
                    assert_eq!(image.dtype().name(), dtype, "{what}: dtype");
                }
                if image.is_compressed() {
                    compressed += 1;
                }
                if data.get("sum").is_some() || data["size"].as_u64() == Some(0) {
                    let values = image.read_dyn().await.unwrap_or_else(|e| panic!("{what}: {e}")).to_f64();
                    let values: Vec<f64> = values.iter().copied().collect();
                    if data.get("sum").is_some() {
                        check_stats(&what, &values, data);
                    } else {
                        assert!(values.is_empty(), "{what}");
                    }
                    images += 1;
                }
            }
            if *hdu.kind() == HduKind::RandomGroups {
                match hdu.groups() {
                    Ok(groups) => {
                        assert_eq!(groups.info().gcount as u64, exp["groups"].as_u64().unwrap(), "{what}: groups");
                        let data = groups.read_data::<f64>().await.unwrap();
                        let values: Vec<f64> = data.iter().copied().collect();
                        check_stats(&what, &values, &exp["data"]);
                        let params = groups.read_parameters().await.unwrap();
                        assert_eq!(params.shape(), &[groups.info().gcount, groups.info().pcount]);
                        images += 1;
                    }
                    Err(e) => {
                        assert!(exp.get("data_error").is_some(), "{what}: {e}");
                        let e = e.to_string();
                        assert!(e.contains(name) && e.contains("HDU 0") && e.contains("NAXIS1"), "{what}: {e}");
                    }
                }
            }
        }
    }
    assert!(images >= 20, "only {images} images checked");
    assert_eq!(compressed, 9);
}

#[tokio::test]
async fn the_m13_family_decodes_to_m13() {
    let reference = Fits::open(&corpus("m13.fits")).await.unwrap().image(0).unwrap().read_raw::<i16>().await.unwrap();
    for (name, codec) in [
        ("m13_rice.fits", "RICE_1"),
        ("m13_gzip.fits", "GZIP_1"),
        ("m13_hcomp.fits", "HCOMPRESS_1"),
        ("m13_plio.fits", "PLIO_1"),
    ] {
        let fits = Fits::open(&corpus(name)).await.unwrap();
        let image = fits.image(1).unwrap();
        assert_eq!(image.tiled().unwrap().algorithm.keyword(), codec, "{name}");
        let data = image.read_raw::<i16>().await.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(data, reference, "{name}");
        // A section decodes only its tiles and agrees with the same slice of the reference.
        let cut = image.section().slice(ndarray::s![100..180;3, 20..250;-7]).unwrap();
        let part = cut.read_raw::<i16>().await.unwrap();
        assert_eq!(part, reference.slice(ndarray::s![100..180;3, 20..250;-7]), "{name}");
        if codec != "HCOMPRESS_1" {
            // One row per tile: rows 100..178 are tiles 100..178, every third.
            assert_eq!(cut.tiles(), (100..180).step_by(3).map(|k| k as u64).collect::<Vec<_>>(), "{name}");
        }
    }
}

#[tokio::test]
async fn checksums_agree_with_astropy() {
    // astropy 8.0.2 with checksum=True: checksum.fits verifies; checksum_false.fits fails
    // CHECKSUM and DATASUM in both HDUs; chandra_time.fits fails both in EVENTS.
    type PerHdu<'a> = &'a [(Option<bool>, Option<bool>)];
    let expectations: [(&str, PerHdu); 3] = [
        ("checksum.fits", &[(Some(true), Some(true)), (Some(true), Some(true))]),
        ("checksum_false.fits", &[(Some(false), Some(false)), (Some(false), Some(false))]),
        ("chandra_time.fits", &[(None, None), (Some(false), Some(false))]),
    ];
    for (name, per_hdu) in expectations {
        let fits = Fits::open(&corpus(name)).await.unwrap();
        for (hdu, expected) in fits.hdus().iter().zip(per_hdu) {
            let v = hdu.verify_checksums().await.unwrap();
            assert_eq!((v.checksum, v.datasum), *expected, "{name} HDU {}", hdu.index());
        }
    }
}

#[tokio::test]
async fn gzip_files_open_transparently() {
    let fits = Fits::open(&corpus("dss.14.29.56-62.41.05.fits.gz")).await.unwrap();
    assert_eq!(fits.len(), 2);
    assert_eq!(fits.hdu(1).unwrap().name(), "Photometric CALTABLE");
}
