//! Writes the seed corpora under `fuzz/seeds/<target>/` from the test corpus: real tiles of
//! `testdata/corpus/m13_*.fits` and `compressed_with_nan.fits`, small files cut from them, and
//! tiles of the real m13 image encoded by the library's encoders where a real tile does not fit
//! a target's limits (HCOMPRESS tiles of at most 64 × 64, the `tiled` template).
//!
//! Run from `fuzz/`: `cargo run --example seeds`. The output is deterministic.

use fits_core::codec::{gzip, hcompress, plio, rice};
use fits_core::tiled::{TileGrid, TiledImage, copy_region};
use fits_core::{HduEntry, HduKind, IndexDecoder};
use fits_fuzz::{
    CODEC_KEYS, DESCRIPTOR64, GZIP_COLUMN, GzipInput, HcompressInput, PlioInput, QUANTIZED, RiceInput, SMOOTH_OR_BZERO,
    TiledParams, ZBLANK_COLUMN,
};
use std::path::{Path, PathBuf};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const CORPUS: &str = "../testdata/corpus";

/// One compressed HDU of a corpus file, with its tiles' raw table rows and heap bytes.
struct Compressed {
    file: Vec<u8>,
    hdu: HduEntry,
    tiled: TiledImage,
}

impl Compressed {
    fn open(name: &str) -> Res<Compressed> {
        let file = std::fs::read(Path::new(CORPUS).join(name))?;
        let index = IndexDecoder::decode_all(&file)?;
        let hdu = index.hdus.into_iter().find(|h| h.kind == HduKind::CompressedImage).ok_or("no compressed HDU")?;
        let tiled = TiledImage::from_header(&hdu.header, hdu.layout.data_len)?;
        Ok(Compressed { file, hdu, tiled })
    }

    fn data(&self) -> &[u8] {
        let start = self.hdu.layout.data_start as usize;
        &self.file[start..start + self.hdu.layout.data_len as usize]
    }

    fn row(&self, k: u64) -> &[u8] {
        let r = self.tiled.row_range(k);
        &self.data()[r.start as usize..r.end as usize]
    }

    /// The compressed bytes of tile `k`.
    fn tile(&self, k: u64) -> Res<&[u8]> {
        let r = self.tiled.read_row(k, self.row(k))?.heap_range();
        Ok(&self.data()[r.start as usize..r.end as usize])
    }

    /// A small file: the primary HDU, then this HDU cut to its first `tiles` tiles (which must be
    /// whole rows of the image: one tile per image row).
    fn cut(&self, tiles: u64) -> Res<Vec<u8>> {
        let row_len = self.tiled.row_len();
        let mut rows = Vec::new();
        let mut heap = Vec::new();
        for k in 0..tiles {
            let mut row = self.row(k).to_vec();
            let bytes = self.tile(k)?;
            row[4..8].copy_from_slice(&(heap.len() as i32).to_be_bytes());
            heap.extend_from_slice(bytes);
            rows.extend_from_slice(&row);
        }
        let mut header = self.hdu.header.clone();
        header.set("NAXIS2", tiles as i64);
        header.set("ZNAXIS2", tiles as i64);
        header.set("PCOUNT", heap.len() as i64);
        header.retain(|c| !matches!(c.keyword(), "CHECKSUM" | "DATASUM" | "ZHECKSUM" | "ZDATASUM"));
        debug_assert_eq!(rows.len(), row_len * tiles as usize);
        let mut out = self.file[..self.hdu.layout.header_start as usize].to_vec();
        out.extend(header.to_bytes()?);
        out.extend(rows);
        out.extend(heap);
        out.resize(out.len().div_ceil(2880) * 2880, 0);
        Ok(out)
    }

