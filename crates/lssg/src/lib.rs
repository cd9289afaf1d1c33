//! Orchestration of the lssg pipeline (SPEC §1): the run configuration that nests every
//! crate's config, the resumable pipeline behind `lssg run`, the results tables and the
//! console progress. No method logic lives here: each stage calls one crate.
#![deny(missing_docs)]

pub mod config;
pub mod error;
pub mod pipeline;
pub mod progress;
pub mod results;

pub use error::{Error, Result};
