//! The robustness protocols and predicted maps a cell's record may carry (docs/report.md §1,
//! §10): the expected metric under independent sensor failure, random-missing and noisy
//! modalities, each computed once from the cell's finished network, and the predicted class
//! maps of a few test tiles beside their labels. Every field is optional in the record, so
//! records without them load unchanged.

use std::collections::BTreeMap;

use lssg_core::MetricId;
use serde::{Deserialize, Serialize};

/// The protocol results of one cell.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Protocols {
    /// The expected metric under each failure profile.
    #[serde(default)]
    pub expected: Vec<ExpectedRecord>,
    /// Random square patches missing from one modality, per modality and rate.
    #[serde(default)]
    pub random_missing: Vec<MissingRecord>,
    /// Additive Gaussian noise on one modality, per modality and SNR.
    #[serde(default)]
    pub noisy: Vec<NoisyRecord>,
}

impl Protocols {
    /// Whether no protocol was evaluated.
    pub fn is_empty(&self) -> bool {
        self.expected.is_empty() && self.random_missing.is_empty() && self.noisy.is_empty()
    }
}

/// E_p[metric] = Σ_s w_s · metric_s under one failure profile (conditioned on at least one
/// working sensor).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedRecord {
    /// The profile's label: `p = 0.1` for one probability for every modality, `deployment`
    /// for the configured per-modality profile.
    pub label: String,
    /// The failure probability of each modality.
    pub p: BTreeMap<String, f64>,
    /// Π_m p_m, the probability that no sensor works (left out of the expectation).
    pub all_missing: f64,
    /// The expected value of each metric, fractions.
    pub metrics: BTreeMap<MetricId, f64>,
}

/// The full scenario with random square patches of one modality missing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MissingRecord {
    /// The modality that loses patches.
    pub modality: String,
    /// The fraction of its area missing, in (0, 1).
    pub rate: f64,
    /// Each metric, fractions.
    pub metrics: BTreeMap<MetricId, f64>,
}

/// The full scenario with one modality under additive Gaussian noise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoisyRecord {
    /// The noisy modality.
    pub modality: String,
    /// Signal-to-noise ratio in dB, relative to each band's standard deviation.
    pub snr_db: f64,
    /// Each metric, fractions.
    pub metrics: BTreeMap<MetricId, f64>,
}

/// Predicted class maps of a few test tiles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TileMaps {
    /// The colour of each class index, `[r, g, b]` (the data set's palette).
    pub palette: Vec<[u8; 3]>,
    /// One entry per shown tile.
    pub tiles: Vec<TileMap>,
}

/// One test tile: its labels and the network's prediction under each setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TileMap {
    /// The tile's index in the test split.
    pub tile: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Class index per pixel, row-major; 255 marks an unlabelled pixel.
    pub labels: Vec<u8>,
    /// The predictions, one per setting.
    pub predictions: Vec<PredictedMap>,
}

/// A predicted map under one setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictedMap {
    /// A scenario name (`optical+sar`) or a protocol setting's label.
    pub scenario: String,
    /// Class index per pixel, row-major.
    pub classes: Vec<u8>,
}
