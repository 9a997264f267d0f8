//! Shared helpers of the benchmarks: where the generated data lives, and the scenario definitions.

use std::path::PathBuf;

/// The folder `cargo xtask gen-data` writes to (`FITS_DATA_DIR`, else `data/` at the workspace root).
pub fn data_dir() -> PathBuf {
    std::env::var_os("FITS_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data"))
}

/// The path of a generated file, or a message saying how to make it.
pub fn data_file(name: &str) -> Result<String, String> {
    let p = data_dir().join(name);
    if p.exists() {
        Ok(p.display().to_string())
    } else {
        Err(format!("{} is missing: run `cargo xtask gen-data`", p.display()))
    }
}

/// A multi-threaded runtime for driving the async API in benchmarks.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime")
}
