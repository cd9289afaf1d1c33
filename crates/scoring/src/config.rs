//! The scoring configuration (docs/method.md §3).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How latent distortions are measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScoringConfig {
    /// Samples per forward. Each forward evaluates `batch_size × S` inputs (every scenario of
    /// every sample at once), so memory grows with S.
    pub batch_size: usize,
    /// Score on at most this many training samples (the first ones, in data-set order);
    /// `None` = the whole training split, as the reference.
    pub max_samples: Option<usize>,
    /// Largest number of (sample, scenario) inputs in one forward; bounds memory. A forward
    /// holds at least one scenario of the whole batch, so below `batch_size` it is `batch_size`.
    pub max_forward: usize,
    /// Bootstrap resamples of the score intervals (docs/method.md §3.5); 0 = none.
    pub bootstrap_resamples: usize,
    /// Seed of those resamples.
    pub bootstrap_seed: u64,
}

impl Default for ScoringConfig {
    fn default() -> Self {
        Self { batch_size: 4, max_samples: None, max_forward: 64, bootstrap_resamples: 1000, bootstrap_seed: 0 }
    }
}

impl ScoringConfig {
    /// Checks `batch_size ≥ 1`, `max_forward ≥ 1` and `max_samples ≥ 1` when set; the error
    /// names the field, its value and what is expected.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, expected: &str| {
            Err(Error::Config { field: field.into(), value: "0".into(), expected: expected.into() })
        };
        if self.batch_size == 0 {
            return bad("batch_size", "at least 1");
        }
        if self.max_forward == 0 {
            return bad("max_forward", "at least 1");
        }
        if self.max_samples == Some(0) {
            return bad("max_samples", "at least 1, or absent for the whole training split");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_zeros_name_their_field() {
        ScoringConfig::default().validate().unwrap();
        let zero = |c: ScoringConfig| match c.validate() {
            Err(Error::Config { field, .. }) => field,
            other => panic!("expected a config error, got {other:?}"),
        };
        assert_eq!(zero(ScoringConfig { batch_size: 0, ..Default::default() }), "batch_size");
        assert_eq!(zero(ScoringConfig { max_forward: 0, ..Default::default() }), "max_forward");
        assert_eq!(zero(ScoringConfig { max_samples: Some(0), ..Default::default() }), "max_samples");
        ScoringConfig { max_samples: Some(1), ..Default::default() }.validate().unwrap();
    }
}
