//! CMX feature fusion module (docs/method.md §7.1; reference `CMX.py: FeatureFusionModule`, `CrossPath`,
//! `CrossAttention`, `ChannelEmbed`).
//!
//! Per stream: `channel_proj` (linear C → 2C/r, ReLU) split into a kept half `y` and an attention
//! half `u`; efficient cross attention with `h` heads where each stream's queries read the other
//! stream's global context `softmax_{dim −2}(Kᵀ V · d_h^{−½})` (a `d_h × d_h` matrix per head);
//! `end_proj` (2C/r → C) with a residual and LayerNorm. The two streams are concatenated and a
//! channel embedding maps 2C → C: a bias-free 1×1 residual plus 1×1 → depthwise 3×3 → ReLU → 1×1 →
//! BN, summed and batch-normed.
//!
//! Initialisation as the reference: linear N(0, 0.02) with zero bias, LayerNorm (1, 0), conv
//! N(0, √(2/fan_out)) with zero bias, batch norm (1, 0).
//!
//! # Shapes
//! `([B, C, H, W], [B, C, H, W]) → [B, C, H, W]`.

use lssg_torch::packed::PostOp;
use tch::nn::{self, Init, Module};
use tch::{Kind, Tensor};

use crate::config::LoraConfig;
use crate::layers::{batch_norm_affine, batch_norm2d, from_tokens, layer_norm, normal, to_tokens};
use crate::lora::{self, LoraConv, LoraLinear};

fn ffm_linear(p: nn::Path, i: i64, o: i64, bias: bool, lora: Option<&LoraConfig>) -> LoraLinear {
    lora::linear_with(p, i, o, bias, normal(0.02), Init::Const(0.0), lora)
}

fn ffm_conv(p: nn::Path, i: i64, o: i64, k: i64, groups: i64, bias: bool, lora: Option<&LoraConfig>) -> LoraConv {
    let fan_out = k * k * o / groups;
    let cfg = nn::ConvConfig {
        padding: k / 2,
        groups,
        bias,
        ws_init: normal((2.0 / fan_out as f64).sqrt()),
        bs_init: Init::Const(0.0),
        ..Default::default()
    };
    lora::conv2d(p, i, o, k, cfg, lora)
}

/// Efficient cross attention between two token sequences of width `dim`.
#[derive(Debug)]
pub struct CrossAttention {
    heads: i64,
    scale: f64,
    kv1: LoraLinear,
    kv2: LoraLinear,
}

impl CrossAttention {
    fn new(p: &nn::Path, dim: i64, heads: i64, lora: Option<&LoraConfig>) -> Self {
        CrossAttention {
            heads,
            scale: ((dim / heads) as f64).powf(-0.5),
            kv1: ffm_linear(p / "kv1", dim, dim * 2, false, lora),
            kv2: ffm_linear(p / "kv2", dim, dim * 2, false, lora),
        }
    }

    /// `[B, h, d_h, d_h]` context of one stream: `softmax over keys' channel(Kᵀ V · scale)`.
    fn context(&self, kv: &LoraLinear, u: &Tensor) -> Tensor {
        let s = u.size();
        let (b, n, c) = (s[0], s[1], s[2]);
        let kv = kv.forward(u).reshape([b, n, 2, self.heads, c / self.heads]).permute([2, 0, 3, 1, 4]); // [2, B, h, N, dh]
        let (k, v) = (kv.get(0), kv.get(1));
        (k.transpose(-2, -1).matmul(&v) * self.scale).softmax(-2, Kind::Float).to_kind(u.kind())
    }

    fn queries(&self, u: &Tensor) -> Tensor {
        let s = u.size();
        u.reshape([s[0], s[1], self.heads, s[2] / self.heads]).permute([0, 2, 1, 3]) // [B, h, N, dh]
    }

    /// `([B, N, C], [B, N, C]) → ([B, N, C], [B, N, C])`: stream 1 queries stream 2's context and
    /// vice versa.
    pub fn forward(&self, u1: &Tensor, u2: &Tensor) -> (Tensor, Tensor) {
        let s = u1.size();
        let (ctx1, ctx2) = (self.context(&self.kv1, u1), self.context(&self.kv2, u2));
        let out1 = self.queries(u1).matmul(&ctx2).permute([0, 2, 1, 3]).reshape([s[0], s[1], s[2]]);
        let out2 = self.queries(u2).matmul(&ctx1).permute([0, 2, 1, 3]).reshape([s[0], s[1], s[2]]);
        (out1, out2)
    }
}

