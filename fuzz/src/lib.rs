//! Input layouts of the fuzz targets, shared by the targets and the seed writer
//! (`examples/seeds.rs`) so that the seeds always parse the way the targets read them.
//!
//! Each codec target reads a few parameter bytes and hands the rest to the codec. The `tiled`
//! target builds a compressed-image table header from a fixed template whose choices (codec,
//! types, axes, tiles, optional columns) come from the first [`TiledParams::LEN`] bytes, then
//! takes the table rows and the heap from the rest of the input.

use fits_core::tiled::TiledImage;
use fits_core::{Card, Error, Header};

/// Most pixels a codec target decodes.
pub const MAX_PIXELS: usize = 4096;

fn be16(b: &[u8]) -> usize {
    usize::from(u16::from_be_bytes([b[0], b[1]]))
}

/// Input of the `rice` target: `[bytepix selector, block, pixels (u16 BE)]` then the tile.
#[derive(Debug, Clone, PartialEq)]
pub struct RiceInput<'a> {
    /// 1, 2 or 4 (byte 0 modulo 3).
    pub bytepix: usize,
    /// Pixels per block: byte 1 as it is (0 must be refused).
    pub block: usize,
    /// Pixels to decode: bytes 2 and 3, big-endian, modulo `MAX_PIXELS + 1`.
    pub pixels: usize,
    /// The compressed tile.
    pub data: &'a [u8],
}

impl<'a> RiceInput<'a> {
    /// Values of `bytepix`, indexed by byte 0 modulo 3.
    pub const BYTEPIX: [usize; 3] = [1, 2, 4];

    /// Splits a fuzz input; `None` if it is shorter than the parameters.
    pub fn parse(input: &'a [u8]) -> Option<RiceInput<'a>> {
        let (head, data) = input.split_at_checked(4)?;
        Some(RiceInput {
            bytepix: Self::BYTEPIX[usize::from(head[0]) % 3],
            block: usize::from(head[1]),
            pixels: be16(&head[2..]) % (MAX_PIXELS + 1),
            data,
        })
    }

    /// The fuzz input that parses to `self`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let sel = Self::BYTEPIX.iter().position(|&b| b == self.bytepix).unwrap_or(2) as u8;
        let mut out = vec![sel, self.block as u8];
        out.extend_from_slice(&(self.pixels as u16).to_be_bytes());
        out.extend_from_slice(self.data);
        out
    }
}

/// Input of the `gzip` target: `[flags, pixels (u16 BE)]` then the stream. Flag bit 0: GZIP_2's
/// shuffle; bits 1-2: bytes per pixel (1, 2, 4, 8).
#[derive(Debug, Clone, PartialEq)]
pub struct GzipInput<'a> {
    /// Undo GZIP_2's byte shuffle.
    pub shuffled: bool,
    /// Bytes per pixel.
    pub elem: usize,
    /// Pixels in the tile (modulo `MAX_PIXELS + 1`).
    pub pixels: usize,
    /// The gzip stream.
    pub data: &'a [u8],
}

impl<'a> GzipInput<'a> {
    /// Values of `elem`, indexed by flag bits 1-2.
    pub const ELEM: [usize; 4] = [1, 2, 4, 8];

    /// Splits a fuzz input; `None` if it is shorter than the parameters.
    pub fn parse(input: &'a [u8]) -> Option<GzipInput<'a>> {
        let (head, data) = input.split_at_checked(3)?;
        Some(GzipInput {
            shuffled: head[0] & 1 != 0,
            elem: Self::ELEM[usize::from(head[0] >> 1) & 3],
            pixels: be16(&head[1..]) % (MAX_PIXELS + 1),
            data,
        })
    }

    /// The fuzz input that parses to `self`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let sel = Self::ELEM.iter().position(|&e| e == self.elem).unwrap_or(0) as u8;
        let mut out = vec![u8::from(self.shuffled) | sel << 1];
        out.extend_from_slice(&(self.pixels as u16).to_be_bytes());
        out.extend_from_slice(self.data);
        out
    }
}

