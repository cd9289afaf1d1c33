//! Inter-modality attention of CBC (docs/method.md §7 and docs/reference.md §2.2; reference `mmvit4_Missing.py`,
//! `MMVit5.forward`, step 5 "InterFormer").
//!
//! Each modality i has a 1×1×1 convolution `qkv.{i}` (`T → 3T`, reference `qkv_RGB`, …) applied
//! to its intra-transformer tokens laid out as a `g³` volume. For every sample, channel and voxel
//! the query of modality i is compared with the keys of ALL modalities j and the weights are a
//! softmax across the modalities:
//!
//! ```text
//! s_ij = q_i ⊙ k_j / √M          a_ij = softmax_j(s_ij)          out_i = Σ_j a_ij ⊙ v_j
//! out_i ← out_i · availability[:, i]
//! ```
//!
//! Quirk 2: the reference flattens the scores of the whole batch into one row per modality and
//! reshapes back with `view(B, M·T, …)`, which is only the above for B = 1 (for B > 1 the
//! modality blocks of different samples are interleaved). We compute the per-sample formula for
//! any batch size, so a sample's output does not depend on the rest of its batch.
//!
//! # Shapes
//! `tokens[i]: [B, g³, T]` (token order depth, height, width) → `out[i]: [B, T, g, g, g]`.

use tch::Tensor;
use tch::nn::{self, Module};

use super::{Conv3dGeometry, conv3d};
use crate::layers::gate;

/// Per-voxel attention across modalities.
#[derive(Debug)]
pub(crate) struct InterModalityAttention {
    qkv: Vec<nn::Conv3D>,
    grid: i64,
    dim: i64,
}

impl InterModalityAttention {
    /// One `qkv.{i}` convolution per modality, under `p`.
    pub(crate) fn new(p: &nn::Path, modalities: usize, dim: i64, grid: i64) -> Self {
        let qkv =
            (0..modalities).map(|i| conv3d(p / "qkv" / i, dim, 3 * dim, Conv3dGeometry::pointwise(true))).collect();
        InterModalityAttention { qkv, grid, dim }
    }

    /// # Shapes
    /// `tokens[i]: [B, g³, T]`, `availability: [B, M]` → `out[i]: [B, T, g, g, g]`, zero for
    /// samples where modality i is missing.
    pub(crate) fn forward(&self, tokens: &[Tensor], availability: &Tensor) -> Vec<Tensor> {
        let g = self.grid;
        let m = tokens.len();
        let mut qs = Vec::with_capacity(m);
        let mut ks = Vec::with_capacity(m);
        let mut vs = Vec::with_capacity(m);
        for (t, conv) in tokens.iter().zip(&self.qkv) {
            let b = t.size()[0];
            let vol = t.view([b, g, g, g, self.dim]).permute([0, 4, 1, 2, 3]); // [B, T, g, g, g]
            let parts = conv.forward(&vol).chunk(3, 1);
            let mut parts = parts.into_iter();
            let (q, k, v) = (parts.next(), parts.next(), parts.next());
            qs.push(q.expect("qkv has 3 chunks"));
            ks.push(k.expect("qkv has 3 chunks"));
            vs.push(v.expect("qkv has 3 chunks"));
        }
        let keys = Tensor::stack(&ks, 1); // [B, M, T, g, g, g]
        let values = Tensor::stack(&vs, 1); // [B, M, T, g, g, g]
        let scale = 1.0 / (m as f64).sqrt();
        qs.iter()
            .enumerate()
            .map(|(i, q)| {
                let attn = (q.unsqueeze(1) * &keys * scale).softmax(1, None);
                let out = (attn * &values).sum_dim_intlist(1, false, None);
                gate(&out, availability, i as i64)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn setup(m: usize) -> (nn::VarStore, InterModalityAttention) {
        tch::manual_seed(3);
        let vs = nn::VarStore::new(Device::Cpu);
        let a = InterModalityAttention::new(&vs.root(), m, 6, 2);
        (vs, a)
    }

    /// Quirk 2: each sample of a batch must give what it gives alone.
    #[test]
    fn per_sample_independence() {
        let (_vs, att) = setup(3);
        let toks: Vec<Tensor> = (0..3).map(|_| Tensor::randn([4, 8, 6], (Kind::Float, Device::Cpu))).collect();
        let avail = Tensor::from_slice(&[1f32, 1., 1., 1., 0., 1., 0., 1., 1., 1., 1., 0.]).view([4, 3]);
        let batch = att.forward(&toks, &avail);
        for s in 0..4 {
            let alone: Vec<Tensor> = toks.iter().map(|t| t.narrow(0, s, 1)).collect();
            let out = att.forward(&alone, &avail.narrow(0, s, 1));
            for i in 0..3 {
                assert!(out[i].allclose(&batch[i].narrow(0, s, 1), 1e-6, 1e-6, false), "sample {s} modality {i}");
            }
        }
    }

    /// The formula, written out for one element of modality 0 in a two-modality model.
    #[test]
    fn softmax_runs_across_modalities() {
        let (_vs, att) = setup(2);
        let toks: Vec<Tensor> = (0..2).map(|_| Tensor::randn([1, 8, 6], (Kind::Float, Device::Cpu))).collect();
        let out = att.forward(&toks, &Tensor::ones([1, 2], (Kind::Float, Device::Cpu)));
        let qkv: Vec<Vec<Tensor>> = toks
            .iter()
            .zip(&att.qkv)
            .map(|(t, c)| c.forward(&t.view([1, 2, 2, 2, 6]).permute([0, 4, 1, 2, 3])).chunk(3, 1))
            .collect();
        let at = |t: &Tensor| t.double_value(&[0, 1, 0, 1, 1]);
        let q = at(&qkv[0][0]);
        let (k0, k1, v0, v1) = (at(&qkv[0][1]), at(&qkv[1][1]), at(&qkv[0][2]), at(&qkv[1][2]));
        let (e0, e1) = ((q * k0 / 2f64.sqrt()).exp(), (q * k1 / 2f64.sqrt()).exp());
        let want = (e0 * v0 + e1 * v1) / (e0 + e1);
        assert!((at(&out[0]) - want).abs() < 1e-5, "{} vs {want}", at(&out[0]));
    }

    #[test]
    fn missing_modality_output_is_zero() {
        let (_vs, att) = setup(2);
        let toks: Vec<Tensor> = (0..2).map(|_| Tensor::randn([2, 8, 6], (Kind::Float, Device::Cpu))).collect();
        let avail = Tensor::from_slice(&[1f32, 0., 1., 1.]).view([2, 2]);
        let out = att.forward(&toks, &avail);
        assert_eq!(out[1].get(0).abs().sum(Kind::Float).double_value(&[]), 0.0);
        assert!(out[1].get(1).abs().sum(Kind::Float).double_value(&[]) > 0.0);
    }
}
