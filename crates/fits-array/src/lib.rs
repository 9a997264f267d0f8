//! Lazy FITS HDUs and sections that read only the bytes a slice needs.
//!
//! [`Fits::open`] reads headers only. An [`Image`]'s [`Section`] is sliced
//! with ndarray's own `s![..]` syntax as pure bookkeeping; [`Section::read`]
//! plans the byte runs the slice touches, fetches them through the source's
//! driver (merged and concurrent for remote sources, zero-copy for local
//! files) and decodes them in parallel into an `ndarray::Array`.
//!
//! ```no_run
//! # async fn demo() -> fits_array::Result<()> {
//! use fits_array::Fits;
//! use ndarray::s;
//! let fits = Fits::open("drc.fits").await?;
//! let sci = fits.image(1)?;
//! println!("{:?} {}", sci.shape(), sci.dtype());
//! let cut = sci.section().slice(s![1600..1950, 2000..2250])?.read::<f32>().await?;
//! let spectrum = fits.image(0)?.section().slice(s![.., 512, 512])?.read::<f64>().await?;
//! # Ok(()) }
//! ```

pub mod blocking;
mod cutout;
mod data;
mod error;
mod fits;
mod geometry;
mod groups;
mod image;
pub mod plan;
mod read;
mod spec;
mod stats;
mod tiles;
mod write;

pub use cutout::{CutoutSummary, cutout_header, write_cutout};
pub use data::ArrayData;
pub use error::{Error, Result};
pub use fits::{Fits, Hdu, HduSelector, IndexDepth, MAX_GUNZIP_BYTES, SectionHint};
pub use geometry::AxisSelection;
pub use groups::Groups;
pub use image::{Image, Planes, Section};
pub use spec::parse_section_spec;
pub use stats::Stats;
pub use write::{FitsWriter, RandomWriter, UpdateFile, WriteOptions, file_size, write_file};

pub use fits_core;
pub use fits_io;
pub use ndarray;
