//! The optimiser's settings: the update rule ([`OptimizerKind`]) and its hyper-parameters
//! ([`OptimizerConfig`], `[*.optimizer]` in a run config), their defaults (the reference's Adam
//! at lr 1e-4) and validation, and the per-variable buffers each rule keeps.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Which update rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Adam with L2 weight decay added to the gradient (the reference).
    #[default]
    Adam,
    /// Adam with decoupled weight decay.
    AdamW,
    /// Stochastic gradient descent with optional (Nesterov) momentum.
    Sgd,
}

/// Optimiser settings; `Default` is the reference's Adam at lr 1e-4.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimizerConfig {
    /// Update rule.
    pub kind: OptimizerKind,
    /// Base learning rate (before the schedule).
    pub lr: f64,
    /// Weight decay (L2 for Adam and SGD, decoupled for AdamW).
    pub weight_decay: f64,
    /// SGD momentum (0 disables the buffer).
    pub momentum: f64,
    /// SGD Nesterov momentum.
    pub nesterov: bool,
    /// Adam β₁.
    pub beta1: f64,
    /// Adam β₂.
    pub beta2: f64,
    /// Adam ε.
    pub eps: f64,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self {
            kind: OptimizerKind::Adam,
            lr: 1e-4,
            weight_decay: 0.0,
            momentum: 0.9,
            nesterov: false,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

impl OptimizerConfig {
    /// Checks ranges: lr > 0, weight decay ≥ 0, momentum and betas in [0, 1), eps > 0.
    pub fn validate(&self) -> Result<()> {
        let check = |ok: bool, field: &'static str, value: f64, expected: &'static str| {
            if ok { Ok(()) } else { Err(Error::InvalidConfig { field, value: value.to_string(), expected }) }
        };
        check(self.lr.is_finite() && self.lr > 0.0, "optimizer.lr", self.lr, "a finite number > 0")?;
        check(
            self.weight_decay.is_finite() && self.weight_decay >= 0.0,
            "optimizer.weight_decay",
            self.weight_decay,
            ">= 0",
        )?;
        check((0.0..1.0).contains(&self.momentum), "optimizer.momentum", self.momentum, "in [0, 1)")?;
        check((0.0..1.0).contains(&self.beta1), "optimizer.beta1", self.beta1, "in [0, 1)")?;
        check((0.0..1.0).contains(&self.beta2), "optimizer.beta2", self.beta2, "in [0, 1)")?;
        check(self.eps.is_finite() && self.eps > 0.0, "optimizer.eps", self.eps, "a finite number > 0")?;
        if self.nesterov && !(self.kind == OptimizerKind::Sgd && self.momentum > 0.0) {
            return Err(Error::InvalidConfig {
                field: "optimizer.nesterov",
                value: "true".into(),
                expected: "only with kind = \"sgd\" and momentum > 0",
            });
        }
        Ok(())
    }

    /// The names of the per-variable buffers this rule keeps.
    pub(super) fn buffer_names(&self) -> &'static [&'static str] {
        match self.kind {
            OptimizerKind::Adam | OptimizerKind::AdamW => &["exp_avg", "exp_avg_sq"],
            OptimizerKind::Sgd if self.momentum > 0.0 => &["momentum_buffer"],
            OptimizerKind::Sgd => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_validation_and_serde() {
        assert!(OptimizerConfig { lr: 0.0, ..Default::default() }.validate().is_err());
        assert!(OptimizerConfig { beta2: 1.0, ..Default::default() }.validate().is_err());
        assert!(OptimizerConfig { nesterov: true, ..Default::default() }.validate().is_err());
        let c: OptimizerConfig = serde_json::from_str(r#"{"kind": "adamw", "weight_decay": 0.01}"#).unwrap();
        assert_eq!((c.kind, c.lr), (OptimizerKind::AdamW, 1e-4));
        assert!(serde_json::from_str::<OptimizerConfig>(r#"{"learning_rate": 0.1}"#).is_err());
    }

    #[test]
    fn each_rule_keeps_its_buffers() {
        let sgd = |momentum| OptimizerConfig { kind: OptimizerKind::Sgd, momentum, ..Default::default() };
        assert_eq!(OptimizerConfig::default().buffer_names(), ["exp_avg", "exp_avg_sq"]);
        assert_eq!(sgd(0.9).buffer_names(), ["momentum_buffer"]);
        assert!(sgd(0.0).buffer_names().is_empty());
    }
}
