//! Tile-compressed images: the tile grid, the tile index (one table row per tile, pointing
//! into the heap), and decoding one tile into its stored values.
//!
//! Everything here is sans-IO: a reader fetches a tile's table row
//! ([`TiledImage::row_range`]), parses it ([`TiledImage::read_row`]), fetches the heap bytes
//! it points to ([`TileRow::heap_range`]) and decodes them ([`TiledImage::decode`]) into the
//! tile's stored values, big-endian, exactly as an uncompressed image stores them — so the
//! usual BSCALE/BZERO/BLANK conversion applies unchanged.

use crate::Header;
use crate::codec::{self, CodecError};
use crate::element::Bitpix;
use crate::error::{Error, Result};
use crate::quantize::{Dither, Unquantize};
use crate::table::{self, ColumnType, Storage};
use std::ops::Range;

/// Largest decoded tile accepted (bytes): bounds the memory a header can make a reader allocate.
pub const MAX_TILE_BYTES: u64 = 1 << 30;

/// A tile codec (`ZCMPTYPE`) and its parameters (`ZNAMEn`/`ZVALn`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Algorithm {
    /// `RICE_1`: `BLOCKSIZE` pixels per block, `BYTEPIX` bytes per pixel (1, 2 or 4).
    Rice {
        /// Pixels per block (16 or 32 in practice).
        block: usize,
        /// Bytes per pixel.
        bytepix: usize,
    },
    /// `GZIP_1`.
    Gzip1,
    /// `GZIP_2`: gzip of byte-shuffled pixels.
    Gzip2,
    /// `HCOMPRESS_1`.
    Hcompress {
        /// `SCALE` (0: lossless).
        scale: f64,
        /// `SMOOTH`: smooth while decoding.
        smooth: bool,
    },
    /// `PLIO_1`: run-length encoding of non-negative integers below 2^24.
    Plio,
    /// `NOCOMPRESS`: the tile's big-endian bytes as they are.
    NoCompress,
}

impl Algorithm {
    /// The `ZCMPTYPE` value.
    pub fn keyword(&self) -> &'static str {
        match self {
            Algorithm::Rice { .. } => "RICE_1",
            Algorithm::Gzip1 => "GZIP_1",
            Algorithm::Gzip2 => "GZIP_2",
            Algorithm::Hcompress { .. } => "HCOMPRESS_1",
            Algorithm::Plio => "PLIO_1",
            Algorithm::NoCompress => "NOCOMPRESS",
        }
    }
}

/// Where a per-tile parameter (`ZSCALE`, `ZZERO`, `ZBLANK`) comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Param {
    Absent,
    Keyword(f64),
    Column { offset: usize, ty: ColumnType },
}

/// A heap-array column of the table.
#[derive(Debug, Clone, Copy, PartialEq)]
struct HeapColumn {
    offset: usize,
    storage: Storage,
    ty: ColumnType,
}

/// How floating-point pixels were stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantization {
    /// Integers, or floats stored losslessly.
    Lossless,
    /// Floats quantized to integers with `ZSCALE`/`ZZERO`, dithered as given, from `ZDITHER0`.
    Quantized {
        /// `ZQUANTIZ`.
        dither: Dither,
        /// `ZDITHER0`.
        dither0: i64,
    },
}

/// A tile-compressed image's structure, from its table header.
#[derive(Debug, Clone, PartialEq)]
pub struct TiledImage {
    /// `ZBITPIX`: the stored type of the pixels.
    pub bitpix: Bitpix,
    /// The image and tile shapes (`ZNAXISn`, `ZTILEn`).
    pub grid: TileGrid,
    /// The codec.
    pub algorithm: Algorithm,
    /// How floats were quantized.
    pub quantization: Quantization,
    row_len: usize,
    rows: u64,
    heap_start: u64,
    heap_len: u64,
    compressed: HeapColumn,
    gzip: Option<HeapColumn>,
    uncompressed: Option<HeapColumn>,
    zscale: Param,
    zzero: Param,
    zblank: Param,
    /// Added to decoded integers before storing (PLIO's unsigned 16-bit convention).
    plio_offset: i64,
}

/// One tile's entry in the table: which heap bytes hold it, and its parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct TileRow {
    /// Zero-based tile number (row number minus one).
    pub tile: u64,
    source: Source,
    elements: u64,
    elem_ty: ColumnType,
    heap_offset: u64,
    heap_range: Range<u64>,
    scale: f64,
    zero: f64,
    blank: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Compressed,
    Gzip,
    Uncompressed,
}

impl TileRow {
    /// The heap bytes of the tile, relative to the HDU's data start.
    pub fn heap_range(&self) -> Range<u64> {
        self.heap_range.clone()
    }
}

fn find_column<'a>(cols: &'a [table::Column], name: &str) -> Option<&'a table::Column> {
    cols.iter().find(|c| c.name.eq_ignore_ascii_case(name))
}

