//! The whole docs/method.md §4 computation: validated distortion scores D `[S]` (canonical scenario
//! order) → U = αD → descriptors X `[S, 1 | M]` → kernel K `[S, S]` → r `[S]` → z → softmax
//! → p `[S]`, keeping every intermediate for the probabilities file.

use lssg_core::{Preference, ScoreKind};
use lssg_scenario::{MAX_MODALITIES, ModalitySet, ProbabilitiesFile};
use ndarray::{Array1, Array2, ArrayView1};

use crate::config::SmoothingConfig;
use crate::distribution::{floor_mix, softmax, z_scores};
use crate::error::{Error, Result};
use crate::kernel::{descriptors, kernel_scores, rbf_kernel, resolve_sigma, squared_distances};

/// Every intermediate of one smoothing, all in canonical scenario order.
#[derive(Debug, Clone, PartialEq)]
pub struct Smoothed {
    /// D, `[S]`: the input distortion scores.
    pub distortion: Vec<f64>,
    /// U = αD, `[S]`.
    pub utility: Vec<f64>,
    /// X, `[S, 1]` (scores) or `[S, M]` (masks).
    pub descriptors: Array2<f64>,
    /// The σ actually used (the fixed value or the median heuristic's).
    pub sigma: f64,
    /// K, `[S, S]`.
    pub kernel: Array2<f64>,
    /// r = K (K + λI)⁻¹ U, `[S]`.
    pub scores: Vec<f64>,
    /// z-scored r, `[S]` (negated for faithful-first).
    pub normalized: Vec<f64>,
    /// softmax(τ z), `[S]`.
    pub softmax: Vec<f64>,
    /// The sampling distribution p, `[S]`.
    pub probabilities: Vec<f64>,
}

/// The largest score (and α × score) [`smooth`] accepts: far above any mean squared error, far
/// below where squaring overflows float64.
pub const MAX_SCORE: f64 = 1e150;

/// Checks D: non-empty, 2^M − 1 values for `set`, each finite and ≥ 0.
pub fn validate_distortion(distortion: &[f64], set: &ModalitySet) -> Result<()> {
    if distortion.is_empty() {
        return Err(Error::Empty);
    }
    let expected = set.num_scenarios();
    if distortion.len() != expected {
        return Err(Error::WrongLength { expected, got: distortion.len(), modalities: set.len() });
    }
    let bad = distortion.iter().enumerate().find(|(_, v)| !v.is_finite() || **v < 0.0);
    if let Some((index, &value)) = bad {
        let scenario = set.scenario_names().swap_remove(index);
        return Err(if value.is_finite() {
            Error::Negative { index, scenario, value }
        } else {
            Error::NonFinite { index, scenario, value }
        });
    }
    Ok(())
}

/// The default modality set `m0, m1, …` for `count` scores: M with 2^M − 1 = `count`.
///
/// # Errors
/// [`Error::Empty`] for 0, [`Error::ScenarioCount`] when `count` is not 2^M − 1 for M ≤ 8.
pub fn modalities_for_count(count: usize) -> Result<ModalitySet> {
    if count == 0 {
        return Err(Error::Empty);
    }
    let m = (count + 1).trailing_zeros() as usize;
    if !(count + 1).is_power_of_two() || m > MAX_MODALITIES {
        return Err(Error::ScenarioCount { got: count });
    }
    Ok(ModalitySet::numbered(m)?)
}

