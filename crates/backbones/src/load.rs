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

    /// This network in `layout`, resolved for its device ([`crate::layout::with_layout`]):
    /// channels-last converts the 4-D weights in place and every input batch on the way in;
    /// NCHW changes nothing. Checkpoints saved afterwards are unchanged (plain order).
    pub fn laid_out(self, layout: lssg_torch::Layout) -> Result<Self> {
        let net = crate::layout::with_layout(self.net, &self.vs, layout)?;
        Ok(Self { vs: self.vs, net })
    }
}
