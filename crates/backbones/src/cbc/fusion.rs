//! Early fusion of the modalities at one encoder level (docs/method.md §7.2; reference
//! `mmvit4_Missing.py`, class `EarlyFusionBlock`): concatenate the (masked) levels of all
//! modalities along channels, then a 1×1×1 convolution → ReLU → InstanceNorm3d (no affine).
//!
//! The convolution is LoRA-capable ([`crate::lora::conv`]): these are the "six 1×1×1 fusion
//! convolutions" of the LoRA baseline (docs/method.md §5.5). Variables: `fusion{k}.conv.{weight,bias}`
//! (+ `lora_a`, `lora_b`).
//!
//! # Shapes
//! `levels[m]: [B, C, D, h, w]` for each of M modalities → `[B, M·C, D, h, w]`.

use tch::Tensor;
use tch::nn::{self, Module};

use super::{instance_norm, kaiming_normal};
use crate::config::LoraConfig;
use crate::lora::{self, LoraConv, torch_default_init};

/// Concatenation → 1×1×1 conv → ReLU → InstanceNorm.
#[derive(Debug)]
pub(crate) struct EarlyFusion {
    conv: LoraConv,
}

impl EarlyFusion {
    /// `channels` per modality, `modalities` of them; the block keeps `M·C` channels.
    pub(crate) fn new(p: &nn::Path, channels: i64, modalities: usize, lora: Option<&LoraConfig>) -> Self {
        let total = channels * modalities as i64;
        let cfg =
            nn::ConvConfig { ws_init: kaiming_normal(), bs_init: torch_default_init(total), ..Default::default() };
        EarlyFusion { conv: lora::conv(3, p / "conv", total, total, 1, cfg, lora) }
    }

    /// # Shapes
    /// `levels[m]: [B, C, D, h, w]` → `[B, M·C, D, h, w]`.
    pub(crate) fn forward(&self, levels: &[Tensor]) -> Tensor {
        instance_norm(&self.conv.forward(&Tensor::cat(levels, 1)).relu())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn shape_and_instance_statistics() {
        let vs = nn::VarStore::new(Device::Cpu);
        let f = EarlyFusion::new(&vs.root(), 4, 3, None);
        let xs: Vec<Tensor> = (0..3).map(|_| Tensor::randn([2, 4, 3, 5, 5], (Kind::Float, Device::Cpu))).collect();
        let y = f.forward(&xs);
        assert_eq!(y.size(), [2, 12, 3, 5, 5]);
        // Every (sample, channel) volume is normalised: mean 0 (unless the ReLU killed it all).
        let mean = y.mean_dim([2i64, 3, 4].as_slice(), false, Kind::Float);
        assert!(mean.abs().max().double_value(&[]) < 1e-4);
    }
}
