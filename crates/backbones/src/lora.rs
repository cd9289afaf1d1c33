//! Low-rank adapters (LoRA, Hu et al. 2021, <https://arxiv.org/abs/2106.09685>) for linear and
//! N-D convolution layers, the fine-tuning baseline of docs/method.md §5.5.
//!
//! A layer holds its base `weight` (+ `bias`), named like `tch::nn`'s layers so that a checkpoint
//! of the plain network loads into the adapted one, and, when LoRA is on, `lora_a`
//! (`[r, fan_in]`, kaiming-uniform with a = √5, i.e. U(±1/√fan_in)) and `lora_b` (`[out, r]`, zeros).
//! The effective weight is
//!
//! ```text
//! W' = W + s · reshape(B · A, W.shape)      s = α / r, or 1 without α (the reference: no scaling)
//! ```
//!
//! For a convolution `fan_in = in/groups · Πk`: the delta is a rank-r factorisation over the
//! flattened kernel, `conv(x, W') = conv(x, W) + conv(x, reshape(B·A))`. For the 1×1(×1) fusion
//! convolutions of CBC this is exactly a linear LoRA per voxel; for k×k kernels it is the
//! "flattened kernel" form (one rank-r matrix of shape `out × (in·k·k)`), chosen because it keeps
//! the merge exact and the adapter count at `r·(out + in·k·k)`.
//!
//! Because B starts at zero, `W' == W` bit for bit at initialisation. Base weights are frozen by
//! [`freeze_base`]; [`merge_lora`] folds `s·B·A` into the base weights and zeroes B, so the
//! merged network computes the same function without adapters.
//!
//! # Shapes
//! - [`LoraLinear`]: `[…, in] → […, out]`.
//! - [`LoraConv`]: `[B, in, *spatial] → [B, out, *spatial']` with 2 or 3 spatial dimensions.

use std::borrow::Borrow;
use std::collections::BTreeMap;

use tch::Tensor;
use tch::nn::{self, Init, Module, PaddingMode};

use lssg_torch::packed::PostOp;

use crate::config::LoraConfig;
use crate::error::{Error, Result};

/// Name of the down-projection variable of an adapter.
pub const LORA_A: &str = "lora_a";
/// Name of the up-projection variable of an adapter.
pub const LORA_B: &str = "lora_b";

/// PyTorch's default initialisation of linear/conv weights and biases: kaiming-uniform with
/// a = √5, which is `U(−1/√fan_in, 1/√fan_in)`.
pub fn torch_default_init(fan_in: i64) -> Init {
    let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
    Init::Uniform { lo: -bound, up: bound }
}

/// Whether a variable name (full dotted path) belongs to an adapter.
pub fn is_lora_name(name: &str) -> bool {
    let last = name.rsplit('.').next().unwrap_or(name);
    last == LORA_A || last == LORA_B
}

/// The two adapter matrices of one layer.
#[derive(Debug)]
pub struct Adapter {
    /// `[r, fan_in]`.
    pub a: Tensor,
    /// `[out, r]`.
    pub b: Tensor,
    /// `α / r`, or 1 when no α is configured.
    pub scale: f64,
}

impl Adapter {
    fn new(p: &nn::Path, out_dim: i64, fan_in: i64, cfg: &LoraConfig) -> Self {
        let a = p.var(LORA_A, &[cfg.rank, fan_in], torch_default_init(fan_in));
        let b = p.zeros(LORA_B, &[out_dim, cfg.rank]);
        Adapter { a, b, scale: cfg.scale() }
    }

    /// `s · B·A` reshaped to `shape`.
    fn delta(&self, shape: &[i64]) -> Tensor {
        let d = self.b.mm(&self.a).view(shape);
        if self.scale == 1.0 { d } else { d * self.scale }
    }

    /// Folds the adapter into `weight` in place and zeroes B.
    fn merge_into(&self, weight: &Tensor) {
        tch::no_grad(|| {
            let mut w = weight.shallow_clone();
            let _ = w.g_add_(&self.delta(&weight.size()));
            let _ = self.b.shallow_clone().zero_();
        });
    }
}

/// A layer's base weight (+ bias) and optional adapter; `Op` says how the layer applies its
/// effective weight ([`LoraLinear`], [`LoraConv`]).
#[derive(Debug)]
pub struct LoraLayer<Op> {
    /// `[out, in]` (linear) or `[out, in/groups, *k]` (convolution).
    pub weight: Tensor,
    /// `[out]`.
    pub bias: Option<Tensor>,
    /// The adapter, when LoRA is on.
    pub adapter: Option<Adapter>,
    op: Op,
    /// The weight packed for oneDNN in the current inference session (`crate::packed`).
    pub(crate) packs: lssg_torch::packed::SessionCache,
}

