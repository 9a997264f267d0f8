//! Image HDUs and their sections: ndarray-style slicing that is pure bookkeeping until `read`.

use crate::data::ArrayData;
use crate::error::{Error, Result};
use crate::fits::Hdu;
use crate::geometry::{AxisSelection, Geometry};
use crate::plan::AxisRange;
use crate::read::{read_selection, selection_ranges};
use fits_core::tiled::TiledImage;
use fits_core::{Bitpix, Conversion, DType, Element, HduKind, Header, ImageInfo, Scaling};
use ndarray::{Array, ArrayD, Dimension, IxDyn, SliceArg, SliceInfoElem};
use std::marker::PhantomData;
use std::ops::Range;
use std::sync::Arc;

/// An image HDU: shape, types and header; data is read through [`Section`]s.
#[derive(Debug, Clone)]
pub struct Image {
    hdu: Hdu,
    info: Arc<ImageInfo>,
    header: Arc<Header>,
    /// The tile structure of a compressed image, when its table header describes one.
    tiled: Option<Arc<TiledImage>>,
}

impl Image {
    pub(crate) fn new(hdu: Hdu) -> Result<Image> {
        let (info, header) = match hdu.kind() {
            HduKind::Primary | HduKind::Image => (ImageInfo::from_header(hdu.header()), hdu.header().clone()),
            HduKind::CompressedImage => {
                let header = fits_core::compressed::image_header(hdu.header()).map_err(|e| hdu.format_error(e))?;
                (ImageInfo::from_header(&header), header)
            }
            _ => return Err(hdu.wrong_kind("an image")),
        };
        let info = info.map_err(|e| hdu.format_error(e))?;
        // Parsed once; a table the reader cannot use still shows its image (the error comes on reads).
        let tiled = (*hdu.kind() == HduKind::CompressedImage)
            .then(|| TiledImage::from_header(hdu.header(), hdu.layout().data_len).ok().map(Arc::new))
            .flatten();
        Ok(Image { hdu, info: Arc::new(info), header: Arc::new(header), tiled })
    }

    /// The HDU this image lives in.
    pub fn hdu(&self) -> &Hdu {
        &self.hdu
    }

    /// The image header (for a compressed image, the translated image header).
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The shape in numpy order (slowest axis first).
    pub fn shape(&self) -> &[usize] {
        &self.info.shape
    }

    /// Number of axes.
    pub fn ndim(&self) -> usize {
        self.info.shape.len()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.info.len()
    }

    /// Whether the image has no elements.
    pub fn is_empty(&self) -> bool {
        self.info.is_empty()
    }

    /// The stored element type.
    pub fn bitpix(&self) -> Bitpix {
        self.info.bitpix
    }

    /// The natural type of the physical values (what [`Image::read_dyn`] returns).
    pub fn dtype(&self) -> DType {
        self.info.dtype()
    }

    /// BSCALE, BZERO, BLANK.
    pub fn scaling(&self) -> Scaling {
        self.info.scaling
    }

    /// Whether the image is tile-compressed.
    pub fn is_compressed(&self) -> bool {
        *self.hdu.kind() == HduKind::CompressedImage
    }

    /// The tile structure of a tile-compressed image (codec, tile shape, quantization).
    pub fn tiled(&self) -> Result<Arc<TiledImage>> {
        if !self.is_compressed() {
            return Err(self.hdu.wrong_kind("a tile-compressed image"));
        }
        match &self.tiled {
            Some(t) => Ok(t.clone()),
            // Parse again for the error, which names what is wrong.
            None => TiledImage::from_header(self.hdu.header(), self.hdu.layout().data_len)
                .map(Arc::new)
                .map_err(|e| self.hdu.format_error(e)),
        }
    }

    /// The whole image as a section, to slice further.
    pub fn section(&self) -> Section<IxDyn> {
        Section { image: self.clone(), geometry: Geometry::full(&self.info.shape), _dim: PhantomData }
    }

    /// All physical values as `T`.
    pub async fn read<T: Element>(&self) -> Result<ArrayD<T>> {
        self.section().read().await
    }

    /// All stored values (no scaling); `T` must be the stored type.
    pub async fn read_raw<T: Element>(&self) -> Result<ArrayD<T>> {
        self.section().read_raw().await
    }

    /// All physical values in their natural type.
    pub async fn read_dyn(&self) -> Result<ArrayData<IxDyn>> {
        self.section().read_dyn().await
    }

    /// Iterates over the planes along the first (slowest) axis, one read each.
    pub fn planes(&self) -> Planes {
        Planes { section: self.section(), next: 0 }
    }
}

