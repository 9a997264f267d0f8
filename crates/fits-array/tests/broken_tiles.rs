//! Damaged tile-compressed images: real compressed files damaged in memory in every way the
//! tiled-image convention allows (tile bytes, descriptors, heap, file length, header values).
//! Each read ends in an error naming the HDU and, where one tile is at fault, that tile; never
//! a panic. Sections that do not touch the damaged tile still read correctly.
//!
//! Tile numbers in messages are one-based (the tile's row in the table): zero-based tile `k`
//! is "tile k+1".

use fits_array::Fits;
use fits_array::ndarray::{ArrayD, IxDyn, SliceInfo, SliceInfoElem, s};
use fits_core::IndexDecoder;
use fits_io::MemoryDriver;
use futures::FutureExt;
use std::ops::Range;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;

/// The compressed files damaged here, and a tile of each to damage (zero-based).
const FILES: [(&str, u64); 5] = [
    ("m13_rice.fits", 200),
    ("m13_gzip.fits", 200),
    ("m13_hcomp.fits", 0),
    ("m13_plio.fits", 200),
    ("compressed_with_nan.fits", 2),
];

fn corpus(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/corpus").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A compressed file whose HDU 1 is a tile-compressed image, with the byte positions of its
/// header, table and heap, found from the header cards and the raw descriptors.
#[derive(Debug, Clone)]
struct Compressed {
    name: &'static str,
    bytes: Vec<u8>,
    /// HDU 1's header (whole 80-byte cards, END and padding included).
    header: Range<usize>,
    data_start: usize,
    data_len: usize,
    row_len: usize,
    rows: usize,
    /// Absolute offset of the heap.
    heap_start: usize,
    heap_len: usize,
    /// Bytes per element of the COMPRESSED_DATA column (1 for `1PB`, 2 for `1PI`).
    elem: usize,
}

impl Compressed {
    fn open(name: &'static str) -> Compressed {
        let bytes = corpus(name);
        let index = IndexDecoder::decode_all(&bytes).unwrap();
        let hdu = &index.hdus[1];
        let h = &hdu.header;
        let int = |k: &str| h.int(k).unwrap().map(|v| v as usize);
        let (row_len, rows, pcount) = (int("NAXIS1").unwrap(), int("NAXIS2").unwrap(), int("PCOUNT").unwrap());
        let data_start = hdu.layout.data_start as usize;
        let theap = int("THEAP").unwrap_or(row_len * rows);
        let form = h.string("TFORM1").unwrap().unwrap().trim().to_string();
        assert_eq!(h.string("TTYPE1").unwrap(), Some("COMPRESSED_DATA"), "{name}: the first column holds the tiles");
        let elem = match form.as_bytes().get(2) {
            Some(b'B') => 1,
            Some(b'I') => 2,
            _ => panic!("{name}: TFORM1 = {form}"),
        };
        assert!(form.starts_with("1P"), "{name}: 32-bit descriptors");
        Compressed {
            name,
            header: hdu.layout.header_start as usize..data_start,
            data_start,
            data_len: row_len * rows + pcount,
            row_len,
            rows,
            heap_start: data_start + theap,
            heap_len: row_len * rows + pcount - theap,
            elem,
            bytes,
        }
    }

    /// The descriptor (element count, heap offset) of zero-based tile `k`, read from its row.
    fn descriptor(&self, k: u64) -> (i32, i32) {
        let at = self.data_start + k as usize * self.row_len;
        let word = |o: usize| i32::from_be_bytes(self.bytes[at + o..at + o + 4].try_into().unwrap());
        (word(0), word(4))
    }

    fn set_descriptor(&mut self, k: u64, count: i32, offset: i32) {
        let at = self.data_start + k as usize * self.row_len;
        self.bytes[at..at + 4].copy_from_slice(&count.to_be_bytes());
        self.bytes[at + 4..at + 8].copy_from_slice(&offset.to_be_bytes());
    }

    /// The absolute file range of tile `k`'s compressed bytes.
    fn tile_range(&self, k: u64) -> Range<usize> {
        let (count, offset) = self.descriptor(k);
        let start = self.heap_start + offset as usize;
        start..start + count as usize * self.elem
    }

    /// The position of the card `keyword` in HDU 1's header.
    fn card(&self, keyword: &str) -> Option<usize> {
        self.header.clone().step_by(80).find(|&at| {
            let key = std::str::from_utf8(&self.bytes[at..at + 8]).unwrap();
            key.trim_end() == keyword && self.bytes[at + 8..at + 10] == *b"= "
        })
    }

    /// Replaces a card's value in place (the comment is dropped; the card keeps its 80 columns).
    /// Strings are given with their quotes: `'RICE_2  '`.
    fn set_card(&mut self, keyword: &str, value: &str) -> &mut Self {
        let at = self.card(keyword).unwrap_or_else(|| panic!("{}: no card {keyword}", self.name));
        self.bytes[at..at + 80].copy_from_slice(&card(keyword, value));
        self
    }

    /// Adds a card before END (which must not be the last card of its block).
    fn add_card(&mut self, keyword: &str, value: &str) -> &mut Self {
        let end = self.header.clone().step_by(80).find(|&at| self.bytes[at..at + 80].starts_with(b"END     "));
        let end = end.unwrap_or_else(|| panic!("{}: no END", self.name));
        assert!(end + 80 < self.header.end, "{}: END is the last card of the header", self.name);
        self.bytes.copy_within(end..end + 80, end + 80);
        self.bytes[end..end + 80].copy_from_slice(&card(keyword, value));
        self
    }

    fn damage(&mut self, range: Range<usize>, how: Damage) -> &mut Self {
        let bytes = &mut self.bytes[range];
        match how {
            Damage::Flip => bytes.iter_mut().for_each(|b| *b = !*b),
            Damage::Fill(v) => bytes.fill(v),
            Damage::Noise(seed) => {
                let mut x = seed | 1;
                for b in bytes {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    *b = x as u8;
                }
            }
            Damage::FlipByte(i) => {
                let i = i.min(bytes.len() - 1);
                bytes[i] ^= 0x5A;
            }
        }
        self
    }

    /// A copy of the (damaged) file.
    fn bytes(&self) -> Vec<u8> {
        self.bytes.clone()
    }
}

/// An 80-column card `KEYWORD = value`, value right-aligned to column 30 (strings left-aligned).
fn card(keyword: &str, value: &str) -> [u8; 80] {
    let text = if value.starts_with('\'') {
        format!("{keyword:<8}= {value:<20}")
    } else {
        format!("{keyword:<8}= {value:>20}")
    };
    let mut out = [b' '; 80];
    out[..text.len()].copy_from_slice(text.as_bytes());
    out
}

#[derive(Debug, Clone, Copy)]
enum Damage {
    /// Every bit inverted.
    Flip,
    /// Every byte set to a value.
    Fill(u8),
    /// Pseudo-random bytes from a seed.
    Noise(u64),
    /// One byte changed, at this index of the range (clipped).
    FlipByte(usize),
}

/// Reads `section` (all of it when `None`) of HDU 1 as `f64`. A panic anywhere in the library
/// fails the test with `case` in the message.
async fn read(
    case: &str,
    bytes: Vec<u8>,
    section: Option<SliceInfo<Vec<SliceInfoElem>, IxDyn, IxDyn>>,
) -> Result<ArrayD<f64>, String> {
    let run = async move {
        let fits = Fits::from_driver(Arc::new(MemoryDriver::new("mem.fits", bytes))).await?;
        let image = fits.image(1)?;
        match section {
            Some(s) => image.section().slice(s)?.read::<f64>().await,
            None => image.read::<f64>().await,
        }
    };
    match AssertUnwindSafe(run).catch_unwind().await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(panic) => {
            let msg =
                panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()));
            panic!("{case}: the library panicked: {}", msg.unwrap_or_default())
        }
    }
}

