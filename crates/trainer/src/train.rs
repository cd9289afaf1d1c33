//! The resumable training loop (SPEC §5): one availability scenario per sample, validation
//! with every modality, checkpoints after every epoch.
//!
//! # Run directory
//! ```text
//! <dir>/metrics.jsonl                      one EpochRecord per finished epoch
//! <dir>/checkpoint/epoch-0007.safetensors  model weights after epoch 7 (the last two kept)
//! <dir>/checkpoint/optim-0007.safetensors  optimiser state after epoch 7
//! <dir>/checkpoint/state.json              epoch, scenario sampler (incl. RNG), best, config
//! <dir>/checkpoint/last.safetensors        the latest weights
//! <dir>/checkpoint/best.safetensors        the best weights by `monitor` (when validated)
//! ```
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

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use lssg_backbones::SegmentationModel;
use lssg_datasets::{BatchLoader, LoaderConfig, TileDataset};
use lssg_scenario::{SamplingStrategy, Scenario, ScenarioSampler};
use serde::{Deserialize, Serialize};
use tch::{Device, Tensor, nn::VarStore};

use crate::checkpoint;
use crate::error::{Error, Result};
use crate::loss::{LossConfig, output_loss};
use crate::metrics::{Metrics, MetricsAccumulator, Monitor};
use crate::observer::{EpochRecord, StepEvent, TrainObserver};
use crate::optim::{Optimizer, OptimizerConfig};
use crate::schedule::SchedulerConfig;
use crate::tensors::{availability, batch_to_tensors, check_labels, uniform_availability};

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
        }
    }
}

/// Settings that may change when a run is resumed (they do not change what a finished epoch
/// computed).
const RESUMABLE_CHANGES: [&str; 4] = ["epochs", "validate_every", "prefetch", "keep"];

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

/// The best epoch so far.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BestEpoch {
    /// Epoch, 1-based.
    pub epoch: usize,
    /// The monitored metric.
    pub monitor: Monitor,
    /// Its value.
    pub value: f64,
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

/// `state.json`: everything besides the tensors that a resumed run needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunState {
    /// Finished epochs.
    epoch: usize,
    /// File names (in `checkpoint/`) of that epoch's model and optimiser state.
    model: String,
    optimizer: String,
    /// The scenario sampler after that epoch, RNG included.
    sampler: ScenarioSampler,
    /// The loader's shuffling seed and the next epoch it will produce.
    loader_seed: u64,
    next_loader_epoch: usize,
    best: Option<BestEpoch>,
    /// The configuration the run was started with (compared on resume).
    config: TrainConfig,
}

/// The files of a run directory.
#[derive(Debug, Clone)]
pub struct RunPaths {
    /// The run directory.
    pub dir: PathBuf,
    /// `dir/checkpoint`.
    pub checkpoint_dir: PathBuf,
}

