//! CBC and CBC-SLP (docs/method.md §2, §5, §7; reference `mmvit4_Missing.py` class `MMVit5` = CBC and
//! `mmvit4_MissingGated.py` class `MMVit4` = CBC-SLP, LoRA placement from `lora_multimodal4.py`).
//!
//! ```text
//! inputs[m] [B, C_m, H, W] → [B, 1, C_m, H, W] (bands = depth) → encoders.{m} → x1…x6 (6 levels)
//!   levels 1–5 resized in depth to D* = max_m C_m (see below); every level · availability[:, m]
//! fusion{k}: concat over modalities → 1×1×1 conv → ReLU → InstanceNorm            (k = 1…6)
//! x6 → encode_convs.{m} → tokens [B, g³, T] → transformers.{m} (+ pos.{m})        (intra)
//! inter-modality attention (per voxel, softmax across modalities) · availability (inter)
//! fused_m = tokens_m + inter_m;  fusion6 → fused6_encode_conv → fused6 tokens
//! multimodal_transformer([fused_1…fused_M, fused6], [pos_1…pos_M, fused6_pos])
//!   → view [B, g, g, g, (M+1)T] → multimodal_decode_conv → x6_inter [B, 8bM, g, g, g]  ← hook/latent
//! CBC-SLP only: x6_inter → [shared_conv(x6_inter), private_convs.{m}(inter_m) · avail] (same width)
//! decoder_fuse(fusion1…fusion4, bottleneck) → logits [B, classes, H, W]
//! ```
//!
//! # Decisions [ours]
//! - **Quirk 2** (docs/reference.md §2.2): inter-modality attention is computed per sample
//!   ([`inter_attention`]); the reference mixes samples for B > 1.
//! - **Any modalities / channels.** The reference assumes M = 3 modalities of 3 bands. Per-modality
//!   modules are indexed (`encoders.0` ↔ `RGB_encoder`, `qkv.0` ↔ `qkv_RGB`, `private_convs.0` ↔
//!   `rgb_private_conv`, …); widths that the reference writes as `3·x` are `M·x`. A modality's
//!   depth is its band count, and the early fusion concatenates modalities along channels, which
//!   needs one depth: levels 1–5 of every modality whose band count differs from the largest one
//!   are resized (trilinear, align-corners) in depth to `D* = max_m C_m` before masking and fusion.
//!   With equal band counts (the paper) this is the identity. Level 6 is already `g³`.
//! - **Dead branches.** The reference computes `fusion5` but its decoder never reads it (the
//!   bottleneck slot gets `x6_inter`), and it builds `RGB/NIR/SWIR_decode_conv` and deep-supervision
//!   heads that are never called. We keep `fusion5`'s parameters (and, with LoRA, its adapters), so
//!   that "six fusion convolutions" and the LoRA count match the reference, but skip evaluating it;
//!   its variables never receive a gradient, exactly as in the reference. The never-called
//!   modules are not built (−136 k parameters, 0.16 % at paper size).
//! - **Output.** Logits, no sigmoid (docs/reference.md §2.1). [`CbcConfig::output_head`] `single`
//!   (default): `classes` channels. `reference-3` (`docs/reference.md §3`): the reference's
//!   `final_conv` 8→3 with the mask repeated 3 times as the target, i.e. three copies of the
//!   class logits, each trained against the same labels (the loss is the mean of the copies'
//!   losses, `ModelOutput::head_copies`), and copy 0 evaluated (`ModelOutput::logits`), as the
//!   reference reads `outputs[:, 0]`.
//!
//! # Presets ([`CbcConfig::preset`])
//! `paper`: ResNet-50 (stem 64, planes 64/128/256/512, blocks 3/4/6/3), b = 8, T = 512, 8 heads,
//! g = 8. `small` and `tiny` keep the topology with one bottleneck per stage, narrower widths and
//! a smaller token grid; see [`CbcConfig::preset`]. Parameters for 3 modalities × 3 bands, 1 class:
//!
//! | preset | CBC | CBC-SLP | fwd + bwd, batch 8, 64², one CPU thread |
//! |---|---|---|---|
//! | paper | 85 380 921 | 85 448 697 | (GPU) |
//! | small | 2 751 901 | 2 759 677 | 0.83 s / 0.96 s |
//! | tiny | 695 019 | 696 987 | 0.55 s / 0.57 s |
//!
//! The reference's `MMVit5(num_cls=1)` has 85 479 624 parameters: ours plus 98 685 in
//! never-called modules and 18 for its 3-channel output (`output_head = "reference-3"` adds
//! those 18). Its LoRA wrapper trains 18 240 parameters on CBC-SLP at rank 4, as ours does.

