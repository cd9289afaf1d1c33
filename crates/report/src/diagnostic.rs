//! The scoring diagnostic (docs/report.md §8): does a scenario score rank the scenarios the
//! way the pretrained network's accuracy does? From one pretraining cell, three per-scenario
//! vectors over the partial scenarios (the full scenario scores 0 by definition and is left
//! out): the latent distortion, the task-loss increase, and the metric drop (primary metric of
//! the full scenario − that of the scenario, percentage points); and the Spearman rank
//! correlation of each pair. [`diagnose`] works on one cell (`lssg score --diagnose`);
//! [`diagnostic_report`] gathers the seeds of a group.

use lssg_core::MetricId;
use serde::{Deserialize, Serialize};

use crate::aggregate::{PERCENT, PRETRAINED};
use crate::record::CellRecord;
use crate::stats::{average_ranks, mean};

/// One of the three per-scenario vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Score {
    /// The mean latent distortion D_k.
    Distortion,
    /// The mean increase of the task loss over the full scenario's.
    TaskIncrease,
    /// The primary metric of the full scenario − that of scenario k, percentage points.
    MetricDrop,
}

impl Score {
    /// A short name for tables and legends.
    pub fn label(self) -> &'static str {
        match self {
            Self::Distortion => "latent distortion D",
            Self::TaskIncrease => "task-loss increase",
            Self::MetricDrop => "metric drop",
        }
    }

    /// A file-name-safe name.
    pub fn slug(self) -> &'static str {
        match self {
            Self::Distortion => "distortion",
            Self::TaskIncrease => "task",
            Self::MetricDrop => "drop",
        }
    }
}

/// The three pairs correlated, in the order every table and plot lists them.
pub const SCORE_PAIRS: [(Score, Score); 3] = [
    (Score::Distortion, Score::MetricDrop),
    (Score::TaskIncrease, Score::MetricDrop),
    (Score::Distortion, Score::TaskIncrease),
];

/// The rank correlation of two scores of one cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Correlation {
    /// The first score.
    pub x: Score,
    /// The second score.
    pub y: Score,
    /// Spearman's ρ; `None` when a vector is missing, constant or shorter than 3.
    pub rho: Option<f64>,
}

/// The diagnostic of one pretraining cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// The cell's seed.
    pub seed: u64,
    /// The metric the drop is measured in.
    pub primary_metric: MetricId,
    /// The full scenario (the last in canonical order), left out of the vectors.
    pub full_scenario: String,
    /// The partial scenarios, canonical order.
    pub scenarios: Vec<String>,
    /// D_k per partial scenario.
    pub distortion: Vec<f64>,
    /// The task-loss increase per partial scenario, when the cell has it.
    pub task_increase: Option<Vec<f64>>,
    /// The metric drop per partial scenario (percentage points), when the cell evaluated the
    /// full scenario and every partial one.
    pub metric_drop: Option<Vec<f64>>,
    /// ρ of each of [`SCORE_PAIRS`], in that order.
    pub correlations: Vec<Correlation>,
}

impl Diagnostic {
    /// The vector of `score`, when present.
    pub fn vector(&self, score: Score) -> Option<&[f64]> {
        match score {
            Score::Distortion => Some(&self.distortion),
            Score::TaskIncrease => self.task_increase.as_deref(),
            Score::MetricDrop => self.metric_drop.as_deref(),
        }
    }

    /// ρ of the pair `(x, y)` (either order).
    pub fn rho(&self, x: Score, y: Score) -> Option<f64> {
        self.correlations.iter().find(|c| (c.x, c.y) == (x, y) || (c.y, c.x) == (x, y)).and_then(|c| c.rho)
    }
}

/// Spearman's rank correlation of `a` and `b`: the Pearson correlation of their ranks, tied
/// values given their average rank (docs/report.md §8). `None` when the lengths differ, fewer
/// than 3 values are given, a value is not finite, or either vector is constant.
pub fn spearman(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.len() != b.len() || a.len() < 3 || a.iter().chain(b).any(|v| !v.is_finite()) {
        return None;
    }
    let (ra, _) = average_ranks(a);
    let (rb, _) = average_ranks(b);
    let (ma, mb) = (mean(&ra)?, mean(&rb)?);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in ra.iter().zip(&rb) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    if saa <= 0.0 || sbb <= 0.0 {
        return None;
    }
    Some((sab / (saa * sbb).sqrt()).clamp(-1.0, 1.0))
}