fn heap_column(c: &table::Column) -> Result<HeapColumn> {
    if c.form.storage == Storage::Fixed {
        return Err(Error::invalid(
            &format!("TFORM{}", c.number),
            format!("column {}", c.name),
            "must be a variable-length array (P or Q)",
        ));
    }
    Ok(HeapColumn { offset: c.offset as usize, storage: c.form.storage, ty: c.form.ty })
}

fn param(header: &Header, cols: &[table::Column], name: &str) -> Result<Param> {
    if let Some(c) = find_column(cols, name) {
        let numeric = matches!(
            c.form.ty,
            ColumnType::U8 | ColumnType::I16 | ColumnType::I32 | ColumnType::I64 | ColumnType::F32 | ColumnType::F64
        );
        if c.form.storage != Storage::Fixed || c.form.repeat != 1 || !numeric {
            return Err(Error::invalid(&format!("TFORM{}", c.number), name, "must hold one number per row"));
        }
        return Ok(Param::Column { offset: c.offset as usize, ty: c.form.ty });
    }
    Ok(match header.float(name)? {
        Some(v) => Param::Keyword(v),
        None => Param::Absent,
    })
}

/// Looks up a codec parameter by its `ZNAMEn`; returns its `ZVALn`.
fn zval(header: &Header, name: &str) -> Result<Option<f64>> {
    for i in 1..1000 {
        let Some(n) = header.string(&format!("ZNAME{i}"))? else { break };
        if n.trim().eq_ignore_ascii_case(name) {
            return header.float(&format!("ZVAL{i}"));
        }
    }
    Ok(None)
}

fn usize_param(key: &str, v: f64, range: Range<usize>) -> Result<usize> {
    if v.fract() != 0.0 || v < range.start as f64 || v >= range.end as f64 {
        return Err(Error::invalid(key, v, format!("must be an integer from {} to {}", range.start, range.end - 1)));
    }
    Ok(v as usize)
}