mod decoder;
mod encoder;
mod fusion;
mod inter_attention;
mod slp;
mod transformer;

use lssg_torch::packed::Inference;
use serde::{Deserialize, Serialize};
use tch::Tensor;
use tch::nn::init::{FanInOut, NonLinearity, NormalOrUniform};
use tch::nn::{self, Init, Module, PaddingMode};

use crate::config::{LoraConfig, OutputHead, Preset, check_build};
use crate::error::{Error, Result};
use crate::layers::gate;
use crate::lora::torch_default_init;
use crate::model::{ModelOutput, SegmentationModel, check_inputs};

use decoder::Decoder;
use encoder::Encoder;
use fusion::EarlyFusion;
use inter_attention::InterModalityAttention;
use slp::StructuredLatent;
use transformer::Transformer;

/// The name of the layer whose output is the shared latent of CBC and CBC-SLP (docs/method.md §3).
pub const HOOK_POINT: &str = "multimodal_decode_conv";

/// Sizes of a CBC network. `Default` is the paper preset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CbcConfig {
    /// Output channels of the ResNet stem (64).
    pub stem_width: i64,
    /// Bottleneck widths of the four stages (64, 128, 256, 512); each stage outputs 4× its width.
    pub planes: [i64; 4],
    /// Bottleneck blocks per stage (3, 4, 6, 3: ResNet-50).
    pub blocks: [usize; 4],
    /// Depth (band-axis) extent of the stem kernel (3: the reference's inflation `time_dim`).
    pub stem_depth_kernel: i64,
    /// Basic width b (8): the encoder levels have b, 2b, 4b, 8b, 8b and 8b channels.
    pub basic_dims: i64,
    /// Token width T of the transformers (512).
    pub token_dim: i64,
    /// Hidden width of the transformers' feed-forward blocks (512).
    pub mlp_dim: i64,
    /// Attention heads (8); must divide `token_dim`.
    pub heads: i64,
    /// Layers per transformer (1).
    pub depth: usize,
    /// Token grid g (8): level 6 and the bottleneck are `g³` volumes; the decoder runs up to
    /// `(16g)³`.
    pub grid: i64,
    /// Dropout of the transformers (0.1).
    pub dropout: f64,
    /// The output head: `single` (`classes` channels) or the reference's `reference-3`.
    pub output_head: OutputHead,
}

impl Default for CbcConfig {
    fn default() -> Self {
        CbcConfig::preset(Preset::Paper)
    }
}

impl CbcConfig {
    /// The sizes of a preset.
    ///
    /// | preset | stem | planes | blocks | b | T | heads | g |
    /// |---|---|---|---|---|---|---|---|
    /// | paper | 64 | 64/128/256/512 | 3/4/6/3 | 8 | 512 | 8 | 8 |
    /// | small | 16 | 16/32/64/128 | 1/1/1/1 | 4 | 64 | 4 | 2 |
    /// | tiny | 8 | 8/16/32/64 | 1/1/1/1 | 2 | 32 | 4 | 2 |
    pub fn preset(preset: Preset) -> Self {
        match preset {
            Preset::Paper => CbcConfig {
                stem_width: 64,
                planes: [64, 128, 256, 512],
                blocks: [3, 4, 6, 3],
                stem_depth_kernel: 3,
                basic_dims: 8,
                token_dim: 512,
                mlp_dim: 512,
                heads: 8,
                depth: 1,
                grid: 8,
                dropout: 0.1,
                output_head: OutputHead::Single,
            },
            Preset::Small => CbcConfig::narrow(16),
            Preset::Tiny => CbcConfig::narrow(8),
        }
    }

