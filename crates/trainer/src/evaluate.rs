//! Evaluation under every availability scenario (docs/method.md §5.4, §6).
//!
//! Each batch is decoded and copied to the device once, then run once per listed scenario
//! (the whole batch with that scenario's availability), in eval mode without gradients; the
//! metrics accumulate on the device (no host synchronisation in the loop) and are reduced once
//! per scenario at the end. Scenarios are reported in canonical order.
//!
//! The result, [`EvalReport`], is the evaluation file `eval/<name>.json`; it records its
//! [`Task`], so whatever reads the file knows which metric leads without guessing from the
//! class count, and a file without one is refused ([`EvalReport::read`]).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use lssg_backbones::input::{availability, batch_to_tensors, uniform_availability};
use lssg_backbones::{ModelOutput, SegmentationModel};
use lssg_core::{MetricId, Table, Task, UNDEFINED, format_number};
use lssg_datasets::{Batch, BatchLoader, LoaderConfig, TileDataset};
use lssg_scenario::robustness::{Protocols, TileMap};
use lssg_scenario::{ModalitySet, Scenario};
use lssg_torch::Precision;
use serde::{Deserialize, Serialize};
use tch::{Device, Tensor};

use crate::error::{Error, Result};
use crate::loss::{LossConfig, output_loss};
use crate::metrics::{MeanStd, Metrics, MetricsAccumulator, TileMetrics};
use crate::observer::TrainObserver;
use crate::protocols::{self, ProtocolConfig};
use crate::tensors::check_labels;

/// The metrics of one scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioMetrics {
    /// Scenario name (`rgb+nir`).
    pub scenario: String,
    /// Its 0/1 availability row.
    pub mask: Vec<u8>,
    /// Metrics over the data set with this scenario for every sample.
    pub metrics: Metrics,
    /// The same, tile by tile (absent in files written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiles: Option<TileMetrics>,
}

/// Metrics of a model under each of several scenarios.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Modality names, in the data set's order.
    pub modalities: Vec<String>,
    /// Binary or multi-class: what the model predicts.
    pub task: Task,
    /// Confusion-matrix class names (binary: background and the positive class).
    pub class_names: Vec<String>,
    /// Tiles evaluated.
    pub samples: usize,
    /// Wall time of the evaluation.
    pub seconds: f64,
    /// One entry per scenario, canonical order.
    pub scenarios: Vec<ScenarioMetrics>,
    /// The robustness protocols (docs/method.md §6.1); absent when none was enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocols: Option<Protocols>,
}

/// Evaluates `model` on every tile of `dataset` under each of `scenarios` (deduplicated and put
/// in canonical order), `batch_size` tiles per forward, on `device`. The forwards run under the
/// caller's autocast state (wrap the call in [`Precision::autocast`] for mixed precision, as
/// `lssg` does with `run.precision`); metrics read f32-cast logits either way.
pub fn evaluate(
    model: &dyn SegmentationModel,
    dataset: Arc<dyn TileDataset>,
    scenarios: &[Scenario],
    batch_size: usize,
    device: Device,
    observer: &mut dyn TrainObserver,
) -> Result<EvalReport> {
    let protocols = ProtocolConfig::default();
    let options = EvalOptions { batch_size, device, protocols: &protocols };
    Ok(evaluate_with(model, dataset, scenarios, options, observer)?.report)
}

/// How [`evaluate_with`] evaluates.
#[derive(Debug, Clone, Copy)]
pub struct EvalOptions<'a> {
    /// Tiles per forward.
    pub batch_size: usize,
    /// Where the model runs.
    pub device: Device,
    /// The robustness protocols (docs/method.md §6.1); none when nothing is enabled.
    pub protocols: &'a ProtocolConfig,
}

/// An evaluation with its robustness protocols.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// The evaluation file; `protocols` is set when any protocol is enabled.
    pub report: EvalReport,
    /// The predicted maps of the first `map_tiles` test tiles under every scenario (empty
    /// without protocols); the caller adds the data set's palette.
    pub maps: Vec<TileMap>,
}

