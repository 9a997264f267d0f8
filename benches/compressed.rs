//! Tile-compressed scenarios of issue "tile compression", on the RICE_1 version of SCI
//! (one row per tile, `cargo xtask gen-data` makes it): full decode and the 350x250 cutout.
//!
//! Names are stable: `cargo xtask bench` reads `target/criterion/compressed/<name>/new/estimates.json`.

use criterion::{Criterion, criterion_group, criterion_main};
use fits::Fits;
use fits_benches::{data_file, runtime};
use ndarray::s;
use std::hint::black_box;
use std::time::Duration;

fn compressed(c: &mut Criterion) {
    let rice = match data_file("drc_rice.fits") {
        Ok(p) => p,
        Err(e) => {
            eprintln!("skipping compressed benchmarks: {e}");
            return;
        }
    };
    let rt = runtime();
    let mut g = c.benchmark_group("compressed");
    g.sample_size(10).measurement_time(Duration::from_secs(8)).warm_up_time(Duration::from_secs(2));
    g.bench_function("rice_sci_full_f32", |b| {
        b.iter(|| {
            rt.block_on(async {
                let f = Fits::open(&rice).await.unwrap();
                black_box(f.image(1).unwrap().read::<f32>().await.unwrap())
            })
        })
    });
    g.bench_function("rice_sci_cutout_350x250", |b| {
        b.iter(|| {
            rt.block_on(async {
                let f = Fits::open(&rice).await.unwrap();
                let sec = f.image(1).unwrap().section().slice(s![1600..1950, 2000..2250]).unwrap();
                black_box(sec.read::<f32>().await.unwrap())
            })
        })
    });
    g.finish();
}

criterion_group!(benches, compressed);
criterion_main!(benches);
