//! The training phase of one epoch: [`EpochRunner::run`] sets the epoch's learning rate,
//! re-seeds libtorch's RNG from (seed, epoch), and for every batch of the loader's epoch checks
//! the labels, moves the batch to the device, draws one scenario per sample and takes one
//! [`StepContext::step`], reporting each step to the observer.
//!
//! The learning rate, the loader's order and libtorch's RNG are functions of the epoch, and the
//! scenario sampler's state is saved with each checkpoint, so a resumed epoch replays exactly
//! what the uninterrupted run did (`crate::train`).

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use lssg_backbones::input::{availability, batch_to_tensors};
use lssg_core::seed::{GOLDEN_GAMMA, mix64};
use lssg_datasets::{BatchLoader, LoaderConfig, TileDataset};
use lssg_scenario::{Scenario, ScenarioSampler};

use crate::dist::Shard;
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
    /// The data-parallel gradient weight of this rank's next step (`crate::dist`).
    gradient_weight: Option<Rc<Cell<f64>>>,
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
        Ok(Self { config, loader, steps, gradient_weight: None })
    }

    /// Trains this rank's share of every batch, setting `weight` before each step
    /// (`crate::dist::attach`).
    pub fn with_gradient_weight(mut self, weight: Option<Rc<Cell<f64>>>) -> Self {
        self.gradient_weight = weight;
        self
    }

    /// The scenarios of this rank's samples of batch `i`, which holds `local` of them: all of a
    /// data-parallel batch's scenarios are drawn, so the sampler advances as in one process,
    /// and this rank keeps its part. Also returns the samples this rank counts (0 for a rank
    /// that computes a stand-in sample with weight 0).
    fn draw(
        &self,
        sampler: &mut ScenarioSampler,
        shard: Shard,
        i: usize,
        local: usize,
    ) -> Result<(Vec<Scenario>, usize)> {
        let Some(weight) = &self.gradient_weight else { return Ok((sampler.sample_n(local), local)) };
        let (len, b) = (self.loader.dataset().len(), self.config.batch_size);
        let global = b.min(len - i * b);
        let (range, w) = shard.part(global);
        if range.len() != local {
            return Err(Error::shape("data-parallel batch part", range.len(), local));
        }
        weight.set(w);
        crate::dist::set_step_weight(w);
        let scenarios = sampler.sample_n(global)[range].to_vec();
        Ok((scenarios, if w == 0.0 { 0 } else { local }))
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
        // Each rank its own dropout masks; a single process keeps the plain seed.
        let rank = Shard::current().rank as u64;
        tch::manual_seed(torch_seed(config.seed ^ rank.wrapping_mul(GOLDEN_GAMMA), epoch));
        observer.epoch_start(number, config.epochs, self.steps);
        let (mut loss_sum, mut samples) = (0.0f64, 0usize);
        let shard = Shard::current();
        let batches = match self.gradient_weight {
            Some(_) => self.loader.epoch_parts(epoch, move |_, n| shard.part(n).0),
            None => self.loader.epoch(epoch),
        };
        for (i, batch) in batches.enumerate() {
            let batch = batch?;
            check_labels(&batch.labels, num_classes)?;
            let (inputs, labels) = batch_to_tensors(&batch, ctx.device)?;
            let (scenarios, counted) = self.draw(sampler, shard, i, batch.size)?;
            let avail = availability(&scenarios, modalities, ctx.device);
            let step = StepBatch { inputs: &inputs, labels: &labels, availability: &avail, scenarios: &scenarios };
            let value = ctx.step(&step, StepIndex { epoch: number, step: i + 1 })?;
            loss_sum += value * counted as f64;
            samples += counted;
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
        if self.gradient_weight.is_some() {
            let mut totals = [loss_sum, samples as f64];
            crate::dist::all_reduce_f64(&mut totals)?;
            (loss_sum, samples) = (totals[0], totals[1] as usize);
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
