//! What the layout and packed-inference tests share: every backbone with and without LoRA at
//! the `tiny` preset, the lock that serialises draws from libtorch's global generator, and a
//! network whose adapters (and, when asked, batch norms) hold random values.

use lssg_backbones::{BackboneKind, LoadedModel, LoraConfig, ModelConfig, Preset, Weights};
use tch::{Device, Kind, Tensor};

pub const CPU: (Kind, Device) = (Kind::Float, Device::Cpu);

/// CMX, CBC and CBC-SLP at `tiny`, two classes, each without and with LoRA adapters.
pub fn configs() -> Vec<ModelConfig> {
    let mut out = Vec::new();
    for backbone in [BackboneKind::Cmx, BackboneKind::Cbc, BackboneKind::CbcSlp] {
        for lora in [None, Some(LoraConfig::default())] {
            out.push(ModelConfig { backbone, preset: Preset::Tiny, classes: 2, lora, ..Default::default() });
        }
    }
    out
}

/// libtorch's generator is global: the tests of a file draw from it one at a time.
pub fn seeded() -> std::sync::MutexGuard<'static, ()> {
    static SEEDED: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SEEDED.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The network of `cfg` with seed 3, its LoRA `B` matrices set to random values (they start at
/// zero, which would hide the adapters' path) and, with `batch_norms`, random running
/// statistics too (at initialisation a folded batch norm is an identity).
pub fn network(cfg: &ModelConfig, channels: &[i64], batch_norms: bool) -> LoadedModel {
    let _seeded = seeded();
    let model = LoadedModel::new(cfg, channels, Device::Cpu, 3, Weights::Random).unwrap();
    tch::manual_seed(11);
    let mut names: Vec<_> = model.vs.variables().into_iter().collect();
    names.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, mut var) in names {
        let value = if name.ends_with("lora_b") {
            Tensor::randn(var.size(), CPU) * 0.1
        } else if batch_norms && name.ends_with("running_mean") {
            Tensor::randn(var.size(), CPU) * 0.2
        } else if batch_norms && name.ends_with("running_var") {
            Tensor::rand(var.size(), CPU) + 0.5
        } else {
            continue;
        };
        tch::no_grad(|| var.copy_(&value));
    }
    model
}
