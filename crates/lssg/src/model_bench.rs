//! Throughput of lssg's own loops for `lssg model bench` and `scripts/bench-vs-pytorch`
//! (docs/speed.md §2): each loop calls the library function the pipeline calls, on random
//! tiles held in memory, timed per repetition after a warm-up with CUDA synchronised before
//! every clock read; medians are reported.
//!
//! | loop | what one repetition is | library call |
//! |---|---|---|
//! | `train` | one step on a batch, a random scenario per sample | [`StepContext::step`] (the trainer's `Optimizer`) |
//! | `forward` | one eval forward, every modality, no gradients | `SegmentationModel::forward_t` |
//! | `score_batched` | every scenario's scores of one batch | [`lssg_scoring::measure_scores`] |
//! | `score_batch1` | the same, batch 1, one forward per scenario (the reference) | [`lssg_scoring::measure_distortion_naive`] |
//! | `eval` | the batch under every scenario, metrics accumulated | [`lssg_trainer::evaluate()`] |
//! | `train_loop` | an epoch of `steps` batches through the loader, seconds per batch | [`lssg_trainer::train()`] |
//!
//! `samples_per_s = batch / median seconds` for every loop (a sample counts when all of its
//! scenarios are done), as in `benches/pytorch/loops.py`, the PyTorch side of the comparison.
//!
//! libtorch's thread count is process-wide: the caller sets it (the `lssg` binary does, from
//! `--threads`) and [`run`] reports the count it ran with.

use std::sync::Arc;
use std::time::Instant;

use lssg_backbones::input::{availability, batch_to_tensors};
use lssg_backbones::{ModelConfig, SegmentationModel, lora};
use lssg_datasets::{Batch, DataSplits, MemoryDataset, TileDataset};
use lssg_scenario::{ModalitySet, SamplingStrategy, ScenarioSampler};
use lssg_scoring::ScoringConfig;
use lssg_torch::device::synchronize;
use lssg_torch::{Inference, Layout, Precision};
use lssg_trainer::train::{StepBatch, StepContext, StepIndex};
use lssg_trainer::{NoopObserver, OptimizerConfig, TrainConfig, train};
use serde::{Deserialize, Serialize};
use tch::{Device, Tensor, nn};

use crate::error::{Error, Result};

/// One of the timed loops (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BenchLoop {
    /// One training step.
    Train,
    /// One eval forward.
    Forward,
    /// Batched scoring of every scenario.
    ScoreBatched,
    /// The reference's batch-1 scoring.
    ScoreBatch1,
    /// Per-scenario evaluation.
    Eval,
    /// The full training loop, data loading included.
    TrainLoop,
}

impl BenchLoop {
    /// Every loop, in report order.
    pub const ALL: [BenchLoop; 6] = [
        BenchLoop::Train,
        BenchLoop::Forward,
        BenchLoop::ScoreBatched,
        BenchLoop::ScoreBatch1,
        BenchLoop::Eval,
        BenchLoop::TrainLoop,
    ];

    /// The name used on the command line and in JSON (`score_batched`).
    pub fn name(self) -> &'static str {
        match self {
            BenchLoop::Train => "train",
            BenchLoop::Forward => "forward",
            BenchLoop::ScoreBatched => "score_batched",
            BenchLoop::ScoreBatch1 => "score_batch1",
            BenchLoop::Eval => "eval",
            BenchLoop::TrainLoop => "train_loop",
        }
    }
}

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
    /// Timed repetitions of each loop (for `train_loop`: the batches of its timed epoch).
    pub steps: usize,
    /// Untimed repetitions before timing (for `train_loop`: one untimed epoch when > 0).
    pub warmup: usize,
    /// Adam learning rate (the reference's 1e-4).
    pub lr: f64,
    /// Seed for the weights and inputs.
    pub seed: i64,
    /// libtorch intra-op threads the caller set for the run (process-wide, so [`run`] only
    /// records them; `lssg model bench --threads` sets them); `None`: libtorch's default.
    pub threads: Option<i64>,
    /// Arithmetic of the forwards (docs/precision.md §1); fp16 needs CUDA.
    pub precision: Precision,
    /// Memory layout of the weights and inputs (docs/speed.md §8); `auto` is resolved for the
    /// device.
    #[serde(default)]
    pub layout: Layout,
    /// How the eval loops (forward, scoring, evaluation) run their forwards (docs/speed.md
    /// §10): packed weights are made once, in the warm-up, as an evaluation makes them once.
    /// `auto` is resolved for the model and the device; the report holds the mode measured.
    #[serde(default, skip_serializing_if = "Inference::is_eager")]
    pub inference: Inference,
    /// The loops to time, in this order.
    pub loops: Vec<BenchLoop>,
    /// Scoring's `max_forward` (samples × scenarios per forward).
    pub max_forward: usize,
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
            layout: Layout::Nchw,
            inference: Inference::Eager,
            loops: vec![BenchLoop::Train, BenchLoop::Forward],
            max_forward: ScoringConfig::default().max_forward,
        }
    }
}

