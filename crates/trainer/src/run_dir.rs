//! The files of a training run directory and their commit protocol: paths, `state.json` (the
//! commit point of an epoch), the resume checks, and the removal of old epoch checkpoints (which
//! ones, the checkpointer's strategies decide: `crate::train`).
//!
//! ```text
//! <dir>/metrics.jsonl                      one EpochRecord per finished epoch
//! <dir>/checkpoint/epoch-0007.safetensors  model weights after epoch 7 (the last `keep_epochs` kept)
//! <dir>/checkpoint/optim-0007.safetensors  optimiser state after epoch 7
//! <dir>/checkpoint/state.json              epoch, scenario sampler (incl. RNG), best, config
//! <dir>/checkpoint/last.safetensors        the latest weights
//! <dir>/checkpoint/best.safetensors        the best weights by `monitor` (when validated)
//! ```

use std::path::{Path, PathBuf};

use lssg_scenario::{ModalitySet, SamplingStrategy, ScenarioSampler};
use lssg_torch::GradScalerState;
use serde::{Deserialize, Serialize};

use crate::checkpoint;
use crate::error::{Error, Result};
use crate::metrics::Monitor;
use crate::state_check::StateFile;
use crate::train::{LossState, TrainConfig};

/// Settings that may change when a run is resumed (they do not change what a finished epoch
/// computed).
const RESUMABLE_CHANGES: [&str; 5] = ["epochs", "validate_every", "prefetch", "keep", "keep_epochs"];

/// The best epoch so far.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BestEpoch {
    /// Epoch, 1-based.
    pub epoch: usize,
    /// The monitored metric.
    pub monitor: Monitor,
    /// Its value.
    pub value: f64,
}

/// `state.json`: everything besides the tensors that a resumed run needs. (Unknown keys are
/// ignored so that directories written by earlier versions, which also stored the loader's seed
/// and epoch, still resume: the loader's order is a function of (seed, epoch).)
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RunState {
    /// Finished epochs.
    pub epoch: usize,
    /// File names (in `checkpoint/`) of that epoch's model and optimiser state.
    pub model: String,
    pub optimizer: String,
    /// The scenario sampler after that epoch, RNG included.
    pub sampler: ScenarioSampler,
    pub best: Option<BestEpoch>,
    /// The configuration the run was started with (compared on resume).
    pub config: TrainConfig,
    /// The strategy the run started with, when the sampler's may have changed since
    /// (`guided-adaptive`); compared on resume instead of the sampler's current one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_strategy: Option<SamplingStrategy>,
    /// The fp16 gradient scaler after that epoch (docs/precision.md §3); absent for fp32 and
    /// bf16 runs and in files written before mixed precision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grad_scaler: Option<GradScalerState>,
    /// The state of a loss that carries one between steps (group DRO's weights, checked by
    /// the loss when it restores it); absent for the other losses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_state: Option<LossState>,
    /// The processes of a data-parallel run (`crate::dist`); absent for one process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub world_size: Option<usize>,
}

impl RunState {
    /// Checks the state read from `file` against the run that resumes it: at least one and at
    /// most `config.epochs` finished epochs, that epoch's own file names, the sampler over
    /// `set`'s scenarios with a valid distribution, a best epoch among the finished ones with a
    /// finite value, and a gradient scaler exactly when the precision uses one, with a usable
    /// scale.
    pub(crate) fn validate(&self, file: &StateFile<'_>, config: &TrainConfig, set: &ModalitySet) -> Result<()> {
        if self.epoch == 0 {
            return Err(file.invalid("epoch", "0: a state is written after a finished epoch"));
        }
        file.epoch("epoch", self.epoch, config.epochs)?;
        let paths = RunPaths::new(Path::new(""));
        for (field, name, expected) in [
            ("model", &self.model, file_name(&paths.epoch_model(self.epoch))),
            ("optimizer", &self.optimizer, file_name(&paths.epoch_optimizer(self.epoch))),
        ] {
            if *name != expected {
                return Err(file.invalid(field, format!("{name:?} is not epoch {}'s file {expected:?}", self.epoch)));
            }
        }
        self.sampler.check_state(set).map_err(|e| file.invalid("sampler", e.to_string()))?;
        if let Some(initial) = &self.initial_strategy {
            ScenarioSampler::new(set, initial.clone(), 0)
                .map_err(|e| file.invalid("initial_strategy", e.to_string()))?;
        }
        if let Some(best) = &self.best {
            if best.epoch == 0 || best.epoch > self.epoch {
                return Err(
                    file.invalid("best.epoch", format!("{} is not a finished epoch (1..={})", best.epoch, self.epoch))
                );
            }
            file.finite("best.value", best.value)?;
        }
        let wants_scaler = config.precision.needs_grad_scaler();
        match (&self.grad_scaler, wants_scaler) {
            (Some(s), true) => {
                if !(s.scale.is_finite() && s.scale > 0.0) {
                    return Err(file.invalid("grad_scaler.scale", format!("{} is not a finite number > 0", s.scale)));
                }
                if s.growth_tracker < 0 {
                    return Err(file.invalid("grad_scaler.growth_tracker", format!("{} is negative", s.growth_tracker)));
                }
            }
            (None, false) => {}
            (Some(_), false) => {
                return Err(file.invalid("grad_scaler", "present, but only fp16 training scales its loss"));
            }
            (None, true) => return Err(file.invalid("grad_scaler", "missing, but fp16 training needs its scale")),
        }
        Ok(())
    }
}

