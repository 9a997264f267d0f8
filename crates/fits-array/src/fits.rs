//! Opening a FITS source: the HDU index, found with as few reads as the format allows.

use crate::error::{Error, Result};
use crate::groups::Groups;
use crate::image::Image;
use bytes::Bytes;
use fits_core::{FileIndex, HduEntry, HduKind, HduLayout, Header, IndexDecoder, Step, Warning};
use fits_io::{MemoryDriver, StorageDriver};
use std::fmt;
use std::io::Read;
use std::sync::Arc;

/// Largest decompressed size accepted for a whole-file gzip source (`.fits.gz`).
pub const MAX_GUNZIP_BYTES: u64 = 8 << 30;

/// An open FITS file: its HDUs (headers and layouts), no data.
///
/// ```
/// # async fn demo() -> fits_array::Result<()> {
/// use fits_array::Fits;
/// use ndarray::s;
/// let fits = Fits::open("image.fits").await?;
/// let sci = fits.image("SCI")?;
/// let cutout = sci.section().slice(s![100..200, 50..80])?.read::<f32>().await?;
/// assert_eq!(cutout.shape(), &[100, 30]);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Fits {
    location: Arc<str>,
    driver: Arc<dyn StorageDriver>,
    hdus: Vec<Hdu>,
    warnings: Vec<Warning>,
    file_len: u64,
    complete: bool,
}

/// A section a caller will read right after opening: its bytes can travel with the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionHint {
    /// The HDU, by index.
    pub hdu: usize,
    /// The section, as [`crate::parse_section_spec`] reads it (numpy order).
    pub section: String,
}

/// Speculative section bytes are fetched only up to this size.
const PREFETCH_LIMIT: u64 = 8 << 20;
/// ... and only as this many ranges.
const PREFETCH_RANGES: usize = 4096;

/// How far opening reads the headers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum IndexDepth {
    /// Every header (to list all HDUs).
    #[default]
    All,
    /// Stop once this HDU is found (remote files: fewer round trips).
    Until(HduSelector),
    /// Stop at the first HDU that holds data.
    FirstWithData,
}

impl Fits {
    /// Opens a path, `file://`, `http(s)://` or `s3://` source (as the build's drivers allow).
    pub async fn open(source: &str) -> Result<Fits> {
        Fits::open_with(source, &fits_io::OpenOptions::default()).await
    }

    /// Opens a source with options (anonymous object-store access, retries, read planning).
    pub async fn open_with(source: &str, options: &fits_io::OpenOptions) -> Result<Fits> {
        let driver = fits_io::open(source, options).await?;
        Fits::from_driver(driver).await
    }

    /// Opens a source reading headers only as far as `depth` needs: with
    /// [`IndexDepth::Until`], a remote file's later headers cost no round trip.
    /// The result lists the HDUs read so far ([`Fits::is_complete`] says whether that is all).
    pub async fn open_until(source: &str, options: &fits_io::OpenOptions, depth: IndexDepth) -> Result<Fits> {
        let driver = fits_io::open(source, options).await?;
        Fits::from_driver_until(driver, depth).await
    }

    /// Reads the HDU index through any driver. A gzip-compressed source is
    /// decompressed into memory (up to [`MAX_GUNZIP_BYTES`]).
    pub async fn from_driver(driver: Arc<dyn StorageDriver>) -> Result<Fits> {
        Fits::from_driver_until(driver, IndexDepth::All).await
    }

    /// Opens HDU `hint.hdu` to read `hint.section` from it next. When that HDU's header lies
    /// beyond the first read and the previous extension suggests its layout (same header
    /// length, shape and type, as in most multi-extension files), the section's bytes are
    /// fetched together with the header and kept in a cache, so reading the section afterwards
    /// costs no further round trip. A wrong guess wastes at most 8 MiB and changes nothing else.
    pub async fn open_for_section(source: &str, options: &fits_io::OpenOptions, hint: SectionHint) -> Result<Fits> {
        Fits::from_driver_for_section(fits_io::open(source, options).await?, hint).await
    }

    /// [`Fits::open_for_section`] through any driver.
    pub async fn from_driver_for_section(driver: Arc<dyn StorageDriver>, hint: SectionHint) -> Result<Fits> {
        let cached: Arc<dyn StorageDriver> = Arc::new(fits_io::CacheDriver::new(driver, 2 * PREFETCH_LIMIT));
        Fits::open_inner(cached, IndexDepth::Until(HduSelector::Index(hint.hdu)), Some(hint)).await
    }

