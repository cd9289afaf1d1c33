//! The resumable training loop (docs/method.md §5): one availability scenario per sample, validation
//! with every modality, checkpoints after every epoch.
//!
//! The run directory's files and their commit protocol are in [`crate::run_dir`].
//!
//! Every file is written atomically; `state.json` is written last and is the commit point of
//! an epoch. Calling [`train`] on a directory with a `state.json` restores the model, the
//! optimiser, the sampler's RNG and the epoch counter and continues with the next epoch; the
//! loader's order and the learning rate are functions of the epoch, and libtorch's RNG
//! (dropout) is re-seeded from (`seed`, epoch) at the start of every epoch, so on the CPU an
//! interrupted-then-resumed run ends bit-identical to an uninterrupted one. A directory whose
//! run is complete returns at once.
//!
//! Per step: draw `B` scenarios from the seeded [`ScenarioSampler`] (with replacement), build
//! the `[B, M]` availability, `forward_t(train = true)`, loss, backward, optional clipping by
//! global norm, optimiser step. A NaN or infinite loss stops with
//! [`Error::NonFiniteLoss`] before the step is applied; the last checkpoint stays as it was.
//!
//! Mixed precision (`precision`, docs/precision.md): forward and loss run under autocast,
//! backward and the step outside it; fp16 scales the loss and skips steps whose gradients
//! overflow ([`GradScaler`]), whose state is part of `state.json`. fp32 is the plain loop.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use lssg_backbones::input::{availability, batch_to_tensors};
use lssg_backbones::SegmentationModel;
use lssg_datasets::{BatchLoader, DataSplits, LoaderConfig, TileDataset};
use lssg_scenario::{SamplingStrategy, Scenario, ScenarioSampler};
use lssg_torch::{GradScaler, Precision};
use serde::{Deserialize, Serialize};
use tch::nn::VarStore;
use tch::{Device, Tensor};

use crate::adaptive::EpochHook;
use crate::checkpoint;
use crate::error::{Error, Result};
use crate::evaluate::run_scenarios;
use crate::loss::{LossConfig, output_loss};
use crate::metrics::{Metrics, Monitor};
use crate::observer::{EpochRecord, StepEvent, TrainObserver};
use crate::optim::{Optimizer, OptimizerConfig};
use crate::run_dir::{BestEpoch, RunPaths, RunState, check_resume, file_name, prune};
use crate::schedule::SchedulerConfig;
use crate::tensors::check_labels;

/// Which weights a finished run keeps in the variable store and reports as its checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Keep {
    /// The last epoch's weights (the reference).
    #[default]
    Last,
    /// The weights of the epoch with the best validation `monitor`.
    Best,
}

/// Training settings. `Default`: small CPU-friendly values (2 epochs, batch 4) with the
/// reference's choices elsewhere (Adam at 1e-4, StepLR(5, 0.9) stepped before each epoch, no
/// shuffling, keep the last epoch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Epochs of the run (may be raised when resuming to train further).
    pub epochs: usize,
    /// Training batch size.
    pub batch_size: usize,
    /// Validation batch size (default: `batch_size`).
    pub val_batch_size: Option<usize>,
    /// Optimiser.
    pub optimizer: OptimizerConfig,
    /// Learning-rate schedule over epochs.
    pub scheduler: SchedulerConfig,
    /// Clip the gradients' global L2 norm to this value.
    pub grad_clip: Option<f64>,
    /// Shuffle the training tiles every epoch (false = the reference's fixed order).
    pub shuffle: bool,
    /// Drop a last training batch smaller than `batch_size`.
    pub drop_last: bool,
    /// Keep the last (reference) or the best epoch's weights.
    pub keep: Keep,
    /// The validation metric that decides "best".
    pub monitor: Monitor,
    /// Loss.
    pub loss: LossConfig,
    /// Validate every this many epochs (the last epoch is always validated).
    pub validate_every: usize,
    /// Seed of the scenario sampler, the loader's shuffling and libtorch's RNG.
    pub seed: u64,
    /// Batches decoded ahead by the loader thread.
    pub prefetch: usize,
    /// Epoch checkpoints (`epoch-N` / `optim-N`) kept besides `last` and `best`.
    pub keep_epochs: usize,
    /// Arithmetic of the forwards (docs/precision.md §1); `lssg` sets it from `[run] precision`.
    /// Left out of serialised fp32 configs, so their files are unchanged.
    #[serde(skip_serializing_if = "Precision::is_fp32")]
    pub precision: Precision,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 2,
            batch_size: 4,
            val_batch_size: None,
            optimizer: OptimizerConfig::default(),
            scheduler: SchedulerConfig::default(),
            grad_clip: None,
            shuffle: false,
            drop_last: false,
            keep: Keep::Last,
            monitor: Monitor::SoftJaccard,
            loss: LossConfig::default(),
            validate_every: 1,
            seed: 0,
            prefetch: 2,
            keep_epochs: 2,
            precision: Precision::Fp32,
        }
    }
}