/// The files of a run directory.
#[derive(Debug, Clone)]
pub struct RunPaths {
    /// The run directory.
    pub dir: PathBuf,
    /// `dir/checkpoint`.
    pub checkpoint_dir: PathBuf,
}

impl RunPaths {
    /// The paths of run directory `dir`.
    pub fn new(dir: &Path) -> Self {
        Self { dir: dir.to_path_buf(), checkpoint_dir: dir.join("checkpoint") }
    }
    /// `metrics.jsonl`.
    pub fn metrics(&self) -> PathBuf {
        self.dir.join("metrics.jsonl")
    }
    /// `checkpoint/state.json`.
    pub fn state(&self) -> PathBuf {
        self.checkpoint_dir.join("state.json")
    }
    /// `checkpoint/epoch-NNNN.safetensors`.
    pub fn epoch_model(&self, epoch: usize) -> PathBuf {
        self.checkpoint_dir.join(format!("epoch-{epoch:04}.safetensors"))
    }
    /// `checkpoint/optim-NNNN.safetensors`.
    pub fn epoch_optimizer(&self, epoch: usize) -> PathBuf {
        self.checkpoint_dir.join(format!("optim-{epoch:04}.safetensors"))
    }
    /// `checkpoint/last.safetensors`.
    pub fn last(&self) -> PathBuf {
        self.checkpoint_dir.join("last.safetensors")
    }
    /// `checkpoint/best.safetensors`.
    pub fn best(&self) -> PathBuf {
        self.checkpoint_dir.join("best.safetensors")
    }
    /// Whether a run in this directory has finished `epochs` epochs.
    pub fn is_complete(&self, epochs: usize) -> bool {
        checkpoint::read_json::<RunState>(&self.state()).is_ok_and(|s| s.epoch >= epochs)
    }
}

/// Compares the saved configuration and strategy with the requested ones.
pub(crate) fn check_resume(
    path: &Path,
    state: &RunState,
    config: &TrainConfig,
    strategy: &SamplingStrategy,
) -> Result<()> {
    let as_map = |c: &TrainConfig| match serde_json::to_value(c) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    // fp32 configs do not serialise their precision, so compare it explicitly.
    if state.config.precision != config.precision {
        return Err(Error::ResumeMismatch {
            path: path.to_path_buf(),
            what: "train.precision".into(),
            saved: state.config.precision.to_string(),
            requested: config.precision.to_string(),
        });
    }
    let (saved, requested) = (as_map(&state.config), as_map(config));
    for (key, value) in &saved {
        if RESUMABLE_CHANGES.contains(&key.as_str()) {
            continue;
        }
        let now = requested.get(key).cloned().unwrap_or(serde_json::Value::Null);
        if &now != value {
            return Err(Error::ResumeMismatch {
                path: path.to_path_buf(),
                what: format!("train.{key}"),
                saved: value.to_string(),
                requested: now.to_string(),
            });
        }
    }
    if state.initial_strategy.as_ref().unwrap_or(state.sampler.strategy()) != strategy {
        let json = |s: &SamplingStrategy| serde_json::to_string(s).unwrap_or_default();
        return Err(Error::ResumeMismatch {
            path: path.to_path_buf(),
            what: "sampling strategy".into(),
            saved: json(state.sampler.strategy()),
            requested: json(strategy),
        });
    }
    Ok(())
}

