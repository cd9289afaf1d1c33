//! Score intervals, task-aware scores, the scoring diagnostic and sampling trajectories, on
//! constructed cells with hand-computed answers (docs/report.md §7–§9).

mod common;

use std::path::Path;

use common::*;
use lssg_report::{
    Band, CurvePoint, Report, ReportConfig, Score, build_report, diagnose, load_cells, report, spearman,
};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn build(dir: &Path) -> Report {
    let config = ReportConfig { bootstrap_resamples: 200, plots: false, ..ReportConfig::default() };
    build_report(&load_cells(dir).unwrap(), &config).unwrap()
}

/// Writes the report with plots into `dir/out` and returns its CSV.
fn render(dir: &Path) -> String {
    let config = ReportConfig { bootstrap_resamples: 200, ..ReportConfig::default() };
    report(&dir.join("cells"), &dir.join("out"), &config).unwrap();
    std::fs::read_to_string(dir.join("out/report.csv")).unwrap()
}

/// The value of the CSV line starting with `prefix`.
fn csv_value(csv: &str, prefix: &str) -> Option<f64> {
    csv.lines().find(|l| l.starts_with(prefix)).and_then(|l| l.rsplit(',').next()).and_then(|v| v.parse().ok())
}

/// The scenarios of the diagnostic cells, the full one last.
const FIVE: [&str; 5] = ["optical", "sar", "height", "optical+sar", "optical+sar+height"];
/// mIoU of the pretrained network: drops from the full 80 % are 10, 30, 40, 5 pp.
const MIOU: [f64; 5] = [0.70, 0.50, 0.40, 0.75, 0.80];
/// Ranks the partial scenarios like the drop (ρ = 1).
const DISTORTION: [f64; 5] = [0.2, 0.5, 0.9, 0.1, 0.0];
/// Ranks them the other way round (ρ = −1).
const TASK: [f64; 5] = [0.3, 0.2, 0.1, 0.4, 0.0];

/// An evaluated pretraining cell with every score.
fn diagnostic_cell(seed: u64) -> lssg_report::CellRecord {
    let scenarios: Vec<(&str, f64)> = FIVE.iter().copied().zip(MIOU).collect();
    let mut c = cell_with("pretrained", seed, &scenarios);
    let mut d = scored(&FIVE, &DISTORTION);
    d.task_increase = Some(TASK.to_vec());
    d.task_probabilities = Some(vec![0.3, 0.25, 0.2, 0.15, 0.1]);
    c.distribution = Some(d);
    c
}

#[test]
fn spearman_matches_hand_computed_values() {
    // monotone but not linear: ranks agree exactly
    assert_eq!(spearman(&[1.0, 2.0, 3.0, 4.0], &[1.0, 4.0, 9.0, 16.0]), Some(1.0));
    assert_eq!(spearman(&[1.0, 2.0, 3.0, 4.0], &[8.0, 4.0, 2.0, 1.0]), Some(-1.0));
    // one swap among five: Σd² = 4, ρ = 1 − 6·4 / (5·24) = 0.8 (no ties, so the classic formula)
    assert!(close(spearman(&[1.0, 2.0, 3.0, 4.0, 5.0], &[2.0, 1.0, 4.0, 3.0, 5.0]).unwrap(), 0.8));
    // ties: ranks of a = 1, 2.5, 2.5, 4 against 1, 2, 3, 4; deviations (−1.5, 0, 0, 1.5) and
    // (−1.5, −0.5, 0.5, 1.5): ρ = 4.5 / √(4.5 · 5) = √0.9
    assert!(close(spearman(&[1.0, 2.0, 2.0, 3.0], &[1.0, 2.0, 3.0, 4.0]).unwrap(), 0.9f64.sqrt()));
    // constant, too short, unequal lengths, not finite
    assert_eq!(spearman(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), None);
    assert_eq!(spearman(&[1.0, 2.0], &[1.0, 2.0]), None);
    assert_eq!(spearman(&[1.0, 2.0, 3.0], &[1.0, 2.0]), None);
    assert_eq!(spearman(&[1.0, f64::NAN, 3.0], &[1.0, 2.0, 3.0]), None);
}

