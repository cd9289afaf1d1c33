//! CMX stream blocks (docs/method.md §7.1; reference `CMX.py: ConvBlock`): two 3×3 conv + BN + ReLU, the first
//! with stride 2, so every block halves the resolution.
//!
//! # Shapes
//! `[B, in, H, W] → [B, out, ⌈H/2⌉, ⌈W/2⌉]`.

use lssg_torch::packed::PostOp;
use tch::Tensor;
use tch::nn::{self, Module, ModuleT};

use crate::config::LoraConfig;
use crate::layers::{batch_norm2d, torch_conv};
use crate::lora::{self, LoraConv};

/// Conv(3×3, stride 2) → BN → ReLU → Conv(3×3) → BN → ReLU; bias-free convolutions. Variables
/// follow the reference's `block.{0,1,3,4}` keys.
#[derive(Debug)]
pub struct ConvBlock {
    conv1: LoraConv,
    bn1: nn::BatchNorm,
    conv2: LoraConv,
    bn2: nn::BatchNorm,
}

impl ConvBlock {
    /// Builds the block under `p / "block"`; `lora` adds adapters to both convolutions.
    pub fn new(p: &nn::Path, in_dim: i64, out_dim: i64, stride: i64, lora: Option<&LoraConfig>) -> Self {
        let b = p / "block";
        ConvBlock {
            conv1: lora::conv2d(&b / "0", in_dim, out_dim, 3, torch_conv(in_dim, 3, stride, 1, 1, false), lora),
            bn1: batch_norm2d(&b / "1", out_dim),
            conv2: lora::conv2d(&b / "3", out_dim, out_dim, 3, torch_conv(out_dim, 3, 1, 1, 1, false), lora),
            bn2: batch_norm2d(&b / "4", out_dim),
        }
    }
}

impl ModuleT for ConvBlock {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let xs = conv_bn_relu(&self.conv1, &self.bn1, xs, train); // [B, out, H/2, W/2]
        conv_bn_relu(&self.conv2, &self.bn2, &xs, train)
    }
}

/// Conv → BN → ReLU. In eval mode the batch norm is an affine map per output channel
/// ([`crate::layers::batch_norm_affine`]), folded into the convolution's weight and bias: one pass over the
/// activations fewer, the same function up to rounding (docs/speed.md §4).
fn conv_bn_relu(conv: &LoraConv, bn: &nn::BatchNorm, xs: &Tensor, train: bool) -> Tensor {
    if train {
        return conv.forward(xs).apply_t(bn, true).relu();
    }
    conv.forward_folded(
        xs,
        1,
        &|| {
            let (weight, bias) = conv.folded_with(bn);
            (weight, Some(bias))
        },
        PostOp::Relu,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn folded_batch_norm_equals_conv_then_batch_norm() {
        tch::manual_seed(2);
        let vs = nn::VarStore::new(Device::Cpu);
        let b = ConvBlock::new(&vs.root(), 3, 8, 2, None);
        crate::layers::randomize_batch_norm(&b.bn1);
        crate::layers::randomize_batch_norm(&b.bn2);
        let x = Tensor::randn([2, 3, 16, 16], (Kind::Float, Device::Cpu));
        let folded = b.forward_t(&x, false);
        let h = b.conv1.forward(&x).apply_t(&b.bn1, false).relu();
        let plain = b.conv2.forward(&h).apply_t(&b.bn2, false).relu();
        let d = (&folded - &plain).abs().max().double_value(&[]);
        assert!(d < 1e-5 * (1.0 + plain.abs().max().double_value(&[])), "max difference {d}");
    }

    #[test]
    fn halves_resolution_and_counts() {
        let vs = nn::VarStore::new(Device::Cpu);
        let b = ConvBlock::new(&vs.root(), 3, 8, 2, None);
        let y = b.forward_t(&Tensor::randn([2, 3, 15, 16], (Kind::Float, Device::Cpu)), true);
        assert_eq!(y.size(), [2, 8, 8, 8]);
        // 3·8·9 + 8·8·9 conv weights + 2 × (8 + 8) BN affine.
        assert_eq!(lora::parameter_count(&vs), 216 + 576 + 32);
    }
}
