//! `TrainConfig`: the settings of one training run (`[pretrain]`, `[finetune.train]`), their
//! defaults and their validation, and `Keep`, which weights a finished run hands back.
//!
//! Serialised into `state.json`, so a resumed run can be compared with the one that started
//! the directory (`crate::run_dir`); fp32 configs leave `precision` out, so their files are
//! the same as before mixed precision existed.

use lssg_torch::{Inference, Precision};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::loss::LossConfig;
use crate::metrics::Monitor;
use crate::optim::OptimizerConfig;
use crate::schedule::SchedulerConfig;

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
    /// How validation (and adaptive rescoring) run their forwards (docs/speed.md §10); `lssg`
    /// sets it from `[run] inference`. The training forwards are always eager. Left out of
    /// serialised eager configs.
    #[serde(skip_serializing_if = "Inference::is_eager")]
    pub inference: Inference,
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
            inference: Inference::Eager,
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

    /// The validation batch size: `val_batch_size`, or `batch_size` when absent.
    pub fn val_batch_size(&self) -> usize {
        self.val_batch_size.unwrap_or(self.batch_size)
    }

    /// Whether epoch `number` (1-based) is validated: every `validate_every`-th, and the last.
    pub fn validates(&self, number: usize) -> bool {
        number.is_multiple_of(self.validate_every) || number == self.epochs
    }
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
    fn validation_epochs_are_every_nth_and_the_last() {
        let c = TrainConfig { epochs: 7, validate_every: 3, ..Default::default() };
        let validated: Vec<usize> = (1..=7).filter(|&n| c.validates(n)).collect();
        assert_eq!(validated, [3, 6, 7]);
        assert_eq!(TrainConfig { val_batch_size: Some(16), ..c.clone() }.val_batch_size(), 16);
        assert_eq!(c.val_batch_size(), c.batch_size);
    }
}
