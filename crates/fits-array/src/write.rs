//! Writers for files bigger than memory: streaming (several HDUs, local or object store), random
//! order (local, sparse), and updates in place. Every finished HDU carries DATASUM and CHECKSUM.
//!
//! Local files are written to a temporary file beside the target and renamed when finished;
//! object-store files go up as a multipart upload completed when finished. Either way, a writer
//! that fails or is dropped before `finish` leaves nothing under the target name (uploads are
//! aborted; appends are cut back).

use crate::error::{Error, Result};
use crate::fits::{Fits, HduSelector};
use crate::geometry::Geometry;
use crate::plan::{AxisRange, Runs};
use bytes::BytesMut;
use fits_core::checksum::{Checksum, set_checksums};
use fits_core::compress::{Compression, EncodedTile, TileColumn, TileEncoder};
use fits_core::tiled::copy_region;
use fits_core::{Conversion, Element, HduKind, Header, ImageInfo, encode_physical};
use fits_io::{LocalUpdate, LocalWrite, Upload};
use ndarray::{ArrayView, Dimension, IxDyn, SliceArg};
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::sync::Arc;
use tokio::task::JoinSet;

/// How writers treat their target and their output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteOptions {
    /// Replace an existing local file (otherwise an existing target is an error).
    pub overwrite: bool,
    /// Write DATASUM and CHECKSUM into every HDU (default true).
    pub checksums: bool,
    /// Bytes per part of an object-store upload (default 8 MiB; at least the store's minimum).
    pub part_size: usize,
    /// Parts uploaded at once (default 4).
    pub uploads_in_flight: usize,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions { overwrite: false, checksums: true, part_size: 8 << 20, uploads_in_flight: 4 }
    }
}

impl WriteOptions {
    /// Default options that replace an existing file.
    pub fn overwrite() -> WriteOptions {
        WriteOptions { overwrite: true, ..WriteOptions::default() }
    }
}

/// A multipart upload fed in order, holding back the parts that hold a header whose checksums
/// are not final yet (they are patched, then sent; part numbers fix the order).
#[derive(Debug)]
struct RemoteSink {
    upload: Arc<dyn Upload>,
    part_size: usize,
    current: BytesMut,
    current_start: u64,
    next_index: usize,
    held: BTreeMap<usize, (u64, BytesMut)>,
    hold: Option<Range<u64>>,
    tasks: JoinSet<fits_io::Result<()>>,
    in_flight: usize,
}

impl RemoteSink {
    fn new(upload: Box<dyn Upload>, options: &WriteOptions) -> RemoteSink {
        let part_size = options.part_size.max(upload.min_part_size() as usize);
        RemoteSink {
            upload: Arc::from(upload),
            part_size,
            current: BytesMut::with_capacity(part_size),
            current_start: 0,
            next_index: 0,
            held: BTreeMap::new(),
            hold: None,
            tasks: JoinSet::new(),
            in_flight: options.uploads_in_flight.max(1),
        }
    }

    async fn send(&mut self, index: usize, part: BytesMut) -> Result<()> {
        // Report a failed part as soon as it is known, not only when the queue is full.
        while let Some(done) = self.tasks.try_join_next() {
            self.check(done)?;
        }
        while self.tasks.len() >= self.in_flight {
            self.join_one().await?;
        }
        let upload = self.upload.clone();
        let data = part.freeze();
        self.tasks.spawn(async move { upload.put_part(index, data).await });
        Ok(())
    }

    async fn join_one(&mut self) -> Result<()> {
        match self.tasks.join_next().await {
            Some(done) => self.check(done),
            None => Ok(()),
        }
    }

    fn check(&self, done: std::result::Result<fits_io::Result<()>, tokio::task::JoinError>) -> Result<()> {
        match done {
            Ok(r) => Ok(r?),
            Err(e) => Err(Error::WriteMismatch {
                location: self.upload.location().to_string(),
                reason: format!("an upload task failed: {e}"),
            }),
        }
    }

    async fn emit(&mut self, part: BytesMut) -> Result<()> {
        let index = self.next_index;
        let start = self.current_start;
        self.next_index += 1;
        self.current_start += part.len() as u64;
        if self.hold.as_ref().is_some_and(|h| h.start < start + part.len() as u64 && start < h.end) {
            self.held.insert(index, (start, part));
            Ok(())
        } else {
            self.send(index, part).await
        }
    }

    async fn append(&mut self, data: &[u8]) -> Result<()> {
        let mut data = data;
        while !data.is_empty() {
            let room = self.part_size - self.current.len();
            let take = room.min(data.len());
            self.current.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.current.len() == self.part_size {
                let part = std::mem::replace(&mut self.current, BytesMut::with_capacity(self.part_size));
                self.emit(part).await?;
            }
        }
        Ok(())
    }

    fn patch(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        let mut pos = offset;
        let mut rest = data;
        while !rest.is_empty() {
            let (start, buf) = if pos >= self.current_start {
                (self.current_start, &mut self.current)
            } else {
                match self.held.values_mut().find(|(s, b)| *s <= pos && pos < *s + b.len() as u64) {
                    Some((s, b)) => (*s, b),
                    None => {
                        return Err(Error::WriteMismatch {
                            location: self.upload.location().to_string(),
                            reason: format!("internal: byte {pos} was already uploaded and cannot be changed"),
                        });
                    }
                }
            };
            let at = (pos - start) as usize;
            let n = rest.len().min(buf.len().saturating_sub(at));
            if n == 0 {
                return Err(Error::WriteMismatch {
                    location: self.upload.location().to_string(),
                    reason: format!("internal: byte {pos} not written yet"),
                });
            }
            buf[at..at + n].copy_from_slice(&rest[..n]);
            pos += n as u64;
            rest = &rest[n..];
        }
        Ok(())
    }

    async fn release(&mut self) -> Result<()> {
        self.hold = None;
        for (index, (_, part)) in std::mem::take(&mut self.held) {
            self.send(index, part).await?;
        }
        Ok(())
    }