/// [`evaluate`] with the robustness protocols of `options`: the protocol settings are checked
/// before any forward, the perturbed forwards share the scenario pass's batches, and the
/// expected metrics come from the per-scenario metrics (which must then cover every scenario).
pub fn evaluate_with(
    model: &dyn SegmentationModel,
    dataset: Arc<dyn TileDataset>,
    scenarios: &[Scenario],
    options: EvalOptions<'_>,
    observer: &mut dyn TrainObserver,
) -> Result<Evaluation> {
    let started = Instant::now();
    let EvalOptions { batch_size, device, protocols } = options;
    let set = dataset.modalities().clone();
    let m = set.len();
    let num_classes = dataset.num_classes();
    let task = Task::from_logit_channels(num_classes)?;
    if model.num_classes() != num_classes as i64 {
        return Err(Error::shape(
            "model logit channels vs data set classes (1 = binary)",
            num_classes,
            model.num_classes(),
        ));
    }
    let list = canonical_list(&set, scenarios)?;
    let names: Vec<String> = list.iter().map(|&s| set.scenario_name(s)).collect();
    let mut plan = protocols::plan(protocols, model, dataset.as_ref(), &list, device)?;

    let loader = eval_loader(&dataset, batch_size)?;
    let total = loader.num_batches();
    observer.evaluation_start(&names, total);
    let progress = |done, total| observer.evaluation_progress(done, total);
    let hook = plan.as_mut().map(|p| p.hook());
    let pass = Pass { loss: None, tiles: true, device, precision: Precision::Fp32, hook };
    let runs = scenario_pass(model, &loader, &list, pass, progress)?;
    let (protocols, maps) = match plan {
        Some(plan) => {
            let (p, maps) = plan.finish(&set, &list, &runs.metrics)?;
            (Some(p), maps)
        }
        None => (None, Vec::new()),
    };
    let samples = runs.samples;
    let scenarios = list
        .iter()
        .zip(names)
        .zip(runs.metrics.into_iter().zip(runs.tiles))
        .map(|((&s, scenario), (metrics, tiles))| ScenarioMetrics { scenario, mask: s.mask_row(m), metrics, tiles })
        .collect::<Vec<_>>();
    let report = EvalReport {
        modalities: set.names().iter().map(|n| n.to_string()).collect(),
        task,
        class_names: scenarios.first().map(|s| s.metrics.class_names.clone()).unwrap_or_default(),
        samples,
        seconds: started.elapsed().as_secs_f64(),
        scenarios,
        protocols,
    };
    Ok(Evaluation { report, maps })
}

/// `scenarios` deduplicated, in canonical order; the canonical index rejects scenarios of
/// another (larger) modality set.
fn canonical_list(set: &ModalitySet, scenarios: &[Scenario]) -> Result<Vec<Scenario>> {
    if scenarios.is_empty() {
        return Err(Error::InvalidConfig { field: "scenarios", value: "[]".into(), expected: "at least one scenario" });
    }
    let mut keyed = scenarios.iter().map(|&s| Ok((set.canonical_index(s)?, s))).collect::<Result<Vec<_>>>()?;
    keyed.sort_by_key(|&(k, _)| k);
    keyed.dedup();
    Ok(keyed.into_iter().map(|(_, s)| s).collect())
}

/// The unshuffled loader of an evaluation; a split without a batch is an error.
fn eval_loader(dataset: &Arc<dyn TileDataset>, batch_size: usize) -> Result<BatchLoader> {
    let loader = BatchLoader::new(
        Arc::clone(dataset),
        LoaderConfig { batch_size, shuffle: false, seed: 0, prefetch: 2, drop_last: false },
    )
    .map_err(|e| match e {
        lssg_datasets::Error::Config { .. } => {
            Error::InvalidConfig { field: "batch_size", value: batch_size.to_string(), expected: "at least 1" }
        }
        other => Error::Dataset(other),
    })?;
    if loader.num_batches() == 0 {
        return Err(Error::EmptySplit { split: "eval", tiles: dataset.len(), batch_size });
    }
    Ok(loader)
}

