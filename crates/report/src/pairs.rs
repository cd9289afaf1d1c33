//! Paired comparisons of two methods within a group (docs/report.md §2, §4): cells are paired
//! on their seed (same data set, model, variant and pretraining), differences are `a − b` in
//! percentage points.

use lssg_core::MetricId;
use serde::{Deserialize, Serialize};

use crate::aggregate::{ByMethod, MEAN_ROW, PERCENT, Rows, WORST_ROW, cell_value};
use crate::config::{DEFAULT_PAIRS, ReportConfig};
use crate::protocols::expected_weights;
use crate::record::CellRecord;
use crate::stats::{self, Interval};
use crate::tile_bootstrap::{TileBootstrap, TileMetric, Weights, tile_bootstrap_weighted};

/// The comparison `a − b`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairReport {
    /// The first method.
    pub a: String,
    /// The method subtracted.
    pub b: String,
    /// The seeds both methods have.
    pub seeds: Vec<u64>,
    /// Seeds only one of the methods has, `(method, seed)`: left out of the pair.
    pub unpaired: Vec<(String, u64)>,
    /// One table per metric.
    pub metrics: Vec<PairTable>,
}

/// A metric's paired rows: one per scenario, then [`MEAN_ROW`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairTable {
    /// The metric.
    pub metric: MetricId,
    /// The rows.
    pub rows: Vec<PairRow>,
}

/// The paired statistics of one scenario (percentage points).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairRow {
    /// The scenario, or [`MEAN_ROW`].
    pub scenario: String,
    /// The seeds with a value for both methods.
    pub seeds: Vec<u64>,
    /// `a − b` per seed.
    pub diffs: Vec<f64>,
    /// Their mean.
    pub mean_diff: Option<f64>,
    /// Paired bootstrap over seeds of the mean difference.
    pub seed_ci: Option<Interval>,
    /// Paired bootstrap over test tiles, one per seed (empty for metrics without tile data).
    pub tile_ci: Vec<SeedInterval>,
    /// Two-sided Wilcoxon signed-rank p-value.
    pub wilcoxon_p: f64,
    /// Two-sided sign-test p-value.
    pub sign_p: f64,
    /// Fraction of seeds where `a` is better (ties ½).
    pub p_improve: Option<f64>,
    /// Seeds where `a − b > 0`.
    pub wins: usize,
    /// Seeds where `a − b = 0`.
    pub ties: usize,
    /// Seeds where `a − b < 0`.
    pub losses: usize,
}

/// A seed's tile-bootstrap interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedInterval {
    /// The seed.
    pub seed: u64,
    /// The difference on all tiles.
    pub observed: f64,
    /// The interval (`None` when no resample had a defined value).
    pub interval: Option<Interval>,
}

/// The pairs of a group: [`DEFAULT_PAIRS`] where both methods exist, then the asked ones.
pub(crate) fn pair_reports(
    by_method: &ByMethod,
    rows: Rows<'_>,
    metrics: &[MetricId],
    config: &ReportConfig,
    notes: &mut Vec<String>,
) -> Vec<PairReport> {
    let mut wanted: Vec<(String, String)> = DEFAULT_PAIRS
        .iter()
        .filter(|(a, b)| by_method.contains_key(*a) && by_method.contains_key(*b))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    for (a, b) in &config.pairs {
        if wanted.iter().any(|(x, y)| x == a && y == b) {
            continue;
        }
        if let Some(missing) = [a, b].into_iter().find(|m| !by_method.contains_key(*m)) {
            notes.push(format!("pair {a} − {b}: no cells of method {missing}"));
            continue;
        }
        wanted.push((a.clone(), b.clone()));
    }
    wanted.into_iter().map(|(a, b)| pair_report(&a, &b, by_method, rows, metrics, config, notes)).collect()
}

fn pair_report(
    a: &str,
    b: &str,
    by_method: &ByMethod,
    rows: Rows<'_>,
    metrics: &[MetricId],
    config: &ReportConfig,
    notes: &mut Vec<String>,
) -> PairReport {
    let (ca, cb) = (&by_method[a], &by_method[b]);
    let mut paired: Vec<(&CellRecord, &CellRecord)> = Vec::new();
    let mut unpaired = Vec::new();
    for x in ca {
        match cb.iter().find(|y| y.key.seed == x.key.seed) {
            Some(y) => paired.push((x, y)),
            None => unpaired.push((a.to_string(), x.key.seed)),
        }
    }
    unpaired.extend(
        cb.iter().filter(|y| !ca.iter().any(|x| x.key.seed == y.key.seed)).map(|y| (b.to_string(), y.key.seed)),
    );
    if !unpaired.is_empty() {
        let list: Vec<String> = unpaired.iter().map(|(m, s)| format!("{m} seed {s}")).collect();
        notes.push(format!("pair {a} − {b}: {} left out (no partner): {}", unpaired.len(), list.join(", ")));
    }
    let tables = metrics
        .iter()
        .map(|&metric| {
            let tiles = tile_intervals(&paired, metric, rows, config, notes, (a, b));
            let rows = rows
                .names()
                .map(|scenario| pair_row(&paired, scenario, metric, rows.scenarios, &tiles, config))
                .collect();
            PairTable { metric, rows }
        })
        .collect();
    PairReport {
        a: a.to_string(),
        b: b.to_string(),
        seeds: paired.iter().map(|(x, _)| x.key.seed).collect(),
        unpaired,
        metrics: tables,
    }
}

