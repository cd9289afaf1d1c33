//! Errors of the scenario crate: each variant carries the value that was wrong and what was expected.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong when describing modalities, scenarios and probabilities.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // ---- modality sets ----
    /// The number of modalities is outside 1..=8.
    #[error("a modality set needs 1 to {max} modalities, got {got}")]
    ModalityCount {
        /// How many were given.
        got: usize,
        /// The largest supported number.
        max: usize,
    },
    /// A modality name is empty or contains a character reserved by scenario names.
    #[error(
        "invalid modality name {name:?}: names must be non-empty and use letters, digits, '_' or '-' (not '+' or ',')"
    )]
    ModalityName {
        /// The offending name.
        name: String,
    },
    /// Two modalities share a name.
    #[error("duplicate modality name {name:?}")]
    DuplicateModality {
        /// The repeated name.
        name: String,
    },
    /// A modality has zero channels.
    #[error("modality {name:?} must have at least one channel")]
    ZeroChannels {
        /// The modality.
        name: String,
    },

    // ---- scenarios ----
    /// A scenario string names a modality that is not in the set.
    #[error("unknown modality {name:?} in scenario {scenario:?}; known: {known}")]
    UnknownModality {
        /// The unknown name.
        name: String,
        /// The whole scenario string.
        scenario: String,
        /// The known names, comma separated.
        known: String,
    },
    /// A scenario string or index does not denote a scenario of the set.
    #[error("invalid scenario {scenario:?}: {reason}")]
    InvalidScenario {
        /// What was given.
        scenario: String,
        /// Why it was rejected.
        reason: String,
    },

    /// A scenario's mask names modalities the set does not have (it was built for a larger
    /// set).
    #[error("scenario mask {mask:#b} is not a scenario of the {count} modalities ({modalities})")]
    ScenarioNotInSet {
        /// The scenario's bitmask.
        mask: u8,
        /// The set's modality names, comma separated.
        modalities: String,
        /// The number of modalities of the set.
        count: usize,
    },

    // ---- failure profiles ----
    /// A failure probability is not finite or outside its range.
    #[error("{key} = {value} is not {expected}")]
    FailureProbability {
        /// The configuration key (`p[1]`, `profile.rgb`).
        key: String,
        /// The value.
        value: f64,
        /// What was expected.
        expected: &'static str,
    },
    /// Every modality of a profile fails with probability 1: no scenario has a working sensor.
    #[error("{key}: every modality fails with probability 1, so no scenario can occur; lower at least one")]
    EveryModalityFails {
        /// The configuration key.
        key: String,
    },
    /// A failure profile names a modality the data set does not have.
    #[error("{key}: unknown modality {name:?}; known: {known}")]
    ProfileUnknownModality {
        /// The configuration key (`profile.lidar`).
        key: String,
        /// The unknown name.
        name: String,
        /// The known names, comma separated.
        known: String,
    },
    /// A failure profile leaves out a modality of the data set.
    #[error(
        "{key}: no failure probability for modality {name:?}; give every modality one (0 for a sensor that never fails)"
    )]
    ProfileMissingModality {
        /// The configuration key (`profile`).
        key: String,
        /// The modality left out.
        name: String,
    },

    /// A robustness protocol name lssg does not know.
    #[error("unknown robustness protocol {name:?}; known: expected, random-missing, noisy")]
    UnknownProtocol {
        /// The name given.
        name: String,
    },

    // ---- distributions and files ----
    /// A vector has the wrong number of entries.
    #[error("{what}: expected {expected} values, got {got}")]
    WrongLength {
        /// Which vector.
        what: String,
        /// The expected length.
        expected: usize,
        /// The length found.
        got: usize,
    },
    /// A probability is negative, NaN or infinite.
    #[error("{what}[{index}] = {value} is not a finite, non-negative probability")]
    BadProbability {
        /// Which vector.
        what: String,
        /// Its index.
        index: usize,
        /// The value.
        value: f64,
    },
    /// Probabilities do not sum to one.
    #[error("{what} sums to {sum}, expected 1 ± {tolerance}")]
    NotNormalised {
        /// Which vector.
        what: String,
        /// The sum found.
        sum: f64,
        /// The tolerance.
        tolerance: f64,
    },
    /// A probabilities file disagrees with itself or with the modality set.
    #[error("{file}: {reason}")]
    Inconsistent {
        /// The file (or a description of the source).
        file: String,
        /// What disagrees.
        reason: String,
    },
    /// A probabilities file could not be read as one: it lacks a key or names an option this
    /// lssg does not know. Such a file is never guessed at; scoring again writes a good one.
    #[error(
        "{path}: not a probabilities file this lssg can read ({source}); score again to rewrite it \
         (delete the file and re-run the scoring stage: `lssg run` or `lssg score`)"
    )]
    ProbabilitiesFile {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        source: serde_json::Error,
    },
    /// A JSON file could not be parsed.
    #[error("{path}: invalid JSON: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        source: serde_json::Error,
    },
    /// An I/O operation on a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}
