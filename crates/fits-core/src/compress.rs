//! Writing tile-compressed images: choosing tiles, encoding one tile from its stored values,
//! and the table header and rows that describe the tiles.
//!
//! A writer feeds each tile's stored values (big-endian, as an uncompressed image stores
//! them) to [`TileEncoder::encode`], appends the bytes it returns to the heap, and keeps the
//! row [`TileEncoder::row`] makes for it; the table header ([`TileEncoder::table_header`])
//! is final once the heap size is known. Tiles are independent, so they can be encoded in
//! parallel.

use crate::codec::{self, CodecError};
use crate::element::Bitpix;
use crate::error::{Error, Result};
use crate::quantize::{self, Dither, NULL_VALUE, Noise};
use crate::tiled::{Algorithm, MAX_TILE_BYTES, TileGrid};
use crate::write::is_structural;
use crate::{Card, Header, ImageInfo, Value};

/// How to compress an image.
#[derive(Debug, Clone, PartialEq)]
pub struct Compression {
    /// The codec (RICE_1 by default, as fpack). RICE's `bytepix` is set from the pixel type.
    pub algorithm: Algorithm,
    /// Tile shape in numpy order; `None`: one row per tile (16 rows for HCOMPRESS_1), as fpack.
    pub tile: Option<Vec<usize>>,
    /// For floating-point images: `Some(q)` quantizes with a step of the noise divided by `q`
    /// (`q < 0`: a step of `-q`); `None` keeps floats exact (GZIP and NOCOMPRESS only).
    pub quantize: Option<f64>,
    /// How quantized values are dithered.
    pub dither: Dither,
    /// `ZDITHER0` (1 to 10000); `None` derives it from the first tile's values.
    pub seed: Option<i64>,
}

impl Default for Compression {
    fn default() -> Self {
        Compression {
            algorithm: Algorithm::Rice { block: 32, bytepix: 4 },
            tile: None,
            quantize: Some(4.0),
            dither: Dither::Subtractive1,
            seed: None,
        }
    }
}

/// Which heap column a tile went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TileColumn {
    /// `COMPRESSED_DATA`.
    Compressed,
    /// `GZIP_COMPRESSED_DATA`: a floating-point tile that could not be quantized, kept exact.
    Gzip,
}

/// One encoded tile: its heap bytes and row values.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedTile {
    /// The bytes to append to the heap.
    pub bytes: Vec<u8>,
    /// The column that points to them.
    pub column: TileColumn,
    /// `ZSCALE` and `ZZERO` of a quantized tile.
    pub scale: f64,
    /// See `scale`.
    pub zero: f64,
}

/// Encodes the tiles of one image and describes them in a binary table.
#[derive(Debug, Clone)]
pub struct TileEncoder {
    /// The image's tiles.
    pub grid: TileGrid,
    bitpix: Bitpix,
    algorithm: Algorithm,
    /// Quantization level and dithering, for floating-point images.
    quantize: Option<(f64, Dither)>,
    seed: Option<i64>,
    /// 64-bit (`Q`) descriptors, for heaps that may pass 2 GiB.
    wide: bool,
    /// Added to integers before PLIO coding (unsigned 16-bit images).
    plio_offset: i64,
    primary: bool,
}

fn unsupported(what: String) -> Error {
    Error::Unsupported { what }
}

