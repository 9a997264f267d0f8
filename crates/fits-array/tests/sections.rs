//! Sections against ndarray: every slice form gives what ndarray gives on the same data, reading only the bytes it needs.

mod common;

use common::{Recording, fits_bytes, open_memory};
use fits_array::Fits;
use ndarray::{Array, Array3, ArrayD, NewAxis, s};

fn cube() -> (Array3<i32>, Vec<u8>) {
    let a = Array::from_shape_fn((7, 10, 11), |(k, j, i)| (k * 1000 + j * 20 + i) as i32 - 3000);
    let bytes = fits_bytes(&[7, 10, 11], a.as_slice().unwrap(), &[]);
    (a, bytes)
}

#[tokio::test]
async fn slices_match_ndarray() {
    let (a, bytes) = cube();
    let fits = open_memory(bytes).await;
    let img = fits.image(0).unwrap();
    let sec = img.section().into_dimensionality::<ndarray::Ix3>().unwrap();
    macro_rules! check {
        ($($info:tt)*) => {{
            let ours = sec.slice(s![$($info)*]).unwrap().read::<i32>().await.unwrap();
            let theirs = a.slice(s![$($info)*]).to_owned();
            assert_eq!(ours, theirs, "s![{}]", stringify!($($info)*));
        }};
    }
    check!(.., .., ..);
    check!(1..4, 2..9, 3..5);
    check!(0, .., ..);
    check!(.., 5, 5);
    check!(-1, -3.., ..-2);
    check!(..;2, 1..;3, ..;4);
    check!(..;-1, .., ..);
    check!(1..6;-2, ..;-3, 2);
    check!(.., NewAxis, 3, 0..0);
    check!(6, 9, 10);
    check!(2..2, .., ..);
    check!(NewAxis, 1..3, NewAxis, ..5, ..);
}

#[tokio::test]
async fn slices_compose() {
    let (a, bytes) = cube();
    let fits = open_memory(bytes).await;
    let sec = fits.image(0).unwrap().section().into_dimensionality::<ndarray::Ix3>().unwrap();
    let twice = sec.slice(s![1..7;2, ..;-1, 2..10]).unwrap().slice(s![1.., 3..8;2, -4]).unwrap();
    let expect = a.slice(s![1..7;2, ..;-1, 2..10]).slice(s![1.., 3..8;2, -4]).to_owned();
    assert_eq!(twice.read::<i32>().await.unwrap(), expect);
    assert_eq!(twice.shape(), expect.shape());
    let axis = sec.slice_axis(1, ndarray::Slice::new(2, Some(-2), 3)).unwrap();
    assert_eq!(
        axis.read::<i32>().await.unwrap(),
        a.slice_axis(ndarray::Axis(1), ndarray::Slice::new(2, Some(-2), 3)).to_owned()
    );
}

#[tokio::test]
async fn out_of_bounds_is_an_error_not_a_panic() {
    let (_, bytes) = cube();
    let fits = open_memory(bytes).await;
    let sec = fits.image(0).unwrap().section();
    for e in [
        sec.slice(s![7, .., ..]).unwrap_err(),
        sec.slice(s![.., 0..11, ..]).unwrap_err(),
        sec.slice(s![.., .., -12..]).unwrap_err(),
        sec.slice(s![.., ..]).unwrap_err(),
        sec.slice(&[ndarray::SliceInfoElem::Slice { start: 0, end: None, step: 0 }, 0.into(), 0.into()][..])
            .unwrap_err(),
    ] {
        let m = e.to_string();
        assert!(m.contains("mem.fits") && m.contains("HDU 0"), "{m}");
    }
}

#[tokio::test]
#[allow(clippy::reversed_empty_ranges)] // ndarray reads `1..-1` as "from 1 to one before the end"
async fn dynamic_slices_from_elements() {
    let (a, bytes) = cube();
    let fits = open_memory(bytes).await;
    let sec = fits.image(0).unwrap().section();
    let elems = [
        ndarray::SliceInfoElem::Index(2),
        ndarray::SliceInfoElem::Slice { start: 1, end: Some(-1), step: 2 },
        ndarray::SliceInfoElem::Slice { start: 0, end: None, step: 1 },
    ];
    let got: ArrayD<i32> = sec.slice(&elems[..]).unwrap().read().await.unwrap();
    assert_eq!(got, a.slice(s![2, 1..-1;2, ..]).to_owned().into_dyn());
    assert_eq!(got.shape(), &[4, 11]);
}

#[tokio::test]
async fn reads_only_the_rows_a_cutout_touches() {
    // 4 bytes per pixel, 100 x 200 image; header is one block.
    let values: Vec<f32> = (0..100 * 200).map(|i| i as f32).collect();
    let bytes = fits_bytes(&[100, 200], &values, &[]);
    let rec = Recording::new(bytes);
    let fits = Fits::from_driver(rec.clone()).await.unwrap();
    rec.take();
    let img = fits.image(0).unwrap();
    let cut = img.section().slice(s![10..13, 50..60]).unwrap();
    let data = cut.read::<f32>().await.unwrap();
    assert_eq!(data[[0, 0]], (10 * 200 + 50) as f32);
    let row = |r: u64| 2880 + (r * 200 + 50) * 4..2880 + (r * 200 + 60) * 4;
    assert_eq!(rec.take(), vec![row(10), row(11), row(12)]);
    // A spectrum-like column: one element per row.
    img.section().slice(s![..3, 7]).unwrap().read::<f32>().await.unwrap();
    assert_eq!(rec.take(), vec![2880 + 28..2880 + 32, 2880 + 828..2880 + 832, 2880 + 1628..2880 + 1632]);
    // Whole rows merge into one range; the whole image is one range.
    img.section().slice(s![5..8, ..]).unwrap().read::<f32>().await.unwrap();
    assert_eq!(rec.take(), vec![2880 + 5 * 800..2880 + 8 * 800]);
    img.read::<f64>().await.unwrap();
    assert_eq!(rec.take(), vec![2880..2880 + 80_000]);
    assert_eq!(cut.byte_ranges(), vec![row(10), row(11), row(12)]);
}

