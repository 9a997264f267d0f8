//! Image HDUs and their sections: ndarray-style slicing that is pure bookkeeping until `read`.

use crate::data::ArrayData;
use crate::error::{Error, Result};
use crate::fits::Hdu;
use crate::plan::AxisRange;
use crate::read::{read_selection, selection_ranges};
use fits_core::{Bitpix, Conversion, DType, Element, HduKind, Header, ImageInfo, Scaling};
use ndarray::{Array, ArrayD, Axis, Dimension, IxDyn, SliceArg, SliceInfoElem};
use std::marker::PhantomData;
use std::ops::Range;
use std::sync::Arc;

/// An image HDU: shape, types and header; data is read through [`Section`]s.
#[derive(Debug, Clone)]
pub struct Image {
    hdu: Hdu,
    info: Arc<ImageInfo>,
    header: Arc<Header>,
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
        Ok(Image { hdu, info: Arc::new(info), header: Arc::new(header) })
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

    /// The whole image as a section, to slice further.
    pub fn section(&self) -> Section<IxDyn> {
        Section {
            image: self.clone(),
            axes: self.info.shape.iter().map(|&n| Sel { first: 0, step: 1, len: n, index: false }).collect(),
            out: (0..self.info.shape.len()).map(OutAxis::Image).collect(),
            _dim: PhantomData,
        }
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

/// Which pixels of one image axis a section keeps: `first, first + step, ...` (`len` of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AxisSelection {
    /// Image index of the first element, in output order.
    pub first: usize,
    /// Signed step between consecutive output elements.
    pub step: isize,
    /// Number of elements.
    pub len: usize,
    /// Whether the axis was selected by an integer index (and dropped from the output).
    pub index: bool,
}

type Sel = AxisSelection;

impl Sel {
    fn ascending(&self) -> AxisRange {
        if self.step >= 0 || self.len == 0 {
            AxisRange { start: self.first, step: self.step.unsigned_abs().max(1), len: self.len }
        } else {
            let step = self.step.unsigned_abs();
            AxisRange { start: self.first - (self.len - 1) * step, step, len: self.len }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutAxis {
    Image(usize),
    New(usize),
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
    axes: Vec<Sel>,
    out: Vec<OutAxis>,
    _dim: PhantomData<D>,
}

impl<D: Dimension> Section<D> {
    /// The image this section belongs to.
    pub fn image(&self) -> &Image {
        &self.image
    }

    /// The shape of the array a read returns.
    pub fn shape(&self) -> Vec<usize> {
        self.out
            .iter()
            .map(|o| match o {
                OutAxis::Image(a) => self.axes[*a].len,
                OutAxis::New(n) => *n,
            })
            .collect()
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
        &self.axes
    }

    /// Slices the section, as `ndarray`'s `slice` does: `section.slice(s![10..20, ..;2])`.
    pub fn slice<I: SliceArg<D>>(&self, info: I) -> Result<Section<I::OutDim>> {
        let elems: &[SliceInfoElem] = info.as_ref();
        if info.in_ndim() != self.out.len() {
            return Err(self.slice_error(format!(
                "the slice has {} axes, the section has {}",
                info.in_ndim(),
                self.out.len()
            )));
        }
        let mut axes = self.axes.clone();
        let mut out = Vec::with_capacity(info.out_ndim());
        let mut current = self.out.iter();
        for (k, elem) in elems.iter().enumerate() {
            if let SliceInfoElem::NewAxis = elem {
                out.push(OutAxis::New(1));
                continue;
            }
            let Some(&axis) = current.next() else {
                return Err(self.slice_error("more slice elements than axes".into()));
            };
            let len = match axis {
                OutAxis::Image(a) => axes[a].len,
                OutAxis::New(n) => n,
            };
            match *elem {
                SliceInfoElem::Index(i) => {
                    let i = resolve_index(i, len).ok_or_else(|| {
                        self.slice_error(format!("slice element {k}: index {i} is out of bounds for length {len}"))
                    })?;
                    if let OutAxis::Image(a) = axis {
                        let s = &mut axes[a];
                        s.first = offset(s.first, s.step, i);
                        s.len = 1;
                        s.index = true;
                    }
                }
                SliceInfoElem::Slice { start, end, step } => {
                    let (from, to) = resolve_range(start, end, len).ok_or_else(|| {
                        self.slice_error(format!(
                            "slice element {k}: {start}..{end:?} is out of bounds for length {len}"
                        ))
                    })?;
                    if step == 0 {
                        return Err(self.slice_error(format!("slice element {k}: step must not be zero")));
                    }
                    let m = to - from;
                    let n = m.div_ceil(step.unsigned_abs());
                    let first_old = if step > 0 || m == 0 { from } else { to - 1 };
                    match axis {
                        OutAxis::Image(a) => {
                            let s = &mut axes[a];
                            s.first = if n == 0 { s.first } else { offset(s.first, s.step, first_old) };
                            s.step *= step;
                            s.len = n;
                        }
                        OutAxis::New(_) => {}
                    }
                    out.push(match axis {
                        OutAxis::Image(a) => OutAxis::Image(a),
                        OutAxis::New(_) => OutAxis::New(n),
                    });
                }
                SliceInfoElem::NewAxis => unreachable!("handled above"),
            }
        }
        Ok(Section { image: self.image.clone(), axes, out, _dim: PhantomData })
    }

    /// Slices one axis, as `ndarray`'s `slice_axis` does.
    pub fn slice_axis(&self, axis: usize, slice: ndarray::Slice) -> Result<Section<D>> {
        let mut elems = vec![SliceInfoElem::Slice { start: 0, end: None, step: 1 }; self.out.len()];
        let e = elems.get_mut(axis).ok_or_else(|| self.slice_error(format!("axis {axis} does not exist")))?;
        *e = SliceInfoElem::Slice { start: slice.start, end: slice.end, step: slice.step };
        let s: Section<IxDyn> =
            Section { image: self.image.clone(), axes: self.axes.clone(), out: self.out.clone(), _dim: PhantomData }
                .slice(elems.as_slice())?;
        Ok(Section { image: s.image, axes: s.axes, out: s.out, _dim: PhantomData })
    }

    /// The same section with a static dimension type (like ndarray's `into_dimensionality`).
    pub fn into_dimensionality<D2: Dimension>(self) -> Result<Section<D2>> {
        if let Some(n) = D2::NDIM {
            if n != self.out.len() {
                return Err(self.slice_error(format!("the section has {} axes, not {n}", self.out.len())));
            }
        }
        Ok(Section { image: self.image, axes: self.axes, out: self.out, _dim: PhantomData })
    }

    /// The same section with a dynamic dimension type.
    pub fn into_dyn(self) -> Section<IxDyn> {
        Section { image: self.image, axes: self.axes, out: self.out, _dim: PhantomData }
    }

    /// The byte ranges a read of this section fetches, before any merging by the driver.
    pub fn byte_ranges(&self) -> Vec<Range<u64>> {
        let sel: Vec<AxisRange> = self.axes.iter().map(Sel::ascending).collect();
        let layout = self.image.hdu.layout();
        selection_ranges(self.image.shape(), self.image.bitpix().size(), layout.data_start, &sel)
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
        if self.image.is_compressed() {
            return Err(Error::Unsupported {
                location: hdu.location().to_string(),
                hdu: hdu.index(),
                what: "reading tile-compressed image data (the image is recognised: shape and header are available)"
                    .into(),
            });
        }
        if self.image.ndim() == 0 {
            return Err(Error::NoData { location: hdu.location().to_string(), hdu: hdu.index() });
        }
        let sel: Vec<AxisRange> = self.axes.iter().map(Sel::ascending).collect();
        let values = read_selection::<T>(hdu, self.image.shape(), hdu.layout().data_start, &sel, conv).await?;
        let dims: Vec<usize> = sel.iter().map(|s| s.len).collect();
        let mut array = ArrayD::from_shape_vec(IxDyn(&dims), values).map_err(|e| self.slice_error(e.to_string()))?;
        if self.axes.iter().any(|s| s.step < 0 && s.len > 1) {
            for (a, s) in self.axes.iter().enumerate() {
                if s.step < 0 {
                    array.invert_axis(Axis(a));
                }
            }
            array = array.as_standard_layout().into_owned();
        }
        let shape = self.shape();
        array
            .into_shape_with_order(IxDyn(&shape))
            .map_err(|e| self.slice_error(e.to_string()))?
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
    let mut axes = elems.iter().filter(|e| !matches!(e, SliceInfoElem::NewAxis));
    let mut out = Vec::with_capacity(shape.len());
    for &n in shape {
        let sel = match axes.next() {
            None => AxisSelection { first: 0, step: 1, len: n, index: false },
            Some(SliceInfoElem::Index(i)) => {
                AxisSelection { first: resolve_index(*i, n)?, step: 1, len: 1, index: true }
            }
            Some(&SliceInfoElem::Slice { start, end, step }) => {
                let (from, to) = resolve_range(start, end, n)?;
                if step == 0 {
                    return None;
                }
                let m = to - from;
                let first = if step > 0 || m == 0 { from } else { to - 1 };
                AxisSelection { first, step, len: m.div_ceil(step.unsigned_abs()), index: false }
            }
            Some(SliceInfoElem::NewAxis) => return None,
        };
        out.push(sel.ascending());
    }
    axes.next().is_none().then_some(out)
}

/// `first + i * step`, for an index `i` proven in range by the caller.
fn offset(first: usize, step: isize, i: usize) -> usize {
    (first as isize + step * i as isize) as usize
}

fn resolve_index(i: isize, len: usize) -> Option<usize> {
    let i = if i < 0 { len as isize + i } else { i };
    (0..len as isize).contains(&i).then_some(i as usize)
}

/// ndarray's rule: negative bounds count from the end; an end before the start gives an empty range.
fn resolve_range(start: isize, end: Option<isize>, len: usize) -> Option<(usize, usize)> {
    let abs = |i: isize| if i < 0 { len as isize + i } else { i };
    let s = abs(start);
    let e = abs(end.unwrap_or(len as isize));
    if s < 0 || s > len as isize || e < 0 || e > len as isize {
        return None;
    }
    Some((s as usize, e.max(s) as usize))
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
        let mut elems = vec![SliceInfoElem::Slice { start: 0, end: None, step: 1 }; self.section.out.len()];
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndarray_range_rules() {
        assert_eq!(resolve_range(0, None, 10), Some((0, 10)));
        assert_eq!(resolve_range(-3, None, 10), Some((7, 10)));
        assert_eq!(resolve_range(5, Some(2), 10), Some((5, 5)));
        assert_eq!(resolve_range(0, Some(11), 10), None);
        assert_eq!(resolve_range(-11, None, 10), None);
        assert_eq!(resolve_index(-1, 10), Some(9));
        assert_eq!(resolve_index(10, 10), None);
    }
}
