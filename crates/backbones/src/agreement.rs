//! CPU-vs-device agreement for `lssg model check-device` (docs/gpu.md §3): the same network,
//! built once on the CPU and copied variable by variable to the device, run on the same random
//! batch on both; the eval logits, the loss, the gradients of one training step and the eval
//! logits after that step (plain SGD) are compared.
//!
//! Each comparison is `max |cpu − device| / max |cpu|` over all elements, a difference relative
//! to the scale of the CPU values (an element-wise ratio is meaningless where logits cross 0).
//! The step's forward runs in eval mode: dropout would draw different masks on the two devices
//! (their generators differ), and batch-norm batch statistics would differ with them. SGD, not
//! Adam: Adam's first step is `lr · sign(grad)`, which turns rounding noise in gradients near
//! zero into whole-`lr` differences.

use serde::{Deserialize, Serialize};
use tch::nn::OptimizerConfig;
use tch::{Device, Kind, Tensor, nn};

use crate::config::ModelConfig;
use crate::error::{Error, Result};
use crate::model::SegmentationModel;

/// What to compare.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgreementConfig {
    /// The network.
    pub model: ModelConfig,
    /// Channels per modality.
    pub channels: Vec<i64>,
    /// Batch size.
    pub batch: i64,
    /// Square input size.
    pub size: i64,
    /// Seed for the weights and the batch.
    pub seed: i64,
    /// SGD learning rate of the training step.
    pub lr: f64,
    /// Largest relative difference that counts as agreement (1e-3 for fp32, issue 12).
    pub tolerance: f64,
}

impl Default for AgreementConfig {
    fn default() -> Self {
        AgreementConfig {
            model: ModelConfig::default(),
            channels: vec![3, 3, 3],
            batch: 2,
            size: 64,
            seed: 0,
            lr: 1e-2,
            tolerance: 1e-3,
        }
    }
}

/// One comparison of CPU values against device values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    /// `max |cpu − device|`.
    pub max_abs: f64,
    /// `max |cpu|`, the scale.
    pub scale: f64,
    /// `max_abs / scale` (`max_abs` when the scale is 0).
    pub relative: f64,
}

impl Difference {
    fn between(cpu: &Tensor, device: &Tensor) -> Result<Self> {
        if cpu.size() != device.size() {
            return Err(Error::Shape {
                what: "device result".into(),
                expected: format!("{:?}", cpu.size()),
                got: format!("{:?}", device.size()),
            });
        }
        let cpu = cpu.to_kind(Kind::Double);
        let device = device.to(Device::Cpu).to_kind(Kind::Double);
        let max_abs = (&cpu - &device).abs().max().double_value(&[]);
        let scale = cpu.abs().max().double_value(&[]);
        let relative = if scale > 0.0 { max_abs / scale } else { max_abs };
        Ok(Difference { max_abs, scale, relative })
    }
}

/// What [`compare`] found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    /// The configuration compared.
    pub config: AgreementConfig,
    /// The device compared with the CPU, printed (`Cuda(0)`).
    pub device: String,
    /// Eval-mode logits before the step.
    pub forward: Difference,
    /// The loss of the training step.
    pub loss: Difference,
    /// Every trainable variable's gradient, concatenated in name order.
    pub gradients: Difference,
    /// Eval-mode logits after the SGD step.
    pub after_step: Difference,
    /// Every relative difference is at most `config.tolerance`.
    pub agrees: bool,
}

/// What one side computed, before comparison.
struct Side {
    logits: Tensor,
    loss: Tensor,
    gradients: Tensor,
    after_step: Tensor,
}

/// Runs the forward, the training step and the forward after it on the model's device.
fn run_side(
    vs: &nn::VarStore,
    model: &dyn SegmentationModel,
    batch: (&[Tensor], &Tensor, &Tensor),
    lr: f64,
) -> Result<Side> {
    let device = vs.device();
    let inputs: Vec<Tensor> = batch.0.iter().map(|x| x.to(device)).collect();
    let (availability, target) = (batch.1.to(device), batch.2.to(device));
    let eval = || tch::no_grad(|| model.forward_t(&inputs, &availability, false)).map(|o| o.logits);
    let logits = eval()?;
    let mut opt = nn::Sgd::default()
        .build(vs, lr)
        .map_err(|e| Error::Unsupported { what: "SGD optimiser".into(), reason: e.to_string() })?;
    let out = model.forward_t(&inputs, &availability, false)?;
    let loss = out.logits.binary_cross_entropy_with_logits::<Tensor>(&target, None, None, tch::Reduction::Mean);
    opt.zero_grad();
    loss.backward();
    let mut named: Vec<(String, Tensor)> = vs.variables().into_iter().filter(|(_, v)| v.requires_grad()).collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let grads: Vec<Tensor> =
        named.iter().filter(|(_, v)| v.grad().defined()).map(|(_, v)| v.grad().flatten(0, -1)).collect();
    let gradients = if grads.is_empty() { Tensor::zeros([0], (Kind::Float, device)) } else { Tensor::cat(&grads, 0) };
    opt.step();
    let after_step = eval()?;
    let cpu = |t: &Tensor| t.detach().to(Device::Cpu);
    Ok(Side { logits: cpu(&logits), loss: cpu(&loss), gradients: cpu(&gradients), after_step: cpu(&after_step) })
}