impl BenchConfig {
    /// Checks every field: positive sizes and counts, at least two modalities, a loop to time.
    pub fn validate(&self) -> Result<()> {
        let cfg = self;
        let invalid = |field: &'static str, value: String, expected: &'static str| {
            Err(Error::InvalidConfig { field, value, expected })
        };
        if cfg.batch < 1 {
            return invalid("bench.batch", cfg.batch.to_string(), ">= 1");
        }
        if cfg.size < 1 {
            return invalid("bench.size", cfg.size.to_string(), ">= 1");
        }
        if cfg.steps < 1 {
            return invalid("bench.steps", cfg.steps.to_string(), ">= 1");
        }
        if cfg.max_forward < 1 {
            return invalid("bench.max_forward", cfg.max_forward.to_string(), ">= 1");
        }
        if cfg.threads.is_some_and(|t| t < 1) {
            return invalid("bench.threads", format!("{:?}", cfg.threads), ">= 1");
        }
        if cfg.channels.len() < 2 || cfg.channels.iter().any(|&c| c < 1) {
            return invalid("bench.channels", format!("{:?}", cfg.channels), "at least two modalities of >= 1 channel");
        }
        if cfg.loops.is_empty() {
            return invalid("bench.loops", "[]".into(), "at least one loop");
        }
        Ok(())
    }
}

/// Timings of one loop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// Median seconds per repetition.
    pub median_s: f64,
    /// Fastest repetition.
    pub min_s: f64,
    /// Slowest repetition.
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

/// What [`run`] measured; a loop that was not asked for is `None` (and absent from JSON).
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
    /// Scenarios S = 2^M − 1.
    pub scenarios: usize,
    /// One timing per loop of `config.loops`.
    #[serde(flatten)]
    pub loops: std::collections::BTreeMap<String, Timing>,
}

impl BenchReport {
    /// The timing of `l`, if it was measured.
    pub fn get(&self, l: BenchLoop) -> Option<&Timing> {
        self.loops.get(l.name())
    }
}

/// Seconds `f` takes on `device`; its error is passed on.
fn time_once(device: Device, f: impl FnOnce() -> Result<()>) -> Result<f64> {
    synchronize(device);
    let start = Instant::now();
    f()?;
    synchronize(device);
    Ok(start.elapsed().as_secs_f64())
}

/// `warmup` untimed and `steps` timed calls of `f`.
fn repeat(cfg: &BenchConfig, device: Device, mut f: impl FnMut() -> Result<()>) -> Result<Timing> {
    let mut secs = Vec::with_capacity(cfg.steps);
    for i in 0..cfg.warmup + cfg.steps {
        let s = time_once(device, &mut f)?;
        if i >= cfg.warmup {
            secs.push(s);
        }
    }
    Ok(Timing::from_steps(secs, cfg.batch))
}

