//! The structured latent of CBC-SLP (docs/method.md §7.3; reference `mmvit4_MissingGated.py`, class
//! `MMVit4`, step 8 "shared + private latent").
//!
//! The `8bM`-channel output of `multimodal_decode_conv` (the hook point, docs/method.md §3.2) is projected by
//! `shared_conv` to the shared part, and each modality's masked inter-modality attention output
//! (`T` channels) by its own `private_convs.{i}` (reference `rgb_private_conv`, …) to `4b`
//! channels, masked again by availability. The concatenation `[shared, private_1, …, private_M]`
//! has `8bM` channels again, so the decoder is unchanged. The shared width is
//! `8bM − 4bM = 4bM`, i.e. 96 + 3·32 = 192 at paper size (b = 8, M = 3), +67 776 parameters.
//!
//! # Shapes
//! `x6_inter: [B, 8bM, g, g, g]`, `inter[i]: [B, T, g, g, g]`, `availability: [B, M]`
//! → `[B, 8bM, g, g, g]`.

use tch::Tensor;
use tch::nn::{self, Module};

use super::{Conv3dGeometry, conv3d};
use crate::layers::gate;

/// Shared + private projections of the bottleneck.
#[derive(Debug)]
pub(crate) struct StructuredLatent {
    shared_conv: nn::Conv3D,
    private_convs: Vec<nn::Conv3D>,
}

impl StructuredLatent {
    /// Channel widths `(shared, private per modality)` for basic width `b` and M modalities.
    pub(crate) fn widths(b: i64, modalities: usize) -> (i64, i64) {
        let m = modalities as i64;
        (4 * b * m, 4 * b)
    }

    /// Builds `shared_conv` and `private_convs.{i}` under `p`.
    pub(crate) fn new(p: &nn::Path, b: i64, modalities: usize, token_dim: i64) -> Self {
        let (shared, private) = Self::widths(b, modalities);
        let bottleneck = 8 * b * modalities as i64;
        let shared_conv = conv3d(p / "shared_conv", bottleneck, shared, Conv3dGeometry::pointwise(true));
        let private_convs = (0..modalities)
            .map(|i| conv3d(p / "private_convs" / i, token_dim, private, Conv3dGeometry::pointwise(true)))
            .collect();
        StructuredLatent { shared_conv, private_convs }
    }

    /// # Shapes
    /// `x6_inter: [B, 8bM, g, g, g]`, `inter[i]: [B, T, g, g, g]`, `availability: [B, M]`
    /// → `[B, 8bM, g, g, g]`.
    pub(crate) fn forward(&self, x6_inter: &Tensor, inter: &[Tensor], availability: &Tensor) -> Tensor {
        let mut parts = Vec::with_capacity(1 + inter.len());
        parts.push(self.shared_conv.forward(x6_inter));
        for (i, (x, conv)) in inter.iter().zip(&self.private_convs).enumerate() {
            parts.push(gate(&conv.forward(x), availability, i as i64));
        }
        Tensor::cat(&parts, 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn paper_widths_and_parameter_count() {
        assert_eq!(StructuredLatent::widths(8, 3), (96, 32));
        let vs = nn::VarStore::new(Device::Cpu);
        let _s = StructuredLatent::new(&vs.root(), 8, 3, 512);
        let n: i64 = vs.trainable_variables().iter().map(|t| t.numel() as i64).sum();
        assert_eq!(n, 192 * 96 + 96 + 3 * (512 * 32 + 32));
        assert_eq!(n, 67_776);
    }

    #[test]
    fn private_parts_are_masked() {
        let vs = nn::VarStore::new(Device::Cpu);
        let s = StructuredLatent::new(&vs.root(), 1, 2, 4);
        let opts = (Kind::Float, Device::Cpu);
        let inter = [Tensor::randn([2, 4, 2, 2, 2], opts), Tensor::randn([2, 4, 2, 2, 2], opts)];
        let avail = Tensor::from_slice(&[1f32, 0., 0., 1.]).view([2, 2]);
        let z = s.forward(&Tensor::randn([2, 16, 2, 2, 2], opts), &inter, &avail);
        assert_eq!(z.size(), [2, 16, 2, 2, 2]);
        // channels: shared 0..8, private 0 → 8..12, private 1 → 12..16
        let energy = |s: i64, c: i64| z.get(s).narrow(0, c, 4).abs().sum(Kind::Float).double_value(&[]);
        assert_eq!(energy(0, 12), 0.0);
        assert_eq!(energy(1, 8), 0.0);
        assert!(energy(0, 8) > 0.0 && energy(1, 12) > 0.0);
    }
}