    /// Sends what is left and completes the upload; on any failure the upload is aborted.
    async fn commit(mut self) -> Result<()> {
        match self.finish_parts().await {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = self.abort().await;
                Err(e)
            }
        }
    }

    async fn finish_parts(&mut self) -> Result<()> {
        self.release().await?;
        if !self.current.is_empty() || self.next_index == 0 {
            let part = std::mem::take(&mut self.current);
            let index = self.next_index;
            self.next_index += 1;
            self.send(index, part).await?;
        }
        while !self.tasks.is_empty() {
            self.join_one().await?;
        }
        Ok(self.upload.complete(self.next_index).await?)
    }

    async fn abort(&mut self) -> Result<()> {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        Ok(self.upload.abort().await?)
    }
}

/// A writer thread for local files: the kernel's copy into the page cache runs beside the
/// producer (encoding, checksums) instead of after it. Jobs run in order, so a header patched
/// after its first write lands after it; two buffers are in flight and then recycled.
#[derive(Debug)]
struct WritePipe {
    tx: Option<std::sync::mpsc::SyncSender<(u64, Vec<u8>)>>,
    free: std::sync::mpsc::Receiver<Vec<u8>>,
    worker: Option<std::thread::JoinHandle<fits_io::Result<()>>>,
}

impl WritePipe {
    fn start(io: Arc<dyn RandomIo + Send + Sync>) -> WritePipe {
        let (tx, rx) = std::sync::mpsc::sync_channel::<(u64, Vec<u8>)>(2);
        let (give_back, free) = std::sync::mpsc::channel::<Vec<u8>>();
        let worker = std::thread::Builder::new()
            .name("fits-write".into())
            .spawn(move || {
                for (offset, buf) in rx {
                    io.write_at(offset, &buf)?;
                    let _ = give_back.send(buf);
                }
                Ok(())
            })
            .ok();
        WritePipe { tx: Some(tx), free, worker }
    }

    /// A buffer to fill (a recycled one when available).
    fn buffer(&self) -> Vec<u8> {
        let mut b = self.free.try_recv().unwrap_or_default();
        b.clear();
        b
    }

    /// Queues a write; an error means the writer thread stopped (its error comes from `close`).
    fn send(&self, offset: u64, buf: Vec<u8>) -> bool {
        self.tx.as_ref().is_some_and(|tx| tx.send((offset, buf)).is_ok())
    }

    /// Waits for every queued write and returns the first error.
    fn close(&mut self) -> fits_io::Result<()> {
        self.tx.take();
        match self.worker.take().map(|w| w.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(fits_io::Error::Io {
                driver: "local",
                location: String::new(),
                source: std::io::Error::other("the writer thread panicked"),
            }),
            None => Ok(()),
        }
    }
}

impl Drop for WritePipe {
    /// Joins the writer thread, so a dropped writer's file is released (and a temporary file
    /// removed) before the drop returns.
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// A local target behind its writer thread.
#[derive(Debug)]
struct LocalSink<F> {
    file: Arc<F>,
    pipe: WritePipe,
}

impl<F: RandomIo + Send + Sync + 'static> LocalSink<F> {
    fn new(file: F) -> LocalSink<F> {
        let file = Arc::new(file);
        let pipe = WritePipe::start(file.clone());
        LocalSink { file, pipe }
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        let mut buf = self.pipe.buffer();
        buf.extend_from_slice(data);
        if self.pipe.send(offset, buf) {
            Ok(())
        } else {
            Err(self.pipe.close().err().map(Error::from).unwrap_or_else(|| Error::WriteMismatch {
                location: String::new(),
                reason: "the writer thread stopped".into(),
            }))
        }
    }

    /// Waits for the queued writes and hands the file back.
    fn into_file(mut self) -> Result<F> {
        self.pipe.close()?;
        Arc::try_unwrap(self.file).map_err(|_| Error::WriteMismatch {
            location: String::new(),
            reason: "internal: the file is still shared".into(),
        })
    }
}

/// Where a streaming writer's bytes go.
#[derive(Debug)]
enum Sink {
    Local(LocalSink<LocalWrite>),
    Append(LocalSink<LocalUpdate>),
    Remote(Box<RemoteSink>),
}

impl Sink {
    async fn create(dest: &str, options: &WriteOptions) -> Result<Sink> {
        let lower = dest.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            return Err(Error::Unsupported {
                location: dest.to_string(),
                hdu: 0,
                what: "writing over HTTP (write to a local path or an object store)".into(),
            });
        }
        if ["s3://", "gs://", "az://"].iter().any(|p| lower.starts_with(p)) {
            let driver = fits_io::open(dest, &fits_io::OpenOptions::default()).await?;
            let upload = driver.create_upload().await?;
            return Ok(Sink::Remote(Box::new(RemoteSink::new(upload, options))));
        }
        let path = dest.strip_prefix("file://").unwrap_or(dest);
        Ok(Sink::Local(LocalSink::new(LocalWrite::create(path, options.overwrite)?)))
    }

    async fn write(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        match self {
            Sink::Local(f) => f.write(offset, data),
            Sink::Append(f) => f.write(offset, data),
            Sink::Remote(r) => r.append(data).await,
        }
    }

    fn patch(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        match self {
            Sink::Local(f) => f.write(offset, data),
            Sink::Append(f) => f.write(offset, data),
            Sink::Remote(r) => r.patch(offset, data),
        }
    }

    fn hold(&mut self, range: Range<u64>) {
        if let Sink::Remote(r) = self {
            r.hold = Some(range);
        }
    }

    async fn release(&mut self) -> Result<()> {
        match self {
            Sink::Remote(r) => r.release().await,
            _ => Ok(()),
        }
    }

    async fn commit(self) -> Result<()> {
        match self {
            Sink::Local(f) => Ok(f.into_file()?.commit()?),
            Sink::Append(f) => Ok(f.into_file()?.commit()?),
            Sink::Remote(r) => r.commit().await,
        }
    }

    async fn abort(self) -> Result<()> {
        match self {
            // Dropping the file removes the temporary file, or cuts an appended file back.
            Sink::Local(f) => {
                let _ = f.into_file();
                Ok(())
            }
            Sink::Append(f) => {
                let _ = f.into_file();
                Ok(())
            }
            Sink::Remote(mut r) => r.abort().await,
        }
    }
}

