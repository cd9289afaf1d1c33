//! The pre-norm transformer of CBC (docs/method.md §7.2; reference `mmvit4_Missing.py`, classes
//! `Transformer`, `SelfAttention`, `PreNormDrop`, `PreNorm`, `FeedForward`), used both as the
//! intra-modality transformer (one per modality) and as the multimodal transformer.
//!
//! Per layer (the reference re-adds the positions before every layer):
//!
//! ```text
//! x ← x + pos
//! x ← x + Dropout(Attn(LN(x)))        Attn: qkv (no bias) → softmax(q kᵀ/√d_h) → proj, 8 heads
//! x ← x + FFN(LN(x))                  FFN: Linear → GELU → Dropout → Linear → Dropout
//! ```
//!
//! Dropout (0.1 at paper size) acts on the attention weights, after `proj`, after the
//! attention branch and inside the FFN, as in the reference. `qkv` and `proj` are LoRA-capable
//! ([`crate::lora::linear`]); CBC attaches adapters only to the multimodal transformer's
//! (docs/method.md §5.5). Variable names follow the reference's state dict:
//! `cross_attention_list.{j}.fn.norm`, `cross_attention_list.{j}.fn.fn.{qkv,proj}`,
//! `cross_ffn_list.{j}.fn.norm`, `cross_ffn_list.{j}.fn.fn.net.{0,3}`.
//!
//! # Shapes
//! `x: [B, N, T]`, `pos: [1, N, T]` → `[B, N, T]`.

use tch::Tensor;
use tch::nn::{self, Module};

use crate::config::LoraConfig;
use crate::lora::{self, LoraLinear};

/// Multi-head self-attention with a fused `qkv` projection.
#[derive(Debug)]
struct SelfAttention {
    qkv: LoraLinear,
    proj: LoraLinear,
    heads: i64,
}

impl SelfAttention {
    fn forward_t(&self, xs: &Tensor, dropout: f64, train: bool) -> Tensor {
        let (b, n, c) = xs.size3().expect("attention input is [B, N, C]");
        let qkv = self.qkv.forward(xs).reshape([b, n, 3, self.heads, c / self.heads]).permute([2, 0, 3, 1, 4]);
        let (q, k, v) = (qkv.get(0), qkv.get(1), qkv.get(2)); // each [B, h, N, d]
        let p = if train { dropout } else { 0.0 };
        // Same maths as softmax(q kᵀ · d^-½) → dropout → · v, in one fused kernel.
        let attn = Tensor::scaled_dot_product_attention::<Tensor>(&q, &k, &v, None, p, false, None, false);
        let out = attn.transpose(1, 2).reshape([b, n, c]);
        self.proj.forward(&out).dropout(dropout, train)
    }
}

/// One pre-norm layer: attention and feed-forward branches with residuals.
#[derive(Debug)]
struct Layer {
    attn_norm: nn::LayerNorm,
    attn: SelfAttention,
    ffn_norm: nn::LayerNorm,
    ffn1: LoraLinear,
    ffn2: LoraLinear,
}

/// A stack of pre-norm transformer layers.
#[derive(Debug)]
pub(crate) struct Transformer {
    layers: Vec<Layer>,
    dropout: f64,
}

impl Transformer {
    /// Builds `depth` layers of width `dim` with `heads` heads and an FFN of width `mlp_dim`;
    /// `lora` attaches adapters to every layer's `qkv` and `proj`.
    pub(crate) fn new(
        p: &nn::Path,
        dim: i64,
        depth: usize,
        heads: i64,
        mlp_dim: i64,
        dropout: f64,
        lora: Option<&LoraConfig>,
    ) -> Self {
        let layers = (0..depth)
            .map(|j| {
                let a = p / "cross_attention_list" / j / "fn";
                let f = p / "cross_ffn_list" / j / "fn";
                let net = &f / "fn" / "net";
                Layer {
                    attn_norm: nn::layer_norm(&a / "norm", vec![dim], Default::default()),
                    attn: SelfAttention {
                        qkv: lora::linear(&a / "fn" / "qkv", dim, 3 * dim, false, lora),
                        proj: lora::linear(&a / "fn" / "proj", dim, dim, true, lora),
                        heads,
                    },
                    ffn_norm: nn::layer_norm(&f / "norm", vec![dim], Default::default()),
                    ffn1: lora::linear(&net / "0", dim, mlp_dim, true, None),
                    ffn2: lora::linear(&net / "3", mlp_dim, dim, true, None),
                }
            })
            .collect();
        Transformer { layers, dropout }
    }

    /// # Shapes
    /// `xs: [B, N, T]`, `pos: [1, N, T]` → `[B, N, T]`.
    pub(crate) fn forward_t(&self, xs: &Tensor, pos: &Tensor, train: bool) -> Tensor {
        let d = self.dropout;
        let mut x = xs.shallow_clone();
        for l in &self.layers {
            let with_pos = &x + pos;
            let a = l.attn.forward_t(&l.attn_norm.forward(&with_pos), d, train).dropout(d, train) + &with_pos;
            let h = l.ffn1.forward(&l.ffn_norm.forward(&a)).gelu("none").dropout(d, train);
            x = l.ffn2.forward(&h).dropout(d, train) + &a;
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    /// The fused attention must equal the reference's explicit softmax(q kᵀ·scale)·v.
    #[test]
    fn attention_matches_explicit_softmax() {
        tch::manual_seed(1);
        let vs = nn::VarStore::new(Device::Cpu);
        let t = Transformer::new(&vs.root(), 16, 1, 4, 8, 0.1, None);
        let x = Tensor::randn([2, 5, 16], (Kind::Float, Device::Cpu));
        let attn = &t.layers[0].attn;
        let got = attn.forward_t(&x, 0.1, false);
        let qkv = attn.qkv.forward(&x).reshape([2, 5, 3, 4, 4]).permute([2, 0, 3, 1, 4]);
        let (q, k, v) = (qkv.get(0), qkv.get(1), qkv.get(2));
        let w = (q.matmul(&k.transpose(-2, -1)) * 0.5).softmax(-1, Kind::Float);
        let want = attn.proj.forward(&w.matmul(&v).transpose(1, 2).reshape([2, 5, 16]));
        assert!(got.allclose(&want, 1e-5, 1e-6, false));
    }

    #[test]
    fn shapes_names_and_eval_determinism() {
        let vs = nn::VarStore::new(Device::Cpu);
        let t = Transformer::new(&(vs.root() / "tr"), 8, 2, 2, 12, 0.1, None);
        let names = vs.variables();
        for n in [
            "tr.cross_attention_list.1.fn.norm.weight",
            "tr.cross_attention_list.0.fn.fn.qkv.weight",
            "tr.cross_attention_list.0.fn.fn.proj.bias",
            "tr.cross_ffn_list.0.fn.fn.net.0.weight",
            "tr.cross_ffn_list.1.fn.fn.net.3.bias",
        ] {
            assert!(names.contains_key(n), "{n} missing");
        }
        assert!(!names.contains_key("tr.cross_attention_list.0.fn.fn.qkv.bias"));
        let x = Tensor::randn([3, 6, 8], (Kind::Float, Device::Cpu));
        let pos = Tensor::randn([1, 6, 8], (Kind::Float, Device::Cpu));
        let y = t.forward_t(&x, &pos, false);
        assert_eq!(y.size(), [3, 6, 8]);
        assert!(y.equal(&t.forward_t(&x, &pos, false)));
    }
}
