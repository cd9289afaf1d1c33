//! The robustness protocols' results (docs/method.md §6.1): the expected metric under
//! independent sensor failure, random-missing and noisy modalities, and the predicted class
//! maps of a few test tiles. Plain serde types, shared by the evaluation files that write them
//! and the benchmark records and report that read them (which know nothing of libtorch).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use lssg_core::MetricId;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::profile::FailureProfile;
use crate::scenario::Scenario;

/// One robustness protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProtocolKind {
    /// The expected metric when each sensor fails independently (no extra forward).
    Expected,
    /// Random square patches of one modality set to a missing modality's input.
    RandomMissing,
    /// Additive Gaussian noise on one modality at a given SNR.
    Noisy,
}

impl ProtocolKind {
    /// Every protocol, in the order tables list them.
    pub const ALL: [ProtocolKind; 3] = [Self::Expected, Self::RandomMissing, Self::Noisy];

    /// The name in configs, files and labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Expected => "expected",
            Self::RandomMissing => "random-missing",
            Self::Noisy => "noisy",
        }
    }
}

impl fmt::Display for ProtocolKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProtocolKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| Error::UnknownProtocol { name: s.to_string() })
    }
}

/// The short name of a metric in protocol labels (`expected mIoU, p = 0.1`).
pub fn metric_label(metric: MetricId) -> &'static str {
    match metric {
        MetricId::Miou => "mIoU",
        MetricId::SoftJaccard => "soft Jaccard",
        MetricId::SoftF1 => "soft F1",
        MetricId::Accuracy => "accuracy",
    }
}

/// Everything the protocols measured for one evaluated network.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtocolResults {
    /// The seed of every patch and noise draw.
    pub seed: u64,
    /// One entry per failure profile (empty when the protocol is off).
    pub expected: Vec<ExpectedMetrics>,
    /// One entry per (protocol, modality, level) of `random-missing` and `noisy`, in that order:
    /// protocol, then level, then modality in set order.
    pub perturbed: Vec<PerturbedRun>,
}

/// The expected metrics under one failure profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedMetrics {
    /// `p = 0.1` (the same probability for every modality) or `deployment`.
    pub label: String,
    /// The failure probability of each modality, set order.
    pub p: Vec<f64>,
    /// The probability that every sensor fails at once (excluded from the expectation).
    pub all_missing: f64,
    /// The weight of each evaluated scenario, canonical order (sum 1).
    pub weights: Vec<f64>,
    /// Σ_s w_s · metric_s per metric; a metric undefined under a scenario of positive weight
    /// is left out.
    pub metrics: BTreeMap<MetricId, f64>,
}

impl ExpectedMetrics {
    /// The label of `metric`'s row: `expected mIoU, p = 0.1`.
    pub fn title(&self, metric: MetricId) -> String {
        format!("expected {}, {}", metric_label(metric), self.label)
    }
}

/// One perturbed evaluation: every modality available, one of them perturbed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerturbedRun {
    /// `random-missing` or `noisy`.
    pub protocol: ProtocolKind,
    /// The perturbed modality.
    pub modality: String,
    /// The missing fraction r (random-missing) or the SNR in dB (noisy).
    pub level: f64,
    /// Summary metrics as fractions; an undefined one is left out.
    pub metrics: BTreeMap<MetricId, f64>,
    /// The same tile by tile, test split order.
    pub tiles: TileValues,
}

impl PerturbedRun {
    /// The setting in words: `random-missing rgb, r = 0.25` or `noisy sar, 10 dB`.
    pub fn label(&self) -> String {
        level_label(self.protocol, &self.modality, self.level)
    }
}

/// The label of a perturbed setting of `modality` (`mean` for the mean over modalities).
pub fn level_label(protocol: ProtocolKind, modality: &str, level: f64) -> String {
    match protocol {
        ProtocolKind::Noisy => format!("noisy {modality}, {level} dB"),
        _ => format!("{protocol} {modality}, r = {level}"),
    }
}

/// Per-tile values of one evaluation, test split order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TileValues {
    /// Soft Jaccard of each tile (`None` where the tile has no labelled pixel).
    pub soft_jaccard: Vec<Option<f64>>,
    /// The K × K confusion matrix of each tile, row-major (row = label, column = prediction).
    pub confusion: Vec<Vec<u64>>,
}

