//! Reading sections of tile-compressed images: only the table rows and heap bytes of the
//! tiles a selection touches are fetched; tiles are decoded in parallel straight into the output.

use crate::error::{Error, Result};
use crate::fits::Hdu;
use crate::plan::{AxisRange, check_bounds};
use crate::read::output_for;
use bytes::Bytes;
use fits_core::tiled::{TileRow, TiledImage};
use fits_core::{Conversion, Element, decode_into};
use rayon::prelude::*;
use std::cell::RefCell;
use std::ops::Range;

/// Compressed bytes fetched per batch from remote sources (bounds memory beyond the output).
const BATCH_BYTES: u64 = 64 << 20;

/// The zero-based numbers of the tiles a selection touches, ascending.
pub(crate) fn touched_tiles(tiled: &TiledImage, selection: &[AxisRange]) -> Vec<u64> {
    if selection.iter().any(|s| s.len == 0) || selection.len() != tiled.grid.shape.len() {
        return Vec::new();
    }
    let per_axis: Vec<Vec<usize>> = selection.iter().zip(&tiled.grid.tile).map(|(s, &t)| axis_tiles(s, t)).collect();
    let mut out = Vec::with_capacity(per_axis.iter().map(Vec::len).product());
    let mut counter = vec![0usize; per_axis.len()];
    loop {
        let coords: Vec<usize> = counter.iter().zip(&per_axis).map(|(&i, v)| v[i]).collect();
        out.push(tiled.grid.number(&coords));
        let mut a = per_axis.len();
        loop {
            if a == 0 {
                return out;
            }
            a -= 1;
            counter[a] += 1;
            if counter[a] < per_axis[a].len() {
                break;
            }
            counter[a] = 0;
        }
    }
}

/// Tile coordinates along one axis that a selection touches.
fn axis_tiles(s: &AxisRange, tile: usize) -> Vec<usize> {
    let tile = tile.max(1);
    if s.step <= tile {
        // Consecutive selected indices are at most a tile apart: every tile between is touched.
        (s.start / tile..=s.last() / tile).collect()
    } else {
        let mut v: Vec<usize> = (0..s.len).map(|j| (s.start + j * s.step) / tile).collect();
        v.dedup();
        v
    }
}

/// Contiguous spans of table rows for ascending tile numbers: (first tile, tiles).
fn row_spans(tiles: &[u64]) -> Vec<(u64, u64)> {
    let mut spans: Vec<(u64, u64)> = Vec::new();
    for &k in tiles {
        match spans.last_mut() {
            Some((first, n)) if *first + *n == k => *n += 1,
            _ => spans.push((k, 1)),
        }
    }
    spans
}

/// Reads the table rows of `tiles` and parses them.
pub(crate) async fn read_rows(hdu: &Hdu, tiled: &TiledImage, tiles: &[u64]) -> Result<Vec<TileRow>> {
    Ok(read_rows_and(hdu, tiled, tiles, None).await?.0)
}

/// Reads the table rows of `tiles`, and `extra` bytes in the same batch of requests (so in
/// the same round trip), and parses the rows.
async fn read_rows_and(
    hdu: &Hdu,
    tiled: &TiledImage,
    tiles: &[u64],
    extra: Option<Range<u64>>,
) -> Result<(Vec<TileRow>, Option<Bytes>)> {
    let data_start = hdu.layout().data_start;
    let row_len = tiled.row_len() as u64;
    let spans = row_spans(tiles);
    let mut ranges: Vec<Range<u64>> =
        spans.iter().map(|&(k, n)| data_start + k * row_len..data_start + (k + n) * row_len).collect();
    check_available(hdu, &ranges)?;
    ranges.extend(extra);
    let mut blocks: Vec<Bytes> = match hdu.driver().as_sync() {
        Some(sync) => ranges
            .iter()
            .map(|r| {
                let mut buf = vec![0u8; (r.end - r.start) as usize];
                sync.read_into(r.start, &mut buf).map(|_| Bytes::from(buf))
            })
            .collect::<fits_io::Result<_>>()?,
        None => hdu.driver().read_ranges(&ranges).await?,
    };
    let extra = if blocks.len() > spans.len() { blocks.pop() } else { None };
    let mut rows = Vec::with_capacity(tiles.len());
    for (&(first, n), block) in spans.iter().zip(&blocks) {
        for i in 0..n {
            let at = (i * row_len) as usize;
            let row = tiled.read_row(first + i, &block[at..at + row_len as usize]).map_err(|e| hdu.format_error(e))?;
            rows.push(row);
        }
    }
    Ok((rows, extra))
}

