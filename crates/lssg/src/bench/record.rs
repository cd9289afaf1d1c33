//! A finished cell's `cell.json` (the format is `lssg_report::CellRecord`, docs/bench.md §3),
//! built from its evaluation, its training history and, for pretraining cells, the
//! probabilities file. The primary metric is the evaluation's task's (`Task::primary_metric`).

use std::collections::BTreeMap;
use std::path::Path;

use lssg_core::MetricId;
use lssg_report::{Band, CellKey, CellRecord, Curve, CurvePoint, Distribution, ScenarioRecord, TileRecord};
use lssg_scenario::ProbabilitiesFile;
use lssg_scenario::robustness::TileMaps;
use lssg_scoring::DistortionReport;
use lssg_trainer::{EpochRecord, EvalReport};

use crate::error::{Error, Result};

/// What a finished cell produced.
pub struct CellOutput<'a> {
    /// The evaluation of its network.
    pub eval: &'a EvalReport,
    /// Where it was read from or written to (for errors).
    pub eval_path: &'a Path,
    /// The stage that trained it (`pretrain`, `finetune/<method>`) and its history.
    pub stage: String,
    /// The stage's epochs.
    pub history: &'a [EpochRecord],
    /// The scenario distribution (pretraining cells).
    pub probabilities: Option<&'a ProbabilitiesFile>,
    /// The mean scores behind it, task scores included (pretraining cells).
    pub scores: Option<&'a DistortionReport>,
    /// The distribution of the task scores (pretraining cells).
    pub task_probabilities: Option<&'a ProbabilitiesFile>,
    /// The predicted maps of the first test tiles (`eval/<name>.maps.json`, with protocols).
    pub maps: Option<&'a TileMaps>,
}

