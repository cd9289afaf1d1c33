//! Multimodal data sets for lssg (SPEC §8): the synthetic generator (the embedded default),
//! DSTL / Potsdam / Hunan readers, tiling, normalisation, splits and fast batches. No tch.
#![deny(missing_docs)]

mod dataset;
mod error;
mod sample;

// Real data-set readers (SPEC §8).
pub mod dstl;
pub mod hunan;
pub mod potsdam;
pub mod scene_reader;
pub mod tiff_io;

pub use dataset::TileDataset;
pub use error::{Error, Result};
pub use sample::{Batch, IGNORE_INDEX, ModalityArray, Sample};
