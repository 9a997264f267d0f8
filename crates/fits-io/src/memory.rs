//! A driver over bytes held in memory: for tests, decompressed files and small objects.

use crate::{ObjectInfo, Result, StorageDriver, SyncRead, check_range};
use async_trait::async_trait;
use bytes::Bytes;
use std::ops::Range;

/// Serves ranges of an in-memory buffer (zero-copy slices).
#[derive(Debug, Clone)]
pub struct MemoryDriver {
    location: String,
    data: Bytes,
}

impl MemoryDriver {
    /// A driver over `data`, called `location` in messages.
    pub fn new(location: impl Into<String>, data: impl Into<Bytes>) -> MemoryDriver {
        MemoryDriver { location: location.into(), data: data.into() }
    }

    /// The whole buffer.
    pub fn bytes(&self) -> &Bytes {
        &self.data
    }
}

#[async_trait]
impl StorageDriver for MemoryDriver {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn location(&self) -> &str {
        &self.location
    }

    async fn stat(&self) -> Result<ObjectInfo> {
        Ok(ObjectInfo { size: self.data.len() as u64, etag: None, last_modified: None })
    }

    async fn read_range(&self, range: Range<u64>) -> Result<Bytes> {
        check_range(&self.location, &range, self.data.len() as u64)?;
        Ok(self.data.slice(range.start as usize..range.end as usize))
    }

    fn read_options(&self) -> crate::ReadOptions {
        // Local bytes cost no round trip: every range is its own zero-copy read.
        crate::ReadOptions::exact()
    }

    async fn read_ranges(&self, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        let mut out = Vec::with_capacity(ranges.len());
        for r in ranges {
            out.push(self.read_range(r.clone()).await?);
        }
        Ok(out)
    }

    fn as_sync(&self) -> Option<&dyn SyncRead> {
        Some(self)
    }
}

impl SyncRead for MemoryDriver {
    fn read_into(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let range = offset..offset.saturating_add(buf.len() as u64);
        check_range(&self.location, &range, self.data.len() as u64)?;
        buf.copy_from_slice(&self.data[offset as usize..range.end as usize]);
        Ok(())
    }
}