/// The fusion of one stage.
#[derive(Debug)]
pub struct Ffm {
    half: i64,
    channel_proj1: LoraLinear,
    channel_proj2: LoraLinear,
    cross_attn: CrossAttention,
    end_proj1: LoraLinear,
    end_proj2: LoraLinear,
    norm1: nn::LayerNorm,
    norm2: nn::LayerNorm,
    residual: LoraConv,
    embed_in: LoraConv,
    embed_dw: LoraConv,
    embed_out: LoraConv,
    embed_bn: nn::BatchNorm,
    norm: nn::BatchNorm,
}

impl Ffm {
    /// Builds the module for `dim` channels, reduction `reduction` (reference 1) and `heads`
    /// attention heads (`dim / reduction` must be divisible by `heads`; checked by the caller).
    pub fn new(p: &nn::Path, dim: i64, reduction: i64, heads: i64, lora: Option<&LoraConfig>) -> Self {
        let cross = p / "cross";
        let emb = p / "channel_emb";
        let ce = &emb / "channel_embed";
        let half = dim / reduction;
        Ffm {
            half,
            channel_proj1: ffm_linear(&cross / "channel_proj1", dim, half * 2, true, lora),
            channel_proj2: ffm_linear(&cross / "channel_proj2", dim, half * 2, true, lora),
            cross_attn: CrossAttention::new(&(&cross / "cross_attn"), half, heads, lora),
            end_proj1: ffm_linear(&cross / "end_proj1", half * 2, dim, true, lora),
            end_proj2: ffm_linear(&cross / "end_proj2", half * 2, dim, true, lora),
            norm1: layer_norm(&cross / "norm1", dim),
            norm2: layer_norm(&cross / "norm2", dim),
            residual: ffm_conv(&emb / "residual", dim * 2, dim, 1, 1, false, lora),
            embed_in: ffm_conv(&ce / "0", dim * 2, half, 1, 1, true, lora),
            embed_dw: ffm_conv(&ce / "1", half, half, 3, half, true, lora),
            embed_out: ffm_conv(&ce / "3", half, dim, 1, 1, true, lora),
            embed_bn: batch_norm2d(&ce / "4", dim),
            norm: batch_norm2d(&emb / "norm", dim),
        }
    }

    /// The cross path and the channel embedding up to its last convolution: the merged
    /// `[B, 2C, H, W]` streams and the embedding's inner activation.
    fn embed_inputs(&self, x1: &Tensor, x2: &Tensor) -> (Tensor, Tensor) {
        let s = x1.size();
        let (h, w) = (s[2], s[3]);
        let (t1, t2) = (to_tokens(x1), to_tokens(x2)); // [B, N, C]
        let p1 = self.channel_proj1.forward_post(&t1, PostOp::Relu); // [B, N, 2C/r]
        let p2 = self.channel_proj2.forward_post(&t2, PostOp::Relu);
        let (y1, u1) = (p1.narrow(2, 0, self.half), p1.narrow(2, self.half, self.half));
        let (y2, u2) = (p2.narrow(2, 0, self.half), p2.narrow(2, self.half, self.half));
        let (v1, v2) = self.cross_attn.forward(&u1, &u2); // [B, N, C/r]
        let o1 = (t1 + self.end_proj1.forward(&Tensor::cat(&[y1, v1], 2))).apply(&self.norm1); // [B, N, C]
        let o2 = (t2 + self.end_proj2.forward(&Tensor::cat(&[y2, v2], 2))).apply(&self.norm2);
        let merged = from_tokens(&Tensor::cat(&[o1, o2], 2), h, w); // [B, 2C, H, W]
        let inner = self.embed_dw.forward_post(&self.embed_in.forward(&merged), PostOp::Relu);
        (merged, inner)
    }

