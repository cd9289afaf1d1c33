//! Errors of the smoothing crate: each variant carries the offending value, where it was found
//! and what was expected.

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong when turning distortion scores into a distribution.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // ---- input scores ----
    /// No distortion scores were given.
    #[error("no distortion scores given: expected 2^M - 1 values, one per scenario")]
    Empty,
    /// The number of scores is not the number of scenarios of the modality set.
    #[error(
        "expected {expected} distortion scores (2^{modalities} - 1 scenarios for {modalities} modalities), got {got}"
    )]
    WrongLength {
        /// 2^M − 1.
        expected: usize,
        /// The number of scores given.
        got: usize,
        /// M.
        modalities: usize,
    },
    /// A number of scores that is not 2^M − 1 for any M in 1..=8, so no modality set fits.
    #[error(
        "got {got} distortion scores: the count must be 2^M - 1 for M = 1..=8 modalities \
         (1, 3, 7, 15, 31, 63, 127 or 255)"
    )]
    ScenarioCount {
        /// The number of scores given.
        got: usize,
    },
    /// A score is NaN or infinite.
    #[error("distortion score {index} ({scenario}) is {value}: scores must be finite")]
    NonFinite {
        /// Canonical scenario index.
        index: usize,
        /// The scenario's name.
        scenario: String,
        /// The value found.
        value: f64,
    },
    /// A score is negative (a mean squared error never is).
    #[error("distortion score {index} ({scenario}) is {value}: scores are mean squared errors and must be >= 0")]
    Negative {
        /// Canonical scenario index.
        index: usize,
        /// The scenario's name.
        scenario: String,
        /// The value found.
        value: f64,
    },

    // ---- configuration ----
    /// A configuration value is out of its range.
    #[error("invalid smoothing config: {field} = {value}, expected {expected}")]
    InvalidConfig {
        /// The field (`lambda`, `rbf_sigma`, …).
        field: &'static str,
        /// The value given.
        value: f64,
        /// The valid range, in words.
        expected: &'static str,
    },
    /// A configuration string (`--preference`, `--descriptor`, `--sigma`) is not recognised.
    #[error("invalid {field} {value:?}: expected {expected}")]
    UnknownOption {
        /// Which option.
        field: &'static str,
        /// The text given.
        value: String,
        /// The accepted values.
        expected: &'static str,
    },

    // ---- linear algebra ----
    /// K + λI is singular or too badly conditioned to solve in float64.
    #[error(
        "the {size}x{size} system K + lambda*I (lambda = {lambda}) is singular to float64 precision \
         (reciprocal condition number {rcond:e}); use a larger lambda"
    )]
    Singular {
        /// S.
        size: usize,
        /// The ridge λ.
        lambda: f64,
        /// LAPACK's estimate of the reciprocal 1-norm condition number (0 for an exact zero pivot).
        rcond: f64,
    },
    /// The helper thread for a large solve could not be started.
    #[error("could not start the kernel solver thread: {source}")]
    SolverThread {
        /// The OS error.
        source: std::io::Error,
    },
    /// The scores are finite but so large that an intermediate quantity overflows float64.
    #[error(
        "the distortion scores overflow float64 in the {what} (largest score {max:e}); rescale them \
         (e.g. divide by their maximum) or lower alpha"
    )]
    Overflow {
        /// Which intermediate quantity (`utility`, `kernel scores`, …).
        what: &'static str,
        /// The largest score given.
        max: f64,
    },
    /// The modality set could not be built.
    #[error(transparent)]
    Scenario(#[from] lssg_scenario::Error),
    /// LAPACK failed for another reason.
    #[error("linear algebra failure in the kernel solve: {0}")]
    Linalg(#[from] ndarray_linalg::error::LinalgError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_send_and_sync() {
        fn check<T: Send + Sync + 'static>() {}
        check::<Error>();
    }
}
