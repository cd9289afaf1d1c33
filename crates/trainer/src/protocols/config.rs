//! `[eval.protocols]`: which robustness protocols an evaluation runs and their settings
//! (docs/method.md §6.1). Every protocol is off unless `enabled` names it, so an evaluation
//! without the section computes and writes exactly what it did without protocols.

use lssg_scenario::robustness::ProtocolKind;
use lssg_scenario::{FailureConfig, LabelledProfile, ModalitySet};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The robustness protocols of an evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProtocolConfig {
    /// The protocols to run: any of `expected`, `random-missing`, `noisy` (none by default).
    pub enabled: Vec<ProtocolKind>,
    /// Seed of every patch and noise draw (each tile's draws are a stream of it).
    pub seed: u64,
    /// The predicted class maps of this many test tiles (the first ones) are kept under every
    /// scenario, when any protocol is enabled.
    pub map_tiles: usize,
    /// `expected`: the failure probabilities.
    pub expected: FailureConfig,
    /// `random-missing`: the missing fractions and the patch size.
    pub random_missing: RandomMissingConfig,
    /// `noisy`: the signal-to-noise ratios.
    pub noisy: NoisyConfig,
}

impl Default for ProtocolConfig {
    fn default() -> Self {
        Self {
            enabled: Vec::new(),
            seed: 0,
            map_tiles: 3,
            expected: FailureConfig::default(),
            random_missing: RandomMissingConfig::default(),
            noisy: NoisyConfig::default(),
        }
    }
}

/// `[eval.protocols.random_missing]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RandomMissingConfig {
    /// Fractions r of a modality's area set missing, each in (0, 1) (r = 1 would be the
    /// modality missing entirely, which the scenarios already cover).
    pub rates: Vec<f64>,
    /// Side of the square patches in pixels (clipped at the tile's edge), at least 1.
    pub patch_size: usize,
}

impl Default for RandomMissingConfig {
    fn default() -> Self {
        Self { rates: vec![0.25, 0.5, 0.75], patch_size: 16 }
    }
}

/// `[eval.protocols.noisy]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NoisyConfig {
    /// Signal-to-noise ratios in dB relative to each band's standard deviation, finite.
    pub snr_db: Vec<f64>,
}

impl Default for NoisyConfig {
    fn default() -> Self {
        Self { snr_db: vec![20.0, 10.0, 0.0] }
    }
}

impl ProtocolConfig {
    /// Whether `protocol` is enabled.
    pub fn runs(&self, protocol: ProtocolKind) -> bool {
        self.enabled.contains(&protocol)
    }

    /// Whether every setting is the default (no protocol enabled).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// Whether any protocol is enabled.
    pub fn any(&self) -> bool {
        !self.enabled.is_empty()
    }

    /// The checks against the data set's modalities and the number of evaluated scenarios: a
    /// deployment profile names each modality, and the expected metric needs every scenario.
    /// Returns the failure profiles of `expected` (none when it is off).
    pub fn check_modalities(&self, set: &ModalitySet, scenarios: usize) -> Result<Vec<LabelledProfile>> {
        // The profile is checked even when `expected` is off, like every other setting.
        let profiles =
            self.expected.profiles(set).map_err(|source| Error::ProtocolProfile { section: "expected", source })?;
        if !self.runs(ProtocolKind::Expected) {
            return Ok(Vec::new());
        }
        if scenarios != set.num_scenarios() {
            return Err(Error::Protocol {
                key: "enabled".into(),
                value: "expected".into(),
                expected: "every scenario evaluated (eval.scenarios = \"all\") for the expected metric",
            });
        }
        Ok(profiles)
    }

