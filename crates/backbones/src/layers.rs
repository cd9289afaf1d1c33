//! Small building blocks shared by the backbones: PyTorch-compatible initialisations, batch norm
//! with PyTorch's defaults, conv configs, bilinear resizing and the availability gate.
//!
//! tch's defaults differ from PyTorch's (batch-norm weights U(0, 1), conv weights kaiming with
//! ReLU gain, conv biases 0); the reference networks use PyTorch's, so every layer here says
//! which initialisation it uses.

use tch::nn::{self, Init};
use tch::{Kind, Tensor};

pub use crate::lora::torch_default_init;

/// `N(0, std)`; the reference's `trunc_normal_` is a plain `normal_` (see CMX.py).
pub fn normal(std: f64) -> Init {
    Init::Randn { mean: 0.0, stdev: std }
}

/// Kaiming-normal with ReLU gain over `fan`: `N(0, √(2/fan))`.
pub fn kaiming_normal_relu(fan: i64) -> Init {
    normal((2.0 / fan.max(1) as f64).sqrt())
}

/// A [`nn::ConvConfig`] with PyTorch's default initialisation (U(±1/√fan_in) for weight and
/// bias) for a `k×k` convolution from `in_dim` channels.
pub fn torch_conv(in_dim: i64, k: i64, stride: i64, padding: i64, groups: i64, bias: bool) -> nn::ConvConfig {
    let fan_in = in_dim / groups.max(1) * k * k;
    nn::ConvConfig {
        stride,
        padding,
        groups,
        bias,
        ws_init: torch_default_init(fan_in),
        bs_init: torch_default_init(fan_in),
        ..Default::default()
    }
}

/// 2-D batch norm with PyTorch's defaults: weight 1, bias 0, ε 1e-5, momentum 0.1.
pub fn batch_norm2d<'a>(p: impl std::borrow::Borrow<nn::Path<'a>>, dim: i64) -> nn::BatchNorm {
    nn::batch_norm2d(p, dim, nn::BatchNormConfig { ws_init: Init::Const(1.0), ..Default::default() })
}

/// The ε of every batch norm built here (PyTorch's default; tch keeps its config private).
pub const BN_EPS: f64 = 1e-5;

/// A batch norm in eval mode as the per-channel affine map `x·scale + shift` it is:
/// `(γ/σ, β − μγ/σ)` with σ = √(running var + ε), for folding into an adjacent linear map
/// (docs/speed.md §4).
pub fn batch_norm_affine(bn: &nn::BatchNorm) -> (Tensor, Tensor) {
    let inv_std = (&bn.running_var + BN_EPS).rsqrt();
    let scale = match &bn.ws {
        Some(g) => g * &inv_std,
        None => inv_std,
    };
    let mut shift = -(&bn.running_mean * &scale);
    if let Some(b) = &bn.bs {
        shift += b;
    }
    (scale, shift)
}

/// Gives `bn` running statistics and affines a fresh build would not have (mean in [-1, 1),
/// variance in [0.5, 2), γ in [0.5, 1.5), β in [-0.5, 0.5)), so that tests of batch-norm folding
/// are not tested against an identity.
#[cfg(test)]
pub(crate) fn randomize_batch_norm(bn: &nn::BatchNorm) {
    tch::no_grad(|| {
        let _ = bn.running_mean.shallow_clone().uniform_(-1.0, 1.0);
        let _ = bn.running_var.shallow_clone().uniform_(0.5, 2.0);
        if let Some(g) = &bn.ws {
            let _ = g.shallow_clone().uniform_(0.5, 1.5);
        }
        if let Some(b) = &bn.bs {
            let _ = b.shallow_clone().uniform_(-0.5, 0.5);
        }
    });
}

