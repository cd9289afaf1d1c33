//! The robustness protocols in the report: rows, paired differences, the opening summary and
//! the figures, on constructed cells with hand-computed answers.

mod common;

use std::collections::BTreeMap;

use common::*;
use lssg_core::MetricId;
use lssg_report::protocol_tables::summary_table;
use lssg_report::{CellRecord, GroupReport, Report, ReportConfig, build_report, load_cells, report};
use lssg_scenario::robustness::{
    ExpectedRecord, MissingRecord, NoisyRecord, PredictedMap, ProtocolKind, Protocols, TileMap, TileMaps,
};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn miou(v: f64) -> BTreeMap<MetricId, f64> {
    BTreeMap::from([(MetricId::Miou, v), (MetricId::SoftJaccard, v - 0.1)])
}

/// Per-seed protocol values of one cell: the expected mIoU at p = 0.1 is `expected` (other p
/// shifted by 0.1 − p, the deployment profile 0.05 lower), random-missing at r = 0.5 is
/// `missing` per modality (optical, sar; other rates shifted by (0.5 − r) / 10), noisy at
/// 10 dB is `noisy` per modality (other SNRs shifted by (snr − 10) / 100).
fn protocols(expected: f64, missing: [f64; 2], noisy: [f64; 2]) -> Protocols {
    let p = |v: f64| BTreeMap::from([("optical".to_string(), v), ("sar".to_string(), v)]);
    let mut expected_rows: Vec<ExpectedRecord> = [0.05, 0.1, 0.2]
        .into_iter()
        .map(|q| ExpectedRecord {
            label: format!("p = {q}"),
            p: p(q),
            all_missing: q * q,
            metrics: miou(expected + (0.1 - q)),
        })
        .collect();
    expected_rows.push(ExpectedRecord {
        label: "deployment".into(),
        p: BTreeMap::from([("optical".to_string(), 0.1), ("sar".to_string(), 0.3)]),
        all_missing: 0.03,
        metrics: miou(expected - 0.05),
    });
    let modalities = ["optical", "sar"];
    let random_missing = [0.25, 0.5, 0.75]
        .into_iter()
        .flat_map(|r| {
            modalities.iter().zip(missing).map(move |(m, v)| MissingRecord {
                modality: m.to_string(),
                rate: r,
                metrics: miou(v + (0.5 - r) / 10.0),
            })
        })
        .collect();
    let noisy = [20.0, 10.0, 0.0]
        .into_iter()
        .flat_map(|snr| {
            modalities.iter().zip(noisy).map(move |(m, v)| NoisyRecord {
                modality: m.to_string(),
                snr_db: snr,
                metrics: miou(v + (snr - 10.0) / 100.0),
            })
        })
        .collect();
    Protocols { expected: expected_rows, random_missing, noisy }
}

/// uniform, guided and dro over seeds 0..3 (docs of the values in each assertion).
fn protocol_set(dir: &std::path::Path) {
    let uniform_expected = [0.60, 0.62, 0.64];
    let guided_expected = [0.61, 0.64, 0.64];
    let dro_expected = [0.65, 0.66, 0.67];
    for s in 0..3 {
        let mut c = cell_with("uniform", s as u64, &[("optical", 0.50), ("optical+sar", 0.60)]);
        c.protocols = Some(protocols(uniform_expected[s], [0.50, 0.40], [0.70, 0.70]));
        write(dir, &c);
        let mut c = cell_with("guided", s as u64, &[("optical", 0.52), ("optical+sar", 0.62)]);
        c.protocols = Some(protocols(guided_expected[s], [0.52, 0.44], [0.69, 0.69]));
        write(dir, &c);
        let mut c = cell_with("dro", s as u64, &[("optical", 0.50), ("optical+sar", 0.58)]);
        c.protocols = Some(protocols(dro_expected[s], [0.49, 0.41], [0.68, 0.68]));
        write(dir, &c);
    }
}

fn build(dir: &std::path::Path) -> Report {
    let config = ReportConfig { bootstrap_resamples: 400, plots: false, ..ReportConfig::default() };
    build_report(&load_cells(dir).unwrap(), &config).unwrap()
}

fn method_mean(g: &GroupReport, method: &str, row: &str) -> (Option<f64>, Option<f64>) {
    let m = g.methods.iter().find(|m| m.method == method).unwrap();
    let r = m.metrics[0].rows.iter().find(|r| r.scenario == row).unwrap();
    (r.mean, r.std)
}