/// Input of the `hcompress` target: `[nx - 1, ny - 1, flags]` then the stream; `nx` and `ny`
/// are 1 to 64 (modulo), flag bit 0 asks for smoothing.
#[derive(Debug, Clone, PartialEq)]
pub struct HcompressInput<'a> {
    /// Tile width (fastest axis).
    pub nx: usize,
    /// Tile height.
    pub ny: usize,
    /// Smooth while decoding.
    pub smooth: bool,
    /// The stream.
    pub data: &'a [u8],
}

impl<'a> HcompressInput<'a> {
    /// Largest `nx` and `ny`.
    pub const MAX_SIDE: usize = 64;

    /// Splits a fuzz input; `None` if it is shorter than the parameters.
    pub fn parse(input: &'a [u8]) -> Option<HcompressInput<'a>> {
        let (head, data) = input.split_at_checked(3)?;
        Some(HcompressInput {
            nx: 1 + usize::from(head[0]) % Self::MAX_SIDE,
            ny: 1 + usize::from(head[1]) % Self::MAX_SIDE,
            smooth: head[2] & 1 != 0,
            data,
        })
    }

    /// The fuzz input that parses to `self`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![(self.nx - 1) as u8, (self.ny - 1) as u8, u8::from(self.smooth)];
        out.extend_from_slice(self.data);
        out
    }
}

/// Input of the `plio` target: `[pixels (u16 BE)]` then the line list as big-endian 16-bit
/// words (an odd last byte is dropped), as the heap stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlioInput {
    /// Pixels in the tile (modulo `MAX_PIXELS + 1`).
    pub pixels: usize,
    /// The line list.
    pub words: Vec<i16>,
}

impl PlioInput {
    /// Splits a fuzz input; `None` if it is shorter than the parameters.
    pub fn parse(input: &[u8]) -> Option<PlioInput> {
        let (head, data) = input.split_at_checked(2)?;
        let words = data.chunks_exact(2).map(|w| i16::from_be_bytes([w[0], w[1]])).collect();
        Some(PlioInput { pixels: be16(head) % (MAX_PIXELS + 1), words })
    }

    /// The fuzz input that parses to `self`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = (self.pixels as u16).to_be_bytes().to_vec();
        out.extend(self.words.iter().flat_map(|w| w.to_be_bytes()));
        out
    }
}

/// `ZCMPTYPE` values of the `tiled` target (byte 0 modulo 6).
pub const CODECS: [&str; 6] = ["RICE_1", "GZIP_1", "GZIP_2", "HCOMPRESS_1", "PLIO_1", "NOCOMPRESS"];
/// `ZBITPIX` values (byte 1 modulo 6).
pub const BITPIX: [i64; 6] = [8, 16, 32, 64, -32, -64];
/// `ZQUANTIZ` values (flag bits 1-2).
pub const QUANTIZ: [&str; 4] = ["NO_DITHER", "SUBTRACTIVE_DITHER_1", "SUBTRACTIVE_DITHER_2", "NONE"];

/// Flag: `ZSCALE` and `ZZERO` columns (one double per row) and `ZQUANTIZ`.
pub const QUANTIZED: u8 = 1;
/// Flag: a `GZIP_COMPRESSED_DATA` fallback column.
pub const GZIP_COLUMN: u8 = 1 << 3;
/// Flag: a `ZBLANK` column (one 32-bit integer per row) instead of the `ZBLANK` keyword.
pub const ZBLANK_COLUMN: u8 = 1 << 4;
/// Flag: 64-bit (`Q`) descriptors instead of 32-bit (`P`) ones.
pub const DESCRIPTOR64: u8 = 1 << 5;
/// Flag: `SMOOTH = 1` for HCOMPRESS_1; `BZERO = 32768` otherwise (PLIO's unsigned 16-bit case).
pub const SMOOTH_OR_BZERO: u8 = 1 << 6;
/// Flag: write `ZNAMEn`/`ZVALn` for `BLOCKSIZE` and `BYTEPIX` (RICE_1) and `SCALE` (HCOMPRESS_1).
pub const CODEC_KEYS: u8 = 1 << 7;

