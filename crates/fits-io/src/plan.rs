//! Read planning: a pure function from wanted ranges to the requests that fetch them, and a generic runner.

use crate::{Result, StorageDriver};
use bytes::{Bytes, BytesMut};
use futures::{StreamExt, TryStreamExt};
use std::ops::Range;

/// How a remote driver turns many wanted ranges into few requests.
///
/// The defaults were chosen by measurement on a link with a 20 ms round trip and 100 MB/s per
/// connection (docs/remote.md): scattered small reads are bound by round trips, so many may be
/// in flight; large reads are bound by per-connection throughput, so they are spread over a
/// moderate number of connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOptions {
    /// Largest gap read through to merge two ranges (default 1 MiB). Gaps up to 8 KiB are always
    /// merged; larger ones, smallest first, only as far as needed to leave `fan_out` requests.
    pub coalesce_gap: u64,
    /// Stop merging once a request would exceed this many bytes (default 16 MiB).
    pub max_request: u64,
    /// Largest part a read is split into (default 8 MiB).
    pub split_size: u64,
    /// Smallest part worth its own request when a read is spread over connections (default 512 KiB).
    pub min_part: u64,
    /// Requests a read aims for: large reads are split into this many parts, many small ones merged
    /// down to this many (default 16).
    pub fan_out: usize,
    /// Requests in flight at once (default 64).
    pub concurrency: usize,
}

/// Gaps always read through: a request costs more than this many bytes.
const ALWAYS_MERGE: u64 = 8 << 10;

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            coalesce_gap: 1 << 20,
            max_request: 16 << 20,
            split_size: 8 << 20,
            min_part: 512 << 10,
            fan_out: 16,
            concurrency: 64,
        }
    }
}

impl ReadOptions {
    /// Options that issue every range as its own request, one at a time (no merging, no splitting).
    pub fn exact() -> ReadOptions {
        ReadOptions {
            coalesce_gap: 0,
            max_request: u64::MAX,
            split_size: u64::MAX,
            min_part: u64::MAX,
            fan_out: 1,
            concurrency: 1,
        }
    }

    /// The part size that spreads `total` bytes over `fan_out` connections, kept between
    /// `min_part` and `split_size`.
    pub fn part_size(&self, total: u64) -> u64 {
        let even = total.div_ceil(self.fan_out.clamp(1, self.concurrency.max(1)) as u64);
        even.max(self.min_part).min(self.split_size).max(1)
    }
}

