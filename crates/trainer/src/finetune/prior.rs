//! `prior`: scenarios drawn from the deployment failure profile (docs/method.md §5.13), the
//! distribution under which the expected-metric protocol scores a model (§6.1). When modality m
//! fails independently with probability p_m, scenario s has probability
//! `Π_{m∈s}(1 − p_m) · Π_{m∉s} p_m / (1 − Π_m p_m)` (conditioned on a working sensor;
//! [`FailureProfile`]). Training on the deployment distribution is the natural baseline for
//! the expected metric: it minimises the expected loss under it.

use std::collections::BTreeMap;

use lssg_scenario::{FailureProfile, ModalitySet, SamplingStrategy};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// `[finetune.prior]`: the failure profile `prior` trains under.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PriorConfig {
    /// The failure probability of every modality, in [0, 1) (used when `profile` is absent).
    pub p: f64,
    /// One failure probability per modality by name (`{ rgb = 0.05, sar = 0.3 }`), in [0, 1],
    /// not all 1; every modality named. Takes precedence over `p`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<BTreeMap<String, f64>>,
}

impl Default for PriorConfig {
    fn default() -> Self {
        Self { p: 0.1, profile: None }
    }
}

impl PriorConfig {
    /// The checks that need no modality set: p in [0, 1); profile values in [0, 1], not all 1.
    pub fn validate(&self) -> Result<()> {
        let bad = |field, value: String, expected| Err(Error::InvalidConfig { field, value, expected });
        if !(self.p.is_finite() && (0.0..1.0).contains(&self.p)) {
            return bad("finetune.prior.p", self.p.to_string(), "a probability in [0, 1)");
        }
        if let Some(profile) = &self.profile {
            if let Some((name, p)) = profile.iter().find(|(_, p)| !(p.is_finite() && (0.0..=1.0).contains(*p))) {
                return bad("finetune.prior.profile", format!("{name} = {p}"), "probabilities in [0, 1]");
            }
            if profile.is_empty() || profile.values().all(|&p| p == 1.0) {
                return bad(
                    "finetune.prior.profile",
                    format!("{profile:?}"),
                    "every modality named, not every one failing with probability 1",
                );
            }
        }
        Ok(())
    }

    /// The failure profile over `set` (errors name `finetune.prior.profile.<modality>`).
    pub fn profile(&self, set: &ModalitySet) -> Result<FailureProfile> {
        Ok(match &self.profile {
            Some(map) => FailureProfile::from_map(map, set, "finetune.prior.profile")?,
            None => FailureProfile::uniform(self.p, set)?,
        })
    }

    /// Weighted sampling from the profile's scenario probabilities, canonical order.
    pub fn strategy(&self, set: &ModalitySet) -> Result<SamplingStrategy> {
        Ok(SamplingStrategy::Weighted { probabilities: self.profile(set)?.scenario_weights(&set.scenarios()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_gives_the_sampling_distribution() {
        // Two modalities, p = (0.1, 0.5): a alone 0.9·0.5, b alone 0.1·0.5, both 0.9·0.5, over
        // 1 − 0.05 = 0.95 → (0.473684, 0.052632, 0.473684).
        let set = ModalitySet::from_names(["a", "b"], 1).unwrap();
        let config = PriorConfig { profile: Some([("a".into(), 0.1), ("b".into(), 0.5)].into()), ..Default::default() };
        config.validate().unwrap();
        let SamplingStrategy::Weighted { probabilities } = config.strategy(&set).unwrap() else { panic!("weighted") };
        for (got, expected) in probabilities.iter().zip([0.45 / 0.95, 0.05 / 0.95, 0.45 / 0.95]) {
            assert!((got - expected).abs() < 1e-12, "{probabilities:?}");
        }
        let uniform = PriorConfig::default().strategy(&set).unwrap();
        let SamplingStrategy::Weighted { probabilities } = uniform else { panic!("weighted") };
        assert!((probabilities[2] - 0.81 / 0.99).abs() < 1e-12);
    }

    #[test]
    fn bad_profiles_name_the_key() {
        let set = ModalitySet::from_names(["a", "b"], 1).unwrap();
        for (config, key) in [
            (PriorConfig { p: 1.0, profile: None }, "finetune.prior.p"),
            (PriorConfig { p: -0.1, profile: None }, "finetune.prior.p"),
            (PriorConfig { profile: Some([("a".into(), 1.5)].into()), ..Default::default() }, "finetune.prior.profile"),
            (
                PriorConfig { profile: Some([("a".into(), 1.0), ("b".into(), 1.0)].into()), ..Default::default() },
                "finetune.prior.profile",
            ),
        ] {
            assert!(config.validate().unwrap_err().to_string().contains(key), "{config:?}");
        }
        let unknown =
            PriorConfig { profile: Some([("a".into(), 0.1), ("c".into(), 0.1)].into()), ..Default::default() };
        unknown.validate().unwrap();
        let e = unknown.strategy(&set).unwrap_err().to_string();
        assert!(e.contains("finetune.prior.profile.c"), "{e}");
    }
}