/// A lazy rectangular (possibly strided) piece of an image.
///
/// Slicing follows ndarray's rules exactly (`s![a..b;step]`, negative
/// indices from the end, negative steps reversing, integer indices dropping
/// an axis, `NewAxis`), except that out-of-bounds slices are errors, not
/// panics. Nothing is read until [`Section::read`].
#[derive(Debug, Clone)]
pub struct Section<D> {
    image: Image,
    geometry: Geometry,
    _dim: PhantomData<D>,
}

impl<D: Dimension> Section<D> {
    /// The image this section belongs to.
    pub fn image(&self) -> &Image {
        &self.image
    }

    /// The shape of the array a read returns.
    pub fn shape(&self) -> Vec<usize> {
        self.geometry.shape()
    }

    /// Number of elements a read returns.
    pub fn len(&self) -> usize {
        self.shape().iter().product()
    }

    /// Whether the section has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What the section keeps of each image axis (numpy order).
    pub fn axis_selections(&self) -> &[AxisSelection] {
        &self.geometry.axes
    }

    /// Slices the section, as `ndarray`'s `slice` does: `section.slice(s![10..20, ..;2])`.
    pub fn slice<I: SliceArg<D>>(&self, info: I) -> Result<Section<I::OutDim>> {
        let geometry = self.geometry.slice(info.as_ref(), info.in_ndim()).map_err(|r| self.slice_error(r))?;
        Ok(Section { image: self.image.clone(), geometry, _dim: PhantomData })
    }

    /// Slices one axis, as `ndarray`'s `slice_axis` does.
    pub fn slice_axis(&self, axis: usize, slice: ndarray::Slice) -> Result<Section<D>> {
        let n = self.geometry.out.len();
        let mut elems = vec![SliceInfoElem::Slice { start: 0, end: None, step: 1 }; n];
        let e = elems.get_mut(axis).ok_or_else(|| self.slice_error(format!("axis {axis} does not exist")))?;
        *e = SliceInfoElem::Slice { start: slice.start, end: slice.end, step: slice.step };
        let geometry = self.geometry.slice(&elems, n).map_err(|r| self.slice_error(r))?;
        Ok(Section { image: self.image.clone(), geometry, _dim: PhantomData })
    }

    /// The same section with a static dimension type (like ndarray's `into_dimensionality`).
    pub fn into_dimensionality<D2: Dimension>(self) -> Result<Section<D2>> {
        if let Some(n) = D2::NDIM {
            if n != self.geometry.out.len() {
                return Err(self.slice_error(format!("the section has {} axes, not {n}", self.geometry.out.len())));
            }
        }
        Ok(Section { image: self.image, geometry: self.geometry, _dim: PhantomData })
    }

    /// The same section with a dynamic dimension type.
    pub fn into_dyn(self) -> Section<IxDyn> {
        Section { image: self.image, geometry: self.geometry, _dim: PhantomData }
    }

    /// The byte ranges a read of this section fetches, before any merging by the driver.
    ///
    /// For a tile-compressed image these are the table rows of the tiles the section touches;
    /// where their heap bytes lie is known only once those rows are read
    /// ([`Section::tile_byte_ranges`]).
    pub fn byte_ranges(&self) -> Vec<Range<u64>> {
        let sel = self.geometry.ascending();
        let layout = self.image.hdu.layout();
        if self.image.is_compressed() {
            let Ok(tiled) = self.image.tiled() else { return Vec::new() };
            let row = tiled.row_len() as u64;
            return crate::tiles::touched_tiles(&tiled, &sel)
                .into_iter()
                .map(|k| layout.data_start + k * row..layout.data_start + (k + 1) * row)
                .collect();
        }
        selection_ranges(self.image.shape(), self.image.bitpix().size(), layout.data_start, &sel)
    }

    /// The tiles of a tile-compressed image this section touches (zero-based; tile `k` is the
    /// table's row `k + 1`). Empty for other images.
    pub fn tiles(&self) -> Vec<u64> {
        match self.image.tiled() {
            Ok(tiled) if self.image.is_compressed() => crate::tiles::touched_tiles(&tiled, &self.geometry.ascending()),
            _ => Vec::new(),
        }
    }

