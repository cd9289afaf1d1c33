//! Data throughput benches (SPEC §8): synthetic tile generation (64 × 64, all three
//! modalities) on one core, and reading + batching through [`BatchLoader`] (batch 16,
//! default prefetch, rayon over the machine's cores). Names are prefixed by the device.
//!
//! `cargo bench -p lssg-datasets --bench datasets`; throughput is reported in tiles/s.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lssg_datasets::synthetic::{SyntheticConfig, SyntheticDataset};
use lssg_datasets::{BatchLoader, LoaderConfig, TileDataset};

fn synthetic(c: &mut Criterion) {
    let ds = SyntheticDataset::new(SyntheticConfig { tiles: 1 << 20, ..Default::default() }).expect("config");
    let mut group = c.benchmark_group("synthetic");
    group.throughput(Throughput::Elements(1));
    let mut next = 0usize;
    group.bench_function("cpu_synthetic_tile_64", |b| {
        b.iter(|| {
            next = (next + 1) % ds.len();
            black_box(ds.sample(next).expect("tile"))
        })
    });
    group.finish();
}

fn loader(c: &mut Criterion) {
    const TILES: usize = 256;
    let ds = Arc::new(SyntheticDataset::new(SyntheticConfig { tiles: TILES, ..Default::default() }).expect("config"));
    let loader =
        BatchLoader::new(ds, LoaderConfig { batch_size: 16, shuffle: true, ..Default::default() }).expect("loader");
    let mut group = c.benchmark_group("loader");
    group.throughput(Throughput::Elements(TILES as u64));
    group.sample_size(10);
    group.bench_function("cpu_loader_batch16_epoch256", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for e in 0..iters {
                let t = Instant::now();
                for batch in loader.epoch(e as usize) {
                    black_box(batch.expect("batch"));
                }
                total += t.elapsed();
            }
            total
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    targets = synthetic, loader
}
criterion_main!(benches);
