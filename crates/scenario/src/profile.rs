//! Independent sensor failure: per-modality failure probabilities p_m, the probability of each
//! scenario they imply, and the configuration that names them (docs/method.md §6.1).
//!
//! When modality m fails with probability p_m independently of the others, the scenario s (the
//! set of working modalities) occurs with probability Π_{m∈s}(1 − p_m) · Π_{m∉s} p_m. The
//! scenario where every sensor fails has no prediction to score, so the weights are conditioned
//! on at least one working sensor: divided by 1 − Π_m p_m. The conditioned weights of the
//! non-empty scenarios sum to one; the all-missing probability is reported beside them.
//!
//! ```
//! use lssg_scenario::{FailureProfile, ModalitySet};
//! let set = ModalitySet::from_names(["rgb", "sar"], 1).unwrap();
//! let profile = FailureProfile::uniform(0.1, &set).unwrap();
//! let w = profile.scenario_weights(&set.scenarios());
//! // rgb alone, sar alone, both: 0.09, 0.09, 0.81, over 1 − 0.01.
//! assert!((w[2] - 0.81 / 0.99).abs() < 1e-12);
//! assert!((profile.all_missing_probability() - 0.01).abs() < 1e-12);
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::modality::ModalitySet;
use crate::scenario::Scenario;

/// The failure probability p_m of each modality, in the set's order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureProfile {
    probabilities: Vec<f64>,
}

impl FailureProfile {
    /// A profile from one probability per modality, set order. Each p_m must be finite and in
    /// [0, 1]; not every one may be 1 (then no scenario has a working sensor).
    pub fn new(probabilities: Vec<f64>, set: &ModalitySet) -> Result<Self> {
        if probabilities.len() != set.len() {
            return Err(Error::WrongLength {
                what: "failure probabilities".into(),
                expected: set.len(),
                got: probabilities.len(),
            });
        }
        for (name, &p) in set.names().into_iter().zip(&probabilities) {
            check_probability(&format!("profile.{name}"), p, true)?;
        }
        if probabilities.iter().all(|&p| p == 1.0) {
            return Err(Error::EveryModalityFails { key: "profile".into() });
        }
        Ok(Self { probabilities })
    }

    /// The same probability `p` ∈ [0, 1) for every modality of `set`.
    pub fn uniform(p: f64, set: &ModalitySet) -> Result<Self> {
        check_probability("p", p, false)?;
        Ok(Self { probabilities: vec![p; set.len()] })
    }

    /// A profile from `name → p_m`; every modality of `set` must be named, and only those.
    /// `key` prefixes the names in errors (`profile` gives `profile.rgb`).
    pub fn from_map(map: &BTreeMap<String, f64>, set: &ModalitySet, key: &str) -> Result<Self> {
        if let Some(name) = map.keys().find(|name| set.index_of(name).is_none()) {
            return Err(Error::ProfileUnknownModality {
                key: format!("{key}.{name}"),
                name: name.clone(),
                known: set.names().join(", "),
            });
        }
        let mut probabilities = Vec::with_capacity(set.len());
        for name in set.names() {
            let &p = map
                .get(name)
                .ok_or_else(|| Error::ProfileMissingModality { key: key.to_string(), name: name.to_string() })?;
            check_probability(&format!("{key}.{name}"), p, true)?;
            probabilities.push(p);
        }
        if probabilities.iter().all(|&p| p == 1.0) {
            return Err(Error::EveryModalityFails { key: key.to_string() });
        }
        Ok(Self { probabilities })
    }

    /// p_m of every modality, set order.
    pub fn probabilities(&self) -> &[f64] {
        &self.probabilities
    }

    /// The probability Π_m p_m that every sensor fails at once.
    pub fn all_missing_probability(&self) -> f64 {
        self.probabilities.iter().product()
    }

    /// The probability of `scenario` given at least one working sensor:
    /// Π_{m∈s}(1 − p_m) · Π_{m∉s} p_m / (1 − Π_m p_m).
    pub fn scenario_weight(&self, scenario: Scenario) -> f64 {
        let joint: f64 = self
            .probabilities
            .iter()
            .enumerate()
            .map(|(m, &p)| if scenario.contains(m) { 1.0 - p } else { p })
            .product();
        joint / (1.0 - self.all_missing_probability())
    }

