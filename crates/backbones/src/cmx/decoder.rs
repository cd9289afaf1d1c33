//! CMX decode head: the SegFormer-style all-MLP decoder (docs/method.md §7.1; reference `CMX.py: DecoderHead`).
//!
//! Each of the four fused levels is projected to `embed` channels by a linear layer, resized to the
//! first level's resolution (H/4), concatenated (deepest first, as the reference), fused by a 1×1
//! conv + BN + ReLU, dropped out (Dropout2d 0.1 while training) and mapped to the classes by a
//! 1×1 conv. The decoder never carries LoRA adapters (docs/method.md §5.5).
//!
//! Initialisation as the reference: projections PyTorch's default; fuse/pred convs kaiming-normal
//! (fan-in, ReLU) with zero bias; batch norm (1, 0).
//!
//! # Shapes
//! `[[B, c₁, H/4, W/4], [B, c₂, H/8, W/8], [B, c₃, H/16, W/16], [B, c₄, H/32, W/32]] → [B, classes, H/4, W/4]`.

use lssg_torch::packed::PostOp;
use tch::Tensor;
use tch::nn::{self, Init, Module};

use crate::layers::{batch_norm2d, from_tokens, kaiming_normal_relu, resize_bilinear, to_tokens};
use crate::lora::{self, LoraConv, LoraLinear};

/// The decode head.
#[derive(Debug)]
pub struct DecoderHead {
    /// `linear_c1 … linear_c4`.
    proj: Vec<LoraLinear>,
    fuse: LoraConv,
    fuse_bn: nn::BatchNorm,
    pred: LoraConv,
    dropout: f64,
}

impl DecoderHead {
    /// Builds the head for level widths `in_channels` (shallowest first).
    pub fn new(p: &nn::Path, in_channels: &[i64], embed: i64, classes: i64, dropout: f64) -> Self {
        let proj = in_channels
            .iter()
            .enumerate()
            .map(|(i, &c)| lora::linear(p / format!("linear_c{}", i + 1) / "proj", c, embed, true, None))
            .collect();
        let levels = in_channels.len() as i64;
        let conv = |fan_in: i64| nn::ConvConfig {
            ws_init: kaiming_normal_relu(fan_in),
            bs_init: Init::Const(0.0),
            ..Default::default()
        };
        DecoderHead {
            proj,
            fuse: lora::conv2d(p / "linear_fuse" / "0", embed * levels, embed, 1, conv(embed * levels), None),
            fuse_bn: batch_norm2d(p / "linear_fuse" / "1", embed),
            pred: lora::conv2d(p / "linear_pred", embed, classes, 1, conv(embed), None),
            dropout,
        }
    }

    /// Decodes the fused levels. See the module doc for `# Shapes`.
    ///
    /// Computed as `fuse(cat(up(P₄x₄), …, P₁x₁))` is defined, but in a cheaper order: the 1×1
    /// fuse conv splits into one `[E, E]` block per level, bilinear resizing commutes with any
    /// per-pixel affine map (its weights sum to 1), so each level's block is folded into its
    /// projection (`W_i·P_i`, `W_i·p_i`) and applied at the level's own resolution; the resized
    /// results are summed. The `4E → E` conv at H/4 (most of the decoder's work: at paper
    /// widths 1024·256 multiply-adds per H/4 pixel) becomes `c_i → E` maps at H/4 … H/32
    /// (docs/speed.md §4). In eval mode the batch norm after it is folded in too. Equal up to
    /// float rounding.
    pub fn forward_t(&self, levels: &[Tensor], train: bool) -> Tensor {
        if !train && lssg_torch::packed::packing() {
            return self.forward_packed(levels);
        }
        let s1 = levels[0].size();
        let (h, w) = (s1[2], s1[3]);
        let mut fuse_w = self.fuse.effective_weight().flatten(1, -1); // [E, 4E]
        let e = fuse_w.size()[0];
        // In eval mode the batch norm after the fuse conv is folded into it as well.
        let mut fuse_b = self.fuse.bias.as_ref().map(Tensor::shallow_clone);
        if !train {
            let (weight, bias) = self.fuse.folded_with(&self.fuse_bn);
            fuse_w = weight.flatten(1, -1);
            fuse_b = Some(bias);
        }
        // Deepest level first, as the reference concatenates [_c4, _c3, _c2, _c1].
        let mut sum: Option<Tensor> = None;
        for (block, (x, proj)) in levels.iter().zip(&self.proj).rev().enumerate() {
            let w_block = fuse_w.narrow(1, block as i64 * e, e); // [E, E]
            let folded = w_block.matmul(&proj.effective_weight()); // [E, c_i]
            let folded_bias = proj.bias.as_ref().map(|b| w_block.matmul(b)); // [E]
            let s = x.size();
            let y = from_tokens(&to_tokens(x).linear(&folded, folded_bias.as_ref()), s[2], s[3]); // [B, E, h_i, w_i]
            let y = resize_bilinear(&y, h, w); // [B, E, H/4, W/4]
            sum = Some(match sum {
                None => y,
                Some(acc) => acc + y,
            });
        }
        let mut fused = sum.expect("four levels");
        if let Some(b) = &fuse_b {
            fused += b.view([1, e, 1, 1]);
        }
        let fused = if train { fused.apply_t(&self.fuse_bn, true).relu() } else { fused.relu_() }; // [B, E, H/4, W/4]
        let fused = if self.dropout > 0.0 { fused.feature_dropout(self.dropout, train) } else { fused };
        self.pred.forward(&fused) // [B, classes, H/4, W/4]
    }