#[test]
fn the_diagnostic_of_one_cell_ranks_the_partial_scenarios() {
    let d = diagnose(&diagnostic_cell(3)).unwrap();
    assert_eq!(d.seed, 3);
    assert_eq!(d.full_scenario, "optical+sar+height");
    assert_eq!(d.scenarios, FIVE[..4]);
    assert_eq!(d.distortion, DISTORTION[..4]);
    let drop = d.metric_drop.as_ref().unwrap();
    assert!(drop.iter().zip([10.0, 30.0, 40.0, 5.0]).all(|(a, b)| (a - b).abs() < 1e-9), "{drop:?}");
    assert_eq!(d.rho(Score::Distortion, Score::MetricDrop), Some(1.0));
    assert_eq!(d.rho(Score::TaskIncrease, Score::MetricDrop), Some(-1.0));
    assert_eq!(d.rho(Score::MetricDrop, Score::TaskIncrease), Some(-1.0), "either order");
    assert_eq!(d.rho(Score::Distortion, Score::TaskIncrease), Some(-1.0));
    // without an evaluation and without task scores only D is left: nothing to correlate
    let mut bare = diagnostic_cell(0);
    bare.scenarios.clear();
    bare.distribution.as_mut().unwrap().task_increase = None;
    let d = diagnose(&bare).unwrap();
    assert_eq!((d.metric_drop.as_ref(), d.task_increase.as_ref()), (None, None));
    assert!(d.correlations.iter().all(|c| c.rho.is_none()));
    // no distribution, or only the full scenario: no diagnostic
    assert!(diagnose(&cell("guided", 0, [0.5, 0.6], &plain_tiles())).is_none());
    let mut only_full = diagnostic_cell(0);
    only_full.distribution = Some(scored(&["optical"], &[0.0]));
    assert!(diagnose(&only_full).is_none());
}

#[test]
fn the_diagnostic_is_reported_per_seed_with_mean_and_range() {
    let dir = tempfile::tempdir().unwrap();
    let cells = dir.path().join("cells");
    write(&cells, &diagnostic_cell(0));
    // seed 1: optical and sar swapped in distortion
    let mut other = diagnostic_cell(1);
    other.distribution.as_mut().unwrap().distortion = vec![0.5, 0.2, 0.9, 0.1, 0.0];
    write(&cells, &other);
    let r = build(&cells);
    let g = &r.groups[0];
    let diag = g.diagnostic.as_ref().unwrap();
    assert_eq!(diag.seeds.iter().map(|d| d.seed).collect::<Vec<_>>(), [0, 1]);
    let pair = diag.pairs.iter().find(|p| (p.x, p.y) == (Score::Distortion, Score::MetricDrop)).unwrap();
    // seed 1: D ranks (3, 2, 4, 1) against the drop's (2, 3, 4, 1): Σd² = 2, ρ = 1 − 12/60 = 0.8
    assert_eq!(pair.seeds, [0, 1]);
    assert!(close(pair.rho[0].unwrap(), 1.0) && close(pair.rho[1].unwrap(), 0.8), "{:?}", pair.rho);
    assert!(close(pair.mean.unwrap(), 0.9) && close(pair.min.unwrap(), 0.8) && close(pair.max.unwrap(), 1.0));
    let csv = render(dir.path());
    assert_eq!(csv_value(&csv, "ds,m,,diagnostic,distortion-drop,all,spearman,mean,"), Some(0.9));
    assert_eq!(csv_value(&csv, "ds,m,,diagnostic,task-drop,all,spearman,seed:0,"), Some(-1.0));
    let md = std::fs::read_to_string(dir.path().join("out/report.md")).unwrap();
    assert!(md.contains("| latent distortion D vs metric drop | 1.00 | 0.80 | 0.90 | [0.80, 1.00] |"), "{md}");
    for name in ["distortion-drop", "task-drop", "distortion-task"] {
        let png = dir.path().join(format!("out/plots/ds_m_diagnostic_{name}.png"));
        assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"), "{png:?}");
    }
    let html = std::fs::read_to_string(dir.path().join("out/report.html")).unwrap();
    assert!(html.contains("<h3>Scoring diagnostic</h3>") && html.contains("ρ seed 1"));
}

