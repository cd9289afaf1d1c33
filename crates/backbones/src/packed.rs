//! The layers' packed inference path (docs/speed.md §10): inside an inference session with
//! gradients off (`lssg_torch::packed::packing`), a convolution or linear layer packs its
//! effective weight (adapter merged, a following batch norm folded in) once per input shape and
//! kind, and runs oneDNN's packed operator with the activation fused. Everywhere else, and for
//! what the packed operators do not cover (3-D convolutions, padding modes, other kinds), the
//! layers run their eager operators; a pack that libtorch refuses also falls back to them.
//!
//! A layer caches one pack per variant (`0`: its own weight; callers that fold other maps into
//! it choose further variants), kind and input shape.

use lssg_torch::packed::{self, PackedConv, PackedLinear, PostOp, SessionCache};
use tch::Tensor;

use crate::lora::{LoraConv, LoraLinear};

/// A weight and bias to pack, computed only when a pack is made (or for the eager path).
pub type Weights<'a> = &'a dyn Fn() -> (Tensor, Option<Tensor>);

/// The cache key of a pack: variant, kind and input shape.
fn key(variant: i64, kind: tch::Kind, xs: &Tensor) -> Vec<i64> {
    let mut key = vec![variant, kind as i64];
    key.extend(xs.size());
    key
}

impl LoraConv {
    /// The convolution followed by `post`: packed in an inference session, eager elsewhere.
    pub fn forward_post(&self, xs: &Tensor, post: PostOp) -> Tensor {
        self.forward_folded(xs, 0, &|| (self.effective_weight(), self.bias.as_ref().map(Tensor::shallow_clone)), post)
    }

    /// The convolution with the weight and bias `weights` computes (e.g. with a batch norm
    /// folded in; `variant` tells such weights apart from the layer's own, variant 0), followed
    /// by `post`. In an inference session `weights` runs once per session and input shape.
    pub fn forward_folded(&self, xs: &Tensor, variant: i64, weights: Weights<'_>, post: PostOp) -> Tensor {
        if let Some(y) = self.try_packed(xs, variant, weights, post) {
            return y;
        }
        let (w, b) = weights();
        let mut y = self.forward_with(xs, &w, b.as_ref());
        match post {
            PostOp::Identity => y,
            // In place on the convolution's fresh output (its backward does not read it).
            PostOp::Relu => y.relu_(),
        }
    }

    fn try_packed(&self, xs: &Tensor, variant: i64, weights: Weights<'_>, post: PostOp) -> Option<Tensor> {
        if xs.dim() != 4 || !packed::packing() {
            return None;
        }
        let kind = packed::compute_kind(xs)?;
        let geometry = self.packed_geometry()?;
        let pack = self.packs.get_or_make(key(variant, kind, xs), || {
            let (w, b) = weights();
            PackedConv::new(&w, b.as_ref(), &geometry, kind, &xs.size())
        });
        pack.ok().flatten()?.forward(xs, post).ok()
    }
}

impl LoraLinear {
    /// `x W'ᵀ + b` followed by `post`: packed in an inference session, eager elsewhere.
    pub fn forward_post(&self, xs: &Tensor, post: PostOp) -> Tensor {
        linear_post(
            &self.packs,
            0,
            xs,
            &|| (self.effective_weight(), self.bias.as_ref().map(Tensor::shallow_clone)),
            post,
        )
    }
}

/// A linear map over the last dimension of `xs` with the weight `[out, in]` and bias `weights`
/// computes, followed by `post`; packed (cached in `cache` under `variant`) in an inference
/// session, eager elsewhere.
pub fn linear_post(cache: &SessionCache, variant: i64, xs: &Tensor, weights: Weights<'_>, post: PostOp) -> Tensor {
    if let Some(y) = try_packed_linear(cache, variant, xs, weights, post) {
        return y;
    }
    let (w, b) = weights();
    post.apply(xs.linear(&w, b.as_ref()))
}

fn try_packed_linear(
    cache: &SessionCache,
    variant: i64,
    xs: &Tensor,
    weights: Weights<'_>,
    post: PostOp,
) -> Option<Tensor> {
    if xs.dim() < 2 || !packed::packing() {
        return None;
    }
    let kind = packed::compute_kind(xs)?;
    let size = xs.size();
    let rows = size[..size.len() - 1].iter().product::<i64>();
    let pack = cache.get_or_make(key(variant, kind, xs), || {
        let (w, b) = weights();
        PackedLinear::new(&w, b.as_ref(), kind, rows)
    });
    pack.ok().flatten()?.forward(xs, post).ok()
}
