//! Criterion benches of the backbones (docs/method.md §7): one training forward + backward per iteration,
//! batch 2 of 64 × 64 tiles with 3 modalities × 3 channels, at the tiny and small presets, on
//! the CPU (`cpu_` names). CBC and CBC-SLP are included when they build and run at this size.
//!
//! `cargo bench -p lssg-backbones --bench backbones`; `lssg model bench` measures samples/s with
//! the optimiser step and on CUDA.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use lssg_backbones::{BackboneKind, ModelConfig, Preset, SegmentationModel};
use tch::nn::OptimizerConfig;
use tch::{Device, Kind, Tensor, nn};

const CHANNELS: [i64; 3] = [3, 3, 3];
const BATCH: i64 = 2;
const SIZE: i64 = 64;

fn inputs() -> (Vec<Tensor>, Tensor) {
    let xs = CHANNELS.iter().map(|&c| Tensor::randn([BATCH, c, SIZE, SIZE], (Kind::Float, Device::Cpu))).collect();
    (xs, Tensor::ones([BATCH, CHANNELS.len() as i64], (Kind::Float, Device::Cpu)))
}

fn step(model: &dyn SegmentationModel, xs: &[Tensor], availability: &Tensor) {
    let out = model.forward_t(xs, availability, true).expect("inputs built for CHANNELS");
    (out.logits.mean(Kind::Float) + out.latent.mean(Kind::Float)).backward();
}

fn backbones(c: &mut Criterion) {
    // Two cores are shared by everything on the CI machine; one intra-op thread avoids
    // spin-waiting threads when the machine is loaded.
    tch::set_num_threads(1);
    tch::manual_seed(0);
    let (xs, availability) = inputs();
    let mut group = c.benchmark_group("backbones");
    group.sample_size(10);
    for backbone in BackboneKind::ALL {
        for preset in [Preset::Tiny, Preset::Small] {
            let vs = nn::VarStore::new(Device::Cpu);
            let cfg = ModelConfig { backbone, preset, ..Default::default() };
            let Ok(model) = cfg.build(&vs, &CHANNELS) else {
                eprintln!("skipping {backbone} {preset}: it does not build in this version");
                continue;
            };
            // A backbone whose presets need other tile sizes is skipped, not failed.
            let probe =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| step(model.as_ref(), &xs, &availability)));
            if probe.is_err() {
                eprintln!("skipping {backbone} {preset}: no forward at {SIZE}×{SIZE}");
                continue;
            }
            let name = format!("cpu_{}_{}_fwd_bwd_b{BATCH}_s{SIZE}", backbone.as_str().replace('-', "_"), preset);
            // Zeroing the gradients each iteration, as a training loop does.
            let mut opt = nn::Sgd::default().build(&vs, 0.0).expect("an optimiser over the store");
            group.bench_function(name, |b| {
                b.iter(|| {
                    opt.zero_grad();
                    step(black_box(model.as_ref()), &xs, &availability)
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, backbones);
criterion_main!(benches);
