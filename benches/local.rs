//! Local-file scenarios of issue "foundation": full reads, scaled cube, cutout, spectrum, plane.
//!
//! Names are stable: `cargo xtask bench` reads `target/criterion/local/<name>/new/estimates.json`.

use criterion::{Criterion, criterion_group, criterion_main};
use fits::Fits;
use fits_benches::{data_file, runtime};
use ndarray::s;
use std::hint::black_box;
use std::time::Duration;

fn local(c: &mut Criterion) {
    let (drc, cube) = match (data_file("drc_like.fits"), data_file("cube_int16.fits")) {
        (Ok(d), Ok(c)) => (d, c),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("skipping local benchmarks: {e}");
            return;
        }
    };
    let rt = runtime();
    let mut g = c.benchmark_group("local");
    g.sample_size(10).measurement_time(Duration::from_secs(8)).warm_up_time(Duration::from_secs(2));
    g.bench_function("sci_full_f32", |b| {
        b.iter(|| {
            rt.block_on(async {
                let f = Fits::open(&drc).await.unwrap();
                black_box(f.image(1).unwrap().read::<f32>().await.unwrap())
            })
        })
    });
    g.bench_function("cube_full_f32", |b| {
        b.iter(|| {
            rt.block_on(async {
                let f = Fits::open(&cube).await.unwrap();
                black_box(f.image(0).unwrap().read::<f32>().await.unwrap())
            })
        })
    });
    g.bench_function("sci_cutout_350x250", |b| {
        b.iter(|| {
            rt.block_on(async {
                let f = Fits::open(&drc).await.unwrap();
                let sec = f.image(1).unwrap().section().slice(s![1600..1950, 2000..2250]).unwrap();
                black_box(sec.read::<f32>().await.unwrap())
            })
        })
    });
    g.bench_function("cube_spectrum", |b| {
        b.iter(|| {
            rt.block_on(async {
                let f = Fits::open(&cube).await.unwrap();
                let sec = f.image(0).unwrap().section().slice(s![.., 512, 512]).unwrap();
                black_box(sec.read::<f32>().await.unwrap())
            })
        })
    });
    g.bench_function("cube_plane0", |b| {
        b.iter(|| {
            rt.block_on(async {
                let f = Fits::open(&cube).await.unwrap();
                let sec = f.image(0).unwrap().section().slice(s![0, .., ..]).unwrap();
                black_box(sec.read::<f32>().await.unwrap())
            })
        })
    });
    g.finish();
}

criterion_group!(benches, local);
criterion_main!(benches);