impl<Op> LoraLayer<Op> {
    /// Creates `weight` of `shape` (`[out, …fan-in dimensions]`), then `bias` (`[out]`) when
    /// `bias`, then with `lora` the adapter, under `p`.
    fn new(
        p: &nn::Path,
        shape: &[i64],
        bias: bool,
        ws_init: Init,
        bs_init: Init,
        lora: Option<&LoraConfig>,
        op: Op,
    ) -> Self {
        let weight = p.var("weight", shape, ws_init);
        let bias = bias.then(|| p.var("bias", &[shape[0]], bs_init));
        let fan_in = shape[1..].iter().product::<i64>();
        let adapter = lora.map(|cfg| Adapter::new(p, shape[0], fan_in, cfg));
        LoraLayer { weight, bias, adapter, op, packs: Default::default() }
    }

    /// The effective weight `W + s·reshape(B·A)`.
    pub fn effective_weight(&self) -> Tensor {
        match &self.adapter {
            None => self.weight.shallow_clone(),
            Some(ad) => &self.weight + ad.delta(&self.weight.size()),
        }
    }

    /// Folds the adapter into the base weight (see [`merge_lora`]).
    pub fn merge(&self) {
        if let Some(ad) = &self.adapter {
            ad.merge_into(&self.weight);
        }
    }
}

/// How a [`LoraLinear`] applies its weight: `y = x W'ᵀ + b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinearOp;

/// A linear layer `y = x W'ᵀ + b` with an optional adapter; `weight` is `[out, in]`.
pub type LoraLinear = LoraLayer<LinearOp>;

/// Builds a [`LoraLinear`] with PyTorch's default initialisation; variables `weight`, `bias`,
/// and with `lora` also `lora_a`/`lora_b`, under `p`.
pub fn linear<'a, P: Borrow<nn::Path<'a>>>(
    p: P,
    in_dim: i64,
    out_dim: i64,
    bias: bool,
    lora: Option<&LoraConfig>,
) -> LoraLinear {
    linear_with(p, in_dim, out_dim, bias, torch_default_init(in_dim), torch_default_init(in_dim), lora)
}

/// Builds a [`LoraLinear`] with explicit initialisations of the base weight and bias (the
/// adapter is always kaiming-uniform A and zero B).
pub fn linear_with<'a, P: Borrow<nn::Path<'a>>>(
    p: P,
    in_dim: i64,
    out_dim: i64,
    bias: bool,
    ws_init: Init,
    bs_init: Init,
    lora: Option<&LoraConfig>,
) -> LoraLinear {
    LoraLayer::new(p.borrow(), &[out_dim, in_dim], bias, ws_init, bs_init, lora, LinearOp)
}

impl Module for LoraLinear {
    fn forward(&self, xs: &Tensor) -> Tensor {
        self.forward_post(xs, PostOp::Identity)
    }
}

/// Per-dimension convolution settings for [`conv_nd`]; every vector has one entry per spatial
/// dimension.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvNdConfig {
    /// Stride per dimension.
    pub stride: Vec<i64>,
    /// Zero padding per dimension.
    pub padding: Vec<i64>,
    /// Dilation per dimension.
    pub dilation: Vec<i64>,
    /// Groups (`in` and `out` must be divisible by it).
    pub groups: i64,
    /// Whether the layer has a bias.
    pub bias: bool,
}

impl ConvNdConfig {
    /// Stride 1, no padding, dilation 1, one group, with bias, over `dims` spatial dimensions.
    pub fn new(dims: usize) -> Self {
        ConvNdConfig { stride: vec![1; dims], padding: vec![0; dims], dilation: vec![1; dims], groups: 1, bias: true }
    }
}

/// A 2-D or 3-D convolution with an optional adapter; `weight` is `[out, in/groups, *k]`.
pub type LoraConv = LoraLayer<ConvOp>;

/// How a [`LoraConv`] applies its weight: stride, padding, dilation, groups, padding mode.
#[derive(Debug, Clone)]
pub struct ConvOp {
    stride: Vec<i64>,
    padding: Vec<i64>,
    dilation: Vec<i64>,
    groups: i64,
    /// Non-zero padding modes pad explicitly before a padding-free convolution.
    padding_mode: PaddingMode,
    reversed_padding_twice: Vec<i64>,
}

