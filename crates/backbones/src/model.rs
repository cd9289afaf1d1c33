//! The interface every backbone implements (docs/method.md §2, §3, §7): inputs per modality plus a per-sample
//! availability matrix in, segmentation logits and the shared latent out.
//!
//! # Shapes
//! - `inputs[m]`: `[B, C_m, H, W]` f32 on the model's device, one tensor per modality in the
//!   modality order of the data set.
//! - `availability`: `[B, M]` f32 of 0/1, per sample (a scenario per sample, docs/method.md §2).
//! - `ModelOutput::logits`: `[B, classes, H, W]`, raw logits (no sigmoid, docs/reference.md §2.1).
//! - `ModelOutput::latent`: the shared latent at [`SegmentationModel::hook_point`] (docs/method.md §3.2),
//!   e.g. `[B, 512, H/32, W/32]` for CMX at paper size.
//! - `ModelOutput::head_copies`: `[B, R, classes, H, W]` for a multi-copy head (CBC with
//!   `output_head = "reference-3"`), else `None`.
//!
//! How a missing modality is masked is the model's business: CMX zeroes the raw inputs, CBC and
//! CBC-SLP gate every encoder level (docs/method.md §2).

use lssg_torch::packed::Inference;
use tch::{Kind, Tensor};

use crate::error::{Error, Result};

/// What one forward pass returns.
#[derive(Debug)]
pub struct ModelOutput {
    /// Segmentation logits, `[B, classes, H, W]` (what metrics and predictions read).
    pub logits: Tensor,
    /// The shared latent at the model's hook point (docs/method.md §3.2), batch first.
    pub latent: Tensor,
    /// Every copy of a multi-copy output head, `[B, R, classes, H, W]`, when the model has one
    /// (the reference CBC head, R = 3, `docs/reference.md §3`): the training loss averages
    /// each copy's loss against the same labels, and `logits` is copy 0. `None` for a single head.
    pub head_copies: Option<Tensor>,
}

impl ModelOutput {
    /// The output of a single-head model.
    pub fn new(logits: Tensor, latent: Tensor) -> Self {
        ModelOutput { logits, latent, head_copies: None }
    }

    /// The output with every tensor in f32: what metrics, losses and softmax read after an
    /// autocast forward ([`lssg_torch::Precision::autocast`]). No copy for tensors that are f32
    /// already (the fp32 path is unchanged).
    pub fn into_f32(self) -> Self {
        let f = |t: Tensor| if t.kind() == Kind::Float { t } else { t.to_kind(Kind::Float) };
        ModelOutput { logits: f(self.logits), latent: f(self.latent), head_copies: self.head_copies.map(f) }
    }
}

/// A multimodal segmentation network that tolerates missing modalities.
pub trait SegmentationModel: std::fmt::Debug + Send {
    /// Runs the network. `inputs[m]` is `[B, C_m, H, W]`, `availability` is `[B, M]` of 0/1;
    /// `train` switches batch-norm statistics and dropout.
    ///
    /// # Errors
    /// [`lssg_torch::Error::Shape`] when the inputs do not match the channel counts the model was built
    /// for: implementations validate with [`check_inputs`] before the first libtorch call, so
    /// that a wrong batch is a typed error instead of a C++ exception (which tch turns into a
    /// panic).
    fn forward_t(&self, inputs: &[Tensor], availability: &Tensor, train: bool) -> Result<ModelOutput>;

    /// Every sample of `inputs` under each of the `k` availability rows of `scenarios`
    /// (`[k, M]`), in eval mode: output row `b·k + j` is sample `b` under row `j` (sample-major),
    /// which is `forward_t` of the inputs repeated `k` times each with `scenarios` tiled `B`
    /// times, the default. A backbone may compute parts that do not depend on the whole scenario
    /// once instead of `k` times (CMX: docs/speed.md §4), equal up to float rounding.
    fn forward_scenarios(&self, inputs: &[Tensor], scenarios: &Tensor) -> Result<ModelOutput> {
        let (k, b) = (scenarios.size()[0], inputs.first().map_or(0, |x| x.size()[0]));
        let repeated: Vec<Tensor> = inputs.iter().map(|x| x.repeat_interleave_self_int(k, 0, None)).collect();
        self.forward_t(&repeated, &scenarios.repeat([b, 1]), false)
    }

    /// The name of the layer whose output is the shared latent (e.g. `backbone.ffm[3]`).
    fn hook_point(&self) -> &str;

    /// Number of output channels of the logits.
    fn num_classes(&self) -> i64;

    /// The inference mode this model runs its eval forwards under when `requested` is
    /// configured (docs/speed.md §10): `eager` and `packed` are kept; `auto` is kept by a model
    /// whose forward packing speeds up (the default) and turned into `eager` by one it does
    /// not.
    fn inference(&self, requested: Inference) -> Inference {
        requested
    }
}

/// Checks `inputs`/`availability` against the channel counts a model was built for, so that a
/// wrong batch fails with a typed error before libtorch raises a C++ exception.
///
/// Returns `(batch, height, width)`.
pub fn check_inputs(channels: &[i64], inputs: &[Tensor], availability: &Tensor) -> Result<(i64, i64, i64)> {
    if inputs.len() != channels.len() {
        return Err(Error::shape(
            "inputs",
            format!("{} modality tensors", channels.len()),
            format!("{}", inputs.len()),
        ));
    }
    let first = inputs[0].size();
    if first.len() != 4 {
        return Err(Error::shape("inputs[0]", "[B, C, H, W]", format!("{first:?}")));
    }
    let (b, h, w) = (first[0], first[2], first[3]);
    for (m, (x, &c)) in inputs.iter().zip(channels).enumerate() {
        let s = x.size();
        if s != [b, c, h, w] {
            return Err(Error::shape(format!("inputs[{m}]"), format!("[{b}, {c}, {h}, {w}]"), format!("{s:?}")));
        }
    }
    let a = availability.size();
    if a != [b, channels.len() as i64] {
        return Err(Error::shape("availability", format!("[{b}, {}]", channels.len()), format!("{a:?}")));
    }
    Ok((b, h, w))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn zeros(s: &[i64]) -> Tensor {
        Tensor::zeros(s, (Kind::Float, Device::Cpu))
    }

    #[test]
    fn check_inputs_accepts_and_rejects() {
        let xs = [zeros(&[2, 3, 8, 8]), zeros(&[2, 1, 8, 8])];
        assert_eq!(check_inputs(&[3, 1], &xs, &zeros(&[2, 2])).unwrap(), (2, 8, 8));
        let err = check_inputs(&[3, 2], &xs, &zeros(&[2, 2])).unwrap_err().to_string();
        assert!(err.contains("inputs[1]") && err.contains("[2, 2, 8, 8]"), "{err}");
        let err = check_inputs(&[3, 1], &xs, &zeros(&[2, 3])).unwrap_err().to_string();
        assert!(err.contains("availability"), "{err}");
        assert!(check_inputs(&[3, 1, 1], &xs, &zeros(&[2, 3])).is_err());
    }
}
