//! Multimodal data sets for lssg (SPEC §8): the synthetic generator (the embedded default),
//! DSTL / Potsdam / Hunan readers, tiling, normalisation, splits and fast batches. No tch.
#![deny(missing_docs)]

mod dataset;
mod error;
mod sample;

pub use dataset::TileDataset;
pub use error::{Error, Result};
pub use sample::{Batch, IGNORE_INDEX, ModalityArray, Sample};
