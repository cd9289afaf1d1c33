//! The smoothing configuration (docs/method.md §4): α, σ, λ, τ, γ and the two [ours] options, the
//! preference direction and the kernel descriptor (lssg-core's `Preference` and `Descriptor`,
//! the names a probabilities file records). `Default` gives the reference values.

use std::fmt;
use std::str::FromStr;

use lssg_core::{Descriptor, Preference};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The RBF bandwidth σ: a fixed value (the reference: 1.0) or the median heuristic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sigma {
    /// A fixed σ > 0.
    Fixed(f64),
    /// σ = median of the pairwise descriptor distances ‖X_i − X_j‖ over i < j (numpy's median:
    /// the mean of the two middle values for an even count); 1.0 when that median is 0 or
    /// there are no pairs (S = 1). Makes the distribution invariant to scaling D.
    Median,
}

impl Default for Sigma {
    fn default() -> Self {
        Self::Fixed(1.0)
    }
}

impl fmt::Display for Sigma {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fixed(v) => write!(f, "{v}"),
            Self::Median => f.write_str("median"),
        }
    }
}

impl FromStr for Sigma {
    type Err = Error;
    /// `median` or a number.
    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("median") {
            return Ok(Self::Median);
        }
        t.parse::<f64>().map(Self::Fixed).map_err(|_| Error::UnknownOption {
            field: "sigma",
            value: s.to_string(),
            expected: "a positive number or \"median\"",
        })
    }
}

/// The serialised form of [`Sigma`]: a number or the string `"median"`.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum SigmaRepr {
    Number(f64),
    Name(String),
}

