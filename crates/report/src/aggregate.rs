//! The [`Report`]: everything the output files show, computed once from the loaded cells
//! (docs/report.md §4). Metric values are in percent.

use std::collections::BTreeMap;
use std::path::PathBuf;

use lssg_core::MetricId;
use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, ReportConfig};
use crate::diagnostic::{DiagnosticReport, diagnostic_report};
pub use crate::distribution::DistributionReport;
use crate::distribution::distribution_report;
use crate::load::{Loaded, Problem};
use crate::maps::{MapPanel, map_panel};
use crate::pairs::{PairReport, pair_reports};
use crate::protocols::{ProtocolRow, group_rows, protocol_value};
use crate::record::{CellKey, CellRecord, CurvePoint};
use crate::stats::{mean, sample_std};
use crate::summary::{BaselineComparison, SummaryLine, summary, versus_baseline};
use crate::trajectory::{Recorded, Trajectory, trajectories};

/// The name of the row holding the mean over scenarios.
pub const MEAN_ROW: &str = "mean";

/// The row of each seed's worst scenario (the lowest value over scenarios, whichever it is).
pub const WORST_ROW: &str = "worst";

/// Fractions in the cells, percent in the report.
pub const PERCENT: f64 = 100.0;

/// The method name of pretraining cells.
pub const PRETRAINED: &str = "pretrained";

/// Methods in the order tables and plots show them; others follow alphabetically.
// The order of `lssg run`'s tables.
const METHOD_ORDER: [&str; 8] =
    [PRETRAINED, "uniform", "guided", "guided-adaptive", "guided-task", "lora", "full-only", "fixed"];

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The settings it was computed with.
    pub config: ReportConfig,
    /// One entry per (dataset, model, variant).
    pub groups: Vec<GroupReport>,
    /// The cells included.
    pub cells: Vec<IncludedCell>,
    /// The cell files left out.
    pub problems: Vec<Problem>,
}

/// A cell the report used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncludedCell {
    /// Its key.
    pub key: CellKey,
    /// Its file.
    pub path: PathBuf,
}

/// A configuration repeated over seeds and methods.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GroupKey {
    /// The data set.
    pub dataset: String,
    /// The model.
    pub model: String,
    /// The variant (`""` when none).
    pub variant: String,
}

impl GroupReport {
    /// Whether `row` names one of the group's protocol rows (not a scenario, mean or worst).
    pub fn is_protocol_row(&self, row: &str) -> bool {
        self.protocols.iter().any(|p| p.key == row)
    }
}

impl GroupKey {
    /// `dataset / model / variant`, the variant left out when empty.
    pub fn label(&self) -> String {
        if self.variant.is_empty() {
            format!("{} / {}", self.dataset, self.model)
        } else {
            format!("{} / {} / {}", self.dataset, self.model, self.variant)
        }
    }

    /// A file-name-safe form of [`Self::label`].
    pub fn slug(&self) -> String {
        let raw = [self.dataset.as_str(), self.model.as_str(), self.variant.as_str()]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("_");
        slug(&raw)
    }
}

/// Replaces everything but ASCII letters, digits, `-` and `_` with `-`.
pub fn slug(raw: &str) -> String {
    raw.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect()
}

