//! The training phase of one epoch: [`EpochRunner::run`] sets the epoch's learning rate,
//! re-seeds libtorch's RNG from (seed, epoch), and for every batch of the loader's epoch checks
//! the labels, moves the batch to the device, draws one scenario per sample and takes one
//! [`StepContext::step`], reporting each step to the observer.
//!
//! The learning rate, the loader's order and libtorch's RNG are functions of the epoch, and the
//! scenario sampler's state is saved with each checkpoint, so a resumed epoch replays exactly
//! what the uninterrupted run did (`crate::train`).

use std::sync::Arc;
use std::time::Instant;

use lssg_backbones::input::{availability, batch_to_tensors};
use lssg_core::seed::{GOLDEN_GAMMA, mix64};
use lssg_datasets::{BatchLoader, LoaderConfig, TileDataset};
use lssg_scenario::ScenarioSampler;

use crate::error::{Error, Result};
use crate::observer::{StepEvent, TrainObserver};
use crate::tensors::check_labels;
use crate::train::config::TrainConfig;
use crate::train::step::{StepBatch, StepContext, StepIndex};

/// What the training phase of one epoch produced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct EpochTraining {
    /// The epoch's learning rate.
    pub lr: f64,
    /// Σ over batches of loss × batch size.
    pub loss_sum: f64,
    /// Training samples seen.
    pub samples: usize,
    /// Seconds of the phase.
    pub seconds: f64,
}

impl EpochTraining {
    /// The mean loss over samples.
    pub fn mean_loss(&self) -> f64 {
        self.loss_sum / self.samples.max(1) as f64
    }

    /// Samples per second of the phase.
    pub fn samples_per_s(&self) -> f64 {
        self.samples as f64 / self.seconds.max(1e-9)
    }
}

/// Runs the training phase of epochs over the training split.
pub(crate) struct EpochRunner<'a> {
    config: &'a TrainConfig,
    loader: BatchLoader,
    steps: usize,
}

impl<'a> EpochRunner<'a> {
    /// A runner over `train` with `config`'s batches; fails when the split yields no batch.
    pub fn new(train: &Arc<dyn TileDataset>, config: &'a TrainConfig) -> Result<Self> {
        let loader_config = LoaderConfig {
            batch_size: config.batch_size,
            shuffle: config.shuffle,
            seed: config.seed,
            prefetch: config.prefetch,
            drop_last: config.drop_last,
        };
        let loader = BatchLoader::new(Arc::clone(train), loader_config)?;
        let steps = loader.num_batches();
        if steps == 0 {
            return Err(Error::EmptySplit { split: "train", tiles: train.len(), batch_size: config.batch_size });
        }
        Ok(Self { config, loader, steps })
    }

    /// Optimisation steps per epoch.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// Trains epoch `epoch` (0-based): one scenario per sample from `sampler`, one step of `ctx`
    /// per batch. A non-finite loss stops before its step is applied.
    pub fn run(
        &self,
        epoch: usize,
        sampler: &mut ScenarioSampler,
        ctx: &mut StepContext<'_>,
        observer: &mut dyn TrainObserver,
    ) -> Result<EpochTraining> {
        let config = self.config;
        let dataset = self.loader.dataset();
        let (num_classes, modalities) = (dataset.num_classes(), dataset.modalities().len());
        let (number, started) = (epoch + 1, Instant::now());
        let lr = config.scheduler.lr(config.optimizer.lr, epoch, config.epochs);
        ctx.optimizer.set_lr(lr);
        tch::manual_seed(torch_seed(config.seed, epoch));
        observer.epoch_start(number, config.epochs, self.steps);
        let (mut loss_sum, mut samples) = (0.0f64, 0usize);
        for (i, batch) in self.loader.epoch(epoch).enumerate() {
            let batch = batch?;
            check_labels(&batch.labels, num_classes)?;
            let (inputs, labels) = batch_to_tensors(&batch, ctx.device)?;
            let scenarios = sampler.sample_n(batch.size);
            let avail = availability(&scenarios, modalities, ctx.device);
            let step = StepBatch { inputs: &inputs, labels: &labels, availability: &avail, scenarios: &scenarios };
            let value = ctx.step(&step, StepIndex { epoch: number, step: i + 1 })?;
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
}

/// The libtorch seed of epoch `epoch`: dropout masks depend only on (seed, epoch), so a
/// resumed epoch draws what the uninterrupted run drew.
fn torch_seed(seed: u64, epoch: usize) -> i64 {
    // SplitMix64's mixer over (seed, epoch), as a non-negative i64.
    (mix64(seed ^ (epoch as u64).wrapping_mul(GOLDEN_GAMMA)) >> 1) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torch_seeds_differ_per_epoch_and_seed() {
        assert_ne!(torch_seed(0, 0), torch_seed(0, 1));
        assert_ne!(torch_seed(0, 1), torch_seed(1, 1));
        assert!(torch_seed(u64::MAX, usize::MAX) >= 0);
        // Golden value (a Python transcription of SplitMix64's mixer): a change here changes
        // every run's dropout masks.
        assert_eq!(torch_seed(7, 3), 8_365_612_164_934_435_592);
    }

    #[test]
    fn mean_loss_and_rate() {
        let t = EpochTraining { lr: 0.1, loss_sum: 6.0, samples: 4, seconds: 2.0 };
        assert_eq!((t.mean_loss(), t.samples_per_s()), (1.5, 2.0));
        let empty = EpochTraining { samples: 0, loss_sum: 0.0, ..t };
        assert_eq!(empty.mean_loss(), 0.0);
    }
}