fn rows(range: Range<isize>) -> SliceInfo<Vec<SliceInfoElem>, IxDyn, IxDyn> {
    let elems = vec![
        SliceInfoElem::Slice { start: range.start, end: Some(range.end), step: 1 },
        SliceInfoElem::Slice { start: 0, end: None, step: 1 },
    ];
    SliceInfo::try_from(elems).unwrap()
}

/// Asserts an error naming HDU 1 and (one-based) tile `k + 1`.
fn assert_tile_error(case: &str, result: &Result<ArrayD<f64>, String>, k: u64) {
    match result {
        Ok(_) => panic!("{case}: read without error"),
        Err(e) => {
            assert!(e.contains("HDU 1:"), "{case}: the error does not name HDU 1: {e}");
            assert!(e.contains(&format!("tile {} (", k + 1)), "{case}: the error does not name tile {}: {e}", k + 1);
        }
    }
}

/// Asserts an error naming HDU 1 and every one of `words`.
fn assert_error(case: &str, result: &Result<ArrayD<f64>, String>, words: &[&str]) {
    match result {
        Ok(_) => panic!("{case}: read without error"),
        Err(e) => {
            assert!(e.contains("HDU 1:"), "{case}: the error does not name HDU 1: {e}");
            for w in words {
                assert!(e.contains(w), "{case}: the error does not mention {w:?}: {e}");
            }
        }
    }
}