/// An HDU being written by a [`FitsWriter`].
#[derive(Debug)]
struct OpenHdu {
    index: usize,
    header: Header,
    start: u64,
    header_len: u64,
    conv: Conversion,
    expected: u64,
    written: u64,
    data_bytes: u64,
    sum: Checksum,
    /// Set for a tile-compressed image.
    tiles: Option<Box<TileWriter>>,
}

/// A tile-compressed image being written: values gather into bands of whole tiles (the
/// tiles' extent along the slowest axis, across the whole image), each band is encoded in
/// parallel and its tiles go to the heap; the table rows are kept and written at the end into
/// the space reserved after the header.
#[derive(Debug)]
struct TileWriter {
    encoder: TileEncoder,
    image: Header,
    /// Elements of one full band.
    band_elements: usize,
    /// Tiles per band.
    band_tiles: u64,
    /// Stored bytes of bands not yet encoded.
    pending: Vec<u8>,
    next_band: usize,
    rows: Vec<u8>,
    heap_len: u64,
    max: [u64; 2],
    heap_sum: Checksum,
    seeded: bool,
}

/// Bytes of whole bands gathered before they are encoded together (in parallel).
const TILE_BATCH_BYTES: usize = 8 << 20;

impl TileWriter {
    fn new(encoder: TileEncoder, image: Header) -> TileWriter {
        let grid = &encoder.grid;
        let band_elements = grid.tile[0] * grid.shape[1..].iter().product::<usize>();
        let band_tiles = grid.grid()[1..].iter().map(|&g| g as u64).product();
        let table_len = grid.count() as usize * encoder.row_len();
        // The heap follows the rows: align its words as they lie in the data.
        let mut heap_sum = Checksum::new();
        heap_sum.update(&[0u8; 3][..table_len % 4]);
        TileWriter {
            band_elements,
            band_tiles,
            pending: Vec::new(),
            next_band: 0,
            rows: vec![0; table_len],
            heap_len: 0,
            max: [0; 2],
            heap_sum,
            seeded: false,
            encoder,
            image,
        }
    }

    /// The stored bytes of tile `k`, gathered from `band`, the stored bytes of the band holding it.
    fn gather(&self, k: u64, band: &[u8], elem: usize) -> Vec<u8> {
        let grid = &self.encoder.grid;
        let row_bytes = grid.shape[1..].iter().product::<usize>() * elem;
        // The band as an array of its rows, the other axes, and the bytes of each pixel.
        let shape: Vec<usize> =
            std::iter::once(band.len() / row_bytes).chain(grid.shape[1..].iter().copied()).chain([elem]).collect();
        let mut region = grid.region(k);
        let first = self.next_band_start_row(k);
        region[0] = region[0].start - first..region[0].end - first;
        region.push(0..elem);
        let mut out = Vec::with_capacity(grid.len(k) * elem);
        copy_region(&shape, &region, band, &mut out);
        out
    }

    /// First image row (slowest axis) of the band holding tile `k`.
    fn next_band_start_row(&self, k: u64) -> usize {
        (k / self.band_tiles.max(1)) as usize * self.encoder.grid.tile[0]
    }

    /// Encodes the bands wholly present in `pending` (all of it when `last`): returns the
    /// heap bytes to append, in tile order.
    fn encode_ready(&mut self, elem: usize, last: bool) -> fits_core::Result<Vec<u8>> {
        let band_bytes = self.band_elements * elem;
        let bands = if last { self.pending.len().div_ceil(band_bytes) } else { self.pending.len() / band_bytes };
        if bands == 0 {
            return Ok(Vec::new());
        }
        let first_tile = self.next_band as u64 * self.band_tiles;
        let tiles = first_tile..(first_tile + bands as u64 * self.band_tiles).min(self.encoder.grid.count());
        if !self.seeded {
            let first = self.gather(0, &self.pending, elem);
            self.encoder.choose_seed(&first);
            self.seeded = true;
        }
        let this = &*self;
        let encoded: Vec<EncodedTile> = tiles
            .clone()
            .into_par_iter()
            .map(|k| {
                let band = (k / this.band_tiles) as usize - this.next_band;
                let start = band * band_bytes;
                let end = (start + band_bytes).min(this.pending.len());
                this.encoder.encode(k, &this.gather(k, &this.pending[start..end], elem))
            })
            .collect::<Vec<_>>()
            .into_iter()
            // The first failing tile in order is the one reported, however the work was shared.
            .collect::<fits_core::Result<_>>()?;
        let row_len = self.encoder.row_len();
        let mut heap = Vec::with_capacity(encoded.iter().map(|t| t.bytes.len()).sum());
        let mut row = Vec::with_capacity(row_len);
        for (k, t) in tiles.zip(&encoded) {
            row.clear();
            self.encoder.row(t, self.heap_len + heap.len() as u64, &mut row)?;
            let at = k as usize * row_len;
            self.rows[at..at + row_len].copy_from_slice(&row);
            let col = usize::from(t.column == TileColumn::Gzip);
            let elements = if col == 0 && self.encoder.algorithm() == fits_core::tiled::Algorithm::Plio {
                t.bytes.len() / 2
            } else {
                t.bytes.len()
            };
            self.max[col] = self.max[col].max(elements as u64);
            heap.extend_from_slice(&t.bytes);
        }
        let used = (bands * band_bytes).min(self.pending.len());
        self.pending.drain(..used);
        self.next_band += bands;
        self.heap_sum.update(&heap);
        self.heap_len += heap.len() as u64;
        Ok(heap)
    }
}

