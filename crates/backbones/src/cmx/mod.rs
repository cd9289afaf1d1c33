//! CMX (Zhang et al., "CMX: Cross-Modal Fusion for RGB-X Semantic Segmentation with
//! Transformers", 2023), as the reference's self-contained version (docs/method.md §7.1; `CMX.py`).
//!
//! Any number M ≥ 2 of modalities with any channel counts: stream 1 is the first modality
//! (`C₀` channels); stream 2 is a bias-free 1×1 convolution (`modal_proj`) of the other
//! modalities concatenated, `Σ_{m≥1} C_m → C₀` (the reference: NIR + SWIR, 6 → 3), so both stems
//! take `C₀` channels. Missing modalities are zeroed in the raw input, per sample (docs/method.md §2).
//! The shared latent is the last fusion module's output, hook `backbone.ffm[3]`.
//!
//! Variable names follow the reference's keys without its `core.` prefix: `modal_proj`,
//! `backbone.{rgb,mod}_{stem,s1..s4}.block.*`, `backbone.frm.i.*`, `backbone.ffm.i.*`,
//! `decode_head.*`. LoRA adapts every linear and conv of `backbone`, not `modal_proj` (outside
//! the reference's backbone) and not the decoder (docs/method.md §5.5).
//!
//! # Shapes
//! `inputs[m]: [B, C_m, H, W]`, `availability: [B, M]` → logits `[B, classes, H, W]`, latent
//! `[B, w₄, ⌈H/32⌉, ⌈W/32⌉]` (w₄ = 512 at paper size).

pub mod backbone;
pub mod decoder;
pub mod ffm;
pub mod frm;
pub mod stream;

use serde::{Deserialize, Serialize};
use tch::Tensor;
use tch::nn::{self, Module};

use crate::config::{LoraConfig, Preset};
use crate::error::{Error, Result};
use crate::layers::{gate, resize_bilinear, torch_conv};
use crate::lora::{self, LoraConv};
use crate::model::{ModelOutput, SegmentationModel, check_inputs};

use backbone::DualBackbone;
use decoder::DecoderHead;

/// Sizes of a CMX network. `Default` is the paper preset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CmxConfig {
    /// Stem width then the four stage widths (paper: 64, 64, 128, 320, 512).
    pub widths: Vec<i64>,
    /// Attention heads of every fusion module (paper: 8).
    pub heads: i64,
    /// Reduction of the rectification MLP and spatial convs (reference: 1).
    pub frm_reduction: i64,
    /// Reduction of the fusion module's cross path and channel embedding (reference: 1).
    pub ffm_reduction: i64,
    /// Decoder embedding width (paper: 256).
    pub decoder_embed: i64,
    /// Dropout2d probability before the prediction conv (reference: 0.1).
    pub dropout: f64,
}

impl Default for CmxConfig {
    fn default() -> Self {
        CmxConfig::preset(Preset::Paper)
    }
}

impl CmxConfig {
    /// The sizes of a preset: `paper` (the reference), `small` (widths ÷ 4, embed 64, 8 heads)
    /// and `tiny` (widths ÷ 8, embed 32, 4 heads); same topology.
    pub fn preset(preset: Preset) -> Self {
        let paper = [64, 64, 128, 320, 512];
        // Tiny uses 4 heads: with 8, the first stage's heads would be 1 channel wide, and the
        // context softmax over a 1 × 1 matrix is constant (no gradient reaches kv1/kv2).
        let (div, embed, heads) = match preset {
            Preset::Paper => (1, 256, 8),
            Preset::Small => (4, 64, 8),
            Preset::Tiny => (8, 32, 4),
        };
        CmxConfig {
            widths: paper.iter().map(|w| w / div).collect(),
            heads,
            frm_reduction: 1,
            ffm_reduction: 1,
            decoder_embed: embed,
            dropout: 0.1,
        }
    }