/// The results of one group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupReport {
    /// Which group.
    pub key: GroupKey,
    /// The cells' primary metric.
    pub primary_metric: MetricId,
    /// The metrics reported, primary first.
    pub metrics: Vec<MetricId>,
    /// The scenarios, canonical order.
    pub scenarios: Vec<String>,
    /// The robustness protocols' rows (docs/report.md §10), after the scenario rows in every
    /// method's and pair's tables.
    #[serde(default)]
    pub protocols: Vec<ProtocolRow>,
    /// Per method, the summaries over seeds.
    pub methods: Vec<MethodReport>,
    /// Per protocol, the best strategy and its difference from uniform (docs/report.md §10.3).
    #[serde(default)]
    pub summary: Vec<SummaryLine>,
    /// Every strategy against uniform on the primary metric, every row (§10.2).
    #[serde(default)]
    pub versus_baseline: Vec<BaselineComparison>,
    /// The paired comparisons.
    pub pairs: Vec<PairReport>,
    /// The scenario distribution of the pretraining cells.
    pub distribution: Option<DistributionReport>,
    /// Learning curves per stage.
    pub curves: Vec<StageCurves>,
    /// The scoring diagnostic of the pretraining cells (docs/report.md §8).
    #[serde(default)]
    pub diagnostic: Option<DiagnosticReport>,
    /// The sampling distributions of the stages that recorded them per epoch (§9).
    #[serde(default)]
    pub trajectories: Vec<Trajectory>,
    /// The per-scenario loss weights of the stages that recorded them per epoch (group DRO's
    /// q, §10.5).
    #[serde(default)]
    pub weights: Vec<Trajectory>,
    /// The predicted maps of a few test tiles (§10.6); drawn, not written to `report.json`.
    #[serde(skip)]
    pub maps: Option<MapPanel>,
    /// Things left out and why.
    pub notes: Vec<String>,
}

/// One method's summaries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodReport {
    /// The method.
    pub method: String,
    /// The seeds of its cells.
    pub seeds: Vec<u64>,
    /// One table per reported metric.
    pub metrics: Vec<MetricTable>,
}

/// A metric's rows: one per scenario, then [`MEAN_ROW`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricTable {
    /// The metric.
    pub metric: MetricId,
    /// The rows.
    pub rows: Vec<SummaryRow>,
}

/// Mean ± std over seeds of one method × scenario × metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryRow {
    /// The scenario, or [`MEAN_ROW`].
    pub scenario: String,
    /// The seeds with a value.
    pub seeds: Vec<u64>,
    /// Their values, percent.
    pub values: Vec<f64>,
    /// The mean (`None` without values).
    pub mean: Option<f64>,
    /// The sample standard deviation.
    pub std: Option<f64>,
    /// The number of seeds.
    pub n: usize,
}

/// A stage's learning curves, one per seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageCurves {
    /// `pretrain` or `finetune/<method>`.
    pub stage: String,
    /// Per seed (validation metric in percent).
    pub seeds: Vec<(u64, Vec<CurvePoint>)>,
}

/// Builds the report of `loaded` under `config`.
pub fn build_report(loaded: &Loaded, config: &ReportConfig) -> Result<Report, ConfigError> {
    config.validate()?;
    let mut groups: BTreeMap<GroupKey, Vec<&CellRecord>> = BTreeMap::new();
    let group_of =
        |k: &CellKey| GroupKey { dataset: k.dataset.clone(), model: k.model.clone(), variant: k.variant.clone() };
    for cell in loaded.cells.iter().filter(|c| c.key.method != PRETRAINED) {
        groups.entry(group_of(&cell.key)).or_default().push(cell);
    }
    // A pretraining cell serves every group whose variant contains its own (the other axes
    // only fine-tune, docs/report.md §4); alone, it makes a group of its own.
    let method_groups: Vec<GroupKey> = groups.keys().cloned().collect();
    for cell in loaded.cells.iter().filter(|c| c.key.method == PRETRAINED) {
        let own = group_of(&cell.key);
        let served: Vec<&GroupKey> = method_groups
            .iter()
            .filter(|g| g.dataset == own.dataset && g.model == own.model && variant_contains(&g.variant, &own.variant))
            .collect();
        if served.is_empty() {
            groups.entry(own).or_default().push(cell);
        }
        for g in served {
            groups.entry(g.clone()).or_default().push(cell);
        }
    }
    let groups = groups.into_iter().map(|(key, cells)| group_report(key, &cells, config)).collect();
    let cells = loaded
        .cells
        .iter()
        .zip(&loaded.paths)
        .map(|(c, p)| IncludedCell { key: c.key.clone(), path: p.clone() })
        .collect();
    Ok(Report { config: config.clone(), groups, cells, problems: loaded.problems.clone() })
}