    /// Reads the HDU index through any driver, as far as `depth` needs.
    pub async fn from_driver_until(driver: Arc<dyn StorageDriver>, depth: IndexDepth) -> Result<Fits> {
        Fits::open_inner(driver, depth, None).await
    }

    async fn open_inner(driver: Arc<dyn StorageDriver>, depth: IndexDepth, hint: Option<SectionHint>) -> Result<Fits> {
        let (info, head) = driver.read_head(fits_core::DEFAULT_HEADER_READ).await?;
        if head.starts_with(&[0x1f, 0x8b]) {
            let whole = if head.len() as u64 == info.size { head } else { driver.read_range(0..info.size).await? };
            let location = driver.location().to_string();
            let data = gunzip(&location, &whole)?;
            let inner: Arc<dyn StorageDriver> = Arc::new(MemoryDriver::new(location, data));
            return Box::pin(Fits::open_inner(inner, depth, None)).await;
        }
        let location: Arc<str> = driver.location().into();
        let mut decoder = IndexDecoder::new(info.size);
        if !head.is_empty() {
            decoder.push(0, head).map_err(|e| Error::format(&location, e))?;
        }
        let mut complete = true;
        loop {
            if reached(decoder.found(), &depth) {
                complete = false;
                break;
            }
            match decoder.step().map_err(|e| Error::format(&location, e))? {
                Step::Done => break,
                // The wanted HDU may be among those parsed since the last check: fetch nothing more.
                Step::Need(_) if reached(decoder.found(), &depth) => {
                    complete = false;
                    break;
                }
                Step::Need(ranges) => {
                    let mut wanted = ranges.clone();
                    if let Some(h) = &hint {
                        if let Some(at) = target_header(decoder.found(), &ranges, h.hdu) {
                            wanted.extend(guess_section(decoder.found(), at, &h.section, info.size));
                        }
                    }
                    let mut parts = driver.read_ranges(&wanted).await?;
                    parts.truncate(ranges.len());
                    for (r, bytes) in ranges.iter().zip(parts) {
                        decoder.push(r.start, bytes).map_err(|e| Error::format(&location, e))?;
                    }
                }
            }
        }
        let FileIndex { hdus, file_len, warnings } = if complete {
            decoder.finish().map_err(|e| Error::format(&location, e))?
        } else {
            decoder.finish_partial()
        };
        let hdus = hdus
            .into_iter()
            .map(|entry| Hdu { entry: Arc::new(entry), driver: driver.clone(), location: location.clone(), file_len })
            .collect();
        Ok(Fits { location, driver, hdus, warnings, file_len, complete })
    }

    /// Whether every HDU of the file is listed (false after an early stop of [`Fits::open_until`]).
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// The path or URL.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The driver serving the bytes.
    pub fn driver(&self) -> &Arc<dyn StorageDriver> {
        &self.driver
    }

    /// Size of the file in bytes (decompressed size for gzip sources).
    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// Every HDU, in file order.
    pub fn hdus(&self) -> &[Hdu] {
        &self.hdus
    }

    /// Number of HDUs.
    pub fn len(&self) -> usize {
        self.hdus.len()
    }

    /// Whether the file has no HDUs (never true for an opened file).
    pub fn is_empty(&self) -> bool {
        self.hdus.is_empty()
    }

    /// File-level warnings (trailing bytes) followed by every HDU's warnings.
    pub fn warnings(&self) -> Vec<Warning> {
        let mut all = self.warnings.clone();
        for h in &self.hdus {
            all.extend(h.warnings().iter().cloned());
        }
        all
    }

    /// An HDU by index, by `EXTNAME` (case-insensitive), or by `(EXTNAME, EXTVER)`.
    pub fn hdu(&self, selector: impl Into<HduSelector>) -> Result<&Hdu> {
        let selector = selector.into();
        let found = match &selector {
            HduSelector::Index(i) => self.hdus.get(*i),
            HduSelector::Name(name, ver) => self
                .hdus
                .iter()
                .find(|h| h.name().eq_ignore_ascii_case(name.trim()) && ver.is_none_or(|v| h.version() == v)),
        };
        found.ok_or_else(|| Error::NoSuchHdu {
            location: self.location.to_string(),
            selector: selector.to_string(),
            available: if self.complete {
                self.describe_hdus()
            } else {
                format!("{} (headers read so far)", self.describe_hdus())
            },
        })
    }

