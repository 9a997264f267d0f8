//! Local files through a memory map: zero-copy ranges, released from the process once dropped.
//!
//! Reads hand out [`Bytes`] that point into the map. When a large range is
//! dropped, its pages are released (`madvise(MADV_DONTNEED)`), so a sequential
//! scan through a file larger than memory keeps only what is in use resident;
//! the kernel's page cache still holds the data for a later read.
//!
//! As with every memory map, a file truncated by another process while mapped
//! makes reads of the lost pages fault; FITS files are not rewritten in place
//! by readers, and writers here replace files by renaming.

use crate::{Error, ObjectInfo, Result, StorageDriver, SyncRead, check_range};
use async_trait::async_trait;
use bytes::Bytes;
use memmap2::{Mmap, UncheckedAdvice};
use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

/// Ranges at least this long give their pages back when dropped.
const RELEASE_THRESHOLD: usize = 1 << 20;

/// A local file served from a read-only memory map.
#[derive(Debug)]
pub struct LocalDriver {
    path: PathBuf,
    location: String,
    file: File,
    map: Option<Arc<Mmap>>,
    info: ObjectInfo,
}

impl LocalDriver {
    /// Opens and maps a file.
    pub fn open(path: impl AsRef<Path>) -> Result<LocalDriver> {
        let path = path.as_ref().to_path_buf();
        let location = path.display().to_string();
        let file = File::open(&path).map_err(|e| Error::from_io("local", &location, e))?;
        let meta = file.metadata().map_err(|e| Error::from_io("local", &location, e))?;
        if meta.is_dir() {
            return Err(Error::Io {
                driver: "local",
                location,
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "is a directory"),
            });
        }
        let size = meta.len();
        let map = if size == 0 {
            None
        } else {
            // SAFETY: the map is read-only; see the module documentation for truncation by other processes.
            let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::from_io("local", &location, e))?;
            Some(Arc::new(map))
        };
        let modified = meta.modified().ok();
        let etag = modified
            .and_then(|m| m.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map(|d| format!("{:x}-{:x}", d.as_nanos(), size));
        Ok(LocalDriver { path, location, file, map, info: ObjectInfo { size, etag, last_modified: modified } })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn slice(&self, range: Range<u64>) -> Result<Bytes> {
        check_range(&self.location, &range, self.info.size)?;
        let Some(map) = &self.map else {
            return Ok(Bytes::new());
        };
        if range.start == range.end {
            return Ok(Bytes::new());
        }
        Ok(Bytes::from_owner(MapSlice { map: map.clone(), start: range.start as usize, end: range.end as usize }))
    }
}

/// A range of the map that releases its pages when dropped.
struct MapSlice {
    map: Arc<Mmap>,
    start: usize,
    end: usize,
}

impl AsRef<[u8]> for MapSlice {
    fn as_ref(&self) -> &[u8] {
        &self.map[self.start..self.end]
    }
}

impl Drop for MapSlice {
    fn drop(&mut self) {
        if self.end - self.start < RELEASE_THRESHOLD {
            return;
        }
        let page = page_size();
        let from = self.start.div_ceil(page) * page;
        let to = self.end / page * page;
        if to > from {
            // SAFETY: the map is a read-only shared file mapping; dropping its pages
            // only makes a later access fault them back in from the file, so any other
            // slice over these pages still reads the same bytes.
            let _ = unsafe { self.map.unchecked_advise_range(UncheckedAdvice::DontNeed, from, to - from) };
        }
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 { n as usize } else { 4096 }
}

#[async_trait]
impl StorageDriver for LocalDriver {
    fn name(&self) -> &'static str {
        "local"
    }

    fn location(&self) -> &str {
        &self.location
    }

    async fn stat(&self) -> Result<ObjectInfo> {
        Ok(self.info.clone())
    }

    async fn read_range(&self, range: Range<u64>) -> Result<Bytes> {
        self.slice(range)
    }

    fn read_options(&self) -> crate::ReadOptions {
        // Local bytes cost no round trip: every range is its own zero-copy read.
        crate::ReadOptions::exact()
    }

    async fn read_ranges(&self, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        ranges.iter().map(|r| self.slice(r.clone())).collect()
    }

    fn as_sync(&self) -> Option<&dyn SyncRead> {
        Some(self)
    }
}

impl SyncRead for LocalDriver {
    /// `pread` straight into the caller's buffer: no mapping, nothing left resident in the process.
    fn read_into(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let range = offset..offset.saturating_add(buf.len() as u64);
        check_range(&self.location, &range, self.info.size)?;
        self.file.read_exact_at(buf, offset).map_err(|e| Error::from_io("local", &self.location, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_exact_ranges_and_rejects_others() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.bin");
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let d = LocalDriver::open(&path).unwrap();
        assert_eq!(d.stat().await.unwrap().size, 3_000_000);
        let b = d.read_range(10..20).await.unwrap();
        assert_eq!(&b[..], &data[10..20]);
        let big = d.read_range(5..2_900_000).await.unwrap();
        assert_eq!(&big[..], &data[5..2_900_000]);
        drop(big); // releases pages; the data must still read back the same
        let again = d.read_ranges(&[0..3, 2_999_990..3_000_000]).await.unwrap();
        let mut buf = vec![0u8; 1000];
        d.as_sync().unwrap().read_into(1_000_000, &mut buf).unwrap();
        assert_eq!(&buf[..], &data[1_000_000..1_001_000]);
        assert!(d.as_sync().unwrap().read_into(2_999_500, &mut buf).is_err());
        assert_eq!(&again[1][..], &data[2_999_990..]);
        let e = d.read_range(2_999_999..3_000_001).await.unwrap_err().to_string();
        assert!(e.contains("f.bin") && e.contains("3000000 bytes"), "{e}");
    }

    #[tokio::test]
    async fn missing_and_empty_files() {
        let dir = tempfile::tempdir().unwrap();
        let e = LocalDriver::open(dir.path().join("nope.fits")).unwrap_err();
        assert!(matches!(e, Error::NotFound { .. }), "{e}");
        assert!(e.to_string().contains("nope.fits"));
        let empty = dir.path().join("empty.fits");
        std::fs::write(&empty, b"").unwrap();
        let d = LocalDriver::open(&empty).unwrap();
        assert_eq!(d.stat().await.unwrap().size, 0);
        assert!(d.read_range(0..0).await.unwrap().is_empty());
        assert!(LocalDriver::open(dir.path()).is_err());
    }
}