impl TrainConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        let positive = |v: usize, field: &'static str| {
            if v == 0 { Err(Error::InvalidConfig { field, value: "0".into(), expected: "at least 1" }) } else { Ok(()) }
        };
        positive(self.epochs, "train.epochs")?;
        positive(self.batch_size, "train.batch_size")?;
        positive(self.val_batch_size.unwrap_or(1), "train.val_batch_size")?;
        positive(self.validate_every, "train.validate_every")?;
        positive(self.keep_epochs, "train.keep_epochs")?;
        if let Some(c) = self.grad_clip
            && !(c.is_finite() && c > 0.0)
        {
            return Err(Error::InvalidConfig {
                field: "train.grad_clip",
                value: c.to_string(),
                expected: "a finite number > 0 (or absent)",
            });
        }
        self.optimizer.validate()?;
        self.scheduler.validate()?;
        self.loss.validate()
    }

    fn val_batch_size(&self) -> usize {
        self.val_batch_size.unwrap_or(self.batch_size)
    }
}

/// What [`train`] returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainSummary {
    /// Finished epochs in the directory (= the configured epochs).
    pub epochs: usize,
    /// Epochs trained by this call (0 when the directory was already complete).
    pub epochs_run: usize,
    /// The first epoch this call trained when it resumed an interrupted run.
    pub resumed_at: Option<usize>,
    /// The last epoch's record.
    pub last: Option<EpochRecord>,
    /// The best validated epoch.
    pub best: Option<BestEpoch>,
    /// Which weights were kept.
    pub keep: Keep,
    /// The kept weights (`last.safetensors` or `best.safetensors`), now also in the store.
    pub checkpoint: PathBuf,
    /// Optimised scalars.
    pub trainable_parameters: i64,
    /// Every epoch's record, in order.
    pub history: Vec<EpochRecord>,
}

/// The libtorch seed of epoch `epoch`: dropout masks depend only on (seed, epoch), so a
/// resumed epoch draws what the uninterrupted run drew.
fn torch_seed(seed: u64, epoch: usize) -> i64 {
    // SplitMix64 finaliser over (seed, epoch).
    let mut z = seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 1) as i64
}

/// Checks that the data sets agree with each other and with the model.
fn check_data(model: &dyn SegmentationModel, train: &dyn TileDataset, val: &dyn TileDataset) -> Result<()> {
    if train.modalities() != val.modalities() {
        return Err(Error::shape("validation modalities", train.modalities().names(), val.modalities().names()));
    }
    if train.num_classes() != val.num_classes() {
        return Err(Error::shape("validation classes", train.num_classes(), val.num_classes()));
    }
    if model.num_classes() != train.num_classes() as i64 {
        return Err(Error::shape(
            "model logit channels vs data set classes (1 = binary)",
            train.num_classes(),
            model.num_classes(),
        ));
    }
    Ok(())
}

/// Where a run starts: restored from `state.json`, or fresh.
struct Start {
    sampler: ScenarioSampler,
    /// Finished epochs (0 for a fresh run).
    epoch: usize,
    best: Option<BestEpoch>,
    history: Vec<EpochRecord>,
}

