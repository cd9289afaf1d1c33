//! Criterion benches of the optimiser step (docs/speed.md §3), side by side in one run: lssg's
//! [`Optimizer`] (libtorch's fused kernels on state it owns) against tch's `nn::Adam` /
//! `nn::AdamW` / `nn::Sgd` (libtorch's C++ optimisers, which cannot be resumed bit-exactly) and
//! against the same update written as tch tensor operations (what lssg ran before), over the
//! variables of CMX `small` (1.76 M parameters) and `paper` (28.0 M) with fixed gradients.
//!
//! `cargo bench -p lssg-trainer --bench optim`; threads: libtorch's default unless
//! `LSSG_BENCH_THREADS` is set (printed either way).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use lssg_backbones::{ModelConfig, Preset};
use lssg_trainer::{Optimizer, OptimizerConfig, OptimizerKind};
use tch::nn::OptimizerConfig as _;
use tch::{Device, Kind, Tensor, nn};

/// A store with CMX `preset`'s variables and a fixed random gradient on each.
fn store(preset: Preset) -> nn::VarStore {
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    ModelConfig { preset, ..Default::default() }.build(&vs, &[3, 3, 3]).expect("CMX builds");
    set_gradients(&vs);
    vs
}

fn set_gradients(vs: &nn::VarStore) {
    // A loss whose gradient is a fixed random tensor per variable: Σ θ·r.
    let loss = vs
        .trainable_variables()
        .iter()
        .map(|v| (v * Tensor::randn_like(v).detach()).sum(Kind::Float))
        .fold(Tensor::zeros([], (Kind::Float, Device::Cpu)), |a, b| a + b);
    loss.backward();
}

/// Adam as tch tensor operations, one variable at a time: the same update without the fused kernels.
fn adam_as_tensor_ops(vars: &[Tensor], m: &mut [Tensor], v: &mut [Tensor], t: i32) {
    let (lr, b1, b2, eps) = (1e-4, 0.9f64, 0.999f64, 1e-8);
    tch::no_grad(|| {
        for ((var, m), v) in vars.iter().zip(m).zip(v) {
            let g = var.grad();
            let _ = m.g_mul_scalar_(b1).g_add_(&(&g * (1.0 - b1)));
            let _ = v.g_mul_scalar_(b2).addcmul_(&(&g * (1.0 - b2)), &g);
            let denom = v.sqrt() / (1.0 - b2.powi(t)).sqrt() + eps;
            let _ = var.shallow_clone().addcdiv_(&(&*m * (-lr / (1.0 - b1.powi(t)))), &denom);
        }
    });
}

fn optimisers(c: &mut Criterion) {
    if let Some(t) = std::env::var("LSSG_BENCH_THREADS").ok().and_then(|t| t.parse().ok()) {
        tch::set_num_threads(t);
    }
    eprintln!("optim bench: {} libtorch threads", tch::get_num_threads());
    let mut group = c.benchmark_group("optim");
    group.sample_size(10);
    for preset in [Preset::Small, Preset::Paper] {
        let vs = store(preset);
        for (kind, name) in
            [(OptimizerKind::Adam, "adam"), (OptimizerKind::AdamW, "adamw"), (OptimizerKind::Sgd, "sgd")]
        {
            let cfg = OptimizerConfig { kind, weight_decay: 0.01, ..Default::default() };
            let mut ours = Optimizer::new(&vs, &cfg).expect("trainable variables");
            group.bench_function(format!("{preset}_{name}_lssg_fused"), |b| {
                b.iter(|| black_box(&mut ours).step().unwrap())
            });
            let mut theirs = match kind {
                OptimizerKind::Adam => nn::Adam { wd: 0.01, ..Default::default() }.build(&vs, 1e-4),
                OptimizerKind::AdamW => nn::AdamW { wd: 0.01, ..Default::default() }.build(&vs, 1e-4),
                OptimizerKind::Sgd => nn::Sgd { momentum: 0.9, wd: 0.01, ..Default::default() }.build(&vs, 1e-4),
            }
            .expect("a libtorch optimiser");
            group.bench_function(format!("{preset}_{name}_libtorch"), |b| b.iter(|| black_box(&mut theirs).step()));
        }
        let vars = vs.trainable_variables();
        let (mut m, mut v): (Vec<Tensor>, Vec<Tensor>) = vars.iter().map(|t| (t.zeros_like(), t.zeros_like())).unzip();
        let mut t = 0;
        group.bench_function(format!("{preset}_adam_tensor_ops"), |b| {
            b.iter(|| {
                t += 1;
                adam_as_tensor_ops(&vars, &mut m, &mut v, t)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, optimisers);
criterion_main!(benches);
