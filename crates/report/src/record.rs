//! The result file of one benchmark cell, `cell.json`: what `lssg bench` writes when a cell
//! finishes and the only thing `lssg report` reads. It carries everything the report needs
//! (summary metrics, per-tile values for the tile bootstrap, learning curves, the scenario
//! distribution), so a report can be built from cells that ran anywhere, without libtorch.
//! The format and how the report checks it are described in docs/report.md §1.

use std::collections::BTreeMap;

use lssg_core::MetricId;
use serde::{Deserialize, Serialize};

use lssg_scenario::robustness::{Protocols, TileMaps};

/// The file name of a cell's record inside its run directory.
pub const CELL_FILE: &str = "cell.json";

/// The version of the record format this crate writes and reads.
pub const FORMAT: u32 = 1;

/// Where a cell sits in the grid. Cells with equal keys except `seed` are repetitions of one
/// configuration; cells with equal keys except `method` are paired (same pretraining, same
/// test tiles).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CellKey {
    /// The data set's label (the bench axis value, e.g. `synthetic`).
    pub dataset: String,
    /// The backbone and preset, e.g. `cmx-small`.
    pub model: String,
    /// The labels of the override axes, joined (`""` when the grid has none).
    pub variant: String,
    /// The run seed.
    pub seed: u64,
    /// `pretrained` for the shared pretraining cell, else the fine-tuning method.
    pub method: String,
}

/// One finished cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CellRecord {
    /// [`FORMAT`].
    pub format: u32,
    /// The cell's index in the grid (`lssg bench --list`).
    pub index: usize,
    /// Its place in the grid.
    pub key: CellKey,
    /// The metric tables lead with: the evaluated task's (`miou`, or `soft_jaccard` for binary
    /// tasks).
    pub primary_metric: MetricId,
    /// Class names of the confusion matrices.
    pub class_names: Vec<String>,
    /// One entry per evaluated scenario, canonical order.
    pub scenarios: Vec<ScenarioRecord>,
    /// Learning curves of the stages this cell trained (`pretrain` or `finetune/<method>`).
    pub curves: Vec<Curve>,
    /// The scoring result (pretraining cells only).
    pub distribution: Option<Distribution>,
    /// Wall time of the cell's own work, seconds (0 when everything was done earlier).
    pub seconds: f64,
    /// The robustness protocols evaluated on the cell's network (docs/report.md §10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocols: Option<Protocols>,
    /// Predicted class maps of a few test tiles under each setting (docs/report.md §10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maps: Option<TileMaps>,
}

/// The evaluation of a cell's network under one scenario on the test split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioRecord {
    /// Scenario name (`optical+sar`).
    pub scenario: String,
    /// Summary metrics as fractions in [0, 1]: `miou`, `soft_jaccard`, `soft_f1`, `accuracy`;
    /// an undefined one is left out.
    pub metrics: BTreeMap<MetricId, f64>,
    /// The same evaluation tile by tile.
    pub tiles: TileRecord,
}

/// Per-test-tile values, in the test split's order (the same tiles for every cell of a data
/// set, so two methods can be paired tile by tile).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TileRecord {
    /// Soft Jaccard of each tile (`None` where the tile has no labelled pixel).
    pub soft_jaccard: Vec<Option<f64>>,
    /// The K × K confusion matrix of each tile, row-major (row = label, column = prediction),
    /// K = `class_names.len()`; mIoU over a set of tiles is computed from their summed
    /// matrices, as the summary's is.
    pub confusion: Vec<Vec<u64>>,
}

/// A stage's learning curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Curve {
    /// `pretrain` or `finetune/<method>`.
    pub stage: String,
    /// One point per epoch.
    pub points: Vec<CurvePoint>,
}

/// One epoch of a learning curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CurvePoint {
    /// Epoch, 1-based.
    pub epoch: usize,
    /// Mean training loss.
    pub train_loss: f64,
    /// Validation loss (all modalities), when validated.
    pub val_loss: Option<f64>,
    /// Validation value of the primary metric (fraction), when validated.
    pub val_metric: Option<f64>,
    /// The scenario distribution the epoch sampled from, canonical order (methods whose
    /// distribution changes during training, e.g. `guided-adaptive`; absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling: Option<Vec<f64>>,
    /// The per-scenario loss weights at the end of the epoch, canonical order (group DRO's q;
    /// absent for other methods).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<Vec<f64>>,
}

/// The scenario scores and the sampling distribution built from them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Distribution {
    /// Scenario names, canonical order.
    pub scenarios: Vec<String>,
    /// Mean latent distortion per scenario.
    pub distortion: Vec<f64>,
    /// The guided sampling probabilities.
    pub probabilities: Vec<f64>,
    /// 95 % bootstrap interval over the scored samples of each distortion (absent in records
    /// written before scoring kept per-sample values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distortion_ci: Option<Band>,
    /// The interval of each probability under the same resamples (smoothing rerun per resample).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probabilities_ci: Option<Band>,
    /// The task-aware score of each scenario: the mean increase of the task loss over the
    /// full scenario's (docs/method.md §3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_increase: Option<Vec<f64>>,
    /// The sampling distribution smoothed from `task_increase` (what `guided-task` samples).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_probabilities: Option<Vec<f64>>,
}

/// A lower and an upper bound per scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Band {
    /// Lower bounds, canonical order.
    pub lo: Vec<f64>,
    /// Upper bounds, canonical order.
    pub hi: Vec<f64>,
}
