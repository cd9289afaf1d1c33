//! Writes a realistic synthetic benchmark (pretrained + uniform, guided, guided-adaptive,
//! guided-task, lora, dro; 5 seeds; the 7 scenarios of three modalities; 7 classes; 16 test
//! tiles; score intervals, task-aware scores, per-epoch sampling distributions, the robustness
//! protocols, predicted maps of two tiles and DRO's q per epoch) and renders its report, to
//! look at the plots and the HTML without running a benchmark:
//!
//! `cargo run -p lssg-report --example synthetic -- [DIR]` (default `/tmp/lssg-report-demo`)
//! writes `DIR/cells/**/cell.json` and `DIR/report/`.

#[path = "synthetic/robustness.rs"]
mod robustness;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lssg_core::seed::SplitMix64;
use lssg_core::{ConfusionMatrix, MetricId};
use lssg_report::record::FORMAT;
use lssg_report::{
    Band, CellKey, CellRecord, Curve, CurvePoint, Distribution, ReportConfig, ScenarioRecord, TileRecord,
};

const SCENARIOS: [(&str, f64); 7] = [
    ("optical", 0.74),
    ("sar", 0.52),
    ("height", 0.47),
    ("optical+sar", 0.79),
    ("optical+height", 0.77),
    ("sar+height", 0.60),
    ("optical+sar+height", 0.82),
];
const CLASSES: [&str; 7] = ["background", "building", "road", "water", "forest", "field", "bare soil"];
const TILES: usize = 16;
const METHODS: [&str; 7] = ["pretrained", "uniform", "lora", "guided", "guided-adaptive", "guided-task", "dro"];
/// Fine-tuning epochs.
const EPOCHS: usize = 10;

fn uniform(rng: &mut SplitMix64) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// How well `method` does under a scenario of base quality `q`: guided helps most where one
/// modality is weak, lora a little less than uniform.
fn quality(method: &str, q: f64, seed_noise: f64) -> f64 {
    let offset = match method {
        "pretrained" => -0.06,
        "uniform" => 0.0,
        "lora" => -0.012,
        "guided-adaptive" => 0.008 + 0.045 * (0.8 - q).max(0.0),
        "guided-task" => 0.004 + 0.05 * (0.8 - q).max(0.0),
        "dro" => -0.004 + 0.07 * (0.8 - q).max(0.0),
        _ => 0.006 + 0.04 * (0.8 - q).max(0.0),
    };
    (q + offset + seed_noise).clamp(0.05, 0.98)
}

fn tile_confusion(rng: &mut SplitMix64, q: f64) -> Vec<u64> {
    let k = CLASSES.len();
    let mut m = vec![0u64; k * k];
    for label in 0..k {
        if uniform(rng) < 0.3 {
            continue; // the class is absent from this tile
        }
        let pixels = 50 + rng.below(400) as u64;
        let p = (q + 0.15 * (uniform(rng) - 0.5)).clamp(0.0, 1.0);
        let correct = (pixels as f64 * p) as u64;
        m[label * k + label] += correct;
        for _ in 0..(pixels - correct) {
            m[label * k + rng.below(k)] += 1;
        }
    }
    m
}

fn scenario_record(rng: &mut SplitMix64, name: &str, q: f64) -> ScenarioRecord {
    let k = CLASSES.len();
    let confusion: Vec<Vec<u64>> = (0..TILES).map(|_| tile_confusion(rng, q)).collect();
    let soft: Vec<Option<f64>> = confusion
        .iter()
        .map(|m| {
            let v = ConfusionMatrix::new(m, k).ok().and_then(|m| m.miou());
            v.map(|v| (v * 0.97 + 0.01 * uniform(rng)).min(1.0))
        })
        .collect();
    let mut summed = vec![0u64; k * k];
    confusion.iter().for_each(|m| summed.iter_mut().zip(m).for_each(|(a, b)| *a += b));
    let sj = soft.iter().flatten().sum::<f64>() / soft.iter().flatten().count().max(1) as f64;
    let matrix = ConfusionMatrix::new(&summed, k).expect("K × K");
    let mut metrics = BTreeMap::from([(MetricId::SoftJaccard, sj), (MetricId::SoftF1, 2.0 * sj / (1.0 + sj))]);
    metrics.extend(matrix.miou().map(|v| (MetricId::Miou, v)));
    metrics.extend(matrix.accuracy().map(|v| (MetricId::Accuracy, v)));
    ScenarioRecord { scenario: name.into(), metrics, tiles: TileRecord { soft_jaccard: soft, confusion } }
}

/// The guided smoothing: 70 % proportional to the (non-negative) score, 30 % uniform.
fn smooth(scores: &[f64]) -> Vec<f64> {
    let total: f64 = scores.iter().map(|s| s.max(0.0)).sum();
    let n = scores.len() as f64;
    scores.iter().map(|s| 0.7 * s.max(0.0) / total.max(1e-12) + 0.3 / n).collect()
}