/// Streams HDUs to a local file or an object store, in bounded memory.
///
/// Each image's header is checked and written first; data arrives in order, in chunks of any
/// size, as physical values (converted to the stored type: exact for native types, quantized
/// with BSCALE/BZERO otherwise, NaN as BLANK); [`FitsWriter::end_hdu`] checks the element
/// count, pads the data to a whole block and fills in DATASUM and CHECKSUM.
///
/// ```no_run
/// # async fn demo() -> fits_array::Result<()> {
/// use fits_array::{FitsWriter, WriteOptions};
/// use fits_core::{DType, write::image_header};
/// let mut w = FitsWriter::create("out.fits", WriteOptions::default()).await?;
/// w.begin_image(image_header(DType::F32, &[2, 3], true)).await?;
/// w.write(&[0f32, 1.0, 2.0]).await?;
/// w.write(&[3f32, 4.0, 5.0]).await?;
/// w.end_hdu().await?;
/// w.finish().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct FitsWriter {
    sink: Option<Sink>,
    location: String,
    options: WriteOptions,
    pos: u64,
    hdus: usize,
    open: Option<OpenHdu>,
    failed: bool,
    buf: Vec<u8>,
}

impl FitsWriter {
    /// Starts a new file: a local path (or `file://`), or `s3://`, `gs://`, `az://` object.
    pub async fn create(dest: &str, options: WriteOptions) -> Result<FitsWriter> {
        let sink = Sink::create(dest, &options).await?;
        Ok(FitsWriter {
            sink: Some(sink),
            location: dest.to_string(),
            options,
            pos: 0,
            hdus: 0,
            open: None,
            failed: false,
            buf: Vec::new(),
        })
    }

    /// Starts a new file through any multipart upload (object stores, or a caller's own).
    pub fn to_upload(upload: Box<dyn Upload>, options: WriteOptions) -> FitsWriter {
        let location = upload.location().to_string();
        let sink = Sink::Remote(Box::new(RemoteSink::new(upload, &options)));
        FitsWriter { sink: Some(sink), location, options, pos: 0, hdus: 0, open: None, failed: false, buf: Vec::new() }
    }

    /// Opens an existing local file to append HDUs after its last one. If the writer fails or
    /// is dropped before `finish`, the file is cut back to what it was.
    pub async fn append(path: &str, options: WriteOptions) -> Result<FitsWriter> {
        let fits = Fits::open(path).await?;
        let last = fits
            .hdus()
            .last()
            .ok_or_else(|| Error::WriteMismatch { location: path.to_string(), reason: "the file has no HDU".into() })?;
        let end = last.layout().end();
        if fits.file_len() != end {
            return Err(Error::WriteMismatch {
                location: path.to_string(),
                reason: format!(
                    "cannot append: the file has {} bytes, its last HDU ends at byte {end}",
                    fits.file_len()
                ),
            });
        }
        let file = LocalUpdate::open(path.strip_prefix("file://").unwrap_or(path))?;
        Ok(FitsWriter {
            sink: Some(Sink::Append(LocalSink::new(file))),
            location: path.to_string(),
            options,
            pos: end,
            hdus: fits.len(),
            open: None,
            failed: false,
            buf: Vec::new(),
        })
    }

    /// The target.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// HDUs completed so far (including those of a file appended to).
    pub fn hdus(&self) -> usize {
        self.hdus
    }

    fn mismatch(&self, reason: String) -> Error {
        Error::WriteMismatch { location: self.location.clone(), reason }
    }

    fn usable(&self) -> Result<()> {
        if self.failed {
            return Err(self.mismatch("an earlier write failed; the file will not be finished".into()));
        }
        Ok(())
    }

    async fn sink_write(&mut self, data: &[u8]) -> Result<()> {
        let pos = self.pos;
        let sink = self.sink.as_mut().ok_or_else(|| Error::WriteMismatch {
            location: self.location.clone(),
            reason: "the writer is finished".into(),
        })?;
        match sink.write(pos, data).await {
            Ok(()) => {
                self.pos += data.len() as u64;
                Ok(())
            }
            Err(e) => {
                self.failed = true;
                Err(relocate(e, &self.location))
            }
        }
    }

    /// Starts an image HDU: the primary first (`SIMPLE`), then `XTENSION = 'IMAGE'` extensions.
    pub async fn begin_image(&mut self, mut header: Header) -> Result<()> {
        self.usable()?;
        let index = self.hdus;
        if let Some(open) = &self.open {
            return Err(self.mismatch(format!("HDU {} is still open: call end_hdu first", open.index)));
        }
        let first = header.cards().first().map(|c| c.keyword().to_string()).unwrap_or_default();
        let want = if index == 0 { "SIMPLE" } else { "XTENSION" };
        if first != want {
            return Err(self.mismatch(format!("HDU {index} must start with {want}, not {first:?}")));
        }
        let kind = fits_core::kind_of(&header, index).map_err(|e| Error::format(&self.location, e.in_hdu(index)))?;
        if !matches!(kind, HduKind::Primary | HduKind::Image) {
            return Err(
                self.mismatch(format!("HDU {index}: begin_image writes images, the header describes a {kind} HDU"))
            );
        }
        let info = ImageInfo::from_header(&header).map_err(|e| Error::format(&self.location, e.in_hdu(index)))?;
        let data_bytes =
            fits_core::data_len(&header, &kind).map_err(|e| Error::format(&self.location, e.in_hdu(index)))?;
        if self.options.checksums {
            set_checksums(&mut header, 0).map_err(|e| Error::format(&self.location, e.in_hdu(index)))?;
        }
        let bytes = header.to_bytes().map_err(|e| Error::format(&self.location, e.in_hdu(index)))?;
        let start = self.pos;
        if let Some(s) = self.sink.as_mut() {
            s.hold(start..start + bytes.len() as u64);
        }
        self.sink_write(&bytes).await?;
        self.open = Some(OpenHdu {
            index,
            header,
            start,
            header_len: bytes.len() as u64,
            conv: Conversion::physical(info.bitpix, info.scaling),
            expected: info.len() as u64,
            written: 0,
            data_bytes,
            sum: Checksum::new(),
            tiles: None,
        });
        Ok(())
    }

