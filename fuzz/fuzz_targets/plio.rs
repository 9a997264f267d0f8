//! Fuzz target: PLIO_1 decoding of arbitrary line lists, and the round trip of what decodes.
#![no_main]

use fits_core::codec::plio;
use fits_fuzz::PlioInput;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some(PlioInput { pixels, words }) = PlioInput::parse(input) else { return };
    let mut out = vec![0i32; pixels];
    if plio::decode(&words, &mut out).is_err() {
        return;
    }
    // A list may set pixels PLIO cannot store (negative, or 2^24 and more); those are refused.
    let Ok(encoded) = plio::encode(&out) else { return };
    let mut again = vec![0i32; pixels];
    plio::decode(&encoded, &mut again).expect("re-encoded tile decodes");
    assert_eq!(out, again, "round trip changed the pixels");
});