impl Serialize for Sigma {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        match *self {
            Self::Fixed(v) => SigmaRepr::Number(v),
            Self::Median => SigmaRepr::Name("median".into()),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Sigma {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        match SigmaRepr::deserialize(deserializer)? {
            SigmaRepr::Number(v) => Ok(Self::Fixed(v)),
            SigmaRepr::Name(name) => name.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// Everything that shapes the distribution. `Default` is the reference: α 1, σ 1, λ 1e-3,
/// τ 0.5, γ 0.5, distorted-first, scores.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmoothingConfig {
    /// Utility scale, U = α·D; must be finite and > 0 (z-scoring removes it, so it only
    /// changes the recorded U and r).
    pub alpha: f64,
    /// RBF bandwidth.
    pub sigma: Sigma,
    /// Ridge λ ≥ 0 of the solve (K + λI) y = U.
    pub lambda: f64,
    /// Softmax temperature factor τ (finite, ≥ 0; 0 gives the uniform distribution).
    pub tau: f64,
    /// Weight of the softmax against the uniform floor, in [0, 1].
    pub gamma: f64,
    /// Direction: distorted-first (reference) or faithful-first.
    pub preference: Preference,
    /// Kernel descriptor: scores (reference) or masks.
    pub descriptor: Descriptor,
}

impl Default for SmoothingConfig {
    fn default() -> Self {
        Self {
            alpha: 1.0,
            sigma: Sigma::Fixed(1.0),
            lambda: 1e-3,
            tau: 0.5,
            gamma: 0.5,
            preference: Preference::DistortedFirst,
            descriptor: Descriptor::Scores,
        }
    }
}

impl SmoothingConfig {
    /// Checks every value's range: α finite > 0, σ finite > 0, λ finite ≥ 0, τ finite ≥ 0,
    /// γ in [0, 1].
    pub fn validate(&self) -> Result<()> {
        let bad = |field, value, expected| Err(Error::InvalidConfig { field, value, expected });
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            return bad("alpha", self.alpha, "a finite number > 0");
        }
        if let Sigma::Fixed(s) = self.sigma
            && !(s.is_finite() && s > 0.0)
        {
            return bad("rbf_sigma", s, "a finite number > 0 (or \"median\")");
        }
        if !(self.lambda.is_finite() && self.lambda >= 0.0) {
            return bad("lambda", self.lambda, "a finite number >= 0");
        }
        if !(self.tau.is_finite() && self.tau >= 0.0) {
            // A negative τ silently reverses the preference; `preference` says that explicitly.
            return bad(
                "tau",
                self.tau,
                "a finite number >= 0 (to reverse the preference, set preference = faithful-first)",
            );
        }
        if !(0.0..=1.0).contains(&self.gamma) {
            return bad("gamma_floor", self.gamma, "a number in [0, 1]");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_reference() {
        let c = SmoothingConfig::default();
        assert_eq!((c.alpha, c.sigma, c.lambda, c.tau, c.gamma), (1.0, Sigma::Fixed(1.0), 1e-3, 0.5, 0.5));
        assert_eq!((c.preference, c.descriptor), (Preference::DistortedFirst, Descriptor::Scores));
        c.validate().unwrap();
    }

    #[test]
    fn serde_names_and_defaults() {
        let c: SmoothingConfig =
            serde_json::from_str(r#"{"sigma":"median","preference":"faithful-first","descriptor":"masks"}"#).unwrap();
        assert_eq!(c.sigma, Sigma::Median);
        assert_eq!(c.preference, Preference::FaithfulFirst);
        assert_eq!(c.descriptor, Descriptor::Masks);
        assert_eq!(c.lambda, 1e-3);
        let c: SmoothingConfig = serde_json::from_str(r#"{"sigma":2.5}"#).unwrap();
        assert_eq!(c.sigma, Sigma::Fixed(2.5));
        let json = serde_json::to_string(&SmoothingConfig { sigma: Sigma::Median, ..Default::default() }).unwrap();
        assert!(json.contains(r#""sigma":"median""#) && json.contains(r#""preference":"distorted-first""#), "{json}");
        let back: SmoothingConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back.sigma, Sigma::Median);
        assert!(serde_json::from_str::<SmoothingConfig>(r#"{"sigmaa":1}"#).is_err());
        assert!(serde_json::from_str::<SmoothingConfig>(r#"{"sigma":"mean"}"#).is_err());
        assert!(serde_json::from_str::<SmoothingConfig>(r#"{"preference":"best"}"#).is_err());
    }

    #[test]
    fn parses_command_line_names() {
        assert_eq!("median".parse::<Sigma>().unwrap(), Sigma::Median);
        assert_eq!("0.25".parse::<Sigma>().unwrap(), Sigma::Fixed(0.25));
        assert!(matches!("wide".parse::<Sigma>(), Err(Error::UnknownOption { field: "sigma", .. })));
    }

    #[test]
    fn rejects_out_of_range_values() {
        let field = |c: SmoothingConfig| match c.validate() {
            Err(Error::InvalidConfig { field, .. }) => field,
            other => panic!("expected InvalidConfig, got {other:?}"),
        };
        let d = SmoothingConfig::default();
        assert_eq!(field(SmoothingConfig { sigma: Sigma::Fixed(0.0), ..d }), "rbf_sigma");
        assert_eq!(field(SmoothingConfig { sigma: Sigma::Fixed(-1.0), ..d }), "rbf_sigma");
        assert_eq!(field(SmoothingConfig { sigma: Sigma::Fixed(f64::NAN), ..d }), "rbf_sigma");
        assert_eq!(field(SmoothingConfig { lambda: -1e-9, ..d }), "lambda");
        assert_eq!(field(SmoothingConfig { gamma: 1.5, ..d }), "gamma_floor");
        assert_eq!(field(SmoothingConfig { gamma: -0.1, ..d }), "gamma_floor");
        assert_eq!(field(SmoothingConfig { tau: f64::INFINITY, ..d }), "tau");
        assert_eq!(field(SmoothingConfig { alpha: 0.0, ..d }), "alpha");
        // A negative τ would reverse the preference behind its back.
        assert_eq!(field(SmoothingConfig { tau: -2.0, ..d }), "tau");
        SmoothingConfig { lambda: 0.0, gamma: 1.0, tau: 0.0, ..d }.validate().unwrap();
    }
}