    /// A small file: the primary HDU, then this HDU's header made to describe one tile of
    /// `nx` × `ny` pixels held in `tile` (`count` heap elements).
    fn one_tile(&self, nx: usize, ny: usize, tile: &[u8], count: usize) -> Res<Vec<u8>> {
        let mut header = self.hdu.header.clone();
        for (k, v) in
            [("NAXIS2", 1), ("PCOUNT", tile.len()), ("ZNAXIS1", nx), ("ZNAXIS2", ny), ("ZTILE1", nx), ("ZTILE2", ny)]
        {
            header.set(k, v as i64);
        }
        header.set("TFORM1", format!("1PB({count})").as_str());
        header.retain(|c| !matches!(c.keyword(), "CHECKSUM" | "DATASUM" | "ZHECKSUM" | "ZDATASUM"));
        let mut out = self.file[..self.hdu.layout.header_start as usize].to_vec();
        out.extend(header.to_bytes()?);
        out.extend((count as i32).to_be_bytes());
        out.extend(0i32.to_be_bytes());
        out.extend(tile);
        out.resize(out.len().div_ceil(2880) * 2880, 0);
        Ok(out)
    }
}

/// The uncompressed m13 image, 300 × 300 16-bit pixels (values 109 to 3618).
fn m13() -> Res<Vec<i64>> {
    let file = std::fs::read(Path::new(CORPUS).join("m13.fits"))?;
    Ok(file[2880..2880 + 180_000].chunks_exact(2).map(|b| i64::from(i16::from_be_bytes([b[0], b[1]]))).collect())
}

/// A `shape` (numpy order, up to three axes) crop of m13, C order; further planes are shifted copies.
fn crop(m13: &[i64], shape: &[usize]) -> Vec<i64> {
    let (planes, rows, cols) = match *shape {
        [c] => (1, 1, c),
        [r, c] => (1, r, c),
        [p, r, c] => (p, r, c),
        _ => unreachable!("one to three axes"),
    };
    let mut out = Vec::with_capacity(planes * rows * cols);
    for p in 0..planes {
        for y in 0..rows {
            out.extend((0..cols).map(|x| m13[(100 + y + 7 * p) * 300 + 100 + x]));
        }
    }
    out
}

/// Stored values as big-endian bytes of ZBITPIX `bitpix`.
fn stored_bytes(values: &[i64], bitpix: i64) -> Vec<u8> {
    values
        .iter()
        .flat_map(|&v| match bitpix {
            8 => vec![v as u8],
            16 => (v as i16).to_be_bytes().to_vec(),
            32 => (v as i32).to_be_bytes().to_vec(),
            64 => v.to_be_bytes().to_vec(),
            -32 => (v as f32 * 0.37).to_be_bytes().to_vec(),
            _ => (v as f64 * 0.37).to_be_bytes().to_vec(),
        })
        .collect()
}

/// The compressed bytes of one tile and its element count in the heap column.
fn encode_tile(p: &TiledParams, pixels: &[i64], (nx, ny): (usize, usize)) -> Res<(Vec<u8>, usize)> {
    let bitpix = fits_fuzz::BITPIX[p.bitpix];
    let ints = || pixels.iter().map(|&v| v as i32).collect::<Vec<_>>();
    Ok(match fits_fuzz::CODECS[p.codec] {
        "RICE_1" => {
            let bytepix = if p.flags & CODEC_KEYS != 0 { p.bytepix() } else { 4 };
            let block = if p.flags & CODEC_KEYS != 0 { p.block() } else { 32 };
            let z = rice::encode(&ints(), bytepix, block)?;
            let n = z.len();
            (z, n)
        }
        "GZIP_1" | "GZIP_2" => {
            let elem = (bitpix.unsigned_abs() / 8) as usize;
            let z = gzip::encode(&stored_bytes(pixels, bitpix), elem, fits_fuzz::CODECS[p.codec] == "GZIP_2");
            let n = z.len();
            (z, n)
        }
        "HCOMPRESS_1" => {
            let z = hcompress::encode(pixels, nx, ny, 0)?;
            let n = z.len();
            (z, n)
        }
        "PLIO_1" => {
            let words = plio::encode(&ints())?;
            (words.iter().flat_map(|w| w.to_be_bytes()).collect(), words.len())
        }
        _ => {
            let z = stored_bytes(pixels, bitpix);
            let n = z.len();
            (z, n)
        }
    })
}

