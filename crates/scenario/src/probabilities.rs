//! The probabilities file of docs/method.md §4.2: the scenario sampling distribution and everything that
//! produced it, with the reference's key names so files compare one to one.

use std::path::Path;

use lssg_core::{Descriptor, Preference, ScoreKind};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::modality::ModalitySet;

/// Tolerance on the sum of a probability vector.
pub const PROBABILITY_TOLERANCE: f64 = 1e-9;

/// The probabilities file. Field names are the reference's JSON keys; unknown keys written by
/// the reference (`modelType`, `meta_info`, …) are accepted and ignored.
#[allow(non_snake_case)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbabilitiesFile {
    /// Scenario names in canonical order.
    pub scenario_names: Vec<String>,
    /// S × M availability rows (0/1; the reference writes floats).
    pub mask_array: Vec<Vec<f64>>,
    /// Utility scale: U = α·D.
    pub alpha: f64,
    /// Softmax temperature factor τ.
    pub tau: f64,
    /// Weight γ of the softmax against the uniform floor.
    pub gamma_floor: f64,
    /// Ridge λ of the kernel solve.
    pub lambda: f64,
    /// RBF bandwidth σ actually used.
    pub rbf_sigma: f64,
    /// Mean latent distortion D_k per scenario.
    pub D_sh: Vec<f64>,
    /// Utility U_k.
    pub U: Vec<f64>,
    /// Kernel descriptors, one row per scenario (S × 1 for the reference's scores).
    pub scenario_features_X: Vec<Vec<f64>>,
    /// The S × S kernel matrix.
    pub kernel_matrix: Vec<Vec<f64>>,
    /// Smoothed scores r.
    pub kernel_scores_r: Vec<f64>,
    /// z-scored r.
    pub normalized_kernel_scores: Vec<f64>,
    /// softmax(τ z).
    pub softmax_probs: Vec<f64>,
    /// The sampling distribution.
    pub final_probs: Vec<f64>,
    /// The latent the distortions were measured at.
    #[serde(default)]
    pub hook_point: String,
    /// The backbone that was scored.
    #[serde(default)]
    pub backbone: String,
    /// The checkpoint that was scored.
    #[serde(default)]
    pub checkpoint: String,
    /// Number of training samples the distortions average over.
    #[serde(default)]
    pub num_samples: usize,
    /// [ours] `distorted-first` (reference) or `faithful-first`; absent in the reference's
    /// files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preference: Option<Preference>,
    /// [ours] `scores` (reference) or `masks`; absent in the reference's files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub descriptor: Option<Descriptor>,
    /// [ours] The score smoothed: absent for the latent distortion (as in the reference's
    /// files), `task` for the task-loss increase (docs/method.md §3.4).
    #[serde(default, skip_serializing_if = "ScoreKind::is_latent")]
    pub score: ScoreKind,
    /// [ours] 95 % bootstrap interval of each `D_sh` entry, `[lower, upper]` (docs/method.md §3.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub D_sh_interval: Option<[Vec<f64>; 2]>,
    /// [ours] The interval of each `final_probs` entry under the same resamples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_probs_interval: Option<[Vec<f64>; 2]>,
    /// [ours] The resamples those intervals come from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_resamples: Option<usize>,
}

/// Checks that `p` has `expected` finite, non-negative entries summing to 1 ± `tolerance`.
pub fn validate_distribution(what: &str, p: &[f64], expected: usize, tolerance: f64) -> Result<()> {
    if p.len() != expected {
        return Err(Error::WrongLength { what: what.to_string(), expected, got: p.len() });
    }
    if let Some((index, &value)) = p.iter().enumerate().find(|(_, v)| !v.is_finite() || **v < 0.0) {
        return Err(Error::BadProbability { what: what.to_string(), index, value });
    }
    let sum: f64 = p.iter().sum();
    if (sum - 1.0).abs() > tolerance {
        return Err(Error::NotNormalised { what: what.to_string(), sum, tolerance });
    }
    Ok(())
}