/// The diagnostic of one pretrained network's cell; `None` without a distribution or with
/// fewer than two scored scenarios (docs/report.md §8).
pub fn diagnose(cell: &CellRecord) -> Option<Diagnostic> {
    let d = cell.distribution.as_ref()?;
    let (full, partial) = d.scenarios.split_last()?;
    let k = partial.len();
    if k == 0 || d.distortion.len() != d.scenarios.len() {
        return None;
    }
    let task_increase = d.task_increase.as_ref().filter(|t| t.len() == d.scenarios.len()).map(|t| t[..k].to_vec());
    let metric = |name: &str| {
        cell.scenarios.iter().find(|s| s.scenario == name).and_then(|s| s.metrics.get(&cell.primary_metric)).copied()
    };
    let metric_drop = metric(full)
        .and_then(|f| partial.iter().map(|s| metric(s).map(|m| (f - m) * PERCENT)).collect::<Option<Vec<f64>>>());
    let mut diagnostic = Diagnostic {
        seed: cell.key.seed,
        primary_metric: cell.primary_metric,
        full_scenario: full.clone(),
        scenarios: partial.to_vec(),
        distortion: d.distortion[..k].to_vec(),
        task_increase,
        metric_drop,
        correlations: Vec::new(),
    };
    diagnostic.correlations = SCORE_PAIRS
        .iter()
        .map(|&(x, y)| {
            let rho = diagnostic.vector(x).zip(diagnostic.vector(y)).and_then(|(a, b)| spearman(a, b));
            Correlation { x, y, rho }
        })
        .collect();
    Some(diagnostic)
}

/// One pair's ρ over the seeds of a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorrelationSummary {
    /// The first score.
    pub x: Score,
    /// The second score.
    pub y: Score,
    /// The seeds whose cells have both vectors.
    pub seeds: Vec<u64>,
    /// ρ per seed (`None` where undefined).
    pub rho: Vec<Option<f64>>,
    /// The mean of the defined ρ.
    pub mean: Option<f64>,
    /// The smallest defined ρ.
    pub min: Option<f64>,
    /// The largest defined ρ.
    pub max: Option<f64>,
}

/// The diagnostic of a group: one [`Diagnostic`] per seed and, per pair that at least one
/// seed has both vectors for, the summary over seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiagnosticReport {
    /// Per pretraining seed, ascending.
    pub seeds: Vec<Diagnostic>,
    /// Per pair of [`SCORE_PAIRS`] with data, in that order.
    pub pairs: Vec<CorrelationSummary>,
}

/// The diagnostic of the pretraining cells among `cells` (one per seed, the first in key
/// order); `None` when no pair of scores can be correlated for any seed.
pub(crate) fn diagnostic_report(cells: &[&CellRecord]) -> Option<DiagnosticReport> {
    let mut seeds: Vec<Diagnostic> =
        cells.iter().filter(|c| c.key.method == PRETRAINED).filter_map(|c| diagnose(c)).collect();
    seeds.sort_by_key(|d| d.seed);
    seeds.dedup_by_key(|d| d.seed);
    let pairs: Vec<CorrelationSummary> = SCORE_PAIRS
        .iter()
        .filter_map(|&(x, y)| {
            let with: Vec<&Diagnostic> =
                seeds.iter().filter(|d| d.vector(x).is_some() && d.vector(y).is_some()).collect();
            if with.is_empty() {
                return None;
            }
            let rho: Vec<Option<f64>> = with.iter().map(|d| d.rho(x, y)).collect();
            let defined: Vec<f64> = rho.iter().flatten().copied().collect();
            Some(CorrelationSummary {
                x,
                y,
                seeds: with.iter().map(|d| d.seed).collect(),
                mean: mean(&defined),
                min: defined.iter().copied().reduce(f64::min),
                max: defined.iter().copied().reduce(f64::max),
                rho,
            })
        })
        .collect();
    if pairs.is_empty() { None } else { Some(DiagnosticReport { seeds, pairs }) }
}