#[test]
fn protocol_rows_are_ordered_and_labelled() {
    let dir = tempfile::tempdir().unwrap();
    protocol_set(dir.path());
    let g = &build(dir.path()).groups[0];
    let keys: Vec<&str> = g.protocols.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "expected p = 0.05",
            "expected p = 0.1",
            "expected p = 0.2",
            "expected deployment",
            "random-missing r = 0.25",
            "random-missing r = 0.25, optical",
            "random-missing r = 0.25, sar",
            "random-missing r = 0.5",
            "random-missing r = 0.5, optical",
            "random-missing r = 0.5, sar",
            "random-missing r = 0.75",
            "random-missing r = 0.75, optical",
            "random-missing r = 0.75, sar",
            "noisy 20 dB",
            "noisy 20 dB, optical",
            "noisy 20 dB, sar",
            "noisy 10 dB",
            "noisy 10 dB, optical",
            "noisy 10 dB, sar",
            "noisy 0 dB",
            "noisy 0 dB, optical",
            "noisy 0 dB, sar",
        ]
    );
    let row = |k: &str| g.protocols.iter().find(|p| p.key == k).unwrap();
    assert_eq!(row("expected p = 0.1").label(MetricId::Miou), "expected mIoU, p = 0.1");
    assert_eq!(row("expected p = 0.1").all_missing, Some(0.1 * 0.1));
    assert_eq!(row("expected deployment").level, None, "a per-modality profile has no single p");
    assert_eq!(row("random-missing r = 0.5").label(MetricId::Miou), "random-missing r = 0.5 (mean over modalities)");
    assert_eq!(row("noisy 10 dB, sar").label(MetricId::Miou), "noisy 10 dB, sar");
    assert_eq!(row("noisy 0 dB").kind, ProtocolKind::Noisy);
}

#[test]
fn protocol_values_means_and_differences_match_hand_computation() {
    let dir = tempfile::tempdir().unwrap();
    protocol_set(dir.path());
    let g = &build(dir.path()).groups[0];
    assert_eq!(g.methods.iter().map(|m| m.method.as_str()).collect::<Vec<_>>(), ["uniform", "guided", "dro"]);
    // uniform's expected mIoU at p = 0.1: 60, 62, 64 -> mean 62, std 2
    let (m, s) = method_mean(g, "uniform", "expected p = 0.1");
    assert!(close(m.unwrap(), 62.0) && close(s.unwrap(), 2.0), "{m:?} {s:?}");
    // at p = 0.2 every value is 10 points lower
    assert!(close(method_mean(g, "uniform", "expected p = 0.2").0.unwrap(), 52.0));
    // random-missing r = 0.5, the mean over modalities of 50 and 40 is 45; guided's (52 + 44) / 2
    assert!(close(method_mean(g, "uniform", "random-missing r = 0.5").0.unwrap(), 45.0));
    assert!(close(method_mean(g, "guided", "random-missing r = 0.5").0.unwrap(), 48.0));
    assert!(close(method_mean(g, "guided", "random-missing r = 0.5, sar").0.unwrap(), 44.0));
    // r = 0.25 is (0.5 − 0.25) / 10 = 2.5 points above r = 0.5
    assert!(close(method_mean(g, "uniform", "random-missing r = 0.25").0.unwrap(), 47.5));
    // noisy 0 dB is 10 points under 10 dB
    assert!(close(method_mean(g, "dro", "noisy 0 dB").0.unwrap(), 58.0));
    // the pair guided − uniform on expected p = 0.1: differences 1, 2, 0 -> mean 1, W/T/L 2/1/0;
    // Wilcoxon on the two non-zero differences (ranks 1, 2, both positive): p = 2 · 1/4
    let p = g.pairs.iter().find(|p| p.a == "guided" && p.b == "uniform").unwrap();
    let r = p.metrics[0].rows.iter().find(|r| r.scenario == "expected p = 0.1").unwrap();
    assert!(r.diffs.iter().zip([1.0, 2.0, 0.0]).all(|(a, b)| (a - b).abs() < 1e-9), "{:?}", r.diffs);
    assert!(close(r.mean_diff.unwrap(), 1.0));
    assert_eq!((r.wins, r.ties, r.losses), (2, 1, 0));
    assert!(close(r.wilcoxon_p, 0.5) && close(r.p_improve.unwrap(), 2.5 / 3.0));
    let ci = r.seed_ci.unwrap();
    assert!(ci.lo >= -1e-9 && ci.hi <= 2.0 + 1e-9 && ci.contains(1.0), "{ci:?}");
    assert!(r.tile_ci.is_empty(), "no tile interval: `sar` alone was not evaluated, the weights need it");
    // every strategy against uniform: dro's expected p = 0.1 differences 5, 4, 3
    let dro = g.versus_baseline.iter().find(|c| c.method == "dro").unwrap();
    let r = dro.rows.iter().find(|r| r.scenario == "expected p = 0.1").unwrap();
    assert!(close(r.mean_diff.unwrap(), 4.0) && r.seed_ci.unwrap().lo >= 3.0 - 1e-9);
    assert_eq!(g.versus_baseline.iter().map(|c| c.method.as_str()).collect::<Vec<_>>(), ["guided", "dro"]);
}

