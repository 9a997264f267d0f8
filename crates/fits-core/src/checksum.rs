//! CHECKSUM and DATASUM: the 32-bit ones' complement sum and its 16-character ASCII encoding.

use crate::error::Result;
use crate::header::Header;

/// A running ones' complement sum of big-endian 32-bit words, fed in pieces of any length.
#[derive(Debug, Clone, Default)]
pub struct Checksum {
    sum: u64,
    pending: [u8; 4],
    pending_len: usize,
}

impl Checksum {
    /// An empty sum.
    pub fn new() -> Checksum {
        Checksum::default()
    }

    /// Adds bytes to the sum.
    pub fn update(&mut self, mut bytes: &[u8]) {
        if self.pending_len > 0 {
            let take = (4 - self.pending_len).min(bytes.len());
            self.pending[self.pending_len..self.pending_len + take].copy_from_slice(&bytes[..take]);
            self.pending_len += take;
            bytes = &bytes[take..];
            if self.pending_len < 4 {
                return;
            }
            self.add_words(&self.pending.clone());
            self.pending_len = 0;
        }
        let whole = bytes.len() / 4 * 4;
        // Sum in slices small enough that the u64 accumulator cannot overflow before folding.
        for chunk in bytes[..whole].chunks(1 << 30) {
            self.add_words(chunk);
        }
        let rest = &bytes[whole..];
        self.pending[..rest.len()].copy_from_slice(rest);
        self.pending_len = rest.len();
    }

    fn add_words(&mut self, words: &[u8]) {
        let s: u64 = words.chunks_exact(4).map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]) as u64).sum();
        self.sum = fold(fold(self.sum) + fold(s));
    }

    /// The 32-bit ones' complement sum so far (a partial last word is padded with zeros).
    pub fn value(&self) -> u32 {
        let mut s = self.sum;
        if self.pending_len > 0 {
            let mut w = [0u8; 4];
            w[..self.pending_len].copy_from_slice(&self.pending[..self.pending_len]);
            s = fold(s + u32::from_be_bytes(w) as u64);
        }
        fold(s) as u32
    }
}

fn fold(mut s: u64) -> u64 {
    while s >> 32 != 0 {
        s = (s & 0xffff_ffff) + (s >> 32);
    }
    s
}

/// The ones' complement sum of a buffer.
pub fn sum32(bytes: &[u8]) -> u32 {
    let mut c = Checksum::new();
    c.update(bytes);
    c.value()
}

/// Ones' complement addition of two sums.
pub fn add(a: u32, b: u32) -> u32 {
    fold(a as u64 + b as u64) as u32
}

/// Encodes a sum as the 16 ASCII characters of the CHECKSUM keyword
/// (the complement of the sum when `complement` is set), following the
/// algorithm published with the FITS checksum convention.
pub fn encode(value: u32, complement: bool) -> [u8; 16] {
    const EXCLUDE: [u8; 13] = [0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f, 0x40, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f, 0x60];
    let value = if complement { !value } else { value };
    let mut asc = [0u8; 16];
    for i in 0..4 {
        let byte = ((value >> (24 - 8 * i)) & 0xff) as u8;
        let mut ch = [byte / 4 + 0x30; 4];
        ch[0] += byte % 4;
        loop {
            let mut changed = false;
            for ex in EXCLUDE {
                for j in [0, 2] {
                    if ch[j] == ex || ch[j + 1] == ex {
                        ch[j] += 1;
                        ch[j + 1] -= 1;
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        for (j, c) in ch.iter().enumerate() {
            asc[4 * j + i] = *c;
        }
    }
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = asc[(i + 15) % 16];
    }
    out
}

/// The result of checking an HDU's checksum keywords.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verification {
    /// `Some(true)` if CHECKSUM is present and the HDU sums to zero, `None` if absent.
    pub checksum: Option<bool>,
    /// `Some(true)` if DATASUM is present and equals the data's sum, `None` if absent.
    pub datasum: Option<bool>,
}

/// Checks CHECKSUM against the header's bytes and DATASUM against the sum of
/// the data (padding included) the caller computed.
pub fn verify(header_bytes: &[u8], header: &Header, data_sum: u32) -> Verification {
    let checksum = header.contains("CHECKSUM").then(|| add(sum32(header_bytes), data_sum) == u32::MAX);
    let datasum = header.value("DATASUM").map(|v| match v {
        crate::Value::String(s) => s.trim().parse::<u64>().ok() == Some(data_sum as u64),
        crate::Value::Integer(i) => *i == data_sum as i64,
        _ => false,
    });
    Verification { checksum, datasum }
}

/// Writes DATASUM and CHECKSUM into a header for data whose sum is `data_sum`.
///
/// Both cards are replaced in place if present, otherwise appended.
pub fn set_checksums(header: &mut Header, data_sum: u32) -> Result<()> {
    header.set_with_comment("DATASUM", data_sum.to_string(), "data unit checksum");
    header.set_with_comment("CHECKSUM", "0000000000000000", "HDU checksum");
    let total = add(sum32(&header.to_bytes()?), data_sum);
    let encoded = encode(total, true);
    // encode() yields ASCII digits and letters only.
    let text = String::from_utf8(encoded.to_vec()).expect("checksum encoding is ASCII");
    header.set_with_comment("CHECKSUM", text, "HDU checksum");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Card;

    #[test]
    fn sums_in_pieces_equal_sums_at_once() {
        let data: Vec<u8> = (0..10_007u32).map(|i| (i * 7919 % 251) as u8).collect();
        let whole = sum32(&data);
        let mut c = Checksum::new();
        for piece in data.chunks(13) {
            c.update(piece);
        }
        assert_eq!(c.value(), whole);
        assert_eq!(sum32(&[0xff; 8]), u32::MAX);
        assert_eq!(add(u32::MAX, 1), 1);
    }

    #[test]
    fn encoding_avoids_punctuation() {
        for v in [0u32, 1, 0xdeadbeef, u32::MAX, 0x3a3a3a3a, 0x5b5c5d5e] {
            let e = encode(v, true);
            assert!(e.iter().all(|c| c.is_ascii_alphanumeric()), "{:?}", std::str::from_utf8(&e));
        }
    }

    #[test]
    fn written_checksums_verify() {
        let mut h = Header::new();
        h.push(Card::new("SIMPLE", true));
        h.push(Card::new("BITPIX", 16i64));
        h.push(Card::new("NAXIS", 1i64));
        h.push(Card::new("NAXIS1", 3i64));
        let mut data = vec![0u8, 1, 0, 2, 0, 3];
        data.resize(2880, 0);
        let ds = sum32(&data);
        set_checksums(&mut h, ds).unwrap();
        let bytes = h.to_bytes().unwrap();
        let v = verify(&bytes, &h, ds);
        assert_eq!(v, Verification { checksum: Some(true), datasum: Some(true) });
        data[5] = 4;
        let v = verify(&bytes, &h, sum32(&data));
        assert_eq!(v, Verification { checksum: Some(false), datasum: Some(false) });
    }
}
