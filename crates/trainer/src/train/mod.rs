//! The resumable training loop (docs/method.md §5): one availability scenario per sample, validation
//! with every modality, checkpoints after every epoch. [`train`] wires its parts:
//!
//! | part | file | what |
//! |---|---|---|
//! | [`TrainConfig`] | `config.rs` | the settings, their defaults and validation, [`Keep`] |
//! | [`StepContext`] | `step.rs` | one optimisation step: forward, [`LossStrategy`], backward, [`GradientHook`], clipping, update |
//! | `EpochRunner` | `epoch.rs` | the training phase of an epoch: learning rate, RNG, batches, scenarios, steps |
//! | `Validator` | `validation.rs` | validation with every modality when due, and whether the epoch is the best |
//! | `Checkpointer` | `checkpointer.rs` | restore, the epoch's files, the commit point, keep-last-N and keep-best strategies |
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
//! overflow ([`lssg_torch::GradScaler`]), whose state is part of `state.json`. fp32 is the
//! plain loop.

mod checkpointer;
mod config;
mod epoch;
mod step;
mod validation;

use std::path::{Path, PathBuf};
use std::time::Instant;

use lssg_backbones::SegmentationModel;
use lssg_datasets::{DataSplits, TileDataset};
use lssg_scenario::{SamplingStrategy, ScenarioSampler};
use serde::{Deserialize, Serialize};
use tch::nn::VarStore;

use crate::adaptive::EpochHook;
use crate::error::{Error, Result};
use crate::observer::{EpochRecord, TrainObserver};
use crate::run_dir::{BestEpoch, RunPaths};

use checkpointer::{Checkpointer, Commit, SavedEpoch, Start};
pub use config::{Keep, TrainConfig};
use epoch::EpochRunner;
pub use step::{GradientHook, LossState, LossStrategy, StepBatch, StepContext, StepIndex};
use validation::Validator;

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

/// How a run draws its scenarios and what it minimises: a strategy, optionally a hook that may
/// change the sampler between epochs (`guided-adaptive`, `curriculum`, [`crate::adaptive`]),
/// and optionally a loss other than the configured segmentation loss (group DRO,
/// distillation: [`crate::finetune`](mod@crate::finetune)).
pub struct Sampling<'a> {
    /// The strategy the run starts with (compared on resume).
    pub strategy: SamplingStrategy,
    /// Called before every epoch.
    pub hook: Option<&'a mut dyn EpochHook>,
    /// The loss of every step; `None` is `config.loss`.
    pub loss: Option<Box<dyn LossStrategy + 'a>>,
}

impl From<SamplingStrategy> for Sampling<'_> {
    fn from(strategy: SamplingStrategy) -> Self {
        Self { strategy, hook: None, loss: None }
    }
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

/// Trains `net`, whose variables live in `vs`, on `data.train`, validating on `data.val` with
/// every modality, drawing each sample's scenario as `sampling` says (a [`SamplingStrategy`]
/// converts), in run directory `dir`; resumes an interrupted run found there. Everything runs
/// on the device of `vs`.
///
/// The caller initialises the weights (e.g. loads pretrained ones, see [`crate::finetune`](mod@crate::finetune))
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
    let Sampling { strategy, hook, loss } = sampling.into();
    config.validate()?;
    config.precision.check_device(vs.device())?;
    check_data(net, data.train.as_ref(), data.val.as_ref())?;
    let mut ctx = StepContext::new(net, vs, config)?;
    if let Some(loss) = loss {
        ctx.loss = loss;
    }
    let initial = hook.is_some().then(|| strategy.clone());
    let checkpointer = Checkpointer::new(RunPaths::new(dir), config, initial);
    let Start { sampler, epoch: start, best, history } =
        checkpointer.restore(vs, &mut ctx, data.train.as_ref(), strategy)?;
    let weight = crate::dist::attach(&mut ctx, vs)?;
    let runner = EpochRunner::new(&data.train, config)?.with_gradient_weight(weight);
    let validator = Validator::new(&data.val, config, vs.device())?;
    let mut run = Run { config, vs, ctx, runner, validator, checkpointer, hook, sampler, best, history };
    if start < config.epochs {
        observer.run_start(start + 1, config.epochs);
    }
    for epoch in start..config.epochs {
        run.epoch(epoch, observer)?;
    }
    run.finish(start)
}

