//! The robustness protocols' results (docs/method.md §6.1): the expected metric under
//! independent sensor failure, random-missing and noisy modalities, and the predicted class
//! maps of a few test tiles. Plain serde types of the evaluation files (`eval/<name>.json`,
//! `eval/<name>.maps.json`), in the shape of the benchmark record's, with no libtorch.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use lssg_core::MetricId;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::modality::ModalitySet;
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

/// Everything the protocols measured for one evaluated network; each list is empty when its
/// protocol is off. The same shape as the benchmark record's (`lssg_report::Protocols`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Protocols {
    /// The expected metrics under each failure profile.
    #[serde(default)]
    pub expected: Vec<ExpectedRecord>,
    /// Random square patches missing from one modality: rate by rate, modalities in set order.
    #[serde(default)]
    pub random_missing: Vec<MissingRecord>,
    /// Additive Gaussian noise on one modality: SNR by SNR, modalities in set order.
    #[serde(default)]
    pub noisy: Vec<NoisyRecord>,
}

impl Protocols {
    /// Whether no protocol was evaluated.
    pub fn is_empty(&self) -> bool {
        self.expected.is_empty() && self.random_missing.is_empty() && self.noisy.is_empty()
    }
}

/// One setting of a protocol as a table row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProtocolRow {
    /// `expected p = 0.1`, `random-missing r = 0.5` (the mean over modalities),
    /// `random-missing r = 0.5, sar`, `noisy 10 dB`, `noisy 10 dB, sar`.
    pub label: String,
    /// Π_m p_m of an expected row.
    pub all_missing: Option<f64>,
    /// The row's metrics, fractions; an undefined one is left out.
    pub metrics: BTreeMap<MetricId, f64>,
}

impl Protocols {
    /// Every setting as a row: the expected rows in profile order, then random-missing and
    /// noisy level by level, each level's mean over modalities before its modalities.
    pub fn rows(&self) -> Vec<ProtocolRow> {
        let mut rows: Vec<ProtocolRow> = self
            .expected
            .iter()
            .map(|e| ProtocolRow {
                label: format!("expected {}", e.label),
                all_missing: Some(e.all_missing),
                metrics: e.metrics.clone(),
            })
            .collect();
        let missing = self.random_missing.iter().map(|r| (r.rate, format!("r = {}", r.rate), &r.modality, &r.metrics));
        per_level(ProtocolKind::RandomMissing, missing, &mut rows);
        let noisy = self.noisy.iter().map(|r| (r.snr_db, format!("{} dB", r.snr_db), &r.modality, &r.metrics));
        per_level(ProtocolKind::Noisy, noisy, &mut rows);
        rows
    }
}

/// A modality's name and metrics at one level.
type ModalityMetrics<'a> = (&'a String, &'a BTreeMap<MetricId, f64>);

/// The rows of one per-modality protocol: per level (first-seen order), the mean over
/// modalities of each metric every modality has, then each modality's row.
fn per_level<'a>(
    kind: ProtocolKind,
    entries: impl Iterator<Item = (f64, String, &'a String, &'a BTreeMap<MetricId, f64>)>,
    rows: &mut Vec<ProtocolRow>,
) {
    let mut levels: Vec<(f64, String, Vec<ModalityMetrics<'a>>)> = Vec::new();
    for (level, setting, modality, metrics) in entries {
        match levels.iter_mut().find(|(l, _, _)| *l == level) {
            Some((_, _, list)) => list.push((modality, metrics)),
            None => levels.push((level, setting, vec![(modality, metrics)])),
        }
    }
    for (_, setting, list) in levels {
        let mean = MetricId::ALL
            .into_iter()
            .filter_map(|id| {
                let values: Option<Vec<f64>> = list.iter().map(|(_, m)| m.get(&id).copied()).collect();
                let values = values?;
                Some((id, values.iter().sum::<f64>() / values.len() as f64))
            })
            .collect();
        rows.push(ProtocolRow { label: format!("{kind} {setting}"), all_missing: None, metrics: mean });
        for (modality, metrics) in list {
            let label = format!("{kind} {setting}, {modality}");
            rows.push(ProtocolRow { label, all_missing: None, metrics: metrics.clone() });
        }
    }
}

/// E_p[metric] = Σ_s w_s · metric_s under one failure profile (conditioned on at least one
/// working sensor).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedRecord {
    /// `p = 0.1` (one probability for every modality) or `deployment` (the per-modality profile).
    pub label: String,
    /// The failure probability of each modality, by name.
    pub p: BTreeMap<String, f64>,
    /// Π_m p_m, the probability that no sensor works (left out of the expectation).
    pub all_missing: f64,
    /// The expected value of each metric, fractions; a metric undefined under a scenario of
    /// positive weight is left out.
    pub metrics: BTreeMap<MetricId, f64>,
}