/// Plans the requests that cover `ranges`: sorted; merged across gaps of at most 8 KiB, and
/// across larger gaps (smallest first, none beyond `coalesce_gap`, no request beyond
/// `max_request`) only as far as needed to leave `fan_out` requests; then long
/// requests split into equal parts of about [`ReadOptions::part_size`], so a large read is spread
/// over connections (a wide-area connection's throughput is limited on its own).
/// Empty ranges need no request. Every byte of every range lies in exactly one request, and
/// requests do not overlap.
pub fn plan_requests(ranges: &[Range<u64>], options: &ReadOptions) -> Vec<Range<u64>> {
    let mut sorted: Vec<Range<u64>> = ranges.iter().filter(|r| r.start < r.end).cloned().collect();
    sorted.sort_by_key(|r| (r.start, r.end));
    // Overlapping or touching ranges become one.
    let mut spans: Vec<Range<u64>> = Vec::with_capacity(sorted.len());
    for r in sorted {
        match spans.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => spans.push(r),
        }
    }
    // Which gaps to read through: every gap up to 8 KiB, and the smallest further gaps (within
    // `coalesce_gap`) until at most `fan_out` requests remain: the fewest bytes for one round of
    // a moderate number of requests (many small requests cost servers more than a few gaps).
    let gaps: Vec<u64> = spans.windows(2).map(|w| w[1].start - w[0].end).collect();
    let mut merge: Vec<bool> = gaps.iter().map(|&g| g <= ALWAYS_MERGE.min(options.coalesce_gap)).collect();
    let remaining = spans.len() - merge.iter().filter(|&&m| m).count();
    let excess = remaining.saturating_sub(options.fan_out.clamp(1, options.concurrency.max(1)));
    if excess > 0 {
        let mut candidates: Vec<(u64, usize)> = gaps
            .iter()
            .enumerate()
            .filter(|&(i, &g)| !merge[i] && g <= options.coalesce_gap)
            .map(|(i, &g)| (g, i))
            .collect();
        if candidates.len() <= excess {
            candidates.iter().for_each(|&(_, i)| merge[i] = true);
        } else {
            // Merge every gap smaller than the excess-th smallest; among gaps equal to it, merge
            // as many as still needed, leaving the others evenly spread (equal groups).
            candidates.select_nth_unstable(excess - 1);
            let cut = candidates[excess - 1].0;
            let mut ties: Vec<usize> = Vec::new();
            for &(g, i) in &candidates {
                match g.cmp(&cut) {
                    std::cmp::Ordering::Less => merge[i] = true,
                    std::cmp::Ordering::Equal => ties.push(i),
                    std::cmp::Ordering::Greater => {}
                }
            }
            ties.sort_unstable();
            let needed = excess - candidates.iter().filter(|c| c.0 < cut).count();
            let keep_open = ties.len() - needed;
            for (j, &i) in ties.iter().enumerate() {
                let opens_here = (j + 1) * keep_open / ties.len() > j * keep_open / ties.len();
                if !opens_here {
                    merge[i] = true;
                }
            }
        }
    }
    let mut merged: Vec<Range<u64>> = Vec::with_capacity(spans.len());
    for (i, r) in spans.into_iter().enumerate() {
        if let Some(last) = merged.last_mut() {
            if merge[i - 1] && r.end - last.start <= options.max_request {
                last.end = r.end;
                continue;
            }
        }
        merged.push(r);
    }
    let total: u64 = merged.iter().map(|r| r.end - r.start).sum();
    let part = options.part_size(total);
    let mut out = Vec::with_capacity(merged.len());
    for r in merged {
        let len = r.end - r.start;
        // Split only into parts of at least `part` bytes, and only when that makes two or more.
        if len >= part.saturating_mul(2) {
            let n = len / part;
            let each = len.div_ceil(n);
            let mut start = r.start;
            while start < r.end {
                let end = (start + each).min(r.end);
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
    fn merges_only_as_far_as_one_round_needs() {
        // Ten rows 16 kB apart are few enough: read them alone (a few bytes, not 150 kB).
        let rows: Vec<_> = (0..10u64).map(|i| i * 16_880..i * 16_880 + 80).collect();
        assert_eq!(plan_requests(&rows, &ReadOptions::default()), rows);
        // 350 such rows do not: the smallest gaps merge until sixteen requests remain.
        let rows: Vec<_> = (0..350u64).map(|i| i * 16_880..i * 16_880 + 1000).collect();
        let p = plan_requests(&rows, &ReadOptions::default());
        assert_eq!(p.len(), 16);
        // Gaps beyond coalesce_gap never merge, whatever the count.
        let far: Vec<_> = (0..200u64).map(|i| i * 2 * MIB..i * 2 * MIB + 2).collect();
        assert_eq!(plan_requests(&far, &ReadOptions::default()).len(), 200);
    }

    #[test]
    fn caps_and_splits() {
        let o = ReadOptions::default();
        // 20 rows of 1 MiB with 0.5 MiB gaps, one request at a time: merged until the 16 MiB cap (no splitting here).
        let rows: Vec<_> = (0..20).map(|i| i * 3 * MIB / 2..i * 3 * MIB / 2 + MIB).collect();
        let merge_only = ReadOptions { split_size: u64::MAX, concurrency: 1, ..o };
        let p = plan_requests(&rows, &merge_only);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p.iter().all(|r| r.end - r.start <= 16 * MIB), "{p:?}");
        // With splitting, the merged requests become parts of at most 8 MiB.
        let p = plan_requests(&rows, &o);
        assert!(p.iter().all(|r| r.end - r.start <= 8 * MIB), "{p:?}");
        // One 71 MB range: spread over sixteen connections (parts of at most 8 MiB).
        let one = vec![Range { start: 1000, end: 1000 + 71_000_000 }];
        let p = plan_requests(&one, &o);
        assert_eq!(p.len(), 16);
        assert!(p.windows(2).all(|w| w[0].end == w[1].start));
        assert_eq!(p[0].start, 1000);
        assert_eq!(p.last().unwrap().end, 1000 + 71_000_000);
    }

    #[test]
    fn reads_are_spread_over_connections() {
        let o = ReadOptions::default();
        // A 5.9 MB span (a cutout's rows merged): eleven parts of at least 512 KiB.
        let p = plan_requests(&[Range { start: 0, end: 5_900_000 }], &o);
        assert_eq!(p.len(), 11, "{p:?}");
        // 2 MB: parts no smaller than 512 KiB.
        let p = plan_requests(&[Range { start: 0, end: 2_100_000 }], &o);
        assert_eq!(p.len(), 4, "{p:?}");
        assert!(p.iter().all(|r| r.end - r.start >= 512 << 10));
        // Small reads stay whole.
        assert_eq!(plan_requests(&[Range { start: 0, end: 600_000 }], &o).len(), 1);
        // Exact options never split.
        assert_eq!(plan_requests(&[Range { start: 0, end: 1 << 30 }], &ReadOptions::exact()).len(), 1);
    }

    #[test]
    fn assembles_slices_and_joins() {
        let data: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
        let ranges = vec![50_000..50_010, 0..40_000, 10..20, 99_990..100_000];
        let o = ReadOptions {
            coalesce_gap: 5,
            max_request: 30_000,
            split_size: 7_000,
            min_part: 1000,
            fan_out: 2,
            concurrency: 2,
        };
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
                min_part: 1 + next() % 1_000,
                fan_out: 1 + (next() % 16) as usize,
                concurrency: 1 + (next() % 16) as usize,
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