#[tokio::test]
async fn opening_reads_one_block_run_per_header() {
    let values = vec![0i16; 50_000];
    let mut bytes = fits_bytes(&[50_000], &values, &[]);
    common::push_extension(&mut bytes, &[10], &[1u8; 10], "SMALL");
    let rec = Recording::new(bytes.clone());
    let fits = Fits::from_driver(rec.clone()).await.unwrap();
    assert_eq!(fits.len(), 2);
    // The first read covers header 0; the second header lies past it: one more request.
    let log = rec.take();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[0], 0..66240.min(bytes.len() as u64));
    assert_eq!(log[1].start, 2880 + 100_800);
}

#[tokio::test]
async fn typed_and_raw_reads() {
    let values: Vec<i16> = vec![-32768, -1, 0, 1, 32767, 100];
    let bytes = fits_bytes(&[2, 3], &values, &[("BZERO", 32768i64.into()), ("BSCALE", 1i64.into())]);
    let fits = open_memory(bytes).await;
    let img = fits.image(0).unwrap();
    assert_eq!(img.dtype(), fits_core::DType::U16);
    let u: ArrayD<u16> = img.read().await.unwrap();
    assert_eq!(u.as_slice().unwrap(), &[0, 32767, 32768, 32769, 65535, 32868]);
    let raw: ArrayD<i16> = img.read_raw().await.unwrap();
    assert_eq!(raw.as_slice().unwrap(), &values[..]);
    let f: ArrayD<f64> = img.read().await.unwrap();
    assert_eq!(f[[1, 1]], 65535.0);
    let e = img.read::<i16>().await.unwrap_err().to_string();
    assert!(e.contains("HDU 0") && e.contains("int16") && e.contains("does not fit"), "{e}");
    let e = img.read_raw::<f32>().await.unwrap_err().to_string();
    assert!(e.contains("raw values of BITPIX 16 are int16"), "{e}");
    let data = img.read_dyn().await.unwrap();
    assert_eq!(data.dtype(), fits_core::DType::U16);
    assert_eq!(data.shape(), &[2, 3]);
}

#[tokio::test]
async fn planes_stream_along_the_first_axis() {
    let (a, bytes) = cube();
    let fits = open_memory(bytes).await;
    let img = fits.image(0).unwrap();
    let mut planes = img.planes();
    assert_eq!(planes.len(), 7);
    let mut seen = 0;
    while let Some(p) = planes.next::<i32>().await {
        let (k, plane) = p.unwrap();
        assert_eq!(plane, a.slice(s![k, .., ..]).to_owned().into_dyn());
        seen += 1;
    }
    assert_eq!(seen, 7);
}

#[test]
fn blocking_facade_reads() {
    let (a, bytes) = cube();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cube.fits");
    std::fs::write(&path, bytes).unwrap();
    let fits = fits_array::blocking::Fits::open(path.to_str().unwrap()).unwrap();
    let img = fits.image(0).unwrap();
    let got = img.section().slice(s![3, 2..4, ..]).unwrap().read::<i64>().unwrap();
    assert_eq!(got, a.slice(s![3, 2..4, ..]).mapv(i64::from));
}

#[tokio::test]
async fn opening_can_stop_at_the_wanted_hdu() {
    let values = vec![0i16; 50_000];
    let mut bytes = fits_bytes(&[50_000], &values, &[]);
    common::push_extension(&mut bytes, &[10], &[1u8; 10], "SMALL");
    common::push_extension(&mut bytes, &[3], &[2u8; 3], "LAST");
    let rec = Recording::new(bytes.clone());
    let fits = Fits::from_driver_until(rec.clone(), fits_array::IndexDepth::FirstWithData).await.unwrap();
    assert!(!fits.is_complete());
    assert_eq!(fits.len(), 1);
    assert_eq!(rec.take().len(), 1, "one read: HDU 0 holds data");
    // The read that brings HDU 1's header also holds HDU 2's: listed at no cost, nothing more read.
    let fits = Fits::from_driver_until(rec.clone(), fits_array::IndexDepth::Until("SMALL".into())).await.unwrap();
    assert_eq!(fits.hdu("SMALL").unwrap().index(), 1);
    assert!(fits.hdu("LAST").is_ok());
    assert_eq!(rec.take().len(), 2);
    let e = fits.hdu(5).unwrap_err().to_string();
    assert!(e.contains("no HDU 5"), "{e}");
    let all = Fits::from_driver(rec.clone()).await.unwrap();
    assert!(all.is_complete());
    assert_eq!(all.len(), 3);
}