    /// Fuses the two streams of a stage. See the module doc for `# Shapes`.
    pub fn forward_t(&self, x1: &Tensor, x2: &Tensor, train: bool) -> Tensor {
        let (merged, inner) = self.embed_inputs(x1, x2);
        if train {
            let residual = self.residual.forward(&merged); // [B, C, H, W]
            let embedded = self.embed_out.forward(&inner);
            return (residual + embedded.apply_t(&self.embed_bn, train)).apply_t(&self.norm, train);
        }
        // Eval: norm(R·x + bn(O·e)) with both batch norms folded into the two convolutions
        // (docs/speed.md §4): s_n·R·x + s_n·(s_e·O·e + shift_e) + shift_n.
        let column = |t: &Tensor| t.view([-1, 1, 1, 1]);
        let residual_weights = || {
            let (s_n, _) = batch_norm_affine(&self.norm);
            let r_bias = self.residual.bias.as_ref().map(|b| b * &s_n);
            (self.residual.effective_weight() * column(&s_n), r_bias)
        };
        let out_weights = || {
            let (s_n, t_n) = batch_norm_affine(&self.norm);
            let (w_o, b_o) = self.embed_out.folded_with(&self.embed_bn);
            (w_o * column(&s_n), Some(b_o * &s_n + t_n))
        };
        let residual = self.residual.forward_folded(&merged, 1, &residual_weights, PostOp::Identity);
        residual + self.embed_out.forward_folded(&inner, 1, &out_weights, PostOp::Identity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    /// Parameter count of the reference FeatureFusionModule(dim, reduction 1), from its layer shapes.
    fn reference_count(c: i64) -> i64 {
        let cross = 2 * (c * 2 * c + 2 * c) + 2 * (c * 2 * c) + 2 * (2 * c * c + c) + 2 * 2 * c;
        let embed = 2 * c * c + (2 * c * c + c) + (9 * c + c) + (c * c + c) + 2 * c + 2 * c;
        cross + embed
    }

    #[test]
    fn eval_mode_folds_both_batch_norms_exactly() {
        tch::manual_seed(4);
        let vs = nn::VarStore::new(Device::Cpu);
        let ffm = Ffm::new(&vs.root(), 16, 1, 4, None);
        crate::layers::randomize_batch_norm(&ffm.embed_bn);
        crate::layers::randomize_batch_norm(&ffm.norm);
        let x1 = Tensor::randn([2, 16, 3, 5], (Kind::Float, Device::Cpu));
        let x2 = Tensor::randn([2, 16, 3, 5], (Kind::Float, Device::Cpu));
        let (merged, inner) = ffm.embed_inputs(&x1, &x2);
        let defined = (ffm.residual.forward(&merged) + ffm.embed_out.forward(&inner).apply_t(&ffm.embed_bn, false))
            .apply_t(&ffm.norm, false);
        let folded = ffm.forward_t(&x1, &x2, false);
        let d = (&folded - &defined).abs().max().double_value(&[]);
        assert!(d < 1e-5 * (1.0 + defined.abs().max().double_value(&[])), "max difference {d}");
    }

    #[test]
    fn shapes_and_parameter_count() {
        let vs = nn::VarStore::new(Device::Cpu);
        let ffm = Ffm::new(&vs.root(), 16, 1, 8, None);
        let x1 = Tensor::randn([2, 16, 3, 5], (Kind::Float, Device::Cpu));
        let x2 = Tensor::randn([2, 16, 3, 5], (Kind::Float, Device::Cpu));
        assert_eq!(ffm.forward_t(&x1, &x2, true).size(), [2, 16, 3, 5]);
        assert_eq!(lora::parameter_count(&vs), reference_count(16));
    }

    #[test]
    fn attention_context_is_column_stochastic() {
        let vs = nn::VarStore::new(Device::Cpu);
        let att = CrossAttention::new(&vs.root(), 16, 4, None);
        let u = Tensor::randn([2, 7, 16], (Kind::Float, Device::Cpu));
        let ctx = att.context(&att.kv1, &u); // [B, h, dh, dh], softmax over dim -2
        assert_eq!(ctx.size(), [2, 4, 4, 4]);
        let sums = ctx.sum_dim_intlist([-2i64].as_slice(), false, Kind::Float);
        assert!(sums.allclose(&sums.ones_like(), 1e-5, 1e-5, false));
    }
}
