//! The robustness protocols as report rows (docs/report.md §10): each recorded setting —
//! an expected metric under one failure profile, random-missing patches at one rate, noise at
//! one SNR — becomes a row beside the scenarios, with the same statistics over seeds and the
//! same paired differences. Random-missing and noisy settings get a row per modality and one
//! for the mean over modalities, computed per seed from the modalities' values.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use lssg_core::MetricId;
use lssg_scenario::robustness::ProtocolKind;
use lssg_scenario::{FailureProfile, ModalitySet};
use serde::{Deserialize, Serialize};

use crate::record::CellRecord;
use crate::stats::mean;

/// One protocol row of a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProtocolRow {
    /// The row's name in `report.json` and `report.csv` (the `scenario` field of its rows):
    /// `expected p = 0.1`, `random-missing r = 0.5` (mean over modalities),
    /// `random-missing r = 0.5, sar`, `noisy 10 dB`, `noisy 10 dB, sar`.
    pub key: String,
    /// Its protocol.
    pub kind: ProtocolKind,
    /// The setting: the profile's label (`p = 0.1`, `deployment`), `r = 0.5` or `10 dB`.
    pub setting: String,
    /// The level it is plotted at: p of a uniform profile (`None` for a per-modality one), the
    /// missing rate, or the SNR in dB.
    pub level: Option<f64>,
    /// The modality (`None` for an expected row and for the mean over modalities).
    pub modality: Option<String>,
    /// The all-missing probability Π p_m (expected rows).
    pub all_missing: Option<f64>,
}

impl ProtocolRow {
    /// Whether the row is a protocol's headline: an expected row or a mean over modalities.
    pub fn is_headline(&self) -> bool {
        self.modality.is_none()
    }

    /// The label in tables: `expected mIoU, p = 0.1`, `random-missing r = 0.5 (mean over
    /// modalities)`, `noisy 10 dB, sar`.
    pub fn label(&self, metric: MetricId) -> String {
        match (self.kind, &self.modality) {
            (ProtocolKind::Expected, _) => format!("expected {}, {}", metric_label(metric), self.setting),
            (kind, None) => format!("{} {} (mean over modalities)", kind.as_str(), self.setting),
            (kind, Some(m)) => format!("{} {}, {m}", kind.as_str(), self.setting),
        }
    }
}

/// The metric's name as the literature writes it in "expected mIoU".
pub fn metric_label(metric: MetricId) -> &'static str {
    match metric {
        MetricId::Miou => "mIoU",
        other => other.as_str(),
    }
}

/// `0.25` → `0.25`, `0.5` → `0.5`, `10` → `10`: the shortest form that reads back exactly.
fn level_text(v: f64) -> String {
    format!("{v}")
}

/// One cell's protocol values: the row and the metric values (fractions) it has.
pub(crate) fn cell_protocols(cell: &CellRecord) -> Vec<(ProtocolRow, BTreeMap<MetricId, f64>)> {
    let Some(p) = &cell.protocols else { return Vec::new() };
    let mut out = Vec::new();
    for e in &p.expected {
        let values: Vec<f64> = e.p.values().copied().collect();
        let uniform = values.first().filter(|first| values.iter().all(|v| v == *first)).copied();
        let row = ProtocolRow {
            key: format!("expected {}", e.label),
            kind: ProtocolKind::Expected,
            setting: e.label.clone(),
            level: uniform,
            modality: None,
            all_missing: Some(e.all_missing),
        };
        out.push((row, e.metrics.clone()));
    }
    let missing =
        p.random_missing.iter().map(|r| (r.rate, format!("r = {}", level_text(r.rate)), &r.modality, &r.metrics));
    per_modality(ProtocolKind::RandomMissing, missing, &mut out);
    let noisy = p.noisy.iter().map(|n| (n.snr_db, format!("{} dB", level_text(n.snr_db)), &n.modality, &n.metrics));
    per_modality(ProtocolKind::Noisy, noisy, &mut out);
    out
}

/// A level of a per-modality protocol: its value, its setting and each modality's metrics.
type Level<'a> = (f64, String, Vec<&'a BTreeMap<MetricId, f64>>);