    /// The first HDU that holds data (the CLI's default), or HDU 0 if none does.
    pub fn first_data_hdu(&self) -> &Hdu {
        self.hdus.iter().find(|h| h.layout().data_len > 0).unwrap_or(&self.hdus[0])
    }

    /// The image of an HDU (see [`Fits::hdu`] for selectors).
    pub fn image(&self, selector: impl Into<HduSelector>) -> Result<Image> {
        self.hdu(selector)?.image()
    }

    fn describe_hdus(&self) -> String {
        let names: Vec<String> = self
            .hdus
            .iter()
            .map(|h| if h.name().is_empty() { h.index().to_string() } else { format!("{} {}", h.index(), h.name()) })
            .collect();
        format!("{} HDUs: {}", self.hdus.len(), names.join(", "))
    }
}

/// Where HDU `target` starts, if this batch brings its header: the header needed next
/// (`ranges[0]`), or one of the decoder's guesses a whole number of extension sizes further on.
fn target_header(found: &[HduEntry], ranges: &[std::ops::Range<u64>], target: usize) -> Option<u64> {
    let next = found.len();
    let first = ranges.first()?.start;
    if target < next {
        return None;
    }
    if target == next {
        return Some(first);
    }
    let last = found.last()?;
    let size = last.layout.end() - last.layout.header_start;
    let at = first.checked_add(size.checked_mul((target - next) as u64)?)?;
    ranges.iter().any(|r| r.start == at).then_some(at)
}

/// The byte ranges of `section` in the HDU whose header starts at `header_start`, guessing its
/// layout from the extension before it. Empty when there is no such neighbour or the guess
/// would be too large.
fn guess_section(found: &[HduEntry], header_start: u64, section: &str, file_len: u64) -> Vec<std::ops::Range<u64>> {
    let Some(prev) = found.last().filter(|h| h.kind == HduKind::Image) else { return Vec::new() };
    let Ok(info) = fits_core::ImageInfo::from_header(&prev.header) else { return Vec::new() };
    let Ok(elems) = crate::parse_section_spec(section, &info.shape) else { return Vec::new() };
    let Some(sel) = crate::image::whole_image_selection(&info.shape, &elems) else { return Vec::new() };
    let data_start = header_start + prev.layout.header_len();
    let elem = info.bitpix.size();
    if crate::plan::end_offset(&info.shape, elem, data_start, &sel) > file_len {
        return Vec::new();
    }
    let runs = crate::plan::Runs::new(&info.shape, elem, data_start, &sel);
    if runs.remaining() > PREFETCH_RANGES {
        return Vec::new();
    }
    let ranges: Vec<std::ops::Range<u64>> = runs.map(|r| r.bytes(elem)).collect();
    let total: u64 = ranges.iter().map(|r| r.end - r.start).sum();
    if total > PREFETCH_LIMIT { Vec::new() } else { ranges }
}

/// Whether the HDUs found so far satisfy an early stop.
fn reached(found: &[HduEntry], depth: &IndexDepth) -> bool {
    match depth {
        IndexDepth::All => false,
        IndexDepth::FirstWithData => found.iter().any(|h| h.layout.data_len > 0),
        IndexDepth::Until(HduSelector::Index(i)) => found.len() > *i,
        IndexDepth::Until(HduSelector::Name(name, ver)) => {
            found.iter().any(|h| h.name().eq_ignore_ascii_case(name.trim()) && ver.is_none_or(|v| h.version() == v))
        }
    }
}

fn gunzip(location: &str, compressed: &[u8]) -> Result<Bytes> {
    let mut out = Vec::new();
    let mut reader = flate2::read::MultiGzDecoder::new(compressed).take(MAX_GUNZIP_BYTES + 1);
    reader.read_to_end(&mut out).map_err(|e| Error::Format {
        location: location.to_string(),
        source: fits_core::Error::NotFits { reason: format!("gzip stream is corrupt: {e}") },
    })?;
    if out.len() as u64 > MAX_GUNZIP_BYTES {
        return Err(Error::Unsupported {
            location: location.to_string(),
            hdu: 0,
            what: format!("a gzip-compressed file larger than {MAX_GUNZIP_BYTES} bytes once decompressed"),
        });
    }
    Ok(Bytes::from(out))
}

/// Chooses an HDU: by index, by name, or by name and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HduSelector {
    /// Zero-based index.
    Index(usize),
    /// `EXTNAME` (case-insensitive) and optionally `EXTVER`.
    Name(String, Option<i64>),
}