/// The full scenario with random square patches of one modality missing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MissingRecord {
    /// The modality that loses patches.
    pub modality: String,
    /// The fraction r of its area missing.
    pub rate: f64,
    /// Each metric, fractions; an undefined one is left out.
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
    /// Each metric, fractions; an undefined one is left out.
    pub metrics: BTreeMap<MetricId, f64>,
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

/// The expected metrics under `profile` (labelled `label`) from per-scenario metrics:
/// `scenarios[i]` of `set` scored `metrics[i]`. The scenarios must be every scenario of the set
/// (their weights then sum to one); otherwise [`Error::Inconsistent`] says so.
pub fn expected_metrics(
    label: &str,
    profile: &FailureProfile,
    set: &ModalitySet,
    scenarios: &[Scenario],
    metrics: &[BTreeMap<MetricId, f64>],
) -> Result<ExpectedRecord> {
    let expected = set.num_scenarios();
    let mut masks: Vec<u8> = scenarios.iter().map(|s| s.mask()).collect();
    masks.sort_unstable();
    masks.dedup();
    let complete = masks.len() == expected && scenarios.len() == expected && metrics.len() == expected;
    if !complete || profile.probabilities().len() != set.len() {
        return Err(Error::Inconsistent {
            file: "expected metric".into(),
            reason: format!(
                "needs each of the {expected} scenarios of {} evaluated once, got {} (set eval.scenarios = \"all\")",
                set.names().join(", "),
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
    Ok(ExpectedRecord {
        label: label.to_string(),
        p: set.names().into_iter().map(String::from).zip(profile.probabilities().iter().copied()).collect(),
        all_missing: profile.all_missing_probability(),
        metrics: values,
    })
}

/// Predicted class maps of a few test tiles (`eval/<name>.maps.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TileMaps {
    /// The colour of each class index, `[r, g, b]` (the data set's palette).
    pub palette: Vec<[u8; 3]>,
    /// One entry per shown tile, test split order.
    pub tiles: Vec<TileMap>,
}

/// One test tile: its labels and the network's prediction under each scenario.
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
    /// The predictions, one per scenario, canonical order.
    pub predictions: Vec<PredictedMap>,
}

/// A predicted map under one scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictedMap {
    /// The scenario name (`optical+sar`).
    pub scenario: String,
    /// Class index per pixel, row-major (binary tasks: 1 where the logit is positive).
    pub classes: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let e = expected_metrics("p = 0.2", &profile, &set, &set.scenarios(), &metrics).unwrap();
        assert!((e.metrics[&MetricId::Miou] - 0.75).abs() < 1e-12, "{e:?}");
        assert!((e.metrics[&MetricId::Accuracy] - (0.2 + 1.6 / 3.0)).abs() < 1e-12, "{e:?}");
        assert!(!e.metrics.contains_key(&MetricId::SoftJaccard));
        assert!((e.all_missing - 0.04).abs() < 1e-15);
        assert_eq!(e.p, BTreeMap::from([("rgb".to_string(), 0.2), ("sar".to_string(), 0.2)]));
        let short = expected_metrics("x", &profile, &set, &set.scenarios()[..2], &metrics[..2]);
        assert!(matches!(short, Err(Error::Inconsistent { .. })));
    }

    #[test]
    fn undefined_values_count_only_with_positive_weight() {
        assert_eq!(expected_value(&[0.5, 0.5, 0.0], &[Some(0.2), Some(0.4), None]), Some(0.30000000000000004));
        assert_eq!(expected_value(&[0.5, 0.25, 0.25], &[Some(0.2), Some(0.4), None]), None);
        assert_eq!(expected_value(&[1.0], &[]), None);
    }

    #[test]
    fn protocol_names_parse() {
        assert_eq!("random-missing".parse::<ProtocolKind>().unwrap(), ProtocolKind::RandomMissing);
        let err = "blur".parse::<ProtocolKind>().unwrap_err().to_string();
        assert!(err.contains("blur") && err.contains("random-missing"), "{err}");
        assert_eq!(serde_json::to_string(&ProtocolKind::Noisy).unwrap(), r#""noisy""#);
    }

    #[test]
    fn rows_put_each_levels_mean_before_its_modalities() {
        let run = |modality: &str, snr_db: f64, miou: f64| NoisyRecord {
            modality: modality.into(),
            snr_db,
            metrics: [(MetricId::Miou, miou)].into(),
        };
        let results = Protocols {
            noisy: vec![run("rgb", 20.0, 0.5), run("sar", 20.0, 0.7), run("rgb", 0.0, 0.1), run("sar", 0.0, 0.2)],
            ..Protocols::default()
        };
        assert!(!results.is_empty() && Protocols::default().is_empty());
        let rows = results.rows();
        let labels: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(
            labels,
            ["noisy 20 dB", "noisy 20 dB, rgb", "noisy 20 dB, sar", "noisy 0 dB", "noisy 0 dB, rgb", "noisy 0 dB, sar"]
        );
        assert!((rows[0].metrics[&MetricId::Miou] - 0.6).abs() < 1e-12);
        assert_eq!(rows[2].metrics[&MetricId::Miou], 0.7);
    }
}
