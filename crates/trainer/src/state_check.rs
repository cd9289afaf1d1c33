//! Checks of the state a training run reads back from its directory before it uses it
//! (`state.json`, and the state of any sampling method or loss that carries some between
//! epochs): indices in range, weights finite, non-negative and normalisable, epochs within the
//! schedule. A value that fails is an [`Error::InvalidState`] naming the file and the field;
//! its message says how to start the stage afresh. Nothing read back is used unchecked, so a
//! damaged or hand-edited file is refused instead of silently steering the training (or
//! panicking when a sampler draws from an empty list).
//!
//! A method with state of its own implements [`ValidateState`] with the checks of [`StateFile`]:
//!
//! ```
//! use std::path::Path;
//! use lssg_trainer::state_check::{StateFile, ValidateState};
//!
//! struct GroupWeights { q: Vec<f64>, epoch: usize }
//!
//! impl ValidateState for GroupWeights {
//!     fn validate_state(&self, file: &StateFile<'_>) -> lssg_trainer::Result<()> {
//!         file.weights("dro.q", &self.q, 7)?;
//!         file.epoch("dro.epoch", self.epoch, 10)
//!     }
//! }
//!
//! let file = StateFile::new(Path::new("run/finetune/dro/checkpoint/state.json"));
//! assert!(GroupWeights { q: vec![1.0; 7], epoch: 3 }.validate_state(&file).is_ok());
//! let e = GroupWeights { q: vec![-1.0; 7], epoch: 3 }.validate_state(&file).unwrap_err();
//! assert!(e.to_string().contains("dro.q[0]"));
//! ```

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// State read back from a file and checked before use.
pub trait ValidateState {
    /// Checks every field against what the run expects; `file` names the source in errors.
    fn validate_state(&self, file: &StateFile<'_>) -> Result<()>;
}

/// The file state was read from, with the checks that name it and the field in their errors.
#[derive(Debug, Clone, Copy)]
pub struct StateFile<'a> {
    path: &'a Path,
}

impl<'a> StateFile<'a> {
    /// Checks of state read from `path`.
    pub fn new(path: &'a Path) -> Self {
        Self { path }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        self.path
    }

    /// The error for `field` of this file: `reason` says what is wrong with it.
    pub fn invalid(&self, field: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::InvalidState { path: PathBuf::from(self.path), field: field.into(), reason: reason.into() }
    }

    /// `value` is a finite number.
    pub fn finite(&self, field: &str, value: f64) -> Result<()> {
        if value.is_finite() { Ok(()) } else { Err(self.invalid(field, format!("{value} is not a finite number"))) }
    }

    /// `weights` are `len` finite, non-negative numbers with a positive, finite sum (so they can
    /// be normalised into a distribution).
    pub fn weights(&self, field: &str, weights: &[f64], len: usize) -> Result<()> {
        if weights.len() != len {
            return Err(self.invalid(field, format!("{} values, expected {len}", weights.len())));
        }
        if let Some((i, w)) = weights.iter().enumerate().find(|(_, w)| !(w.is_finite() && **w >= 0.0)) {
            return Err(self.invalid(format!("{field}[{i}]"), format!("{w} is not a finite, non-negative weight")));
        }
        let sum: f64 = weights.iter().sum();
        if !(sum.is_finite() && sum > 0.0) {
            return Err(self.invalid(field, format!("the weights sum to {sum}: they cannot be normalised")));
        }
        Ok(())
    }

    /// `epoch` (finished epochs) lies within a schedule of `epochs` epochs.
    pub fn epoch(&self, field: &str, epoch: usize, epochs: usize) -> Result<()> {
        if epoch <= epochs {
            Ok(())
        } else {
            Err(self.invalid(field, format!("epoch {epoch} is past the end of the schedule ({epochs} epochs)")))
        }
    }

    /// `index` addresses one of `len` entries.
    pub fn index(&self, field: &str, index: usize, len: usize) -> Result<()> {
        if index < len { Ok(()) } else { Err(self.invalid(field, format!("index {index} is not below {len}"))) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_check_names_the_file_and_field() {
        let file = StateFile::new(Path::new("d/state.json"));
        assert!(file.weights("w", &[0.0, 2.0], 2).is_ok());
        for (bad, field) in [
            (vec![1.0], "w:"),
            (vec![0.0, -1.0], "w[1]"),
            (vec![f64::NAN, 1.0], "w[0]"),
            (vec![1e308, 1e308], "sum to inf"),
            (vec![0.0, 0.0], "sum to 0"),
        ] {
            let e = file.weights("w", &bad, 2).unwrap_err().to_string();
            assert!(e.contains("d/state.json") && e.contains(field) && e.contains("--restart-stage"), "{e}");
        }
        assert!(file.epoch("epoch", 3, 3).is_ok() && file.epoch("epoch", 4, 3).is_err());
        assert!(file.index("i", 0, 1).is_ok() && file.index("i", 1, 1).is_err());
        assert!(file.finite("x", 1.0).is_ok() && file.finite("x", f64::INFINITY).is_err());
    }
}