/// Restores model, optimiser, sampler and history from `paths` when a run was started there
/// (after checking that it was started with the same settings), or starts a fresh sampler.
fn start_or_resume(
    paths: &RunPaths,
    vs: &VarStore,
    optimizer: &mut Optimizer,
    scaler: &mut GradScaler,
    train: &dyn TileDataset,
    strategy: SamplingStrategy,
    config: &TrainConfig,
) -> Result<Start> {
    let state_path = paths.state();
    if !state_path.exists() {
        let sampler = ScenarioSampler::new(train.modalities(), strategy, config.seed)?;
        return Ok(Start { sampler, epoch: 0, best: None, history: Vec::new() });
    }
    let state: RunState = checkpoint::read_json(&state_path)?;
    check_resume(&state_path, &state, config, &strategy)?;
    lssg_backbones::checkpoint::load(vs, &paths.checkpoint_dir.join(&state.model))?;
    optimizer.load(&paths.checkpoint_dir.join(&state.optimizer))?;
    if let Some(s) = &state.grad_scaler {
        scaler.load_state(s)?;
    }
    // Lines of epochs after the commit point (a crash between the two writes) are dropped.
    let mut history: Vec<EpochRecord> = checkpoint::read_json_lines(&paths.metrics())?;
    history.retain(|r| r.epoch <= state.epoch);
    Ok(Start { sampler: state.sampler, epoch: state.epoch, best: state.best, history })
}

/// The training phase of one epoch.
struct EpochTraining {
    lr: f64,
    loss_sum: f64,
    samples: usize,
    seconds: f64,
}

/// One training run's fixed parts: the model, the loaders, the files.
struct Loop<'a> {
    net: &'a dyn SegmentationModel,
    vs: &'a VarStore,
    config: &'a TrainConfig,
    paths: RunPaths,
    device: Device,
    train_loader: BatchLoader,
    val_loader: BatchLoader,
    steps: usize,
}

impl<'a> Loop<'a> {
    fn new(
        net: &'a dyn SegmentationModel,
        vs: &'a VarStore,
        data: &DataSplits,
        config: &'a TrainConfig,
        dir: &Path,
    ) -> Result<Self> {
        let prefetch = config.prefetch;
        let train = LoaderConfig {
            batch_size: config.batch_size,
            shuffle: config.shuffle,
            seed: config.seed,
            prefetch,
            drop_last: config.drop_last,
        };
        let val =
            LoaderConfig { batch_size: config.val_batch_size(), shuffle: false, seed: 0, prefetch, drop_last: false };
        let train_loader = BatchLoader::new(Arc::clone(&data.train), train)?;
        let val_loader = BatchLoader::new(Arc::clone(&data.val), val)?;
        let steps = train_loader.num_batches();
        if steps == 0 {
            return Err(Error::EmptySplit { split: "train", tiles: data.train.len(), batch_size: config.batch_size });
        }
        if val_loader.num_batches() == 0 {
            return Err(Error::EmptySplit { split: "val", tiles: data.val.len(), batch_size: config.val_batch_size() });
        }
        let device = vs.device();
        Ok(Self { net, vs, config, paths: RunPaths::new(dir), device, train_loader, val_loader, steps })
    }