#[test]
fn the_summary_names_the_best_strategy_per_protocol() {
    let dir = tempfile::tempdir().unwrap();
    protocol_set(dir.path());
    let report = build(dir.path());
    let g = &report.groups[0];
    let lines: Vec<(&str, Option<&str>, Option<&str>)> =
        g.summary.iter().map(|l| (l.protocol.as_str(), l.best.as_deref(), l.challenger.as_deref())).collect();
    assert_eq!(
        lines,
        [
            // means over scenarios 55, 57, 54; worst 50, 52, 50
            ("mean over scenarios", Some("guided"), Some("guided")),
            ("worst scenario", Some("guided"), Some("guided")),
            // 62, 63, 66
            ("expected mIoU, p = 0.1", Some("dro"), Some("dro")),
            ("expected mIoU, deployment", Some("dro"), Some("dro")),
            // 45, 48, 45
            ("random-missing r = 0.5 (mean over modalities)", Some("guided"), Some("guided")),
            // 70, 69, 68: uniform is best, guided the best of the others
            ("noisy 10 dB (mean over modalities)", Some("uniform"), Some("guided")),
        ]
    );
    let diff = |i: usize| g.summary[i].versus_baseline.as_ref().unwrap();
    assert!(close(diff(0).mean_diff.unwrap(), 2.0));
    assert!(close(diff(2).mean_diff.unwrap(), 4.0));
    assert!(close(diff(4).mean_diff.unwrap(), 3.0) && diff(4).seed_ci.unwrap().lo > 3.0 - 1e-9);
    assert!(close(diff(5).mean_diff.unwrap(), -1.0) && (diff(5).wins, diff(5).losses) == (0, 3));
    assert!(close(g.summary[2].best_mean.unwrap(), 66.0));
    let table = summary_table(&report).unwrap().markdown();
    assert!(table.contains("| expected mIoU, p = 0.1 | dro (66.00) | dro: +4.00 [+3.00, +5.00] | 3/0/0 |"), "{table}");
    assert!(table.contains("| noisy 10 dB (mean over modalities) | uniform (70.00) | guided: -1.00 [-1.00, -1.00]"));
}

#[test]
fn cells_without_protocols_keep_their_report() {
    let dir = tempfile::tempdir().unwrap();
    standard_set(dir.path());
    let g = &build(dir.path()).groups[0];
    assert!(g.protocols.is_empty());
    assert!(g.methods.iter().all(|m| m.metrics.iter().all(|t| t.rows.len() == 4)), "2 scenarios, mean, worst");
    // the summary still opens with the mean and the worst scenario
    assert_eq!(
        g.summary.iter().map(|l| l.protocol.as_str()).collect::<Vec<_>>(),
        ["mean over scenarios", "worst scenario"]
    );
    assert_eq!(g.summary[0].best.as_deref(), Some("guided"));
}

fn with_protocols(c: &mut CellRecord) {
    c.protocols = Some(protocols(0.6, [0.5, 0.4], [0.7, 0.7]));
}

#[test]
fn a_record_without_protocols_loads_and_one_with_them_round_trips() {
    let mut c = cell_with("uniform", 0, &[("optical", 0.5), ("optical+sar", 0.6)]);
    let plain = serde_json::to_string(&c).unwrap();
    assert!(!plain.contains("protocols") && !plain.contains("maps"), "absent fields are not written");
    with_protocols(&mut c);
    let back: CellRecord = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
    let (p, q) = (back.protocols.unwrap(), c.protocols.unwrap());
    assert_eq!((p.expected.len(), p.random_missing.len(), p.noisy.len()), (4, 6, 6));
    assert_eq!(p.expected[3].label, q.expected[3].label);
    assert_eq!(p.noisy[5].modality, "sar");
}