impl TiledImage {
    /// Reads the structure of a compressed image from its table header; `data_len` is the
    /// HDU's data size (`NAXIS1 × NAXIS2 + PCOUNT`).
    pub fn from_header(table: &Header, data_len: u64) -> Result<TiledImage> {
        let bitpix = crate::hdu::bitpix_with_key(table, "ZBITPIX")?;
        let axes = crate::hdu::axes_with_prefix(table, "ZNAXIS")?;
        let mut shape = Vec::with_capacity(axes.len());
        let mut tile = Vec::with_capacity(axes.len());
        for (i, &n) in axes.iter().enumerate() {
            let key = format!("ZTILE{}", i + 1);
            let t = match table.int(&key)? {
                Some(t) if t >= 1 => t as u64,
                Some(t) => return Err(Error::invalid(&key, t, "a tile is at least one pixel long")),
                None if i == 0 => n.max(1),
                None => 1,
            };
            let to_usize = |v: u64, k: &str| usize::try_from(v).map_err(|_| Error::invalid(k, v, "too large"));
            shape.push(to_usize(n, &format!("ZNAXIS{}", i + 1))?);
            tile.push(to_usize(t, &key)?);
        }
        shape.reverse();
        tile.reverse();
        let tile_len = tile.iter().zip(&shape).try_fold(1u64, |acc, (&t, &n)| acc.checked_mul(t.min(n.max(1)) as u64));
        match tile_len {
            Some(n) if n.saturating_mul(8) <= MAX_TILE_BYTES => {}
            _ => {
                return Err(Error::Unsupported {
                    what: format!("tiles larger than {MAX_TILE_BYTES} bytes once decoded (ZTILEn = {:?})", {
                        let mut t = tile.clone();
                        t.reverse();
                        t
                    }),
                });
            }
        }

        let cmptype = table.string("ZCMPTYPE")?.ok_or_else(|| Error::MissingKeyword { keyword: "ZCMPTYPE".into() })?;
        let algorithm = match cmptype.trim() {
            "RICE_1" | "RICE_ONE" => {
                let mut block =
                    zval(table, "BLOCKSIZE")?.map_or(Ok(32), |v| usize_param("ZVAL (BLOCKSIZE)", v, 1..1 << 16))?;
                let mut bytepix =
                    zval(table, "BYTEPIX")?.map_or(Ok(4), |v| usize_param("ZVAL (BYTEPIX)", v, 1..1 << 16))?;
                if block < 16 && bytepix > 8 {
                    // Some old writers swapped the two values.
                    std::mem::swap(&mut block, &mut bytepix);
                }
                if ![1, 2, 4].contains(&bytepix) {
                    return Err(Error::invalid("ZVAL (BYTEPIX)", bytepix, "RICE_1 takes 1, 2 or 4 bytes per pixel"));
                }
                Algorithm::Rice { block, bytepix }
            }
            "GZIP_1" => Algorithm::Gzip1,
            "GZIP_2" => Algorithm::Gzip2,
            "HCOMPRESS_1" => Algorithm::Hcompress {
                scale: zval(table, "SCALE")?.unwrap_or(0.0),
                smooth: zval(table, "SMOOTH")?.unwrap_or(0.0) != 0.0,
            },
            "PLIO_1" => Algorithm::Plio,
            "NOCOMPRESS" => Algorithm::NoCompress,
            other => return Err(Error::Unsupported { what: format!("compression algorithm ZCMPTYPE = '{other}'") }),
        };

        let cols = table::columns(table)?;
        let compressed = find_column(&cols, "COMPRESSED_DATA")
            .ok_or_else(|| Error::Unsupported { what: "a compressed image without a COMPRESSED_DATA column".into() })
            .and_then(heap_column)?;
        let gzip = find_column(&cols, "GZIP_COMPRESSED_DATA").map(heap_column).transpose()?;
        let uncompressed = find_column(&cols, "UNCOMPRESSED_DATA").map(heap_column).transpose()?;
        let zscale = param(table, &cols, "ZSCALE")?;
        let zzero = param(table, &cols, "ZZERO")?;
        let zblank = param(table, &cols, "ZBLANK")?;
        let zblank = match zblank {
            // Files that omit ZBLANK mark undefined integer pixels with the image's BLANK.
            Param::Absent => param(table, &[], "BLANK")?,
            p => p,
        };

        let quantization = if !bitpix.is_float() {
            Quantization::Lossless
        } else {
            let method = table.string("ZQUANTIZ")?.map(str::trim);
            let has_scale = zscale != Param::Absent || zzero != Param::Absent;
            match method {
                Some("NONE") => Quantization::Lossless,
                _ if !has_scale => Quantization::Lossless,
                Some("SUBTRACTIVE_DITHER_1") => Quantization::Quantized {
                    dither: Dither::Subtractive1,
                    dither0: table.int("ZDITHER0")?.unwrap_or(1),
                },
                Some("SUBTRACTIVE_DITHER_2") => Quantization::Quantized {
                    dither: Dither::Subtractive2,
                    dither0: table.int("ZDITHER0")?.unwrap_or(1),
                },
                Some("NO_DITHER") | None => Quantization::Quantized { dither: Dither::None, dither0: 1 },
                Some(other) => return Err(Error::Unsupported { what: format!("ZQUANTIZ = '{other}'") }),
            }
        };
        if quantization == Quantization::Lossless && bitpix.is_float() {
            if let Algorithm::Rice { .. } | Algorithm::Plio | Algorithm::Hcompress { .. } = algorithm {
                return Err(Error::invalid(
                    "ZCMPTYPE",
                    algorithm.keyword(),
                    "compresses integers only, and this floating-point image is not quantized (no ZSCALE/ZZERO)",
                ));
            }
        }
        let plio_offset =
            if algorithm == Algorithm::Plio && bitpix == Bitpix::I16 && table.float("BZERO")? == Some(32768.0) {
                -32768
            } else {
                0
            };

        let count = |key: &str| -> Result<u64> {
            let v = table.required_int(key)?;
            u64::try_from(v).map_err(|_| Error::invalid(key, v, "cannot be negative"))
        };
        let (row_len, rows) = (count("NAXIS1")?, count("NAXIS2")?);
        let tiles = TileGrid { shape: shape.clone(), tile: tile.clone() }.count();
        if rows != tiles {
            return Err(Error::invalid("NAXIS2", rows, format!("the image has {tiles} tiles, one row each")));
        }
        let table_len = row_len.checked_mul(rows).filter(|&t| t <= data_len).ok_or_else(|| {
            Error::invalid("NAXIS2", rows, format!("{rows} rows of {row_len} bytes exceed the data ({data_len} bytes)"))
        })?;
        let row_len = usize::try_from(row_len).map_err(|_| Error::invalid("NAXIS1", row_len, "too large"))?;
        let heap_start = match table.int("THEAP")? {
            Some(t) if t >= 0 && (t as u64) >= table_len && (t as u64) <= data_len => t as u64,
            Some(t) => return Err(Error::invalid("THEAP", t, format!("must lie between {table_len} and {data_len}"))),
            None => table_len,
        };
        Ok(TiledImage {
            bitpix,
            grid: TileGrid { shape, tile },
            algorithm,
            quantization,
            row_len,
            rows,
            heap_start,
            heap_len: data_len.saturating_sub(heap_start),
            compressed,
            gzip,
            uncompressed,
            zscale,
            zzero,
            zblank,
            plio_offset,
        })
    }

    /// Number of tiles (rows of the table).
    pub fn tile_count(&self) -> u64 {
        self.rows
    }

    /// The heap, relative to the HDU's data start.
    pub fn heap(&self) -> Range<u64> {
        self.heap_start..self.heap_start + self.heap_len
    }

