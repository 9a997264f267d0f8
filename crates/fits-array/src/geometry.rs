//! Slice geometry: which elements of an image a slice selects, by ndarray's rules; pure bookkeeping
//! shared by sections (reads) and writers.

use crate::plan::AxisRange;
use ndarray::{ArrayD, Axis, IxDyn, SliceInfoElem};

/// Which pixels of one image axis a slice keeps: `first, first + step, ...` (`len` of them).
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

impl AxisSelection {
    /// The same elements in ascending order.
    pub(crate) fn ascending(&self) -> AxisRange {
        if self.step >= 0 || self.len == 0 {
            AxisRange { start: self.first, step: self.step.unsigned_abs().max(1), len: self.len }
        } else {
            let step = self.step.unsigned_abs();
            AxisRange { start: self.first - (self.len - 1) * step, step, len: self.len }
        }
    }
}

/// An output axis: an image axis, or a new axis of length `n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutAxis {
    Image(usize),
    New(usize),
}

/// The selection a chain of slices makes of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub(crate) axes: Vec<AxisSelection>,
    pub(crate) out: Vec<OutAxis>,
}

impl Geometry {
    /// Every element of an image of `shape`.
    pub(crate) fn full(shape: &[usize]) -> Geometry {
        Geometry {
            axes: shape.iter().map(|&n| AxisSelection { first: 0, step: 1, len: n, index: false }).collect(),
            out: (0..shape.len()).map(OutAxis::Image).collect(),
        }
    }

    /// The shape of the selection (output axes).
    pub(crate) fn shape(&self) -> Vec<usize> {
        self.out
            .iter()
            .map(|o| match o {
                OutAxis::Image(a) => self.axes[*a].len,
                OutAxis::New(n) => *n,
            })
            .collect()
    }

    /// The selection in ascending order per image axis (what readers and writers plan with).
    pub(crate) fn ascending(&self) -> Vec<AxisRange> {
        self.axes.iter().map(AxisSelection::ascending).collect()
    }

    fn reverses(&self) -> bool {
        self.axes.iter().any(|s| s.step < 0 && s.len > 1)
    }

    /// Applies slice elements (ndarray's rules: negative indices from the end, negative steps
    /// reversing, indices dropping an axis, `NewAxis`). Out-of-bounds slices are errors.
    pub(crate) fn slice(&self, elems: &[SliceInfoElem], in_ndim: usize) -> Result<Geometry, String> {
        if in_ndim != self.out.len() {
            return Err(format!("the slice has {in_ndim} axes, the section has {}", self.out.len()));
        }
        let mut axes = self.axes.clone();
        let mut out = Vec::with_capacity(elems.len());
        let mut current = self.out.iter();
        for (k, elem) in elems.iter().enumerate() {
            if let SliceInfoElem::NewAxis = elem {
                out.push(OutAxis::New(1));
                continue;
            }
            let &axis = current.next().ok_or("more slice elements than axes")?;
            let len = match axis {
                OutAxis::Image(a) => axes[a].len,
                OutAxis::New(n) => n,
            };
            match *elem {
                SliceInfoElem::Index(i) => {
                    let i = resolve_index(i, len)
                        .ok_or_else(|| format!("slice element {k}: index {i} is out of bounds for length {len}"))?;
                    if let OutAxis::Image(a) = axis {
                        let s = &mut axes[a];
                        s.first = offset(s.first, s.step, i);
                        s.len = 1;
                        s.index = true;
                    }
                }
                SliceInfoElem::Slice { start, end, step } => {
                    let (from, to) = resolve_range(start, end, len).ok_or_else(|| {
                        format!("slice element {k}: {start}..{end:?} is out of bounds for length {len}")
                    })?;
                    if step == 0 {
                        return Err(format!("slice element {k}: step must not be zero"));
                    }
                    let m = to - from;
                    let n = m.div_ceil(step.unsigned_abs());
                    let first_old = if step > 0 || m == 0 { from } else { to - 1 };
                    out.push(match axis {
                        OutAxis::Image(a) => {
                            let s = &mut axes[a];
                            s.first = if n == 0 { s.first } else { offset(s.first, s.step, first_old) };
                            s.step *= step;
                            s.len = n;
                            OutAxis::Image(a)
                        }
                        OutAxis::New(_) => OutAxis::New(n),
                    });
                }
                SliceInfoElem::NewAxis => unreachable!("handled above"),
            }
        }
        Ok(Geometry { axes, out })
    }