/// The template choices of the `tiled` target, from its first [`TiledParams::LEN`] bytes.
///
/// Byte 0: codec; 1: ZBITPIX; 2: number of axes (1 + b % 3); 3-5: axis lengths (1 + b % 64,
/// 1 + b % 64, 1 + b % 4); 6-8: tile lengths (1 + b % axis length); 9: flags; 10: codec
/// parameters (bits 0-1: BYTEPIX 1, 2, 4, 8; bits 2-3: BLOCKSIZE 32, 16, 1, 64; bits 4-7:
/// ZDITHER0 = 1 + 631 × b); 11: bytes between the table and the heap (`THEAP` when not 0).
#[derive(Debug, Clone, PartialEq)]
pub struct TiledParams {
    /// Index into [`CODECS`].
    pub codec: usize,
    /// Index into [`BITPIX`].
    pub bitpix: usize,
    /// `ZNAXISn`, FITS order (fastest first).
    pub axes: Vec<usize>,
    /// `ZTILEn`, FITS order.
    pub tile: Vec<usize>,
    /// The flag bits ([`QUANTIZED`], ...).
    pub flags: u8,
    /// Byte 10.
    pub codec_params: u8,
    /// Byte 11.
    pub heap_gap: u8,
}

/// Column offsets and sizes of the table the template describes.
#[derive(Debug, Clone, PartialEq)]
pub struct TiledLayout {
    /// The table header.
    pub header: Header,
    /// `NAXIS1`.
    pub row_len: usize,
    /// `NAXIS2`: one row per tile.
    pub tiles: usize,
    /// Bytes of a descriptor (8 or 16).
    pub descriptor_len: usize,
    /// Row offset of `COMPRESSED_DATA`.
    pub compressed: usize,
    /// Row offset of `GZIP_COMPRESSED_DATA`.
    pub gzip: Option<usize>,
    /// Row offsets of `ZSCALE` and `ZZERO`.
    pub scale_zero: Option<(usize, usize)>,
    /// Row offset of `ZBLANK`.
    pub zblank: Option<usize>,
}

impl TiledParams {
    /// Bytes of parameters before the table rows.
    pub const LEN: usize = 12;
    /// Longest axes, per axis.
    pub const AXIS_MAX: [usize; 3] = [64, 64, 4];

    /// Reads the parameter bytes; `None` if the input is shorter than [`TiledParams::LEN`].
    pub fn parse(input: &[u8]) -> Option<(TiledParams, &[u8])> {
        let (b, rest) = input.split_at_checked(Self::LEN)?;
        let naxis = 1 + usize::from(b[2]) % 3;
        let axes: Vec<usize> = (0..naxis).map(|i| 1 + usize::from(b[3 + i]) % Self::AXIS_MAX[i]).collect();
        let tile = axes.iter().enumerate().map(|(i, &n)| 1 + usize::from(b[6 + i]) % n).collect();
        let params = TiledParams {
            codec: usize::from(b[0]) % CODECS.len(),
            bitpix: usize::from(b[1]) % BITPIX.len(),
            axes,
            tile,
            flags: b[9],
            codec_params: b[10],
            heap_gap: b[11],
        };
        Some((params, rest))
    }