    /// Checks that the sizes describe a buildable network.
    pub fn validate(&self) -> Result<()> {
        if self.widths.len() != 5 || self.widths.iter().any(|&w| w < 1) {
            return Err(Error::invalid(
                "cmx.widths",
                format!("{:?}", self.widths),
                "5 positive widths (stem, 4 stages)",
            ));
        }
        if self.heads < 1 {
            return Err(Error::invalid("cmx.heads", self.heads, "≥ 1"));
        }
        for (field, r) in [("cmx.frm_reduction", self.frm_reduction), ("cmx.ffm_reduction", self.ffm_reduction)] {
            if r < 1 {
                return Err(Error::invalid(field, r, "≥ 1"));
            }
        }
        for &w in &self.widths[1..] {
            if w % self.frm_reduction != 0 || w % (self.ffm_reduction * self.heads) != 0 {
                return Err(Error::invalid(
                    "cmx.widths",
                    format!("{:?}", self.widths),
                    format!(
                        "stage widths divisible by frm_reduction ({}) and by ffm_reduction × heads ({})",
                        self.frm_reduction,
                        self.ffm_reduction * self.heads
                    ),
                ));
            }
        }
        if self.decoder_embed < 1 {
            return Err(Error::invalid("cmx.decoder_embed", self.decoder_embed, "≥ 1"));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::invalid("cmx.dropout", self.dropout, "a probability in [0, 1)"));
        }
        Ok(())
    }
}

/// The CMX network.
#[derive(Debug)]
pub struct Cmx {
    channels: Vec<i64>,
    classes: i64,
    hook: String,
    modal_proj: LoraConv,
    backbone: DualBackbone,
    decode_head: DecoderHead,
}

impl Cmx {
    /// Builds the network of a preset for modalities with `channels` channels.
    pub fn new(
        p: &nn::Path,
        preset: Preset,
        channels: &[i64],
        classes: i64,
        lora: Option<&LoraConfig>,
    ) -> Result<Self> {
        Cmx::with_config(p, &CmxConfig::preset(preset), channels, classes, lora)
    }

    /// Builds the network with explicit sizes.
    pub fn with_config(
        p: &nn::Path,
        cfg: &CmxConfig,
        channels: &[i64],
        classes: i64,
        lora: Option<&LoraConfig>,
    ) -> Result<Self> {
        cfg.validate()?;
        if channels.len() < 2 || channels.iter().any(|&c| c < 1) {
            return Err(Error::invalid(
                "channels",
                format!("{channels:?}"),
                "at least 2 modalities with ≥ 1 channel each",
            ));
        }
        if classes < 1 {
            return Err(Error::invalid("classes", classes, "an integer ≥ 1"));
        }
        let c0 = channels[0];
        let rest: i64 = channels[1..].iter().sum();
        Ok(Cmx {
            channels: channels.to_vec(),
            classes,
            hook: format!("backbone.ffm[{}]", cfg.widths.len() - 2),
            modal_proj: lora::conv2d(p / "modal_proj", rest, c0, 1, torch_conv(rest, 1, 1, 0, 1, false), None),
            backbone: DualBackbone::new(&(p / "backbone"), cfg, c0, lora),
            decode_head: DecoderHead::new(
                &(p / "decode_head"),
                &cfg.widths[1..],
                cfg.decoder_embed,
                classes,
                cfg.dropout,
            ),
        })
    }
}

impl SegmentationModel for Cmx {
    /// A wrong number of modalities or wrong shapes are an [`lssg_torch::Error::Shape`] (see
    /// [`check_inputs`]).
    fn forward_t(&self, inputs: &[Tensor], availability: &Tensor, train: bool) -> Result<ModelOutput> {
        let (_, h, w) = check_inputs(&self.channels, inputs, availability)?;
        // Zero the raw input of every unavailable modality, per sample (docs/method.md §2).
        let gated: Vec<Tensor> = inputs.iter().enumerate().map(|(m, x)| gate(x, availability, m as i64)).collect();
        let x1 = &gated[0]; // [B, C₀, H, W]
        let x2 = self.modal_proj.forward(&Tensor::cat(&gated[1..], 1)); // [B, C₀, H, W]
        let mut levels = self.backbone.forward_t(x1, &x2, train);
        let logits = self.decode_head.forward_t(&levels, train); // [B, classes, H/4, W/4]
        let logits = resize_bilinear(&logits, h, w); // [B, classes, H, W]
        let latent = levels.pop().expect("four levels"); // [B, w₄, H/32, W/32]
        Ok(ModelOutput::new(logits, latent))
    }

