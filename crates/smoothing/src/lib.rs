//! RBF-kernel smoothing of per-scenario latent distortion scores into a scenario sampling
//! distribution (docs/method.md §4), all in float64:
//!
//! ```text
//! X_k  = D_k                      (or the availability row, Descriptor::Masks)
//! K_ij = exp(−‖X_i − X_j‖² / (2σ²))
//! r    = K (K + λI)⁻¹ U,  U = αD  (an LU solve; the inverse is never formed)
//! z    = (r − mean r) / std r     (population std; z = 0 if std < 1e-12; −z for faithful-first)
//! s    = softmax(τ z)
//! p    = (1 − γ)/S + γ s, renormalised
//! ```
//!
//! ```
//! use lssg_scenario::ModalitySet;
//! use lssg_smoothing::{SmoothingConfig, smooth};
//! let set = ModalitySet::from_names(["rgb", "nir", "swir"], 3).unwrap();
//! let out = smooth(&[0.8, 1.2, 1.5, 0.3, 0.4, 0.6, 0.0], &set, &SmoothingConfig::default()).unwrap();
//! // The full scenario (D = 0, last in canonical order) gets the least probability.
//! let least = out.probabilities.iter().cloned().fold(f64::INFINITY, f64::min);
//! assert_eq!(out.probabilities[6], least);
//! let file = out.to_probabilities_file(&set, &SmoothingConfig::default(), "cli", "", "", 0);
//! assert_eq!(file.final_probs, out.probabilities);
//! ```
#![deny(missing_docs)]

mod config;
pub mod distribution;
mod error;
pub mod kernel;
mod smooth;

pub use config::{Sigma, SmoothingConfig};
pub use error::{Error, Result};
pub use smooth::{Smoothed, modalities_for_count, smooth, validate_distortion};

/// The README's example, compiled as a doctest so it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
