//! Micro-benchmarks of the format core: big-endian decoding with and without scaling, and checksums.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fits::core::{Bitpix, Conversion, Scaling, checksum, decode_into};
use std::hint::black_box;

fn decode(c: &mut Criterion) {
    let n = 4 << 20;
    let src: Vec<u8> = (0..n * 4).map(|i| (i * 31 % 251) as u8).collect();
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Bytes((n * 4) as u64));
    let mut f32s = vec![0f32; n];
    g.bench_function("f32_raw", |b| {
        b.iter(|| decode_into(black_box(&src), 1, &Conversion::raw(Bitpix::F32), &mut f32s).unwrap())
    });
    let mut i16_to_f32 = vec![0f32; n * 2];
    let scaled = Conversion::physical(Bitpix::I16, Scaling { bscale: 0.02, bzero: 600.0, blank: Some(-32768) });
    g.bench_function("i16_scaled_blank_to_f32", |b| {
        b.iter(|| decode_into(black_box(&src), 1, &scaled, &mut i16_to_f32).unwrap())
    });
    let mut u16s = vec![0u16; n * 2];
    let unsigned = Conversion::physical(Bitpix::I16, Scaling { bscale: 1.0, bzero: 32768.0, blank: None });
    g.bench_function("i16_to_u16", |b| b.iter(|| decode_into(black_box(&src), 1, &unsigned, &mut u16s).unwrap()));
    g.bench_function("checksum", |b| b.iter(|| checksum::sum32(black_box(&src))));
    g.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
