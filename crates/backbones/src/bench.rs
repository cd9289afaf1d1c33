//! Throughput measurement for `lssg model bench`: training steps (forward + backward + Adam step)
//! and inference (eval forward without gradients) on random inputs, timed per step after a
//! warm-up, with CUDA synchronised before every clock read. Reports medians. With a mixed
//! `precision` both run under autocast, and the train step scales its loss for fp16 exactly as
//! training does (docs/precision.md §3).

use std::time::Instant;

use serde::{Deserialize, Serialize};
use tch::nn::OptimizerConfig;
use tch::{Device, Kind, Tensor, nn};

use crate::config::ModelConfig;
use crate::device::synchronize;
use crate::error::{Error, Result};
use crate::lora;
use crate::precision::Precision;
use crate::scaler::GradScaler;

/// What to measure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BenchConfig {
    /// The network.
    pub model: ModelConfig,
    /// Channels per modality.
    pub channels: Vec<i64>,
    /// Batch size.
    pub batch: i64,
    /// Square input size.
    pub size: i64,
    /// Timed steps of each kind.
    pub steps: usize,
    /// Untimed steps of each kind before timing.
    pub warmup: usize,
    /// Adam learning rate (the reference's 1e-4).
    pub lr: f64,
    /// Seed for the weights and inputs.
    pub seed: i64,
    /// libtorch intra-op threads for the run (process-wide); `None` keeps libtorch's default.
    /// On a loaded machine one thread avoids spin-waiting workers.
    pub threads: Option<i64>,
    /// Arithmetic of the forwards (docs/precision.md §1); fp16 needs CUDA.
    pub precision: Precision,
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig {
            model: ModelConfig::default(),
            channels: vec![3, 3, 3],
            batch: 8,
            size: 64,
            steps: 10,
            warmup: 2,
            lr: 1e-4,
            seed: 0,
            threads: None,
            precision: Precision::Fp32,
        }
    }
}

/// Timings of one kind of step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// Median seconds per step.
    pub median_s: f64,
    /// Fastest step.
    pub min_s: f64,
    /// Slowest step.
    pub max_s: f64,
    /// `batch / median_s`.
    pub samples_per_s: f64,
}

impl Timing {
    fn from_steps(mut secs: Vec<f64>, batch: i64) -> Self {
        secs.sort_by(f64::total_cmp);
        let n = secs.len();
        let median = if n % 2 == 1 { secs[n / 2] } else { 0.5 * (secs[n / 2 - 1] + secs[n / 2]) };
        Timing { median_s: median, min_s: secs[0], max_s: secs[n - 1], samples_per_s: batch as f64 / median }
    }
}

/// What [`run`] measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// The configuration measured.
    pub config: BenchConfig,
    /// The device, printed (`Cpu`, `Cuda(0)`).
    pub device: String,
    /// libtorch intra-op threads.
    pub threads: i64,
    /// All parameters.
    pub params_total: i64,
    /// Trainable parameters.
    pub params_trainable: i64,
    /// Forward + backward + optimiser step.
    pub train: Timing,
    /// Eval forward without gradients.
    pub forward: Timing,
}

/// Seconds `f` takes on `device`; its error (a forward that rejects the inputs) is passed on.
fn time_step(device: Device, f: impl FnOnce() -> Result<()>) -> Result<f64> {
    synchronize(device);
    let start = Instant::now();
    f()?;
    synchronize(device);
    Ok(start.elapsed().as_secs_f64())
}