/// What [`run_scenarios`] measured: per scenario, in the order given.
pub(crate) struct ScenarioRuns {
    /// The finished metrics of each scenario.
    pub metrics: Vec<Metrics>,
    /// The mean loss over samples of each scenario (empty without a loss).
    pub mean_loss: Vec<f64>,
    /// The per-tile metrics of each scenario, when asked for.
    pub tiles: Vec<Option<TileMetrics>>,
    /// Samples seen.
    pub samples: usize,
}

/// Runs `model` in eval mode without gradients over one pass of `loader`, each batch under every
/// scenario (a chunk of scenarios per forward when there are several), accumulating metrics and, with
/// `loss`, the loss per scenario (and with `tiles` the per-tile metrics), all on the device: no
/// host synchronisation inside the loop.
/// `progress(done, total)` follows the batches. Validation (one scenario, with a loss) and
/// evaluation (every scenario, no loss) are this one loop. The forwards run under autocast at
/// `precision` (fp32: the caller's state as it is); metrics and losses read f32 logits.
pub(crate) fn run_scenarios(
    model: &dyn SegmentationModel,
    loader: &BatchLoader,
    scenarios: &[Scenario],
    loss: Option<&LossConfig>,
    tiles: bool,
    (device, precision): (Device, Precision),
    progress: impl FnMut(usize, usize),
) -> Result<ScenarioRuns> {
    let pass = Pass { loss, tiles, device, precision, hook: None };
    scenario_pass(model, loader, scenarios, pass, progress)
}

/// Extra work on every evaluated batch (the robustness protocols, `crate::protocols`): it sees
/// the host batch, its device inputs and labels, and the f32 outputs under each scenario.
pub(crate) trait BatchHook {
    /// Called once per batch, after the scenario forwards.
    fn batch(&mut self, batch: &Batch, inputs: &[Tensor], labels: &Tensor, outputs: &[ModelOutput]) -> Result<()>;

    /// Called once after the last batch, on every rank of a data-parallel evaluation, to
    /// combine what the ranks measured (a collective: every rank calls it).
    fn combine(&mut self) -> Result<()>;
}

/// The options of one [`scenario_pass`].
pub(crate) struct Pass<'a> {
    /// Also the loss of each scenario.
    pub loss: Option<&'a LossConfig>,
    /// Also the per-tile metrics.
    pub tiles: bool,
    /// Where the model runs.
    pub device: Device,
    /// The forwards' autocast precision (fp32: the caller's state as it is).
    pub precision: Precision,
    /// Extra work per batch.
    pub hook: Option<&'a mut dyn BatchHook>,
}