/// Smooths `distortion` (canonical order of `set`) into a sampling distribution (docs/method.md §4).
///
/// ```
/// use lssg_scenario::ModalitySet;
/// use lssg_smoothing::{SmoothingConfig, smooth};
/// let set = ModalitySet::from_names(["rgb", "nir", "swir"], 3).unwrap();
/// let d = [0.8, 1.2, 1.5, 0.3, 0.4, 0.6, 0.0];
/// let out = smooth(&d, &set, &SmoothingConfig::default()).unwrap();
/// assert!((out.probabilities[2] - 0.215648).abs() < 1e-6);
/// ```
///
/// # Errors
/// Invalid input ([`validate_distortion`]), an invalid config
/// ([`SmoothingConfig::validate`]), a singular solve ([`Error::Singular`]) or scores so large
/// that a step overflows ([`Error::Overflow`]): the result is always a finite distribution.
pub fn smooth(distortion: &[f64], set: &ModalitySet, config: &SmoothingConfig) -> Result<Smoothed> {
    config.validate()?;
    validate_distortion(distortion, set)?;
    let d = ArrayView1::from(distortion);
    let utility: Array1<f64> = d.mapv(|v| config.alpha * v); // [S]
    // Squared distances and variances square the scores: beyond √f64::MAX / 255 they overflow
    // (or cancel into a silently uniform distribution), long before a score becomes infinite.
    let max = distortion.iter().copied().fold(0.0, f64::max);
    if let Some(what) = [("distortion scores", max), ("utility", config.alpha * max)]
        .into_iter()
        .find_map(|(what, v)| (v > MAX_SCORE).then_some(what))
    {
        return Err(Error::Overflow { what, max });
    }
    let x = descriptors(d, set, config.descriptor); // [S, 1 | M]
    let sq = squared_distances(x.view()); // [S, S]
    let sigma = resolve_sigma(config.sigma, sq.view());
    let kernel = rbf_kernel(sq.view(), sigma); // [S, S]
    let r = kernel_scores(kernel.view(), utility.view(), config.lambda)?; // [S]
    let mut z = z_scores(r.view());
    if config.preference == Preference::FaithfulFirst {
        z.mapv_inplace(|v| -v);
    }
    let s = softmax(z.view(), config.tau);
    let p = floor_mix(s.view(), config.gamma);
    for (what, values) in
        [("utility", utility.view()), ("kernel scores", r.view()), ("z-scores", z.view()), ("probabilities", p.view())]
    {
        if values.iter().any(|v| !v.is_finite()) {
            return Err(Error::Overflow { what, max });
        }
    }
    Ok(Smoothed {
        distortion: distortion.to_vec(),
        utility: utility.to_vec(),
        descriptors: x,
        sigma,
        kernel,
        scores: r.to_vec(),
        normalized: z.to_vec(),
        softmax: s.to_vec(),
        probabilities: p.to_vec(),
    })
}

fn rows(a: &Array2<f64>) -> Vec<Vec<f64>> {
    a.rows().into_iter().map(|r| r.to_vec()).collect()
}