    /// Stream 1's stem and first stage see only the first modality, stream 2's only the others
    /// (through `modal_proj`), and a missing modality is a zero input, so across the `k`
    /// scenarios these heads take few distinct values: stream 1 the batch itself or a zero tile,
    /// stream 2 one value per distinct pattern of the other modalities (at most 2^(M−1), a zero
    /// tile when none is available). Each is computed once and gathered into the `B·k` rows;
    /// the rest of the network runs on the rows (docs/speed.md §4). Equal to the default up to
    /// float rounding (`lssg-scoring`'s batched-equals-naive tests).
    fn forward_scenarios(&self, inputs: &[Tensor], scenarios: &Tensor) -> Result<ModelOutput> {
        let m = self.channels.len() as i64;
        let (b, h, w) = check_inputs(
            &self.channels,
            inputs,
            &Tensor::ones([inputs.first().map_or(0, |x| x.size()[0]), m], (tch::Kind::Float, tch::Device::Cpu)),
        )?;
        if scenarios.dim() != 2 || scenarios.size()[1] != m {
            return Err(Error::shape("scenarios", format!("[k, {m}]"), format!("{:?}", scenarios.size())));
        }
        let k = scenarios.size()[0];
        let rows: Vec<Vec<bool>> =
            Vec::<f32>::try_from(scenarios.to_device(tch::Device::Cpu).to_kind(tch::Kind::Float).flatten(0, -1))
                .map_err(|e| Error::unsupported("reading the scenario rows", e.to_string()))?
                .chunks(m as usize)
                .map(|r| r.iter().map(|&v| v != 0.0).collect())
                .collect();
        let device = inputs[0].device();
        let zero_tile = |c: i64| Tensor::zeros([1, c, h, w], (inputs[0].kind(), device));
        // Stream 1: variant 0..B is the batch, variant B a zero tile.
        let r_variants = Tensor::cat(
            &[
                self.backbone.stream1_head(&inputs[0], false),
                self.backbone.stream1_head(&zero_tile(self.channels[0]), false),
            ],
            0,
        );
        // Stream 2: one block of variants per distinct pattern of modalities 1..M.
        let (mut patterns, mut m_blocks, mut offsets): (Vec<&[bool]>, Vec<Tensor>, Vec<i64>) = Default::default();
        // Per row: where its pattern's block starts and whether the block holds one variant
        // per sample (else one zero tile stands for every sample).
        let mut row_block: Vec<(i64, bool)> = Vec::with_capacity(rows.len());
        for row in &rows {
            let pattern = &row[1..];
            let any = pattern.iter().any(|&a| a);
            let p = match patterns.iter().position(|q| *q == pattern) {
                Some(p) => p,
                None => {
                    let parts: Vec<Tensor> = inputs[1..]
                        .iter()
                        .zip(pattern)
                        .zip(&self.channels[1..])
                        .map(|((x, &a), &c)| match (a, any) {
                            (true, _) => x.shallow_clone(),
                            (false, true) => x.zeros_like(),
                            (false, false) => zero_tile(c),
                        })
                        .collect();
                    let head = self.backbone.stream2_head(&self.modal_proj.forward(&Tensor::cat(&parts, 1)), false);
                    offsets.push(m_blocks.iter().map(|t| t.size()[0]).sum());
                    patterns.push(pattern);
                    m_blocks.push(head);
                    patterns.len() - 1
                }
            };
            row_block.push((offsets[p], any));
        }
        let m_variants = Tensor::cat(&m_blocks, 0);
        // Row b·k + j: sample b under scenario j.
        let (mut r_index, mut m_index) = (Vec::with_capacity((b * k) as usize), Vec::with_capacity((b * k) as usize));
        for s in 0..b {
            for (row, &(offset, per_sample)) in rows.iter().zip(&row_block) {
                r_index.push(if row[0] { s } else { b });
                m_index.push(if per_sample { offset + s } else { offset });
            }
        }
        let r_0 = r_variants.index_select(0, &Tensor::from_slice(&r_index).to_device(device));
        let m_0 = m_variants.index_select(0, &Tensor::from_slice(&m_index).to_device(device));
        let mut levels = self.backbone.forward_from(&r_0, &m_0, false);
        let logits = resize_bilinear(&self.decode_head.forward_t(&levels, false), h, w);
        let latent = levels.pop().expect("four levels");
        Ok(ModelOutput::new(logits, latent))
    }

