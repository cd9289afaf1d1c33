//! Latent distortion per availability scenario (docs/method.md §3) and the scenario sampling
//! distribution derived from it (docs/method.md §4, through `lssg-smoothing`).
//!
//! [`measure_scores`] runs the frozen, pretrained model over the training split under every
//! scenario and returns D_k (and the task-loss increase T_k); [`probabilities`] turns a
//! [`DistortionReport`] into the probabilities file that guided fine-tuning samples from.
#![deny(missing_docs)]

mod bootstrap;
mod config;
mod distortion;
mod error;
mod npy;
mod scores;
mod shard;
mod task;

pub use bootstrap::{ScoreIntervals, score_intervals};
pub use config::ScoringConfig;
pub use distortion::{DistortionReport, measure_distortion_naive};
pub use error::{Error, Result};
pub use npy::write_npy_f32;
pub use scores::{PerSampleScores, measure_scores};
pub use task::per_sample_loss;

use lssg_core::ScoreKind;
use lssg_scenario::{ModalitySet, ProbabilitiesFile};
use lssg_smoothing::SmoothingConfig;

/// Smooths score `kind` of `report` into the probabilities file (docs/method.md §4), recording
/// which backbone and checkpoint it came from, with its bootstrap intervals when the report has
/// them. Task scores are clamped at 0 first (docs/method.md §3.4) and marked `"score": "task"`.
pub fn probabilities(
    kind: ScoreKind,
    report: &DistortionReport,
    set: &ModalitySet,
    smoothing: &SmoothingConfig,
    backbone: &str,
    checkpoint: &str,
) -> Result<ProbabilitiesFile> {
    let (scores, intervals) = match kind {
        ScoreKind::Latent => (report.distortion.clone(), &report.intervals),
        ScoreKind::Task => (report.task_increase.iter().map(|t| t.max(0.0)).collect(), &report.task_intervals),
    };
    let smoothed = lssg_smoothing::smooth(&scores, set, smoothing)?;
    let mut file =
        smoothed.to_probabilities_file(set, smoothing, &report.hook_point, backbone, checkpoint, report.num_samples);
    file.score = kind;
    if let Some(ci) = intervals {
        file.D_sh_interval = Some(ci.distortion.clone());
        file.final_probs_interval = Some(ci.probabilities.clone());
        file.bootstrap_resamples = Some(ci.resamples);
    }
    Ok(file)
}