/// Largest heap span fetched on a guess.
const GUESS_MAX_BYTES: u64 = 32 << 20;

/// Where the heap bytes of `tiles` probably lie, to fetch them in the same round trip as the
/// tiles' rows: writers store tiles in order, so tile `k`'s bytes start near `k / n` of the
/// heap. The guess spans the touched tiles' share of the heap and a quarter more on each side;
/// it is made only when the tiles form a dense run (a sparse selection would waste bytes).
fn heap_guess(hdu: &Hdu, tiled: &TiledImage, tiles: &[u64]) -> Option<Range<u64>> {
    let (&first, &last) = (tiles.first()?, tiles.last()?);
    let n = tiled.tile_count();
    let heap = tiled.heap();
    let heap_len = heap.end - heap.start;
    if n < 2 || heap_len == 0 || (tiles.len() as u64) * 2 < last - first + 1 {
        return None;
    }
    let share = |k: u64| (heap_len as u128 * k as u128 / n as u128) as u64;
    let (lo, hi) = (share(first), share(last + 1));
    let margin = ((hi - lo) / 4).max(16 << 10);
    let (lo, hi) = (lo.saturating_sub(margin), (hi + margin).min(heap_len));
    if hi - lo > GUESS_MAX_BYTES {
        return None;
    }
    let start = hdu.layout().data_start + heap.start;
    let available_end = hdu.layout().data_start + hdu.available_data();
    Some(start + lo..(start + hi).min(available_end)).filter(|r| r.end > r.start)
}

fn check_available(hdu: &Hdu, ranges: &[Range<u64>]) -> Result<()> {
    let layout = hdu.layout();
    let available_end = layout.data_start + hdu.available_data();
    if ranges.iter().any(|r| r.end > available_end) {
        return Err(hdu.format_error(fits_core::Error::DataTruncated {
            data_start: layout.data_start,
            expected: layout.data_len,
            actual: hdu.available_data(),
        }));
    }
    Ok(())
}

/// The absolute heap bytes of a tile.
fn heap_range(hdu: &Hdu, row: &TileRow) -> Range<u64> {
    let r = row.heap_range();
    let s = hdu.layout().data_start;
    s + r.start..s + r.end
}

/// The bytes a read of `tiles` fetches: their table rows, then their heap bytes.
pub(crate) async fn tile_byte_ranges(hdu: &Hdu, tiled: &TiledImage, tiles: &[u64]) -> Result<Vec<Range<u64>>> {
    let rows = read_rows(hdu, tiled, tiles).await?;
    let data_start = hdu.layout().data_start;
    let row_len = tiled.row_len() as u64;
    let mut out: Vec<Range<u64>> =
        row_spans(tiles).iter().map(|&(k, n)| data_start + k * row_len..data_start + (k + n) * row_len).collect();
    out.extend(rows.iter().map(|r| heap_range(hdu, r)).filter(|r| r.end > r.start));
    Ok(out)
}

fn range_len(r: &Range<u64>) -> u64 {
    r.end - r.start
}

/// A pointer to the output that tiles write through in parallel.
#[derive(Clone, Copy)]
struct OutPtr<T>(*mut T);
// SAFETY: tiles partition the image, so the output elements one tile writes are written by no
// other; the pointer is only used while the output vector is alive and not otherwise borrowed.
unsafe impl<T: Send> Send for OutPtr<T> {}
unsafe impl<T: Send> Sync for OutPtr<T> {}

