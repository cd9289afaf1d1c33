//! Benchmarks of the whole docs/method.md §4 smoothing (validation, kernel, LU solve, softmax) on the CPU
//! for M = 3..=8 modalities, S = 7..=255 scenarios, reference config. Names carry the device
//! and S: `cpu_smoothing_s63`.
//!
//! `cargo bench -p lssg-smoothing -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use lssg_scenario::ModalitySet;
use lssg_smoothing::{SmoothingConfig, smooth};

/// Deterministic, distinct scores in [0, 2) with D_full = 0 (the last, canonical order).
fn scores(s: usize) -> Vec<f64> {
    let mut d: Vec<f64> = (0..s).map(|i| ((i as f64 + 1.0) * 0.618_033_988_75).fract() * 2.0).collect();
    d[s - 1] = 0.0;
    d
}

fn bench_smoothing(c: &mut Criterion) {
    let config = SmoothingConfig::default();
    for m in 3..=8 {
        let set = ModalitySet::numbered(m).expect("3..=8 modalities");
        let d = scores(set.num_scenarios());
        c.bench_function(&format!("cpu_smoothing_s{}", set.num_scenarios()), |b| {
            b.iter(|| smooth(black_box(&d), &set, &config).expect("valid scores"))
        });
    }
}

criterion_group!(benches, bench_smoothing);
criterion_main!(benches);
