//! Writes a realistic synthetic benchmark (pretrained + uniform, lora, guided; 5 seeds; the 7
//! scenarios of three modalities; 7 classes; 16 test tiles) and renders its report, to look at
//! the plots and the HTML without running a benchmark:
//!
//! `cargo run -p lssg-report --example synthetic -- [DIR]` (default `/tmp/lssg-report-demo`)
//! writes `DIR/cells/**/cell.json` and `DIR/report/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lssg_report::record::FORMAT;
use lssg_report::stats::SplitMix64;
use lssg_report::{
    CellKey, CellRecord, Curve, CurvePoint, Distribution, ReportConfig, ScenarioRecord, TileRecord, metric,
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
            let v = metric::miou(m, k);
            if v.is_nan() { None } else { Some((v * 0.97 + 0.01 * uniform(rng)).min(1.0)) }
        })
        .collect();
    let mut summed = vec![0u64; k * k];
    confusion.iter().for_each(|m| summed.iter_mut().zip(m).for_each(|(a, b)| *a += b));
    let sj = soft.iter().flatten().sum::<f64>() / soft.iter().flatten().count().max(1) as f64;
    let metrics = BTreeMap::from([
        ("miou".to_string(), metric::miou(&summed, k)),
        ("accuracy".to_string(), metric::accuracy(&summed, k)),
        ("soft_jaccard".to_string(), sj),
        ("soft_f1".to_string(), 2.0 * sj / (1.0 + sj)),
    ]);
    ScenarioRecord { scenario: name.into(), metrics, tiles: TileRecord { soft_jaccard: soft, confusion } }
}

fn curve(rng: &mut SplitMix64, stage: &str, epochs: usize, start: f64, end_metric: f64) -> Curve {
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
                sampling: None,
            }
        })
        .collect();
    Curve { stage: stage.into(), points }
}

fn cell(method: &str, seed: u64, index: usize) -> CellRecord {
    let mut rng = SplitMix64::stream(seed, index as u64);
    let seed_noise = 0.02 * (uniform(&mut SplitMix64::new(seed)) - 0.5);
    let scenarios =
        SCENARIOS.iter().map(|(name, q)| scenario_record(&mut rng, name, quality(method, *q, seed_noise))).collect();
    let (curves, distribution) = if method == "pretrained" {
        let distortion: Vec<f64> = SCENARIOS.iter().map(|(_, q)| (1.0 - q) * (0.9 + 0.2 * uniform(&mut rng))).collect();
        let weights: Vec<f64> = distortion.iter().map(|d| (3.0 * d).exp()).collect();
        let total: f64 = weights.iter().sum();
        let distribution = Distribution {
            scenarios: SCENARIOS.iter().map(|(s, _)| s.to_string()).collect(),
            distortion,
            probabilities: weights.iter().map(|w| w / total).collect(),
            distortion_ci: None,
            probabilities_ci: None,
            task_increase: None,
            task_probabilities: None,
        };
        (vec![curve(&mut rng, "pretrain", 30, 2.0, 0.7)], Some(distribution))
    } else {
        (vec![curve(&mut rng, &format!("finetune/{method}"), 10, 0.8, 0.75)], None)
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
        primary_metric: "miou".into(),
        class_names: CLASSES.iter().map(|c| c.to_string()).collect(),
        scenarios,
        curves,
        distribution,
        seconds: 60.0,
    }
}

/// Writes the synthetic cells under `dir/cells`, one directory per cell.
fn write_cells(dir: &Path) -> Result<usize, Box<dyn std::error::Error>> {
    let mut index = 0;
    for seed in 0..5u64 {
        for method in ["pretrained", "uniform", "lora", "guided"] {
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
    let summary = lssg_report::report(&root.join("cells"), &root.join("report"), &ReportConfig::default())?;
    println!("{n} cells written, {} used, {} problems", summary.cells, summary.problems.len());
    for p in &summary.written {
        println!("{}", p.display());
    }
    Ok(())
}
