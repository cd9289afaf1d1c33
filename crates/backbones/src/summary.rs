//! Model summaries for `lssg model summary`: parameter counts (total, trainable, per module) and
//! the shapes of the hook-point latent and the logits, from one real forward pass of a zero batch
//! (batch 1, CPU, eval mode, no gradients).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor, nn};

use crate::config::{BackboneKind, ModelConfig, Preset};
use crate::error::{Error, Result};
use crate::lora;

/// Parameters of one module (a prefix of variable names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleRow {
    /// Dotted module path (`backbone`, `backbone.ffm`, …).
    pub name: String,
    /// Nesting depth: 1 for top-level children, 2 for their children.
    pub depth: usize,
    /// Scalar parameters under it.
    pub params: i64,
    /// Of which trainable (not frozen).
    pub trainable: i64,
}

/// What `summarize` reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The backbone family.
    pub backbone: BackboneKind,
    /// The size preset.
    pub preset: Preset,
    /// Channels per modality.
    pub channels: Vec<i64>,
    /// Square input size used for the shapes.
    pub size: i64,
    /// All scalar parameters (batch-norm statistics excluded).
    pub params_total: i64,
    /// Parameters that require gradients (adapters only under LoRA).
    pub params_trainable: i64,
    /// Top-level modules and their children, in name order.
    pub modules: Vec<ModuleRow>,
    /// Name of the shared-latent hook point.
    pub hook: String,
    /// Shape of the latent for a batch of 1.
    pub hook_shape: Vec<i64>,
    /// Shape of the logits for a batch of 1.
    pub output_shape: Vec<i64>,
}

/// Groups the parameters of `vs` by the first `depth` components of their names.
pub fn module_rows(vs: &nn::VarStore, max_depth: usize) -> Vec<ModuleRow> {
    // Parameters only: the trainable list holds them all (frozen ones too), not the buffers.
    let params: Vec<(String, Tensor)> = {
        let trainable = vs.trainable_variables();
        vs.variables()
            .into_iter()
            .filter(|(_, t)| trainable.iter().any(|p| p.data_ptr() == t.data_ptr() && p.numel() == t.numel()))
            .collect()
    };
    let mut rows: BTreeMap<(String, usize), (i64, i64)> = BTreeMap::new();
    for (name, t) in &params {
        let parts: Vec<&str> = name.split('.').collect();
        let n = t.numel() as i64;
        let tr = if t.requires_grad() { n } else { 0 };
        // A module is a strict prefix: the last component is the tensor itself.
        for depth in 1..=max_depth.min(parts.len() - 1) {
            let e = rows.entry((parts[..depth].join("."), depth)).or_default();
            e.0 += n;
            e.1 += tr;
        }
    }
    let mut out: Vec<ModuleRow> = rows
        .into_iter()
        .map(|((name, depth), (params, trainable))| ModuleRow { name, depth, params, trainable })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Builds `cfg` on the CPU for `channels`, counts parameters and runs one zero batch of size
/// `size × size` to report the hook and output shapes.
pub fn summarize(cfg: &ModelConfig, channels: &[i64], size: i64) -> Result<Summary> {
    if size < 1 {
        return Err(Error::invalid("size", size, "a positive input size"));
    }
    let vs = nn::VarStore::new(Device::Cpu);
    let model = cfg.build(&vs, channels)?;
    let inputs: Vec<Tensor> =
        channels.iter().map(|&c| Tensor::zeros([1, c, size, size], (Kind::Float, Device::Cpu))).collect();
    let availability = Tensor::ones([1, channels.len() as i64], (Kind::Float, Device::Cpu));
    let out = tch::no_grad(|| model.forward_t(&inputs, &availability, false))?;
    Ok(Summary {
        backbone: cfg.backbone,
        preset: cfg.preset,
        channels: channels.to_vec(),
        size,
        params_total: lora::parameter_count(&vs),
        params_trainable: lora::trainable_parameter_count(&vs),
        modules: module_rows(&vs, 2),
        hook: model.hook_point().to_string(),
        hook_shape: out.latent.size(),
        output_shape: out.logits.size(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiny_cmx_summary() {
        let cfg = ModelConfig { preset: Preset::Tiny, ..Default::default() };
        let s = summarize(&cfg, &[3, 3, 3], 64).unwrap();
        assert_eq!(s.hook, "backbone.ffm[3]");
        assert_eq!(s.hook_shape, [1, 64, 2, 2]);
        assert_eq!(s.output_shape, [1, 1, 64, 64]);
        assert_eq!(s.params_total, s.params_trainable);
        let top: Vec<&str> = s.modules.iter().filter(|r| r.depth == 1).map(|r| r.name.as_str()).collect();
        assert_eq!(top, ["backbone", "decode_head", "modal_proj"]);
        let sum: i64 = s.modules.iter().filter(|r| r.depth == 1).map(|r| r.params).sum();
        assert_eq!(sum, s.params_total);
        assert_eq!(s.modules.iter().find(|r| r.name == "modal_proj").unwrap().params, 6 * 3);

        let lora = ModelConfig { lora: Some(Default::default()), ..cfg };
        let s = summarize(&lora, &[3, 3, 3], 64).unwrap();
        assert!(s.params_trainable > 0 && s.params_trainable < s.params_total);
        assert_eq!(s.modules.iter().find(|r| r.name == "decode_head").unwrap().trainable, 0);
        assert!(summarize(&cfg, &[3], 64).unwrap_err().to_string().contains("channels"));
    }
}
