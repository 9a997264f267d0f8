//! The section planner: a pure function from (shape, element size, data offset, selection) to byte runs.
//!
//! A run is a stretch of the file holding `count` selected elements, every
//! `step`-th element of the stretch; runs come in the order of the output
//! array (C order), so run `k` fills the output right after run `k - 1`.

use std::ops::Range;

/// The elements selected along one axis: `start, start + step, ...`, `len` of them (ascending).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AxisRange {
    /// First index.
    pub start: usize,
    /// Distance between selected indices (at least 1).
    pub step: usize,
    /// Number of indices.
    pub len: usize,
}

impl AxisRange {
    /// Every index of an axis of length `n`.
    pub fn full(n: usize) -> AxisRange {
        AxisRange { start: 0, step: 1, len: n }
    }

    /// One index.
    pub fn index(i: usize) -> AxisRange {
        AxisRange { start: i, step: 1, len: 1 }
    }

    /// The last selected index (`start` when empty).
    pub fn last(&self) -> usize {
        self.start + self.len.saturating_sub(1) * self.step
    }

    fn is_full(&self, n: usize) -> bool {
        self.start == 0 && self.len == n && (self.step == 1 || n <= 1)
    }
}

/// One contiguous read feeding consecutive output elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// Absolute file offset of the first element.
    pub offset: u64,
    /// Elements this run yields.
    pub count: usize,
    /// Stored elements between yielded ones (1 = contiguous).
    pub step: usize,
}

impl Run {
    /// The bytes of the file this run reads.
    pub fn bytes(&self, elem_size: usize) -> Range<u64> {
        let span = if self.count == 0 { 0 } else { ((self.count - 1) * self.step + 1) * elem_size };
        self.offset..self.offset + span as u64
    }
}

/// A stride above this many bytes is read element by element instead of as one strided span.
pub const STRIDED_SPAN_LIMIT: usize = 64 * 1024;

/// The runs of a selection, generated lazily (a large selection can have millions).
#[derive(Debug, Clone)]
pub struct Runs {
    elem_size: usize,
    data_start: u64,
    /// Byte strides of each axis (numpy order).
    strides: Vec<u64>,
    /// Axes enumerated one run per index combination.
    outer: Vec<AxisRange>,
    /// Odometer over `outer`.
    counter: Vec<usize>,
    /// Offset of a run relative to its outer position's base.
    run_offset: u64,
    count: usize,
    step: usize,
    remaining: usize,
}

impl Runs {
    /// Plans the runs of `selection` over an image of `shape` (numpy order)
    /// whose elements are `elem_size` bytes from `data_start`. The selection
    /// must be in bounds ([`check_bounds`]).
    pub fn new(shape: &[usize], elem_size: usize, data_start: u64, selection: &[AxisRange]) -> Runs {
        let n = shape.len();
        let mut strides = vec![elem_size as u64; n];
        for a in (0..n.saturating_sub(1)).rev() {
            strides[a] = strides[a + 1] * shape[a + 1] as u64;
        }
        let empty = selection.iter().any(|s| s.len == 0);
        // Trailing axes taken whole form one contiguous block.
        let mut k = n;
        while k > 0 && selection[k - 1].is_full(shape[k - 1]) {
            k -= 1;
        }
        let block: usize = shape[k..].iter().product();
        let (outer_axes, run_offset, count, step) = if k == 0 {
            (0, 0, block, 1)
        } else {
            let s = selection[k - 1];
            let inner_offset = s.start as u64 * strides[k - 1];
            if s.step == 1 || s.len == 1 {
                (k - 1, inner_offset, s.len * block, 1)
            } else if block == 1 && s.step * elem_size <= STRIDED_SPAN_LIMIT {
                (k - 1, inner_offset, s.len, s.step)
            } else {
                // Each index of axis k-1 becomes its own run of the block.
                (k, 0, block, 1)
            }
        };
        let outer: Vec<AxisRange> = selection[..outer_axes].to_vec();
        let remaining = if empty { 0 } else { outer.iter().map(|s| s.len).product() };
        Runs {
            elem_size,
            data_start,
            strides: strides[..outer_axes].to_vec(),
            counter: vec![0; outer.len()],
            outer,
            run_offset,
            count,
            step,
            remaining,
        }
    }

    /// Number of runs left.
    pub fn remaining(&self) -> usize {
        self.remaining
    }

    /// Element size in bytes.
    pub fn elem_size(&self) -> usize {
        self.elem_size
    }
}

impl Iterator for Runs {
    type Item = Run;

