//! Fuzz target: the tile path of a compressed image built from a header template (see
//! `TiledParams`): `TiledImage::from_header`, then `read_row` and `decode` of every tile, with
//! fuzzed table rows (descriptors, ZSCALE, ZZERO, ZBLANK) and heap.
#![no_main]

use fits_core::tiled::TiledImage;
use fits_fuzz::{TiledParams, decode_all_tiles};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((params, rest)) = TiledParams::parse(input) else { return };
    let probe = params.layout(0);
    let (rows, heap) = rest.split_at(rest.len().min(probe.row_len * probe.tiles));
    let layout = params.layout(heap.len());
    let gap = usize::from(params.heap_gap);
    let data = layout.data(rows, gap, heap);
    let Ok(tiled) = TiledImage::from_header(&layout.header, data.len() as u64) else { return };
    assert_eq!(tiled.tile_count(), layout.tiles as u64);
    decode_all_tiles(&tiled, &data, data.len() as u64, u64::MAX, usize::MAX);
});
