//! Errors of the core vocabulary: each variant carries the value that was refused and what was
//! expected.

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A value that is not part of the vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A name (`--preference best`, a metric name) is not one of the known ones.
    #[error("invalid {what} {value:?}: expected {expected}")]
    UnknownName {
        /// What was being named (`preference`, `metric`, …).
        what: &'static str,
        /// The text given.
        value: String,
        /// The accepted names.
        expected: &'static str,
    },
    /// A task with no logit channel, or a multi-class task with fewer than two classes.
    #[error("a task needs 1 logit channel (binary) or at least 2 classes, got {classes}")]
    Task {
        /// The number given.
        classes: usize,
    },
    /// A confusion matrix whose length is not K² for its K ≥ 1 classes.
    #[error("a confusion matrix of {classes} classes needs {expected} counts, got {got}")]
    ConfusionShape {
        /// K.
        classes: usize,
        /// K².
        expected: usize,
        /// The number of counts given.
        got: usize,
    },
}
