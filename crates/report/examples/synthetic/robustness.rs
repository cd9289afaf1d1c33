//! The robustness parts of the synthetic benchmark: the protocols' results of a cell (expected
//! metric from its own scenario metrics, random-missing and noisy degradations of its full
//! scenario), predicted maps of two 32 × 32 test tiles, and group DRO's q per epoch.

use std::collections::BTreeMap;

use lssg_core::MetricId;
use lssg_core::seed::SplitMix64;
use lssg_report::ScenarioRecord;
use lssg_scenario::robustness::{
    MissingRecord, NoisyRecord, PredictedMap, Protocols, TileMap, TileMaps, expected_metrics,
};
use lssg_scenario::{FailureProfile, ModalitySet};

use super::{CLASSES, uniform};

/// The three modalities of the synthetic scenarios.
const MODALITIES: [&str; 3] = ["optical", "sar", "height"];

/// How much `method` resists a degradation of strength `s` ∈ [0, 1] of one modality.
fn resistance(method: &str) -> f64 {
    match method {
        "pretrained" => 0.55,
        "uniform" => 0.8,
        "dro" => 0.9,
        "lora" => 0.75,
        _ => 0.85,
    }
}

fn degraded(full: &BTreeMap<MetricId, f64>, loss: f64) -> BTreeMap<MetricId, f64> {
    full.iter().map(|(k, v)| (*k, (v - loss).max(0.0))).collect()
}

/// The protocols of a cell evaluated as `scenarios` (canonical order, names as the set's).
pub fn protocols(method: &str, scenarios: &[ScenarioRecord], rng: &mut SplitMix64) -> Protocols {
    let set = ModalitySet::from_names(MODALITIES, 1).expect("three modalities");
    let ordered: Vec<BTreeMap<MetricId, f64>> = set
        .scenarios()
        .into_iter()
        .map(|s| {
            let name = set.scenario_name(s);
            scenarios.iter().find(|r| r.scenario == name).map(|r| r.metrics.clone()).unwrap_or_default()
        })
        .collect();
    let mut expected: Vec<_> = [0.05, 0.1, 0.2]
        .into_iter()
        .map(|p| {
            let profile = FailureProfile::uniform(p, &set).expect("p in [0, 1)");
            expected_metrics(&format!("p = {p}"), &profile, &set, &set.scenarios(), &ordered).expect("every scenario")
        })
        .collect();
    let deployment = FailureProfile::new(vec![0.02, 0.15, 0.3], &set).expect("a profile");
    expected.push(expected_metrics("deployment", &deployment, &set, &set.scenarios(), &ordered).expect("scenarios"));
    let full = ordered.last().cloned().unwrap_or_default();
    let r = resistance(method);
    // each modality's share of the full scenario's quality
    let weight = [0.12, 0.07, 0.05];
    let mut random_missing = Vec::new();
    for rate in [0.25, 0.5, 0.75] {
        for (m, w) in MODALITIES.iter().zip(weight) {
            let loss = w * rate * (1.0 - r) * 2.0 + 0.004 * uniform(rng);
            random_missing.push(MissingRecord { modality: m.to_string(), rate, metrics: degraded(&full, loss) });
        }
    }
    let mut noisy = Vec::new();
    for snr_db in [20.0, 10.0, 0.0] {
        let strength = 10f64.powf(-snr_db / 20.0);
        for (m, w) in MODALITIES.iter().zip(weight) {
            let loss = w * strength * (1.0 - r) * 3.0 + 0.004 * uniform(rng);
            noisy.push(NoisyRecord { modality: m.to_string(), snr_db, metrics: degraded(&full, loss) });
        }
    }
    Protocols { expected, random_missing, noisy }
}

/// Side of the synthetic tiles.
const SIDE: usize = 32;

/// A tile's labels: a few class blobs on background, a row of unlabelled pixels at the top.
fn labels(tile: usize) -> Vec<u8> {
    let mut rng = SplitMix64::stream(tile as u64, 77);
    let blobs: Vec<(f64, f64, f64, u8)> = (0..5)
        .map(|_| {
            let class = 1 + (rng.next_u64() % (CLASSES.len() as u64 - 1)) as u8;
            (uniform(&mut rng) * SIDE as f64, uniform(&mut rng) * SIDE as f64, 4.0 + 6.0 * uniform(&mut rng), class)
        })
        .collect();
    (0..SIDE * SIDE)
        .map(|i| {
            let (y, x) = ((i / SIDE) as f64, (i % SIDE) as f64);
            if y < 1.0 {
                return 255;
            }
            blobs.iter().rev().find(|(by, bx, r, _)| (y - by).powi(2) + (x - bx).powi(2) < r * r).map_or(0, |b| b.3)
        })
        .collect()
}

/// A prediction of `labels` of quality `q`: each pixel kept with probability `q`, else a
/// neighbour's class or background.
fn predict(labels: &[u8], q: f64, rng: &mut SplitMix64) -> Vec<u8> {
    (0..labels.len())
        .map(|i| {
            let own = if labels[i] == 255 { 0 } else { labels[i] };
            if uniform(rng) < q {
                own
            } else {
                let j = (i + SIDE + 1) % labels.len();
                if labels[j] == 255 || uniform(rng) < 0.5 { 0 } else { labels[j] }
            }
        })
        .collect()
}

/// The predicted maps of tiles 0 and 5 under every scenario.
pub fn maps(scenarios: &[ScenarioRecord], rng: &mut SplitMix64) -> TileMaps {
    let tiles = [0usize, 5]
        .into_iter()
        .map(|tile| {
            let labels = labels(tile);
            let predictions = scenarios
                .iter()
                .map(|s| {
                    let q = s.metrics.get(&MetricId::Miou).copied().unwrap_or(0.5);
                    PredictedMap { scenario: s.scenario.clone(), classes: predict(&labels, (q + 0.15).min(1.0), rng) }
                })
                .collect();
            TileMap { tile, height: SIDE, width: SIDE, labels, predictions }
        })
        .collect();
    let palette = vec![
        [200, 200, 200],
        [230, 25, 75],
        [128, 128, 128],
        [0, 130, 200],
        [60, 180, 75],
        [255, 225, 25],
        [170, 110, 40],
    ];
    TileMaps { palette, tiles }
}

/// Group DRO's q at `epoch` of `epochs`: moving from uniform towards the scenarios with
/// the highest loss (the weakest base quality).
pub fn dro_weights(qualities: &[f64], epoch: usize, epochs: usize) -> Vec<f64> {
    let t = epoch as f64 / epochs as f64;
    let raw: Vec<f64> = qualities.iter().map(|q| (4.0 * t * (1.0 - q)).exp()).collect();
    let total: f64 = raw.iter().sum();
    raw.iter().map(|r| r / total).collect()
}