    /// Starts a tile-compressed image (a binary-table extension holding the image `header`
    /// describes): data then arrives through [`FitsWriter::write`] as for [`FitsWriter::begin_image`],
    /// and is compressed tile by tile in bounded memory. A primary image header (`SIMPLE`) is
    /// written as the convention says, as an empty primary HDU followed by the compressed image
    /// marked `ZSIMPLE`; the same empty primary is added before an extension written first.
    pub async fn begin_compressed_image(&mut self, mut header: Header, compression: &Compression) -> Result<()> {
        self.usable()?;
        if let Some(open) = &self.open {
            return Err(self.mismatch(format!("HDU {} is still open: call end_hdu first", open.index)));
        }
        let primary = header.contains("SIMPLE");
        if primary && self.hdus > 0 {
            return Err(self.mismatch(format!("HDU {}: a primary header (SIMPLE) can only start a file", self.hdus)));
        }
        if self.hdus == 0 {
            let mut empty = fits_core::write::image_header(fits_core::DType::U8, &[], true);
            empty.set("EXTEND", true);
            self.begin_image(empty).await?;
            self.end_hdu().await?;
        }
        let index = self.hdus;
        let fail = |e: fits_core::Error| Error::format(&self.location, e.in_hdu(index));
        if primary {
            // The image keeps its own keywords; EXTEND becomes ZEXTEND.
            header.set("EXTEND", true);
        }
        let info = ImageInfo::from_header(&header).map_err(fail)?;
        let encoder = TileEncoder::new(&header, compression).map_err(fail)?;
        let mut table = encoder.table_header(&header, 0, [0, 0]).map_err(fail)?;
        if self.options.checksums {
            set_checksums(&mut table, 0).map_err(fail)?;
        }
        let bytes = table.to_bytes().map_err(fail)?;
        let tiles = TileWriter::new(encoder, header);
        let start = self.pos;
        let reserved = bytes.len() as u64 + tiles.rows.len() as u64;
        if let Some(s) = self.sink.as_mut() {
            s.hold(start..start + reserved);
        }
        self.sink_write(&bytes).await?;
        let zeros = vec![0u8; tiles.rows.len().min(1 << 20)];
        let mut left = tiles.rows.len();
        while left > 0 {
            let n = left.min(zeros.len());
            self.sink_write(&zeros[..n]).await?;
            left -= n;
        }
        self.open = Some(OpenHdu {
            index,
            header: table,
            start,
            header_len: bytes.len() as u64,
            conv: Conversion::physical(info.bitpix, info.scaling),
            expected: info.len() as u64,
            written: 0,
            data_bytes: 0,
            sum: Checksum::new(),
            tiles: Some(Box::new(tiles)),
        });
        Ok(())
    }

    /// Appends the next values of the open image (C order), as physical values.
    pub async fn write<T: Element>(&mut self, values: &[T]) -> Result<()> {
        self.write_values(values, false).await
    }

    /// Appends the next stored values of the open image (C order), unscaled: `T` must be the
    /// stored type (`u8 i16 i32 i64 f32 f64` for BITPIX 8, 16, 32, 64, -32, -64). For copying
    /// data read with `read_raw`, bit for bit.
    pub async fn write_raw<T: Element>(&mut self, values: &[T]) -> Result<()> {
        self.write_values(values, true).await
    }

    async fn write_values<T: Element>(&mut self, values: &[T], raw: bool) -> Result<()> {
        self.usable()?;
        let location = self.location.clone();
        let open = self.open.as_mut().ok_or_else(|| Error::WriteMismatch {
            location: location.clone(),
            reason: "no HDU is open: call begin_image first".into(),
        })?;
        let n = values.len() as u64;
        if open.written + n > open.expected {
            let reason = format!(
                "HDU {}: {} values would exceed the header's {} elements ({} written)",
                open.index, n, open.expected, open.written
            );
            self.failed = true;
            return Err(Error::WriteMismatch { location, reason });
        }
        self.buf.clear();
        if raw {
            let stored = open.conv.bitpix.raw_dtype();
            if T::DTYPE != stored {
                let reason = format!(
                    "HDU {}: raw values must be {stored} (BITPIX {}), not {}",
                    open.index,
                    open.conv.bitpix.value(),
                    T::DTYPE
                );
                return Err(Error::WriteMismatch { location, reason });
            }
            T::encode(values, &mut self.buf);
        } else if let Err(e) = encode_physical(values, &open.conv, &mut self.buf) {
            let index = open.index;
            let first = open.written;
            self.failed = true;
            return Err(Error::WriteMismatch {
                location,
                reason: format!("HDU {index}, values from element {first}: {e}"),
            });
        }
        open.written += n;
        if let Some(tiles) = open.tiles.as_mut() {
            tiles.pending.extend_from_slice(&self.buf);
            if tiles.pending.len() < TILE_BATCH_BYTES.max(tiles.band_elements * open.conv.bitpix.size()) {
                return Ok(());
            }
            let index = open.index;
            let heap = match tiles.encode_ready(open.conv.bitpix.size(), false) {
                Ok(heap) => heap,
                Err(e) => {
                    self.failed = true;
                    return Err(Error::format(&self.location, e.in_hdu(index)));
                }
            };
            return self.sink_write(&heap).await;
        }
        open.sum.update(&self.buf);
        let buf = std::mem::take(&mut self.buf);
        let r = self.sink_write(&buf).await;
        self.buf = buf;
        r
    }

