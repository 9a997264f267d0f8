//! The write side: multipart uploads to object stores, atomic local files, in-place local updates.

use crate::{Error, Result};
use async_trait::async_trait;
use bytes::Bytes;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// A multipart upload: parts with explicit 0-based indices, sent in any order and concurrently;
/// the object appears only on [`Upload::complete`], as parts `0..n` in index order.
#[async_trait]
pub trait Upload: Send + Sync + fmt::Debug {
    /// The destination URL.
    fn location(&self) -> &str;
    /// The smallest size of every part but the last (5 MiB on S3).
    fn min_part_size(&self) -> u64;
    /// Sends part `index`; sending an index again replaces that part.
    async fn put_part(&self, index: usize, data: Bytes) -> Result<()>;
    /// Makes the object from parts `0..parts`, every one of which must have been sent.
    async fn complete(&self, parts: usize) -> Result<()>;
    /// Discards the upload: no object appears and the parts are deleted.
    async fn abort(&self) -> Result<()>;
}

/// A local file written atomically: bytes go to a temporary file beside the target, which is
/// renamed onto it by [`LocalWrite::commit`]. Dropped without a commit, it leaves nothing behind.
#[derive(Debug)]
pub struct LocalWrite {
    tmp: tempfile::NamedTempFile,
    target: PathBuf,
    location: String,
    overwrite: bool,
}

fn io_err(location: &str, what: &str, e: std::io::Error) -> Error {
    Error::Io {
        driver: "local",
        location: location.to_string(),
        source: std::io::Error::new(e.kind(), format!("{what}: {e}")),
    }
}

impl LocalWrite {
    /// Prepares to write `path`; an existing file is an error unless `overwrite`.
    pub fn create(path: impl AsRef<Path>, overwrite: bool) -> Result<LocalWrite> {
        let target = path.as_ref().to_path_buf();
        let location = target.display().to_string();
        if !overwrite && target.exists() {
            return Err(Error::Io {
                driver: "local",
                location,
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "the file exists (allow overwriting to replace it)",
                ),
            });
        }
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut builder = tempfile::Builder::new();
        builder.prefix(".fits-write-");
        // A finished file gets the usual permissions (0666 less the umask), not a temporary file's 0600.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(std::fs::Permissions::from_mode(0o666));
        }
        let tmp = builder.tempfile_in(&dir).map_err(|e| io_err(&location, "creating a temporary file beside it", e))?;
        Ok(LocalWrite { tmp, target, location, overwrite })
    }

    /// The target path.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Writes `data` at `offset`.
    pub fn write_at(&self, offset: u64, data: &[u8]) -> Result<()> {
        self.tmp.as_file().write_all_at(data, offset).map_err(|e| io_err(&self.location, "writing", e))
    }

    /// Reads `buf.len()` bytes at `offset` back.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.tmp.as_file().read_exact_at(buf, offset).map_err(|e| io_err(&self.location, "reading back", e))
    }

    /// Sets the length (a longer file is sparse where the filesystem allows).
    pub fn set_len(&self, len: u64) -> Result<()> {
        self.tmp.as_file().set_len(len).map_err(|e| io_err(&self.location, "sizing", e))
    }

    /// Syncs the data and renames the file onto the target.
    pub fn commit(self) -> Result<()> {
        self.tmp.as_file().sync_all().map_err(|e| io_err(&self.location, "syncing", e))?;
        let persisted =
            if self.overwrite { self.tmp.persist(&self.target) } else { self.tmp.persist_noclobber(&self.target) };
        persisted.map(|_| ()).map_err(|e| io_err(&self.location, "moving the file into place", e.error))
    }
}

/// An existing local file changed in place (updates, appended HDUs). Dropped without
/// [`LocalUpdate::commit`], the file is cut back to its original length, so an append that fails
/// halfway leaves the file as it was; bytes overwritten inside the old length stay overwritten.
#[derive(Debug)]
pub struct LocalUpdate {
    file: File,
    location: String,
    original_len: u64,
    committed: bool,
}

impl LocalUpdate {
    /// Opens `path` for reading and writing.
    pub fn open(path: impl AsRef<Path>) -> Result<LocalUpdate> {
        let location = path.as_ref().display().to_string();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path.as_ref())
            .map_err(|e| Error::from_io("local", &location, e))?;
        let original_len = file.metadata().map_err(|e| io_err(&location, "reading its size", e))?.len();
        Ok(LocalUpdate { file, location, original_len, committed: false })
    }

    /// The path.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The length when opened.
    pub fn original_len(&self) -> u64 {
        self.original_len
    }

    /// Writes `data` at `offset`.
    pub fn write_at(&self, offset: u64, data: &[u8]) -> Result<()> {
        self.file.write_all_at(data, offset).map_err(|e| io_err(&self.location, "writing", e))
    }

    /// Reads `buf.len()` bytes at `offset`.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.file.read_exact_at(buf, offset).map_err(|e| io_err(&self.location, "reading", e))
    }

    /// Sets the length.
    pub fn set_len(&self, len: u64) -> Result<()> {
        self.file.set_len(len).map_err(|e| io_err(&self.location, "sizing", e))
    }

    /// Syncs and keeps the changes.
    pub fn commit(mut self) -> Result<()> {
        self.file.sync_all().map_err(|e| io_err(&self.location, "syncing", e))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for LocalUpdate {
    fn drop(&mut self) {
        if !self.committed {
            let _ = self.file.set_len(self.original_len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_writes_are_atomic() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.fits");
        let w = LocalWrite::create(&target, false).unwrap();
        w.set_len(10_000).unwrap();
        w.write_at(5000, b"hello").unwrap();
        assert!(!target.exists(), "nothing under the final name before commit");
        w.commit().unwrap();
        let bytes = std::fs::read(&target).unwrap();
        assert_eq!((bytes.len(), &bytes[5000..5005]), (10_000, &b"hello"[..]));
        // Dropped without commit: no file, no temporary left.
        let w = LocalWrite::create(dir.path().join("gone.fits"), false).unwrap();
        w.write_at(0, b"x").unwrap();
        drop(w);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("out.fits")]);
        // An existing target needs overwrite.
        let e = LocalWrite::create(&target, false).unwrap_err().to_string();
        assert!(e.contains("out.fits") && e.contains("exists"), "{e}");
        assert!(LocalWrite::create(&target, true).is_ok());
    }

    #[test]
    fn abandoned_appends_are_cut_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.fits");
        std::fs::write(&path, vec![1u8; 2880]).unwrap();
        let u = LocalUpdate::open(&path).unwrap();
        u.write_at(2880, &[2u8; 5760]).unwrap();
        drop(u);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 2880);
        let u = LocalUpdate::open(&path).unwrap();
        u.write_at(2880, &[2u8; 2880]).unwrap();
        u.commit().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 5760);
    }
}
