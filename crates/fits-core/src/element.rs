//! Element types and BITPIX: big-endian decoding to native values, with or without BSCALE/BZERO/BLANK.
//!
//! Decoding is a tight loop over whole buffers (`chunks_exact`), which the
//! compiler turns into vector byte swaps; callers split big buffers across
//! threads if they wish (this crate starts no threads).

use crate::error::{Error, Result};
use std::fmt;

/// The stored element type of an image, from `BITPIX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bitpix {
    /// `BITPIX = 8`: unsigned bytes.
    U8,
    /// `BITPIX = 16`: 16-bit two's complement.
    I16,
    /// `BITPIX = 32`: 32-bit two's complement.
    I32,
    /// `BITPIX = 64`: 64-bit two's complement.
    I64,
    /// `BITPIX = -32`: IEEE single precision.
    F32,
    /// `BITPIX = -64`: IEEE double precision.
    F64,
}

impl Bitpix {
    /// The `Bitpix` for a header value, or `None` if the value is not one of the six legal ones.
    pub fn from_value(value: i64) -> Option<Bitpix> {
        Some(match value {
            8 => Bitpix::U8,
            16 => Bitpix::I16,
            32 => Bitpix::I32,
            64 => Bitpix::I64,
            -32 => Bitpix::F32,
            -64 => Bitpix::F64,
            _ => return None,
        })
    }

    /// The header value.
    pub fn value(self) -> i64 {
        match self {
            Bitpix::U8 => 8,
            Bitpix::I16 => 16,
            Bitpix::I32 => 32,
            Bitpix::I64 => 64,
            Bitpix::F32 => -32,
            Bitpix::F64 => -64,
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        (self.value().unsigned_abs() / 8) as usize
    }

    /// Whether the stored values are floating point.
    pub fn is_float(self) -> bool {
        self.value() < 0
    }

    /// The element type of the stored values.
    pub fn raw_dtype(self) -> DType {
        match self {
            Bitpix::U8 => DType::U8,
            Bitpix::I16 => DType::I16,
            Bitpix::I32 => DType::I32,
            Bitpix::I64 => DType::I64,
            Bitpix::F32 => DType::F32,
            Bitpix::F64 => DType::F64,
        }
    }
}

impl fmt::Display for Bitpix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.value())
    }
}

/// A native element type (numpy's names in [`DType::name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    /// `u8`
    U8,
    /// `i8`
    I8,
    /// `i16`
    I16,
    /// `u16`
    U16,
    /// `i32`
    I32,
    /// `u32`
    U32,
    /// `i64`
    I64,
    /// `u64`
    U64,
    /// `f32`
    F32,
    /// `f64`
    F64,
}

impl DType {
    /// Every element type, unsigned before signed within a size.
    pub const ALL: [DType; 10] = [
        DType::U8,
        DType::I8,
        DType::I16,
        DType::U16,
        DType::I32,
        DType::U32,
        DType::I64,
        DType::U64,
        DType::F32,
        DType::F64,
    ];

