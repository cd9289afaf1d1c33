//! Latent distortion per availability scenario (docs/method.md §3) and the scenario sampling
//! distribution derived from it (docs/method.md §4, through `lssg-smoothing`).
//!
//! [`measure_distortion`] runs the frozen, pretrained model over the training split under every
//! scenario and returns D_k; [`probabilities`] turns a [`DistortionReport`] into the
//! probabilities file that guided fine-tuning samples from.
#![deny(missing_docs)]

mod config;
mod distortion;
mod error;

pub use config::ScoringConfig;
pub use distortion::{DistortionReport, measure_distortion, measure_distortion_naive};
pub use error::{Error, Result};

use lssg_scenario::{ModalitySet, ProbabilitiesFile};
use lssg_smoothing::SmoothingConfig;

/// Smooths measured distortions into the probabilities file (docs/method.md §4), recording which
/// backbone and checkpoint they came from.
pub fn probabilities(
    report: &DistortionReport,
    set: &ModalitySet,
    smoothing: &SmoothingConfig,
    backbone: &str,
    checkpoint: &str,
) -> Result<ProbabilitiesFile> {
    let smoothed = lssg_smoothing::smooth(&report.distortion, set, smoothing)?;
    Ok(smoothed.to_probabilities_file(set, smoothing, &report.hook_point, backbone, checkpoint, report.num_samples))
}
