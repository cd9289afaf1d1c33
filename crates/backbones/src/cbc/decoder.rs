//! The 3-D U-Net-style decoder of CBC (docs/method.md §7.2; reference `mmvit4_Missing.py`, classes
//! `Decoder_fuse`, `fusion_prenorm`, `general_conv3d_prenorm`).
//!
//! Building block `general_conv3d_prenorm`: conv (bias) → ReLU → InstanceNorm3d (no affine);
//! the `d*` convolutions pad with `replicate`, the `RFM*` ones with zeros. `RFM{k}` is three of
//! them (1×1×1, 3×3×3, 1×1×1) at constant width. With b = `basic_dims`, M modalities and the
//! token grid g:
//!
//! ```text
//! x5 (bottleneck, 8bM @ g³) → RFM5 → RFM5_reduce (16b) → up2 → d4_c1                 16b @ (2g)³
//! RFM4(x4) →nearest (2g)³ ‖ ↑ → d4_c2 (8b) → d4_out → up2 → d3_c1 (4b)               @ (4g)³
//! RFM3(x3) →nearest (4g)³ ‖ ↑ → d3_c2 (4b) → d3_out → up2 → d2_c1 (2b)               @ (8g)³
//! RFM2(x2) →nearest (8g)³ ‖ ↑ → d2_c2 (2b) → d2_out → up2 → d1_c1 (b)                @ (16g)³
//! RFM1(x1) →nearest (16g)³ ‖ ↑ → d1_c2 (b) → d1_out → trilinear to (1, H, W) → final_conv
//! ```
//!
//! `up2` is trilinear with align-corners. The last resize collapses the depth axis to 1 exactly
//! like the reference's `Upsample(size=(1, 224, 224), align_corners=True)`, which reads depth
//! slice 0 of the `(16g)³` volume, and the 1×1×1 `final_conv` maps to `outputs` channels:
//! `classes`, or 3·`classes` for the reference's head (it always emits 3 channels, trains all of
//! them against the repeated mask and evaluates channel 0; see `OutputHead::Reference3` and
//! `docs/reference.md §3`); logits, no sigmoid (docs/reference.md §2.1). The reference's unused
//! deep-supervision heads (`seg_d*`, `seg_layer`) are not built.
//!
//! # Shapes (paper preset, M = 3)
//! `x1 [B, 24, 3, 56, 56]`, `x2 [B, 48, 3, 56, 56]`, `x3 [B, 96, 3, 28, 28]`,
//! `x4 [B, 192, 3, 14, 14]`, `x5 [B, 192, 8, 8, 8]` → `[B, classes, 224, 224]`.

use tch::Tensor;
use tch::nn::{self, Module, PaddingMode};

use super::{Conv3dGeometry, conv3d, instance_norm};

/// `general_conv3d_prenorm`: conv → ReLU → InstanceNorm.
#[derive(Debug)]
struct ConvReluNorm {
    conv: nn::Conv3D,
}

impl ConvReluNorm {
    fn new(p: &nn::Path, in_dim: i64, out_dim: i64, k: i64, replicate: bool) -> Self {
        // A 1×1×1 kernel has no padding, so its padding mode is irrelevant.
        let mode = if replicate && k > 1 { PaddingMode::Replicate } else { PaddingMode::Zeros };
        let pad = k / 2;
        ConvReluNorm {
            conv: conv3d(
                p / "conv",
                in_dim,
                out_dim,
                Conv3dGeometry { ksize: [k; 3], stride: [1; 3], padding: [pad; 3], bias: true, padding_mode: mode },
            ),
        }
    }

    fn forward(&self, xs: &Tensor) -> Tensor {
        instance_norm(&self.conv.forward(xs).relu())
    }
}

/// `fusion_prenorm`: three [`ConvReluNorm`] at constant width (1×1×1, 3×3×3, 1×1×1).
#[derive(Debug)]
struct FusionPrenorm {
    layers: Vec<ConvReluNorm>,
}

impl FusionPrenorm {
    fn new(p: &nn::Path, dim: i64) -> Self {
        let l = p / "fusion_layer";
        let layers =
            [1, 3, 1].iter().enumerate().map(|(i, &k)| ConvReluNorm::new(&(&l / i), dim, dim, k, false)).collect();
        FusionPrenorm { layers }
    }

    fn forward(&self, xs: &Tensor) -> Tensor {
        self.layers.iter().fold(xs.shallow_clone(), |x, l| l.forward(&x))
    }
}

/// One decoder stage after the bottleneck: `d{k}_c2` over the concatenated skip and upsampled
/// path, `d{k}_out`, and (except for the last) the next stage's `d{k-1}_c1` after `up2`.
#[derive(Debug)]
struct Stage {
    rfm: FusionPrenorm,
    c2: ConvReluNorm,
    out: ConvReluNorm,
    next_c1: Option<ConvReluNorm>,
}