/// The file name of `path` (as stored in `state.json`).
pub(crate) fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Removes the `epoch-N` / `optim-N` files of every epoch `N < first_kept`.
pub(crate) fn remove_epochs_before(paths: &RunPaths, first_kept: usize) -> Result<()> {
    let entries = std::fs::read_dir(&paths.checkpoint_dir)
        .map_err(|source| Error::Io { path: paths.checkpoint_dir.clone(), source })?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let number = name
            .strip_suffix(".safetensors")
            .and_then(|stem| stem.strip_prefix("epoch-").or_else(|| stem.strip_prefix("optim-")))
            .and_then(|n| n.parse::<usize>().ok());
        if let Some(n) = number
            && n < first_kept
        {
            checkpoint::remove_if_exists(&entry.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        names
    }

    #[test]
    fn removes_the_epoch_files_before_the_first_kept() {
        let dir = tempfile::tempdir().unwrap();
        let paths = RunPaths::new(dir.path());
        std::fs::create_dir_all(&paths.checkpoint_dir).unwrap();
        for e in 1..=4 {
            std::fs::write(paths.epoch_model(e), b"m").unwrap();
            std::fs::write(paths.epoch_optimizer(e), b"o").unwrap();
        }
        std::fs::write(paths.best(), b"b").unwrap();
        remove_epochs_before(&paths, 3).unwrap();
        assert_eq!(
            names(&paths.checkpoint_dir),
            [
                "best.safetensors",
                "epoch-0003.safetensors",
                "epoch-0004.safetensors",
                "optim-0003.safetensors",
                "optim-0004.safetensors"
            ]
        );
        remove_epochs_before(&paths, 4).unwrap();
        assert_eq!(
            names(&paths.checkpoint_dir),
            ["best.safetensors", "epoch-0004.safetensors", "optim-0004.safetensors"]
        );
    }

    #[test]
    fn a_state_of_an_earlier_version_still_reads() {
        let set = lssg_scenario::ModalitySet::from_names(["a", "b"], 1).unwrap();
        let sampler = ScenarioSampler::new(&set, SamplingStrategy::Uniform, 3).unwrap();
        let state = RunState {
            epoch: 2,
            model: "m".into(),
            optimizer: "o".into(),
            sampler,
            best: None,
            config: Default::default(),
            initial_strategy: None,
            grad_scaler: None,
            loss_state: None,
            world_size: None,
        };
        let mut json = serde_json::to_value(&state).unwrap();
        json["loader_seed"] = 0.into();
        json["next_loader_epoch"] = 2.into();
        let back: RunState = serde_json::from_value(json).unwrap();
        assert_eq!(back.epoch, 2);
        assert!(back.grad_scaler.is_none() && back.config.precision.is_fp32());
    }

    #[test]
    fn the_grad_scaler_state_round_trips_and_precision_must_match_on_resume() {
        let set = lssg_scenario::ModalitySet::from_names(["a", "b"], 1).unwrap();
        let sampler = ScenarioSampler::new(&set, SamplingStrategy::Uniform, 3).unwrap();
        let scaler = GradScalerState { scale: 32768.0, growth_tracker: 17 };
        let config = TrainConfig { precision: lssg_torch::Precision::Bf16, ..Default::default() };
        let state = RunState {
            epoch: 1,
            model: "m".into(),
            optimizer: "o".into(),
            sampler,
            best: None,
            config: config.clone(),
            initial_strategy: None,
            grad_scaler: Some(scaler),
            loss_state: None,
            world_size: None,
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        checkpoint::write_json(&path, &state).unwrap();
        let back: RunState = checkpoint::read_json(&path).unwrap();
        assert_eq!(back.grad_scaler, Some(scaler));
        check_resume(&path, &back, &config, &SamplingStrategy::Uniform).unwrap();
        let e = check_resume(&path, &back, &TrainConfig::default(), &SamplingStrategy::Uniform).unwrap_err();
        let e = e.to_string();
        assert!(e.contains("train.precision") && e.contains("bf16") && e.contains("fp32"), "{e}");
        // fp32 configs serialise without the key: old files are unchanged.
        let json = serde_json::to_value(TrainConfig::default()).unwrap();
        assert!(json.get("precision").is_none());
    }
}