/// Whether two images are equal, NaN equal to NaN.
fn same(a: &ArrayD<f64>, b: &ArrayD<f64>) -> bool {
    a.shape() == b.shape() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// The pixels of `image` outside the region of the damaged tile `k` (whole tile rows for the
/// m13 files but m13_hcomp, a 6 × 6 block for compressed_with_nan); empty for m13_hcomp,
/// which is one tile.
fn outside_tile(name: &str, image: &ArrayD<f64>, k: u64) -> Vec<u64> {
    let (ty, tx) = match name {
        "compressed_with_nan.fits" => (6, 6),
        "m13_hcomp.fits" => (300, 300),
        _ => (1, 300),
    };
    let grid_x = image.shape()[1].div_ceil(tx);
    let (gy, gx) = (k as usize / grid_x, k as usize % grid_x);
    image.indexed_iter().filter(|(i, _)| !(i[0] / ty == gy && i[1] / tx == gx)).map(|(_, v)| v.to_bits()).collect()
}

/// (a) One tile's compressed bytes overwritten or flipped. GZIP has a CRC, so every damage to
/// the data is an error (a changed time stamp in the gzip header is harmless); RICE_1,
/// HCOMPRESS_1 and PLIO_1 have no checksum, so damage may decode to other values, but then
/// every other tile must read as before.
#[tokio::test]
async fn damaged_tile_bytes() {
    let damages = [
        Damage::Flip,
        Damage::Fill(0),
        Damage::Fill(0xFF),
        Damage::Noise(7),
        Damage::Noise(99),
        Damage::FlipByte(0),
        Damage::FlipByte(5),
        Damage::FlipByte(40),
        Damage::FlipByte(usize::MAX),
    ];
    for (name, k) in FILES {
        let file = Compressed::open(name);
        let good = read(name, file.bytes(), None).await.unwrap();
        let mut detected = 0;
        for how in damages {
            let case = format!("{name}: tile {k} damaged by {how:?}");
            let mut f = file.clone();
            let range = f.tile_range(k);
            f.damage(range, how);
            let result = read(&case, f.bytes(), None).await;
            match &result {
                Err(_) => {
                    assert_tile_error(&case, &result, k);
                    detected += 1;
                }
                // The CRC covers the data, not the gzip header's time stamp and flags.
                Ok(image) if name == "m13_gzip.fits" => {
                    assert!(same(image, &good), "{case}: the gzip CRC must catch damage to the data")
                }
                Ok(image) => assert_eq!(
                    outside_tile(name, image, k),
                    outside_tile(name, &good, k),
                    "{case}: other tiles changed"
                ),
            }
        }
        eprintln!("{name}: {detected} of {} damages to tile {k} detected", damages.len());
    }
}

/// A section that does not touch the damaged tile reads exactly as before: only the touched
/// tiles' rows and heap bytes are read.
#[tokio::test]
async fn untouched_tiles_still_read() {
    for (name, k) in FILES.into_iter().filter(|(n, _)| n.starts_with("m13_") && *n != "m13_hcomp.fits") {
        let file = Compressed::open(name);
        let good = read(name, file.bytes(), Some(rows(0..100))).await.unwrap();
        let mut f = file.clone();
        let range = f.tile_range(k);
        f.damage(range, Damage::Noise(3));
        let case = format!("{name}: tile {k} damaged, rows 0..100 read");
        assert!(same(&read(&case, f.bytes(), Some(rows(0..100))).await.unwrap(), &good), "{case}");
        // Its descriptor pointing far past the heap does not matter either.
        f.set_descriptor(k, 1000, i32::MAX - 10);
        assert!(same(&read(&case, f.bytes(), Some(rows(0..100))).await.unwrap(), &good), "{case} (bad descriptor)");
        // Rows after it are fine too; the section that holds it is not.
        let after = read(&case, file.bytes(), Some(rows(201..300))).await.unwrap();
        assert!(same(&read(&case, f.bytes(), Some(rows(201..300))).await.unwrap(), &after), "{case} (rows 201..300)");
        assert_tile_error(&case, &read(&case, f.bytes(), Some(rows(150..250))).await, k);
    }
    // compressed_with_nan: tile 2 (zero-based) is the lower left 6 × 6 block.
    let file = Compressed::open("compressed_with_nan.fits");
    let good = read("nan", file.bytes(), None).await.unwrap();
    let mut f = file.clone();
    f.set_descriptor(2, 5000, 0);
    let top = read("compressed_with_nan: tile 2 past the heap, rows 0..6", f.bytes(), Some(rows(0..6))).await.unwrap();
    assert!(same(&top, &good.slice(s![0..6, ..]).to_owned().into_dyn()));
    let right = SliceInfo::try_from(vec![
        SliceInfoElem::Slice { start: 6, end: None, step: 1 },
        SliceInfoElem::Slice { start: 6, end: None, step: 1 },
    ])
    .unwrap();
    let corner = read("compressed_with_nan: rows 6.., columns 6..", f.bytes(), Some(right)).await.unwrap();
    assert!(same(&corner, &good.slice(s![6.., 6..]).to_owned().into_dyn()));
    let case = "compressed_with_nan: tile 2 past the heap, rows 6..12";
    assert_tile_error(case, &read(case, f.bytes(), Some(rows(6..12))).await, 2);
}

/// (b) A tile cut short: its descriptor's count reduced.
#[tokio::test]
async fn truncated_tile() {
    for (name, k) in FILES {
        let file = Compressed::open(name);
        let (count, offset) = file.descriptor(k);
        for (what, n, must_fail) in [
            ("half", count / 2, true),
            ("one element", 1, true),
            ("no element", 0, true),
            ("all but the last element", count - 1, name == "m13_gzip.fits" || name == "m13_plio.fits"),
        ] {
            let case = format!("{name}: tile {k} cut to {what} ({n} of {count} elements)");
            let mut f = file.clone();
            f.set_descriptor(k, n, offset);
            let result = read(&case, f.bytes(), None).await;
            if must_fail || result.is_err() {
                assert_tile_error(&case, &result, k);
            } else {
                eprintln!("{case}: reads without error");
            }
        }
    }
}

/// (c) A descriptor pointing past the heap, or negative.
#[tokio::test]
async fn heap_pointer_past_the_heap() {
    for (name, k) in FILES {
        let file = Compressed::open(name);
        let (count, offset) = file.descriptor(k);
        let heap_elems = (file.heap_len / file.elem) as i32;
        let heap = file.heap_len as i32;
        for (what, n, at) in [
            ("offset at the heap's end", count, heap),
            ("offset so the end is one byte past the heap", count, heap - count * file.elem as i32 + 1),
            ("offset i32::MAX", count, i32::MAX),
            ("negative offset", count, -1),
            ("count larger than the heap", heap_elems + 1, offset),
            ("count i32::MAX", i32::MAX, offset),
            ("negative count", -5, offset),
        ] {
            let case = format!("{name}: tile {k} descriptor with {what} ({n}, {at})");
            let mut f = file.clone();
            f.set_descriptor(k, n, at);
            assert_tile_error(&case, &read(&case, f.bytes(), None).await, k);
        }
    }
}

/// (d) Tiles that decode to another size than the header gives them: the image and tile
/// widths changed together (tile count unchanged), so every tile's data is for another size.
/// Sections read one tile, so the tile named is known.
#[tokio::test]
async fn tile_of_the_wrong_size() {
    // m13 files: one tile per image row of 300 pixels.
    for name in ["m13_rice.fits", "m13_gzip.fits", "m13_plio.fits"] {
        for width in [1200, 600, 450, 299] {
            let case = format!("{name}: ZNAXIS1 = ZTILE1 = {width}, 300-pixel tiles");
            let mut f = Compressed::open(name);
            f.set_card("ZNAXIS1", &width.to_string()).set_card("ZTILE1", &width.to_string());
            let result = read(&case, f.bytes(), Some(rows(5..6))).await;
            // RICE_1 ignores bytes after the last pixel, as cfitsio does: a longer stream is
            // not an error. Too few pixels always is.
            if width < 300 && name == "m13_rice.fits" && result.is_ok() {
                continue;
            }
            // m13_gzip stores its 16-bit pixels as 4-byte integers (an old cfitsio convention),
            // and GZIP tiles carry no size: as in cfitsio and astropy, the value width is
            // inferred from the decompressed length, so 1200 bytes for 600 pixels are read as
            // 2-byte values. Ambiguous by convention; no panic is all that can be asked. (1200
            // bytes for 1200 pixels would be 1-byte values, narrower than ZBITPIX: an error.)
            if width == 600 && name == "m13_gzip.fits" {
                continue;
            }
            assert_tile_error(&case, &result, 5);
        }
    }
    // HCOMPRESS: the stream's own header gives 300 × 300.
    for (nx, ny) in [("300", "299"), ("200", "300"), ("400", "400")] {
        let case = format!("m13_hcomp.fits: {nx} × {ny}");
        let mut f = Compressed::open("m13_hcomp.fits");
        f.set_card("ZNAXIS1", nx).set_card("ZTILE1", nx).set_card("ZNAXIS2", ny).set_card("ZTILE2", ny);
        assert_tile_error(&case, &read(&case, f.bytes(), None).await, 0);
    }
    // compressed_with_nan: tiles of 8 × 8 where the data holds 6 × 6 (still 4 tiles).
    let case = "compressed_with_nan.fits: 16 × 16 in tiles of 8 × 8";
    let mut f = Compressed::open("compressed_with_nan.fits");
    for key in ["ZNAXIS1", "ZNAXIS2"] {
        f.set_card(key, "16");
    }
    for key in ["ZTILE1", "ZTILE2"] {
        f.set_card(key, "8");
    }
    let lower_left = SliceInfo::try_from(vec![
        SliceInfoElem::Slice { start: 8, end: None, step: 1 },
        SliceInfoElem::Slice { start: 0, end: Some(8), step: 1 },
    ])
    .unwrap();
    assert_tile_error(case, &read(case, f.bytes(), Some(lower_left)).await, 2);
    // Tiles of different sizes: ZTILE1 = 8 makes tile 0 8 × 6 and tile 1 4 × 6, while both
    // streams hold 6 × 6 pixels. Tile 0 runs out of data; tile 1 is a longer stream, which
    // RICE_1 accepts as cfitsio does (it reads only the pixels it needs).
    let mut f = Compressed::open("compressed_with_nan.fits");
    f.set_card("ZTILE1", "8");
    let case = "compressed_with_nan.fits: ZTILE1 = 8, tile 0 of 8 × 6 from 6 × 6 pixels' data";
    assert_tile_error(case, &read(case, f.bytes(), Some(rows(0..6))).await, 0);
    // Tile 0 pointed at tile 3's bytes (same size) reads tile 3's pixels with tile 0's ZSCALE:
    // no error, other tiles unchanged.
    let file = Compressed::open("compressed_with_nan.fits");
    let good = read("nan", file.bytes(), None).await.unwrap();
    let mut f = file.clone();
    let (count, offset) = f.descriptor(3);
    f.set_descriptor(0, count, offset);
    let image = read("compressed_with_nan.fits: tile 0 pointing at tile 3", f.bytes(), None).await.unwrap();
    assert_eq!(outside_tile(f.name, &image, 0), outside_tile(f.name, &good, 0));
}

/// (e) The file cut short inside the heap: a read that needs the missing bytes fails naming
/// HDU 1 and the truncated data; one that does not still reads.
#[tokio::test]
async fn file_cut_inside_the_heap() {
    for (name, k) in FILES {
        let file = Compressed::open(name);
        let tile = file.tile_range(k);
        let cut = tile.start + tile.len() / 2;
        assert!(cut < file.data_start + file.data_len, "{name}: the cut lies inside the data");
        let case = format!("{name}: file cut at byte {cut}, inside tile {k}");
        let result = read(&case, file.bytes[..cut].to_vec(), None).await;
        assert_error(&case, &result, &["data cut short"]);
        if name.starts_with("m13_") && name != "m13_hcomp.fits" {
            // Tiles 0..100 lie before the cut (the heap is in tile order in these files).
            let good = read(name, file.bytes(), Some(rows(0..100))).await.unwrap();
            assert!(tile.start > file.tile_range(99).end, "{name}: heap in tile order");
            assert!(same(&read(&case, file.bytes[..cut].to_vec(), Some(rows(0..100))).await.unwrap(), &good), "{case}");
        }
        if name == "compressed_with_nan.fits" {
            // Tiles 0 and 1 (rows 0..6) lie before the cut.
            let good = read(name, file.bytes(), Some(rows(0..6))).await.unwrap();
            assert!(same(&read(&case, file.bytes[..cut].to_vec(), Some(rows(0..6))).await.unwrap(), &good), "{case}");
        }
    }
    // Cut inside the table: even the rows cannot be read.
    let file = Compressed::open("m13_rice.fits");
    let cut = file.data_start + 100 * file.row_len + 3;
    let case = "m13_rice.fits: file cut inside row 101 of the table";
    assert_error(case, &read(case, file.bytes[..cut].to_vec(), Some(rows(0..101))).await, &["data cut short"]);
}

/// What is wrong, the file, the cards changed (keyword, value), and words the error must hold.
type HeaderCase = (&'static str, &'static str, &'static [(&'static str, &'static str)], &'static [&'static str]);

/// (f) Header values that make the table unreadable: errors name HDU 1 and the keyword.
#[tokio::test]
async fn bad_header_values() {
    let cases: [HeaderCase; 9] = [
        ("NAXIS2 one less than the tiles", "m13_rice.fits", &[("NAXIS2", "299")], &["NAXIS2", "300 tiles"]),
        ("NAXIS2 one more than the tiles", "m13_gzip.fits", &[("NAXIS2", "301")], &["NAXIS2", "300 tiles"]),
        ("ZTILE1 = 0", "m13_rice.fits", &[("ZTILE1", "0")], &["ZTILE1"]),
        ("ZTILE2 = -1", "compressed_with_nan.fits", &[("ZTILE2", "-1")], &["ZTILE2"]),
        ("unknown ZCMPTYPE", "m13_rice.fits", &[("ZCMPTYPE", "'RICE_2  '")], &["ZCMPTYPE", "RICE_2"]),
        ("unknown ZCMPTYPE", "m13_plio.fits", &[("ZCMPTYPE", "'PLIO_9  '")], &["ZCMPTYPE", "PLIO_9"]),
        ("BYTEPIX = 3", "compressed_with_nan.fits", &[("ZVAL2", "3")], &["BYTEPIX", "3"]),
        ("BYTEPIX = 3", "m13_rice.fits", &[("ZNAME1", "'BYTEPIX '"), ("ZVAL1", "3")], &["BYTEPIX", "3"]),
        ("BYTEPIX = 8", "compressed_with_nan.fits", &[("ZVAL2", "8")], &["BYTEPIX", "8"]),
    ];
    for (what, name, edits, words) in cases {
        let case = format!("{name}: {what}");
        let mut f = Compressed::open(name);
        for (key, value) in edits {
            f.set_card(key, value);
        }
        assert_error(&case, &read(&case, f.bytes(), None).await, words);
    }
    // THEAP beyond the data, and inside the table.
    for name in ["m13_rice.fits", "m13_hcomp.fits", "compressed_with_nan.fits"] {
        let file = Compressed::open(name);
        let table = file.row_len * file.rows;
        for theap in [file.data_len + 1, file.data_len + 100_000, table - 1] {
            let case = format!("{name}: THEAP = {theap} (table {table} bytes, data {})", file.data_len);
            let mut f = file.clone();
            f.add_card("THEAP", &theap.to_string());
            assert_error(&case, &read(&case, f.bytes(), None).await, &["THEAP"]);
        }
        // THEAP = the data length: an empty heap, so every tile points past it.
        let case = format!("{name}: THEAP = data length (empty heap)");
        let mut f = file.clone();
        f.add_card("THEAP", &file.data_len.to_string());
        assert_tile_error(&case, &read(&case, f.bytes(), Some(rows(0..1))).await, 0);
    }
}

/// A header can declare an image far larger than memory: reading it is an error naming the HDU
/// (the output cannot be allocated, or the first tile holds too few pixels), never an abort.
#[tokio::test]
async fn a_huge_declared_image_is_an_error_not_an_abort() {
    let case = "m13_rice.fits: ZNAXIS1 = ZTILE1 = 100000000";
    let mut f = Compressed::open("m13_rice.fits");
    f.set_card("ZNAXIS1", "100000000").set_card("ZTILE1", "100000000");
    // 300 rows of 10^8 pixels: 240 GB of f64.
    let whole = read(case, f.bytes(), None).await;
    match &whole {
        Err(e) if e.contains("cannot allocate") => assert!(e.contains("HDU 1:"), "{e}"),
        _ => assert_tile_error(case, &whole, 0),
    }
    // One row (800 MB) can be allocated: its tile holds 300 pixels, not 10^8.
    assert_tile_error(case, &read(case, f.bytes(), Some(rows(5..6))).await, 5);
}