impl TileEncoder {
    /// Plans the compression of the image `image` describes (primary or extension header).
    pub fn new(image: &Header, c: &Compression) -> Result<TileEncoder> {
        let info = ImageInfo::from_header(image)?;
        let bitpix = info.bitpix;
        let shape = info.shape.clone();
        if shape.is_empty() || shape.contains(&0) {
            return Err(unsupported("compressing an image without pixels".into()));
        }
        let ndim = shape.len();
        let hcompress = matches!(c.algorithm, Algorithm::Hcompress { .. });
        let tile = match &c.tile {
            Some(t) => {
                if t.len() != ndim || t.contains(&0) {
                    return Err(unsupported(format!(
                        "tile shape {t:?} for an image of shape {shape:?} (one positive length per axis)"
                    )));
                }
                t.iter().zip(&shape).map(|(&t, &n)| t.min(n)).collect()
            }
            None => {
                let mut t = vec![1; ndim];
                t[ndim - 1] = shape[ndim - 1];
                if hcompress && ndim >= 2 {
                    t[ndim - 2] = hcompress_rows(shape[ndim - 2]);
                }
                t
            }
        };
        let grid = TileGrid { shape, tile };
        let tile_bytes = grid.tile.iter().map(|&t| t as u64).product::<u64>() * 8;
        if tile_bytes > MAX_TILE_BYTES {
            return Err(unsupported(format!("tiles of {:?} pixels (at most {MAX_TILE_BYTES} bytes each)", grid.tile)));
        }
        let quantize = match (bitpix.is_float(), c.quantize) {
            (true, Some(q)) if q != 0.0 && q.is_finite() => Some((q, c.dither)),
            _ => None,
        };
        let algorithm = match c.algorithm {
            Algorithm::Rice { block, .. } => {
                let bytepix = match bitpix {
                    Bitpix::U8 => 1,
                    Bitpix::I16 => 2,
                    Bitpix::I32 | Bitpix::F32 | Bitpix::F64 => 4,
                    Bitpix::I64 => return Err(unsupported("RICE_1 for 64-bit integers (use GZIP)".into())),
                };
                Algorithm::Rice { block: block.max(1), bytepix }
            }
            a => a,
        };
        if bitpix == Bitpix::I64 && matches!(algorithm, Algorithm::Hcompress { .. } | Algorithm::Plio) {
            return Err(unsupported(format!("{} for 64-bit integers (use GZIP)", algorithm.keyword())));
        }
        if bitpix.is_float()
            && quantize.is_none()
            && !matches!(algorithm, Algorithm::Gzip1 | Algorithm::Gzip2 | Algorithm::NoCompress)
        {
            return Err(unsupported(format!(
                "lossless {} of floating-point pixels (quantize them, or use GZIP_1/GZIP_2)",
                algorithm.keyword()
            )));
        }
        if bitpix.is_float() && algorithm == Algorithm::Plio {
            return Err(unsupported("PLIO_1 for floating-point pixels (it codes small non-negative integers)".into()));
        }
        if hcompress {
            for k in [0, grid.count() - 1] {
                let (nx, ny) = grid.rows(k);
                if nx < 4 || ny < 4 {
                    return Err(unsupported(format!(
                        "HCOMPRESS_1 tiles of {ny} x {nx} pixels (tile {}): it needs 2-D tiles of at least 4 x 4",
                        k + 1
                    )));
                }
            }
        }
        if let Some(seed) = c.seed {
            if !(1..=10_000).contains(&seed) {
                return Err(Error::invalid("ZDITHER0", seed, "must be from 1 to 10000"));
            }
        }
        let data_bytes = grid.shape.iter().map(|&n| n as u64).product::<u64>() * bitpix.size() as u64;
        let plio_offset = if algorithm == Algorithm::Plio && bitpix == Bitpix::I16 && info.scaling.bzero == 32768.0 {
            32768
        } else {
            0
        };
        Ok(TileEncoder {
            grid,
            bitpix,
            algorithm,
            quantize,
            seed: c.seed,
            wide: data_bytes + data_bytes / 8 + (1 << 20) >= i32::MAX as u64,
            plio_offset,
            primary: image.contains("SIMPLE"),
        })
    }

    /// The codec, with its parameters as they will be written.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Whether floats are quantized.
    pub fn is_quantized(&self) -> bool {
        self.quantize.is_some()
    }

    /// Fixes `ZDITHER0` from the first tile's stored bytes, unless it was given; call before
    /// encoding (it does nothing when the image is not dithered).
    pub fn choose_seed(&mut self, first_tile: &[u8]) {
        if self.seed.is_none() {
            let sum = crate::checksum::sum32(first_tile);
            self.seed = Some(1 + (sum % 10_000) as i64);
        }
    }

    fn dithered(&self) -> bool {
        matches!(self.quantize, Some((_, d)) if d != Dither::None)
    }

    fn columns(&self) -> Vec<(&'static str, String)> {
        let (p, elem) = (if self.wide { "Q" } else { "P" }, if self.algorithm == Algorithm::Plio { "I" } else { "B" });
        let mut cols = vec![("COMPRESSED_DATA", format!("1{p}{elem}"))];
        if self.quantize.is_some() {
            cols.push(("GZIP_COMPRESSED_DATA", format!("1{p}B")));
            cols.push(("ZSCALE", "1D".into()));
            cols.push(("ZZERO", "1D".into()));
        }
        cols
    }

