//! Errors of the orchestration library.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything the pipeline can fail with; the crates' own errors are wrapped unchanged.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The config file is malformed or has unknown keys or bad values.
    #[error("{file}: {message}")]
    Config {
        /// The config file.
        file: String,
        /// The parser's or validator's message.
        message: String,
    },
    /// A setting is out of range (`lssg model bench`'s sizes and counts).
    #[error("invalid configuration: {field} = {value}; expected {expected}")]
    InvalidConfig {
        /// The setting, dotted (`bench.steps`).
        field: &'static str,
        /// The value given.
        value: String,
        /// What is allowed.
        expected: &'static str,
    },
    /// A data-parallel launch failed: bad launcher variables, the group could not be joined, or
    /// ranks failed (docs/distributed.md §3).
    #[error("data-parallel launch: {0}")]
    Launch(String),
    /// A `--set` override is malformed.
    #[error("--set {assignment:?}: {message}")]
    Override {
        /// The override as given.
        assignment: String,
        /// What was expected.
        message: String,
    },
    /// The run directory was made by a different config.
    #[error(
        "{dir}: this run directory was made with a different config (differences: {differences}); use another --out, or delete it to start over"
    )]
    ConfigChanged {
        /// The run directory.
        dir: PathBuf,
        /// The sections that differ.
        differences: String,
    },
    /// An I/O operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A JSON file could not be read or written.
    #[error("{path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The serde error.
        source: serde_json::Error,
    },
    /// The evaluations of two methods cover different scenarios (an eval file from another run
    /// or config).
    #[error(
        "the evaluation of {method} covers scenarios {got:?}, the others {expected:?}; delete its eval file to redo it"
    )]
    ScenariosDiffer {
        /// The method whose evaluation differs.
        method: String,
        /// The scenarios of the first method.
        expected: Vec<String>,
        /// This method's scenarios.
        got: Vec<String>,
    },
    /// The evaluations of two methods are of different tasks (an eval file from another data
    /// set).
    #[error(
        "the evaluation of {method} is of a {got} task, the others of a {expected} one; delete its eval file to redo it"
    )]
    TasksDiffer {
        /// The method whose evaluation differs.
        method: String,
        /// The task of the first method.
        expected: lssg_core::Task,
        /// This method's task.
        got: lssg_core::Task,
    },
    /// There is no evaluation to tabulate.
    #[error("no evaluation to tabulate: evaluate the pretrained network or at least one method")]
    NoEvaluations,
    /// A bench grid cannot be run as asked (a cell index, a failed cell, a process).
    #[error("bench: {0}")]
    Bench(String),
    /// The model to use cannot be resolved or used (an unknown method, missing or unfinished
    /// weights, an export that failed).
    #[error("{0}")]
    Model(String),
    /// `--restart-stage` names no stage of this run or cell.
    #[error("--restart-stage {stage}: {reason}")]
    RestartStage {
        /// The argument.
        stage: String,
        /// Why it names no stage here.
        reason: String,
    },
    /// Scenario error.
    #[error(transparent)]
    Scenario(#[from] lssg_scenario::Error),
    /// A file of a real data set is missing.
    #[error(
        "the data set is not where the config points (download it as configs/README.md says, then set LSSG_DATA to the folder holding dstl/, potsdam/ and hunan/, or pass --set data.reader.root=DIR)"
    )]
    DataMissing {
        /// The reader's error naming the missing file.
        source: lssg_datasets::Error,
    },
    /// Data error.
    #[error(transparent)]
    Data(#[from] lssg_datasets::Error),
    /// Model error.
    #[error(transparent)]
    Backbone(#[from] lssg_backbones::Error),
    /// Device or precision error.
    #[error(transparent)]
    TorchExt(#[from] lssg_torch::Error),
    /// Scoring error.
    #[error(transparent)]
    Scoring(#[from] lssg_scoring::Error),
    /// Smoothing error.
    #[error(transparent)]
    Smoothing(#[from] lssg_smoothing::Error),
    /// Training or evaluation error.
    #[error(transparent)]
    Trainer(#[from] lssg_trainer::Error),
    /// A libtorch operation failed.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// `lssg predict` failed (input, model or output).
    #[cfg(feature = "predict")]
    #[error(transparent)]
    Predict(#[from] lssg_predict::Error),
}