/// Builds a convolution with any kernel shape (`ksize.len()` = 2 or 3 spatial dimensions) and
/// PyTorch's default initialisation.
pub fn conv_nd<'a, P: Borrow<nn::Path<'a>>>(
    p: P,
    in_dim: i64,
    out_dim: i64,
    ksize: &[i64],
    cfg: &ConvNdConfig,
    lora: Option<&LoraConfig>,
) -> LoraConv {
    let fan_in = in_dim / cfg.groups.max(1) * ksize.iter().product::<i64>();
    let (ws_init, bs_init) = (torch_default_init(fan_in), torch_default_init(fan_in));
    build_conv(p.borrow(), ConvWeights { in_dim, out_dim, ksize, ws_init, bs_init }, cfg, lora)
}

/// A convolution's weight and bias: channels, kernel shape and initialisations.
struct ConvWeights<'k> {
    in_dim: i64,
    out_dim: i64,
    ksize: &'k [i64],
    ws_init: Init,
    bs_init: Init,
}

fn build_conv(p: &nn::Path, w: ConvWeights, cfg: &ConvNdConfig, lora: Option<&LoraConfig>) -> LoraConv {
    let groups = cfg.groups.max(1);
    let mut shape = vec![w.out_dim, w.in_dim / groups];
    shape.extend_from_slice(w.ksize);
    let op = ConvOp {
        stride: cfg.stride.clone(),
        padding: cfg.padding.clone(),
        dilation: cfg.dilation.clone(),
        groups,
        padding_mode: PaddingMode::Zeros,
        reversed_padding_twice: Vec::new(),
    };
    LoraLayer::new(p, &shape, cfg.bias, w.ws_init, w.bs_init, lora, op)
}

/// A convolution over `dims` spatial dimensions (2 or 3) from a `tch` [`nn::ConvConfig`]: kernel
/// `k`, its stride, padding and dilation on every dimension, its initialisations (`ws_init`,
/// `bs_init`) and padding mode, with an optional adapter.
pub fn conv<'a, P: Borrow<nn::Path<'a>>>(
    dims: usize,
    p: P,
    in_dim: i64,
    out_dim: i64,
    k: i64,
    cfg: nn::ConvConfig,
    lora: Option<&LoraConfig>,
) -> LoraConv {
    let c = ConvNdConfig {
        stride: vec![cfg.stride; dims],
        padding: vec![cfg.padding; dims],
        dilation: vec![cfg.dilation; dims],
        groups: cfg.groups,
        bias: cfg.bias,
    };
    let ksize = vec![k; dims];
    let w = ConvWeights { in_dim, out_dim, ksize: &ksize, ws_init: cfg.ws_init, bs_init: cfg.bs_init };
    let mut conv = build_conv(p.borrow(), w, &c, lora);
    if !matches!(cfg.padding_mode, PaddingMode::Zeros) {
        conv.op.padding_mode = cfg.padding_mode;
        conv.op.reversed_padding_twice = conv.op.padding.iter().rev().flat_map(|&p| [p, p]).collect();
    }
    conv
}

/// A 2-D [`conv`], the common case (CMX).
pub fn conv2d<'a, P: Borrow<nn::Path<'a>>>(
    p: P,
    i: i64,
    o: i64,
    k: i64,
    cfg: nn::ConvConfig,
    lora: Option<&LoraConfig>,
) -> LoraConv {
    conv(2, p, i, o, k, cfg, lora)
}

impl Module for LoraConv {
    fn forward(&self, xs: &Tensor) -> Tensor {
        self.forward_post(xs, PostOp::Identity)
    }
}

impl LoraConv {
    /// Stride, padding, dilation and groups when this is a 2-D convolution with zero padding,
    /// the kind oneDNN's packed operators run (`crate::packed`).
    pub(crate) fn packed_geometry(&self) -> Option<lssg_torch::packed::ConvGeometry> {
        let op = &self.op;
        (op.stride.len() == 2 && matches!(op.padding_mode, PaddingMode::Zeros)).then(|| {
            lssg_torch::packed::ConvGeometry {
                stride: op.stride.clone(),
                padding: op.padding.clone(),
                dilation: op.dilation.clone(),
                groups: op.groups,
            }
        })
    }