/// Runs the loops of `cfg` on `device`.
pub fn run(cfg: &BenchConfig, device: Device) -> Result<BenchReport> {
    cfg.validate()?;
    cfg.precision.check_device(device)?;
    tch::manual_seed(cfg.seed);
    let vs = nn::VarStore::new(device);
    let model = lssg_backbones::layout::with_layout(cfg.model.build(&vs, &cfg.channels)?, &vs, cfg.layout)?;
    let set = ModalitySet::from_pairs(cfg.channels.iter().enumerate().map(|(i, &c)| (format!("m{i}"), c as usize)))?;
    let classes = cfg.model.classes as usize;
    let inference = model.inference(cfg.inference).resolve(device)?;
    let (b, size, seed) = (cfg.batch as usize, cfg.size as usize, cfg.seed as u64);
    let tiles: Arc<dyn TileDataset> = Arc::new(MemoryDataset::random(set.clone(), classes, b, size, seed)?);
    // The train step and the forward time one batch of these tiles, already on the device.
    let samples = (0..b).map(|i| tiles.sample(i)).collect::<lssg_datasets::Result<Vec<_>>>()?;
    let (inputs, labels) = batch_to_tensors(&Batch::from_samples(&samples, (0..b).collect::<Vec<_>>())?, device)?;
    let mut loops = std::collections::BTreeMap::new();
    for &l in &cfg.loops {
        // Packed, the eval loops run as an evaluation does: one inference session around all
        // their forwards, so the weights are packed once, in the warm-up.
        let region = |f: &mut dyn FnMut() -> Result<Timing>| -> Result<Timing> { inference.region(device, f)? };
        let timing = match l {
            BenchLoop::Train => time_train_step(cfg, model.as_ref(), &vs, &set, (&inputs, &labels))?,
            BenchLoop::Forward => {
                let avail = availability(&vec![set.full_scenario(); b], set.len(), device);
                region(&mut || {
                    repeat(cfg, device, || {
                        let out = cfg
                            .precision
                            .autocast(device, || tch::no_grad(|| model.forward_t(&inputs, &avail, false)))?;
                        out.map(drop).map_err(Error::from)
                    })
                })?
            }
            BenchLoop::ScoreBatched => {
                let sc = ScoringConfig { batch_size: b, max_forward: cfg.max_forward, ..Default::default() };
                region(&mut || {
                    repeat(cfg, device, || {
                        cfg.precision
                            .autocast(device, || {
                                lssg_scoring::measure_scores(model.as_ref(), tiles.clone(), &sc, device, &mut |_, _| {})
                            })?
                            .map(drop)
                            .map_err(Error::from)
                    })
                })?
            }
            BenchLoop::ScoreBatch1 => region(&mut || {
                repeat(cfg, device, || {
                    cfg.precision
                        .autocast(device, || {
                            lssg_scoring::measure_distortion_naive(model.as_ref(), tiles.as_ref(), b, device)
                        })?
                        .map(drop)
                        .map_err(Error::from)
                })
            })?,
            BenchLoop::Eval => {
                let scenarios = set.scenarios();
                region(&mut || {
                    repeat(cfg, device, || {
                        cfg.precision
                            .autocast(device, || {
                                lssg_trainer::evaluate(
                                    model.as_ref(),
                                    tiles.clone(),
                                    &scenarios,
                                    b,
                                    device,
                                    &mut NoopObserver,
                                )
                            })?
                            .map(drop)
                            .map_err(Error::from)
                    })
                })?
            }
            BenchLoop::TrainLoop => time_train_loop(cfg, model.as_ref(), &vs, &set, tiles.clone())?,
        };
        loops.insert(l.name().to_string(), timing);
    }
    Ok(BenchReport {
        config: BenchConfig { inference, ..cfg.clone() },
        device: format!("{device:?}"),
        threads: tch::get_num_threads() as i64,
        params_total: lora::parameter_count(&vs),
        params_trainable: lora::trainable_parameter_count(&vs),
        scenarios: set.num_scenarios(),
        loops,
    })
}

/// The settings both training loops use: the bench's Adam and precision, the reference's
/// plain loss, `batch` tiles per step.
fn train_config(cfg: &BenchConfig) -> TrainConfig {
    TrainConfig {
        batch_size: cfg.batch as usize,
        optimizer: OptimizerConfig { lr: cfg.lr, ..Default::default() },
        precision: cfg.precision,
        seed: cfg.seed as u64,
        keep_epochs: 1,
        ..Default::default()
    }
}

fn time_train_step(
    cfg: &BenchConfig,
    model: &dyn SegmentationModel,
    vs: &nn::VarStore,
    set: &ModalitySet,
    (inputs, labels): (&[Tensor], &Tensor),
) -> Result<Timing> {
    let (b, device) = (cfg.batch as usize, vs.device());
    let mut ctx = StepContext::new(model, vs, &train_config(cfg))?;
    let mut sampler = ScenarioSampler::new(set, SamplingStrategy::Uniform, cfg.seed as u64)?;
    let mut step = 0;
    repeat(cfg, device, || {
        step += 1;
        let scenarios = sampler.sample_n(b);
        let avail = availability(&scenarios, set.len(), device);
        let batch = StepBatch { inputs, labels, availability: &avail, scenarios: &scenarios };
        ctx.step(&batch, StepIndex { epoch: 1, step }).map(drop).map_err(Error::from)
    })
}