    /// Every byte range a read of this section needs: for a tile-compressed image, the
    /// touched tiles' table rows and then their heap bytes (reading the rows to find them);
    /// for other images, [`Section::byte_ranges`].
    ///
    /// From a remote source, a read of a compressed section also fetches a guess of where the
    /// heap bytes lie together with the rows (saving a round trip when right): the touched
    /// run of tiles' proportional share of the heap, and a quarter more each side.
    pub async fn tile_byte_ranges(&self) -> Result<Vec<Range<u64>>> {
        if !self.image.is_compressed() {
            return Ok(self.byte_ranges());
        }
        let tiled = self.image.tiled()?;
        crate::tiles::tile_byte_ranges(&self.image.hdu, &tiled, &self.tiles()).await
    }

    /// Reads physical values (`stored × BSCALE + BZERO`; BLANK → NaN for float `T`).
    pub async fn read<T: Element>(&self) -> Result<Array<T, D>> {
        let conv = Conversion::physical(self.image.bitpix(), self.image.scaling());
        self.read_with(&conv).await
    }

    /// Reads stored values without scaling; `T` must be the stored type (`u8 i16 i32 i64 f32 f64`).
    pub async fn read_raw<T: Element>(&self) -> Result<Array<T, D>> {
        self.read_with(&Conversion::raw(self.image.bitpix())).await
    }

    /// Reads physical values in the image's natural type ([`Image::dtype`]).
    pub async fn read_dyn(&self) -> Result<ArrayData<D>> {
        Ok(match self.image.dtype() {
            DType::U8 => ArrayData::U8(self.read().await?),
            DType::I8 => ArrayData::I8(self.read().await?),
            DType::I16 => ArrayData::I16(self.read().await?),
            DType::U16 => ArrayData::U16(self.read().await?),
            DType::I32 => ArrayData::I32(self.read().await?),
            DType::U32 => ArrayData::U32(self.read().await?),
            DType::I64 => ArrayData::I64(self.read().await?),
            DType::U64 => ArrayData::U64(self.read().await?),
            DType::F32 => ArrayData::F32(self.read().await?),
            DType::F64 => ArrayData::F64(self.read().await?),
        })
    }

    async fn read_with<T: Element>(&self, conv: &Conversion) -> Result<Array<T, D>> {
        let hdu = &self.image.hdu;
        if self.image.ndim() == 0 {
            return Err(Error::NoData { location: hdu.location().to_string(), hdu: hdu.index() });
        }
        let sel = self.geometry.ascending();
        let values = if self.image.is_compressed() {
            let tiled = self.image.tiled()?;
            crate::tiles::read_tiled::<T>(hdu, &tiled, &sel, conv).await?
        } else {
            read_selection::<T>(hdu, self.image.shape(), hdu.layout().data_start, &sel, conv).await?
        };
        self.geometry
            .arrange(values)
            .map_err(|e| self.slice_error(e))?
            .into_dimensionality::<D>()
            .map_err(|e| self.slice_error(e.to_string()))
    }

    fn slice_error(&self, reason: String) -> Error {
        Error::Slice { location: self.image.hdu.location().to_string(), hdu: self.image.hdu.index(), reason }
    }
}

/// The ascending per-axis selection that slice elements make of a whole image of `shape`
/// (for planning reads before a section exists); `None` if they do not fit.
pub(crate) fn whole_image_selection(shape: &[usize], elems: &[SliceInfoElem]) -> Option<Vec<AxisRange>> {
    let in_ndim = elems.iter().filter(|e| !matches!(e, SliceInfoElem::NewAxis)).count();
    Geometry::full(shape).slice(elems, in_ndim).ok().map(|g| g.ascending())
}

/// Planes along the first axis of an image, read one at a time (bounded memory).
#[derive(Debug)]
pub struct Planes {
    section: Section<IxDyn>,
    next: usize,
}

impl Planes {
    /// Number of planes (0 for an image without axes).
    pub fn len(&self) -> usize {
        self.section.image.shape().first().copied().unwrap_or(0)
    }

    /// Whether there are no planes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The section of plane `k`.
    pub fn plane(&self, k: usize) -> Result<Section<IxDyn>> {
        let mut elems = vec![SliceInfoElem::Slice { start: 0, end: None, step: 1 }; self.section.geometry.out.len()];
        if let Some(first) = elems.first_mut() {
            *first = SliceInfoElem::Index(k as isize);
        }
        self.section.slice(elems.as_slice())
    }

    /// Reads the next plane's physical values as `T`, with its index.
    pub async fn next<T: Element>(&mut self) -> Option<Result<(usize, ArrayD<T>)>> {
        if self.next >= self.len() {
            return None;
        }
        let k = self.next;
        self.next += 1;
        Some(match self.plane(k) {
            Ok(s) => s.read::<T>().await.map(|a| (k, a)),
            Err(e) => Err(e),
        })
    }
}