/// The rows of one per-modality protocol: every (level, modality) entry and, per level, the
/// mean over its modalities of each metric every modality has.
fn per_modality<'a>(
    kind: ProtocolKind,
    entries: impl Iterator<Item = (f64, String, &'a String, &'a BTreeMap<MetricId, f64>)>,
    out: &mut Vec<(ProtocolRow, BTreeMap<MetricId, f64>)>,
) {
    // (level, setting, the metrics of each modality at that level), in the order measured
    let mut by_level: Vec<Level<'_>> = Vec::new();
    for (level, setting, modality, metrics) in entries {
        let row = ProtocolRow {
            key: format!("{} {setting}, {modality}", kind.as_str()),
            kind,
            setting: setting.clone(),
            level: Some(level),
            modality: Some(modality.clone()),
            all_missing: None,
        };
        out.push((row, metrics.clone()));
        match by_level.iter_mut().find(|(l, _, _)| *l == level) {
            Some((_, _, list)) => list.push(metrics),
            None => by_level.push((level, setting, vec![metrics])),
        }
    }
    for (level, setting, list) in by_level {
        let means = MetricId::ALL
            .into_iter()
            .filter_map(|id| {
                let values: Option<Vec<f64>> = list.iter().map(|m| m.get(&id).copied()).collect();
                Some((id, mean(&values?)?))
            })
            .collect();
        let row = ProtocolRow {
            key: format!("{} {setting}", kind.as_str()),
            kind,
            setting,
            level: Some(level),
            modality: None,
            all_missing: None,
        };
        out.push((row, means));
    }
}

/// The value of `metric` for `cell` in protocol row `key`, as a fraction.
pub(crate) fn protocol_value(cell: &CellRecord, key: &str, metric: MetricId) -> Option<f64> {
    cell_protocols(cell).into_iter().find(|(r, _)| r.key == key).and_then(|(_, m)| m.get(&metric).copied())
}

/// The scenario weights w_s of the expected row `key` of `cell`, one per name of `scenarios`
/// (docs/method.md §6.1): from the recorded p_m, conditioned on at least one working sensor.
/// `None` when the cell has no such row, a scenario names a modality the profile does not, or
/// the scenarios are not every non-empty one (the weights would not sum to 1).
pub(crate) fn expected_weights(cell: &CellRecord, key: &str, scenarios: &[String]) -> Option<Vec<f64>> {
    let label = key.strip_prefix("expected ")?;
    let record = cell.protocols.as_ref()?.expected.iter().find(|e| e.label == label)?;
    let set = ModalitySet::from_names(record.p.keys().cloned(), 1).ok()?;
    let profile = FailureProfile::from_map(&record.p, &set, "p").ok()?;
    let parsed: Option<Vec<_>> = scenarios.iter().map(|s| set.parse_scenario(s).ok()).collect();
    let weights = profile.scenario_weights(&parsed?);
    ((weights.iter().sum::<f64>() - 1.0).abs() < 1e-9).then_some(weights)
}

/// The protocol rows of a group: every row some cell has, in reading order — expected rows
/// (uniform profiles by p, then the others by label), random-missing by rate, noisy from the
/// cleanest SNR down; within a setting the mean over modalities first, then the modalities in
/// the order the first cell records them.
pub(crate) fn group_rows(cells: &[&CellRecord]) -> Vec<ProtocolRow> {
    let mut rows: Vec<ProtocolRow> = Vec::new();
    for cell in cells {
        for (row, _) in cell_protocols(cell) {
            if !rows.iter().any(|r| r.key == row.key) {
                rows.push(row);
            }
        }
    }
    let first_seen: Vec<String> = rows.iter().map(|r| r.key.clone()).collect();
    let seen = |r: &ProtocolRow| first_seen.iter().position(|k| *k == r.key).unwrap_or(usize::MAX);
    rows.sort_by(|a, b| {
        a.kind
            .cmp(&b.kind)
            .then_with(|| level_order(a, b))
            .then_with(|| a.modality.is_some().cmp(&b.modality.is_some()))
            .then_with(|| seen(a).cmp(&seen(b)))
    });
    rows
}

fn level_order(a: &ProtocolRow, b: &ProtocolRow) -> Ordering {
    let by_level = |x: f64, y: f64| if a.kind == ProtocolKind::Noisy { y.total_cmp(&x) } else { x.total_cmp(&y) };
    match (a.level, b.level) {
        (Some(x), Some(y)) => by_level(x, y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.setting.cmp(&b.setting),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_print_as_written() {
        assert_eq!(level_text(0.25), "0.25");
        assert_eq!(level_text(0.5), "0.5");
        assert_eq!(level_text(10.0), "10");
        assert_eq!(level_text(-5.0), "-5");
    }
}
