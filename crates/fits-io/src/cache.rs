//! A read cache that wraps any driver: byte ranges already fetched are served from memory.
//!
//! Ranges are kept exactly as fetched (optionally widened to an alignment), so a cutout's short
//! rows do not turn into whole blocks. A read fully covered by cached bytes makes no request; a
//! read partly covered fetches only the missing pieces. Oldest entries go first when the byte
//! budget is exceeded. Off by default: the readers in this workspace never read the same bytes
//! twice; the cache serves callers that do (interactive sessions, repeated cutouts).

use crate::{ObjectInfo, ReadOptions, RequestObserver, Result, StorageDriver};
use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};

/// Cached ranges by start offset, with an insertion counter for eviction.
#[derive(Debug, Default)]
struct Store {
    entries: BTreeMap<u64, (Bytes, u64)>,
    bytes: u64,
    clock: u64,
    hits: u64,
    misses: u64,
}

impl Store {
    /// The cached bytes of `r`, if one entry holds all of it.
    fn get(&mut self, r: &Range<u64>) -> Option<Bytes> {
        let (&start, (data, _)) = self.entries.range(..=r.start).next_back()?;
        let end = start + data.len() as u64;
        (r.end <= end).then(|| data.slice((r.start - start) as usize..(r.end - start) as usize))
    }

    /// The parts of `r` no entry covers.
    fn missing(&self, r: &Range<u64>) -> Vec<Range<u64>> {
        let mut out = Vec::new();
        let mut pos = r.start;
        if let Some((&s, (d, _))) = self.entries.range(..=pos).next_back() {
            pos = pos.max(s + d.len() as u64);
        }
        for (&s, (d, _)) in self.entries.range(r.start..r.end) {
            if s > pos {
                out.push(pos..s.min(r.end));
            }
            pos = pos.max(s + d.len() as u64);
            if pos >= r.end {
                break;
            }
        }
        if pos < r.end {
            out.push(pos..r.end);
        }
        out
    }

    /// The entry holding byte `pos`, if any.
    fn piece_at(&self, pos: u64) -> Option<(u64, &Bytes)> {
        let (&s, (d, _)) = self.entries.range(..=pos).next_back()?;
        (pos < s + d.len() as u64).then_some((s, d))
    }

    fn insert(&mut self, start: u64, data: Bytes, capacity: u64) {
        if data.is_empty() || data.len() as u64 > capacity {
            return;
        }
        self.clock += 1;
        self.bytes += data.len() as u64;
        if let Some((old, _)) = self.entries.insert(start, (data, self.clock)) {
            self.bytes -= old.len() as u64;
        }
        while self.bytes > capacity {
            let Some((&oldest, _)) = self.entries.iter().min_by_key(|(_, (_, t))| *t) else { break };
            if let Some((d, _)) = self.entries.remove(&oldest) {
                self.bytes -= d.len() as u64;
            }
        }
    }
}

/// The bytes of `r` from two stores (a range may be half in each); `None` if a byte is in neither.
fn assemble(r: &Range<u64>, first: &Store, second: &Store) -> Option<Bytes> {
    let mut out = BytesMut::with_capacity((r.end - r.start) as usize);
    let mut pos = r.start;
    while pos < r.end {
        let (s, d) = first.piece_at(pos).or_else(|| second.piece_at(pos))?;
        let to = (s + d.len() as u64).min(r.end);
        if to == r.end && out.is_empty() {
            // One piece holds it all: a zero-copy slice.
            return Some(d.slice((pos - s) as usize..(to - s) as usize));
        }
        out.extend_from_slice(&d[(pos - s) as usize..(to - s) as usize]);
        pos = to;
    }
    Some(out.freeze())
}

/// Wraps a driver with an in-memory range cache of at most `capacity` bytes.
#[derive(Debug)]
pub struct CacheDriver {
    inner: Arc<dyn StorageDriver>,
    capacity: u64,
    align: u64,
    store: Mutex<Store>,
}

impl CacheDriver {
    /// A cache of `capacity` bytes in front of `inner`.
    pub fn new(inner: Arc<dyn StorageDriver>, capacity: u64) -> CacheDriver {
        CacheDriver { inner, capacity, align: 1, store: Mutex::new(Store::default()) }
    }

    /// Widens fetched ranges to multiples of `align` bytes (2880 gives whole FITS blocks).
    pub fn with_alignment(mut self, align: u64) -> CacheDriver {
        self.align = align.max(1);
        self
    }

    /// (hits, misses) so far: reads served entirely from memory, and reads that fetched.
    pub fn stats(&self) -> (u64, u64) {
        let s = self.lock();
        (s.hits, s.misses)
    }

    /// Bytes held.
    pub fn cached_bytes(&self) -> u64 {
        self.lock().bytes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn widen(&self, r: &Range<u64>, size: Option<u64>) -> Range<u64> {
        let a = self.align;
        let end = r.end.div_ceil(a) * a;
        r.start / a * a..size.map_or(end, |s| end.min(s))
    }
}

#[async_trait]
impl StorageDriver for CacheDriver {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn location(&self) -> &str {
        self.inner.location()
    }

