//! Layouts and kinds of every uncompressed corpus file, against astropy's numbers in the manifest.

use fits_core::{HduKind, IndexDecoder};
use serde_json::Value;
use std::path::PathBuf;

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/corpus")
}

fn astropy_kind(class: &str) -> HduKind {
    match class {
        "PrimaryHDU" => HduKind::Primary,
        "ImageHDU" => HduKind::Image,
        "BinTableHDU" => HduKind::BinaryTable,
        "TableHDU" => HduKind::AsciiTable,
        "GroupsHDU" => HduKind::RandomGroups,
        "CompImageHDU" => HduKind::CompressedImage,
        other => panic!("unknown astropy class {other}"),
    }
}

#[test]
fn layouts_match_astropy() {
    let manifest: Value = serde_json::from_slice(&std::fs::read(corpus().join("manifest.json")).unwrap()).unwrap();
    let mut checked = 0;
    for file in manifest["files"].as_array().unwrap() {
        let name = file["file"].as_str().unwrap();
        if name.ends_with(".gz") {
            continue; // whole-file gzip is unwrapped by the I/O layers, not here
        }
        let bytes = std::fs::read(corpus().join(name)).unwrap();
        let index = IndexDecoder::decode_all(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let expected = file["hdus"].as_array().unwrap();
        assert_eq!(index.hdus.len(), expected.len(), "{name}: HDU count");
        for (hdu, exp) in index.hdus.iter().zip(expected) {
            let what = format!("{name} HDU {}", hdu.index);
            assert_eq!(hdu.kind, astropy_kind(exp["class"].as_str().unwrap()), "{what}");
            assert_eq!(hdu.layout.header_start, exp["header_start"].as_u64().unwrap(), "{what} header_start");
            assert_eq!(hdu.layout.data_start, exp["data_start"].as_u64().unwrap(), "{what} data_start");
            assert_eq!(hdu.layout.data_span(), exp["data_span"].as_u64().unwrap(), "{what} data_span");
            assert_eq!(hdu.name(), exp["name"].as_str().unwrap(), "{what} name");
            assert_eq!(hdu.version(), exp["ver"].as_i64().unwrap(), "{what} EXTVER");
            checked += 1;
        }
    }
    assert!(checked > 60, "only {checked} HDUs checked");
}

#[test]
fn headers_round_trip_byte_for_byte() {
    for entry in std::fs::read_dir(corpus()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("fits") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let index = IndexDecoder::decode_all(&bytes).unwrap();
        for hdu in &index.hdus {
            let original = &bytes[hdu.layout.header_start as usize..hdu.layout.data_start as usize];
            let written = hdu.header.to_bytes().unwrap();
            assert!(written == original, "{} HDU {}: header does not round-trip", path.display(), hdu.index);
        }
    }
}