/// Whether every `axis=value` part of `inner` (comma-separated) is one of `outer`'s.
fn variant_contains(outer: &str, inner: &str) -> bool {
    let parts: Vec<&str> = outer.split(',').filter(|p| !p.is_empty()).collect();
    inner.split(',').filter(|p| !p.is_empty()).all(|p| parts.contains(&p))
}

/// The cells of one group by method, each method's cells sorted by seed.
pub(crate) type ByMethod<'a> = BTreeMap<String, Vec<&'a CellRecord>>;

fn group_report(key: GroupKey, cells: &[&CellRecord], config: &ReportConfig) -> GroupReport {
    let mut notes = Vec::new();
    let evaluated: Vec<&&CellRecord> = cells.iter().filter(|c| !c.scenarios.is_empty()).collect();
    let primary = evaluated.first().map_or(MetricId::Miou, |c| c.primary_metric);
    if let Some(c) = evaluated.iter().find(|c| c.primary_metric != primary) {
        notes.push(format!(
            "seed {} of {} names primary metric {}; {primary} is used",
            c.key.seed, c.key.method, c.primary_metric
        ));
    }
    let mut metrics: Vec<MetricId> = config.metrics.clone();
    if let Some(i) = metrics.iter().position(|m| *m == primary) {
        let m = metrics.remove(i);
        metrics.insert(0, m);
    }
    let scenarios: Vec<String> =
        evaluated.first().map(|c| c.scenarios.iter().map(|s| s.scenario.clone()).collect()).unwrap_or_default();
    let mut by_method: ByMethod = BTreeMap::new();
    for c in &evaluated {
        by_method.entry(c.key.method.clone()).or_default().push(c);
    }
    let protocols = group_rows(&evaluated.iter().map(|c| **c).collect::<Vec<_>>());
    let rows = Rows { scenarios: &scenarios, protocols: &protocols };
    let methods: Vec<MethodReport> = ordered_methods(by_method.keys())
        .into_iter()
        .map(|m| method_report(&m, &by_method[&m], rows, &metrics))
        .collect();
    let pairs = pair_reports(&by_method, rows, &metrics, config, &mut notes);
    let versus_baseline = versus_baseline(&methods, &by_method, rows, primary, config);
    let summary = summary(&methods, &versus_baseline, rows, primary);
    let distribution = distribution_report(cells, &mut notes);
    let curves = stage_curves(cells);
    let diagnostic = diagnostic_report(cells);
    let scored = distribution.as_ref().map(|d| d.scenarios.as_slice());
    let maps = map_panel(&evaluated.iter().map(|c| **c).collect::<Vec<_>>(), &mut notes);
    let sampled = trajectories(&curves, &scenarios, scored, Recorded::Sampling, &mut notes);
    let weights = trajectories(&curves, &scenarios, scored, Recorded::Weights, &mut notes);
    GroupReport {
        key,
        primary_metric: primary,
        metrics,
        scenarios,
        protocols,
        methods,
        summary,
        versus_baseline,
        pairs,
        distribution,
        curves,
        diagnostic,
        trajectories: sampled,
        weights,
        maps,
        notes,
    }
}

/// `methods` in [`METHOD_ORDER`], then the rest alphabetically.
pub fn ordered_methods<'a>(methods: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut all: Vec<String> = methods.cloned().collect();
    all.sort_by_key(|m| (METHOD_ORDER.iter().position(|o| o == m).unwrap_or(METHOD_ORDER.len()), m.clone()));
    all
}

/// The value of `metric` for `cell` in percent: under `scenario`, or for [`MEAN_ROW`] the mean
/// over `scenarios` (defined only when every scenario has the metric).
pub(crate) fn cell_value(cell: &CellRecord, scenario: &str, metric: MetricId, scenarios: &[String]) -> Option<f64> {
    let one = |name: &str| {
        cell.scenarios.iter().find(|s| s.scenario == name).and_then(|s| s.metrics.get(&metric)).map(|v| v * PERCENT)
    };
    if scenario != MEAN_ROW && scenario != WORST_ROW {
        return one(scenario).or_else(|| protocol_value(cell, scenario, metric).map(|v| v * PERCENT));
    }
    let values: Option<Vec<f64>> = scenarios.iter().map(|s| one(s)).collect();
    if scenario == WORST_ROW {
        return values.filter(|v| !v.is_empty()).map(|v| v.into_iter().fold(f64::INFINITY, f64::min));
    }
    values.and_then(|v| mean(&v))
}

