//! Errors of the trainer crate. Every variant carries the evidence: the file, the epoch and
//! step, the value and what was expected. Grouped by banner; add variants with targeted edits.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while training, evaluating or checkpointing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // ---- training ----
    /// The loss became NaN or infinite; the last good checkpoint is left untouched.
    #[error(
        "non-finite training loss {value} at epoch {epoch}, step {step} (1-based); the last good checkpoint is kept"
    )]
    NonFiniteLoss {
        /// The epoch (1-based) in which it happened.
        epoch: usize,
        /// The step within the epoch (1-based).
        step: usize,
        /// The loss value (NaN or ±inf).
        value: f64,
    },
    /// The variable store has no variable that requires a gradient.
    #[error("nothing to optimise: the variable store has no variable with requires_grad (everything frozen?)")]
    NoTrainableVariables,
    /// A configuration value is out of range.
    #[error("invalid configuration: {field} = {value}; expected {expected}")]
    InvalidConfig {
        /// The field, dotted (`optimizer.lr`).
        field: &'static str,
        /// The value given.
        value: String,
        /// What is allowed.
        expected: &'static str,
    },
    /// A data-parallel run is resumed with another number of processes than trained it.
    #[error(
        "{} was written by a run of {written} process(es), this one has {now}: resume it with --nproc {written} (or the same torchrun/Slurm task count)", state.display()
    )]
    WorldSizeChanged {
        /// The run's `state.json`.
        state: std::path::PathBuf,
        /// The world size recorded there.
        written: usize,
        /// This run's.
        now: usize,
    },
    /// A data split has no tiles (or no full batch with `drop_last`).
    #[error("the {split} split yields no batches ({tiles} tiles, batch size {batch_size})")]
    EmptySplit {
        /// `train`, `val` or `eval`.
        split: &'static str,
        /// Tiles in the split.
        tiles: usize,
        /// The batch size.
        batch_size: usize,
    },

    /// A method that samples from the guided distribution was given no probabilities file.
    #[error(
        "fine-tuning method {method:?} samples scenarios from the probabilities file, but none was given (score the pretrained network first)"
    )]
    MissingProbabilities {
        /// The method's name.
        method: &'static str,
    },

    // ---- shapes and data ----
    /// Model, data sets or tensors disagree about a size.
    #[error("{what}: expected {expected}, got {got}")]
    Shape {
        /// What was compared (`logits`, `batch modality 1 buffer`, `val modalities`, …).
        what: String,
        /// The expected size or shape.
        expected: String,
        /// The actual size or shape.
        got: String,
    },
    /// A label value is neither a class index nor the ignore index 255.
    #[error("label value {value} out of range: {num_classes} class(es) (binary tasks use 0/1), 255 = ignore")]
    LabelOutOfRange {
        /// The offending label.
        value: u8,
        /// Classes of the task (1 = binary).
        num_classes: usize,
    },

    // ---- checkpoints and files ----
    /// An I/O operation on a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A JSON file could not be read or written.
    #[error("{path}: invalid JSON: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        source: serde_json::Error,
    },
    /// An evaluation file cannot be read as one: it lacks a key this lssg records (its `task`)
    /// or is not valid. It is never guessed at; evaluating again rewrites it.
    #[error(
        "{path}: not an evaluation this lssg can read ({source}); delete it and re-run the stage to evaluate again"
    )]
    EvalFile {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        source: serde_json::Error,
    },
    /// A tensor file could not be written or read, or does not fit the model or optimiser.
    #[error("{path}: {reason}")]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What went wrong (libtorch's message, or the missing / misshaped tensors).
        reason: String,
    },
    /// An optimiser state file does not match the optimiser's variables.
    #[error(
        "{path}: optimiser state does not match the model: missing {missing:?}, unexpected {unexpected:?}, misshaped {misshaped:?}"
    )]
    OptimizerStateMismatch {
        /// The state file.
        path: PathBuf,
        /// Expected entries not in the file.
        missing: Vec<String>,
        /// Entries in the file the optimiser does not know.
        unexpected: Vec<String>,
        /// Entries whose shape differs (`name: file [..] vs model [..]`).
        misshaped: Vec<String>,
    },
    /// A run directory was started with a different configuration than the one now given.
    #[error(
        "{path}: the run directory was started with a different {what} (saved {saved}, now {requested}); use a new directory or the same settings"
    )]
    ResumeMismatch {
        /// The saved file that disagrees.
        path: PathBuf,
        /// Which setting differs.
        what: String,
        /// The saved value (JSON).
        saved: String,
        /// The requested value (JSON).
        requested: String,
    },

    // ---- other crates ----
    /// A libtorch operation failed.
    #[error("libtorch error while {context}: {source}")]
    Torch {
        /// What the trainer was doing.
        context: &'static str,
        /// libtorch's error.
        source: tch::TchError,
    },
    /// The data set failed to deliver a tile or batch.
    #[error(transparent)]
    Dataset(#[from] lssg_datasets::Error),
    /// A backbone error: a model checkpoint, or a batch the model's input check rejects.
    #[error(transparent)]
    Backbone(#[from] lssg_backbones::Error),
    /// A device, precision, gradient-scaler or fused-optimiser error.
    #[error(transparent)]
    TorchExt(#[from] lssg_torch::Error),
    /// A scenario or sampler error.
    #[error(transparent)]
    Scenario(#[from] lssg_scenario::Error),
    /// A robustness protocol setting is out of range (docs/method.md §6.1); `key` is relative to
    /// `[eval.protocols]`.
    #[error("invalid protocol setting: {key} = {value}; expected {expected}")]
    Protocol {
        /// The key (`noisy.snr_db[1]`).
        key: String,
        /// The value given.
        value: String,
        /// What is accepted.
        expected: &'static str,
    },
    /// The failure profile of a protocol is invalid (the key inside names the value).
    #[error("{section}.{source}")]
    ProtocolProfile {
        /// The protocol's section (`expected`).
        section: &'static str,
        /// What is wrong.
        source: lssg_scenario::Error,
    },
    /// A network's outputs held NaN or infinite logits (non-finite weights or inputs).
    #[error("{count} logit(s) of {what} are NaN or infinite: the network's outputs are unusable")]
    NonFiniteLogits {
        /// What was evaluated (`validation`, `evaluation under rgb+nir`).
        what: String,
        /// How many logits.
        count: u64,
    },
    /// State read back from a run directory is not usable (`crate::state_check`).
    #[error(
        "{path}: {field}: {reason}; this state cannot be resumed: start the stage afresh \
         (`--restart-stage <stage>` on lssg run or lssg bench discards it)"
    )]
    InvalidState {
        /// The file.
        path: PathBuf,
        /// The field (`sampler`, `epoch`, `exp_avg/<var>`, …).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A value outside lssg's vocabulary (a task without classes).
    #[error(transparent)]
    Core(#[from] lssg_core::Error),
    /// `guided-adaptive` was asked for without the scoring and smoothing settings it re-scores with.
    #[error("guided-adaptive needs the scoring and smoothing settings (FinetuneFrom::rescoring)")]
    MissingRescoring,
    /// Re-scoring during `guided-adaptive` fine-tuning failed.
    #[error("re-scoring for guided-adaptive: {0}")]
    Scoring(#[from] lssg_scoring::Error),
    /// Smoothing re-scored distortions failed.
    #[error("smoothing re-scored distortions: {0}")]
    Smoothing(#[from] lssg_smoothing::Error),
}

impl Error {
    /// A [`Error::Shape`] from displayable values.
    pub(crate) fn shape(what: impl Into<String>, expected: impl std::fmt::Debug, got: impl std::fmt::Debug) -> Self {
        Self::Shape { what: what.into(), expected: format!("{expected:?}"), got: format!("{got:?}") }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_send_sync_and_name_their_evidence() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Error>();
        let e = Error::NonFiniteLoss { epoch: 3, step: 7, value: f64::NAN };
        let msg = e.to_string();
        assert!(msg.contains("epoch 3") && msg.contains("step 7") && msg.contains("NaN"), "{msg}");
    }
}
