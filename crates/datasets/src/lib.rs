//! Multimodal data sets for lssg (docs/method.md §8): the synthetic generator (the embedded default),
//! DSTL / Potsdam / Hunan readers, tiling, normalisation, splits and fast batches. No tch.
#![deny(missing_docs)]

mod dataset;
mod error;
mod sample;

// Core: the synthetic generator, batches and loading (docs/method.md §8).
mod batch;
pub mod config;
pub mod loader;
pub mod memory;
pub mod normalize;
pub mod palette;
pub mod split;
pub mod synthetic;

// Real data-set readers (docs/method.md §8).
pub mod dstl;
mod grid_reader;
pub mod hunan;
pub mod inspect;
pub mod layouts;
pub mod potsdam;
pub mod prepare;
pub mod raster;
pub mod scene_reader;

pub use dataset::TileDataset;
pub use error::{Error, Result};
pub use sample::{Batch, IGNORE_INDEX, ModalityArray, Sample};

pub use config::{DataConfig, DataSplits, SyntheticDataConfig, normalize_config, open, open_with_stats};
pub use loader::{BatchLoader, Batches, LoaderConfig};
pub use memory::MemoryDataset;
pub use normalize::{ChannelStats, NormalizeConfig, Normalized, offsets_and_scales};
pub use split::{SplitConfig, SplitIndices, Subset};
pub use synthetic::{SceneArrays, SyntheticConfig, SyntheticDataset, generate_scene};
