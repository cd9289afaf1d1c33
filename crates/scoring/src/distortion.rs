//! Latent distortion per availability scenario (docs/method.md §3).
//!
//! For every scenario k, with the pretrained network in eval mode and no gradients:
//!
//! ```text
//! d_k(x) = mean over all latent elements of (z_k(x) − z_full(x))²
//! D_k    = mean over samples of d_k(x)            (D_full = 0 by definition)
//! ```
//!
//! The reference runs batch size 1 and one forward per scenario per tile; the batched
//! computation (many (sample, scenario) pairs per forward) is in [`crate::scores`], tested
//! against the naive loop kept here.

use lssg_backbones::SegmentationModel;
use lssg_backbones::input::{availability, batch_inputs};

use crate::bootstrap::ScoreIntervals;
use lssg_datasets::{Batch, TileDataset};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind};

use crate::error::Result;

/// Mean scores of every scenario, canonical order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistortionReport {
    /// Scenario names, canonical order.
    pub scenario_names: Vec<String>,
    /// D_k, canonical order (the last, the full scenario, is 0).
    pub distortion: Vec<f64>,
    /// T_k, the mean task-loss increase (docs/method.md §3.4); absent in older files.
    #[serde(default)]
    pub task_increase: Vec<f64>,
    /// Number of samples averaged over.
    pub num_samples: usize,
    /// The model's hook point.
    pub hook_point: String,
    /// Shape of one sample's latent.
    pub latent_shape: Vec<i64>,
    /// Bootstrap intervals of D and of its distribution (docs/method.md §3.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intervals: Option<ScoreIntervals>,
    /// The same for T.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_intervals: Option<ScoreIntervals>,
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