    /// `small` (w = 16) and `tiny` (w = 8): the paper preset with stem w, planes
    /// w/2w/4w/8w, one bottleneck per stage, b = w/4, T = 4w, 4 heads and g = 2.
    fn narrow(w: i64) -> Self {
        CbcConfig {
            stem_width: w,
            planes: [w, 2 * w, 4 * w, 8 * w],
            blocks: [1; 4],
            basic_dims: w / 4,
            token_dim: 4 * w,
            mlp_dim: 4 * w,
            heads: 4,
            grid: 2,
            ..CbcConfig::preset(Preset::Paper)
        }
    }

    /// Channels of the six encoder levels for basic width `b`.
    pub(crate) fn level_widths(b: i64) -> [i64; 6] {
        [b, 2 * b, 4 * b, 8 * b, 8 * b, 8 * b]
    }

    /// Checks every size.
    pub fn validate(&self) -> Result<()> {
        let positive = [
            ("cbc.stem_width", self.stem_width),
            ("cbc.stem_depth_kernel", self.stem_depth_kernel),
            ("cbc.basic_dims", self.basic_dims),
            ("cbc.token_dim", self.token_dim),
            ("cbc.mlp_dim", self.mlp_dim),
            ("cbc.heads", self.heads),
            ("cbc.grid", self.grid),
        ];
        for (field, v) in positive {
            if v < 1 {
                return Err(Error::invalid(field, v, "an integer ≥ 1"));
            }
        }
        if self.planes.iter().any(|&p| p < 1) {
            return Err(Error::invalid("cbc.planes", format!("{:?}", self.planes), "four integers ≥ 1"));
        }
        if self.blocks.contains(&0) {
            return Err(Error::invalid("cbc.blocks", format!("{:?}", self.blocks), "four integers ≥ 1"));
        }
        if self.stem_depth_kernel % 2 == 0 {
            return Err(Error::invalid(
                "cbc.stem_depth_kernel",
                self.stem_depth_kernel,
                "an odd integer (depth is kept)",
            ));
        }
        if self.token_dim % self.heads != 0 {
            return Err(Error::invalid(
                "cbc.heads",
                self.heads,
                format!("a divisor of cbc.token_dim = {}", self.token_dim),
            ));
        }
        if self.depth < 1 {
            return Err(Error::invalid("cbc.depth", self.depth, "an integer ≥ 1"));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::invalid("cbc.dropout", self.dropout, "a probability in [0, 1)"));
        }
        Ok(())
    }
}

/// Kaiming-normal (fan-in, ReLU gain): the reference re-initialises every `Conv3d` weight so.
pub(crate) fn kaiming_normal() -> Init {
    Init::Kaiming { dist: NormalOrUniform::Normal, fan: FanInOut::FanIn, non_linearity: NonLinearity::ReLU }
}

/// The geometry of a reference `Conv3d`: kernel, stride, padding (and how it pads), bias.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Conv3dGeometry {
    pub(crate) ksize: [i64; 3],
    pub(crate) stride: [i64; 3],
    pub(crate) padding: [i64; 3],
    pub(crate) bias: bool,
    pub(crate) padding_mode: PaddingMode,
}

impl Conv3dGeometry {
    /// A 1×1×1 kernel, stride 1, no padding: the reference's channel projections.
    pub(crate) const fn pointwise(bias: bool) -> Self {
        Conv3dGeometry { ksize: [1; 3], stride: [1; 3], padding: [0; 3], bias, padding_mode: PaddingMode::Zeros }
    }
}

/// A 3-D convolution of geometry `g`, kaiming-normal weights and PyTorch's default bias
/// initialisation, as every `Conv3d` of the reference.
pub(crate) fn conv3d<'a>(
    p: impl std::borrow::Borrow<nn::Path<'a>>,
    in_dim: i64,
    out_dim: i64,
    g: Conv3dGeometry,
) -> nn::Conv3D {
    let fan_in = in_dim * g.ksize.iter().product::<i64>();
    let cfg = nn::ConvConfigND::<[i64; 3]> {
        stride: g.stride,
        padding: g.padding,
        dilation: [1, 1, 1],
        groups: 1,
        bias: g.bias,
        ws_init: kaiming_normal(),
        bs_init: torch_default_init(fan_in),
        padding_mode: g.padding_mode,
    };
    nn::conv(p, in_dim, out_dim, g.ksize, cfg)
}