#[test]
fn score_intervals_and_task_scores_appear_in_the_csv_and_tables() {
    let dir = tempfile::tempdir().unwrap();
    let cells = dir.path().join("cells");
    for (seed, shift) in [(0u64, 0.0), (1, 0.1)] {
        let mut c = pretrained(seed, [0.7, 0.3]);
        let d = c.distribution.as_mut().unwrap();
        d.distortion_ci = Some(Band { lo: vec![0.4 + shift, 0.2], hi: vec![0.6 + shift, 0.3] });
        d.probabilities_ci = Some(Band { lo: vec![0.65, 0.25], hi: vec![0.75, 0.35] });
        d.task_increase = Some(vec![0.2 + shift, 0.0]);
        d.task_probabilities = Some(vec![0.8, 0.2]);
        write(&cells, &c);
    }
    let csv = render(dir.path());
    let v = |suffix: &str| csv_value(&csv, &format!("ds,m,,distribution,pretrained,{suffix},"));
    assert_eq!(v("optical,distortion,ci_lo:0"), Some(0.4));
    assert!(close(v("optical,distortion,ci_hi:1").unwrap(), 0.7));
    assert_eq!(v("optical+sar,probability,ci_hi:0"), Some(0.35));
    assert!(close(v("optical,task_increase,seed:1").unwrap(), 0.3));
    assert!(close(v("optical,task_increase,mean").unwrap(), 0.25));
    assert_eq!(v("optical,task_probability,mean"), Some(0.8));
    let md = std::fs::read_to_string(dir.path().join("out/report.md")).unwrap();
    assert!(md.contains("| optical | 0.5000 [0.4000, 0.6000] | 0.5000 [0.5000, 0.7000] |"), "{md}");
    assert!(md.contains("| optical | 0.700 [0.650, 0.750] | 0.700 [0.650, 0.750] |"), "{md}");
    assert!(md.contains("| task-aware probability | task-loss increase |"), "{md}");
    // two seeds with intervals: the per-seed interval figure next to the distribution figure
    for name in ["distribution", "score_intervals"] {
        assert!(dir.path().join(format!("out/plots/ds_m_{name}.png")).is_file(), "{name}");
    }
    let g = &build(&cells).groups[0];
    let d = g.distribution.as_ref().unwrap();
    assert_eq!(d.task_seeds(), 2);
    assert!(close(d.distortion_ci[1].as_ref().unwrap().lo[0], 0.5));
}

fn adaptive_cell(seed: u64, sampling: &[[f64; 2]]) -> lssg_report::CellRecord {
    let mut c = cell("guided-adaptive", seed, [0.5, 0.6], &plain_tiles());
    c.curves[0].points = sampling
        .iter()
        .enumerate()
        .map(|(e, s)| CurvePoint {
            epoch: e + 1,
            train_loss: 1.0,
            val_loss: None,
            val_metric: None,
            sampling: Some(s.to_vec()),
            weights: None,
        })
        .collect();
    c
}