    /// Bytes of one table row.
    pub fn row_len(&self) -> usize {
        self.row_len
    }

    /// The table row of tile `k`, relative to the HDU's data start.
    pub fn row_range(&self, k: u64) -> Range<u64> {
        let start = k * self.row_len as u64;
        start..start + self.row_len as u64
    }

    fn tile_error(&self, k: u64, reason: impl Into<String>) -> Error {
        let origin: Vec<usize> = self.grid.region(k).iter().map(|r| r.start).collect();
        Error::Tile { row: k + 1, origin: format!("{origin:?}"), reason: reason.into() }
    }

    fn param_value(&self, p: Param, row: &[u8]) -> Option<f64> {
        match p {
            Param::Absent => None,
            Param::Keyword(v) => Some(v),
            Param::Column { offset, ty } => {
                let b = row.get(offset..offset + ty.size())?;
                Some(match ty {
                    ColumnType::U8 => b[0] as f64,
                    ColumnType::I16 => i16::from_be_bytes([b[0], b[1]]) as f64,
                    ColumnType::I32 => i32::from_be_bytes(b.try_into().ok()?) as f64,
                    ColumnType::I64 => i64::from_be_bytes(b.try_into().ok()?) as f64,
                    ColumnType::F32 => f32::from_be_bytes(b.try_into().ok()?) as f64,
                    ColumnType::F64 => f64::from_be_bytes(b.try_into().ok()?),
                    _ => return None,
                })
            }
        }
    }

    /// Parses tile `k`'s table row (`row.len() == row_len()`), checking that the heap bytes it
    /// points to lie inside the heap.
    pub fn read_row(&self, k: u64, row: &[u8]) -> Result<TileRow> {
        if row.len() != self.row_len {
            return Err(self.tile_error(k, format!("table row of {} bytes, {} expected", row.len(), self.row_len)));
        }
        let desc = |c: &HeapColumn| table::read_descriptor(row, c.offset, c.storage);
        let mut pick = (Source::Compressed, self.compressed);
        let (mut n, mut at) = desc(&self.compressed).ok_or_else(|| self.tile_error(k, "negative heap descriptor"))?;
        if n == 0 {
            let fallback = [(Source::Gzip, self.gzip), (Source::Uncompressed, self.uncompressed)]
                .into_iter()
                .filter_map(|(s, c)| Some((s, c?)))
                .find_map(|(s, c)| match desc(&c) {
                    Some((m, a)) if m > 0 => Some((s, c, m, a)),
                    _ => None,
                });
            match fallback {
                Some((s, c, m, a)) => {
                    pick = (s, c);
                    (n, at) = (m, a);
                }
                None if self.grid.len(k) == 0 => {}
                None => return Err(self.tile_error(k, "the tile has no data (empty heap descriptors)")),
            }
        }
        let elem = pick.1.ty.size() as u64;
        let bytes = n.checked_mul(elem).ok_or_else(|| self.tile_error(k, "heap descriptor overflows"))?;
        let end = at.checked_add(bytes).filter(|&e| e <= self.heap_len).ok_or_else(|| {
            self.tile_error(
                k,
                format!(
                    "heap pointer past the heap: {bytes} bytes at heap offset {at}, the heap holds {}",
                    self.heap_len
                ),
            )
        })?;
        let scale = self.param_value(self.zscale, row).unwrap_or(1.0);
        let zero = self.param_value(self.zzero, row).unwrap_or(0.0);
        let blank = self.param_value(self.zblank, row).map(|b| b as i64);
        Ok(TileRow {
            tile: k,
            source: pick.0,
            elements: n,
            elem_ty: pick.1.ty,
            heap_offset: at,
            heap_range: self.heap_start + at..self.heap_start + end,
            scale,
            zero,
            blank,
        })
    }

    /// Decodes a tile from its heap bytes (`bytes` = the [`TileRow::heap_range`]) into its
    /// stored values: `tile_len × |ZBITPIX|/8` big-endian bytes, in a cleared `out`.
    pub fn decode(&self, row: &TileRow, bytes: &[u8], out: &mut Vec<u8>) -> Result<()> {
        self.decode_span(row, bytes, 0..usize::MAX, out)
    }

