//! Constructed cells with known values for the integration tests.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lssg_core::MetricId;
use lssg_report::record::FORMAT;
use lssg_report::{CellKey, CellRecord, Curve, CurvePoint, Distribution, ScenarioRecord, TileRecord};

/// The scenarios of every constructed cell.
pub const SCENARIOS: [&str; 2] = ["optical", "optical+sar"];

/// Per-tile data: a tile of `n` pixels per class with `err` of them mislabelled, two classes.
pub fn tiles(errors: &[u64], soft: &[f64]) -> TileRecord {
    let confusion = errors
        .iter()
        .enumerate()
        .map(|(t, &e)| {
            let n = 10 + t as u64;
            vec![n - e, e, e, n - e]
        })
        .collect();
    TileRecord { soft_jaccard: soft.iter().map(|v| Some(*v)).collect(), confusion }
}

/// The evaluation under `name` with summary mIoU `m`, other metrics derived from it.
pub fn scenario(name: &str, m: f64, tile: &TileRecord) -> ScenarioRecord {
    ScenarioRecord {
        scenario: name.to_string(),
        metrics: BTreeMap::from([
            (MetricId::Miou, m),
            (MetricId::SoftJaccard, m - 0.1),
            (MetricId::SoftF1, m + 0.1),
            (MetricId::Accuracy, m + 0.2),
        ]),
        tiles: tile.clone(),
    }
}

/// A cell evaluated under `scenarios` (name, mIoU as a fraction) on the plain tiles.
pub fn cell_with(method: &str, seed: u64, scenarios: &[(&str, f64)]) -> CellRecord {
    let mut c = cell(method, seed, [0.0, 0.0], &plain_tiles());
    c.scenarios = scenarios.iter().map(|(s, m)| scenario(s, *m, &plain_tiles())).collect();
    c
}

/// A distribution over `names` with the given distortion, guided probabilities ∝ distortion
/// + 0.1, and none of the optional scores.
pub fn scored(names: &[&str], distortion: &[f64]) -> Distribution {
    let raw: Vec<f64> = distortion.iter().map(|d| d + 0.1).collect();
    let total: f64 = raw.iter().sum();
    Distribution {
        scenarios: names.iter().map(|s| s.to_string()).collect(),
        distortion: distortion.to_vec(),
        probabilities: raw.iter().map(|r| r / total).collect(),
        distortion_ci: None,
        probabilities_ci: None,
        task_increase: None,
        task_probabilities: None,
    }
}

/// A cell whose summary mIoU per scenario is `miou` (fractions), other metrics derived from it,
/// with the given per-tile data for every scenario.
pub fn cell(method: &str, seed: u64, miou: [f64; 2], tile: &TileRecord) -> CellRecord {
    let scenarios = SCENARIOS.iter().zip(miou).map(|(s, m)| scenario(s, m, tile)).collect();
    let curves = vec![Curve {
        stage: format!("finetune/{method}"),
        points: (1..=3)
            .map(|e| CurvePoint {
                epoch: e,
                train_loss: 1.0 / e as f64,
                val_loss: None,
                val_metric: Some(0.1 * e as f64),
                sampling: None,
                weights: None,
            })
            .collect(),
    }];
    CellRecord {
        format: FORMAT,
        index: 0,
        key: CellKey { dataset: "ds".into(), model: "m".into(), variant: String::new(), seed, method: method.into() },
        primary_metric: MetricId::Miou,
        class_names: vec!["background".into(), "building".into()],
        scenarios,
        curves,
        distribution: None,
        seconds: 1.0,
        protocols: None,
        maps: None,
    }
}

/// A pretraining cell with a distribution and no evaluation.
pub fn pretrained(seed: u64, probabilities: [f64; 2]) -> CellRecord {
    let mut c = cell("pretrained", seed, [0.0, 0.0], &tiles(&[], &[]));
    c.scenarios.clear();
    c.curves[0].stage = "pretrain".into();
    c.distribution = Some(Distribution {
        scenarios: SCENARIOS.iter().map(|s| s.to_string()).collect(),
        distortion: vec![0.5, 0.25],
        probabilities: probabilities.to_vec(),
        distortion_ci: None,
        probabilities_ci: None,
        task_increase: None,
        task_probabilities: None,
    });
    c
}

/// Writes `cell` as `dir/<method>/seed<seed>/cell.json`.
pub fn write(dir: &Path, cell: &CellRecord) -> PathBuf {
    let path = dir.join(&cell.key.method).join(format!("seed{}", cell.key.seed)).join("cell.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, serde_json::to_vec_pretty(cell).unwrap()).unwrap();
    path
}

/// Tiles on which every method is equally good.
pub fn plain_tiles() -> TileRecord {
    tiles(&[1, 2, 0, 3, 1, 2], &[0.8, 0.7, 0.9, 0.6, 0.8, 0.75])
}

/// guided's mIoU per seed under the first scenario: 50, 52, 54, 56, 58 %.
pub const GUIDED_A: [f64; 5] = [0.50, 0.52, 0.54, 0.56, 0.58];
/// uniform's: 48 .. 52 %, so guided − uniform = 2, 3, 4, 5, 6 pp.
pub const UNIFORM_A: [f64; 5] = [0.48, 0.49, 0.50, 0.51, 0.52];
/// guided's under the second scenario.
pub const GUIDED_B: [f64; 5] = [0.61, 0.58, 0.63, 0.64, 0.65];
/// uniform's: guided − uniform = 1, −2, 3, 4, 5 pp.
pub const UNIFORM_B: [f64; 5] = [0.60, 0.60, 0.60, 0.60, 0.60];

/// Writes guided and uniform cells for seeds 0..5 (plus lora for all seeds) and returns the dir.
pub fn standard_set(dir: &Path) {
    let t = plain_tiles();
    for s in 0..5 {
        write(dir, &cell("guided", s as u64, [GUIDED_A[s], GUIDED_B[s]], &t));
        write(dir, &cell("uniform", s as u64, [UNIFORM_A[s], UNIFORM_B[s]], &t));
        write(dir, &cell("lora", s as u64, [0.5, 0.6], &t));
    }
    write(dir, &pretrained(0, [0.7, 0.3]));
    write(dir, &pretrained(1, [0.6, 0.4]));
}
