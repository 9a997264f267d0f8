//! Fuzz target: HCOMPRESS_1 decoding of arbitrary bytes (tiles up to 64 × 64, smoothing on
//! and off), and the lossless round trip of what decodes.
#![no_main]

use fits_core::codec::hcompress;
use fits_fuzz::HcompressInput;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some(HcompressInput { nx, ny, smooth, data }) = HcompressInput::parse(input) else { return };
    let mut out = vec![0i64; nx * ny];
    if hcompress::decode(data, nx, ny, smooth, &mut out).is_err() {
        return;
    }
    // A corrupt stream may decode to values too large to encode again; those are refused, not coded.
    let Ok(encoded) = hcompress::encode(&out, nx, ny, 0) else { return };
    let mut again = vec![0i64; nx * ny];
    hcompress::decode(&encoded, nx, ny, smooth, &mut again).expect("re-encoded tile decodes");
    assert_eq!(out, again, "lossless round trip changed the pixels ({nx}x{ny})");
});
