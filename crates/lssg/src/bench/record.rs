//! A finished cell's `cell.json` (the format is `lssg_report::CellRecord`, docs/bench.md §3),
//! built from its evaluation, its training history and, for pretraining cells, the
//! probabilities file.

use std::collections::BTreeMap;
use std::path::Path;

use lssg_report::{CellKey, CellRecord, Curve, CurvePoint, Distribution, ScenarioRecord, TileRecord};
use lssg_scenario::ProbabilitiesFile;
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
    /// Whether the task is binary (one logit; soft Jaccard leads the tables).
    pub binary: bool,
}

/// The record of cell `index` at `key` from `output`, whose own work took `seconds`.
pub fn cell_record(index: usize, key: &CellKey, output: &CellOutput<'_>, seconds: f64) -> Result<CellRecord> {
    let CellOutput { eval, eval_path, stage, history, probabilities, binary } = output;
    let binary = *binary;
    let primary = if binary { "soft_jaccard" } else { "miou" };
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
            let m = &s.metrics;
            let metrics = BTreeMap::from([
                ("miou".to_string(), m.miou),
                ("soft_jaccard".to_string(), m.soft_jaccard.mean),
                ("soft_f1".to_string(), m.soft_f1.mean),
                ("accuracy".to_string(), m.accuracy),
            ]);
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
            val_metric: r.val.as_ref().map(|v| if binary { v.soft_jaccard.mean } else { v.miou }),
            sampling: None,
        })
        .collect();
    let distribution = probabilities.map(|p| Distribution {
        scenarios: p.scenario_names.clone(),
        distortion: p.D_sh.clone(),
        probabilities: p.final_probs.clone(),
        distortion_ci: None,
        probabilities_ci: None,
        task_increase: None,
        task_probabilities: None,
    });
    Ok(CellRecord {
        format: lssg_report::record::FORMAT,
        index,
        key: key.clone(),
        primary_metric: primary.into(),
        class_names: eval.class_names.clone(),
        scenarios,
        curves: vec![Curve { stage: stage.clone(), points }],
        distribution,
        seconds,
    })
}