/// A 4 × 4 tile whose labels are class 0 on the left half and 1 on the right; `method`
/// predicts class `k` everywhere under scenario `optical` and the labels under `optical+sar`.
fn maps(k: u8) -> TileMaps {
    let labels: Vec<u8> = (0..16).map(|i| if i % 4 < 2 { 0 } else { 1 }).collect();
    let tile = TileMap {
        tile: 3,
        height: 4,
        width: 4,
        labels: labels.clone(),
        predictions: vec![
            PredictedMap { scenario: "optical".into(), classes: vec![k; 16] },
            PredictedMap { scenario: "optical+sar".into(), classes: labels },
        ],
    };
    TileMaps { palette: vec![[10, 20, 30], [200, 100, 0]], tiles: vec![tile] }
}

#[test]
fn the_files_show_the_summary_first_and_every_new_figure() {
    let dir = tempfile::tempdir().unwrap();
    let cells = dir.path().join("cells");
    protocol_set(&cells);
    // seed 1 of every method carries maps; dro records its q per epoch
    for (method, k) in [("uniform", 0u8), ("guided", 1), ("dro", 1)] {
        let path = cells.join(method).join("seed1").join("cell.json");
        let mut c: CellRecord = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        c.maps = Some(maps(k));
        if method == "dro" {
            for (e, p) in c.curves[0].points.iter_mut().enumerate() {
                let q = 0.5 + 0.1 * e as f64;
                p.weights = Some(vec![q, 1.0 - q]);
            }
        }
        std::fs::write(&path, serde_json::to_vec(&c).unwrap()).unwrap();
    }
    let out = dir.path().join("out");
    let config = ReportConfig { bootstrap_resamples: 200, ..ReportConfig::default() };
    report(&cells, &out, &config).unwrap();
    let plot = |name: &str| out.join("plots").join(name);
    for name in ["ds_m_profile_miou", "ds_m_maps_tile3", "ds_m_weights_finetune-dro"] {
        assert!(plot(&format!("{name}.png")).is_file() && plot(&format!("{name}.svg")).is_file(), "{name}");
    }
    // the maps' SVG embeds one image per map: labels and two scenarios for three methods
    let svg = std::fs::read_to_string(plot("ds_m_maps_tile3.svg")).unwrap();
    assert_eq!(svg.matches("data:image/png;base64,").count(), 9);
    // in the PNG, uniform's first row predicts class 0 everywhere under `optical` (column 2):
    // the palette's first colour at the centre of that box; its labels box is split
    let decoder = png::Decoder::new(std::fs::File::open(plot("ds_m_maps_tile3.png")).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let px = |x: usize, y: usize| {
        let at = (y * info.width as usize + x) * 3;
        [buf[at], buf[at + 1], buf[at + 2]]
    };
    // boxes start at x = 150 + column · 130, y = 84 + row · 130, 120 px wide
    assert_eq!(px(150 + 130 + 60, 84 + 60), [10, 20, 30], "uniform, optical: class 0");
    assert_eq!(px(150 + 130 + 60, 84 + 130 + 60), [200, 100, 0], "guided, optical: class 1");
    assert_eq!(px(150 + 10, 84 + 60), [10, 20, 30], "labels, left half");
    assert_eq!(px(150 + 110, 84 + 60), [200, 100, 0], "labels, right half");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    let (summary, group) = (md.find("## Summary").unwrap(), md.find("## ds / m").unwrap());
    assert!(summary < group, "the summary opens the report");
    assert!(md.contains("expected mIoU, p = 0.1") && md.contains("| 1 % |"), "all-missing beside the row");
    assert!(md.contains("plots/ds_m_profile_miou.png") && md.contains("plots/ds_m_maps_tile3.png"));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.find("<h2>Summary</h2>").unwrap() < html.find("<h2>ds / m</h2>").unwrap());
    for section in
        ["<h3>Robustness protocols</h3>", "<h3>Predicted maps", "<h3>Scenario loss weights", "<h3>Every strategy"]
    {
        assert!(html.contains(section), "{section}");
    }
    let csv = std::fs::read_to_string(out.join("report.csv")).unwrap();
    assert!(csv.contains("ds,m,,method,dro,expected p = 0.1,miou,mean,66"), "protocol rows in the CSV");
    assert!(csv.contains("ds,m,,weights,finetune/dro,optical,weight,epoch:1,0.5"));
    assert!(csv.contains("ds,m,,baseline,dro-uniform,expected p = 0.1,miou,mean_diff,4"), "every strategy − uniform");
}