    /// Trains epoch `epoch` (0-based): one scenario per sample from `sampler`, an optimiser step
    /// per batch. A non-finite loss stops before its step is applied.
    fn train_epoch(
        &self,
        epoch: usize,
        sampler: &mut ScenarioSampler,
        (optimizer, scaler): (&mut Optimizer, &mut GradScaler),
        observer: &mut dyn TrainObserver,
    ) -> Result<EpochTraining> {
        let (config, net, device) = (self.config, self.net, self.device);
        let dataset = self.train_loader.dataset();
        let (num_classes, modalities) = (dataset.num_classes(), dataset.modalities().len());
        let (number, started) = (epoch + 1, Instant::now());
        let lr = config.scheduler.lr(config.optimizer.lr, epoch, config.epochs);
        optimizer.set_lr(lr);
        tch::manual_seed(torch_seed(config.seed, epoch));
        observer.epoch_start(number, config.epochs, self.steps);
        let (mut loss_sum, mut samples) = (0.0f64, 0usize);
        for (i, batch) in self.train_loader.epoch(epoch).enumerate() {
            let batch = batch?;
            check_labels(&batch.labels, num_classes)?;
            let (inputs, labels) = batch_to_tensors(&batch, device)?;
            let scenarios = sampler.sample_n(batch.size);
            let avail = availability(&scenarios, modalities, device);
            let value = train_step(net, (&inputs, &labels, &avail), config, (optimizer, scaler), (number, i + 1))?;
            loss_sum += value * batch.size as f64;
            samples += batch.size;
            let seconds = started.elapsed().as_secs_f64();
            observer.step(&StepEvent {
                epoch: number,
                step: i + 1,
                steps: self.steps,
                loss: value,
                lr,
                samples_per_s: samples as f64 / seconds.max(1e-9),
            });
        }
        Ok(EpochTraining { lr, loss_sum, samples, seconds: started.elapsed().as_secs_f64() })
    }

    /// Validates after epoch `number` (1-based) with every modality, when it is due: the mean
    /// loss and the metrics; `None` on epochs that are not validated.
    fn validate(&self, number: usize, observer: &mut dyn TrainObserver) -> Result<Option<(f64, Metrics)>> {
        if !(number.is_multiple_of(self.config.validate_every) || number == self.config.epochs) {
            return Ok(None);
        }
        let full = self.val_loader.dataset().modalities().full_scenario();
        let (loss, metrics) = validate_full(
            self.net,
            &self.val_loader,
            full,
            &self.config.loss,
            self.device_precision(),
            observer,
            number,
        )?;
        if !loss.is_finite() {
            return Err(Error::NonFiniteLoss { epoch: number, step: 0, value: loss });
        }
        Ok(Some((loss, metrics)))
    }

    fn device_precision(&self) -> (Device, Precision) {
        (self.device, self.config.precision)
    }

    /// Writes epoch `number`'s model and optimiser tensors and the `last` copy (and `best`, when
    /// the epoch `improved`).
    fn save_tensors(&self, number: usize, improved: bool, optimizer: &Optimizer) -> Result<()> {
        let model_path = self.paths.epoch_model(number);
        lssg_backbones::checkpoint::save(self.vs, &model_path)?;
        optimizer.save(&self.paths.epoch_optimizer(number))?;
        if improved {
            checkpoint::copy_file(&model_path, &self.paths.best())?;
        }
        checkpoint::copy_file(&model_path, &self.paths.last())
    }

    /// Writes the metrics and then `state.json`, the commit point of epoch `number` (whose
    /// tensors [`Loop::save_tensors`] wrote), and prunes old epoch checkpoints.
    fn commit(
        &self,
        number: usize,
        sampler: &ScenarioSampler,
        scaler: &GradScaler,
        initial: Option<&SamplingStrategy>,
        best: Option<BestEpoch>,
        history: &[EpochRecord],
    ) -> Result<()> {
        checkpoint::write_json_lines(&self.paths.metrics(), history)?;
        let state = RunState {
            epoch: number,
            model: file_name(&self.paths.epoch_model(number)),
            optimizer: file_name(&self.paths.epoch_optimizer(number)),
            sampler: sampler.clone(),
            best,
            config: self.config.clone(),
            initial_strategy: initial.cloned(),
            grad_scaler: scaler.state(),
        };
        checkpoint::write_json(&self.paths.state(), &state)?;
        prune(&self.paths, number, self.config.keep_epochs)
    }
}

