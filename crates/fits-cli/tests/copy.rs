//! `fits copy` between local files, HTTP and S3: identical bytes, valid selections, and failures
//! that leave nothing behind.

mod common;

use common::{corpus_path as corpus, fits, fitsverify, ok};
use std::process::Command;

#[test]
fn whole_files_copy_byte_for_byte_and_selections_are_valid() {
    let dir = tempfile::tempdir().unwrap();
    let src = corpus("o4sp040b0_raw.fits");
    let out = dir.path().join("copy.fits");
    ok(&["copy", src.to_str().unwrap(), out.to_str().unwrap()]);
    assert_eq!(std::fs::read(&src).unwrap(), std::fs::read(&out).unwrap());
    let sel = dir.path().join("sel.fits");
    ok(&["copy", src.to_str().unwrap(), sel.to_str().unwrap(), "--hdu", "SCI,2", "--hdu", "5"]);
    fitsverify(&sel);
    let info = String::from_utf8(fits(&["info", sel.to_str().unwrap()]).stdout).unwrap();
    assert_eq!(info.lines().count(), 4, "{info}");
    assert!(info.contains("SCI") && info.contains("ERR"), "{info}");
    // An existing target needs --overwrite.
    let again = fits(&["copy", src.to_str().unwrap(), out.to_str().unwrap()]);
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("exists"));
    ok(&["copy", src.to_str().unwrap(), out.to_str().unwrap(), "--overwrite"]);
}

#[test]
fn copies_from_http() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let server = rt.block_on(fits_netsim::Server::start(fits_netsim::ServerConfig::default())).unwrap();
    let src = corpus("test0.fits");
    server.put("/test0.fits", bytes::Bytes::from(std::fs::read(&src).unwrap()));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("from-http.fits");
    ok(&["copy", &server.url("/test0.fits"), out.to_str().unwrap()]);
    assert_eq!(std::fs::read(&src).unwrap(), std::fs::read(&out).unwrap());
    drop(server);
}

#[test]
fn round_trip_through_s3() {
    let Ok(bucket) = std::env::var("FITS_TEST_S3_BUCKET") else {
        assert!(
            std::env::var_os("FITS_REQUIRE_TOOLS").is_none(),
            "FITS_TEST_S3_BUCKET is required (run `cargo xtask test`)"
        );
        return;
    };
    let src = corpus("m13.fits");
    let url = format!("s3://{bucket}/copy-tests/m13.fits");
    ok(&["copy", src.to_str().unwrap(), &url]);
    let dir = tempfile::tempdir().unwrap();
    let back = dir.path().join("back.fits");
    ok(&["copy", &url, back.to_str().unwrap()]);
    assert_eq!(std::fs::read(&src).unwrap(), std::fs::read(&back).unwrap());
    fitsverify(&back);
}

#[test]
fn a_full_disk_leaves_no_target_and_no_temporary() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("big.fits");
    // bash counts `ulimit -f` in 1024-byte blocks: 100 kB allowed, m13.fits needs 184 kB.
    let script = format!(
        "trap '' XFSZ; ulimit -f 100; exec {} copy {} {}",
        env!("CARGO_BIN_EXE_fits"),
        corpus("m13.fits").display(),
        out.display()
    );
    let result = Command::new("bash").arg("-c").arg(&script).output().unwrap();
    assert!(!result.status.success());
    let err = String::from_utf8_lossy(&result.stderr);
    assert!(err.contains("big.fits") && err.to_lowercase().contains("file too large"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no target, no temporary file");
}
