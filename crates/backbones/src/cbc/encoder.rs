//! The per-modality encoder of CBC (docs/method.md §7.2; reference `mmvit4_Missing.py`, class `Encoder`):
//! an inflated ResNet-50 that treats the bands of one modality as the DEPTH axis of a 3-D volume.
//!
//! - stem `e1`: conv `(k_t, 7, 7)` stride `(1, 2, 2)` without bias → ReLU → BatchNorm3d (the
//!   reference's order) → max-pool `(1, 3, 3)` stride `(1, 2, 2)`;
//! - `e2`…`e5`: four stages of bottlenecks (torchvision v1.5: the stride sits on the middle
//!   conv) whose kernels are `(1, 1, 1)` and `(1, 3, 3)`, so depth is never mixed after the stem;
//! - `adapt1`…`adapt5`: 1×1×1 convolutions to `b, 2b, 4b, 8b, 8b` channels (b = `basic_dims`);
//! - `conv6`: all five adapted levels resized (trilinear, align-corners) to `g³` (g = `grid`),
//!   concatenated (`23b` channels) and mapped to `8b` channels — the sixth level.
//!
//! The reference inflates ImageNet weights and then overwrites every Conv3d weight with
//! kaiming-normal in the model's constructor, so random kaiming-normal initialisation is what it
//! effectively trains from; we do the same.
//!
//! # Shapes (paper preset, input `[B, 1, 3, 224, 224]`)
//! `x1 [B, 8, 3, 56, 56]`, `x2 [B, 16, 3, 56, 56]`, `x3 [B, 32, 3, 28, 28]`,
//! `x4 [B, 64, 3, 14, 14]`, `x5 [B, 64, 3, 7, 7]`, `x6 [B, 64, 8, 8, 8]`.

use tch::Tensor;
use tch::nn::{self, ModuleT};

use super::{CbcConfig, Conv3dGeometry, conv3d};
use crate::layers::batch_norm3d;
use tch::nn::{Module, PaddingMode};

/// One 3-D bottleneck block: 1×1×1 → (1,3,3) (strided) → 1×1×1 with a projection shortcut when
/// the shape changes.
#[derive(Debug)]
struct Bottleneck3d {
    conv1: nn::Conv3D,
    bn1: nn::BatchNorm,
    conv2: nn::Conv3D,
    bn2: nn::BatchNorm,
    conv3: nn::Conv3D,
    bn3: nn::BatchNorm,
    downsample: Option<(nn::Conv3D, nn::BatchNorm)>,
}

impl Bottleneck3d {
    fn new(p: &nn::Path, in_dim: i64, planes: i64, stride: i64) -> Self {
        let out = 4 * planes;
        let downsample = (stride != 1 || in_dim != out).then(|| {
            let d = p / "downsample";
            (
                conv3d(
                    &d / "0",
                    in_dim,
                    out,
                    Conv3dGeometry { stride: [1, stride, stride], ..Conv3dGeometry::pointwise(false) },
                ),
                batch_norm3d(&d / "1", out),
            )
        });
        Bottleneck3d {
            conv1: conv3d(p / "conv1", in_dim, planes, Conv3dGeometry::pointwise(false)),
            bn1: batch_norm3d(p / "bn1", planes),
            conv2: conv3d(
                p / "conv2",
                planes,
                planes,
                Conv3dGeometry {
                    ksize: [1, 3, 3],
                    stride: [1, stride, stride],
                    padding: [0, 1, 1],
                    bias: false,
                    padding_mode: PaddingMode::Zeros,
                },
            ),
            bn2: batch_norm3d(p / "bn2", planes),
            conv3: conv3d(p / "conv3", planes, out, Conv3dGeometry::pointwise(false)),
            bn3: batch_norm3d(p / "bn3", out),
            downsample,
        }
    }

    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let out = self.bn1.forward_t(&self.conv1.forward(xs), train).relu();
        let out = self.bn2.forward_t(&self.conv2.forward(&out), train).relu();
        let out = self.bn3.forward_t(&self.conv3.forward(&out), train);
        let identity = match &self.downsample {
            Some((conv, bn)) => bn.forward_t(&conv.forward(xs), train),
            None => xs.shallow_clone(),
        };
        (out + identity).relu()
    }
}

/// The inflated ResNet encoder of one modality.
#[derive(Debug)]
pub(crate) struct Encoder {
    e1_c1: nn::Conv3D,
    e1_bn: nn::BatchNorm,
    stages: Vec<Vec<Bottleneck3d>>,
    adapt: Vec<nn::Conv3D>,
    conv6: nn::Conv3D,
    grid: i64,
}