    /// Appends an array's values (C order of its shape).
    pub async fn write_array<T: Element, D: Dimension>(&mut self, values: &ArrayView<'_, T, D>) -> Result<()> {
        match values.as_slice() {
            Some(s) => self.write(s).await,
            None => self.write(&values.iter().copied().collect::<Vec<T>>()).await,
        }
    }

    /// Ends the open image: checks the element count, pads, fills in the checksums.
    pub async fn end_hdu(&mut self) -> Result<()> {
        self.usable()?;
        let Some(mut open) = self.open.take() else { return Err(self.mismatch("no HDU is open".into())) };
        if open.written != open.expected {
            self.failed = true;
            return Err(self.mismatch(format!(
                "HDU {}: the header promises {} elements, {} were written",
                open.index, open.expected, open.written
            )));
        }
        if let Some(mut tiles) = open.tiles.take() {
            return self.end_compressed(open, &mut tiles).await;
        }
        let pad = (fits_core::padded(open.data_bytes) - open.data_bytes) as usize;
        self.sink_write(&vec![0u8; pad]).await?;
        if self.options.checksums {
            set_checksums(&mut open.header, open.sum.value())
                .map_err(|e| Error::format(&self.location, e.in_hdu(open.index)))?;
            let bytes = open.header.to_bytes().map_err(|e| Error::format(&self.location, e.in_hdu(open.index)))?;
            if bytes.len() as u64 != open.header_len {
                self.failed = true;
                return Err(self.mismatch(format!(
                    "HDU {}: internal: the header changed length when its checksums were set",
                    open.index
                )));
            }
            let sink = self.sink.as_mut().ok_or_else(|| Error::WriteMismatch {
                location: self.location.clone(),
                reason: "the writer is finished".into(),
            })?;
            if let Err(e) = sink.patch(open.start, &bytes) {
                self.failed = true;
                return Err(e);
            }
        }
        if let Some(s) = self.sink.as_mut() {
            if let Err(e) = s.release().await {
                self.failed = true;
                return Err(e);
            }
        }
        self.hdus += 1;
        Ok(())
    }

    async fn end_compressed(&mut self, open: OpenHdu, tiles: &mut TileWriter) -> Result<()> {
        let index = open.index;
        let location = self.location.clone();
        let fail = |e: fits_core::Error| Error::format(&location, e.in_hdu(index));
        let heap = match tiles.encode_ready(open.conv.bitpix.size(), true) {
            Ok(heap) => heap,
            Err(e) => {
                self.failed = true;
                return Err(fail(e));
            }
        };
        self.sink_write(&heap).await?;
        let data_bytes = tiles.rows.len() as u64 + tiles.heap_len;
        let pad = (fits_core::padded(data_bytes) - data_bytes) as usize;
        self.sink_write(&vec![0u8; pad]).await?;
        let mut table = tiles.encoder.table_header(&tiles.image, tiles.heap_len, tiles.max).map_err(fail)?;
        if self.options.checksums {
            let sum = fits_core::checksum::add(fits_core::checksum::sum32(&tiles.rows), tiles.heap_sum.value());
            set_checksums(&mut table, sum).map_err(fail)?;
        }
        let bytes = table.to_bytes().map_err(fail)?;
        if bytes.len() as u64 != open.header_len {
            self.failed = true;
            return Err(self.mismatch(format!("HDU {index}: internal: the table header changed length when completed")));
        }
        let sink = self.sink.as_mut().ok_or_else(|| Error::WriteMismatch {
            location: self.location.clone(),
            reason: "the writer is finished".into(),
        })?;
        let patched =
            sink.patch(open.start, &bytes).and_then(|()| sink.patch(open.start + open.header_len, &tiles.rows));
        if let Err(e) = patched {
            self.failed = true;
            return Err(e);
        }
        if let Err(e) = sink.release().await {
            self.failed = true;
            return Err(e);
        }
        self.hdus += 1;
        Ok(())
    }

    /// Appends whole HDUs verbatim (header and padded data exactly as read elsewhere, for copies:
    /// their checksums stay valid). Give every byte of them, in order, across any number of calls.
    pub async fn append_raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.usable()?;
        if let Some(open) = &self.open {
            return Err(self.mismatch(format!("HDU {} is open: raw bytes go between HDUs", open.index)));
        }
        self.sink_write(bytes).await
    }

    /// Notes that `count` whole HDUs were appended with [`FitsWriter::append_raw`].
    pub fn raw_hdus_done(&mut self, count: usize) {
        self.hdus += count;
    }

    /// Finishes the file: renames it into place or completes the upload.
    pub async fn finish(mut self) -> Result<()> {
        let sink = self.sink.take();
        let problem = if self.failed {
            Some("an earlier write failed".to_string())
        } else if let Some(open) = &self.open {
            Some(format!("HDU {} is incomplete: {} of {} elements written", open.index, open.written, open.expected))
        } else if self.hdus == 0 {
            Some("no HDU was written".to_string())
        } else if self.pos % fits_core::BLOCK_LEN as u64 != 0 {
            Some(format!("the file would end inside a block (byte {})", self.pos))
        } else {
            None
        };
        match (sink, problem) {
            (Some(s), None) => s.commit().await.map_err(|e| {
                let e = relocate(e, &self.location);
                Error::WriteMismatch {
                    location: self.location.clone(),
                    reason: format!("not finished: {e}; nothing was written under the target name"),
                }
            }),
            (Some(s), Some(p)) => {
                s.abort().await?;
                Err(self.mismatch(format!("not finished: {p}; nothing was written under the target name")))
            }
            (None, _) => Err(self.mismatch("the writer is already finished".into())),
        }
    }

    /// Gives up: removes the temporary file, aborts the upload, or cuts an appended file back.
    pub async fn abort(mut self) -> Result<()> {
        match self.sink.take() {
            Some(s) => s.abort().await,
            None => Ok(()),
        }
    }
}

impl Drop for FitsWriter {
    fn drop(&mut self) {
        // Local targets clean up when their handle drops; an upload needs an abort request.
        if let Some(Sink::Remote(mut r)) = self.sink.take() {
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    let _ = r.abort().await;
                });
            }
        }
    }
}