#[test]
fn sampling_trajectories_are_plotted_only_where_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let cells = dir.path().join("cells");
    standard_set(&cells);
    write(&cells, &adaptive_cell(0, &[[0.7, 0.3], [0.6, 0.4], [0.5, 0.5]]));
    write(&cells, &adaptive_cell(1, &[[0.7, 0.3], [0.8, 0.2]]));
    write(&cells, &cell("guided-task", 0, [0.5, 0.6], &plain_tiles()));
    render(dir.path());
    let plots: Vec<String> = std::fs::read_dir(dir.path().join("out/plots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("_sampling_"))
        .collect();
    let mut plots = plots;
    plots.sort();
    assert_eq!(plots, ["ds_m_sampling_finetune-guided-adaptive.png", "ds_m_sampling_finetune-guided-adaptive.svg"]);
    let json: Report = serde_json::from_slice(&std::fs::read(dir.path().join("out/report.json")).unwrap()).unwrap();
    let g = &json.groups[0];
    let methods: Vec<&str> = g.methods.iter().map(|m| m.method.as_str()).collect();
    assert_eq!(methods, ["uniform", "guided", "guided-adaptive", "guided-task", "lora"]);
    assert_eq!(g.trajectories.len(), 1);
    let t = &g.trajectories[0];
    assert_eq!(
        (t.stage.as_str(), t.scenarios.as_slice()),
        ("finetune/guided-adaptive", &SCENARIOS.map(String::from)[..])
    );
    assert_eq!(t.seeds.iter().map(|s| (s.seed, s.points.len())).collect::<Vec<_>>(), [(0, 3), (1, 2)]);
    // epoch 2: mean of 0.6 and 0.8; epoch 3: seed 0 alone
    assert!(close(t.mean[1].probabilities[0], 0.7) && close(t.mean[2].probabilities[1], 0.5), "{:?}", t.mean);
    let html = std::fs::read_to_string(dir.path().join("out/report.html")).unwrap();
    let (curves, sampling) = (html.find("<h3>Learning curves</h3>"), html.find("<h3>Sampling distributions"));
    assert!(curves.is_some() && sampling > curves, "trajectories under the learning curves");
}

#[test]
fn old_records_without_the_new_fields_still_report() {
    let dir = tempfile::tempdir().unwrap();
    let cells = dir.path().join("cells");
    standard_set(&cells);
    // an evaluated pretraining cell of another data set, written as before the new fields
    let scenarios: Vec<(&str, f64)> = FIVE.iter().copied().zip(MIOU).collect();
    let mut old = cell_with("pretrained", 0, &scenarios);
    old.key.dataset = "old".into();
    old.distribution = Some(scored(&FIVE, &DISTORTION));
    let path = write(&cells, &old);
    let mut value: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let dist = value["distribution"].as_object().unwrap();
    assert!(
        ["distortion_ci", "probabilities_ci", "task_increase", "task_probabilities"]
            .iter()
            .all(|k| !dist.contains_key(*k))
    );
    value["curves"][0]["points"][0].as_object_mut().unwrap().remove("sampling");
    std::fs::write(&path, serde_json::to_vec(&value).unwrap()).unwrap();
    let csv = render(dir.path());
    let r: Report = serde_json::from_slice(&std::fs::read(dir.path().join("out/report.json")).unwrap()).unwrap();
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    let ds = r.groups.iter().find(|g| g.key.dataset == "ds").unwrap();
    assert!(ds.diagnostic.is_none(), "unevaluated pretraining cells without task scores have nothing to correlate");
    assert!(ds.trajectories.is_empty());
    let old = r.groups.iter().find(|g| g.key.dataset == "old").unwrap();
    let diag = old.diagnostic.as_ref().unwrap();
    let pairs: Vec<(Score, Score)> = diag.pairs.iter().map(|p| (p.x, p.y)).collect();
    assert_eq!(pairs, [(Score::Distortion, Score::MetricDrop)], "only the pair both vectors exist for");
    assert_eq!(diag.pairs[0].mean, Some(1.0));
    let d = old.distribution.as_ref().unwrap();
    assert!(d.task_probability_mean.is_none() && !d.has_intervals());
    assert!(!csv.contains(",ci_lo:") && !csv.contains("task_"));
    let plots = std::fs::read_dir(dir.path().join("out/plots")).unwrap().map(|e| e.unwrap().file_name());
    let names: Vec<String> = plots.map(|n| n.to_string_lossy().into_owned()).collect();
    assert!(names.iter().all(|n| !n.contains("score_intervals") && !n.contains("_sampling_")), "{names:?}");
    assert!(names.iter().any(|n| n == "old_m_diagnostic_distortion-drop.png"), "{names:?}");
}

#[test]
fn malformed_new_fields_are_problems_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    standard_set(dir.path());
    let mut bad = pretrained(7, [0.5, 0.5]);
    bad.distribution.as_mut().unwrap().distortion_ci = Some(Band { lo: vec![0.1], hi: vec![0.2, 0.3] });
    let band = write(dir.path(), &bad);
    let mut short = adaptive_cell(8, &[[0.5, 0.5], [1.0, 0.0]]);
    short.curves[0].points[1].sampling = Some(vec![1.0]);
    let sampling = write(dir.path(), &short);
    let r = build(dir.path());
    let msg = |p: &Path| r.problems.iter().find(|x| x.path == p).map(|x| x.message.clone()).unwrap_or_default();
    assert!(msg(&band).contains("distribution.distortion_ci.lo"), "{:?}", r.problems);
    assert!(msg(&sampling).contains("curves[0].points[1].sampling"), "{:?}", r.problems);
}