/// One run's parts and its state between epochs.
struct Run<'a, 'h> {
    config: &'a TrainConfig,
    vs: &'a VarStore,
    ctx: StepContext<'a>,
    runner: EpochRunner<'a>,
    validator: Validator<'a>,
    checkpointer: Checkpointer<'a>,
    hook: Option<&'h mut dyn EpochHook>,
    sampler: ScenarioSampler,
    best: Option<BestEpoch>,
    history: Vec<EpochRecord>,
}

impl Run<'_, '_> {
    /// Epoch `epoch` (0-based): the sampler's hook, training, validation when due, the epoch's
    /// files and its commit.
    fn epoch(&mut self, epoch: usize, observer: &mut dyn TrainObserver) -> Result<()> {
        let (config, started) = (self.config, Instant::now());
        let mut sampling = None;
        if let Some(hook) = self.hook.as_mut() {
            hook.before_epoch(epoch, self.ctx.net, &mut self.sampler)?;
            sampling = Some(self.sampler.probabilities());
        }
        let busy = crate::dist::busy_seconds();
        let trained = self.runner.run(epoch, &mut self.sampler, &mut self.ctx, observer)?;
        let communication_seconds = busy.zip(crate::dist::busy_seconds()).map(|(before, after)| after - before);
        // Data-parallel ranks validate and save rank 0's batch-norm statistics.
        crate::dist::broadcast_variables(self.vs)?;
        let primary = crate::dist::Shard::current().is_primary();
        let number = epoch + 1;
        let validated = self.validator.run(number, self.ctx.net, observer)?;
        let improved = validated.as_ref().and_then(|v| v.improves(number, self.best.as_ref(), config.monitor));
        if improved.is_some() {
            self.best = improved;
        }
        let saved = SavedEpoch { epoch: number, improved: improved.is_some() };
        if primary {
            self.checkpointer.save(saved, self.vs, &self.ctx.optimizer)?;
        }
        let (val_loss, val) = validated.map_or((None, None), |v| (Some(v.loss), Some(v.metrics)));
        let record = EpochRecord {
            epoch: number,
            epochs: config.epochs,
            lr: trained.lr,
            train_loss: trained.mean_loss(),
            steps: self.runner.steps(),
            samples: trained.samples,
            samples_per_s: trained.samples_per_s(),
            train_seconds: trained.seconds,
            wall_seconds: started.elapsed().as_secs_f64(),
            val_loss,
            val,
            best: saved.improved,
            sampling,
            weights: self.ctx.loss.weights(),
            communication_seconds,
        };
        self.history.push(record.clone());
        let commit = Commit {
            epoch: number,
            sampler: &self.sampler,
            scaler: &self.ctx.scaler,
            loss: self.ctx.loss.state(),
            best: self.best,
            history: &self.history,
        };
        if primary {
            self.checkpointer.commit(commit)?;
        }
        // The other ranks read rank 0's files next (the kept weights, a resumed run).
        crate::dist::barrier()?;
        observer.epoch_end(&record);
        Ok(())
    }

    /// Puts the kept weights into the store (when they are not there already) and sums up; the
    /// run started at finished epoch `start`.
    fn finish(self, start: usize) -> Result<TrainSummary> {
        let (config, paths) = (self.config, self.checkpointer.paths());
        let resumed_at = (start > 0 && start < config.epochs).then_some(start + 1);
        let finished = self.history.last().map_or(start.max(config.epochs), |r| r.epoch);
        let checkpoint = self.checkpointer.kept(self.best.as_ref());
        let ran = config.epochs.saturating_sub(start);
        if ran == 0 || checkpoint == paths.best() {
            // A complete directory (weights not yet in the store) or `keep = best`.
            lssg_backbones::checkpoint::load(self.vs, &checkpoint)?;
        }
        Ok(TrainSummary {
            epochs: finished,
            epochs_run: ran,
            resumed_at,
            last: self.history.last().cloned(),
            best: self.best,
            keep: config.keep,
            checkpoint,
            trainable_parameters: self.ctx.optimizer.num_parameters(),
            history: self.history,
        })
    }
}