impl ProtocolResults {
    /// The levels of `protocol`, in the order measured.
    pub fn levels(&self, protocol: ProtocolKind) -> Vec<f64> {
        let mut levels: Vec<f64> = Vec::new();
        for run in self.perturbed.iter().filter(|r| r.protocol == protocol) {
            if !levels.contains(&run.level) {
                levels.push(run.level);
            }
        }
        levels
    }

    /// The mean of `metric` over the modalities perturbed by `protocol` at `level`; `None`
    /// when there is none or the metric is undefined for one of them.
    pub fn modality_mean(&self, protocol: ProtocolKind, level: f64, metric: MetricId) -> Option<f64> {
        let values: Option<Vec<f64>> = self
            .perturbed
            .iter()
            .filter(|r| r.protocol == protocol && r.level == level)
            .map(|r| r.metrics.get(&metric).copied())
            .collect();
        let values = values?;
        (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
    }
}

/// E_p[metric] = Σ_s w_s · metric_s over the scenarios (weights and values in the same order).
/// A value undefined where its weight is positive makes the expectation undefined; one whose
/// weight is 0 does not count.
pub fn expected_value(weights: &[f64], values: &[Option<f64>]) -> Option<f64> {
    if weights.len() != values.len() {
        return None;
    }
    let mut total = 0.0;
    for (&w, v) in weights.iter().zip(values) {
        match v {
            Some(v) => total += w * v,
            None if w == 0.0 => {}
            None => return None,
        }
    }
    Some(total)
}

/// The expected metrics under `profile` from per-scenario metrics: `scenarios[i]` scored
/// `metrics[i]`. The scenarios must be every scenario of the set (their weights then sum to
/// one); otherwise [`Error::Inconsistent`] says which are missing.
pub fn expected_metrics(
    label: &str,
    profile: &FailureProfile,
    scenarios: &[Scenario],
    metrics: &[BTreeMap<MetricId, f64>],
) -> Result<ExpectedMetrics> {
    let m = profile.probabilities().len();
    let expected = (1usize << m) - 1;
    let mut masks: Vec<u8> = scenarios.iter().map(|s| s.mask()).collect();
    masks.sort_unstable();
    masks.dedup();
    if masks.len() != expected || scenarios.len() != expected || metrics.len() != expected {
        return Err(Error::Inconsistent {
            file: "expected metric".into(),
            reason: format!(
                "needs every one of the {expected} scenarios of {m} modalities evaluated once, got {} scenarios \
                 (set eval.scenarios = \"all\")",
                scenarios.len()
            ),
        });
    }
    let weights = profile.scenario_weights(scenarios);
    let values = MetricId::ALL
        .into_iter()
        .filter_map(|id| {
            let per: Vec<Option<f64>> = metrics.iter().map(|m| m.get(&id).copied()).collect();
            expected_value(&weights, &per).map(|v| (id, v))
        })
        .collect();
    Ok(ExpectedMetrics {
        label: label.to_string(),
        p: profile.probabilities().to_vec(),
        all_missing: profile.all_missing_probability(),
        weights,
        metrics: values,
    })
}

/// The predicted class maps of the first few test tiles under every evaluated scenario, beside
/// their labels (`eval/<name>.maps.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictionMaps {
    /// Class names, index order (binary: background and the positive class).
    pub class_names: Vec<String>,
    /// The RGB colour of each class, index order (label 255, ignored, has none).
    pub palette: Vec<[u8; 3]>,
    /// Scenario names, canonical order: the order of each tile's `predictions`.
    pub scenarios: Vec<String>,
    /// One entry per tile, test split order.
    pub tiles: Vec<TileMap>,
}