    /// As [`TiledImage::decode`], converting only the pixels `span` (indices in the tile, C order)
    /// to stored values; the bytes of the other pixels are zeros. The codec still decodes the
    /// whole tile: this saves the per-pixel work of a section that needs part of it.
    pub fn decode_span(&self, row: &TileRow, bytes: &[u8], span: Range<usize>, out: &mut Vec<u8>) -> Result<()> {
        out.clear();
        let k = row.tile;
        let n = self.grid.len(k);
        if n == 0 {
            return Ok(());
        }
        if bytes.len() as u64 != row.heap_range.end - row.heap_range.start {
            return Err(
                self.tile_error(k, format!("{} heap bytes given, the row points to {}", bytes.len(), row.elements))
            );
        }
        let span = span.start.min(n)..span.end.min(n);
        let codec_err = |e: CodecError| {
            self.tile_error(k, format!("{} tile at heap offset {}: {e}", self.source_name(row), row.heap_offset))
        };
        let elem = self.bitpix.size();
        let values = match row.source {
            Source::Uncompressed => {
                let width = row.elem_ty.size();
                if bytes.len() != n * width {
                    return Err(self.size_error(k, bytes.len() / width, n));
                }
                Values::Raw {
                    bytes: bytes.to_vec(),
                    width,
                    float: matches!(row.elem_ty, ColumnType::F32 | ColumnType::F64),
                }
            }
            Source::Gzip => {
                let raw = codec::gzip::decompress(bytes, n * 8).map_err(codec_err)?;
                let width = raw_width(raw.len(), n, &[4, 8]).ok_or_else(|| self.size_error(k, raw.len() / 4, n))?;
                Values::Raw { bytes: raw, width, float: true }
            }
            Source::Compressed => match self.algorithm {
                Algorithm::Rice { block, bytepix } => {
                    // A Rice stream decodes in order: pixels after the span need not be decoded.
                    let mut v = vec![0i32; n];
                    let upto = span.end.min(n);
                    codec::rice::decode(bytes, bytepix, block, &mut v[..upto]).map_err(codec_err)?;
                    Values::I32(v)
                }
                Algorithm::Plio => {
                    let words: Vec<i16> = match row.elem_ty {
                        ColumnType::I16 | ColumnType::U8 => {
                            bytes.chunks_exact(2).map(|w| i16::from_be_bytes([w[0], w[1]])).collect()
                        }
                        other => {
                            return Err(self.tile_error(k, format!("PLIO_1 data in a column of {other:?} elements")));
                        }
                    };
                    let mut v = vec![0i32; n];
                    codec::plio::decode(&words, &mut v).map_err(codec_err)?;
                    Values::I32(v)
                }
                Algorithm::Hcompress { smooth, .. } => {
                    let (nx, ny) = self.grid.rows(k);
                    let mut v = vec![0i64; n];
                    codec::hcompress::decode(bytes, nx, ny, smooth, &mut v).map_err(codec_err)?;
                    Values::I64(v)
                }
                Algorithm::Gzip1 | Algorithm::Gzip2 | Algorithm::NoCompress => {
                    let raw = if self.algorithm == Algorithm::NoCompress {
                        bytes.to_vec()
                    } else {
                        codec::gzip::decompress(bytes, n * 8).map_err(codec_err)?
                    };
                    // The pixels' own width, or wider (some writers stored 16-bit images as 32-bit
                    // integers); quantized floats are 32-bit integers.
                    let widths: &[usize] = match self.quantization {
                        _ if !self.bitpix.is_float() => &[1, 2, 4, 8][elem.trailing_zeros() as usize..],
                        Quantization::Quantized { .. } => &[4],
                        Quantization::Lossless => &[4, 8],
                    };
                    let width =
                        raw_width(raw.len(), n, widths).ok_or_else(|| self.size_error(k, raw.len() / widths[0], n))?;
                    let raw = if self.algorithm == Algorithm::Gzip2 && width > 1 {
                        codec::gzip::unshuffle(&raw, width)
                    } else {
                        raw
                    };
                    let float = self.bitpix.is_float() && self.quantization == Quantization::Lossless;
                    Values::Raw { bytes: raw, width, float }
                }
            },
        };
        out.resize(n * elem, 0);
        let dst = &mut out[span.start * elem..span.end * elem];
        let quantized = match self.quantization {
            Quantization::Quantized { dither, dither0 } if row.source == Source::Compressed => Some(Unquantize {
                scale: row.scale,
                zero: row.zero,
                dither,
                row: k as i64 + 1 + dither0 - 1,
                blank: row.blank,
            }),
            _ => None,
        };
        let clip = matches!(self.algorithm, Algorithm::Hcompress { .. });
        match (quantized, values) {
            (Some(u), values) => {
                let q = values.into_i32().map_err(|r| self.tile_error(k, r))?;
                u.to_be_bytes(&q[span.clone()], span.start, self.bitpix == Bitpix::F64, dst);
            }
            (None, Values::Raw { bytes, width, float })
                if width == elem && float == self.bitpix.is_float() && self.plio_offset == 0 =>
            {
                dst.copy_from_slice(&bytes[span.start * elem..span.end * elem]);
            }
            (None, Values::Raw { bytes, width, float: true }) => {
                if !self.bitpix.is_float() {
                    return Err(self.tile_error(k, "floating-point tile data in an integer image"));
                }
                let src = &bytes[span.start * width..span.end * width];
                match (width, elem) {
                    (4, 8) => {
                        for (o, b) in dst.chunks_exact_mut(8).zip(src.chunks_exact(4)) {
                            o.copy_from_slice(&(f32::from_be_bytes([b[0], b[1], b[2], b[3]]) as f64).to_be_bytes());
                        }
                    }
                    (8, 4) => {
                        for (o, b) in dst.chunks_exact_mut(4).zip(src.chunks_exact(8)) {
                            let v = f64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
                            o.copy_from_slice(&(v as f32).to_be_bytes());
                        }
                    }
                    (w, _) => return Err(self.tile_error(k, format!("{w}-byte values in a floating-point tile"))),
                }
            }
            (None, Values::Raw { bytes, width, float: false }) => {
                let ints = raw_ints(&bytes[span.start * width..span.end * width], width);
                self.store_ints(k, ints.iter().copied(), clip, dst)?;
            }
            (None, Values::I32(v)) => self.store_ints(k, v[span.clone()].iter().map(|&x| x as i64), clip, dst)?,
            // HCOMPRESS values pass through 32 bits, as in cfitsio, then clip to the stored type.
            (None, Values::I64(v)) => {
                self.store_ints(k, v[span.clone()].iter().map(|&x| x as i32 as i64), clip, dst)?
            }
        }
        Ok(())
    }

