//! `cargo xtask`: project automation (test, gen-data, bench, tidy), rust-analyzer style: one module per task.

mod bench;
mod bench_remote;
mod bench_write;
mod gendata;
mod servers;
mod test;
#[cfg(test)]
mod tidy;
mod util;

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  test                 install missing test tools, start test servers, run every test
  gen-data [--force] [FILE...]
                       write the benchmark files into data/ (drc_like.fits, cube_int16.fits,
                       drc_rice.fits: SCI tile-compressed)
  bench [local|remote|write|all]
                       run the benchmarks against astropy/fitsio (local), astropy+fsspec/s3fs
                       (remote, through a 20 ms / 100 MB/s link) and astropy's writers (write);
                       update docs/benchmarks.md
  tidy                 repository rules (also run by `test`)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test::run(&args[1..]),
        Some("gen-data") => {
            let force = args.iter().any(|a| a == "--force");
            let names: Vec<String> = args[1..].iter().filter(|a| !a.starts_with("--")).cloned().collect();
            gendata::run(&data_dir(), &names, force).map(|_| ())
        }
        Some("bench") => bench::run(&args[1..]),
        Some("tidy") => util::cargo(&["test", "--quiet", "-p", "xtask", "--", "tidy"]),
        _ => {
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root.
pub(crate) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."))
}

/// Where gen-data writes (ignored by git).
pub(crate) fn data_dir() -> PathBuf {
    std::env::var_os("FITS_DATA_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("data"))
}
