//! The arguments that name a trained model, shared by `lssg predict` and `lssg export`: a
//! finished run directory and one of its methods, or a configuration and a checkpoint.

use std::path::PathBuf;

use anyhow::bail;

use lssg::model_source::ModelSource;

/// Which trained model a command uses.
#[derive(Debug, clap::Args)]
pub struct ModelArgs {
    /// A finished `lssg run` directory (its config.toml and weights are used).
    #[arg(long, conflicts_with_all = ["config", "checkpoint"])]
    pub run: Option<PathBuf>,
    /// The run's method whose weights are used (`pretrained` or a fine-tuning method).
    #[arg(long, default_value = "guided", requires = "run")]
    pub method: String,
    /// A run configuration (with --checkpoint instead of --run).
    #[arg(long, requires = "checkpoint")]
    pub config: Option<PathBuf>,
    /// The weights (safetensors), with --config.
    #[arg(long, requires = "config")]
    pub checkpoint: Option<PathBuf>,
    /// The checkpoint holds LoRA adapters (with --config).
    #[arg(long)]
    pub lora: bool,
}

impl ModelArgs {
    /// The model these arguments name; an error when neither form is complete.
    pub fn source(self) -> anyhow::Result<ModelSource> {
        Ok(match (self.run, self.config, self.checkpoint) {
            (Some(dir), None, None) => ModelSource::Run { dir, method: self.method },
            (None, Some(config), Some(checkpoint)) => ModelSource::Checkpoint { config, checkpoint, lora: self.lora },
            _ => bail!("give either --run RUN_DIR [--method M] or --config CONFIG --checkpoint CKPT"),
        })
    }
}