    /// The parameter bytes that parse to `self` (axes and tiles must lie in their ranges).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = vec![0u8; Self::LEN];
        b[0] = self.codec as u8;
        b[1] = self.bitpix as u8;
        b[2] = (self.axes.len() - 1) as u8;
        for (i, (&n, &t)) in self.axes.iter().zip(&self.tile).enumerate() {
            b[3 + i] = (n - 1) as u8;
            b[6 + i] = (t - 1) as u8;
        }
        b[9] = self.flags;
        b[10] = self.codec_params;
        b[11] = self.heap_gap;
        b
    }

    /// Tiles in the image.
    pub fn tile_count(&self) -> usize {
        self.axes.iter().zip(&self.tile).map(|(&n, &t)| n.div_ceil(t)).product()
    }

    /// `BYTEPIX` (1, 2, 4, or 8, which RICE_1 must refuse).
    pub fn bytepix(&self) -> usize {
        [1, 2, 4, 8][usize::from(self.codec_params & 3)]
    }

    /// `BLOCKSIZE`.
    pub fn block(&self) -> usize {
        [32, 16, 1, 64][usize::from(self.codec_params >> 2) & 3]
    }

    /// `ZDITHER0`.
    pub fn dither0(&self) -> i64 {
        1 + 631 * i64::from(self.codec_params >> 4)
    }

    /// The table header and row layout for a heap of `heap_len` bytes.
    pub fn layout(&self, heap_len: usize) -> TiledLayout {
        let codec = CODECS[self.codec];
        let bitpix = BITPIX[self.bitpix];
        let flags = self.flags;
        let q = if flags & DESCRIPTOR64 != 0 { 'Q' } else { 'P' };
        let descriptor_len = if q == 'Q' { 16 } else { 8 };
        let mut columns: Vec<(&str, String, usize)> = Vec::new();
        let elem = if codec == "PLIO_1" { 'I' } else { 'B' };
        columns.push(("COMPRESSED_DATA", format!("1{q}{elem}"), descriptor_len));
        if flags & GZIP_COLUMN != 0 {
            columns.push(("GZIP_COMPRESSED_DATA", format!("1{q}B"), descriptor_len));
        }
        if flags & QUANTIZED != 0 {
            columns.push(("ZSCALE", "1D".into(), 8));
            columns.push(("ZZERO", "1D".into(), 8));
        }
        if flags & ZBLANK_COLUMN != 0 {
            columns.push(("ZBLANK", "1J".into(), 4));
        }
        let mut offsets = Vec::new();
        let mut row_len = 0;
        for c in &columns {
            offsets.push(row_len);
            row_len += c.2;
        }
        let offset_of = |name: &str| columns.iter().position(|c| c.0 == name).map(|i| offsets[i]);
        let tiles = self.tile_count();
        let table_len = row_len * tiles;
        let gap = usize::from(self.heap_gap);

        let mut h = Header::new();
        let mut card = |k: &str, v: fits_core::Value| h.push(Card::new(k, v));
        card("XTENSION", "BINTABLE".into());
        card("BITPIX", 8i64.into());
        card("NAXIS", 2i64.into());
        card("NAXIS1", (row_len as i64).into());
        card("NAXIS2", (tiles as i64).into());
        card("PCOUNT", ((gap + heap_len) as i64).into());
        card("GCOUNT", 1i64.into());
        card("TFIELDS", (columns.len() as i64).into());
        for (i, (name, form, _)) in columns.iter().enumerate() {
            card(&format!("TTYPE{}", i + 1), (*name).into());
            card(&format!("TFORM{}", i + 1), form.as_str().into());
        }
        if gap > 0 {
            card("THEAP", ((table_len + gap) as i64).into());
        }
        card("ZIMAGE", true.into());
        card("ZBITPIX", bitpix.into());
        card("ZNAXIS", (self.axes.len() as i64).into());
        for (i, (&n, &t)) in self.axes.iter().zip(&self.tile).enumerate() {
            card(&format!("ZNAXIS{}", i + 1), (n as i64).into());
            card(&format!("ZTILE{}", i + 1), (t as i64).into());
        }
        card("ZCMPTYPE", codec.into());
        if flags & CODEC_KEYS != 0 {
            let named: &[(&str, i64)] = match codec {
                "RICE_1" => &[("BLOCKSIZE", self.block() as i64), ("BYTEPIX", self.bytepix() as i64)],
                "HCOMPRESS_1" => &[("SCALE", 0), ("SMOOTH", i64::from(flags & SMOOTH_OR_BZERO != 0))],
                _ => &[],
            };
            for (i, (name, v)) in named.iter().enumerate() {
                card(&format!("ZNAME{}", i + 1), (*name).into());
                card(&format!("ZVAL{}", i + 1), (*v).into());
            }
        } else if codec == "HCOMPRESS_1" && flags & SMOOTH_OR_BZERO != 0 {
            card("ZNAME1", "SMOOTH".into());
            card("ZVAL1", 1i64.into());
        }
        if flags & QUANTIZED != 0 {
            card("ZQUANTIZ", QUANTIZ[usize::from(flags >> 1) & 3].into());
            card("ZDITHER0", self.dither0().into());
        }
        if flags & ZBLANK_COLUMN == 0 && bitpix < 0 {
            card("ZBLANK", (-2147483647i64).into());
        }
        if codec != "HCOMPRESS_1" && flags & SMOOTH_OR_BZERO != 0 && bitpix == 16 {
            card("BZERO", 32768i64.into());
        }
        TiledLayout {
            header: h,
            row_len,
            tiles,
            descriptor_len,
            compressed: offsets[0],
            gzip: offset_of("GZIP_COMPRESSED_DATA"),
            scale_zero: offset_of("ZSCALE").zip(offset_of("ZZERO")),
            zblank: offset_of("ZBLANK"),
        }
    }
}