    /// Every setting checked, enabled or not, so a typo is caught before any work: each key in
    /// an error is relative to `[eval.protocols]` (`noisy.snr_db[1]`, `expected.profile.rgb`).
    pub fn validate(&self) -> Result<()> {
        let bad = |key: String, value: String, expected: &'static str| Err(Error::Protocol { key, value, expected });
        if let Some(kind) =
            self.enabled.iter().enumerate().find_map(|(i, k)| self.enabled[..i].contains(k).then_some(k))
        {
            return bad("enabled".into(), kind.to_string(), "each protocol named once");
        }
        self.expected.validate().map_err(|source| Error::ProtocolProfile { section: "expected", source })?;
        if self.runs(ProtocolKind::Expected) && self.expected.p.is_empty() && self.expected.profile.is_none() {
            return bad("expected.p".into(), "[]".into(), "at least one probability (or a profile)");
        }
        let rm = &self.random_missing;
        for (i, &r) in rm.rates.iter().enumerate() {
            if !(r.is_finite() && r > 0.0 && r < 1.0) {
                return bad(format!("random_missing.rates[{i}]"), r.to_string(), "a fraction in (0, 1)");
            }
        }
        if self.runs(ProtocolKind::RandomMissing) && rm.rates.is_empty() {
            return bad("random_missing.rates".into(), "[]".into(), "at least one rate");
        }
        if rm.patch_size == 0 {
            return bad("random_missing.patch_size".into(), "0".into(), "at least 1 pixel");
        }
        for (i, &snr) in self.noisy.snr_db.iter().enumerate() {
            if !snr.is_finite() {
                return bad(format!("noisy.snr_db[{i}]"), snr.to_string(), "a finite SNR in dB");
            }
        }
        if self.runs(ProtocolKind::Noisy) && self.noisy.snr_db.is_empty() {
            return bad("noisy.snr_db".into(), "[]".into(), "at least one SNR");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> ProtocolConfig {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn defaults_run_nothing() {
        let c = ProtocolConfig::default();
        assert!(!c.any());
        c.validate().unwrap();
        assert_eq!(c.random_missing.rates, [0.25, 0.5, 0.75]);
        assert_eq!(c.noisy.snr_db, [20.0, 10.0, 0.0]);
        assert_eq!(c.expected.p, [0.05, 0.1, 0.2]);
    }

    #[test]
    fn bad_settings_name_their_key() {
        let cases = [
            (r#"{"enabled": ["noisy", "noisy"]}"#, "enabled"),
            (r#"{"random_missing": {"rates": [0.5, 0]}}"#, "random_missing.rates[1]"),
            (r#"{"random_missing": {"rates": [1.0]}}"#, "random_missing.rates[0]"),
            (r#"{"random_missing": {"patch_size": 0}}"#, "random_missing.patch_size"),
            (r#"{"enabled": ["noisy"], "noisy": {"snr_db": []}}"#, "noisy.snr_db"),
            (r#"{"expected": {"p": [0.1, 1.0]}}"#, "expected.p[1]"),
            (r#"{"expected": {"profile": {"rgb": 1.0, "sar": 1.0}}}"#, "expected.profile"),
        ];
        for (json, key) in cases {
            let config: std::result::Result<ProtocolConfig, _> = serde_json::from_str(json);
            let message = match config {
                Ok(c) => c.validate().unwrap_err().to_string(),
                Err(e) => e.to_string(),
            };
            assert!(message.contains(key), "{json}: {message}");
        }
        // TOML spells infinities and NaN (`inf`, `nan`); JSON cannot, so they are set here.
        for snr in [f64::INFINITY, f64::NAN] {
            let config = ProtocolConfig { noisy: NoisyConfig { snr_db: vec![10.0, snr] }, ..Default::default() };
            let message = config.validate().unwrap_err().to_string();
            assert!(message.contains("noisy.snr_db[1]"), "{message}");
        }
        let err = serde_json::from_str::<ProtocolConfig>(r#"{"enabled": ["blur"]}"#).unwrap_err().to_string();
        assert!(err.contains("blur") && err.contains("random-missing"), "{err}");
        assert!(serde_json::from_str::<ProtocolConfig>(r#"{"random_missing": {"patch_size": -1}}"#).is_err());
        assert!(parse(r#"{"enabled": ["expected", "random-missing", "noisy"]}"#).runs(ProtocolKind::Noisy));
    }
}
