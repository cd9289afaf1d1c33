//! Every score of every scenario in one pass (docs/method.md §3): the latent distortion d_k(x)
//! and the task-loss increase t_k(x) of each sample, from the same forwards.
//!
//! Each forward evaluates many (sample, scenario) pairs at once
//! ([`SegmentationModel::forward_scenarios`]): the batch under every scenario of a chunk
//! (`B·k` rows, sample-major), which a backbone may compute sharing the parts that see only
//! some modalities (CMX, docs/speed.md §4). In eval mode every row is computed independently, so the numbers are the per-sample,
//! per-scenario definition up to float rounding (tested against the naive loop).

use std::sync::Arc;

use lssg_backbones::SegmentationModel;
use lssg_backbones::input::{availability, batch_to_tensors};
use lssg_datasets::{BatchLoader, LoaderConfig, Subset, TileDataset};
use tch::{Device, Kind, Tensor};

use crate::config::ScoringConfig;
use crate::distortion::DistortionReport;
use crate::error::{Error, Result};
use crate::task::per_sample_loss;

/// The scores of every scored sample: `[N][S]`, canonical scenario order (the full
/// scenario's are 0).
#[derive(Debug, Clone, PartialEq)]
pub struct PerSampleScores {
    /// d_k(x): the latent distortion of each sample under each scenario.
    pub latent: Vec<Vec<f64>>,
    /// t_k(x): the increase of each sample's task loss under each scenario.
    pub task: Vec<Vec<f64>>,
}

/// Measures d_k(x) and t_k(x) for every scenario over the first `config.max_samples` samples
/// of `dataset` (all by default); returns their means (the report) and the per-sample values.
/// `progress(done, total)` is called after each batch. The forwards run under the caller's
/// autocast state (wrap the call in `lssg_torch::Precision::autocast` for mixed
/// precision); the scores are computed in f32 from f32-cast outputs either way.
pub fn measure_scores(
    model: &dyn SegmentationModel,
    dataset: Arc<dyn TileDataset>,
    config: &ScoringConfig,
    device: Device,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(DistortionReport, PerSampleScores)> {
    config.validate()?;
    let set = dataset.modalities().clone();
    let m = set.len();
    let scenarios = set.scenarios();
    let s = scenarios.len();
    let total = config.max_samples.map_or(dataset.len(), |n| n.min(dataset.len()));
    if total == 0 {
        return Err(Error::EmptyDataset { split: "train".into() });
    }
    // The full scenario is the reference (its scores are 0 by definition); it leads the first
    // chunk, so that it shares a forward with partial scenarios instead of running alone on a
    // batch of B (docs/method.md §3.3). Order position 0 is canonical index s − 1, position j > 0
    // is canonical j − 1.
    let order: Vec<_> = std::iter::once(set.full_scenario()).chain(scenarios[..s - 1].iter().copied()).collect();
    let per_forward = (config.max_forward / config.batch_size).max(1);
    let chunks: Vec<(usize, Tensor)> =
        order.chunks(per_forward).enumerate().map(|(i, c)| (i * per_forward, availability(c, m, device))).collect();

    let _no_grad = tch::no_grad_guard();
    let mut latent = Vec::with_capacity(total);
    let mut task = Vec::with_capacity(total);
    let mut latent_shape = Vec::new();
    let scored: Arc<dyn TileDataset> = if total < dataset.len() {
        Arc::new(Subset::new(dataset.clone(), (0..total).collect())?)
    } else {
        dataset.clone()
    };
    let loader = BatchLoader::new(scored, LoaderConfig { batch_size: config.batch_size, ..LoaderConfig::default() })?;
    // A data-parallel rank scores its block of batches; the rows are gathered below.
    for batch in crate::shard::batches(&loader) {
        let batch = batch?;
        if batch.modalities.len() != m {
            return Err(Error::ModalityMismatch { data: batch.modalities.len(), model: m });
        }
        let b = batch.size as i64;
        let (inputs, labels) = batch_to_tensors(&batch, device)?;
        let d_rows = Tensor::zeros([b, s as i64], (Kind::Double, device));
        let t_rows = Tensor::zeros([b, s as i64], (Kind::Double, device));
        let mut full: Option<(Tensor, Tensor)> = None; // latent [B, 1, L], loss [B, 1]
        for (offset, rows) in &chunks {
            let k = rows.size()[0];
            // Sample-major: row b·k + j is sample b under order position offset + j. The model
            // may share the parts of the forward that do not depend on the whole scenario.
            // f32 outputs whatever autocast region the caller runs this in (docs/precision.md §1).
            let out = model.forward_scenarios(&inputs, rows)?.into_f32();
            let z = out.latent.to_kind(Kind::Float).reshape([b, k, -1]); // [B, k, L]
            let loss = per_sample_loss(&out.logits, &labels.repeat_interleave_self_int(k, 0, None)).reshape([b, k]);
            let (full_latent, full_loss) = full.get_or_insert_with(|| {
                latent_shape = out.latent.size()[1..].to_vec();
                (z.narrow(1, 0, 1), loss.narrow(1, 0, 1))
            });
            // Per-(sample, scenario) MSE in f32 as the reference.
            let d = (&z - &*full_latent).square().mean_dim(Some(&[2i64][..]), false, Kind::Float);
            let t = &loss - &*full_loss;
            // The first chunk's column 0 is the full scenario itself, whose row stays 0.
            let (skip, canonical) = if *offset == 0 { (1, 0) } else { (0, *offset as i64 - 1) };
            let len = k - skip;
            d_rows.narrow(1, canonical, len).copy_(&d.narrow(1, skip, len).to_kind(Kind::Double));
            t_rows.narrow(1, canonical, len).copy_(&t.narrow(1, skip, len));
        }
        // One transfer per batch for each kind of score.
        let rows = |t: &Tensor| -> Result<Vec<Vec<f64>>> {
            let flat = Vec::<f64>::try_from(t.to_device(Device::Cpu).flatten(0, -1))?;
            Ok(flat.chunks(s).map(<[f64]>::to_vec).collect())
        };
        latent.extend(rows(&d_rows)?);
        task.extend(rows(&t_rows)?);
        progress(latent.len(), total);
    }
    crate::shard::gather_rows(&mut latent, &mut task, &mut latent_shape)?;
    let mean = |rows: &[Vec<f64>]| -> Vec<f64> {
        (0..s).map(|k| rows.iter().map(|r| r[k]).sum::<f64>() / rows.len() as f64).collect()
    };
    let (distortion, task_increase) = (mean(&latent), mean(&task));
    for (k, (&v, &t)) in distortion.iter().zip(&task_increase).enumerate() {
        if !v.is_finite() || !t.is_finite() {
            let value = if v.is_finite() { t } else { v };
            return Err(Error::NonFinite { scenario: set.scenario_name(scenarios[k]), value, samples: total });
        }
    }
    let report = DistortionReport {
        scenario_names: set.scenario_names(),
        distortion,
        task_increase,
        num_samples: total,
        hook_point: model.hook_point().to_string(),
        latent_shape,
        intervals: None,
        task_intervals: None,
    };
    Ok((report, PerSampleScores { latent, task }))
}