    fn hook_point(&self) -> &str {
        &self.hook
    }

    fn num_classes(&self) -> i64 {
        self.classes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn presets_validate_and_bad_sizes_are_named() {
        for p in Preset::ALL {
            CmxConfig::preset(p).validate().unwrap();
        }
        let bad = CmxConfig { widths: vec![8, 8, 14, 40, 64], ..CmxConfig::preset(Preset::Tiny) };
        assert!(bad.validate().unwrap_err().to_string().contains("cmx.widths"));
        let bad = CmxConfig { dropout: 1.0, ..Default::default() };
        assert!(bad.validate().unwrap_err().to_string().contains("cmx.dropout"));
    }

    #[test]
    fn shared_heads_equal_the_repeated_forward() {
        tch::manual_seed(3);
        let vs = nn::VarStore::new(Device::Cpu);
        let channels = [3, 2, 1, 2];
        let cmx = Cmx::new(&vs.root(), Preset::Tiny, &channels, 2, None).unwrap();
        let xs: Vec<Tensor> =
            channels.iter().map(|&c| Tensor::randn([3, c, 32, 32], (Kind::Float, Device::Cpu))).collect();
        let every: Vec<f32> = (1..16u8).flat_map(|mask| (0..4).map(move |i| f32::from(mask >> i & 1))).collect();
        // Every scenario; then a chunk whose rows repeat patterns and lack the first modality.
        let subset = [0.0f32, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0];
        for rows in [Tensor::from_slice(&every).view([15, 4]), Tensor::from_slice(&subset).view([3, 4])] {
            let k = rows.size()[0];
            let shared = cmx.forward_scenarios(&xs, &rows).unwrap();
            let repeated: Vec<Tensor> = xs.iter().map(|x| x.repeat_interleave_self_int(k, 0, None)).collect();
            let plain = cmx.forward_t(&repeated, &rows.repeat([3, 1]), false).unwrap();
            for (a, b) in [(&shared.logits, &plain.logits), (&shared.latent, &plain.latent)] {
                assert_eq!(a.size(), b.size());
                let diff = (a - b).abs().max().double_value(&[]);
                let scale = b.abs().max().double_value(&[]);
                assert!(diff <= 1e-5 * (1.0 + scale), "max |shared − repeated| = {diff} (scale {scale})");
            }
        }
        let bad = Tensor::ones([2, 3], (Kind::Float, Device::Cpu));
        assert!(cmx.forward_scenarios(&xs, &bad).unwrap_err().to_string().contains("[k, 4]"));
    }

    #[test]
    fn forward_shapes_and_hook() {
        let vs = nn::VarStore::new(Device::Cpu);
        let cmx = Cmx::new(&vs.root(), Preset::Tiny, &[3, 2], 2, None).unwrap();
        let xs = [
            Tensor::randn([2, 3, 40, 40], (Kind::Float, Device::Cpu)),
            Tensor::randn([2, 2, 40, 40], (Kind::Float, Device::Cpu)),
        ];
        let out = cmx.forward_t(&xs, &Tensor::ones([2, 2], (Kind::Float, Device::Cpu)), false).unwrap();
        assert_eq!(out.logits.size(), [2, 2, 40, 40]);
        assert_eq!(out.latent.size(), [2, 64, 2, 2]);
        assert_eq!(cmx.hook_point(), "backbone.ffm[3]");
        let err = cmx.forward_t(&xs[..1], &Tensor::ones([2, 1], (Kind::Float, Device::Cpu)), false).unwrap_err();
        assert!(err.to_string().contains("2 modality tensors"), "{err}");
    }
}