    /// numpy's name for the type (`uint8`, `float32`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DType::U8 => "uint8",
            DType::I8 => "int8",
            DType::I16 => "int16",
            DType::U16 => "uint16",
            DType::I32 => "int32",
            DType::U32 => "uint32",
            DType::I64 => "int64",
            DType::U64 => "uint64",
            DType::F32 => "float32",
            DType::F64 => "float64",
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::U8 | DType::I8 => 1,
            DType::I16 | DType::U16 => 2,
            DType::I32 | DType::U32 | DType::F32 => 4,
            DType::I64 | DType::U64 | DType::F64 => 8,
        }
    }

    /// Whether the type is floating point.
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }

    /// How values of this type are stored: the BITPIX and the integer BZERO
    /// offset of the unsigned conventions (0 when none).
    pub fn storage(self) -> (Bitpix, i128) {
        match self {
            DType::U8 => (Bitpix::U8, 0),
            DType::I8 => (Bitpix::U8, -128),
            DType::I16 => (Bitpix::I16, 0),
            DType::U16 => (Bitpix::I16, 1 << 15),
            DType::I32 => (Bitpix::I32, 0),
            DType::U32 => (Bitpix::I32, 1 << 31),
            DType::I64 => (Bitpix::I64, 0),
            DType::U64 => (Bitpix::I64, 1 << 63),
            DType::F32 => (Bitpix::F32, 0),
            DType::F64 => (Bitpix::F64, 0),
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// BSCALE, BZERO and BLANK of an image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scaling {
    /// `BSCALE` (default 1).
    pub bscale: f64,
    /// `BZERO` (default 0).
    pub bzero: f64,
    /// `BLANK`: the stored integer that marks an undefined pixel.
    pub blank: Option<i64>,
}

impl Default for Scaling {
    fn default() -> Self {
        Scaling { bscale: 1.0, bzero: 0.0, blank: None }
    }
}

impl Scaling {
    /// Whether physical values equal stored values.
    pub fn is_identity(&self) -> bool {
        self.bscale == 1.0 && self.bzero == 0.0
    }

    /// The natural type of the physical values, following the reference reader
    /// (astropy): unsigned conventions give unsigned integers (and `i8`),
    /// other scaling or a BLANK gives floats (`f32` for BITPIX 8 and 16,
    /// `f64` for 32 and 64), and otherwise the stored type.
    pub fn physical_dtype(&self, bitpix: Bitpix) -> DType {
        if bitpix.is_float() {
            return bitpix.raw_dtype();
        }
        if self.is_identity() && self.blank.is_none() {
            return bitpix.raw_dtype();
        }
        if self.bscale == 1.0 {
            let pseudo = match bitpix {
                Bitpix::U8 if self.bzero == -128.0 => Some(DType::I8),
                Bitpix::I16 if self.bzero == 32768.0 => Some(DType::U16),
                Bitpix::I32 if self.bzero == 2147483648.0 => Some(DType::U32),
                Bitpix::I64 if self.bzero == 9223372036854775808.0 => Some(DType::U64),
                _ => None,
            };
            if let Some(d) = pseudo {
                return d;
            }
        }
        match bitpix {
            Bitpix::U8 | Bitpix::I16 => DType::F32,
            _ => DType::F64,
        }
    }

    /// The integer offset, when physical values are integers (`BSCALE = 1`, whole `BZERO`).
    fn integer_offset(&self) -> Option<i128> {
        (self.bscale == 1.0 && self.bzero.fract() == 0.0 && self.bzero.abs() <= 1.9e19).then_some(self.bzero as i128)
    }
}

/// How stored values become the values handed out: raw, or physical with a [`Scaling`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conversion {
    /// The stored type.
    pub bitpix: Bitpix,
    /// The scaling to apply; `None` for raw (stored) values.
    pub scaling: Option<Scaling>,
}

impl Conversion {
    /// Stored values as they are.
    pub fn raw(bitpix: Bitpix) -> Conversion {
        Conversion { bitpix, scaling: None }
    }

    /// Physical values: `stored * BSCALE + BZERO`, BLANK as NaN for float targets.
    pub fn physical(bitpix: Bitpix, scaling: Scaling) -> Conversion {
        Conversion { bitpix, scaling: Some(scaling) }
    }

    fn describe(&self) -> String {
        match &self.scaling {
            None => format!("raw BITPIX {}", self.bitpix),
            Some(s) => format!("BITPIX {} with BSCALE {} BZERO {}", self.bitpix, s.bscale, s.bzero),
        }
    }

    /// Source bytes needed to decode `count` elements taking every `step`-th.
    pub fn source_len(&self, count: usize, step: usize) -> usize {
        if count == 0 { 0 } else { ((count - 1) * step + 1) * self.bitpix.size() }
    }
}

mod sealed {
    pub trait Sealed {}
}

/// A native element type that images can be read into and written from.
///
/// Implemented for `u8 i8 i16 u16 i32 u32 i64 u64 f32 f64`.
pub trait Element: Copy + Default + PartialOrd + Send + Sync + fmt::Debug + 'static + sealed::Sealed {
    /// The matching [`DType`].
    const DTYPE: DType;

    /// Decodes `dst.len()` elements from big-endian `src`, taking every
    /// `step`-th stored element, applying `conv`.
    ///
    /// Errors if the conversion cannot be represented (float stored values
    /// into an integer type, non-integer scaling into an integer type, a
    /// value out of range, a BLANK pixel into an integer type), or if `src`
    /// is too short.
    fn decode(src: &[u8], step: usize, conv: &Conversion, dst: &mut [Self]) -> Result<()>;

    /// Whether [`Element::decode_in_place`] can apply `conv`: the stored
    /// elements have this type's size and need no BLANK handling into integers.
    fn can_decode_in_place(conv: &Conversion) -> bool;

    /// Decodes elements whose memory holds big-endian stored values (read
    /// there with [`Element::as_bytes_mut`]), in place. Only valid when
    /// [`Element::can_decode_in_place`] is true for `conv`.
    fn decode_in_place(values: &mut [Self], conv: &Conversion);

    /// The elements' memory as bytes, to read stored values into.
    fn as_bytes_mut(values: &mut [Self]) -> &mut [u8] {
        // SAFETY: Element is sealed to primitive integers and floats: no padding,
        // every bit pattern is a valid value, and u8 has alignment 1.
        unsafe { std::slice::from_raw_parts_mut(values.as_mut_ptr().cast::<u8>(), std::mem::size_of_val(values)) }
    }

    /// Encodes values as big-endian bytes of the type's storage
    /// ([`DType::storage`]: unsigned types are offset, as the conventions say).
    fn encode(src: &[Self], dst: &mut Vec<u8>);

    /// The value as `f64` (for statistics).
    fn to_f64(self) -> f64;
}