    /// [`FailureProfile::scenario_weight`] of each scenario, in the order given. Over every
    /// scenario of the set the weights sum to one; over a subset they sum to its probability.
    pub fn scenario_weights(&self, scenarios: &[Scenario]) -> Vec<f64> {
        scenarios.iter().map(|&s| self.scenario_weight(s)).collect()
    }
}

/// Checks one failure probability: finite, ≥ 0, below 1 (or at most 1 when `one_allowed`).
fn check_probability(key: &str, p: f64, one_allowed: bool) -> Result<()> {
    let ok = p.is_finite() && p >= 0.0 && (p < 1.0 || (one_allowed && p == 1.0));
    if ok {
        return Ok(());
    }
    let expected = if one_allowed { "a finite probability in [0, 1]" } else { "a finite probability in [0, 1)" };
    Err(Error::FailureProbability { key: key.to_string(), value: p, expected })
}

/// The default failure probabilities: every modality fails with 5 %, 10 % or 20 %.
pub fn default_failure_p() -> Vec<f64> {
    vec![0.05, 0.1, 0.2]
}

/// Failure probabilities as a configuration names them: a list `p` of probabilities shared by
/// every modality (each gives one profile) and an optional deployment `profile`
/// `{ rgb = 0.1, sar = 0.3 }` naming every modality.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FailureConfig {
    /// Probabilities in [0, 1), each applied to every modality.
    pub p: Vec<f64>,
    /// Per-modality probabilities in [0, 1] (not all 1), by modality name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<BTreeMap<String, f64>>,
}

impl Default for FailureConfig {
    fn default() -> Self {
        Self { p: default_failure_p(), profile: None }
    }
}

/// One profile of a [`FailureConfig`] with the label its rows carry.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledProfile {
    /// `p = 0.1` for a shared probability, `deployment` for the per-modality profile.
    pub label: String,
    /// The probabilities.
    pub profile: FailureProfile,
}

impl FailureConfig {
    /// The checks that need no modality set: every `p` finite in [0, 1), every profile value
    /// finite in [0, 1] and not all 1. Keys in errors: `p[i]`, `profile.<name>`, `profile`.
    pub fn validate(&self) -> Result<()> {
        for (i, &p) in self.p.iter().enumerate() {
            check_probability(&format!("p[{i}]"), p, false)?;
        }
        if let Some(profile) = &self.profile {
            for (name, &p) in profile {
                check_probability(&format!("profile.{name}"), p, true)?;
            }
            if !profile.is_empty() && profile.values().all(|&p| p == 1.0) {
                return Err(Error::EveryModalityFails { key: "profile".into() });
            }
        }
        Ok(())
    }

    /// Every profile over `set`: one per `p` (labelled `p = 0.1`), then the deployment profile
    /// (labelled `deployment`) if given. A profile naming a modality `set` lacks, or missing
    /// one, is an error naming the key.
    pub fn profiles(&self, set: &ModalitySet) -> Result<Vec<LabelledProfile>> {
        self.validate()?;
        let mut out = Vec::with_capacity(self.p.len() + 1);
        for &p in &self.p {
            out.push(LabelledProfile { label: format!("p = {p}"), profile: FailureProfile::uniform(p, set)? });
        }
        if let Some(map) = &self.profile {
            out.push(LabelledProfile {
                label: "deployment".into(),
                profile: FailureProfile::from_map(map, set, "profile")?,
            });
        }
        Ok(out)
    }