    fn descriptor_len(&self) -> usize {
        if self.wide { 16 } else { 8 }
    }

    /// Bytes of one table row.
    pub fn row_len(&self) -> usize {
        let d = self.descriptor_len();
        if self.quantize.is_some() { 2 * d + 16 } else { d }
    }

    /// The table header: the table's structure, the compression keywords, then every card of
    /// the image header that does not describe its structure (WCS, HISTORY, ...).
    /// `heap_len` is the heap size and `max_elements` the longest array of each heap column
    /// (both 0 before any tile is written: the header keeps its length when they change).
    pub fn table_header(&self, image: &Header, heap_len: u64, max_elements: [u64; 2]) -> Result<Header> {
        let mut h = Header::new();
        let cols = self.columns();
        h.push(Card::new("XTENSION", "BINTABLE").with_comment("binary table extension"));
        h.push(Card::new("BITPIX", 8i64).with_comment("8-bit bytes"));
        h.push(Card::new("NAXIS", 2i64).with_comment("2-dimensional binary table"));
        h.push(Card::new("NAXIS1", self.row_len()).with_comment("width of table in bytes"));
        h.push(Card::new("NAXIS2", self.grid.count() as i64).with_comment("number of rows in table"));
        h.push(Card::new("PCOUNT", heap_len as i64).with_comment("size of special data area"));
        h.push(Card::new("GCOUNT", 1i64).with_comment("one data group (required keyword)"));
        h.push(Card::new("TFIELDS", cols.len()).with_comment("number of fields in each row"));
        for (i, (name, form)) in cols.iter().enumerate() {
            let n = i + 1;
            let form = match (form.as_bytes()[1], max_elements.get(i)) {
                (b'P' | b'Q', Some(&m)) => format!("{form}({m})"),
                _ => form.clone(),
            };
            h.push(Card::new(&format!("TTYPE{n}"), *name).with_comment(match *name {
                "COMPRESSED_DATA" => "compressed tiles",
                "GZIP_COMPRESSED_DATA" => "tiles that could not be quantized, kept exact",
                "ZSCALE" => "scale of quantized pixels",
                _ => "zero point of quantized pixels",
            }));
            h.push(Card::new(&format!("TFORM{n}"), form.as_str()).with_comment("data format of field"));
        }
        h.push(Card::new("ZIMAGE", true).with_comment("extension contains compressed image"));
        for (i, t) in self.grid.tile.iter().rev().enumerate() {
            h.push(Card::new(&format!("ZTILE{}", i + 1), *t).with_comment("size of tiles to be compressed"));
        }
        h.push(Card::new("ZCMPTYPE", self.algorithm.keyword()).with_comment("compression algorithm"));
        let params: Vec<(&str, Value)> = match self.algorithm {
            Algorithm::Rice { block, bytepix } => {
                vec![("BLOCKSIZE", Value::Integer(block as i64)), ("BYTEPIX", Value::Integer(bytepix as i64))]
            }
            Algorithm::Hcompress { scale, smooth } => {
                vec![("SCALE", Value::Float(scale)), ("SMOOTH", Value::Integer(i64::from(smooth)))]
            }
            _ => Vec::new(),
        };
        for (i, (name, value)) in params.into_iter().enumerate() {
            h.push(Card::new(&format!("ZNAME{}", i + 1), name).with_comment("compression algorithm parameter"));
            h.push(Card::new(&format!("ZVAL{}", i + 1), value).with_comment("compression algorithm parameter"));
        }
        match self.quantize {
            Some((_, dither)) => {
                h.push(Card::new("ZQUANTIZ", dither.keyword()).with_comment("quantization of floating-point pixels"));
                if self.dithered() {
                    h.push(Card::new("ZDITHER0", self.seed.unwrap_or(1)).with_comment("dithering offset"));
                }
            }
            None if self.bitpix.is_float() => {
                h.push(Card::new("ZQUANTIZ", "NONE").with_comment("floating-point pixels kept exact"));
            }
            None => {}
        }
        if self.primary {
            h.push(Card::new("ZSIMPLE", true).with_comment("file does conform to FITS standard"));
        } else {
            h.push(Card::new("ZTENSION", "IMAGE").with_comment("image extension"));
        }
        h.push(Card::new("ZBITPIX", self.bitpix.value()).with_comment("data type of original image"));
        h.push(Card::new("ZNAXIS", self.grid.shape.len()).with_comment("dimension of original image"));
        for (i, n) in self.grid.shape.iter().rev().enumerate() {
            h.push(Card::new(&format!("ZNAXIS{}", i + 1), *n).with_comment("length of original image axis"));
        }
        if self.primary {
            if let Some(v) = image.card("EXTEND").and_then(Card::value) {
                h.push(Card::new("ZEXTEND", v.clone()).with_comment("extensions may be present"));
            }
        } else {
            h.push(Card::new("ZPCOUNT", 0i64).with_comment("number of random group parameters"));
            h.push(Card::new("ZGCOUNT", 1i64).with_comment("number of random groups"));
        }
        for card in image.iter() {
            let k = card.keyword();
            if k == "BLANK" && !self.bitpix.is_float() {
                h.push(
                    Card::new("ZBLANK", card.value().cloned().unwrap_or(Value::Integer(0))).with_comment("null value"),
                );
                continue;
            }
            if is_structural(k) && !matches!(k, "BSCALE" | "BZERO") {
                continue;
            }
            h.push(card.clone());
        }
        if self.quantize.is_some() {
            h.push(Card::new("ZBLANK", NULL_VALUE as i64).with_comment("quantized value of undefined pixels"));
        }
        Ok(h)
    }