impl Encoder {
    /// Builds the encoder under `p` with the reference's variable names (`e1_c1`, `e1_bn`,
    /// `e2.0.conv1`, …, `adapt1`…`adapt5`, `conv6`).
    pub(crate) fn new(p: &nn::Path, cfg: &CbcConfig) -> Self {
        let w = cfg.stem_width;
        let kt = cfg.stem_depth_kernel;
        let stem = Conv3dGeometry {
            ksize: [kt, 7, 7],
            stride: [1, 2, 2],
            padding: [kt / 2, 3, 3],
            bias: false,
            padding_mode: PaddingMode::Zeros,
        };
        let e1_c1 = conv3d(p / "e1_c1", 1, w, stem);
        let e1_bn = batch_norm3d(p / "e1_bn", w);
        let mut in_dim = w;
        let mut stages = Vec::with_capacity(4);
        for (s, (&planes, &blocks)) in cfg.planes.iter().zip(&cfg.blocks).enumerate() {
            let sp = p / format!("e{}", s + 2);
            let stride = if s == 0 { 1 } else { 2 };
            let mut stage = Vec::with_capacity(blocks);
            for i in 0..blocks {
                stage.push(Bottleneck3d::new(&(&sp / i), in_dim, planes, if i == 0 { stride } else { 1 }));
                in_dim = 4 * planes;
            }
            stages.push(stage);
        }
        let b = cfg.basic_dims;
        let level_in = [w, 4 * cfg.planes[0], 4 * cfg.planes[1], 4 * cfg.planes[2], 4 * cfg.planes[3]];
        let level_out = CbcConfig::level_widths(b);
        let adapt = (0..5)
            .map(|i| {
                let name = format!("adapt{}", i + 1);
                conv3d(p / name, level_in[i], level_out[i], Conv3dGeometry::pointwise(true))
            })
            .collect();
        let cat: i64 = level_out[..5].iter().sum();
        let conv6 = conv3d(p / "conv6", cat, level_out[5], Conv3dGeometry::pointwise(true));
        Encoder { e1_c1, e1_bn, stages, adapt, conv6, grid: cfg.grid }
    }

    /// Runs the encoder on one modality.
    ///
    /// # Shapes
    /// `xs: [B, 1, D, H, W]` (D = the modality's bands) → six levels
    /// `[B, b, D, H/4, W/4]`, `[B, 2b, D, H/4, W/4]`, `[B, 4b, D, H/8, W/8]`,
    /// `[B, 8b, D, H/16, W/16]`, `[B, 8b, D, H/32, W/32]` and `[B, 8b, g, g, g]`
    /// (spatial sizes rounded up by the strided convolutions).
    pub(crate) fn forward_t(&self, xs: &Tensor, train: bool) -> Vec<Tensor> {
        let x1 = self.e1_bn.forward_t(&self.e1_c1.forward(xs).relu(), train);
        let x1 = x1.max_pool3d([1, 3, 3], [1, 2, 2], [0, 1, 1], [1, 1, 1], false);
        let mut raw = vec![x1];
        for stage in &self.stages {
            let mut x = raw.last().expect("the stem level exists").shallow_clone();
            for block in stage {
                x = block.forward_t(&x, train);
            }
            raw.push(x);
        }
        let mut levels: Vec<Tensor> = raw.iter().zip(&self.adapt).map(|(x, a)| a.forward(x)).collect();
        let g = self.grid;
        let resized: Vec<Tensor> =
            levels.iter().map(|x| x.upsample_trilinear3d([g, g, g], true, None, None, None)).collect();
        let x6 = self.conv6.forward(&Tensor::cat(&resized, 1));
        levels.push(x6);
        levels
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cbc::CbcConfig;
    use crate::config::Preset;
    use tch::{Device, Kind};

    #[test]
    fn level_shapes_follow_the_reference() {
        let cfg = CbcConfig::preset(Preset::Tiny);
        let vs = nn::VarStore::new(Device::Cpu);
        let enc = Encoder::new(&vs.root(), &cfg);
        let x = Tensor::randn([2, 1, 3, 64, 64], (Kind::Float, Device::Cpu));
        let levels = enc.forward_t(&x, false);
        let b = cfg.basic_dims;
        let g = cfg.grid;
        let want = [
            vec![2, b, 3, 16, 16],
            vec![2, 2 * b, 3, 16, 16],
            vec![2, 4 * b, 3, 8, 8],
            vec![2, 8 * b, 3, 4, 4],
            vec![2, 8 * b, 3, 2, 2],
            vec![2, 8 * b, g, g, g],
        ];
        for (i, (l, w)) in levels.iter().zip(want).enumerate() {
            assert_eq!(l.size(), w, "level {}", i + 1);
        }
    }

    #[test]
    fn one_band_modality_keeps_depth_one() {
        let cfg = CbcConfig::preset(Preset::Tiny);
        let vs = nn::VarStore::new(Device::Cpu);
        let enc = Encoder::new(&vs.root(), &cfg);
        let x = Tensor::randn([1, 1, 1, 32, 32], (Kind::Float, Device::Cpu));
        let levels = enc.forward_t(&x, false);
        assert_eq!(levels[0].size()[2], 1);
        assert_eq!(levels[4].size()[2], 1);
    }
}
