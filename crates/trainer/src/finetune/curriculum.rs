//! `curriculum`: modality dropout that starts with every modality and moves to uniform
//! dropout over the first epochs (docs/method.md §5.12): curriculum learning (Bengio et al.,
//! ICML 2009) applied to the availability scenarios, easy (every sensor) to hard (any subset).
//!
//! Before epoch e (0-based) the sampler draws from
//!
//! ```text
//! progress = min(1, e / k)
//! P(full scenario)  = 1 − progress + progress / S
//! P(any other one)  = progress / S
//! ```
//!
//! over the S scenarios, k = `ramp_epochs` (default: the run's epochs − 1, at least 1, so the
//! last epoch is uniform). Epoch 0 trains with every modality; from epoch k on, every scenario
//! has 1/S. The distribution is a function of the epoch alone and the sampler keeps its random
//! stream across the changes, so a resumed run draws what an uninterrupted one drew; each
//! epoch's distribution goes into its `metrics.jsonl` record (`sampling`).

use lssg_backbones::SegmentationModel;
use lssg_scenario::{ModalitySet, SamplingStrategy, ScenarioSampler};
use serde::{Deserialize, Serialize};

use crate::adaptive::EpochHook;
use crate::error::{Error, Result};

/// `[finetune.curriculum]`: the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CurriculumConfig {
    /// Epochs k of the linear ramp from full modality to uniform dropout (≥ 1); absent = the
    /// fine-tuning's epochs − 1 (at least 1).
    pub ramp_epochs: Option<usize>,
}

impl CurriculumConfig {
    /// `ramp_epochs`, when given, is at least 1.
    pub fn validate(&self) -> Result<()> {
        if self.ramp_epochs == Some(0) {
            return Err(Error::InvalidConfig {
                field: "finetune.curriculum.ramp_epochs",
                value: "0".into(),
                expected: "at least 1 (epochs of the ramp), or absent for the whole run",
            });
        }
        Ok(())
    }

    /// The ramp k of a run of `epochs` epochs.
    pub fn ramp(&self, epochs: usize) -> usize {
        self.ramp_epochs.unwrap_or(epochs.saturating_sub(1)).max(1)
    }
}

/// The distribution of epoch `epoch` (0-based) over `scenarios` scenarios in canonical order
/// (the full scenario last) with a ramp of `ramp` epochs (module docs).
pub fn distribution(epoch: usize, ramp: usize, scenarios: usize) -> Vec<f64> {
    let progress = (epoch as f64 / ramp.max(1) as f64).min(1.0);
    let other = progress / scenarios as f64;
    let mut p = vec![other; scenarios];
    if let Some(full) = p.last_mut() {
        *full = 1.0 - progress + other;
    }
    p
}

/// The epoch hook of `curriculum`: sets each epoch's distribution.
#[derive(Debug, Clone)]
pub struct Curriculum {
    ramp: usize,
    scenarios: usize,
}

impl Curriculum {
    /// The schedule of `config` for a run of `epochs` epochs over `set`'s scenarios.
    pub fn new(config: &CurriculumConfig, epochs: usize, set: &ModalitySet) -> Self {
        Self { ramp: config.ramp(epochs), scenarios: set.scenarios().len() }
    }

    /// The strategy the run starts with (epoch 0's distribution).
    pub fn initial(&self) -> SamplingStrategy {
        SamplingStrategy::Weighted { probabilities: distribution(0, self.ramp, self.scenarios) }
    }
}

impl EpochHook for Curriculum {
    fn before_epoch(&mut self, epoch: usize, _: &dyn SegmentationModel, sampler: &mut ScenarioSampler) -> Result<()> {
        Ok(sampler.reweight(distribution(epoch, self.ramp, self.scenarios))?)
    }

    fn records_distribution(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ramp_moves_from_full_to_uniform() {
        // S = 3, k = 2: epoch 0 → (0, 0, 1); epoch 1 → progress ½: others ⅙, full ½ + ⅙ = ⅔;
        // epoch 2 and later → ⅓ each.
        assert_eq!(distribution(0, 2, 3), [0.0, 0.0, 1.0]);
        let mid = distribution(1, 2, 3);
        assert!((mid[0] - 1.0 / 6.0).abs() < 1e-15 && (mid[2] - 2.0 / 3.0).abs() < 1e-15, "{mid:?}");
        for e in [2, 5] {
            assert!(distribution(e, 2, 3).iter().all(|p| (p - 1.0 / 3.0).abs() < 1e-15));
        }
        for e in 0..4 {
            assert!((distribution(e, 3, 7).iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
        let config = CurriculumConfig::default();
        assert_eq!((config.ramp(5), config.ramp(1)), (4, 1));
        assert_eq!(CurriculumConfig { ramp_epochs: Some(2) }.ramp(10), 2);
        let e = CurriculumConfig { ramp_epochs: Some(0) }.validate().unwrap_err().to_string();
        assert!(e.contains("finetune.curriculum.ramp_epochs"), "{e}");
    }

    #[test]
    fn the_hook_reweights_the_sampler_and_keeps_its_stream() {
        let set = ModalitySet::from_names(["a", "b"], 1).unwrap();
        let mut hook = Curriculum::new(&CurriculumConfig { ramp_epochs: Some(1) }, 4, &set);
        let mut sampler = ScenarioSampler::new(&set, hook.initial(), 9).unwrap();
        assert!(sampler.sample_n(20).iter().all(|s| s.is_full(2)));
        let mut twin = sampler.clone();
        twin.reweight(vec![1.0 / 3.0; 3]).unwrap();
        hook.before_epoch(1, &NoNet, &mut sampler).unwrap();
        assert_eq!(sampler.sample_n(50), twin.sample_n(50));
    }

    #[derive(Debug)]
    struct NoNet;

    impl SegmentationModel for NoNet {
        fn forward_t(
            &self,
            _: &[tch::Tensor],
            _: &tch::Tensor,
            _: bool,
        ) -> lssg_backbones::Result<lssg_backbones::ModelOutput> {
            unreachable!("the curriculum never runs the network")
        }
        fn hook_point(&self) -> &str {
            "none"
        }
        fn num_classes(&self) -> i64 {
            1
        }
    }
}