#[test]
fn malformed_protocols_and_maps_are_problems_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    protocol_set(dir.path());
    let mut bad_rate = cell_with("lora", 0, &[("optical", 0.5), ("optical+sar", 0.6)]);
    with_protocols(&mut bad_rate);
    bad_rate.protocols.as_mut().unwrap().random_missing[1].rate = 1.5;
    write(dir.path(), &bad_rate);
    let mut bad_map = cell_with("lora", 1, &[("optical", 0.5), ("optical+sar", 0.6)]);
    let mut m = maps(0);
    m.tiles[0].predictions[1].classes.pop();
    bad_map.maps = Some(m);
    write(dir.path(), &bad_map);
    let loaded = load_cells(dir.path()).unwrap();
    let messages: Vec<&str> = loaded.problems.iter().map(|p| p.message.as_str()).collect();
    assert_eq!(loaded.problems.len(), 2, "{messages:?}");
    assert!(messages.iter().any(|m| m.contains("protocols.random_missing[1].rate") && m.contains("(0, 1]")));
    assert!(messages.iter().any(|m| m.contains("maps.tiles[0].predictions[1].classes") && m.contains("15 pixels")));
}

#[test]
fn expected_rows_get_a_tile_interval_as_weighted_sums_of_the_scenarios() {
    let dir = tempfile::tempdir().unwrap();
    let good = tiles(&[0, 0, 0, 0, 0, 0], &[0.95, 0.9, 0.92, 0.97, 0.93, 0.91]);
    let bad = tiles(&[2, 3, 1, 4, 2, 5], &[0.85, 0.8, 0.9, 0.82, 0.88, 0.81]);
    let names = ["optical", "sar", "optical+sar"];
    for seed in 0..2 {
        for (method, t) in [("guided", &good), ("uniform", &bad)] {
            let mut c = cell_with(method, seed, &[]);
            // under `sar` alone both methods are equally bad: a zero difference there
            c.scenarios = names.iter().map(|n| scenario(n, 0.6, if *n == "sar" { &bad } else { t })).collect();
            c.protocols = Some(protocols(0.6, [0.5, 0.4], [0.7, 0.7]));
            write(dir.path(), &c);
        }
    }
    let g = &build(dir.path()).groups[0];
    let p = g.pairs.iter().find(|p| p.a == "guided" && p.b == "uniform").unwrap();
    let rows = &p.metrics[0].rows;
    let row = |k: &str| rows.iter().find(|r| r.scenario == k).unwrap();
    // p = 0.1 for both modalities: w = (0.09, 0.09, 0.81) / 0.99 over optical, sar, optical+sar
    let w = [0.09 / 0.99, 0.09 / 0.99, 0.81 / 0.99];
    let expected = &row("expected p = 0.1").tile_ci[0];
    let observed: f64 = names.iter().zip(w).map(|(n, w)| w * row(n).tile_ci[0].observed).sum();
    assert!(close(expected.observed, observed), "{} against {observed}", expected.observed);
    // better on every tile under every scenario: the weighted difference is positive in
    // every resample
    assert!(expected.interval.unwrap().lo > 0.0 && expected.interval.unwrap().contains(expected.observed));
    assert_eq!(row("expected p = 0.1").tile_ci.len(), 2, "one per paired seed");
    // the deployment profile (optical 0.1, sar 0.3): optical alone 0.9 · 0.3, sar alone 0.1 · 0.7,
    // both 0.9 · 0.7, over 1 − 0.03
    let deployment = &row("expected deployment").tile_ci[1];
    let w = [0.27 / 0.97, 0.07 / 0.97, 0.63 / 0.97];
    assert!(close(row("sar").tile_ci[1].observed, 0.0));
    let observed: f64 = names.iter().zip(w).map(|(n, w)| w * row(n).tile_ci[1].observed).sum();
    assert!(close(deployment.observed, observed));
    assert!(row("noisy 10 dB").tile_ci.is_empty(), "perturbed rows carry no per-tile data");
}
