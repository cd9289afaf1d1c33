//! End-to-end behaviour of the report on constructed cells with hand-computed answers.

mod common;

use common::*;
use lssg_core::MetricId;
use lssg_report::aggregate::SummaryRow;
use lssg_report::{
    GroupReport, LoadError, MEAN_ROW, PairRow, Report, ReportConfig, TileMetric, WORST_ROW, build_report, load_cells,
    report, tile_bootstrap,
};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn config() -> ReportConfig {
    ReportConfig { bootstrap_resamples: 400, plots: false, ..ReportConfig::default() }
}

fn build(dir: &std::path::Path) -> Report {
    build_report(&load_cells(dir).unwrap(), &config()).unwrap()
}

fn summary<'a>(g: &'a GroupReport, method: &str, metric: MetricId, scenario: &str) -> &'a SummaryRow {
    let m = g.methods.iter().find(|m| m.method == method).unwrap();
    let t = m.metrics.iter().find(|t| t.metric == metric).unwrap();
    t.rows.iter().find(|r| r.scenario == scenario).unwrap()
}

fn pair_row<'a>(g: &'a GroupReport, a: &str, b: &str, metric: MetricId, scenario: &str) -> &'a PairRow {
    let p = g.pairs.iter().find(|p| p.a == a && p.b == b).unwrap();
    let t = p.metrics.iter().find(|t| t.metric == metric).unwrap();
    t.rows.iter().find(|r| r.scenario == scenario).unwrap()
}

#[test]
fn means_and_stds_per_method() {
    let dir = tempfile::tempdir().unwrap();
    standard_set(dir.path());
    let r = build(dir.path());
    assert_eq!(r.groups.len(), 1);
    let g = &r.groups[0];
    assert_eq!(g.metrics[0], MetricId::Miou, "the primary metric leads");
    assert_eq!(g.methods.iter().map(|m| m.method.as_str()).collect::<Vec<_>>(), ["uniform", "guided", "lora"]);
    // guided: 50, 52, 54, 56, 58 -> mean 54, sample std sqrt(40 / 4)
    let row = summary(g, "guided", MetricId::Miou, "optical");
    assert!(close(row.mean.unwrap(), 54.0) && close(row.std.unwrap(), 10f64.sqrt()) && row.n == 5);
    // uniform: 48 .. 52 -> mean 50, std sqrt(10) / 2
    let row = summary(g, "uniform", MetricId::Miou, "optical");
    assert!(close(row.mean.unwrap(), 50.0) && close(row.std.unwrap(), 10f64.sqrt() / 2.0));
    // the mean over scenarios per seed, then over seeds: guided (54 + 62.2) / 2
    let row = summary(g, "guided", MetricId::Miou, MEAN_ROW);
    assert!(close(row.mean.unwrap(), (54.0 + 62.2) / 2.0), "{:?}", row.mean);
    // each seed's worst scenario is optical here (below optical+sar): guided's mean 54 again
    let row = summary(g, "guided", MetricId::Miou, WORST_ROW);
    assert!(close(row.mean.unwrap(), 54.0) && close(row.std.unwrap(), 10f64.sqrt()), "{:?}", row.mean);
    // other metrics are read from their own fields (soft_jaccard = miou − 10 pp here)
    assert!(close(summary(g, "guided", MetricId::SoftJaccard, "optical").mean.unwrap(), 44.0));
}

#[test]
fn paired_differences_and_tests_match_hand_computation() {
    let dir = tempfile::tempdir().unwrap();
    standard_set(dir.path());
    let g = &build(dir.path()).groups[0];
    assert_eq!(
        g.pairs.iter().map(|p| (p.a.as_str(), p.b.as_str())).collect::<Vec<_>>(),
        [("guided", "uniform"), ("guided", "lora")]
    );
    // optical: differences 2, 3, 4, 5, 6 pp, all positive
    let r = pair_row(g, "guided", "uniform", MetricId::Miou, "optical");
    assert_eq!(r.seeds, [0, 1, 2, 3, 4]);
    assert!(r.diffs.iter().zip([2.0, 3.0, 4.0, 5.0, 6.0]).all(|(a, b)| (a - b).abs() < 1e-9), "{:?}", r.diffs);
    assert!(close(r.mean_diff.unwrap(), 4.0));
    assert!(close(r.wilcoxon_p, 2.0 / 32.0));
    assert!(close(r.sign_p, 2.0 / 32.0));
    assert_eq!((r.p_improve, r.wins, r.ties, r.losses), (Some(1.0), 5, 0, 0));
    let ci = r.seed_ci.unwrap();
    assert!(ci.contains(4.0) && ci.lo >= 2.0 - 1e-9 && ci.hi <= 6.0 + 1e-9 && ci.lo > 2.0, "{ci:?}");
    // optical+sar: differences 1, −2, 3, 4, 5 pp: W+ = 13, P(W+ ≥ 13) = 3/32 -> p = 6/32;
    // sign test 4 of 5 -> 2 · 6/32
    let r = pair_row(g, "guided", "uniform", MetricId::Miou, "optical+sar");
    assert!(close(r.mean_diff.unwrap(), 2.2));
    assert!(close(r.wilcoxon_p, 6.0 / 32.0), "{}", r.wilcoxon_p);
    assert!(close(r.sign_p, 0.375));
    assert_eq!((r.p_improve, r.wins, r.ties, r.losses), (Some(0.8), 4, 0, 1));
    // identical tiles for both methods: every per-seed tile interval is exactly [0, 0]
    assert_eq!(r.tile_ci.len(), 5);
    assert!(r.tile_ci.iter().all(|t| t.observed == 0.0 && t.interval.is_some_and(|i| i.lo == 0.0 && i.hi == 0.0)));
    // soft_f1 has no per-tile data: no tile intervals
    assert!(pair_row(g, "guided", "uniform", MetricId::SoftF1, "optical").tile_ci.is_empty());
}