/// `InstanceNorm3d` without affine parameters or running statistics (the reference's `'in'`).
pub(crate) fn instance_norm(xs: &Tensor) -> Tensor {
    xs.instance_norm::<Tensor>(None, None, None, None, true, 0.1, 1e-5, false)
}

/// A CBC or CBC-SLP network.
#[derive(Debug)]
pub struct Cbc {
    cfg: CbcConfig,
    channels: Vec<i64>,
    classes: i64,
    encoders: Vec<Encoder>,
    fusions: Vec<EarlyFusion>,
    encode_convs: Vec<nn::Conv3D>,
    pos: Vec<Tensor>,
    transformers: Vec<Transformer>,
    inter: InterModalityAttention,
    fused6_encode_conv: nn::Conv3D,
    fused6_pos: Tensor,
    multimodal_transformer: Transformer,
    multimodal_decode_conv: nn::Conv3D,
    slp: Option<StructuredLatent>,
    decoder: Decoder,
}

impl Cbc {
    /// Builds CBC (`slp = false`) or CBC-SLP under `p` for modalities with `channels` bands each
    /// and `classes` outputs. `lora` attaches adapters to the multimodal transformer's `qkv`
    /// and `proj` and to the six fusion convolutions (nothing is frozen here).
    pub fn new(
        p: &nn::Path,
        cfg: &CbcConfig,
        channels: &[i64],
        classes: i64,
        lora: Option<&LoraConfig>,
        slp: bool,
    ) -> Result<Self> {
        cfg.validate()?;
        check_build(channels, classes, lora)?;
        let m = channels.len();
        let (b, t, g) = (cfg.basic_dims, cfg.token_dim, cfg.grid);
        let conv1 = |name: nn::Path, i: i64, o: i64| conv3d(name, i, o, Conv3dGeometry::pointwise(true));
        let encoders = (0..m).map(|i| Encoder::new(&(p / "encoders" / i), cfg)).collect();
        let fusions = CbcConfig::level_widths(b)
            .iter()
            .enumerate()
            .map(|(k, &c)| EarlyFusion::new(&(p / format!("fusion{}", k + 1)), c, m, lora))
            .collect();
        let encode_convs = (0..m).map(|i| conv1(p / "encode_convs" / i, 8 * b, t)).collect();
        let tokens = g * g * g;
        let pos = (0..m).map(|i| (p / "pos").zeros(&i.to_string(), &[1, tokens, t])).collect();
        let transformers = (0..m)
            .map(|i| {
                Transformer::new(&(p / "transformers" / i), t, cfg.depth, cfg.heads, cfg.mlp_dim, cfg.dropout, None)
            })
            .collect();
        let multimodal_transformer =
            Transformer::new(&(p / "multimodal_transformer"), t, cfg.depth, cfg.heads, cfg.mlp_dim, cfg.dropout, lora);
        let mm = m as i64;
        Ok(Cbc {
            cfg: cfg.clone(),
            channels: channels.to_vec(),
            classes,
            encoders,
            fusions,
            encode_convs,
            pos,
            transformers,
            inter: InterModalityAttention::new(p, m, t, g),
            fused6_encode_conv: conv1(p / "fused6_encode_conv", 8 * b * mm, t),
            fused6_pos: p.zeros("fused6_pos", &[1, tokens, t]),
            multimodal_transformer,
            multimodal_decode_conv: conv1(p / HOOK_POINT, t * (mm + 1), 8 * b * mm),
            slp: slp.then(|| StructuredLatent::new(p, b, m, t)),
            decoder: Decoder::new(&(p / "decoder_fuse"), b, m, g, classes * cfg.output_head.copies()),
        })
    }

    /// The sizes this network was built with.
    pub fn config(&self) -> &CbcConfig {
        &self.cfg
    }

    /// Whether this is CBC-SLP.
    pub fn is_slp(&self) -> bool {
        self.slp.is_some()
    }
}

