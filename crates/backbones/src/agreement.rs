//! `lssg model check-device` for the backbones (docs/gpu.md §3): a network of a
//! [`ModelConfig`] on a random batch as the [`Subject`] of [`lssg_torch::agreement`], which
//! builds it on the CPU and on the device and compares the eval logits, the loss, the
//! gradients of one SGD step and the logits after it. The batch is one random tensor per
//! modality, every modality available, and 0/1 targets; the loss is BCE on the logits.

use lssg_torch::agreement::{self, Check, Comparison, Network, Subject};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor, nn};

use crate::config::ModelConfig;
use crate::error::{Error, Result};
use crate::model::SegmentationModel;

/// What to compare.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgreementConfig {
    /// The network.
    pub model: ModelConfig,
    /// Channels per modality.
    pub channels: Vec<i64>,
    /// Batch size.
    pub batch: i64,
    /// Square input size.
    pub size: i64,
    /// Seed for the weights and the batch.
    pub seed: i64,
    /// SGD learning rate of the training step.
    pub lr: f64,
    /// Largest relative difference that counts as agreement (1e-3 for fp32).
    pub tolerance: f64,
}

impl Default for AgreementConfig {
    fn default() -> Self {
        AgreementConfig {
            model: ModelConfig::default(),
            channels: vec![3, 3, 3],
            batch: 2,
            size: 64,
            seed: 0,
            lr: 1e-2,
            tolerance: 1e-3,
        }
    }
}

/// What [`compare`] found: the configuration and the comparison (one flat JSON object).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    /// The configuration compared.
    pub config: AgreementConfig,
    /// The differences, and whether they are all within `config.tolerance`.
    #[serde(flatten)]
    pub comparison: Comparison,
}

/// A built backbone as the check's network: the last input is the availability matrix.
struct Backbone(Box<dyn SegmentationModel>);

impl Network<Error> for Backbone {
    fn forward(&self, inputs: &[Tensor]) -> Result<Tensor> {
        let (availability, modalities) = inputs
            .split_last()
            .ok_or_else(|| Error::shape("agreement inputs", "the modalities and the availability", "nothing"))?;
        Ok(self.0.forward_t(modalities, availability, false)?.logits)
    }
}

impl Subject for AgreementConfig {
    type Error = Error;

    fn build<'a>(&'a self, vs: &nn::VarStore) -> Result<Box<dyn Network<Error> + 'a>> {
        Ok(Box::new(Backbone(self.model.build(vs, &self.channels)?)))
    }

    fn batch(&self) -> (Vec<Tensor>, Tensor) {
        let opts = (Kind::Float, Device::Cpu);
        let mut inputs: Vec<Tensor> =
            self.channels.iter().map(|&c| Tensor::randn([self.batch, c, self.size, self.size], opts)).collect();
        inputs.push(Tensor::ones([self.batch, self.channels.len() as i64], opts));
        let target =
            Tensor::rand([self.batch, self.model.classes, self.size, self.size], opts).ge(0.5).to_kind(Kind::Float);
        (inputs, target)
    }

    fn loss(&self, logits: &Tensor, target: &Tensor) -> Tensor {
        logits.binary_cross_entropy_with_logits::<Tensor>(target, None, None, tch::Reduction::Mean)
    }
}

/// Compares the network of `cfg` on the CPU with the same network on `device`. With
/// `device = Device::Cpu` it compares the CPU with itself (a check of the check).
pub fn compare(cfg: &AgreementConfig, device: Device) -> Result<Agreement> {
    for (field, v) in [("batch", cfg.batch), ("size", cfg.size)] {
        if v < 1 {
            return Err(Error::invalid(field, v, "≥ 1"));
        }
    }
    let check = Check { seed: cfg.seed, lr: cfg.lr, tolerance: cfg.tolerance };
    let comparison = agreement::compare(cfg, check, device)?;
    Ok(Agreement { config: cfg.clone(), comparison })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{BackboneKind, Preset};

    fn tiny(backbone: BackboneKind) -> AgreementConfig {
        AgreementConfig {
            model: ModelConfig { backbone, preset: Preset::Tiny, ..Default::default() },
            size: 32,
            ..Default::default()
        }
    }

    #[test]
    fn the_cpu_agrees_with_itself() {
        for backbone in [BackboneKind::Cmx, BackboneKind::CbcSlp] {
            let a = compare(&tiny(backbone), Device::Cpu).unwrap();
            let c = &a.comparison;
            assert!(c.agrees, "{a:?}");
            assert!(c.forward.scale > 0.0 && c.gradients.scale > 0.0, "{a:?}");
            assert!(c.forward.relative < 1e-5 && c.after_step.relative < 1e-5, "{a:?}");
            assert_eq!(c.device, "Cpu");
        }
    }

    #[test]
    fn bad_settings_are_refused_and_the_json_is_flat() {
        let bad = AgreementConfig { tolerance: 0.0, ..tiny(BackboneKind::Cmx) };
        assert!(compare(&bad, Device::Cpu).unwrap_err().to_string().contains("tolerance"));
        let bad = AgreementConfig { batch: 0, ..tiny(BackboneKind::Cmx) };
        assert!(compare(&bad, Device::Cpu).unwrap_err().to_string().contains("batch"));
        let a = compare(&tiny(BackboneKind::Cmx), Device::Cpu).unwrap();
        let v = serde_json::to_value(&a).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        for key in ["config", "device", "forward", "loss", "gradients", "after_step", "agrees"] {
            assert!(keys.contains(&key), "{key} not in {keys:?}");
        }
    }
}
