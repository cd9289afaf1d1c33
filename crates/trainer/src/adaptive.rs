//! `guided-adaptive` (docs/method.md §5.9): guided sampling whose distribution follows the
//! model. Before every `rescore_every`-th epoch (never before the first), the current weights
//! score every scenario on a seeded subset of `rescore_samples` training tiles (the latent
//! distortion of docs/method.md §3, in eval mode without gradients), the scores are smoothed as
//! for static guided sampling, and the sampler's distribution becomes
//! `p ← m·p + (1 − m)·p_new` (m = `rescore_momentum`; 0 replaces it). The sampler keeps its
//! random state, the distribution is part of `state.json` (a resumed run continues with it),
//! and each epoch's distribution goes into its `metrics.jsonl` record.

use std::sync::Arc;

use lssg_backbones::SegmentationModel;
use lssg_core::seed::stream;
use lssg_datasets::{Subset, TileDataset};
use lssg_scenario::ScenarioSampler;
use lssg_scoring::ScoringConfig;
use lssg_smoothing::SmoothingConfig;
use lssg_torch::{Inference, Precision};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use tch::Device;

use crate::error::Result;

/// Something that may change the sampler between epochs.
pub trait EpochHook {
    /// Called before epoch `epoch` (0-based) trains, with the weights after the previous one.
    fn before_epoch(&mut self, epoch: usize, net: &dyn SegmentationModel, sampler: &mut ScenarioSampler) -> Result<()>;
    /// Whether each epoch's distribution should be recorded (it changes during training).
    fn records_distribution(&self) -> bool;
}

/// The hook of every method whose sampler never changes.
pub struct NoHook;

impl EpochHook for NoHook {
    fn before_epoch(&mut self, _: usize, _: &dyn SegmentationModel, _: &mut ScenarioSampler) -> Result<()> {
        Ok(())
    }
    fn records_distribution(&self) -> bool {
        false
    }
}

/// The re-scoring of `guided-adaptive`.
pub struct Rescorer {
    /// Re-score before every epoch that is a multiple of this (≥ 1).
    pub every: usize,
    /// Training tiles scored each time (at most the split's size).
    pub samples: usize,
    /// Weight of the previous distribution, in [0, 1).
    pub momentum: f64,
    /// How to score (batch sizes); `max_samples` is ignored.
    pub scoring: ScoringConfig,
    /// How to smooth.
    pub smoothing: SmoothingConfig,
    /// The training split.
    pub train: Arc<dyn TileDataset>,
    /// Where the forwards run.
    pub device: Device,
    /// The stream the subsets are drawn from (a function of the stage's seed).
    pub seed: u64,
    /// The arithmetic of the scoring forwards (the training loop's, docs/precision.md §1).
    pub precision: Precision,
    /// How the scoring forwards run (the validation's, docs/speed.md §10).
    pub inference: Inference,
}

impl Rescorer {
    /// The tiles scored before epoch `epoch`: `samples` distinct indices drawn from the
    /// stream (seed, "rescore", epoch), in data-set order.
    pub fn subset(&self, epoch: usize) -> Vec<usize> {
        let n = self.train.len();
        let mut rng = ChaCha8Rng::seed_from_u64(stream(self.seed, &["rescore", &epoch.to_string()]));
        let mut all: Vec<usize> = (0..n).collect();
        all.shuffle(&mut rng);
        all.truncate(self.samples.min(n));
        all.sort_unstable();
        all
    }
}

impl EpochHook for Rescorer {
    fn before_epoch(&mut self, epoch: usize, net: &dyn SegmentationModel, sampler: &mut ScenarioSampler) -> Result<()> {
        if epoch == 0 || !epoch.is_multiple_of(self.every) {
            return Ok(());
        }
        let subset: Arc<dyn TileDataset> = Arc::new(Subset::new(self.train.clone(), self.subset(epoch))?);
        let set = subset.modalities().clone();
        let config = ScoringConfig { max_samples: None, ..self.scoring.clone() };
        let (report, _) = self.precision.autocast(self.device, || {
            net.inference(self.inference)
                .region(self.device, || lssg_scoring::measure_scores(net, subset, &config, self.device, &mut |_, _| {}))
        })???;
        let fresh = lssg_smoothing::smooth(&report.distortion, &set, &self.smoothing)?.probabilities;
        let m = self.momentum;
        let mixed: Vec<f64> =
            sampler.probabilities().iter().zip(&fresh).map(|(old, new)| m * old + (1.0 - m) * new).collect();
        let total: f64 = mixed.iter().sum();
        sampler.reweight(mixed.iter().map(|p| p / total).collect())?;
        Ok(())
    }

    fn records_distribution(&self) -> bool {
        true
    }
}
