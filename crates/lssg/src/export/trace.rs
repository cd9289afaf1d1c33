//! Traces an lssg network, with the run's input normalisation in front of it, into a
//! TorchScript module `forward(x_1, …, x_M, availability) -> logits` of fixed shapes
//! (docs/export.md §2). The graph records what one fp32 eval-mode forward on the CPU does.

use lssg_backbones::SegmentationModel;
use tch::{CModule, Device, Kind, Tensor};

use crate::error::{Error, Result};

/// The network and its input normalisation.
pub(super) struct Traceable<'a> {
    /// The network (adapters already merged).
    pub net: &'a dyn SegmentationModel,
    /// Per modality, per band: subtracted offset.
    pub offset: &'a [Vec<f32>],
    /// Per modality, per band: multiplied scale.
    pub scale: &'a [Vec<f32>],
}

/// `(x − offset) · scale` per band with non-finite values set to 0 (what `lssg predict` does
/// on the host), then a missing modality's input zeroed as `lssg predict` feeds it.
fn normalize(x: &Tensor, offset: &Tensor, scale: &Tensor, available: &Tensor) -> Tensor {
    let v = (x - offset) * scale;
    let zero = v.zeros_like();
    v.where_self(&x.isfinite(), &zero) * available
}

fn per_band(values: &[f32]) -> Tensor {
    Tensor::from_slice(values).view([1, values.len() as i64, 1, 1])
}

/// Traces `t` for `batch` tiles of `tile`² pixels.
pub(super) fn trace(t: &Traceable<'_>, batch: usize, tile: usize) -> Result<CModule> {
    let _no_grad = tch::no_grad_guard();
    let (b, s, m) = (batch as i64, tile as i64, t.offset.len());
    let mut inputs: Vec<Tensor> =
        t.offset.iter().map(|o| Tensor::randn([b, o.len() as i64, s, s], (Kind::Float, Device::Cpu))).collect();
    inputs.push(Tensor::ones([b, m as i64], (Kind::Float, Device::Cpu)));
    let offsets: Vec<Tensor> = t.offset.iter().map(|o| per_band(o)).collect();
    let scales: Vec<Tensor> = t.scale.iter().map(|k| per_band(k)).collect();
    let mut failure = None;
    let module = CModule::create_by_tracing("lssg", "forward", &inputs, &mut |xs: &[Tensor]| {
        let availability = &xs[m];
        let normed: Vec<Tensor> = (0..m)
            .map(|i| {
                let available = availability.narrow(1, i as i64, 1).view([-1, 1, 1, 1]);
                normalize(&xs[i], &offsets[i], &scales[i], &available)
            })
            .collect();
        match t.net.forward_t(&normed, availability, false) {
            Ok(out) => vec![out.logits],
            Err(e) => {
                failure = Some(e);
                vec![availability.shallow_clone()]
            }
        }
    })?;
    match failure {
        Some(e) => Err(Error::Backbone(e)),
        None => Ok(module),
    }
}
