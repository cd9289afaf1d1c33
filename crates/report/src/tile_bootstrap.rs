//! Paired bootstrap over test tiles for one seed (docs/report.md §2.5; the worst-scenario row in §4): how much of a
//! difference between two methods could come from which tiles happen to be in the test split.
//! One resample draws tile indices with replacement and applies them to both methods and every
//! scenario, so the scenario differences and their mean are resampled jointly.

use lssg_core::seed::SplitMix64;
use lssg_core::{ConfusionMatrix, MetricId};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::record::CellRecord;
use crate::stats::{Interval, percentile_interval};

/// A metric the tile bootstrap can recompute from per-tile data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TileMetric {
    /// mIoU of the summed confusion matrices of the drawn tiles.
    Miou,
    /// Pixel accuracy of the summed confusion matrices.
    Accuracy,
    /// Mean of the drawn tiles' defined soft Jaccard values.
    SoftJaccard,
}

impl TileMetric {
    /// The tile metric of summary metric `id`, `None` for one without per-tile data (`soft_f1`).
    pub fn of(id: MetricId) -> Option<Self> {
        match id {
            MetricId::Miou => Some(Self::Miou),
            MetricId::Accuracy => Some(Self::Accuracy),
            MetricId::SoftJaccard => Some(Self::SoftJaccard),
            MetricId::SoftF1 => None,
        }
    }
}

/// Why two cells cannot be paired tile by tile.
#[derive(Debug, Error, PartialEq)]
pub enum TileError {
    /// The cells evaluated different scenarios (or in another order).
    #[error("scenario {index}: `{a}` in one cell, `{b}` in the other")]
    Scenarios {
        /// Position in the scenario list.
        index: usize,
        /// The first cell's scenario there.
        a: String,
        /// The second cell's.
        b: String,
    },
    /// The cells' scenario lists have different lengths.
    #[error("{a} scenarios in one cell, {b} in the other")]
    ScenarioCount {
        /// The first cell's count.
        a: usize,
        /// The second's.
        b: usize,
    },
    /// A scenario's tile count or class count differs, or the cells have no tiles.
    #[error("scenario `{scenario}`: {what}")]
    Tiles {
        /// The scenario.
        scenario: String,
        /// What is inconsistent.
        what: String,
    },
}

/// The tile bootstrap of `a − b` for one seed, as fractions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TileBootstrap {
    /// Scenario names, in the cells' order.
    pub scenarios: Vec<String>,
    /// The difference on all tiles, per scenario.
    pub observed: Vec<f64>,
    /// Its mean over scenarios.
    pub observed_mean: f64,
    /// The percentile interval per scenario (`None` where no resample had a defined value).
    pub intervals: Vec<Option<Interval>>,
    /// The interval of the mean over scenarios.
    pub mean_interval: Option<Interval>,
    /// The difference of the worst scenarios (each method's lowest value, whichever scenario).
    #[serde(default)]
    pub observed_worst: f64,
    /// Its interval.
    #[serde(default)]
    pub worst_interval: Option<Interval>,
    /// The difference of weighted sums over the scenarios (the expected rows, §10.2).
    #[serde(default)]
    pub weighted: Vec<WeightedInterval>,
}

/// The tile interval of a weighted sum over the scenarios, Σ_s w_s · (a_s − b_s).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightedInterval {
    /// The row it belongs to (`expected p = 0.1`).
    pub key: String,
    /// The difference on all tiles.
    pub observed: f64,
    /// Its interval.
    pub interval: Option<Interval>,
}

/// A weighted sum over the scenarios to resample with them: the row's key and one weight per
/// scenario, the cells' order.
pub type Weights = (String, Vec<f64>);

/// Per-tile data of one method under one scenario, flattened for the hot loop.
struct Series {
    /// `tiles × k²` confusion counts (mIoU, accuracy).
    confusion: Vec<u64>,
    /// Per-tile soft Jaccard, NaN where undefined.
    soft: Vec<f64>,
}

/// Buffers one worker reuses across resamples.
struct Scratch {
    counts: Vec<u32>,
    summed: Vec<u64>,
}