/// One optimisation step as [`train`] takes it (also what `lssg model bench` times): forward in
/// train mode and the loss under the precision's autocast (a no-op region for fp32), a
/// non-finite loss refused before anything changes, then backward, clipping and the optimiser
/// step through the gradient scaler. `at` = (epoch, step), 1-based, for the error. Returns the
/// loss.
pub fn train_step(
    net: &dyn SegmentationModel,
    (inputs, labels, avail): (&[Tensor], &Tensor, &Tensor),
    config: &TrainConfig,
    (optimizer, scaler): (&mut Optimizer, &mut GradScaler),
    (epoch, step): (usize, usize),
) -> Result<f64> {
    let device = avail.device();
    let loss = config.precision.autocast(device, || -> Result<Tensor> {
        let out = net.forward_t(inputs, avail, true)?.into_f32();
        if out.logits.size().get(1) != Some(&net.num_classes()) {
            let (b, h, w) = (labels.size()[0], labels.size()[1], labels.size()[2]);
            return Err(Error::shape("logits [B, K, H, W]", [b, net.num_classes(), h, w], out.logits.size()));
        }
        output_loss(&out, labels, &config.loss)
    })??;
    let value = loss.double_value(&[]);
    if !value.is_finite() {
        return Err(Error::NonFiniteLoss { epoch, step, value });
    }
    optimizer.backward_step_scaled(&loss, config.grad_clip, scaler)?;
    Ok(value)
}

/// How a run draws its scenarios: a strategy, and optionally a hook that may change the
/// sampler between epochs (`guided-adaptive`, [`crate::adaptive`]).
pub struct Sampling<'a> {
    /// The strategy the run starts with (compared on resume).
    pub strategy: SamplingStrategy,
    /// Called before every epoch.
    pub hook: Option<&'a mut dyn EpochHook>,
}

impl From<SamplingStrategy> for Sampling<'_> {
    fn from(strategy: SamplingStrategy) -> Self {
        Self { strategy, hook: None }
    }
}

/// Trains `net`, whose variables live in `vs`, on `data.train`, validating on `data.val` with
/// every modality, drawing each sample's scenario as `sampling` says (a [`SamplingStrategy`]
/// converts), in run directory `dir`; resumes an interrupted run found there. Everything runs
/// on the device of `vs`.
///
/// The caller initialises the weights (e.g. loads pretrained ones, see [`crate::finetune`])
/// before the first call; a resumed call overwrites them from the checkpoint. On return, `vs`
/// holds the kept weights (`config.keep`: last or best).
pub fn train<'a>(
    net: &dyn SegmentationModel,
    vs: &VarStore,
    data: &DataSplits,
    sampling: impl Into<Sampling<'a>>,
    config: &TrainConfig,
    dir: &Path,
    observer: &mut dyn TrainObserver,
) -> Result<TrainSummary> {
    let Sampling { strategy, mut hook } = sampling.into();
    config.validate()?;
    config.precision.check_device(vs.device())?;
    check_data(net, data.train.as_ref(), data.val.as_ref())?;
    let mut optimizer = Optimizer::new(vs, &config.optimizer)?;
    let mut scaler = GradScaler::for_precision(config.precision, vs.device());
    let paths = RunPaths::new(dir);
    let initial = hook.is_some().then(|| strategy.clone());
    let Start { mut sampler, epoch: start, mut best, mut history } =
        start_or_resume(&paths, vs, &mut optimizer, &mut scaler, data.train.as_ref(), strategy, config)?;
    let run = Loop::new(net, vs, data, config, dir)?;

    if start < config.epochs {
        observer.run_start(start + 1, config.epochs);
    }
    for epoch in start..config.epochs {
        let started = Instant::now();
        let mut sampling = None;
        if let Some(hook) = hook.as_mut() {
            hook.before_epoch(epoch, net, &mut sampler)?;
            sampling = Some(sampler.probabilities());
        }
        let trained = run.train_epoch(epoch, &mut sampler, (&mut optimizer, &mut scaler), observer)?;
        let number = epoch + 1;
        let validated = run.validate(number, observer)?;
        let improved = match (&validated, &best) {
            (Some((_, m)), None) => m.value(config.monitor).is_finite(),
            (Some((_, m)), Some(b)) => m.value(config.monitor) > b.value,
            (None, _) => false,
        };
        if improved && let Some((_, m)) = &validated {
            best = Some(BestEpoch { epoch: number, monitor: config.monitor, value: m.value(config.monitor) });
        }
        let (val_loss, val) = validated.map_or((None, None), |(l, m)| (Some(l), Some(m)));
        run.save_tensors(number, improved, &optimizer)?;
        let record = EpochRecord {
            epoch: number,
            epochs: config.epochs,
            lr: trained.lr,
            train_loss: trained.loss_sum / trained.samples.max(1) as f64,
            steps: run.steps,
            samples: trained.samples,
            samples_per_s: trained.samples as f64 / trained.seconds.max(1e-9),
            train_seconds: trained.seconds,
            wall_seconds: started.elapsed().as_secs_f64(),
            val_loss,
            val,
            best: improved,
            sampling,
        };
        history.push(record.clone());
        run.commit(number, &sampler, &scaler, initial.as_ref(), best, &history)?;
        observer.epoch_end(&record);
    }
    finish(&paths, vs, config, start, best, history, optimizer.num_parameters())
}

