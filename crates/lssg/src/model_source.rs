//! Which trained network a command uses: a finished `lssg run` directory and a method, or a
//! run configuration and a checkpoint. `lssg predict` and `lssg export` resolve their model
//! here, so both accept the same `--run DIR [--method M] | --config C --checkpoint K [--lora]`.

use std::path::{Path, PathBuf};

use lssg_trainer::{Keep, Method, RunPaths};

use crate::config::RunConfig;
use crate::error::{Error, Result};

/// Where the network comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// A finished `lssg run` directory and a method (`pretrained` or a fine-tuning method).
    Run {
        /// The run directory (its `config.toml` is used).
        dir: PathBuf,
        /// `pretrained`, `guided`, `uniform`, `lora`, …
        method: String,
    },
    /// A run configuration and a checkpoint.
    Checkpoint {
        /// The run configuration.
        config: PathBuf,
        /// The weights.
        checkpoint: PathBuf,
        /// The checkpoint holds LoRA adapters.
        lora: bool,
    },
}

/// A resolved [`ModelSource`].
#[derive(Debug, Clone)]
pub struct ResolvedModel {
    /// The run configuration (with the `--set` overrides applied).
    pub config: RunConfig,
    /// The weights.
    pub checkpoint: PathBuf,
    /// The checkpoint holds LoRA adapters.
    pub lora: bool,
    /// The training directory the weights come from, with the number of epochs it must
    /// record to be finished (`None` for a checkpoint given directly).
    pub training: Option<(PathBuf, usize)>,
}

impl ResolvedModel {
    /// Fails unless the training directory (if any) records every configured epoch, so that
    /// the weights are the final ones rather than those of an interrupted stage.
    pub fn require_finished(&self) -> Result<()> {
        match &self.training {
            Some((dir, epochs)) if !RunPaths::new(dir).is_complete(*epochs) => Err(Error::Model(format!(
                "{}: training is not finished ({epochs} epochs configured); finish the run first",
                dir.display()
            ))),
            _ => Ok(()),
        }
    }
}

/// The configuration, checkpoint and adapters of `source`; errors name the method or file.
pub fn resolve(source: &ModelSource, overrides: &[String]) -> Result<ResolvedModel> {
    match source {
        ModelSource::Checkpoint { config, checkpoint, lora } => Ok(ResolvedModel {
            config: RunConfig::load(config, overrides)?,
            checkpoint: checkpoint.clone(),
            lora: *lora,
            training: None,
        }),
        ModelSource::Run { dir, method } => resolve_run(dir, method, overrides),
    }
}

fn resolve_run(dir: &Path, method: &str, overrides: &[String]) -> Result<ResolvedModel> {
    let config = RunConfig::load(&dir.join("config.toml"), overrides)?;
    let (train_dir, keep, lora, epochs) = if method == "pretrained" {
        (dir.join("pretrain"), config.pretrain.keep, false, config.pretrain.epochs)
    } else {
        let m = Method::ALL.into_iter().find(|m| m.name() == method).ok_or_else(|| {
            let known: Vec<&str> = Method::ALL.iter().map(|m| m.name()).collect();
            Error::Model(format!("--method {method:?}: expected pretrained or one of {}", known.join(", ")))
        })?;
        let t = &config.finetune.train;
        (dir.join("finetune").join(m.name()), t.keep, m.uses_lora(), t.epochs)
    };
    let paths = RunPaths::new(&train_dir);
    let checkpoint = if keep == Keep::Best && paths.best().exists() { paths.best() } else { paths.last() };
    if !checkpoint.exists() {
        return Err(Error::Model(format!(
            "{}: no weights of `{method}` in this run directory (has the run finished that stage?)",
            checkpoint.display()
        )));
    }
    Ok(ResolvedModel { config, checkpoint, lora, training: Some((train_dir, epochs)) })
}