/// A `tiled` input: the parameters, then one row per tile, then the heap.
fn tiled_seed(p: &TiledParams, values: &[i64]) -> Res<Vec<u8>> {
    let layout = p.layout(0);
    let grid = TileGrid { shape: p.axes.iter().rev().copied().collect(), tile: p.tile.iter().rev().copied().collect() };
    let mut rows = vec![0u8; layout.row_len * layout.tiles];
    let mut heap = Vec::new();
    for k in 0..grid.count() as usize {
        let mut pixels = Vec::new();
        copy_region(&grid.shape, &grid.region(k as u64), values, &mut pixels);
        let row = &mut rows[k * layout.row_len..(k + 1) * layout.row_len];
        // With a GZIP_COMPRESSED_DATA column, every third tile is stored there (raw floats).
        if let Some(g) = layout.gzip.filter(|_| k % 3 == 1) {
            let raw: Vec<u8> = pixels.iter().flat_map(|&v| (v as f32 * 0.5 + 100.0).to_be_bytes()).collect();
            let z = gzip::encode(&raw, 4, false);
            layout.put_descriptor(row, g, z.len(), heap.len());
            heap.extend(z);
        } else {
            let (z, n) = encode_tile(p, &pixels, grid.rows(k as u64))?;
            layout.put_descriptor(row, layout.compressed, n, heap.len());
            heap.extend(z);
        }
        if let Some((s, z)) = layout.scale_zero {
            row[s..s + 8].copy_from_slice(&0.5f64.to_be_bytes());
            row[z..z + 8].copy_from_slice(&100.0f64.to_be_bytes());
        }
        if let Some(b) = layout.zblank {
            row[b..b + 4].copy_from_slice(&(-2147483647i32).to_be_bytes());
        }
    }
    let mut out = p.to_bytes();
    out.extend(rows);
    out.extend(heap);
    Ok(out)
}

/// Checks that a `tiled` seed decodes without error, tile by tile.
fn check_tiled(name: &str, input: &[u8]) -> Res<()> {
    let (params, rest) = TiledParams::parse(input).ok_or("short")?;
    let probe = params.layout(0);
    let (rows, heap) = rest.split_at(rest.len().min(probe.row_len * probe.tiles));
    let layout = params.layout(heap.len());
    let data = layout.data(rows, usize::from(params.heap_gap), heap);
    let tiled = TiledImage::from_header(&layout.header, data.len() as u64).map_err(|e| format!("{name}: {e}"))?;
    let mut out = Vec::new();
    for k in 0..tiled.tile_count() {
        let r = tiled.row_range(k);
        let row = tiled.read_row(k, &data[r.start as usize..r.end as usize]).map_err(|e| format!("{name}: {e}"))?;
        let h = row.heap_range();
        tiled.decode(&row, &data[h.start as usize..h.end as usize], &mut out).map_err(|e| format!("{name}: {e}"))?;
    }
    Ok(())
}

/// Checks that a `tiled_file` seed reads whole through fits-array; returns the first row's values.
fn check_file(name: &str, file: &[u8]) -> Res<Vec<f64>> {
    let driver = std::sync::Arc::new(fits_io::MemoryDriver::new(name, file.to_vec()));
    let fits = futures::executor::block_on(fits_array::Fits::from_driver(driver))?;
    let image = futures::executor::block_on(fits.image(1)?.read::<f64>())?;
    Ok(image.iter().take(image.shape()[1]).copied().collect())
}

fn write(target: &str, name: &str, bytes: &[u8]) -> Res<()> {
    let dir = PathBuf::from("seeds").join(target);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(name), bytes)?;
    match target {
        "rice" => {
            let i = RiceInput::parse(bytes).ok_or("short")?;
            rice::decode(i.data, i.bytepix, i.block, &mut vec![0; i.pixels])?;
        }
        "gzip" => {
            let i = GzipInput::parse(bytes).ok_or("short")?;
            gzip::decode(i.data, i.pixels * i.elem, i.elem, i.shuffled)?;
        }
        "hcompress" => {
            let i = HcompressInput::parse(bytes).ok_or("short")?;
            hcompress::decode(i.data, i.nx, i.ny, i.smooth, &mut vec![0; i.nx * i.ny])?;
        }
        "plio" => {
            let i = PlioInput::parse(bytes).ok_or("short")?;
            plio::decode(&i.words, &mut vec![0; i.pixels])?;
        }
        "tiled" => check_tiled(name, bytes)?,
        "tiled_file" => {
            check_file(name, bytes)?;
        }
        _ => {}
    }
    println!("seeds/{target}/{name}: {} bytes", bytes.len());
    Ok(())
}