    /// Turns values read in ascending order into the selection's array (its shape and order).
    pub(crate) fn arrange<T: Clone>(&self, ascending: Vec<T>) -> Result<ArrayD<T>, String> {
        let dims: Vec<usize> = self.axes.iter().map(|s| s.len).collect();
        let mut array = ArrayD::from_shape_vec(IxDyn(&dims), ascending).map_err(|e| e.to_string())?;
        if self.reverses() {
            for (a, s) in self.axes.iter().enumerate() {
                if s.step < 0 {
                    array.invert_axis(Axis(a));
                }
            }
            array = array.as_standard_layout().into_owned();
        }
        array.into_shape_with_order(IxDyn(&self.shape())).map_err(|e| e.to_string())
    }

    /// The inverse of [`Geometry::arrange`]: values in the selection's order (C order of its
    /// shape) put in ascending order, ready to be written run by run.
    pub(crate) fn ascending_values<T: Clone>(&self, in_order: Vec<T>) -> Result<Vec<T>, String> {
        if !self.reverses() {
            return Ok(in_order);
        }
        let dims: Vec<usize> = self.axes.iter().map(|s| s.len).collect();
        let mut array = ArrayD::from_shape_vec(IxDyn(&dims), in_order).map_err(|e| e.to_string())?;
        for (a, s) in self.axes.iter().enumerate() {
            if s.step < 0 {
                array.invert_axis(Axis(a));
            }
        }
        Ok(array.iter().cloned().collect())
    }
}

/// `first + i * step`, for an index `i` proven in range by the caller.
fn offset(first: usize, step: isize, i: usize) -> usize {
    (first as isize + step * i as isize) as usize
}

pub(crate) fn resolve_index(i: isize, len: usize) -> Option<usize> {
    let i = if i < 0 { len as isize + i } else { i };
    (0..len as isize).contains(&i).then_some(i as usize)
}

/// ndarray's rule: negative bounds count from the end; an end before the start gives an empty range.
pub(crate) fn resolve_range(start: isize, end: Option<isize>, len: usize) -> Option<(usize, usize)> {
    let abs = |i: isize| if i < 0 { len as isize + i } else { i };
    let s = abs(start);
    let e = abs(end.unwrap_or(len as isize));
    if s < 0 || s > len as isize || e < 0 || e > len as isize {
        return None;
    }
    Some((s as usize, e.max(s) as usize))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array, s};

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

    #[test]
    fn ascending_values_invert_arrange() {
        let g = Geometry::full(&[4, 5]).slice(s![..;-1, 1..5;-2].as_ref(), 2).unwrap();
        let a = Array::from_shape_fn((4, 5), |(i, j)| (i * 10 + j) as i32);
        let expect = a.slice(s![..;-1, 1..5;-2]).to_owned().into_dyn();
        let asc: Vec<i32> = {
            let sel = g.ascending();
            let mut v = Vec::new();
            for i in 0..sel[0].len {
                for j in 0..sel[1].len {
                    v.push(a[[sel[0].start + i * sel[0].step, sel[1].start + j * sel[1].step]]);
                }
            }
            v
        };
        let arranged = g.arrange(asc.clone()).unwrap();
        assert_eq!(arranged, expect);
        assert_eq!(g.ascending_values(arranged.iter().copied().collect()).unwrap(), asc);
    }
}