/// Paired tile bootstrap of `metric(a) − metric(b)` per scenario and for the mean over
/// scenarios: `resamples` resamples, resample `r` drawing its tiles with
/// [`SplitMix64::stream`]`(seed, r)`, and central `confidence` percentile intervals.
pub fn tile_bootstrap(
    a: &CellRecord,
    b: &CellRecord,
    metric: TileMetric,
    resamples: usize,
    seed: u64,
    confidence: f64,
) -> Result<TileBootstrap, TileError> {
    tile_bootstrap_weighted((a, b), metric, &[], (resamples, seed, confidence))
}

/// [`tile_bootstrap`] with weighted sums over the scenarios resampled jointly (each weight
/// vector as long as the cells' scenario list; others are left out).
pub fn tile_bootstrap_weighted(
    (a, b): (&CellRecord, &CellRecord),
    metric: TileMetric,
    weighted: &[Weights],
    (resamples, seed, confidence): (usize, u64, f64),
) -> Result<TileBootstrap, TileError> {
    let (k, tiles) = check_pairable(a, b)?;
    let weighted: Vec<&Weights> = weighted.iter().filter(|(_, w)| w.len() == a.scenarios.len()).collect();
    let series = |c: &CellRecord| -> Vec<Series> {
        c.scenarios
            .iter()
            .map(|s| Series {
                confusion: s.tiles.confusion.iter().flatten().copied().collect(),
                soft: s.tiles.soft_jaccard.iter().map(|v| v.unwrap_or(f64::NAN)).collect(),
            })
            .collect()
    };
    let (sa, sb) = (series(a), series(b));
    let n_scen = sa.len();
    let width = n_scen + 2 + weighted.len();
    let weights: Vec<&[f64]> = weighted.iter().map(|(_, w)| w.as_slice()).collect();
    let new_scratch = || Scratch { counts: vec![0; tiles], summed: vec![0; k * k] };

    let observed_row = {
        let mut scratch = new_scratch();
        scratch.counts.fill(1);
        let mut row = vec![0.0; width];
        differences(&sa, &sb, metric, k, &mut scratch, &mut row);
        weighted_sums(&weights, &mut row, n_scen);
        row
    };
    let mut table = vec![0.0; resamples * width];
    table.par_chunks_mut(width).enumerate().for_each_init(new_scratch, |scratch, (r, row)| {
        let mut rng = SplitMix64::stream(seed, r as u64);
        scratch.counts.fill(0);
        for _ in 0..tiles {
            scratch.counts[rng.below(tiles)] += 1;
        }
        differences(&sa, &sb, metric, k, scratch, row);
        weighted_sums(&weights, row, n_scen);
    });

    let mut column = Vec::with_capacity(resamples);
    let mut interval_of = |j: usize| {
        column.clear();
        column.extend(table.chunks(width).map(|row| row[j]));
        percentile_interval(&mut column, confidence)
    };
    let intervals = (0..n_scen).map(&mut interval_of).collect();
    let mean_interval = interval_of(n_scen);
    let worst_interval = interval_of(n_scen + 1);
    let weighted = weighted
        .iter()
        .enumerate()
        .map(|(j, (key, _))| WeightedInterval {
            key: key.clone(),
            observed: observed_row[n_scen + 2 + j],
            interval: interval_of(n_scen + 2 + j),
        })
        .collect();
    Ok(TileBootstrap {
        scenarios: a.scenarios.iter().map(|s| s.scenario.clone()).collect(),
        observed: observed_row[..n_scen].to_vec(),
        observed_mean: observed_row[n_scen],
        intervals,
        mean_interval,
        observed_worst: observed_row[n_scen + 1],
        worst_interval,
        weighted,
    })
}

/// Appends Σ_s w_s · row[s] for each weight vector after the first `n` + 2 entries of `row`;
/// a scenario of weight 0 does not count even where its difference is undefined.
fn weighted_sums(weights: &[&[f64]], row: &mut [f64], n: usize) {
    for (j, w) in weights.iter().enumerate() {
        row[n + 2 + j] = w.iter().zip(&row[..n]).filter(|(w, _)| **w != 0.0).map(|(w, d)| w * d).sum();
    }
}

