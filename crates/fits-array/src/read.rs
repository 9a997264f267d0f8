//! Executing a plan: fetch the runs' bytes in bounded batches, decode them in parallel into the output.

use crate::error::Result;
use crate::fits::Hdu;
use crate::plan::{AxisRange, Runs, check_bounds, end_offset};
use fits_core::{Conversion, Element, decode_into};
use rayon::prelude::*;
use std::ops::Range;

/// Bytes fetched per batch: bounds the memory a read holds beyond its output.
const BATCH_BYTES: u64 = 64 << 20;
/// Runs per batch.
const BATCH_RUNS: usize = 1 << 16;
/// Elements per parallel decode job.
const JOB_ELEMENTS: usize = 1 << 18;
/// Below this many elements in a batch, decode on the calling thread.
const PARALLEL_MIN: usize = 1 << 19;

/// Reads the elements `selection` picks from an array of `shape` stored at
/// `data_start` in `hdu`'s file, converting with `conv`, in C order.
pub(crate) async fn read_selection<T: Element>(
    hdu: &Hdu,
    shape: &[usize],
    data_start: u64,
    selection: &[AxisRange],
    conv: &Conversion,
) -> Result<Vec<T>> {
    let elem = conv.bitpix.size();
    check_bounds(shape, selection).map_err(|reason| crate::Error::Slice {
        location: hdu.location().to_string(),
        hdu: hdu.index(),
        reason,
    })?;
    let end = end_offset(shape, elem, data_start, selection);
    let layout = hdu.layout();
    let available_end = layout.data_start + hdu.available_data();
    if end > available_end {
        return Err(hdu.format_error(fits_core::Error::DataTruncated {
            data_start: layout.data_start,
            expected: layout.data_len,
            actual: hdu.available_data(),
        }));
    }
    let n: usize = selection.iter().map(|s| s.len).product();
    let mut out = vec![T::default(); n];
    let runs = Runs::new(shape, elem, data_start, selection);
    fill(hdu, runs, conv, &mut out).await?;
    Ok(out)
}

/// The byte ranges a selection reads, in output order (for inspection and tests).
pub(crate) fn selection_ranges(shape: &[usize], elem: usize, data_start: u64, selection: &[AxisRange]) -> Vec<Range<u64>> {
    Runs::new(shape, elem, data_start, selection).map(|r| r.bytes(elem)).collect()
}

async fn fill<T: Element>(hdu: &Hdu, mut runs: Runs, conv: &Conversion, out: &mut [T]) -> Result<()> {
    let elem = runs.elem_size();
    let mut rest: &mut [T] = out;
    loop {
        let mut batch = Vec::new();
        let mut bytes = 0u64;
        for r in runs.by_ref() {
            let range = r.bytes(elem);
            bytes += range.end - range.start;
            batch.push(r);
            if bytes >= BATCH_BYTES || batch.len() >= BATCH_RUNS {
                break;
            }
        }
        if batch.is_empty() {
            return Ok(());
        }
        let ranges: Vec<Range<u64>> = batch.iter().map(|r| r.bytes(elem)).collect();
        let data = hdu.driver().read_ranges(&ranges).await?;
        let mut jobs: Vec<(&[u8], usize, &mut [T])> = Vec::with_capacity(batch.len());
        let mut elements = 0;
        for (r, src) in batch.iter().zip(&data) {
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(r.count);
            rest = tail;
            elements += r.count;
            if r.count > JOB_ELEMENTS {
                for (i, dst) in head.chunks_mut(JOB_ELEMENTS).enumerate() {
                    jobs.push((&src[i * JOB_ELEMENTS * r.step * elem..], r.step, dst));
                }
            } else {
                jobs.push((&src[..], r.step, head));
            }
        }
        let decode = |(src, step, dst): (&[u8], usize, &mut [T])| decode_into(src, step, conv, dst);
        let result = if elements >= PARALLEL_MIN {
            jobs.into_par_iter().try_for_each(decode)
        } else {
            jobs.into_iter().try_for_each(decode)
        };
        result.map_err(|e| hdu.format_error(e))?;
    }
}