/// Positional reads and writes of a local file being changed.
trait RandomIo {
    fn write_at(&self, offset: u64, data: &[u8]) -> fits_io::Result<()>;
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> fits_io::Result<()>;
}

impl RandomIo for LocalWrite {
    fn write_at(&self, offset: u64, data: &[u8]) -> fits_io::Result<()> {
        LocalWrite::write_at(self, offset, data)
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> fits_io::Result<()> {
        LocalWrite::read_at(self, offset, buf)
    }
}

impl RandomIo for LocalUpdate {
    fn write_at(&self, offset: u64, data: &[u8]) -> fits_io::Result<()> {
        LocalUpdate::write_at(self, offset, data)
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> fits_io::Result<()> {
        LocalUpdate::read_at(self, offset, buf)
    }
}

/// Writes values (ascending order) into the runs of a selection; strided runs are read, patched
/// and written back.
fn write_selection<T: Element>(
    io: &dyn RandomIo,
    shape: &[usize],
    data_start: u64,
    selection: &[AxisRange],
    values: &[T],
    conv: &Conversion,
) -> Result<()> {
    let elem = conv.bitpix.size();
    let mut buf = Vec::new();
    let mut span = Vec::new();
    let mut pos = 0;
    for run in Runs::new(shape, elem, data_start, selection) {
        let part = &values[pos..pos + run.count];
        pos += run.count;
        buf.clear();
        encode_physical(part, conv, &mut buf)
            .map_err(|e| Error::WriteMismatch { location: String::new(), reason: e.to_string() })?;
        if run.step == 1 {
            io.write_at(run.offset, &buf)?;
        } else {
            let bytes = run.bytes(elem);
            span.resize((bytes.end - bytes.start) as usize, 0);
            io.read_at(run.offset, &mut span)?;
            for (k, value) in buf.chunks_exact(elem).enumerate() {
                let at = k * run.step * elem;
                span[at..at + elem].copy_from_slice(value);
            }
            io.write_at(run.offset, &span)?;
        }
    }
    Ok(())
}

/// The values of an array for a geometry, in ascending order, after checking the shape.
fn ascending<T: Element, D: Dimension>(
    location: &str,
    geometry: &Geometry,
    values: &ArrayView<'_, T, D>,
) -> Result<Vec<T>> {
    let want = geometry.shape();
    if values.shape() != want.as_slice() {
        return Err(Error::WriteMismatch {
            location: location.to_string(),
            reason: format!("values of shape {:?} for a section of shape {want:?}", values.shape()),
        });
    }
    let in_order: Vec<T> = match values.as_slice() {
        Some(s) => s.to_vec(),
        None => values.iter().copied().collect(),
    };
    geometry
        .ascending_values(in_order)
        .map_err(|reason| Error::WriteMismatch { location: location.to_string(), reason })
}

/// Sums a file's bytes in bounded pieces.
fn sum_region(io: &dyn RandomIo, range: Range<u64>) -> Result<u32> {
    const PIECE: u64 = 8 << 20;
    let mut sum = Checksum::new();
    let mut buf = vec![0u8; PIECE.min(range.end - range.start) as usize];
    let mut pos = range.start;
    while pos < range.end {
        let n = PIECE.min(range.end - pos) as usize;
        io.read_at(pos, &mut buf[..n])?;
        sum.update(&buf[..n]);
        pos += n as u64;
    }
    Ok(sum.value())
}

/// Writes an image's sections in any order into a local file created at its final size
/// (sparse where the filesystem allows); the checksums are computed by one pass at the end.
///
/// ```no_run
/// use fits_array::{RandomWriter, WriteOptions};
/// use fits_core::{DType, write::image_header};
/// use ndarray::{Array3, s};
/// let mut w = RandomWriter::create("cube.fits", image_header(DType::F64, &[100, 11, 11], true), WriteOptions::default())?;
/// w.write_section(s![50..100, .., ..], &Array3::<f64>::zeros((50, 11, 11)).view())?;
/// w.write_section(s![0..50, .., ..], &Array3::<f64>::ones((50, 11, 11)).view())?;
/// w.finish()?;
/// # Ok::<(), fits_array::Error>(())
/// ```
#[derive(Debug)]
pub struct RandomWriter {
    file: LocalWrite,
    location: String,
    header: Header,
    info: ImageInfo,
    conv: Conversion,
    data_start: u64,
    data_bytes: u64,
    checksums: bool,
}

impl RandomWriter {
    /// Creates the file (a primary image HDU) with all its bytes zero.
    pub fn create(path: &str, mut header: Header, options: WriteOptions) -> Result<RandomWriter> {
        let location = path.to_string();
        let lower = path.to_ascii_lowercase();
        if lower.contains("://") && !lower.starts_with("file://") {
            return Err(Error::Unsupported {
                location,
                hdu: 0,
                what:
                    "writing in random order to a remote object (write locally, or stream it in order with FitsWriter)"
                        .into(),
            });
        }
        let format = |e: fits_core::Error| Error::format(&location, e.in_hdu(0));
        if header.cards().first().map(|c| c.keyword()) != Some("SIMPLE") {
            return Err(Error::WriteMismatch {
                location,
                reason: "the header must start with SIMPLE (a primary image)".into(),
            });
        }
        let kind = fits_core::kind_of(&header, 0).map_err(format)?;
        let info = ImageInfo::from_header(&header).map_err(format)?;
        let data_bytes = fits_core::data_len(&header, &kind).map_err(format)?;
        if options.checksums {
            set_checksums(&mut header, 0).map_err(format)?;
        }
        let bytes = header.to_bytes().map_err(format)?;
        let file = LocalWrite::create(path.strip_prefix("file://").unwrap_or(path), options.overwrite)?;
        let data_start = bytes.len() as u64;
        file.set_len(data_start + fits_core::padded(data_bytes))?;
        file.write_at(0, &bytes)?;
        let conv = Conversion::physical(info.bitpix, info.scaling);
        Ok(RandomWriter { file, location, header, info, conv, data_start, data_bytes, checksums: options.checksums })
    }