    fn source_name(&self, row: &TileRow) -> &'static str {
        match row.source {
            Source::Compressed => self.algorithm.keyword(),
            Source::Gzip => "GZIP_COMPRESSED_DATA",
            Source::Uncompressed => "UNCOMPRESSED_DATA",
        }
    }

    fn size_error(&self, k: u64, got: usize, n: usize) -> Error {
        self.tile_error(k, CodecError::WrongSize { expected: n, got }.to_string())
    }

    fn store_ints(&self, k: u64, ints: impl Iterator<Item = i64>, clip: bool, out: &mut [u8]) -> Result<()> {
        let off = self.plio_offset;
        macro_rules! store {
            ($t:ty) => {{
                const W: usize = std::mem::size_of::<$t>();
                for (o, v) in out.chunks_exact_mut(W).zip(ints) {
                    let v = v + off;
                    let s = match <$t>::try_from(v) {
                        Ok(s) => s,
                        Err(_) if clip => v.clamp(<$t>::MIN as i64, <$t>::MAX as i64) as $t,
                        Err(_) => {
                            return Err(self.tile_error(
                                k,
                                format!("decoded value {v} does not fit BITPIX {}", self.bitpix.value()),
                            ));
                        }
                    };
                    o.copy_from_slice(&s.to_be_bytes());
                }
            }};
        }
        match self.bitpix {
            Bitpix::U8 => store!(u8),
            Bitpix::I16 => store!(i16),
            Bitpix::I32 => store!(i32),
            Bitpix::I64 => store!(i64),
            Bitpix::F32 | Bitpix::F64 => {
                return Err(self.tile_error(k, "integer tile data in a floating-point image that is not quantized"));
            }
        }
        Ok(())
    }
}

/// Decoded tile values before conversion to the stored type.
enum Values {
    I32(Vec<i32>),
    I64(Vec<i64>),
    /// Big-endian values of `width` bytes; `float` when they are IEEE floats.
    Raw {
        bytes: Vec<u8>,
        width: usize,
        float: bool,
    },
}

impl Values {
    fn into_i32(self) -> std::result::Result<Vec<i32>, String> {
        match self {
            Values::I32(v) => Ok(v),
            // As cfitsio's 64-bit HCOMPRESS decoder hands values on: truncated to 32 bits.
            Values::I64(v) => Ok(v.into_iter().map(|x| x as i32).collect()),
            Values::Raw { bytes, width: 4, .. } => {
                Ok(bytes.chunks_exact(4).map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]])).collect())
            }
            Values::Raw { bytes, width, .. } if width < 4 => {
                Ok(raw_ints(&bytes, width).into_iter().map(|x| x as i32).collect())
            }
            Values::Raw { width, .. } => Err(format!("{width}-byte integers in a quantized tile")),
        }
    }
}

/// The width among `widths` that makes `len` bytes hold `n` values.
fn raw_width(len: usize, n: usize, widths: &[usize]) -> Option<usize> {
    widths.iter().copied().find(|&w| n.checked_mul(w) == Some(len))
}

fn raw_ints(bytes: &[u8], width: usize) -> Vec<i64> {
    match width {
        1 => bytes.iter().map(|&b| b as i64).collect(),
        2 => bytes.chunks_exact(2).map(|b| i16::from_be_bytes([b[0], b[1]]) as i64).collect(),
        4 => bytes.chunks_exact(4).map(|b| i32::from_be_bytes(b.try_into().unwrap()) as i64).collect(),
        _ => bytes.chunks_exact(8).map(|b| i64::from_be_bytes(b.try_into().unwrap())).collect(),
    }
}

