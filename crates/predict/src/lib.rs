//! Whole-scene prediction under missing modalities (docs/predict.md): a tiling planner with
//! overlap, a blending accumulator that emits finished rows (bounded memory), the prediction
//! loop over a trained [`lssg_backbones::SegmentationModel`] with any scenario of available
//! modalities, GDAL raster input through [`lssg_datasets::raster::grid`] (per-modality files,
//! windowed reads, bilinear resampling) and output (uint8 label GeoTIFF, float32 probabilities, a PNG preview).
#![deny(missing_docs)]

pub mod blend;
mod error;
pub mod files;
pub mod plan;
pub mod predict;
pub mod preview;
pub mod raster_out;
pub mod source;

pub use blend::{BlendWindow, FinishedRows, StripAccumulator};
pub use error::{Error, Result};
pub use files::{SceneJob, predict_files};
pub use lssg_datasets::raster::grid::{Footprint, GdalScene, GeoInfo, ModalityInput, SceneGrid};
pub use plan::TilePlan;
pub use predict::{PredictOptions, PredictSummary, RowSink, Tee, non_finite_per_tile, predict_scene};
pub use preview::PreviewSink;
pub use raster_out::{OutputSpec, RasterWriter};
pub use source::{MemoryScene, Normalization, RowSource};
