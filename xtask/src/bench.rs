//! `cargo xtask bench`: our reads against astropy and fitsio on the generated files; writes docs/benchmarks.md.

use crate::util::Result;

pub(crate) fn run(_args: &[String]) -> Result {
    Err("bench: not written yet".into())
}
