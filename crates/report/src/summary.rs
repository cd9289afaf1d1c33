//! The report's opening summary (docs/report.md §10.3): per protocol, which strategy does
//! best on the primary metric and how far the best strategy other than uniform is from
//! uniform, with its seed-bootstrap interval — one line per protocol, so the answer fits one
//! screen.

use lssg_core::MetricId;
use serde::{Deserialize, Serialize};

use crate::aggregate::{ByMethod, MEAN_ROW, MethodReport, PRETRAINED, Rows, WORST_ROW};
use crate::config::ReportConfig;
use crate::pairs::{PairRow, versus};
use lssg_scenario::robustness::ProtocolKind;

use crate::protocols::ProtocolRow;
use crate::tables::row_label;

/// The method every strategy is compared with.
pub const BASELINE: &str = "uniform";

/// One protocol's line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryLine {
    /// What is measured: `mean over scenarios`, `worst scenario`, `expected mIoU, p = 0.1`, ...
    pub protocol: String,
    /// The row's name in the method and pair tables.
    pub row: String,
    /// The method with the highest mean (ties: the first in table order); strategies only,
    /// not the pretrained network.
    pub best: Option<String>,
    /// Its mean, percent.
    pub best_mean: Option<f64>,
    /// The best method other than [`BASELINE`] (the best itself unless that is uniform).
    pub challenger: Option<String>,
    /// `challenger − uniform`, paired on seeds (`None` without uniform cells).
    pub versus_baseline: Option<PairRow>,
}

/// The headline rows: the mean and the worst scenario, then per protocol its middle setting
/// (p = 0.1, r = 0.5 and 10 dB under the defaults) and a deployment profile where recorded.
fn headline_rows(rows: Rows<'_>) -> Vec<(String, String)> {
    let mut out = vec![(row_label(MEAN_ROW), MEAN_ROW.to_string()), (row_label(WORST_ROW), WORST_ROW.to_string())];
    for kind in [ProtocolKind::Expected, ProtocolKind::RandomMissing, ProtocolKind::Noisy] {
        let levelled: Vec<&ProtocolRow> =
            rows.protocols.iter().filter(|p| p.kind == kind && p.is_headline() && p.level.is_some()).collect();
        if let Some(mid) = levelled.get(levelled.len().saturating_sub(1) / 2) {
            out.push((mid.key.clone(), mid.key.clone()));
        }
        let profiles = rows.protocols.iter().filter(|p| p.kind == kind && p.is_headline() && p.level.is_none());
        out.extend(profiles.map(|p| (p.key.clone(), p.key.clone())));
    }
    out
}

/// `m − uniform` for one strategy on the primary metric, every row of the group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineComparison {
    /// The strategy.
    pub method: String,
    /// One row per scenario, the mean and worst rows and the protocol rows, in table order.
    pub rows: Vec<PairRow>,
}

/// Every strategy but uniform (and the pretrained network) against uniform, on `metric`:
/// none without uniform cells.
pub(crate) fn versus_baseline(
    methods: &[MethodReport],
    by_method: &ByMethod,
    rows: Rows<'_>,
    metric: MetricId,
    config: &ReportConfig,
) -> Vec<BaselineComparison> {
    let Some(base) = by_method.get(BASELINE) else { return Vec::new() };
    methods
        .iter()
        .filter(|m| m.method != BASELINE && m.method != PRETRAINED)
        .map(|m| BaselineComparison {
            method: m.method.clone(),
            rows: rows
                .names()
                .map(|row| versus((&by_method[&m.method], base), row, metric, rows.scenarios, config))
                .collect(),
        })
        .collect()
}

/// The summary of a group on `metric` (its primary metric), the differences taken from
/// `comparisons`.
pub(crate) fn summary(
    methods: &[MethodReport],
    comparisons: &[BaselineComparison],
    rows: Rows<'_>,
    metric: MetricId,
) -> Vec<SummaryLine> {
    let strategies: Vec<&MethodReport> = methods.iter().filter(|m| m.method != PRETRAINED).collect();
    if strategies.is_empty() {
        return Vec::new();
    }
    headline_rows(rows)
        .into_iter()
        .map(|(label, row)| {
            let best = best_of(strategies.iter().copied(), &row, metric);
            let challenger = best_of(strategies.iter().copied().filter(|m| m.method != BASELINE), &row, metric);
            let versus_baseline = challenger.and_then(|(c, _)| {
                let comparison = comparisons.iter().find(|x| x.method == c)?;
                comparison.rows.iter().find(|r| r.scenario == row).cloned()
            });
            let protocol = rows.protocols.iter().find(|p| p.key == label).map_or(label, |p| p.label(metric));
            SummaryLine {
                protocol,
                row,
                best: best.map(|(m, _)| m.to_string()),
                best_mean: best.map(|(_, v)| v),
                challenger: challenger.map(|(m, _)| m.to_string()),
                versus_baseline,
            }
        })
        .collect()
}

/// The method of `candidates` with the highest mean in `row` (ties: the first), and that mean.
fn best_of<'a>(
    candidates: impl Iterator<Item = &'a MethodReport>,
    row: &str,
    metric: MetricId,
) -> Option<(&'a str, f64)> {
    let mut best: Option<(&str, f64)> = None;
    for m in candidates {
        let mean =
            m.metrics.iter().find(|t| t.metric == metric).and_then(|t| t.rows.iter().find(|r| r.scenario == row));
        if let Some(v) = mean.and_then(|r| r.mean)
            && best.is_none_or(|(_, b)| v > b)
        {
            best = Some((m.method.as_str(), v));
        }
    }
    best
}
