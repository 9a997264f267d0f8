//! A blocking facade for scripts: the async API driven by a runtime this module owns.
//!
//! ```no_run
//! use fits_array::blocking::Fits;
//! use ndarray::s;
//! let fits = Fits::open("image.fits")?;
//! let image = fits.image(1)?;
//! let cutout = image.section().slice(s![0..10, 0..10])?.read::<f32>()?;
//! # Ok::<(), fits_array::Error>(())
//! ```
//!
//! Do not call it from inside an async runtime (use the async API there).

use crate::data::ArrayData;
use crate::error::Result;
use crate::fits::{Hdu, HduSelector};
use fits_core::Element;
use ndarray::{Array, ArrayD, Dimension, IxDyn, SliceArg};
use std::sync::{Arc, OnceLock};
use tokio::runtime::Runtime;

fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fits-blocking")
            .enable_all()
            .build()
            // Building a runtime fails only if threads cannot be spawned at all.
            .expect("cannot start the runtime of the blocking API")
    })
}

/// A blocking [`crate::Fits`].
#[derive(Debug, Clone)]
pub struct Fits {
    inner: Arc<crate::Fits>,
}

impl Fits {
    /// Opens a source (see [`crate::Fits::open`]).
    pub fn open(source: &str) -> Result<Fits> {
        Ok(Fits { inner: Arc::new(runtime().block_on(crate::Fits::open(source))?) })
    }

    /// The async handle.
    pub fn as_async(&self) -> &crate::Fits {
        &self.inner
    }

    /// Every HDU.
    pub fn hdus(&self) -> &[Hdu] {
        self.inner.hdus()
    }

    /// One HDU.
    pub fn hdu(&self, selector: impl Into<HduSelector>) -> Result<&Hdu> {
        self.inner.hdu(selector)
    }

    /// An image.
    pub fn image(&self, selector: impl Into<HduSelector>) -> Result<Image> {
        Ok(Image { inner: self.inner.image(selector)? })
    }
}

/// A blocking [`crate::Image`].
#[derive(Debug, Clone)]
pub struct Image {
    inner: crate::Image,
}

impl Image {
    /// The async handle.
    pub fn as_async(&self) -> &crate::Image {
        &self.inner
    }

    /// Shape in numpy order.
    pub fn shape(&self) -> &[usize] {
        self.inner.shape()
    }

    /// The whole image as a section.
    pub fn section(&self) -> Section<IxDyn> {
        Section { inner: self.inner.section() }
    }

    /// All physical values as `T`.
    pub fn read<T: Element>(&self) -> Result<ArrayD<T>> {
        runtime().block_on(self.inner.read())
    }

    /// All physical values in their natural type.
    pub fn read_dyn(&self) -> Result<ArrayData<IxDyn>> {
        runtime().block_on(self.inner.read_dyn())
    }
}

/// A blocking [`crate::Section`].
#[derive(Debug, Clone)]
pub struct Section<D> {
    inner: crate::Section<D>,
}

impl<D: Dimension> Section<D> {
    /// Slices further (ndarray rules).
    pub fn slice<I: SliceArg<D>>(&self, info: I) -> Result<Section<I::OutDim>> {
        Ok(Section { inner: self.inner.slice(info)? })
    }

    /// Shape of the result.
    pub fn shape(&self) -> Vec<usize> {
        self.inner.shape()
    }

    /// Physical values as `T`.
    pub fn read<T: Element>(&self) -> Result<Array<T, D>> {
        runtime().block_on(self.inner.read())
    }

    /// Stored values as their stored type.
    pub fn read_raw<T: Element>(&self) -> Result<Array<T, D>> {
        runtime().block_on(self.inner.read_raw())
    }
}