#[test]
fn bootstrap_intervals_are_reproducible_for_a_fixed_seed() {
    let dir = tempfile::tempdir().unwrap();
    standard_set(dir.path());
    let (a, b) = (build(dir.path()), build(dir.path()));
    assert_eq!(a, b);
    let loaded = load_cells(dir.path()).unwrap();
    let other = build_report(&loaded, &ReportConfig { bootstrap_seed: 99, ..config() }).unwrap();
    let ci = |r: &Report| pair_row(&r.groups[0], "guided", "uniform", MetricId::Miou, "optical+sar").seed_ci.unwrap();
    assert_ne!(ci(&a), ci(&other), "another bootstrap seed draws other resamples");
}

#[test]
fn tile_bootstrap_of_a_method_better_on_every_tile_is_strictly_positive() {
    let good = tiles(&[0, 0, 0, 0, 0, 0, 0, 0], &[0.95, 0.9, 0.92, 0.97, 0.93, 0.91, 0.96, 0.94]);
    let bad = tiles(&[2, 3, 1, 4, 2, 5, 1, 3], &[0.85, 0.8, 0.9, 0.82, 0.88, 0.81, 0.9, 0.84]);
    let a = cell("guided", 0, [0.6, 0.7], &good);
    let b = cell("uniform", 0, [0.5, 0.6], &bad);
    for metric in [TileMetric::Miou, TileMetric::SoftJaccard, TileMetric::Accuracy] {
        let t = tile_bootstrap(&a, &b, metric, 500, 3, 0.95).unwrap();
        assert!(t.intervals.iter().all(|i| i.unwrap().lo > 0.0), "{metric:?}: {:?}", t.intervals);
        assert!(t.mean_interval.unwrap().lo > 0.0);
        assert!(t.mean_interval.unwrap().contains(t.observed_mean));
        // better on every tile of every scenario: its worst scenario is better too
        assert!(t.worst_interval.unwrap().lo > 0.0 && t.observed_worst > 0.0, "{metric:?}");
        assert_eq!(t, tile_bootstrap(&a, &b, metric, 500, 3, 0.95).unwrap(), "deterministic");
    }
    // and the reverse pair is strictly negative
    let t = tile_bootstrap(&b, &a, TileMetric::Miou, 500, 3, 0.95).unwrap();
    assert!(t.mean_interval.unwrap().hi < 0.0);
    let same = tile_bootstrap(&a, &a, TileMetric::Miou, 200, 0, 0.95).unwrap();
    assert!(
        same.intervals
            .iter()
            .chain([&same.mean_interval, &same.worst_interval])
            .all(|i| *i == Some(lssg_report::Interval { lo: 0.0, hi: 0.0 }))
    );
}