/// Compares the network of `cfg` on the CPU with the same network on `device`. With
/// `device = Device::Cpu` it compares the CPU with itself (a check of the check).
pub fn compare(cfg: &AgreementConfig, device: Device) -> Result<Agreement> {
    for (field, v) in [("batch", cfg.batch), ("size", cfg.size)] {
        if v < 1 {
            return Err(Error::invalid(field, v, "≥ 1"));
        }
    }
    if cfg.tolerance.is_nan() || cfg.tolerance <= 0.0 {
        return Err(Error::invalid("tolerance", cfg.tolerance, "> 0"));
    }
    tch::manual_seed(cfg.seed);
    let cpu_vs = nn::VarStore::new(Device::Cpu);
    let cpu_model = cfg.model.build(&cpu_vs, &cfg.channels)?;
    let mut dev_vs = nn::VarStore::new(device);
    let dev_model = cfg.model.build(&dev_vs, &cfg.channels)?;
    dev_vs
        .copy(&cpu_vs)
        .map_err(|e| Error::Unsupported { what: "copying the weights".into(), reason: e.to_string() })?;

    let opts = (Kind::Float, Device::Cpu);
    let inputs: Vec<Tensor> =
        cfg.channels.iter().map(|&c| Tensor::randn([cfg.batch, c, cfg.size, cfg.size], opts)).collect();
    let availability = Tensor::ones([cfg.batch, cfg.channels.len() as i64], opts);
    let target = Tensor::rand([cfg.batch, cfg.model.classes, cfg.size, cfg.size], opts).ge(0.5).to_kind(Kind::Float);
    let batch = (inputs.as_slice(), &availability, &target);

    let cpu = run_side(&cpu_vs, cpu_model.as_ref(), batch, cfg.lr)?;
    let dev = run_side(&dev_vs, dev_model.as_ref(), batch, cfg.lr)?;
    let forward = Difference::between(&cpu.logits, &dev.logits)?;
    let loss = Difference::between(&cpu.loss, &dev.loss)?;
    let gradients = Difference::between(&cpu.gradients, &dev.gradients)?;
    let after_step = Difference::between(&cpu.after_step, &dev.after_step)?;
    let agrees = [forward, loss, gradients, after_step].iter().all(|d| d.relative <= cfg.tolerance);
    Ok(Agreement { config: cfg.clone(), device: format!("{device:?}"), forward, loss, gradients, after_step, agrees })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{BackboneKind, Preset};

    fn tiny(backbone: BackboneKind) -> AgreementConfig {
        AgreementConfig {
            model: ModelConfig { backbone, preset: Preset::Tiny, ..Default::default() },
            size: 32,
            ..Default::default()
        }
    }

    #[test]
    fn the_cpu_agrees_with_itself() {
        for backbone in [BackboneKind::Cmx, BackboneKind::CbcSlp] {
            let a = compare(&tiny(backbone), Device::Cpu).unwrap();
            assert!(a.agrees, "{a:?}");
            assert!(a.forward.scale > 0.0 && a.gradients.scale > 0.0, "{a:?}");
            assert!(a.forward.relative < 1e-5 && a.after_step.relative < 1e-5, "{a:?}");
            assert_eq!(a.device, "Cpu");
        }
    }

    #[test]
    fn differences_are_relative_to_the_cpu_scale() {
        let cpu = Tensor::from_slice(&[2.0f32, -4.0]);
        let dev = Tensor::from_slice(&[2.0f32, -3.996]);
        let d = Difference::between(&cpu, &dev).unwrap();
        assert!((d.scale - 4.0).abs() < 1e-9 && (d.relative - 1e-3).abs() < 1e-6, "{d:?}");
        assert!(Difference::between(&cpu, &Tensor::from_slice(&[1.0f32])).is_err());
        let bad = AgreementConfig { tolerance: 0.0, ..tiny(BackboneKind::Cmx) };
        assert!(compare(&bad, Device::Cpu).unwrap_err().to_string().contains("tolerance"));
    }
}
