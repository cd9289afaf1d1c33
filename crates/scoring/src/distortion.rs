//! Latent distortion per availability scenario (docs/method.md §3).
//!
//! For every scenario k, with the pretrained network in eval mode and no gradients:
//!
//! ```text
//! d_k(x) = mean over all latent elements of (z_k(x) − z_full(x))²
//! D_k    = mean over samples of d_k(x)            (D_full = 0 by definition)
//! ```
//!
//! The reference runs batch size 1 and one forward per scenario per tile. Here each forward
//! evaluates many (sample, scenario) pairs at once: the batch's inputs are repeated once per
//! scenario of a chunk (`[B·k, C, H, W]`, sample-major) with the matching availability rows.
//! In eval mode every row is computed independently, so the numbers are the per-sample,
//! per-scenario definition up to float rounding (tested against the naive loop).

use std::sync::Arc;

use lssg_backbones::SegmentationModel;
use lssg_backbones::input::{availability, batch_inputs};
use lssg_datasets::{Batch, BatchLoader, LoaderConfig, Subset, TileDataset};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::config::ScoringConfig;
use crate::error::{Error, Result};

/// Mean latent distortion of every scenario, canonical order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistortionReport {
    /// Scenario names, canonical order.
    pub scenario_names: Vec<String>,
    /// D_k, canonical order (the last, the full scenario, is 0).
    pub distortion: Vec<f64>,
    /// Number of samples averaged over.
    pub num_samples: usize,
    /// The model's hook point.
    pub hook_point: String,
    /// Shape of one sample's latent.
    pub latent_shape: Vec<i64>,
}

/// Measures D_k for every scenario over the first `config.max_samples` samples of `dataset`
/// (all of them by default). `progress(done, total)` is called after each batch.
pub fn measure_distortion(
    model: &dyn SegmentationModel,
    dataset: Arc<dyn TileDataset>,
    config: &ScoringConfig,
    device: Device,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<DistortionReport> {
    config.validate()?;
    let set = dataset.modalities().clone();
    let m = set.len();
    let scenarios = set.scenarios();
    let s = scenarios.len();
    let total = config.max_samples.map_or(dataset.len(), |n| n.min(dataset.len()));
    if total == 0 {
        return Err(Error::EmptyDataset { split: "train".into() });
    }
    // The full scenario is the reference: its distortion is 0 by definition.
    let partial = &scenarios[..s - 1];
    let per_forward = (config.max_forward / config.batch_size).max(1);
    let chunks: Vec<(usize, Tensor)> =
        partial.chunks(per_forward).enumerate().map(|(i, c)| (i * per_forward, availability(c, m, device))).collect();
    let full_row = availability(&[set.full_scenario()], m, device);

    let _no_grad = tch::no_grad_guard();
    let mut sums = vec![0f64; s];
    let mut latent_shape = Vec::new();
    let mut done = 0;
    let scored: Arc<dyn TileDataset> = if total < dataset.len() {
        Arc::new(Subset::new(dataset.clone(), (0..total).collect())?)
    } else {
        dataset.clone()
    };
    let loader = BatchLoader::new(scored, LoaderConfig { batch_size: config.batch_size, ..LoaderConfig::default() })?;
    for batch in loader.epoch(0) {
        let batch = batch?;
        if batch.modalities.len() != m {
            return Err(Error::ModalityMismatch { data: batch.modalities.len(), model: m });
        }
        let b = batch.size as i64;
        let inputs = batch_inputs(&batch, device)?;
        let full = model.forward_t(&inputs, &full_row.repeat([b, 1]), false)?.latent;
        latent_shape = full.size()[1..].to_vec();
        let full = full.to_kind(Kind::Float).flatten(1, -1).unsqueeze(1); // [B, 1, L]
        for (offset, rows) in &chunks {
            let k = rows.size()[0];
            // Sample-major repetition: row b·k + j is sample b under scenario offset + j.
            let repeated: Vec<Tensor> = inputs.iter().map(|x| x.repeat_interleave_self_int(k, 0, None)).collect();
            let latent = model.forward_t(&repeated, &rows.repeat([b, 1]), false)?.latent;
            let z = latent.to_kind(Kind::Float).reshape([b, k, -1]); // [B, k, L]
            // Per-(sample, scenario) MSE in f32 as the reference, summed over samples in f64.
            let d = (z - &full).square().mean_dim(Some(&[2i64][..]), false, Kind::Float); // [B, k]
            let per_scenario =
                Vec::<f64>::try_from(d.to_kind(Kind::Double).sum_dim_intlist(Some(&[0i64][..]), false, Kind::Double))?;
            for (j, v) in per_scenario.into_iter().enumerate() {
                sums[offset + j] += v;
            }
        }
        done += batch.size;
        progress(done, total);
    }
    let distortion: Vec<f64> = sums.iter().map(|v| v / total as f64).collect();
    for (k, &v) in distortion.iter().enumerate() {
        if !v.is_finite() {
            return Err(Error::NonFinite { scenario: set.scenario_name(scenarios[k]), value: v, samples: total });
        }
    }
    Ok(DistortionReport {
        scenario_names: set.scenario_names(),
        distortion,
        num_samples: total,
        hook_point: model.hook_point().to_string(),
        latent_shape,
    })
}

/// The reference's computation, kept as the specification the batched path is tested
/// against: batch size 1, one forward per scenario per sample.
pub fn measure_distortion_naive(
    model: &dyn SegmentationModel,
    dataset: &dyn TileDataset,
    num_samples: usize,
    device: Device,
) -> Result<Vec<f64>> {
    let set = dataset.modalities().clone();
    let m = set.len();
    let scenarios = set.scenarios();
    let _no_grad = tch::no_grad_guard();
    let mut sums = vec![0f64; scenarios.len()];
    let n = num_samples.min(dataset.len());
    for i in 0..n {
        let batch = Batch::from_samples(&[dataset.sample(i)?], vec![i])?;
        let inputs = batch_inputs(&batch, device)?;
        let full = model.forward_t(&inputs, &availability(&[set.full_scenario()], m, device), false)?.latent;
        for (k, sc) in scenarios.iter().enumerate() {
            let z = model.forward_t(&inputs, &availability(&[*sc], m, device), false)?.latent;
            sums[k] += (z - &full).square().mean(Kind::Float).double_value(&[]);
        }
    }
    Ok(sums.iter().map(|v| v / n as f64).collect())
}