/// The rows of a group's tables: its scenarios, then [`MEAN_ROW`] and [`WORST_ROW`], then
/// the protocol rows.
#[derive(Clone, Copy)]
pub(crate) struct Rows<'a> {
    pub(crate) scenarios: &'a [String],
    pub(crate) protocols: &'a [ProtocolRow],
}

impl<'a> Rows<'a> {
    /// Every row's name in order.
    pub(crate) fn names(self) -> impl Iterator<Item = &'a str> {
        self.scenarios
            .iter()
            .map(String::as_str)
            .chain([MEAN_ROW, WORST_ROW])
            .chain(self.protocols.iter().map(|p| p.key.as_str()))
    }
}

fn method_report(method: &str, cells: &[&CellRecord], rows: Rows<'_>, metrics: &[MetricId]) -> MethodReport {
    let scenarios = rows.scenarios;
    let tables = metrics
        .iter()
        .map(|&metric| MetricTable {
            metric,
            rows: rows
                .names()
                .map(|scenario| {
                    let (seeds, values): (Vec<u64>, Vec<f64>) = cells
                        .iter()
                        .filter_map(|c| cell_value(c, scenario, metric, scenarios).map(|v| (c.key.seed, v)))
                        .unzip();
                    SummaryRow {
                        scenario: scenario.to_string(),
                        mean: mean(&values),
                        std: sample_std(&values),
                        n: values.len(),
                        seeds,
                        values,
                    }
                })
                .collect(),
        })
        .collect();
    MethodReport { method: method.to_string(), seeds: cells.iter().map(|c| c.key.seed).collect(), metrics: tables }
}

/// A stage's curve points per seed.
type SeedCurves = Vec<(u64, Vec<CurvePoint>)>;

fn stage_curves(cells: &[&CellRecord]) -> Vec<StageCurves> {
    let mut stages: BTreeMap<String, SeedCurves> = BTreeMap::new();
    for cell in cells {
        for curve in &cell.curves {
            let points = curve
                .points
                .iter()
                .map(|p| CurvePoint { val_metric: p.val_metric.map(|v| v * PERCENT), ..p.clone() })
                .collect();
            stages.entry(curve.stage.clone()).or_default().push((cell.key.seed, points));
        }
    }
    let mut stages: Vec<(String, SeedCurves)> = stages.into_iter().collect();
    // Pretraining first, then the fine-tuning stages in the tables' method order.
    let rank = |stage: &str| {
        let method = stage.strip_prefix("finetune/").unwrap_or(PRETRAINED);
        METHOD_ORDER.iter().position(|m| *m == method).unwrap_or(METHOD_ORDER.len())
    };
    stages.sort_by(|a, b| (rank(&a.0), &a.0).cmp(&(rank(&b.0), &b.0)));
    stages
        .into_iter()
        .map(|(stage, mut seeds)| {
            seeds.sort_by_key(|(s, _)| *s);
            // a stage is trained once per seed; a second copy would be drawn on top of the first
            seeds.dedup_by_key(|(s, _)| *s);
            StageCurves { stage, seeds }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::variant_contains;

    #[test]
    fn a_pretraining_variant_serves_the_variants_that_contain_it() {
        assert!(variant_contains("ftlr=1e-3", ""));
        assert!(variant_contains("plr=1,ftlr=2", "plr=1"));
        assert!(variant_contains("plr=1,ftlr=2", "ftlr=2,plr=1"));
        assert!(!variant_contains("plr=2,ftlr=2", "plr=1"));
        assert!(!variant_contains("", "plr=1"));
        // Whole parts, not substrings.
        assert!(!variant_contains("plr=10", "plr=1"));
    }
}
