//! FITS for files that are remote, huge, compressed or bigger than memory.
//!
//! This crate composes the workspace's layers by feature:
//!
//! - [`core`] (`fits-core`): the format, with no I/O;
//! - [`io`] (`fits-io`): storage drivers (local files; remote drivers behind features);
//! - the array layer (`fits-array`), re-exported at the top: [`Fits`], [`Image`], [`Section`];
//! - `bench` (feature `bench`): the network profiler and layout printer.
//!
//! ```no_run
//! # async fn demo() -> fits::Result<()> {
//! use fits::Fits;
//! use fits::ndarray::s;
//! let fits = Fits::open("drc.fits").await?;
//! let cutout = fits.image("SCI")?.section().slice(s![1600..1950, 2000..2250])?.read::<f32>().await?;
//! # Ok(()) }
//! ```

pub use fits_array::*;
#[cfg(feature = "bench")]
pub use fits_bench as bench;
pub use fits_core as core;
pub use fits_io as io;
