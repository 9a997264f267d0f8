//! Fuzz target: GZIP_1 / GZIP_2 tile decoding of arbitrary bytes, and the round trip.
#![no_main]

use fits_core::codec::gzip;
use fits_fuzz::GzipInput;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some(GzipInput { shuffled, elem, pixels, data }) = GzipInput::parse(input) else { return };
    let expected = pixels * elem;
    // The raw decompressor never returns more than one byte past its limit.
    if let Ok(raw) = gzip::decompress(data, expected) {
        assert!(raw.len() <= expected + 1, "decompress returned {} bytes for a limit of {expected}", raw.len());
    }
    let Ok(out) = gzip::decode(data, expected, elem, shuffled) else { return };
    assert_eq!(out.len(), expected);
    let encoded = gzip::encode(&out, elem, shuffled);
    assert_eq!(gzip::decode(&encoded, expected, elem, shuffled).expect("re-encoded tile decodes"), out);
});