fn main() -> Res<()> {
    let image = m13()?;
    let rice_file = Compressed::open("m13_rice.fits")?;
    let gzip_file = Compressed::open("m13_gzip.fits")?;
    let plio_file = Compressed::open("m13_plio.fits")?;
    let hcomp_file = Compressed::open("m13_hcomp.fits")?;
    let nan_file = Compressed::open("compressed_with_nan.fits")?;

    // RICE_1: real tiles (4-byte pixels, blocks of 32), and m13 rows coded with 1 and 2 bytes.
    for k in [0, 150] {
        let input = RiceInput { bytepix: 4, block: 32, pixels: 300, data: rice_file.tile(k)? };
        write("rice", &format!("m13_rice_tile{k}"), &input.to_bytes())?;
    }
    for k in [0, 3] {
        let input = RiceInput { bytepix: 4, block: 32, pixels: 36, data: nan_file.tile(k)? };
        write("rice", &format!("compressed_with_nan_tile{k}"), &input.to_bytes())?;
    }
    let row: Vec<i32> = crop(&image, &[200]).iter().map(|&v| v as i32).collect();
    let z = rice::encode(&row, 2, 16)?;
    write("rice", "m13_row_bytepix2_block16", &RiceInput { bytepix: 2, block: 16, pixels: 200, data: &z }.to_bytes())?;
    let small: Vec<i32> = row.iter().map(|v| v / 16).collect();
    let z = rice::encode(&small, 1, 32)?;
    write("rice", "m13_row_bytepix1", &RiceInput { bytepix: 1, block: 32, pixels: 200, data: &z }.to_bytes())?;

    // GZIP: a real GZIP_1 tile (m13_gzip stores its 16-bit pixels as 4-byte integers, an old
    // cfitsio convention), and shuffled (GZIP_2) m13 rows of 2 and 4 bytes per pixel.
    let input = GzipInput { shuffled: false, elem: 4, pixels: 300, data: gzip_file.tile(0)? };
    assert_eq!(gzip::decode(input.data, 1200, 4, false)?.len(), 1200);
    write("gzip", "m13_gzip_tile0", &input.to_bytes())?;
    let raw = stored_bytes(&crop(&image, &[200]), 16);
    let z = gzip::encode(&raw, 2, true);
    write("gzip", "m13_row_gzip2_i16", &GzipInput { shuffled: true, elem: 2, pixels: 200, data: &z }.to_bytes())?;
    let raw = stored_bytes(&crop(&image, &[100]), -32);
    let z = gzip::encode(&raw, 4, true);
    write("gzip", "m13_row_gzip2_f32", &GzipInput { shuffled: true, elem: 4, pixels: 100, data: &z }.to_bytes())?;

    // HCOMPRESS_1: the real tile is 300 × 300, beyond the target's 64 × 64; code m13 crops.
    let header = &hcomp_file.tile(0)?[..25];
    assert_eq!(header[..2], [0xDD, 0x99], "HCOMPRESS magic of the real tile");
    for (nx, ny, scale, smooth) in [(64, 64, 0, false), (33, 17, 0, false), (64, 32, 8, true), (5, 1, 0, false)] {
        let z = hcompress::encode(&crop(&image, &[ny, nx]), nx, ny, scale)?;
        let name = format!("m13_crop_{nx}x{ny}_scale{scale}{}", if smooth { "_smooth" } else { "" });
        write("hcompress", &name, &HcompressInput { nx, ny, smooth, data: &z }.to_bytes())?;
    }

    // PLIO_1: real tiles (300 pixels; the heap holds 16-bit words).
    for k in [0, 299] {
        let bytes = plio_file.tile(k)?;
        let words = bytes.chunks_exact(2).map(|w| i16::from_be_bytes([w[0], w[1]])).collect();
        write("plio", &format!("m13_plio_tile{k}"), &PlioInput { pixels: 300, words }.to_bytes())?;
    }
    let mut mask = vec![0i32; 500];
    mask[40..90].fill(3);
    mask[300] = 70000;
    let words = plio::encode(&mask)?;
    write("plio", "mask_500", &PlioInput { pixels: 500, words }.to_bytes())?;

    // tiled: the template with m13 crops, and the real quantized tiles of compressed_with_nan.
    let p = |codec, bitpix, axes: &[usize], tile: &[usize], flags, codec_params, heap_gap| TiledParams {
        codec,
        bitpix,
        axes: axes.to_vec(),
        tile: tile.to_vec(),
        flags,
        codec_params,
        heap_gap,
    };
    let cases = [
        ("rice_i16_bytepix2", p(0, 1, &[32, 24], &[32, 4], CODEC_KEYS, 0b0001, 0)),
        ("rice_i32_3d", p(0, 2, &[16, 8, 2], &[16, 1, 1], 0, 0, 0)),
        ("gzip1_i16_edge_tiles_theap", p(1, 1, &[30, 20], &[16, 16], 0, 0, 16)),
        ("gzip2_i32_q_descriptors", p(2, 2, &[20, 10], &[20, 5], DESCRIPTOR64, 0, 0)),
        ("hcompress_i16", p(3, 1, &[32, 32], &[16, 16], CODEC_KEYS, 0, 0)),
        ("hcompress_i32_smooth", p(3, 2, &[24, 24], &[24, 8], SMOOTH_OR_BZERO, 0, 0)),
        ("plio_i16_bzero", p(4, 1, &[40, 10], &[40, 1], SMOOTH_OR_BZERO, 0, 0)),
        ("nocompress_u8", p(5, 0, &[16, 16], &[8, 8], 0, 0, 0)),
        ("gzip1_f32_lossless", p(1, 4, &[16, 8], &[16, 2], 0, 0, 0)),
        (
            "rice_f32_quantized_gzip_fallback_zblank",
            p(0, 4, &[20, 6], &[20, 1], QUANTIZED | 2 << 1 | GZIP_COLUMN | ZBLANK_COLUMN, 0b0100_0000, 0),
        ),
    ];
    for (name, params) in cases {
        let shape: Vec<usize> = params.axes.iter().rev().copied().collect();
        let values = crop(&image, &shape);
        let values: Vec<i64> = match params.bitpix {
            0 => values.iter().map(|v| v / 16).collect(),
            2 | 3 => values.iter().map(|v| v * 1000 - 50_000).collect(),
            _ => values,
        };
        write("tiled", name, &tiled_seed(&params, &values)?)?;
    }
    // compressed_with_nan: RICE_1, float64 12 × 12 in tiles of 6 × 6, SUBTRACTIVE_DITHER_1 with
    // ZSCALE and ZZERO columns: the template's rows and heap are the file's own.
    let params = p(0, 5, &[12, 12], &[6, 6], QUANTIZED | 1 << 1 | CODEC_KEYS, 0b0100_0010, 0);
    assert_eq!(params.layout(0).row_len, nan_file.tiled.row_len());
    let mut seed = params.to_bytes();
    seed.extend_from_slice(nan_file.data());
    write("tiled", "compressed_with_nan_rows_and_heap", &seed)?;

    // tiled_file: whole files, cut to a few tiles.
    write("tiled_file", "compressed_with_nan.fits", &nan_file.file)?;
    let first_row: Vec<f64> = image[..300].iter().map(|&v| v as f64).collect();
    for (name, file) in [("m13_rice_3rows.fits", &rice_file), ("m13_gzip_3rows.fits", &gzip_file)] {
        let bytes = file.cut(3)?;
        write("tiled_file", name, &bytes)?;
        assert_eq!(check_file(name, &bytes)?, first_row, "{name} holds m13's first rows");
    }
    write("tiled_file", "m13_plio_3rows.fits", &plio_file.cut(3)?)?;
    let z = hcompress::encode(&crop(&image, &[32, 64]), 64, 32, 0)?;
    write("tiled_file", "m13_hcomp_64x32.fits", &hcomp_file.one_tile(64, 32, &z, z.len())?)?;
    Ok(())
}