/// Encodes physical values as the stored big-endian values of `conv` (appended to `dst`):
/// `stored = round((value - BZERO) / BSCALE)` for integer storage, NaN as BLANK.
///
/// Values whose type is the storage's exact native type (`f32` into BITPIX -32, `u16` into
/// BITPIX 16 with BZERO 32768, ...) are copied without arithmetic. Errors, naming the first
/// offending element: NaN into integers without BLANK, values out of the stored type's range,
/// infinities into integers, fractions into integers without BSCALE. On error `dst` is left as it was.
pub fn encode_physical<T: Element>(values: &[T], conv: &Conversion, dst: &mut Vec<u8>) -> Result<()> {
    let scaling = conv.scaling.unwrap_or_default();
    let (bitpix, zero) = T::DTYPE.storage();
    if bitpix == conv.bitpix && scaling.bscale == 1.0 && zero as f64 == scaling.bzero {
        T::encode(values, dst);
        return Ok(());
    }
    let start = dst.len();
    let fail = |dst: &mut Vec<u8>, i: usize, v: f64, why: &str| {
        dst.truncate(start);
        Err(Error::Conversion {
            from: format!("{} values", T::DTYPE),
            to: conv.bitpix.raw_dtype().name(),
            reason: format!("element {i} ({v}): {why}"),
        })
    };
    let (a, b) = (scaling.bscale, scaling.bzero);
    dst.reserve(values.len() * conv.bitpix.size());
    macro_rules! ints {
        ($t:ty) => {{
            for (i, v) in values.iter().enumerate() {
                let x = v.to_f64();
                let stored: $t = if x.is_nan() {
                    match scaling.blank.and_then(|bl| <$t>::try_from(bl).ok()) {
                        Some(bl) => bl,
                        None => return fail(dst, i, x, "NaN needs a BLANK value in an integer image"),
                    }
                } else {
                    let exact = (x - b) / a;
                    let q = exact.round();
                    if a == 1.0 && q != exact {
                        return fail(dst, i, x, "not a whole number, and the image has no BSCALE to quantize with");
                    }
                    if !(q >= <$t>::MIN as f64 && q <= <$t>::MAX as f64) {
                        return fail(dst, i, x, "outside the range of the stored type after BSCALE/BZERO");
                    }
                    q as $t
                };
                dst.extend_from_slice(&stored.to_be_bytes());
            }
        }};
    }
    match conv.bitpix {
        Bitpix::U8 => ints!(u8),
        Bitpix::I16 => ints!(i16),
        Bitpix::I32 => ints!(i32),
        Bitpix::I64 => ints!(i64),
        Bitpix::F32 => {
            values.iter().for_each(|v| dst.extend_from_slice(&(((v.to_f64() - b) / a) as f32).to_bits().to_be_bytes()))
        }
        Bitpix::F64 => {
            values.iter().for_each(|v| dst.extend_from_slice(&((v.to_f64() - b) / a).to_bits().to_be_bytes()))
        }
    }
    Ok(())
}

/// Decodes `dst.len()` elements, checking `src` is long enough first.
pub fn decode_into<T: Element>(src: &[u8], step: usize, conv: &Conversion, dst: &mut [T]) -> Result<()> {
    let step = step.max(1);
    let need = conv.source_len(dst.len(), step);
    if src.len() < need {
        return Err(Error::BufferSize { expected: need, actual: src.len() });
    }
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { decode_avx2(src, step, conv, dst) };
        }
    }
    T::decode(src, step, conv, dst)
}

/// The same loops compiled for AVX2 (the generic code is inlined here, so it
/// is vectorized with 256-bit registers). Arithmetic is not contracted, so
/// results are identical to the baseline path.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn decode_avx2<T: Element>(src: &[u8], step: usize, conv: &Conversion, dst: &mut [T]) -> Result<()> {
    T::decode(src, step, conv, dst)
}

/// `from_be` for the bit patterns of floats.
trait SwapIfLe {
    fn swap_bytes_if_le(self) -> Self;
}
impl SwapIfLe for u32 {
    #[inline(always)]
    fn swap_bytes_if_le(self) -> Self {
        u32::from_be(self)
    }
}
impl SwapIfLe for u64 {
    #[inline(always)]
    fn swap_bytes_if_le(self) -> Self {
        u64::from_be(self)
    }
}

