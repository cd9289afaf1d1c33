//! CMX feature rectification module (docs/method.md §7.1; reference `CMX.py: FeatureRectifyModule`).
//!
//! Channel weights: an MLP `4C → 4C/r → 2C` (ReLU, sigmoid) over the concatenated average- and
//! max-pooled streams. Spatial weights: 1×1 convs `2C → C/r → 2` (ReLU, sigmoid). Each stream
//! receives the other, weighted:
//!
//! ```text
//! x1' = x1 + λc·cw₁·x2 + λs·sw₁·x2        x2' = x2 + λc·cw₀·x1 + λs·sw₀·x1      (λc = λs = ½)
//! ```
//!
//! # Shapes
//! `([B, C, H, W], [B, C, H, W]) → ([B, C, H, W], [B, C, H, W])`.

use lssg_torch::packed::PostOp;
use tch::Tensor;
use tch::nn::{self, Module};

use crate::config::LoraConfig;
use crate::layers::{avg_max_pool, torch_conv};
use crate::lora::{self, LoraConv, LoraLinear};

/// The rectification of one stage.
#[derive(Debug)]
pub struct Frm {
    dim: i64,
    cw_fc1: LoraLinear,
    cw_fc2: LoraLinear,
    sw_conv1: LoraConv,
    sw_conv2: LoraConv,
    lambda_c: f64,
    lambda_s: f64,
}

impl Frm {
    /// Builds the module for `dim` channels with MLP reduction `reduction` (the reference: 1).
    pub fn new(p: &nn::Path, dim: i64, reduction: i64, lora: Option<&LoraConfig>) -> Self {
        let cw = p / "channel_weights" / "mlp";
        let sw = p / "spatial_weights" / "mlp";
        let hidden_c = dim * 4 / reduction;
        let hidden_s = dim / reduction;
        Frm {
            dim,
            cw_fc1: lora::linear(&cw / "0", dim * 4, hidden_c, true, lora),
            cw_fc2: lora::linear(&cw / "2", hidden_c, dim * 2, true, lora),
            sw_conv1: lora::conv2d(&sw / "0", dim * 2, hidden_s, 1, torch_conv(dim * 2, 1, 1, 0, 1, true), lora),
            sw_conv2: lora::conv2d(&sw / "2", hidden_s, 2, 1, torch_conv(hidden_s, 1, 1, 0, 1, true), lora),
            lambda_c: 0.5,
            lambda_s: 0.5,
        }
    }

    /// Rectifies both streams. See the module doc for `# Shapes`.
    pub fn forward(&self, x1: &Tensor, x2: &Tensor) -> (Tensor, Tensor) {
        let b = x1.size()[0];
        let x = Tensor::cat(&[x1, x2], 1); // [B, 2C, H, W]
        let (avg, max) = avg_max_pool(&x); // [B, 2C] each
        let cw = self.cw_fc2.forward(&self.cw_fc1.forward_post(&Tensor::cat(&[avg, max], 1), PostOp::Relu)).sigmoid(); // [B, 2C]
        let cw = cw.view([b, 2, self.dim, 1, 1]);
        let sw = self.sw_conv2.forward(&self.sw_conv1.forward_post(&x, PostOp::Relu)).sigmoid(); // [B, 2, H, W]
        let (cw0, cw1) = (cw.select(1, 0), cw.select(1, 1)); // [B, C, 1, 1]
        let (sw0, sw1) = (sw.narrow(1, 0, 1), sw.narrow(1, 1, 1)); // [B, 1, H, W]
        let out1 = x1 + (cw1 * self.lambda_c + sw1 * self.lambda_s) * x2;
        let out2 = x2 + (cw0 * self.lambda_c + sw0 * self.lambda_s) * x1;
        (out1, out2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn shapes_and_parameter_count() {
        let vs = nn::VarStore::new(Device::Cpu);
        let frm = Frm::new(&vs.root(), 8, 1, None);
        let x1 = Tensor::randn([2, 8, 5, 6], (Kind::Float, Device::Cpu));
        let x2 = Tensor::randn([2, 8, 5, 6], (Kind::Float, Device::Cpu));
        let (y1, y2) = frm.forward(&x1, &x2);
        assert_eq!(y1.size(), [2, 8, 5, 6]);
        assert_eq!(y2.size(), [2, 8, 5, 6]);
        // (32·32 + 32) + (32·16 + 16) + (16·8 + 8) + (8·2 + 2), reference shapes at reduction 1.
        assert_eq!(lora::parameter_count(&vs), 1056 + 528 + 136 + 18);
    }

    #[test]
    fn a_zero_partner_leaves_a_stream_unchanged() {
        let vs = nn::VarStore::new(Device::Cpu);
        let frm = Frm::new(&vs.root(), 8, 1, None);
        let x1 = Tensor::randn([1, 8, 4, 4], (Kind::Float, Device::Cpu));
        let (y1, _) = frm.forward(&x1, &x1.zeros_like());
        assert!(y1.equal(&x1));
    }
}