impl Smoothed {
    /// The probabilities file of docs/method.md §4.2 (the reference's keys), recording `config`, the σ
    /// used and where the distortions came from.
    pub fn to_probabilities_file(
        &self,
        set: &ModalitySet,
        config: &SmoothingConfig,
        hook_point: &str,
        backbone: &str,
        checkpoint: &str,
        num_samples: usize,
    ) -> ProbabilitiesFile {
        ProbabilitiesFile {
            scenario_names: set.scenario_names(),
            mask_array: set.mask_array().into_iter().map(|r| r.into_iter().map(f64::from).collect()).collect(),
            alpha: config.alpha,
            tau: config.tau,
            gamma_floor: config.gamma,
            lambda: config.lambda,
            rbf_sigma: self.sigma,
            D_sh: self.distortion.clone(),
            U: self.utility.clone(),
            scenario_features_X: rows(&self.descriptors),
            kernel_matrix: rows(&self.kernel),
            kernel_scores_r: self.scores.clone(),
            normalized_kernel_scores: self.normalized.clone(),
            softmax_probs: self.softmax.clone(),
            final_probs: self.probabilities.clone(),
            hook_point: hook_point.to_string(),
            backbone: backbone.to_string(),
            checkpoint: checkpoint.to_string(),
            num_samples,
            preference: Some(config.preference),
            descriptor: Some(config.descriptor),
            score: ScoreKind::Latent,
            D_sh_interval: None,
            final_probs_interval: None,
            bootstrap_resamples: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rns() -> ModalitySet {
        ModalitySet::from_names(["rgb", "nir", "swir"], 3).unwrap()
    }

    #[test]
    fn validation_names_index_scenario_and_value() {
        let set = rns();
        let mut d = vec![0.8, 1.2, 1.5, 0.3, 0.4, 0.6, 0.0];
        d[4] = -0.5;
        match validate_distortion(&d, &set) {
            Err(Error::Negative { index: 4, scenario, value }) => {
                assert_eq!((scenario.as_str(), value), ("rgb+swir", -0.5))
            }
            other => panic!("{other:?}"),
        }
        d[4] = f64::NAN;
        let err = validate_distortion(&d, &set).unwrap_err();
        assert!(matches!(err, Error::NonFinite { index: 4, .. }), "{err:?}");
        assert!(err.to_string().contains("rgb+swir") && err.to_string().contains("NaN"), "{err}");
        d[4] = f64::NEG_INFINITY;
        assert!(matches!(validate_distortion(&d, &set), Err(Error::NonFinite { index: 4, .. })));
        assert!(matches!(validate_distortion(&[], &set), Err(Error::Empty)));
        let err = validate_distortion(&[0.1; 6], &set).unwrap_err();
        assert!(matches!(err, Error::WrongLength { expected: 7, got: 6, modalities: 3 }), "{err:?}");
    }

    #[test]
    fn huge_scores_and_a_negative_temperature_are_errors() {
        let set = rns();
        let config = SmoothingConfig::default();
        for scale in [1e154, 1e200, 1e300, f64::MAX] {
            let d: Vec<f64> = (1..=7).map(|i| scale / i as f64).collect();
            match smooth(&d, &set, &config) {
                Ok(out) => assert!(out.probabilities.iter().all(|p| p.is_finite()), "{scale:e}"),
                Err(e) => assert!(matches!(e, Error::Overflow { .. } | Error::Singular { .. }), "{scale:e}: {e}"),
            }
        }
        for d in [[1e300, 0.0, 0.0, 0.0, 0.0, 0.0, 1e308], [1e200, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [1e308; 7]] {
            assert!(matches!(smooth(&d, &set, &config), Err(Error::Overflow { .. })), "{d:?}");
        }
        let d = [1e140, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let p = smooth(&d, &set, &config).unwrap().probabilities;
        assert!(p[0] > p[1] && p.iter().all(|v| v.is_finite()), "{p:?}");
        let reversed = SmoothingConfig { tau: -0.5, ..config };
        let e = smooth(&[0.8, 1.2, 1.5, 0.3, 0.4, 0.6, 0.0], &set, &reversed).unwrap_err();
        assert!(
            matches!(e, Error::InvalidConfig { field: "tau", .. }) && e.to_string().contains("faithful-first"),
            "{e}"
        );
    }

    #[test]
    fn infers_the_modality_count() {
        for (count, m) in [(1, 1), (3, 2), (7, 3), (15, 4), (255, 8)] {
            let set = modalities_for_count(count).unwrap();
            assert_eq!((set.len(), set.num_scenarios()), (m, count));
        }
        assert_eq!(modalities_for_count(7).unwrap().names(), ["m0", "m1", "m2"]);
        assert!(matches!(modalities_for_count(0), Err(Error::Empty)));
        for bad in [2, 6, 8, 100, 511] {
            assert!(matches!(modalities_for_count(bad), Err(Error::ScenarioCount { got }) if got == bad), "{bad}");
        }
    }

    #[test]
    fn file_has_every_key_and_validates() {
        let set = rns();
        let config = SmoothingConfig::default();
        let out = smooth(&[0.8, 1.2, 1.5, 0.3, 0.4, 0.6, 0.0], &set, &config).unwrap();
        let file = out.to_probabilities_file(&set, &config, "cli", "", "", 0);
        file.validate("test").unwrap();
        assert_eq!(file.scenario_features_X, out.distortion.iter().map(|&d| vec![d]).collect::<Vec<_>>());
        assert_eq!(file.kernel_matrix.len(), 7);
        assert_eq!(file.mask_array[3], vec![1.0, 1.0, 0.0]);
        assert_eq!(file.probabilities_for(&set, "test").unwrap(), out.probabilities);
        let json = serde_json::to_value(&file).unwrap();
        for key in [
            "scenario_names",
            "mask_array",
            "alpha",
            "tau",
            "gamma_floor",
            "lambda",
            "rbf_sigma",
            "D_sh",
            "U",
            "scenario_features_X",
            "kernel_matrix",
            "kernel_scores_r",
            "normalized_kernel_scores",
            "softmax_probs",
            "final_probs",
            "hook_point",
            "backbone",
            "checkpoint",
            "num_samples",
        ] {
            assert!(json.get(key).is_some(), "missing key {key}");
        }
        assert_eq!(json["preference"], "distorted-first");
        assert_eq!(json["descriptor"], "scores");
    }
}