/// 3-D batch norm with PyTorch's defaults.
pub fn batch_norm3d<'a>(p: impl std::borrow::Borrow<nn::Path<'a>>, dim: i64) -> nn::BatchNorm {
    nn::batch_norm3d(p, dim, nn::BatchNormConfig { ws_init: Init::Const(1.0), ..Default::default() })
}

/// Layer norm over the last dimension with PyTorch's defaults (weight 1, bias 0, ε 1e-5).
pub fn layer_norm<'a>(p: impl std::borrow::Borrow<nn::Path<'a>>, dim: i64) -> nn::LayerNorm {
    nn::layer_norm(p, vec![dim], Default::default())
}

/// Bilinear resize of `[B, C, H, W]` to `[B, C, h, w]` (`align_corners = false`, as
/// `F.interpolate(mode="bilinear")`); returns the input itself when the size already matches.
pub fn resize_bilinear(xs: &Tensor, h: i64, w: i64) -> Tensor {
    let s = xs.size();
    if s[2] == h && s[3] == w {
        return xs.shallow_clone();
    }
    xs.upsample_bilinear2d([h, w], false, None, None)
}

/// Multiplies `xs` (`[B, …]`) by column `m` of `availability` (`[B, M]`), broadcast over every
/// other dimension: the per-sample gate of docs/method.md §2.
pub fn gate(xs: &Tensor, availability: &Tensor, m: i64) -> Tensor {
    let b = xs.size()[0];
    let mut shape = vec![b];
    shape.resize(xs.dim(), 1);
    xs * availability.select(1, m).to_kind(xs.kind()).view(shape.as_slice())
}

/// `[B, C, H, W]` → `[B, H·W, C]` tokens.
pub fn to_tokens(xs: &Tensor) -> Tensor {
    xs.flatten(2, -1).transpose(1, 2)
}

/// `[B, H·W, C]` tokens → `[B, C, H, W]`.
pub fn from_tokens(xs: &Tensor, h: i64, w: i64) -> Tensor {
    let s = xs.size();
    xs.transpose(1, 2).reshape([s[0], s[2], h, w])
}

/// Global average and max over the spatial dimensions of `[B, C, H, W]`, each `[B, C]`.
pub fn avg_max_pool(xs: &Tensor) -> (Tensor, Tensor) {
    (xs.mean_dim([2i64, 3].as_slice(), false, Kind::Float).to_kind(xs.kind()), xs.amax([2i64, 3].as_slice(), false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn gate_zeroes_per_sample() {
        let x = Tensor::ones([2, 3, 2, 2], (Kind::Float, Device::Cpu));
        let a = Tensor::from_slice(&[1f32, 0., 0., 1.]).view([2, 2]);
        let g = gate(&x, &a, 1);
        assert_eq!(g.get(0).sum(Kind::Float).double_value(&[]), 0.0);
        assert_eq!(g.get(1).sum(Kind::Float).double_value(&[]), 12.0);
    }

    #[test]
    fn tokens_round_trip_and_pooling() {
        let x = Tensor::arange(2 * 3 * 4 * 5, (Kind::Float, Device::Cpu)).view([2, 3, 4, 5]);
        let t = to_tokens(&x);
        assert_eq!(t.size(), [2, 20, 3]);
        assert!(from_tokens(&t, 4, 5).equal(&x));
        let (avg, max) = avg_max_pool(&x);
        assert_eq!(avg.size(), [2, 3]);
        assert_eq!(max.double_value(&[0, 0]), 19.0);
        assert_eq!(avg.double_value(&[0, 0]), 9.5);
        assert_eq!(resize_bilinear(&x, 8, 10).size(), [2, 3, 8, 10]);
    }

    #[test]
    fn batch_norm_uses_pytorch_defaults() {
        let vs = nn::VarStore::new(Device::Cpu);
        let bn = batch_norm2d(vs.root() / "bn", 4);
        assert!(bn.ws.unwrap().equal(&Tensor::ones([4], (Kind::Float, Device::Cpu))));
    }
}
