//! Broken input: each defect gives an error (or warning) naming the file and the defect; never a panic or a huge allocation.

mod common;

use common::fits_bytes;
use fits_array::Fits;
use std::path::PathBuf;

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> String {
    let p: PathBuf = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    p.display().to_string()
}

/// A header block from card texts.
fn header(cards: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in cards {
        let mut r = [b' '; 80];
        r[..c.len()].copy_from_slice(c.as_bytes());
        out.extend_from_slice(&r);
    }
    out.resize(out.len().div_ceil(2880) * 2880, b' ');
    out
}

async fn open_err(path: &str) -> String {
    Fits::open(path).await.unwrap_err().to_string()
}

#[tokio::test]
async fn empty_and_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let e = open_err(&write(&dir, "empty.fits", b"")).await;
    assert!(e.contains("empty.fits") && e.contains("empty file"), "{e}");
    let e = open_err(&write(&dir, "garbage.fits", &[0xAB; 10_000])).await;
    assert!(e.contains("garbage.fits") && e.contains("not a FITS file"), "{e}");
    let e = open_err(&write(&dir, "tiny.fits", b"SIMPLE  =                    T")).await;
    assert!(e.contains("less than one 2880-byte"), "{e}");
    let e = open_err(&dir.path().join("absent.fits").display().to_string()).await;
    assert!(e.contains("absent.fits") && e.contains("not found"), "{e}");
}

#[tokio::test]
async fn header_cut_short_and_no_end() {
    let dir = tempfile::tempdir().unwrap();
    let full = fits_bytes(&[4, 4], &[0f32; 16], &[]);
    let e = open_err(&write(&dir, "cut.fits", &full[..1000])).await;
    assert!(e.contains("cut.fits") && e.contains("less than one"), "{e}");
    let no_end =
        header(&["SIMPLE  =                    T", "BITPIX  =                    8", "NAXIS   =                    0"]);
    let e = open_err(&write(&dir, "noend.fits", &no_end)).await;
    assert!(e.contains("noend.fits") && e.contains("HDU 0") && e.contains("no END"), "{e}");
    let mut ext_cut = header(&[
        "SIMPLE  =                    T",
        "BITPIX  =                    8",
        "NAXIS   =                    0",
        "EXTEND  =                    T",
        "END",
    ]);
    ext_cut.extend(&header(&["XTENSION= 'IMAGE   '", "BITPIX  =                    8"])[..1600]);
    let e = open_err(&write(&dir, "extcut.fits", &ext_cut)).await;
    assert!(e.contains("HDU 1") && e.contains("ends at byte 4480"), "{e}");
}

#[tokio::test]
async fn bad_structural_keywords() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[&str], &[&str]); 4] = [
        (
            "bitpix17.fits",
            &[
                "SIMPLE  =                    T",
                "BITPIX  =                   17",
                "NAXIS   =                    0",
                "END",
            ],
            &["HDU 0", "BITPIX", "17"],
        ),
        (
            "negaxis.fits",
            &[
                "SIMPLE  =                    T",
                "BITPIX  =                    8",
                "NAXIS   =                    2",
                "NAXIS1  =                   10",
                "NAXIS2  =                   -5",
                "END",
            ],
            &["HDU 0", "NAXIS2", "-5", "negative"],
        ),
        (
            "overflow.fits",
            &[
                "SIMPLE  =                    T",
                "BITPIX  =                  -64",
                "NAXIS   =                    3",
                "NAXIS1  =          99999999999",
                "NAXIS2  =          99999999999",
                "NAXIS3  =          99999999999",
                "END",
            ],
            &["HDU 0", "overflows"],
        ),
        (
            "nobitpix.fits",
            &["SIMPLE  =                    T", "NAXIS   =                    0", "END"],
            &["HDU 0", "BITPIX", "missing"],
        ),
    ];
    for (name, cards, needles) in cases {
        let e = open_err(&write(&dir, name, &header(cards))).await;
        assert!(e.contains(name), "{e}");
        for n in needles {
            assert!(e.contains(n), "{name}: {e} (wanted {n})");
        }
    }
}

#[tokio::test]
async fn data_beyond_the_file_is_not_allocated() {
    let dir = tempfile::tempdir().unwrap();
    // 10^9 x 10^9 doubles announced (8e18 bytes, representable); the file holds one block.
    let mut bytes = header(&[
        "SIMPLE  =                    T",
        "BITPIX  =                  -64",
        "NAXIS   =                    2",
        "NAXIS1  =           1000000000",
        "NAXIS2  =           1000000000",
        "END",
    ]);
    bytes.extend([0u8; 2880]);
    let path = write(&dir, "huge.fits", &bytes);
    let fits = Fits::open(&path).await.unwrap();
    let w = fits.warnings();
    assert!(w.iter().any(|w| w.message.contains("data cut short")), "{w:?}");
    let img = fits.image(0).unwrap();
    let e = img.read::<f64>().await.unwrap_err().to_string();
    assert!(
        e.contains("huge.fits") && e.contains("HDU 0") && e.contains("8000000000000000000") && e.contains("2880"),
        "{e}"
    );
    // A small section inside the bytes that exist still reads.
    let corner = img.section().slice(ndarray::s![0, 0..4]).unwrap().read::<f64>().await.unwrap();
    assert_eq!(corner.len(), 4);
}

#[tokio::test]
async fn data_cut_short_names_hdu_and_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let values: Vec<i16> = (0..3000).collect();
    let full = fits_bytes(&[3000], &values, &[]);
    let path = write(&dir, "short.fits", &full[..2880 + 4000]);
    let fits = Fits::open(&path).await.unwrap();
    let e = fits.image(0).unwrap().read::<i16>().await.unwrap_err().to_string();
    assert!(e.contains("short.fits") && e.contains("HDU 0") && e.contains("6000") && e.contains("4000"), "{e}");
}

#[tokio::test]
async fn non_ascii_header_bytes_warn() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = fits_bytes(&[2], &[1u8, 2], &[("OBJECT", "M13".into())]);
    let pos = bytes.windows(3).position(|w| w == b"M13").unwrap();
    bytes[pos + 1] = 0xB3;
    let fits = Fits::open(&write(&dir, "latin1.fits", &bytes)).await.unwrap();
    let w = fits.warnings();
    assert!(
        w.iter().any(|w| w.hdu == Some(0) && w.message.contains("0xb3") && w.offset == Some(pos as u64 + 1)),
        "{w:?}"
    );
}

#[tokio::test]
async fn tables_are_not_images() {
    let fits = Fits::open(&format!("{}/../../testdata/corpus/table.fits", env!("CARGO_MANIFEST_DIR"))).await.unwrap();
    let e = fits.image(1).unwrap_err().to_string();
    assert!(e.contains("HDU 1 is a bintable HDU, not an image"), "{e}");
    let e = fits.hdu("NOPE").unwrap_err().to_string();
    assert!(e.contains("no HDU \"NOPE\"") && e.contains("2 HDUs"), "{e}");
}

#[tokio::test]
async fn headers_without_data_say_so() {
    let fits =
        Fits::open(&format!("{}/../../testdata/corpus/o4sp040b0_raw.fits", env!("CARGO_MANIFEST_DIR"))).await.unwrap();
    let img = fits.image(0).unwrap();
    assert_eq!((img.ndim(), img.len()), (0, 0));
    let e = img.read::<f32>().await.unwrap_err().to_string();
    assert!(e.contains("HDU 0 has no data (NAXIS = 0)"), "{e}");
}