    async fn stat(&self) -> Result<ObjectInfo> {
        self.inner.stat().await
    }

    async fn read_head(&self, len: u64) -> Result<(ObjectInfo, Bytes)> {
        let (info, bytes) = self.inner.read_head(len).await?;
        self.lock().insert(0, bytes.clone(), self.capacity);
        Ok((info, bytes))
    }

    async fn read_range(&self, range: Range<u64>) -> Result<Bytes> {
        Ok(self.read_ranges(std::slice::from_ref(&range)).await?.remove(0))
    }

    async fn read_ranges(&self, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        let size = self.inner.stat().await.ok().map(|i| i.size);
        let missing: Vec<Range<u64>> = {
            let mut s = self.lock();
            let mut missing = Vec::new();
            for r in ranges.iter().filter(|r| r.start < r.end) {
                if s.get(r).is_some() {
                    s.hits += 1;
                } else {
                    s.misses += 1;
                    missing.extend(s.missing(r).iter().map(|m| self.widen(m, size)));
                }
            }
            missing
        };
        // What was just fetched serves this call even if the budget cannot keep it.
        let mut fresh = Store::default();
        if !missing.is_empty() {
            let fetched = self.inner.read_ranges(&missing).await?;
            for (r, b) in missing.iter().zip(fetched) {
                fresh.insert(r.start, b, u64::MAX);
            }
        }
        let out = {
            let s = self.lock();
            ranges
                .iter()
                .map(|r| {
                    if r.start >= r.end {
                        return Ok(Bytes::new());
                    }
                    assemble(r, &fresh, &s).ok_or_else(|| crate::Error::InvalidResponse {
                        location: self.inner.location().to_string(),
                        detail: format!("bytes {}..{} neither cached nor fetched", r.start, r.end),
                    })
                })
                .collect::<Result<Vec<Bytes>>>()
        };
        let mut s = self.lock();
        for (start, (b, _)) in fresh.entries {
            s.insert(start, b, self.capacity);
        }
        out
    }

    fn read_options(&self) -> ReadOptions {
        self.inner.read_options()
    }

    fn set_observer(&self, observer: Arc<dyn RequestObserver>) -> bool {
        self.inner.set_observer(observer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryDriver;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts the ranges the inner driver is asked for.
    #[derive(Debug)]
    struct Counting(MemoryDriver, AtomicUsize, Mutex<Vec<Range<u64>>>);

    #[async_trait]
    impl StorageDriver for Counting {
        fn name(&self) -> &'static str {
            "counting"
        }
        fn location(&self) -> &str {
            "mem"
        }
        async fn stat(&self) -> Result<ObjectInfo> {
            self.0.stat().await
        }
        async fn read_range(&self, range: Range<u64>) -> Result<Bytes> {
            self.1.fetch_add(1, Ordering::SeqCst);
            self.2.lock().unwrap().push(range.clone());
            self.0.read_range(range).await
        }
    }

    #[tokio::test]
    async fn serves_repeats_from_memory_and_fetches_only_gaps() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let inner =
            Arc::new(Counting(MemoryDriver::new("m", data.clone()), AtomicUsize::new(0), Mutex::new(Vec::new())));
        let c = CacheDriver::new(inner.clone(), 1 << 20);
        assert_eq!(&c.read_range(1000..2000).await.unwrap()[..], &data[1000..2000]);
        assert_eq!(&c.read_range(1200..1300).await.unwrap()[..], &data[1200..1300]);
        assert_eq!(inner.1.load(Ordering::SeqCst), 1);
        assert_eq!(c.stats(), (1, 1));
        // Partly cached: only the missing tail is fetched.
        inner.2.lock().unwrap().clear();
        assert_eq!(&c.read_range(1500..3000).await.unwrap()[..], &data[1500..3000]);
        assert_eq!(*inner.2.lock().unwrap(), vec![2000..3000]);
        // Alignment widens fetches to whole blocks.
        let a = CacheDriver::new(inner.clone(), 1 << 20).with_alignment(2880);
        inner.2.lock().unwrap().clear();
        a.read_range(3000..3010).await.unwrap();
        assert_eq!(*inner.2.lock().unwrap(), vec![2880..5760]);
        assert_eq!(&a.read_range(5000..5100).await.unwrap()[..], &data[5000..5100]);
    }

    #[tokio::test]
    async fn stays_within_its_budget() {
        let data = vec![7u8; 50_000];
        let c = CacheDriver::new(Arc::new(MemoryDriver::new("m", data)), 10_000);
        for i in 0..10u64 {
            c.read_range(i * 4000..i * 4000 + 3000).await.unwrap();
            assert!(c.cached_bytes() <= 10_000);
        }
        // Larger than the whole budget: served, not kept.
        assert_eq!(c.read_range(0..20_000).await.unwrap().len(), 20_000);
        assert!(c.cached_bytes() <= 10_000);
    }
}