/// One tile's labels and predictions, each a row-major `height × width` array of class indices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TileMap {
    /// The tile's index in the test split.
    pub index: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Label of each pixel (255 = ignored).
    pub labels: Vec<u8>,
    /// The predicted class of each pixel under each scenario, in `scenarios` order.
    pub predictions: Vec<Vec<u8>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modality::ModalitySet;

    #[test]
    fn expected_metric_matches_a_hand_computation() {
        // Two modalities, p = 0.2 each: rgb 0.8·0.2 = 0.16, sar 0.16, both 0.64; all missing
        // 0.04, so the weights are 0.16/0.96, 0.16/0.96, 0.64/0.96 = 1/6, 1/6, 2/3.
        // mIoU 0.30, 0.60, 0.90 → 0.05 + 0.10 + 0.60 = 0.75.
        // accuracy 0.50, 0.70, 0.80 → 0.5/6 + 0.7/6 + 1.6/3 = 0.2 + 0.5333… = 0.7333…
        let set = ModalitySet::from_names(["rgb", "sar"], 1).unwrap();
        let profile = FailureProfile::uniform(0.2, &set).unwrap();
        let metrics: Vec<BTreeMap<MetricId, f64>> = [(0.3, 0.5), (0.6, 0.7), (0.9, 0.8)]
            .into_iter()
            .map(|(miou, acc)| [(MetricId::Miou, miou), (MetricId::Accuracy, acc)].into())
            .collect();
        let e = expected_metrics("p = 0.2", &profile, &set.scenarios(), &metrics).unwrap();
        assert!((e.metrics[&MetricId::Miou] - 0.75).abs() < 1e-12, "{e:?}");
        assert!((e.metrics[&MetricId::Accuracy] - (0.2 + 1.6 / 3.0)).abs() < 1e-12, "{e:?}");
        assert!(!e.metrics.contains_key(&MetricId::SoftJaccard));
        assert!((e.all_missing - 0.04).abs() < 1e-15);
        assert_eq!(e.title(MetricId::Miou), "expected mIoU, p = 0.2");
        let short = expected_metrics("x", &profile, &set.scenarios()[..2], &metrics[..2]);
        assert!(matches!(short, Err(Error::Inconsistent { .. })));
    }

    #[test]
    fn undefined_values_count_only_with_positive_weight() {
        assert_eq!(expected_value(&[0.5, 0.5, 0.0], &[Some(0.2), Some(0.4), None]), Some(0.30000000000000004));
        assert_eq!(expected_value(&[0.5, 0.25, 0.25], &[Some(0.2), Some(0.4), None]), None);
        assert_eq!(expected_value(&[1.0], &[]), None);
    }

    #[test]
    fn protocol_names_parse_and_label() {
        assert_eq!("random-missing".parse::<ProtocolKind>().unwrap(), ProtocolKind::RandomMissing);
        let err = "blur".parse::<ProtocolKind>().unwrap_err().to_string();
        assert!(err.contains("blur") && err.contains("random-missing"), "{err}");
        assert_eq!(serde_json::to_string(&ProtocolKind::Noisy).unwrap(), r#""noisy""#);
        assert_eq!(level_label(ProtocolKind::Noisy, "sar", 10.0), "noisy sar, 10 dB");
        assert_eq!(level_label(ProtocolKind::RandomMissing, "rgb", 0.25), "random-missing rgb, r = 0.25");
    }

    #[test]
    fn modality_means_average_the_perturbed_runs() {
        let run = |modality: &str, level: f64, miou: f64| PerturbedRun {
            protocol: ProtocolKind::Noisy,
            modality: modality.into(),
            level,
            metrics: [(MetricId::Miou, miou)].into(),
            tiles: TileValues::default(),
        };
        let results = ProtocolResults {
            seed: 0,
            expected: vec![],
            perturbed: vec![run("rgb", 20.0, 0.5), run("sar", 20.0, 0.7), run("rgb", 0.0, 0.1), run("sar", 0.0, 0.2)],
        };
        assert_eq!(results.levels(ProtocolKind::Noisy), [20.0, 0.0]);
        assert!((results.modality_mean(ProtocolKind::Noisy, 20.0, MetricId::Miou).unwrap() - 0.6).abs() < 1e-12);
        assert_eq!(results.modality_mean(ProtocolKind::Noisy, 20.0, MetricId::Accuracy), None);
        assert_eq!(results.modality_mean(ProtocolKind::RandomMissing, 0.5, MetricId::Miou), None);
    }
}
