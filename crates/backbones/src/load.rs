//! One way to get a ready network: a [`ModelConfig`], the modalities' channel counts, a device,
//! an initialisation seed and where the weights come from. Training, scoring, evaluation and
//! prediction all build their model here, so a checkpoint means the same thing everywhere.
//!
//! The order of operations is fixed and part of reproducibility: seed libtorch's RNG, create
//! the store, build the network (random initialisation), then load weights. Two calls with the
//! same arguments give bit-identical networks.

use std::path::Path;

use tch::{Device, nn};

use crate::config::ModelConfig;
use crate::error::Result;
use crate::model::SegmentationModel;

/// Where a network's weights come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weights<'a> {
    /// Random initialisation from the seed (a network trained from scratch).
    Random,
    /// Every variable from this checkpoint, strictly: a plain network's checkpoint for a plain
    /// config, an adapted one (base + LoRA adapters) for a LoRA config.
    Checkpoint(&'a Path),
    /// A plain network's checkpoint into a LoRA config: the base variables are loaded and frozen,
    /// the adapters keep their initial values (B = 0, so the network starts equal to the base).
    Base(&'a Path),
}

/// A built network with the variable store that owns its weights.
#[derive(Debug)]
pub struct LoadedModel {
    /// The variables (parameters and buffers), on the model's device.
    pub vs: nn::VarStore,
    /// The network.
    pub net: Box<dyn SegmentationModel>,
}

impl LoadedModel {
    /// Builds `config` for modalities with `channels` channels each on `device`, seeding libtorch
    /// with `seed` before the random initialisation, then loads `weights`.
    ///
    /// With [`Weights::Base`] the config must have LoRA adapters; every non-adapter variable is
    /// frozen afterwards. A checkpoint that does not fit fails with
    /// [`crate::Error::CheckpointMismatch`] listing every difference.
    pub fn new(
        config: &ModelConfig,
        channels: &[i64],
        device: Device,
        seed: u64,
        weights: Weights<'_>,
    ) -> Result<Self> {
        tch::manual_seed(seed as i64);
        let vs = nn::VarStore::new(device);
        let net = config.init(&vs.root(), channels)?;
        match weights {
            Weights::Random => {}
            Weights::Checkpoint(path) => crate::checkpoint::load(&vs, path)?,
            Weights::Base(path) => {
                if config.lora.is_none() {
                    // A plain config has no adapters: loading a base is a strict load.
                    crate::checkpoint::load(&vs, path)?;
                } else {
                    crate::checkpoint::load_base(&vs, path)?;
                    crate::lora::freeze_base(&vs);
                }
            }
        }
        Ok(Self { vs, net })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{BackboneKind, LoraConfig, Preset};

    fn tiny(lora: Option<LoraConfig>) -> ModelConfig {
        ModelConfig { backbone: BackboneKind::Cmx, preset: Preset::Tiny, classes: 2, lora, ..Default::default() }
    }

    fn same_variables(a: &nn::VarStore, b: &nn::VarStore) -> bool {
        let (va, vb) = (a.variables(), b.variables());
        va.len() == vb.len() && va.iter().all(|(n, t)| vb.get(n).is_some_and(|u| t.equal(u)))
    }

    #[test]
    fn same_seed_same_network_and_checkpoints_round_trip() {
        let channels = [3, 2];
        let a = LoadedModel::new(&tiny(None), &channels, Device::Cpu, 7, Weights::Random).unwrap();
        let b = LoadedModel::new(&tiny(None), &channels, Device::Cpu, 7, Weights::Random).unwrap();
        assert!(same_variables(&a.vs, &b.vs));
        let c = LoadedModel::new(&tiny(None), &channels, Device::Cpu, 8, Weights::Random).unwrap();
        assert!(!same_variables(&a.vs, &c.vs));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("base.safetensors");
        crate::checkpoint::save(&a.vs, &path).unwrap();
        let loaded = LoadedModel::new(&tiny(None), &channels, Device::Cpu, 9, Weights::Checkpoint(&path)).unwrap();
        assert!(same_variables(&a.vs, &loaded.vs));

        // A base into a LoRA config: base loaded and frozen, only adapters train.
        let lora = tiny(Some(LoraConfig::default()));
        let adapted = LoadedModel::new(&lora, &channels, Device::Cpu, 9, Weights::Base(&path)).unwrap();
        let trainable = adapted.vs.trainable_variables().len();
        assert!(trainable > 0 && trainable < adapted.vs.variables().len());
        // A base is not an adapted checkpoint: a strict load names the missing adapters.
        let err = LoadedModel::new(&lora, &channels, Device::Cpu, 9, Weights::Checkpoint(&path)).unwrap_err();
        assert!(err.to_string().contains("lora"), "{err}");
    }
}