/// Puts the kept weights into the store (when they are not there already) and sums up.
fn finish(
    paths: &RunPaths,
    vs: &VarStore,
    config: &TrainConfig,
    start: usize,
    best: Option<BestEpoch>,
    history: Vec<EpochRecord>,
    trainable_parameters: i64,
) -> Result<TrainSummary> {
    let resumed_at = (start > 0 && start < config.epochs).then_some(start + 1);
    let finished = history.last().map_or(start.max(config.epochs), |r| r.epoch);
    let checkpoint = match (config.keep, &best) {
        (Keep::Best, Some(_)) => paths.best(),
        _ => paths.last(),
    };
    let ran = config.epochs.saturating_sub(start);
    if ran == 0 || checkpoint == paths.best() {
        // A complete directory (weights not yet in the store) or `keep = best`.
        lssg_backbones::checkpoint::load(vs, &checkpoint)?;
    }
    Ok(TrainSummary {
        epochs: finished,
        epochs_run: ran,
        resumed_at,
        last: history.last().cloned(),
        best,
        keep: config.keep,
        checkpoint,
        trainable_parameters,
        history,
    })
}

/// Runs `model` in eval mode without gradients over `loader` with scenario `scenario` for
/// every sample; returns the mean loss over samples and the metrics. Reports the validation
/// events of epoch `epoch` to `observer`.
pub(crate) fn validate_full(
    model: &dyn SegmentationModel,
    loader: &BatchLoader,
    scenario: Scenario,
    loss: &LossConfig,
    device: (Device, Precision),
    observer: &mut dyn TrainObserver,
    epoch: usize,
) -> Result<(f64, Metrics)> {
    observer.validation_start(epoch, loader.num_batches());
    let runs = run_scenarios(model, loader, &[scenario], Some(loss), false, device, |done, total| {
        observer.validation_progress(done, total)
    })?;
    let metrics = runs.metrics.into_iter().next().ok_or_else(|| Error::shape("validation scenarios", 1, 0))?;
    Ok((runs.mean_loss.first().copied().unwrap_or(f64::NAN), metrics))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_serde_and_validation() {
        let c = TrainConfig::default();
        c.validate().unwrap();
        assert_eq!((c.optimizer.lr, c.shuffle, c.keep), (1e-4, false, Keep::Last));
        let parsed: TrainConfig =
            serde_json::from_str(r#"{"epochs": 3, "keep": "best", "optimizer": {"kind": "sgd"}}"#).unwrap();
        assert_eq!((parsed.epochs, parsed.keep, parsed.batch_size), (3, Keep::Best, 4));
        assert!(serde_json::from_str::<TrainConfig>(r#"{"epoch": 3}"#).is_err());
        assert!(TrainConfig { epochs: 0, ..Default::default() }.validate().is_err());
        assert!(TrainConfig { grad_clip: Some(-1.0), ..Default::default() }.validate().is_err());
        assert!(TrainConfig { validate_every: 0, ..Default::default() }.validate().is_err());
    }

    #[test]
    fn torch_seeds_differ_per_epoch_and_seed() {
        assert_ne!(torch_seed(0, 0), torch_seed(0, 1));
        assert_ne!(torch_seed(0, 1), torch_seed(1, 1));
        assert!(torch_seed(u64::MAX, usize::MAX) >= 0);
    }
}