    /// The table row of a tile whose bytes start `heap_offset` bytes into the heap.
    pub fn row(&self, tile: &EncodedTile, heap_offset: u64, out: &mut Vec<u8>) -> Result<()> {
        let elem = if self.algorithm == Algorithm::Plio && tile.column == TileColumn::Compressed { 2 } else { 1 };
        let count = (tile.bytes.len() / elem) as u64;
        let descriptor = |out: &mut Vec<u8>, n: u64, at: u64| -> Result<()> {
            if self.wide {
                out.extend_from_slice(&(n as i64).to_be_bytes());
                out.extend_from_slice(&(at as i64).to_be_bytes());
            } else {
                let too_big = || unsupported(format!("a heap offset of {at} bytes in 32-bit descriptors"));
                out.extend_from_slice(&i32::try_from(n).map_err(|_| too_big())?.to_be_bytes());
                out.extend_from_slice(&i32::try_from(at).map_err(|_| too_big())?.to_be_bytes());
            }
            Ok(())
        };
        let (main, gzip) = match tile.column {
            TileColumn::Compressed => ((count, heap_offset), (0, 0)),
            TileColumn::Gzip => ((0, 0), (count, heap_offset)),
        };
        descriptor(out, main.0, main.1)?;
        if self.quantize.is_some() {
            descriptor(out, gzip.0, gzip.1)?;
            out.extend_from_slice(&tile.scale.to_be_bytes());
            out.extend_from_slice(&tile.zero.to_be_bytes());
        }
        Ok(())
    }

