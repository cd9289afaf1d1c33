//! The scenario scores of a group's pretraining cells, gathered over seeds (docs/report.md §4
//! and §7): the latent distortion and guided probabilities per seed with their mean and std,
//! the per-seed bootstrap intervals, and the task-aware scores where the cells carry them.

use serde::{Deserialize, Serialize};

use crate::aggregate::PRETRAINED;
use crate::record::{Band, CellRecord, Distribution};
use crate::stats::{mean, sample_std};

/// The scenario scores of the pretraining cells.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistributionReport {
    /// Scenario names.
    pub scenarios: Vec<String>,
    /// The seeds.
    pub seeds: Vec<u64>,
    /// Distortion per seed × scenario.
    pub distortion: Vec<Vec<f64>>,
    /// Probabilities per seed × scenario.
    pub probabilities: Vec<Vec<f64>>,
    /// Mean and std over seeds of the distortion, per scenario.
    pub distortion_mean: Vec<f64>,
    /// See `distortion_mean`.
    pub distortion_std: Vec<f64>,
    /// Mean and std over seeds of the probabilities, per scenario.
    pub probability_mean: Vec<f64>,
    /// See `probability_mean`.
    pub probability_std: Vec<f64>,
    /// Per seed (parallel to `seeds`), the 95 % bootstrap interval of each distortion, where the
    /// cell has one (docs/report.md §7.1).
    #[serde(default)]
    pub distortion_ci: Vec<Option<Band>>,
    /// Per seed, the bootstrap interval of each probability.
    #[serde(default)]
    pub probabilities_ci: Vec<Option<Band>>,
    /// Per seed, the task-loss increase of each scenario, where the cell has it (§7.2).
    #[serde(default)]
    pub task_increase: Vec<Option<Vec<f64>>>,
    /// Per seed, the distribution smoothed from the task-loss increase.
    #[serde(default)]
    pub task_probabilities: Vec<Option<Vec<f64>>>,
    /// Mean and std of the task-loss increase over the seeds that have it.
    #[serde(default)]
    pub task_increase_mean: Option<Vec<f64>>,
    /// See `task_increase_mean`.
    #[serde(default)]
    pub task_increase_std: Option<Vec<f64>>,
    /// Mean and std of the task probabilities over the seeds that have them.
    #[serde(default)]
    pub task_probability_mean: Option<Vec<f64>>,
    /// See `task_probability_mean`.
    #[serde(default)]
    pub task_probability_std: Option<Vec<f64>>,
}

impl DistributionReport {
    /// Whether any seed carries a bootstrap interval.
    pub fn has_intervals(&self) -> bool {
        self.distortion_ci.iter().chain(&self.probabilities_ci).any(Option::is_some)
    }

    /// The number of seeds with task-aware scores.
    pub fn task_seeds(&self) -> usize {
        self.task_increase.iter().zip(&self.task_probabilities).filter(|(a, b)| a.is_some() || b.is_some()).count()
    }
}

/// Per scenario, `f` (mean or std) over the rows; NaN where no row has a value.
fn column_summary(rows: &[Vec<f64>], n: usize, f: fn(&[f64]) -> Option<f64>) -> Vec<f64> {
    (0..n).map(|j| f(&rows.iter().filter_map(|r| r.get(j).copied()).collect::<Vec<_>>()).unwrap_or(f64::NAN)).collect()
}

/// The mean and std over the present rows, `None` when no row is present.
fn optional_summary(rows: &[Option<Vec<f64>>], n: usize) -> (Option<Vec<f64>>, Option<Vec<f64>>) {
    let present: Vec<&Vec<f64>> = rows.iter().flatten().collect();
    if present.is_empty() {
        return (None, None);
    }
    let present: Vec<Vec<f64>> = present.into_iter().cloned().collect();
    (Some(column_summary(&present, n, mean)), Some(column_summary(&present, n, sample_std)))
}

/// The distribution report of the pretraining cells among `cells` (one per seed; a second cell
/// of a seed, or one scoring other scenarios than the first, is left out with a note).
pub(crate) fn distribution_report(cells: &[&CellRecord], notes: &mut Vec<String>) -> Option<DistributionReport> {
    let mut with: Vec<(u64, &Distribution)> = cells
        .iter()
        .filter(|c| c.key.method == PRETRAINED)
        .filter_map(|c| c.distribution.as_ref().map(|d| (c.key.seed, d)))
        .collect();
    with.sort_by_key(|(s, _)| *s);
    let before = with.len();
    with.dedup_by_key(|(s, _)| *s);
    if with.len() < before {
        notes.push("several pretraining cells of one seed serve this group; the first in key order is used".into());
    }
    let (first_seed, first) = *with.first()?;
    let scenarios = first.scenarios.clone();
    let n = scenarios.len();
    let mut r = DistributionReport {
        scenarios,
        seeds: Vec::new(),
        distortion: Vec::new(),
        probabilities: Vec::new(),
        distortion_mean: Vec::new(),
        distortion_std: Vec::new(),
        probability_mean: Vec::new(),
        probability_std: Vec::new(),
        distortion_ci: Vec::new(),
        probabilities_ci: Vec::new(),
        task_increase: Vec::new(),
        task_probabilities: Vec::new(),
        task_increase_mean: None,
        task_increase_std: None,
        task_probability_mean: None,
        task_probability_std: None,
    };
    for (seed, d) in &with {
        if d.scenarios != r.scenarios {
            notes.push(format!("the distribution of seed {seed} has other scenarios than seed {first_seed}; left out"));
            continue;
        }
        r.seeds.push(*seed);
        r.distortion.push(d.distortion.clone());
        r.probabilities.push(d.probabilities.clone());
        r.distortion_ci.push(d.distortion_ci.clone());
        r.probabilities_ci.push(d.probabilities_ci.clone());
        r.task_increase.push(d.task_increase.clone());
        r.task_probabilities.push(d.task_probabilities.clone());
    }
    r.distortion_mean = column_summary(&r.distortion, n, mean);
    r.distortion_std = column_summary(&r.distortion, n, sample_std);
    r.probability_mean = column_summary(&r.probabilities, n, mean);
    r.probability_std = column_summary(&r.probabilities, n, sample_std);
    (r.task_increase_mean, r.task_increase_std) = optional_summary(&r.task_increase, n);
    (r.task_probability_mean, r.task_probability_std) = optional_summary(&r.task_probabilities, n);
    Some(r)
}