    /// `bn ∘ self` (eval mode) as one convolution's weight and bias, for [`LoraConv::forward_with`].
    pub fn folded_with(&self, bn: &nn::BatchNorm) -> (Tensor, Tensor) {
        let (scale, mut bias) = crate::layers::batch_norm_affine(bn);
        if let Some(b) = &self.bias {
            bias += b * &scale;
        }
        let mut shape = vec![-1i64];
        shape.resize(self.weight.dim(), 1);
        (self.effective_weight() * scale.view(shape.as_slice()), bias)
    }

    /// The convolution with this layer's stride, padding, dilation and groups but the given
    /// weight and bias (e.g. with a batch norm folded in, crates/backbones/src/cmx/stream.rs).
    pub fn forward_with(&self, xs: &Tensor, w: &Tensor, bias: Option<&Tensor>) -> Tensor {
        let op = &self.op;
        let zeros;
        let (xs, padding): (Tensor, &[i64]) = match op.padding_mode {
            PaddingMode::Zeros => (xs.shallow_clone(), &op.padding),
            mode => {
                zeros = vec![0; op.padding.len()];
                (mode.pad(xs, &op.reversed_padding_twice), &zeros)
            }
        };
        match op.stride.len() {
            2 => xs.conv2d(w, bias, &op.stride, padding, &op.dilation, op.groups),
            3 => xs.conv3d(w, bias, &op.stride, padding, &op.dilation, op.groups),
            // 1-D and other ranks go through the generic entry point.
            _ => xs.convolution(w, bias, &op.stride, padding, &op.dilation, false, [0i64; 0], op.groups),
        }
    }
}

/// Freezes every variable of `vs` that is not an adapter (`lora_a`/`lora_b`): the LoRA baseline
/// trains adapters only (docs/method.md §5.5). Optimisers built from the store skip tensors without a
/// gradient, so frozen tensors stay bit-identical. Returns how many tensors were frozen.
pub fn freeze_base(vs: &nn::VarStore) -> usize {
    let mut frozen = 0;
    for (name, t) in vs.variables() {
        if !is_lora_name(&name) && t.requires_grad() {
            let _ = t.set_requires_grad(false);
            frozen += 1;
        }
    }
    frozen
}

/// Number of scalar parameters that currently require gradients.
pub fn trainable_parameter_count(vs: &nn::VarStore) -> i64 {
    vs.trainable_variables().iter().filter(|t| t.requires_grad()).map(|t| t.numel() as i64).sum()
}

/// Number of scalar parameters (trainable variables, frozen or not; batch-norm running statistics
/// are buffers and not counted, like PyTorch's `parameters()`).
pub fn parameter_count(vs: &nn::VarStore) -> i64 {
    vs.trainable_variables().iter().map(|t| t.numel() as i64).sum()
}