/// The decoder (`decoder_fuse`).
#[derive(Debug)]
pub(crate) struct Decoder {
    rfm5: FusionPrenorm,
    rfm5_reduce: nn::Conv3D,
    d4_c1: ConvReluNorm,
    /// Stages 4, 3, 2, 1, deepest first.
    stages: Vec<Stage>,
    final_conv: nn::Conv3D,
    grid: i64,
}

/// `up2`: trilinear ×2 with align-corners.
fn up2(xs: &Tensor) -> Tensor {
    let s = xs.size();
    xs.upsample_trilinear3d([2 * s[2], 2 * s[3], 2 * s[4]], true, None, None, None)
}

impl Decoder {
    /// Builds `decoder_fuse` for `modalities` modalities, basic width `b`, token grid `grid`
    /// and `outputs` output channels.
    pub(crate) fn new(p: &nn::Path, b: i64, modalities: usize, grid: i64, outputs: i64) -> Self {
        let m = modalities as i64;
        let rfm5 = FusionPrenorm::new(&(p / "RFM5"), 8 * b * m);
        let rfm5_reduce = conv3d(p / "RFM5_reduce", 8 * b * m, 16 * b, Conv3dGeometry::pointwise(true));
        let d4_c1 = ConvReluNorm::new(&(p / "d4_c1"), 16 * b, 16 * b, 3, true);
        // (level k, skip width per modality, width of the path arriving from below, stage width)
        let specs = [(4, 8 * b, 16 * b, 8 * b), (3, 4 * b, 4 * b, 4 * b), (2, 2 * b, 2 * b, 2 * b), (1, b, b, b)];
        let stages = specs
            .iter()
            .map(|&(k, skip, below, width)| Stage {
                rfm: FusionPrenorm::new(&(p / format!("RFM{k}")), skip * m),
                c2: ConvReluNorm::new(&(p / format!("d{k}_c2")), skip * m + below, width, 3, true),
                out: ConvReluNorm::new(&(p / format!("d{k}_out")), width, width, 1, true),
                next_c1: (k > 1).then(|| ConvReluNorm::new(&(p / format!("d{}_c1", k - 1)), width, width / 2, 3, true)),
            })
            .collect();
        let final_conv = conv3d(p / "final_conv", b, outputs, Conv3dGeometry::pointwise(true));
        Decoder { rfm5, rfm5_reduce, d4_c1, stages, final_conv, grid }
    }

    /// # Shapes
    /// `skips = [x1, x2, x3, x4]` (fused levels, `[B, {1,2,4,8}·bM, D, h_k, w_k]`),
    /// `bottleneck: [B, 8bM, g, g, g]` → `[B, outputs, height, width]`.
    pub(crate) fn forward(&self, skips: &[Tensor], bottleneck: &Tensor, height: i64, width: i64) -> Tensor {
        let de5 = self.rfm5_reduce.forward(&self.rfm5.forward(bottleneck));
        let mut path = self.d4_c1.forward(&up2(&de5)); // [B, 16b, 2g, 2g, 2g]
        let mut side = 2 * self.grid;
        for (stage, skip) in self.stages.iter().zip(skips.iter().rev()) {
            let s = stage.rfm.forward(skip).upsample_nearest3d([side, side, side], None, None, None);
            path = stage.out.forward(&stage.c2.forward(&Tensor::cat(&[s, path], 1)));
            if let Some(c1) = &stage.next_c1 {
                path = c1.forward(&up2(&path));
                side *= 2;
            }
        }
        let up = path.upsample_trilinear3d([1, height, width], true, None, None, None);
        self.final_conv.forward(&up).squeeze_dim(2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn output_shape_and_reference_names() {
        let vs = nn::VarStore::new(Device::Cpu);
        let (b, m, g) = (2, 3, 2);
        let d = Decoder::new(&(vs.root() / "decoder_fuse"), b, m, g, 4);
        let opts = (Kind::Float, Device::Cpu);
        let skips = [
            Tensor::randn([2, b * 3, 3, 16, 16], opts),
            Tensor::randn([2, 2 * b * 3, 3, 16, 16], opts),
            Tensor::randn([2, 4 * b * 3, 3, 8, 8], opts),
            Tensor::randn([2, 8 * b * 3, 3, 4, 4], opts),
        ];
        let y = d.forward(&skips, &Tensor::randn([2, 8 * b * 3, g, g, g], opts), 64, 48);
        assert_eq!(y.size(), [2, 4, 64, 48]);
        let v = vs.variables();
        // d4_c2 sees the 8bM skip and the 16b path: 320 input channels at paper size.
        assert_eq!(v["decoder_fuse.d4_c2.conv.weight"].size(), [8 * b, 8 * b * 3 + 16 * b, 3, 3, 3]);
        assert_eq!(v["decoder_fuse.d1_c1.conv.weight"].size(), [b, 2 * b, 3, 3, 3]);
        assert_eq!(v["decoder_fuse.RFM1.fusion_layer.1.conv.weight"].size(), [3 * b, 3 * b, 3, 3, 3]);
        assert_eq!(v["decoder_fuse.final_conv.weight"].size(), [4, b, 1, 1, 1]);
    }
}