/// Appends the elements of `region` of a C-order array of `shape` to `out`, in C order (a
/// tile's pixels out of an image, for one). Runs along the last axis are copied whole.
pub fn copy_region<T: Copy>(shape: &[usize], region: &[Range<usize>], src: &[T], out: &mut Vec<T>) {
    for_each_run(shape, region, |at, n| out.extend_from_slice(&src[at..at + n]));
}

/// Writes `src`, the elements of `region` in C order, into a C-order array `dst` of `shape`
/// (the inverse of [`copy_region`]).
pub fn paste_region<T: Copy>(shape: &[usize], region: &[Range<usize>], src: &[T], dst: &mut [T]) {
    let mut from = 0;
    for_each_run(shape, region, |at, n| {
        dst[at..at + n].copy_from_slice(&src[from..from + n]);
        from += n;
    });
}

/// Calls `f(offset, len)` for each run of `region` along the last axis, in C order.
fn for_each_run(shape: &[usize], region: &[Range<usize>], mut f: impl FnMut(usize, usize)) {
    let nd = shape.len();
    if nd == 0 || region.iter().any(|r| r.is_empty()) {
        return;
    }
    let mut strides = vec![1usize; nd];
    for a in (0..nd - 1).rev() {
        strides[a] = strides[a + 1] * shape[a + 1];
    }
    let mut idx: Vec<usize> = region.iter().map(|r| r.start).collect();
    loop {
        f(idx.iter().zip(&strides).map(|(i, s)| i * s).sum(), region[nd - 1].len());
        let mut a = nd - 1;
        loop {
            if a == 0 {
                return;
            }
            a -= 1;
            idx[a] += 1;
            if idx[a] < region[a].end {
                break;
            }
            idx[a] = region[a].start;
        }
    }
}

/// An image cut into tiles: the image and tile shapes, numpy order (slowest axis first).
/// Tiles are numbered in C order of their grid positions, which is the FITS order of tiles
/// (first axis fastest); tile `k` is the table's row `k + 1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TileGrid {
    /// The image shape.
    pub shape: Vec<usize>,
    /// The tile shape (edge tiles are cut to the image).
    pub tile: Vec<usize>,
}

impl TileGrid {
    /// Tiles along each axis.
    pub fn grid(&self) -> Vec<usize> {
        self.shape.iter().zip(&self.tile).map(|(&n, &t)| n.div_ceil(t.max(1))).collect()
    }

    /// Number of tiles (0 for an image without axes; saturates on absurd shapes).
    pub fn count(&self) -> u64 {
        if self.shape.is_empty() {
            return 0;
        }
        self.grid().iter().try_fold(1u64, |a, &g| a.checked_mul(g as u64)).unwrap_or(u64::MAX)
    }

    /// The number of the tile at grid position `coords`.
    pub fn number(&self, coords: &[usize]) -> u64 {
        coords.iter().zip(self.grid()).fold(0u64, |acc, (&c, g)| acc * g as u64 + c as u64)
    }

    /// The pixels tile `k` covers, per axis.
    pub fn region(&self, k: u64) -> Vec<Range<usize>> {
        let grid = self.grid();
        let mut coords = vec![0usize; grid.len()];
        let mut rest = k;
        for (c, &g) in coords.iter_mut().zip(&grid).rev() {
            *c = (rest % g.max(1) as u64) as usize;
            rest /= g.max(1) as u64;
        }
        coords.iter().zip(&self.tile).zip(&self.shape).map(|((&c, &t), &n)| c * t..((c + 1) * t).min(n)).collect()
    }

    /// Pixels in tile `k`.
    pub fn len(&self, k: u64) -> usize {
        self.region(k).iter().map(|r| r.len()).product()
    }