/// The row `row` of `a − b` for `metric` without tile intervals: the cells paired on their
/// seed, the same statistics as every pair row (the opening summary's differences).
pub(crate) fn versus(
    (a, b): (&[&CellRecord], &[&CellRecord]),
    row: &str,
    metric: MetricId,
    scenarios: &[String],
    config: &ReportConfig,
) -> PairRow {
    let paired: Vec<(&CellRecord, &CellRecord)> =
        a.iter().filter_map(|x| b.iter().find(|y| y.key.seed == x.key.seed).map(|y| (*x, *y))).collect();
    pair_row(&paired, row, metric, scenarios, &[], config)
}

/// The tile bootstrap of every paired seed for `metric` (none for a metric without tile data).
fn tile_intervals(
    paired: &[(&CellRecord, &CellRecord)],
    metric: MetricId,
    rows: Rows<'_>,
    config: &ReportConfig,
    notes: &mut Vec<String>,
    (a, b): (&str, &str),
) -> Vec<(u64, TileBootstrap)> {
    let Some(tm) = TileMetric::of(metric) else { return Vec::new() };
    let settings = (config.bootstrap_resamples, config.bootstrap_seed, config.confidence);
    paired
        .iter()
        .filter_map(|(x, y)| {
            // the expected rows are weighted sums of the scenarios: resampled with them
            let weighted: Vec<Weights> = rows
                .protocols
                .iter()
                .filter_map(|p| Some((p.key.clone(), expected_weights(x, &p.key, rows.scenarios)?)))
                .collect();
            match tile_bootstrap_weighted((x, y), tm, &weighted, settings) {
                Ok(t) => Some((x.key.seed, t)),
                Err(e) => {
                    notes.push(format!("pair {a} − {b}, seed {}, {metric}: no tile bootstrap: {e}", x.key.seed));
                    None
                }
            }
        })
        .collect()
}

/// The row of `scenario` (or [`MEAN_ROW`]) in a pair's table.
fn pair_row(
    paired: &[(&CellRecord, &CellRecord)],
    scenario: &str,
    metric: MetricId,
    scenarios: &[String],
    tiles: &[(u64, TileBootstrap)],
    config: &ReportConfig,
) -> PairRow {
    let (seeds, diffs): (Vec<u64>, Vec<f64>) = paired
        .iter()
        .filter_map(|(x, y)| {
            let vx = cell_value(x, scenario, metric, scenarios)?;
            let vy = cell_value(y, scenario, metric, scenarios)?;
            Some((x.key.seed, vx - vy))
        })
        .unzip();
    let tile_ci = tiles
        .iter()
        .filter_map(|(seed, t)| {
            let (observed, interval) = if scenario == MEAN_ROW {
                (t.observed_mean, t.mean_interval)
            } else if scenario == WORST_ROW {
                (t.observed_worst, t.worst_interval)
            } else if let Some(i) = t.scenarios.iter().position(|s| s == scenario) {
                (t.observed[i], t.intervals[i])
            } else {
                let w = t.weighted.iter().find(|w| w.key == scenario)?;
                (w.observed, w.interval)
            };
            Some(SeedInterval {
                seed: *seed,
                observed: observed * PERCENT,
                interval: interval.map(|i| i.scaled(PERCENT)),
            })
        })
        .collect();
    let (wins, ties, losses) = stats::wins_ties_losses(&diffs);
    PairRow {
        scenario: scenario.to_string(),
        mean_diff: stats::mean(&diffs),
        seed_ci: stats::bootstrap_mean_ci(&diffs, config.bootstrap_resamples, config.bootstrap_seed, config.confidence),
        tile_ci,
        wilcoxon_p: stats::wilcoxon_signed_rank(&diffs),
        sign_p: stats::sign_test(&diffs),
        p_improve: stats::probability_of_improvement(&diffs),
        wins,
        ties,
        losses,
        seeds,
        diffs,
    }
}