/// Runs the benchmark on `device`.
pub fn run(cfg: &BenchConfig, device: Device) -> Result<BenchReport> {
    for (field, v) in [("batch", cfg.batch), ("size", cfg.size)] {
        if v < 1 {
            return Err(Error::invalid(field, v, "≥ 1"));
        }
    }
    if cfg.steps < 1 {
        return Err(Error::invalid("steps", cfg.steps, "≥ 1"));
    }
    if let Some(t) = cfg.threads {
        if t < 1 {
            return Err(Error::invalid("threads", t, "≥ 1"));
        }
        tch::set_num_threads(t as i32);
    }
    cfg.precision.check_device(device)?;
    tch::manual_seed(cfg.seed);
    let vs = nn::VarStore::new(device);
    let model = cfg.model.build(&vs, &cfg.channels)?;
    let mut opt = nn::Adam::default()
        .build(&vs, cfg.lr)
        .map_err(|e| Error::Unsupported { what: "Adam optimiser".into(), reason: e.to_string() })?;
    let opts = (Kind::Float, device);
    let inputs: Vec<Tensor> =
        cfg.channels.iter().map(|&c| Tensor::randn([cfg.batch, c, cfg.size, cfg.size], opts)).collect();
    let availability = Tensor::ones([cfg.batch, cfg.channels.len() as i64], opts);
    let target = Tensor::rand([cfg.batch, cfg.model.classes, cfg.size, cfg.size], opts).ge(0.5).to_kind(Kind::Float);

    let precision = cfg.precision;
    let mut scaler = GradScaler::for_precision(precision, device);
    let trainable: Vec<Tensor> = vs.trainable_variables();
    // Forward and loss under autocast, backward and the step outside, as in training.
    let mut train_step = || {
        let loss = precision.autocast(device, || -> Result<Tensor> {
            let logits = model.forward_t(&inputs, &availability, true)?.into_f32().logits;
            Ok(logits.binary_cross_entropy_with_logits::<Tensor>(&target, None, None, tch::Reduction::Mean))
        })??;
        opt.zero_grad();
        scaler.scale(&loss).backward();
        let grads: Vec<Tensor> = trainable.iter().map(Tensor::grad).collect();
        scaler.step(&grads, || {}, || opt.step())?;
        Ok(())
    };
    let mut train = Vec::with_capacity(cfg.steps);
    for i in 0..cfg.warmup + cfg.steps {
        let s = time_step(device, &mut train_step)?;
        if i >= cfg.warmup {
            train.push(s);
        }
    }
    let mut forward = Vec::with_capacity(cfg.steps);
    for i in 0..cfg.warmup + cfg.steps {
        let s = time_step(device, || {
            precision.autocast(device, || tch::no_grad(|| model.forward_t(&inputs, &availability, false)).map(drop))?
        })?;
        if i >= cfg.warmup {
            forward.push(s);
        }
    }
    Ok(BenchReport {
        config: cfg.clone(),
        device: format!("{device:?}"),
        threads: tch::get_num_threads() as i64,
        params_total: lora::parameter_count(&vs),
        params_trainable: lora::trainable_parameter_count(&vs),
        train: Timing::from_steps(train, cfg.batch),
        forward: Timing::from_steps(forward, cfg.batch),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Preset;

    #[test]
    fn median_and_rate() {
        let t = Timing::from_steps(vec![0.3, 0.1, 0.2, 0.4], 8);
        assert!((t.median_s - 0.25).abs() < 1e-12);
        assert!((t.samples_per_s - 32.0).abs() < 1e-9);
        assert_eq!((t.min_s, t.max_s), (0.1, 0.4));
    }

    #[test]
    fn runs_a_tiny_benchmark() {
        let cfg = BenchConfig {
            model: ModelConfig { preset: Preset::Tiny, ..Default::default() },
            batch: 2,
            size: 32,
            steps: 1,
            warmup: 0,
            ..Default::default()
        };
        let r = run(&cfg, Device::Cpu).unwrap();
        assert!(r.train.samples_per_s > 0.0 && r.forward.samples_per_s > 0.0);
        assert_eq!(r.params_total, r.params_trainable);
        let bf16 = run(&BenchConfig { precision: Precision::Bf16, ..cfg.clone() }, Device::Cpu).unwrap();
        assert!(bf16.train.samples_per_s > 0.0 && bf16.config.precision == Precision::Bf16);
        assert!(run(&BenchConfig { precision: Precision::Fp16, ..cfg.clone() }, Device::Cpu).is_err());
        assert!(run(&BenchConfig { steps: 0, ..cfg }, Device::Cpu).is_err());
    }
}
