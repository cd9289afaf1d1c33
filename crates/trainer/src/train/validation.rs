//! Validation after an epoch (docs/method.md §5): the model in eval mode without gradients over
//! the validation split with every modality available, the mean loss and the metrics
//! (validation and evaluation share one loop, `crate::evaluate`'s `run_scenarios`), and whether
//! the epoch beats the best so far by the monitored metric.

use std::sync::Arc;

use lssg_backbones::SegmentationModel;
use lssg_datasets::{BatchLoader, LoaderConfig, TileDataset};
use tch::Device;

use crate::error::{Error, Result};
use crate::evaluate::run_scenarios;
use crate::metrics::{Metrics, Monitor};
use crate::observer::TrainObserver;
use crate::run_dir::BestEpoch;
use crate::train::config::TrainConfig;

/// What validating one epoch measured.
#[derive(Debug, Clone)]
pub(crate) struct Validated {
    /// Mean loss over samples.
    pub loss: f64,
    /// Metrics with every modality available.
    pub metrics: Metrics,
}

impl Validated {
    /// The best epoch `number` becomes when these metrics beat `best` by `monitor`.
    pub fn improves(&self, number: usize, best: Option<&BestEpoch>, monitor: Monitor) -> Option<BestEpoch> {
        let value = self.metrics.value(monitor);
        improves(value, best).then_some(BestEpoch { epoch: number, monitor, value })
    }
}

/// Whether a monitored `value` (higher is better) beats `best`; with no best yet, whether it is
/// finite.
fn improves(value: f64, best: Option<&BestEpoch>) -> bool {
    match best {
        None => value.is_finite(),
        Some(b) => value > b.value,
    }
}

/// Validates epochs on the validation split.
pub(crate) struct Validator<'a> {
    config: &'a TrainConfig,
    loader: BatchLoader,
    device: Device,
}

impl<'a> Validator<'a> {
    /// A validator over `val` in batches of `config.val_batch_size()`, in a fixed order, running
    /// on `device`; fails when the split yields no batch.
    pub fn new(val: &Arc<dyn TileDataset>, config: &'a TrainConfig, device: Device) -> Result<Self> {
        let batch_size = config.val_batch_size();
        let loader_config =
            LoaderConfig { batch_size, shuffle: false, seed: 0, prefetch: config.prefetch, drop_last: false };
        let loader = BatchLoader::new(Arc::clone(val), loader_config)?;
        if loader.num_batches() == 0 {
            return Err(Error::EmptySplit { split: "val", tiles: val.len(), batch_size });
        }
        Ok(Self { config, loader, device })
    }

    /// Validates `net` after epoch `number` (1-based) when the config says it is due; `None`
    /// otherwise. Reports the validation events to `observer`. A non-finite mean loss is
    /// [`Error::NonFiniteLoss`] at step 0.
    pub fn run(
        &self,
        number: usize,
        net: &dyn SegmentationModel,
        observer: &mut dyn TrainObserver,
    ) -> Result<Option<Validated>> {
        if !self.config.validates(number) {
            return Ok(None);
        }
        let full = self.loader.dataset().modalities().full_scenario();
        observer.validation_start(number, self.loader.num_batches());
        // One inference session per validation: the weights are fixed until the next step.
        let runs = net.inference(self.config.inference).region(self.device, || {
            run_scenarios(
                net,
                &self.loader,
                &[full],
                Some(&self.config.loss),
                false,
                (self.device, self.config.precision),
                |done, total| observer.validation_progress(done, total),
            )
        })??;
        let metrics = runs.metrics.into_iter().next().ok_or_else(|| Error::shape("validation scenarios", 1, 0))?;
        let loss = runs.mean_loss.first().copied().unwrap_or(f64::NAN);
        if !loss.is_finite() {
            return Err(Error::NonFiniteLoss { epoch: number, step: 0, value: loss });
        }
        Ok(Some(Validated { loss, metrics }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_finite_value_and_then_only_strictly_higher_ones_improve() {
        assert!(!improves(f64::NAN, None));
        assert!(improves(0.2, None));
        let best = BestEpoch { epoch: 2, monitor: Monitor::SoftJaccard, value: 0.5 };
        assert!(!improves(0.5, Some(&best)));
        assert!(!improves(f64::NAN, Some(&best)));
        assert!(improves(0.51, Some(&best)));
    }
}