    /// The image's shape.
    pub fn shape(&self) -> &[usize] {
        &self.info.shape
    }

    /// Writes physical values into a section (ndarray slice syntax); `values` has the section's shape.
    pub fn write_section<T: Element, I: SliceArg<IxDyn>>(
        &mut self,
        info: I,
        values: &ArrayView<'_, T, I::OutDim>,
    ) -> Result<()> {
        let geometry = Geometry::full(&self.info.shape)
            .slice(info.as_ref(), info.in_ndim())
            .map_err(|reason| Error::Slice { location: self.location.clone(), hdu: 0, reason })?;
        let ordered = ascending(&self.location, &geometry, values)?;
        write_selection(&self.file, &self.info.shape, self.data_start, &geometry.ascending(), &ordered, &self.conv)
            .map_err(|e| relocate(e, &self.location))
    }

    /// Computes the checksums (one pass over the data) and moves the file into place.
    pub fn finish(mut self) -> Result<()> {
        if self.checksums {
            let sum = sum_region(&self.file, self.data_start..self.data_start + fits_core::padded(self.data_bytes))?;
            set_checksums(&mut self.header, sum).map_err(|e| Error::format(&self.location, e.in_hdu(0)))?;
            let bytes = self.header.to_bytes().map_err(|e| Error::format(&self.location, e.in_hdu(0)))?;
            self.file.write_at(0, &bytes)?;
        }
        Ok(self.file.commit()?)
    }
}

/// Gives errors from shared helpers the writer's location.
fn relocate(e: Error, location: &str) -> Error {
    match e {
        Error::WriteMismatch { location: l, reason } if l.is_empty() => {
            Error::WriteMismatch { location: location.to_string(), reason }
        }
        other => other,
    }
}

/// Changes sections of an existing local file in place; [`UpdateFile::finish`] brings the
/// checksums of changed HDUs up to date (those that have CHECKSUM or DATASUM cards).
#[derive(Debug)]
pub struct UpdateFile {
    file: LocalUpdate,
    fits: Fits,
    touched: BTreeSet<usize>,
}

impl UpdateFile {
    /// Opens a local file for updates.
    pub async fn open(path: &str) -> Result<UpdateFile> {
        let fits = Fits::open(path).await?;
        let file = LocalUpdate::open(path.strip_prefix("file://").unwrap_or(path))?;
        Ok(UpdateFile { file, fits, touched: BTreeSet::new() })
    }

    /// The file as opened.
    pub fn fits(&self) -> &Fits {
        &self.fits
    }

    /// Writes physical values into a section of an image HDU.
    pub fn write_section<T: Element, I: SliceArg<IxDyn>>(
        &mut self,
        hdu: impl Into<HduSelector>,
        info: I,
        values: &ArrayView<'_, T, I::OutDim>,
    ) -> Result<()> {
        let image = self.fits.image(hdu)?;
        let h = image.hdu();
        let location = h.location().to_string();
        if image.is_compressed() {
            return Err(Error::Unsupported {
                location,
                hdu: h.index(),
                what: "updating a tile-compressed image in place".into(),
            });
        }
        if h.available_data() < h.layout().data_len {
            return Err(h.format_error(fits_core::Error::DataTruncated {
                data_start: h.layout().data_start,
                expected: h.layout().data_len,
                actual: h.available_data(),
            }));
        }
        // Adding checksum cards must not make the header grow: that would move the data.
        if h.header().contains("CHECKSUM") || h.header().contains("DATASUM") {
            let mut probe = h.header().clone();
            set_checksums(&mut probe, 0).map_err(|e| h.format_error(e))?;
            if probe.byte_len() != h.header().byte_len() {
                return Err(Error::Unsupported {
                    location,
                    hdu: h.index(),
                    what: "updating: the header has no room left to complete its checksum cards".into(),
                });
            }
        }
        let geometry = Geometry::full(image.shape())
            .slice(info.as_ref(), info.in_ndim())
            .map_err(|reason| Error::Slice { location: location.clone(), hdu: h.index(), reason })?;
        let ordered = ascending(&location, &geometry, values)?;
        let conv = Conversion::physical(image.bitpix(), image.scaling());
        write_selection(&self.file, image.shape(), h.layout().data_start, &geometry.ascending(), &ordered, &conv)
            .map_err(|e| relocate(e, &location))?;
        self.touched.insert(h.index());
        Ok(())
    }

    /// Updates the checksums of the changed HDUs and syncs the file.
    pub async fn finish(self) -> Result<()> {
        for &index in &self.touched {
            let h = self.fits.hdu(index)?;
            if !(h.header().contains("CHECKSUM") || h.header().contains("DATASUM")) {
                continue;
            }
            let l = h.layout();
            let sum = sum_region(&self.file, l.data_start..l.data_start + l.data_span())?;
            let mut header = h.header().clone();
            set_checksums(&mut header, sum).map_err(|e| h.format_error(e))?;
            let bytes = header.to_bytes().map_err(|e| h.format_error(e))?;
            self.file.write_at(l.header_start, &bytes)?;
        }
        Ok(self.file.commit()?)
    }
}

/// Writes a small image file in one go (for tests and examples).
pub async fn write_file<T: Element>(dest: &str, header: Header, values: &[T], options: WriteOptions) -> Result<()> {
    let mut w = FitsWriter::create(dest, options).await?;
    w.begin_image(header).await?;
    w.write(values).await?;
    w.end_hdu().await?;
    w.finish().await
}

/// Size in bytes of a one-HDU file holding `header` and `elements` values of `dtype`.
pub fn file_size(header: &Header, dtype: fits_core::DType, elements: u64) -> u64 {
    header.byte_len() as u64 + fits_core::padded(elements * dtype.size() as u64)
}