    /// Whether the image has no tiles.
    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    /// Tile `k` as rows, for the codecs that see tiles in two dimensions (HCOMPRESS,
    /// quantization): the length of the first axis (FITS order) longer than one pixel, and the
    /// product of the other lengths.
    pub fn rows(&self, k: u64) -> (usize, usize) {
        let mut row = 0;
        let mut rows = 1;
        for r in self.region(k).iter().rev() {
            let n = r.len();
            if n > 1 {
                if row == 0 {
                    row = n;
                } else {
                    rows *= n;
                }
            }
        }
        (row.max(1), rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Card, Value};

    fn table(cards: &[(&str, Value)]) -> Header {
        let mut h = Header::new();
        for (k, v) in cards {
            h.push(Card::new(k, v.clone()));
        }
        h
    }

    fn base(naxis1: i64, naxis2: i64, z: i64, t: i64) -> Header {
        table(&[
            ("XTENSION", "BINTABLE".into()),
            ("BITPIX", 8i64.into()),
            ("NAXIS", 2i64.into()),
            ("NAXIS1", naxis1.into()),
            ("NAXIS2", naxis2.into()),
            ("PCOUNT", 0i64.into()),
            ("GCOUNT", 1i64.into()),
            ("TFIELDS", 1i64.into()),
            ("TTYPE1", "COMPRESSED_DATA".into()),
            ("TFORM1", "1PB".into()),
            ("ZIMAGE", true.into()),
            ("ZBITPIX", 16i64.into()),
            ("ZNAXIS", 2i64.into()),
            ("ZNAXIS1", z.into()),
            ("ZNAXIS2", z.into()),
            ("ZTILE1", t.into()),
            ("ZTILE2", t.into()),
            ("ZCMPTYPE", "RICE_1".into()),
        ])
    }

    #[test]
    fn absurd_table_sizes_are_errors_not_overflows() {
        // 2^62 rows of 8 bytes: the product overflows 64 bits.
        let e = TiledImage::from_header(&base(8, 1 << 62, 1 << 31, 1), 1 << 20).unwrap_err().to_string();
        assert!(e.contains("NAXIS2"), "{e}");
        let e = TiledImage::from_header(&base(-8, 4, 2, 1), 1 << 20).unwrap_err().to_string();
        assert!(e.contains("NAXIS1"), "{e}");
        // Rows that do not fit the data.
        let e = TiledImage::from_header(&base(8, 4, 2, 1), 16).unwrap_err().to_string();
        assert!(e.contains("exceed the data"), "{e}");
        assert!(TiledImage::from_header(&base(8, 4, 2, 1), 32).is_ok());
    }

    #[test]
    fn regions_copy_out_and_back() {
        let shape = [3, 4, 5];
        let image: Vec<u32> = (0..60).collect();
        let region = [1..3, 0..2, 2..5];
        let mut tile = Vec::new();
        copy_region(&shape, &region, &image, &mut tile);
        assert_eq!(tile, vec![22, 23, 24, 27, 28, 29, 42, 43, 44, 47, 48, 49]);
        let mut back = vec![0u32; 60];
        paste_region(&shape, &region, &tile, &mut back);
        assert!(back.iter().enumerate().all(|(i, &v)| v == 0 || v == i as u32));
        assert_eq!(back.iter().filter(|&&v| v != 0).count(), 12);
        copy_region(&shape, &[0..1, 0..0, 0..5], &image, &mut tile);
        assert_eq!(tile.len(), 12, "an empty region adds nothing");
    }

    #[test]
    fn tile_grid_numbers_tiles_in_fits_order() {
        let g = TileGrid { shape: vec![5, 7], tile: vec![2, 3] };
        assert_eq!(g.grid(), vec![3, 3]);
        assert_eq!(g.count(), 9);
        // Tile 4 is the second tile of the second tile row.
        assert_eq!(g.region(4), vec![2..4, 3..6]);
        assert_eq!(g.region(8), vec![4..5, 6..7]);
        assert_eq!(g.number(&[2, 2]), 8);
        assert_eq!(g.len(8), 1);
        assert_eq!(g.rows(4), (3, 2));
        assert_eq!(TileGrid { shape: vec![4, 1, 6], tile: vec![2, 1, 6] }.rows(0), (6, 2));
    }

    #[test]
    fn zscale_zzero_and_zblank_as_keywords() {
        let mut h = base(8, 1, 4, 4);
        for (k, v) in [
            ("ZBITPIX", Value::from(-32i64)),
            ("ZNAXIS", 1i64.into()),
            ("ZCMPTYPE", "GZIP_1".into()),
            ("ZQUANTIZ", "NO_DITHER".into()),
            ("ZSCALE", 0.5f64.into()),
            ("ZZERO", 10.0f64.into()),
            ("ZBLANK", (-5i64).into()),
        ] {
            h.set(k, v);
        }
        h.remove("ZNAXIS2");
        h.remove("ZTILE2");
        let heap =
            codec::gzip::encode(&[0i32, 1, -5, 4].iter().flat_map(|v| v.to_be_bytes()).collect::<Vec<_>>(), 4, false);
        let mut data = Vec::new();
        data.extend_from_slice(&(heap.len() as i32).to_be_bytes());
        data.extend_from_slice(&0i32.to_be_bytes());
        data.extend_from_slice(&heap);
        let t = TiledImage::from_header(&h, data.len() as u64).unwrap();
        assert_eq!(t.quantization, Quantization::Quantized { dither: Dither::None, dither0: 1 });
        let row = t.read_row(0, &data[..8]).unwrap();
        let mut out = Vec::new();
        t.decode(&row, &data[8..], &mut out).unwrap();
        let v: Vec<f32> = out.chunks_exact(4).map(|b| f32::from_be_bytes(b.try_into().unwrap())).collect();
        assert_eq!(v[..2], [10.0, 10.5]);
        assert!(v[2].is_nan());
        assert_eq!(v[3], 12.0);
    }
}