    /// The deployment profile over `set`, if the configuration gives one.
    pub fn deployment(&self, set: &ModalitySet) -> Result<Option<FailureProfile>> {
        self.validate()?;
        self.profile.as_ref().map(|map| FailureProfile::from_map(map, set, "profile")).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set3() -> ModalitySet {
        ModalitySet::from_names(["rgb", "nir", "sar"], 1).unwrap()
    }

    #[test]
    fn weights_match_a_hand_computation() {
        // p = (0.1, 0.2, 0.5). All missing: 0.1·0.2·0.5 = 0.01, so the divisor is 0.99.
        // Canonical order rgb, nir, sar, rgb+nir, rgb+sar, nir+sar, rgb+nir+sar:
        //   rgb          0.9·0.2·0.5 = 0.090      nir         0.1·0.8·0.5 = 0.040
        //   sar          0.1·0.2·0.5 = 0.010      rgb+nir     0.9·0.8·0.5 = 0.360
        //   rgb+sar      0.9·0.2·0.5 = 0.090      nir+sar     0.1·0.8·0.5 = 0.040
        //   rgb+nir+sar  0.9·0.8·0.5 = 0.360      sum 0.99
        let set = set3();
        let map: BTreeMap<String, f64> =
            [("rgb", 0.1), ("nir", 0.2), ("sar", 0.5)].into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let profile = FailureProfile::from_map(&map, &set, "profile").unwrap();
        let w = profile.scenario_weights(&set.scenarios());
        let hand = [0.09, 0.04, 0.01, 0.36, 0.09, 0.04, 0.36].map(|x| x / 0.99);
        for (got, want) in w.iter().zip(hand) {
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        }
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!((profile.all_missing_probability() - 0.01).abs() < 1e-15);
    }

    #[test]
    fn zero_failure_puts_all_weight_on_the_full_scenario() {
        let set = set3();
        let w = FailureProfile::uniform(0.0, &set).unwrap().scenario_weights(&set.scenarios());
        assert_eq!(w, [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn a_sensor_that_always_fails_removes_its_scenarios() {
        let set = ModalitySet::from_names(["rgb", "sar"], 1).unwrap();
        let profile = FailureProfile::new(vec![0.5, 1.0], &set).unwrap();
        // Only rgb alone can occur: 0.5·1 over 1 − 0.5.
        assert_eq!(profile.scenario_weights(&set.scenarios()), [1.0, 0.0, 0.0]);
    }

    #[test]
    fn config_labels_each_profile() {
        let set = set3();
        let profile = [("rgb", 0.0), ("nir", 0.3), ("sar", 1.0)].map(|(k, v)| (k.to_string(), v)).into();
        let config = FailureConfig { profile: Some(profile), ..FailureConfig::default() };
        let labels: Vec<String> = config.profiles(&set).unwrap().into_iter().map(|p| p.label).collect();
        assert_eq!(labels, ["p = 0.05", "p = 0.1", "p = 0.2", "deployment"]);
        assert_eq!(config.deployment(&set).unwrap().unwrap().probabilities(), [0.0, 0.3, 1.0]);
    }

    #[test]
    fn bad_probabilities_name_their_key() {
        let set = set3();
        for (p, key) in [(1.0, "p[1]"), (-0.1, "p[1]"), (f64::NAN, "p[1]"), (f64::INFINITY, "p[1]")] {
            let config = FailureConfig { p: vec![0.1, p], profile: None };
            let err = config.validate().unwrap_err();
            assert!(matches!(&err, Error::FailureProbability { key: k, .. } if k == key), "{err}");
            assert!(err.to_string().contains(key));
        }
        let profile = |pairs: &[(&str, f64)]| FailureConfig {
            p: vec![],
            profile: Some(pairs.iter().map(|&(k, v)| (k.to_string(), v)).collect()),
        };
        let err = profile(&[("rgb", 1.0), ("nir", 1.0), ("sar", 1.0)]).profiles(&set).unwrap_err();
        assert!(matches!(&err, Error::EveryModalityFails { key } if key == "profile"), "{err}");
        let err = profile(&[("rgb", 0.1), ("nir", 0.1), ("lidar", 0.1)]).profiles(&set).unwrap_err();
        assert!(matches!(&err, Error::ProfileUnknownModality { key, .. } if key == "profile.lidar"), "{err}");
        assert!(err.to_string().contains("rgb, nir, sar"));
        let err = profile(&[("rgb", 0.1), ("nir", 0.1)]).profiles(&set).unwrap_err();
        assert!(matches!(&err, Error::ProfileMissingModality { name, .. } if name == "sar"), "{err}");
        let err = profile(&[("rgb", 1.5), ("nir", 0.1), ("sar", 0.1)]).validate().unwrap_err();
        assert!(matches!(&err, Error::FailureProbability { key, .. } if key == "profile.rgb"), "{err}");
        assert!(FailureProfile::new(vec![1.0, 1.0, 1.0], &set).is_err());
        assert!(FailureProfile::new(vec![0.1, 0.1], &set).is_err());
    }

    #[test]
    fn config_reads_from_toml_form() {
        let config: FailureConfig = serde_json::from_str(r#"{"profile": {"rgb": 0.1}}"#).unwrap();
        assert_eq!(config.p, default_failure_p());
        assert!(serde_json::from_str::<FailureConfig>(r#"{"q": [0.1]}"#).is_err());
    }
}
