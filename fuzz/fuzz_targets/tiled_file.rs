//! Fuzz target: a whole FITS file. The sans-IO index decoder finds its HDUs; every tile of
//! every compressed image is read and decoded with fits-core, then each compressed image is
//! read whole through fits-array (table rows, heap ranges, parallel decode, scatter).
#![no_main]

use fits_core::tiled::TiledImage;
use fits_core::{HduKind, IndexDecoder};
use fits_fuzz::decode_all_tiles;
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

/// Tiles decoded per image, and the largest tile decoded (pixels): keeps runs fast; larger
/// values only repeat the same code.
const MAX_TILES: u64 = 4096;
const MAX_TILE_PIXELS: usize = 1 << 16;
/// Largest image read through fits-array (its output is allocated before any tile is read).
const MAX_IMAGE_PIXELS: usize = 1 << 20;

fuzz_target!(|input: &[u8]| {
    let Ok(index) = IndexDecoder::decode_all(input) else { return };
    let mut compressed = Vec::new();
    for hdu in &index.hdus {
        if hdu.kind != HduKind::CompressedImage {
            continue;
        }
        compressed.push(hdu.index);
        let Ok(tiled) = TiledImage::from_header(&hdu.header, hdu.layout.data_len) else { continue };
        let start = (hdu.layout.data_start as usize).min(input.len());
        let end = start.saturating_add(hdu.layout.data_len as usize).min(input.len());
        decode_all_tiles(&tiled, &input[start..end], hdu.layout.data_len, MAX_TILES, MAX_TILE_PIXELS);
    }
    if compressed.is_empty() {
        return;
    }
    let driver = Arc::new(fits_io::MemoryDriver::new("fuzz.fits", input.to_vec()));
    let Ok(fits) = futures::executor::block_on(fits_array::Fits::from_driver(driver)) else { return };
    for k in compressed {
        let Ok(image) = fits.image(k) else { continue };
        if image.len() > MAX_IMAGE_PIXELS {
            continue;
        }
        let _ = futures::executor::block_on(image.read_dyn());
    }
});
