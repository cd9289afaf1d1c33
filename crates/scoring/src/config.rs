//! The scoring configuration (SPEC §3).

use serde::{Deserialize, Serialize};

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
    /// Largest number of (sample, scenario) inputs in one forward; bounds memory.
    pub max_forward: usize,
}

impl Default for ScoringConfig {
    fn default() -> Self {
        Self { batch_size: 4, max_samples: None, max_forward: 64 }
    }
}