/// Folds every adapter of `vs` into its sibling `weight` (`W += s·reshape(B·A)`, `s` from `cfg`)
/// and zeroes B, so that the network computes the same function with zero-cost adapters.
/// Returns the number of merged layers. Errors when an adapter has no sibling `weight` or
/// mismatched shapes.
pub fn merge_lora(vs: &nn::VarStore, cfg: &LoraConfig) -> Result<usize> {
    let vars = vs.variables();
    let mut layers: BTreeMap<&str, (Option<&Tensor>, Option<&Tensor>)> = BTreeMap::new();
    for (name, t) in &vars {
        if let Some(prefix) = name.strip_suffix(&format!(".{LORA_A}")) {
            layers.entry(prefix).or_default().0 = Some(t);
        } else if let Some(prefix) = name.strip_suffix(&format!(".{LORA_B}")) {
            layers.entry(prefix).or_default().1 = Some(t);
        }
    }
    let mut merged = 0;
    for (prefix, pair) in layers {
        let weight_name = format!("{prefix}.weight");
        let (Some(a), Some(b), Some(w)) = (pair.0, pair.1, vars.get(&weight_name)) else {
            return Err(Error::shape(
                format!("adapter {prefix}"),
                format!("{prefix}.{LORA_A}, {prefix}.{LORA_B} and {weight_name}"),
                "an incomplete set",
            ));
        };
        let (ws, as_, bs) = (w.size(), a.size(), b.size());
        let fan_in: i64 = ws[1..].iter().product();
        if as_.len() != 2 || bs.len() != 2 || as_[1] != fan_in || bs[0] != ws[0] || as_[0] != bs[1] {
            return Err(Error::shape(
                format!("adapter {prefix}"),
                format!("lora_a [r, {fan_in}] and lora_b [{}, r] for weight {ws:?}", ws[0]),
                format!("lora_a {as_:?}, lora_b {bs:?}"),
            ));
        }
        let ad = Adapter { a: a.shallow_clone(), b: b.shallow_clone(), scale: cfg.scale() };
        ad.merge_into(w);
        merged += 1;
    }
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn cfg() -> LoraConfig {
        LoraConfig { rank: 2, alpha: None }
    }

    #[test]
    fn names_and_shapes() {
        let vs = nn::VarStore::new(Device::Cpu);
        let _l = linear(vs.root() / "fc", 5, 7, true, Some(&cfg()));
        let _c = conv2d(vs.root() / "conv", 3, 4, 3, nn::ConvConfig { padding: 1, ..Default::default() }, Some(&cfg()));
        let v = vs.variables();
        assert_eq!(v["fc.weight"].size(), [7, 5]);
        assert_eq!(v["fc.lora_a"].size(), [2, 5]);
        assert_eq!(v["fc.lora_b"].size(), [7, 2]);
        assert_eq!(v["conv.weight"].size(), [4, 3, 3, 3]);
        assert_eq!(v["conv.lora_a"].size(), [2, 27]);
        assert_eq!(v["conv.lora_b"].size(), [4, 2]);
        assert!(is_lora_name("conv.lora_a") && !is_lora_name("conv.weight") && !is_lora_name("lora_ab.weight"));
    }

    #[test]
    fn adapter_is_identity_at_init_and_merge_is_exact() {
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let c3 = conv(3, vs.root() / "c3", 4, 6, 1, nn::ConvConfig::default(), Some(&cfg()));
        let c2 = conv2d(
            vs.root() / "c2",
            4,
            6,
            3,
            nn::ConvConfig { groups: 2, padding: 1, ..Default::default() },
            Some(&cfg()),
        );
        let x3 = Tensor::randn([2, 4, 3, 5, 5], (Kind::Float, Device::Cpu));
        let x2 = Tensor::randn([2, 4, 5, 5], (Kind::Float, Device::Cpu));
        let plain3 = x3.conv3d(&c3.weight, c3.bias.as_ref(), [1, 1, 1], [0, 0, 0], [1, 1, 1], 1);
        assert!(c3.forward(&x3).equal(&plain3), "B = 0 makes the adapter an exact identity");
        // Move B away from zero, then merging must keep the function.
        tch::no_grad(|| {
            let _ = c3.adapter.as_ref().unwrap().b.shallow_clone().uniform_(-0.5, 0.5);
            let _ = c2.adapter.as_ref().unwrap().b.shallow_clone().uniform_(-0.5, 0.5);
        });
        let (before3, before2) = (c3.forward(&x3), c2.forward(&x2));
        assert!(!before3.allclose(&plain3, 1e-6, 1e-6, false));
        assert_eq!(merge_lora(&vs, &cfg()).unwrap(), 2);
        assert!(c3.forward(&x3).allclose(&before3, 1e-5, 1e-5, false));
        assert!(c2.forward(&x2).allclose(&before2, 1e-5, 1e-5, false));
        assert_eq!(c3.adapter.as_ref().unwrap().b.abs().sum(Kind::Float).double_value(&[]), 0.0);
    }

    #[test]
    fn freeze_and_count() {
        let vs = nn::VarStore::new(Device::Cpu);
        let _l = linear(vs.root() / "fc", 5, 7, true, Some(&LoraConfig { rank: 3, alpha: Some(6.0) }));
        assert_eq!(parameter_count(&vs), 35 + 7 + 15 + 21);
        assert_eq!(freeze_base(&vs), 2);
        assert_eq!(trainable_parameter_count(&vs), 15 + 21);
        assert_eq!(parameter_count(&vs), 35 + 7 + 15 + 21);
    }

    #[test]
    fn scale_applies_alpha_over_rank() {
        let vs = nn::VarStore::new(Device::Cpu);
        let l = linear(vs.root() / "fc", 3, 2, false, Some(&LoraConfig { rank: 1, alpha: Some(4.0) }));
        tch::no_grad(|| {
            let ad = l.adapter.as_ref().unwrap();
            let _ = ad.a.shallow_clone().fill_(1.0);
            let _ = ad.b.shallow_clone().fill_(1.0);
            let _ = l.weight.shallow_clone().zero_();
        });
        let y = l.forward(&Tensor::ones([1, 3], (Kind::Float, Device::Cpu)));
        // W' = 4 · 1·1ᵀ, so each output is 4 · 3.
        assert_eq!(Vec::<f32>::try_from(y.view([-1])).unwrap(), vec![12.0, 12.0]);
    }
}