/// [`train`] on `steps · batch` random tiles for one untimed epoch (when `warmup > 0`) and one
/// timed one, in a scratch run directory; seconds per batch of the timed epoch's training phase
/// (loading, transfers, steps; not validation or checkpoints).
fn time_train_loop(
    cfg: &BenchConfig,
    model: &dyn SegmentationModel,
    vs: &nn::VarStore,
    set: &ModalitySet,
    val: Arc<dyn TileDataset>,
) -> Result<Timing> {
    let b = cfg.batch as usize;
    let n = cfg.steps * b;
    let train_tiles =
        MemoryDataset::random(set.clone(), cfg.model.classes as usize, n, cfg.size as usize, cfg.seed as u64 + 1)?;
    let data = DataSplits { train: Arc::new(train_tiles), val: val.clone(), test: val };
    let epochs = 1 + usize::from(cfg.warmup > 0);
    let tc = TrainConfig { epochs, validate_every: epochs, ..train_config(cfg) };
    let dir = tempfile::tempdir().map_err(|e| Error::Io { path: std::env::temp_dir(), source: e })?;
    let summary = train(model, vs, &data, SamplingStrategy::Uniform, &tc, dir.path(), &mut NoopObserver)?;
    // A fresh directory trains every epoch, so the last one is this call's timed epoch.
    let last = summary.last.ok_or(Error::InvalidConfig {
        field: "bench.train_loop",
        value: format!("{} epochs trained", summary.epochs_run),
        expected: "a trained epoch to time",
    })?;
    Ok(Timing::from_steps(vec![last.train_seconds / last.steps.max(1) as f64], cfg.batch))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lssg_backbones::{BackboneKind, Preset};

    #[test]
    fn median_and_rate() {
        let t = Timing::from_steps(vec![0.3, 0.1, 0.2, 0.4], 8);
        assert!((t.median_s - 0.25).abs() < 1e-12);
        assert!((t.samples_per_s - 32.0).abs() < 1e-9);
        assert_eq!((t.min_s, t.max_s), (0.1, 0.4));
    }

    #[test]
    fn runs_every_loop_of_a_tiny_model() {
        let cfg = BenchConfig {
            model: ModelConfig { preset: Preset::Tiny, ..Default::default() },
            batch: 2,
            size: 32,
            steps: 1,
            warmup: 0,
            loops: BenchLoop::ALL.to_vec(),
            ..Default::default()
        };
        let r = run(&cfg, Device::Cpu).unwrap();
        assert_eq!(r.scenarios, 7);
        for l in BenchLoop::ALL {
            assert!(r.get(l).is_some_and(|t| t.samples_per_s > 0.0 && t.median_s > 0.0), "{l:?}");
        }
        assert_eq!(r.params_total, r.params_trainable);
        let json = serde_json::to_value(&r).unwrap();
        assert!(json["score_batch1"]["samples_per_s"].as_f64().unwrap() > 0.0);
        let bf16 =
            run(&BenchConfig { precision: Precision::Bf16, loops: vec![BenchLoop::Train], ..cfg.clone() }, Device::Cpu)
                .unwrap();
        assert!(bf16.get(BenchLoop::Forward).is_none() && bf16.config.precision == Precision::Bf16);
        assert!(run(&BenchConfig { precision: Precision::Fp16, ..cfg.clone() }, Device::Cpu).is_err());
        let e = run(&BenchConfig { steps: 0, ..cfg.clone() }, Device::Cpu).unwrap_err();
        assert!(e.to_string().contains("bench.steps"), "{e}");
        assert!(run(&BenchConfig { channels: vec![3], ..cfg }, Device::Cpu).is_err());
    }

    #[test]
    fn reports_the_inference_mode_auto_resolves_to_for_the_backbone() {
        let cfg = |backbone| BenchConfig {
            model: ModelConfig { backbone, preset: Preset::Tiny, ..Default::default() },
            batch: 2,
            size: 32,
            steps: 1,
            warmup: 0,
            inference: Inference::Auto,
            loops: vec![BenchLoop::Forward],
            ..Default::default()
        };
        let measured = |backbone| run(&cfg(backbone), Device::Cpu).unwrap().config.inference;
        assert_eq!(measured(BackboneKind::Cmx), Inference::Packed);
        assert_eq!(measured(BackboneKind::Cbc), Inference::Eager);
    }
}
