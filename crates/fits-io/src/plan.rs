//! Read planning: a pure function from wanted ranges to the requests that fetch them, and a generic runner.

use crate::{Result, StorageDriver};
use bytes::{Bytes, BytesMut};
use futures::{StreamExt, TryStreamExt};
use std::ops::Range;

/// How a remote driver turns many wanted ranges into few requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOptions {
    /// Merge two ranges when the gap between them is at most this many bytes (default 1 MiB).
    pub coalesce_gap: u64,
    /// Stop merging once a request would exceed this many bytes (default 16 MiB).
    pub max_request: u64,
    /// Split a single range longer than `max_request` into parts of this size (default 8 MiB).
    pub split_size: u64,
    /// Requests in flight at once (default 10).
    pub concurrency: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions { coalesce_gap: 1 << 20, max_request: 16 << 20, split_size: 8 << 20, concurrency: 10 }
    }
}

impl ReadOptions {
    /// Options that issue every range as its own request, one at a time (no merging, no splitting).
    pub fn exact() -> ReadOptions {
        ReadOptions { coalesce_gap: 0, max_request: u64::MAX, split_size: u64::MAX, concurrency: 1 }
    }
}

/// Plans the requests that cover `ranges`: sorted, merged across small gaps
/// (never beyond `max_request`), with long single ranges split into parts.
/// Empty ranges need no request. Every byte of every range lies in exactly
/// one request, and requests do not overlap.
pub fn plan_requests(ranges: &[Range<u64>], options: &ReadOptions) -> Vec<Range<u64>> {
    let mut sorted: Vec<Range<u64>> = ranges.iter().filter(|r| r.start < r.end).cloned().collect();
    sorted.sort_by_key(|r| (r.start, r.end));
    let mut merged: Vec<Range<u64>> = Vec::new();
    for r in sorted {
        if let Some(last) = merged.last_mut() {
            let joined_len = r.end.max(last.end) - last.start;
            let overlaps = r.start <= last.end;
            let close = r.start.saturating_sub(last.end) <= options.coalesce_gap;
            if overlaps || (close && joined_len <= options.max_request) {
                last.end = last.end.max(r.end);
                continue;
            }
        }
        merged.push(r);
    }
    let mut out = Vec::with_capacity(merged.len());
    for r in merged {
        let len = r.end - r.start;
        if len > options.max_request && options.split_size > 0 {
            let mut start = r.start;
            while start < r.end {
                let end = (start + options.split_size).min(r.end);
                out.push(start..end);
                start = end;
            }
        } else {
            out.push(r);
        }
    }
    out
}

/// Cuts the bytes of each wanted range out of the fetched requests
/// (`requests` as planned by [`plan_requests`], `fetched` in the same order).
/// A range inside one request is a zero-copy slice; a range spread over split
/// parts is joined.
pub fn assemble(ranges: &[Range<u64>], requests: &[Range<u64>], fetched: &[Bytes]) -> Vec<Bytes> {
    ranges
        .iter()
        .map(|r| {
            if r.start >= r.end {
                return Bytes::new();
            }
            let first = requests.partition_point(|q| q.end <= r.start);
            let q = &requests[first];
            if r.end <= q.end {
                return fetched[first].slice((r.start - q.start) as usize..(r.end - q.start) as usize);
            }
            let mut buf = BytesMut::with_capacity((r.end - r.start) as usize);
            let mut pos = r.start;
            let mut i = first;
            while pos < r.end {
                let q = &requests[i];
                let to = r.end.min(q.end);
                buf.extend_from_slice(&fetched[i][(pos - q.start) as usize..(to - q.start) as usize]);
                pos = to;
                i += 1;
            }
            buf.freeze()
        })
        .collect()
}

/// Fetches `ranges` through `driver.read_range`, planned with `options`, up
/// to `options.concurrency` requests at a time. The result has one entry per
/// range, in the order given.
pub async fn read_planned<D: StorageDriver + ?Sized>(
    driver: &D,
    ranges: &[Range<u64>],
    options: &ReadOptions,
) -> Result<Vec<Bytes>> {
    let requests = plan_requests(ranges, options);
    let fetched: Vec<Bytes> = futures::stream::iter(requests.iter().cloned())
        .map(|r| driver.read_range(r))
        .buffered(options.concurrency.max(1))
        .try_collect()
        .await?;
    Ok(assemble(ranges, &requests, &fetched))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn merges_small_gaps_only() {
        let o = ReadOptions::default();
        let p = plan_requests(&[0..10, 20..30, 30..40, 5 * MIB..5 * MIB + 1], &o);
        assert_eq!(p, vec![0..40, 5 * MIB..5 * MIB + 1]);
        let p = plan_requests(&[100..200, 0..50, 150..300, 7..7], &o);
        assert_eq!(p, vec![0..300]);
    }

    #[test]
    fn caps_and_splits() {
        let o = ReadOptions::default();
        // 20 rows of 1 MiB with 0.5 MiB gaps: merged until the 16 MiB cap.
        let rows: Vec<_> = (0..20).map(|i| i * 3 * MIB / 2..i * 3 * MIB / 2 + MIB).collect();
        let p = plan_requests(&rows, &o);
        assert!(p.iter().all(|r| r.end - r.start <= 16 * MIB), "{p:?}");
        assert!(p.len() < 5, "{p:?}");
        // One 71 MB range: split into 8 MiB parts.
        let one = vec![Range { start: 1000, end: 1000 + 71_000_000 }];
        let p = plan_requests(&one, &o);
        assert_eq!(p.len(), 9);
        assert!(p.windows(2).all(|w| w[0].end == w[1].start));
        assert_eq!(p[0].start, 1000);
        assert_eq!(p.last().unwrap().end, 1000 + 71_000_000);
    }

    #[test]
    fn assembles_slices_and_joins() {
        let data: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
        let ranges = vec![50_000..50_010, 0..40_000, 10..20, 99_990..100_000];
        let o = ReadOptions { coalesce_gap: 5, max_request: 30_000, split_size: 7_000, concurrency: 2 };
        let requests = plan_requests(&ranges, &o);
        let fetched: Vec<Bytes> =
            requests.iter().map(|r| Bytes::copy_from_slice(&data[r.start as usize..r.end as usize])).collect();
        let out = assemble(&ranges, &requests, &fetched);
        for (r, b) in ranges.iter().zip(&out) {
            assert_eq!(&b[..], &data[r.start as usize..r.end as usize], "{r:?}");
        }
    }

    #[test]
    fn every_byte_once_in_random_plans() {
        // A small deterministic fuzz: random ranges, random options; the plan covers each range and never overlaps.
        let mut x: u64 = 0x9e3779b97f4a7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..500 {
            let n = (next() % 20) as usize;
            let ranges: Vec<_> = (0..n)
                .map(|_| {
                    let s = next() % 10_000;
                    s..s + next() % 3_000
                })
                .collect();
            let o = ReadOptions {
                coalesce_gap: next() % 500,
                max_request: 1 + next() % 5_000,
                split_size: 1 + next() % 2_000,
                concurrency: 1,
            };
            let p = plan_requests(&ranges, &o);
            assert!(p.windows(2).all(|w| w[0].end <= w[1].start), "{p:?}");
            for r in ranges.iter().filter(|r| r.start < r.end) {
                let covered: u64 = p.iter().map(|q| q.end.min(r.end).saturating_sub(q.start.max(r.start))).sum();
                assert_eq!(covered, r.end - r.start, "{r:?} in {p:?}");
            }
        }
    }
}