/// The scoring result of seed `seed`'s pretrained network: distortion (0 for the full
/// scenario) with bootstrap intervals, and the task-aware scores.
fn scores(seed: u64) -> Distribution {
    let mut rng = SplitMix64::stream(seed, 1000);
    let full = SCENARIOS[SCENARIOS.len() - 1].1;
    let distortion: Vec<f64> =
        SCENARIOS.iter().map(|(_, q)| 0.9 * (full - q) * (0.85 + 0.3 * uniform(&mut rng))).collect();
    let task: Vec<f64> = SCENARIOS
        .iter()
        .map(|(_, q)| {
            if *q == full { 0.0 } else { 1.6 * (full - q) * (0.7 + 0.6 * uniform(&mut rng)) - 0.03 * uniform(&mut rng) }
        })
        .collect();
    let probabilities = smooth(&distortion);
    let spread = |v: &[f64], rel: f64, rng: &mut SplitMix64| Band {
        lo: v.iter().map(|x| x * (1.0 - rel * (0.6 + 0.8 * uniform(rng)))).collect(),
        hi: v.iter().map(|x| x * (1.0 + rel * (0.6 + 0.8 * uniform(rng)))).collect(),
    };
    Distribution {
        scenarios: SCENARIOS.iter().map(|(s, _)| s.to_string()).collect(),
        distortion_ci: Some(spread(&distortion, 0.07, &mut rng)),
        probabilities_ci: Some(spread(&probabilities, 0.05, &mut rng)),
        task_probabilities: Some(smooth(&task)),
        task_increase: Some(task),
        distortion,
        probabilities,
    }
}

/// The distribution `method` samples at `epoch`: `guided-adaptive` drifts from the guided
/// distribution towards a re-scored one, `guided-task` keeps the task-aware one; others none.
fn sampling(method: &str, seed: u64, epoch: usize, rng: &mut SplitMix64) -> Option<Vec<f64>> {
    let d = scores(seed);
    match method {
        "guided-task" => d.task_probabilities,
        "guided-adaptive" => {
            let a = 0.65 * (epoch - 1) as f64 / (EPOCHS - 1) as f64;
            // training lowers the distortion of the hard scenarios most: the re-scored
            // distribution is flatter than the initial one
            let target = smooth(&d.distortion.iter().map(|x| x.sqrt()).collect::<Vec<_>>());
            let raw: Vec<f64> = d
                .probabilities
                .iter()
                .zip(&target)
                .map(|(p, t)| ((1.0 - a) * p + a * t) * (1.0 + 0.08 * (uniform(rng) - 0.5)))
                .collect();
            let total: f64 = raw.iter().sum();
            Some(raw.iter().map(|p| p / total).collect())
        }
        _ => None,
    }
}

fn curve(rng: &mut SplitMix64, stage: &str, seed: u64, epochs: usize, start: f64, end_metric: f64) -> Curve {
    let method = stage.strip_prefix("finetune/").unwrap_or("");
    let points = (1..=epochs)
        .map(|epoch| {
            let t = epoch as f64 / epochs as f64;
            let train_loss = start * (-2.5 * t).exp() + 0.25 + 0.03 * uniform(rng);
            let validated = epoch % 2 == 0 || epoch == epochs;
            CurvePoint {
                epoch,
                train_loss,
                val_loss: validated.then_some(train_loss * 1.1),
                val_metric: validated.then(|| end_metric * (1.0 - 0.5 * (-3.0 * t).exp()) + 0.01 * uniform(rng)),
                sampling: sampling(method, seed, epoch, rng),
                weights: (method == "dro").then(|| robustness::dro_weights(&SCENARIOS.map(|s| s.1), epoch, epochs)),
            }
        })
        .collect();
    Curve { stage: stage.into(), points }
}

fn cell(method: &str, seed: u64, index: usize) -> CellRecord {
    let mut rng = SplitMix64::stream(seed, index as u64);
    let seed_noise = 0.02 * (uniform(&mut SplitMix64::new(seed)) - 0.5);
    let scenarios: Vec<ScenarioRecord> =
        SCENARIOS.iter().map(|(name, q)| scenario_record(&mut rng, name, quality(method, *q, seed_noise))).collect();
    let protocols = Some(robustness::protocols(method, &scenarios, &mut rng));
    let maps = (seed == 0).then(|| robustness::maps(&scenarios, &mut rng));
    let (curves, distribution) = if method == "pretrained" {
        (vec![curve(&mut rng, "pretrain", seed, 30, 2.0, 0.7)], Some(scores(seed)))
    } else {
        (vec![curve(&mut rng, &format!("finetune/{method}"), seed, EPOCHS, 0.8, 0.75)], None)
    };
    CellRecord {
        format: FORMAT,
        index,
        key: CellKey {
            dataset: "synthetic".into(),
            model: "cmx-small".into(),
            variant: String::new(),
            seed,
            method: method.into(),
        },
        primary_metric: MetricId::Miou,
        class_names: CLASSES.iter().map(|c| c.to_string()).collect(),
        scenarios,
        curves,
        distribution,
        seconds: 60.0,
        protocols,
        maps,
    }
}

/// Writes the synthetic cells under `dir/cells`, one directory per cell.
fn write_cells(dir: &Path) -> Result<usize, Box<dyn std::error::Error>> {
    let mut index = 0;
    for seed in 0..5u64 {
        for method in METHODS {
            let c = cell(method, seed, index);
            let path = dir.join(format!("seed{seed}/{method}/cell.json"));
            lssg_scenario::io::write_atomic(&path, &serde_json::to_vec_pretty(&c)?)?;
            index += 1;
        }
    }
    Ok(index)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::env::args().nth(1).map_or_else(|| PathBuf::from("/tmp/lssg-report-demo"), PathBuf::from);
    let n = write_cells(&root.join("cells"))?;
    let pairs = ["guided-adaptive", "guided-task"].map(|m| (m.to_string(), "uniform".to_string())).to_vec();
    let config = ReportConfig { pairs, ..ReportConfig::default() };
    let summary = lssg_report::report(&root.join("cells"), &root.join("report"), &config)?;
    println!("{n} cells written, {} used, {} problems", summary.cells, summary.problems.len());
    for p in &summary.written {
        println!("{}", p.display());
    }
    Ok(())
}