impl TiledLayout {
    /// The HDU's data: `rows` (cut or zero-padded to the table's size), `gap` zero bytes, the heap.
    pub fn data(&self, rows: &[u8], gap: usize, heap: &[u8]) -> Vec<u8> {
        let table_len = self.row_len * self.tiles;
        let mut data = Vec::with_capacity(table_len + gap + heap.len());
        data.extend_from_slice(&rows[..rows.len().min(table_len)]);
        data.resize(table_len + gap, 0);
        data.extend_from_slice(heap);
        data
    }

    /// Writes a descriptor (`count` elements at heap offset `at`) into a row.
    pub fn put_descriptor(&self, row: &mut [u8], offset: usize, count: usize, at: usize) {
        if self.descriptor_len == 16 {
            row[offset..offset + 8].copy_from_slice(&(count as i64).to_be_bytes());
            row[offset + 8..offset + 16].copy_from_slice(&(at as i64).to_be_bytes());
        } else {
            row[offset..offset + 4].copy_from_slice(&(count as i32).to_be_bytes());
            row[offset + 4..offset + 8].copy_from_slice(&(at as i32).to_be_bytes());
        }
    }
}

/// Checks the contract of a tile error: it is [`Error::Tile`] naming row `k + 1`.
///
/// # Panics
///
/// If the error is of another kind or names another row (a finding of the fuzzer).
pub fn assert_tile_error(e: &Error, k: u64) {
    match e.root() {
        Error::Tile { row, .. } => assert_eq!(*row, k + 1, "tile {k}: the error names row {row}: {e}"),
        other => panic!("tile {k}: the error does not name the tile: {other}"),
    }
}

/// Reads and decodes every tile of a compressed image whose HDU data (`data`, possibly cut
/// short) is at hand, checking the tile contract: `read_row` points inside the heap, a decoded
/// tile has exactly `tile_len × |ZBITPIX| / 8` bytes, and every error names its tile.
/// Tiles beyond `max_tiles`, and tiles of more than `max_pixels` pixels, are skipped to keep
/// runs fast.
pub fn decode_all_tiles(tiled: &TiledImage, data: &[u8], data_len: u64, max_tiles: u64, max_pixels: usize) {
    let mut out = Vec::new();
    let elem = tiled.bitpix.size();
    for k in 0..tiled.tile_count().min(max_tiles) {
        let n = tiled.grid.len(k);
        if n > max_pixels {
            continue;
        }
        let rows = tiled.row_range(k);
        let Some(row) = data.get(rows.start as usize..rows.end as usize) else { break };
        let row = match tiled.read_row(k, row) {
            Ok(row) => row,
            Err(e) => {
                assert_tile_error(&e, k);
                continue;
            }
        };
        let heap = row.heap_range();
        assert!(heap.start <= heap.end && heap.end <= data_len, "tile {k}: heap range {heap:?} outside the data");
        let Some(bytes) = data.get(heap.start as usize..heap.end as usize) else { continue };
        match tiled.decode(&row, bytes, &mut out) {
            Ok(()) => assert_eq!(out.len(), n * elem, "tile {k}: decoded {} bytes", out.len()),
            Err(e) => assert_tile_error(&e, k),
        }
    }
}
