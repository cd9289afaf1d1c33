//! Errors of the backbones crate. Every variant carries the evidence: the field, value, file or
//! shape at fault and what was expected. Add variants with targeted edits, grouped by banner.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong configuring, building, running or (de)serialising a backbone.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // ---- configuration ----
    /// A configuration field has a value outside its domain.
    #[error("invalid {field} = {value}: expected {expected}")]
    InvalidConfig {
        /// The field (`channels`, `classes`, `lora.rank`, …).
        field: &'static str,
        /// The offending value, printed.
        value: String,
        /// What was expected.
        expected: String,
    },
    /// A name (backbone, preset) could not be parsed.
    #[error("unknown {what} {value:?}: expected one of {expected}")]
    UnknownName {
        /// What was being parsed (`backbone`, `preset`).
        what: &'static str,
        /// The text given.
        value: String,
        /// The accepted spellings.
        expected: String,
    },
    /// The requested combination is not available in this build.
    #[error("{what} is not supported: {reason}")]
    Unsupported {
        /// What was requested.
        what: String,
        /// Why it is not available.
        reason: String,
    },

    // ---- shapes ----
    /// A tensor given to a model has the wrong shape, kind or device.
    #[error("{what}: expected {expected}, got {got}")]
    Shape {
        /// Which tensor.
        what: String,
        /// The expected shape (or kind/device), printed.
        expected: String,
        /// What was given, printed.
        got: String,
    },

    // ---- libtorch extensions ----
    /// A device, precision or transfer error of lssg-torch.
    #[error(transparent)]
    TorchExt(#[from] lssg_torch::Error),

    // ---- checkpoints ----
    /// An I/O operation on a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// libtorch failed to read or write a tensor file.
    #[error("{path}: {source}")]
    Torch {
        /// The file.
        path: PathBuf,
        /// The libtorch error.
        source: tch::TchError,
    },
    /// A checkpoint does not match the model's variables. Lists every difference, not just the first.
    #[error(
        "{file}: checkpoint does not match the model: {} missing {:?}, {} unexpected {:?}, {} misshaped {}",
        missing.len(), missing, unexpected.len(), unexpected, misshaped.len(), fmt_misshaped(misshaped)
    )]
    CheckpointMismatch {
        /// The checkpoint file.
        file: PathBuf,
        /// Model variables absent from the file.
        missing: Vec<String>,
        /// File tensors the model does not have.
        unexpected: Vec<String>,
        /// `(name, model shape, file shape)` of tensors present in both with different shapes.
        misshaped: Vec<(String, Vec<i64>, Vec<i64>)>,
    },
}

fn fmt_misshaped(m: &[(String, Vec<i64>, Vec<i64>)]) -> String {
    let parts: Vec<String> = m.iter().map(|(n, want, got)| format!("{n} (model {want:?}, file {got:?})")).collect();
    format!("[{}]", parts.join(", "))
}

impl Error {
    /// Shorthand for [`Error::InvalidConfig`].
    pub fn invalid(field: &'static str, value: impl std::fmt::Display, expected: impl Into<String>) -> Self {
        Error::InvalidConfig { field, value: value.to_string(), expected: expected.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Error>();
    }

    #[test]
    fn mismatch_lists_everything() {
        let e = Error::CheckpointMismatch {
            file: "m.safetensors".into(),
            missing: vec!["a.weight".into(), "b.weight".into()],
            unexpected: vec!["c".into()],
            misshaped: vec![("d".into(), vec![2, 3], vec![3, 2])],
        };
        let s = e.to_string();
        for needle in ["a.weight", "b.weight", "\"c\"", "d (model [2, 3], file [3, 2])", "2 missing"] {
            assert!(s.contains(needle), "{needle} not in {s}");
        }
    }
}