    /// Encodes tile `k` from its stored values (`len(k) × |BITPIX|/8` big-endian bytes, C order).
    pub fn encode(&self, k: u64, stored: &[u8]) -> Result<EncodedTile> {
        let n = self.grid.len(k);
        let elem = self.bitpix.size();
        let err = |reason: String| {
            let origin: Vec<usize> = self.grid.region(k).iter().map(|r| r.start).collect();
            Error::Tile { row: k + 1, origin: format!("{origin:?}"), reason }
        };
        if stored.len() != n * elem {
            return Err(err(format!("{} bytes given for {n} pixels of {elem} bytes", stored.len())));
        }
        let codec_err = |e: CodecError| err(format!("{}: {e}", self.algorithm.keyword()));
        let compressed = |bytes: Vec<u8>| EncodedTile { bytes, column: TileColumn::Compressed, scale: 1.0, zero: 0.0 };
        if let Some((level, dither)) = self.quantize {
            let values: Vec<f64> = match self.bitpix {
                Bitpix::F32 => {
                    stored.chunks_exact(4).map(|b| f32::from_be_bytes(b.try_into().unwrap()) as f64).collect()
                }
                _ => stored.chunks_exact(8).map(|b| f64::from_be_bytes(b.try_into().unwrap())).collect(),
            };
            let (nx, _) = self.grid.rows(k);
            let mut q = Vec::new();
            let row = k as i64 + self.seed.unwrap_or(1);
            let Some(z) = quantize::quantize(&values, nx, level, dither, row, &mut q) else {
                // Not quantizable (constant, infinite values, ...): kept exact with gzip.
                let bytes = codec::gzip::encode(stored, elem, false);
                return Ok(EncodedTile { bytes, column: TileColumn::Gzip, scale: 1.0, zero: 0.0 });
            };
            let bytes = self.encode_ints(k, &q.iter().map(|&v| v as i64).collect::<Vec<_>>(), 4).map_err(codec_err)?;
            return Ok(EncodedTile { bytes, column: TileColumn::Compressed, scale: z.scale, zero: z.zero });
        }
        match self.algorithm {
            Algorithm::Gzip1 | Algorithm::Gzip2 => {
                Ok(compressed(codec::gzip::encode(stored, elem, self.algorithm == Algorithm::Gzip2)))
            }
            Algorithm::NoCompress => Ok(compressed(stored.to_vec())),
            _ => {
                let ints: Vec<i64> = match self.bitpix {
                    Bitpix::U8 => stored.iter().map(|&b| b as i64).collect(),
                    Bitpix::I16 => stored.chunks_exact(2).map(|b| i16::from_be_bytes([b[0], b[1]]) as i64).collect(),
                    Bitpix::I32 => {
                        stored.chunks_exact(4).map(|b| i32::from_be_bytes(b.try_into().unwrap()) as i64).collect()
                    }
                    _ => return Err(err(format!("{} cannot code these pixels", self.algorithm.keyword()))),
                };
                Ok(compressed(self.encode_ints(k, &ints, elem).map_err(codec_err)?))
            }
        }
    }

    /// Codes integers with the integer codecs; `width` is their size in bytes for GZIP.
    fn encode_ints(&self, k: u64, ints: &[i64], width: usize) -> std::result::Result<Vec<u8>, CodecError> {
        match self.algorithm {
            Algorithm::Rice { block, bytepix } => {
                let v: Vec<i32> = ints.iter().map(|&x| x as i32).collect();
                codec::rice::encode(&v, bytepix, block)
            }
            Algorithm::Plio => {
                let v: Vec<i32> = ints.iter().map(|&x| (x + self.plio_offset) as i32).collect();
                let words = codec::plio::encode(&v)?;
                Ok(words.iter().flat_map(|w| w.to_be_bytes()).collect())
            }
            Algorithm::Hcompress { scale, .. } => {
                let (nx, ny) = self.grid.rows(k);
                let scale = if scale > 0.0 {
                    let f: Vec<f64> = ints.iter().map(|&v| v as f64).collect();
                    scale * Noise::estimate(&f, nx).sigma()
                } else {
                    -scale
                };
                codec::hcompress::encode(ints, nx, ny, (scale + 0.5) as i32)
            }
            Algorithm::Gzip1 | Algorithm::Gzip2 | Algorithm::NoCompress => {
                let mut bytes = Vec::with_capacity(ints.len() * width);
                for &v in ints {
                    match width {
                        1 => bytes.push(v as u8),
                        2 => bytes.extend_from_slice(&(v as i16).to_be_bytes()),
                        4 => bytes.extend_from_slice(&(v as i32).to_be_bytes()),
                        _ => bytes.extend_from_slice(&v.to_be_bytes()),
                    }
                }
                Ok(match self.algorithm {
                    Algorithm::NoCompress => bytes,
                    a => codec::gzip::encode(&bytes, width, a == Algorithm::Gzip2),
                })
            }
        }
    }
}

