//! Writing an image HDU to a local file: streamed, checksummed, and atomic (temporary file, then rename).

use crate::error::{Error, Result};
use fits_core::checksum::{Checksum, set_checksums};
use fits_core::{DType, Element, Header, ImageInfo};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// How a writer treats an existing target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// Replace an existing file (otherwise an existing target is an error).
    pub overwrite: bool,
}

/// Streams one image (a primary HDU) to a file.
///
/// The header is checked and written first; data arrives in order, in chunks
/// of any size; [`ImageWriter::finish`] checks the element count, pads the
/// data, writes DATASUM and CHECKSUM, and renames the temporary file onto the
/// target. Dropped before `finish`, the writer leaves no file behind.
///
/// ```no_run
/// use fits_array::{ImageWriter, WriteOptions};
/// use fits_core::{DType, write::image_header};
/// let header = image_header(DType::F32, &[2, 3], true);
/// let mut w = ImageWriter::create("out.fits", header, WriteOptions::default())?;
/// w.write(&[0f32, 1.0, 2.0])?;
/// w.write(&[3f32, 4.0, 5.0])?;
/// w.finish()?;
/// # Ok::<(), fits_array::Error>(())
/// ```
#[derive(Debug)]
pub struct ImageWriter {
    location: String,
    target: PathBuf,
    options: WriteOptions,
    file: Option<BufWriter<tempfile::NamedTempFile>>,
    header: Header,
    header_len: u64,
    dtype: DType,
    expected: u64,
    written: u64,
    sum: Checksum,
    buf: Vec<u8>,
}

impl ImageWriter {
    /// Starts writing `header` (which must describe an image whose values are
    /// stored exactly: no BSCALE other than 1, BZERO only as an unsigned convention).
    pub fn create(path: impl AsRef<Path>, mut header: Header, options: WriteOptions) -> Result<ImageWriter> {
        let target = path.as_ref().to_path_buf();
        let location = target.display().to_string();
        let mismatch = |reason: String| Error::WriteMismatch { location: location.clone(), reason };
        let info = ImageInfo::from_header(&header).map_err(|e| Error::format(&location, e))?;
        let dtype = exact_dtype(&info).ok_or_else(|| {
            mismatch(format!(
                "BITPIX {} with BSCALE {} and BZERO {} cannot be written from native values",
                info.bitpix, info.scaling.bscale, info.scaling.bzero
            ))
        })?;
        if !options.overwrite && target.exists() {
            return Err(Error::Write {
                location,
                action: "refusing to replace an existing file",
                source: std::io::Error::new(std::io::ErrorKind::AlreadyExists, "file exists (use overwrite)"),
            });
        }
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let tmp = tempfile::Builder::new().prefix(".fits-write-").tempfile_in(&dir).map_err(|source| Error::Write {
            location: location.clone(),
            action: "creating a temporary file",
            source,
        })?;
        // Reserve the checksum cards now so the header keeps its length when they are filled in.
        set_checksums(&mut header, 0).map_err(|e| Error::format(&location, e))?;
        let bytes = header.to_bytes().map_err(|e| Error::format(&location, e))?;
        let mut file = BufWriter::with_capacity(1 << 20, tmp);
        file.write_all(&bytes).map_err(|source| Error::Write {
            location: location.clone(),
            action: "writing the header",
            source,
        })?;
        let expected = info.shape.iter().map(|&n| n as u64).product::<u64>() * (!info.shape.is_empty()) as u64;
        Ok(ImageWriter {
            location,
            target,
            options,
            file: Some(file),
            header,
            header_len: bytes.len() as u64,
            dtype,
            expected,
            written: 0,
            sum: Checksum::new(),
            buf: Vec::new(),
        })
    }

    /// Elements still expected.
    pub fn remaining(&self) -> u64 {
        self.expected - self.written
    }

    /// Appends the next values (in C order of the image).
    pub fn write<T: Element>(&mut self, values: &[T]) -> Result<()> {
        if T::DTYPE != self.dtype {
            return Err(self.mismatch(format!("the header describes {} values, got {}", self.dtype, T::DTYPE)));
        }
        if values.len() as u64 > self.remaining() {
            return Err(self.mismatch(format!(
                "{} more values than the header's {} elements",
                values.len() as u64 - self.remaining(),
                self.expected
            )));
        }
        self.buf.clear();
        T::encode(values, &mut self.buf);
        self.sum.update(&self.buf);
        self.written += values.len() as u64;
        let file = self.file.as_mut().ok_or_else(|| Error::WriteMismatch {
            location: self.location.clone(),
            reason: "writer already finished".into(),
        })?;
        file.write_all(&self.buf).map_err(|source| Error::Write {
            location: self.location.clone(),
            action: "writing data",
            source,
        })
    }

    /// Pads the data, fills in the checksums and moves the file into place.
    pub fn finish(mut self) -> Result<()> {
        if self.written != self.expected {
            return Err(
                self.mismatch(format!("the header promises {} elements, {} were written", self.expected, self.written))
            );
        }
        let location = self.location.clone();
        let werr = |action: &'static str| {
            let location = location.clone();
            move |source: std::io::Error| Error::Write { location, action, source }
        };
        let mut file = self.file.take().ok_or_else(|| Error::WriteMismatch {
            location: self.location.clone(),
            reason: "writer already finished".into(),
        })?;
        let data_len = self.written * self.dtype.size() as u64;
        let pad = (fits_core::padded(data_len) - data_len) as usize;
        file.write_all(&vec![0u8; pad]).map_err(werr("padding the data"))?;
        set_checksums(&mut self.header, self.sum.value()).map_err(|e| Error::format(&self.location, e))?;
        let bytes = self.header.to_bytes().map_err(|e| Error::format(&self.location, e))?;
        debug_assert_eq!(bytes.len() as u64, self.header_len);
        let mut tmp = file.into_inner().map_err(|e| Error::Write {
            location: self.location.clone(),
            action: "flushing",
            source: e.into_error(),
        })?;
        tmp.as_file_mut().seek(SeekFrom::Start(0)).map_err(werr("rewinding"))?;
        tmp.as_file_mut().write_all(&bytes).map_err(werr("writing the final header"))?;
        tmp.as_file_mut().sync_all().map_err(werr("syncing"))?;
        let persisted =
            if self.options.overwrite { tmp.persist(&self.target) } else { tmp.persist_noclobber(&self.target) };
        persisted.map_err(|e| Error::Write {
            location: self.location.clone(),
            action: "moving the file into place",
            source: e.error,
        })?;
        Ok(())
    }

    fn mismatch(&self, reason: String) -> Error {
        Error::WriteMismatch { location: self.location.clone(), reason }
    }
}

/// The native type whose values a header stores exactly, if any.
fn exact_dtype(info: &ImageInfo) -> Option<DType> {
    let s = info.scaling;
    if s.bscale != 1.0 {
        return None;
    }
    DType::ALL.into_iter().find(|d| d.storage().0 == info.bitpix && d.storage().1 as f64 == s.bzero)
}

/// Size in bytes of a one-HDU file holding `header` and `elements` values of `dtype`.
pub fn file_size(header: &Header, dtype: DType, elements: u64) -> u64 {
    header.byte_len() as u64 + fits_core::padded(elements * dtype.size() as u64)
}

/// Writes a small file in one go: header, then all values (for tests and examples).
pub fn write_file<T: Element>(
    path: impl AsRef<Path>,
    header: Header,
    values: &[T],
    options: WriteOptions,
) -> Result<()> {
    let mut w = ImageWriter::create(path, header, options)?;
    w.write(values)?;
    w.finish()
}