/// [`run_scenarios`] with a [`BatchHook`].
pub(crate) fn scenario_pass(
    model: &dyn SegmentationModel,
    loader: &BatchLoader,
    scenarios: &[Scenario],
    pass: Pass<'_>,
    mut progress: impl FnMut(usize, usize),
) -> Result<ScenarioRuns> {
    let Pass { loss, tiles, device, precision, mut hook } = pass;
    let dataset = loader.dataset();
    let num_classes = dataset.num_classes();
    let m = dataset.modalities().len();
    let class_names = dataset.class_names();
    let mut accs = scenarios
        .iter()
        .map(|_| {
            let acc = MetricsAccumulator::new(num_classes as i64, device)?.with_class_names(&class_names)?;
            Ok(if tiles { acc.with_tiles() } else { acc })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut loss_sums: Vec<Tensor> = scenarios.iter().map(|_| Tensor::zeros([], (tch::Kind::Double, device))).collect();
    let (total, mut samples) = (loader.num_batches(), 0usize);
    // A data-parallel rank runs its block of batches (`crate::dist`).
    for (i, batch) in crate::dist::eval_batches(loader).enumerate() {
        let batch = batch?;
        check_labels(&batch.labels, num_classes)?;
        let (inputs, labels) = batch_to_tensors(&batch, device)?;
        let mut outputs: Vec<ModelOutput> = Vec::with_capacity(scenarios.len());
        if let [scenario] = scenarios {
            // One scenario (validation): the plain forward.
            let avail = uniform_availability(*scenario, batch.size, m, device);
            outputs.push(precision.autocast(device, || tch::no_grad(|| model.forward_t(&inputs, &avail, false)))??);
        } else {
            // Several: the batch under a chunk of scenarios per forward, sharing what the model
            // can share (SegmentationModel::forward_scenarios, docs/speed.md §4).
            let per_forward = (EVAL_MAX_FORWARD / batch.size).max(1);
            for chunk in scenarios.chunks(per_forward) {
                let rows = availability(chunk, m, device);
                let out = precision.autocast(device, || tch::no_grad(|| model.forward_scenarios(&inputs, &rows)))??;
                outputs.extend(
                    (0..chunk.len()).map(|j| scenario_rows(&out, batch.size as i64, chunk.len() as i64, j as i64)),
                );
            }
        }
        let outputs: Vec<ModelOutput> = outputs.into_iter().map(ModelOutput::into_f32).collect();
        if let Some(hook) = hook.as_deref_mut() {
            hook.batch(&batch, &inputs, &labels, &outputs)?;
        }
        for ((acc, loss_sum), out) in accs.iter_mut().zip(&mut loss_sums).zip(outputs) {
            acc.update(&out.logits, &labels)?;
            if let Some(loss) = loss {
                let l = tch::no_grad(|| output_loss(&out, &labels, loss))?;
                *loss_sum += l.to_kind(tch::Kind::Double) * batch.size as f64;
            }
        }
        samples += batch.size;
        progress(i + 1, total);
    }
    crate::dist::combine_pass(&mut accs, &mut loss_sums, &mut samples)?;
    if let Some(hook) = hook {
        hook.combine()?;
    }
    for (acc, scenario) in accs.iter().zip(scenarios) {
        acc.check_finite(&format!("the scenario with mask {:#b}", scenario.mask()))?;
    }
    let mean_loss = match loss {
        Some(_) => loss_sums.iter().map(|l| l.double_value(&[]) / samples.max(1) as f64).collect(),
        None => Vec::new(),
    };
    Ok(ScenarioRuns {
        metrics: accs.iter().map(MetricsAccumulator::finish).collect(),
        mean_loss,
        tiles: accs.iter().map(MetricsAccumulator::finish_tiles).collect(),
        samples,
    })
}

/// Largest number of (tile, scenario) rows of one evaluation forward (as scoring's default
/// `max_forward`).
const EVAL_MAX_FORWARD: usize = 64;

/// Scenario `j`'s rows of a sample-major output of `b` samples × `k` scenarios.
fn scenario_rows(out: &ModelOutput, b: i64, k: i64, j: i64) -> ModelOutput {
    let pick = |t: &Tensor| {
        let mut shape = vec![b, k];
        shape.extend_from_slice(&t.size()[1..]);
        t.view(shape.as_slice()).select(1, j).contiguous()
    };
    ModelOutput {
        logits: pick(&out.logits),
        latent: pick(&out.latent),
        head_copies: out.head_copies.as_ref().map(pick),
    }
}

impl EvalReport {
    /// Reads an evaluation file. A file this lssg cannot read as one (one without a `task`,
    /// say) is refused with [`Error::EvalFile`], which says to evaluate again; one whose metrics
    /// lie outside their ranges ([`crate::Metrics::check_ranges`]) with [`Error::InvalidState`].
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        let report: Self =
            serde_json::from_str(&text).map_err(|source| Error::EvalFile { path: path.to_path_buf(), source })?;
        for (i, s) in report.scenarios.iter().enumerate() {
            s.metrics.check_ranges().map_err(|reason| Error::InvalidState {
                path: path.to_path_buf(),
                field: format!("scenarios[{i}] ({})", s.scenario),
                reason,
            })?;
        }
        Ok(report)
    }

    /// The entry of scenario `name`.
    pub fn get(&self, name: &str) -> Option<&ScenarioMetrics> {
        self.scenarios.iter().find(|s| s.scenario == name)
    }

    /// Scenario × summary metric: soft Jaccard and soft F1 as mean ± std, mIoU, accuracy (4
    /// decimals, `–` where undefined).
    pub fn summary_table(&self) -> Table {
        let mut table = Table::new(["scenario", "soft Jaccard", "soft F1", "mIoU", "accuracy"]);
        for s in &self.scenarios {
            let m = &s.metrics;
            let soft = |v: &MeanStd| {
                if m.images > 0 { format!("{:.4} ± {:.4}", v.mean, v.std) } else { UNDEFINED.to_string() }
            };
            let (miou, accuracy) = (format_number(m.miou, 4), format_number(m.accuracy, 4));
            table.rows.push(vec![s.scenario.clone(), soft(&m.soft_jaccard), soft(&m.soft_f1), miou, accuracy]);
        }
        table
    }

    /// The robustness protocols as a setting × metric table: the primary metric first, 4
    /// decimals, `–` where undefined, and the all-missing probability of the expected rows.
    /// `None` without protocols.
    pub fn protocol_table(&self) -> Option<Table> {
        let protocols = self.protocols.as_ref().filter(|p| !p.is_empty())?;
        let primary = self.task.primary_metric();
        let metrics: Vec<MetricId> =
            std::iter::once(primary).chain(MetricId::ALL.into_iter().filter(|&m| m != primary)).collect();
        let header = std::iter::once("setting".to_string())
            .chain(metrics.iter().map(|m| m.to_string()))
            .chain(std::iter::once("all missing".to_string()));
        let mut table = Table::new(header);
        for row in protocols.rows() {
            let values = metrics.iter().map(|m| format_number(row.metrics.get(m).copied(), 4));
            let all_missing = row.all_missing.map(|p| format!("{p:.4}")).unwrap_or_default();
            table.rows.push(std::iter::once(row.label).chain(values).chain(std::iter::once(all_missing)).collect());
        }
        Some(table)
    }

    /// Scenario × class IoU (4 decimals, `–` where a class is undefined).
    pub fn class_table(&self) -> Table {
        let mut table = Table::new(std::iter::once("scenario").chain(self.class_names.iter().map(String::as_str)));
        for s in &self.scenarios {
            let cells = s.metrics.iou.iter().map(|v| format_number(*v, 4));
            table.rows.push(std::iter::once(s.scenario.clone()).chain(cells).collect());
        }
        table
    }

    /// The two tables ([`Self::summary_table`], [`Self::class_table`]) in Markdown.
    pub fn to_markdown(&self) -> String {
        format!("{}\n{}", self.summary_table().markdown(), self.class_table().markdown())
    }

    /// [`Self::csv_table`] as CSV.
    pub fn to_csv(&self) -> String {
        self.csv_table().csv()
    }

    /// One row per scenario: the summary metrics (soft ones as mean and std), then
    /// `iou_<class>` and `f1_<class>` per class, full precision, empty where undefined.
    pub fn csv_table(&self) -> Table {
        let mut header: Vec<String> =
            ["scenario", "soft_jaccard_mean", "soft_jaccard_std", "soft_f1_mean", "soft_f1_std"]
                .map(String::from)
                .into();
        header.extend([MetricId::Miou, MetricId::Accuracy].map(|m| m.to_string()));
        header.extend(self.class_names.iter().map(|c| format!("iou_{c}")));
        header.extend(self.class_names.iter().map(|c| format!("f1_{c}")));
        let mut table = Table::new(header);
        let opt = |v: &Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
        for s in &self.scenarios {
            let m = &s.metrics;
            let mut row = vec![
                s.scenario.clone(),
                m.soft_jaccard.mean.to_string(),
                m.soft_jaccard.std.to_string(),
                m.soft_f1.mean.to_string(),
                m.soft_f1.std.to_string(),
                opt(&m.miou),
                opt(&m.accuracy),
            ];
            row.extend(m.iou.iter().map(opt));
            row.extend(m.f1.iter().map(opt));
            table.rows.push(row);
        }
        table
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> EvalReport {
        let metrics = |j: f64| Metrics {
            images: 2,
            pixels: 8,
            ignored_pixels: 0,
            out_of_range_pixels: 0,
            soft_jaccard: MeanStd { mean: j, std: 0.1 },
            soft_f1: MeanStd { mean: 0.7, std: 0.05 },
            class_names: vec!["background".into(), "misc, manmade".into()],
            iou: vec![Some(0.9), None],
            f1: vec![Some(0.95), None],
            miou: Some(0.9),
            accuracy: Some(0.75),
            confusion: vec![vec![6, 0], vec![2, 0]],
        };
        EvalReport {
            modalities: vec!["rgb".into(), "sar".into()],
            task: Task::Binary,
            class_names: vec!["background".into(), "misc, manmade".into()],
            samples: 2,
            seconds: 0.1,
            scenarios: vec![
                ScenarioMetrics { scenario: "rgb".into(), mask: vec![1, 0], metrics: metrics(0.5), tiles: None },
                ScenarioMetrics { scenario: "rgb+sar".into(), mask: vec![1, 1], metrics: metrics(0.625), tiles: None },
            ],
            protocols: None,
        }
    }

    #[test]
    fn markdown_has_both_tables() {
        let md = report().to_markdown();
        assert!(md.contains("| rgb | 0.5000 ± 0.1000 | 0.7000 ± 0.0500 | 0.9000 | 0.7500 |"), "{md}");
        assert!(md.contains("| scenario | background | misc, manmade |"), "{md}");
        assert!(md.contains("| rgb+sar | 0.9000 | – |"), "{md}");
        assert!(
            md.starts_with("| scenario | soft Jaccard | soft F1 | mIoU | accuracy |\n|---|---|---|---|---|\n"),
            "{md}"
        );
    }

    #[test]
    fn csv_quotes_and_leaves_undefined_empty() {
        let csv = report().to_csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(
            lines[0].ends_with("iou_background,\"iou_misc, manmade\",f1_background,\"f1_misc, manmade\""),
            "{}",
            lines[0]
        );
        assert_eq!(lines[2], "rgb+sar,0.625,0.1,0.7,0.05,0.9,0.75,0.9,,0.95,");
        assert_eq!(report().get("rgb").unwrap().mask, [1, 0]);
        let json = serde_json::to_string(&report()).unwrap();
        assert_eq!(serde_json::from_str::<EvalReport>(&json).unwrap(), report());
    }

    #[test]
    fn a_file_without_its_task_is_refused_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("uniform.json");
        let mut json = serde_json::to_value(report()).unwrap();
        assert_eq!(json["task"], serde_json::json!({"kind": "binary"}));
        std::fs::write(&path, json.to_string()).unwrap();
        assert_eq!(EvalReport::read(&path).unwrap(), report());
        json.as_object_mut().unwrap().remove("task");
        std::fs::write(&path, json.to_string()).unwrap();
        let err = EvalReport::read(&path).unwrap_err();
        assert!(matches!(err, Error::EvalFile { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains("uniform.json") && message.contains("`task`"), "{message}");
        assert!(message.contains("re-run the stage"), "{message}");
    }
}
