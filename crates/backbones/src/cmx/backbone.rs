//! The CMX dual-stream encoder (docs/method.md §7.1; reference `CMX.py: DualSimpleBackbone`): two streams of
//! [`ConvBlock`]s (a stem and four stages, each halving the resolution), and after every stage a
//! [`Frm`] that exchanges information between the streams and an [`Ffm`] that fuses them into the
//! level passed to the decoder. The last fusion's output is the shared latent (docs/method.md §3).
//!
//! # Shapes (paper widths)
//! `([B, C₀, H, W], [B, C₀, H, W]) →` levels `[B, 64, H/4]`, `[B, 128, H/8]`, `[B, 320, H/16]`,
//! `[B, 512, H/32]` (square notation for `H × W`).

use tch::Tensor;
use tch::nn::{self, ModuleT};

use super::CmxConfig;
use super::ffm::Ffm;
use super::frm::Frm;
use super::stream::ConvBlock;
use crate::config::LoraConfig;

/// Two streams with rectification and fusion after each stage.
#[derive(Debug)]
pub struct DualBackbone {
    rgb_stem: ConvBlock,
    mod_stem: ConvBlock,
    rgb_stages: Vec<ConvBlock>,
    mod_stages: Vec<ConvBlock>,
    frm: Vec<Frm>,
    ffm: Vec<Ffm>,
}

impl DualBackbone {
    /// Builds the encoder for streams of `in_dim` channels; `lora` adapts every conv and linear.
    pub fn new(p: &nn::Path, cfg: &CmxConfig, in_dim: i64, lora: Option<&LoraConfig>) -> Self {
        let stem = cfg.widths[0];
        let stages = &cfg.widths[1..];
        let mut rgb_stages = Vec::new();
        let mut mod_stages = Vec::new();
        let mut frm = Vec::new();
        let mut ffm = Vec::new();
        let mut prev = stem;
        for (i, &c) in stages.iter().enumerate() {
            rgb_stages.push(ConvBlock::new(&(p / format!("rgb_s{}", i + 1)), prev, c, 2, lora));
            mod_stages.push(ConvBlock::new(&(p / format!("mod_s{}", i + 1)), prev, c, 2, lora));
            frm.push(Frm::new(&(p / "frm" / i), c, cfg.frm_reduction, lora));
            ffm.push(Ffm::new(&(p / "ffm" / i), c, cfg.ffm_reduction, cfg.heads, lora));
            prev = c;
        }
        DualBackbone {
            rgb_stem: ConvBlock::new(&(p / "rgb_stem"), in_dim, stem, 2, lora),
            mod_stem: ConvBlock::new(&(p / "mod_stem"), in_dim, stem, 2, lora),
            rgb_stages,
            mod_stages,
            frm,
            ffm,
        }
    }

    /// Returns the fused level of every stage, shallowest first.
    pub fn forward_t(&self, x1: &Tensor, x2: &Tensor, train: bool) -> Vec<Tensor> {
        self.forward_from(&self.stream1_head(x1, train), &self.stream2_head(x2, train), train)
    }

    /// Stream 1's stem and first stage, the part that sees stream 1 alone:
    /// `[B, C₀, H, W] → [B, c₁, H/4, W/4]`.
    pub fn stream1_head(&self, x1: &Tensor, train: bool) -> Tensor {
        self.rgb_stages[0].forward_t(&self.rgb_stem.forward_t(x1, train), train)
    }

    /// Stream 2's stem and first stage.
    pub fn stream2_head(&self, x2: &Tensor, train: bool) -> Tensor {
        self.mod_stages[0].forward_t(&self.mod_stem.forward_t(x2, train), train)
    }

    /// The rest of the backbone from both streams' first-stage outputs (where the streams first
    /// meet, in `frm[0]`): the fused level of every stage, shallowest first.
    pub fn forward_from(&self, r_0: &Tensor, m_0: &Tensor, train: bool) -> Vec<Tensor> {
        let mut levels = Vec::with_capacity(self.ffm.len());
        let (mut r, mut m) = self.frm[0].forward(r_0, m_0);
        levels.push(self.ffm[0].forward_t(&r, &m, train));
        for i in 1..self.ffm.len() {
            let r_i = self.rgb_stages[i].forward_t(&r, train); // [B, c_i, H/2^(i+2), W/2^(i+2)]
            let m_i = self.mod_stages[i].forward_t(&m, train);
            (r, m) = self.frm[i].forward(&r_i, &m_i);
            levels.push(self.ffm[i].forward_t(&r, &m, train));
        }
        levels
    }
}