/// Decodes in place, with the same CPU dispatch as [`decode_into`]; `false`
/// (and nothing changed) if `conv` cannot be applied in place for `T`.
pub fn decode_in_place<T: Element>(values: &mut [T], conv: &Conversion) -> bool {
    if !T::can_decode_in_place(conv) {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            unsafe { decode_in_place_avx2(values, conv) };
            return true;
        }
    }
    T::decode_in_place(values, conv);
    true
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn decode_in_place_avx2<T: Element>(values: &mut [T], conv: &Conversion) {
    T::decode_in_place(values, conv)
}

/// A big-endian stored type.
trait Stored: Copy {
    const SIZE: usize;
    fn from_be(chunk: &[u8]) -> Self;
    fn as_f64(self) -> f64;
    fn as_i128(self) -> i128;
    fn is_blank(self, blank: i64) -> bool;
}

macro_rules! stored_int {
    ($t:ty, $n:expr) => {
        impl Stored for $t {
            const SIZE: usize = $n;
            #[inline(always)]
            fn from_be(chunk: &[u8]) -> Self {
                let mut b = [0u8; $n];
                b.copy_from_slice(&chunk[..$n]);
                <$t>::from_be_bytes(b)
            }
            #[inline(always)]
            fn as_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn as_i128(self) -> i128 {
                self as i128
            }
            #[inline(always)]
            fn is_blank(self, blank: i64) -> bool {
                self as i64 == blank
            }
        }
    };
}
stored_int!(u8, 1);
stored_int!(i16, 2);
stored_int!(i32, 4);
stored_int!(i64, 8);

macro_rules! stored_float {
    ($t:ty, $bits:ty, $n:expr) => {
        impl Stored for $t {
            const SIZE: usize = $n;
            #[inline(always)]
            fn from_be(chunk: &[u8]) -> Self {
                let mut b = [0u8; $n];
                b.copy_from_slice(&chunk[..$n]);
                <$t>::from_bits(<$bits>::from_be_bytes(b))
            }
            #[inline(always)]
            fn as_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn as_i128(self) -> i128 {
                self as i128
            }
            #[inline(always)]
            fn is_blank(self, _blank: i64) -> bool {
                false
            }
        }
    };
}
stored_float!(f32, u32, 4);
stored_float!(f64, u64, 8);

/// The one loop everything goes through: map each stored element to a target.
#[inline(always)]
fn map<S: Stored, T>(src: &[u8], step: usize, dst: &mut [T], f: impl Fn(S) -> T) {
    if step == 1 {
        for (d, c) in dst.iter_mut().zip(src.chunks_exact(S::SIZE)) {
            *d = f(S::from_be(c));
        }
    } else {
        for (d, c) in dst.iter_mut().zip(src.chunks_exact(S::SIZE).step_by(step)) {
            *d = f(S::from_be(c));
        }
    }
}

/// Decodes into a float type.
#[inline(always)]
fn to_float<S: Stored, T: Copy>(
    src: &[u8],
    step: usize,
    conv: &Conversion,
    dst: &mut [T],
    cast: impl Fn(S) -> T,
    from_f64: impl Fn(f64) -> T,
    nan: T,
) {
    match conv.scaling {
        Some(s) if !s.is_identity() || (s.blank.is_some() && !conv.bitpix.is_float()) => {
            let (a, b) = (s.bscale, s.bzero);
            match s.blank.filter(|_| !conv.bitpix.is_float()) {
                Some(blank) => {
                    map(src, step, dst, |v: S| if v.is_blank(blank) { nan } else { from_f64(v.as_f64() * a + b) })
                }
                None => map(src, step, dst, |v: S| from_f64(v.as_f64() * a + b)),
            }
        }
        _ => map(src, step, dst, cast),
    }
}