    /// The eval forward of [`DecoderHead::forward_t`] in an inference session
    /// (docs/speed.md §10): each level's folded projection `W_i·P_i` is one packed linear map
    /// made once per session, the fuse conv's bias (with its batch norm) folded into the deepest
    /// level's (resizing keeps constants), the ReLU and the classifier packed too.
    fn forward_packed(&self, levels: &[Tensor]) -> Tensor {
        let s1 = levels[0].size();
        let (h, w) = (s1[2], s1[3]);
        let mut sum: Option<Tensor> = None;
        for (block, (x, proj)) in levels.iter().zip(&self.proj).rev().enumerate() {
            let weights = || {
                let (fuse_w, fuse_b) = self.fuse.folded_with(&self.fuse_bn);
                let fuse_w = fuse_w.flatten(1, -1); // [E, 4E]
                let e = fuse_w.size()[0];
                let w_block = fuse_w.narrow(1, block as i64 * e, e); // [E, E]
                let folded = w_block.matmul(&proj.effective_weight()); // [E, c_i]
                let mut bias = proj.bias.as_ref().map_or_else(|| fuse_b.zeros_like(), |b| w_block.matmul(b));
                if block == 0 {
                    bias += fuse_b;
                }
                (folded, Some(bias))
            };
            let s = x.size();
            let y = crate::packed::linear_post(&proj.packs, 1, &to_tokens(x), &weights, PostOp::Identity);
            let y = resize_bilinear(&from_tokens(&y, s[2], s[3]), h, w); // [B, E, H/4, W/4]
            sum = Some(match sum {
                None => y,
                Some(acc) => acc + y,
            });
        }
        self.pred.forward(&sum.expect("four levels").relu_()) // [B, classes, H/4, W/4]
    }

    /// The decoder as defined, in the order of the definition (the specification
    /// [`DecoderHead::forward_t`] is tested against).
    #[cfg(test)]
    fn forward_as_defined(&self, levels: &[Tensor], train: bool) -> Tensor {
        let s1 = levels[0].size();
        let (h, w) = (s1[2], s1[3]);
        let parts: Vec<Tensor> = levels
            .iter()
            .zip(&self.proj)
            .rev()
            .map(|(x, proj)| {
                let s = x.size();
                resize_bilinear(&from_tokens(&proj.forward(&to_tokens(x)), s[2], s[3]), h, w)
            })
            .collect();
        let fused = self.fuse.forward(&Tensor::cat(&parts, 1)).apply_t(&self.fuse_bn, train).relu();
        self.pred.forward(&fused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn shapes_and_parameter_count() {
        let vs = nn::VarStore::new(Device::Cpu);
        let head = DecoderHead::new(&vs.root(), &[4, 8, 12, 16], 8, 3, 0.1);
        let levels: Vec<Tensor> = [(4, 16), (8, 8), (12, 4), (16, 2)]
            .iter()
            .map(|&(c, s)| Tensor::randn([2, c, s, s], (Kind::Float, Device::Cpu)))
            .collect();
        assert_eq!(head.forward_t(&levels, true).size(), [2, 3, 16, 16]);
        let proj = (4 + 8 + 12 + 16) * 8 + 4 * 8;
        assert_eq!(lora::parameter_count(&vs), proj + (32 * 8 + 8) + 16 + (8 * 3 + 3));
    }

    #[test]
    fn folded_order_equals_the_definition_with_gradients() {
        tch::manual_seed(5);
        let vs = nn::VarStore::new(Device::Cpu);
        let head = DecoderHead::new(&vs.root(), &[4, 8, 12, 16], 8, 3, 0.0);
        // A non-zero fuse bias, so that its placement is tested too.
        tch::no_grad(|| {
            let _ = head.fuse.bias.as_ref().unwrap().shallow_clone().uniform_(-0.5, 0.5);
            // Running statistics a fresh build would not have (eval folds them in).
            let _ = head.fuse_bn.running_mean.shallow_clone().uniform_(-1.0, 1.0);
            let _ = head.fuse_bn.running_var.shallow_clone().uniform_(0.5, 2.0);
        });
        let levels: Vec<Tensor> = [(4, 16), (8, 8), (12, 4), (16, 2)]
            .iter()
            .map(|&(c, s)| Tensor::randn([2, c, s, s], (Kind::Float, Device::Cpu)))
            .collect();
        let close = |a: &Tensor, b: &Tensor| {
            let d = (a - b).abs().max().double_value(&[]);
            let scale = b.abs().max().double_value(&[]);
            assert!(d <= 1e-5 * (1.0 + scale), "max difference {d}, scale {scale}");
        };
        close(&head.forward_t(&levels, false), &head.forward_as_defined(&levels, false));
        // Gradients of every variable agree as well (train mode: batch statistics).
        let grads = |f: &dyn Fn() -> Tensor| -> Vec<Tensor> {
            for v in vs.trainable_variables() {
                let mut g = v.grad();
                if g.defined() {
                    let _ = g.zero_();
                }
            }
            f().square().sum(Kind::Float).backward();
            vs.trainable_variables().iter().map(|v| v.grad().copy()).collect()
        };
        let ours = grads(&|| head.forward_t(&levels, true));
        let defined = grads(&|| head.forward_as_defined(&levels, true));
        // Against the largest gradient: the fuse bias's is 0 up to rounding noise (train-mode
        // batch norm removes any per-channel constant), so its own scale is noise.
        let scale = defined.iter().map(|g| g.abs().max().double_value(&[])).fold(0.0, f64::max);
        for (a, b) in ours.iter().zip(&defined) {
            let d = (a - b).abs().max().double_value(&[]);
            assert!(d <= 1e-5 * (1.0 + scale), "gradient difference {d}, largest gradient {scale}");
        }
    }
}
