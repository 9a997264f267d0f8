//! Helpers shared by the command's tests: running `fits`, corpus paths, cfitsio's tools.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the `fits` command.
pub fn fits(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fits")).args(args).output().expect("run fits")
}

/// Runs the `fits` command, which must succeed; returns its standard output.
pub fn ok(args: &[&str]) -> String {
    let out = fits(args);
    assert!(out.status.success(), "fits {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// A corpus file's path.
pub fn corpus_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/corpus").join(name)
}

/// A corpus file's path as text.
pub fn corpus(name: &str) -> String {
    corpus_path(name).display().to_string()
}

/// Runs a cfitsio tool, which must succeed, and returns what it printed; `None` when it is not
/// installed, a failure instead if FITS_REQUIRE_TOOLS is set.
pub fn tool(name: &str, args: &[&str]) -> Option<String> {
    match Command::new(name).args(args).output() {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{name} {args:?}: {text}");
            Some(text)
        }
        Err(e) if std::env::var_os("FITS_REQUIRE_TOOLS").is_some() => panic!("{name} is required: {e}"),
        Err(_) => {
            eprintln!("{name} not installed: skipping its check");
            None
        }
    }
}

/// Runs fitsverify on a file, which must pass (skipped without the tool, as [`tool`]).
pub fn fitsverify(path: &Path) {
    if let Some(text) = tool("fitsverify", &["-q", &path.display().to_string()]) {
        assert!(text.contains("verification OK"), "fitsverify {}: {text}", path.display());
    }
}