macro_rules! float_element {
    ($t:ty, $dtype:expr) => {
        impl sealed::Sealed for $t {}
        impl Element for $t {
            const DTYPE: DType = $dtype;
            #[inline(always)]
            fn decode(src: &[u8], step: usize, conv: &Conversion, dst: &mut [Self]) -> Result<()> {
                if conv.scaling.is_none() && conv.bitpix.raw_dtype() != Self::DTYPE {
                    return Err(raw_mismatch::<Self>(conv));
                }
                let f = |x: f64| x as $t;
                match conv.bitpix {
                    Bitpix::U8 => to_float(src, step, conv, dst, |v: u8| v as $t, f, <$t>::NAN),
                    Bitpix::I16 => to_float(src, step, conv, dst, |v: i16| v as $t, f, <$t>::NAN),
                    Bitpix::I32 => to_float(src, step, conv, dst, |v: i32| v as $t, f, <$t>::NAN),
                    Bitpix::I64 => to_float(src, step, conv, dst, |v: i64| v as $t, f, <$t>::NAN),
                    Bitpix::F32 => to_float(src, step, conv, dst, |v: f32| v as $t, f, <$t>::NAN),
                    Bitpix::F64 => to_float(src, step, conv, dst, |v: f64| v as $t, f, <$t>::NAN),
                }
                Ok(())
            }
            fn can_decode_in_place(conv: &Conversion) -> bool {
                conv.bitpix.raw_dtype() == Self::DTYPE
            }
            #[inline(always)]
            fn decode_in_place(values: &mut [Self], conv: &Conversion) {
                match conv.scaling.filter(|s| !s.is_identity()) {
                    None => values.iter_mut().for_each(|x| *x = <$t>::from_bits(<$t>::to_bits(*x).swap_bytes_if_le())),
                    Some(s) => {
                        let (a, b) = (s.bscale, s.bzero);
                        values.iter_mut().for_each(|x| {
                            let v = <$t>::from_bits(<$t>::to_bits(*x).swap_bytes_if_le());
                            *x = (v as f64 * a + b) as $t;
                        })
                    }
                }
            }
            fn encode(src: &[Self], dst: &mut Vec<u8>) {
                dst.reserve(src.len() * std::mem::size_of::<$t>());
                for v in src {
                    dst.extend_from_slice(&v.to_bits().to_be_bytes());
                }
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
        }
    };
}
float_element!(f32, DType::F32);
float_element!(f64, DType::F64);

fn raw_mismatch<T: Element>(conv: &Conversion) -> Error {
    Error::Conversion {
        from: conv.describe(),
        to: T::DTYPE.name(),
        reason: format!("raw values of BITPIX {} are {}", conv.bitpix, conv.bitpix.raw_dtype()),
    }
}

/// Decodes an integer stored type into an integer target: offset by an
/// integer BZERO, range-checked, BLANK refused.
#[inline(always)]
fn to_int<S: Stored, T: Copy + TryFrom<i128>>(
    src: &[u8],
    step: usize,
    offset: i128,
    blank: Option<i64>,
    dst: &mut [T],
    conv: &Conversion,
    target: &'static str,
) -> Result<()> {
    let mut bad: Option<String> = None;
    let mut count = 0usize;
    if step == 1 {
        for (d, c) in dst.iter_mut().zip(src.chunks_exact(S::SIZE)) {
            let v = S::from_be(c);
            if blank.is_some_and(|b| v.is_blank(b)) {
                bad.get_or_insert_with(|| {
                    format!("element {count} is BLANK (undefined); read as a float type to get NaN")
                });
            }
            match T::try_from(v.as_i128() + offset) {
                Ok(t) => *d = t,
                Err(_) => {
                    bad.get_or_insert_with(|| format!("value {} does not fit", v.as_i128() + offset));
                }
            }
            count += 1;
        }
    } else {
        for (d, c) in dst.iter_mut().zip(src.chunks_exact(S::SIZE).step_by(step)) {
            let v = S::from_be(c);
            if blank.is_some_and(|b| v.is_blank(b)) {
                bad.get_or_insert_with(|| {
                    format!("element {count} is BLANK (undefined); read as a float type to get NaN")
                });
            }
            match T::try_from(v.as_i128() + offset) {
                Ok(t) => *d = t,
                Err(_) => {
                    bad.get_or_insert_with(|| format!("value {} does not fit", v.as_i128() + offset));
                }
            }
            count += 1;
        }
    }
    match bad {
        None => Ok(()),
        Some(reason) => Err(Error::Conversion { from: conv.describe(), to: target, reason }),
    }
}

macro_rules! int_element {
    ($t:ty, $dtype:expr, $fast:ident) => {
        impl sealed::Sealed for $t {}
        impl Element for $t {
            const DTYPE: DType = $dtype;
            #[inline(always)]
            fn decode(src: &[u8], step: usize, conv: &Conversion, dst: &mut [Self]) -> Result<()> {
                let name = Self::DTYPE.name();
                let (offset, blank) = match conv.scaling {
                    None => {
                        if conv.bitpix.raw_dtype() != Self::DTYPE {
                            return Err(raw_mismatch::<Self>(conv));
                        }
                        (0, None)
                    }
                    Some(s) => match s.integer_offset() {
                        Some(o) => (o, s.blank),
                        None => {
                            return Err(Error::Conversion {
                                from: conv.describe(),
                                to: name,
                                reason: "the physical values are not integers; read as f32 or f64".into(),
                            });
                        }
                    },
                };
                if blank.is_none() && $fast(src, step, conv.bitpix, offset, dst) {
                    return Ok(());
                }
                match conv.bitpix {
                    Bitpix::U8 => to_int::<u8, $t>(src, step, offset, blank, dst, conv, name),
                    Bitpix::I16 => to_int::<i16, $t>(src, step, offset, blank, dst, conv, name),
                    Bitpix::I32 => to_int::<i32, $t>(src, step, offset, blank, dst, conv, name),
                    Bitpix::I64 => to_int::<i64, $t>(src, step, offset, blank, dst, conv, name),
                    Bitpix::F32 | Bitpix::F64 => Err(Error::Conversion {
                        from: conv.describe(),
                        to: name,
                        reason: "floating-point pixels are not converted to integers; read as f32 or f64".into(),
                    }),
                }
            }
            fn can_decode_in_place(conv: &Conversion) -> bool {
                let offset = match conv.scaling {
                    None => 0,
                    Some(s) if s.blank.is_none() => match s.integer_offset() {
                        Some(o) => o,
                        None => return false,
                    },
                    Some(_) => return false,
                };
                Self::DTYPE.storage() == (conv.bitpix, offset)
            }
            #[inline(always)]
            fn decode_in_place(values: &mut [Self], _conv: &Conversion) {
                // The storage offset of this type is 0 or the sign bit (DType::storage).
                let flip: $t = if Self::DTYPE.storage().1 == 0 { 0 } else { (1 as $t).rotate_right(1) };
                values.iter_mut().for_each(|x| *x = <$t>::from_be(*x) ^ flip);
            }
            fn encode(src: &[Self], dst: &mut Vec<u8>) {
                let (_, zero) = Self::DTYPE.storage();
                dst.reserve(src.len() * std::mem::size_of::<$t>());
                for &v in src {
                    // The stored value is v - zero, which fits the storage type by construction of DType::storage.
                    let stored = (v as i128 - zero) as $t;
                    dst.extend_from_slice(&stored.to_be_bytes());
                }
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
        }
    };
}

/// Fast paths without range checks: same type (byte swap) and the unsigned conventions (sign flip).
macro_rules! fast_path {
    ($name:ident, $t:ty, $bitpix:expr, $stored:ty, $flip:expr) => {
        #[inline(always)]
        fn $name(src: &[u8], step: usize, bitpix: Bitpix, offset: i128, dst: &mut [$t]) -> bool {
            if bitpix != $bitpix {
                return false;
            }
            if offset == 0
                && std::mem::size_of::<$stored>() == std::mem::size_of::<$t>()
                && <$t>::MIN as i128 == <$stored>::MIN as i128
            {
                map(src, step, dst, |v: $stored| v as $t);
                true
            } else if offset == $flip {
                map(src, step, dst, |v: $stored| (v as $t) ^ (1 << (std::mem::size_of::<$t>() * 8 - 1)));
                true
            } else {
                false
            }
        }
    };
}
fast_path!(fast_u8, u8, Bitpix::U8, u8, i128::MAX);
fast_path!(fast_i8, i8, Bitpix::U8, u8, -128);
fast_path!(fast_i16, i16, Bitpix::I16, i16, i128::MAX);
fast_path!(fast_u16, u16, Bitpix::I16, i16, 1 << 15);
fast_path!(fast_i32, i32, Bitpix::I32, i32, i128::MAX);
fast_path!(fast_u32, u32, Bitpix::I32, i32, 1 << 31);
fast_path!(fast_i64, i64, Bitpix::I64, i64, i128::MAX);
fast_path!(fast_u64, u64, Bitpix::I64, i64, 1 << 63);

int_element!(u8, DType::U8, fast_u8);
int_element!(i8, DType::I8, fast_i8);
int_element!(i16, DType::I16, fast_i16);
int_element!(u16, DType::U16, fast_u16);
int_element!(i32, DType::I32, fast_i32);
int_element!(u32, DType::U32, fast_u32);
int_element!(i64, DType::I64, fast_i64);
int_element!(u64, DType::U64, fast_u64);

#[cfg(test)]
mod tests {
    use super::*;

    fn be16(v: &[i16]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_be_bytes()).collect()
    }

    #[test]
    fn raw_and_physical_i16() {
        let src = be16(&[-32768, -1, 0, 1, 32767]);
        let mut raw = [0i16; 5];
        decode_into(&src, 1, &Conversion::raw(Bitpix::I16), &mut raw).unwrap();
        assert_eq!(raw, [-32768, -1, 0, 1, 32767]);
        let unsigned = Scaling { bscale: 1.0, bzero: 32768.0, blank: None };
        assert_eq!(unsigned.physical_dtype(Bitpix::I16), DType::U16);
        let mut u = [0u16; 5];
        decode_into(&src, 1, &Conversion::physical(Bitpix::I16, unsigned), &mut u).unwrap();
        assert_eq!(u, [0, 32767, 32768, 32769, 65535]);
        let mut f = [0f32; 5];
        decode_into(&src, 1, &Conversion::physical(Bitpix::I16, unsigned), &mut f).unwrap();
        assert_eq!(f, [0.0, 32767.0, 32768.0, 32769.0, 65535.0]);
        // u16 physical values do not fit i16: an error, not wrapped numbers.
        let e = decode_into(&src, 1, &Conversion::physical(Bitpix::I16, unsigned), &mut [0i16; 5]).unwrap_err();
        assert!(e.to_string().contains("does not fit"), "{e}");
    }

    #[test]
    fn scaling_and_blank() {
        let src = be16(&[10, -999, 20]);
        let s = Scaling { bscale: 0.5, bzero: 100.0, blank: Some(-999) };
        assert_eq!(s.physical_dtype(Bitpix::I16), DType::F32);
        let mut f = [0f64; 3];
        decode_into(&src, 1, &Conversion::physical(Bitpix::I16, s), &mut f).unwrap();
        assert_eq!(f[0], 105.0);
        assert!(f[1].is_nan());
        assert_eq!(f[2], 110.0);
        let e = decode_into(&src, 1, &Conversion::physical(Bitpix::I16, s), &mut [0i32; 3]).unwrap_err();
        assert!(e.to_string().contains("not integers"), "{e}");
        let blank_only = Scaling { bscale: 1.0, bzero: 0.0, blank: Some(-999) };
        assert_eq!(blank_only.physical_dtype(Bitpix::I16), DType::F32);
        let e = decode_into(&src, 1, &Conversion::physical(Bitpix::I16, blank_only), &mut [0i16; 3]).unwrap_err();
        assert!(e.to_string().contains("BLANK"), "{e}");
    }

    #[test]
    fn unsigned_conventions() {
        let s = |z: f64| Scaling { bscale: 1.0, bzero: z, blank: None };
        assert_eq!(s(-128.0).physical_dtype(Bitpix::U8), DType::I8);
        assert_eq!(s(2147483648.0).physical_dtype(Bitpix::I32), DType::U32);
        assert_eq!(s(9223372036854775808.0).physical_dtype(Bitpix::I64), DType::U64);
        let mut i = [0i8; 3];
        decode_into(&[0u8, 128, 255], 1, &Conversion::physical(Bitpix::U8, s(-128.0)), &mut i).unwrap();
        assert_eq!(i, [-128, 0, 127]);
        let src: Vec<u8> = [i64::MIN, 0, i64::MAX].iter().flat_map(|x| x.to_be_bytes()).collect();
        let mut u = [0u64; 3];
        decode_into(&src, 1, &Conversion::physical(Bitpix::I64, s(9223372036854775808.0)), &mut u).unwrap();
        assert_eq!(u, [0, 1 << 63, u64::MAX]);
        let mut back = Vec::new();
        u64::encode(&u, &mut back);
        assert_eq!(back, src);
    }

    #[test]
    fn floats_and_steps() {
        let v: Vec<f32> = (0..10).map(|x| x as f32 * 1.5).collect();
        let mut src = Vec::new();
        f32::encode(&v, &mut src);
        let mut out = [0f32; 4];
        decode_into(&src, 3, &Conversion::raw(Bitpix::F32), &mut out).unwrap();
        assert_eq!(out, [0.0, 4.5, 9.0, 13.5]);
        let mut wide = [0f64; 10];
        decode_into(&src, 1, &Conversion::physical(Bitpix::F32, Scaling::default()), &mut wide).unwrap();
        assert_eq!(wide[9], 13.5);
        let e =
            decode_into(&src, 1, &Conversion::physical(Bitpix::F32, Scaling::default()), &mut [0i32; 10]).unwrap_err();
        assert!(e.to_string().contains("floating-point"));
        let e = decode_into(&src[..8], 1, &Conversion::raw(Bitpix::F32), &mut [0f32; 3]).unwrap_err();
        assert!(matches!(e, Error::BufferSize { expected: 12, actual: 8 }));
    }

    #[test]
    fn in_place_matches_decode_into() {
        fn check<T: Element + PartialEq>(bytes: &[u8], conv: Conversion) {
            let n = bytes.len() / T::DTYPE.size();
            let mut expect = vec![T::default(); n];
            decode_into(bytes, 1, &conv, &mut expect).unwrap();
            let mut got = vec![T::default(); n];
            T::as_bytes_mut(&mut got).copy_from_slice(bytes);
            assert!(decode_in_place(&mut got, &conv), "{:?} -> {}", conv, T::DTYPE);
            assert_eq!(got, expect, "{:?} -> {}", conv, T::DTYPE);
        }
        let bytes: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(37)).collect();
        let s = |z: f64| Scaling { bscale: 1.0, bzero: z, blank: None };
        check::<f32>(&bytes, Conversion::raw(Bitpix::F32));
        check::<f32>(&bytes, Conversion::physical(Bitpix::F32, Scaling { bscale: 2.0, bzero: 1.0, blank: None }));
        check::<f64>(&bytes, Conversion::physical(Bitpix::F64, s(0.0)));
        check::<i16>(&bytes, Conversion::raw(Bitpix::I16));
        check::<u16>(&bytes, Conversion::physical(Bitpix::I16, s(32768.0)));
        check::<u32>(&bytes, Conversion::physical(Bitpix::I32, s(2147483648.0)));
        check::<u64>(&bytes, Conversion::physical(Bitpix::I64, s(9223372036854775808.0)));
        check::<i8>(&bytes, Conversion::physical(Bitpix::U8, s(-128.0)));
        check::<u8>(&bytes, Conversion::physical(Bitpix::U8, s(0.0)));
        check::<i64>(&bytes, Conversion::raw(Bitpix::I64));
        // Not in place: size changes, BLANK into integers, non-integer scaling.
        assert!(!f32::can_decode_in_place(&Conversion::raw(Bitpix::I16)));
        assert!(!i16::can_decode_in_place(&Conversion::physical(
            Bitpix::I16,
            Scaling { bscale: 1.0, bzero: 0.0, blank: Some(5) }
        )));
        assert!(!i16::can_decode_in_place(&Conversion::physical(Bitpix::I16, s(32768.0))));
        assert!(!f64::can_decode_in_place(&Conversion::raw(Bitpix::F32)));
    }

    #[test]
    fn encoding_physical_values_round_trips() {
        let s = Scaling { bscale: 0.5, bzero: 100.0, blank: Some(-32768) };
        let conv = Conversion::physical(Bitpix::I16, s);
        let values = [100.0f32, 101.5, f32::NAN, 90.25];
        let mut bytes = Vec::new();
        encode_physical(&values, &conv, &mut bytes).unwrap();
        let mut back = [0f32; 4];
        decode_into(&bytes, 1, &conv, &mut back).unwrap();
        assert_eq!(back[0], 100.0);
        assert_eq!(back[1], 101.5);
        assert!(back[2].is_nan());
        assert_eq!(back[3], 90.0, "(90.25 - 100) / 0.5 = -19.5 rounds to -20");
        // Exact storage copies.
        let mut raw = Vec::new();
        encode_physical(
            &[1u16, 65535],
            &Conversion::physical(Bitpix::I16, Scaling { bscale: 1.0, bzero: 32768.0, blank: None }),
            &mut raw,
        )
        .unwrap();
        assert_eq!(raw, [0x80, 0x01, 0x7f, 0xff]);
        // Errors name the element and leave the buffer as it was.
        let mut out = vec![9u8];
        let no_blank = Conversion::physical(Bitpix::I16, Scaling::default());
        let e = encode_physical(&[1.0f64, f64::NAN], &no_blank, &mut out).unwrap_err().to_string();
        assert!(e.contains("element 1") && e.contains("BLANK"), "{e}");
        assert_eq!(out, [9u8]);
        let e = encode_physical(&[40000.0f64], &no_blank, &mut out).unwrap_err().to_string();
        assert!(e.contains("outside the range"), "{e}");
        let e = encode_physical(&[f64::INFINITY], &no_blank, &mut out).unwrap_err().to_string();
        assert!(e.contains("outside the range"), "{e}");
        // Without BSCALE, floats must be whole numbers: 1.7 is not silently stored as 2.
        let e = encode_physical(&[2.0f32, 1.7], &no_blank, &mut out).unwrap_err().to_string();
        assert!(e.contains("element 1") && e.contains("whole number"), "{e}");
    }

    #[test]
    fn raw_requires_the_stored_type() {
        let e = decode_into(&[0u8; 4], 1, &Conversion::raw(Bitpix::I16), &mut [0f32; 2]).unwrap_err();
        assert!(e.to_string().contains("int16"), "{e}");
    }

    #[test]
    fn integer_round_trip_every_type() {
        fn check<T: Element + PartialEq>(vals: &[T]) {
            let mut bytes = Vec::new();
            T::encode(vals, &mut bytes);
            let (bitpix, zero) = T::DTYPE.storage();
            let s = Scaling { bscale: 1.0, bzero: zero as f64, blank: None };
            let mut out = vec![T::default(); vals.len()];
            decode_into(&bytes, 1, &Conversion::physical(bitpix, s), &mut out).unwrap();
            assert_eq!(out, vals);
            assert_eq!(s.physical_dtype(bitpix), T::DTYPE);
        }
        check(&[0u8, 255]);
        check(&[i8::MIN, 0, i8::MAX]);
        check(&[i16::MIN, 0, i16::MAX]);
        check(&[0u16, u16::MAX]);
        check(&[i32::MIN, i32::MAX]);
        check(&[0u32, u32::MAX]);
        check(&[i64::MIN, i64::MAX]);
        check(&[0u64, u64::MAX]);
        check(&[f32::MIN, 0.5, f32::MAX]);
        check(&[f64::MIN, -0.25, f64::MAX]);
    }
}
