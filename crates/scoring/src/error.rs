//! Errors of the scoring crate.

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while measuring latent distortion.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The data set has no tiles to score on.
    #[error("cannot score on an empty data set (split {split:?})")]
    EmptyDataset {
        /// Which split.
        split: String,
    },
    /// A configuration value is out of range.
    #[error("invalid scoring config: {field} = {value}: {expected}")]
    Config {
        /// The field.
        field: String,
        /// Its value.
        value: String,
        /// What is expected.
        expected: String,
    },
    /// The model's modality count disagrees with the data set's.
    #[error("the data set has {data} modalities but the availability rows have {model}")]
    ModalityMismatch {
        /// Modalities of the data set.
        data: usize,
        /// Modalities the scorer was set up for.
        model: usize,
    },
    /// A distortion came out NaN or infinite (a diverged model).
    #[error("distortion of scenario {scenario} is {value} after {samples} samples: the model's latent is not finite")]
    NonFinite {
        /// Scenario name.
        scenario: String,
        /// The value.
        value: f64,
        /// Samples seen.
        samples: usize,
    },
    /// Loading a batch failed.
    #[error(transparent)]
    Data(#[from] lssg_datasets::Error),
    /// The model rejected a batch (inputs that do not fit the channels it was built for).
    #[error(transparent)]
    Backbone(#[from] lssg_backbones::Error),
    /// Smoothing the scores failed.
    #[error(transparent)]
    Smoothing(#[from] lssg_smoothing::Error),
    /// A libtorch operation failed.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// Combining a data-parallel scoring's shares failed (a rank left or timed out).
    #[error(transparent)]
    Distributed(#[from] lssg_torch::Error),
}