impl SegmentationModel for Cbc {
    /// Inputs that do not match the channel counts the network was built for are an
    /// [`lssg_torch::Error::Shape`] (see [`check_inputs`]).
    ///
    /// # Shapes
    /// `inputs[m]: [B, C_m, H, W]`, `availability: [B, M]` → logits `[B, classes, H, W]`,
    /// latent `[B, 8bM, g, g, g]` (`[B, 192, 8, 8, 8]` at paper size); with `reference-3`
    /// also `head_copies [B, 3, classes, H, W]`, whose copy 0 is `logits`.
    fn forward_t(&self, inputs: &[Tensor], availability: &Tensor, train: bool) -> Result<ModelOutput> {
        let (bsz, h, w) = check_inputs(&self.channels, inputs, availability)?;
        let (t, g) = (self.cfg.token_dim, self.cfg.grid);
        let m = inputs.len();
        let depth = *self.channels.iter().max().expect("at least two modalities");

        // 1–2) encoders, depth alignment, per-sample masking of every level
        let mut levels: Vec<Vec<Tensor>> = (0..6).map(|_| Vec::with_capacity(m)).collect(); // [level][modality]
        for (i, (x, enc)) in inputs.iter().zip(&self.encoders).enumerate() {
            for (k, l) in enc.forward_t(&x.unsqueeze(1), train).into_iter().enumerate() {
                let s = l.size();
                let l = if k < 5 && s[2] != depth {
                    l.upsample_trilinear3d([depth, s[3], s[4]], true, None, None, None)
                } else {
                    l
                };
                levels[k].push(gate(&l, availability, i as i64));
            }
        }

        // 3) early fusion (fusion5's output is never read by the reference decoder: skipped)
        let fused: Vec<Option<Tensor>> =
            self.fusions.iter().zip(&levels).enumerate().map(|(k, (f, l))| (k != 4).then(|| f.forward(l))).collect();

        // 4) intra-modality transformers on the level-6 tokens
        let to_tokens = |v: &Tensor| v.permute([0, 2, 3, 4, 1]).contiguous().view([bsz, -1, t]); // [B, g³, T]
        let mut skips = Vec::with_capacity(m);
        let mut trans = Vec::with_capacity(m);
        for (((x6, conv), tr), pos) in levels[5].iter().zip(&self.encode_convs).zip(&self.transformers).zip(&self.pos) {
            let tok = to_tokens(&conv.forward(x6));
            trans.push(tr.forward_t(&tok, pos, train));
            skips.push(tok);
        }

        // 5) inter-modality attention, masked per sample
        let inter = self.inter.forward(&trans, availability); // [B, T, g, g, g] each

        // 6–7) multimodal transformer over the modalities' tokens and the fused tokens
        let mut tokens: Vec<Tensor> = skips.iter().zip(&inter).map(|(s, c)| s + to_tokens(c)).collect();
        let fused6 = fused[5].as_ref().expect("level 6 is fused");
        tokens.push(to_tokens(&self.fused6_encode_conv.forward(fused6)));
        let mut positions: Vec<&Tensor> = self.pos.iter().collect();
        positions.push(&self.fused6_pos);
        let mm = self.multimodal_transformer.forward_t(&Tensor::cat(&tokens, 1), &Tensor::cat(&positions, 1), train);
        // The reference's reshape: the (M+1)·g³ tokens of width T are read as g³ voxels of width
        // (M+1)·T (a per-sample view, no mixing across samples).
        let volume = mm.view([bsz, g, g, g, t * (m as i64 + 1)]).permute([0, 4, 1, 2, 3]).contiguous();
        let x6_inter = self.multimodal_decode_conv.forward(&volume); // [B, 8bM, g, g, g]

        // 8) CBC-SLP: shared + private structured latent
        let bottleneck = match &self.slp {
            Some(s) => s.forward(&x6_inter, &inter, availability),
            None => x6_inter.shallow_clone(),
        };

        // 9) decoder with the fused skips of levels 1–4
        let skips: Vec<Tensor> =
            fused[..4].iter().map(|f| f.as_ref().expect("levels 1–4 are fused").shallow_clone()).collect();
        let logits = self.decoder.forward(&skips, &bottleneck, h, w); // [B, R·classes, H, W]
        let copies = self.cfg.output_head.copies();
        if copies == 1 {
            return Ok(ModelOutput::new(logits, x6_inter));
        }
        // Copy-major channels (copy r holds channels r·K..(r+1)·K); for the paper's K = 1 these
        // are the reference's 3 output channels, of which it evaluates channel 0.
        let all = logits.view([bsz, copies, self.classes, h, w]);
        Ok(ModelOutput { logits: all.select(1, 0), latent: x6_inter, head_copies: Some(all) })
    }