impl RunPaths {
    /// The paths of run directory `dir`.
    pub fn new(dir: &Path) -> Self {
        Self { dir: dir.to_path_buf(), checkpoint_dir: dir.join("checkpoint") }
    }
    /// `metrics.jsonl`.
    pub fn metrics(&self) -> PathBuf {
        self.dir.join("metrics.jsonl")
    }
    /// `checkpoint/state.json`.
    pub fn state(&self) -> PathBuf {
        self.checkpoint_dir.join("state.json")
    }
    /// `checkpoint/epoch-NNNN.safetensors`.
    pub fn epoch_model(&self, epoch: usize) -> PathBuf {
        self.checkpoint_dir.join(format!("epoch-{epoch:04}.safetensors"))
    }
    /// `checkpoint/optim-NNNN.safetensors`.
    pub fn epoch_optimizer(&self, epoch: usize) -> PathBuf {
        self.checkpoint_dir.join(format!("optim-{epoch:04}.safetensors"))
    }
    /// `checkpoint/last.safetensors`.
    pub fn last(&self) -> PathBuf {
        self.checkpoint_dir.join("last.safetensors")
    }
    /// `checkpoint/best.safetensors`.
    pub fn best(&self) -> PathBuf {
        self.checkpoint_dir.join("best.safetensors")
    }
    /// Whether a run in this directory has finished `epochs` epochs.
    pub fn is_complete(&self, epochs: usize) -> bool {
        checkpoint::read_json::<RunState>(&self.state()).is_ok_and(|s| s.epoch >= epochs)
    }
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

/// Compares the saved configuration and strategy with the requested ones.
fn check_resume(path: &Path, state: &RunState, config: &TrainConfig, strategy: &SamplingStrategy) -> Result<()> {
    let as_map = |c: &TrainConfig| match serde_json::to_value(c) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    let (saved, requested) = (as_map(&state.config), as_map(config));
    for (key, value) in &saved {
        if RESUMABLE_CHANGES.contains(&key.as_str()) {
            continue;
        }
        let now = requested.get(key).cloned().unwrap_or(serde_json::Value::Null);
        if &now != value {
            return Err(Error::ResumeMismatch {
                path: path.to_path_buf(),
                what: format!("train.{key}"),
                saved: value.to_string(),
                requested: now.to_string(),
            });
        }
    }
    if state.sampler.strategy() != strategy {
        let json = |s: &SamplingStrategy| serde_json::to_string(s).unwrap_or_default();
        return Err(Error::ResumeMismatch {
            path: path.to_path_buf(),
            what: "sampling strategy".into(),
            saved: json(state.sampler.strategy()),
            requested: json(strategy),
        });
    }
    Ok(())
}

/// Trains `model` (whose variables live in `vs`, on `device`) on `train`, validating on `val`
/// with every modality, in run directory `dir`; resumes an interrupted run found there.
///
/// The caller initialises the weights (e.g. loads pretrained ones) before the first call; a
/// resumed call overwrites them from the checkpoint. On return, `vs` holds the kept weights
/// (`config.keep`: last or best).
#[allow(clippy::too_many_arguments)]
pub fn train(
    model: &dyn SegmentationModel,
    vs: &VarStore,
    train: Arc<dyn TileDataset>,
    val: Arc<dyn TileDataset>,
    strategy: SamplingStrategy,
    config: &TrainConfig,
    dir: &Path,
    device: Device,
    observer: &mut dyn TrainObserver,
) -> Result<TrainSummary> {
    config.validate()?;
    check_data(model, train.as_ref(), val.as_ref())?;
    let paths = RunPaths::new(dir);
    let mut optimizer = Optimizer::new(vs, &config.optimizer)?;

    // ---- start or resume ----
    let state_path = paths.state();
    let (mut sampler, start, mut best, mut history) = if state_path.exists() {
        let state: RunState = checkpoint::read_json(&state_path)?;
        check_resume(&state_path, &state, config, &strategy)?;
        lssg_backbones::checkpoint::load(vs, &paths.checkpoint_dir.join(&state.model))?;
        optimizer.load(&paths.checkpoint_dir.join(&state.optimizer))?;
        // Lines of epochs after the commit point (a crash between the two writes) are dropped.
        let mut history: Vec<EpochRecord> = checkpoint::read_json_lines(&paths.metrics())?;
        history.retain(|r| r.epoch <= state.epoch);
        (state.sampler, state.epoch, state.best, history)
    } else {
        (ScenarioSampler::new(train.modalities(), strategy, config.seed)?, 0, None, Vec::new())
    };
    let resumed_at = (start > 0 && start < config.epochs).then_some(start + 1);

    let train_loader = BatchLoader::new(
        Arc::clone(&train),
        LoaderConfig {
            batch_size: config.batch_size,
            shuffle: config.shuffle,
            seed: config.seed,
            prefetch: config.prefetch,
            drop_last: config.drop_last,
        },
    )?;
    let val_loader = BatchLoader::new(
        Arc::clone(&val),
        LoaderConfig {
            batch_size: config.val_batch_size(),
            shuffle: false,
            seed: 0,
            prefetch: config.prefetch,
            drop_last: false,
        },
    )?;
    let steps = train_loader.num_batches();
    if steps == 0 {
        return Err(Error::EmptySplit { split: "train", tiles: train.len(), batch_size: config.batch_size });
    }
    if val_loader.num_batches() == 0 {
        return Err(Error::EmptySplit { split: "val", tiles: val.len(), batch_size: config.val_batch_size() });
    }
    let num_classes = train.num_classes();
    let modalities = train.modalities().len();
    let full = train.modalities().full_scenario();
    let class_names = train.class_names();

    if start < config.epochs {
        observer.run_start(start + 1, config.epochs);
    }
    for epoch in start..config.epochs {
        let number = epoch + 1;
        let epoch_start = Instant::now();
        let lr = config.scheduler.lr(config.optimizer.lr, epoch, config.epochs);
        optimizer.set_lr(lr);
        tch::manual_seed(torch_seed(config.seed, epoch));
        observer.epoch_start(number, config.epochs, steps);

        // ---- training ----
        let (mut loss_sum, mut samples) = (0.0f64, 0usize);
        for (i, batch) in train_loader.epoch(epoch).enumerate() {
            let batch = batch?;
            check_labels(&batch.labels, num_classes)?;
            let (inputs, labels) = batch_to_tensors(&batch, device)?;
            let scenarios = sampler.sample_n(batch.size);
            let avail = availability(&scenarios, modalities, device);
            let out = model.forward_t(&inputs, &avail, true);
            if out.logits.size().get(1) != Some(&(num_classes as i64)) {
                return Err(Error::shape(
                    "logits [B, K, H, W]",
                    [batch.size, num_classes, batch.height, batch.width],
                    out.logits.size(),
                ));
            }
            let loss = output_loss(&out, &labels, &config.loss)?;
            let value = loss.double_value(&[]);
            if !value.is_finite() {
                return Err(Error::NonFiniteLoss { epoch: number, step: i + 1, value });
            }
            optimizer.backward_step(&loss, config.grad_clip);
            loss_sum += value * batch.size as f64;
            samples += batch.size;
            let seconds = epoch_start.elapsed().as_secs_f64();
            observer.step(&StepEvent {
                epoch: number,
                step: i + 1,
                steps,
                loss: value,
                lr,
                samples_per_s: samples as f64 / seconds.max(1e-9),
            });
        }
        let train_seconds = epoch_start.elapsed().as_secs_f64();

        // ---- validation, every modality available ----
        let validate = number.is_multiple_of(config.validate_every) || number == config.epochs;
        let (val_loss, val_metrics) = if validate {
            let (m, l) = validate_full(model, &val_loader, full, &class_names, &config.loss, device, observer, number)?;
            if !l.is_finite() {
                return Err(Error::NonFiniteLoss { epoch: number, step: 0, value: l });
            }
            (Some(l), Some(m))
        } else {
            (None, None)
        };
        let improved = match (&val_metrics, &best) {
            (Some(m), None) => m.value(config.monitor).is_finite(),
            (Some(m), Some(b)) => m.value(config.monitor) > b.value,
            (None, _) => false,
        };
        if improved && let Some(m) = &val_metrics {
            best = Some(BestEpoch { epoch: number, monitor: config.monitor, value: m.value(config.monitor) });
        }

        // ---- checkpoint: tensors, copies, metrics, then state.json (the commit point) ----
        let model_path = paths.epoch_model(number);
        let optim_path = paths.epoch_optimizer(number);
        lssg_backbones::checkpoint::save(vs, &model_path)?;
        optimizer.save(&optim_path)?;
        if improved {
            checkpoint::copy_file(&model_path, &paths.best())?;
        }
        checkpoint::copy_file(&model_path, &paths.last())?;
        let record = EpochRecord {
            epoch: number,
            epochs: config.epochs,
            lr,
            train_loss: loss_sum / samples.max(1) as f64,
            steps,
            samples,
            samples_per_s: samples as f64 / train_seconds.max(1e-9),
            train_seconds,
            wall_seconds: epoch_start.elapsed().as_secs_f64(),
            val_loss,
            val: val_metrics,
            best: improved,
        };
        history.push(record.clone());
        checkpoint::write_json_lines(&paths.metrics(), &history)?;
        let state = RunState {
            epoch: number,
            model: file_name(&model_path),
            optimizer: file_name(&optim_path),
            sampler: sampler.clone(),
            loader_seed: config.seed,
            next_loader_epoch: number,
            best,
            config: config.clone(),
        };
        checkpoint::write_json(&state_path, &state)?;
        prune(&paths, number)?;
        observer.epoch_end(&record);
    }

    // ---- the kept weights ----
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
        trainable_parameters: optimizer.num_parameters(),
        history,
    })
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Removes `epoch-N` / `optim-N` files older than the last two epochs.
fn prune(paths: &RunPaths, finished: usize) -> Result<()> {
    let entries = std::fs::read_dir(&paths.checkpoint_dir)
        .map_err(|source| Error::Io { path: paths.checkpoint_dir.clone(), source })?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let number = name
            .strip_suffix(".safetensors")
            .and_then(|stem| stem.strip_prefix("epoch-").or_else(|| stem.strip_prefix("optim-")))
            .and_then(|n| n.parse::<usize>().ok());
        if let Some(n) = number
            && n + 2 <= finished
        {
            checkpoint::remove_if_exists(&entry.path())?;
        }
    }
    Ok(())
}