/// Where the selection's output elements lie.
struct Scatter<'a, T> {
    selection: &'a [AxisRange],
    out_strides: Vec<usize>,
    out: OutPtr<T>,
    out_len: usize,
    conv: &'a Conversion,
}

impl<T: Element> Scatter<'_, T> {
    /// The pixels of a tile (C-order indices in it) from its first to its last selected one;
    /// `None` when the selection misses the tile.
    fn span(&self, region: &[Range<usize>]) -> Option<Range<usize>> {
        let nd = region.len();
        let (mut lo, mut hi, mut stride) = (0usize, 0usize, 1usize);
        for a in (0..nd).rev() {
            let (s, r) = (&self.selection[a], &region[a]);
            let j_lo = if r.start > s.start { (r.start - s.start).div_ceil(s.step) } else { 0 };
            let j_hi = if r.end > s.start { ((r.end - 1 - s.start) / s.step + 1).min(s.len) } else { 0 };
            if j_lo >= j_hi {
                return None;
            }
            lo += (s.start + j_lo * s.step - r.start) * stride;
            hi += (s.start + (j_hi - 1) * s.step - r.start) * stride;
            stride *= r.len();
        }
        Some(lo..hi + 1)
    }

    /// Copies the selected pixels of a decoded tile (`region`, stored big-endian values) into the output.
    fn tile(&self, region: &[Range<usize>], tile: &[u8]) -> fits_core::Result<()> {
        let elem = self.conv.bitpix.size();
        let nd = region.len();
        // Per axis, the selection indices j inside the tile.
        let mut js = Vec::with_capacity(nd);
        for (s, r) in self.selection.iter().zip(region) {
            let lo = if r.start > s.start { (r.start - s.start).div_ceil(s.step) } else { 0 };
            let hi = if r.end > s.start { ((r.end - 1 - s.start) / s.step + 1).min(s.len) } else { 0 };
            if lo >= hi {
                return Ok(());
            }
            js.push(lo..hi);
        }
        let mut tile_strides = vec![1usize; nd];
        for a in (0..nd.saturating_sub(1)).rev() {
            tile_strides[a] = tile_strides[a + 1] * region[a + 1].len();
        }
        let last = nd - 1;
        let count = js[last].len();
        let step = self.selection[last].step;
        let mut counter: Vec<usize> = js.iter().map(|r| r.start).collect();
        loop {
            let mut src = 0usize;
            let mut dst = 0usize;
            for a in 0..nd {
                let s = &self.selection[a];
                src += (s.start + counter[a] * s.step - region[a].start) * tile_strides[a];
                dst += counter[a] * self.out_strides[a];
            }
            debug_assert!(dst + count <= self.out_len);
            // SAFETY: `dst..dst + count` lies in the output (the selection's indices are in
            // bounds), and no other tile writes these elements (see `OutPtr`).
            let out = unsafe { std::slice::from_raw_parts_mut(self.out.0.add(dst), count) };
            decode_into(&tile[src * elem..], step, self.conv, out)?;
            // Advance the odometer over all axes but the last.
            let mut a = last;
            loop {
                if a == 0 {
                    return Ok(());
                }
                a -= 1;
                counter[a] += 1;
                if counter[a] < js[a].end {
                    break;
                }
                counter[a] = js[a].start;
            }
        }
    }
}

