//! Orchestration of the lssg pipeline (docs/method.md §1, docs/architecture.md): the run
//! configuration that nests every crate's config, the resumable pipeline behind `lssg run`
//! that sequences the stages and their files, the results tables and the console progress, and
//! the timed loops of `lssg model bench` (`model_bench`). No method logic lives here: each stage
//! is one call into a library crate.
#![deny(missing_docs)]

pub mod bench;
pub mod config;
pub mod error;
pub mod export;
pub mod launch;
pub mod model_bench;
pub mod model_source;
pub mod pipeline;
#[cfg(feature = "predict")]
pub mod predict;
pub mod progress;
pub mod reporter;
pub mod restart;
pub mod results;
pub mod run_dir;
#[cfg(feature = "predict")]
pub mod scene_inputs;
#[cfg(test)]
mod test_fixtures;

pub use error::{Error, Result};