#[test]
fn broken_files_are_reported_by_path_and_excluded() {
    let dir = tempfile::tempdir().unwrap();
    standard_set(dir.path());
    // a truncated file
    let truncated = dir.path().join("guided/seed7/cell.json");
    std::fs::create_dir_all(truncated.parent().unwrap()).unwrap();
    let full = serde_json::to_string(&cell("guided", 7, [0.99, 0.99], &plain_tiles())).unwrap();
    std::fs::write(&truncated, &full[..full.len() / 2]).unwrap();
    // a confusion matrix of the wrong length, deep in another layout
    let mut bad = cell("guided", 8, [0.99, 0.99], &plain_tiles());
    bad.scenarios[1].tiles.confusion[2].pop();
    let mismatched = dir.path().join("x/y/z/cell.json");
    std::fs::create_dir_all(mismatched.parent().unwrap()).unwrap();
    std::fs::write(&mismatched, serde_json::to_vec(&bad).unwrap()).unwrap();
    // fewer soft_jaccard values than tiles
    let mut short = cell("uniform", 9, [0.01, 0.01], &plain_tiles());
    short.scenarios[0].tiles.soft_jaccard.pop();
    let short_path = write(dir.path(), &short);

    let r = build(dir.path());
    let paths: Vec<_> = r.problems.iter().map(|p| p.path.clone()).collect();
    assert_eq!(paths.len(), 3, "{:?}", r.problems);
    for p in [&truncated, &mismatched, &short_path] {
        assert!(paths.contains(p), "{p:?} not in {paths:?}");
    }
    let msg = &r.problems.iter().find(|p| p.path == mismatched).unwrap().message;
    assert!(msg.contains("scenarios[1].tiles.confusion[2]"), "{msg}");
    // the means are those of the good cells only
    let g = &r.groups[0];
    assert!(close(summary(g, "guided", MetricId::Miou, "optical").mean.unwrap(), 54.0));
    assert!(close(summary(g, "uniform", MetricId::Miou, "optical").mean.unwrap(), 50.0));
    assert_eq!(summary(g, "guided", MetricId::Miou, "optical").n, 5);
    assert!(r.cells.iter().all(|c| c.path != truncated && c.path != mismatched));
}

#[test]
fn duplicates_inconsistent_scenarios_and_other_formats_are_problems() {
    let dir = tempfile::tempdir().unwrap();
    standard_set(dir.path());
    let dup = cell("lora", 0, [0.1, 0.1], &plain_tiles());
    let dup_path = dir.path().join("copy/cell.json");
    std::fs::create_dir_all(dup_path.parent().unwrap()).unwrap();
    std::fs::write(&dup_path, serde_json::to_vec(&dup).unwrap()).unwrap();
    let mut renamed = cell("lora", 5, [0.1, 0.1], &plain_tiles());
    renamed.scenarios[1].scenario = "sar".into();
    let renamed_path = write(dir.path(), &renamed);
    let mut newer = cell("lora", 6, [0.1, 0.1], &plain_tiles());
    newer.format = 99;
    let newer_path = write(dir.path(), &newer);
    // a metric name outside MetricId, as a primary metric and as a scenario's metric
    let mut unknown = serde_json::to_value(cell("lora", 7, [0.1, 0.1], &plain_tiles())).unwrap();
    unknown["primary_metric"] = "iou".into();
    let unknown_path = dir.path().join("unknown/cell.json");
    std::fs::create_dir_all(unknown_path.parent().unwrap()).unwrap();
    std::fs::write(&unknown_path, unknown.to_string()).unwrap();
    let mut extra = serde_json::to_value(cell("lora", 8, [0.1, 0.1], &plain_tiles())).unwrap();
    extra["scenarios"][0]["metrics"]["dice"] = 0.5.into();
    let extra_path = dir.path().join("extra/cell.json");
    std::fs::create_dir_all(extra_path.parent().unwrap()).unwrap();
    std::fs::write(&extra_path, extra.to_string()).unwrap();

    let r = build(dir.path());
    let msg = |p: &std::path::Path| r.problems.iter().find(|x| x.path == p).map(|x| x.message.clone());
    assert!(msg(&dup_path).unwrap().contains("also in"));
    assert!(msg(&dir.path().join("lora/seed0/cell.json")).unwrap().contains("also in"), "both copies are left out");
    assert!(msg(&renamed_path).unwrap().contains("scenarios differ"));
    assert!(msg(&newer_path).unwrap().contains("format 99"));
    assert!(msg(&unknown_path).unwrap().contains("unknown variant `iou`"), "{:?}", msg(&unknown_path));
    assert!(msg(&extra_path).unwrap().contains("unknown variant `dice`"), "{:?}", msg(&extra_path));
    let lora = r.groups[0].methods.iter().find(|m| m.method == "lora").unwrap();
    assert_eq!(lora.seeds, [1, 2, 3, 4]);
}

