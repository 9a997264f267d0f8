//! Fuzz target: RICE_1 decoding of arbitrary bytes, and the round trip of what decodes.
#![no_main]

use fits_core::codec::rice;
use fits_fuzz::RiceInput;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some(RiceInput { bytepix, block, pixels, data }) = RiceInput::parse(input) else { return };
    let mut out = vec![0i32; pixels];
    if rice::decode(data, bytepix, block, &mut out).is_err() {
        return;
    }
    // Whatever decodes is in the pixel range of `bytepix`, so it must encode, and decode back.
    let encoded = rice::encode(&out, bytepix, block)
        .unwrap_or_else(|e| panic!("decoded pixels do not encode (bytepix {bytepix}, block {block}): {e}"));
    let mut again = vec![0i32; pixels];
    rice::decode(&encoded, bytepix, block, &mut again).expect("re-encoded tile decodes");
    assert_eq!(out, again, "round trip changed the pixels");
});