/// Tile height for HCOMPRESS_1 by default: 16 rows, or a few more so that the last tile is not
/// thinner than 4 rows.
fn hcompress_rows(rows: usize) -> usize {
    if rows <= 16 {
        return rows;
    }
    (16..=rows.min(32)).find(|t| rows % t == 0 || rows % t >= 4).unwrap_or(16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DType;
    use crate::tiled::{TiledImage, copy_region, paste_region};
    use crate::write::image_header;

    /// Compresses a whole image in memory and decodes it back through the reader's path.
    fn round_trip(dtype: DType, shape: &[usize], stored: &[u8], c: &Compression) -> (Vec<u8>, Header) {
        let image = image_header(dtype, shape, false);
        let mut enc = TileEncoder::new(&image, c).unwrap();
        let elem = dtype.storage().0.size();
        let grid = enc.grid.clone();
        // Bytes as a last axis of length `elem`, so that regions copy whole pixels.
        let byte_shape: Vec<usize> = shape.iter().copied().chain([elem]).collect();
        let byte_region =
            |k: u64| -> Vec<std::ops::Range<usize>> { grid.region(k).into_iter().chain([0..elem]).collect() };
        let tile_bytes = |k: u64| -> Vec<u8> {
            let mut out = Vec::new();
            copy_region(&byte_shape, &byte_region(k), stored, &mut out);
            out
        };
        enc.choose_seed(&tile_bytes(0));
        let mut heap = Vec::new();
        let mut rows = Vec::new();
        let mut max = [0u64; 2];
        for k in 0..grid.count() {
            let t = enc.encode(k, &tile_bytes(k)).unwrap();
            let i = usize::from(t.column == TileColumn::Gzip);
            max[i] = max[i].max(t.bytes.len() as u64);
            enc.row(&t, heap.len() as u64, &mut rows).unwrap();
            heap.extend_from_slice(&t.bytes);
        }
        let header = enc.table_header(&image, heap.len() as u64, max).unwrap();
        let data: Vec<u8> = rows.iter().chain(&heap).copied().collect();
        let tiled = TiledImage::from_header(&header, data.len() as u64).unwrap();
        let mut out = vec![0u8; stored.len()];
        let mut tile = Vec::new();
        for k in 0..tiled.tile_count() {
            let r = tiled.row_range(k);
            let row = tiled.read_row(k, &data[r.start as usize..r.end as usize]).unwrap();
            let h = row.heap_range();
            tiled.decode(&row, &data[h.start as usize..h.end as usize], &mut tile).unwrap();
            paste_region(&byte_shape, &byte_region(k), &tile, &mut out);
        }
        (out, header)
    }

    fn noise_i32(n: usize, spread: i64, base: i64) -> Vec<i64> {
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        (0..n)
            .map(|i| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                base + (i as i64 % 50) + (s % spread as u64) as i64
            })
            .collect()
    }

    #[test]
    fn integer_codecs_are_lossless() {
        let shape = [23, 37];
        let n = 23 * 37;
        let v = noise_i32(n, 200, 1000);
        let as_i16: Vec<u8> = v.iter().flat_map(|&x| (x as i16).to_be_bytes()).collect();
        let as_i32: Vec<u8> = v.iter().flat_map(|&x| ((x * 70_000) as i32).to_be_bytes()).collect();
        let as_u8: Vec<u8> = v.iter().map(|&x| (x % 256) as u8).collect();
        for algorithm in [
            Algorithm::Rice { block: 32, bytepix: 4 },
            Algorithm::Gzip1,
            Algorithm::Gzip2,
            Algorithm::Hcompress { scale: 0.0, smooth: false },
            Algorithm::Plio,
            Algorithm::NoCompress,
        ] {
            for tile in [None, Some(vec![5, 8]), Some(vec![23, 37])] {
                // HCOMPRESS needs tiles of at least 4 x 4, edge tiles included.
                let tile = match (algorithm, tile) {
                    (Algorithm::Hcompress { .. }, Some(t)) if t == [5, 8] => Some(vec![6, 8]),
                    (_, t) => t,
                };
                let c = Compression { algorithm, tile: tile.clone(), ..Compression::default() };
                for (dtype, stored) in [(DType::I16, &as_i16), (DType::I32, &as_i32), (DType::U8, &as_u8)] {
                    if algorithm == Algorithm::Plio && dtype == DType::I32 {
                        continue;
                    }
                    let (back, header) = round_trip(dtype, &shape, stored, &c);
                    assert_eq!(&back, stored, "{algorithm:?} {tile:?} {dtype}");
                    assert_eq!(header.string("ZCMPTYPE").unwrap(), Some(algorithm.keyword()));
                }
            }
        }
    }

    #[test]
    fn floats_are_quantized_within_the_step_or_kept_exact() {
        let shape = [20, 64];
        let v = noise_i32(20 * 64, 1000, -300);
        let mut f: Vec<f32> = v.iter().map(|&x| x as f32 * 0.01).collect();
        f[3] = f32::NAN;
        // Rows 4..8 are constant: tiles there cannot be quantized and are kept exact.
        for x in &mut f[4 * 64..8 * 64] {
            *x = 2.5;
        }
        let stored: Vec<u8> = f.iter().flat_map(|x| x.to_be_bytes()).collect();
        for dither in [Dither::Subtractive1, Dither::Subtractive2, Dither::None] {
            for algorithm in [
                Algorithm::Rice { block: 32, bytepix: 4 },
                Algorithm::Gzip2,
                Algorithm::Hcompress { scale: 0.0, smooth: false },
            ] {
                let tile = matches!(algorithm, Algorithm::Hcompress { .. }).then(|| vec![4, 64]);
                let c = Compression { algorithm, dither, tile, ..Compression::default() };
                let (back, header) = round_trip(DType::F32, &shape, &stored, &c);
                let back: Vec<f32> = back.chunks_exact(4).map(|b| f32::from_be_bytes(b.try_into().unwrap())).collect();
                assert!(back[3].is_nan());
                assert!(back[4 * 64..8 * 64].iter().all(|&x| x == 2.5), "{algorithm:?}: the constant tile is exact");
                let worst =
                    f.iter().zip(&back).filter(|(a, _)| !a.is_nan()).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
                // The noise is about 2.9, so the step (noise / 4) is about 0.73.
                assert!(worst > 0.0 && worst < 0.8, "{algorithm:?} {dither:?}: error {worst}");
                assert_eq!(header.string("ZQUANTIZ").unwrap(), Some(dither.keyword()));
            }
        }
        let lossless = Compression { algorithm: Algorithm::Gzip2, quantize: None, ..Compression::default() };
        let (back, header) = round_trip(DType::F32, &shape, &stored, &lossless);
        assert_eq!(back, stored);
        assert_eq!(header.string("ZQUANTIZ").unwrap(), Some("NONE"));
        assert!(
            TileEncoder::new(
                &image_header(DType::F32, &shape, false),
                &Compression { quantize: None, ..Compression::default() }
            )
            .is_err()
        );
    }

    #[test]
    fn unsigned_16_bit_plio_and_3d_tiles() {
        let shape = [3, 10, 12];
        let v = noise_i32(360, 60_000, 0);
        // u16 stored as i16 with BZERO 32768.
        let stored: Vec<u8> = v.iter().flat_map(|&x| ((x - 32768) as i16).to_be_bytes()).collect();
        for (algorithm, tile) in
            [(Algorithm::Plio, None), (Algorithm::Rice { block: 32, bytepix: 2 }, Some(vec![2, 4, 5]))]
        {
            let c = Compression { algorithm, tile, ..Compression::default() };
            let (back, _) = round_trip(DType::U16, &shape, &stored, &c);
            assert_eq!(back, stored, "{algorithm:?}");
        }
    }

    #[test]
    fn bad_requests_are_refused() {
        let h = image_header(DType::I16, &[10, 10], false);
        let bad = |c: Compression| TileEncoder::new(&h, &c).unwrap_err().to_string();
        assert!(bad(Compression { tile: Some(vec![0, 3]), ..Compression::default() }).contains("tile shape"));
        assert!(bad(Compression { tile: Some(vec![3]), ..Compression::default() }).contains("tile shape"));
        let hc =
            Compression { algorithm: Algorithm::Hcompress { scale: 0.0, smooth: false }, ..Compression::default() };
        assert!(bad(Compression { tile: Some(vec![1, 10]), ..hc.clone() }).contains("4 x 4"));
        assert!(bad(Compression { seed: Some(0), ..Compression::default() }).contains("ZDITHER0"));
        let h64 = image_header(DType::I64, &[10, 10], false);
        assert!(TileEncoder::new(&h64, &Compression::default()).is_err());
        assert_eq!(hcompress_rows(300), 16);
        assert_eq!(hcompress_rows(290), 19);
        assert_eq!(hcompress_rows(10), 10);
    }
}
