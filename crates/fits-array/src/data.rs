//! `ArrayData`: an array whose element type is known only at run time (the image's natural type).

use fits_core::{DType, Element};
use ndarray::{Array, Dimension};

/// An array of one of the ten element types, as [`crate::Image::read_dyn`] returns it.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub enum ArrayData<D: Dimension> {
    U8(Array<u8, D>),
    I8(Array<i8, D>),
    I16(Array<i16, D>),
    U16(Array<u16, D>),
    I32(Array<i32, D>),
    U32(Array<u32, D>),
    I64(Array<i64, D>),
    U64(Array<u64, D>),
    F32(Array<f32, D>),
    F64(Array<f64, D>),
}

/// Runs `$body` with `$a` bound to the typed array inside an [`ArrayData`].
#[macro_export]
macro_rules! with_array_data {
    ($data:expr, $a:ident => $body:expr) => {
        match $data {
            $crate::ArrayData::U8($a) => $body,
            $crate::ArrayData::I8($a) => $body,
            $crate::ArrayData::I16($a) => $body,
            $crate::ArrayData::U16($a) => $body,
            $crate::ArrayData::I32($a) => $body,
            $crate::ArrayData::U32($a) => $body,
            $crate::ArrayData::I64($a) => $body,
            $crate::ArrayData::U64($a) => $body,
            $crate::ArrayData::F32($a) => $body,
            $crate::ArrayData::F64($a) => $body,
        }
    };
}

impl<D: Dimension> ArrayData<D> {
    /// The element type.
    pub fn dtype(&self) -> DType {
        with_array_data!(self, a => element_dtype(a))
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        with_array_data!(self, a => a.shape())
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        with_array_data!(self, a => a.len())
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every element as `f64`, in logical (C) order.
    pub fn to_f64(&self) -> Array<f64, D> {
        with_array_data!(self, a => a.mapv(|v| v.to_f64()))
    }

    /// Big-endian bytes of the elements in their FITS storage (see [`DType::storage`]), C order.
    pub fn to_be_bytes(&self) -> Vec<u8> {
        with_array_data!(self, a => encode(a))
    }
}

fn element_dtype<T: Element, D: Dimension>(_: &Array<T, D>) -> DType {
    T::DTYPE
}

fn encode<T: Element, D: Dimension>(a: &Array<T, D>) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len() * T::DTYPE.size());
    match a.as_slice() {
        Some(s) => T::encode(s, &mut out),
        None => {
            let v: Vec<T> = a.iter().copied().collect();
            T::encode(&v, &mut out);
        }
    }
    out
}