/// Runs `model` in eval mode without gradients over `loader` with scenario `scenario` for
/// every sample; returns the metrics and the mean loss over samples. Reports the validation
/// events of epoch `epoch` to `observer`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn validate_full(
    model: &dyn SegmentationModel,
    loader: &BatchLoader,
    scenario: Scenario,
    class_names: &[String],
    loss: &LossConfig,
    device: Device,
    observer: &mut dyn TrainObserver,
    epoch: usize,
) -> Result<(Metrics, f64)> {
    let dataset = loader.dataset();
    let num_classes = dataset.num_classes();
    let modalities = dataset.modalities().len();
    let total = loader.num_batches();
    observer.validation_start(epoch, total);
    let mut acc = MetricsAccumulator::new(num_classes as i64, device)?.with_class_names(class_names)?;
    // The loss sum stays on the device: no host synchronisation per batch.
    let mut loss_sum = Tensor::zeros([], (tch::Kind::Double, device));
    let mut samples = 0usize;
    for (i, batch) in loader.epoch(0).enumerate() {
        let batch = batch?;
        check_labels(&batch.labels, num_classes)?;
        let (inputs, labels) = batch_to_tensors(&batch, device)?;
        let avail = uniform_availability(scenario, batch.size, modalities, device);
        let out = tch::no_grad(|| model.forward_t(&inputs, &avail, false));
        acc.update(&out.logits, &labels)?;
        let l = tch::no_grad(|| output_loss(&out, &labels, loss))?;
        loss_sum += l.to_kind(tch::Kind::Double) * batch.size as f64;
        samples += batch.size;
        observer.validation_progress(i + 1, total);
    }
    let mean_loss = loss_sum.double_value(&[]) / samples.max(1) as f64;
    Ok((acc.finish(), mean_loss))
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

    #[test]
    fn prune_keeps_the_last_two_epochs() {
        let dir = tempfile::tempdir().unwrap();
        let paths = RunPaths::new(dir.path());
        std::fs::create_dir_all(&paths.checkpoint_dir).unwrap();
        for e in 1..=4 {
            std::fs::write(paths.epoch_model(e), b"m").unwrap();
            std::fs::write(paths.epoch_optimizer(e), b"o").unwrap();
        }
        std::fs::write(paths.best(), b"b").unwrap();
        prune(&paths, 4).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(&paths.checkpoint_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "best.safetensors",
                "epoch-0003.safetensors",
                "epoch-0004.safetensors",
                "optim-0003.safetensors",
                "optim-0004.safetensors"
            ]
        );
    }
}