impl HduSelector {
    /// Parses the CLI form: `N`, `NAME` or `NAME,VER`.
    pub fn parse(text: &str) -> HduSelector {
        if let Ok(i) = text.trim().parse::<usize>() {
            return HduSelector::Index(i);
        }
        if let Some((name, ver)) = text.rsplit_once(',') {
            if let Ok(v) = ver.trim().parse::<i64>() {
                return HduSelector::Name(name.trim().to_string(), Some(v));
            }
        }
        HduSelector::Name(text.trim().to_string(), None)
    }
}

impl fmt::Display for HduSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HduSelector::Index(i) => write!(f, "{i}"),
            HduSelector::Name(n, None) => write!(f, "{n:?}"),
            HduSelector::Name(n, Some(v)) => write!(f, "{n:?} version {v}"),
        }
    }
}

impl From<usize> for HduSelector {
    fn from(i: usize) -> Self {
        HduSelector::Index(i)
    }
}
impl From<&str> for HduSelector {
    fn from(name: &str) -> Self {
        HduSelector::Name(name.to_string(), None)
    }
}
impl From<(&str, i64)> for HduSelector {
    fn from((name, ver): (&str, i64)) -> Self {
        HduSelector::Name(name.to_string(), Some(ver))
    }
}

/// One HDU: its header and layout, and the driver to read its data with.
#[derive(Debug, Clone)]
pub struct Hdu {
    entry: Arc<HduEntry>,
    driver: Arc<dyn StorageDriver>,
    location: Arc<str>,
    file_len: u64,
}

impl Hdu {
    /// Zero-based index in the file.
    pub fn index(&self) -> usize {
        self.entry.index
    }

    /// `EXTNAME` (`PRIMARY` for HDU 0 without one).
    pub fn name(&self) -> String {
        self.entry.name()
    }

    /// `EXTVER` (default 1).
    pub fn version(&self) -> i64 {
        self.entry.version()
    }

    /// What the HDU holds.
    pub fn kind(&self) -> &HduKind {
        &self.entry.kind
    }

    /// The header as stored.
    pub fn header(&self) -> &Header {
        &self.entry.header
    }

    /// Where header and data lie in the file.
    pub fn layout(&self) -> HduLayout {
        self.entry.layout
    }

    /// Defects found in this HDU's header and layout.
    pub fn warnings(&self) -> &[Warning] {
        &self.entry.warnings
    }

    /// The file's path or URL.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The driver serving the bytes.
    pub fn driver(&self) -> &Arc<dyn StorageDriver> {
        &self.driver
    }

    /// Data bytes actually present in the file (less than `layout().data_len` if cut short).
    pub fn available_data(&self) -> u64 {
        self.file_len.saturating_sub(self.entry.layout.data_start).min(self.entry.layout.data_len)
    }

    /// The image this HDU holds (primary, IMAGE extension, or tile-compressed image).
    pub fn image(&self) -> Result<Image> {
        Image::new(self.clone())
    }

    /// The random groups this HDU holds.
    pub fn groups(&self) -> Result<Groups> {
        Groups::new(self.clone())
    }

    /// The raw header bytes as stored in the file (one read).
    pub async fn header_bytes(&self) -> Result<Bytes> {
        let l = self.entry.layout;
        Ok(self.driver.read_range(l.header_start..l.data_start).await?)
    }

    /// Checks CHECKSUM and DATASUM by reading the header and the whole data unit, in bounded pieces.
    pub async fn verify_checksums(&self) -> Result<fits_core::checksum::Verification> {
        let l = self.entry.layout;
        let header = self.header_bytes().await?;
        let mut sum = fits_core::checksum::Checksum::new();
        let end = (l.data_start + l.data_span()).min(self.file_len);
        let mut pos = l.data_start;
        const PIECE: u64 = 8 << 20;
        while pos < end {
            let to = (pos + PIECE).min(end);
            sum.update(&self.driver.read_range(pos..to).await?);
            pos = to;
        }
        Ok(fits_core::checksum::verify(&header, &self.entry.header, sum.value()))
    }

    pub(crate) fn format_error(&self, e: fits_core::Error) -> Error {
        Error::format(&self.location, e.in_hdu(self.index()))
    }

    pub(crate) fn wrong_kind(&self, expected: &'static str) -> Error {
        Error::WrongKind {
            location: self.location.to_string(),
            hdu: self.index(),
            kind: format!("a {} HDU", self.kind()),
            expected,
        }
    }
}
