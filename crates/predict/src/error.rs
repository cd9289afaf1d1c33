//! The errors of whole-scene prediction; each names the file, field or value concerned.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong while predicting a scene.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tiling or blending parameter is out of range.
    #[error("invalid {field} = {value}: expected {expected}")]
    Config {
        /// The parameter (`tile`, `overlap`, `batch`, …).
        field: String,
        /// Its value.
        value: String,
        /// What is accepted.
        expected: String,
    },
    /// A raster could not be opened or read (missing, unreadable, truncated).
    #[error("cannot read raster {path}: {message}")]
    Read {
        /// The file.
        path: PathBuf,
        /// GDAL's message.
        message: String,
    },
    /// An output could not be written.
    #[error("cannot write {path}: {message}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// A raster's band count differs from the modality's channel count in training.
    #[error("{path}: modality `{modality}` has {got} band(s), the model was trained with {expected}")]
    Bands {
        /// The file.
        path: PathBuf,
        /// The modality.
        modality: String,
        /// Channels in training.
        expected: usize,
        /// Bands read.
        got: usize,
    },
    /// Two rasters do not cover the same ground (CRS, footprint, or size without georeferencing).
    #[error("{path} does not match {reference}: {what}")]
    Mismatch {
        /// The raster that differs.
        path: PathBuf,
        /// The raster that defines the grid.
        reference: PathBuf,
        /// What differs, with both values.
        what: String,
    },
    /// The scenario or modality list is not usable.
    #[error("{0}")]
    Modality(String),
    /// An available modality has no raster.
    #[error("modality `{0}` is listed in --available but no raster was given for it")]
    MissingInput(String),
    /// A scenario could not be parsed.
    #[error(transparent)]
    Scenario(#[from] lssg_scenario::Error),
    /// The model failed (shape or libtorch error).
    #[error(transparent)]
    Model(#[from] lssg_backbones::Error),
    /// libtorch raised an error.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// A buffer had an unexpected size (an internal invariant, reported rather than panicking).
    #[error("{what}: expected {expected}, got {got}")]
    Shape {
        /// The buffer.
        what: String,
        /// Expected size.
        expected: usize,
        /// Actual size.
        got: usize,
    },
}

impl Error {
    /// A [`Error::Config`].
    pub fn config(field: &str, value: impl ToString, expected: &str) -> Self {
        Self::Config { field: field.into(), value: value.to_string(), expected: expected.into() }
    }
}
