//! Learning-rate schedules, a pure function of the epoch (docs/method.md §5.3).
//!
//! The learning rate of epoch `e` (0-based) depends only on `e`, the base rate and the number
//! of epochs, so a resumed run needs no scheduler state beyond the epoch counter.
//!
//! * `step` with `order = "reference"`: `lr(e) = lr₀·γ^⌊(e+1)/step⌋`. The reference calls
//!   `scheduler.step()` *before* each epoch (a legacy order), so its first decay comes one
//!   epoch early.
//! * `step` with `order = "pytorch"`: `lr(e) = lr₀·γ^⌊e/step⌋` (scheduler stepped after each epoch).
//! * `cosine`: `lr(e) = min + (lr₀ − min)(1 + cos(π e/E))/2` over `E` epochs.
//! * `constant`: `lr₀`.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// When StepLR's epoch counter advances relative to the epoch it applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepOrder {
    /// Stepped before each epoch, as the reference does: `γ^⌊(e+1)/step⌋`.
    #[default]
    Reference,
    /// Stepped after each epoch (PyTorch's documented order): `γ^⌊e/step⌋`.
    Pytorch,
}

fn default_step() -> usize {
    5
}
fn default_gamma() -> f64 {
    0.9
}

/// A learning-rate schedule over epochs; `Default` is the reference's StepLR(5, 0.9) in its
/// legacy order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SchedulerConfig {
    /// The base learning rate throughout.
    Constant,
    /// Multiply by `gamma` every `step` epochs.
    Step {
        /// Epochs between decays.
        #[serde(default = "default_step")]
        step: usize,
        /// Decay factor.
        #[serde(default = "default_gamma")]
        gamma: f64,
        /// Reference (stepped before each epoch) or PyTorch order.
        #[serde(default)]
        order: StepOrder,
    },
    /// Half a cosine from the base rate to `min_lr` over the run's epochs.
    Cosine {
        /// The rate approached at the last epoch.
        #[serde(default)]
        min_lr: f64,
    },
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self::Step { step: default_step(), gamma: default_gamma(), order: StepOrder::Reference }
    }
}

impl SchedulerConfig {
    /// Checks `step ≥ 1`, a finite `gamma > 0` and a finite `min_lr ≥ 0`.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Self::Constant => Ok(()),
            Self::Step { step, gamma, .. } => {
                if step == 0 {
                    return Err(Error::InvalidConfig {
                        field: "scheduler.step",
                        value: "0".into(),
                        expected: "at least 1 epoch",
                    });
                }
                if !(gamma.is_finite() && gamma > 0.0) {
                    return Err(Error::InvalidConfig {
                        field: "scheduler.gamma",
                        value: gamma.to_string(),
                        expected: "a finite number > 0",
                    });
                }
                Ok(())
            }
            Self::Cosine { min_lr } => {
                if !(min_lr.is_finite() && min_lr >= 0.0) {
                    return Err(Error::InvalidConfig {
                        field: "scheduler.min_lr",
                        value: min_lr.to_string(),
                        expected: "a finite number >= 0",
                    });
                }
                Ok(())
            }
        }
    }

    /// The learning rate of epoch `epoch` (0-based) of a run of `epochs` epochs.
    pub fn lr(&self, base_lr: f64, epoch: usize, epochs: usize) -> f64 {
        match *self {
            Self::Constant => base_lr,
            Self::Step { step, gamma, order } => {
                let counter = match order {
                    StepOrder::Reference => epoch + 1,
                    StepOrder::Pytorch => epoch,
                };
                base_lr * gamma.powi((counter / step.max(1)) as i32)
            }
            Self::Cosine { min_lr } => {
                let t = epoch as f64 / epochs.max(1) as f64;
                min_lr + (base_lr - min_lr) * (1.0 + (std::f64::consts::PI * t).cos()) / 2.0
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: f64, expected: f64) {
        assert!((got - expected).abs() < 1e-15, "got {got}, expected {expected}");
    }

    #[test]
    fn step_reference_order_decays_one_epoch_early() {
        // StepLR(step 2, γ 0.5) stepped before each epoch: counters 1, 2, 3, 4, 5 for epochs 0..5
        // → exponents 0, 1, 1, 2, 2.
        let s = SchedulerConfig::Step { step: 2, gamma: 0.5, order: StepOrder::Reference };
        let got: Vec<f64> = (0..5).map(|e| s.lr(1.0, e, 5)).collect();
        assert_eq!(got, [1.0, 0.5, 0.5, 0.25, 0.25]);
        // The reference's lab default, StepLR(5, 0.9): epochs 0..3 at lr0, epoch 4 at 0.9·lr0.
        let d = SchedulerConfig::default();
        close(d.lr(1e-4, 3, 70), 1e-4);
        close(d.lr(1e-4, 4, 70), 0.9e-4);
        close(d.lr(1e-4, 69, 70), 1e-4 * 0.9f64.powi(14));
    }

    #[test]
    fn step_pytorch_order() {
        let s = SchedulerConfig::Step { step: 2, gamma: 0.5, order: StepOrder::Pytorch };
        let got: Vec<f64> = (0..5).map(|e| s.lr(1.0, e, 5)).collect();
        assert_eq!(got, [1.0, 1.0, 0.5, 0.5, 0.25]);
    }

    #[test]
    fn cosine_and_constant() {
        let c = SchedulerConfig::Cosine { min_lr: 0.1 };
        close(c.lr(1.0, 0, 4), 1.0);
        // e = 2 of 4: cos(π/2) = 0 → 0.1 + 0.9/2 = 0.55.
        close(c.lr(1.0, 2, 4), 0.55);
        assert!(c.lr(1.0, 3, 4) > 0.1 && c.lr(1.0, 3, 4) < 0.55);
        assert_eq!(SchedulerConfig::Constant.lr(0.3, 17, 20), 0.3);
    }

    #[test]
    fn serde_defaults_and_validation() {
        let s: SchedulerConfig = serde_json::from_str(r#"{"kind": "step", "gamma": 0.5}"#).unwrap();
        assert_eq!(s, SchedulerConfig::Step { step: 5, gamma: 0.5, order: StepOrder::Reference });
        let s: SchedulerConfig = serde_json::from_str(r#"{"kind": "step", "order": "pytorch"}"#).unwrap();
        assert!(matches!(s, SchedulerConfig::Step { order: StepOrder::Pytorch, .. }));
        assert!(serde_json::from_str::<SchedulerConfig>(r#"{"kind": "step", "steps": 3}"#).is_err());
        assert!(serde_json::from_str::<SchedulerConfig>(r#"{"kind": "linear"}"#).is_err());
        assert!(SchedulerConfig::Step { step: 0, gamma: 0.5, order: StepOrder::Pytorch }.validate().is_err());
        assert!(SchedulerConfig::Step { step: 1, gamma: f64::NAN, order: StepOrder::Pytorch }.validate().is_err());
        assert!(SchedulerConfig::Cosine { min_lr: -1.0 }.validate().is_err());
    }
}