thread_local! {
    static COMPRESSED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    static DECODED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Reads the elements `selection` picks from a tile-compressed image, converted with `conv`, in C order.
pub(crate) async fn read_tiled<T: Element>(
    hdu: &Hdu,
    tiled: &TiledImage,
    selection: &[AxisRange],
    conv: &Conversion,
) -> Result<Vec<T>> {
    check_bounds(&tiled.grid.shape, selection).map_err(|reason| Error::Slice {
        location: hdu.location().to_string(),
        hdu: hdu.index(),
        reason,
    })?;
    let n: usize = selection.iter().map(|s| s.len).product();
    if n == 0 {
        return Ok(Vec::new());
    }
    let tiles = touched_tiles(tiled, selection);
    // Remote sources fetch a guess of the heap bytes with the rows (one round trip fewer when right).
    let guess = if hdu.driver().as_sync().is_none() { heap_guess(hdu, tiled, &tiles) } else { None };
    let (rows, guessed) = read_rows_and(hdu, tiled, &tiles, guess.clone()).await?;
    let heap: Vec<Range<u64>> = rows.iter().map(|r| heap_range(hdu, r)).collect();
    check_available(hdu, &heap)?;
    // Allocated once the rows are read and checked; a size no memory holds is an error.
    let mut out = output_for::<T>(hdu, n)?;

    let mut out_strides = vec![1usize; selection.len()];
    for a in (0..selection.len().saturating_sub(1)).rev() {
        out_strides[a] = out_strides[a + 1] * selection[a + 1].len;
    }
    let scatter = Scatter { selection, out_strides, out: OutPtr(out.as_mut_ptr()), out_len: n, conv };
    let decode_one = |row: &TileRow, compressed: &[u8]| -> Result<()> {
        let region = tiled.grid.region(row.tile);
        let Some(span) = scatter.span(&region) else { return Ok(()) };
        DECODED.with(|cell| {
            let mut tile = cell.borrow_mut();
            tiled.decode_span(row, compressed, span, &mut tile).map_err(|e| hdu.format_error(e))?;
            scatter.tile(&region, &tile).map_err(|e| hdu.format_error(e))
        })
    };

    if let Some(sync) = hdu.driver().as_sync() {
        rows.par_iter().zip(&heap).with_min_len(4).try_for_each(|(row, range)| {
            COMPRESSED.with(|cell| {
                let mut buf = cell.borrow_mut();
                buf.resize((range.end - range.start) as usize, 0);
                sync.read_into(range.start, &mut buf)?;
                decode_one(row, &buf)
            })
        })?;
        return Ok(out);
    }

    // Tiles whose bytes came with the guess are decoded at once; the others are fetched in batches.
    let mut missing: Vec<usize> = Vec::new();
    let mut found: Vec<(usize, Bytes)> = Vec::new();
    for (i, r) in heap.iter().enumerate() {
        match (&guess, &guessed) {
            (Some(g), Some(bytes)) if g.start <= r.start && r.end <= g.end => {
                found.push((i, bytes.slice((r.start - g.start) as usize..(r.end - g.start) as usize)));
            }
            _ => missing.push(i),
        }
    }
    found.par_iter().with_min_len(4).try_for_each(|(i, bytes)| decode_one(&rows[*i], bytes))?;
    drop(found);
    let mut at = 0;
    while at < missing.len() {
        let mut end = at;
        let mut bytes = 0u64;
        while end < missing.len() && (end == at || bytes + range_len(&heap[missing[end]]) <= BATCH_BYTES) {
            bytes += range_len(&heap[missing[end]]);
            end += 1;
        }
        let ranges: Vec<Range<u64>> = missing[at..end].iter().map(|&i| heap[i].clone()).collect();
        let data = hdu.driver().read_ranges(&ranges).await?;
        missing[at..end]
            .par_iter()
            .zip(&data)
            .with_min_len(4)
            .try_for_each(|(&i, bytes)| decode_one(&rows[i], bytes))?;
        at = end;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_tiles_skip_only_untouched_tiles() {
        assert_eq!(axis_tiles(&AxisRange { start: 5, step: 1, len: 20 }, 10), vec![0, 1, 2]);
        assert_eq!(axis_tiles(&AxisRange { start: 0, step: 25, len: 4 }, 10), vec![0, 2, 5, 7]);
        assert_eq!(axis_tiles(&AxisRange { start: 3, step: 10, len: 3 }, 10), vec![0, 1, 2]);
        assert_eq!(row_spans(&[0, 1, 2, 5, 6, 9]), vec![(0, 3), (5, 2), (9, 1)]);
    }
}