    fn hook_point(&self) -> &str {
        HOOK_POINT
    }

    fn num_classes(&self) -> i64 {
        self.classes
    }

    /// `auto` is eager: CBC's time is in its 3-D convolutions and instance norms, which are not
    /// packed, and packing the rest measured no faster (docs/speed.md §10).
    fn inference(&self, requested: Inference) -> Inference {
        if requested == Inference::Auto { Inference::Eager } else { requested }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn presets_validate_and_serde_round_trips() {
        for p in Preset::ALL {
            let c = CbcConfig::preset(p);
            c.validate().unwrap();
            let back: CbcConfig = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
            assert_eq!(back, c);
        }
        assert_eq!(CbcConfig::default(), CbcConfig::preset(Preset::Paper));
        assert!(serde_json::from_str::<CbcConfig>(r#"{"grids": 4}"#).is_err());
        let c: CbcConfig = serde_json::from_str(r#"{"grid": 4}"#).unwrap();
        assert_eq!((c.grid, c.token_dim), (4, 512));
    }

    #[test]
    fn narrow_presets_have_the_documented_sizes() {
        let sizes =
            |c: CbcConfig| (c.stem_width, c.planes, c.blocks, c.basic_dims, c.token_dim, c.mlp_dim, c.heads, c.grid);
        assert_eq!(sizes(CbcConfig::preset(Preset::Small)), (16, [16, 32, 64, 128], [1; 4], 4, 64, 64, 4, 2));
        assert_eq!(sizes(CbcConfig::preset(Preset::Tiny)), (8, [8, 16, 32, 64], [1; 4], 2, 32, 32, 4, 2));
        for p in Preset::ALL {
            let c = CbcConfig::preset(p);
            assert_eq!((c.stem_depth_kernel, c.depth, c.dropout, c.output_head), (3, 1, 0.1, OutputHead::Single));
        }
    }

    #[test]
    fn invalid_sizes_are_typed_errors() {
        let bad = CbcConfig { heads: 3, ..CbcConfig::preset(Preset::Tiny) };
        assert!(bad.validate().unwrap_err().to_string().contains("cbc.heads"));
        let bad = CbcConfig { blocks: [1, 0, 1, 1], ..CbcConfig::preset(Preset::Tiny) };
        assert!(bad.validate().unwrap_err().to_string().contains("cbc.blocks"));
        let bad = CbcConfig { stem_depth_kernel: 2, ..CbcConfig::preset(Preset::Tiny) };
        assert!(bad.validate().is_err());
        let vs = nn::VarStore::new(Device::Cpu);
        let tiny = CbcConfig::preset(Preset::Tiny);
        assert!(Cbc::new(&vs.root(), &tiny, &[3], 1, None, false).unwrap_err().to_string().contains("channels"));
        assert!(Cbc::new(&vs.root(), &tiny, &[3, 0], 1, None, false).unwrap_err().to_string().contains("modality 1"));
        assert!(Cbc::new(&vs.root(), &tiny, &[3, 3], 0, None, false).unwrap_err().to_string().contains("classes"));
    }

    #[test]
    fn wrong_inputs_are_typed_errors() {
        let vs = nn::VarStore::new(Device::Cpu);
        let net = Cbc::new(&vs.root(), &CbcConfig::preset(Preset::Tiny), &[3, 2], 1, None, false).unwrap();
        let opts = (Kind::Float, Device::Cpu);
        let xs = [Tensor::zeros([1, 3, 32, 32], opts), Tensor::zeros([1, 3, 32, 32], opts)];
        let err = net.forward_t(&xs, &Tensor::ones([1, 2], opts), false).unwrap_err().to_string();
        assert!(err.contains("inputs[1]"), "{err}");
    }
}