/// Checks that the cells share scenarios, tiles and classes; returns (K, tile count).
fn check_pairable(a: &CellRecord, b: &CellRecord) -> Result<(usize, usize), TileError> {
    if a.scenarios.len() != b.scenarios.len() {
        return Err(TileError::ScenarioCount { a: a.scenarios.len(), b: b.scenarios.len() });
    }
    let k = a.class_names.len();
    let mut tiles = None;
    for (index, (x, y)) in a.scenarios.iter().zip(&b.scenarios).enumerate() {
        if x.scenario != y.scenario {
            return Err(TileError::Scenarios { index, a: x.scenario.clone(), b: y.scenario.clone() });
        }
        let tiles_error = |what: String| TileError::Tiles { scenario: x.scenario.clone(), what };
        if b.class_names.len() != k {
            return Err(tiles_error(format!("{k} classes against {}", b.class_names.len())));
        }
        let n = x.tiles.confusion.len();
        for t in [&x.tiles, &y.tiles] {
            if t.confusion.len() != n || t.soft_jaccard.len() != n {
                return Err(tiles_error(format!("tile counts differ ({n} against {})", t.confusion.len())));
            }
            if let Some(bad) = t.confusion.iter().find(|m| m.len() != k * k) {
                return Err(tiles_error(format!("a confusion matrix of {} entries, K² = {}", bad.len(), k * k)));
            }
        }
        if *tiles.get_or_insert(n) != n {
            return Err(tiles_error("tile counts differ between scenarios".into()));
        }
    }
    match tiles {
        Some(n) if n > 0 => Ok((k, n)),
        _ => Err(TileError::Tiles { scenario: String::new(), what: "no tiles".into() }),
    }
}

/// Writes `metric(a) − metric(b)` per scenario, then their mean, then the difference of the
/// two methods' worst scenarios into `row`, the tiles weighted by `scratch.counts` (NaN where
/// either side is undefined).
fn differences(a: &[Series], b: &[Series], metric: TileMetric, k: usize, scratch: &mut Scratch, row: &mut [f64]) {
    let (mut sum, mut worst_a, mut worst_b) = (0.0, f64::INFINITY, f64::INFINITY);
    for (s, (x, y)) in a.iter().zip(b).enumerate() {
        let (va, vb) = (value(x, metric, k, scratch), value(y, metric, k, scratch));
        row[s] = va - vb;
        sum += va - vb;
        // NaN propagates: a worst scenario is undefined when any scenario is.
        worst_a = if va.is_nan() || worst_a.is_nan() { f64::NAN } else { worst_a.min(va) };
        worst_b = if vb.is_nan() || worst_b.is_nan() { f64::NAN } else { worst_b.min(vb) };
    }
    row[a.len()] = sum / a.len() as f64;
    row[a.len() + 1] = worst_a - worst_b;
}

/// One method's metric over the tiles weighted by `scratch.counts`; NaN where it is undefined
/// (lssg-core's rule), so that it propagates through the differences and is dropped from the
/// intervals.
fn value(series: &Series, metric: TileMetric, k: usize, scratch: &mut Scratch) -> f64 {
    let kk = k * k;
    match metric {
        TileMetric::SoftJaccard => {
            let (mut sum, mut n) = (0.0, 0u64);
            for (v, &c) in series.soft.iter().zip(&scratch.counts) {
                if c > 0 && !v.is_nan() {
                    sum += v * f64::from(c);
                    n += u64::from(c);
                }
            }
            if n == 0 { f64::NAN } else { sum / n as f64 }
        }
        TileMetric::Miou | TileMetric::Accuracy => {
            scratch.summed.fill(0);
            for (m, &c) in series.confusion.chunks_exact(kk).zip(&scratch.counts) {
                if c > 0 {
                    for (acc, v) in scratch.summed.iter_mut().zip(m) {
                        *acc += v * u64::from(c);
                    }
                }
            }
            let Ok(matrix) = ConfusionMatrix::new(&scratch.summed, k) else { return f64::NAN };
            let value = if metric == TileMetric::Miou { matrix.miou() } else { matrix.accuracy() };
            value.unwrap_or(f64::NAN)
        }
    }
}
