//! Data throughput benches (docs/method.md §8): synthetic tile generation (64 × 64, all three
//! modalities) and reading + batching through [`BatchLoader`] (batch 16, default prefetch,
//! rayon over the machine's cores). Names are prefixed by the device.
//!
//! `cargo bench -p lssg-datasets --bench datasets`; throughput is reported in tiles/s.
//! The `…_cputime` variants time with CPU time instead of wall time (Linux `/proc`), so on a
//! shared, oversubscribed machine they still give the throughput **per core**.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lssg_datasets::synthetic::{SyntheticConfig, SyntheticDataset};
use lssg_datasets::{BatchLoader, LoaderConfig, TileDataset};

/// CPU time of the calling thread (`/proc/thread-self/schedstat`, nanoseconds on CPU).
fn thread_cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(Duration::from_nanos(s.split_whitespace().next()?.parse().ok()?))
}

/// CPU time of the whole process, every thread (`/proc/self/stat` utime + stime, in clock
/// ticks of 10 ms as on every mainstream Linux).
fn process_cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

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
    if thread_cpu().is_some() {
        // The scheduler's accounting advances in ticks: time 64 tiles per iteration.
        const CHUNK: usize = 64;
        let mut group = c.benchmark_group("synthetic_cputime");
        group.throughput(Throughput::Elements(CHUNK as u64));
        group.sample_size(10);
        group.bench_function("cpu_synthetic_tile_64_cputime", |b| {
            b.iter_custom(|iters| {
                let t0 = thread_cpu().expect("schedstat");
                for _ in 0..iters as usize * CHUNK {
                    next = (next + 1) % ds.len();
                    black_box(ds.sample(next).expect("tile"));
                }
                thread_cpu().expect("schedstat") - t0
            })
        });
        group.finish();
    }
}

fn loader(c: &mut Criterion) {
    const TILES: usize = 256;
    let ds = Arc::new(SyntheticDataset::new(SyntheticConfig { tiles: TILES, ..Default::default() }).expect("config"));
    let loader =
        BatchLoader::new(ds, LoaderConfig { batch_size: 16, shuffle: true, ..Default::default() }).expect("loader");
    let mut group = c.benchmark_group("loader");
    group.throughput(Throughput::Elements(TILES as u64));
    group.sample_size(10);
    let epoch = |e: u64| {
        for batch in loader.epoch(e as usize) {
            black_box(batch.expect("batch"));
        }
    };
    group.bench_function("cpu_loader_batch16_epoch256", |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            (0..iters).for_each(epoch);
            t.elapsed()
        })
    });
    if process_cpu().is_some() {
        group.bench_function("cpu_loader_batch16_epoch256_cputime", |b| {
            b.iter_custom(|iters| {
                let t0 = process_cpu().expect("stat");
                (0..iters).for_each(epoch);
                process_cpu().expect("stat") - t0
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    targets = synthetic, loader
}
criterion_main!(benches);
