//! Executing a plan: fetch the runs' bytes in bounded batches, decode them in parallel into the output.

use crate::error::Result;
use crate::fits::Hdu;
use crate::plan::{AxisRange, Runs, check_bounds, end_offset};
use fits_core::{Conversion, Element, decode_in_place, decode_into};
use fits_io::SyncRead;
use rayon::prelude::*;
use std::cell::RefCell;
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
    let mut out = output_for::<T>(hdu, n)?;
    let runs = Runs::new(shape, elem, data_start, selection);
    fill(hdu, runs, conv, &mut out).await?;
    Ok(out)
}

/// The byte ranges a selection reads, in output order (for inspection and tests).
pub(crate) fn selection_ranges(
    shape: &[usize],
    elem: usize,
    data_start: u64,
    selection: &[AxisRange],
) -> Vec<Range<u64>> {
    Runs::new(shape, elem, data_start, selection).map(|r| r.bytes(elem)).collect()
}

/// Outputs at least this large ask for transparent huge pages.
const HUGE_PAGE_MIN: usize = 4 << 20;

/// A zeroed output vector, or `None` when the memory cannot be had. Zeroed allocations come
/// straight from the kernel (no pass over the memory here); large ones are advised to use huge
/// pages before their first touch, which makes faulting them in several times cheaper.
pub(crate) fn output_vec<T: Element>(n: usize) -> Option<Vec<T>> {
    if n == 0 {
        return Some(Vec::new());
    }
    let layout = std::alloc::Layout::array::<T>(n).ok()?;
    // SAFETY: the layout has a non-zero size; a null result is handled.
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<T>();
    if ptr.is_null() {
        return None;
    }
    // SAFETY: allocated by the global allocator with the layout of `n` elements of T, all zero
    // bits, which is a valid value of every Element type (sealed to integers and floats).
    let v = unsafe { Vec::from_raw_parts(ptr, n, n) };
    let bytes = n * std::mem::size_of::<T>();
    if bytes >= HUGE_PAGE_MIN {
        let start = v.as_ptr() as usize;
        let aligned = (start + 4095) & !4095;
        let len = (bytes - (aligned - start)) & !4095;
        // SAFETY: the range lies inside the allocation; MADV_HUGEPAGE changes only how it is backed.
        unsafe { libc::madvise(aligned as *mut libc::c_void, len, libc::MADV_HUGEPAGE) };
    }
    Some(v)
}

/// [`output_vec`], or an error naming the HDU and the size when the memory cannot be had.
pub(crate) fn output_for<T: Element>(hdu: &Hdu, n: usize) -> Result<Vec<T>> {
    output_vec(n).ok_or_else(|| crate::Error::OutOfMemory {
        location: hdu.location().to_string(),
        hdu: hdu.index(),
        elements: n,
        bytes: (n as u128) * std::mem::size_of::<T>() as u128,
    })
}

async fn fill<T: Element>(hdu: &Hdu, runs: Runs, conv: &Conversion, out: &mut [T]) -> Result<()> {
    if let Some(sync) = hdu.driver().as_sync() {
        return fill_sync(hdu, sync, runs, conv, out);
    }
    fill_async(hdu, runs, conv, out).await
}

/// Bytes a job may span (bounds the scratch buffer of strided reads).
const JOB_SPAN_BYTES: usize = 4 << 20;
/// Jobs gathered before they are run.
const BATCH_JOBS: usize = 1 << 14;

/// One piece of work: read `count` elements (every `step`-th) at `offset` into `dst`.
struct Job<'a, T> {
    offset: u64,
    step: usize,
    dst: &'a mut [T],
}

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Fills the output from a driver that reads synchronously (local file, memory):
/// runs are cut into jobs run on all cores; each job reads straight into its
/// part of the output and decodes in place when the conversion keeps the
/// element size, or reads into a per-thread scratch buffer and decodes from there.
fn fill_sync<T: Element>(hdu: &Hdu, sync: &dyn SyncRead, runs: Runs, conv: &Conversion, out: &mut [T]) -> Result<()> {
    let elem = runs.elem_size();
    let in_place = T::can_decode_in_place(conv);
    let run_job = |job: Job<'_, T>| -> Result<()> {
        if in_place && job.step == 1 {
            sync.read_into(job.offset, T::as_bytes_mut(job.dst))?;
            decode_in_place(job.dst, conv);
            return Ok(());
        }
        let span = conv.source_len(job.dst.len(), job.step);
        SCRATCH.with(|cell| {
            let mut scratch = cell.borrow_mut();
            if scratch.len() < span {
                scratch.resize(span, 0);
            }
            sync.read_into(job.offset, &mut scratch[..span])?;
            decode_into(&scratch[..span], job.step, conv, job.dst).map_err(|e| hdu.format_error(e))
        })
    };
    let mut rest: &mut [T] = out;
    let mut jobs: Vec<Job<'_, T>> = Vec::new();
    let mut elements = 0usize;
    let flush = |jobs: &mut Vec<Job<'_, T>>, elements: usize| -> Result<()> {
        let batch = std::mem::take(jobs);
        if elements >= PARALLEL_MIN {
            batch.into_par_iter().try_for_each(run_job)
        } else {
            batch.into_iter().try_for_each(run_job)
        }
    };
    for run in runs {
        let piece = (JOB_SPAN_BYTES / (run.step * elem)).clamp(1, JOB_ELEMENTS);
        let mut done = 0;
        while done < run.count {
            let n = piece.min(run.count - done);
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(n);
            rest = tail;
            jobs.push(Job { offset: run.offset + (done * run.step * elem) as u64, step: run.step, dst: head });
            elements += n;
            done += n;
            if jobs.len() >= BATCH_JOBS {
                flush(&mut jobs, elements)?;
                elements = 0;
            }
        }
    }
    flush(&mut jobs, elements)
}

/// Fills the output through the driver's batched async reads (remote drivers).
async fn fill_async<T: Element>(hdu: &Hdu, mut runs: Runs, conv: &Conversion, out: &mut [T]) -> Result<()> {
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
