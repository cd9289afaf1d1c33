//! Errors of the backbones crate. Every variant carries the evidence: the field, value, file or
//! shape at fault and what was expected. Add variants with targeted edits, grouped by banner.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong configuring, building, running or (de)serialising a backbone.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // ---- configuration, shapes and libtorch extensions ----
    /// A configuration field outside its domain, an unknown name, an unsupported combination or a
    /// tensor of the wrong shape (built by the shorthands below), or a device, precision or
    /// transfer error of lssg-torch. The evidence types are lssg-torch's, shared by both crates.
    #[error(transparent)]
    TorchExt(#[from] lssg_torch::Error),

    /// A tile side below what the network takes ([`crate::ArchitectureConfig::check_tile`]).
    #[error("{key} = {tile} is too small for {backbone} ({preset}): at least {minimum} ({reason})")]
    TileTooSmall {
        /// The key or flag that sets the tile side (`data.reader.tile_size`, `--tile`).
        key: String,
        /// Its value.
        tile: usize,
        /// The backbone.
        backbone: crate::BackboneKind,
        /// Its preset.
        preset: crate::Preset,
        /// The smallest tile side accepted.
        minimum: usize,
        /// Why.
        reason: String,
    },

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
    /// Tensors of a checkpoint hold NaN or infinite values: a network with them computes
    /// nothing meaningful (an all-NaN network still names a class for every pixel).
    #[error("{file}: {} tensor(s) hold NaN or infinite values: {tensors:?}; the weights are unusable", tensors.len())]
    NonFiniteCheckpoint {
        /// The checkpoint file.
        file: PathBuf,
        /// The names of the tensors with non-finite values.
        tensors: Vec<String>,
    },
}

fn fmt_misshaped(m: &[(String, Vec<i64>, Vec<i64>)]) -> String {
    let parts: Vec<String> = m.iter().map(|(n, want, got)| format!("{n} (model {want:?}, file {got:?})")).collect();
    format!("[{}]", parts.join(", "))
}

impl Error {
    /// A configuration field with a value outside its domain ([`lssg_torch::Error::InvalidConfig`]).
    pub fn invalid(field: &'static str, value: impl std::fmt::Display, expected: impl Into<String>) -> Self {
        lssg_torch::Error::invalid(field, value, expected).into()
    }

    /// A name (backbone, preset) that could not be parsed ([`lssg_torch::Error::UnknownName`]).
    pub fn unknown(what: &'static str, value: impl Into<String>, expected: impl Into<String>) -> Self {
        lssg_torch::Error::UnknownName { what, value: value.into(), expected: expected.into() }.into()
    }

    /// A combination not available in this build ([`lssg_torch::Error::Unsupported`]).
    pub fn unsupported(what: impl Into<String>, reason: impl Into<String>) -> Self {
        lssg_torch::Error::Unsupported { what: what.into(), reason: reason.into() }.into()
    }

    /// A tensor given to a model with the wrong shape, kind or device ([`lssg_torch::Error::Shape`]).
    pub fn shape(what: impl Into<String>, expected: impl Into<String>, got: impl Into<String>) -> Self {
        lssg_torch::Error::Shape { what: what.into(), expected: expected.into(), got: got.into() }.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_send_sync_and_the_shorthands_keep_the_messages() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Error>();
        assert_eq!(
            Error::invalid("classes", 0, "an integer ≥ 1").to_string(),
            "invalid classes = 0: expected an integer ≥ 1"
        );
        assert_eq!(
            Error::unknown("preset", "huge", "paper, small, tiny").to_string(),
            "unknown preset \"huge\": expected one of paper, small, tiny"
        );
        assert_eq!(Error::unsupported("fp8", "no kernel").to_string(), "fp8 is not supported: no kernel");
        let e = Error::shape("inputs[0]", "[B, C, H, W]", "[2, 3]");
        assert_eq!(e.to_string(), "inputs[0]: expected [B, C, H, W], got [2, 3]");
        assert!(matches!(e, Error::TorchExt(lssg_torch::Error::Shape { .. })));
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