impl ProbabilitiesFile {
    /// Reads and validates a file (see [`validate`](Self::validate)). A file that does not
    /// parse as one (a missing key, an option name this lssg does not know) is refused with
    /// [`Error::ProbabilitiesFile`], which says to score again.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        let file: Self = serde_json::from_str(&text)
            .map_err(|source| Error::ProbabilitiesFile { path: path.to_path_buf(), source })?;
        file.validate(&path.display().to_string())?;
        Ok(file)
    }

    /// Writes the file atomically (temp file + rename), pretty-printed.
    pub fn write(&self, path: &Path) -> Result<()> {
        let json =
            serde_json::to_string_pretty(self).map_err(|source| Error::Json { path: path.to_path_buf(), source })?;
        write_atomic(path, json.as_bytes())
    }

    /// Internal consistency: every per-scenario vector has S entries, mask rows agree in
    /// width, and `final_probs` is a distribution. `source` names the file in errors.
    pub fn validate(&self, source: &str) -> Result<()> {
        let s = self.scenario_names.len();
        if s == 0 {
            return Err(Error::Inconsistent { file: source.to_string(), reason: "scenario_names is empty".into() });
        }
        let vectors: [(&str, usize); 8] = [
            ("mask_array", self.mask_array.len()),
            ("D_sh", self.D_sh.len()),
            ("U", self.U.len()),
            ("scenario_features_X", self.scenario_features_X.len()),
            ("kernel_matrix", self.kernel_matrix.len()),
            ("kernel_scores_r", self.kernel_scores_r.len()),
            ("normalized_kernel_scores", self.normalized_kernel_scores.len()),
            ("softmax_probs", self.softmax_probs.len()),
        ];
        for (what, got) in vectors {
            if got != s {
                return Err(Error::Inconsistent {
                    file: source.to_string(),
                    reason: format!("{what} has {got} entries but scenario_names has {s}"),
                });
            }
        }
        let m = self.mask_array[0].len();
        if (1usize << m) - 1 != s || self.mask_array.iter().any(|r| r.len() != m) {
            return Err(Error::Inconsistent {
                file: source.to_string(),
                reason: format!("mask_array must be {s} rows of M columns with 2^M - 1 = {s}"),
            });
        }
        validate_distribution(&format!("{source}: final_probs"), &self.final_probs, s, PROBABILITY_TOLERANCE)
    }

    /// The probabilities in `set`'s canonical order, after checking that the file's scenario
    /// names (case-insensitive) and masks are the set's, in the same order.
    pub fn probabilities_for(&self, set: &ModalitySet, source: &str) -> Result<Vec<f64>> {
        let expected = set.scenario_names();
        if expected.len() != self.scenario_names.len() {
            return Err(Error::Inconsistent {
                file: source.to_string(),
                reason: format!(
                    "{} scenarios in the file, {} for modalities {}",
                    self.scenario_names.len(),
                    expected.len(),
                    set.names().join(",")
                ),
            });
        }
        for (i, (got, want)) in self.scenario_names.iter().zip(&expected).enumerate() {
            if !got.eq_ignore_ascii_case(want) {
                return Err(Error::Inconsistent {
                    file: source.to_string(),
                    reason: format!("scenario {i} is {got:?}, expected {want:?} (canonical order)"),
                });
            }
        }
        for (row, want) in self.mask_array.iter().zip(set.mask_array()) {
            if row.iter().zip(&want).any(|(a, b)| (*a - f64::from(*b)).abs() > 1e-9) {
                return Err(Error::Inconsistent {
                    file: source.to_string(),
                    reason: format!("mask row {row:?} disagrees with {want:?}"),
                });
            }
        }
        Ok(self.final_probs.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn example() -> ProbabilitiesFile {
        let set = ModalitySet::from_names(["rgb", "nir", "swir"], 3).unwrap();
        let s = 7;
        let v = vec![1.0 / 7.0; s];
        ProbabilitiesFile {
            scenario_names: set.scenario_names(),
            mask_array: set.mask_array().into_iter().map(|r| r.into_iter().map(f64::from).collect()).collect(),
            alpha: 1.0,
            tau: 0.5,
            gamma_floor: 0.5,
            lambda: 1e-3,
            rbf_sigma: 1.0,
            D_sh: vec![0.0; s],
            U: vec![0.0; s],
            scenario_features_X: vec![vec![0.0]; s],
            kernel_matrix: vec![vec![1.0; s]; s],
            kernel_scores_r: vec![0.0; s],
            normalized_kernel_scores: vec![0.0; s],
            softmax_probs: v.clone(),
            final_probs: v,
            hook_point: "h".into(),
            backbone: "cmx".into(),
            checkpoint: "c".into(),
            num_samples: 3,
            preference: None,
            descriptor: None,
            score: ScoreKind::Latent,
            D_sh_interval: None,
            final_probs_interval: None,
            bootstrap_resamples: None,
        }
    }

    #[test]
    fn options_are_typed_and_the_latent_score_is_left_out() {
        let mut f = example();
        f.preference = Some(Preference::FaithfulFirst);
        f.descriptor = Some(Descriptor::Masks);
        let json = serde_json::to_value(&f).unwrap();
        assert_eq!((json["preference"].as_str(), json["descriptor"].as_str()), (Some("faithful-first"), Some("masks")));
        assert!(json.get("score").is_none());
        f.score = ScoreKind::Task;
        assert_eq!(serde_json::to_value(&f).unwrap()["score"], "task");
        let back: ProbabilitiesFile = serde_json::from_value(serde_json::to_value(&f).unwrap()).unwrap();
        assert_eq!(back, f);
    }

    #[test]
    fn round_trips_and_validates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        let f = example();
        f.write(&path).unwrap();
        assert_eq!(ProbabilitiesFile::read(&path).unwrap(), f);
        let set = ModalitySet::from_names(["RGB", "NIR", "SWIR"], 3).unwrap();
        assert_eq!(f.probabilities_for(&set, "p.json").unwrap().len(), 7);
        let other = ModalitySet::from_names(["rgb", "sar", "swir"], 3).unwrap();
        assert!(f.probabilities_for(&other, "p.json").is_err());
    }

    #[test]
    fn rejects_bad_files() {
        let mut f = example();
        f.final_probs[0] = 0.5;
        assert!(matches!(f.validate("x"), Err(Error::NotNormalised { .. })));
        let mut f = example();
        f.D_sh.pop();
        assert!(matches!(f.validate("x"), Err(Error::Inconsistent { .. })));
        let mut f = example();
        f.final_probs[1] = f64::NAN;
        assert!(matches!(f.validate("x"), Err(Error::BadProbability { .. })));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.json");
        std::fs::write(&path, "{ not json").unwrap();
        let err = ProbabilitiesFile::read(&path).unwrap_err().to_string();
        assert!(err.contains("bad.json"), "{err}");
        // An option name that no longer exists is refused, never guessed.
        let mut json = serde_json::to_value(example()).unwrap();
        json["preference"] = "closest-first".into();
        std::fs::write(&path, json.to_string()).unwrap();
        let err = ProbabilitiesFile::read(&path).unwrap_err();
        assert!(matches!(err, Error::ProbabilitiesFile { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains("closest-first") && message.contains("score again"), "{message}");
        assert!(matches!(ProbabilitiesFile::read(&dir.path().join("missing.json")), Err(Error::Io { .. })));
    }
}