    fn next(&mut self) -> Option<Run> {
        if self.remaining == 0 {
            return None;
        }
        let mut offset = self.data_start + self.run_offset;
        for (a, s) in self.outer.iter().enumerate() {
            offset += (s.start + self.counter[a] * s.step) as u64 * self.strides[a];
        }
        self.remaining -= 1;
        for a in (0..self.outer.len()).rev() {
            self.counter[a] += 1;
            if self.counter[a] < self.outer[a].len {
                break;
            }
            self.counter[a] = 0;
        }
        Some(Run { offset, count: self.count, step: self.step })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

/// Checks a selection against a shape; `Err` says which axis is out of bounds.
pub fn check_bounds(shape: &[usize], selection: &[AxisRange]) -> Result<(), String> {
    if shape.len() != selection.len() {
        return Err(format!("selection has {} axes, the image has {}", selection.len(), shape.len()));
    }
    for (a, (n, s)) in shape.iter().zip(selection).enumerate() {
        if s.len > 0 && (s.step == 0 || s.last() >= *n) {
            return Err(format!("axis {a}: index {} is out of bounds for length {n}", s.last()));
        }
    }
    Ok(())
}

/// One past the last byte the selection touches (`data_start` when empty).
pub fn end_offset(shape: &[usize], elem_size: usize, data_start: u64, selection: &[AxisRange]) -> u64 {
    if selection.iter().any(|s| s.len == 0) || shape.contains(&0) {
        return data_start;
    }
    let mut stride = elem_size as u64;
    let mut last = 0u64;
    for (n, s) in shape.iter().zip(selection).rev() {
        last += s.last() as u64 * stride;
        stride *= *n as u64;
    }
    data_start + last + elem_size as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(shape: &[usize], sel: &[AxisRange]) -> Vec<(u64, usize, usize)> {
        Runs::new(shape, 4, 1000, sel).map(|r| (r.offset, r.count, r.step)).collect()
    }

    fn r(start: usize, step: usize, len: usize) -> AxisRange {
        AxisRange { start, step, len }
    }

    #[test]
    fn whole_image_is_one_run() {
        assert_eq!(runs(&[4200, 4220], &[AxisRange::full(4200), AxisRange::full(4220)]), vec![(1000, 4200 * 4220, 1)]);
    }

    #[test]
    fn cutout_is_one_run_per_row() {
        let v = runs(&[4200, 4220], &[r(1600, 1, 350), r(2000, 1, 250)]);
        assert_eq!(v.len(), 350);
        assert_eq!(v[0], (1000 + (1600 * 4220 + 2000) * 4, 250, 1));
        assert_eq!(v[1].0 - v[0].0, 4220 * 4);
    }

    #[test]
    fn full_rows_merge() {
        assert_eq!(runs(&[10, 8], &[r(2, 1, 3), AxisRange::full(8)]), vec![(1000 + 2 * 8 * 4, 24, 1)]);
    }

    #[test]
    fn spectrum_of_a_cube() {
        let v = runs(&[200, 1024, 1024], &[AxisRange::full(200), AxisRange::index(512), AxisRange::index(512)]);
        assert_eq!(v.len(), 200);
        assert_eq!(v[0], (1000 + (512 * 1024 + 512) * 4, 1, 1));
        assert_eq!(v[199].0 - v[0].0, 199 * 1024 * 1024 * 4);
    }

    #[test]
    fn steps() {
        // Small stride on the fastest axis: one strided run per row.
        assert_eq!(runs(&[3, 10], &[r(0, 2, 2), r(1, 3, 3)]), vec![(1004, 3, 3), (1000 + 2 * 40 + 4, 3, 3)]);
        // A stride beyond the span limit: element by element.
        let v = runs(&[2, 100_000], &[AxisRange::full(2), r(0, 20_000, 5)]);
        assert_eq!(v.len(), 10);
        assert!(v.iter().all(|x| x.1 == 1));
        // Steps on an outer axis with whole rows inside: a run per selected row.
        assert_eq!(runs(&[6, 4], &[r(1, 2, 3), AxisRange::full(4)]), vec![(1016, 4, 1), (1048, 4, 1), (1080, 4, 1)]);
    }

    #[test]
    fn empty_and_bounds() {
        assert!(runs(&[5, 5], &[r(0, 1, 0), AxisRange::full(5)]).is_empty());
        assert!(check_bounds(&[5, 5], &[r(0, 1, 5), r(4, 1, 1)]).is_ok());
        let e = check_bounds(&[5, 5], &[r(0, 1, 5), r(3, 1, 3)]).unwrap_err();
        assert!(e.contains("axis 1") && e.contains("5"), "{e}");
        assert_eq!(end_offset(&[5, 5], 4, 0, &[r(4, 1, 1), r(4, 1, 1)]), 100);
        assert_eq!(runs(&[], &[]), vec![(1000, 1, 1)]);
    }

    #[test]
    fn runs_cover_exactly_the_selected_elements() {
        // Compare against a brute-force enumeration on small shapes.
        let shape = [4usize, 5, 6];
        let sels = [
            [r(1, 2, 2), r(0, 1, 5), r(2, 3, 2)],
            [AxisRange::full(4), r(4, 1, 1), AxisRange::full(6)],
            [r(3, 1, 1), AxisRange::full(5), AxisRange::full(6)],
            [r(0, 3, 2), r(1, 2, 2), r(5, 1, 1)],
        ];
        for sel in sels {
            let mut expect = Vec::new();
            for i in 0..sel[0].len {
                for j in 0..sel[1].len {
                    for k in 0..sel[2].len {
                        let (a, b, c) = (
                            sel[0].start + i * sel[0].step,
                            sel[1].start + j * sel[1].step,
                            sel[2].start + k * sel[2].step,
                        );
                        expect.push(((a * 5 + b) * 6 + c) as u64 * 4);
                    }
                }
            }
            let got: Vec<u64> = Runs::new(&shape, 4, 0, &sel)
                .flat_map(|r| (0..r.count).map(move |i| r.offset + (i * r.step * 4) as u64))
                .collect();
            assert_eq!(got, expect, "{sel:?}");
        }
    }
}