/// The record of cell `index` at `key` from `output`, whose own work took `seconds`.
pub fn cell_record(index: usize, key: &CellKey, output: &CellOutput<'_>, seconds: f64) -> Result<CellRecord> {
    let CellOutput { eval, eval_path, stage, history, probabilities, scores, task_probabilities, maps } = output;
    let primary = eval.task.primary_metric();
    let scenarios = eval
        .scenarios
        .iter()
        .map(|s| {
            let tiles = s.tiles.as_ref().ok_or_else(|| {
                Error::Bench(format!(
                    "{}: scenario {} has no per-tile metrics (written by an older lssg); delete the file to evaluate again",
                    eval_path.display(),
                    s.scenario
                ))
            })?;
            // An undefined metric is left out (docs/method.md §6).
            let metrics: BTreeMap<MetricId, f64> =
                MetricId::ALL.into_iter().filter_map(|id| s.metrics.metric(id).map(|v| (id, v))).collect();
            Ok(ScenarioRecord {
                scenario: s.scenario.clone(),
                metrics,
                tiles: TileRecord { soft_jaccard: tiles.soft_jaccard.clone(), confusion: tiles.confusion.clone() },
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let points = history
        .iter()
        .map(|r| CurvePoint {
            epoch: r.epoch,
            train_loss: r.train_loss,
            val_loss: r.val_loss,
            val_metric: r.val.as_ref().and_then(|v| v.metric(primary)),
            sampling: r.sampling.clone(),
            weights: r.weights.clone(),
        })
        .collect();
    let distribution = probabilities.map(|p| Distribution {
        scenarios: p.scenario_names.clone(),
        distortion: p.D_sh.clone(),
        probabilities: p.final_probs.clone(),
        distortion_ci: p.D_sh_interval.clone().map(|[lo, hi]| Band { lo, hi }),
        probabilities_ci: p.final_probs_interval.clone().map(|[lo, hi]| Band { lo, hi }),
        task_increase: scores.map(|r| r.task_increase.clone()).filter(|t| !t.is_empty()),
        task_probabilities: task_probabilities.map(|t| t.final_probs.clone()),
    });
    Ok(CellRecord {
        format: lssg_report::record::FORMAT,
        index,
        key: key.clone(),
        primary_metric: primary,
        class_names: eval.class_names.clone(),
        scenarios,
        curves: vec![Curve { stage: stage.clone(), points }],
        distribution,
        seconds,
        protocols: eval.protocols.clone().filter(|p| !p.is_empty()),
        maps: maps.cloned(),
    })
}

/// The scoring diagnostic of one scored and evaluated checkpoint (`lssg score --diagnose`), as
/// a markdown table: the three per-scenario vectors and the Spearman ρ of each pair.
pub fn diagnose(eval: &EvalReport, scored: &crate::pipeline::Scored) -> Result<String> {
    let output = CellOutput {
        eval,
        eval_path: Path::new("(evaluation)"),
        stage: "pretrain".into(),
        history: &[],
        probabilities: Some(&scored.probabilities),
        scores: Some(&scored.report),
        task_probabilities: Some(&scored.task_probabilities),
        maps: None,
    };
    let key = CellKey {
        dataset: String::new(),
        model: String::new(),
        variant: String::new(),
        seed: 0,
        method: "pretrained".into(),
    };
    let record = cell_record(0, &key, &output, 0.0)?;
    let d = lssg_report::diagnose(&record)
        .ok_or_else(|| Error::Bench("the diagnostic needs every scenario scored and evaluated".into()))?;
    let mut out = String::from(
        "| scenario | latent distortion | task-loss increase | metric drop (pp) |\n|---|---:|---:|---:|\n",
    );
    for (i, name) in d.scenarios.iter().enumerate() {
        let cell = |v: Option<&[f64]>| v.map_or("—".to_string(), |v| format!("{:.4}", v[i]));
        out.push_str(&format!(
            "| {name} | {:.4} | {} | {} |\n",
            d.distortion[i],
            cell(d.task_increase.as_deref()),
            cell(d.metric_drop.as_deref())
        ));
    }
    out.push_str(&format!("\nSpearman ρ ({}; the full scenario left out):\n", d.primary_metric));
    for c in &d.correlations {
        let rho = c.rho.map_or("undefined (a constant or missing vector)".to_string(), |r| format!("{r:+.3}"));
        out.push_str(&format!("- {} vs {}: {rho}\n", c.x.label(), c.y.label()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use lssg_core::Task;
    use lssg_trainer::{ScenarioMetrics, TileMetrics};

    use super::*;
    use crate::test_fixtures::two_class_metrics;

    /// A two-class evaluation of `task` under one scenario, with mIoU `miou` (`None`: undefined).
    fn eval(task: Task, miou: Option<f64>) -> EvalReport {
        let metrics = two_class_metrics(miou, [Some(0.5), miou.map(|_| 0.5)]);
        let tiles = TileMetrics { soft_jaccard: vec![Some(0.25)], confusion: vec![vec![1, 1, 1, 1]] };
        EvalReport {
            modalities: vec!["rgb".into()],
            task,
            class_names: vec!["a".into(), "b".into()],
            samples: 1,
            seconds: 0.0,
            scenarios: vec![ScenarioMetrics { scenario: "rgb".into(), mask: vec![1], metrics, tiles: Some(tiles) }],
            protocols: None,
        }
    }

    fn record(eval: &EvalReport) -> CellRecord {
        record_with(eval, None)
    }

    fn record_with(eval: &EvalReport, maps: Option<&TileMaps>) -> CellRecord {
        let output = CellOutput {
            eval,
            eval_path: Path::new("eval.json"),
            stage: "pretrain".into(),
            history: &[],
            probabilities: None,
            scores: None,
            task_probabilities: None,
            maps,
        };
        let key = CellKey {
            dataset: "d".into(),
            model: "m".into(),
            variant: String::new(),
            seed: 0,
            method: "pretrained".into(),
        };
        cell_record(0, &key, &output, 0.0).unwrap()
    }

    #[test]
    fn the_primary_metric_is_the_recorded_tasks() {
        // A two-class softmax network is multi-class: its cells lead with the mIoU, although
        // its confusion matrix has two classes like a binary network's.
        assert_eq!(record(&eval(Task::MultiClass { classes: 2 }, Some(0.5))).primary_metric, MetricId::Miou);
        assert_eq!(record(&eval(Task::Binary, Some(0.5))).primary_metric, MetricId::SoftJaccard);
    }

    #[test]
    fn metrics_are_keyed_by_id_and_an_undefined_one_is_left_out() {
        let r = record(&eval(Task::MultiClass { classes: 2 }, Some(0.5)));
        let keys: Vec<MetricId> = r.scenarios[0].metrics.keys().copied().collect();
        assert_eq!(keys, [MetricId::Accuracy, MetricId::Miou, MetricId::SoftF1, MetricId::SoftJaccard]);
        let json = serde_json::to_string(&r.scenarios[0].metrics).unwrap();
        assert_eq!(json, r#"{"accuracy":0.5,"miou":0.5,"soft_f1":0.4,"soft_jaccard":0.25}"#);
        let r = record(&eval(Task::MultiClass { classes: 2 }, None));
        assert!(!r.scenarios[0].metrics.contains_key(&MetricId::Miou));
    }

    #[test]
    fn protocols_and_maps_reach_the_record_and_stay_out_without_them() {
        use lssg_scenario::robustness::{MissingRecord, PredictedMap, Protocols, TileMap};
        let plain = record(&eval(Task::Binary, Some(0.5)));
        assert!(plain.protocols.is_none() && plain.maps.is_none());
        let mut e = eval(Task::Binary, Some(0.5));
        e.protocols = Some(Protocols::default());
        assert!(record(&e).protocols.is_none(), "an empty result is left out");
        let missing = MissingRecord { modality: "rgb".into(), rate: 0.5, metrics: [(MetricId::Miou, 0.4)].into() };
        let protocols = Protocols { random_missing: vec![missing], ..Protocols::default() };
        e.protocols = Some(protocols.clone());
        let prediction = PredictedMap { scenario: "rgb".into(), classes: vec![1, 1] };
        let tile = TileMap { tile: 0, height: 1, width: 2, labels: vec![0, 255], predictions: vec![prediction] };
        let maps = TileMaps { palette: vec![[0, 0, 0], [255, 255, 255]], tiles: vec![tile] };
        let r = record_with(&e, Some(&maps));
        assert_eq!((r.protocols, r.maps), (Some(protocols), Some(maps)));
    }
}
