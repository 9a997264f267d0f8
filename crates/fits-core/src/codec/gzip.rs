//! GZIP_1 and GZIP_2: a tile's big-endian pixel bytes in a gzip stream; GZIP_2 first shuffles
//! the bytes (all most significant bytes, then the next, ...), which compresses numbers better.

use super::CodecError;
use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use std::io::{Read, Write};

/// Decompresses a tile into exactly `expected` bytes (the tile's pixel bytes); `elem` is the
/// pixel size, used to undo GZIP_2's shuffle when `shuffled`.
pub fn decode(input: &[u8], expected: usize, elem: usize, shuffled: bool) -> Result<Vec<u8>, CodecError> {
    let out = decompress(input, expected)?;
    if out.len() != expected {
        return Err(CodecError::WrongSize { expected: expected / elem.max(1), got: out.len() / elem.max(1) });
    }
    Ok(if shuffled && elem > 1 { unshuffle(&out, elem) } else { out })
}

/// Decompresses a gzip stream that should hold at most `limit` bytes; returns what it holds
/// (up to `limit + 1` bytes, so that a longer stream is noticed without reading all of it).
pub fn decompress(input: &[u8], limit: usize) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(limit.min(input.len().saturating_mul(8)).max(64));
    let mut reader = MultiGzDecoder::new(input).take(limit as u64 + 1);
    reader.read_to_end(&mut out).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            CodecError::Truncated { detail: format!("gzip stream cut after {} bytes", out.len()) }
        } else {
            CodecError::Corrupt { detail: format!("gzip: {e}") }
        }
    })?;
    Ok(out)
}

/// Compresses a tile's pixel bytes (shuffled first for GZIP_2).
pub fn encode(bytes: &[u8], elem: usize, shuffled: bool) -> Vec<u8> {
    let data = if shuffled && elem > 1 { shuffle(bytes, elem) } else { bytes.to_vec() };
    let mut e = GzEncoder::new(Vec::with_capacity(data.len() / 2), Compression::default());
    // Writing to a Vec cannot fail.
    e.write_all(&data).expect("writing to memory");
    e.finish().expect("writing to memory")
}

/// Whether bytes look like a gzip stream (the fallback column of float tiles uses it).
pub fn is_gzip(input: &[u8]) -> bool {
    input.starts_with(&[0x1f, 0x8b])
}

fn shuffle(bytes: &[u8], elem: usize) -> Vec<u8> {
    let n = bytes.len() / elem;
    let mut out = vec![0u8; bytes.len()];
    for (i, px) in bytes.chunks_exact(elem).enumerate() {
        for (b, v) in px.iter().enumerate() {
            out[b * n + i] = *v;
        }
    }
    out
}

/// Undoes GZIP_2's byte shuffle for pixels of `elem` bytes.
pub fn unshuffle(bytes: &[u8], elem: usize) -> Vec<u8> {
    let n = bytes.len() / elem;
    let mut out = vec![0u8; bytes.len()];
    for (i, px) in out.chunks_exact_mut(elem).enumerate() {
        for (b, v) in px.iter_mut().enumerate() {
            *v = bytes[b * n + i];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_and_without_shuffle() {
        let bytes: Vec<u8> = (0..4000u32).flat_map(|i| ((i * 37) as i32 - 9000).to_be_bytes()).collect();
        for shuffled in [false, true] {
            let z = encode(&bytes, 4, shuffled);
            assert!(is_gzip(&z));
            assert_eq!(decode(&z, bytes.len(), 4, shuffled).unwrap(), bytes);
        }
        let z = encode(&bytes, 4, true);
        assert!(z.len() < encode(&bytes, 4, false).len(), "shuffling helps numbers");
    }

    #[test]
    fn corrupt_and_short_streams_are_errors() {
        let bytes = vec![7u8; 1000];
        let z = encode(&bytes, 2, false);
        assert!(matches!(
            decode(&z[..z.len() / 2], 1000, 2, false),
            Err(CodecError::Truncated { .. } | CodecError::Corrupt { .. })
        ));
        assert!(matches!(decode(&z, 998, 2, false), Err(CodecError::WrongSize { .. })));
        assert!(matches!(decode(&z, 1002, 2, false), Err(CodecError::WrongSize { .. } | CodecError::Truncated { .. })));
        assert!(decode(b"not gzip at all", 10, 1, false).is_err());
    }
}
