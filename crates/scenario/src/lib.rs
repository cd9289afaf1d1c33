//! Modality sets, availability scenarios and their canonical order, scenario samplers and the
//! probabilities file (docs/method.md §2, §4), failure profiles and the robustness protocols' results.
//!
//! ```
//! use lssg_scenario::ModalitySet;
//! let set = ModalitySet::from_names(["rgb", "nir", "swir"], 3).unwrap();
//! assert_eq!(set.scenario_names()[3], "rgb+nir");
//! assert_eq!(set.parse_scenario("all").unwrap(), set.full_scenario());
//! ```
#![deny(missing_docs)]

mod error;
pub mod io;
mod modality;
mod probabilities;
mod profile;
pub mod robustness;
mod sampler;
mod scenario;

pub use error::{Error, Result};
pub use modality::{MAX_MODALITIES, Modality, ModalitySet};
pub use probabilities::{PROBABILITY_TOLERANCE, ProbabilitiesFile, validate_distribution};
pub use profile::{FailureConfig, FailureProfile, LabelledProfile, default_failure_p};
pub use sampler::{SamplingStrategy, ScenarioSampler};
pub use scenario::Scenario;
