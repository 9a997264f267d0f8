//! Range headers and `multipart/byteranges` bodies, as a server writes them.

use std::ops::Range;

/// Parses a `Range: bytes=...` header against an object of `size` bytes.
/// `None` if the header is not a byte-range set; ranges past the end are clipped, unsatisfiable ones dropped.
pub fn parse_ranges(header: &str, size: u64) -> Option<Vec<Range<u64>>> {
    let spec = header.trim().strip_prefix("bytes=")?;
    let mut out = Vec::new();
    for part in spec.split(',') {
        let (a, b) = part.trim().split_once('-')?;
        let r = if a.is_empty() {
            let n: u64 = b.parse().ok()?;
            size.saturating_sub(n)..size
        } else {
            let start: u64 = a.parse().ok()?;
            let end = if b.is_empty() { size } else { b.parse::<u64>().ok()?.saturating_add(1).min(size) };
            start..end
        };
        if r.start < r.end {
            out.push(r);
        }
    }
    Some(out)
}

/// Writes a `multipart/byteranges` body for `ranges` of `data` with `boundary`.
pub fn write_multipart(data: &[u8], ranges: &[Range<u64>], boundary: &str, content_type: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for r in ranges {
        out.extend_from_slice(
            format!(
                "\r\n--{boundary}\r\nContent-Type: {content_type}\r\nContent-Range: bytes {}-{}/{}\r\n\r\n",
                r.start,
                r.end - 1,
                data.len()
            )
            .as_bytes(),
        );
        out.extend_from_slice(&data[r.start as usize..r.end as usize]);
    }
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_ranges("bytes=0-9", 100), Some(vec![0..10]));
        assert_eq!(parse_ranges("bytes=90-", 100), Some(vec![90..100]));
        assert_eq!(parse_ranges("bytes=-5", 100), Some(vec![95..100]));
        assert_eq!(parse_ranges("bytes=0-1, 50-199", 100), Some(vec![0..2, 50..100]));
        assert_eq!(parse_ranges("bytes=200-300", 100), Some(vec![]));
        assert_eq!(parse_ranges("items=1-2", 100), None);
    }
}