#[test]
fn a_seed_missing_for_one_method_is_left_out_of_the_pair() {
    let dir = tempfile::tempdir().unwrap();
    standard_set(dir.path());
    std::fs::remove_file(dir.path().join("uniform/seed4/cell.json")).unwrap();
    let g = &build(dir.path()).groups[0];
    let p = g.pairs.iter().find(|p| p.b == "uniform").unwrap();
    assert_eq!(p.seeds, [0, 1, 2, 3]);
    assert_eq!(p.unpaired, [("guided".to_string(), 4)]);
    assert!(g.notes.iter().any(|n| n.contains("guided seed 4")), "{:?}", g.notes);
    let r = pair_row(g, "guided", "uniform", MetricId::Miou, "optical");
    assert!(close(r.mean_diff.unwrap(), 3.5)); // (2 + 3 + 4 + 5) / 4
    assert!(close(r.wilcoxon_p, 2.0 / 16.0));
    // guided's own summary still has all five seeds
    assert_eq!(summary(g, "guided", MetricId::Miou, "optical").n, 5);
}

#[test]
fn distributions_and_curves_are_collected() {
    let dir = tempfile::tempdir().unwrap();
    standard_set(dir.path());
    let g = &build(dir.path()).groups[0];
    let d = g.distribution.as_ref().unwrap();
    assert_eq!(d.seeds, [0, 1]);
    assert!(close(d.probability_mean[0], 0.65) && close(d.probability_std[0], 0.05f64.hypot(0.05)));
    let stages: Vec<&str> = g.curves.iter().map(|c| c.stage.as_str()).collect();
    assert_eq!(stages, ["pretrain", "finetune/uniform", "finetune/guided", "finetune/lora"]);
    let pts = &g.curves[0].seeds[0].1;
    assert!(close(pts[2].val_metric.unwrap(), 30.0), "validation metric in percent");
}

#[test]
fn missing_and_empty_directories_are_errors_naming_the_dir() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let e = load_cells(&missing).unwrap_err();
    assert!(matches!(&e, LoadError::Missing { dir } if *dir == missing));
    assert!(e.to_string().contains("nope"));
    std::fs::write(dir.path().join("other.json"), "{}").unwrap();
    let e = load_cells(dir.path()).unwrap_err();
    assert!(matches!(&e, LoadError::Empty { dir: d } if d == dir.path()));
}

#[test]
fn the_files_are_written_and_the_html_is_self_contained() {
    let dir = tempfile::tempdir().unwrap();
    let cells = dir.path().join("cells");
    standard_set(&cells);
    std::fs::write(cells.join("broken.json"), "not a cell").unwrap(); // not named cell.json: ignored
    let out = dir.path().join("out");
    let cfg = ReportConfig { bootstrap_resamples: 200, ..ReportConfig::default() };
    let s = report(&cells, &out, &cfg).unwrap();
    assert_eq!((s.cells, s.problems.len()), (17, 0));
    for f in ["report.md", "report.csv", "report.json", "report.html"] {
        assert!(s.written.contains(&out.join(f)) && out.join(f).is_file(), "{f}");
    }
    let pngs = s.written.iter().filter(|p| p.extension().is_some_and(|e| e == "png")).count();
    let svgs = s.written.iter().filter(|p| p.extension().is_some_and(|e| e == "svg")).count();
    // bars, two pairs, the distribution, four stages
    assert_eq!((pngs, svgs), (8, 8));
    for p in s.written.iter().filter(|p| p.extension().is_some_and(|e| e == "png")) {
        assert!(std::fs::read(p).unwrap().starts_with(b"\x89PNG\r\n\x1a\n"), "{p:?}");
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(!html.contains("src=") && !html.contains("href=") && !html.contains("<script"));
    assert_eq!(html.matches("<svg").count(), 8);
    assert!(html.contains("guided − uniform"));
    let json: Report = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(json.cells.len(), 17);
    let csv = std::fs::read_to_string(out.join("report.csv")).unwrap();
    assert!(csv.starts_with("dataset,model,variant,kind,name,scenario,metric,statistic,value\n"));
    let value = |prefix: &str| -> f64 {
        let line = csv.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no {prefix}"));
        line.rsplit(',').next().unwrap().parse().unwrap()
    };
    assert!(close(value("ds,m,,method,guided,optical,miou,mean,"), 54.0));
    assert!(close(value("ds,m,,pair,guided-uniform,optical+sar,miou,sign_p,"), 0.375));
    assert!(close(value("ds,m,,pair,guided-uniform,optical,miou,wilcoxon_p,"), 0.0625));
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("| optical | 50.00 ± 1.58 (5) |"), "{md}");
    // no temporary files left behind
    assert!(std::fs::read_dir(&out).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().starts_with('.')));
}

#[test]
fn the_config_is_checked_before_anything_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ReportConfig { bootstrap_resamples: 0, ..ReportConfig::default() };
    let e = report(&dir.path().join("nope"), dir.path(), &cfg).unwrap_err();
    assert!(e.to_string().contains("bootstrap_resamples"), "{e}");
}
